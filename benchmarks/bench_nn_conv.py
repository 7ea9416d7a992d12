"""asv suite for W5: CNN convolution layers (sigconv.nn.functional), float32.

One class per workload (W5a-f), each timing forward, backward-input, backward-weight and
forward+backward, with peak memory; ``setup`` warms the JIT and checks the forward result and
both gradients against PyTorch (or, without it, against a float64 run of the other CPU method).
Cold compile and start-up times are in ``bench_startup.py``.
"""

import os
import sys

import numpy as np

import sigconv.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from workloads import layer, layer_stride  # noqa: E402


def _check(x, w, b, g, padding, s, y, gx, gw):
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        nd = x.ndim - 2
        conv = (torch.nn.functional.conv1d, torch.nn.functional.conv2d, torch.nn.functional.conv3d)
        tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        tw = torch.tensor(w, dtype=torch.float64, requires_grad=True)
        ty = conv[nd - 1](tx, tw, torch.tensor(b, dtype=torch.float64), stride=s, padding=padding)
        ty.backward(torch.tensor(g, dtype=torch.float64))
        refs = (ty.detach().numpy(), tx.grad.numpy(), tw.grad.numpy())
    else:  # float64 through the same API is an independent rounding check only
        x64, w64 = x.astype(np.float64), w.astype(np.float64)
        kw = {"stride": s, "padding": padding, "method": "direct"}
        refs = (F.conv(x64, w64, b.astype(np.float64), **kw),) + tuple(
            F.conv_backward(g.astype(np.float64), x64, w64, need=("x", "weight"), **kw)[:2]
        )
    for got, ref in zip((y, gx, gw), refs):
        err = np.max(np.abs(got - ref)) / max(np.max(np.abs(ref)), 1e-30)
        if err > 2e-3:
            raise AssertionError(f"sigconv disagrees with the reference: relative error {err:.2e}")


class _Layer:
    workload = None

    def setup(self):
        self.x, self.w, self.b, self.padding = layer(self.workload)
        self.stride = layer_stride(self.workload)
        y = F.conv(self.x, self.w, self.b, padding=self.padding, stride=self.stride)
        self.g = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
        gx, gw, _ = F.conv_backward(
            self.g, self.x, self.w, padding=self.padding, stride=self.stride
        )
        _check(self.x, self.w, self.b, self.g, self.padding, self.stride, y, gx, gw)

    def time_forward(self):
        F.conv(self.x, self.w, self.b, padding=self.padding, stride=self.stride)

    def time_backward_input(self):
        F.conv_backward(
            self.g, self.x, self.w, padding=self.padding, stride=self.stride, need=("x",)
        )

    def time_backward_weight(self):
        F.conv_backward(
            self.g,
            self.x,
            self.w,
            padding=self.padding,
            stride=self.stride,
            need=("weight", "bias"),
        )

    def time_forward_backward(self):
        F.conv(self.x, self.w, self.b, padding=self.padding, stride=self.stride)
        F.conv_backward(self.g, self.x, self.w, padding=self.padding, stride=self.stride)

    def peakmem_forward(self):
        F.conv(self.x, self.w, self.b, padding=self.padding, stride=self.stride)

    def peakmem_forward_backward(self):
        F.conv(self.x, self.w, self.b, padding=self.padding, stride=self.stride)
        F.conv_backward(self.g, self.x, self.w, padding=self.padding, stride=self.stride)


class W5aLeNetConv1(_Layer):
    workload = "W5a"


class W5bLeNetConv2(_Layer):
    workload = "W5b"


class W5cVGG(_Layer):
    workload = "W5c"


class W5dAudio1D(_Layer):
    workload = "W5d"


class W5eVolume3D(_Layer):
    workload = "W5e"


class W5fM5Conv1(_Layer):
    workload = "W5f"

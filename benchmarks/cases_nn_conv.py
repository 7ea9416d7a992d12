"""compare.py cases for W5: CNN convolution layers, sigconv.nn.F vs PyTorch CPU (float32).

Each layer is timed four ways: forward, backward-input, backward-weight, and forward+backward
(forward, then all three gradients). The PyTorch peers are ``torch.nn.functional.conv{1,2,3}d``,
``torch.nn.grad.conv{1,2,3}d_input/_weight`` and autograd for forward+backward.
"""

from __future__ import annotations

import numpy as np
from compare import Case
from workloads import LAYERS, layer

import sigconv.nn.functional as F

PASSES = ("fwd", "bwd-x", "bwd-w", "fwd+bwd")


def _data(workload):
    x, w, b, padding = layer(workload)
    y = F.conv(x, w, b, padding=padding)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    return x, w, b, g


def _ours(kind, x, w, b, g, padding):
    if kind == "fwd":
        return lambda: F.conv(x, w, b, padding=padding)
    if kind == "bwd-x":
        return lambda: F.conv_backward(g, x, w, padding=padding, need=("x",))[0]
    if kind == "bwd-w":
        return lambda: F.conv_backward(g, x, w, padding=padding, need=("weight",))[1]

    def both():
        F.conv(x, w, b, padding=padding)
        return F.conv_backward(g, x, w, padding=padding)

    return both


def _torch(kind, x, w, b, g, padding):
    try:
        import torch
    except ImportError:
        return None
    nd = x.ndim - 2
    conv = (torch.nn.functional.conv1d, torch.nn.functional.conv2d, torch.nn.functional.conv3d)
    grads = (torch.nn.grad.conv1d_input, torch.nn.grad.conv2d_input, torch.nn.grad.conv3d_input)
    gradw = (torch.nn.grad.conv1d_weight, torch.nn.grad.conv2d_weight, torch.nn.grad.conv3d_weight)
    tx, tw, tb, tg = (torch.from_numpy(a) for a in (x, w, b, g))
    if kind == "fwd":
        return lambda: conv[nd - 1](tx, tw, tb, padding=padding)
    if kind == "bwd-x":
        return lambda: grads[nd - 1](tx.shape, tw, tg, padding=padding)
    if kind == "bwd-w":
        return lambda: gradw[nd - 1](tx, tw.shape, tg, padding=padding)

    def both():
        xr = tx.clone().requires_grad_()
        wr = tw.clone().requires_grad_()
        br = tb.clone().requires_grad_()
        conv[nd - 1](xr, wr, br, padding=padding).backward(tg)
        return xr.grad, wr.grad, br.grad

    return both


def _case(workload, kind):
    padding = LAYERS[workload][3]

    def setup():
        x, w, b, g = _data(workload)
        impls = {"sigconv": _ours(kind, x, w, b, g, padding)}
        peer = _torch(kind, x, w, b, g, padding)
        if peer is not None:
            impls["torch"] = peer
        return impls

    return Case(workload=workload, name=f"{workload} {kind}", setup=setup, rtol=2e-3)


CASES = [_case(workload, kind) for workload in LAYERS for kind in PASSES]

"""compare.py cases for W5: CNN convolution layers, sigconv.nn.F vs PyTorch CPU (float32).

Each layer is timed four ways: forward, backward-input, backward-weight, and forward+backward
(forward, then all three gradients). Each single pass computes only its own result in both
frameworks: the PyTorch peers are ``torch.nn.functional.conv{1,2,3}d`` (no autograd graph: the
inputs do not require gradients), ``torch.nn.grad.conv{1,2,3}d_input`` (only the input
gradient) and ``..._weight`` (only the weight gradient); sigconv's are ``F.conv`` and
``F.conv_backward(need=("x",))`` / ``need=("weight",)``. Forward+backward is autograd.

The data come from ``workloads.layer``; the output gradient's shape is computed from the plan
(no convolution runs while building a case, so PyTorch's isolated worker never runs sigconv).
"""

from __future__ import annotations

import numpy as np
from compare import Case
from workloads import LAYERS, STRIDED_LAYERS, layer, layer_stride

import sigconv.nn.functional as F
from sigconv import _geometry

PASSES = ("fwd", "bwd-x", "bwd-w", "fwd+bwd")


def _data(workload):
    x, w, b, padding = layer(workload)
    s = layer_stride(workload)
    plan = _geometry.conv_plan(x.shape, w.shape, s, padding, 1, 1, "zeros", np.float32)
    g = np.random.default_rng(1).standard_normal(plan.y_shape).astype(np.float32)
    return x, w, b, g


def _ours(kind, x, w, b, g, padding, s):
    if kind == "fwd":
        return lambda: F.conv(x, w, b, stride=s, padding=padding)
    if kind == "bwd-x":
        return lambda: F.conv_backward(g, x, w, stride=s, padding=padding, need=("x",))[0]
    if kind == "bwd-w":
        return lambda: F.conv_backward(g, x, w, stride=s, padding=padding, need=("weight",))[1]

    def both():
        F.conv(x, w, b, stride=s, padding=padding)
        return F.conv_backward(g, x, w, stride=s, padding=padding)

    return both


def _torch(kind, x, w, b, g, padding, s):
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
        return lambda: conv[nd - 1](tx, tw, tb, stride=s, padding=padding)
    if kind == "bwd-x":
        return lambda: grads[nd - 1](tx.shape, tw, tg, stride=s, padding=padding)
    if kind == "bwd-w":
        return lambda: gradw[nd - 1](tx, tw.shape, tg, stride=s, padding=padding)

    def both():
        xr = tx.clone().requires_grad_()
        wr = tw.clone().requires_grad_()
        br = tb.clone().requires_grad_()
        conv[nd - 1](xr, wr, br, stride=s, padding=padding).backward(tg)
        return xr.grad, wr.grad, br.grad

    return both


def _padding(workload):
    return (STRIDED_LAYERS[workload] if workload in STRIDED_LAYERS else LAYERS[workload])[3]


def _case(workload, kind):
    padding, s = _padding(workload), layer_stride(workload)

    def setup():
        x, w, b, g = _data(workload)
        impls = {"sigconv": _ours(kind, x, w, b, g, padding, s)}
        peer = _torch(kind, x, w, b, g, padding, s)
        if peer is not None:
            impls["torch"] = peer
        return impls

    return Case(workload=workload, name=f"{workload} {kind}", setup=setup, rtol=2e-3)


CASES = [_case(wl, kind) for wl in (*LAYERS, *STRIDED_LAYERS) for kind in PASSES]

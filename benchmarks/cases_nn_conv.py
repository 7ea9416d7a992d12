"""compare.py cases for W5: CNN convolution layers, sigconv.nn.F vs PyTorch CPU (float32).

Each layer is timed four ways: forward, backward-input, backward-weight, and forward+backward
(forward, then all three gradients). The PyTorch peers are ``torch.nn.functional.conv{1,2,3}d``,
``torch.nn.grad.conv{1,2,3}d_input/_weight`` and autograd for forward+backward.
"""

from __future__ import annotations

import numpy as np
from compare import Case

import sigconv.nn.functional as F

# workload: (x shape, weight shape, padding)
LAYERS = {
    "W5a": ("LeNet conv1", (64, 1, 28, 28), (6, 1, 5, 5), 2),
    "W5b": ("LeNet conv2", (64, 6, 14, 14), (16, 6, 5, 5), 0),
    "W5c": ("VGG 64ch 56^2", (32, 64, 56, 56), (64, 64, 3, 3), 1),
    "W5d": ("audio 1-D", (32, 16, 16000), (32, 16, 9), 0),
    "W5e": ("volume 3-D", (8, 8, 32, 32, 32), (16, 8, 3, 3, 3), 1),
}
PASSES = ("fwd", "bwd-x", "bwd-w", "fwd+bwd")


def _data(xs, ws, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    y = F.conv(x, w, b, padding=padding)
    g = rng.standard_normal(y.shape).astype(np.float32)
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
    title, xs, ws, padding = LAYERS[workload]

    def setup():
        x, w, b, g = _data(xs, ws, padding)
        impls = {"sigconv": _ours(kind, x, w, b, g, padding)}
        peer = _torch(kind, x, w, b, g, padding)
        if peer is not None:
            impls["torch"] = peer
        return impls

    return Case(workload=workload, name=f"{workload} {kind}", setup=setup, rtol=2e-3)


CASES = [_case(workload, kind) for workload in LAYERS for kind in PASSES]

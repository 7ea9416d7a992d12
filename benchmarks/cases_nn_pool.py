"""compare.py cases for pooling (issue 3): sigconv.nn.functional against PyTorch CPU.

P1-P3 max pooling, P4-P6 average pooling (forward; float32, NCHW/NCDHW), P7-P8 forward plus
backward of the 2-D LeNet-sized pools as a training step runs them.
"""

from __future__ import annotations

import numpy as np
from compare import Case
from workloads import POOLS as SHAPES

from sigconv.nn import functional as F


def _data(shape):
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def _forward(kind, key):
    shape, k, s, p = SHAPES[key]
    nd = len(shape) - 2

    def setup():
        x = _data(shape)
        ours = F.max_pool if kind == "max" else F.avg_pool
        impls = {"sigconv": lambda: ours(x, k, s, p)}
        try:
            import torch
        except ImportError:
            return impls
        xt = torch.from_numpy(x)
        fn = getattr(torch.nn.functional, f"{kind}_pool{nd}d")

        def peer():
            with torch.no_grad():
                return fn(xt, k, s, p)

        impls["torch"] = peer
        return impls

    return setup


def _train_step(kind, key):
    shape, k, s, p = SHAPES[key]
    nd = len(shape) - 2

    def setup():
        x = _data(shape)
        if kind == "max":

            def ours():
                y, idx = F.max_pool(x, k, s, p, return_indices=True)
                return F.max_pool_backward(np.ones_like(y), x, idx, k, s, p)
        else:

            def ours():
                y = F.avg_pool(x, k, s, p)
                return F.avg_pool_backward(np.ones_like(y), x, k, s, p)

        impls = {"sigconv": ours}
        try:
            import torch
        except ImportError:
            return impls
        fn = getattr(torch.nn.functional, f"{kind}_pool{nd}d")

        def peer():
            xt = torch.from_numpy(x).requires_grad_(True)
            fn(xt, k, s, p).sum().backward()
            return xt.grad

        impls["torch"] = peer
        return impls

    return setup


CASES = [
    Case("P1", "max_pool2d 64x16x28^2 k2 s2", _forward("max", "28")),
    Case("P2", "max_pool2d 32x64x56^2 k3 s2 p1", _forward("max", "56")),
    Case("P3", "max_pool3d 8x16x32^3 k2 s2", _forward("max", "3d")),
    Case("P4", "avg_pool2d 64x16x28^2 k2 s2", _forward("avg", "28")),
    Case("P5", "avg_pool2d 32x64x56^2 k3 s2 p1", _forward("avg", "56")),
    Case("P6", "avg_pool3d 8x16x32^3 k2 s2", _forward("avg", "3d")),
    Case("P7", "max_pool2d fwd+bwd 64x16x28^2 k2 s2", _train_step("max", "28")),
    Case("P8", "avg_pool2d fwd+bwd 64x16x28^2 k2 s2", _train_step("avg", "28")),
]

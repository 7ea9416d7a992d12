"""Checks shared by the kernel test modules of tests/nn."""

import numpy as np

from sigconv.nn import functional as F
from tests.nn.naive_conv import naive_conv_grad_weight
from tests.tolerance import assert_close


def _per_axis(value, nd):
    return (value,) * nd if isinstance(value, int) else tuple(value)


def weight_gradient_matches_loops(rng, xs, ws, kw):
    """``F.conv_backward``'s float32 weight gradient for random operands of shapes ``xs`` and
    ``ws`` with the keywords ``kw`` (stride, padding, dilation, groups: ints or per axis)
    against the plain-loop oracle."""
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    g = rng.standard_normal(F.conv(x, w, **kw).shape).astype(np.float32)
    gw = F.conv_backward(g, x, w, need=("weight",), **kw)[1]
    nd = len(xs) - 2
    pad = _per_axis(kw.get("padding", 0), nd)
    want = naive_conv_grad_weight(
        g, x, w.shape, stride=_per_axis(kw.get("stride", 1), nd), pads=[(p, p) for p in pad],
        dilation=_per_axis(kw.get("dilation", 1), nd), groups=kw.get("groups", 1),
    )  # fmt: skip
    assert_close(gw, want, dtype=np.float32)

"""Strided 1-D layers by the input's phases (``conv_phase``), through ``F.conv`` and
``F.conv_backward``, against the plain-loop oracle (tests/nn/naive_conv.py) and PyTorch.

The forward cases assert that they were split into phases: strides 2 and 4, inputs whose
phases differ in length, taps that are not a multiple of the stride, padding modes and the
audio network's 'same' layer. The weight-gradient cases assert that they took the kernel, so
the grid covers what it does differently:
strides 2 to 4, taps that are not a multiple of the stride (phases with fewer taps), several
input channels, padding modes, rows longer than a stretch, a last partial vector of
positions, float64's 8 lanes, one image (the tasks split the output channels) and tasks run
in any order.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigconv._cpu import conv_phase
from sigconv._cpu._simd import avx512
from sigconv.nn import functional as F
from tests.nn.checks import weight_gradient_matches_loops
from tests.nn.naive_conv import NUMPY_PAD_MODE, naive_conv, naive_conv_grad_weight
from tests.tolerance import assert_close

pytestmark = pytest.mark.skipif(not avx512(), reason="the kernel needs AVX-512")

CASES = [
    # x shape, weight shape, stride, padding, padding mode, dtype
    ((3, 1, 1200), (8, 1, 20), 4, 0, "zeros", np.float32),  # M5's first layer, small
    ((2, 2, 1100), (12, 2, 9), 2, 1, "zeros", np.float64),  # 9 taps: phase 1 has 4
    ((2, 3, 900), (4, 3, 7), 3, 2, "reflect", np.float32),  # 300 outputs: 12 past the vectors
    ((1, 1, 9000), (16, 1, 12), 4, 0, "zeros", np.float32),  # 2248 outputs: 3 stretches
    ((2, 1, 700), (20, 1, 10), 2, 3, "circular", np.float64),  # 20 channels: 5 blocks of 4
    ((2, 4, 2100), (8, 4, 11), 4, 0, "replicate", np.float32),  # 16 phases
]


@pytest.fixture
def calls(driver_calls):
    return driver_calls("direct_grad_weight_phases")


def _padded(x, padding, mode):
    return np.pad(x, [(0, 0), (0, 0), (padding, padding)], mode=NUMPY_PAD_MODE[mode])


def _check(rng, calls, xs, ws, stride, padding, mode, dtype):
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    kw = dict(stride=stride, padding=padding, padding_mode=mode)
    g = rng.standard_normal(F.conv(x, w, **kw).shape).astype(dtype)
    x.flags.writeable = False
    g.flags.writeable = False
    gw = F.conv_backward(g, x, w, need=("weight",), **kw)[1]
    assert calls == [1]
    assert gw.dtype == dtype and gw.shape == w.shape and gw.flags.c_contiguous
    want = naive_conv_grad_weight(
        g, _padded(x, padding, mode), w.shape, stride=(stride,), pads=[(0, 0)], dilation=(1,)
    )
    assert_close(gw, want, dtype=dtype)
    return x, w, g, gw


@pytest.mark.parametrize("xs, ws, stride, padding, mode, dtype", CASES)
def test_weight_gradient_matches_loops(rng, calls, xs, ws, stride, padding, mode, dtype):
    _check(rng, calls, xs, ws, stride, padding, mode, dtype)


@pytest.mark.parametrize("case", [0, 2, 3])
def test_tasks_in_any_order(rng, tasks_out_of_order, calls, case):
    tasks_out_of_order(conv_phase)
    _check(rng, calls, *CASES[case])


def test_matches_pytorch(rng, calls):
    torch = pytest.importorskip("torch")
    x, w, g, gw = _check(rng, calls, (4, 1, 4000), (32, 1, 80), 4, 0, "zeros", np.float32)
    want = torch.ops.aten.convolution_backward(
        torch.from_numpy(np.array(g)), torch.from_numpy(np.array(x)), torch.from_numpy(w), None,
        (4,), (0,), (1,), False, (0,), 1, (False, True, False),
    )[1]  # fmt: skip
    assert_close(gw, want.numpy(), dtype=np.float32)


@settings(max_examples=12, deadline=None)
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 3),
    s=st.integers(2, 4),
    k_extra=st.integers(0, 9),
    nout=st.sampled_from([4, 8, 12]),
    npos=st.integers(256, 420),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_property_matches_loops(n, c, s, k_extra, nout, npos, dtype):
    k = 2 * s + k_extra
    rng = np.random.default_rng(npos * 31 + k)
    x = rng.standard_normal((n, c, (npos - 1) * s + k + rng.integers(0, s))).astype(dtype)
    w = rng.standard_normal((nout, c, k)).astype(dtype)
    g = rng.standard_normal((n, nout, npos)).astype(dtype)
    assert conv_phase.suits_phases(
        x.shape[:2] + (1, 1) + x.shape[2:], (nout, c, 1, 1, k), (1, 1, s), (1, 1, 1), 1,
        (1, 1, npos),
    )  # fmt: skip
    gw = F.conv_backward(g, x, w, stride=s, need=("weight",))[1]
    want = naive_conv_grad_weight(g, x, w.shape, stride=(s,), pads=[(0, 0)], dilation=(1,))
    assert_close(gw, want, dtype=dtype)


@pytest.mark.parametrize(
    "xs, ws, kw",
    [
        ((2, 1, 1200), (6, 1, 20), dict(stride=4)),  # 6 output channels: not fours
        ((2, 1, 1200), (8, 1, 20), dict(stride=1)),  # unit stride: the direct kernels
        ((2, 1, 1200), (8, 1, 20), dict(stride=4, dilation=2)),
        ((2, 2, 1200), (8, 1, 20), dict(stride=4, groups=2)),
        ((2, 1, 600), (8, 1, 20), dict(stride=4)),  # 146 outputs: short rows
        ((2, 5, 1200), (8, 5, 20), dict(stride=4)),  # 20 phases
        ((2, 1, 1200), (8, 1, 3), dict(stride=4)),  # one tap a phase
        ((2, 1, 3, 1200), (8, 1, 1, 20), dict(stride=(1, 4))),  # 2-D
    ],
)
def test_other_shapes_take_the_other_kernels(rng, calls, xs, ws, kw):
    weight_gradient_matches_loops(rng, xs, ws, kw)
    assert calls == []


FORWARD_CASES = [
    # x shape, weight shape, stride, padding, padding mode, dtype
    ((4, 1, 2000), (16, 1, 9), 4, "same", "zeros", np.float32),  # the audio network's first
    ((2, 1, 500), (32, 1, 16), 2, 3, "reflect", np.float64),
    ((3, 2, 301), (16, 2, 6), 2, 0, "zeros", np.float32),  # an odd length: phases 151 and 150
    ((2, 1, 257), (4, 1, 12), 4, 1, "circular", np.float32),
    ((2, 1, 100), (8, 1, 7), 2, 2, "replicate", np.float64),  # 7 taps: phases of 4 and 3
]


@pytest.mark.parametrize("xs, ws, stride, padding, mode, dtype", FORWARD_CASES)
def test_forward_by_phases_matches_loops(rng, driver_calls, xs, ws, stride, padding, mode, dtype):
    splits = driver_calls("split_phases")
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    x.flags.writeable = False
    y = F.conv(x, w, b, stride=stride, padding=padding, padding_mode=mode)
    assert splits == [1]
    assert y.dtype == dtype and y.flags.c_contiguous
    if padding == "same":  # TensorFlow's rule at a stride: the odd one after
        total = max((-(-xs[2] // stride) - 1) * stride + ws[2] - xs[2], 0)
        pads = [(total // 2, total - total // 2)]
    else:
        pads = [(padding, padding)]
    want = naive_conv(x, w, b, stride=(stride,), pads=pads, dilation=(1,), padding_mode=mode)
    assert_close(y, want, dtype=dtype)


@pytest.mark.parametrize(
    "xs, ws, kw",
    [
        ((2, 1, 100), (8, 1, 4), dict(stride=2)),  # two taps a phase
        ((2, 3, 100), (8, 3, 7), dict(stride=2)),  # six phases
        ((2, 1, 100), (8, 1, 7), dict(stride=2, dilation=2)),
        ((2, 2, 100), (8, 1, 7), dict(stride=2, groups=2)),
        ((2, 1, 100), (8, 1, 7), dict(stride=1)),
    ],
)
def test_other_forward_passes_are_not_split(rng, driver_calls, xs, ws, kw):
    splits = driver_calls("split_phases")
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    y = F.conv(x, w, **kw)
    assert splits == []
    want = naive_conv(
        x, w, stride=(kw["stride"],), pads=[(0, 0)], dilation=(kw.get("dilation", 1),),
        groups=kw.get("groups", 1),
    )  # fmt: skip
    assert_close(y, want, dtype=np.float32)


@settings(max_examples=12, deadline=None)
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 2),
    s=st.integers(2, 4),
    k_extra=st.integers(0, 6),
    nout=st.integers(1, 9),
    npos=st.integers(1, 60),
    tail=st.integers(0, 3),
    padding=st.integers(0, 3),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_forward_property_matches_loops(n, c, s, k_extra, nout, npos, tail, padding, dtype):
    c = min(c, 4 // s)  # at most four phases
    k = 2 * s + 1 + k_extra  # three or more taps a phase
    rng = np.random.default_rng(npos * 7 + k)
    length = max(k - 2 * padding, (npos - 1) * s + k + min(tail, s - 1) - 2 * padding)
    x = rng.standard_normal((n, c, length)).astype(dtype)
    w = rng.standard_normal((nout, c, k)).astype(dtype)
    assert conv_phase.phases_help((n, c, 1, 1, length), (nout, c, 1, 1, k), (1, 1, s), (1, 1, 1), 1)
    y = F.conv(x, w, stride=s, padding=padding)
    want = naive_conv(x, w, stride=(s,), pads=[(padding, padding)], dilation=(1,))
    assert_close(y, want, dtype=dtype)

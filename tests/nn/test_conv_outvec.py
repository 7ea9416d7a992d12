"""The direct kernel vectorised along the output channels (sigconv/_cpu/conv_outvec.py), through
``F.conv``, against the plain-loop oracle (tests/nn/naive_conv.py).

Every case asserts that it took that kernel (``suits``), so the grid covers what the kernel
does differently: a row's taps as steps of three and two (2, 3, 4, 5 and 7 taps), a
partial last vector of output channels, several vectors, float64's 8 lanes, 1-D and 3-D,
dilation across rows and planes, a plane of exactly one block, every padding mode, and each
layout of the blocks (wide, row pairs, runs of 8 by two vectors).
"""

import numpy as np
import pytest

from sigconv import _config, _geometry
from sigconv._cpu import conv_outvec
from sigconv._cpu import convolution as cpu_conv
from sigconv._cpu._simd import avx512
from sigconv.nn import functional as F
from tests.nn.naive_conv import naive_conv, naive_conv_transpose
from tests.tolerance import assert_close

pytestmark = pytest.mark.skipif(not avx512(), reason="the kernel needs AVX-512")

CASES = [
    # x shape, weight shape, padding, dilation, padding mode, dtype
    ((8, 6, 14, 14), (16, 6, 5, 5), 0, 1, "zeros", np.float32),  # LeNet conv2: steps at 0, 2
    ((8, 6, 14, 14), (16, 6, 5, 5), 0, 1, "zeros", np.float64),  # two vectors of 8 lanes
    ((3, 3, 9, 12), (20, 3, 3, 4), 1, (2, 1), "reflect", np.float32),  # a partial 2nd vector
    ((3, 5, 40), (9, 5, 7), 2, 1, "circular", np.float64),  # 1-D, 7 taps: steps at 0, 3, 4
    ((2, 2, 5, 6, 9), (8, 2, 3, 2, 3), 1, (2, 1, 1), "zeros", np.float32),  # 3-D
    ((2, 4, 3, 22), (8, 4, 3, 3), 0, 1, "symmetric", np.float32),  # a plane of one block
    ((4, 12, 6, 30), (33, 12, 1, 3), ((0, 0), (1, 1)), 1, "replicate", np.float64),  # 5 vectors
    ((3, 8, 7, 25), (12, 8, 2, 2), 0, 1, "zeros", np.float32),  # steps of two taps only
    # blocks of two rows by ten columns: an odd number of rows (the last pair
    # overlaps the one before), then 19 columns (so does the last chunk of ten)
    ((2, 6, 15, 14), (16, 6, 5, 5), 0, 1, "zeros", np.float32),
    ((2, 4, 8, 25), (16, 4, 3, 7), 0, 1, "reflect", np.float64),
    # three steps a block, taken because the other kernel would be batch-last (small images);
    # rows of 8 outputs and 32 channels: runs of 8 by two vectors
    ((32, 1, 8, 8), (32, 1, 3, 3), 1, 1, "zeros", np.float32),
    # runs of 8 by two vectors: the digits network's second layer (two pairs of vectors), 16
    # float64 channels on rows of 16, rows of 15 (the last run overlaps the first), 3-D,
    # five taps a row (steps of three and two)
    ((4, 32, 8, 8), (64, 32, 3, 3), 1, 1, "zeros", np.float32),
    ((2, 5, 6, 16), (16, 5, 3, 3), 1, 1, "reflect", np.float64),
    ((2, 5, 6, 17), (32, 5, 3, 3), 0, 1, "zeros", np.float32),
    ((2, 4, 4, 5, 10), (32, 4, 2, 2, 3), 0, 1, "replicate", np.float32),
    ((2, 4, 6, 12), (32, 4, 3, 5), 0, (1, 1), "zeros", np.float32),
]
ROWS = {0, 1, 6, 8, 9}  # the cases whose blocks are row pairs (fewer blocks than the wide grid)
RUN8 = {10, 11, 12, 13, 14, 15}  # the cases whose blocks are runs of 8


def _check(rng, xs, ws, padding, dilation, mode, dtype, monkeypatch):
    nd = len(xs) - 2
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    x.flags.writeable = False
    calls = []
    real = conv_outvec.direct_corr_outvec
    monkeypatch.setattr(
        conv_outvec, "direct_corr_outvec", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    y = F.conv(x, w, b, padding=padding, dilation=dilation, padding_mode=mode)
    assert calls == [1]
    assert y.dtype == dtype
    pads = [(padding, padding)] * nd if isinstance(padding, int) else [tuple(p) for p in padding]
    dil = (dilation,) * nd if isinstance(dilation, int) else tuple(dilation)
    want = naive_conv(x, w, b, stride=(1,) * nd, pads=pads, dilation=dil, padding_mode=mode)
    assert_close(y, want, dtype=dtype)
    # without a bias
    assert_close(
        F.conv(x, w, padding=padding, dilation=dilation, padding_mode=mode),
        want - b.reshape((-1,) + (1,) * nd),
        dtype=dtype,
    )
    # the ReLU in the kernel's stores (Conv.forward_relu's CPU path): +0.0 for every x <= 0
    plan = _geometry.conv_plan(xs, ws, 1, padding, dilation, 1, mode, np.dtype(dtype), "auto")
    del calls[:]
    yr = cpu_conv.conv(plan, x, w, b, relu=True)
    assert calls == [1]
    np.testing.assert_array_equal(yr, F.relu(y))  # the ReLU of the unfused pass, exactly


@pytest.mark.parametrize("xs, ws, padding, dilation, mode, dtype", CASES)
def test_outvec_matches_loops(rng, monkeypatch, xs, ws, padding, dilation, mode, dtype):
    _check(rng, xs, ws, padding, dilation, mode, dtype, monkeypatch)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_outvec_chunks_in_any_order(rng, monkeypatch, case):
    # the tasks split into parts as run_chunks asks; here 5 parts, run out of order
    layouts = []  # runs of 8, or the kernel's ``rows`` argument: row pairs or the wide grid

    def chunks(kernel, work, *args):
        layouts.append("run8" if kernel is conv_outvec._direct_corr_run8 else args[-3])
        for part in (3, 0, 4, 2, 1):
            kernel(part, 5, *args)

    monkeypatch.setattr(conv_outvec, "run_chunks", chunks)
    _check(rng, *CASES[case], monkeypatch)
    if case in RUN8:
        assert layouts[0] == "run8"
    else:
        assert layouts[0] is (case in ROWS)


@pytest.mark.parametrize(
    "xs, ws, kw",
    [
        ((8, 6, 14, 14), (16, 3, 5, 5), dict(groups=2)),
        ((8, 6, 14, 14), (16, 6, 5, 5), dict(stride=(1, 2))),
        ((8, 6, 14, 14), (16, 6, 5, 1), {}),  # one tap along the row
        ((8, 6, 14, 14), (16, 6, 5, 3), dict(dilation=(1, 2))),
        ((8, 6, 14, 14), (7, 6, 5, 5), {}),  # fewer than 8 output channels
        ((8, 1, 30, 30), (16, 1, 3, 5), {}),  # 6 steps a block, the wide grid the other kernel
        ((8, 6, 4, 8), (16, 6, 3, 3), {}),  # an output plane of 14 wide positions
        ((2, 130, 8, 8), (16, 130, 3, 3), {}),  # over 128 input channels
    ],
)
def test_other_shapes_take_the_other_kernels(rng, monkeypatch, xs, ws, kw):
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    calls = []
    real = conv_outvec.direct_corr_outvec
    monkeypatch.setattr(
        conv_outvec, "direct_corr_outvec", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    y = F.conv(x, w, **kw)
    assert calls == []
    nd = len(xs) - 2
    stride = kw.get("stride", (1,) * nd)
    dil = kw.get("dilation", (1,) * nd)
    want = naive_conv(
        x, w, stride=stride, pads=[(0, 0)] * nd, dilation=dil, groups=kw.get("groups", 1)
    )
    assert_close(y, want, dtype=np.float32)


def test_without_avx512_it_is_never_taken(monkeypatch):
    monkeypatch.setattr(conv_outvec, "avx512", lambda: False)
    assert not conv_outvec.suits(
        (1, 14, 14), (16, 6, 1, 5, 5), (1, 1, 1), (1, 1, 1), 1, (1, 10, 10)
    )
    monkeypatch.setattr(conv_outvec, "avx512", lambda: True)
    assert conv_outvec.suits((1, 14, 14), (16, 6, 1, 5, 5), (1, 1, 1), (1, 1, 1), 1, (1, 10, 10))


def test_thresholds_come_from_config(monkeypatch):
    args = ((1, 14, 14), (16, 6, 1, 5, 5), (1, 1, 1), (1, 1, 1), 1, (1, 10, 10))
    assert conv_outvec.suits(*args)
    monkeypatch.setattr(_config, "NN_CONV_OUTVEC_MIN_OUT", 17)
    assert not conv_outvec.suits(*args)


def test_no_recompilation_across_shapes(rng):
    kernels = [
        conv_outvec._direct_corr_outvec,
        conv_outvec._direct_corr_run8,
        conv_outvec._step_weights,
    ]
    for dt in (np.float32, np.float64):
        for width in (12, 20, 10):  # row pairs, the wide grid, runs of 8
            x = rng.standard_normal((2, 6, 12, width)).astype(dt)
            F.conv(x, np.ones((32, 6, 3, 3), dt))
    before = [len(k.signatures) for k in kernels]
    for n, k in ((1, 3), (3, 5), (2, 7)):
        x = rng.standard_normal((n, 5, 9 + n, 16)).astype(np.float32)
        w = rng.standard_normal((8 + 4 * n, 5, 2, k)).astype(np.float32)
        F.conv(x, w, padding=1, dilation=(2, 1))
        x = rng.standard_normal((n, 5, 9 + n, 8 * n + k - 1)).astype(np.float32)
        F.conv(x, rng.standard_normal((32 * n, 5, 2, k)).astype(np.float32))
    assert [len(k.signatures) for k in kernels] == before


GRAD_CASES = [
    # the input gradient is a correlation whose output channels are the conv's input channels:
    # it takes the kernel for a full vector of them (16 float32, 8 float64)
    ((4, 16, 9, 12), (8, 16, 3, 4), 1, 1, "zeros", np.float32),  # the unpadded window only
    ((3, 8, 10, 30), (8, 8, 3, 3), 2, 1, "reflect", np.float64),  # folded back through padding
    ((2, 16, 5, 6, 9), (8, 16, 3, 2, 3), 1, (2, 1, 1), "zeros", np.float32),  # 3-D, dilation
]


@pytest.mark.parametrize("xs, ws, padding, dilation, mode, dtype", GRAD_CASES)
def test_input_gradient_through_outvec_matches_loops(
    rng, monkeypatch, xs, ws, padding, dilation, mode, dtype
):
    nd = len(xs) - 2
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    kw = dict(padding=padding, dilation=dilation, padding_mode=mode)
    g = rng.standard_normal(F.conv(x, w, **kw).shape).astype(dtype)
    calls = []
    real = conv_outvec.direct_corr_outvec
    monkeypatch.setattr(
        conv_outvec, "direct_corr_outvec", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    gx = F.conv_backward(g, x, w, need=("x",), **kw)[0]
    assert calls == [1]
    assert gx.dtype == dtype
    dil = (dilation,) * nd if isinstance(dilation, int) else tuple(dilation)
    if mode == "zeros":
        want = naive_conv_transpose(
            g, w, stride=(1,) * nd, pads=[(padding, padding)] * nd,
            output_padding=(0,) * nd, dilation=dil,
        )  # fmt: skip
        assert_close(gx, want, dtype=dtype)
    else:
        # through reflect padding: central differences of sum(conv(x) * g), float64
        h = 1e-3
        for idx in [(0, 0, 0, 0), (1, 3, 5, 29), (2, 7, 1, 2), (0, 5, 9, 14)]:
            plus, minus = x.copy(), x.copy()
            plus[idx] += h
            minus[idx] -= h
            num = np.sum((F.conv(plus, w, **kw) - F.conv(minus, w, **kw)) * g) / (2 * h)
            np.testing.assert_allclose(gx[idx], num, rtol=1e-7, atol=1e-7)


def test_input_gradient_of_half_a_vector_takes_the_other_kernels(rng, monkeypatch):
    x = rng.standard_normal((8, 8, 14, 14)).astype(np.float32)
    w = rng.standard_normal((16, 8, 5, 5)).astype(np.float32)
    g = rng.standard_normal((8, 16, 10, 10)).astype(np.float32)
    calls = []
    real = conv_outvec.direct_corr_outvec
    monkeypatch.setattr(
        conv_outvec, "direct_corr_outvec", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    gx = F.conv_backward(g, x, w, need=("x",))[0]
    assert calls == []
    want = naive_conv_transpose(
        g, w, stride=(1, 1), pads=[(0, 0)] * 2, output_padding=(0, 0), dilation=(1, 1)
    )
    assert_close(gx, want, dtype=np.float32)


def test_gemm_method_is_not_taken_over(rng, monkeypatch):
    # the host driver's method="gemm" (the oracle tests' other path) stays im2col + GEMM
    xp = rng.standard_normal((4, 6, 1, 14, 14))
    w = rng.standard_normal((16, 6, 1, 5, 5))
    calls = []
    real = conv_outvec.direct_corr_outvec
    monkeypatch.setattr(
        conv_outvec, "direct_corr_outvec", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    args = (xp, w, None, (1, 1, 1), (1, 1, 1), 1, (1, 10, 10))
    y = cpu_conv.forward(*args, method="gemm")
    assert calls == []
    assert cpu_conv.forward(*args, method="direct") is not None and calls == [1]
    want = naive_conv(xp[:, :, 0], w[:, :, 0], stride=(1, 1), pads=[(0, 0)] * 2, dilation=(1, 1))
    assert_close(y[:, :, 0], want)

"""sigconv.correlate / convolve / output_shape against SciPy and the plain-loop oracle.

Oracles: ``scipy.signal`` for stride = dilation = 1 with zero padding; the definition
(docs/contract.md §1: ``numpy.pad`` with the boundary, ``scipy.signal.correlate`` with the
zero-stuffed kernel in ``valid`` mode, sliced by stride) for everything else;
``scipy.ndimage.correlate`` for boundary modes; ``tests.naive`` (plain loops) as an independent
second path.
"""

import functools
import importlib.util

import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.signal as sps

import sigconv
from sigconv._cpu import (
    correlate_parts,
    correlate_rows,
    correlate_split,
    correlate_stride2,
    correlation,
)
from tests import naive
from tests.tolerance import assert_close

HAVE_FFT = importlib.util.find_spec("sigconv._fft") is not None
METHODS = ["direct", "fft", "auto"] if HAVE_FFT else ["direct"]
BOUNDARIES = ["constant", "reflect", "mirror", "nearest", "wrap"]
NP_PAD = {
    "constant": "constant",
    "reflect": "symmetric",
    "mirror": "reflect",
    "nearest": "edge",
    "wrap": "wrap",
}


def definition(x, w, mode, stride=1, dilation=1, boundary="constant", cval=0.0):
    """docs/contract.md §1 with SciPy: pad, valid correlation, zero-stuffed kernel, slice."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    nd = w.ndim
    lead = x.ndim - nd
    s = (stride,) * nd if np.isscalar(stride) else tuple(stride)
    d = (dilation,) * nd if np.isscalar(dilation) else tuple(dilation)
    kd = np.zeros([(k - 1) * di + 1 for k, di in zip(w.shape, d)])
    kd[tuple(slice(None, None, di) for di in d)] = w
    n_in = x.shape[lead:]
    if mode == "valid" and not (
        all(n >= e for n, e in zip(n_in, kd.shape)) or all(e >= n for n, e in zip(n_in, kd.shape))
    ):
        raise ValueError("valid: neither operand covers the other")
    pads = [naive.signal_pads(n, k, mode, di) for n, k, di in zip(n_in, w.shape, d)]
    width = [(0, 0)] * lead + pads
    if boundary == "constant":
        xp = np.pad(x, width, mode="constant", constant_values=cval)
    else:
        xp = np.pad(x, width, mode=NP_PAD[boundary])
    y = sps.correlate(xp, kd.reshape((1,) * lead + kd.shape), mode="valid", method="direct")
    return y[(Ellipsis,) + tuple(slice(None, None, si) for si in s)]


def rand(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


# --- SciPy compatibility (stride = dilation = 1, zeros) ---------------------------------------

SCIPY_CASES = [
    ((13,), (4,)),
    ((13,), (5,)),
    ((6,), (9,)),  # kernel longer than input
    ((1,), (1,)),
    ((9, 11), (3, 4)),
    ((9, 11), (2, 2)),
    ((4, 5), (6, 7)),
    ((7, 6, 5), (3, 2, 3)),
    ((3, 4, 2), (5, 4, 3)),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize(("shape", "kshape"), SCIPY_CASES)
def test_matches_scipy_signal(rng, shape, kshape, mode, method):
    x, w = rand(rng, shape), rand(rng, kshape)
    assert_close(
        sigconv.correlate(x, w, mode, method=method), sps.correlate(x, w, mode, method="direct")
    )
    assert_close(
        sigconv.convolve(x, w, mode, method=method), sps.convolve(x, w, mode, method="direct")
    )


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_matches_scipy_signal_float32(rng, mode):
    x, w = rand(rng, (37, 41), np.float32), rand(rng, (4, 5), np.float32)
    got = sigconv.correlate(x, w, mode, method="direct")
    assert got.dtype == np.float32
    assert_close(got, sps.correlate(x.astype(float), w.astype(float), mode), dtype=np.float32)


def test_valid_mixed_sizes_raise():
    with pytest.raises(ValueError, match="valid"):
        sigconv.correlate(np.ones((5, 3)), np.ones((3, 5)), "valid")
    with pytest.raises(ValueError, match="valid"):
        sps.correlate(np.ones((5, 3)), np.ones((3, 5)), "valid")  # the oracle agrees


def test_valid_kernel_longer_than_input_swaps(rng):
    x, w = rand(rng, (4, 3)), rand(rng, (7, 5))
    got = sigconv.correlate(x, w, "valid", method="direct")
    assert got.shape == (4, 3)
    assert_close(got, sps.correlate(x, w, "valid"))


# --- the definition: strides, dilations, boundaries, batches ----------------------------------

DEF_CASES = [
    # shape, kernel shape, stride, dilation
    ((31,), (4,), 3, 2),
    ((17,), (3,), 2, 1),
    ((5,), (3,), 1, 4),  # dilated kernel longer than the input
    ((2, 3, 23), (5,), 2, 3),  # batch axes
    ((12, 13), (3, 3), (2, 3), (1, 2)),
    ((11, 9), (2, 4), 1, (3, 1)),
    ((3, 10, 9), (3, 2), 2, 2),  # batch + 2-D
    ((6, 7, 8), (3, 2, 3), (1, 2, 3), (2, 1, 1)),
    ((2, 5, 4, 6), (2, 3, 2), 2, (1, 2, 1)),  # batch + 3-D
]


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize(("shape", "kshape", "stride", "dilation"), DEF_CASES)
def test_definition(rng, shape, kshape, stride, dilation, mode, boundary):
    x, w = rand(rng, shape), rand(rng, kshape)
    kw = dict(stride=stride, dilation=dilation, boundary=boundary, cval=0.6)
    try:
        want = definition(x, w, mode, stride, dilation, boundary, 0.6)
    except ValueError:  # valid with neither operand covering the other
        with pytest.raises(ValueError, match="valid"):
            sigconv.correlate(x, w, mode, method="direct", **kw)
        return
    got = sigconv.correlate(x, w, mode, method="direct", **kw)
    assert_close(got, want)
    assert got.shape == sigconv.output_shape(
        x.shape, w.shape, mode, stride=stride, dilation=dilation
    )
    flipped = w[(slice(None, None, -1),) * w.ndim]
    assert_close(
        sigconv.convolve(x, w, mode, method="direct", **kw),
        definition(x, flipped, mode, stride, dilation, boundary, 0.6),
    )


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize(
    ("shape", "kshape", "stride", "dilation", "mode"),
    [
        ((9,), (3,), 2, 2, "same"),
        ((2, 6, 5), (3, 2), (2, 1), (1, 2), "full"),
        ((4, 3, 5), (2, 2, 3), 1, (2, 1, 1), "same"),
        ((3, 4), (2, 3), (1, 2), 1, "valid"),
    ],
)
def test_naive_loop_oracle(rng, shape, kshape, stride, dilation, mode, boundary):
    x, w = rand(rng, shape), rand(rng, kshape)
    kw = dict(stride=stride, dilation=dilation, boundary=boundary, cval=-1.25)
    assert_close(
        sigconv.correlate(x, w, mode, method="direct", **kw),
        naive.correlate(x, w, mode, stride, dilation, boundary, -1.25),
    )
    assert_close(
        sigconv.convolve(x, w, mode, method="direct", **kw),
        naive.convolve(x, w, mode, stride, dilation, boundary, -1.25),
    )


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize(("n", "k", "d"), [(3, 5, 3), (1, 4, 2), (2, 7, 1), (4, 3, 5)])
def test_padding_wider_than_input_repeats_like_numpy_pad(rng, n, k, d, boundary):
    """A tiny input under a large dilated kernel: the extension repeats periodically."""
    x, w = rand(rng, (2, n)), rand(rng, (k,))
    for mode in ("full", "same"):
        want = naive.correlate(x, w, mode, 1, d, boundary, 0.3)
        got = sigconv.correlate(
            x, w, mode, dilation=d, boundary=boundary, cval=0.3, method="direct"
        )
        assert_close(got, want)
    x2, w2 = rand(rng, (n, n + 1)), rand(rng, (k, 2))
    want = naive.correlate(x2, w2, "full", (1, 2), (d, 3), boundary, 0.3)
    got = sigconv.correlate(
        x2, w2, "full", stride=(1, 2), dilation=(d, 3), boundary=boundary, cval=0.3, method="direct"
    )
    assert_close(got, want)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize(
    ("shape", "kshape"), [((40,), (5,)), ((13, 17), (3, 5)), ((6, 7, 5), (3, 3, 3))]
)
def test_matches_ndimage_same_odd(rng, shape, kshape, boundary, method):
    x, w = rand(rng, shape), rand(rng, kshape)
    got = sigconv.correlate(x, w, "same", boundary=boundary, cval=2.5, method=method)
    assert_close(got, ndi.correlate(x, w, mode=boundary, cval=2.5))


WIDE_CASES = [
    # shape, kernel shape, stride, dilation: rows longer than a vector, so the CPU kernel's
    # fused passes run widened over the row ends (then recomputed with the boundary rule)
    ((2, 5, 7, 29), (3, 3, 3), 1, 1),  # batch + 3-D, odd row counts
    ((3, 1, 1, 19), (3, 3, 3), 1, 1),  # size-1 axes: most kernel rows over padding
    ((9, 37), (3, 3), 2, 1),  # stride 2 along both axes
    ((4, 23), (5, 2), (1, 3), (2, 1)),
    ((2, 11, 40), (2, 4), 1, (1, 3)),  # even kernel, dilation along the rows
    ((6, 300), (1, 13), 1, 1),  # many taps of one row: several fused groups
]


def _direct_into_nan(x, w, mode, stride, dilation, boundary, dt):
    """Direct correlation (cval -0.75) into an ``out=`` that starts as NaN, so an output the
    kernel never wrote shows."""
    out = np.full(
        sigconv.output_shape(x.shape, w.shape, mode, stride=stride, dilation=dilation),
        np.nan,
        dtype=dt,
    )
    got = sigconv.correlate(
        x.astype(dt),
        w.astype(dt),
        mode,
        stride=stride,
        dilation=dilation,
        boundary=boundary,
        cval=-0.75,
        method="direct",
        out=out,
    )
    assert got is out
    return got


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize(("shape", "kshape", "stride", "dilation"), WIDE_CASES)
def test_wide_rows_every_output_written(rng, shape, kshape, stride, dilation, boundary):
    """Rows longer than one SIMD vector against the loop oracle, both dtypes, out= starting as
    NaN: an output the kernel skipped, or an edge left with the widened pass's value, shows."""
    x, w = rand(rng, shape), rand(rng, kshape)
    for mode in ("same", "full"):
        want = naive.correlate(x, w, mode, stride, dilation, boundary, -0.75)
        for dt in (np.float32, np.float64):
            assert_close(_direct_into_nan(x, w, mode, stride, dilation, boundary, dt), want)


SPLIT_CASES = [
    # shape, kernel shape, stride, dilation: a stride along the rows, so the CPU kernel can
    # split each input row into its phases on the fly (correlate3_split) instead of reading a
    # deinterleaved copy
    ((9, 37), (3, 3), 2, 1),  # odd sizes
    ((2, 3, 10, 40), (3, 3), 2, 1),  # batch axes, even sizes
    ((8, 41), (3, 3), 3, 1),  # stride 3: three phases
    ((2, 9, 33), (3, 2), 2, (1, 3)),  # even kernel, dilation with stride along the rows
    ((12, 26), (4, 3), (3, 2), (2, 2)),  # kernel rows not shared by consecutive output rows
    ((1, 50), (3, 3), 2, 1),  # size-1 axis: most kernel rows over padding
    ((6, 1), (3, 3), 2, 1),  # rows of one sample
    ((2, 5, 7, 29), (3, 3, 3), 2, 1),  # batch + 3-D
    ((5, 6, 30), (2, 3, 3), (1, 2, 3), (2, 1, 2)),
    ((3, 101), (5,), 2, 2),  # 1-D
    # the stride-2 kernel's tap chunks: rows of 1, 2, 4 and 5 taps padded to 3 or 6, kernel
    # rows not a multiple of three (a pass padded with zero-weight rows), 9 taps a 1-D row
    ((3, 7, 23), (5, 1), 2, 1),
    ((2, 11, 24), (2, 2), 2, 1),
    ((10, 31), (5, 4), (1, 2), 1),
    ((2, 4, 9, 27), (2, 3, 5), (2, 1, 2), (1, 2, 1)),
    ((3, 64), (9,), 2, 1),
    ((2, 57), (18,), 2, 1),
]


@pytest.mark.parametrize("family", ["stride2", "split", "deinterleave"])
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize(("shape", "kshape", "stride", "dilation"), SPLIT_CASES)
def test_row_stride_both_kernels(
    rng, monkeypatch, fresh_plans, shape, kshape, stride, dilation, boundary, family
):
    """The stride-2 kernel (loads straight from the rows), the split-on-the-fly kernel and the
    deinterleave path (each forced in turn, whatever the speed rules say) against the loop
    oracle, both dtypes, out= starting as NaN: a skipped output, a stale scratch row, a wrong
    phase or a padded tap's weight shows."""
    from sigconv import _config

    calls = []
    kernel = "correlate3_stride2" if family == "stride2" else "correlate3_split"
    real = getattr(correlation, kernel)
    monkeypatch.setattr(correlation, kernel, lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(correlation, "_split_wins", lambda *a: family == "split")
    if family == "stride2":
        monkeypatch.setattr(_config, "CPU_STRIDE2_MAX_TAPS", 10**6)
    else:
        monkeypatch.setattr(correlation, "stride2_geometry", lambda *a: None)
    x, w = rand(rng, shape), rand(rng, kshape)
    runs = 0
    for mode in ("same", "full", "valid"):
        try:
            want = naive.correlate(x, w, mode, stride, dilation, boundary, -0.75)
        except ValueError:  # 'valid' where neither operand covers the other
            with pytest.raises(ValueError, match="valid"):
                _direct_into_nan(x, w, mode, stride, dilation, boundary, np.float64)
            continue
        for dt in (np.float32, np.float64):
            assert_close(_direct_into_nan(x, w, mode, stride, dilation, boundary, dt), want)
            runs += 1
    assert runs >= 4
    if family == "split":
        assert len(calls) == runs
    elif family == "deinterleave":
        assert not calls
    else:
        s_last = np.broadcast_to(stride, (len(kshape),))[-1]
        d_last = np.broadcast_to(dilation, (len(kshape),))[-1]
        # rows of one sample leave every output to the scalar loop: another kernel
        eligible = s_last == 2 and d_last == 1 and shape[-1] > 1
        assert (len(calls) > 0) == eligible


@pytest.mark.parametrize("block", [3, 7, 4096])
def test_row_stride_split_column_blocks(rng, monkeypatch, fresh_plans, block):
    """Several column blocks per row: the scratch rows are tagged by block, and a long 1-D
    kernel leaves whole blocks to the scalar loop."""
    from sigconv import _config

    monkeypatch.setattr(_config, "CPU_ROW_BLOCK", block)
    monkeypatch.setattr(correlation, "_split_wins", lambda *a: True)
    for shape, kshape, stride, dilation in [
        ((2, 4, 61), (3, 3), 2, 1),
        ((3, 101), (13,), 3, 2),
        ((2, 3, 5, 40), (2, 3, 5), (2, 1, 2), (1, 2, 1)),
    ]:
        x, w = rand(rng, shape), rand(rng, kshape)
        for boundary in ("constant", "reflect", "wrap"):
            for mode in ("same", "full"):
                want = naive.correlate(x, w, mode, stride, dilation, boundary, -0.75)
                for dt in (np.float32, np.float64):
                    got = _direct_into_nan(x, w, mode, stride, dilation, boundary, dt)
                    assert_close(got, want)


@pytest.mark.parametrize(
    ("shape", "kshape", "stride", "dilation"),
    [
        ((9, 11, 70), (3, 3, 3), 1, 1),  # 27 adjacent taps: row_set333, one pass a row
        ((2, 7, 8, 40), (3, 3, 3), 1, (2, 2, 1)),  # the same with a batch and dilated rows
        ((9, 11, 70), (3, 3, 3), (2, 3, 1), (1, 2, 1)),  # ... and strided rows
        ((9, 11, 70), (3, 3, 3), 1, (1, 1, 2)),  # dilated along the rows: row_pass33
        ((12, 40), (9, 3), 1, 1),  # 2-D, nine kernel rows of three taps: not _rows333
        ((9, 11, 70), (3, 3, 3), 2, 1),  # phases: the taps' offsets are not in tap order
        ((9, 11, 70), (2, 3, 3), (1, 2, 3), (2, 1, 2)),  # 18 taps: two groups
        ((6, 12, 40), (5, 3, 3), 1, 1),  # 45 taps: five groups
        ((12, 40), (3, 3), 1, (1, 3)),  # 2-D: one group, dilated taps
        ((12, 40), (4, 3), 1, 1),  # 12 taps: groups of 6, the per-tap pass
        ((30, 40), (17, 3), 1, 1),  # 51 taps: groups of 8 and 9, one of 9 starting mid-row
        ((2, 17, 40), (3, 3), (2, 2), 1),  # a batch axis
    ],
)
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_three_tap_rows(rng, shape, kshape, stride, dilation, boundary):
    """Kernel rows of three taps take ``row_pass33`` (one slice per kernel row) wherever a
    group holds three whole rows, or ``row_set333`` (one pass over nine kernel rows) for 27
    adjacent taps, at the volume's edges too (rows through the boundary rule)."""
    x, w = rand(rng, shape), rand(rng, kshape)
    for mode in ("same", "full", "valid"):
        want = naive.correlate(x, w, mode, stride, dilation, boundary, -0.75)
        for dt in (np.float32, np.float64):
            got = _direct_into_nan(x, w, mode, stride, dilation, boundary, dt)
            assert_close(got, want)


@pytest.mark.parametrize(
    ("shape", "kshape", "stride", "want"),
    [
        ((1024, 1024), (3, 3), 2, "stride2"),  # W4
        ((64, 4096), (5,), 2, "stride2"),
        ((16, 16, 64), (3, 3, 3), 2, "stride2"),  # 3 taps a row: any number of rows
        ((65, 256, 256), (3, 3, 3), (1, 1, 2), "stride2"),
        ((1024, 1024), (5, 5), 2, "split"),  # 25 taps of 5 a row: 2 rows split, 2 read
        ((64, 4096), (31,), 2, "split"),
        ((1024, 1024), (3, 3), 3, "split"),  # stride 3: three phases
        ((65, 256, 256), (3, 3, 5), 2, "split"),  # 3-D past 16 MiB: 6 rows split, 4 read
        ((16, 16, 64), (5, 3, 5), 2, "deinterleave"),  # 3-D in cache: one pass splits
        ((4, 400), (1, 201), 2, "deinterleave"),  # long rows of taps: wide edges
        ((64, 64), (3, 3), (2, 1), "deinterleave"),  # no stride along the rows
    ],
)
def test_row_stride_kernel_choice(monkeypatch, fresh_plans, shape, kshape, stride, want):
    """The speed rules pick the kernel family where it was measured faster."""
    calls = []
    for name in ("correlate3_stride2", "correlate3_split"):
        real = getattr(correlation, name)
        spy = functools.partial(lambda real, name, *a: calls.append(name) or real(*a), real, name)
        monkeypatch.setattr(correlation, name, spy)
    rng = np.random.default_rng(7)
    x, w = rand(rng, shape, np.float32), rand(rng, kshape, np.float32)
    got = sigconv.correlate(x, w, "same", stride=stride, method="direct")
    assert calls == ([] if want == "deinterleave" else ["correlate3_" + want])
    # odd kernels, 'same', zero padding: scipy.ndimage's correlation, then the stride's slice
    s = (stride,) * len(kshape) if np.isscalar(stride) else stride
    wb = w.astype(np.float64).reshape((1,) * (x.ndim - w.ndim) + kshape)
    full = ndi.correlate(x.astype(np.float64), wb, mode="constant")
    assert_close(got, full[(Ellipsis,) + tuple(slice(None, None, si) for si in s)])


def test_stride_is_slice_of_stride_one(rng):
    x, w = rand(rng, (3, 19, 22)), rand(rng, (4, 3))
    full = sigconv.correlate(x, w, "same", boundary="wrap", method="direct")
    got = sigconv.correlate(x, w, "same", stride=(3, 2), boundary="wrap", method="direct")
    assert got.shape == (3, 7, 11)  # ceil(n / s)
    assert_close(got, full[:, ::3, ::2])


def test_long_1d_signal_spans_many_blocks(rng, monkeypatch, fresh_plans):
    """Column blocks of one long row (the 1-D parallel split) join without seams."""
    from sigconv import _config

    monkeypatch.setattr(_config, "CPU_ROW_BLOCK", 7)
    x, w = rand(rng, (2, 101)), rand(rng, (13,))
    for mode in ("full", "same", "valid"):
        assert_close(
            sigconv.correlate(x, w, mode, boundary="mirror", method="direct"),
            definition(x, w, mode, boundary="mirror"),
        )
    assert_close(
        sigconv.correlate(x, w, "full", stride=3, dilation=2, method="direct"),
        definition(x, w, "full", 3, 2),
    )


def test_batch_axes_share_the_kernel(rng):
    x, w = rand(rng, (2, 3, 8, 9)), rand(rng, (3, 2))
    got = sigconv.correlate(x, w, "same", method="direct")
    for i in range(2):
        for j in range(3):
            assert_close(got[i, j], sps.correlate(x[i, j], w, "same"))


def test_nan_propagates(rng):
    x = rand(rng, (10, 10))
    x[4, 5] = np.nan
    got = sigconv.correlate(x, np.ones((3, 3)), "same", method="direct")
    assert np.isnan(got[3:6, 4:7]).all()
    assert np.isfinite(got[:3]).all() and np.isfinite(got[7:]).all()


# --- dtypes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dt1", "dt2", "want"),
    [
        (np.float32, np.float32, np.float32),
        (np.float16, np.float32, np.float32),
        (np.float16, np.float16, np.float16),
        (np.float32, np.float64, np.float64),
        (np.float64, np.float32, np.float64),
        (np.int32, np.float32, np.float64),
        (np.uint8, np.float32, np.float32),
        (np.uint8, np.float64, np.float64),
        (bool, np.float32, np.float32),
    ],
)
def test_dtype_policy(rng, dt1, dt2, want):
    """docs/contract.md §1: numpy.result_type of the inputs, as scipy.signal (float rows here;
    integer, bool and complex results: tests/test_scipy_dropin.py)."""
    x = (rng.standard_normal((9, 8)) * 4).astype(dt1)
    w = (rng.standard_normal((3, 2)) * 4).astype(dt2)
    got = sigconv.correlate(x, w, "same", method="direct")
    # SciPy's n-D direct path refuses float16 ("Unsupported type"); its 1-D path shows its rule
    assert got.dtype == want == sps.correlate(x[0], w[0], "same").dtype
    ref = sps.correlate(x.astype(np.float64), w.astype(np.float64), "same")
    tol_dtype = np.float32 if np.dtype(want).itemsize <= 4 else np.float64
    scale = 1e3 if want == np.float16 else None  # float16 keeps about 3 digits
    assert_close(got.astype(np.float64), ref, dtype=tol_dtype, scale=scale)


@pytest.mark.parametrize("bad", [object, "U3", np.longdouble])
def test_unsupported_dtypes_raise(bad):
    x = np.ones((4, 4)).astype(bad)
    with pytest.raises(TypeError, match="in1|dtype"):
        sigconv.correlate(x, np.ones((2, 2)))
    with pytest.raises(TypeError, match="in2|dtype"):
        sigconv.convolve(np.ones((4, 4)), np.ones((2, 2)).astype(bad))


# --- layouts, inputs untouched, out= ----------------------------------------------------------


def _layouts(a):
    yield "C", np.ascontiguousarray(a)
    yield "F", np.asfortranarray(a)
    yield "negative strides", np.ascontiguousarray(a[::-1, ::-1])[::-1, ::-1]
    big = np.zeros((a.shape[0] * 2, a.shape[1] * 3))
    big[::2, ::3] = a
    yield "non-contiguous", big[::2, ::3]
    yield "big-endian", a.astype(a.dtype.newbyteorder(">"))
    ro = a.copy()
    ro.flags.writeable = False
    yield "read-only", ro
    yield "list", a.tolist()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_any_layout_and_inputs_unchanged(rng, dtype):
    x0, w0 = rand(rng, (11, 12), dtype), rand(rng, (3, 4), dtype)
    want = sps.correlate(x0.astype(float), w0.astype(float), "full")
    for (lx, x), (lw, w) in zip(_layouts(x0), _layouts(w0)):
        before_x, before_w = np.array(x, copy=True), np.array(w, copy=True)
        got = sigconv.correlate(x, w, stride=1, method="direct")
        assert_close(got, want, dtype=got.dtype, err_msg=f"{lx}/{lw}")
        np.testing.assert_array_equal(np.asarray(x), before_x)
        np.testing.assert_array_equal(np.asarray(w), before_w)
        strided = sigconv.convolve(x, w, "same", stride=2, boundary="reflect", method="direct")
        assert_close(
            strided, definition(x0, w0[::-1, ::-1], "same", 2, 1, "reflect"), dtype=strided.dtype
        )
        np.testing.assert_array_equal(np.asarray(x), before_x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_out_filled_and_returned(rng, dtype):
    x, w = rand(rng, (2, 9, 10), dtype), rand(rng, (3, 3), dtype)
    want = sigconv.correlate(x, w, "same", stride=2, method="direct")
    out = np.full(want.shape, 7.0, dtype=dtype)
    got = sigconv.correlate(x, w, "same", stride=2, method="direct", out=out)
    assert got is out
    np.testing.assert_array_equal(out, want)
    assert_close(out, definition(x, w, "same", 2), dtype=dtype)
    # A non-contiguous out is filled too.
    base = np.zeros(want.shape[:-1] + (want.shape[-1] * 2,), dtype=dtype)
    view = base[..., ::2]
    got = sigconv.correlate(x, w, "same", stride=2, method="direct", out=view)
    assert got is view
    np.testing.assert_array_equal(view, want)
    assert not base[..., 1::2].any()


def test_out_may_be_the_input(rng):
    x = rand(rng, (3, 12, 13))
    want = sps.correlate(x[0], np.arange(9.0).reshape(3, 3), "same")
    got = sigconv.correlate(x, np.arange(9.0).reshape(3, 3), "same", method="direct", out=x)
    assert got is x
    assert_close(x[0], want)


@pytest.mark.parametrize("method", METHODS)
def test_out_with_every_method(rng, method):
    x, w = rand(rng, (20, 21)), rand(rng, (5, 4))
    out = np.empty((24, 24))
    got = sigconv.convolve(x, w, out=out, method=method)
    assert got is out
    assert_close(out, sps.convolve(x, w))


def test_no_recompilation():
    """Repeated calls with both dtypes, all options: the kernels' signatures stay fixed."""
    kernels = [
        correlate_rows._rows_fast,
        correlate_rows._rows_general,
        correlate_rows._rows333,
        correlate_split._rows_split,
        correlate_stride2._rows_stride2,
        correlate_stride2.pass_stride2,
        correlate_parts._deinterleave,
        correlate_parts.row_pass,  # shared by every path: one specialisation per dtype
    ]

    def run():
        for dt in (np.float32, np.float64):
            for nd in (1, 2, 3):
                x = np.ones((2,) + (6,) * nd, dtype=dt)
                w = np.ones((3,) * nd, dtype=dt)
                for b in BOUNDARIES:
                    sigconv.correlate(
                        x, w, "same", stride=2, dilation=2, boundary=b, method="direct"
                    )
                    sigconv.convolve(x, w, "full", boundary=b, cval=1, method="direct")
                    sigconv.correlate(x, w, "full", stride=2, boundary=b, method="direct")
                sigconv.correlate(x.astype(int), w, "valid", method="direct")
                sigconv.correlate(x, w, "valid", dilation=(2, 1, 1)[-nd:], method="direct")

    run()
    counts = [len(k.signatures) for k in kernels]
    assert all(c <= 2 for c in counts)
    run()
    assert [len(k.signatures) for k in kernels] == counts


# --- output_shape ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("in_shape", "k_shape", "mode", "stride", "dilation", "want"),
    [
        ((10,), (3,), "full", 1, 1, (12,)),
        ((10,), (3,), "same", 2, 1, (5,)),
        ((11,), (3,), "same", 2, 1, (6,)),
        ((10,), (3,), "valid", 1, 2, (6,)),
        ((4,), (7,), "valid", 1, 1, (4,)),
        ((4, 100, 100), (5, 5), "valid", 1, 2, (4, 92, 92)),
        ((2, 8, 9, 10), (3, 3, 3), "full", (1, 2, 3), 1, (2, 10, 6, 4)),
    ],
)
def test_output_shape(in_shape, k_shape, mode, stride, dilation, want):
    assert sigconv.output_shape(in_shape, k_shape, mode, stride=stride, dilation=dilation) == want
    x = np.zeros(in_shape)
    got = sigconv.correlate(
        x, np.ones(k_shape), mode, stride=stride, dilation=dilation, method="direct"
    )
    assert got.shape == want


# --- backends ----------------------------------------------------------------------------------


class FakeDeviceArray:
    """Looks like a GPU array (``__cuda_array_interface__``); must never reach np.asarray."""

    def __init__(self, shape, typestr="<f4"):
        self.shape = shape
        self.dtype = np.dtype(typestr)
        self.__cuda_array_interface__ = {
            "shape": shape,
            "typestr": typestr,
            "data": (0, False),
            "version": 3,
        }

    def __array__(self, *args, **kwargs):
        raise AssertionError("a device array was converted on the host")


def test_backend_cpu_refuses_device_arrays():
    with pytest.raises(TypeError, match="backend='cpu'"):
        sigconv.correlate(FakeDeviceArray((8, 8)), np.ones((3, 3)), backend="cpu")
    with pytest.raises(TypeError, match="backend='cpu'"):
        sigconv.convolve(np.ones((8, 8)), FakeDeviceArray((3, 3)), backend="cpu")


def test_device_array_metadata_is_validated():
    with pytest.raises(TypeError, match="in1"):
        sigconv.correlate(FakeDeviceArray((8, 8), "<c8"), np.ones((3, 3)))
    with pytest.raises(ValueError, match="in2"):
        sigconv.correlate(np.ones((8, 8)), FakeDeviceArray((3, 3, 3, 3)))
    with pytest.raises(ValueError, match="in2"):
        sigconv.correlate(FakeDeviceArray((8, 8)), FakeDeviceArray((3, 3, 3)))


def test_backend_bogus():
    with pytest.raises(ValueError, match="backend"):
        sigconv.correlate(np.ones(5), np.ones(2), backend="bogus")
    with pytest.raises(TypeError, match="backend"):
        sigconv.correlate(np.ones(5), np.ones(2), backend=None)


# --- bad arguments -----------------------------------------------------------------------------

X, W = np.ones((6, 7)), np.ones((2, 3))

BAD = [
    # (kwargs overriding the call, exception, word the message must contain)
    (dict(in1=np.ones((0, 3))), ValueError, "in1"),
    (dict(in1=np.float64(3.0)), ValueError, "0-d"),  # 0-d with a 2-D kernel (SciPy raises)
    (dict(in1=[[1, 2], [3]]), TypeError, "in1"),
    (dict(in1="abc"), TypeError, "in1"),
    (dict(in1=np.ones(5, dtype=object)), TypeError, "in1"),
    (dict(in2=np.ones((2, 2, 2, 2))), ValueError, "in2"),
    (dict(in2=np.ones((2, 0))), ValueError, "in2"),
    (dict(in2=np.ones((2, 2, 2))), ValueError, "in2"),  # more kernel axes than in1 has
    (dict(in2=np.array(2.0)), ValueError, "0-d"),
    (dict(in2=None), TypeError, "in2"),
    (dict(mode="bogus"), ValueError, "mode"),
    (dict(mode=3), TypeError, "mode"),
    (dict(stride=0), ValueError, "stride"),
    (dict(stride=(1, 2, 3)), ValueError, "stride"),
    (dict(stride=1.5), TypeError, "stride"),
    (dict(stride=(1, True)), TypeError, "stride"),
    (dict(dilation=-1), ValueError, "dilation"),
    (dict(dilation="2"), TypeError, "dilation"),
    (dict(dilation=(2,)), ValueError, "dilation"),
    (dict(boundary="periodic"), ValueError, "boundary"),
    (dict(boundary=None), TypeError, "boundary"),
    (dict(cval="zero"), TypeError, "cval"),
    (dict(cval=np.nan), ValueError, "cval"),
    (dict(cval=1j), TypeError, "cval"),  # complex cval needs a complex result
    (dict(axes=(0, 0)), ValueError, "axes"),
    (dict(axes=5), ValueError, "axes"),
    (dict(axes="0"), TypeError, "axes"),
    (dict(origin=1), ValueError, "mode='same'"),
    (dict(dtype="float128x"), TypeError, "dtype"),
    (dict(dtype=np.int32), TypeError, "dtype"),  # float inputs cannot ask for integers
    (dict(method="overlap"), ValueError, "method"),
    (dict(method=None), TypeError, "method"),
    (dict(backend="gpu"), ValueError, "backend"),
    (dict(out=np.empty((7, 9), dtype=np.float32)), TypeError, "out"),
    (dict(out=[0.0] * 63), TypeError, "out"),
    (dict(out=np.empty((8, 8))), ValueError, "out"),
]


@pytest.mark.parametrize(("kwargs", "exc", "word"), BAD)
@pytest.mark.parametrize("fn", [sigconv.correlate, sigconv.convolve])
def test_bad_arguments(fn, kwargs, exc, word):
    call = dict(in1=X, in2=W, mode="full")
    call.update(kwargs)
    with pytest.raises(exc, match=word):
        fn(call.pop("in1"), call.pop("in2"), call.pop("mode"), **call)


def test_read_only_out_raises():
    out = np.empty((7, 9))
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out"):
        sigconv.correlate(X, W, out=out)


BAD_SHAPE = [
    (dict(in_shape=(0, 3)), ValueError, "in_shape"),
    (dict(in_shape=()), ValueError, "in_shape"),
    (dict(in_shape="ab"), TypeError, "in_shape"),
    (dict(in_shape=(3.0, 4)), TypeError, "in_shape"),
    (dict(kernel_shape=(1, 1, 1, 1)), ValueError, "kernel_shape"),
    (dict(kernel_shape=(2, 2, 2)), ValueError, "kernel_shape"),
    (dict(kernel_shape=None), TypeError, "kernel_shape"),
    (dict(mode="wide"), ValueError, "mode"),
    (dict(stride=0), ValueError, "stride"),
    (dict(dilation=(1, 2, 3)), ValueError, "dilation"),
    (dict(mode="valid", in_shape=(5, 3), kernel_shape=(3, 5)), ValueError, "valid"),
]


@pytest.mark.parametrize(("kwargs", "exc", "word"), BAD_SHAPE)
def test_output_shape_bad_arguments(kwargs, exc, word):
    call = dict(in_shape=(6, 7), kernel_shape=(2, 3), mode="full")
    call.update(kwargs)
    with pytest.raises(exc, match=word):
        sigconv.output_shape(
            call.pop("in_shape"), call.pop("kernel_shape"), call.pop("mode"), **call
        )


@pytest.mark.cuda
@pytest.mark.parametrize("fn", ["correlate", "convolve"])
def test_cuda_dispatch_matches_cpu(rng, fn):
    """backend='cuda' reaches the CUDA kernels (the simulator on CPU-only machines)."""
    from sigconv import _backend

    if not _backend.cuda_available():
        pytest.skip(_backend.cuda_status()[1])
    x, w = rand(rng, (2, 7, 6)), rand(rng, (3, 2))
    kw = dict(stride=(2, 1), dilation=(1, 2), boundary="reflect", cval=0.5)
    got = getattr(sigconv, fn)(x, w, "same", backend="cuda", **kw)
    got = got.copy_to_host() if hasattr(got, "copy_to_host") else np.asarray(got)
    assert_close(got, getattr(sigconv, fn)(x, w, "same", backend="cpu", method="direct", **kw))


def test_a_repeated_call_skips_the_checks_but_not_their_answers(rng, monkeypatch):
    from sigconv import _dropin

    calls = []
    real = _dropin.dispatch
    monkeypatch.setattr(_dropin, "dispatch", lambda *a, **k: calls.append(1) or real(*a, **k))
    x = rng.standard_normal((3, 40, 33)).astype(np.float32)
    w = rng.standard_normal((4, 5)).astype(np.float32)
    kw = dict(stride=2, dilation=1, boundary="reflect", cval=0.0)
    want = sigconv.correlate(x, w, "same", method="direct", **kw)
    first = sigconv.correlate(x, w, "same", **kw)
    again = sigconv.correlate(x, w, "same", **kw)
    assert len(calls) == 2  # the third call was known
    assert_close(first, want, dtype=np.float32)
    np.testing.assert_array_equal(again, first)
    assert again.dtype == first.dtype == np.float32 and again.flags.c_contiguous
    assert not np.shares_memory(again, first)
    # the same key with other arrays: a strided view, a read-only array, other values
    view = np.repeat(x, 2, axis=2)[:, :, ::2]
    assert_close(sigconv.correlate(view, w, "same", **kw), want, dtype=np.float32)
    ro = x.copy()
    ro.flags.writeable = False
    assert_close(sigconv.correlate(ro, w, "same", **kw), want, dtype=np.float32)
    assert_close(
        sigconv.correlate(2 * x, w, "same", **kw), 2 * want.astype(np.float64), dtype=np.float32
    )
    assert len(calls) == 2
    # convolve is another key; spellings validation refuses are refused every time
    assert_close(
        sigconv.convolve(x, w, "same", **kw),
        sigconv.correlate(x, w[::-1, ::-1].copy(), "same", method="direct", **kw),
        dtype=np.float32,
    )
    assert len(calls) == 3
    for _ in range(2):
        with pytest.raises(TypeError, match="stride"):
            sigconv.correlate(x, w, "same", **{**kw, "stride": True})
        with pytest.raises(ValueError, match="cval"):
            sigconv.correlate(x, w, "same", **{**kw, "cval": float("inf")})
        with pytest.raises(ValueError, match="mode"):
            sigconv.correlate(x, w, "Same", **kw)
        with pytest.raises(ValueError, match="backend"):
            sigconv.correlate(x, w, "same", **kw, backend="gpu")
        with pytest.raises(ValueError, match="valid"):
            sigconv.correlate(x[:, :2], w, "valid")
    # options the key does not cover take the checked path
    sigconv.correlate(x, w, "same", **kw, out=np.empty_like(first))
    sigconv.correlate(x.astype(np.float64), w, "same", **kw)
    assert len(calls) == 3 + 10 + 2

"""The FFT / overlap-save path (``sigconv._fft``) against independent oracles.

Oracles: the docs/contract.md §1 definition spelled out with NumPy and SciPy (``numpy.pad`` with the
boundary, ``scipy.signal.correlate`` with the zero-stuffed kernel in ``valid`` mode, slicing by
stride), ``scipy.signal.correlate`` itself for plain geometries and ``scipy.ndimage.correlate``
for odd kernels in ``same``.
"""

import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.signal as sps
from hypothesis import given
from hypothesis import strategies as st

from sigconv import _config, _fft, signal
from sigconv._geometry import signal_geometry
from tests.tolerance import assert_close

BOUNDARIES = ("constant", "reflect", "mirror", "nearest", "wrap")
NUMPY_MODE = {
    "constant": "constant",
    "reflect": "symmetric",
    "mirror": "reflect",
    "nearest": "edge",
    "wrap": "wrap",
}


def definition(x, w, mode, stride, dilation, boundary="constant", cval=0.0):
    """docs/contract.md §1 literally, in float64: dilate, pad, valid correlation, stride."""
    nd = w.ndim
    lead = x.ndim - nd
    ke = [(k - 1) * d + 1 for k, d in zip(w.shape, dilation)]
    kd = np.zeros(ke)
    kd[tuple(slice(None, None, d) for d in dilation)] = w
    spatial = x.shape[lead:]
    if mode == "valid" and not (
        all(n >= e for n, e in zip(spatial, ke)) or all(e >= n for n, e in zip(spatial, ke))
    ):
        raise ValueError("valid: neither operand covers the other")
    pads = []
    for n, e in zip(spatial, ke):
        if mode == "full":
            pads.append((e - 1, e - 1))
        elif mode == "same":
            pads.append((e // 2, (e - 1) // 2))
        elif n >= e:
            pads.append((0, 0))
        else:  # valid with the kernel covering the input: where it fully covers it
            pads.append((e - n, e - n))
    kw = {"constant_values": cval} if boundary == "constant" else {}
    xp = np.pad(x.astype(np.float64), [(0, 0)] * lead + pads, mode=NUMPY_MODE[boundary], **kw)
    y = sps.correlate(xp, kd.reshape((1,) * lead + kd.shape), mode="valid", method="direct")
    return y[(Ellipsis, *(slice(None, None, s) for s in stride))]


def run_fft(x, w, mode, stride, dilation, boundary="constant", cval=0.0):
    nd = w.ndim
    geom = signal_geometry(x.shape[x.ndim - nd :], w.shape, mode, stride, dilation)
    x_before, w_before = x.copy(), w.copy()
    out = _fft.correlate_fft(x, w, geom, stride, dilation, boundary, cval)
    np.testing.assert_array_equal(x, x_before)  # inputs are never modified
    np.testing.assert_array_equal(w, w_before)
    return out


@pytest.fixture
def tight_memory(monkeypatch, fresh_plans):
    """Force overlap-save frames processed in several groups on small inputs (fresh plans:
    their answers depend on these settings)."""
    monkeypatch.setattr(_config, "FFT_TEMP_FACTOR", 2.0)
    monkeypatch.setattr(_config, "FFT_TEMP_MIN_BYTES", 0)


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_matches_scipy_signal(rng, nd, mode):
    shape = {1: (37,), 2: (17, 12), 3: (9, 8, 7)}[nd]
    kshape = {1: (6,), 2: (4, 3), 3: (3, 2, 3)}[nd]
    x = rng.standard_normal(shape)
    w = rng.standard_normal(kshape)
    got = run_fft(x, w, mode, (1,) * nd, (1,) * nd)
    assert_close(got, sps.correlate(x, w, mode=mode, method="direct"))


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_matches_ndimage_same(rng, nd, boundary):
    shape = {1: (41,), 2: (19, 14), 3: (10, 9, 8)}[nd]
    kshape = {1: (7,), 2: (5, 3), 3: (3, 5, 3)}[nd]
    x = rng.standard_normal(shape)
    w = rng.standard_normal(kshape)
    got = run_fft(x, w, "same", (1,) * nd, (1,) * nd, boundary, 0.75)
    assert_close(got, ndi.correlate(x, w, mode=boundary, cval=0.75))


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize(
    ("shape", "kshape", "stride", "dilation"),
    [
        ((2, 3, 29), (5,), (3,), (2,)),
        ((3, 15, 11), (3, 4), (2, 1), (1, 3)),
        ((2, 8, 7, 9), (2, 3, 3), (1, 2, 3), (2, 1, 3)),
        ((13, 10), (3, 2), (4, 3), (5, 7)),  # dilation 7 is not FFT-smooth: zero-stuffed path
    ],
)
def test_definition_batch_stride_dilation(rng, boundary, mode, shape, kshape, stride, dilation):
    x = rng.standard_normal(shape)
    w = rng.standard_normal(kshape)
    try:
        want = definition(x, w, mode, stride, dilation, boundary, -1.25)
    except ValueError:
        pytest.skip("valid needs one operand to cover the other")
    assert_close(run_fft(x, w, mode, stride, dilation, boundary, -1.25), want)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_padding_wider_than_input(rng, boundary):
    # 'full' with a kernel much longer than the input pads several input lengths on each side.
    x = rng.standard_normal((2, 3, 4))
    w = rng.standard_normal((5, 11))
    want = definition(x, w, "full", (1, 2), (2, 1), boundary, 0.5)
    assert_close(run_fft(x, w, "full", (1, 2), (2, 1), boundary, 0.5), want)


@pytest.mark.parametrize("dilation", [1, 2])
def test_valid_kernel_covers_input(rng, dilation):
    x = rng.standard_normal((4, 5))
    w = rng.standard_normal((9, 7))
    got = run_fft(x, w, "valid", (1, 1), (dilation, dilation))
    assert_close(got, definition(x, w, "valid", (1, 1), (dilation, dilation)))
    if dilation == 1:
        assert_close(got, sps.correlate(x, w, mode="valid", method="direct"))


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_float32_stays_float32(rng, nd):
    shape = {1: (300,), 2: (30, 21), 3: (12, 11, 10)}[nd]
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((3,) * nd).astype(np.float32)
    got = run_fft(x, w, "same", (1,) * nd, (2,) * nd, "reflect")
    assert got.dtype == np.float32
    assert got.flags.c_contiguous
    want = definition(x, w, "same", (1,) * nd, (2,) * nd, "reflect")
    assert_close(got, want, dtype=np.float32)


@pytest.mark.parametrize(
    ("n", "k", "mode", "stride", "dilation", "boundary"),
    [
        (5000, 31, "same", 1, 1, "constant"),
        (4001, 257, "valid", 1, 1, "constant"),
        (3000, 15, "full", 3, 2, "reflect"),
        (2049, 9, "same", 2, 5, "wrap"),
        (3001, 21, "same", 1, 1, "constant"),  # cval != 0 below
    ],
)
def test_overlap_save_long_1d(rng, n, k, mode, stride, dilation, boundary):
    x = rng.standard_normal((2, n))
    w = rng.standard_normal(k)
    cval = 0.0 if n != 3001 else 2.5
    geom = signal_geometry((n,), (k,), mode, (stride,), (dilation,))
    plan = _fft.fft_plan(x.shape, w.shape, geom, (stride,), (dilation,), x.dtype)
    assert plan.framed and plan.nframes > 1  # the overlap-save path is the one under test
    got = run_fft(x, w, mode, (stride,), (dilation,), boundary, cval)
    assert_close(got, definition(x, w, mode, (stride,), (dilation,), boundary, cval))


@pytest.mark.usefixtures("tight_memory")
@pytest.mark.parametrize("boundary", ["constant", "mirror"])
@pytest.mark.parametrize(
    ("shape", "kshape", "mode", "stride", "dilation"),
    [
        ((40, 30), (5, 3), "same", (1, 1), (1, 1)),
        ((2, 33, 20, 17), (4, 3, 3), "full", (2, 1, 3), (2, 1, 1)),
        ((3, 50, 9), (3, 3), "valid", (1, 2), (3, 1)),
    ],
)
def test_memory_capped_groups(rng, boundary, shape, kshape, mode, stride, dilation):
    x = rng.standard_normal(shape)
    w = rng.standard_normal(kshape)
    geom = signal_geometry(shape[len(shape) - len(kshape) :], kshape, mode, stride, dilation)
    plan = _fft.fft_plan(x.shape, w.shape, geom, stride, dilation, x.dtype, implicit=False)
    assert plan.framed and plan.group < plan.nframes  # several groups of frames
    got = run_fft(x, w, mode, stride, dilation, boundary, 0.0)
    assert_close(got, definition(x, w, mode, stride, dilation, boundary))


def test_memory_cap_respected_for_large_volume():
    # W3 7^3 on 256^3 float32: one whole-volume transform would need about 2.5x the input in
    # temporaries; the plan must use groups of frames under the cap instead (the cap keeps
    # input + output + temporaries within 3x the input).
    shape, kshape = (256, 256, 256), (7, 7, 7)
    geom = signal_geometry(shape, kshape, "same", (1, 1, 1), (1, 1, 1))
    plan = _fft.fft_plan(shape, kshape, geom, (1, 1, 1), (1, 1, 1), np.float32)
    assert plan.framed
    assert plan.temp_bytes <= _config.FFT_TEMP_FACTOR * 4 * 256**3 <= 4 * 256**3


sizes = st.sampled_from([1, 2, 3, 5, 7, 8, 9, 13, 17])


@st.composite
def problems(draw):
    nd = draw(st.integers(1, 3))
    shape = tuple(draw(sizes) for _ in range(nd))
    kshape = tuple(draw(st.sampled_from([1, 2, 3, 4, 5, 9])) for _ in range(nd))
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    mode = draw(st.sampled_from(["full", "same", "valid"]))
    boundary = draw(st.sampled_from(BOUNDARIES))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    cval = draw(st.sampled_from([0.0, 1.5]))
    seed = draw(st.integers(0, 2**16))
    return lead + shape, kshape, stride, dilation, mode, boundary, dtype, cval, seed


@given(problems())
def test_property_definition(problem):
    shape, kshape, stride, dilation, mode, boundary, dtype, cval, seed = problem
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(kshape).astype(dtype)
    try:
        want = definition(x, w, mode, stride, dilation, boundary, cval)
    except ValueError:
        # 'valid' where neither operand covers the other: the public API must reject it too
        opts = dict(stride=stride, dilation=dilation, boundary=boundary, cval=cval)
        with pytest.raises(ValueError, match="valid"):
            signal.correlate(x, w, mode, method="fft", **opts)
        return
    got = run_fft(x, w, mode, stride, dilation, boundary, cval)
    assert got.dtype == dtype
    assert_close(got, want, dtype=dtype)


# --- the cost model -------------------------------------------------------------------------


def _choose(shape, kshape, mode="same", stride=None, dilation=None, dtype=np.float32):
    nd = len(kshape)
    stride = stride or (1,) * nd
    dilation = dilation or (1,) * nd
    geom = signal_geometry(shape[len(shape) - nd :], kshape, mode, stride, dilation)
    return _fft.choose_method(shape, kshape, geom, stride, dilation, np.dtype(dtype))


@pytest.mark.parametrize(
    ("shape", "kshape"),
    [((441000,), (31,)), ((2048, 2048), (3, 3)), ((256, 256, 256), (3, 3, 3)), ((50,), (1,))],
)
def test_auto_picks_direct_for_tiny_kernels(shape, kshape):
    assert _choose(shape, kshape) == "direct"


@pytest.mark.parametrize(
    ("shape", "kshape"),
    [((441000,), (4001,)), ((2048, 2048), (41, 41)), ((128, 128, 128), (17, 17, 17))],
)
def test_auto_picks_fft_for_huge_kernels(shape, kshape):
    assert _choose(shape, kshape) == "fft"


def test_stride_favours_direct():
    # Stride divides the direct cost but not the FFT's.
    assert _choose((1024, 1024), (15, 15)) == "fft"
    assert _choose((1024, 1024), (15, 15), stride=(8, 8)) == "direct"


def test_auto_agrees_with_fft_and_direct(rng):
    x = rng.standard_normal((3, 2000)).astype(np.float32)
    w = rng.standard_normal(1501).astype(np.float32)
    assert _choose(x.shape, w.shape) == "fft"
    want = sps.correlate(x.astype(np.float64), w[None].astype(np.float64), mode="same")
    for method in ("auto", "fft", "direct"):
        got = signal.correlate(x, w, "same", method=method)
        assert got.dtype == np.float32
        assert_close(got, want, dtype=np.float32, err_msg=method)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_public_fft_matches_direct_and_scipy(rng, boundary):
    x = rng.standard_normal((2, 23, 18))
    w = rng.standard_normal((5, 4))
    kw = dict(stride=(2, 1), dilation=(1, 3), boundary=boundary, cval=0.5)
    want = definition(x, w[::-1, ::-1], "same", (2, 1), (1, 3), boundary, 0.5)
    fft = signal.convolve(x, w, "same", method="fft", **kw)
    direct = signal.convolve(x, w, "same", method="direct", **kw)
    assert_close(fft, want)
    assert_close(direct, want)
    plain = signal.convolve(x[0], w, "full", method="fft")
    assert_close(plain, sps.convolve(x[0], w, mode="full", method="direct"))


@pytest.mark.parametrize(
    ("n", "k", "framed"),
    [(40, 31, False), (5000, 31, True), (150_000, 31, True)],  # the last: 1.2 MB, pooled
)
def test_results_are_not_scratch(rng, n, k, framed):
    # the transforms run in per-thread scratch memory: each result must be its own array
    x = rng.standard_normal((2, n)).astype(np.float32)
    w = rng.standard_normal(k).astype(np.float32)
    geom = signal_geometry((n,), (k,), "same", (1,), (1,))
    assert _fft.fft_plan(x.shape, w.shape, geom, (1,), (1,), x.dtype).framed == framed
    first = run_fft(x, w, "same", (1,), (1,))
    kept = first.copy()
    second = run_fft(2 * x, w, "same", (1,), (1,))
    assert not np.shares_memory(first, second)
    np.testing.assert_array_equal(first, kept)
    assert_close(second, 2 * kept, dtype=np.float32)


@pytest.mark.parametrize("boundary", ["constant", "reflect"])
@pytest.mark.parametrize(
    ("shape", "kshape", "dtype"),
    [((3, 5000), (31,), np.float32), ((24, 19), (4, 5), np.float64), ((60,), (7,), complex)],
)
def test_public_scipy_fft_fallback(rng, monkeypatch, boundary, shape, kshape, dtype):
    # without SciPy's pocketfft binding the public scipy.fft functions do the transforms
    monkeypatch.setattr(_fft, "_pocketfft", None)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(kshape).astype(dtype)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
        w = w + 0.5j
        want = sps.correlate(np.pad(x, 3, mode=NUMPY_MODE[boundary]), w, mode="valid")
    else:
        want = definition(x, w, "same", (1,) * len(kshape), (1,) * len(kshape), boundary, 0.0)
    got = run_fft(x, w, "same", (1,) * len(kshape), (1,) * len(kshape), boundary)
    assert_close(got, want, dtype=x.dtype)

"""sigconv as a drop-in for scipy.signal / scipy.ndimage (issue 15, docs/contract.md §1).

The behaviours SciPy's own suites check (TestConvolve, TestCorrelateReal, TestCorrelate,
TestCorrelateComplex, TestFFTConvolve), written afresh from SciPy's documentation, plus
``axes=``, ``origin=``, ``dtype=``, exact integers and rank-one kernels. Oracles: SciPy itself
(``scipy.signal``, ``scipy.ndimage``), ``numpy.correlate``/``convolve`` and an exact
Python-integer oracle built on object arrays.
"""

import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.signal as sps
from hypothesis import given, settings
from hypothesis import strategies as st

import sigconv
from sigconv import _separable
from sigconv.filters import gaussian_blur, separable_factors, sobel_x
from tests.tolerance import assert_close

METHODS = ["direct", "fft", "auto"]
MODES = ["full", "same", "valid"]
BOUNDARIES = ["constant", "reflect", "mirror", "nearest", "wrap"]
INT_DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.uint64, np.int64]
NP_PAD = {
    "constant": "constant",
    "reflect": "symmetric",
    "mirror": "reflect",
    "nearest": "edge",
    "wrap": "wrap",
}


def crandn(rng, shape, dtype=np.complex128):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


def close(got, want, dtype=None):
    dtype = np.dtype(dtype or np.asarray(want).dtype)
    real = np.float32 if dtype in (np.float32, np.complex64) else np.float64
    assert_close(got, want, dtype=real)


def _pyints(a):
    """An object array of Python ints (numpy's own integer scalars would overflow)."""
    a = np.asarray(a)
    return np.array([int(v) for v in a.ravel()], dtype=object).reshape(a.shape)


def exact_correlate(x, w, mode, stride=1, dilation=1, boundary="constant", cval=0):
    """Exact integer correlation (Python ints in object arrays), straight from the definition
    in docs/contract.md §1: pad, slide the dilated window, sum, keep every stride-th."""
    x = _pyints(x)
    w = _pyints(w)
    nd = w.ndim
    pads = []
    for n, k in zip(x.shape[-nd:], w.shape):
        ke = (k - 1) * dilation + 1
        if mode == "full":
            pads.append((ke - 1, ke - 1))
        elif mode == "same":
            pads.append((ke // 2, (ke - 1) // 2))
        else:
            pads.append((0, 0) if n >= ke else (ke - n, ke - n))
    width = [(0, 0)] * (x.ndim - nd) + pads
    if boundary == "constant":
        xp = np.pad(x, width, mode="constant", constant_values=int(cval))
    else:
        xp = np.pad(x, width, mode=NP_PAD[boundary])
    xp = _pyints(xp)
    ke = tuple((k - 1) * dilation + 1 for k in w.shape)
    win = np.lib.stride_tricks.sliding_window_view(xp, ke, axis=tuple(range(-nd, 0)))
    win = win[(Ellipsis,) + (slice(None, None, dilation),) * nd]
    y = (win * w).sum(axis=tuple(range(-nd, 0)))
    return y[(Ellipsis,) + (slice(None, None, stride),) * nd]


def wrap_to(y, dtype):
    """Python ints modulo 2**bits as ``dtype`` (what SciPy's integer accumulation gives)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return np.asarray(y != 0, dtype=bool)
    bits = 8 * dtype.itemsize
    flat = [int(v) % 2**bits for v in np.ravel(y)]
    if dtype.kind == "i":
        flat = [v - 2**bits if v >= 2 ** (bits - 1) else v for v in flat]
    return np.array(flat, dtype=dtype).reshape(np.shape(y))


# --- TestConvolve ---------------------------------------------------------------------------


def test_convolve_basic_and_single_element():
    assert_close(sigconv.convolve([3, 4, 5, 6, 5, 4], [1, 2, 3]), [3, 10, 22, 28, 32, 32, 23, 12])
    got = sigconv.convolve([4], [3])
    assert got.dtype == np.result_type(int, int)
    np.testing.assert_array_equal(got, [12])


def test_convolve_complex():
    a = np.array([1 + 1j, 2 + 1j, 3 + 1j])
    b = np.array([1 + 1j, 2 + 1j])
    for method in METHODS:
        got = sigconv.convolve(a, b, method=method)
        assert got.dtype == np.complex128
        close(got, np.convolve(a, b))


def test_zero_rank():
    a, b = np.array(1289), np.array(4567)
    assert sigconv.convolve(a, b) == a * b
    c = sigconv.correlate(np.array(2 + 1j), np.array(3 + 1j))
    assert c == (2 + 1j) * (3 - 1j)  # correlate conjugates in2, even for scalars
    assert sigconv.convolve(np.array(2 + 1j), np.array(3 + 1j)) == (2 + 1j) * (3 + 1j)
    assert np.ndim(c) == 0 and isinstance(c, np.generic)
    assert sigconv.correlate(np.uint8(200), np.uint8(2)).dtype == np.uint8  # wraps as numpy
    assert sigconv.correlate(np.uint8(200), np.uint8(2)) == np.uint8(144)
    out = np.empty((), dtype=np.int64)
    assert sigconv.convolve(np.array(3), np.array(4), out=out) is out and out == 12


def test_mismatched_ranks_and_zero_rank_with_array_raise():
    with pytest.raises(ValueError, match="in2"):
        sigconv.convolve([1, 2, 3], [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="0-d"):
        sigconv.correlate(np.array(2.0), np.ones(3))
    with pytest.raises(ValueError, match="0-d"):
        sigconv.convolve(np.ones(3), 2.0)


def test_convolve_2d_arrays():
    a = [[1, 2, 3], [3, 4, 5]]
    b = [[2, 3, 4], [4, 5, 6]]
    want = [[2, 7, 16, 17, 12], [10, 30, 62, 58, 38], [12, 31, 58, 49, 30]]
    for method in METHODS:
        got = sigconv.convolve(a, b, method=method)
        assert got.dtype == np.result_type(int, int)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", MODES)
def test_input_swapping(rng, mode, method):
    """Convolution commutes; in valid mode the larger operand covers the other either way."""
    small = rng.standard_normal((3, 4))
    big = rng.standard_normal((6, 7))
    if mode != "same":
        close(sigconv.convolve(small, big, mode, method=method), sps.convolve(big, small, mode))
    close(sigconv.convolve(small, big, mode, method=method), sps.convolve(small, big, mode))
    c = crandn(rng, (5, 6))
    close(sigconv.convolve(c, small, mode, method=method), sps.convolve(c, small, mode))


def test_invalid_shapes_and_params():
    with pytest.raises(ValueError, match="valid"):
        sigconv.convolve(np.ones((3, 4)), np.ones((4, 3)), "valid")
    with pytest.raises(ValueError, match="mode"):
        sigconv.convolve([1], [2], mode="spam")
    with pytest.raises(ValueError, match="method"):
        sigconv.convolve([1], [2], method="spam")


def test_same_mode_keeps_in1_shape(rng):
    a, b = rng.standard_normal((5, 7)), rng.standard_normal((3, 2))
    assert sigconv.convolve(a, b, "same").shape == a.shape
    assert sigconv.convolve(b, a, "same").shape == b.shape


@pytest.mark.parametrize("n", [10, 20, 31, 32, 40, 50, 52, 53, 60, 62])
def test_convolve_large_integers_exact(n):
    """Direct integer convolution is exact modulo 2**64, as SciPy's integer accumulation."""
    z = np.array([2**n], dtype=np.int64)
    direct = sigconv.convolve(z, z, method="direct")
    assert direct.dtype == np.int64
    np.testing.assert_array_equal(direct, wrap_to([2 ** (2 * n)], np.int64))
    np.testing.assert_array_equal(direct, sps.convolve(z, z, method="direct"))
    if n < 26:  # products below 2**52: the FFT path rounds to the same integers
        np.testing.assert_array_equal(sigconv.convolve(z, z, method="fft"), direct)


# --- TestCorrelateReal / TestCorrelate -----------------------------------------------------------


@pytest.mark.parametrize("dtype", [*INT_DTYPES, bool, np.float16, np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_correlate_real_dtypes(rng, dtype, mode, ndim):
    """Every real dtype keeps its type, with SciPy's values (integers exactly)."""
    shapes = {1: ((12,), (5,)), 2: ((6, 7), (3, 2)), 3: ((5, 4, 6), (2, 3, 2))}[ndim]
    if dtype is bool:
        a, b = (rng.random(s) < 0.5 for s in shapes)
    elif np.dtype(dtype).kind in "iu":
        a, b = (rng.integers(0, 100, size=s).astype(dtype) for s in shapes)
    else:
        a, b = ((rng.standard_normal(s) * 4).astype(dtype) for s in shapes)
    got = sigconv.correlate(a, b, mode)
    assert got.dtype == np.dtype(dtype)
    if np.dtype(dtype).kind in "biu":
        if dtype is not bool or ndim == 1:  # SciPy's n-D direct path refuses bool
            np.testing.assert_array_equal(got, sps.correlate(a, b, mode, method="direct"))
        np.testing.assert_array_equal(got, wrap_to(exact_correlate(a, b, mode), dtype))
    else:
        want = sps.correlate(a.astype(np.float64), b.astype(np.float64), mode)
        scale = 1e3 if dtype == np.float16 else None
        tol = np.float32 if dtype != np.float64 else np.float64
        assert_close(got.astype(np.float64), want, dtype=tol, scale=scale)
        if ndim == 1:  # SciPy's n-D direct path refuses float16; its 1-D path shows the rule
            assert sps.correlate(a, b, mode).dtype == got.dtype


@pytest.mark.parametrize("mode", MODES)
def test_numpy_correlate_consistency(rng, mode):
    a, v = rng.standard_normal(17), rng.standard_normal(6)
    close(sigconv.correlate(a, v, mode), np.correlate(a, v, mode))
    ac, vc = crandn(rng, 17), crandn(rng, 6)
    close(sigconv.correlate(ac, vc, mode), np.correlate(ac, vc, mode))  # conjugates v
    ai, vi = rng.integers(-9, 9, 17), rng.integers(-9, 9, 6)
    np.testing.assert_array_equal(sigconv.correlate(ai, vi, mode), np.correlate(ai, vi, mode))


def test_uint8_image_arithmetic_wraps_like_scipy(rng):
    img = rng.integers(0, 256, size=(20, 21), dtype=np.uint8)
    k = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.uint8)
    got = sigconv.correlate(img, k, "same")
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, sps.correlate(img, k, "same", method="direct"))


# --- TestCorrelateComplex ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("shape", "kshape"), [((19,), (6,)), ((8, 9), (3, 4)), ((5, 6, 7), (2, 3, 2)), ((4,), (9,))]
)
def test_correlate_complex(rng, dtype, mode, method, shape, kshape):
    a, b = crandn(rng, shape, dtype), crandn(rng, kshape, dtype)
    if mode == "valid" and not (
        all(n >= k for n, k in zip(shape, kshape)) or all(k >= n for n, k in zip(shape, kshape))
    ):
        return
    got = sigconv.correlate(a, b, mode, method=method)
    assert got.dtype == dtype
    close(got, sps.correlate(a, b, mode), dtype)
    # the same from real correlations (SciPy's): real(y) = ar*br + ai*bi, imag = ai*br - ar*bi
    r = lambda p, q: sps.correlate(p.astype(np.float64), q.astype(np.float64), mode)  # noqa: E731
    want = r(a.real, b.real) + r(a.imag, b.imag) + 1j * (r(a.imag, b.real) - r(a.real, b.imag))
    close(got, want, dtype)
    conv = sigconv.convolve(a, b, mode, method=method)
    assert conv.dtype == dtype
    close(conv, sps.convolve(a, b, mode), dtype)


@pytest.mark.parametrize("method", METHODS)
def test_complex_swap_full(rng, method):
    """correlate(a, b) equals correlate(b, a) reversed and conjugated (full mode)."""
    a, b = crandn(rng, (7, 5)), crandn(rng, (3, 4))
    got = sigconv.correlate(a, b, "full", method=method)
    close(got, np.conj(sigconv.correlate(b, a, "full", method=method))[::-1, ::-1])


@pytest.mark.parametrize(
    ("dt1", "dt2"),
    [
        (np.complex64, np.float32),
        (np.float32, np.complex64),
        (np.complex64, np.float64),
        (np.int8, np.complex64),
        (np.float16, np.complex64),
        (np.complex128, np.uint8),
    ],
)
@pytest.mark.parametrize("method", METHODS)
def test_mixed_real_complex_promotes_as_numpy(rng, dt1, dt2, method):
    def make(dt, shape):
        if np.dtype(dt).kind == "c":
            return crandn(rng, shape, dt)
        return (rng.standard_normal(shape) * 3).astype(dt)

    a, b = make(dt1, (9, 10)), make(dt2, (3, 3))
    got = sigconv.correlate(a, b, "same", method=method)
    assert got.dtype == np.result_type(dt1, dt2)
    want = sps.correlate(a.astype(np.complex128), b.astype(np.complex128), "same")
    close(got, want, got.dtype)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("method", ["direct", "fft"])
def test_complex_with_every_option(rng, boundary, method):
    """Stride, dilation, boundaries (complex cval), batch axes: the definition applied to the
    real and imaginary parts separately (scipy.ndimage.correlate handles complex data)."""
    x = crandn(rng, (2, 11, 12))
    w = crandn(rng, (3, 2))
    cval = 0.5 - 1.5j
    kw = dict(stride=(2, 1), dilation=(1, 2), boundary=boundary, cval=cval, method=method)
    got = sigconv.correlate(x, w, "same", **kw)
    wd = np.zeros((3, 3), complex)
    wd[:, ::2] = w
    # contract §1 'same' with Ke = (3, 3): pad (1, 1) on each axis
    want = np.stack([ndi.correlate(xi, wd, mode=boundary, cval=cval)[::2] for xi in x])
    close(got, want)
    conv = sigconv.convolve(x, w, "full", stride=2, boundary=boundary, cval=cval, method=method)
    xp = np.pad(
        x,
        [(0, 0), (2, 2), (1, 1)],
        mode=NP_PAD[boundary],
        **({"constant_values": cval} if boundary == "constant" else {}),
    )
    close(conv, sps.convolve(xp, w[None], "valid")[:, ::2, ::2])


def test_cuda_refuses_complex_device_data_clearly():
    """Host-only machines still get the clear message from the dtype check (contract §1)."""
    with pytest.raises(TypeError, match="cval"):
        sigconv.correlate(np.ones(4), np.ones(2), cval=1j)


# --- dtype= ---------------------------------------------------------------------------------


def test_dtype_keyword(rng):
    a = rng.integers(-50, 50, size=(8, 9)).astype(np.int16)
    b = rng.integers(-5, 5, size=(3, 3)).astype(np.int16)
    got = sigconv.correlate(a, b, "same", dtype=np.float64)
    assert got.dtype == np.float64
    assert_close(got, sps.correlate(a.astype(float), b.astype(float), "same"))
    assert sigconv.correlate(a, b, dtype=np.float32).dtype == np.float32
    c = sigconv.convolve(a, b, dtype=np.complex64)
    assert c.dtype == np.complex64
    assert_close(c.real, sps.convolve(a.astype(float), b.astype(float)), dtype=np.float32)
    # a wider integer result avoids the wrap
    big = np.full(5, 120, dtype=np.int8)
    assert sigconv.correlate(big, big, "valid", dtype=np.int32)[0] == 5 * 120 * 120
    assert sigconv.correlate(big, big, "valid")[0] == wrap_to([5 * 120 * 120], np.int8)[0]
    with pytest.raises(TypeError, match="dtype"):
        sigconv.correlate(np.ones(4), np.ones(2), dtype=np.int64)  # floats cannot ask for ints
    with pytest.raises(TypeError, match="dtype"):
        sigconv.correlate(np.ones(4) + 1j, np.ones(2), dtype=np.float64)
    with pytest.raises(TypeError, match="dtype"):
        sigconv.correlate(np.ones(4), np.ones(2), dtype="spam")
    with pytest.raises(ValueError, match="cval"):
        sigconv.correlate(a, b, "same", cval=0.5)  # integer results need an integer cval
    out = np.empty((8, 9), np.float64)
    assert sigconv.correlate(a, b, "same", dtype=np.float64, out=out) is out


# --- exact integers -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int32, np.uint32, np.int64, np.uint64])
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_large_integers_exact_by_limbs(rng, dtype, boundary):
    """Values whose products exceed 2**52 (the float64 shortcut) take the limb path: still
    exact modulo 2**bits, with strides, dilations, boundaries and integer cval."""
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, size=(2, 9, 8), dtype=dtype, endpoint=True)
    w = rng.integers(info.min, info.max, size=(3, 2), dtype=dtype, endpoint=True)
    cval = -7 if info.min < 0 else 7
    for fn, flip in ((sigconv.correlate, False), (sigconv.convolve, True)):
        got = fn(
            x,
            w,
            "same",
            stride=(1, 2),
            dilation=(2, 1),
            boundary=boundary,
            cval=cval,
            method="direct",
        )
        assert got.dtype == dtype
        ww = w[::-1, ::-1] if flip else w
        want = exact_correlate(x, ww, "same", 1, 1, boundary, cval)
        # the oracle has no per-axis options: recompute with them applied by hand
        want = _exact_same_strided(x, ww, (1, 2), (2, 1), boundary, cval)
        np.testing.assert_array_equal(got, wrap_to(want, dtype))
    # method='auto' stays exact for such values (it never rounds an FFT result here)
    auto = sigconv.correlate(x, w, "full")
    np.testing.assert_array_equal(auto, wrap_to(exact_correlate(x, w, "full"), dtype))


def _exact_same_strided(x, w, stride, dilation, boundary, cval):
    x = _pyints(x)
    pads = []
    ke = []
    for k, d in zip(w.shape, dilation):
        e = (k - 1) * d + 1
        ke.append(e)
        pads.append((e // 2, (e - 1) // 2))
    width = [(0, 0)] + pads
    if boundary == "constant":
        xp = np.pad(x, width, mode="constant", constant_values=int(cval))
    else:
        xp = np.pad(x, width, mode=NP_PAD[boundary])
    xp = _pyints(xp)
    win = np.lib.stride_tricks.sliding_window_view(xp, tuple(ke), axis=(-2, -1))
    win = win[..., :: dilation[0], :: dilation[1]]
    y = (win * _pyints(w)).sum(axis=(-2, -1))
    return y[:, :: stride[0], :: stride[1]]


def test_bool_inputs():
    a = np.array([True, False, True, True])
    b = np.array([True, True])
    got = sigconv.correlate(a, b)
    assert got.dtype == bool
    np.testing.assert_array_equal(got, sps.correlate(a, b))
    np.testing.assert_array_equal(sigconv.convolve(a, b, method="fft"), sps.convolve(a, b))


def test_integer_fft_path_rounds(rng):
    a = rng.integers(-1000, 1000, size=300).astype(np.int32)
    b = rng.integers(-1000, 1000, size=101).astype(np.int32)
    got = sigconv.convolve(a, b, method="fft")
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, sps.convolve(a, b, method="direct"))


# --- TestFFTConvolve: axes= -------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", MODES)
def test_axes_like_fftconvolve(rng, mode, method):
    a = rng.standard_normal((3, 12, 4))
    cases = [
        (rng.standard_normal((1, 5, 1)), (1,)),  # broadcast kernel
        (rng.standard_normal((3, 5, 1)), 1),  # one kernel per leading item
        (rng.standard_normal((3, 4, 2)), (-2, 2)),
        (crandn(rng, (1, 3, 4)), [1, 2]),
        (rng.standard_normal((2, 3, 4)), [0, 1, 2]),
    ]
    for b, axes in cases:
        want = sps.fftconvolve(a, b, mode, axes=axes)
        got = sigconv.convolve(a, b, mode, axes=axes, method=method)
        close(got, want)
        assert got.dtype == want.dtype


def test_axes_broadcasts_in1_and_batches_lower_rank_kernels(rng):
    a = rng.standard_normal((1, 15))
    b = rng.standard_normal((4, 3))
    for mode in MODES:  # 'same' keeps in1's size 1 (the centre kernel's row), as fftconvolve
        want = sps.fftconvolve(a, b, mode, axes=-1)
        close(sigconv.convolve(a, b, mode, axes=-1), want)
        assert want.shape[0] == (1 if mode == "same" else 4)
    x = rng.standard_normal((6, 5, 7))
    k = rng.standard_normal((3, 2))
    got = sigconv.correlate(x, k, "full", axes=(0, 2))  # kernel on axes 0 and 2, axis 1 batch
    want = np.stack([sps.correlate(x[:, i, :], k, "full") for i in range(5)], axis=1)
    close(got, want)
    out = np.empty(want.shape)
    assert sigconv.correlate(x, k, "full", axes=(0, 2), out=out) is out
    close(out, want)


def test_axes_errors():
    a = np.ones((3, 4))
    with pytest.raises(ValueError, match="axes"):
        sigconv.convolve(a, np.ones((2, 2)), axes=(0, 0))
    with pytest.raises(ValueError, match="axes"):
        sigconv.convolve(a, np.ones((2, 2)), axes=[])
    with pytest.raises(ValueError, match="axes"):
        sigconv.convolve(a, np.ones((2, 2)), axes=2)
    with pytest.raises(ValueError, match="axes"):
        sigconv.convolve(a, np.ones(2), axes=(0, 1))  # one axis per kernel axis
    with pytest.raises(ValueError, match="axes"):
        sigconv.convolve(a, np.ones((2, 2)), axes=1)  # axis 0: sizes 3 and 2 do not broadcast
    with pytest.raises(TypeError, match="axes"):
        sigconv.convolve(a, np.ones((2, 2)), axes=1.0)


# --- origin= ----------------------------------------------------------------------------------


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("kshape", [(3,), (4,), (4, 3), (2, 5), (3, 2, 4)])
def test_origin_matches_ndimage(rng, boundary, kshape):
    x = rng.standard_normal((7, 8, 9)[: len(kshape)])
    w = rng.standard_normal(kshape)
    origins = [0, -(min(kshape) // 2), (min(kshape) - 1) // 2]
    for o in origins:
        for fn, ref in ((sigconv.correlate, ndi.correlate), (sigconv.convolve, ndi.convolve)):
            for method in ("direct", "fft"):
                got = fn(x, w, "same", origin=o, boundary=boundary, cval=0.25, method=method)
                close(got, ref(x, w, mode=boundary, cval=0.25, origin=o))
    # complex and integer data take the same geometry (scipy.ndimage conjugates complex
    # weights in correlate, as sigconv does)
    xc, wc = crandn(rng, x.shape), crandn(rng, kshape)
    o = (min(kshape) - 1) // 2
    for method in ("direct", "fft"):
        got = sigconv.correlate(xc, wc, "same", origin=o, boundary=boundary, method=method)
        close(got, ndi.correlate(xc, wc, mode=boundary, origin=o))
        got = sigconv.convolve(xc, wc, "same", origin=o, boundary=boundary, method=method)
        close(got, ndi.convolve(xc, wc, mode=boundary, origin=o))
    xi = rng.integers(-50, 50, size=x.shape).astype(np.int32)
    wi = rng.integers(-5, 5, size=kshape).astype(np.int32)
    got = sigconv.convolve(xi, wi, "same", origin=o, boundary=boundary)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, ndi.convolve(xi, wi, mode=boundary, origin=o))
    # an even kernel centred the ndimage way (origin=0) differs from scipy.signal's centring
    w = rng.standard_normal((4,) * len(kshape))
    close(sigconv.convolve(x, w, "same", origin=0), ndi.convolve(x, w, mode="constant"))
    close(sigconv.convolve(x, w, "same"), sps.convolve(x, w, "same"))
    # stride keeps every stride-th output of the shifted result
    got = sigconv.correlate(x, w, "same", origin=1, stride=2, boundary=boundary)
    full = ndi.correlate(x, w, mode=boundary, origin=1)
    close(got, full[(slice(None, None, 2),) * x.ndim])


def test_origin_errors():
    with pytest.raises(ValueError, match="origin must lie"):
        sigconv.correlate(np.ones(9), np.ones(4), "same", origin=2)
    with pytest.raises(ValueError, match="origin must lie"):
        sigconv.correlate(np.ones(9), np.ones(4), "same", origin=-3)
    with pytest.raises(ValueError, match="mode='same'"):
        sigconv.correlate(np.ones(9), np.ones(4), "full", origin=0)
    with pytest.raises(ValueError, match="origin"):
        sigconv.correlate(np.ones((9, 9)), np.ones((3, 3)), "same", origin=(1, 1, 1))
    with pytest.raises(TypeError, match="origin"):
        sigconv.correlate(np.ones(9), np.ones(3), "same", origin=0.5)


# --- separable kernels ------------------------------------------------------------------------


@pytest.fixture
def spy_passes(monkeypatch, fresh_plans):
    # fresh plans: a patched ``cheaper`` is asked
    calls = []
    real = _separable.run

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_separable, "run", spy)
    return calls


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_separable_passes_equal_the_full_kernel(
    rng, spy_passes, monkeypatch, dtype, mode, boundary
):
    """The 1-D passes (forced, whatever the cost model says for these small shapes) equal the
    full kernel for every mode, boundary, stride and dilation."""
    monkeypatch.setattr(_separable, "cheaper", lambda *args: True)
    x = rng.standard_normal((2, 40, 37)).astype(dtype)
    kernels = [gaussian_blur(9, sigma=2.0), sobel_x(), np.full((5, 3), 1 / 15)]
    for w in kernels:
        w = w.astype(dtype)
        for stride, dilation in (((1, 1), (1, 1)), ((2, 3), (1, 2)), ((3, 1), (2, 1))):
            kw = dict(stride=stride, dilation=dilation, boundary=boundary, cval=0.75)
            for fn in (sigconv.correlate, sigconv.convolve):
                before = len(spy_passes)
                got = fn(x, w, mode, **kw)
                assert len(spy_passes) == before + 1  # auto took the 1-D passes
                close(got, fn(x, w, mode, method="direct", **kw), dtype)
                assert len(spy_passes) == before + 1  # direct means the full kernel


def test_auto_picks_the_passes_for_a_large_gaussian(rng, spy_passes):
    x = rng.standard_normal((300, 310)).astype(np.float32)
    w = gaussian_blur(15, sigma=2.0).astype(np.float32)
    close(sigconv.correlate(x, w, "same"), sps.correlate(x, w, "same"), np.float32)
    assert len(spy_passes) == 1


def test_separable_3d_and_non_separable(rng, spy_passes, monkeypatch):
    monkeypatch.setattr(_separable, "cheaper", lambda *args: True)
    g = np.exp(-0.5 * np.arange(-2, 3) ** 2)
    w = np.multiply.outer(np.outer(g, g * 2), g[::-1] + 1)
    x = rng.standard_normal((30, 31, 29))
    for mode in MODES:
        close(
            sigconv.correlate(x, w, mode, boundary="mirror"),
            sigconv.correlate(x, w, mode, boundary="mirror", method="direct"),
        )
    assert len(spy_passes) == 3
    lap = np.array([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])
    close(sigconv.correlate(x[0], lap, "same"), sps.correlate(x[0], lap, "same"))
    sigconv.correlate(x[0], sobel_x(), "same", method="fft")
    assert len(spy_passes) == 3  # neither a rank-two kernel nor method='fft' uses the passes


def test_separable_factors_helper():
    f0, f1 = separable_factors(sobel_x())
    assert_close(np.outer(f0, f1), sobel_x())
    g = gaussian_blur(sigma=1.3)
    assert_close(np.outer(*separable_factors(g)), g)
    w = np.multiply.outer(np.outer([1.0, 2, 1], [1.0, -1]), [3.0, 1, 2, 5])
    f = separable_factors(w)
    assert len(f) == 3
    assert_close(np.multiply.outer(np.outer(f[0], f[1]), f[2]), w)
    assert separable_factors(np.eye(3)) is None
    near = g + 1e-6 * np.eye(g.shape[0])
    assert separable_factors(near) is None
    assert separable_factors(near, rtol=1e-3) is not None
    with pytest.raises(ValueError, match="kernel"):
        separable_factors(np.ones(3))
    with pytest.raises(ValueError, match="rtol"):
        separable_factors(g, rtol=-1.0)


def test_gaussian_matches_ndimage_gaussian_filter(rng):
    """The benchmark's pairing: ndimage's own weights, so gaussian_filter is a peer."""
    x = rng.standard_normal((64, 70)).astype(np.float32)
    t = np.arange(-7, 8)
    g = np.exp(-0.5 / 4.0 * t**2)
    g /= g.sum()
    got = sigconv.correlate(x, np.outer(g, g).astype(np.float32), "same", boundary="reflect")
    want = ndi.gaussian_filter(x, 2.0, mode="reflect", truncate=3.5)
    close(got, want, np.float32)


# --- hypothesis: complex and integer inputs against SciPy -------------------------------------


@st.composite
def plain_problems(draw):
    nd = draw(st.integers(1, 3))
    sizes = st.integers(1, 9) if nd < 3 else st.integers(1, 5)
    shape = tuple(draw(sizes) for _ in range(nd))
    kshape = tuple(draw(st.integers(1, 4 if nd < 3 else 3)) for _ in range(nd))
    mode = draw(st.sampled_from(MODES))
    seed = draw(st.integers(0, 2**31 - 1))
    return shape, kshape, mode, seed


def _valid_ok(shape, kshape):
    return all(n >= k for n, k in zip(shape, kshape)) or all(k >= n for n, k in zip(shape, kshape))


@settings(max_examples=40)
@given(
    problem=plain_problems(),
    dts=st.sampled_from(
        [
            (np.complex64, np.complex64),
            (np.complex128, np.complex128),
            (np.complex64, np.float32),
            (np.float64, np.complex64),
            (np.int16, np.complex128),
        ]
    ),
    method=st.sampled_from(METHODS),
    flip=st.booleans(),
)
def test_complex_property(problem, dts, method, flip):
    shape, kshape, mode, seed = problem
    rng = np.random.default_rng(seed)

    def make(dt, s):
        if np.dtype(dt).kind == "c":
            return crandn(rng, s, dt)
        return (rng.standard_normal(s) * 4).astype(dt)

    a, b = make(dts[0], shape), make(dts[1], kshape)
    fn, ref = (sigconv.convolve, sps.convolve) if flip else (sigconv.correlate, sps.correlate)
    if mode == "valid" and not _valid_ok(shape, kshape):
        with pytest.raises(ValueError, match="valid"):
            fn(a, b, mode, method=method)
        return
    got = fn(a, b, mode, method=method)
    assert got.dtype == np.result_type(*dts)
    close(got, ref(a.astype(np.complex128), b.astype(np.complex128), mode), got.dtype)


@settings(max_examples=40)
@given(
    problem=plain_problems(),
    dt1=st.sampled_from([*INT_DTYPES, bool]),
    dt2=st.sampled_from([*INT_DTYPES, bool]),
    method=st.sampled_from(["direct", "auto"]),
    flip=st.booleans(),
)
def test_integer_property(problem, dt1, dt2, method, flip):
    """Integer and bool inputs: SciPy's result dtype and SciPy's (wrapped) values, exactly."""
    shape, kshape, mode, seed = problem
    rng = np.random.default_rng(seed)

    def make(dt, s):
        if dt is bool:
            return rng.random(s) < 0.5
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, size=s, dtype=dt, endpoint=True)

    a, b = make(dt1, shape), make(dt2, kshape)
    rdt = np.result_type(a, b)
    fn = sigconv.convolve if flip else sigconv.correlate
    if mode == "valid" and not _valid_ok(shape, kshape):
        with pytest.raises(ValueError, match="valid"):
            fn(a, b, mode, method=method)
        return
    got = fn(a, b, mode, method=method)
    assert got.dtype == rdt
    if rdt.kind == "f":  # e.g. int64 with uint64: numpy promotes to float64
        want = exact_correlate(a, b[(slice(None, None, -1),) * b.ndim] if flip else b, mode)
        assert_close(got, want.astype(np.float64))
        return
    kernel = b[(slice(None, None, -1),) * b.ndim] if flip else b
    np.testing.assert_array_equal(got, wrap_to(exact_correlate(a, kernel, mode), rdt))
    if rdt.kind != "b" or a.ndim == 1:  # SciPy's n-D direct path refuses bool
        ref = (sps.convolve if flip else sps.correlate)(a, b, mode, method="direct")
        np.testing.assert_array_equal(got, ref)


@st.composite
def axes_problems(draw):
    ndim = draw(st.integers(1, 4))
    n_axes = draw(st.integers(1, min(3, ndim)))
    axes = draw(st.permutations(range(ndim)))[:n_axes]
    shape1, shape2 = [], []
    for d in range(ndim):
        if d in axes:
            shape1.append(draw(st.integers(1, 7)))
            shape2.append(draw(st.integers(1, 4)))
        else:  # equal sizes, or size 1 on either side (broadcast)
            n = draw(st.integers(1, 3))
            kind = draw(st.sampled_from(["equal", "in1", "in2"]))
            shape1.append(1 if kind == "in1" else n)
            shape2.append(1 if kind == "in2" else n)
    negative = draw(st.booleans())
    axes = [a - ndim if negative else a for a in axes]
    return tuple(shape1), tuple(shape2), axes, draw(st.sampled_from(MODES)), draw(st.integers())


@settings(max_examples=40)
@given(problem=axes_problems(), method=st.sampled_from(METHODS), cplx=st.booleans())
def test_axes_property(problem, method, cplx):
    """axes= against scipy.signal.fftconvolve over ranks, axis orders, broadcasting, modes."""
    shape1, shape2, axes, mode, seed = problem
    rng = np.random.default_rng(seed % 2**32)
    a = crandn(rng, shape1) if cplx else rng.standard_normal(shape1)
    b = rng.standard_normal(shape2)
    k1 = [shape1[x] for x in axes]
    k2 = [shape2[x] for x in axes]
    if mode == "valid" and not _valid_ok(k1, k2):
        with pytest.raises(ValueError, match="valid"):
            sigconv.convolve(a, b, mode, axes=axes, method=method)
        return
    got = sigconv.convolve(a, b, mode, axes=axes, method=method)
    close(got, sps.fftconvolve(a, b, mode, axes=axes))

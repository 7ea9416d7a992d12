"""Hypothesis: sigconv.correlate/convolve equal the plain-loop definition (tests/naive.py) over
dims, batch axes, awkward sizes, modes, boundaries, strides, dilations, dtypes and methods."""

import importlib.util

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sigconv
from tests import naive
from tests.tolerance import assert_close

HAVE_FFT = importlib.util.find_spec("sigconv._fft") is not None
METHODS = ["direct", "fft", "auto"] if HAVE_FFT else ["direct"]
# Sizes that break naive blocking and indexing: 1, primes, 2**k + 1.
SIZES = st.sampled_from([1, 2, 3, 4, 5, 7, 9, 11, 13])
KSIZES = st.sampled_from([1, 2, 3, 4, 5])


@st.composite
def problems(draw):
    nd = draw(st.integers(1, 3))
    # Keep the plain-loop oracle cheap: fewer and smaller axes in 3-D.
    sizes = SIZES if nd < 3 else st.sampled_from([1, 2, 3, 5, 6])
    shape = tuple(draw(sizes) for _ in range(nd))
    kshape = tuple(draw(KSIZES if nd < 3 else st.sampled_from([1, 2, 3])) for _ in range(nd))
    batch = tuple(draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 2 if nd < 3 else 1))))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    mode = draw(st.sampled_from(["full", "same", "valid"]))
    boundary = draw(st.sampled_from(["constant", "reflect", "mirror", "nearest", "wrap"]))
    cval = draw(st.sampled_from([0.0, 1.5, -2.0]))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int16]))
    wdtype = draw(st.sampled_from([dtype, np.float64]))
    seed = draw(st.integers(0, 2**31 - 1))
    return shape, kshape, batch, stride, dilation, mode, boundary, cval, dtype, wdtype, seed


def _valid_ok(shape, kshape, dilation):
    ke = [(k - 1) * d + 1 for k, d in zip(kshape, dilation)]
    return all(n >= e for n, e in zip(shape, ke)) or all(e >= n for n, e in zip(shape, ke))


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=40)
@given(problem=problems(), flip=st.booleans())
def test_matches_definition(method, problem, flip):
    shape, kshape, batch, stride, dilation, mode, boundary, cval, dtype, wdtype, seed = problem
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(batch + shape) * 3).astype(dtype)
    w = (rng.standard_normal(kshape) * 3).astype(wdtype)
    fn, oracle = (
        (sigconv.convolve, naive.convolve) if flip else (sigconv.correlate, naive.correlate)
    )
    kw = dict(stride=stride, dilation=dilation, boundary=boundary, cval=cval, method=method)
    if mode == "valid" and not _valid_ok(shape, kshape, dilation):
        with pytest.raises(ValueError, match="valid"):
            fn(x, w, mode, **kw)
        return
    integer = np.result_type(dtype, wdtype).kind == "i"
    if integer:  # an integer result needs an integer cval (docs/contract.md §1)
        kw["cval"] = cval = float(round(cval))
    got = fn(x, w, mode, **kw)
    want_dtype = np.result_type(dtype, wdtype)  # SciPy's rule (docs/contract.md §1)
    assert got.dtype == want_dtype
    assert got.shape == sigconv.output_shape(
        x.shape, w.shape, mode, stride=stride, dilation=dilation
    )
    want = oracle(x, w, mode, stride, dilation, boundary, cval)
    if integer:  # exact, wrapped to the result type as SciPy's integer accumulation
        np.testing.assert_array_equal(got, np.rint(want).astype(np.int64).astype(want_dtype))
    else:
        assert_close(got, want, dtype=want_dtype)

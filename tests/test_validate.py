"""Unit tests of sigconv._validate: the dtype policy and the argument checks."""

import numpy as np
import pytest

from sigconv import _validate as v


def test_as_input_array_accepts_lists_and_keeps_arrays():
    a = np.arange(6.0).reshape(2, 3)
    assert v.as_input_array(a, "x") is a
    assert v.as_input_array([[1, 2], [3, 4]], "x").shape == (2, 2)


@pytest.mark.parametrize(
    ("value", "exc", "kw"),
    [
        (np.ones(3, dtype=complex), TypeError, {}),
        (np.array(["a"]), TypeError, {}),
        (np.array([object()]), TypeError, {}),
        ([[1, 2], [3]], TypeError, {}),
        (np.ones((0, 2)), ValueError, {}),
        (np.ones((2, 2)), ValueError, {"min_ndim": 3}),
        (np.ones((2, 2, 2, 2)), ValueError, {"max_ndim": 3}),
    ],
)
def test_as_input_array_rejects(value, exc, kw):
    with pytest.raises(exc, match="myarg"):
        v.as_input_array(value, "myarg", **kw)


def test_as_input_array_rejects_device_arrays():
    class Dev:
        __cuda_array_interface__ = {"shape": (2,), "typestr": "<f4", "data": (0, False)}

    with pytest.raises(TypeError, match="myarg"):
        v.as_input_array(Dev(), "myarg")


@pytest.mark.parametrize(
    ("dtypes", "want"),
    [
        ((np.float32,), np.float32),
        ((np.float16, np.float32), np.float32),
        ((np.float32, np.float64), np.float64),
        ((np.int8,), np.float64),
        ((bool, np.float32), np.float64),
        ((np.uint64,), np.float64),
    ],
)
def test_compute_dtype(dtypes, want):
    assert v.compute_dtype(*[np.zeros(1, dtype=d) for d in dtypes]) == want


def test_to_compute_native_contiguous_and_no_needless_copy():
    a = np.arange(12.0).reshape(3, 4)
    assert np.shares_memory(v.to_compute(a, np.float64), a)  # no copy
    f = np.asfortranarray(a)
    c = v.to_compute(f, np.float64)
    assert c.flags.c_contiguous and np.array_equal(c, a)
    be = a.astype(">f8")
    c = v.to_compute(be, np.float64)
    assert c.dtype.isnative and np.array_equal(c, a)
    assert v.to_compute(a, np.float32).dtype == np.float32


def test_int_tuple():
    assert v.int_tuple(2, "s", 3) == (2, 2, 2)
    assert v.int_tuple((1, 2), "s", 2) == (1, 2)
    assert v.int_tuple(np.array([3, 4]), "s", 2) == (3, 4)
    assert v.int_tuple(np.int64(2), "s", 1) == (2,)
    assert v.int_tuple(0, "s", 1, minimum=0) == (0,)


@pytest.mark.parametrize(
    ("value", "exc"),
    [
        (0, ValueError),
        ((1, 0), ValueError),
        ((1, 2, 3), ValueError),
        (1.0, TypeError),
        (True, TypeError),
        ((1, 1.5), TypeError),
        ("2", TypeError),
        (None, TypeError),
    ],
)
def test_int_tuple_rejects(value, exc):
    with pytest.raises(exc, match="stride"):
        v.int_tuple(value, "stride", 2)


def test_check_option():
    assert v.check_option("a", "opt", ("a", "b")) == "a"
    with pytest.raises(ValueError, match="opt"):
        v.check_option("c", "opt", ("a", "b"))
    with pytest.raises(TypeError, match="opt"):
        v.check_option(1, "opt", ("a", "b"))


def test_check_float():
    assert v.check_float(2, "c") == 2.0
    assert v.check_float(np.float32(1.5), "c") == 1.5
    assert np.isinf(v.check_float(np.inf, "c", finite=False))
    for bad, exc in [
        (np.nan, ValueError),
        (np.inf, ValueError),
        ("1", TypeError),
        (True, TypeError),
        (1j, TypeError),
        (None, TypeError),
    ]:
        with pytest.raises(exc, match="c"):
            v.check_float(bad, "c")


def test_check_out():
    out = np.empty((2, 3))
    assert v.check_out(out, (2, 3), np.float64) is out
    with pytest.raises(ValueError, match="out"):
        v.check_out(out, (3, 2), np.float64)
    with pytest.raises(TypeError, match="out"):
        v.check_out(out, (2, 3), np.float32)
    with pytest.raises(TypeError, match="out"):
        v.check_out([[0.0] * 3] * 2, (2, 3), np.float64)
    ro = np.empty((2, 3))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out"):
        v.check_out(ro, (2, 3), np.float64)

"""Every argument check and the dtype policy, in one place.

Public wrappers call these helpers and hand the private kernels arrays that are native-endian,
C-contiguous and of a float dtype the kernels were compiled for. Every error names the
parameter, what was expected and what was received.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

__all__ = [
    "as_input_array",
    "check_float",
    "check_option",
    "check_out",
    "compute_dtype",
    "int_tuple",
    "to_compute",
]


def _describe(value) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} (type {type(value).__name__})"


def as_input_array(
    x, name: str, *, min_ndim: int = 0, max_ndim: int | None = None, complex_ok: bool = False
) -> np.ndarray:
    """Turn ``x`` into an ndarray without copying where possible and check its kind and rank.

    Object, string and other non-numeric dtypes raise ``TypeError``, and so do complex ones
    unless ``complex_ok``; empty arrays and a rank outside ``[min_ndim, max_ndim]`` raise
    ``ValueError``.
    """
    if hasattr(x, "__cuda_array_interface__") and not isinstance(x, np.ndarray):
        raise TypeError(f"{name} is a device array; this operation needs a host array-like")
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be a real-valued array-like; got {_describe(x)}") from exc
    kind = arr.dtype.kind
    if complex_ok and kind == "c":
        pass
    elif kind not in "biuf":
        raise TypeError(
            f"{name} must have a real numeric dtype (bool, integer or float); got dtype {arr.dtype}"
        )
    if arr.ndim < min_ndim or (max_ndim is not None and arr.ndim > max_ndim):
        want = f"at least {min_ndim}" if max_ndim is None else f"{min_ndim} to {max_ndim}"
        raise ValueError(f"{name} must have {want} dimensions; got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
    return arr


def compute_dtype(*arrays) -> np.dtype:
    """The dtype a computation runs in: float32 only when every operand is float16/float32.

    Bool and integer operands are computed in float64, as are mixtures of float32 and float64.
    """
    for arr in arrays:
        if arr.dtype.kind != "f" or arr.dtype.itemsize > 4:
            return np.dtype(np.float64)
    return np.dtype(np.float32)


def to_compute(arr: np.ndarray, dtype) -> np.ndarray:
    """A native-endian, C-contiguous array of ``dtype``; copies only when it has to.

    Kernels must treat the result as read-only: it may be the caller's own array.
    """
    return np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("="))


def int_tuple(value, name: str, n: int, *, minimum: int = 1) -> tuple[int, ...]:
    """``value`` as a tuple of ``n`` ints, each ``>= minimum``; an int is repeated ``n`` times."""
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool):
        items = (int(value),) * n
    elif isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, str):
        items = tuple(value)
        if len(items) != n:
            raise ValueError(f"{name} must be an int or a sequence of {n} ints; got {value!r}")
        for item in items:
            if not isinstance(item, (numbers.Integral, np.integer)) or isinstance(item, bool):
                raise TypeError(f"{name} must contain ints; got {_describe(value)}")
        items = tuple(int(i) for i in items)
    else:
        raise TypeError(f"{name} must be an int or a sequence of {n} ints; got {_describe(value)}")
    if any(i < minimum for i in items):
        raise ValueError(f"{name} must be >= {minimum} in every axis; got {value!r}")
    return items


def check_option(value, name: str, options: Sequence[str]) -> str:
    """``value`` if it is one of ``options`` (strings), else a ``ValueError``/``TypeError``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {list(options)}; got {_describe(value)}")
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}; got {value!r}")
    return value


def check_float(value, name: str, *, finite: bool = True) -> float:
    """``value`` as a Python float (real number, finite unless ``finite=False``)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number; got {_describe(value)}")
    value = float(value)
    if finite and not np.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value!r}")
    return value


def check_out(out, shape: tuple[int, ...], dtype: np.dtype, name: str = "out") -> np.ndarray:
    """Check a user-supplied output array: an ndarray of exactly ``shape`` and ``dtype``."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray; got {_describe(out)}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}; got {out.shape}")
    if out.dtype != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype)}; got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writeable; got a read-only array")
    return out

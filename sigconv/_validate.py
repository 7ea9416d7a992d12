"""Every argument check and the dtype policy, in one place.

Public wrappers call these helpers and hand the private kernels arrays that are native-endian,
C-contiguous and of a float dtype the kernels were compiled for. Every error names the
parameter, what was expected and what was received.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "Operand",
    "as_input_array",
    "check_bool",
    "check_float",
    "check_option",
    "check_out",
    "compute_dtype",
    "generator",
    "int_tuple",
    "is_device_array",
    "operand",
    "to_compute",
]


def _describe(value) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} (type {type(value).__name__})"


def is_device_array(x) -> bool:
    """True for arrays that live on a GPU (``__cuda_array_interface__``: Numba, CuPy, PyTorch).

    Numba's simulated device arrays carry ``__cuda_ndarray__`` instead of the interface.
    """
    # Cheap answers first: this runs for every operand of every call (hundreds of times per
    # training step), and for a Numba device array ``hasattr`` would build the interface dict
    # (``__cuda_array_interface__`` is a property); Numba marks its arrays with a class flag.
    if type(x) is np.ndarray or x is None:
        return False
    if getattr(x, "__cuda_ndarray__", False) is True:
        return True
    return hasattr(x, "__cuda_array_interface__")


def as_input_array(
    x, name: str, *, min_ndim: int = 0, max_ndim: int | None = None, complex_ok: bool = False
) -> np.ndarray:
    """Turn ``x`` into an ndarray without copying where possible and check its kind and rank.

    Object, string and other non-numeric dtypes raise ``TypeError``, and so do complex ones
    unless ``complex_ok``; empty arrays and a rank outside ``[min_ndim, max_ndim]`` raise
    ``ValueError``.
    """
    if not isinstance(x, np.ndarray) and hasattr(x, "__cuda_array_interface__"):
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


_HOST_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def host_float_dtype(*arrays):
    """The dtype of ``arrays`` when all are host ndarrays of one native float dtype (float32
    or float64) and the rest are None, else None.

    That is the repeated call of a training loop or a pipeline, which may skip its checks once
    an equal call passed them (the layers' plans, ``F.conv``'s and the signal API's known
    calls): the compute dtype is then that dtype, as :func:`compute_dtype` would pick it.
    Anything else (device arrays, mixed or integer dtypes, big-endian data) takes the checked
    path, which converts.
    """
    dtype = None
    for a in arrays:
        if a is None:
            continue
        if type(a) is not np.ndarray:
            return None
        if dtype is None:
            dtype = a.dtype
        elif a.dtype != dtype:
            return None
    return dtype if dtype in _HOST_FLOATS else None


def to_compute(arr: np.ndarray, dtype) -> np.ndarray:
    """A native-endian, C-contiguous array of ``dtype``; copies only when it has to.

    Kernels must treat the result as read-only: it may be the caller's own array.
    """
    if type(arr) is np.ndarray and arr.dtype == dtype and arr.flags.c_contiguous:
        # already so (native, as ``dtype`` is): the common case, 1 us against 2.5 a call
        if arr.dtype.isnative:
            return arr
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


def check_bool(value, name: str) -> bool:
    """``value`` as a Python bool (``bool`` or ``numpy.bool_`` only: 0 and 1 are not flags)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool; got {_describe(value)}")
    return bool(value)


def generator(rng, name: str = "rng") -> np.random.Generator:
    """``rng`` as a numpy Generator: None (fresh entropy), an int seed or a Generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (
        isinstance(rng, (numbers.Integral, np.integer)) and not isinstance(rng, (bool, np.bool_))
    ):
        return np.random.default_rng(rng)
    raise TypeError(
        f"{name} must be None, an int seed or a numpy.random.Generator; got {_describe(rng)}"
    )


def check_float(value, name: str, *, finite: bool = True) -> float:
    """``value`` as a Python float (real number, finite unless ``finite=False``)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number; got {_describe(value)}")
    value = float(value)
    if finite and not np.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value!r}")
    return value


def check_out(
    out, shape: tuple[int, ...], dtype: np.dtype, name: str = "out", *, device_ok: bool = False
):
    """Check a user-supplied output array: an ndarray (or, with ``device_ok``, a device array)
    of exactly ``shape`` and ``dtype``."""
    if device_ok and is_device_array(out) and not isinstance(out, np.ndarray):
        cai = out.__cuda_array_interface__
        oshape, odtype = tuple(int(v) for v in cai["shape"]), np.dtype(cai["typestr"])
        if oshape != tuple(shape):
            raise ValueError(f"{name} must have shape {tuple(shape)}; got {oshape}")
        if odtype != dtype:
            raise TypeError(f"{name} must have dtype {np.dtype(dtype)}; got {odtype}")
        return out
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray; got {_describe(out)}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}; got {out.shape}")
    if out.dtype != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype)}; got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writeable; got a read-only array")
    return out


class Operand(NamedTuple):
    """A checked operand: a host ndarray (from :func:`as_input_array`) or the caller's device
    array, untouched, with its shape and dtype."""

    array: Any
    shape: tuple[int, ...]
    dtype: np.dtype
    on_device: bool

    def compute(self, dtype):
        """The array to hand a backend: host data as :func:`to_compute` of ``dtype``; device
        data as given (the CUDA backend converts on the device)."""
        return self.array if self.on_device else to_compute(self.array, dtype)


def operand(
    x,
    name: str,
    *,
    ndim: int | None = None,
    min_ndim: int = 0,
    max_ndim: int | None = None,
    complex_ok: bool = False,
) -> Operand:
    """The one check of an array argument, host or device (no copy of device data).

    Host values go through :func:`as_input_array`; a device array's shape and dtype are read
    from its ``__cuda_array_interface__`` and checked by the same rules (real dtype, rank in
    ``[min_ndim, max_ndim]`` or exactly ``ndim``, not empty). ``complex_ok`` lets complex host
    data through (device data must be real: the CUDA kernels are real).
    """
    if type(x) is np.ndarray:  # the common case, without the device checks
        if ndim is not None:
            if x.ndim != ndim:
                raise ValueError(f"{name} must have {ndim} dimensions; got shape {x.shape}")
            min_ndim = max_ndim = ndim
        arr = as_input_array(x, name, min_ndim=min_ndim, max_ndim=max_ndim, complex_ok=complex_ok)
        return Operand(arr, arr.shape, arr.dtype, False)
    if ndim is not None:
        rank = len(x.shape) if is_device_array(x) else np.ndim(x)
        if rank != ndim:
            raise ValueError(f"{name} must have {ndim} dimensions; got shape {np.shape(x)}")
        min_ndim = max_ndim = ndim
    if not (is_device_array(x) and not isinstance(x, np.ndarray)):
        arr = as_input_array(x, name, min_ndim=min_ndim, max_ndim=max_ndim, complex_ok=complex_ok)
        return Operand(arr, arr.shape, arr.dtype, False)
    cai = x.__cuda_array_interface__
    shape = tuple(int(v) for v in cai["shape"])
    dtype = np.dtype(cai["typestr"])
    if dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must have a real numeric dtype (bool, integer or float); got dtype {dtype}"
        )
    if len(shape) < min_ndim or (max_ndim is not None and len(shape) > max_ndim):
        want = f"at least {min_ndim}" if max_ndim is None else f"{min_ndim} to {max_ndim}"
        raise ValueError(f"{name} must have {want} dimensions; got shape {shape}")
    if math.prod(shape) == 0:
        raise ValueError(f"{name} must not be empty; got shape {shape}")
    return Operand(x, shape, dtype, True)


def check_shape(op: Operand, shape, name: str) -> Operand:
    """``op`` if it has exactly ``shape``, else a ``ValueError`` naming both."""
    if tuple(op.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}; got {tuple(op.shape)}")
    return op

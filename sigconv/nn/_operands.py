"""Operand checks shared by the dense and activation functions of ``sigconv.nn.functional``.

Host operands go through ``_validate.as_input_array`` (no copy where none is needed); device
operands (``__cuda_array_interface__``) are viewed and checked, never copied. The checks say
which parameter is wrong, what was expected and what came in.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _backend, _validate
from . import _device


def operand(a, name: str, *, ndim: int | None = None, min_ndim: int = 0, floats: bool = True):
    """``a`` checked: a real, non-empty array (of rank ``ndim`` when given, else at least
    ``min_ndim``). Host arrays come back as ndarrays, bool and integer ones as float64 when
    ``floats``; device arrays come back as Numba views of the caller's memory."""
    if type(a) is np.ndarray and a.dtype.kind == "f" and a.size:  # the common case, first
        if (a.ndim == ndim) if ndim is not None else (a.ndim >= min_ndim):
            return a
    if _device.is_device(a):
        d = _device.view(a)
        shape = tuple(int(n) for n in d.shape)
        if d.dtype.kind not in "biuf":
            raise TypeError(f"{name} must have a real numeric dtype; got dtype {d.dtype}")
        _check_rank(shape, name, ndim, min_ndim)
        if math.prod(shape) == 0:
            raise ValueError(f"{name} must not be empty; got shape {shape}")
        return d
    arr = _validate.as_input_array(a, name)
    _check_rank(arr.shape, name, ndim, min_ndim)
    if floats and arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return arr


def _check_rank(shape, name, ndim, min_ndim):
    if ndim is not None and len(shape) != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions; got shape {shape}")
    if ndim is None and len(shape) < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions; got shape {shape}")


def on_cuda(backend, *operands) -> bool:
    """Whether ``backend`` resolves to CUDA for ``operands`` (``_backend.resolve_backend``;
    host arrays with ``"auto"``, every call of a training step on the CPU, answered first)."""
    if backend == "auto" and all(type(a) is np.ndarray for a in operands):
        return False
    return _backend.resolve_backend(backend, *operands) == "cuda"


def same_shape(a, ref, name: str, ref_name: str) -> None:
    """``ValueError`` unless ``a`` (named ``name``) has the shape of ``ref``."""
    if tuple(a.shape) != tuple(ref.shape):
        raise ValueError(
            f"{name} must have the shape of {ref_name} {tuple(int(n) for n in ref.shape)}; got "
            f"{tuple(int(n) for n in a.shape)}"
        )


def check_int(value, name: str) -> int:
    if not isinstance(value, (numbers.Integral, np.integer)) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int; got {value!r} (type {type(value).__name__})")
    return int(value)


def check_need(need, options) -> tuple[str, ...]:
    """``need`` (a name or a sequence of names from ``options``) as a tuple."""
    if type(need) is tuple and all(type(n) is str and n in options for n in need):
        return need  # what the layers pass, every backward pass
    if isinstance(need, str):
        need = (need,)
    try:
        items = tuple(need)
    except TypeError:
        raise TypeError(
            f"need must be a sequence of names from {list(options)}; got {need!r}"
        ) from None
    for item in items:
        _validate.check_option(item, "need", options)
    return items

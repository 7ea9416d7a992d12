"""Kernel launches with less host time than Numba's dispatcher.

On an H200 (docs/performance.md, "GPU") one launch of the tiled correlation kernel through
``kernel[grid, block, 0, shared](*args)`` cost 114 us of host time, of which ``cuda.core.launch``
itself was 25 us: the rest is Numba typing the 29 arguments and converting each of them (a ctypes
object per scalar, a strided-memory view per array) on every call. The GPU then waits for the
host. ``launch`` lets Numba compile and launch the first call of each argument signature, then
keeps that overload with one converter per argument and calls ``cuda.core.launch`` directly:
36 us per launch on a machine where Numba's path took 73 (the CUDA suite passed on that path).

The fast path is taken only where it is exact: Numba's own device arrays, and scalars of the
types it types the same way every time. Anything else (the simulator, foreign arrays, a
signature Numba reached by conversion, a test's stand-in for a kernel) goes through Numba.
"""

from __future__ import annotations

import ctypes

import numpy as np

from .. import _config
from .memory import simulated

# (kernel, argument key) -> (compiled kernel, converters), or None: always through Numba
_PLANS: dict = {}
_CONFIGS: dict = {}
_MAX_CONFIGS = 512

_SCALARS = {
    int: ctypes.c_int64,
    float: ctypes.c_double,
    np.int32: ctypes.c_int32,
    np.int64: ctypes.c_int64,
    np.float32: ctypes.c_float,
    np.float64: ctypes.c_double,
}


def launch(kernel, grid, block, shared, *args) -> None:
    """``kernel[grid, block, 0, shared](*args)`` on the default stream, faster after the
    first call of each argument signature."""
    if simulated() or not _config.CUDA_FAST_LAUNCH or not isinstance(kernel, _numba().dispatcher):
        kernel[grid, block, 0, shared](*args)
        return
    key = _key(args)
    plan = _PLANS.get((kernel, key), False) if key is not None else None
    if not plan:
        kernel[grid, block, 0, shared](*args)
        if plan is False:
            _PLANS[(kernel, key)] = _plan(kernel, args)
        return
    compiled, converters = plan
    kargs: list = []
    for convert, value in zip(converters, args):
        convert(value, kargs)
    n = _numba()
    n.launch(n.stream, _config_for(grid, block, shared), n.function(compiled), *kargs)


class _Numba:
    """The Numba and cuda.core names the fast path uses, looked up once."""

    def __init__(self):
        from cuda.core import LaunchConfig, Stream
        from cuda.core import launch as core_launch
        from numba.cuda.cudadrv.devicearray import DeviceNDArray
        from numba.cuda.dispatcher import CUDADispatcher
        from numba.cuda.errors import normalize_kernel_dimensions

        self.dispatcher = CUDADispatcher
        self.device_array = DeviceNDArray
        self.launch = core_launch
        self.config = LaunchConfig
        self.normalize = normalize_kernel_dimensions
        # the legacy default stream (handle 0), which Numba's launches without a stream use
        self.stream = Stream.from_handle(0)

    @staticmethod
    def function(compiled):
        """``compiled``'s kernel loaded in the current context (by its first launch there)."""
        return compiled.library.get_cufunc().kernel


_NUMBA = None


def _numba() -> _Numba:
    global _NUMBA
    if _NUMBA is None:
        _NUMBA = _Numba()
    return _NUMBA


def _key(args):
    """What Numba's typing of ``args`` depends on, or None where the fast path does not apply."""
    device_array = _numba().device_array
    key = []
    for a in args:
        t = type(a)
        if t is device_array:
            key.append((a.dtype, a.ndim, a.is_c_contiguous(), a.is_f_contiguous()))
        elif t in _SCALARS:
            key.append(t)
        else:
            return None
    return tuple(key)


def _plan(kernel, args):
    """(compiled overload, one converter per argument) for ``args``' types, or None when the
    overload is not keyed by exactly these types or its launch needs more than the arguments
    (a debug build's error flag, extensions, cooperative launch, launch-configuration-dependent
    code)."""
    from numba.cuda import types

    argtypes = tuple(kernel.typeof_pyval(a) for a in args)
    compiled = kernel.overloads.get(argtypes)
    if (
        compiled is None
        or kernel.specialized
        or getattr(compiled, "debug", True)
        or getattr(compiled, "cooperative", True)
        or getattr(compiled, "extensions", True)
        or getattr(compiled, "launch_config_sensitive", False)
    ):
        return None
    converters = []
    for ty, value in zip(compiled.argument_types, args):
        if isinstance(ty, types.Array):
            converters.append(_array_args)
            continue
        if ty == types.float32:
            ctype = ctypes.c_float
        elif ty == types.float64:
            ctype = ctypes.c_double
        elif isinstance(ty, types.Integer):
            ctype = getattr(ctypes, f"c_{ty}")
        else:
            return None
        if ctype is not _SCALARS[type(value)]:
            return None
        converters.append(_scalar(ctype))
    return compiled, converters


def _array_args(a, kargs) -> None:
    # Numba's array argument: meminfo, parent, size, itemsize, data, shape, strides (bytes)
    kargs += (0, 0, a.size, a.dtype.itemsize, a.device_ctypes_pointer.value or 0)
    kargs += a.shape
    kargs += a.strides


def _scalar(ctype):
    def convert(value, kargs):
        kargs.append(ctype(value))

    return convert


def _config_for(grid, block, shared):
    key = (grid, block, shared)
    try:
        return _CONFIGS[key]
    except (KeyError, TypeError):  # new, or unhashable (a list)
        pass
    n = _numba()
    g, b = n.normalize(grid, block)
    cfg = n.config(grid=tuple(map(int, g)), block=tuple(map(int, b)), shmem_size=int(shared))
    if len(_CONFIGS) >= _MAX_CONFIGS:
        _CONFIGS.clear()
    try:
        _CONFIGS[key] = cfg
    except TypeError:
        pass
    return cfg

"""Device-array helpers and launch geometry shared by the CUDA launchers.

Host launchers speak three kinds of arrays: host ndarrays, Numba device arrays (real, or the
simulator's ``FakeCUDAArray``), and foreign device arrays exposing ``__cuda_array_interface__``
(CuPy, PyTorch CUDA tensors), which are wrapped without a copy. Kernels always receive
C-contiguous device arrays of the compute dtype, so each kernel compiles once per dtype.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, int32

from .. import _config
from .._backend import is_device_array as is_device
from . import memory
from .launch import launch
from .memory import simulated

#: Largest offset or count the int32 index arithmetic of the kernels may reach (a margin below
#: 2**31 for the offsets added to it inside a kernel). Larger problems take untiled kernels or
#: are refused with a clear error.
INT32_LIMIT = 2**31 - 2**20


def fits_int32(*sizes) -> bool:
    """Whether every size (elements of a plane, item or reduction) is at most ``INT32_LIMIT``."""
    return max(int(v) for v in sizes) <= INT32_LIMIT


#: Most dimensions a strided device array may have after merging axes (see ``contiguous``).
COPY_NDIM = 6


def device_view(a):
    """A Numba device array viewing ``a`` (no copy); ``a`` must be a device array."""
    if getattr(a, "__cuda_ndarray__", False) is True:
        return a
    return cuda.as_cuda_array(a)


def _strided_view(a, shape, strides):
    """A view of device array ``a`` with another shape and byte strides (same first element)."""
    if simulated():
        host = np.lib.stride_tricks.as_strided(a._ary, shape=shape, strides=strides)
        return type(a)(host)
    desc = dict(a.__cuda_array_interface__)
    desc.update(shape=tuple(shape), strides=tuple(strides), version=3)
    desc.pop("stream", None)
    return cuda.from_cuda_array_interface(desc, owner=a, sync=False)


@cuda.jit(cache=True)
def _copy6(src, dst):
    # Grid-stride loop over the destination in C order; the assignment casts to dst's dtype.
    s1, s2, s3, s4, s5 = dst.shape[1], dst.shape[2], dst.shape[3], dst.shape[4], dst.shape[5]
    n = dst.size
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        r = i
        i5 = r % s5
        r //= s5
        i4 = r % s4
        r //= s4
        i3 = r % s3
        r //= s3
        i2 = r % s2
        r //= s2
        i1 = r % s1
        i0 = r // s1
        dst[i0, i1, i2, i3, i4, i5] = src[i0, i1, i2, i3, i4, i5]
        i += step


def _copy_sig(src: str, dst: str) -> str:
    return f"void({src}[:, :, :, :, :, :], {dst}[:, :, :, :, :, :])"


PTX_SIGNATURES = [
    (
        _copy6,
        [
            _copy_sig("float32", "float32"),
            _copy_sig("float64", "float64"),
            _copy_sig("float64", "float32"),
            _copy_sig("float32", "float64"),
            _copy_sig("int64", "float64"),
            _copy_sig("uint8", "float64"),
        ],
    )
]


def copy(src, dst) -> None:
    """``dst[...] = src`` between device arrays of one shape, any strides, casting the dtype."""
    if tuple(src.shape) != tuple(dst.shape):
        raise ValueError(f"copy needs equal shapes; got {tuple(src.shape)} and {tuple(dst.shape)}")
    n = math.prod(dst.shape)
    if n == 0:
        return
    s6, d6 = _matched_views(src, dst)
    launch(_copy6, grid_1d(n), _config.CUDA_BLOCK_1D, 0, s6, d6)


def _matched_views(src, dst):
    """Views of ``src`` and ``dst`` over the same axes: merge only where both are mergeable."""
    shape, ss, ds = [], [], []
    for n, s, d in zip(src.shape, src.strides, dst.strides):
        if n == 1:
            continue
        if shape and ss[-1] == s * n and ds[-1] == d * n:
            shape[-1] *= n
            ss[-1], ds[-1] = s, d
        else:
            shape.append(n)
            ss.append(s)
            ds.append(d)
    if len(shape) > COPY_NDIM:
        raise ValueError(
            f"device arrays with more than {COPY_NDIM} non-mergeable strided axes are not "
            f"supported; got shape {tuple(src.shape)} (make them contiguous on the device first)"
        )
    pad = COPY_NDIM - len(shape)
    shape = (1,) * pad + tuple(shape or [1])
    return (
        _strided_view(src, shape, (0,) * pad + tuple(ss or [0])),
        _strided_view(dst, shape, (0,) * pad + tuple(ds or [0])),
    )


def is_c_contiguous(a) -> bool:
    expected = a.dtype.itemsize
    for n, s in zip(reversed(tuple(a.shape)), reversed(tuple(a.strides))):
        if n != 1 and s != expected:
            return False
        expected *= n
    return True


def contiguous(a, dtype):
    """A C-contiguous device array of ``dtype`` holding ``a`` (host or device); no copy if it is
    one already."""
    dtype = np.dtype(dtype)
    if not is_device(a):
        host = np.ascontiguousarray(a, dtype=dtype.newbyteorder("="))
        if not memory.enabled():
            return cuda.to_device(host)
        res = memory.device_array(host.shape, host.dtype)
        res.copy_to_device(host)
        return res
    d = device_view(a)
    if d.dtype == dtype and is_c_contiguous(d):
        return d
    if not d.dtype.isnative:
        raise TypeError(f"device arrays must be native-endian; got dtype {d.dtype}")
    res = empty(tuple(d.shape), dtype)
    copy(d, res)
    return res


def empty(shape, dtype):
    """An uninitialised C-contiguous device array (from sigconv's caching pool on a GPU)."""
    return memory.device_array(shape, dtype)


def reshape(d, shape):
    """Reshape a C-contiguous device array (a view)."""
    return d.reshape(tuple(int(n) for n in shape))


def _address(d) -> int:
    """Device address of the first element (host address for the simulator's arrays)."""
    if simulated():
        return d._ary.__array_interface__["data"][0]
    return d.__cuda_array_interface__["data"][0]


def finish(result, out, on_device: bool):
    """Hand ``result`` (a C-contiguous device array) back in the caller's kind of array.

    ``out`` (host ndarray or device array, already checked for shape and dtype) receives the
    values when given and is returned; else a device array when ``on_device``, a host ndarray
    otherwise.
    """
    if out is not None:
        if is_device(out):
            d = device_view(out)
            if _address(d) != _address(result):  # not already written in place
                copy(result, d)
            return out
        if out.flags.c_contiguous:
            result.copy_to_host(out)
        else:
            out[...] = result.copy_to_host()
        return out
    if on_device:
        return result
    return result.copy_to_host()


def out_target(out, shape, dtype):
    """The device array a kernel should write: ``out`` itself when it is a C-contiguous device
    array of ``dtype``, else a fresh one."""
    if out is not None and is_device(out):
        d = device_view(out)
        if d.dtype == np.dtype(dtype) and is_c_contiguous(d):
            return reshape(d, shape) if tuple(d.shape) != tuple(shape) else d
    return empty(shape, dtype)


def grid_1d(n: int) -> int:
    """Blocks for a grid-stride loop over ``n`` items (capped: the loop covers the rest)."""
    return max(1, min(-(-n // _config.CUDA_BLOCK_1D), _config.CUDA_MAX_BLOCKS_1D))


def blocks(n: int, b: int) -> int:
    return max(1, -(-n // b))


def block_for(ndim: int) -> tuple[int, int, int]:
    """Threads per block as (x, y, z) for a kernel over ``ndim`` spatial axes."""
    if ndim == 1:
        return (_config.CUDA_BLOCK_1D, 1, 1)
    if ndim == 2:
        bx, by = _config.CUDA_BLOCK_2D
        return (bx, by, 1)
    bx, by, bz = _config.CUDA_BLOCK_3D
    return (bx, by, bz)


def clone(a):
    """A fresh C-contiguous device copy of device array ``a`` (same dtype, no host round trip)."""
    d = device_view(a)
    res = empty(d.shape, d.dtype)
    copy(d, res)
    return res


# --- the boundary rule on the device -------------------------------------------------------


@cuda.jit(device=True, inline=True, cache=True)
def map_index(i, n, mode):
    """Index into ``range(n)`` that position ``i`` of the extended signal reads; -1 = cval.

    Periodic extensions, so pads wider than the input repeat as ``numpy.pad`` does: reflect =
    'symmetric' (period 2n), mirror = 'reflect' (period 2n-2), wrap (period n).
    """
    if i >= 0 and i < n:
        return i
    if mode == 0:
        return -1
    if mode == 3:
        return 0 if i < 0 else n - 1
    if mode == 4:
        return i % n
    if mode == 1:
        p = 2 * n
        i = i % p
        return i if i < n else p - 1 - i
    if n == 1:
        return 0
    p = 2 * n - 2
    i = i % p
    return i if i < n else p - i


@cuda.jit(device=True, inline=True, cache=True)
def map32(i, n, mode):
    """:func:`map_index` as an int32, for kernels that keep their indices in int32."""
    return int32(map_index(i, n, mode))


def views(*arrays):
    """Numba device views of the device arrays among ``arrays`` (host arrays and None as given)."""
    return [a if a is None or not is_device(a) else device_view(a) for a in arrays]


def on_device(*arrays) -> bool:
    """Whether any operand lives on the GPU (the result then stays there)."""
    return any(a is not None and is_device(a) for a in arrays)

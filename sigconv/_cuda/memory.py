"""A caching allocator for the device arrays sigconv allocates (outputs and temporaries).

``cuMemAlloc`` and ``cuMemFree`` are slow (a large allocation maps pages; a free synchronises
the device), and Numba calls them for every ``cuda.device_array``. PyTorch and CuPy keep freed
blocks and hand them out again; on an H100 a ``sigconv.correlate`` of a 2048^2 image spent most
of its 0.74 ms outside its kernel while CuPy's whole call took 0.06 ms. sigconv does the same as
they do, for its own allocations only (Numba's global memory manager is left alone, so other
Numba code in the process is unaffected):

* :class:`BlockPool` keeps free blocks by size class (:func:`size_class`, <= 12.5% waste) and
  reuses one of exactly the class asked for; it knows nothing of CUDA, so its bookkeeping is
  tested without a GPU.
* :func:`device_array` leases a block to a Numba ``DeviceNDArray``. The array's memory pointer
  is owned by a lease object; when the last array or view of it is garbage, the lease's
  finalizer returns the block to the pool instead of freeing it. Every sigconv kernel runs on
  the default stream, so work queued on a block before its return is finished before any later
  kernel can see the block again (the same rule as PyTorch's per-stream caching).
* Out of device memory, the pool releases its cached blocks and retries once;
  :func:`empty_cache` (public as ``sigconv.empty_gpu_cache``) releases them on request and has
  Numba free them at once (Numba otherwise queues frees until ten are pending), so PyTorch, CuPy
  or other allocators can use the memory.

Stream ordering is what makes reuse safe, so the pool is off where Numba's per-thread default
streams are on (``NUMBA_CUDA_PER_THREAD_DEFAULT_STREAM=1``: two threads' kernels are then not
ordered); and a consumer that reads a sigconv result on another stream (a non-blocking CuPy or
PyTorch stream) must synchronise before it drops the result. In Numba's CUDA simulator, or with
``_config.CUDA_MEMORY_POOL`` false, allocations go to ``cuda.device_array`` unchanged.
"""

from __future__ import annotations

import functools
import math
import threading
import weakref
from collections import defaultdict

import numpy as np

from .. import _config

#: Allocations up to this size are rounded up to multiples of SMALL_STEP bytes.
SMALL_LIMIT = 1 << 20
SMALL_STEP = 512


def size_class(nbytes: int) -> int:
    """Bytes of the block that serves a request of ``nbytes``.

    Multiples of 512 B up to 1 MiB; above, eight classes per power of two, so a block is at
    most 12.5% larger than asked and similar sizes (batches of a varying last size) share it.
    """
    nbytes = max(int(nbytes), 1)
    if nbytes <= SMALL_LIMIT:
        return -(-nbytes // SMALL_STEP) * SMALL_STEP
    step = 1 << (nbytes.bit_length() - 4)
    return -(-nbytes // step) * step


class BlockPool:
    """Free device blocks by size class.

    Parameters
    ----------
    alloc : callable
        ``alloc(nbytes) -> block``: a fresh block; raises ``MemoryError`` when the device is
        full (then the pool drops its cached blocks and calls it once more).
    """

    def __init__(self, alloc):
        self._alloc = alloc
        self._free = defaultdict(list)
        # Re-entrant: a garbage collection inside a locked section may run a lease finalizer,
        # which gives a block back on the same thread.
        self._lock = threading.RLock()
        self.cached_bytes = 0
        self.hits = 0
        self.misses = 0

    def take(self, nbytes: int):
        """``(size, block)``: a cached block of ``nbytes``' size class, or a new one."""
        size = size_class(nbytes)
        with self._lock:
            blocks = self._free.get(size)
            if blocks:
                self.hits += 1
                self.cached_bytes -= size
                return size, blocks.pop()
            self.misses += 1
        try:
            return size, self._alloc(size)
        except MemoryError:
            self.release()
            return size, self._alloc(size)

    def give(self, size: int, block) -> None:
        """Return ``block`` (of size class ``size``) for reuse."""
        with self._lock:
            self._free[size].append(block)
            self.cached_bytes += size

    def release(self) -> int:
        """Drop every cached block (they are freed when nothing else holds them); bytes freed."""
        with self._lock:
            freed = self.cached_bytes
            self._free.clear()
            self.cached_bytes = 0
        return freed


class _Lease:
    """Owns a pooled block while device arrays use it (see :func:`device_array`)."""

    __slots__ = ("__weakref__",)


def lease(pool: BlockPool, size: int, block) -> _Lease:
    """An owner for ``block``: when it is garbage, ``block`` goes back to ``pool``."""
    owner = _Lease()
    weakref.finalize(owner, pool.give, size, block)
    return owner


# One pool per CUDA context: blocks of one context are meaningless in another, and a context
# that was closed (``cuda.close()``) has freed them. Contexts are held weakly; the pools of dead
# ones are dropped.
_pools: dict[int, tuple[weakref.ref, BlockPool]] = {}
_pools_lock = threading.Lock()


def _device_alloc(context_ref):
    from numba.cuda.cudadrv.driver import CudaAPIError

    def alloc(nbytes):
        context = context_ref()
        if context is None:
            raise RuntimeError("the CUDA context of this memory pool was closed")
        try:
            return context.memalloc(nbytes)
        except CudaAPIError as exc:
            if "OUT_OF_MEMORY" in str(exc):  # CUresult.CUDA_ERROR_OUT_OF_MEMORY
                raise MemoryError(str(exc)) from exc
            raise

    return alloc


def _pool_for(context) -> BlockPool:
    with _pools_lock:
        for key in [k for k, (ref, _) in _pools.items() if ref() is None]:
            del _pools[key]
        entry = _pools.get(id(context))
        if entry is None or entry[0]() is not context:
            ref = weakref.ref(context)
            entry = (ref, BlockPool(_device_alloc(ref)))
            _pools[id(context)] = entry
        return entry[1]


@functools.lru_cache(maxsize=1)
def _per_thread_streams() -> bool:
    try:
        from numba.cuda.core import config
    except ImportError:  # older numba-cuda
        from numba import config
    return bool(getattr(config, "CUDA_PER_THREAD_DEFAULT_STREAM", 0))


@functools.lru_cache(maxsize=1)
def simulated() -> bool:
    """True when Numba's CUDA simulator stands in for the device (fixed when Numba loads)."""
    from numba import config

    return bool(getattr(config, "ENABLE_CUDASIM", 0))


def enabled() -> bool:
    return bool(_config.CUDA_MEMORY_POOL) and not simulated() and not _per_thread_streams()


def device_array(shape, dtype):
    """An uninitialised C-contiguous Numba device array from the pool."""
    from numba import cuda

    shape = tuple(int(n) for n in shape)
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes == 0 or not enabled():
        return cuda.device_array(shape, dtype=dtype)
    # Real-GPU classes (the simulator has neither).
    from numba.cuda.cudadrv.devicearray import DeviceNDArray
    from numba.cuda.cudadrv.driver import MemoryPointer

    context = cuda.current_context()
    pool = _pool_for(context)
    size, block = pool.take(nbytes)
    owner = lease(pool, size, block)
    data = MemoryPointer(block.context, block.device_pointer, nbytes, owner=owner)
    return DeviceNDArray(shape, c_strides(shape, dtype.itemsize), dtype, gpu_data=data)


def c_strides(shape, itemsize: int) -> tuple:
    """Byte strides of a C-contiguous array of ``shape``."""
    strides, step = [], int(itemsize)
    for n in reversed(shape):
        strides.append(step)
        step *= int(n)
    return tuple(reversed(strides))


def empty_cache() -> int:
    """Free the device memory that sigconv keeps cached for reuse; the bytes released."""
    with _pools_lock:
        entries = list(_pools.values())
    freed = 0
    for ref, pool in entries:
        freed += pool.release()
        context = ref()
        # The dropped blocks are now in Numba's queue of pending frees: run it.
        pending = getattr(getattr(context, "memory_manager", None), "deallocations", None)
        if pending is not None:
            pending.clear()
    return freed


def stats() -> dict:
    """Cached bytes, reuses and fresh allocations, summed over contexts."""
    with _pools_lock:
        pools = [entry[1] for entry in _pools.values()]
    return {
        "cached_bytes": sum(p.cached_bytes for p in pools),
        "hits": sum(p.hits for p in pools),
        "misses": sum(p.misses for p in pools),
    }

"""Scratch arrays that a thread reuses from call to call (temporaries of one call only).

Memory new to a process costs a page fault per 4 KiB page on first write. On this project's
2-core machine that is about 0.7 us a page in a quiet process, and 5-30x more in a process that
holds a few GB or while another process faults too (a Dask worker next to another): a fresh
8.8 MB temporary then took 2-30 ms, against a 0.5 ms pass that fills it (docs/performance.md,
"Memory"). A temporary taken from here is faulted in once per thread and reused.

A slot holds at most ``MAX_BYTES``; larger requests get fresh memory (a big volume's temporary
is not kept alive after its call). Every thread keeps its own slots, so a slot's array is valid
until the same thread takes that slot again: callers use it within one call and never return
it. :func:`release` frees the calling thread's slots.

Results that leave a call come from a pool too (:func:`result`, :func:`new_result`): memory of
earlier results that nothing references any more. An in-memory call's result of at least
``_config.RESULT_POOL_MIN_BYTES`` takes it (up to ``_config.RESULT_POOL_BYTES`` kept), and so do
a Dask worker's block results (a worker frees its block results as they are written out or
released, and its allocator returns them to the system, so the next block would fault its
pages in again). :func:`release_results` frees what the pool keeps
(``sigconv.empty_cpu_cache``).
"""

from __future__ import annotations

import sys
import threading

import numpy as np

from . import _config

MAX_BYTES = 64 * 2**20

_local = threading.local()


def _nbytes(shape, dtype) -> int:
    need = dtype.itemsize
    for n in shape:
        need *= int(n)
    return need


def take(slot: str, shape, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array of ``shape`` and ``dtype`` in ``slot``'s memory."""
    dtype = np.dtype(dtype)
    need = _nbytes(shape, dtype)
    if need > MAX_BYTES:
        return np.empty(shape, dtype=dtype)
    slots = getattr(_local, "slots", None)
    if slots is None:
        slots = _local.slots = {}
    entry = slots.get(slot)
    if entry is None or entry[0].size - entry[1] < need:
        buf = np.empty(max(need, 4096) + 64, dtype=np.uint8)
        # the view starts on a 64-byte boundary (whole cache lines), up to 63 bytes into the
        # buffer; kept with the buffer (reading ``ctypes.data`` took 5-10 us a call)
        entry = slots[slot] = (buf, -buf.__array_interface__["data"][0] % 64)
    buf, start = entry
    return buf[start : start + need].view(dtype).reshape(shape)


def release() -> int:
    """Free the calling thread's scratch memory; return its bytes."""
    slots = getattr(_local, "slots", None) or {}
    _local.slots = {}
    return sum(buf.size for buf, _ in slots.values())


# The pools' buffers (uint8), in use or free, least recently handed out first: the results of
# in-memory calls, and a ``distributed`` worker's block results (own limits: one must not drop
# the other's buffers to make room).
_pools: dict[str, list[np.ndarray]] = {"results": [], "dask": []}
_results = _pools["results"]
_results_lock = threading.Lock()


def _refs(pool, i) -> int:
    """``pool[i]``'s reference count as seen here, with no local name holding it (how a name
    is loaded, and so whether it counts, changed in CPython 3.14)."""
    return sys.getrefcount(pool[i])


def _free_refs():
    """What :func:`_refs` reads for a buffer nothing else references, measured on this
    interpreter; None where reference counts cannot tell (a free-threaded build), which turns
    the pools off."""
    is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
    if is_gil_enabled is not None and not is_gil_enabled():
        return None
    return _refs([np.empty(1, dtype=np.uint8)], 0)


_FREE_REFS = _free_refs()


def result(shape, dtype, limit: int, *, pool: str = "results") -> np.ndarray:
    """An uninitialised C-contiguous array of ``shape`` and ``dtype`` for a result the caller
    hands on, in the memory of an earlier result that is no longer referenced when there is
    one (of at most 1.25x the size); else new memory, kept in ``pool`` while it holds at most
    ``limit`` bytes (free buffers are dropped, least recently handed out first, to make room
    when that makes enough).

    A buffer is free when nothing but the pool references it: every array made from it holds
    a reference to it (numpy keeps the owner as ``base``), and so does every memoryview or
    pickle buffer of such an array.
    """
    dtype = np.dtype(dtype)
    return _pooled(shape, dtype, _nbytes(shape, dtype), limit, _pools[pool])


def _pooled(shape, dtype, need, limit, pool):
    if _FREE_REFS is None or not need or need > limit:
        return np.empty(shape, dtype=dtype)
    with _results_lock:
        best = -1
        held = 0
        free = 0
        for i in range(len(pool)):
            size = pool[i].size
            held += size
            if _refs(pool, i) == _FREE_REFS:
                free += size
                if need <= size <= need + need // 4 and (best < 0 or size < pool[best].size):
                    best = i
        if best >= 0:
            chosen = pool.pop(best)
            pool.append(chosen)  # now the most recently handed out
        elif held - free + need <= limit:
            i = 0
            while held + need > limit:  # least recently handed out first
                if _refs(pool, i) == _FREE_REFS:
                    held -= pool[i].size
                    del pool[i]
                else:
                    i += 1
            chosen = np.empty(need, dtype=np.uint8)
            pool.append(chosen)
        else:  # the buffers in use leave no room: fresh memory, outside the pool
            return np.empty(shape, dtype=dtype)
    return np.ndarray(shape, dtype, buffer=chosen)  # its base is the pool's buffer


def new_result(shape, dtype) -> np.ndarray:
    """``numpy.empty(shape, dtype)`` for a result of an in-memory call: from the pool of
    :func:`result` (``_config.RESULT_POOL_BYTES``) when it is at least
    ``_config.RESULT_POOL_MIN_BYTES``.

    Why: glibc hands out large blocks as fresh pages whenever its heap has been trimmed or its
    mmap threshold is low, and which happens depends on what else the process allocated. Next
    to PyTorch, every W2 call (a 16 MiB result) faulted 488 pages in and took 8.6-8.9 ms
    against 6.8 ms alone; from the pool, 6.9-7.2 ms (docs/performance.md, "Memory").
    """
    dtype = np.dtype(dtype)
    need = _nbytes(shape, dtype)
    if need < _config.RESULT_POOL_MIN_BYTES:
        return np.empty(shape, dtype=dtype)
    return _pooled(shape, dtype, need, _config.RESULT_POOL_BYTES, _results)


def result_copy(a: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``a`` (a view, or scratch memory) as a result: :func:`new_result`."""
    out = new_result(a.shape, a.dtype)
    out[...] = a
    return out


def release_results() -> int:
    """Drop the pools' free buffers (those in use live on with their arrays); return their
    bytes."""
    freed = 0
    with _results_lock:
        for pool in _pools.values():
            i = 0
            while i < len(pool):
                if _refs(pool, i) == _FREE_REFS:
                    freed += pool[i].size
                    del pool[i]
                else:
                    i += 1
    return freed

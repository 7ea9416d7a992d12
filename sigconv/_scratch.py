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

Results that leave a call are new arrays, except in a Dask worker's block tasks: there
:func:`result` hands out memory of earlier results that nothing references any more (a worker
frees its block results as they are written out or released, and its allocator returns them to
the system, so the next block would fault its pages in again). :func:`release_results` frees
what the pool holds.
"""

from __future__ import annotations

import sys
import threading

import numpy as np

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


def release() -> None:
    """Free the calling thread's scratch memory."""
    _local.slots = {}


_results: list[np.ndarray] = []  # the pool's buffers (uint8), in use or free
_results_lock = threading.Lock()
# references to a free buffer while result() looks at it: the pool's list, the loop variable
# and getrefcount's argument
_FREE_REFS = 3


def result(shape, dtype, limit: int) -> np.ndarray:
    """An uninitialised C-contiguous array of ``shape`` and ``dtype`` for a result the caller
    hands on, in the memory of an earlier result that is no longer referenced when there is
    one (of at most 1.25x the size); else new memory, kept in the pool while the pool holds at
    most ``limit`` bytes.

    A buffer is free when nothing but the pool references it: every array made from one of its
    views holds a reference to it (numpy keeps the owner as ``base``), and so does every
    memoryview or pickle buffer of such an array.
    """
    dtype = np.dtype(dtype)
    need = _nbytes(shape, dtype)
    with _results_lock:
        best = None
        held = 0
        for buf in _results:
            held += buf.size
            if need <= buf.size <= need + need // 4 and sys.getrefcount(buf) == _FREE_REFS:
                if best is None or buf.size < best.size:
                    best = buf
        if best is None and need and held + need <= limit:
            best = np.empty(need, dtype=np.uint8)
            _results.append(best)
    if best is None:
        return np.empty(shape, dtype=dtype)
    return best[:need].view(dtype).reshape(shape)


def release_results() -> None:
    """Drop the result pool (buffers still in use live on with their arrays)."""
    with _results_lock:
        _results.clear()

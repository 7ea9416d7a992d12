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
"""

from __future__ import annotations

import threading

import numpy as np

MAX_BYTES = 64 * 2**20

_local = threading.local()


def take(slot: str, shape, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array of ``shape`` and ``dtype`` in ``slot``'s memory."""
    dtype = np.dtype(dtype)
    n = 1
    for s in shape:
        n *= int(s)
    need = n * dtype.itemsize
    if need > MAX_BYTES:
        return np.empty(shape, dtype=dtype)
    slots = getattr(_local, "slots", None)
    if slots is None:
        slots = _local.slots = {}
    buf = slots.get(slot)
    # the view starts on a 64-byte boundary (whole cache lines), up to 63 bytes into the buffer
    if buf is None or buf.size - (-buf.ctypes.data % 64) < need:
        buf = slots[slot] = np.empty(max(need, 4096) + 64, dtype=np.uint8)
    start = -buf.ctypes.data % 64
    return buf[start : start + need].view(dtype).reshape(shape)


def release() -> None:
    """Free the calling thread's scratch memory."""
    _local.slots = {}

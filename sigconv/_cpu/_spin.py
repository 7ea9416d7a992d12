"""Waiting without sleeping: the native loops behind ``_threads``' hand-off.

A thread that sleeps (a futex: ``threading.Event``, a queue, the GIL's condition) and is woken
by another took 35-130 us to run again on the 2-core virtual machine (the idle vCPU halts and
the host must wake it; p90 400-700 us), about as long as a whole chunk of a small layer. So a
pool thread, after a job, watches a flag for a short while (``CPU_SPIN_US``) before it sleeps,
and the caller watches the helpers' exit flags before it sleeps. Both watch in these ``nogil``
functions, so the GIL is free while they wait. The GIL itself is such a sleep: a thread that
asks for it while another holds it sleeps on a condition until the holder lets go, and is
woken late. So a helper that sees a job waits a few microseconds more, without the GIL, for
the caller to enter its own first chunk (``exit_and_watch``'s ``grace``).

The flags are int64 cells of one array, 64 bytes apart (one cache line each), written with
release stores and read with acquire loads: LLVM atomics, which Numba does not expose, so the
two accessors are intrinsics. A plain load in the loop would be hoisted out of it.
"""

from __future__ import annotations

import platform
import sys

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

#: int64 cells between two flags (64 bytes: a cache line each, no false sharing).
STRIDE = 8

_X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")
_POSIX = sys.platform.startswith(("linux", "darwin", "freebsd"))


def _cell(context, builder, aryty, ary, idx):
    arr = context.make_array(aryty)(context, builder, ary)
    return cgutils.get_item_pointer(context, builder, aryty, arr, [idx], wraparound=False)


@intrinsic
def load_acquire(typingctx, arr, idx):
    """``arr[idx]`` (int64), as an atomic load with acquire ordering."""

    def codegen(context, builder, sig, args):
        ptr = _cell(context, builder, sig.args[0], args[0], args[1])
        return builder.load_atomic(ptr, "acquire", 8)

    return types.int64(arr, idx), codegen


@intrinsic
def store_release(typingctx, arr, idx, value):
    """``arr[idx] = value`` (int64), as an atomic store with release ordering."""

    def codegen(context, builder, sig, args):
        ptr = _cell(context, builder, sig.args[0], args[0], args[1])
        val = context.cast(builder, args[2], sig.args[2], types.int64)
        builder.store_atomic(val, ptr, "release", 8)
        return context.get_dummy_value()

    return types.none(arr, idx, value), codegen


@intrinsic
def cpu_relax(typingctx):
    """Give the core to any other thread that wants it (``sched_yield``; x86 ``pause`` where
    there is no such call), then come back: a waiting helper takes no time from PyTorch's
    threads, another process or the caller."""

    def codegen(context, builder, sig, args):
        if _POSIX:
            fnty = ir.FunctionType(ir.IntType(32), [])
            builder.call(cgutils.get_or_insert_function(builder.module, fnty, "sched_yield"), [])
        elif _X86:
            fnty = ir.FunctionType(ir.VoidType(), [])
            builder.call(
                cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse2.pause"), []
            )
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def cycles(typingctx):
    """The CPU's cycle counter (``rdtsc`` on x86; 0 where LLVM has none)."""

    def codegen(context, builder, sig, args):
        fnty = ir.FunctionType(ir.IntType(64), [])
        return builder.call(
            cgutils.get_or_insert_function(builder.module, fnty, "llvm.readcyclecounter"), []
        )

    return types.int64(), codegen


@njit(cache=True, nogil=True)
def ticks():
    """:func:`cycles`, callable from Python (to calibrate the ``busy`` limit)."""
    return cycles()


@njit(cache=True, nogil=True)
def _relax_was_short(busy):
    # Whether no other thread took the core during this yield. One that did (PyTorch's
    # spinning OpenMP worker, another process) would be slowed by more watching, and would
    # hold the core when a job comes; a sleeping thread is woken ahead of it instead.
    t0 = cycles()
    cpu_relax()
    return busy <= 0 or cycles() - t0 <= busy


@njit(cache=True, nogil=True)
def exit_and_watch(flags, mine, done, watch, seen, rounds, busy, grace):
    """Store ``done`` in cell ``mine`` (this thread is out of job ``done``), then wait until
    cell ``watch`` differs from ``seen``, for at most ``rounds`` yields and only while no
    yield took over ``busy`` cycles (0: no limit); return the cell.

    When the cell changed, keep spinning for ``grace`` more cycles before returning: the
    thread that changed it still holds the GIL until its own first kernel call has begun, and
    a thread that asks for a held GIL sleeps on its condition (``_threads``, "the hand-off").
    """
    if mine >= 0:
        store_release(flags, mine, done)
    for _ in range(rounds):
        cur = load_acquire(flags, watch)
        if cur != seen:
            t0 = cycles()
            while cycles() - t0 < grace:
                pass
            return cur
        if not _relax_was_short(busy):
            return cur
    return load_acquire(flags, watch)


@njit(cache=True, nogil=True)
def watch_exits(flags, cells, job, rounds, busy):
    """Wait until every cell in ``cells`` holds at least ``job``, for at most ``rounds``
    yields and only while no yield took over ``busy`` cycles; return whether they all do."""
    for _ in range(rounds + 1):
        out = True
        for c in cells:
            if load_acquire(flags, c) < job:
                out = False
                break
        if out:
            return True
        if not _relax_was_short(busy):
            return False
    return False

"""Running a kernel's tasks on several cores: chunks of tasks on a pool of Python threads, each
calling a ``nogil`` Numba function.

Why not ``prange`` here: Numba compiles a ``parallel=True`` function as a gufunc plus its caller,
and LLVM re-optimises and re-emits, in each of the two, every function they call (Numba links
callees into each caller's module and runs the full optimisation over the result). Around the
2-D correlation's row kernel, such a shell cost 3.0 s of a 6.5 s cold compile; threads calling
the compiled row kernel cost nothing to compile.

The thread count is Numba's (``numba.get_num_threads()``: ``NUMBA_NUM_THREADS``,
``numba.set_num_threads``), so one setting governs every sigconv CPU kernel.

The hand-off (docs/performance.md, "Threads"): the caller publishes a job (a sequence number in
a flag cell), works through the chunks itself and then waits for the helpers that joined. A
pool thread that has just finished a job watches the flag for ``_config.CPU_SPIN_US`` before
it sleeps on a condition, so the calls of a training step or a pipeline, which follow each
other within microseconds, find it awake; the caller likewise watches the helpers' exit flags
before it sleeps. The watching runs in ``nogil`` Numba loops (``_spin``): waking a sleeping
thread took 35-130 us on the 2-core virtual machine, as long as a small layer's chunk. A
helper that sees a job watches ``_config.CPU_GIL_GRACE_US`` more before it asks for the GIL,
which the caller holds until its own first chunk begins (a thread that asks for a held GIL
sleeps too).
"""

from __future__ import annotations

import itertools
import os
import threading
import time

import numpy as np

from .. import _config
from ._spin import STRIDE, exit_and_watch, ticks, watch_exits


class _Job:
    """One ``run_chunks`` call: the chunks still to claim and who took part."""

    def __init__(self, seq, kernel, args, nchunk, nhelpers):
        self.seq = seq
        self.kernel = kernel
        self.args = args
        self.nchunk = nchunk
        self.nhelpers = nhelpers
        self.claims = itertools.count()  # next() is atomic under the GIL
        self.errors = []
        self.joined = []  # flag cells of the helpers that took part
        self.waiting = False  # the caller sleeps on ``event`` (a chunk ran long)
        # made by the caller before it sets ``waiting`` (a helper sets it only when waiting):
        # an Event took 3.5 us, as long as the rest of a job's set-up
        self.event = None

    def work_off(self):
        for i in self.claims:
            if i >= self.nchunk:
                return
            try:
                self.kernel(i, self.nchunk, *self.args)
            except BaseException as exc:  # re-raised by the caller once every chunk is done
                self.errors.append(exc)


class _Pool:
    """The helper threads and their flags: cell 0 holds the latest job's number, cell
    ``STRIDE * (k + 1)`` the last job helper ``k`` is done with."""

    def __init__(self):
        import numba

        self.size = max(1, int(numba.config.NUMBA_NUM_THREADS) - 1)
        self.flags = np.zeros(STRIDE * (self.size + 1), dtype=np.int64)
        self.threads = []
        self.job = None
        self.seq = 0
        self.busy = threading.Lock()  # one job at a time; other callers run theirs alone
        self.cond = threading.Condition()
        self.sleepers = 0
        self.nudges = 0
        self.tids = [0] * self.size  # the helpers' thread ids (0: not started yet)
        self.avoided = [-1] * self.size  # the core each helper is kept off (-1: none)
        self.allowed = _allowed()
        self.rounds, self.busy_cycles, self.grace = _rounds(self.flags, _config.CPU_SPIN_US)

    def start(self, n):
        while len(self.threads) < min(n, self.size):
            t = threading.Thread(
                target=_serve,
                args=(self, len(self.threads)),
                name=f"sigconv-{len(self.threads)}",
                daemon=True,
            )
            t.start()
            self.threads.append(t)

    def nudge(self):
        """Wake the sleeping helpers to watch for a job: a call with one chunk does this, so
        that a helper is awake for the call with many that usually follows (a layer's padding
        before its kernel, a step's next layer)."""
        with self.cond:
            self.nudges += 1
            self.cond.notify_all()

    def keep_off(self, n):
        """Keep helpers ``0 .. n - 1`` off the calling thread's core (their own affinity: all
        the cores the process may use but this one), updated when the caller moved.

        Linux wakes a sleeping thread onto its waker's core when it counts the other vCPUs of
        a virtual machine as preempted rather than idle, and a helper sleeps after a pause and
        at every wait for the GIL. Woken beside the caller, which runs its chunks without
        yielding, the helper missed every job while the other core idled: on the 2-vCPU VM,
        LeNet conv2's forward pass took 257-280 us in every batch of calls after a 0.3 s pause
        (the helper joined 0-1 jobs of 20), against 180-190 before it and 251 on one thread.
        Kept off the caller's core: 189-214 us a batch after pauses, against 263-270
        (alternating processes, 12 batches each). Only the helpers' affinity changes; the
        caller and the process keep theirs."""
        allowed = self.allowed
        if allowed is None:
            return
        cpu = _current_cpu()
        for k in range(min(n, self.size)):
            if self.avoided[k] != cpu and self.tids[k]:
                try:
                    os.sched_setaffinity(self.tids[k], allowed - {cpu})
                except OSError:  # a container's policy may refuse: leave it
                    pass
                self.avoided[k] = cpu

    def publish(self, job):
        self.job = job
        self.flags[0] = job.seq
        if self.sleepers:
            with self.cond:
                self.cond.notify_all()

    def wait_for(self, job):
        """Return once every helper that joined ``job`` is out of it."""
        cells = np.array(job.joined, dtype=np.int64)
        if not len(cells) or watch_exits(self.flags, cells, job.seq, self.rounds, self.busy_cycles):
            return
        job.event = threading.Event()
        job.waiting = True
        # A helper sets the event after its last chunk, just before it stores its exit; the
        # timeout covers the event set before ``waiting`` was seen.
        while not watch_exits(self.flags, cells, job.seq, 50, self.busy_cycles):
            job.event.wait(0.001)
            job.event.clear()


def _rounds(flags, us):
    """``(rounds, busy, grace)``: how many yields of ``exit_and_watch`` take about ``us``
    microseconds, and the cycles of ``_config.CPU_SPIN_BUSY_US`` and of
    ``_config.CPU_GIL_GRACE_US`` (0 where there is no cycle counter)."""
    grace_us = _config.CPU_GIL_GRACE_US
    if us <= 0:
        return 0, 0, 0
    probe = 2_000
    seen = int(flags[0])  # no job comes while the pool is being built: the watch times out
    exit_and_watch(flags, -1, 0, 0, seen, 10, 0, 0)  # compiled (or loaded) before timing
    c0, t0 = ticks(), time.perf_counter()
    exit_and_watch(flags, -1, 0, 0, seen, probe, 0, 0)
    elapsed = max((time.perf_counter() - t0) * 1e6, 1.0)
    per_us = max(0.0, (ticks() - c0) / elapsed)
    rounds = max(1, int(us * probe / elapsed))
    return rounds, int(_config.CPU_SPIN_BUSY_US * per_us), int(grace_us * per_us)


def _serve(pool, k):
    flags = pool.flags
    mine = STRIDE * (k + 1)
    seen = 0
    pool.tids[k] = threading.get_native_id()
    while True:
        cur = exit_and_watch(flags, mine, seen, 0, seen, pool.rounds, pool.busy_cycles, pool.grace)
        if cur == seen:
            with pool.cond:
                pool.sleepers += 1
                nudged = pool.nudges
                while int(flags[0]) == seen and pool.nudges == nudged:
                    pool.cond.wait()
                pool.sleepers -= 1
            cur = int(flags[0])
            if cur == seen:  # nudged: watch again
                continue
        seen = cur
        job = pool.job
        if job is None or job.seq != cur or k >= job.nhelpers:
            continue
        job.joined.append(mine)  # before claiming: the caller waits for the cells it sees
        job.work_off()
        if job.waiting:
            job.event.set()


def _cpu_reader():
    """glibc's ``sched_getcpu`` (about 0.1 us through ctypes), or None where there is none."""
    try:
        import ctypes

        fn = ctypes.CDLL(None).sched_getcpu
    except (AttributeError, OSError):
        return None
    fn.restype = ctypes.c_int
    fn.argtypes = []
    return fn


_getcpu = _cpu_reader() if hasattr(os, "sched_setaffinity") else None


def _current_cpu() -> int:
    """The core the calling thread runs on, or -1 where that cannot be read."""
    return int(_getcpu()) if _getcpu is not None else -1


def _allowed():
    """The cores the calling thread may run on, or None where that cannot be read or there is
    only one."""
    try:
        cores = frozenset(os.sched_getaffinity(0)) if _getcpu is not None else frozenset()
    except OSError:
        return None
    return cores if len(cores) > 1 else None


_pool: _Pool | None = None
_pool_lock = threading.Lock()


def _get_pool() -> _Pool:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = _Pool()
        return _pool


def _forget_pool() -> None:
    # A forked child has none of the parent's threads: start a new pool on first use.
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def run_chunks(kernel, work: float, *args) -> None:
    """Call ``kernel(chunk, nchunk, *args)`` for ``chunk = 0 .. nchunk - 1``, in parallel.

    The kernel does the ``chunk``-th of ``nchunk`` equal parts of its tasks (each kernel knows
    how it splits: ``range(chunk * ntask // nchunk, (chunk + 1) * ntask // nchunk)``).
    ``work`` is the problem's total number of multiply-adds (or elements moved): there are at
    most ``_config.CPU_CHUNKS_PER_THREAD * threads`` chunks, each of at least
    ``_config.CPU_MIN_CHUNK_WORK``, and the calling thread and up to ``threads - 1`` pool
    threads take them in order until none is left (a thread slowed by a busy core takes
    fewer). Every chunk has run when this returns;
    an exception from any chunk is raised then. While another thread's call holds the pool
    (or from inside a chunk), the chunks run on the calling thread alone.
    """
    import numba

    threads = int(numba.get_num_threads())
    most = _config.CPU_CHUNKS_PER_THREAD * threads
    nchunk = int(min(most, max(1.0, work / _config.CPU_MIN_CHUNK_WORK)))
    if threads <= 1 or nchunk <= 1:
        if threads > 1 and _pool is not None and _pool.sleepers:
            _pool.nudge()
        kernel(0, 1, *args)
        return
    pool = _get_pool()
    if not pool.busy.acquire(blocking=False):
        job = _Job(0, kernel, args, nchunk, 0)
        job.work_off()
    else:
        try:
            pool.start(threads - 1)
            pool.keep_off(threads - 1)
            pool.seq += 1
            job = _Job(pool.seq, kernel, args, nchunk, min(threads, nchunk) - 1)
            pool.publish(job)
            job.work_off()
            # Wait for the helpers that took part, not for the others: one that wakes after
            # the caller took every chunk finds none and touches nothing.
            pool.wait_for(job)
        finally:
            job.args = None  # a late helper must not keep the arrays alive
            pool.job = None
            pool.busy.release()
    if job.errors:
        raise job.errors[0]

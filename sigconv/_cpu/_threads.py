"""Running a kernel's tasks on several cores: chunks of tasks on a pool of Python threads, each
calling a ``nogil`` Numba function.

Why not ``prange`` here: Numba compiles a ``parallel=True`` function as a gufunc plus its caller,
and LLVM re-optimises and re-emits, in each of the two, every function they call (Numba links
callees into each caller's module and runs the full optimisation over the result). Around the
2-D correlation's row kernel, such a shell cost 3.0 s of a 6.5 s cold compile; threads calling
the compiled row kernel cost nothing to compile and about 20 us per call.

The thread count is Numba's (``numba.get_num_threads()``: ``NUMBA_NUM_THREADS``,
``numba.set_num_threads``), so one setting governs every sigconv CPU kernel. Idle pool threads
wait on a queue; they never spin.
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from .. import _config

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_lock = threading.Lock()


def _executor(n: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < n:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="sigconv")
            _pool_size = n
        return _pool


def _forget_pool() -> None:
    # A forked child has none of the parent's threads: start a new pool on first use.
    global _pool, _pool_size, _lock
    _pool, _pool_size, _lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def run_chunks(kernel, work: float, *args) -> None:
    """Call ``kernel(chunk, nchunk, *args)`` for ``chunk = 0 .. nchunk - 1``, in parallel.

    The kernel does the ``chunk``-th of ``nchunk`` equal parts of its tasks (each kernel knows
    how it splits: ``range(chunk * ntask // nchunk, (chunk + 1) * ntask // nchunk)``).
    ``work`` is the problem's total number of multiply-adds (or elements moved): there are at
    most ``4 * threads`` chunks, each of at least ``_config.CPU_MIN_CHUNK_WORK``, and the
    calling thread and ``threads - 1`` pool threads take them in order until none is left (a
    thread slowed by a busy core takes fewer).
    """
    import numba

    threads = int(numba.get_num_threads())
    nchunk = int(min(4 * threads, max(1.0, work / _config.CPU_MIN_CHUNK_WORK)))
    if threads <= 1 or nchunk <= 1:
        kernel(0, 1, *args)
        return
    claims = itertools.count()  # next() is atomic under the GIL
    finished = itertools.count()
    done = threading.Event()  # set by whoever finishes the last chunk
    errors = []
    job = [args]  # emptied on return: a late pool job must not keep the arrays alive

    def work_off():
        for i in claims:
            if i >= nchunk:
                return
            try:
                kernel(i, nchunk, *job[0])
            except BaseException as exc:  # re-raised by the caller once every chunk is done
                errors.append(exc)
            finally:
                if next(finished) == nchunk - 1:
                    done.set()

    pool = _executor(threads - 1)
    for _ in range(min(threads, nchunk) - 1):
        pool.submit(work_off)
    work_off()
    # Wait for the chunks pool threads took, not for the threads themselves: a pool thread
    # that wakes after the caller took every chunk finds none and touches nothing. Waking a
    # thread took about 35 us on the 2-core machine (a 2-chunk call cost 70 us when the caller
    # also waited for a helper that had nothing left to do).
    done.wait()
    job[0] = None
    if errors:
        raise errors[0]

"""Matrix products on sigconv's thread pool with single-threaded BLAS: one pool does all the
work (docs/performance.md, "Threads").

Why: OpenBLAS's worker threads spin (``sched_yield`` loops) while they wait, and a
multi-threaded GEMM waits for every one of its threads. When another busy thread holds a core
(sigconv's own pool between two GEMMs of a training step, another process, a Dask worker on
the same cores), the GEMM waits for a descheduled partner: on the 2-core machine with one
other busy process, a LeNet-5 epoch took 5-15 s with OpenBLAS's 2 threads and 1.2 s with one.

How: inside :func:`one_pool`, BLAS is limited to one thread (threadpoolctl, restored on exit:
the pattern scikit-learn's KMeans uses around its own parallel loops) and :func:`matmul`
splits each product's columns over sigconv's pool, so the cores run one thread each and none
spins. ``Sequential.train_step``/``predict`` and every estimator method run inside it.
Outside it :func:`matmul` is
``numpy.matmul`` with BLAS's own threads, and no process-wide setting is touched.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

from ._threads import run_chunks

_state = threading.local()
_controller = None
_controller_lock = threading.Lock()


def _blas_pools():
    """threadpoolctl's BLAS libraries of this process (looked up once: about 5 ms)."""
    global _controller
    with _controller_lock:
        if _controller is None:
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController()
        return _controller.select(user_api="blas")


@contextlib.contextmanager
def one_pool():
    """For the duration: BLAS single-threaded, and :func:`matmul` split over sigconv's pool
    (re-entrant; about 13 us to enter and leave)."""
    if getattr(_state, "on", False):
        yield
        return
    with _blas_pools().limit(limits=1):
        _state.on = True
        try:
            yield
        finally:
            _state.on = False


def matmul(a, b, out):
    """``numpy.matmul(a, b, out=out)``; inside :func:`one_pool`, one single-threaded product
    per chunk of ``out``'s last axis, the chunks on sigconv's pool (numpy releases the GIL
    during the BLAS call)."""
    if not getattr(_state, "on", False):
        return np.matmul(a, b, out=out)
    # A GEMM chunk must be large to beat its hand-off (about 20 us): count 16 multiply-adds
    # as one, so a chunk holds at least 4M (LeNet's 16 x 150 x 6400 product: 3 chunks, not 8).
    run_chunks(_columns, out.size * a.shape[-1] / 16, a, b, out)
    return out


def _columns(chunk, nchunk, a, b, out):
    n = out.shape[-1]
    lo, hi = chunk * n // nchunk, (chunk + 1) * n // nchunk
    if lo < hi:
        np.matmul(a, b[..., lo:hi], out=out[..., lo:hi])

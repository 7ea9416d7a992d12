"""Thread limits for the estimators (and the command line): Numba's and the BLAS's threads.

Every estimator method runs with BLAS single-threaded and its products on sigconv's pool
(``sigconv._cpu._blas.one_pool``), whatever ``n_threads`` says."""

from __future__ import annotations

import contextlib
import functools
import numbers
import sys

import numpy as np
from threadpoolctl import threadpool_limits

__all__ = ["limited", "thread_limit"]


@contextlib.contextmanager
def thread_limit(n):
    """Limit Numba's and the BLAS's threads to ``n`` for the duration (None: no change)."""
    if n is None:
        yield
        return
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    try:
        with threadpool_limits(n):
            yield
    finally:
        numba.set_num_threads(before)


def limited(method):
    """Run an estimator method under the estimator's ``n_threads`` limit (an invalid value sets
    no limit here: parameter validation inside the method reports it)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        n = self.n_threads
        valid = n is None or (
            isinstance(n, (numbers.Integral, np.integer)) and not isinstance(n, bool) and n >= 1
        )
        n = n if valid else None
        if n is None and "dask" in sys.modules:  # in a Dask task: docs/contract.md §5
            from .. import _dask

            n = _dask.task_threads()
        from .._cpu import _blas

        # one pool: BLAS single-threaded, its products split over sigconv's threads
        with thread_limit(n), _blas.one_pool():
            return method(self, *args, **kwargs)

    return wrapper

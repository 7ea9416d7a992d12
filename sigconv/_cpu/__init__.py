"""The CPU backend: Numba kernels behind one interface, the same as ``sigconv._cuda``'s.

Every operation is a function ``name(plan, arrays...)`` taking a plan from ``sigconv._geometry``
(built and validated once by the public front end) and host arrays of ``plan.dtype``;
``tests/test_backends.py`` checks that both backends export the same names with the same
signatures. Modules: ``correlation`` (signal API driver) over ``correlate_rows`` and
``correlate_split`` (the two kernel families); ``convolution`` (CNN convolution driver) over
``conv_im2col`` and ``conv_direct``; ``pooling`` over ``pool_kernels``; ``_threads`` (the
chunked thread pool every kernel runs on), ``_blas`` (GEMMs on that pool with single-threaded
BLAS, in the estimators) and ``_nrt`` (reference-count-free array views).
Private: kernels assume validated, native, C-contiguous input.
"""

from .convolution import conv, conv_backward, conv_transpose
from .correlation import correlate
from .pooling import (
    avg_pool,
    avg_pool_backward,
    global_avg_pool,
    global_avg_pool_backward,
    global_max_pool,
    global_max_pool_backward,
    lp_pool,
    lp_pool_backward,
    max_pool,
    max_pool_backward,
    spectral_pool,
    spectral_pool_backward,
    stochastic_pool,
    stochastic_pool_backward,
)

__all__ = [
    "avg_pool",
    "avg_pool_backward",
    "conv",
    "conv_backward",
    "conv_transpose",
    "correlate",
    "global_avg_pool",
    "global_avg_pool_backward",
    "global_max_pool",
    "global_max_pool_backward",
    "lp_pool",
    "lp_pool_backward",
    "max_pool",
    "max_pool_backward",
    "spectral_pool",
    "spectral_pool_backward",
    "stochastic_pool",
    "stochastic_pool_backward",
]

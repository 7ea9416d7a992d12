"""The CUDA backend: numba.cuda kernels behind the interface of ``sigconv._cpu``.

Every operation is a function ``name(plan, arrays...)`` with the signature of its ``_cpu`` twin
(``tests/test_backends.py``), taking host arrays of ``plan.dtype`` or the caller's device arrays
(Numba, CuPy, PyTorch; never copied to the host) and returning device arrays when an operand
lives on the device. Modules: ``correlation``, ``convolution`` and ``pooling`` (the interface,
named like their ``_cpu`` twins) over ``conv_kernels``, ``igemm`` (implicit-GEMM convolution)
and ``pool_kernels``; ``dense`` and ``elementwise`` (the layers the CPU runs in NumPy/BLAS);
``common`` (device views, launch geometry, the int32 limit, the boundary rule on the device),
``memory`` (the caching allocator) and ``ptx`` (PTX and ptxas checks of every kernel).

Imported only when a backend resolves to ``"cuda"``, so ``import sigconv`` never needs
numba-cuda or a GPU.
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

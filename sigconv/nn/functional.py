"""Neural-network operations on ``(N, C, *spatial)`` arrays, PyTorch-compatible.

The behaviour is docs/contract.md §2.

This module only gathers the public functions; convolutions live in ``_conv`` and pooling in
``_pool``.
"""

from ._conv import conv, conv_backward, conv_transpose
from ._pool import (
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

__all__: list[str] = []
__all__ += ["conv", "conv_backward", "conv_transpose"]
__all__ += [
    "avg_pool",
    "avg_pool_backward",
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

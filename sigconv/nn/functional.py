"""Neural-network operations on ``(N, C, *spatial)`` arrays, PyTorch-compatible.

The behaviour is docs/contract.md §2.

This module only gathers the public functions; convolutions live in ``_conv``, pooling in
``_pool``, the fully connected layer in ``_dense`` and activations and dropout in
``_activation``.
"""

from ._activation import (
    dropout,
    dropout_backward,
    leaky_relu,
    leaky_relu_backward,
    relu,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    softmax,
    softmax_backward,
    tanh,
    tanh_backward,
)
from ._conv import conv, conv_backward, conv_transpose
from ._dense import linear, linear_backward
from ._pool import (
    avg_pool,
    avg_pool_backward,
    lp_pool,
    lp_pool_backward,
    max_pool,
    max_pool_backward,
    stochastic_pool,
    stochastic_pool_backward,
)
from ._pool_whole import (
    global_avg_pool,
    global_avg_pool_backward,
    global_max_pool,
    global_max_pool_backward,
    spectral_pool,
    spectral_pool_backward,
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
__all__ += ["linear", "linear_backward"]
__all__ += [
    "dropout",
    "dropout_backward",
    "leaky_relu",
    "leaky_relu_backward",
    "relu",
    "relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "softmax",
    "softmax_backward",
    "tanh",
    "tanh_backward",
]

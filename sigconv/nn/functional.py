"""Neural-network operations on ``(N, C, *spatial)`` arrays, PyTorch-compatible (DESIGN 1.2).

This module only gathers the public functions; convolutions live in ``_conv`` and pooling in
``_pool``.
"""

from ._conv import conv, conv_backward, conv_transpose

__all__: list[str] = []
__all__ += ["conv", "conv_backward", "conv_transpose"]

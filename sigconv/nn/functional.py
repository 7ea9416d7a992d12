"""Neural-network operations on ``(N, C, *spatial)`` arrays, PyTorch-compatible (DESIGN 1.2).

This module only gathers the public functions; convolutions live in ``_conv`` and pooling in
``_pool``.
"""

__all__: list[str] = []

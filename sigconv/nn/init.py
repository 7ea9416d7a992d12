"""Seeded weight initialisation: He (Kaiming) for ReLU nets and Glorot (Xavier), PyTorch's fans.

For a weight of shape ``(out, in, *kernel)`` (Conv: ``(C_out, C_in // groups, *k)``; Dense:
``(out_features, in_features)``) the fans are ``fan_in = in * prod(kernel)`` and
``fan_out = out * prod(kernel)``, as in ``torch.nn.init``. Every function draws from the numpy
``Generator`` it is given, so the same generator state gives the same weights.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "INITIALIZERS",
    "fans",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "initialize",
]


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of ``shape`` (at least 2-D), PyTorch's rule.

    Examples
    --------
    >>> from sigconv.nn import init
    >>> init.fans((16, 6, 5, 5))  # a conv weight: (C_out, C_in, kH, kW)
    (150, 400)
    >>> init.fans((84, 120))  # a dense weight: (out, in)
    (120, 84)
    """
    if len(shape) < 2:
        raise ValueError(f"shape must have at least 2 dimensions for fans; got {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def he_normal(shape, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """Normal with std ``sqrt(2 / fan_in)`` (Kaiming normal, gain of ReLU).

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import init
    >>> w = init.he_normal((64, 32, 3, 3), np.random.default_rng(0))
    >>> w.dtype, round(float(w.std() * np.sqrt(32 * 9 / 2)), 1)  # std sqrt(2 / fan_in)
    (dtype('float32'), 1.0)
    """
    fan_in, _ = fans(tuple(shape))
    return (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(dtype)


def he_uniform(shape, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """Uniform on ``[-b, b]`` with ``b = sqrt(6 / fan_in)`` (Kaiming uniform, gain of ReLU).

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import init
    >>> w = init.he_uniform((64, 32, 3, 3), np.random.default_rng(0))
    >>> bool(np.abs(w).max() <= np.float32(np.sqrt(6 / (32 * 9))))  # bound sqrt(6 / fan_in)
    True
    """
    fan_in, _ = fans(tuple(shape))
    bound = math.sqrt(6.0 / fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def glorot_normal(shape, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """Normal with std ``sqrt(2 / (fan_in + fan_out))`` (Xavier normal).

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import init
    >>> w = init.glorot_normal((200, 300), np.random.default_rng(0), dtype=np.float64)
    >>> w.dtype, round(float(w.std() * np.sqrt((200 + 300) / 2)), 1)  # std sqrt(2 / fans)
    (dtype('float64'), 1.0)
    """
    fan_in, fan_out = fans(tuple(shape))
    return (rng.standard_normal(shape) * math.sqrt(2.0 / (fan_in + fan_out))).astype(dtype)


def glorot_uniform(shape, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """Uniform on ``[-b, b]`` with ``b = sqrt(6 / (fan_in + fan_out))`` (Xavier uniform).

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import init
    >>> w = init.glorot_uniform((200, 300), np.random.default_rng(0))
    >>> bool(np.abs(w).max() <= np.float32(np.sqrt(6 / 500)))  # bound sqrt(6 / (fan_in + fan_out))
    True
    """
    fan_in, fan_out = fans(tuple(shape))
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


INITIALIZERS = {
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "glorot_normal": glorot_normal,
    "glorot_uniform": glorot_uniform,
}


def initialize(name: str, shape, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """The weights of initialiser ``name`` (one of :data:`INITIALIZERS`).

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import init
    >>> sorted(init.INITIALIZERS)
    ['glorot_normal', 'glorot_uniform', 'he_normal', 'he_uniform']
    >>> init.initialize("he_uniform", (4, 3), np.random.default_rng(0)).shape
    (4, 3)
    """
    if name not in INITIALIZERS:
        raise ValueError(f"weight_init must be one of {sorted(INITIALIZERS)}; got {name!r}")
    return INITIALIZERS[name](tuple(shape), rng, dtype)

"""Pooling over whole planes: spectral pooling (Rippel et al. 2015) and global average / max
pooling, forward and backward, on ``(N, C, *spatial)`` arrays (docs/contract.md §2); the
windowed kinds are in ``_pool``.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _backend, _geometry, _validate
from ._pool_args import (
    checked_output_size,
    compute_dtype,
    pooled_input,
    run,
)

__all__ = [
    "global_avg_pool",
    "global_avg_pool_backward",
    "global_max_pool",
    "global_max_pool_backward",
    "spectral_pool",
    "spectral_pool_backward",
]


# --- spectral pooling ------------------------------------------------------------------------


def spectral_pool(x, output_size, *, backend="auto"):
    """Spectral pooling (Rippel et al. 2015): keep the lowest frequencies of each plane.

    Per spatial axis of length ``n`` pooled to ``m``: real DFT, keep the frequencies
    ``|f| < m / 2`` (the centred ``m``-crop of the shifted spectrum); when ``m`` is even and
    smaller than ``n`` the output's Nyquist bin is the mean of the input's ``+m/2`` and
    ``-m/2`` bins (its real part), which keeps the result real and the map linear (and real
    linear maps per axis compose into the N-D crop). The inverse DFT at size ``m`` is scaled by
    ``m / n``, so a constant stays constant and a band-limited signal (no energy at
    ``|f| >= m / 2``) comes out resampled exactly. ``output_size`` equal to the input size is
    the identity.

    Parameters
    ----------
    x : array_like, shape ``(N, C, *spatial)``
    output_size : int or tuple of int
        Output spatial shape, at most the input's in every axis.
    backend : {"auto", "cpu", "cuda"}

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> x = np.ones((2, 3, 32, 32))
    >>> y = F.spectral_pool(x, (12, 12))  # any output size
    >>> y.shape
    (2, 3, 12, 12)
    >>> bool(np.allclose(y, 1.0))  # a constant stays constant
    True
    """
    x = pooled_input(x)
    plan = _geometry.whole_plan(
        x.shape, compute_dtype(x), checked_output_size(output_size, x.shape[2:])
    )
    return run(backend, "spectral_pool", plan, x)


def spectral_pool_backward(grad_out, x, output_size, *, backend="auto"):
    """Gradient of :func:`spectral_pool`: its adjoint (transpose) linear map.

    ``x`` may be the forward's input or just its shape (a tuple); per axis the adjoint is a
    DFT of size ``m``, zero-padding of the spectrum to size ``n`` (an even ``m``'s Nyquist bin
    split in halves between ``+m/2`` and ``-m/2``) and an inverse DFT of size ``n``.

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> x = np.ones((1, 1, 16, 16))
    >>> F.spectral_pool_backward(np.ones((1, 1, 8, 8)), x, (8, 8)).shape
    (1, 1, 16, 16)
    """
    g = _validate.operand(grad_out, "grad_out")
    if isinstance(x, tuple):
        shape = tuple(x)
        if not (3 <= len(shape) <= 5) or not all(
            isinstance(v, (numbers.Integral, np.integer)) and v >= 1 for v in shape
        ):
            raise ValueError(
                f"x must be an array or a shape tuple (N, C, *spatial) of positive ints with 1 "
                f"to 3 spatial axes; got {shape!r}"
            )
        shape, dtype = tuple(int(v) for v in shape), compute_dtype(g)
    else:
        xo = pooled_input(x)
        shape, dtype = xo.shape, compute_dtype(g, xo)
    plan = _geometry.whole_plan(shape, dtype, checked_output_size(output_size, shape[2:]))
    g = _validate.check_shape(g, plan.out_shape, "grad_out")
    return run(backend, "spectral_pool_backward", plan, g)


# --- global pooling --------------------------------------------------------------------------


def global_avg_pool(x, *, backend="auto"):
    """Mean over every spatial axis: ``(N, C, *spatial) -> (N, C, 1, ..., 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> F.global_avg_pool(x)
    array([[[[7.5]]]])
    >>> F.global_avg_pool(np.ones((2, 5, 3, 4, 6))).shape  # 3-D: one value per channel
    (2, 5, 1, 1, 1)
    """
    x = pooled_input(x)
    return run(backend, "global_avg_pool", _geometry.whole_plan(x.shape, compute_dtype(x)), x)


def global_avg_pool_backward(grad_out, x, *, backend="auto"):
    """Gradient of :func:`global_avg_pool`: ``grad_out / prod(spatial)`` in every position.

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> F.global_avg_pool_backward(np.ones((1, 1, 1, 1)), x)[0, 0, 0]
    array([0.0625, 0.0625, 0.0625, 0.0625])
    """
    x = pooled_input(x)
    g = _validate.operand(grad_out, "grad_out")
    plan = _geometry.whole_plan(x.shape, compute_dtype(x, g))
    g = _validate.check_shape(g, plan.out_shape, "grad_out")
    ops = _backend.select(backend, g.array, x.array)
    return ops.global_avg_pool_backward(plan, g.compute(plan.dtype))


def global_max_pool(x, *, backend="auto"):
    """Max over every spatial axis: ``(N, C, *spatial) -> (N, C, 1, ..., 1)`` (NaN wins).

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> F.global_max_pool(x)
    array([[[[15.]]]])
    """
    x = pooled_input(x)
    return run(backend, "global_max_pool", _geometry.whole_plan(x.shape, compute_dtype(x)), x)


def global_max_pool_backward(grad_out, x, *, backend="auto"):
    """Gradient of :func:`global_max_pool`: all of it to the first maximum of each plane.

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> F.global_max_pool_backward(np.ones((1, 1, 1, 1)), x)[0, 0]  # all to the maximum
    array([[0., 0., 0., 0.],
           [0., 0., 0., 0.],
           [0., 0., 0., 0.],
           [0., 0., 0., 1.]])
    """
    x = pooled_input(x)
    g = _validate.operand(grad_out, "grad_out")
    plan = _geometry.whole_plan(x.shape, compute_dtype(x, g))
    g = _validate.check_shape(g, plan.out_shape, "grad_out")
    return run(backend, "global_max_pool_backward", plan, g, x)

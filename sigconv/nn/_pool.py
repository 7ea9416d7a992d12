"""Pooling on ``(N, C, *spatial)`` arrays (1-3 spatial axes), forward and backward.

The behaviour is docs/contract.md §2.

Max, average and Lp pooling follow ``torch.nn.functional`` (argument names, defaults, output
sizes including ``ceil_mode``, padding limits, tie and NaN rules, index layout). Stochastic
pooling (Zeiler & Fergus 2013) and spectral pooling (Rippel et al. 2015) have no PyTorch
counterpart; their conventions are documented on each function. Every backward function takes
the forward's arguments and returns the gradient with respect to ``x``.

float32 in gives float32 out; float64 stays float64; bool and integer inputs are computed in
float64. Inputs are never modified and any layout is accepted.

Each function validates its operands (``_validate.operand``: host or device), plans the call
(``_geometry.pool_plan``: window geometry, output size and the kind's options, validated once)
and calls the function of the same name of the backend ``_backend.select`` picks, with the plan
and the arrays in the compute dtype.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _backend, _geometry, _validate

__all__ = [
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


# --- validation ------------------------------------------------------------------------------


def _x(x, name: str = "x") -> _validate.Operand:
    """The pooled input: a non-empty ``(N, C, *spatial)`` array with 1 to 3 spatial axes."""
    return _validate.operand(x, name, min_ndim=3, max_ndim=5)


def _grad(grad_out, plan, name="grad_out") -> _validate.Operand:
    return _validate.check_shape(_validate.operand(grad_out, name), plan.out_shape, name)


def _indices(indices, plan, name="indices") -> _validate.Operand:
    """Host indices: integer dtype, the output's shape, flat indices inside one plane (int64).
    Device indices are checked for shape only (their values stay on the device; the kernels
    ignore an index out of range rather than write out of bounds)."""
    op = _validate.check_shape(_validate.operand(indices, name), plan.out_shape, name)
    if op.dtype.kind not in "iu":
        raise TypeError(f"{name} must have an integer dtype; got dtype {op.dtype}")
    if op.on_device:
        return op
    lo, hi = int(op.array.min()), int(op.array.max())
    if lo < 0 or hi >= plan.plane:
        raise ValueError(
            f"{name} must be flat indices into each (n, c) spatial plane, in [0, {plan.plane}); "
            f"got values in [{lo}, {hi}]"
        )
    return op._replace(array=_validate.to_compute(op.array, np.int64))


def _run(backend, name, plan, *operands, **options):
    """The one dispatch: ``plan`` and the operands (compute dtype; indices int64) to the
    backend's function ``name``."""
    ops = _backend.select(backend, *(op.array for op in operands if op is not None))
    arrays = [None if op is None else op.compute(plan.dtype) for op in operands]
    return getattr(ops, name)(plan, *arrays, **options)


def _divisor(divisor_override):
    if divisor_override is None:
        return None
    if not isinstance(divisor_override, (numbers.Integral, np.integer)) or isinstance(
        divisor_override, (bool, np.bool_)
    ):
        raise TypeError(
            f"divisor_override must be None or a non-zero int; got {divisor_override!r} "
            f"(type {type(divisor_override).__name__})"
        )
    if divisor_override == 0:
        raise ValueError("divisor_override must be None or a non-zero int; got 0")
    return int(divisor_override)


def _norm_type(norm_type) -> float:
    p = _validate.check_float(norm_type, "norm_type", finite=False)
    if np.isnan(p) or p == 0.0:
        raise ValueError(f"norm_type must be a non-zero number or +-inf; got {norm_type!r}")
    return p


def _max_plan(shape, dtype, kernel_size, stride, padding, dilation, ceil_mode):
    return _geometry.pool_plan(
        shape, dtype, kernel_size, stride, padding, dilation, ceil_mode, check_windows=True
    )


def _avg_plan(
    shape, dtype, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
):
    return _geometry.pool_plan(
        shape, dtype, kernel_size, stride, padding, 1, ceil_mode,
        count_include_pad=_geometry.check_bool(count_include_pad, "count_include_pad"),
        divisor=_divisor(divisor_override),
    )  # fmt: skip


def _lp_plan(shape, dtype, norm_type, kernel_size, stride, ceil_mode):
    p = _norm_type(norm_type)
    return _geometry.pool_plan(shape, dtype, kernel_size, stride, 0, 1, ceil_mode, norm_type=p)


def _stoch_plan(shape, dtype, kernel_size, stride, training):
    training = _geometry.check_bool(training, "training")
    return _geometry.pool_plan(shape, dtype, kernel_size, stride, 0, 1, False, training=training)


def _output_size(output_size, spatial) -> tuple[int, ...]:
    out = _validate.int_tuple(output_size, "output_size", len(spatial))
    if any(o > n for o, n in zip(out, spatial)):
        raise ValueError(
            f"output_size must not exceed the input's spatial shape {tuple(spatial)} in any "
            f"axis; got {out}"
        )
    return out


def _dtype(*operands):
    return _validate.compute_dtype(*operands)


# --- max pooling -----------------------------------------------------------------------------


def max_pool(
    x,
    kernel_size,
    stride=None,
    padding=0,
    *,
    dilation=1,
    ceil_mode=False,
    return_indices=False,
    backend="auto",
):
    """Max pooling over 1, 2 or 3 spatial axes, as ``torch.nn.functional.max_pool{1,2,3}d``.

    Parameters
    ----------
    x : array_like, shape ``(N, C, *spatial)``
        Input with 1 to 3 spatial axes.
    kernel_size : int or tuple of int
        Window size per spatial axis.
    stride : int or tuple of int, optional
        Step per axis; defaults to ``kernel_size``.
    padding : int or tuple of int
        Implicit ``-inf`` padding on both sides, at most ``kernel_size // 2`` per axis.
    dilation : int or tuple of int
        Spacing between window taps.
    ceil_mode : bool
        Use ceil instead of floor for the output size; as in PyTorch a last window that would
        start in the right padding is dropped.
    return_indices : bool
        Also return the argmax of every window as a flat index into its ``(n, c)`` spatial
        plane (int64, PyTorch's layout). Ties pick the first element in scan order; a NaN in
        a window wins (the last NaN in scan order).
    backend : {"auto", "cpu", "cuda"}

    Returns
    -------
    y : ndarray, shape ``(N, C, *out_spatial)``
    indices : ndarray of int64, same shape as ``y`` (only with ``return_indices=True``)

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> F.max_pool(x, 2)
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    >>> y, indices = F.max_pool(x, 2, return_indices=True)
    >>> indices  # flat positions in each 4 x 4 plane
    array([[[[ 5,  7],
             [13, 15]]]])
    >>> F.max_pool(x, 3, stride=1, padding=1).shape
    (1, 1, 4, 4)
    """
    x = _x(x)
    plan = _max_plan(x.shape, _dtype(x), kernel_size, stride, padding, dilation, ceil_mode)
    return_indices = _geometry.check_bool(return_indices, "return_indices")
    return _run(backend, "max_pool", plan, x, return_indices=return_indices)


def max_pool_backward(
    grad_out,
    x,
    indices,
    kernel_size,
    stride=None,
    padding=0,
    *,
    dilation=1,
    ceil_mode=False,
    backend="auto",
):
    """Gradient of :func:`max_pool` with respect to ``x``.

    ``indices`` are the ones ``max_pool(..., return_indices=True)`` returned; each output's
    gradient goes to the input element its index names (summed where windows overlap).
    The pooling arguments are checked against the shapes of ``grad_out`` and ``indices``.

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> y, indices = F.max_pool(x, 2, return_indices=True)
    >>> F.max_pool_backward(np.ones_like(y), x, indices, 2)[0, 0]  # to each window's maximum
    array([[0., 0., 0., 0.],
           [0., 1., 0., 1.],
           [0., 0., 0., 0.],
           [0., 1., 0., 1.]])
    """
    x = _x(x)
    g = _validate.operand(grad_out, "grad_out")
    plan = _max_plan(x.shape, _dtype(x, g), kernel_size, stride, padding, dilation, ceil_mode)
    g = _validate.check_shape(g, plan.out_shape, "grad_out")
    idx = _indices(indices, plan)
    ops = _backend.select(backend, g.array, x.array, idx.array)
    return ops.max_pool_backward(plan, g.compute(plan.dtype), x.compute(plan.dtype), idx.array)


# --- average pooling -------------------------------------------------------------------------


def avg_pool(
    x,
    kernel_size,
    stride=None,
    padding=0,
    *,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
    backend="auto",
):
    """Average pooling, as ``torch.nn.functional.avg_pool{1,2,3}d``.

    Parameters
    ----------
    x : array_like, shape ``(N, C, *spatial)``
    kernel_size, stride, padding, ceil_mode
        As :func:`max_pool` (zero padding, at most ``kernel_size // 2``).
    count_include_pad : bool
        Whether padded zeros count in the divisor. As in PyTorch, a ``ceil_mode`` window's part
        beyond the right padding never counts.
    divisor_override : int, optional
        Divide every window sum by this instead.
    backend : {"auto", "cpu", "cuda"}

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> F.avg_pool(x, 2)
    array([[[[ 2.5,  4.5],
             [10.5, 12.5]]]])
    >>> F.avg_pool(x, 3, stride=1, padding=1, count_include_pad=False)[0, 0, 0]
    array([2.5, 3. , 4. , 4.5])
    """
    x = _x(x)
    plan = _avg_plan(
        x.shape, _dtype(x), kernel_size, stride, padding, ceil_mode, count_include_pad,
        divisor_override,
    )  # fmt: skip
    return _run(backend, "avg_pool", plan, x)


def avg_pool_backward(
    grad_out,
    x,
    kernel_size,
    stride=None,
    padding=0,
    *,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
    backend="auto",
):
    """Gradient of :func:`avg_pool` with respect to ``x`` (only ``x``'s shape and dtype are
    used).

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> F.avg_pool_backward(np.ones((1, 1, 2, 2)), x, 2)[0, 0, :2]  # spread evenly over each window
    array([[0.25, 0.25, 0.25, 0.25],
           [0.25, 0.25, 0.25, 0.25]])
    """
    x = _x(x)
    g = _validate.operand(grad_out, "grad_out")
    plan = _avg_plan(
        x.shape, _dtype(x, g), kernel_size, stride, padding, ceil_mode, count_include_pad,
        divisor_override,
    )  # fmt: skip
    g = _validate.check_shape(g, plan.out_shape, "grad_out")
    ops = _backend.select(backend, g.array, x.array)
    return ops.avg_pool_backward(plan, g.compute(plan.dtype))


# --- Lp pooling ------------------------------------------------------------------------------


def lp_pool(x, norm_type=2.0, kernel_size=2, stride=None, *, ceil_mode=False, backend="auto"):
    """Power-average pooling, as ``torch.nn.functional.lp_pool{1,2,3}d``.

    ``y = (sum over the window of x ** p) ** (1 / p)``, computed exactly as PyTorch does
    (``avg_pool(x ** p) * prod(kernel_size)``, then ``** (1 / p)``), so negative inputs give
    the same values, NaN included (e.g. ``p = 3`` over a window with a negative sum).
    ``norm_type = inf`` is the max of ``|x|``; ``-inf`` the min of ``|x|``. No padding.

    Note the argument order: ``norm_type`` comes before ``kernel_size``, as in PyTorch; here it
    defaults to 2 (the L2 pooling) and ``kernel_size`` to 2.

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> F.lp_pool(x, 2.0, 2).round(3)  # sqrt of the sum of squares per window
    array([[[[ 6.481,  9.899],
             [21.401, 25.338]]]])
    >>> F.lp_pool(x, 1.0, 2)  # p = 1: the window sums
    array([[[[10., 18.],
             [42., 50.]]]])
    """
    x = _x(x)
    plan = _lp_plan(x.shape, _dtype(x), norm_type, kernel_size, stride, ceil_mode)
    return _run(backend, "lp_pool", plan, x)


def lp_pool_backward(
    grad_out, x, norm_type, kernel_size, stride=None, *, ceil_mode=False, backend="auto"
):
    """Gradient of :func:`lp_pool` with respect to ``x``.

    As PyTorch documents, where a window's sum of ``x ** p`` is zero the gradient is zero.
    Elsewhere ``dy/dx_i = y * x_i ** (p - 1) / sum(x ** p)`` (times PyTorch's ceil_mode
    edge scale); NaN values propagate as in autograd.

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> F.lp_pool_backward(np.ones((1, 1, 2, 2)), x, 1.0, 2)[0, 0, :2]  # p = 1: d(sum)/dx = 1
    array([[1., 1., 1., 1.],
           [1., 1., 1., 1.]])
    """
    x = _x(x)
    g = _validate.operand(grad_out, "grad_out")
    plan = _lp_plan(x.shape, _dtype(x, g), norm_type, kernel_size, stride, ceil_mode)
    g = _validate.check_shape(g, plan.out_shape, "grad_out")
    return _run(backend, "lp_pool_backward", plan, g, x)


# --- stochastic pooling ----------------------------------------------------------------------


def _generator(rng) -> np.random.Generator:
    if rng is None or isinstance(rng, (numbers.Integral, np.integer)):
        if isinstance(rng, (bool, np.bool_)):
            raise TypeError(f"rng must be None, an int seed or a numpy Generator; got {rng!r}")
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.Generator):
        return rng
    raise TypeError(
        f"rng must be None, an int seed or a numpy.random.Generator; got {type(rng).__name__}"
    )


def stochastic_pool(
    x,
    kernel_size,
    stride=None,
    *,
    training=True,
    rng=None,
    return_indices=False,
    backend="auto",
):
    """Stochastic pooling (Zeiler & Fergus 2013) over unpadded windows.

    Parameters
    ----------
    x : array_like, shape ``(N, C, *spatial)``
        Non-negative activations (the paper pools after a ReLU); a negative or NaN value raises
        ``ValueError`` rather than giving a meaningless probability.
    kernel_size, stride
        As :func:`max_pool` (``stride`` defaults to ``kernel_size``); no padding, floor mode.
    training : bool
        ``True``: each window outputs one of its elements, drawn with probability
        ``p_i = x_i / sum(window)``. A window of zeros draws uniformly (the limit of equal
        activations); its output is 0 either way. ``False``: the probability-weighted average
        ``sum(p_i * x_i) = sum(x_i ** 2) / sum(x_i)`` (0 for an all-zero window).
    rng : None, int or numpy.random.Generator
        Source of the draws in training mode (one uniform per output); an int is a seed, so the
        same seed gives the same result. Ignored at inference.
    return_indices : bool
        Also return the drawn element of each window as a flat index into its ``(n, c)``
        plane (as :func:`max_pool`), for :func:`stochastic_pool_backward`. At inference there
        is no draw and asking for indices raises ``ValueError``.
    backend : {"auto", "cpu", "cuda"}

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> y = F.stochastic_pool(x, 2, rng=0)  # training: one sample of each window
    >>> bool(np.isin(y, x).all())
    True
    >>> F.stochastic_pool(x, 2, training=False).round(3)  # inference: the weighted mean
    array([[[[ 4.2  ,  5.444],
             [10.905, 12.84 ]]]])
    """
    x = _x(x)
    plan = _stoch_plan(x.shape, _dtype(x), kernel_size, stride, training)
    return_indices = _geometry.check_bool(return_indices, "return_indices")
    if return_indices and not plan.training:
        raise ValueError("return_indices=True needs training=True (inference draws nothing)")
    gen = _generator(rng) if plan.training else None
    return _run(backend, "stochastic_pool", plan, x, rng=gen, return_indices=return_indices)


def stochastic_pool_backward(
    grad_out, x, kernel_size, stride=None, *, training=True, indices=None, backend="auto"
):
    """Gradient of :func:`stochastic_pool` with respect to ``x``.

    Training: the output is the drawn element, so its gradient goes to ``indices`` (required:
    the ones the forward returned). Inference: ``d y / d x_j = (2 x_j S1 - S2) / S1 ** 2`` with
    ``S1 = sum(x)``, ``S2 = sum(x ** 2)`` over the window, and 0 for an all-zero window (the
    function is not differentiable there).

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> y, indices = F.stochastic_pool(x, 2, rng=0, return_indices=True)
    >>> g = F.stochastic_pool_backward(np.ones_like(y), x, 2, indices=indices)
    >>> g.shape, float(g.sum())  # one 1 per window, at the sampled position
    ((1, 1, 4, 4), 4.0)
    """
    x = _x(x)
    g = _validate.operand(grad_out, "grad_out")
    plan = _stoch_plan(x.shape, _dtype(x, g), kernel_size, stride, training)
    if plan.training and indices is None:
        raise ValueError(
            "indices is required with training=True: pass the indices stochastic_pool "
            "returned with return_indices=True"
        )
    g = _validate.check_shape(g, plan.out_shape, "grad_out")
    idx = _indices(indices, plan) if plan.training else None
    ops = _backend.select(backend, g.array, x.array, None if idx is None else idx.array)
    return ops.stochastic_pool_backward(
        plan, g.compute(plan.dtype), x.compute(plan.dtype), None if idx is None else idx.array
    )


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
    x = _x(x)
    plan = _geometry.whole_plan(x.shape, _dtype(x), _output_size(output_size, x.shape[2:]))
    return _run(backend, "spectral_pool", plan, x)


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
        shape, dtype = tuple(int(v) for v in shape), _dtype(g)
    else:
        xo = _x(x)
        shape, dtype = xo.shape, _dtype(g, xo)
    plan = _geometry.whole_plan(shape, dtype, _output_size(output_size, shape[2:]))
    g = _validate.check_shape(g, plan.out_shape, "grad_out")
    return _run(backend, "spectral_pool_backward", plan, g)


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
    x = _x(x)
    return _run(backend, "global_avg_pool", _geometry.whole_plan(x.shape, _dtype(x)), x)


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
    x = _x(x)
    g = _validate.operand(grad_out, "grad_out")
    plan = _geometry.whole_plan(x.shape, _dtype(x, g))
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
    x = _x(x)
    return _run(backend, "global_max_pool", _geometry.whole_plan(x.shape, _dtype(x)), x)


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
    x = _x(x)
    g = _validate.operand(grad_out, "grad_out")
    plan = _geometry.whole_plan(x.shape, _dtype(x, g))
    g = _validate.check_shape(g, plan.out_shape, "grad_out")
    return _run(backend, "global_max_pool_backward", plan, g, x)


# --- output shapes without computing ------------------------------------------------------------


def output_shape(kind: str, sample_shape, **params) -> tuple[int, ...]:
    """Per-sample output shape ``(C, *out_spatial)`` of pooling ``kind`` ("max", "avg", "lp",
    "stochastic", "spectral") on samples of ``sample_shape = (C, *spatial)``.

    Validates ``params`` exactly as the functional call does (the same helpers), without
    running a kernel: a layer learns its output shape at build time from this, not from a
    dry run on zeros (a GPU launch, or an FFT for spectral pooling).
    """
    shape = (1, *sample_shape)
    dt = np.float64  # the dtype does not change a shape
    # each kind's own plan builder, called with the layer's constructor arguments by name
    if kind == "max":
        plan = _max_plan(shape, dt, **{"stride": None, "padding": 0, "dilation": 1,
                                       "ceil_mode": False, **params})  # fmt: skip
    elif kind == "avg":
        plan = _avg_plan(shape, dt, **{"stride": None, "padding": 0, "ceil_mode": False,
                                       "count_include_pad": True, "divisor_override": None,
                                       **params})  # fmt: skip
    elif kind == "lp":
        plan = _lp_plan(shape, dt, **{"stride": None, "ceil_mode": False, **params})
    elif kind == "stochastic":
        plan = _stoch_plan(shape, dt, **{"stride": None, **params}, training=False)
    elif kind == "spectral":
        out = _output_size(params["output_size"], tuple(sample_shape[1:]))
        plan = _geometry.whole_plan(shape, dt, out)
    else:
        raise ValueError(f"kind must be one of max, avg, lp, stochastic, spectral; got {kind!r}")
    return (int(sample_shape[0]), *(int(n) for n in plan.out))

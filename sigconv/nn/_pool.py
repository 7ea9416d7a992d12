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

from .. import _backend, _validate
from ._pool_args import (
    avg_plan,
    compute_dtype,
    indices_operand,
    lp_plan,
    max_plan,
    pooled_input,
    run,
    stochastic_plan,
)

__all__ = [
    "avg_pool",
    "avg_pool_backward",
    "lp_pool",
    "lp_pool_backward",
    "max_pool",
    "max_pool_backward",
    "stochastic_pool",
    "stochastic_pool_backward",
]


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
    x = pooled_input(x)
    plan = max_plan(x.shape, compute_dtype(x), kernel_size, stride, padding, dilation, ceil_mode)
    return_indices = _validate.check_bool(return_indices, "return_indices")
    return run(backend, "max_pool", plan, x, return_indices=return_indices)


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
    x = pooled_input(x)
    g = _validate.operand(grad_out, "grad_out")
    plan = max_plan(x.shape, compute_dtype(x, g), kernel_size, stride, padding, dilation, ceil_mode)
    g = _validate.check_shape(g, plan.out_shape, "grad_out")
    idx = indices_operand(indices, plan)
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
    x = pooled_input(x)
    plan = avg_plan(
        x.shape, compute_dtype(x), kernel_size, stride, padding, ceil_mode, count_include_pad,
        divisor_override,
    )  # fmt: skip
    return run(backend, "avg_pool", plan, x)


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
    x = pooled_input(x)
    g = _validate.operand(grad_out, "grad_out")
    plan = avg_plan(
        x.shape, compute_dtype(x, g), kernel_size, stride, padding, ceil_mode, count_include_pad,
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
    x = pooled_input(x)
    plan = lp_plan(x.shape, compute_dtype(x), norm_type, kernel_size, stride, ceil_mode)
    return run(backend, "lp_pool", plan, x)


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
    x = pooled_input(x)
    g = _validate.operand(grad_out, "grad_out")
    plan = lp_plan(x.shape, compute_dtype(x, g), norm_type, kernel_size, stride, ceil_mode)
    g = _validate.check_shape(g, plan.out_shape, "grad_out")
    return run(backend, "lp_pool_backward", plan, g, x)


# --- stochastic pooling ----------------------------------------------------------------------


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
    x = pooled_input(x)
    plan = stochastic_plan(x.shape, compute_dtype(x), kernel_size, stride, training)
    return_indices = _validate.check_bool(return_indices, "return_indices")
    if return_indices and not plan.training:
        raise ValueError("return_indices=True needs training=True (inference draws nothing)")
    gen = _validate.generator(rng) if plan.training else None
    return run(backend, "stochastic_pool", plan, x, rng=gen, return_indices=return_indices)


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
    x = pooled_input(x)
    g = _validate.operand(grad_out, "grad_out")
    plan = stochastic_plan(x.shape, compute_dtype(x, g), kernel_size, stride, training)
    if plan.training and indices is None:
        raise ValueError(
            "indices is required with training=True: pass the indices stochastic_pool "
            "returned with return_indices=True"
        )
    g = _validate.check_shape(g, plan.out_shape, "grad_out")
    idx = indices_operand(indices, plan) if plan.training else None
    ops = _backend.select(backend, g.array, x.array, None if idx is None else idx.array)
    return ops.stochastic_pool_backward(
        plan, g.compute(plan.dtype), x.compute(plan.dtype), None if idx is None else idx.array
    )

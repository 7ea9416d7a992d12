"""Pooling on ``(N, C, *spatial)`` arrays (1-3 spatial axes), forward and backward.

The behaviour is docs/contract.md §2.

Max, average and Lp pooling follow ``torch.nn.functional`` (argument names, defaults, output
sizes including ``ceil_mode``, padding limits, tie and NaN rules, index layout). Stochastic
pooling (Zeiler & Fergus 2013) and spectral pooling (Rippel et al. 2015) have no PyTorch
counterpart; their conventions are documented on each function. Every backward function takes
the forward's arguments and returns the gradient with respect to ``x``.

float32 in gives float32 out; float64 stays float64; bool and integer inputs are computed in
float64. Inputs are never modified and any layout is accepted.

CUDA dispatch contract: when ``backend`` resolves to ``"cuda"`` (a device array, or
``backend="cuda"``), each function calls ``sigconv._cuda.pool.<same name>`` once, with ``x``
(and ``grad_out``/``indices``) exactly as the caller passed them and every option already
validated and normalised: ``kernel_size``, ``stride``, ``padding``, ``dilation`` and
``output_size`` as tuples of one int per spatial axis, flags as bools, ``norm_type`` as float,
``divisor_override`` as int or None. The CUDA function returns what this one returns.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import scipy.fft

from .. import _backend, _validate
from .._cpu import pool as _kernels

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


def _cuda():
    from .._cuda import pool

    return pool


# --- validation ------------------------------------------------------------------------------


def _shape_dtype(x, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a host or device array, checked for rank 3-5 and a real dtype."""
    if _backend.is_device_array(x) and not isinstance(x, np.ndarray):
        iface = x.__cuda_array_interface__
        shape, dtype = tuple(int(s) for s in iface["shape"]), np.dtype(iface["typestr"])
        if dtype.kind not in "biuf":
            raise TypeError(f"{name} must have a real numeric dtype; got dtype {dtype}")
        if not 3 <= len(shape) <= 5 or 0 in shape:
            raise ValueError(
                f"{name} must be a non-empty (N, C, *spatial) array with 1 to 3 spatial axes; "
                f"got shape {shape}"
            )
        return shape, dtype
    arr = _validate.as_input_array(x, name, min_ndim=3, max_ndim=5)
    return arr.shape, arr.dtype


def _compute(arr: np.ndarray, dtype) -> np.ndarray:
    """``_validate.to_compute``, but never read-only: Numba types a read-only array apart and
    would compile every kernel a second time for it."""
    out = _validate.to_compute(arr, dtype)
    return out if out.flags.writeable else out.copy()


def _host(x, name: str) -> np.ndarray:
    """``x`` as a native, C-contiguous array of its compute dtype (float32 or float64)."""
    arr = _validate.as_input_array(x, name, min_ndim=3, max_ndim=5)
    return _compute(arr, _validate.compute_dtype(arr))


def _bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool; got {value!r} (type {type(value).__name__})")
    return bool(value)


def _stride(stride, kernel, name: str = "stride") -> tuple[int, ...]:
    # PyTorch: None (or an empty sequence) means stride = kernel_size.
    if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0):
        return kernel
    return _validate.int_tuple(stride, name, len(kernel))


def _pool_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's ``pooling_output_shape``: with ``ceil_mode`` the last window must start
    inside the input or the left padding."""
    out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _geometry(shape, kernel_size, stride, padding, dilation, ceil_mode, *, check_windows=False):
    """Validated per-axis ``(k, s, p, d)`` and the output spatial shape."""
    nd = len(shape) - 2
    k = _validate.int_tuple(kernel_size, "kernel_size", nd)
    s = _stride(stride, k)
    p = _validate.int_tuple(padding, "padding", nd, minimum=0)
    d = _validate.int_tuple(dilation, "dilation", nd)
    ceil_mode = _bool(ceil_mode, "ceil_mode")
    for kk, pp in zip(k, p):
        if pp > kk // 2:
            raise ValueError(
                f"padding must be at most half of kernel_size in every axis (as PyTorch); "
                f"got padding={p} with kernel_size={k}"
            )
    spatial = shape[2:]
    out = tuple(_pool_size(n, *g, ceil_mode) for n, g in zip(spatial, zip(k, s, p, d)))
    if any(o < 1 for o in out):
        raise ValueError(
            f"the pooling output would be empty: input spatial shape {tuple(spatial)} with "
            f"kernel_size={k}, stride={s}, padding={p}, dilation={d} gives {out}"
        )
    if check_windows:
        for n, kk, ss, pp, dd, o in zip(spatial, k, s, p, d, out):
            pos = np.arange(o)[:, None] * ss - pp + np.arange(kk)[None, :] * dd
            if not np.all(np.any((pos >= 0) & (pos < n), axis=1)):
                raise ValueError(
                    "some pooling window covers only padding (dilation skips every input "
                    f"element): input spatial shape {tuple(spatial)}, kernel_size={k}, "
                    f"stride={s}, padding={p}, dilation={d}"
                )
    return k, s, p, d, ceil_mode, out


def _geom_array(k, s, p, d) -> np.ndarray:
    """The kernels' ``(3, 4)`` geometry for axes (D, H, W); missing leading axes are trivial."""
    g = np.array([[1, 1, 0, 1]] * 3, dtype=np.int64)
    nd = len(k)
    g[3 - nd :] = np.array([k, s, p, d], dtype=np.int64).T
    return g


def _planes(a: np.ndarray) -> np.ndarray:
    """``(N, C, *spatial)`` as ``(N * C, D, H, W)`` (a view of a contiguous array)."""
    spatial = a.shape[2:]
    return a.reshape((a.shape[0] * a.shape[1],) + (1,) * (3 - len(spatial)) + spatial)


def _check_grad(grad_out, want_shape, name="grad_out") -> np.ndarray:
    g = _validate.as_input_array(grad_out, name)
    if g.shape != tuple(want_shape):
        raise ValueError(f"{name} must have shape {tuple(want_shape)}; got {g.shape}")
    return g


def _check_indices(indices, want_shape, plane: int, name="indices") -> np.ndarray:
    arr = _validate.as_input_array(indices, name)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must have an integer dtype; got dtype {arr.dtype}")
    if arr.shape != tuple(want_shape):
        raise ValueError(f"{name} must have shape {tuple(want_shape)}; got {arr.shape}")
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= plane:
        raise ValueError(
            f"{name} must be flat indices into each (n, c) spatial plane, in [0, {plane}); "
            f"got values in [{lo}, {hi}]"
        )
    return _compute(arr, np.int64)


def _grad_dtype(x: np.ndarray, g: np.ndarray) -> np.dtype:
    return _validate.compute_dtype(x, g)


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
    shape, _ = _shape_dtype(x, "x")
    k, s, p, d, ceil_mode, out_sp = _geometry(
        shape, kernel_size, stride, padding, dilation, ceil_mode, check_windows=True
    )
    return_indices = _bool(return_indices, "return_indices")
    if _backend.resolve_backend(backend, x) == "cuda":
        # Single CUDA dispatch point (contract in the module docstring).
        return _cuda().max_pool(
            x, k, s, p, dilation=d, ceil_mode=ceil_mode, return_indices=return_indices
        )
    xc = _host(x, "x")
    y = np.empty(shape[:2] + out_sp, dtype=xc.dtype)
    idx = np.empty(y.shape, dtype=np.int64)
    _kernels.max_pool_forward(_planes(xc), _planes(y), _planes(idx), _geom_array(k, s, p, d))
    return (y, idx) if return_indices else y


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
    shape, _ = _shape_dtype(x, "x")
    k, s, p, d, ceil_mode, out_sp = _geometry(
        shape, kernel_size, stride, padding, dilation, ceil_mode, check_windows=True
    )
    if _backend.resolve_backend(backend, grad_out, x, indices) == "cuda":
        # Single CUDA dispatch point (contract in the module docstring).
        return _cuda().max_pool_backward(
            grad_out, x, indices, k, s, p, dilation=d, ceil_mode=ceil_mode
        )
    xa = _validate.as_input_array(x, "x", min_ndim=3, max_ndim=5)
    g = _check_grad(grad_out, shape[:2] + out_sp)
    idx = _check_indices(indices, g.shape, math.prod(shape[2:]))
    return _scatter(g, idx, shape, _grad_dtype(xa, g))


def _scatter(g: np.ndarray, idx: np.ndarray, shape, dtype) -> np.ndarray:
    gc = _compute(g, dtype)
    gx = np.zeros(shape, dtype=dtype)
    n_planes = shape[0] * shape[1]
    _kernels.scatter_add(
        gc.reshape(n_planes, -1), idx.reshape(n_planes, -1), gx.reshape(n_planes, -1)
    )
    return gx


# --- average pooling -------------------------------------------------------------------------


def _avg_scales(spatial, k, s, p, out_sp, count_include_pad, divisor_override):
    """Per-axis reciprocal divisors (PyTorch's divisor is a product over axes), padded to 3."""
    scales = []
    for n, kk, ss, pp, o in zip(spatial, k, s, p, out_sp):
        start = np.arange(o) * ss - pp
        if count_include_pad:
            # PyTorch counts padding, but not the part of a ceil_mode window beyond it.
            size = np.minimum(start + kk, n + pp) - start
        else:
            size = np.minimum(start + kk, n) - np.maximum(start, 0)
        scales.append(1.0 / size.astype(np.float64))
    if divisor_override is not None:
        scales = [np.full(o, 1.0) for o in out_sp]
        scales[0] = scales[0] / divisor_override
    while len(scales) < 3:
        scales.insert(0, np.ones(1))
    return scales


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


def _avg_args(shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    k, s, p, _, ceil_mode, out_sp = _geometry(shape, kernel_size, stride, padding, 1, ceil_mode)
    count_include_pad = _bool(count_include_pad, "count_include_pad")
    divisor = _divisor(divisor_override)
    return k, s, p, ceil_mode, out_sp, count_include_pad, divisor


def _avg_forward(xc, k, s, p, out_sp, count_include_pad, divisor):
    y = np.empty(xc.shape[:2] + out_sp, dtype=xc.dtype)
    rd, rh, rw = _avg_scales(xc.shape[2:], k, s, p, out_sp, count_include_pad, divisor)
    _kernels.avg_pool_forward(
        _planes(xc), _planes(y), _geom_array(k, s, p, (1,) * len(k)), rd, rh, rw
    )
    return y


def _avg_backward(gc, shape, k, s, p, out_sp, count_include_pad, divisor):
    gx = np.zeros(shape, dtype=gc.dtype)
    rd, rh, rw = _avg_scales(shape[2:], k, s, p, out_sp, count_include_pad, divisor)
    _kernels.avg_pool_backward(
        _planes(gc), _planes(gx), _geom_array(k, s, p, (1,) * len(k)), rd, rh, rw
    )
    return gx


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
    shape, _ = _shape_dtype(x, "x")
    k, s, p, ceil_mode, out_sp, cip, div = _avg_args(
        shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
    )
    if _backend.resolve_backend(backend, x) == "cuda":
        # Single CUDA dispatch point (contract in the module docstring).
        return _cuda().avg_pool(
            x, k, s, p, ceil_mode=ceil_mode, count_include_pad=cip, divisor_override=div
        )
    return _avg_forward(_host(x, "x"), k, s, p, out_sp, cip, div)


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
    shape, _ = _shape_dtype(x, "x")
    k, s, p, ceil_mode, out_sp, cip, div = _avg_args(
        shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
    )
    if _backend.resolve_backend(backend, grad_out, x) == "cuda":
        # Single CUDA dispatch point (contract in the module docstring).
        return _cuda().avg_pool_backward(
            grad_out, x, k, s, p, ceil_mode=ceil_mode, count_include_pad=cip, divisor_override=div
        )
    xa = _validate.as_input_array(x, "x", min_ndim=3, max_ndim=5)
    g = _check_grad(grad_out, shape[:2] + out_sp)
    gc = _compute(g, _grad_dtype(xa, g))
    return _avg_backward(gc, shape, k, s, p, out_sp, cip, div)


# --- Lp pooling ------------------------------------------------------------------------------


def _norm_type(norm_type) -> float:
    p = _validate.check_float(norm_type, "norm_type", finite=False)
    if np.isnan(p) or p == 0.0:
        raise ValueError(f"norm_type must be a non-zero number or +-inf; got {norm_type!r}")
    return p


def _lp_args(shape, norm_type, kernel_size, stride, ceil_mode):
    p = _norm_type(norm_type)
    k, s, _, _, ceil_mode, out_sp = _geometry(shape, kernel_size, stride, 0, 1, ceil_mode)
    return p, k, s, ceil_mode, out_sp


def _lp_sums(xc, p, k, s, out_sp):
    """PyTorch's ``avg_pool(x ** p) * prod(kernel_size)`` (ceil_mode windows cut at the edge
    are averaged over their in-bounds part, then scaled by the full kernel size)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        t = np.power(xc, xc.dtype.type(p))
    zeros = (0,) * len(k)
    return _avg_forward(t, k, s, zeros, out_sp, True, None) * xc.dtype.type(math.prod(k))


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
    shape, _ = _shape_dtype(x, "x")
    p, k, s, ceil_mode, out_sp = _lp_args(shape, norm_type, kernel_size, stride, ceil_mode)
    if _backend.resolve_backend(backend, x) == "cuda":
        # Single CUDA dispatch point (contract in the module docstring).
        return _cuda().lp_pool(x, p, k, s, ceil_mode=ceil_mode)
    xc = _host(x, "x")
    if np.isinf(p):
        sign = 1 if p > 0 else -1
        y = max_pool(sign * np.abs(xc), k, s, 0, ceil_mode=ceil_mode, backend="cpu")
        return sign * y
    total = _lp_sums(xc, p, k, s, out_sp)
    with np.errstate(invalid="ignore"):
        return np.power(total, xc.dtype.type(1.0 / p))


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
    shape, _ = _shape_dtype(x, "x")
    p, k, s, ceil_mode, out_sp = _lp_args(shape, norm_type, kernel_size, stride, ceil_mode)
    if _backend.resolve_backend(backend, grad_out, x) == "cuda":
        # Single CUDA dispatch point (contract in the module docstring).
        return _cuda().lp_pool_backward(grad_out, x, p, k, s, ceil_mode=ceil_mode)
    xa = _validate.as_input_array(x, "x", min_ndim=3, max_ndim=5)
    g = _check_grad(grad_out, shape[:2] + out_sp)
    dtype = _grad_dtype(xa, g)
    xc = _compute(xa, dtype)
    gc = _compute(g, dtype)
    if np.isinf(p):
        sign = 1 if p > 0 else -1
        _, idx = max_pool(
            sign * np.abs(xc), k, s, 0, ceil_mode=ceil_mode, return_indices=True, backend="cpu"
        )
        gx = _scatter(gc, idx, shape, dtype)
        return gx * np.sign(xc)
    total = _lp_sums(xc, p, k, s, out_sp)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        y = np.power(total, dtype.type(1.0 / p))
        ratio = np.where(total != 0, gc * y / np.where(total != 0, total, 1), 0).astype(dtype)
        gt = _avg_backward(ratio, shape, k, s, (0,) * len(k), out_sp, True, None)
        gt *= dtype.type(math.prod(k))
        return gt * np.power(xc, dtype.type(p - 1.0))


# --- stochastic pooling ----------------------------------------------------------------------


def _stoch_args(shape, kernel_size, stride, training):
    k, s, _, _, _, out_sp = _geometry(shape, kernel_size, stride, 0, 1, False)
    return k, s, out_sp, _bool(training, "training")


def _non_negative(xc: np.ndarray) -> None:
    if not np.all(xc >= 0):  # also catches NaN
        bad = xc[~(xc >= 0)].flat[0]
        raise ValueError(
            "x must be non-negative for stochastic pooling (apply it after a ReLU, as Zeiler "
            f"and Fergus do); got a value {bad!r}"
        )


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
    shape, _ = _shape_dtype(x, "x")
    k, s, out_sp, training = _stoch_args(shape, kernel_size, stride, training)
    return_indices = _bool(return_indices, "return_indices")
    if return_indices and not training:
        raise ValueError("return_indices=True needs training=True (inference draws nothing)")
    gen = _generator(rng) if training else None
    if _backend.resolve_backend(backend, x) == "cuda":
        # Single CUDA dispatch point (contract in the module docstring; rng is a Generator or
        # None at inference).
        return _cuda().stochastic_pool(
            x, k, s, training=training, rng=gen, return_indices=return_indices
        )
    xc = _host(x, "x")
    _non_negative(xc)
    y = np.empty(shape[:2] + out_sp, dtype=xc.dtype)
    geom = _geom_array(k, s, (0,) * len(k), (1,) * len(k))
    if not training:
        _kernels.stochastic_infer_forward(_planes(xc), _planes(y), geom)
        return y
    u = gen.random(y.shape)
    idx = np.empty(y.shape, dtype=np.int64)
    _kernels.stochastic_train_forward(_planes(xc), _planes(u), _planes(y), _planes(idx), geom)
    return (y, idx) if return_indices else y


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
    shape, _ = _shape_dtype(x, "x")
    k, s, out_sp, training = _stoch_args(shape, kernel_size, stride, training)
    if training and indices is None:
        raise ValueError(
            "indices is required with training=True: pass the indices stochastic_pool "
            "returned with return_indices=True"
        )
    if _backend.resolve_backend(backend, grad_out, x) == "cuda":
        # Single CUDA dispatch point (contract in the module docstring).
        return _cuda().stochastic_pool_backward(
            grad_out, x, k, s, training=training, indices=indices
        )
    xa = _validate.as_input_array(x, "x", min_ndim=3, max_ndim=5)
    g = _check_grad(grad_out, shape[:2] + out_sp)
    dtype = _grad_dtype(xa, g)
    if training:
        idx = _check_indices(indices, g.shape, math.prod(shape[2:]))
        return _scatter(g, idx, shape, dtype)
    xc = _compute(xa, dtype)
    _non_negative(xc)
    gx = np.zeros(shape, dtype=dtype)
    geom = _geom_array(k, s, (0,) * len(k), (1,) * len(k))
    _kernels.stochastic_infer_backward(_planes(_compute(g, dtype)), _planes(xc), _planes(gx), geom)
    return gx


# --- spectral pooling ------------------------------------------------------------------------


def _output_size(output_size, spatial) -> tuple[int, ...]:
    out = _validate.int_tuple(output_size, "output_size", len(spatial))
    if any(o > n for o, n in zip(out, spatial)):
        raise ValueError(
            f"output_size must not exceed the input's spatial shape {tuple(spatial)} in any "
            f"axis; got {out}"
        )
    return out


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
    shape, _ = _shape_dtype(x, "x")
    out = _output_size(output_size, shape[2:])
    if _backend.resolve_backend(backend, x) == "cuda":
        # Single CUDA dispatch point (contract in the module docstring).
        return _cuda().spectral_pool(x, out)
    y = _host(x, "x")
    for axis, m in zip(range(2, y.ndim), out):
        n = y.shape[axis]
        if m == n:
            continue
        spec = scipy.fft.rfft(y, axis=axis)
        spec = spec[(slice(None),) * axis + (slice(0, m // 2 + 1),)]
        # irfft reads only the real part of an even m's Nyquist bin: the +-m/2 mean.
        y = scipy.fft.irfft(spec, n=m, axis=axis) * y.dtype.type(m / n)
    return np.ascontiguousarray(y)


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
    if isinstance(x, tuple):
        shape = tuple(x)
        if not (3 <= len(shape) <= 5) or not all(
            isinstance(v, (numbers.Integral, np.integer)) and v >= 1 for v in shape
        ):
            raise ValueError(
                f"x must be an array or a shape tuple (N, C, *spatial) of positive ints with 1 "
                f"to 3 spatial axes; got {shape!r}"
            )
        shape = tuple(int(v) for v in shape)
        x_dtype = None
    else:
        shape, x_dtype = _shape_dtype(x, "x")
    out = _output_size(output_size, shape[2:])
    if _backend.resolve_backend(backend, grad_out) == "cuda":
        # Single CUDA dispatch point (contract in the module docstring; x may be a shape).
        return _cuda().spectral_pool_backward(grad_out, x, out)
    g = _check_grad(grad_out, shape[:2] + out)
    probes = [g] if x_dtype is None else [g, np.empty(0, dtype=x_dtype)]
    gx = _compute(g, _validate.compute_dtype(*probes))
    for axis, m, n in zip(range(2, gx.ndim), out, shape[2:]):
        if m == n:
            continue
        spec = scipy.fft.rfft(gx, axis=axis)
        if m % 2 == 0:
            nyq = (slice(None),) * axis + (slice(m // 2, m // 2 + 1),)
            spec[nyq] *= 0.5
        gx = scipy.fft.irfft(spec, n=n, axis=axis)
    return np.ascontiguousarray(gx)


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
    shape, _ = _shape_dtype(x, "x")
    if _backend.resolve_backend(backend, x) == "cuda":
        # Single CUDA dispatch point (contract in the module docstring).
        return _cuda().global_avg_pool(x)
    xc = _host(x, "x")
    axes = tuple(range(2, xc.ndim))
    return xc.mean(axis=axes, keepdims=True, dtype=np.float64).astype(xc.dtype)


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
    shape, _ = _shape_dtype(x, "x")
    if _backend.resolve_backend(backend, grad_out, x) == "cuda":
        # Single CUDA dispatch point (contract in the module docstring).
        return _cuda().global_avg_pool_backward(grad_out, x)
    xa = _validate.as_input_array(x, "x", min_ndim=3, max_ndim=5)
    g = _check_grad(grad_out, shape[:2] + (1,) * (len(shape) - 2))
    dtype = _grad_dtype(xa, g)
    scale = dtype.type(1.0 / math.prod(shape[2:]))
    return np.broadcast_to(g.astype(dtype) * scale, shape).copy()


def _global_argmax(xc: np.ndarray) -> np.ndarray:
    flat = xc.reshape(xc.shape[0], xc.shape[1], -1)
    return np.argmax(flat, axis=2)  # first max; a NaN wins (the first NaN)


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
    shape, _ = _shape_dtype(x, "x")
    if _backend.resolve_backend(backend, x) == "cuda":
        # Single CUDA dispatch point (contract in the module docstring).
        return _cuda().global_max_pool(x)
    xc = _host(x, "x")
    idx = _global_argmax(xc)
    flat = xc.reshape(xc.shape[0], xc.shape[1], -1)
    y = np.take_along_axis(flat, idx[..., None], axis=2)
    return y.reshape(shape[:2] + (1,) * (len(shape) - 2))


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
    shape, _ = _shape_dtype(x, "x")
    if _backend.resolve_backend(backend, grad_out, x) == "cuda":
        # Single CUDA dispatch point (contract in the module docstring).
        return _cuda().global_max_pool_backward(grad_out, x)
    xa = _validate.as_input_array(x, "x", min_ndim=3, max_ndim=5)
    g = _check_grad(grad_out, shape[:2] + (1,) * (len(shape) - 2))
    dtype = _grad_dtype(xa, g)
    idx = _global_argmax(_compute(xa, _validate.compute_dtype(xa)))
    gx = np.zeros((shape[0], shape[1], math.prod(shape[2:])), dtype=dtype)
    np.put_along_axis(gx, idx[..., None], g.reshape(shape[0], shape[1], 1).astype(dtype), 2)
    return gx.reshape(shape)


# --- output shapes without computing ------------------------------------------------------------


def output_shape(kind: str, sample_shape, **params) -> tuple[int, ...]:
    """Per-sample output shape ``(C, *out_spatial)`` of pooling ``kind`` ("max", "avg", "lp",
    "stochastic", "spectral") on samples of ``sample_shape = (C, *spatial)``.

    Validates ``params`` exactly as the functional call does (the same helpers), without
    running a kernel: a layer learns its output shape at build time from this, not from a
    dry run on zeros (a GPU launch, or an FFT for spectral pooling).
    """
    shape = (1, *sample_shape)
    # each kind's own argument helper, called with the layer's constructor arguments by name
    if kind == "max":
        out = _geometry(shape, **params, check_windows=True)[-1]
    elif kind == "avg":
        out = _avg_args(shape, **params)[4]
    elif kind == "lp":
        out = _lp_args(shape, **params)[-1]
    elif kind == "stochastic":
        out = _stoch_args(shape, **params, training=False)[2]
    elif kind == "spectral":
        out = _output_size(params["output_size"], tuple(sample_shape[1:]))
    else:
        raise ValueError(f"kind must be one of max, avg, lp, stochastic, spectral; got {kind!r}")
    return (int(sample_shape[0]), *(int(n) for n in out))

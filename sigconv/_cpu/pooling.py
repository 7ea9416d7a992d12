"""The CPU backend of pooling: ``(plan, arrays)`` functions over the kernels in
``pool_kernels`` (windowed kinds), NumPy (global pooling) and scipy.fft (spectral pooling).

Arrays are host arrays of ``plan.dtype`` (C-contiguous, native), already checked against the
plan by the front end (``sigconv.nn._pool``); indices are int64.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _scratch
from . import pool_kernels as _k


def _geom_array(plan, padded=True) -> np.ndarray:
    """The kernels' ``(3, 4)`` geometry ``(k, s, p, d)`` for axes (D, H, W); missing leading
    axes are trivial."""
    g = np.array([[1, 1, 0, 1]] * 3, dtype=np.int64)
    nd = plan.nd
    p = plan.padding if padded else (0,) * nd
    g[3 - nd :] = np.array([plan.kernel, plan.stride, p, plan.dilation], dtype=np.int64).T
    return g


def _planes(a: np.ndarray) -> np.ndarray:
    """``(N, C, *spatial)`` as ``(N * C, D, H, W)`` (a view of a contiguous array)."""
    spatial = a.shape[2:]
    return a.reshape((a.shape[0] * a.shape[1],) + (1,) * (3 - len(spatial)) + spatial)


def _writeable(a: np.ndarray) -> np.ndarray:
    # Numba types a read-only array apart and would compile every kernel a second time for it.
    return a if a.flags.writeable else a.copy()


# --- max pooling -----------------------------------------------------------------------------


def max_pool(plan, x, return_indices):
    x = _writeable(x)
    y = _scratch.new_result(plan.out_shape, x.dtype)
    idx = _scratch.new_result(y.shape, np.int64)
    _k.max_pool_forward(_planes(x), _planes(y), _planes(idx), _geom_array(plan))
    return (y, idx) if return_indices else y


def _scatter(plan, g, idx):
    gx = np.zeros(plan.shape, dtype=plan.dtype)
    n_planes = plan.shape[0] * plan.shape[1]
    _k.scatter_add(
        _writeable(g).reshape(n_planes, -1),
        _writeable(idx).reshape(n_planes, -1),
        gx.reshape(n_planes, -1),
    )
    return gx


def max_pool_backward(plan, grad_out, x, indices):
    return _scatter(plan, grad_out, indices)


# --- average pooling -------------------------------------------------------------------------


def _avg_scales(plan, padding, count_include_pad, divisor):
    """Per-axis reciprocal divisors (PyTorch's divisor is a product over axes), padded to 3."""
    scales = []
    for n, kk, ss, pp, o in zip(plan.shape[2:], plan.kernel, plan.stride, padding, plan.out):
        start = np.arange(o) * ss - pp
        if count_include_pad:
            # PyTorch counts padding, but not the part of a ceil_mode window beyond it.
            size = np.minimum(start + kk, n + pp) - start
        else:
            size = np.minimum(start + kk, n) - np.maximum(start, 0)
        scales.append(1.0 / size.astype(np.float64))
    if divisor is not None:
        scales = [np.full(o, 1.0) for o in plan.out]
        scales[0] = scales[0] / divisor
    while len(scales) < 3:
        scales.insert(0, np.ones(1))
    return scales


def _avg(plan, x, padded=True, count_include_pad=None, divisor=None):
    cip = plan.count_include_pad if count_include_pad is None else count_include_pad
    pad = plan.padding if padded else (0,) * plan.nd
    y = np.empty(x.shape[:2] + plan.out, dtype=x.dtype)
    rd, rh, rw = _avg_scales(plan, pad, cip, divisor)
    _k.avg_pool_forward(_planes(_writeable(x)), _planes(y), _geom_array(plan, padded), rd, rh, rw)
    return y


def _avg_back(plan, g, padded=True, count_include_pad=None, divisor=None):
    cip = plan.count_include_pad if count_include_pad is None else count_include_pad
    pad = plan.padding if padded else (0,) * plan.nd
    gx = np.zeros(plan.shape, dtype=g.dtype)
    rd, rh, rw = _avg_scales(plan, pad, cip, divisor)
    _k.avg_pool_backward(_planes(_writeable(g)), _planes(gx), _geom_array(plan, padded), rd, rh, rw)
    return gx


def avg_pool(plan, x):
    return _avg(plan, x, divisor=plan.divisor)


def avg_pool_backward(plan, grad_out):
    return _avg_back(plan, grad_out, divisor=plan.divisor)


# --- Lp pooling ------------------------------------------------------------------------------


def _lp_sums(plan, x):
    """PyTorch's ``avg_pool(x ** p) * prod(kernel_size)`` (ceil_mode windows cut at the edge
    are averaged over their in-bounds part, then scaled by the full kernel size)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        t = np.power(x, x.dtype.type(plan.norm_type))
    total = _avg(plan, t, padded=False, count_include_pad=True)
    return total * x.dtype.type(math.prod(plan.kernel))


def _abs_max(plan, x):
    """``max_pool(sign * |x|)`` with the argmax (the +-inf norms), sign = that of the norm."""
    sign = 1 if plan.norm_type > 0 else -1
    return sign, max_pool(plan, sign * np.abs(x), True)


def lp_pool(plan, x):
    p = plan.norm_type
    if np.isinf(p):
        sign, (y, _) = _abs_max(plan, x)
        return sign * y
    total = _lp_sums(plan, x)
    with np.errstate(invalid="ignore"):
        return np.power(total, x.dtype.type(1.0 / p))


def lp_pool_backward(plan, grad_out, x):
    p = plan.norm_type
    dtype = plan.dtype
    if np.isinf(p):
        _, (_, idx) = _abs_max(plan, x)
        return _scatter(plan, grad_out, idx) * np.sign(x)
    total = _lp_sums(plan, x)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        y = np.power(total, dtype.type(1.0 / p))
        nz = total != 0
        ratio = np.where(nz, grad_out * y / np.where(nz, total, 1), 0).astype(dtype)
        gt = _avg_back(plan, ratio, padded=False, count_include_pad=True)
        gt *= dtype.type(math.prod(plan.kernel))
        return gt * np.power(x, dtype.type(p - 1.0))


# --- stochastic pooling ----------------------------------------------------------------------


def _non_negative(x: np.ndarray) -> None:
    if not np.all(x >= 0):  # also catches NaN
        bad = x[~(x >= 0)].flat[0]
        raise ValueError(
            "x must be non-negative for stochastic pooling (apply it after a ReLU, as Zeiler "
            f"and Fergus do); got a value {bad!r}"
        )


def stochastic_pool(plan, x, rng, return_indices):
    _non_negative(x)
    x = _writeable(x)
    y = _scratch.new_result(plan.out_shape, x.dtype)
    geom = _geom_array(plan, padded=False)
    if not plan.training:
        _k.stochastic_infer_forward(_planes(x), _planes(y), geom)
        return y
    u = rng.random(y.shape)
    idx = np.empty(y.shape, dtype=np.int64)
    _k.stochastic_train_forward(_planes(x), _planes(u), _planes(y), _planes(idx), geom)
    return (y, idx) if return_indices else y


def stochastic_pool_backward(plan, grad_out, x, indices):
    if plan.training:
        return _scatter(plan, grad_out, indices)
    _non_negative(x)
    gx = np.zeros(plan.shape, dtype=plan.dtype)
    geom = _geom_array(plan, padded=False)
    _k.stochastic_infer_backward(
        _planes(_writeable(grad_out)), _planes(_writeable(x)), _planes(gx), geom
    )
    return gx


# --- spectral pooling ------------------------------------------------------------------------


def spectral_pool(plan, x):
    import scipy.fft

    y = x
    for axis, m in zip(range(2, y.ndim), plan.out):
        n = y.shape[axis]
        if m == n:
            continue
        spec = scipy.fft.rfft(y, axis=axis)
        spec = spec[(slice(None),) * axis + (slice(0, m // 2 + 1),)]
        # irfft reads only the real part of an even m's Nyquist bin: the +-m/2 mean.
        y = scipy.fft.irfft(spec, n=m, axis=axis) * y.dtype.type(m / n)
    return np.ascontiguousarray(y)


def spectral_pool_backward(plan, grad_out):
    import scipy.fft

    gx = grad_out
    for axis, m, n in zip(range(2, gx.ndim), plan.out, plan.shape[2:]):
        if m == n:
            continue
        spec = scipy.fft.rfft(gx, axis=axis)
        if m % 2 == 0:
            nyq = (slice(None),) * axis + (slice(m // 2, m // 2 + 1),)
            spec[nyq] *= 0.5
        gx = scipy.fft.irfft(spec, n=n, axis=axis)
    return np.ascontiguousarray(gx)


# --- global pooling --------------------------------------------------------------------------


def global_avg_pool(plan, x):
    y = _scratch.new_result(plan.out_shape, x.dtype)
    n_planes = plan.shape[0] * plan.shape[1]
    _k.plane_means(_writeable(x).reshape(n_planes, -1), y.reshape(n_planes))
    return y


def global_avg_pool_backward(plan, grad_out):
    n_planes = plan.shape[0] * plan.shape[1]
    gx = np.empty(plan.shape, dtype=plan.dtype)
    scale = plan.dtype.type(1.0 / plan.plane)
    _k.plane_fill(_writeable(grad_out).reshape(n_planes), scale, gx.reshape(n_planes, -1))
    return gx


def _global_argmax(x: np.ndarray) -> np.ndarray:
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    return np.argmax(flat, axis=2)  # first max; a NaN wins (the first NaN)


def global_max_pool(plan, x):
    idx = _global_argmax(x)
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    y = np.take_along_axis(flat, idx[..., None], axis=2)
    return y.reshape(plan.out_shape)


def global_max_pool_backward(plan, grad_out, x):
    n, c = plan.shape[:2]
    idx = _global_argmax(x)
    gx = np.zeros((n, c, plan.plane), dtype=plan.dtype)
    np.put_along_axis(gx, idx[..., None], grad_out.reshape(n, c, 1), 2)
    return gx.reshape(plan.shape)

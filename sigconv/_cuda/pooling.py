"""The CUDA backend of pooling: ``(plan, arrays)`` functions, the interface of
``sigconv._cpu`` (``_cpu.pooling``), launching the kernels of ``pool_kernels``.

Arrays are host arrays of ``plan.dtype`` or the caller's device arrays, already checked against
the plan by the front end (``sigconv.nn._pool``). Results come back as device arrays when an
operand was on the device, as host ndarrays otherwise. Every array is viewed as planes
``(P = N * C, D, H, W)`` (missing leading spatial axes are 1).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _config
from . import common
from .launch import launch
from .pool_kernels import (
    any_bad,
    apply_axis,
    avg_grad,
    avg_pool_kernel,
    indexed_grad,
    lp_coef,
    lp_pool_kernel,
    max_pool_kernel,
    mul_pow,
    plane_fill,
    plane_reduce,
    stoch_infer,
    stoch_infer_grad,
    stoch_train,
)


def _planes(d):
    shape = tuple(int(n) for n in d.shape)
    return common.reshape(d, (shape[0] * shape[1],) + (1,) * (5 - len(shape)) + shape[2:])


def _g3(t, fill):
    return (fill,) * (3 - len(t)) + tuple(int(v) for v in t)


def _launch1d(kernel, n, *args):
    launch(kernel, common.grid_1d(n), _config.CUDA_BLOCK_1D, 0, *args)


def _geom(plan, padded=True):
    nd = plan.nd
    p = plan.padding if padded else (0,) * nd
    return (*_g3(plan.kernel, 1), *_g3(plan.stride, 1), *_g3(p, 0), *_g3(plan.dilation, 1))


def _dev(plan, *arrays):
    """``(on_device, device arrays of plan.dtype)`` for the operands."""
    on = common.on_device(*arrays)
    return on, [common.contiguous(a, plan.dtype) for a in common.views(*arrays)]


# --- max pooling -----------------------------------------------------------------------------


def _max_core(plan, xd, sgn, padded=True):
    yd = common.empty(plan.out_shape, xd.dtype)
    idx = common.empty(plan.out_shape, np.int64)
    _launch1d(max_pool_kernel, math.prod(plan.out_shape), _planes(xd), _planes(yd), _planes(idx),
              *_geom(plan, padded), int(sgn))  # fmt: skip
    return yd, idx


def max_pool(plan, x, return_indices):
    on_device, (xd,) = _dev(plan, x)
    yd, idx = _max_core(plan, xd, 0)
    y = common.finish(yd, None, on_device)
    return (y, common.finish(idx, None, on_device)) if return_indices else y


def _indexed_backward(plan, gd, idx, xd, sgn, padded=True):
    """Each output's gradient to the element its index names (``sgn``: times sign(x))."""
    gx = common.empty(plan.shape, plan.dtype)
    xp = _planes(xd) if sgn != 0 else common.empty((1, 1, 1, 1), plan.dtype)
    _launch1d(indexed_grad, math.prod(plan.shape), _planes(gd), _planes(idx), xp,
              _planes(gx), *_geom(plan, padded), int(sgn))  # fmt: skip
    return gx


def _indices(indices):
    (idx,) = common.views(indices)
    return common.contiguous(idx, np.int64)


def max_pool_backward(plan, grad_out, x, indices):
    on_device, (gd,) = _dev(plan, grad_out)
    on_device = on_device or common.on_device(indices)
    gx = _indexed_backward(plan, gd, _indices(indices), None, 0)
    return common.finish(gx, None, on_device)


# --- average pooling -------------------------------------------------------------------------


def _avg_args(plan):
    has = plan.divisor is not None
    dt = plan.dtype.type
    return int(plan.count_include_pad), int(has), dt(plan.divisor if has else 1)


def avg_pool(plan, x):
    on_device, (xd,) = _dev(plan, x)
    yd = common.empty(plan.out_shape, plan.dtype)
    n_out = math.prod(plan.out_shape)
    _launch1d(avg_pool_kernel, n_out, _planes(xd), _planes(yd), *_geom(plan)[:9], *_avg_args(plan))
    return common.finish(yd, None, on_device)


def avg_pool_backward(plan, grad_out):
    on_device, (gd,) = _dev(plan, grad_out)
    gx = common.empty(plan.shape, plan.dtype)
    _launch1d(avg_grad, math.prod(plan.shape), _planes(gd), _planes(gx), *_geom(plan)[:9],
              *_avg_args(plan))  # fmt: skip
    return common.finish(gx, None, on_device)


# --- Lp pooling ------------------------------------------------------------------------------


def lp_pool(plan, x):
    on_device, (xd,) = _dev(plan, x)
    p = plan.norm_type
    if math.isinf(p):
        yd, _ = _max_core(plan, xd, 1 if p > 0 else -1, padded=False)
        return common.finish(yd, None, on_device)
    dt = plan.dtype.type
    yd = common.empty(plan.out_shape, plan.dtype)
    _launch1d(lp_pool_kernel, math.prod(plan.out_shape), _planes(xd), _planes(yd),
              *_g3(plan.kernel, 1), *_g3(plan.stride, 1), dt(p), dt(1.0 / p))  # fmt: skip
    return common.finish(yd, None, on_device)


def lp_pool_backward(plan, grad_out, x):
    on_device, (gd, xd) = _dev(plan, grad_out, x)
    p = plan.norm_type
    if math.isinf(p):
        sgn = 1 if p > 0 else -1
        _, idx = _max_core(plan, xd, sgn, padded=False)
        gx = _indexed_backward(plan, gd, idx, xd, sgn, padded=False)
        return common.finish(gx, None, on_device)
    dt = plan.dtype.type
    coef = common.empty(plan.out_shape, plan.dtype)
    k3, s3 = _g3(plan.kernel, 1), _g3(plan.stride, 1)
    _launch1d(lp_coef, math.prod(plan.out_shape), _planes(xd), _planes(gd), _planes(coef),
              *k3, *s3, dt(p), dt(1.0 / p))  # fmt: skip
    gx = common.empty(plan.shape, plan.dtype)
    _launch1d(avg_grad, math.prod(plan.shape), _planes(coef), _planes(gx), *k3, *s3, 0, 0, 0,
              1, 1, dt(1))  # fmt: skip
    n = math.prod(plan.shape)
    _launch1d(mul_pow, n, common.reshape(gx, (n,)), common.reshape(xd, (n,)), dt(p - 1.0))
    return common.finish(gx, None, on_device)


# --- stochastic pooling ----------------------------------------------------------------------


def _check_non_negative(xd):
    n = math.prod(xd.shape)
    flag = common.contiguous(np.zeros(1, dtype=np.int32), np.int32)
    _launch1d(any_bad, n, common.reshape(xd, (n,)), flag)
    if flag.copy_to_host()[0]:
        raise ValueError(
            "x must be non-negative for stochastic pooling (apply it after a ReLU, as Zeiler "
            "and Fergus do); got a negative or NaN value"
        )


def stochastic_pool(plan, x, rng, return_indices):
    """The uniform draws come from ``rng`` on the host (one per output, as on the CPU), so a
    seed gives the same windows' choices on both backends."""
    on_device, (xd,) = _dev(plan, x)
    _check_non_negative(xd)
    yd = common.empty(plan.out_shape, plan.dtype)
    k3, s3 = _g3(plan.kernel, 1), _g3(plan.stride, 1)
    n_out = math.prod(plan.out_shape)
    if not plan.training:
        _launch1d(stoch_infer, n_out, _planes(xd), _planes(yd), *k3, *s3)
        return common.finish(yd, None, on_device)
    u = common.contiguous(rng.random(plan.out_shape), plan.dtype)
    idx = common.empty(plan.out_shape, np.int64)
    _launch1d(stoch_train, n_out, _planes(xd), _planes(u), _planes(yd), _planes(idx), *k3, *s3)
    y = common.finish(yd, None, on_device)
    return (y, common.finish(idx, None, on_device)) if return_indices else y


def stochastic_pool_backward(plan, grad_out, x, indices):
    if plan.training:
        on_device, (gd,) = _dev(plan, grad_out)
        on_device = on_device or common.on_device(x, indices)
        gx = _indexed_backward(plan, gd, _indices(indices), None, 0, padded=False)
        return common.finish(gx, None, on_device)
    on_device, (gd, xd) = _dev(plan, grad_out, x)
    _check_non_negative(xd)
    gx = common.empty(plan.shape, plan.dtype)
    _launch1d(stoch_infer_grad, math.prod(plan.shape), _planes(gd), _planes(xd), _planes(gx),
              *_g3(plan.kernel, 1), *_g3(plan.stride, 1))  # fmt: skip
    return common.finish(gx, None, on_device)


# --- global pooling --------------------------------------------------------------------------


def _reduce_threads():
    return 1 << (max(1, int(_config.CUDA_BLOCK_1D)).bit_length() - 1)


def _plane_stats(xd, want_max):
    shape = tuple(int(n) for n in xd.shape)
    P, M = shape[0] * shape[1], math.prod(shape[2:])
    x2 = common.reshape(xd, (P, M))
    out = common.empty((P,), xd.dtype)
    idx = common.empty((P,), np.int64)
    threads = _reduce_threads()
    shbytes = threads * 16  # value tree (<= 8 bytes each), then the int64 index tree
    blocks = max(1, min(P, _config.CUDA_MAX_BLOCKS_1D))
    launch(plane_reduce, blocks, threads, shbytes, x2, out, idx, int(want_max))
    return out, idx, P, M


def global_avg_pool(plan, x):
    on_device, (xd,) = _dev(plan, x)
    sums, _, P, M = _plane_stats(xd, False)
    y = common.empty((P, 1), plan.dtype)
    _launch1d(plane_fill, P, sums, common.empty((1,), np.int64), y, plan.dtype.type(1.0 / M), 0)
    return common.finish(common.reshape(y, plan.out_shape), None, on_device)


def global_avg_pool_backward(plan, grad_out):
    on_device, (gd,) = _dev(plan, grad_out)
    P, M = plan.shape[0] * plan.shape[1], plan.plane
    gx = common.empty((P, M), plan.dtype)
    _launch1d(plane_fill, P * M, common.reshape(gd, (P,)), common.empty((1,), np.int64), gx,
              plan.dtype.type(1.0 / M), 0)  # fmt: skip
    return common.finish(common.reshape(gx, plan.shape), None, on_device)


def global_max_pool(plan, x):
    on_device, (xd,) = _dev(plan, x)
    best, _, _, _ = _plane_stats(xd, True)
    return common.finish(common.reshape(best, plan.out_shape), None, on_device)


def global_max_pool_backward(plan, grad_out, x):
    on_device, (gd, xd) = _dev(plan, grad_out, x)
    _, idx, P, M = _plane_stats(xd, True)
    gx = common.empty((P, M), plan.dtype)
    _launch1d(plane_fill, P * M, common.reshape(gd, (P,)), idx, gx, plan.dtype.type(0), 1)
    return common.finish(common.reshape(gx, plan.shape), None, on_device)


# --- spectral pooling ------------------------------------------------------------------------


def _spectral_matrix(n, m, dtype, adjoint=False):
    """The real ``(m, n)`` matrix of spectral pooling along one axis (its transpose for the
    adjoint), from the definition applied to the identity."""
    import scipy.fft

    eye = np.eye(n)
    spec = scipy.fft.rfft(eye, axis=0)[: m // 2 + 1]
    mat = scipy.fft.irfft(spec, n=m, axis=0) * (m / n)
    return np.ascontiguousarray((mat.T if adjoint else mat).astype(dtype))


def _apply_axes(d, sizes, dtype, adjoint):
    cur = d
    dims = [int(n) for n in d.shape]
    for axis in range(2, len(dims)):
        n_in, n_out = dims[axis], sizes[axis - 2]
        if n_in == n_out:
            continue
        mat = common.contiguous(
            _spectral_matrix(
                n_out if adjoint else n_in, n_in if adjoint else n_out, dtype, adjoint
            ),  # fmt: skip
            dtype,
        )
        A, C = math.prod(dims[:axis]), math.prod(dims[axis + 1 :])
        src = common.reshape(cur, (A, n_in, C))
        dst = common.empty((A, n_out, C), dtype)
        _launch1d(apply_axis, A * n_out * C, src, mat, dst)
        dims[axis] = n_out
        cur = common.reshape(dst, dims)
    return cur


def spectral_pool(plan, x):
    """Per axis, the (real, linear) low-pass resampling map of the CPU definition, applied as
    a small matrix product."""
    on_device, (xd,) = _dev(plan, x)
    return common.finish(_apply_axes(xd, plan.out, plan.dtype, False), None, on_device)


def spectral_pool_backward(plan, grad_out):
    """The adjoint of :func:`spectral_pool`."""
    on_device, (gd,) = _dev(plan, grad_out)
    return common.finish(_apply_axes(gd, plan.shape[2:], plan.dtype, True), None, on_device)

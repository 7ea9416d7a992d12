"""Pooling on the GPU: twins of ``sigconv.nn._pool``'s functions, same names and arguments.

``sigconv.nn._pool`` validates and normalises every option (contract in its docstring) and
calls the function of the same name here with ``x`` (and ``grad_out``/``indices``) as given:
host or device arrays. Results come back as device arrays when an operand was on the device,
as host ndarrays otherwise. Semantics (ties, NaN, ceil_mode, divisors, index layout) are those
of the CPU functions, which follow PyTorch.

Every array is viewed as planes ``(P = N * C, D, H, W)`` (missing leading spatial axes are 1).
Kernels run one thread per output (grid-stride loops over all outputs, consecutive threads on
the contiguous axis). Backward passes are gathers, not scatters: each input element sums the
outputs whose windows hold it, so there are no atomics and results are deterministic; a
gradient routed by ``indices`` only reaches the element whose flat index matches, so indices
out of range are ignored rather than written out of bounds.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, types

from .. import _config, _validate
from . import _launch

# --- shared helpers ------------------------------------------------------------------------------


@cuda.jit(device=True, inline=True, cache=True)
def _split4(t, O0, O1, O2):
    o2 = t % O2
    r = t // O2
    o1 = r % O1
    r //= O1
    o0 = r % O0
    return r // O0, o0, o1, o2


@cuda.jit(device=True, inline=True, cache=True)
def _window_of(i, p, t, d, s, O):
    """Output whose window's tap ``t`` reads input ``i``, or -1."""
    q = i + p - t * d
    if q < 0:
        return -1
    o = q // s
    if o * s != q or o >= O:
        return -1
    return o


@cuda.jit(device=True, inline=True, cache=True)
def _count(o, s, p, k, n, cip):
    """Elements of window ``o`` that the average divides by, along one axis (PyTorch)."""
    start = o * s - p
    if cip:
        return min(start + k, n + p) - start
    return min(start + k, n) - max(start, 0)


# --- max pooling (and Lp pooling with p = +-inf) ----------------------------------------------


@cuda.jit(cache=True)
def _max_pool(x, y, idx, k0, k1, k2, s0, s1, s2, p0, p1, p2, d0, d1, d2, sgn):
    # Max of v over each window, v = x (sgn 0), |x| (sgn 1) or -|x| (sgn -1); y = max, or -max
    # for sgn -1 (the min of |x|). Ties: first in scan order; NaN wins, the last NaN.
    _, D, H, W = x.shape
    _, O0, O1, O2 = y.shape
    for t in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        pl, o0, o1, o2 = _split4(t, O0, O1, O2)
        best = x.dtype.type(-np.inf)
        bi = -1
        for a in range(k0):
            i0 = o0 * s0 - p0 + a * d0
            if i0 < 0 or i0 >= D:
                continue
            for b in range(k1):
                i1 = o1 * s1 - p1 + b * d1
                if i1 < 0 or i1 >= H:
                    continue
                for c in range(k2):
                    i2 = o2 * s2 - p2 + c * d2
                    if i2 < 0 or i2 >= W:
                        continue
                    v = x[pl, i0, i1, i2]
                    if sgn != 0:
                        v = abs(v) if sgn > 0 else -abs(v)
                    if bi < 0 or v > best or v != v:
                        best = v
                        bi = (i0 * H + i1) * W + i2
        y[pl, o0, o1, o2] = -best if sgn < 0 else best
        idx[pl, o0, o1, o2] = bi


@cuda.jit(cache=True)
def _indexed_grad(g, idx, x, gx, k0, k1, k2, s0, s1, s2, p0, p1, p2, d0, d1, d2, sgn):
    # gx[i] = sum of g[o] over the windows o holding i whose index names i; times sign(x[i])
    # when sgn != 0 (the gradient of |x| for Lp pooling with p = +-inf).
    _, D, H, W = gx.shape
    _, O0, O1, O2 = g.shape
    for t in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        pl, i0, i1, i2 = _split4(t, D, H, W)
        flat = (i0 * H + i1) * W + i2
        acc = gx.dtype.type(0)
        for a in range(k0):
            o0 = _window_of(i0, p0, a, d0, s0, O0)
            if o0 < 0:
                continue
            for b in range(k1):
                o1 = _window_of(i1, p1, b, d1, s1, O1)
                if o1 < 0:
                    continue
                for c in range(k2):
                    o2 = _window_of(i2, p2, c, d2, s2, O2)
                    if o2 >= 0 and idx[pl, o0, o1, o2] == flat:
                        acc += g[pl, o0, o1, o2]
        if sgn != 0:
            v = x[pl, i0, i1, i2]
            if v > 0:
                pass
            elif v < 0:
                acc = -acc
            elif v == 0:
                acc = acc - acc
            else:
                acc = v  # NaN, as numpy's sign
        gx[pl, i0, i1, i2] = acc


# --- average pooling -----------------------------------------------------------------------------


@cuda.jit(cache=True)
def _avg_pool(x, y, k0, k1, k2, s0, s1, s2, p0, p1, p2, cip, has_ovr, ovr):
    _, D, H, W = x.shape
    _, O0, O1, O2 = y.shape
    for t in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        pl, o0, o1, o2 = _split4(t, O0, O1, O2)
        acc = x.dtype.type(0)
        for a in range(k0):
            i0 = o0 * s0 - p0 + a
            if i0 < 0 or i0 >= D:
                continue
            for b in range(k1):
                i1 = o1 * s1 - p1 + b
                if i1 < 0 or i1 >= H:
                    continue
                for c in range(k2):
                    i2 = o2 * s2 - p2 + c
                    if i2 >= 0 and i2 < W:
                        acc += x[pl, i0, i1, i2]
        if has_ovr:
            y[pl, o0, o1, o2] = acc / ovr
        else:
            div = (
                _count(o0, s0, p0, k0, D, cip)
                * _count(o1, s1, p1, k1, H, cip)
                * _count(o2, s2, p2, k2, W, cip)
            )
            y[pl, o0, o1, o2] = acc / x.dtype.type(div)


@cuda.jit(cache=True)
def _avg_grad(g, gx, k0, k1, k2, s0, s1, s2, p0, p1, p2, cip, has_ovr, ovr):
    # gx[i] = sum over windows o holding i of g[o] / divisor(o) (divisor ovr when has_ovr).
    _, D, H, W = gx.shape
    _, O0, O1, O2 = g.shape
    for t in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        pl, i0, i1, i2 = _split4(t, D, H, W)
        acc = gx.dtype.type(0)
        for a in range(k0):
            o0 = _window_of(i0, p0, a, 1, s0, O0)
            if o0 < 0:
                continue
            for b in range(k1):
                o1 = _window_of(i1, p1, b, 1, s1, O1)
                if o1 < 0:
                    continue
                for c in range(k2):
                    o2 = _window_of(i2, p2, c, 1, s2, O2)
                    if o2 < 0:
                        continue
                    if has_ovr:
                        acc += g[pl, o0, o1, o2] / ovr
                    else:
                        div = (
                            _count(o0, s0, p0, k0, D, cip)
                            * _count(o1, s1, p1, k1, H, cip)
                            * _count(o2, s2, p2, k2, W, cip)
                        )
                        acc += g[pl, o0, o1, o2] / gx.dtype.type(div)
        gx[pl, i0, i1, i2] = acc


# --- Lp pooling (finite p) ---------------------------------------------------------------------


@cuda.jit(device=True, inline=True, cache=True)
def _lp_total(x, pl, o0, o1, o2, k0, k1, k2, s0, s1, s2, p):
    """PyTorch's ``avg_pool(x ** p) * prod(k)``: windows cut by ceil_mode average their
    in-bounds part, then scale by the full kernel size."""
    _, D, H, W = x.shape
    acc = x.dtype.type(0)
    for a in range(k0):
        i0 = o0 * s0 + a
        if i0 >= D:
            continue
        for b in range(k1):
            i1 = o1 * s1 + b
            if i1 >= H:
                continue
            for c in range(k2):
                i2 = o2 * s2 + c
                if i2 < W:
                    acc += x[pl, i0, i1, i2] ** p
    inb = _count(o0, s0, 0, k0, D, True) * _count(o1, s1, 0, k1, H, True)
    inb *= _count(o2, s2, 0, k2, W, True)
    return acc / x.dtype.type(inb) * x.dtype.type(k0 * k1 * k2)


@cuda.jit(cache=True)
def _lp_pool(x, y, k0, k1, k2, s0, s1, s2, p, inv_p):
    _, O0, O1, O2 = y.shape
    for t in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        pl, o0, o1, o2 = _split4(t, O0, O1, O2)
        total = _lp_total(x, pl, o0, o1, o2, k0, k1, k2, s0, s1, s2, p)
        y[pl, o0, o1, o2] = total**inv_p


@cuda.jit(cache=True)
def _lp_coef(x, g, coef, k0, k1, k2, s0, s1, s2, p, inv_p):
    # coef[o] = g * y / total * prod(k) / in-bounds count (0 where total == 0): what the
    # backward gather spreads over window o before the factor x ** (p - 1).
    _, D, H, W = x.shape
    _, O0, O1, O2 = g.shape
    for t in range(cuda.grid(1), g.size, cuda.gridsize(1)):
        pl, o0, o1, o2 = _split4(t, O0, O1, O2)
        total = _lp_total(x, pl, o0, o1, o2, k0, k1, k2, s0, s1, s2, p)
        r = x.dtype.type(0)
        if total != 0:
            r = g[pl, o0, o1, o2] * total**inv_p / total
        inb = _count(o0, s0, 0, k0, D, True) * _count(o1, s1, 0, k1, H, True)
        inb *= _count(o2, s2, 0, k2, W, True)
        coef[pl, o0, o1, o2] = r / x.dtype.type(inb) * x.dtype.type(k0 * k1 * k2)


@cuda.jit(cache=True)
def _mul_pow(gx, x, e):
    # gx *= x ** e, elementwise on flat views.
    for t in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        gx[t] *= x[t] ** e


# --- stochastic pooling --------------------------------------------------------------------------


@cuda.jit(cache=True)
def _any_bad(x, flag):
    # flag[0] = 1 when some element is negative or NaN (not >= 0).
    for t in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        if not x[t] >= 0:
            flag[0] = 1


@cuda.jit(cache=True)
def _stoch_train(x, u, y, idx, k0, k1, k2, s0, s1, s2):
    # Draw element i with probability x_i / sum(window) by the cumulative sum crossing
    # u * sum; an all-zero window takes element floor(u * size) in scan order.
    _, D, H, W = x.shape
    _, O0, O1, O2 = y.shape
    ksize = k0 * k1 * k2
    for t in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        pl, o0, o1, o2 = _split4(t, O0, O1, O2)
        total = x.dtype.type(0)
        for a in range(k0):
            for b in range(k1):
                for c in range(k2):
                    total += x[pl, o0 * s0 + a, o1 * s1 + b, o2 * s2 + c]
        uu = u[pl, o0, o1, o2]
        chosen = -1
        if total > 0:
            thr = uu * total
            cum = total - total
            last = -1
            for a in range(k0):
                for b in range(k1):
                    for c in range(k2):
                        i0, i1, i2 = o0 * s0 + a, o1 * s1 + b, o2 * s2 + c
                        v = x[pl, i0, i1, i2]
                        if v > 0 and chosen < 0:
                            last = (i0 * H + i1) * W + i2
                            cum += v
                            if cum > thr:
                                chosen = last
            if chosen < 0:  # rounding left thr at the very top: the last positive element
                chosen = last
        else:
            kk = min(int(uu * x.dtype.type(ksize)), ksize - 1)
            c = kk % k2
            b = (kk // k2) % k1
            a = kk // (k1 * k2)
            chosen = ((o0 * s0 + a) * H + o1 * s1 + b) * W + o2 * s2 + c
        c2 = chosen % W
        c1 = (chosen // W) % H
        c0 = chosen // (W * H)
        y[pl, o0, o1, o2] = x[pl, c0, c1, c2]
        idx[pl, o0, o1, o2] = chosen


@cuda.jit(device=True, inline=True, cache=True)
def _stoch_sums(x, pl, o0, o1, o2, k0, k1, k2, s0, s1, s2):
    s1_ = x.dtype.type(0)
    s2_ = x.dtype.type(0)
    for a in range(k0):
        for b in range(k1):
            for c in range(k2):
                v = x[pl, o0 * s0 + a, o1 * s1 + b, o2 * s2 + c]
                s1_ += v
                s2_ += v * v
    return s1_, s2_


@cuda.jit(cache=True)
def _stoch_infer(x, y, k0, k1, k2, s0, s1, s2):
    _, O0, O1, O2 = y.shape
    for t in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        pl, o0, o1, o2 = _split4(t, O0, O1, O2)
        a1, a2 = _stoch_sums(x, pl, o0, o1, o2, k0, k1, k2, s0, s1, s2)
        y[pl, o0, o1, o2] = a2 / a1 if a1 > 0 else x.dtype.type(0)


@cuda.jit(cache=True)
def _stoch_infer_grad(g, x, gx, k0, k1, k2, s0, s1, s2):
    # d y / d x_j = (2 x_j S1 - S2) / S1^2 per window (0 for an all-zero window), gathered.
    _, D, H, W = gx.shape
    _, O0, O1, O2 = g.shape
    for t in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        pl, i0, i1, i2 = _split4(t, D, H, W)
        xv = x[pl, i0, i1, i2]
        acc = gx.dtype.type(0)
        for a in range(k0):
            o0 = _window_of(i0, 0, a, 1, s0, O0)
            if o0 < 0:
                continue
            for b in range(k1):
                o1 = _window_of(i1, 0, b, 1, s1, O1)
                if o1 < 0:
                    continue
                for c in range(k2):
                    o2 = _window_of(i2, 0, c, 1, s2, O2)
                    if o2 < 0:
                        continue
                    a1, a2 = _stoch_sums(x, pl, o0, o1, o2, k0, k1, k2, s0, s1, s2)
                    if a1 > 0:
                        gv = g[pl, o0, o1, o2]
                        acc += (gv + gv) / a1 * xv - gv * a2 / (a1 * a1)
        gx[pl, i0, i1, i2] = acc


# --- global pooling ------------------------------------------------------------------------------


@cuda.jit(cache=True)
def _plane_reduce(x, out, idx, want_max):
    # Per plane of x (P, M): the sum (want_max 0) or the max and its first index, NaN winning
    # (the first NaN), as numpy's argmax (want_max 1). One block per plane, tree in shared memory.
    P, M = x.shape
    nthreads = cuda.blockDim.x
    tid = cuda.threadIdx.x
    sh = cuda.shared.array(0, x.dtype)
    red = sh[:nthreads]
    ish = cuda.shared.array(0, types.int64)
    # int64 tree after the value tree; the dynamic buffer holds both (host sizes it).
    ired = ish[nthreads:]
    for pl in range(cuda.blockIdx.x, P, cuda.gridDim.x):
        if want_max:
            best = x.dtype.type(-np.inf)
            bi = -1
            for m in range(tid, M, nthreads):
                v = x[pl, m]
                # strided scan: indices rise, so the first max/NaN of this thread is kept
                if bi < 0 or (v > best and best == best) or (v != v and best == best):
                    best = v
                    bi = m
            red[tid] = best
            ired[tid] = bi
            half = nthreads // 2
            while half > 0:
                cuda.syncthreads()
                if tid < half:
                    v, j = red[tid + half], ired[tid + half]
                    b, i = red[tid], ired[tid]
                    take = False
                    if j >= 0:
                        if i < 0:
                            take = True
                        elif b != b:
                            take = v != v and j < i
                        elif v != v:
                            take = True
                        else:
                            take = v > b or (v == b and j < i)
                    if take:
                        red[tid] = v
                        ired[tid] = j
                half //= 2
            cuda.syncthreads()
            if tid == 0:
                out[pl] = red[0]
                idx[pl] = ired[0]
        else:
            acc = x.dtype.type(0)
            for m in range(tid, M, nthreads):
                acc += x[pl, m]
            red[tid] = acc
            half = nthreads // 2
            while half > 0:
                cuda.syncthreads()
                if tid < half:
                    red[tid] += red[tid + half]
                half //= 2
            cuda.syncthreads()
            if tid == 0:
                out[pl] = red[0]
        cuda.syncthreads()


@cuda.jit(cache=True)
def _plane_fill(g, idx, gx, scale, use_idx):
    # gx (P, M): g[p] * scale everywhere (use_idx 0), or g[p] at idx[p] and 0 elsewhere.
    P, M = gx.shape
    for t in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        pl = t // M
        m = t - pl * M
        if use_idx:
            gx[pl, m] = g[pl] if m == idx[pl] else gx.dtype.type(0)
        else:
            gx[pl, m] = g[pl] * scale


# --- spectral pooling: a real linear map per axis ------------------------------------------------


@cuda.jit(cache=True)
def _apply_axis(src, mat, dst):
    # dst[a, j, c] = sum_i mat[j, i] * src[a, i, c]
    A, m, C = dst.shape
    n = src.shape[1]
    for t in range(cuda.grid(1), dst.size, cuda.gridsize(1)):
        c = t % C
        r = t // C
        j = r % m
        a = r // m
        acc = dst.dtype.type(0)
        for i in range(n):
            acc += mat[j, i] * src[a, i, c]
        dst[a, j, c] = acc


# --- PTX registry --------------------------------------------------------------------------------


def _sigs():
    s = {}
    i = "int64"
    for t in ("float32", "float64"):
        a4, a2, a1 = f"{t}[:, :, :, ::1]", f"{t}[:, ::1]", f"{t}[::1]"
        i4, i1 = "int64[:, :, :, ::1]", "int64[::1]"
        s.setdefault("max", []).append(f"void({a4}, {a4}, {i4}, {', '.join([i] * 13)})")
        s.setdefault("igrad", []).append(f"void({a4}, {i4}, {a4}, {a4}, {', '.join([i] * 13)})")
        s.setdefault("avg", []).append(f"void({a4}, {a4}, {', '.join([i] * 11)}, {t})")
        s.setdefault("lp", []).append(f"void({a4}, {a4}, {', '.join([i] * 6)}, {t}, {t})")
        s.setdefault("lpc", []).append(f"void({a4}, {a4}, {a4}, {', '.join([i] * 6)}, {t}, {t})")
        s.setdefault("mulpow", []).append(f"void({a1}, {a1}, {t})")
        s.setdefault("bad", []).append(f"void({a1}, int32[::1])")
        s.setdefault("strain", []).append(f"void({a4}, {a4}, {a4}, {i4}, {', '.join([i] * 6)})")
        s.setdefault("sinf", []).append(f"void({a4}, {a4}, {', '.join([i] * 6)})")
        s.setdefault("sgrad", []).append(f"void({a4}, {a4}, {a4}, {', '.join([i] * 6)})")
        s.setdefault("red", []).append(f"void({a2}, {a1}, {i1}, int64)")
        s.setdefault("fill", []).append(f"void({a1}, {i1}, {a2}, {t}, int64)")
        s.setdefault("axis", []).append(f"void({t}[:, :, ::1], {a2}, {t}[:, :, ::1])")
    return s


_S = _sigs()
PTX_SIGNATURES = [
    (_max_pool, _S["max"]),
    (_indexed_grad, _S["igrad"]),
    (_avg_pool, _S["avg"]),
    (_avg_grad, _S["avg"]),
    (_lp_pool, _S["lp"]),
    (_lp_coef, _S["lpc"]),
    (_mul_pow, _S["mulpow"]),
    (_any_bad, _S["bad"]),
    (_stoch_train, _S["strain"]),
    (_stoch_infer, _S["sinf"]),
    (_stoch_infer_grad, _S["sgrad"]),
    (_plane_reduce, _S["red"]),
    (_plane_fill, _S["fill"]),
    (_apply_axis, _S["axis"]),
]


# --- host side -----------------------------------------------------------------------------------


def _pool_size(n, k, s, p, d, ceil_mode):
    from ..nn._pool import _pool_size as size  # one definition of PyTorch's rule

    return size(n, k, s, p, d, ceil_mode)


def _views(*arrays):
    return [a if a is None or not _launch.is_device(a) else _launch.device_view(a) for a in arrays]


def _dtype_of(*arrays):
    return _validate.compute_dtype(*[a for a in arrays if a is not None])


def _planes(d):
    shape = tuple(int(n) for n in d.shape)
    return _launch.reshape(d, (shape[0] * shape[1],) + (1,) * (5 - len(shape)) + shape[2:])


def _g3(t, fill):
    return (fill,) * (3 - len(t)) + tuple(int(v) for v in t)


def _launch1d(kernel, n, *args):
    kernel[_launch.grid_1d(n), _config.CUDA_BLOCK_1D](*args)


def _check_shape(a, shape, name):
    if tuple(int(n) for n in a.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}; got {tuple(a.shape)}")


def _out_shape(shape, k, s, p, d, ceil_mode):
    return tuple(shape[:2]) + tuple(
        _pool_size(n, kk, ss, pp, dd, ceil_mode) for n, kk, ss, pp, dd in zip(shape[2:], k, s, p, d)
    )


def _geom(k, s, p, d):
    return (*_g3(k, 1), *_g3(s, 1), *_g3(p, 0), *_g3(d, 1))


def _max_core(xd, k, s, p, d, ceil_mode, sgn):
    shape = tuple(int(n) for n in xd.shape)
    out = _out_shape(shape, k, s, p, d, ceil_mode)
    yd = _launch.empty(out, xd.dtype)
    idx = _launch.empty(out, np.int64)
    _launch1d(_max_pool, math.prod(out), _planes(xd), _planes(yd), _planes(idx),
              *_geom(k, s, p, d), int(sgn))  # fmt: skip
    return yd, idx


def max_pool(x, kernel_size, stride, padding, *, dilation, ceil_mode, return_indices):
    """``sigconv.nn.functional.max_pool`` on the GPU (indices int64, PyTorch's layout)."""
    on_device = _launch.is_device(x)
    (x,) = _views(x)
    xd = _launch.contiguous(x, _dtype_of(x))
    yd, idx = _max_core(xd, kernel_size, stride, padding, dilation, ceil_mode, 0)
    y = _launch.finish(yd, None, on_device)
    return (y, _launch.finish(idx, None, on_device)) if return_indices else y


def _indexed_backward(grad_out, x, indices, k, s, p, d, ceil_mode, sgn):
    on_device = _launch.is_device(grad_out) or _launch.is_device(x) or _launch.is_device(indices)
    grad_out, x, indices = _views(grad_out, x, indices)
    shape = tuple(int(n) for n in x.shape)
    out = _out_shape(shape, k, s, p, d, ceil_mode)
    _check_shape(grad_out, out, "grad_out")
    _check_shape(indices, out, "indices")
    dtype = _dtype_of(x, grad_out)
    gd = _launch.contiguous(grad_out, dtype)
    idx = _launch.contiguous(indices, np.int64)
    xd = _launch.contiguous(x, dtype) if sgn != 0 else _launch.empty((1,) * len(shape), dtype)
    gx = _launch.empty(shape, dtype)
    _launch1d(_indexed_grad, math.prod(shape), _planes(gd), _planes(idx),
              _planes(xd) if sgn != 0 else _launch.reshape(xd, (1, 1, 1, 1)), _planes(gx),
              *_geom(k, s, p, d), int(sgn))  # fmt: skip
    return _launch.finish(gx, None, on_device)


def max_pool_backward(grad_out, x, indices, kernel_size, stride, padding, *, dilation, ceil_mode):
    """Gradient of :func:`max_pool`: each output's gradient goes to the element it names."""
    return _indexed_backward(
        grad_out, x, indices, kernel_size, stride, padding, dilation, ceil_mode, 0
    )


def _avg_args(count_include_pad, divisor_override, dtype):
    has = divisor_override is not None
    return int(bool(count_include_pad)), int(has), dtype.type(divisor_override if has else 1)


def avg_pool(x, kernel_size, stride, padding, *, ceil_mode, count_include_pad, divisor_override):
    """``sigconv.nn.functional.avg_pool`` on the GPU."""
    on_device = _launch.is_device(x)
    (x,) = _views(x)
    dtype = _dtype_of(x)
    xd = _launch.contiguous(x, dtype)
    ones = (1,) * len(kernel_size)
    out = _out_shape(tuple(int(n) for n in x.shape), kernel_size, stride, padding, ones, ceil_mode)
    yd = _launch.empty(out, dtype)
    geom = _geom(kernel_size, stride, padding, ones)[:9]
    _launch1d(_avg_pool, math.prod(out), _planes(xd), _planes(yd), *geom,
              *_avg_args(count_include_pad, divisor_override, dtype))  # fmt: skip
    return _launch.finish(yd, None, on_device)


def avg_pool_backward(
    grad_out, x, kernel_size, stride, padding, *, ceil_mode, count_include_pad, divisor_override
):
    """Gradient of :func:`avg_pool` (only ``x``'s shape and dtype are used)."""
    on_device = _launch.is_device(grad_out) or _launch.is_device(x)
    grad_out, x = _views(grad_out, x)
    shape = tuple(int(n) for n in x.shape)
    ones = (1,) * len(kernel_size)
    out = _out_shape(shape, kernel_size, stride, padding, ones, ceil_mode)
    _check_shape(grad_out, out, "grad_out")
    dtype = _dtype_of(x, grad_out)
    gd = _launch.contiguous(grad_out, dtype)
    gx = _launch.empty(shape, dtype)
    geom = _geom(kernel_size, stride, padding, ones)[:9]
    _launch1d(_avg_grad, math.prod(shape), _planes(gd), _planes(gx), *geom,
              *_avg_args(count_include_pad, divisor_override, dtype))  # fmt: skip
    return _launch.finish(gx, None, on_device)


def lp_pool(x, norm_type, kernel_size, stride, *, ceil_mode):
    """``sigconv.nn.functional.lp_pool`` on the GPU (``norm_type`` +-inf: max/min of |x|)."""
    on_device = _launch.is_device(x)
    (x,) = _views(x)
    dtype = _dtype_of(x)
    xd = _launch.contiguous(x, dtype)
    zeros, ones = (0,) * len(kernel_size), (1,) * len(kernel_size)
    if math.isinf(norm_type):
        yd, _ = _max_core(
            xd, kernel_size, stride, zeros, ones, ceil_mode, 1 if norm_type > 0 else -1
        )
        return _launch.finish(yd, None, on_device)
    out = _out_shape(tuple(int(n) for n in x.shape), kernel_size, stride, zeros, ones, ceil_mode)
    yd = _launch.empty(out, dtype)
    _launch1d(_lp_pool, math.prod(out), _planes(xd), _planes(yd),
              *_g3(kernel_size, 1), *_g3(stride, 1), dtype.type(norm_type),
              dtype.type(1.0 / norm_type))  # fmt: skip
    return _launch.finish(yd, None, on_device)


def lp_pool_backward(grad_out, x, norm_type, kernel_size, stride, *, ceil_mode):
    """Gradient of :func:`lp_pool` (zero where a window's sum of ``x ** p`` is zero)."""
    zeros, ones = (0,) * len(kernel_size), (1,) * len(kernel_size)
    if math.isinf(norm_type):
        sgn = 1 if norm_type > 0 else -1
        on_device = _launch.is_device(grad_out) or _launch.is_device(x)
        gv, xv = _views(grad_out, x)
        xd = _launch.contiguous(xv, _dtype_of(xv, gv))
        _, idx = _max_core(xd, kernel_size, stride, zeros, ones, ceil_mode, sgn)
        gx = _indexed_backward(gv, xd, idx, kernel_size, stride, zeros, ones, ceil_mode, sgn)
        return gx if on_device else _launch.finish(gx, None, False)
    on_device = _launch.is_device(grad_out) or _launch.is_device(x)
    grad_out, x = _views(grad_out, x)
    shape = tuple(int(n) for n in x.shape)
    out = _out_shape(shape, kernel_size, stride, zeros, ones, ceil_mode)
    _check_shape(grad_out, out, "grad_out")
    dtype = _dtype_of(x, grad_out)
    xd = _launch.contiguous(x, dtype)
    gd = _launch.contiguous(grad_out, dtype)
    coef = _launch.empty(out, dtype)
    k3, s3 = _g3(kernel_size, 1), _g3(stride, 1)
    p, inv_p = dtype.type(norm_type), dtype.type(1.0 / norm_type)
    _launch1d(_lp_coef, math.prod(out), _planes(xd), _planes(gd), _planes(coef), *k3, *s3, p,
              inv_p)  # fmt: skip
    gx = _launch.empty(shape, dtype)
    _launch1d(_avg_grad, math.prod(shape), _planes(coef), _planes(gx), *k3, *s3, 0, 0, 0,
              1, 1, dtype.type(1))  # fmt: skip
    n = math.prod(shape)
    _launch1d(_mul_pow, n, _launch.reshape(gx, (n,)), _launch.reshape(xd, (n,)),
              dtype.type(norm_type - 1.0))  # fmt: skip
    return _launch.finish(gx, None, on_device)


def _check_non_negative(xd):
    n = math.prod(xd.shape)
    flag = _launch.contiguous(np.zeros(1, dtype=np.int32), np.int32)
    _launch1d(_any_bad, n, _launch.reshape(xd, (n,)), flag)
    if flag.copy_to_host()[0]:
        raise ValueError(
            "x must be non-negative for stochastic pooling (apply it after a ReLU, as Zeiler "
            "and Fergus do); got a negative or NaN value"
        )


def stochastic_pool(x, kernel_size, stride, *, training, rng, return_indices):
    """``sigconv.nn.functional.stochastic_pool`` on the GPU.

    The uniform draws come from ``rng`` on the host (one per output, as on the CPU), so a seed
    gives the same windows' choices on both backends.
    """
    on_device = _launch.is_device(x)
    (x,) = _views(x)
    dtype = _dtype_of(x)
    xd = _launch.contiguous(x, dtype)
    _check_non_negative(xd)
    ones = (1,) * len(kernel_size)
    zeros = (0,) * len(kernel_size)
    out = _out_shape(tuple(int(n) for n in x.shape), kernel_size, stride, zeros, ones, False)
    yd = _launch.empty(out, dtype)
    k3, s3 = _g3(kernel_size, 1), _g3(stride, 1)
    if not training:
        _launch1d(_stoch_infer, math.prod(out), _planes(xd), _planes(yd), *k3, *s3)
        return _launch.finish(yd, None, on_device)
    u = _launch.contiguous(rng.random(out), dtype)
    idx = _launch.empty(out, np.int64)
    _launch1d(_stoch_train, math.prod(out), _planes(xd), _planes(u), _planes(yd), _planes(idx),
              *k3, *s3)  # fmt: skip
    y = _launch.finish(yd, None, on_device)
    return (y, _launch.finish(idx, None, on_device)) if return_indices else y


def stochastic_pool_backward(grad_out, x, kernel_size, stride, *, training, indices):
    """Gradient of :func:`stochastic_pool` with respect to ``x``."""
    zeros, ones = (0,) * len(kernel_size), (1,) * len(kernel_size)
    if training:
        return _indexed_backward(grad_out, x, indices, kernel_size, stride, zeros, ones, False, 0)
    on_device = _launch.is_device(grad_out) or _launch.is_device(x)
    grad_out, x = _views(grad_out, x)
    shape = tuple(int(n) for n in x.shape)
    out = _out_shape(shape, kernel_size, stride, zeros, ones, False)
    _check_shape(grad_out, out, "grad_out")
    dtype = _dtype_of(x, grad_out)
    xd = _launch.contiguous(x, dtype)
    _check_non_negative(xd)
    gd = _launch.contiguous(grad_out, dtype)
    gx = _launch.empty(shape, dtype)
    _launch1d(_stoch_infer_grad, math.prod(shape), _planes(gd), _planes(xd), _planes(gx),
              *_g3(kernel_size, 1), *_g3(stride, 1))  # fmt: skip
    return _launch.finish(gx, None, on_device)


def _reduce_threads():
    return 1 << (max(1, int(_config.CUDA_BLOCK_1D)).bit_length() - 1)


def _plane_stats(xd, want_max):
    shape = tuple(int(n) for n in xd.shape)
    P, M = shape[0] * shape[1], math.prod(shape[2:])
    x2 = _launch.reshape(xd, (P, M))
    out = _launch.empty((P,), xd.dtype)
    idx = _launch.empty((P,), np.int64)
    threads = _reduce_threads()
    shbytes = threads * 16  # value tree (<= 8 bytes each), then the int64 index tree
    blocks = max(1, min(P, _config.CUDA_MAX_BLOCKS_1D))
    _plane_reduce[blocks, threads, 0, shbytes](x2, out, idx, int(want_max))
    return out, idx, P, M


def global_avg_pool(x):
    """Mean over every spatial axis: ``(N, C, *spatial) -> (N, C, 1, ..., 1)``."""
    on_device = _launch.is_device(x)
    (x,) = _views(x)
    dtype = _dtype_of(x)
    xd = _launch.contiguous(x, dtype)
    sums, _, P, M = _plane_stats(xd, False)
    y = _launch.empty((P, 1), dtype)
    _launch1d(_plane_fill, P, sums, _launch.empty((1,), np.int64), y, dtype.type(1.0 / M), 0)
    shape = tuple(int(n) for n in x.shape)
    return _launch.finish(_launch.reshape(y, shape[:2] + (1,) * (len(shape) - 2)), None, on_device)


def global_avg_pool_backward(grad_out, x):
    """``grad_out / prod(spatial)`` in every position."""
    on_device = _launch.is_device(grad_out) or _launch.is_device(x)
    grad_out, x = _views(grad_out, x)
    shape = tuple(int(n) for n in x.shape)
    _check_shape(grad_out, shape[:2] + (1,) * (len(shape) - 2), "grad_out")
    dtype = _dtype_of(x, grad_out)
    P, M = shape[0] * shape[1], math.prod(shape[2:])
    gd = _launch.reshape(_launch.contiguous(grad_out, dtype), (P,))
    gx = _launch.empty((P, M), dtype)
    _launch1d(_plane_fill, P * M, gd, _launch.empty((1,), np.int64), gx, dtype.type(1.0 / M), 0)
    return _launch.finish(_launch.reshape(gx, shape), None, on_device)


def global_max_pool(x):
    """Max over every spatial axis (the first maximum; a NaN wins)."""
    on_device = _launch.is_device(x)
    (x,) = _views(x)
    xd = _launch.contiguous(x, _dtype_of(x))
    best, _, _, _ = _plane_stats(xd, True)
    shape = tuple(int(n) for n in x.shape)
    return _launch.finish(
        _launch.reshape(best, shape[:2] + (1,) * (len(shape) - 2)), None, on_device
    )


def global_max_pool_backward(grad_out, x):
    """All of each plane's gradient to its first maximum."""
    on_device = _launch.is_device(grad_out) or _launch.is_device(x)
    grad_out, x = _views(grad_out, x)
    shape = tuple(int(n) for n in x.shape)
    _check_shape(grad_out, shape[:2] + (1,) * (len(shape) - 2), "grad_out")
    dtype = _dtype_of(x, grad_out)
    xd = _launch.contiguous(x, _dtype_of(x))
    _, idx, P, M = _plane_stats(xd, True)
    gd = _launch.reshape(_launch.contiguous(grad_out, dtype), (P,))
    gx = _launch.empty((P, M), dtype)
    _launch1d(_plane_fill, P * M, gd, idx, gx, dtype.type(0), 1)
    return _launch.finish(_launch.reshape(gx, shape), None, on_device)


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
        mat = _launch.contiguous(
            _spectral_matrix(
                n_out if adjoint else n_in, n_in if adjoint else n_out, dtype, adjoint
            ),  # fmt: skip
            dtype,
        )
        A, C = math.prod(dims[:axis]), math.prod(dims[axis + 1 :])
        src = _launch.reshape(cur, (A, n_in, C))
        dst = _launch.empty((A, n_out, C), dtype)
        _launch1d(_apply_axis, A * n_out * C, src, mat, dst)
        dims[axis] = n_out
        cur = _launch.reshape(dst, dims)
    return cur


def spectral_pool(x, output_size):
    """Spectral pooling on the GPU: per axis, the (real, linear) low-pass resampling map of the
    CPU definition, applied as a small matrix product."""
    on_device = _launch.is_device(x)
    (x,) = _views(x)
    dtype = _dtype_of(x)
    xd = _launch.contiguous(x, dtype)
    return _launch.finish(_apply_axes(xd, tuple(output_size), dtype, False), None, on_device)


def spectral_pool_backward(grad_out, x, output_size):
    """The adjoint of :func:`spectral_pool` (``x`` may be the input or its shape tuple)."""
    on_device = _launch.is_device(grad_out) or _launch.is_device(x)
    (grad_out,) = _views(grad_out)
    if isinstance(x, tuple):
        shape = tuple(int(v) for v in x)
        dtype = _dtype_of(grad_out)
    else:
        (x,) = _views(x)
        shape = tuple(int(n) for n in x.shape)
        dtype = _validate.compute_dtype(grad_out, x)
    _check_shape(grad_out, shape[:2] + tuple(output_size), "grad_out")
    gd = _launch.contiguous(grad_out, dtype)
    return _launch.finish(_apply_axes(gd, shape[2:], dtype, True), None, on_device)

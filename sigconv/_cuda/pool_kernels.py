"""The numba.cuda kernels of pooling (the host side is ``pooling``, the backend interface).

Semantics (ties, NaN, ceil_mode, divisors, index layout) are those of the CPU backend, which
follows PyTorch.

Every array is viewed as planes ``(P = N * C, D, H, W)`` (missing leading spatial axes are 1).
Kernels run one thread per output (grid-stride loops over all outputs, consecutive threads on
the contiguous axis). Backward passes are gathers, not scatters: each input element sums the
outputs whose windows hold it, so there are no atomics and results are deterministic; a
gradient routed by ``indices`` only reaches the element whose flat index matches, so indices
out of range are ignored rather than written out of bounds.
"""

from __future__ import annotations

import numpy as np
from numba import cuda, types

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
def max_pool_kernel(x, y, idx, k0, k1, k2, s0, s1, s2, p0, p1, p2, d0, d1, d2, sgn):
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
def indexed_grad(g, idx, x, gx, k0, k1, k2, s0, s1, s2, p0, p1, p2, d0, d1, d2, sgn):
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
def avg_pool_kernel(x, y, k0, k1, k2, s0, s1, s2, p0, p1, p2, cip, has_ovr, ovr):
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
def avg_grad(g, gx, k0, k1, k2, s0, s1, s2, p0, p1, p2, cip, has_ovr, ovr):
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
def lp_pool_kernel(x, y, k0, k1, k2, s0, s1, s2, p, inv_p):
    _, O0, O1, O2 = y.shape
    for t in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        pl, o0, o1, o2 = _split4(t, O0, O1, O2)
        total = _lp_total(x, pl, o0, o1, o2, k0, k1, k2, s0, s1, s2, p)
        y[pl, o0, o1, o2] = total**inv_p


@cuda.jit(cache=True)
def lp_coef(x, g, coef, k0, k1, k2, s0, s1, s2, p, inv_p):
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
def mul_pow(gx, x, e):
    # gx *= x ** e, elementwise on flat views.
    for t in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        gx[t] *= x[t] ** e


# --- stochastic pooling --------------------------------------------------------------------------


@cuda.jit(cache=True)
def any_bad(x, flag):
    # flag[0] = 1 when some element is negative or NaN (not >= 0).
    for t in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        if not x[t] >= 0:
            flag[0] = 1


@cuda.jit(cache=True)
def stoch_train(x, u, y, idx, k0, k1, k2, s0, s1, s2):
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
def stoch_infer(x, y, k0, k1, k2, s0, s1, s2):
    _, O0, O1, O2 = y.shape
    for t in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        pl, o0, o1, o2 = _split4(t, O0, O1, O2)
        a1, a2 = _stoch_sums(x, pl, o0, o1, o2, k0, k1, k2, s0, s1, s2)
        y[pl, o0, o1, o2] = a2 / a1 if a1 > 0 else x.dtype.type(0)


@cuda.jit(cache=True)
def stoch_infer_grad(g, x, gx, k0, k1, k2, s0, s1, s2):
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
def plane_reduce(x, out, idx, want_max):
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
def plane_fill(g, idx, gx, scale, use_idx):
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
def apply_axis(src, mat, dst):
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
    (max_pool_kernel, _S["max"]),
    (indexed_grad, _S["igrad"]),
    (avg_pool_kernel, _S["avg"]),
    (avg_grad, _S["avg"]),
    (lp_pool_kernel, _S["lp"]),
    (lp_coef, _S["lpc"]),
    (mul_pow, _S["mulpow"]),
    (any_bad, _S["bad"]),
    (stoch_train, _S["strain"]),
    (stoch_infer, _S["sinf"]),
    (stoch_infer_grad, _S["sgrad"]),
    (plane_reduce, _S["red"]),
    (plane_fill, _S["fill"]),
    (apply_axis, _S["axis"]),
]

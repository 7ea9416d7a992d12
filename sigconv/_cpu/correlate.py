"""Direct strided, dilated cross-correlation with boundary handling: Numba CPU kernels.

Every signal correlation (1-D, 2-D, 3-D, with batch axes) is normalised by the caller to

* ``x``   ``(B, N0, N1, N2)``: C-contiguous input, batch axes flattened, missing spatial axes 1;
* ``w``   ``(K0, K1, K2)``:    C-contiguous kernel (already flipped for a convolution);
* ``out`` ``(B, O0, O1, O2)``: C-contiguous output, overwritten;

and per axis a stride, a dilation and a ``pad_before``: output ``o`` reads input index
``o * stride - pad_before + k * dilation`` for tap ``k``; indices outside the input are resolved
by the boundary rule (:func:`_map_index`).

Why the kernel looks like this (DESIGN section 3): LLVM vectorises only loops over 1-D
contiguous slices with simple indices. So each output row is accumulated in place (the output
row is private to one thread) by passes of the form ``ar[j] += v0*a0[j] + v1*a1[j] + ...`` over
contiguous slices of one input row, several kernel taps fused per pass to cut the loads and
stores of the accumulator. Nothing is padded: per tap, the outputs whose input lies inside the
row (the interior) take the vectorised pass, the few outputs at the edges a scalar loop through
:func:`_map_index`; whole rows outside the input along the outer axes are mapped the same way
(or contribute ``cval``). Outputs discarded by a stride are never computed: along the outer axes
the stride only changes which row is read; along the innermost axis the input is first split
into its ``stride`` phases (:func:`deinterleave`), so that tap ``k`` reads phase ``r`` at
contiguous positions ``o + q`` where ``k * dilation - pad_before = q * stride + r``.

Parallelism: ``prange`` over (batch x output rows x column blocks); the column blocks give a
long 1-D signal its parallelism and keep an output block plus its input span in cache while
all taps of a long kernel pass over it.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# Boundary codes shared with the wrapper (scipy.ndimage names).
BOUNDARY_CODES = {"constant": 0, "reflect": 1, "mirror": 2, "nearest": 3, "wrap": 4}

# fastmath "contract" lets LLVM fuse multiply-adds; no nnan/ninf so NaN and inf propagate.
_FASTMATH = {"contract"}


@njit(cache=True, inline="always")
def _map_index(i, n, mode):
    """Index into ``range(n)`` that position ``i`` of the extended signal reads; -1 = cval.

    The extensions are periodic, so a padding wider than the input repeats exactly as
    ``numpy.pad`` does: reflect = 'symmetric' (period 2n), mirror = 'reflect' (period 2n-2),
    wrap = 'wrap' (period n).
    """
    if i >= 0 and i < n:
        return i
    if mode == 0:
        return -1
    if mode == 3:
        return 0 if i < 0 else n - 1
    if mode == 4:
        return i % n
    if mode == 1:
        p = 2 * n
        i = i % p
        return i if i < n else p - 1 - i
    # mirror
    if n == 1:
        return 0
    p = 2 * n - 2
    i = i % p
    return i if i < n else p - i


@njit(parallel=True, cache=True)
def deinterleave(x, xd):
    """``xd[b, i, j, r, m] = x[b, i, j, m * s + r]`` (0 past the end), ``s = xd.shape[3]``."""
    B, N0, N1, N2 = x.shape
    S = xd.shape[3]
    M = xd.shape[4]
    nrows = B * N0 * N1
    for t in prange(nrows):
        i1 = t % N1
        r0 = t // N1
        i0 = r0 % N0
        b = r0 // N0
        xr = x[b, i0, i1]
        for r in range(S):
            dr = xd[b, i0, i1, r]
            for m in range(M):
                src = m * S + r
                dr[m] = xr[src] if src < N2 else 0.0


@njit(cache=True, inline="always")
def _interior(o_lo, o_hi, q, s, n, r):
    """Clamp to ``[o_lo, o_hi)`` the outputs whose tap reads inside the row (``0 <= i < n``)."""
    lo = -q
    hi = (n - 1 - r) // s - q + 1
    if lo < o_lo:
        lo = o_lo
    if hi > o_hi:
        hi = o_hi
    if lo > o_hi:
        lo = o_hi
    if hi < lo:
        hi = lo
    return lo, hi


@njit(cache=True, fastmath=_FASTMATH)
def _row(orow, c0, c1, xr, xdr, wr, s, d, p, bmode, cval):
    """``orow[c0:c1] += `` the 1-D correlation of one input row with one kernel row."""
    n = xr.shape[0]
    K = wr.shape[0]
    k = 0
    while k < K:
        g = min(4, K - k)
        # Offsets of the taps in this group as phase r and shift q: input = (o + q) * s + r.
        q0 = (k * d - p) // s
        r0 = (k * d - p) - q0 * s
        q1 = q0
        r1 = r0
        q2 = q0
        r2 = r0
        q3 = q0
        r3 = r0
        if g > 1:
            q1 = ((k + 1) * d - p) // s
            r1 = ((k + 1) * d - p) - q1 * s
        if g > 2:
            q2 = ((k + 2) * d - p) // s
            r2 = ((k + 2) * d - p) - q2 * s
        if g > 3:
            q3 = ((k + 3) * d - p) // s
            r3 = ((k + 3) * d - p) - q3 * s
        # Common interior of the group: the tap with the largest offset bounds it above, the
        # smallest below.
        lo_a, hi_a = _interior(c0, c1, q0, s, n, r0)
        lo_b, hi_b = _interior(c0, c1, q1 if g > 1 else q0, s, n, r1 if g > 1 else r0)
        lo_c, hi_c = _interior(c0, c1, q2 if g > 2 else q0, s, n, r2 if g > 2 else r0)
        lo_d, hi_d = _interior(c0, c1, q3 if g > 3 else q0, s, n, r3 if g > 3 else r0)
        L = max(max(lo_a, lo_b), max(lo_c, lo_d))
        H = min(min(hi_a, hi_b), min(hi_c, hi_d))
        if g >= 2 and L < H:
            ar = orow[L:H]
            m = H - L
            v0 = wr[k]
            v1 = wr[k + 1]
            a0 = xdr[r0, L + q0 : H + q0]
            a1 = xdr[r1, L + q1 : H + q1]
            if g == 2:
                for j in range(m):
                    ar[j] += v0 * a0[j] + v1 * a1[j]
            elif g == 3:
                v2 = wr[k + 2]
                a2 = xdr[r2, L + q2 : H + q2]
                for j in range(m):
                    ar[j] += v0 * a0[j] + v1 * a1[j] + v2 * a2[j]
            else:
                v2 = wr[k + 2]
                v3 = wr[k + 3]
                a2 = xdr[r2, L + q2 : H + q2]
                a3 = xdr[r3, L + q3 : H + q3]
                for j in range(m):
                    ar[j] += (v0 * a0[j] + v1 * a1[j]) + (v2 * a2[j] + v3 * a3[j])
        else:
            L = c0
            H = c0
        # Per tap: the interior left outside the fused part, then the edges.
        for t in range(g):
            kk = k + t
            v = wr[kk]
            off = kk * d - p
            q = off // s
            r = off - q * s
            lo, hi = _interior(c0, c1, q, s, n, r)
            a = lo
            b = min(L, hi)
            if a < b:
                ar = orow[a:b]
                xs = xdr[r, a + q : b + q]
                for j in range(b - a):
                    ar[j] += v * xs[j]
            a = max(H, lo)
            b = hi
            if a < b:
                ar = orow[a:b]
                xs = xdr[r, a + q : b + q]
                for j in range(b - a):
                    ar[j] += v * xs[j]
            for o in range(c0, lo):
                mi = _map_index(o * s + off, n, bmode)
                orow[o] += v * (cval if mi < 0 else xr[mi])
            for o in range(hi, c1):
                mi = _map_index(o * s + off, n, bmode)
                orow[o] += v * (cval if mi < 0 else xr[mi])
        k += g


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def correlate3(x, xd, w, out, s0, s1, s2, d0, d1, d2, p0, p1, p2, bmode, cval, block):
    """Fill ``out`` with the correlation described in the module docstring.

    ``xd`` is ``x`` split into ``s2`` phases along the last axis, shape
    ``(B, N0, N1, s2, ceil(N2 / s2))`` (for ``s2 == 1`` just a reshaped view of ``x``).
    ``block`` is the number of outputs of one row handled by one task.
    """
    B, N0, N1, N2 = x.shape
    K0, K1, K2 = w.shape
    O0 = out.shape[1]
    O1 = out.shape[2]
    O2 = out.shape[3]
    nblk = (O2 + block - 1) // block
    ntask = B * O0 * O1 * nblk
    rowsum = np.zeros((K0, K1), dtype=w.dtype)
    for k0 in range(K0):
        for k1 in range(K1):
            acc = w[k0, k1, 0] * 0.0
            for k2 in range(K2):
                acc += w[k0, k1, k2]
            rowsum[k0, k1] = acc
    for t in prange(ntask):
        c = t % nblk
        rest = t // nblk
        o1 = rest % O1
        rest = rest // O1
        o0 = rest % O0
        b = rest // O0
        c0 = c * block
        c1 = min(c0 + block, O2)
        orow = out[b, o0, o1]
        for j in range(c0, c1):
            orow[j] = 0.0
        for k0 in range(K0):
            m0 = _map_index(o0 * s0 - p0 + k0 * d0, N0, bmode)
            for k1 in range(K1):
                m1 = _map_index(o1 * s1 - p1 + k1 * d1, N1, bmode)
                if m0 < 0 or m1 < 0:
                    # A whole kernel row over padding: every tap reads cval.
                    cv = rowsum[k0, k1] * cval
                    for j in range(c0, c1):
                        orow[j] += cv
                    continue
                _row(orow, c0, c1, x[b, m0, m1], xd[b, m0, m1], w[k0, k1], s2, d2, p2, bmode, cval)

"""Shared pieces of the direct correlation's two kernel families (``correlate_rows`` and
``correlate_split``): the boundary rule, the fused tap pass over one output row, the host tap
tables, the task walk over (batch x output rows x column blocks) and the phase split
(``deinterleave``). Conventions: ``correlate_rows``' module docstring.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._nrt import borrow
from ._threads import run_chunks

# fastmath "contract" lets LLVM fuse multiply-adds; no nnan/ninf so NaN and inf propagate.
FASTMATH = {"contract"}

# A group of taps whose common interior leaves at most this many outputs of the row block
# takes the scalar loop for those outputs (else per-tap passes).
SCALAR_MAX = 32

# Taps per fused pass of the fast path: 9 is one pass per 3x3 kernel plane; LLVM still
# vectorises a loop over 9 input slices and one output slice (alias checks included).
G_FAST = 9


@njit(cache=True)
def map_index(i, n, mode):
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


def deinterleave(x, xd):
    """``xd[b, i, j, r, m] = x[b, i, j, m * s + r]`` (0 past the end), ``s = xd.shape[3]``."""
    run_chunks(_deinterleave, x.size, x, xd)


@njit(cache=True, nogil=True)
def _deinterleave(part, nparts, x, xd):
    x, xd = borrow(x, xd)
    B, N0, N1, N2 = x.shape
    S = xd.shape[3]
    M = xd.shape[4]
    nrows = B * N0 * N1
    for t in range(part * nrows // nparts, (part + 1) * nrows // nparts):
        i1 = t % N1
        r0 = t // N1
        i0 = r0 % N0
        b = r0 // N0
        xr = x[b, i0, i1]
        # Full groups of S samples first, without a bound check; for S == 2 the constant
        # stride lets LLVM vectorise the split (interleaved loads and shuffles).
        mf = N2 // S
        if S == 2:
            d0 = xd[b, i0, i1, 0]
            d1 = xd[b, i0, i1, 1]
            for m in range(mf):
                d0[m] = xr[2 * m]
                d1[m] = xr[2 * m + 1]
        else:
            for r in range(S):
                dr = xd[b, i0, i1, r]
                for m in range(mf):
                    dr[m] = xr[m * S + r]
        for r in range(S):
            dr = xd[b, i0, i1, r]
            for m in range(mf, M):
                src = m * S + r
                dr[m] = xr[src] if src < N2 else 0.0


@njit(cache=True)
def clamp(v, lo, hi):
    return lo if v < lo else (hi if v > hi else v)


@njit(cache=True, fastmath=FASTMATH)
def row_pass(orow, A, B, xf, base, soff, sv, t0, g):
    """``orow[A:B] += sum_i sv[t0 + i] * xf[base + soff[t0 + i] + A : ... + B]``, ``i < g <= 9``.

    One vectorised loop over contiguous slices of the flat input; the accumulator row stays in
    L1 between passes, so a pass costs one load per tap and one load and store per output.
    Callers pass ``t0`` and ``g`` as variables, never literals: a literal argument would compile
    a specialisation of its own (Numba types a constant argument as a literal).
    """
    ar = orow[A:B]
    m = B - A
    v0 = sv[t0 + 0]
    a0 = xf[base + soff[t0 + 0] + A : base + soff[t0 + 0] + B]
    if g == 1:
        for j in range(m):
            ar[j] += v0 * a0[j]
        return
    v1 = sv[t0 + 1]
    a1 = xf[base + soff[t0 + 1] + A : base + soff[t0 + 1] + B]
    if g == 2:
        for j in range(m):
            ar[j] += v0 * a0[j] + v1 * a1[j]
        return
    v2 = sv[t0 + 2]
    a2 = xf[base + soff[t0 + 2] + A : base + soff[t0 + 2] + B]
    if g == 3:
        for j in range(m):
            ar[j] += (v0 * a0[j] + v1 * a1[j]) + v2 * a2[j]
        return
    v3 = sv[t0 + 3]
    a3 = xf[base + soff[t0 + 3] + A : base + soff[t0 + 3] + B]
    if g == 4:
        for j in range(m):
            ar[j] += (v0 * a0[j] + v1 * a1[j]) + (v2 * a2[j] + v3 * a3[j])
        return
    v4 = sv[t0 + 4]
    a4 = xf[base + soff[t0 + 4] + A : base + soff[t0 + 4] + B]
    if g == 5:
        for j in range(m):
            ar[j] += ((v0 * a0[j] + v1 * a1[j]) + (v2 * a2[j] + v3 * a3[j])) + v4 * a4[j]
        return
    v5 = sv[t0 + 5]
    a5 = xf[base + soff[t0 + 5] + A : base + soff[t0 + 5] + B]
    if g == 6:
        for j in range(m):
            ar[j] += ((v0 * a0[j] + v1 * a1[j]) + (v2 * a2[j] + v3 * a3[j])) + (
                v4 * a4[j] + v5 * a5[j]
            )
        return
    v6 = sv[t0 + 6]
    a6 = xf[base + soff[t0 + 6] + A : base + soff[t0 + 6] + B]
    if g == 7:
        for j in range(m):
            ar[j] += ((v0 * a0[j] + v1 * a1[j]) + (v2 * a2[j] + v3 * a3[j])) + (
                (v4 * a4[j] + v5 * a5[j]) + v6 * a6[j]
            )
        return
    v7 = sv[t0 + 7]
    a7 = xf[base + soff[t0 + 7] + A : base + soff[t0 + 7] + B]
    if g == 8:
        for j in range(m):
            ar[j] += ((v0 * a0[j] + v1 * a1[j]) + (v2 * a2[j] + v3 * a3[j])) + (
                (v4 * a4[j] + v5 * a5[j]) + (v6 * a6[j] + v7 * a7[j])
            )
        return
    v8 = sv[t0 + 8]
    a8 = xf[base + soff[t0 + 8] + A : base + soff[t0 + 8] + B]
    for j in range(m):
        ar[j] += (
            ((v0 * a0[j] + v1 * a1[j]) + (v2 * a2[j] + v3 * a3[j]))
            + ((v4 * a4[j] + v5 * a5[j]) + (v6 * a6[j] + v7 * a7[j]))
        ) + v8 * a8[j]


@njit(cache=True, fastmath=FASTMATH)
def row_pass33(orow, A, B, xf, s0, s1, s2, e0, e1, e2, sv, t0):
    """``orow[A:B]`` += three kernel rows of three taps: tap ``k`` of row ``r`` reads ``xf``
    from ``s_r + e_k + A`` (``e_k >= 0``), weights ``sv[t0 : t0 + 9]`` in row-major order.

    The nine taps of :func:`row_pass` with ``g == 9`` and a 3-tap kernel row, reading one slice
    per kernel row instead of one per tap: 3 input pointers, not 9, for LLVM's alias checks
    and address arithmetic. On 128-wide rows (a 3^3 kernel over 130^3) a pass took 36 ns
    against 52-78 ns. The offsets are unsigned so that Numba emits no negative-index
    wraparound, which kept LLVM from vectorising the loop (3x slower).
    """
    ar = orow[A:B]
    m = np.uint64(B - A)
    u0 = np.uint64(e0)
    u1 = np.uint64(e1)
    u2 = np.uint64(e2)
    ext = max(e0, e1, e2)
    a0 = xf[s0 + A : s0 + B + ext]
    a1 = xf[s1 + A : s1 + B + ext]
    a2 = xf[s2 + A : s2 + B + ext]
    v00, v01, v02 = sv[t0], sv[t0 + 1], sv[t0 + 2]
    v10, v11, v12 = sv[t0 + 3], sv[t0 + 4], sv[t0 + 5]
    v20, v21, v22 = sv[t0 + 6], sv[t0 + 7], sv[t0 + 8]
    for j in range(m):
        ar[j] += (
            ((v00 * a0[j + u0] + v01 * a0[j + u1]) + (v02 * a0[j + u2] + v10 * a1[j + u0]))
            + ((v11 * a1[j + u1] + v12 * a1[j + u2]) + (v20 * a2[j + u0] + v21 * a2[j + u1]))
        ) + v22 * a2[j + u2]


@njit(cache=True, fastmath=FASTMATH)
def row_set333(orow, A, B, xf, b0, soff, sv):
    """``orow[A:B] =`` nine kernel rows of three adjacent taps: kernel row ``r`` reads ``xf``
    from ``b0 + soff[r] + A`` (its three taps one sample apart), weights ``sv[:27]`` in
    row-major order (a 3^3 kernel's 27 taps at unit stride and dilation along the rows).

    One pass that writes, where the fill and three :func:`row_pass33` passes load and store
    the output row four times; the taps' constant offsets let each kernel row use one
    pointer. The bare loops of a 3^3 kernel over 130^3 took 2.1 ms this way against 2.9-3.3 ms
    (one thread); with the offsets as variables, 2.7 ms.
    """
    ar = orow[A:B]
    m = np.uint64(B - A)
    n = B - A + 2
    a0 = xf[b0 + soff[0] + A :][:n]
    a1 = xf[b0 + soff[1] + A :][:n]
    a2 = xf[b0 + soff[2] + A :][:n]
    a3 = xf[b0 + soff[3] + A :][:n]
    a4 = xf[b0 + soff[4] + A :][:n]
    a5 = xf[b0 + soff[5] + A :][:n]
    a6 = xf[b0 + soff[6] + A :][:n]
    a7 = xf[b0 + soff[7] + A :][:n]
    a8 = xf[b0 + soff[8] + A :][:n]
    for j in range(m):
        p0 = (sv[0] * a0[j] + sv[1] * a0[j + 1]) + (sv[2] * a0[j + 2] + sv[3] * a1[j])
        p1 = (sv[4] * a1[j + 1] + sv[5] * a1[j + 2]) + (sv[6] * a2[j] + sv[7] * a2[j + 1])
        p2 = (sv[8] * a2[j + 2] + sv[9] * a3[j]) + (sv[10] * a3[j + 1] + sv[11] * a3[j + 2])
        p3 = (sv[12] * a4[j] + sv[13] * a4[j + 1]) + (sv[14] * a4[j + 2] + sv[15] * a5[j])
        p4 = (sv[16] * a5[j + 1] + sv[17] * a5[j + 2]) + (sv[18] * a6[j] + sv[19] * a6[j + 1])
        p5 = (sv[20] * a6[j + 2] + sv[21] * a7[j]) + (sv[22] * a7[j + 1] + sv[23] * a7[j + 2])
        p6 = (sv[24] * a8[j] + sv[25] * a8[j + 1]) + sv[26] * a8[j + 2]
        ar[j] = ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + p6)


@njit(cache=True, fastmath=FASTMATH)
def row_add3(orow, A, B, xf, s0, sv, t0):
    """``orow[A:B] +=`` one kernel row of three adjacent taps reading ``xf`` from ``s0 + A``,
    weights ``sv[t0 : t0 + 3]`` (the rows of a 3^3 kernel next to ``cval`` rows)."""
    ar = orow[A:B]
    a = xf[s0 + A :][: B - A + 2]
    v0, v1, v2 = sv[t0], sv[t0 + 1], sv[t0 + 2]
    for j in range(np.uint64(B - A)):
        ar[j] += (v0 * a[j] + v1 * a[j + 1]) + v2 * a[j + 2]


@njit(cache=True)
def zero_fill(orow, A, B, c):
    """``orow[A:B] = c``. The index runs unsigned: with a signed index Numba adds a
    negative-index wraparound to every store and LLVM keeps the loop scalar (filling 128-wide
    rows of a 130^3 volume then took a quarter of a 3^3 kernel's time)."""
    ar = orow[A:B]
    for j in range(np.uint64(B - A)):
        ar[j] = c


def row_taps(N2, K2, s2, d2, p2, O2):
    """Per tap ``k`` along the last axis: ``off = k*d2 - p2 = q*s2 + r`` (int64 arrays ``off``,
    ``q``, ``r``), the outputs ``[lo, hi)`` whose input lies inside a row of ``N2`` samples, and
    ``[lo_all, hi_all)``, the outputs of ``O2`` that read inside the row for every tap."""
    k2 = np.arange(K2, dtype=np.int64)
    off = k2 * d2 - p2
    q = off // s2
    r = off - q * s2
    lo = -q
    hi = (N2 - 1 - r) // s2 - q + 1
    return off, q, r, lo, hi, max(0, int(lo.max())), min(O2, int(hi.min()))


def all_blocks_fast(lo_all, hi_all, O2, block):
    """Whether every column block of ``block`` outputs reads inside the row for all taps but
    at most ``SCALAR_MAX`` outputs."""
    c0 = np.arange(0, O2, block, dtype=np.int64)
    c1 = np.minimum(c0 + block, O2)
    lo = np.minimum(np.maximum(lo_all, c0), c1)
    hi = np.minimum(np.maximum(hi_all, lo), c1)
    return bool(np.all((lo < hi) & ((lo - c0) + (c1 - hi) <= SCALAR_MAX)))


def row_sums(w):
    """Sum of each kernel row (the contribution of an input row lying wholly in ``cval``)."""
    return np.ascontiguousarray(w.sum(axis=2, dtype=w.dtype))


def tap_groups(T):
    """Starts of balanced groups of at most ``G_FAST`` taps (27 taps: 3 x 9; 343: 8 or 9)."""
    ngrp = -(-T // G_FAST)
    return np.arange(ngrp + 1, dtype=np.int64) * T // ngrp


@njit(cache=True)
def chunk_tasks(chunk, nchunk, B, O0, O1, nblk):
    """Tasks ``[t_start, t_end)`` of the ``chunk``-th of ``nchunk`` equal parts of the
    ``B * O0 * O1 * nblk`` row blocks, and the coordinates ``(c, o1, o0, b)`` of the first."""
    ntask = B * O0 * O1 * nblk
    t_start = chunk * ntask // nchunk
    c, o1, o0, b = _task_coords(t_start, nblk, O1, O0)
    return t_start, (chunk + 1) * ntask // nchunk, c, o1, o0, b


@njit(cache=True)
def _task_coords(t, nblk, O1, O0):
    """(column block, o1, o0, batch item) of task ``t = ((b*O0 + o0)*O1 + o1)*nblk + c``."""
    c = t % nblk
    rest = t // nblk
    o1 = rest % O1
    rest = rest // O1
    return c, o1, rest % O0, rest // O0


@njit(cache=True)
def next_task(c, o1, o0, b, nblk, O1, O0):
    """The coordinates of the task after ``(c, o1, o0, b)``, without a division."""
    c += 1
    if c == nblk:
        c = 0
        o1 += 1
        if o1 == O1:
            o1 = 0
            o0 += 1
            if o0 == O0:
                o0 = 0
                b += 1
    return c, o1, o0, b


@njit(cache=True)
def block_bounds(c, block, O2, lo_all, hi_all):
    """Column block ``c``: its outputs ``[c0, c1)`` and, within them, ``[L, H)`` whose inputs
    lie inside the row for every tap."""
    c0 = c * block
    c1 = min(c0 + block, O2)
    L = clamp(lo_all, c0, c1)
    return c0, c1, L, clamp(hi_all, L, c1)


@njit(cache=True)
def widened(L, H, c0, c1, mask):
    """``[L, H)`` widened within ``[c0, c1)`` to a length that is a multiple of ``mask + 1`` (a
    power of two) where the block has room, to the right first: a pass over it leaves no
    scalar remainder after its vector loop (the widened outputs are overwritten by
    :func:`scalar_outputs`)."""
    e = (-(H - L)) & mask
    ext = min(e, c1 - H)
    return L - min(e - ext, L - c0), H + ext


@njit(cache=True)
def kernel_rows(b, i0, i1, K0, K1, d0, d1, N0, N1, N2, bmode, rowsum, cval, rsx):
    """Where each kernel row ``kk = k0 * K1 + k1`` of an output row reads: ``rsx[kk]``, the start
    in the flat input of input row ``(b, i0 + k0 * d0, i1 + k1 * d1)`` after the boundary rule,
    or -1 for a row wholly in ``cval``. Returns the cval rows' share of every output
    (``rowsum``, flat: each kernel row's sum, times ``cval``)."""
    cst = 0.0
    kk = 0
    for k0 in range(K0):
        m0 = map_index(i0 + k0 * d0, N0, bmode)
        for k1 in range(K1):
            m1 = map_index(i1 + k1 * d1, N1, bmode)
            if m0 < 0 or m1 < 0:
                rsx[kk] = -1
                cst += rowsum[kk] * cval
            else:
                rsx[kk] = ((b * N0 + m0) * N1 + m1) * N2
            kk += 1
    return cst


@njit(cache=True, fastmath=FASTMATH)
def scalar_outputs(
    orow, c0, c1, L, H, cst, rsd, rsx, nrows, K2, s2, off_k, N2, bmode, wf, zw, xflat
):  # fmt: skip
    """Outputs ``[c0, c1)`` outside ``[L, H)`` of one output row: every tap through the
    boundary rule, overwriting what the widened passes left there (both kernel families).

    ``rsd[kk] < 0`` marks kernel row ``kk`` (of ``nrows``) as lying wholly in ``cval`` (its
    share is in ``cst``); else ``rsx[kk]`` is where its input row starts in ``xflat``. Each
    column is mapped once per output and read from every kernel row (a 3^3 kernel's row ends
    cost 100 ns an output with a map per tap, 3.3 ms of a 7.4 ms 128^3 'same' call); partial
    sums per column in the data's dtype keep the dependency chain short.
    """
    o = c0
    while o < c1:
        if o == L and L < H:
            o = H
            continue
        acc = cst
        for k2 in range(K2):
            mi = map_index(o * s2 + off_k[k2], N2, bmode)
            part = zw[0]
            for kk in range(nrows):
                if rsd[kk] >= 0:
                    part += wf[kk * K2 + k2] * (zw[1] if mi < 0 else xflat[rsx[kk] + mi])
            acc += part
        orow[o] = acc
        o += 1


#: :func:`scalar_outputs` inlined (Numba IR) into the kernels that call it once a row: called,
#: its seven arrays and ten scalars cost W4 (one such output a row) 40 of 250 us on one thread
#: (225 inlined, 195 without the edges at all) and W3 3^3 (256^3) 17.3-18.7 -> 17.2-17.6 ms
#: (two threads, three alternating runs). Compile time unchanged (_rows333 2.05 -> 2.07 s).
scalar_outputs_inlined = njit(cache=True, fastmath=FASTMATH, inline="always")(
    scalar_outputs.py_func
)

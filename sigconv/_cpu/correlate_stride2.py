"""The stride-2 family of the direct correlation (``correlate3_stride2``): Numba CPU kernels.

For stride 2 and dilation 1 along the last axis (strided 'same' downsampling, a CNN's 3x3
stride-2 layer), each pass reads the input rows themselves: output ``o`` of a kernel row's
three consecutive taps reads ``x[2o + e]``, ``x[2o + e + 1]`` and ``x[2o + e + 2]``, the
last two as a pair (LLVM's interleaved group: wide loads and shuffles) and the first carried
over from the previous output's last (``pass_stride2``). Nothing is split into phases, so the
samples go from the input straight into registers.

The normalised problem, the task order and the boundary rule are those of ``correlate_rows``
(its module docstring). Taps along the row go in chunks of three; a row of ``K2`` taps is
padded with zero weights to a multiple of three. The interior ``[L, H)``, whose outputs read
inside the row for every padded tap, is widened to a multiple of 16 outputs where the reads
stay inside the input (the widened outputs read neighbouring rows). A pass takes three
(kernel row, chunk) pairs. The outputs outside ``[L, H)``, widened or not, are then
overwritten by ``scalar_outputs`` with the true taps and the boundary rule.

Measured (W4, 1024^2 3x3 stride 2 'same', float32, one thread, the kernel alone): 0.4 ms
against 0.9-1.0 ms for the split-phase kernel (``correlate_split``) that it replaces there,
which split every input row into a scratch first and then made the passes over the scratch;
0.22 ms since the passes carry the shared sample instead of loading it again (0.27 ms) and
the edge outputs are inlined.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from ._nrt import borrow
from ._nrt import keep as _keep
from ._simd import wide_vectors
from ._threads import run_chunks
from .correlate_parts import (
    FASTMATH,
    all_blocks_fast,
    block_bounds,
    chunk_tasks,
    kernel_rows,
    next_task,
    row_taps,
    scalar_outputs_inlined,
    widened,
)


@functools.lru_cache(maxsize=256)
def stride2_geometry(N2, K2, p2, O2, block):
    """The padded tap count ``3 * ceil(K2 / 3)`` and the outputs ``[lo_all, hi_all)`` that read
    inside the row for every padded tap; None when some column block leaves more than
    ``SCALAR_MAX`` outputs to the scalar loop (the caller then takes another kernel).

    Cached: it takes 30 us of NumPy, a tenth of a small call (its arguments are ints).
    """
    K2p = 3 * -(-K2 // 3)
    lo_all, hi_all = row_taps(N2, K2p, 2, 1, p2, O2)[5:]
    if not all_blocks_fast(lo_all, hi_all, O2, block):
        return None
    return K2p, lo_all, hi_all


def correlate3_stride2(x, w, out, s0, s1, d0, d1, p0, p1, p2, bmode, cval, block, geom):
    """:func:`correlate_rows.correlate3` for stride 2 and dilation 1 along the last axis.

    ``geom`` is :func:`stride2_geometry`'s result for this problem (not None). The kernel
    derives its weight tables itself: building them in NumPy took 20 us a call.
    """
    K0, K1, _ = w.shape
    K2p, lo_all, hi_all = geom
    O2 = out.shape[3]
    nblk = -(-O2 // block)
    geo = (s0, s1, d0, d1, p0, p1, p2, bmode, block, nblk, lo_all, hi_all, K2p)
    run_chunks(_rows_stride2, out.size * K0 * K1 * K2p, x, w, out, geo, cval)


@njit(cache=True, fastmath=FASTMATH)
def pass_stride2(orow, A, B, xf, st, tv, first):
    """``orow[A:B]`` (set to ``tv[9]`` first when ``first``) ``+=`` the sum over three kernel-row
    chunks ``r`` of ``tv[3r + i] * xf[st[r] + 2 * (A + j) + i]``, ``i < 3``, for ``j < B - A``.

    Output ``j``'s three samples of a chunk are ``x[2j]``, ``x[2j + 1]`` and ``x[2j + 2]``;
    the last is the next output's first. So each iteration loads one pair, ``x[2j + 1]`` and
    ``x[2j + 2]`` (LLVM's interleaved group of two: two wide loads and two shuffles), and
    carries ``x[2j + 2]`` to the next as its ``x[2j]`` (a first-order recurrence: one shuffle).
    Loading all three from one base instead made LLVM gather the even samples
    (``vgatherqps``): in a stand-alone W4 loop, 267-275 us on one thread and 141-149 on two,
    against 181-183 and 83-87 this way, about a bare read of the input and write of the
    output (the kernel, with its per-row work: 238-241 -> 215-221 us on one thread).
    ``2 * j`` with ``j`` unsigned and the literal 2: an unsigned ``np.uint64(2) * j`` (which
    may wrap) kept LLVM from grouping the loads, a signed index would bring Numba's
    negative-index wraparound. Always three chunks (callers pad with zero weights) and one
    loop that accumulates (after a fill when ``first``): each variant of the loop costs
    compile time, and a pass that wrote its outputs directly was no faster.
    """
    wide_vectors()
    ar = orow[A:B]
    c = tv[9]  # the cval rows' share, in the data's dtype
    m = np.uint64(B - A)
    n = 2 * (B - A) + 1
    a0 = xf[st[0] + 2 * A : st[0] + 2 * A + n]
    a1 = xf[st[1] + 2 * A : st[1] + 2 * A + n]
    a2 = xf[st[2] + 2 * A : st[2] + 2 * A + n]
    b0 = a0[1:]
    b1 = a1[1:]
    b2 = a2[1:]
    v00, v01, v02 = tv[0], tv[1], tv[2]
    v10, v11, v12 = tv[3], tv[4], tv[5]
    v20, v21, v22 = tv[6], tv[7], tv[8]
    p0 = a0[0]
    p1 = a1[0]
    p2 = a2[0]
    if first:
        for j in range(m):
            ar[j] = c
    for j in range(m):
        k = 2 * j
        g0 = b0[k]
        h0 = b0[k + 1]
        g1 = b1[k]
        h1 = b1[k + 1]
        g2 = b2[k]
        h2 = b2[k + 1]
        ar[j] += (
            ((v00 * p0 + v01 * g0) + (v02 * h0 + v10 * p1))
            + ((v11 * g1 + v12 * h1) + (v20 * p2 + v21 * g2))
        ) + v22 * h2
        p0 = h0
        p1 = h1
        p2 = h2


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _rows_stride2(chunk, nchunk, x, w, out, geo, cval):
    """Output row blocks of the ``chunk``-th of ``nchunk`` parts of :func:`correlate3_stride2`."""
    x, w, out = borrow(x, w, out)
    N0 = x.shape[1]
    N1 = x.shape[2]
    N2 = x.shape[3]
    K0, K1, K2 = w.shape
    O0 = out.shape[1]
    O1 = out.shape[2]
    O2 = out.shape[3]
    s0, s1, d0, d1, p0, p1, p2, bmode, block, nblk, lo_all, hi_all, K2p = geo
    nch = K2p // 3
    # the tables: weights flat and padded to K2p taps a kernel row (zeros), row sums (a row
    # wholly in cval), tap offsets along the row, zero and cval in the data's dtype
    wf0 = w.reshape(K0 * K1 * K2)
    wp0 = np.zeros((K0 * K1, K2p), dtype=w.dtype)
    rowsum0 = np.zeros(K0 * K1, dtype=w.dtype)
    for kk in range(K0 * K1):
        for k2 in range(K2):
            wp0[kk, k2] = wf0[kk * K2 + k2]
            rowsum0[kk] += wf0[kk * K2 + k2]
    off0 = np.arange(K2) - p2
    zw0 = np.zeros(2, dtype=w.dtype)
    zw0[1] = cval
    # per kernel row: where its input row starts in x (-1: a row wholly in cval); the rows
    # that read the input, in order; a pass's row starts and weights
    rs2 = np.empty((2, K0 * K1), dtype=np.int64)
    st0 = np.empty(3, dtype=np.int64)
    tv0 = np.empty(10, dtype=w.dtype)
    wf, wp, rowsum, off_k, zw, st, tv = borrow(wf0, wp0, rowsum0, off0, zw0, st0, tv0)
    rsx = rs2[0]
    live = rs2[1]
    xflat = x.reshape(x.size)
    t_start, t_end, c, o1, o0, b = chunk_tasks(chunk, nchunk, x.shape[0], O0, O1, nblk)
    for t in range(t_start, t_end):
        if t > t_start:
            c, o1, o0, b = next_task(c, o1, o0, b, nblk, O1, O0)
        c0, c1, L, H = block_bounds(c, block, O2, lo_all, hi_all)
        orow = out[b, o0, o1]
        i0 = o0 * s0 - p0
        i1 = o1 * s1 - p1
        cst = kernel_rows(b, i0, i1, K0, K1, d0, d1, N0, N1, N2, bmode, rowsum, cval, rsx)
        nlive = 0
        for kk in range(K0 * K1):
            if rsx[kk] >= 0:
                live[nlive] = kk
                nlive += 1
        if L < H:
            if nlive == 0:
                ar = orow[L:H]
                for j in range(H - L):
                    ar[j] = cst
            tv[9] = cst
            # the (live row, chunk) pairs, three to a pass; the last pass padded with the first
            # pair again, weighted zero (a 1-D kernel of 9 taps is one pass of its 3 chunks)
            npair = nlive * nch
            # [L, H) widened by up to 15 edge outputs to a multiple of 16 (no scalar remainder
            # after the vector loop), where the pass's reads stay inside the input; the edge
            # outputs are overwritten below. W4 (511 interior outputs a row), the kernel on
            # one thread: 221-226 -> 215-221 us.
            A, B = widened(L, H, c0, c1, 15)
            for q in range(0, npair, 3):
                lo = xflat.shape[0]
                hi = -1
                for r in range(3):
                    pr = q + r if q + r < npair else 0
                    kr = live[pr // nch]
                    ch = pr % nch
                    st[r] = rsx[kr] + off_k[0] + 3 * ch
                    lo = min(lo, st[r])
                    hi = max(hi, st[r])
                    for i in range(3):
                        tv[3 * r + i] = wp[kr, 3 * ch + i] if q + r < npair else zw[0]
                if lo + 2 * A >= 0 and hi + 2 * B < xflat.shape[0]:
                    pass_stride2(orow, A, B, xflat, st, tv, q == 0)
                else:
                    pass_stride2(orow, L, H, xflat, st, tv, q == 0)
        scalar_outputs_inlined(
            orow, c0, c1, L, H, cst, rsx, rsx, K0 * K1, K2, 2, off_k, N2, bmode, wf, zw, xflat
        )
    _keep(wp0, rowsum0, off0, zw0, st0, tv0)  # the owners of the borrowed scratch live until here

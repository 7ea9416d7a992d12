"""The row-kernel family of the direct correlation (``correlate3``): Numba CPU kernels.

Every signal correlation (1-D, 2-D, 3-D, with batch axes) is normalised by the caller to

* ``x``   ``(B, N0, N1, N2)``: C-contiguous input, batch axes flattened, missing spatial axes 1;
* ``w``   ``(K0, K1, K2)``:    C-contiguous kernel (already flipped for a convolution);
* ``out`` ``(B, O0, O1, O2)``: C-contiguous output, overwritten;

and per axis a stride, a dilation and a ``pad_before``: output ``o`` reads input index
``o * stride - pad_before + k * dilation`` for tap ``k``; indices outside the input are resolved
by the boundary rule (:func:`map_index`).

Why the kernel looks like this (docs/performance.md): LLVM vectorises only loops over 1-D
contiguous slices with simple indices. So each output row is accumulated in place (the output
row is private to one thread) by passes of the form ``ar[j] += v0*a0[j] + v1*a1[j] + ...`` over
contiguous slices of one input row, several kernel taps fused per pass to cut the loads and
stores of the accumulator. Nothing is padded: per tap, the outputs whose input lies inside the
row (the interior) take the vectorised pass, the few outputs at the edges a scalar loop through
:func:`map_index`; whole rows outside the input along the outer axes are mapped the same way
(or contribute ``cval``). Outputs discarded by a stride are never computed: along the outer axes
the stride only changes which row is read; along the innermost axis the input is first split
into its ``stride`` phases (:func:`deinterleave`), so that tap ``k`` reads phase ``r`` at
contiguous positions ``o + q`` where ``k * dilation - pad_before = q * stride + r``.

Parallelism: tasks are (batch x output rows x column blocks), run in contiguous chunks on
Numba's thread count by :func:`sigconv._cpu._threads.run_chunks`; the column blocks give a long
1-D signal its parallelism and keep an output block plus its input span in cache while all taps
of a long kernel pass over it.

Compile time (a cold first call must compile in seconds, not minutes): the host builds the tap
tables in NumPy; each row kernel is a plain ``nogil`` function calling a few helpers, none
inlined at the Numba-IR level but ``_task_fast`` into its one caller (LLVM inlines the small
ones itself); no statement in a kernel can
raise an error with a formatted message (Numba compiles the formatting machinery for it); and a
call compiles only the path it takes (:func:`_rows333` alone for 3^3 kernels, :func:`_rows_fast`
alone for other images and volumes).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._nrt import borrow
from ._nrt import keep as _keep
from ._threads import run_chunks
from .correlate_parts import (
    FASTMATH,
    G_FAST,
    all_blocks_fast,
    block_bounds,
    chunk_tasks,
    clamp,
    map_index,
    next_task,
    row_add3,
    row_pass,
    row_pass33,
    row_set333,
    row_sums,
    row_taps,
    scalar_outputs,
    scalar_outputs_inlined,
    tap_groups,
    widened,
    zero_fill,
)

# --- stride 1 along the rows, or a deinterleaved input -----------------------------------------
#
# Three row kernels, so a call compiles only the path it takes: :func:`_rows333` for a 3^3
# kernel (unit stride and dilation along the rows); :func:`_rows_fast` when every column block
# of a row reads inside the input for all but ``SCALAR_MAX`` outputs (other images, volumes,
# short 1-D kernels); :func:`_rows_general` otherwise (long kernels along the rows, whose row
# ends need per-tap passes). The general path takes the interior blocks too: with such
# kernels a block's passes are as long as the fast path's (W1, 441000 samples x 255 taps
# 'same', ran as fast), and a first call compiles one row kernel, not two.


def correlate3(x, xd, w, out, s0, s1, s2, d0, d1, d2, p0, p1, p2, bmode, cval, block):
    """Fill ``out`` with the correlation described in the module docstring.

    ``xd`` is ``x`` split into ``s2`` phases along the last axis, shape
    ``(B, N0, N1, s2, ceil(N2 / s2))`` (for ``s2 == 1`` just a reshaped view of ``x``).
    ``block`` is the number of outputs of one row handled by one task.
    """
    B, N0, N1, N2 = x.shape
    K0, K1, K2 = w.shape
    O0, O1, O2 = out.shape[1:]
    M = xd.shape[4]
    SM = xd.shape[3] * M
    nblk = -(-O2 // block)
    # Per tap along the last axis: input index o*s2 + off = (o + q)*s2 + r, the outputs
    # [lo, hi) whose input lies inside the row, and the offset of its first read within a row
    # of ``xd`` (phase r, position q).
    off, q, r, lo, hi, lo_all, hi_all = row_taps(N2, K2, s2, d2, p2, O2)
    k2 = np.arange(K2, dtype=np.int64)
    toff = r * M + q
    ktab = np.stack([toff, off, q, r, lo, hi])
    # Per tap t = (k0 * K1 + k1) * K2 + k2: its kernel row, its column and the offset of its
    # first read from the start of the row it reads when the output row lies inside the input
    # along the outer axes (tapoff).
    T = K0 * K1 * K2
    kk = np.arange(K0 * K1, dtype=np.int64)
    ttab = np.empty((3, T), dtype=np.int64)
    ttab[0] = np.repeat(kk, K2)
    ttab[1] = np.tile(k2, K0 * K1)
    ttab[2] = np.repeat(((kk // K1) * d0 * N1 + (kk % K1) * d1) * SM, K2) + np.tile(toff, K0 * K1)
    geo = tuple(int(v) for v in (s0, s1, s2, d0, d1, p0, p1, bmode, block, nblk, lo_all, hi_all))
    # zero and cval in the data's dtype (float32 sums stay float32 in the scalar edge loop)
    zw = np.array([0.0, cval], dtype=w.dtype)
    rowsum, wf = row_sums(w), w.reshape(T)
    if K0 == 3 and K1 == 3 and K2 == 3 and s2 == 1 and d2 == 1:  # any boundary
        rows = np.ascontiguousarray(ttab[2, ::3] - ttab[2, 0])
        geo3 = np.array(
            [s0, s1, d0, d1, p0, p1, p2, bmode, block, nblk, lo_all, hi_all], dtype=np.int64
        )
        run_chunks(_rows333, out.size * T, x, out, wf, rows, off, geo3, zw)
        return
    if all_blocks_fast(lo_all, hi_all, O2, block):
        tabs = (rowsum, wf, ktab, ttab, tap_groups(T), zw)
        run_chunks(_rows_fast, out.size * T, x, xd, w, out, *tabs, geo, float(cval), SM)
    else:
        run_chunks(
            _rows_general, out.size * T, x, xd, w, out, rowsum, wf, ktab, geo, float(cval), SM
        )


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _rows_fast(chunk, nchunk, x, xd, w, out, rowsum, wf, ktab, ttab, gs, zw, geo, cval, SM):
    """Output row blocks of the ``chunk``-th of ``nchunk`` parts, each by :func:`_task_fast`."""
    x, xd, w, out = borrow(x, xd, w, out)
    rowsum, wf, ktab, ttab, gs, zw = borrow(rowsum, wf, ktab, ttab, gs, zw)
    K0, K1, _ = w.shape
    O0, O1, O2 = out.shape[1:]
    block, nblk = geo[8], geo[9]
    # scratch of the run: flat starts of the kernel rows' input rows in xd and x (-1 = cval
    # row), and the pending taps' starts and weights
    rsd = np.empty(K0 * K1, dtype=np.int64)
    rsx = np.empty(K0 * K1, dtype=np.int64)
    st0 = np.empty(G_FAST, dtype=np.int64)
    tv0 = np.empty(G_FAST + 1, dtype=w.dtype)  # the last entry: a row's cval share, typed
    st, tv = borrow(st0, tv0)
    xf = xd.reshape(xd.size)
    xflat = x.reshape(x.size)
    # the smallest and largest tap offset along the rows (with phases not in tap order)
    toff = ktab[0]
    tmin = toff[0]
    tmax = toff[0]
    for k2 in range(w.shape[2]):
        tmin = min(tmin, toff[k2])
        tmax = max(tmax, toff[k2])
    # Rows of 3-tap kernel rows whose every tap reads inside the input (all rows of a
    # 'valid' block; in other modes the rows without edge outputs) take a short path: the
    # fill, then one row_pass33 per 3x3 kernel plane, nothing else per row. The general row
    # (_task_fast) spends on its bookkeeping a good part of its passes' time at 128 outputs:
    # a 3^3 kernel over 130^3 took 2.9-3.1 ms that way, 2.2-2.4 ms this way (one thread).
    N0, N1 = x.shape[1], x.shape[2]
    s0, s1, d0, d1, p0, p1 = geo[0], geo[1], geo[3], geo[4], geo[5], geo[6]
    planes = w.shape[2] == 3
    for grp in range(gs.shape[0] - 1):
        planes = planes and gs[grp + 1] - gs[grp] == 9 and gs[grp] % 3 == 0
    tapoff = ttab[2]
    e0 = e1 = e2 = 0
    if planes:  # the three taps' offsets from the smallest (toff has K2 == 3 entries)
        e0, e1, e2 = toff[0] - tmin, toff[1] - tmin, toff[2] - tmin
    t_start, t_end, c, o1, o0, b = chunk_tasks(chunk, nchunk, x.shape[0], O0, O1, nblk)
    for t in range(t_start, t_end):
        if t > t_start:
            c, o1, o0, b = next_task(c, o1, o0, b, nblk, O1, O0)
        c0, c1, L, H = block_bounds(c, block, O2, geo[10], geo[11])
        i0 = o0 * s0 - p0
        i1 = o1 * s1 - p1
        if (
            planes and L == c0 and H == c1 and i0 >= 0 and i0 + (K0 - 1) * d0 < N0
            and i1 >= 0 and i1 + (K1 - 1) * d1 < N1
        ):  # fmt: skip
            orow = out[b, o0, o1]
            zero_fill(orow, c0, c1, zw[0])
            b0 = ((b * N0 + i0) * N1 + i1) * SM + tmin - toff[0]
            for grp in range(gs.shape[0] - 1):
                t0 = gs[grp]
                row_pass33(orow, c0, c1, xf, b0 + tapoff[t0], b0 + tapoff[t0 + 3],
                           b0 + tapoff[t0 + 6], e0, e1, e2, wf, t0)  # fmt: skip
            continue
        _task_fast(b, o0, o1, c0, c1, L, H, x, xf, xflat, w, out, rowsum, wf, ktab, ttab, gs, zw,
                   rsd, rsx, st, tv, geo, cval, SM, tmin, tmax)  # fmt: skip
    _keep(st0, tv0)  # the owners of the borrowed scratch live until here


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _rows333(chunk, nchunk, x, out, wf, rows, off, geo, zw):
    """Output row blocks of the ``chunk``-th of ``nchunk`` parts of a correlation with nine
    kernel rows of three adjacent taps (a 3^3 kernel at unit stride and dilation along the
    rows; any boundary, outer strides and dilations).

    A row whose nine input rows are real (inside the input, or mapped into it by the
    boundary rule) takes one :func:`row_set333` over the outputs that read inside those rows;
    a row with ``cval`` rows starts at their share and adds one :func:`row_add3` per real
    row; the few outputs at the row's ends are then (over)written by :func:`scalar_outputs`.

    Its own kernel, not a branch of :func:`_rows_fast`: there the one-pass rows added 0.5 s to
    the first call's compile time (4.55 -> 5.1 s); a 3^3 call compiles only this (about 1.5 s).
    ``rows[r]``: where kernel row ``r``'s input row starts, from the first one's, when the
    output row lies inside the input along the outer axes; ``off[k]``: tap ``k``'s offset
    along the rows (``k - pad_before``).
    """
    x, out, wf, rows, off, zw = borrow(x, out, wf, rows, off, zw)
    N0, N1, N2 = x.shape[1], x.shape[2], x.shape[3]
    O0, O1, O2 = out.shape[1:]
    s0, s1, d0, d1, p0, p1, p2 = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5], geo[6]
    bmode = geo[7]
    block, nblk, lo_all, hi_all = geo[8], geo[9], geo[10], geo[11]
    xf = x.reshape(x.size)
    rs0 = np.empty(9, dtype=np.int64)  # the nine input rows' starts in xf (-1: a cval row)
    rs = borrow(rs0)
    cv = zw[1]
    t_start, t_end, c, o1, o0, b = chunk_tasks(chunk, nchunk, x.shape[0], O0, O1, nblk)
    for t in range(t_start, t_end):
        if t > t_start:
            c, o1, o0, b = next_task(c, o1, o0, b, nblk, O1, O0)
        c0, c1, L, H = block_bounds(c, block, O2, lo_all, hi_all)
        orow = out[b, o0, o1]
        i0 = o0 * s0 - p0
        i1 = o1 * s1 - p1
        cst = zw[0]
        real = 9
        if i0 >= 0 and i0 + 2 * d0 < N0 and i1 >= 0 and i1 + 2 * d1 < N1:
            base = ((b * N0 + i0) * N1 + i1) * N2
            for r in range(9):
                rs[r] = base + rows[r]
        else:
            for r in range(9):
                m0 = map_index(i0 + (r // 3) * d0, N0, bmode)
                m1 = map_index(i1 + (r % 3) * d1, N1, bmode)
                if m0 < 0 or m1 < 0:
                    rs[r] = -1
                    cst += cv * ((wf[3 * r] + wf[3 * r + 1]) + wf[3 * r + 2])
                    real -= 1
                else:
                    rs[r] = ((b * N0 + m0) * N1 + m1) * N2
        if real == 9:
            # the pass widened to the whole block where its reads stay inside xf (126 of
            # 128 outputs left 14 to a scalar loop); scalar_outputs then overwrites the ends
            lo = rs[0]
            hi = rs[0]
            for r in range(1, 9):
                lo = min(lo, rs[r])
                hi = max(hi, rs[r])
            A = c0 if lo + c0 - p2 >= 0 else L
            B = c1 if hi + c1 - p2 + 2 <= xf.shape[0] else H
            row_set333(orow, A, B, xf, -p2, rs, wf)
        else:
            zero_fill(orow, c0, c1, cst)
            for r in range(9):
                if rs[r] >= 0:
                    row_add3(orow, L, H, xf, rs[r] - p2, wf, 3 * r)
        scalar_outputs_inlined(orow, c0, c1, L, H, cst, rs, rs, 9, 3, 1, off, N2, bmode, wf, zw, xf)
    _keep(rs0)  # the owner of the borrowed scratch lives until here


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _rows_general(chunk, nchunk, x, xd, w, out, rowsum, wf, ktab, geo, cval, SM):
    """Output row blocks of the ``chunk``-th of ``nchunk`` parts, each by :func:`_task`."""
    x, xd, w, out = borrow(x, xd, w, out)
    rowsum, wf, ktab = borrow(rowsum, wf, ktab)
    O0, O1, O2 = out.shape[1:]
    block, nblk = geo[8], geo[9]
    # scratch: a kernel row's tap offsets and weights (borrowed: sliced once per pass)
    st0 = np.empty(w.shape[2], dtype=np.int64)
    tv0 = np.empty(w.shape[2], dtype=w.dtype)
    st, tv = borrow(st0, tv0)
    xf = xd.reshape(xd.size)
    t_start, t_end, c, o1, o0, b = chunk_tasks(chunk, nchunk, x.shape[0], O0, O1, nblk)
    for t in range(t_start, t_end):
        if t > t_start:
            c, o1, o0, b = next_task(c, o1, o0, b, nblk, O1, O0)
        c0 = c * block
        c1 = min(c0 + block, O2)
        _task(b, o0, o1, c0, c1, x, xf, w, out, rowsum, wf, ktab, st, tv, geo, cval, SM)
    _keep(st0, tv0)  # the owners of the borrowed scratch live until here


# Inlined at the Numba-IR level, by measurement: one function less for LLVM to optimise and
# emit (the 2-D float32 first call compiled in 3.7 s instead of 4.2 s) and no call per output
# row (256^3 3^3: 5% faster single-threaded).
@njit(cache=True, fastmath=FASTMATH, inline="always")
def _task_fast(
    b, o0, o1, c0, c1, L, H, x, xf, xflat, w, out, rowsum, wf, ktab, ttab, gs, zw, rsd, rsx, st,
    tv, geo, cval, SM, tmin, tmax
):  # fmt: skip
    """One output row block ``out[b, o0, o1, c0:c1]`` whose outputs ``[L, H)`` read inside the
    input row for every tap.

    Every tap passes over ``[A, B)`` in groups of up to ``G_FAST`` (:func:`row_pass`; a group
    of three whole 3-tap kernel rows by :func:`row_pass33`), reading the flat input ``xf`` from
    ``row start + tap offset``. For an output row inside the input
    along the outer axes (nearly all) the offsets are the precomputed ``tapoff``; otherwise the
    input row of each kernel row is resolved by the boundary rule first (a ``cval`` row adds a
    constant) and the group's taps listed in ``st``/``tv``.

    ``[A, B)`` is ``[L, H)`` widened by up to 7 edge outputs so that its length is a multiple
    of 8 (no scalar remainder after the vector loop: a 254-output interior cost 35% more than
    256) when the widened reads stay inside ``xf``; the few outputs outside ``[L, H)``, whose
    passes read neighbouring samples, are then overwritten by a scalar loop with the boundary
    rule.
    """
    N0 = x.shape[1]
    N1 = x.shape[2]
    N2 = x.shape[3]
    K0, K1, K2 = w.shape
    s0, s1, s2, d0, d1, p0, p1, bmode = geo[:8]
    toff = ktab[0]
    off_k = ktab[1]
    tkk = ttab[0]
    tk2 = ttab[1]
    tapoff = ttab[2]
    orow = out[b, o0, o1]
    i0 = o0 * s0 - p0
    i1 = o1 * s1 - p1
    inner = i0 >= 0 and i0 + (K0 - 1) * d0 < N0 and i1 >= 0 and i1 + (K1 - 1) * d1 < N1
    # Sum of the cval rows' contributions (float64, like cval; out holds garbage until written).
    cst = 0.0
    smin = xf.shape[0]
    smax = -1
    base = 0
    kk = 0
    edges = L > c0 or H < c1  # outputs for scalar_outputs, which reads rsd and rsx
    if inner:
        r0 = (b * N0 + i0) * N1 + i1
        base = r0 * SM
        if edges:
            for k0 in range(K0):
                for k1 in range(K1):
                    r = r0 + k0 * d0 * N1 + k1 * d1
                    rsd[kk] = r * SM
                    rsx[kk] = r * N2
                    kk += 1
        smin = base
        smax = (r0 + (K0 - 1) * d0 * N1 + (K1 - 1) * d1) * SM
    else:
        for k0 in range(K0):
            m0 = map_index(i0 + k0 * d0, N0, bmode)
            for k1 in range(K1):
                m1 = map_index(i1 + k1 * d1, N1, bmode)
                if m0 < 0 or m1 < 0:
                    rsd[kk] = -1
                    cst += rowsum[k0, k1] * cval
                else:
                    r = (b * N0 + m0) * N1 + m1
                    rsd[kk] = r * SM
                    rsx[kk] = r * N2
                    smin = min(smin, r * SM)
                    smax = max(smax, r * SM)
                kk += 1
    A, B = widened(L, H, c0, c1, 7)
    if smax >= 0 and (smin + tmin + A < 0 or smax + tmax + B > xf.shape[0]):
        A = L
        B = H
    # the row starts at the cval rows' share (in the data's dtype)
    tv[G_FAST] = cst
    zero_fill(orow, A, B, tv[G_FAST])
    # 3-tap kernel rows: whole kernel rows per pass (row_pass33), each kernel row's slice
    # starting at the smallest tap offset ``tmin`` (with phases, toff is not in tap order)
    by_rows = K2 == 3
    for grp in range(gs.shape[0] - 1):
        if inner:
            t0 = gs[grp]
            g = gs[grp + 1] - t0
            soff = tapoff
            sv = wf
        else:
            g = 0
            for t in range(gs[grp], gs[grp + 1]):
                rs = rsd[tkk[t]]
                if rs >= 0:
                    st[g] = rs + toff[tk2[t]]
                    tv[g] = wf[t]
                    g += 1
            t0 = 0
            soff = st
            sv = tv
        if g == 9 and by_rows and gs[grp] % 3 == 0:  # three whole kernel rows
            b0 = base + tmin - toff[0]
            row_pass33(orow, A, B, xf, b0 + soff[t0], b0 + soff[t0 + 3], b0 + soff[t0 + 6],
                       toff[0] - tmin, toff[1] - tmin, toff[2] - tmin, sv, t0)  # fmt: skip
        elif g > 0:
            row_pass(orow, A, B, xf, base, soff, sv, t0, g)
    # Outputs outside [L, H): every tap through the boundary rule, overwriting what the
    # widened passes left there. Partial sums per kernel row in the data's dtype keep the
    # dependency chain short.
    if edges:
        scalar_outputs(
            orow, c0, c1, L, H, cst, rsd, rsx, K0 * K1, K2, s2, off_k, N2, bmode, wf, zw, xflat
        )


@njit(cache=True, fastmath=FASTMATH)
def _task(b, o0, o1, c0, c1, x, xf, w, out, rowsum, wf, ktab, st, tv, geo, cval, SM):
    """One output row block that :func:`_task_fast` cannot take (the ends of a row under a long
    kernel along the last axis, where each tap's interior differs).

    Per kernel row, its taps go in groups of up to ``G_FAST`` consecutive taps: one
    :func:`row_pass` over the group's common interior, single-tap passes over the rest of each
    tap's interior, and the outputs outside a tap's interior through the boundary rule.
    """
    N0, N1, n = x.shape[1], x.shape[2], x.shape[3]
    K0, K1, K2 = w.shape
    s0, s1, s2, d0, d1, p0, p1, bmode = geo[:8]
    toff, off_k, lo_k, hi_k = ktab[0], ktab[1], ktab[4], ktab[5]
    orow = out[b, o0, o1]
    zr = orow[c0:c1]
    # Loop from 0 over a slice: LLVM sees a non-negative index and vectorises the stores.
    for j in range(c1 - c0):
        zr[j] = 0.0
    for kk in range(K0 * K1):
        k0 = kk // K1
        k1 = kk - k0 * K1
        m0 = map_index(o0 * s0 - p0 + k0 * d0, N0, bmode)
        m1 = map_index(o1 * s1 - p1 + k1 * d1, N1, bmode)
        if m0 < 0 or m1 < 0:
            # A whole kernel row over padding: every tap reads cval.
            cv = rowsum[k0, k1] * cval
            for j in range(c0, c1):
                orow[j] += cv
            continue
        base = ((b * N0 + m0) * N1 + m1) * SM  # the input row's start in xf
        xr = x[b, m0, m1]
        for g0 in range(0, K2, G_FAST):
            g = min(G_FAST, K2 - g0)
            L = c0
            H = c1
            for k in range(g0, g0 + g):
                L = max(L, lo_k[k])
                H = min(H, hi_k[k])
                st[k] = toff[k]
                tv[k] = wf[kk * K2 + k]
            if L < H:
                row_pass(orow, L, H, xf, base, st, tv, g0, g)
            else:
                L = c0
                H = c0
            for k in range(g0, g0 + g):
                lo = clamp(lo_k[k], c0, c1)
                hi = clamp(hi_k[k], lo, c1)
                # the tap's interior outside the group's: a few outputs (consecutive taps'
                # interiors differ by dilation / stride outputs), so a plain loop
                v = tv[k]
                xs = base + st[k]
                for o in range(lo, min(L, hi)):
                    orow[o] += v * xf[xs + o]
                for o in range(max(H, lo), hi):
                    orow[o] += v * xf[xs + o]
                if lo == c0 and hi == c1:
                    continue
                off = off_k[k]
                if bmode == 0:
                    cv = v * cval
                    for o in range(c0, lo):
                        orow[o] += cv
                    for o in range(hi, c1):
                        orow[o] += cv
                elif bmode == 3:
                    cv = v * xr[0]
                    for o in range(c0, lo):
                        orow[o] += cv
                    cv = v * xr[n - 1]
                    for o in range(hi, c1):
                        orow[o] += cv
                else:
                    for o in range(c0, lo):
                        orow[o] += v * xr[map_index(o * s2 + off, n, bmode)]
                    for o in range(hi, c1):
                        orow[o] += v * xr[map_index(o * s2 + off, n, bmode)]

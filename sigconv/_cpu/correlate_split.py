"""The split-phase family of the direct correlation (``correlate3_split``): Numba CPU kernels.

For a stride along the last axis, each task splits the input rows it reads into their stride
phases on the fly (into scratch that stays in cache) instead of reading a deinterleaved copy
of the whole input; the passes are those of ``correlate_rows`` (its module docstring has the
normalised problem, the tap tables and the compile-time rules, which hold here too).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._nrt import borrow
from ._nrt import keep as _keep
from ._threads import run_chunks
from .correlate_parts import (
    FASTMATH,
    block_bounds,
    chunk_tasks,
    kernel_rows,
    next_task,
    row_pass,
    row_sums,
    row_taps,
    scalar_outputs,
    tap_groups,
)


def correlate3_split(x, w, out, s0, s1, s2, d0, d1, d2, p0, p1, p2, bmode, cval, block):
    """:func:`correlate3` without the deinterleaved copy of the input (for ``s2 > 1``).

    Each task (an output row block) splits the part of each input row it reads into its
    ``s2`` phases on the fly, into a small per-run scratch of ``2 * K0 * K1`` row slots tagged
    by (input row, column block); a row already split for a previous task of the run (the
    rows shared by consecutive output rows when the kernel rows overlap) is reused. The
    passes then read the scratch like :func:`correlate3` reads ``xd``. Correct for every
    geometry; fast when most outputs of a block read inside the row (the caller's rule).
    """
    B, N0, N1, N2 = x.shape
    K0, K1, K2 = w.shape
    O0, O1, O2 = out.shape[1:]
    nblk = -(-O2 // block)
    # Per tap along the last axis: input index o*s2 + off = (o + q)*s2 + r; outputs [lo_all,
    # hi_all) read inside the row for every tap.
    off, q, r, _, _, lo_all, hi_all = row_taps(N2, K2, s2, d2, p2, O2)
    k2 = np.arange(K2, dtype=np.int64)
    qmin = int(q.min())
    # A slot holds, per phase, the Mb positions [c0 + qmin, c0 + qmin + Mb) that the block's
    # outputs [c0, c1) read; tap k2 reads phase r at local position o - c0 + q - qmin.
    Mb = min(block, O2) + int(q.max()) - qmin
    T = K0 * K1 * K2
    ttab = np.stack([np.repeat(np.arange(K0 * K1, dtype=np.int64), K2), np.tile(k2, K0 * K1)])
    ktab = np.stack([r * Mb + q - qmin, off])
    geo = (s0, s1, s2, d0, d1, p0, p1, bmode, block, nblk, lo_all, hi_all, qmin, Mb)
    geo = tuple(int(v) for v in geo)
    zw = np.array([0.0, cval], dtype=w.dtype)
    tabs = (row_sums(w).reshape(K0 * K1), w.reshape(T), ttab, ktab, tap_groups(T), zw)
    run_chunks(_rows_split, out.size * T, x, w, out, *tabs, geo, float(cval))


@njit(cache=True, fastmath=FASTMATH)
def _split_row(buf, so, xflat, xs, N2, s2, Mb, mb0):
    """``buf[so + r*Mb + j] = x_row[(mb0 + j)*s2 + r]`` for ``j < Mb``, 0 outside the row."""
    for r in range(s2):
        # positions m = mb0 + j inside the row: 0 <= m*s2 + r < N2
        mhi = (N2 - r + s2 - 1) // s2
        jlo = min(max(0, -mb0), Mb)
        jhi = max(min(Mb, mhi - mb0), jlo)
        dr = buf[so + r * Mb : so + (r + 1) * Mb]
        for j in range(jlo):
            dr[j] = 0.0
        for j in range(jhi, Mb):
            dr[j] = 0.0
        if s2 == 2 and r == 0:
            # Both phases in one loop with constant stride 2: LLVM vectorises the split
            # (interleaved loads and shuffles); phase 1 ends at or before phase 0.
            mhi1 = (N2 - 1 + 1) // 2
            jhi1 = max(min(Mb, mhi1 - mb0), jlo)
            d1 = buf[so + Mb : so + 2 * Mb]
            xr = xflat[xs + 2 * (mb0 + jlo) : xs + 2 * (mb0 + jhi1)]
            dz = dr[jlo:jhi1]
            do = d1[jlo:jhi1]
            for j in range(jhi1 - jlo):
                dz[j] = xr[2 * j]
                do[j] = xr[2 * j + 1]
            for j in range(jhi1, jhi):
                dr[j] = xflat[xs + 2 * (mb0 + j)]
        elif s2 != 2:
            xr = xflat[xs + (mb0 + jlo) * s2 + r : xs + N2]
            dz = dr[jlo:jhi]
            for j in range(jhi - jlo):
                dz[j] = xr[j * s2]


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _rows_split(chunk, nchunk, x, w, out, rowsum, wf, ttab, ktab, gs, zw, geo, cval):
    """Output row blocks of the ``chunk``-th of ``nchunk`` parts of :func:`correlate3_split`."""
    x, w, out = borrow(x, w, out)
    rowsum, wf, ttab, ktab, gs, zw = borrow(rowsum, wf, ttab, ktab, gs, zw)
    N0 = x.shape[1]
    N1 = x.shape[2]
    N2 = x.shape[3]
    K0, K1, K2 = w.shape
    O0 = out.shape[1]
    O1 = out.shape[2]
    O2 = out.shape[3]
    s0, s1, s2, d0, d1, p0, p1, bmode, block, nblk, lo_all, hi_all, qmin, Mb = geo
    SS = s2 * Mb
    nslot = 2 * K0 * K1
    buf0 = np.zeros(nslot * SS, dtype=x.dtype)
    # per slot: tag (input row * nblk + column block, -1 = empty), last task that used it
    slots = np.full((2, nslot), -1, dtype=np.int64)
    # per kernel row: slot offset in buf (-1 = cval row), start of its row in x, tag
    rs3 = np.empty((3, K0 * K1), dtype=np.int64)
    st0 = np.empty(K0 * K1 * K2, dtype=np.int64)
    tv0 = np.empty(K0 * K1 * K2, dtype=w.dtype)
    # borrowed: sliced for every pass and every split row
    buf, st, tv = borrow(buf0, st0, tv0)
    tags = slots[0]
    stamp = slots[1]
    rsd = rs3[0]
    rsx = rs3[1]
    rtag = rs3[2]
    toffl = ktab[0]
    off_k = ktab[1]
    tkk = ttab[0]
    tk2 = ttab[1]
    xflat = x.reshape(x.size)
    ptr = 0
    t_start, t_end, c, o1, o0, b = chunk_tasks(chunk, nchunk, x.shape[0], O0, O1, nblk)
    for t in range(t_start, t_end):
        if t > t_start:
            c, o1, o0, b = next_task(c, o1, o0, b, nblk, O1, O0)
        c0, c1, L, H = block_bounds(c, block, O2, lo_all, hi_all)
        mb0 = c0 + qmin
        orow = out[b, o0, o1]
        i0 = o0 * s0 - p0
        i1 = o1 * s1 - p1
        # Kernel rows: resolve the input row, then find it in the slots (hits first, so a
        # miss never evicts a row this task still needs).
        cst = kernel_rows(b, i0, i1, K0, K1, d0, d1, N0, N1, N2, bmode, rowsum, cval, rsx)
        for kk in range(K0 * K1):
            rsd[kk] = -1
            if rsx[kk] >= 0:
                tg = (rsx[kk] // N2) * nblk + c
                rtag[kk] = tg
                rsd[kk] = -2
                for j in range(nslot):
                    if tags[j] == tg:
                        rsd[kk] = j * SS
                        stamp[j] = t
                        break
        for kk in range(K0 * K1):
            if rsd[kk] == -2:
                tg = rtag[kk]
                # (an earlier miss of this task may have loaded the same row: reflect edges)
                found = -1
                for j in range(nslot):
                    if tags[j] == tg:
                        found = j
                        break
                if found < 0:
                    while stamp[ptr] == t:
                        ptr = (ptr + 1) % nslot
                    found = ptr
                    ptr = (ptr + 1) % nslot
                    tags[found] = tg
                    _split_row(buf, found * SS, xflat, rsx[kk], N2, s2, Mb, mb0)
                stamp[found] = t
                rsd[kk] = found * SS
        # [A, B): [L, H) widened to a multiple of 8 inside [c0, c1) (the slots cover every
        # output of the block, so the widened reads stay inside buf); the outputs outside
        # [L, H) are overwritten by the scalar loop below.
        A = L
        Bw = H
        if L < H:
            e = (-(Bw - A)) & 7
            ext = min(e, c1 - Bw)
            Bw += ext
            A -= min(e - ext, A - c0)
        ar = orow[A:Bw]
        for j in range(Bw - A):
            ar[j] = cst
        if A < Bw:
            # taps listed so far in st/tv (cval rows are left out); gs[0] is 0, read from the
            # array so that t0 below is not typed as a literal (see row_pass)
            n = gs[0]
            for grp in range(gs.shape[0] - 1):
                t0 = n
                for tt in range(gs[grp], gs[grp + 1]):
                    rs = rsd[tkk[tt]]
                    if rs >= 0:
                        st[n] = rs + toffl[tk2[tt]]
                        tv[n] = wf[tt]
                        n += 1
                if n > t0:
                    row_pass(orow, A, Bw, buf, -c0, st, tv, t0, n - t0)
        scalar_outputs(
            orow, c0, c1, L, H, cst, rsd, rsx, K0 * K1, K2, s2, off_k, N2, bmode, wf, zw, xflat
        )
    _keep(buf0, st0, tv0)  # the owners of the borrowed scratch live until here

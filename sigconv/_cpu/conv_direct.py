"""Direct blocked correlation kernels of the CNN convolution (few channels): Numba CPU.

The "wide" flattened-grid and batch-last layouts and the weight-gradient kernel described in
``convolution``'s module docstring, with the host helpers that lay their inputs out.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .. import _config, _scratch
from . import conv_fewout
from ._nrt import borrow, stack_array
from ._simd import MAX_BLOCK, block_len, wide_vectors
from ._threads import run_chunks
from .conv_im2col import pad

# --- direct blocked correlation ------------------------------------------------------------------


# The tap loops below: one contiguous loop per group of taps over a block of wide positions,
# vectorised along the positions. Per loop iteration (one SIMD vector of positions) the four
# output channels x three taps kernel loads 3 input vectors and 4 accumulators, stores 4 and
# does 12 FMAs; its 12 weights stay in registers (16 on AVX2), so it is FMA-bound. Two channels
# x four taps (the previous kernel) spilled weights and did 11 loads per 8 FMAs.
# ``y + a0 * v0 + a1 * v1 + ...`` associates left, so with "contract" it is a chain of FMAs
# into the accumulator (LLVM never reorders the sum).


@njit(cache=True, fastmath={"contract"})
def _taps4(y0, y1, y2, y3, xrow, w0, w1, w2, w3, offs, q0, m):
    """``y_u[q] += sum_t w_u[t] * xrow[q0 + offs[t] + q]`` for four output channels ``u``."""
    wide_vectors()
    kk = offs.shape[0]
    k3 = kk - kk % 3
    for t in range(0, k3, 3):
        x0 = xrow[q0 + offs[t] : q0 + offs[t] + m]
        x1 = xrow[q0 + offs[t + 1] : q0 + offs[t + 1] + m]
        x2 = xrow[q0 + offs[t + 2] : q0 + offs[t + 2] + m]
        a0, a1, a2 = w0[t], w0[t + 1], w0[t + 2]
        b0, b1, b2 = w1[t], w1[t + 1], w1[t + 2]
        c0, c1, c2 = w2[t], w2[t + 1], w2[t + 2]
        d0, d1, d2 = w3[t], w3[t + 1], w3[t + 2]
        for q in range(m):
            v0 = x0[q]
            v1 = x1[q]
            v2 = x2[q]
            y0[q] = y0[q] + a0 * v0 + a1 * v1 + a2 * v2
            y1[q] = y1[q] + b0 * v0 + b1 * v1 + b2 * v2
            y2[q] = y2[q] + c0 * v0 + c1 * v1 + c2 * v2
            y3[q] = y3[q] + d0 * v0 + d1 * v1 + d2 * v2
    if kk - k3 == 2:
        x0 = xrow[q0 + offs[k3] : q0 + offs[k3] + m]
        x1 = xrow[q0 + offs[k3 + 1] : q0 + offs[k3 + 1] + m]
        a0, a1 = w0[k3], w0[k3 + 1]
        b0, b1 = w1[k3], w1[k3 + 1]
        c0, c1 = w2[k3], w2[k3 + 1]
        d0, d1 = w3[k3], w3[k3 + 1]
        for q in range(m):
            v0 = x0[q]
            v1 = x1[q]
            y0[q] = y0[q] + a0 * v0 + a1 * v1
            y1[q] = y1[q] + b0 * v0 + b1 * v1
            y2[q] = y2[q] + c0 * v0 + c1 * v1
            y3[q] = y3[q] + d0 * v0 + d1 * v1
    elif kk - k3 == 1:
        x0 = xrow[q0 + offs[k3] : q0 + offs[k3] + m]
        a0, b0, c0, d0 = w0[k3], w1[k3], w2[k3], w3[k3]
        for q in range(m):
            v0 = x0[q]
            y0[q] += a0 * v0
            y1[q] += b0 * v0
            y2[q] += c0 * v0
            y3[q] += d0 * v0


@njit(cache=True, fastmath={"contract"})
def _taps2(y0, y1, xrow, w0, w1, offs, q0, m):
    """``_taps4`` for two output channels (four taps per loop: 8 weights in registers)."""
    wide_vectors()
    kk = offs.shape[0]
    k4 = kk - kk % 4
    for t in range(0, k4, 4):
        x0 = xrow[q0 + offs[t] : q0 + offs[t] + m]
        x1 = xrow[q0 + offs[t + 1] : q0 + offs[t + 1] + m]
        x2 = xrow[q0 + offs[t + 2] : q0 + offs[t + 2] + m]
        x3 = xrow[q0 + offs[t + 3] : q0 + offs[t + 3] + m]
        a0, a1, a2, a3 = w0[t], w0[t + 1], w0[t + 2], w0[t + 3]
        b0, b1, b2, b3 = w1[t], w1[t + 1], w1[t + 2], w1[t + 3]
        for q in range(m):
            v0 = x0[q]
            v1 = x1[q]
            v2 = x2[q]
            v3 = x3[q]
            y0[q] = y0[q] + a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3
            y1[q] = y1[q] + b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3
    for t in range(k4, kk):
        x0 = xrow[q0 + offs[t] : q0 + offs[t] + m]
        a0, b0 = w0[t], w1[t]
        for q in range(m):
            v0 = x0[q]
            y0[q] += a0 * v0
            y1[q] += b0 * v0


@njit(cache=True, fastmath={"contract"})
def _taps1(y0, xrow, w0, offs, q0, m):
    """``_taps4`` for one output channel (four taps per loop)."""
    wide_vectors()
    kk = offs.shape[0]
    k4 = kk - kk % 4
    for t in range(0, k4, 4):
        x0 = xrow[q0 + offs[t] : q0 + offs[t] + m]
        x1 = xrow[q0 + offs[t + 1] : q0 + offs[t + 1] + m]
        x2 = xrow[q0 + offs[t + 2] : q0 + offs[t + 2] + m]
        x3 = xrow[q0 + offs[t + 3] : q0 + offs[t + 3] + m]
        a0, a1, a2, a3 = w0[t], w0[t + 1], w0[t + 2], w0[t + 3]
        for q in range(m):
            y0[q] = y0[q] + a0 * x0[q] + a1 * x1[q] + a2 * x2[q] + a3 * x3[q]
    for t in range(k4, kk):
        x0 = xrow[q0 + offs[t] : q0 + offs[t] + m]
        a0 = w0[t]
        for q in range(m):
            y0[q] += a0 * x0[q]


# Register blocks: block_len(y) consecutive outputs of four (or two) output channels accumulate
# in a stack_array, which LLVM keeps in vector registers (half the register file: 16 zmm with
# AVX-512, _simd) while the loop runs over every (input channel, tap) of the reduction: per
# tap one load of the inputs per vector and a broadcast weight per channel, no accumulator load
# or store. The tap loops above load and store every accumulator once per three taps. A bare
# loop over one LeNet conv2 row ran at 107 GMAC/s a core against about 75 (docs/performance.md,
# "Register blocks").


@njit(cache=True, fastmath={"contract"})
def _block4(xf, co, q, wq, kn, y0, y1, y2, y3, p):
    """``y_u[p : p + n] += sum_k wq[k, u] * xf[co[k] + q : ... + n]`` (k < kn, u < 4), where
    ``n = block_len(y0)``.

    Every read ``xf[co[k] + q .. + n]`` must lie inside ``xf``.
    """
    wide_vectors()
    n = block_len(y0)
    acc = stack_array(256, y0.dtype)  # 4 * MAX_BLOCK
    r0 = y0[p : p + n]
    r1 = y1[p : p + n]
    r2 = y2[p : p + n]
    r3 = y3[p : p + n]
    for v in range(n):
        acc[v] = r0[v]
        acc[n + v] = r1[v]
        acc[2 * n + v] = r2[v]
        acc[3 * n + v] = r3[v]
    for k in range(kn):
        xs = xf[co[k] + q : co[k] + q + n]
        ws = wq[k]
        w0, w1, w2, w3 = ws[0], ws[1], ws[2], ws[3]
        for v in range(n):
            xv = xs[v]
            acc[v] += w0 * xv
            acc[n + v] += w1 * xv
            acc[2 * n + v] += w2 * xv
            acc[3 * n + v] += w3 * xv
    for v in range(n):
        r0[v] = acc[v]
        r1[v] = acc[n + v]
        r2[v] = acc[2 * n + v]
        r3[v] = acc[3 * n + v]


@njit(cache=True, fastmath={"contract"})
def _block2(xf, co, q, wq, kn, y0, y1, p):
    """``_block4`` for two output channels (``wq[k, 0]`` and ``wq[k, 1]``)."""
    wide_vectors()
    n = block_len(y0)
    acc = stack_array(128, y0.dtype)  # 2 * MAX_BLOCK
    r0 = y0[p : p + n]
    r1 = y1[p : p + n]
    for v in range(n):
        acc[v] = r0[v]
        acc[n + v] = r1[v]
    for k in range(kn):
        xs = xf[co[k] + q : co[k] + q + n]
        w0, w1 = wq[k, 0], wq[k, 1]
        for v in range(n):
            xv = xs[v]
            acc[v] += w0 * xv
            acc[n + v] += w1 * xv
    for v in range(n):
        r0[v] = acc[v]
        r1[v] = acc[n + v]


@njit(cache=True)
def _block(xf, co, q, wq, kn, r, y0, y1, y2, y3, p):
    # three channels take a block of four (y3 a spare row), one a block of two (y1 spare)
    if r >= 3:
        _block4(xf, co, q, wq, kn, y0, y1, y2, y3, p)
    else:
        _block2(xf, co, q, wq, kn, y0, y1, p)


@njit(cache=True)
def _blocks(xf, co, wq, kn, r, m, y0, y1, y2, y3, tail):
    """``y_u[:m] += sum_k wq[k, u] * xf[co[k] : co[k] + m]`` for the first ``r`` channels, in
    register blocks of ``n = block_len(y0)`` outputs. The last ``m % n`` outputs are one more
    block, computed into ``tail`` (``(4, n)``) and added: ``xf`` must hold ``n`` values after
    the last one read (they only reach outputs that are dropped).
    """
    n = block_len(y0)
    for p in range(0, m, n):
        # one call site for the full blocks and the last one: LLVM inlines each call site's
        # copy of the register blocks, and two copies cost 0.6 s more to compile
        if p + n <= m:
            z0, z1, z2, z3, zp = y0, y1, y2, y3, p
        else:
            for u in range(4):
                for v in range(n):
                    tail[u, v] = 0.0
            z0, z1, z2, z3, zp = tail[0], tail[1], tail[2], tail[3], 0
        _block(xf, co, p, wq, kn, r, z0, z1, z2, z3, zp)
        if p + n > m:
            for v in range(m - p):  # the missing channels' rows are spare rows
                y0[p + v] += tail[0, v]
                y1[p + v] += tail[1, v]
                y2[p + v] += tail[2, v]
                y3[p + v] += tail[3, v]


def direct_corr_wide(xp, w, bias, dilation, blk, y):
    """Unit-stride valid correlation ``y = corr(xp, w) + bias`` on the wide flattened grid.

    ``xp`` ``(N, C, Dp, Hp, Wp)``; ``w`` ``(O, C // G, KD, KH, KW)``; ``y``
    ``(N, O, OD, OH, OW)``. Output pixel ``(i, j, k)`` is wide position
    ``i * Hp * Wp + j * Wp + k``; only each output plane's span ``i * Hp * Wp .. +
    (OH - 1) * Wp + OW`` is computed, in blocks of at most ``blk`` positions that start on
    multiples of 16. Tasks are (image, group, plane, block, four output channels), the channel
    quads fastest so that a thread's consecutive tasks read the same input. Each accumulates
    its block in a 64-byte aligned scratch (bias first, then every input channel's taps through
    ``_taps4``; the last one to three channels of a group go through ``_taps2`` / ``_taps1``)
    and copies the real outputs out, so no wide array is allocated (page faults) or cropped.
    """
    run_chunks(_direct_corr_wide, y.size * w[0].size, xp, w, bias, dilation, blk, y)
    return y


@njit(cache=True, nogil=True)
def _direct_corr_wide(part, nparts, xp, w, bias, dilation, blk, y):
    wide_vectors()
    xp, w, bias, dilation, blk, y = borrow(xp, w, bias, dilation, blk, y)
    nb, nc = xp.shape[0], xp.shape[1]
    dp, hp, wp = xp.shape[2], xp.shape[3], xp.shape[4]
    nout, cg = w.shape[0], w.shape[1]
    kd, kh, kw = w.shape[2], w.shape[3], w.shape[4]
    dd, dh, dw = dilation
    od, oh, ow = y.shape[2], y.shape[3], y.shape[4]
    og = nout // (nc // cg)
    kk = kd * kh * kw
    plane = hp * wp
    span = (oh - 1) * wp + ow  # wide positions of one output plane
    # blocks of a plane: equal sizes rounded up to 16, starting at the plane's aligned start
    nblk = (span + 15 + blk - 1) // blk
    size = ((span + 15 + nblk - 1) // nblk + 15) // 16 * 16
    offs = np.empty(kk, dtype=np.int64)
    for t in range(kk):
        a = t // (kh * kw)
        e = (t // kw) % kh
        f = t % kw
        offs[t] = a * dd * plane + e * dh * wp + f * dw
    xf = xp.reshape(nb, nc, dp * plane)
    wf = w.reshape(nout, cg, kk)
    nquad = (og + 3) // 4  # output channels are taken four at a time within a group
    ngroup = nout // og
    ntask = nb * ngroup * od * nblk * nquad
    for task in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        n = task // (ngroup * od * nblk * nquad)
        rem = task % (ngroup * od * nblk * nquad)
        grp = rem // (od * nblk * nquad)
        rem = rem % (od * nblk * nquad)
        i = rem // (nblk * nquad)
        rem = rem % (nblk * nquad)
        o = grp * og + 4 * (rem % nquad)
        start = i * plane
        q0 = start - start % 16 + (rem // nquad) * size
        m = min(q0 + size, start + span) - q0
        if m <= 0:
            continue
        r = min(4, (grp + 1) * og - o)
        c0 = grp * cg
        # 64-byte aligned accumulator rows (size is a multiple of 16 values)
        buf = np.empty(4 * size + 16, dtype=y.dtype)
        per = 64 // buf.itemsize
        off = (per - (buf.ctypes.data // buf.itemsize) % per) % per
        acc = buf[off : off + 4 * size].reshape(4, size)
        for u in range(r):
            bv = bias[o + u]
            for q in range(m):
                acc[u, q] = bv
        y0 = acc[0, :m]
        if r == 4:
            for ci in range(cg):
                _taps4(
                    y0,
                    acc[1, :m],
                    acc[2, :m],
                    acc[3, :m],
                    xf[n, c0 + ci],
                    wf[o, ci],
                    wf[o + 1, ci],
                    wf[o + 2, ci],
                    wf[o + 3, ci],
                    offs,
                    q0,
                    m,
                )
        elif r >= 2:
            for ci in range(cg):
                _taps2(y0, acc[1, :m], xf[n, c0 + ci], wf[o, ci], wf[o + 1, ci], offs, q0, m)
            if r == 3:
                for ci in range(cg):
                    _taps1(acc[2, :m], xf[n, c0 + ci], wf[o + 2, ci], offs, q0, m)
        else:
            for ci in range(cg):
                _taps1(y0, xf[n, c0 + ci], wf[o, ci], offs, q0, m)
        # the real outputs of the block: row j of plane i covers start + j * wp + (0 .. ow)
        jlo = max(0, (q0 - start) // wp)
        jhi = min(oh - 1, (q0 + m - 1 - start) // wp)
        for j in range(jlo, jhi + 1):
            base = start + j * wp
            klo = max(0, q0 - base)
            khi = min(ow, q0 + m - base)
            for u in range(r):
                src = acc[u, base + klo - q0 : base + khi - q0]
                dst = y[n, o + u, i, j, klo:khi]
                for k in range(khi - klo):
                    dst[k] = src[k]


def pad_batch_last(x, md, mh, mw, out):
    """``out[c, i, j, k, n] = x[n, c, md[i], mh[j], mw[k]]`` (zero where a map entry is -1,
    and for ``n`` past the batch where ``out``'s last axis is longer).

    Pads (any frame the maps describe) and moves the batch axis last in one pass.
    """
    run_chunks(_pad_batch_last, out.size, x, md, mh, mw, out)
    return out


@njit(cache=True, nogil=True)
def _pad_batch_last(part, nparts, x, md, mh, mw, out):
    x, md, mh, mw, out = borrow(x, md, mh, mw, out)
    nb, nc = x.shape[0], x.shape[1]
    dp, hp, wp = out.shape[1], out.shape[2], out.shape[3]
    ntask = nc * dp * hp
    for task in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        c = task // (dp * hp)
        i = (task // hp) % dp
        j = task % hp
        si = md[i]
        sj = mh[j]
        for k in range(wp):
            sk = mw[k]
            dst = out[c, i, j, k]
            if si < 0 or sj < 0 or sk < 0:
                for n in range(nb):
                    dst[n] = 0.0
            else:
                for n in range(nb):
                    dst[n] = x[n, c, si, sj, sk]
            # a batch axis longer than the batch (conv_fewout's whole vectors) gets zeros
            for n in range(nb, dst.shape[0]):
                dst[n] = 0.0


def to_batch_last(a, slot):
    """A copy of ``a`` ``(N, C, D, H, W)`` as ``(C, D, H, W, N)`` (``pad_batch_last`` with no
    frame) in the calling thread's scratch ``slot``: valid until that slot is taken again."""
    out = _scratch.take(slot, a.shape[1:] + (a.shape[0],), a.dtype)
    return pad_batch_last(a, *_identity(a.shape[2:]), out)


def _identity(shape):
    """``pad``'s index maps for no frame."""
    return [np.arange(n, dtype=np.int64) for n in shape]


def unbatch_last(yt, y):
    """``y[n, o, i, j, k] = yt[o, i, j, k, n]`` (the batch axis back in front)."""
    run_chunks(_unbatch_last, y.size, yt, y)
    return y


@njit(cache=True, nogil=True)
def _unbatch_last(part, nparts, yt, y):
    yt, y = borrow(yt, y)
    nb, nout = y.shape[0], y.shape[1]
    od, oh, ow = y.shape[2], y.shape[3], y.shape[4]
    ntask = nout * od * oh
    for task in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        o = task // (od * oh)
        i = (task // oh) % od
        j = task % oh
        src = yt[o, i, j]
        for n in range(nb):
            dst = y[n, o, i, j]
            for k in range(ow):
                dst[k] = src[k, n]


@njit(cache=True)
def _seen(fka, fkb, f0):
    """Whether a column offset before ``f0`` has the same output column range."""
    for f in range(f0):
        if fka[f] == fka[f0] and fkb[f] == fkb[f0]:
            return True
    return False


def direct_corr_batch_last(xt, xs, w, bias, dilation, rowok, cols, blk, yt):
    """Unit-stride valid correlation ``corr(x, w) + bias`` with the batch axis last.

    ``xt`` ``(C, Dp, Hp, Wp, N)``; ``w`` ``(O, C // G, KD, KH, KW)``; ``yt``
    ``(O, OD, OH, OW, N)``. An output row ``yt[o, i, j]`` (``OW * N`` values) is contiguous, and
    so is the input it reads for each tap (``xt[c, i + a, j + e, f : f + OW]``), so the tap
    loops of ``direct_corr_wide`` run over it with no wasted positions: the choice for small
    images, whose wide grid wastes ``(Wp - OW) / Wp`` of every row (LeNet's 14 -> 10: 29%).

    Zero frames are skipped: ``rowok[i, j]`` is False where input row ``(i, j)`` is all zero
    and only columns ``cols[0] .. cols[1]`` of the others can be nonzero, so a tap reads only
    those (the input gradient's frame, the output gradient with ``Ke - 1`` zeros around it,
    is half zeros for LeNet's 5x5 kernels on 10x10 outputs). The taps that read nonzero rows,
    grouped by the output columns they reach (one group when there are no zero columns), go
    through the register blocks (``_blocks``) over every input channel and tap. ``xs`` is
    ``xt``'s buffer, flat, with ``MAX_BLOCK`` more values: a row's last, partial block reads past
    its end. Tasks are (group, row, block of about ``blk`` values of the row, group of four
    output channels), channel groups fastest so that both halves of the task range hold the
    same mix of four-channel and remainder tasks.
    """
    run_chunks(
        _direct_corr_batch_last,
        yt.size * w[0].size,
        xt,
        xs,
        w,
        bias,
        dilation,
        rowok,
        cols,
        blk,
        yt,
    )
    return yt


@njit(cache=True, nogil=True)
def _direct_corr_batch_last(part, nparts, xt, xs, w, bias, dilation, rowok, cols, blk, yt):
    wide_vectors()
    xt, xs, w, bias, dilation, rowok, cols, blk, yt = borrow(
        xt, xs, w, bias, dilation, rowok, cols, blk, yt
    )
    nc, dp, hp, wp, nb = xt.shape
    nout, cg = w.shape[0], w.shape[1]
    kd, kh, kw = w.shape[2], w.shape[3], w.shape[4]
    od, oh, ow = yt.shape[1], yt.shape[2], yt.shape[3]
    dd, dh, dw = dilation
    og = nout // (nc // cg)
    kr = kd * kh  # taps of one column offset
    cstride = dp * hp * wp * nb
    yf = yt.reshape(nout, od * oh, ow * nb)
    wf = w.reshape(nout, cg, kr * kw)
    co = np.empty(cg * kr * kw, dtype=np.int64)
    wq = np.empty((cg * kr * kw, 4), dtype=yt.dtype)
    nquad = (og + 3) // 4
    ngroup = nout // og
    nrow = od * oh
    # blocks of whole output columns, equal sizes
    nblk = (ow * nb + blk - 1) // blk
    width = (ow + nblk - 1) // nblk
    nblk = (ow + width - 1) // width
    ntask = ngroup * nrow * nblk * nquad
    spare = np.zeros(width * nb, dtype=yt.dtype)
    fka = np.empty(kw, dtype=np.int64)
    fkb = np.empty(kw, dtype=np.int64)
    offs = np.empty(kr * kw, dtype=np.int64)
    tap = np.empty(kr * kw, dtype=np.int64)
    tail = np.empty((4, block_len(yt)), dtype=yt.dtype)
    for task in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        grp = task // (nrow * nblk * nquad)
        rem = task % (nrow * nblk * nquad)
        row = rem // (nblk * nquad)
        rem = rem % (nblk * nquad)
        k0 = (rem // nquad) * width
        k1 = min(k0 + width, ow)
        o = grp * og + 4 * (rem % nquad)
        i = row // oh
        j = row % oh
        r = min(4, (grp + 1) * og - o)
        c0 = grp * cg
        for u in range(r):
            yr = yf[o + u, row, k0 * nb : k1 * nb]
            bv = bias[o + u]
            for q in range(yr.shape[0]):
                yr[q] = bv
        # output columns ka .. kb that tap column f reaches inside cols; column offsets with
        # the same range share one tap list (all of them when the frame has no zero columns)
        for f in range(kw):
            fka[f] = max(k0, cols[0] - f * dw)
            fkb[f] = min(k1, cols[1] - f * dw)
        for f0 in range(kw):
            ka, kb = fka[f0], fkb[f0]
            if ka >= kb or (f0 > 0 and _seen(fka, fkb, f0)):
                continue
            # column offsets fastest: consecutive taps read consecutive memory
            cnt = 0
            for a in range(kd):
                for e in range(kh):
                    if not rowok[i + a * dd, j + e * dh]:
                        continue
                    for f in range(f0, kw):
                        if fka[f] == ka and fkb[f] == kb:
                            offs[cnt] = ((a * dd * hp + e * dh) * wp + f * dw) * nb
                            tap[cnt] = (a * kh + e) * kw + f
                            cnt += 1
            if cnt == 0:
                continue
            m = (kb - ka) * nb
            p0 = ka * nb
            q0 = (i * hp + j) * wp * nb + p0
            ol = offs[:cnt]
            # register blocks over every (input channel, tap); a missing channel's block
            # accumulates into the spare row
            for ci in range(cg):
                for t in range(cnt):
                    co[ci * cnt + t] = (c0 + ci) * cstride + q0 + ol[t]
                    for u in range(4):
                        wq[ci * cnt + t, u] = wf[o + u, ci, tap[t]] if u < r else 0.0
            y0 = yf[o, row, p0 : p0 + m]
            y1 = yf[o + 1, row, p0 : p0 + m] if r >= 2 else spare[:m]
            y2 = yf[o + 2, row, p0 : p0 + m] if r >= 3 else spare[:m]
            y3 = yf[o + 3, row, p0 : p0 + m] if r == 4 else spare[:m]
            _blocks(xs, co, wq, cg * cnt, r, m, y0, y1, y2, y3, tail)


def batch_last(nb: int, nq_wide: int, npix: int) -> bool:
    """Whether the direct kernel should run batch-last rather than on the wide grid.

    The wide grid computes ``nq_wide`` positions per image for ``npix`` outputs; batch-last
    computes only outputs but transposes the input and the output (measured on LeNet's second
    layer, 36% waste: 1.5x faster forward and input gradient; on W5e's 3-D layer, 13% waste:
    1.2x slower). It needs a batch to fill its rows.
    """
    return (
        nb >= _config.NN_CONV_BATCH_LAST_MIN_IMAGES
        and nq_wide > _config.NN_CONV_BATCH_LAST_MIN_WASTE * npix
    )


def corr_from_frame(src, maps, lo, w, bias, dilation, y):
    """``y = corr(frame, w) + bias`` (unit strides) where ``frame = pad(src, *maps)``.

    The frame is the padded input (forward: ``maps`` and ``lo`` None, ``src`` is the frame) or
    the zero-framed output gradient (input gradient); batch-last or wide layout as
    ``batch_last`` decides. The frame and the batch-last output are temporaries in the calling
    thread's scratch (``_scratch``), so repeated calls (a training loop) fault no new pages in
    for them. ``lo`` is the frame's padding before the last axis (the wide path's
    ``pad`` copies each source row there, so it must hold the whole row).
    """
    nb = src.shape[0]
    if maps is None:  # src is the frame
        maps = _identity(src.shape[2:])
    fshape = tuple(len(m) for m in maps)
    if batch_last(nb, wide_count(fshape, y.shape[2:]), math.prod(y.shape[2:])):
        groups = src.shape[1] // w.shape[1]
        shift = None
        if conv_fewout.suits_batch(nb, w.shape[0], groups, y.itemsize):
            shift = conv_fewout.frame_offsets(maps, src.shape[2:])
        if shift is not None:
            # the source alone, batch last: the kernel skips the frame's zeros
            nbp = conv_fewout.batch_width(nb, y.itemsize)
            xt = _scratch.take("nn-conv-frame", src.shape[1:] + (nbp,), src.dtype)
            pad_batch_last(src, *_identity(src.shape[2:]), xt)
            return conv_fewout.direct_corr_batchvec(xt, shift, w, bias, tuple(dilation), y)
        # the frame, flat, with slack after it for the kernel's last block
        size = src.shape[1] * math.prod(fshape) * nb
        xs = _scratch.take("nn-conv-frame", (size + MAX_BLOCK,), src.dtype)
        xs[-MAX_BLOCK:] = 0.0
        xt = xs[:-MAX_BLOCK].reshape((src.shape[1],) + fshape + (nb,))
        pad_batch_last(src, maps[0], maps[1], maps[2], xt)
        yt = _scratch.take("nn-conv-batch-last", (y.shape[1],) + y.shape[2:] + (nb,), y.dtype)
        # the frame's zeros: rows with a -1 map entry in D or H, columns outside the mapped span
        rowok = (maps[0][:, None] >= 0) & (maps[1][None, :] >= 0)
        mapped = np.flatnonzero(maps[2] >= 0)
        cols = np.array([mapped[0], mapped[-1] + 1] if len(mapped) else [0, 0], dtype=np.int64)
        if len(mapped) and len(mapped) != cols[1] - cols[0]:  # a hole: read every column
            cols[:] = (0, fshape[2])
        direct_corr_batch_last(
            xt, xs, w, bias, tuple(dilation), rowok, cols, _config.NN_CONV_CORR_BLOCK, yt
        )
        return unbatch_last(yt, y)
    if lo is not None:
        frame = _scratch.take("nn-conv-frame", src.shape[:2] + fshape, src.dtype)
        src = pad(src, maps[0], maps[1], maps[2], lo, frame)
    if conv_fewout.suits_wide(
        w.shape[0], src.shape[1] // w.shape[1], y.itemsize, fshape, y.shape[2:]
    ):
        return conv_fewout.direct_corr_widevec(src, w, bias, tuple(dilation), y)
    return direct_corr(src, w, bias, dilation, y)


def direct_corr(xp, w, bias, dilation, y):
    """``y = corr(xp, w) + bias`` (unit strides) through the wide grid; returns ``y``."""
    return direct_corr_wide(xp, w, bias, tuple(dilation), _config.NN_CONV_CORR_BLOCK, y)


def wide_count(pshape, osize) -> int:
    hp, wp = pshape[1], pshape[2]
    od, oh, ow = osize
    return (od - 1) * hp * wp + (oh - 1) * wp + ow

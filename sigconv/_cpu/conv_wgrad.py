"""Weight gradients of the direct CNN convolution: Numba CPU.

* Per-tap dot products of the padded input with the output gradient laid out on the "wide"
  flattened grid of ``conv_direct`` (its module docstring has the layout), blocked over
  positions and split over the batch for parallelism (``direct_grad_weight_wide``), or with
  the batch last (``direct_grad_weight_batch_last``); ``convolution`` picks them
  (``use_direct``).
* Output channels in the vectors (``direct_grad_weight_outvec``): whole blocks of 32 or 64
  float32 output channels, picked before the others by ``suits_outvec``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit

from .. import _config
from ._nrt import borrow, stack_array
from ._simd import avx512, lanes, lanes_for, wide_vectors
from ._threads import run_chunks
from ._transpose import transpose_block


# contract + reassoc: the per-tap dot products are reductions, which LLVM vectorises only when
# it may reorder the sum (the blocks' partial sums are then added in float64).
def direct_grad_weight_wide(xp, g, nq, ksize, dilation, zero, blk, nsplit, part):
    """Weight gradient of a unit-stride correlation, on the wide grid.

    ``g`` ``(N, O, OD, OH, OW)``, the output gradient; ``part`` ``(nsplit, O, C // G, KK)``
    float64 receives, per split of the batch, the sums ``sum_n sum_q gw[n, o, q] * xp[n, c,
    q + offset[tap]]`` over the ``nq`` wide positions of an image, ``gw`` being ``g`` on the
    wide grid (zero at the positions that are not outputs). Tasks are (split, pair of output
    channels, input channel); each lays its two channels of an image on the wide grid in a
    buffer of its own (in cache; a whole wide copy of ``g`` beforehand wrote and read back more
    than ``g`` itself: LeNet conv1's weight gradient 1.2-1.3x faster without), then walks its
    blocks of positions and computes four taps per contiguous loop for both channels (six
    loads per eight FMAs). ``zero`` is 0 in the compute dtype (the type of the per-block sums).
    """
    run_chunks(
        _direct_grad_weight_wide,
        g.shape[0] * nq * part[0].size,
        xp,
        g,
        nq,
        ksize,
        dilation,
        zero,
        blk,
        nsplit,
        part,
    )
    return part


@njit(cache=True, nogil=True, fastmath={"contract", "reassoc"})
def _direct_grad_weight_wide(chunk, nchunk, xp, g, nq, ksize, dilation, zero, blk, nsplit, part):
    wide_vectors()
    xp, g, nq, ksize, dilation, zero, blk, nsplit, part = borrow(
        xp, g, nq, ksize, dilation, zero, blk, nsplit, part
    )
    nb, nc = xp.shape[0], xp.shape[1]
    dp, hp, wp = xp.shape[2], xp.shape[3], xp.shape[4]
    nout, cg, kk = part.shape[1], part.shape[2], part.shape[3]
    og = nout // (nc // cg)
    plane = hp * wp
    offs = np.empty(kk, dtype=np.int64)
    khd, kwd = ksize[1], ksize[2]
    dd, dh, dw = dilation
    for t in range(kk):
        a = t // (khd * kwd)
        e = (t // kwd) % khd
        f = t % kwd
        offs[t] = a * dd * plane + e * dh * wp + f * dw
    xf = xp.reshape(nb, nc, dp * plane)
    k4 = kk - kk % 4
    npair = (og + 1) // 2
    ngroup = nout // og
    per = (nb + nsplit - 1) // nsplit
    ntask = nsplit * ngroup * npair * cg
    od, oh, ow = g.shape[2], g.shape[3], g.shape[4]
    # the task's two channels of an image on the wide grid: the positions that are not outputs
    # are never written, so they stay zero
    gl = np.zeros((2, nq), dtype=g.dtype)
    for task in range(chunk * ntask // nchunk, (chunk + 1) * ntask // nchunk):
        sp = task // (ngroup * npair * cg)
        rem = task % (ngroup * npair * cg)
        grp = rem // (npair * cg)
        rem = rem % (npair * cg)
        o = grp * og + 2 * (rem // cg)
        ci = rem % cg
        two = o + 1 < (grp + 1) * og
        o1 = o + 1 if two else o
        c = grp * cg + ci
        r0 = part[sp, o, ci]
        r1 = part[sp, o + 1, ci] if two else np.empty(kk)  # scratch for an unpaired channel
        for t in range(kk):
            r0[t] = 0.0
            r1[t] = 0.0
        for n in range(sp * per, min(nb, (sp + 1) * per)):
            xrow = xf[n, c]
            for u in range(2):
                src = g[n, o1 if u else o]
                dst = gl[u]
                for i in range(od):
                    for j in range(oh):
                        row = dst[i * plane + j * wp : i * plane + j * wp + ow]
                        sr = src[i, j]
                        for k in range(ow):
                            row[k] = sr[k]
            g0 = gl[0]
            g1 = gl[1]
            for q0 in range(0, nq, blk):
                m = min(q0 + blk, nq) - q0
                ga = g0[q0:]
                gb = g1[q0:]
                for t in range(0, k4, 4):
                    x0 = xrow[q0 + offs[t] :]
                    x1 = xrow[q0 + offs[t + 1] :]
                    x2 = xrow[q0 + offs[t + 2] :]
                    x3 = xrow[q0 + offs[t + 3] :]
                    s0 = s1 = s2 = s3 = zero
                    u0 = u1 = u2 = u3 = s0
                    for q in range(m):
                        va = ga[q]
                        vb = gb[q]
                        s0 += va * x0[q]
                        s1 += va * x1[q]
                        s2 += va * x2[q]
                        s3 += va * x3[q]
                        u0 += vb * x0[q]
                        u1 += vb * x1[q]
                        u2 += vb * x2[q]
                        u3 += vb * x3[q]
                    r0[t] += s0
                    r0[t + 1] += s1
                    r0[t + 2] += s2
                    r0[t + 3] += s3
                    r1[t] += u0
                    r1[t + 1] += u1
                    r1[t + 2] += u2
                    r1[t + 3] += u3
                for t in range(k4, kk):
                    x0 = xrow[q0 + offs[t] :]
                    s0 = zero
                    u0 = zero
                    for q in range(m):
                        s0 += ga[q] * x0[q]
                        u0 += gb[q] * x0[q]
                    r0[t] += s0
                    r1[t] += u0


def direct_grad_weight_batch_last(xt, gt, ksize, dilation, gw):
    """Weight gradient of a unit-stride correlation with the batch axis last.

    ``xt`` ``(C, Dp, Hp, Wp, N)`` (the padded input), ``gt`` ``(O, OD, OH, OW, N)`` (the output
    gradient); ``gw`` ``(O, C // G, KK)`` float64 receives ``sum gt[o, i, j, :] * xt[c, i + a,
    j + e, f : f + OW]`` over output rows ``(i, j)`` for tap ``(a, e, f)``: dot products of
    contiguous ``OW * N`` rows, with no wasted positions (the wide grid's rows are padded with
    zeros and, for LeNet's 10x10 outputs, too short to vectorise well). Tasks are (output
    channel quad, input channel, quad of taps); a task's 16 dot products accumulate in vector
    registers (``stack_array``, one register each: ``_simd.lanes``) across its rows: per
    vector of positions, four gradient and four input loads feed 16 FMAs.
    """
    run_chunks(_direct_grad_weight_batch_last, gt.size * gw[0].size, xt, gt, ksize, dilation, gw)
    return gw


@njit(cache=True, nogil=True, fastmath={"contract"})
def _direct_grad_weight_batch_last(part, nparts, xt, gt, ksize, dilation, gw):
    wide_vectors()
    xt, gt, ksize, dilation, gw = borrow(xt, gt, ksize, dilation, gw)
    n = lanes(gt)  # one vector register per dot product
    nc, dp, hp, wp, nb = xt.shape
    nout, od, oh, ow = gt.shape[0], gt.shape[1], gt.shape[2], gt.shape[3]
    cg, kk = gw.shape[1], gw.shape[2]
    kh, kw = ksize[1], ksize[2]
    dd, dh, dw = dilation
    og = nout // (nc // cg)
    length = ow * nb  # one output row, contiguous in both operands
    vec = length - length % n
    xf = xt.reshape(nc, dp * hp * wp * nb)
    gf = gt.reshape(nout, od * oh * length)
    nquad = (og + 3) // 4
    ntq = (kk + 3) // 4
    ngroup = nout // og
    ntask = ngroup * nquad * cg * ntq
    toff = np.empty(4, dtype=np.int64)
    chan = np.empty(4, dtype=np.int64)
    sums = np.empty(16, dtype=np.float64)
    parts = np.empty(16 * n, dtype=np.float64)
    for task in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        grp = task // (nquad * cg * ntq)
        rem = task % (nquad * cg * ntq)
        o = grp * og + 4 * (rem // (cg * ntq))
        rem = rem % (cg * ntq)
        ci = rem // ntq
        t0 = 4 * (rem % ntq)
        r = min(4, (grp + 1) * og - o)
        nt = min(4, kk - t0)
        c = grp * cg + ci
        for q in range(4):  # a missing tap repeats the first one (its sums are dropped)
            t = t0 + (q if q < nt else 0)
            a = t // (kh * kw)
            e = (t // kw) % kh
            f = t % kw
            toff[q] = ((a * dd * hp + e * dh) * wp + f * dw) * nb
        for u in range(4):  # a missing channel repeats the last one
            chan[u] = o + min(u, r - 1)
        for q in range(16):
            sums[q] = 0.0
        for q in range(16 * n):
            parts[q] = 0.0
        # rows in runs of about 65536 positions (4096 products a lane of 16); after each run the
        # lanes go to float64, one vector per dot product, with constant indices so that acc
        # stays in registers (and a fresh, zeroed acc per run)
        run = max(1, 65536 // max(length, 1))
        for r0 in range(0, od * oh, run):
            acc = stack_array(256, gt.dtype)  # 16 * lanes, at most 16 * 16
            for row in range(r0, min(od * oh, r0 + run)):
                i = row // oh
                j = row % oh
                g0 = gf[o, row * length : (row + 1) * length]
                g1 = gf[chan[1], row * length : (row + 1) * length]
                g2 = gf[chan[2], row * length : (row + 1) * length]
                g3 = gf[chan[3], row * length : (row + 1) * length]
                base = (i * hp + j) * wp * nb
                x0 = xf[c, base + toff[0] : base + toff[0] + length]
                x1 = xf[c, base + toff[1] : base + toff[1] + length]
                x2 = xf[c, base + toff[2] : base + toff[2] + length]
                x3 = xf[c, base + toff[3] : base + toff[3] + length]
                for p in range(0, vec, n):
                    a0 = g0[p : p + n]
                    a1 = g1[p : p + n]
                    a2 = g2[p : p + n]
                    a3 = g3[p : p + n]
                    b0 = x0[p : p + n]
                    b1 = x1[p : p + n]
                    b2 = x2[p : p + n]
                    b3 = x3[p : p + n]
                    for v in range(n):
                        acc[v] += a0[v] * b0[v]
                        acc[n + v] += a0[v] * b1[v]
                        acc[2 * n + v] += a0[v] * b2[v]
                        acc[3 * n + v] += a0[v] * b3[v]
                        acc[4 * n + v] += a1[v] * b0[v]
                        acc[5 * n + v] += a1[v] * b1[v]
                        acc[6 * n + v] += a1[v] * b2[v]
                        acc[7 * n + v] += a1[v] * b3[v]
                        acc[8 * n + v] += a2[v] * b0[v]
                        acc[9 * n + v] += a2[v] * b1[v]
                        acc[10 * n + v] += a2[v] * b2[v]
                        acc[11 * n + v] += a2[v] * b3[v]
                        acc[12 * n + v] += a3[v] * b0[v]
                        acc[13 * n + v] += a3[v] * b1[v]
                        acc[14 * n + v] += a3[v] * b2[v]
                        acc[15 * n + v] += a3[v] * b3[v]
                for p in range(vec, length):  # the row's last length % n positions
                    for q in range(16):
                        gv = gf[chan[q // 4], row * length + p]
                        sums[q] += gv * xf[c, base + toff[q % 4] + p]
            for v in range(n):
                parts[v] += acc[v]
                parts[n + v] += acc[n + v]
                parts[2 * n + v] += acc[2 * n + v]
                parts[3 * n + v] += acc[3 * n + v]
                parts[4 * n + v] += acc[4 * n + v]
                parts[5 * n + v] += acc[5 * n + v]
                parts[6 * n + v] += acc[6 * n + v]
                parts[7 * n + v] += acc[7 * n + v]
                parts[8 * n + v] += acc[8 * n + v]
                parts[9 * n + v] += acc[9 * n + v]
                parts[10 * n + v] += acc[10 * n + v]
                parts[11 * n + v] += acc[11 * n + v]
                parts[12 * n + v] += acc[12 * n + v]
                parts[13 * n + v] += acc[13 * n + v]
                parts[14 * n + v] += acc[14 * n + v]
                parts[15 * n + v] += acc[15 * n + v]
        for q in range(16):
            s = 0.0
            for v in range(n):
                s += parts[q * n + v]
            sums[q] += s
        for u in range(r):
            for q in range(nt):
                gw[o + u, ci, t0 + q] = sums[4 * u + q]


# --- output channels in the vectors ---------------------------------------------------------

#: The register blocks, taps (of the flattened (input channel, tap) list) by vectors of output
#: channels, each 24 accumulator zmm: six by four (64 float32 channels; four gradient vectors
#: and six broadcasts a position), twelve by two (32 channels) and twenty-four by one (16) for
#: layers whose channels are not whole blocks of more vectors. On 64 channels the six-by-four
#: block ran 1.1-1.5x the twelve-by-two on two threads (fewer loads per FMA: 10 against 14
#: for 24; the twenty-four-by-one loads 25).
_BLOCKS = ((6, 4), (12, 2), (24, 1))
#: Tasks to share out at least (``run_chunks`` makes up to four chunks a thread).
_MIN_TASKS = 8
#: Output positions a chunk (rows split into pieces of at most this many, pieces gathered until
#: a chunk has at least this many): every block of taps sums a chunk in registers before one
#: copy-out, and a chunk's gradient tile (under 2 * 128 positions x 64 channels) stays in L1
#: or L2.
_CHUNK = 128
#: Bytes of float64 partial sums the batch split may use (one ``(taps, channels)`` array a
#: split); past it the tasks split the blocks of taps instead.
_SPLIT_BYTES = 8 << 20


def _block_for(nout, itemsize):
    """``(taps, vectors)`` of the register block for ``nout`` output channels, or ``None``
    when they are not whole blocks of either."""
    nl = lanes_for(itemsize)
    for slots, ovec in _BLOCKS:
        if nout % (ovec * nl) == 0:
            return slots, ovec
    return None


def direct_grad_weight_outvec(xp, g, ksize, dilation):
    """Weight gradient of a unit-stride correlation (groups 1) with the output channels in the
    vectors: ``(O, C * KK)`` (C-ordered, ``g``'s dtype), the sums ``sum_n sum_p g[n, o, p] *
    xp[n, c, p + offset[tap]]`` over the images and output positions ``p``.

    The register block is six taps by four vectors of output channels (64 float32 or 32
    float64), twelve taps by two vectors or twenty-four taps by one (``_BLOCKS``): per output
    position the gradient vectors and the input values broadcast from the padded input where
    it is feed 24 FMAs.
    A task (split of the batch, blocks of taps, block of output channels) walks its images in
    chunks of about ``_CHUNK`` positions: it copies a chunk's gradient into a tile with the
    channels last, then sums the chunk for each of its blocks of taps, so the tile and the
    input rows stay in cache while the taps change (a block that streamed an image's gradient
    once per block of taps, from L2, ran 0.77x im2col + GEMM on 28x28 images). The float32
    sums of a chunk are added into float64 partial sums, one set a split of the batch.
    """
    nb, nc = xp.shape[0], xp.shape[1]
    nout = g.shape[1]
    slots, ovec = _block_for(nout, g.itemsize)
    width = ovec * lanes_for(g.itemsize)
    nob = nout // width
    npix = g[0, 0].size
    ntap = nc * ksize[0] * ksize[1] * ksize[2]
    ngrp = -(-ntap // slots)
    per_split = ngrp * slots * nout * 8
    nsplit = max(1, min(nb, -(-_MIN_TASKS // nob), _SPLIT_BYTES // per_split))
    nrange = max(1, min(ngrp, -(-_MIN_TASKS // (nsplit * nob))))
    # every row is first written by its task's first chunk (zeroing 1.2 MB of them took a
    # twentieth of the audio network's 32 -> 64 layer)
    out = np.empty((nsplit, ngrp * slots, nout), dtype=np.float64)
    gf = np.ascontiguousarray(g).reshape(nb, nout, npix)
    kernel = _KERNELS[slots]
    toff = _tap_offsets(xp.shape[1:], tuple(ksize), tuple(dilation), ngrp, slots)
    args = (xp, gf, tuple(g.shape[2:]), toff, nrange, out)
    run_chunks(kernel, g.size * ntap, *args)
    # the splits' sum, transposed and cast: a Numba pass was 1.1-1.6x faster (49 against 77 us
    # for the digits layer) but cost 0.45 s of compile in an operation near its 5 s
    return np.ascontiguousarray(out.sum(axis=0)[:ntap].T, dtype=g.dtype)


@functools.lru_cache(maxsize=64)
def _tap_offsets(cshape, ksize, dilation, ngrp, slots):
    """``(ngrp, slots)``: each block's taps as offsets into an image's flat padded input of
    shape ``cshape`` (channels and the three spatial axes). A last block's missing slots
    repeat its first tap: their sums land in rows past the taps, which the caller drops.
    NumPy here: a Numba function of its own cost 0.4 s of compile; cached, as it took 60 us a
    call (never written to; writeable, as a read-only array is another Numba type)."""
    ntap = cshape[0] * math.prod(ksize)
    t = np.arange(ngrp * slots).reshape(ngrp, slots)
    t = np.where(t < ntap, t, t[:, :1])
    c, a, e, f = np.unravel_index(t, (cshape[0],) + tuple(ksize))
    dp, hp, wp = cshape[1:]
    off = ((c * dp + a * dilation[0]) * hp + e * dilation[1]) * wp + f * dilation[2]
    return np.ascontiguousarray(off, dtype=np.int64)


@njit(cache=True, nogil=True)
def _next_chunk(xshape, g, osize, s, nsplit, ob, done, tile, segs):
    """Gather split ``s``'s next chunk, from piece ``done`` on: ``(done, nseg)`` after it.
    Its pieces' input offsets, lengths and first tile positions go to ``segs[0..2]``; their
    gradient for output-channel block ``ob``, channels last, to ``tile``."""
    nb, nc, dp, hp, wp = xshape
    od, oh, ow = osize
    nrow = od * oh
    width = tile.size // (2 * _CHUNK)
    nl = lanes(tile)
    nout, npix = g.shape[1], g.shape[2]
    gflat = g.reshape(g.size)
    npc = (ow + _CHUNK - 1) // _CHUNK  # pieces a row
    n_lo = s * nb // nsplit
    npieces = ((s + 1) * nb // nsplit - n_lo) * nrow * npc
    nseg = 0
    npos = 0
    while done < npieces and npos < _CHUNK:
        n = n_lo + done // (nrow * npc)
        row = (done // npc) % nrow
        k0 = (done % npc) * _CHUNK
        ln = min(ow - k0, _CHUNK)
        segs[0, nseg] = n * nc * dp * hp * wp + ((row // oh) * hp + row % oh) * wp + k0
        segs[1, nseg] = ln
        segs[2, nseg] = npos
        p0 = row * ow + k0
        # blocks of lanes positions by lanes channels transposed in registers (element by
        # element, with scalar loads and stores at a stride of a tile row, they took about a
        # tenth of W5c's weight gradient); the piece's last positions one by one
        q = (n * nout + ob * width) * npix + p0
        k = 0
        while k + nl <= ln:
            for v0 in range(0, width, nl):
                transpose_block(
                    gflat, q + v0 * npix + k, npix, tile, (npos + k) * width + v0, width
                )
            k += nl
        for v in range(width):
            src = g[n, ob * width + v, p0 + k : p0 + ln]
            for j in range(ln - k):
                tile[(npos + k + j) * width + v] = src[j]
        nseg += 1
        npos += ln
        done += 1
    return done, nseg


@njit(cache=True, nogil=True, fastmath={"contract"})
def _outvec_six_by_four(part, nparts, xp, g, osize, toff, nrange, out):
    # The register block written into the task loop: as a function of its own it compiled
    # twice (alone, then inlined and optimised again here).
    wide_vectors()
    xp, g, toff, nrange, out = borrow(xp, g, toff, nrange, out)
    nl = lanes(g)
    width = 4 * nl
    nsplit, ngrp, nob = out.shape[0], out.shape[1] // 6, out.shape[2] // width
    tile = np.empty(2 * _CHUNK * width, dtype=g.dtype)
    segs = np.empty((3, _CHUNK), dtype=np.int64)
    sums = np.empty(6 * width, dtype=g.dtype)
    xf = xp.reshape(xp.size)
    ntask = nsplit * nrange * nob
    for task in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        s = task // (nrange * nob)
        rg = (task // nob) % nrange
        ob = task % nob
        done = np.int64(0)  # a literal 0 would compile _next_chunk a second time
        while True:
            first = done == 0  # the task's first chunk starts its rows of partial sums
            done, nseg = _next_chunk(xp.shape, g, osize, s, nsplit, ob, done, tile, segs)
            if nseg == 0:
                break
            for grp in range(rg * ngrp // nrange, (rg + 1) * ngrp // nrange):
                # unsigned offsets: no wrap-around code for negative indices in the loop (the
                # taps are in order, so every offset from the first is at least 0)
                base = toff[grp, 0]
                t0 = np.uint64(0)
                t1 = np.uint64(toff[grp, 1] - base)
                t2 = np.uint64(toff[grp, 2] - base)
                t3 = np.uint64(toff[grp, 3] - base)
                t4 = np.uint64(toff[grp, 4] - base)
                t5 = np.uint64(toff[grp, 5] - base)
                acc = stack_array(384, g.dtype)  # zeros; 6 x 4 x 16 float32 lanes
                for sg in range(nseg):
                    xb = segs[0, sg] + base
                    at = segs[2, sg]
                    for k in range(segs[1, sg]):
                        # flat unsigned indices, no slices: a position's two slices (bounds
                        # clamped, wrap-around, a spilled pointer) made its loop 64 instructions
                        # for 24 FMAs, 39 without (W5c's weight gradient, one thread: 57.8 ->
                        # 53.2 ms)
                        gq = np.uint64((at + k) * width)
                        xq = np.uint64(xb + k)
                        a0 = xf[xq + t0]
                        a1 = xf[xq + t1]
                        a2 = xf[xq + t2]
                        a3 = xf[xq + t3]
                        a4 = xf[xq + t4]
                        a5 = xf[xq + t5]
                        # lanes innermost with every accumulator its own statement (see conv_outvec)
                        for v in range(nl):
                            g0 = tile[gq + np.uint64(v)]
                            g1 = tile[gq + np.uint64(1 * nl + v)]
                            g2 = tile[gq + np.uint64(2 * nl + v)]
                            g3 = tile[gq + np.uint64(3 * nl + v)]
                            acc[0 * nl + v] = acc[0 * nl + v] + a0 * g0
                            acc[1 * nl + v] = acc[1 * nl + v] + a0 * g1
                            acc[2 * nl + v] = acc[2 * nl + v] + a0 * g2
                            acc[3 * nl + v] = acc[3 * nl + v] + a0 * g3
                            acc[4 * nl + v] = acc[4 * nl + v] + a1 * g0
                            acc[5 * nl + v] = acc[5 * nl + v] + a1 * g1
                            acc[6 * nl + v] = acc[6 * nl + v] + a1 * g2
                            acc[7 * nl + v] = acc[7 * nl + v] + a1 * g3
                            acc[8 * nl + v] = acc[8 * nl + v] + a2 * g0
                            acc[9 * nl + v] = acc[9 * nl + v] + a2 * g1
                            acc[10 * nl + v] = acc[10 * nl + v] + a2 * g2
                            acc[11 * nl + v] = acc[11 * nl + v] + a2 * g3
                            acc[12 * nl + v] = acc[12 * nl + v] + a3 * g0
                            acc[13 * nl + v] = acc[13 * nl + v] + a3 * g1
                            acc[14 * nl + v] = acc[14 * nl + v] + a3 * g2
                            acc[15 * nl + v] = acc[15 * nl + v] + a3 * g3
                            acc[16 * nl + v] = acc[16 * nl + v] + a4 * g0
                            acc[17 * nl + v] = acc[17 * nl + v] + a4 * g1
                            acc[18 * nl + v] = acc[18 * nl + v] + a4 * g2
                            acc[19 * nl + v] = acc[19 * nl + v] + a4 * g3
                            acc[20 * nl + v] = acc[20 * nl + v] + a5 * g0
                            acc[21 * nl + v] = acc[21 * nl + v] + a5 * g1
                            acc[22 * nl + v] = acc[22 * nl + v] + a5 * g2
                            acc[23 * nl + v] = acc[23 * nl + v] + a5 * g3
                # copied whole first: read element by element in the copy-out, the block was
                # stored to the stack on every position (LLVM's SROA splits a whole copy)
                for t in range(6 * width):
                    sums[t] = acc[t]
                for q in range(6):
                    orow = out[s, grp * 6 + q, ob * width : ob * width + width]
                    if first:
                        for v in range(width):
                            orow[v] = sums[q * width + v]
                    else:
                        for v in range(width):
                            orow[v] += sums[q * width + v]


@njit(cache=True, nogil=True, fastmath={"contract"})
def _outvec_twelve_by_two(part, nparts, xp, g, osize, toff, nrange, out):
    # The register block written into the task loop: as a function of its own it compiled
    # twice (alone, then inlined and optimised again here).
    wide_vectors()
    xp, g, toff, nrange, out = borrow(xp, g, toff, nrange, out)
    nl = lanes(g)
    width = 2 * nl
    nsplit, ngrp, nob = out.shape[0], out.shape[1] // 12, out.shape[2] // width
    tile = np.empty(2 * _CHUNK * width, dtype=g.dtype)
    segs = np.empty((3, _CHUNK), dtype=np.int64)
    sums = np.empty(12 * width, dtype=g.dtype)
    xf = xp.reshape(xp.size)
    ntask = nsplit * nrange * nob
    for task in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        s = task // (nrange * nob)
        rg = (task // nob) % nrange
        ob = task % nob
        done = np.int64(0)  # a literal 0 would compile _next_chunk a second time
        while True:
            first = done == 0  # the task's first chunk starts its rows of partial sums
            done, nseg = _next_chunk(xp.shape, g, osize, s, nsplit, ob, done, tile, segs)
            if nseg == 0:
                break
            for grp in range(rg * ngrp // nrange, (rg + 1) * ngrp // nrange):
                # unsigned offsets: no wrap-around code for negative indices in the loop (the
                # taps are in order, so every offset from the first is at least 0)
                base = toff[grp, 0]
                t0 = np.uint64(0)
                t1 = np.uint64(toff[grp, 1] - base)
                t2 = np.uint64(toff[grp, 2] - base)
                t3 = np.uint64(toff[grp, 3] - base)
                t4 = np.uint64(toff[grp, 4] - base)
                t5 = np.uint64(toff[grp, 5] - base)
                t6 = np.uint64(toff[grp, 6] - base)
                t7 = np.uint64(toff[grp, 7] - base)
                t8 = np.uint64(toff[grp, 8] - base)
                t9 = np.uint64(toff[grp, 9] - base)
                t10 = np.uint64(toff[grp, 10] - base)
                t11 = np.uint64(toff[grp, 11] - base)
                tm = np.int64(max(max(max(t1, t2), max(t3, t4)), max(max(t5, t6), max(t7, t8))))
                tm = max(tm, np.int64(max(max(t9, t10), t11)))
                acc = stack_array(384, g.dtype)  # zeros; 12 x 2 x 16 float32 lanes
                for sg in range(nseg):
                    xb = segs[0, sg] + base
                    at = segs[2, sg]
                    for k in range(segs[1, sg]):
                        # the gradient by a flat unsigned index (see _outvec_six_by_four); the
                        # input keeps its slice: with a flat index a tap, LLVM kept a pointer a
                        # tap and spilled them (W5d's loop grew from 70 instructions to about
                        # twice that; with the gradient's index alone it is 60)
                        gq = np.uint64((at + k) * width)
                        xs = xf[xb + k : xb + k + tm + 1]
                        a0 = xs[t0]
                        a1 = xs[t1]
                        a2 = xs[t2]
                        a3 = xs[t3]
                        a4 = xs[t4]
                        a5 = xs[t5]
                        a6 = xs[t6]
                        a7 = xs[t7]
                        a8 = xs[t8]
                        a9 = xs[t9]
                        a10 = xs[t10]
                        a11 = xs[t11]
                        # lanes innermost with every accumulator its own statement (see conv_outvec)
                        for v in range(nl):
                            g0 = tile[gq + np.uint64(v)]
                            g1 = tile[gq + np.uint64(1 * nl + v)]
                            acc[0 * nl + v] = acc[0 * nl + v] + a0 * g0
                            acc[1 * nl + v] = acc[1 * nl + v] + a0 * g1
                            acc[2 * nl + v] = acc[2 * nl + v] + a1 * g0
                            acc[3 * nl + v] = acc[3 * nl + v] + a1 * g1
                            acc[4 * nl + v] = acc[4 * nl + v] + a2 * g0
                            acc[5 * nl + v] = acc[5 * nl + v] + a2 * g1
                            acc[6 * nl + v] = acc[6 * nl + v] + a3 * g0
                            acc[7 * nl + v] = acc[7 * nl + v] + a3 * g1
                            acc[8 * nl + v] = acc[8 * nl + v] + a4 * g0
                            acc[9 * nl + v] = acc[9 * nl + v] + a4 * g1
                            acc[10 * nl + v] = acc[10 * nl + v] + a5 * g0
                            acc[11 * nl + v] = acc[11 * nl + v] + a5 * g1
                            acc[12 * nl + v] = acc[12 * nl + v] + a6 * g0
                            acc[13 * nl + v] = acc[13 * nl + v] + a6 * g1
                            acc[14 * nl + v] = acc[14 * nl + v] + a7 * g0
                            acc[15 * nl + v] = acc[15 * nl + v] + a7 * g1
                            acc[16 * nl + v] = acc[16 * nl + v] + a8 * g0
                            acc[17 * nl + v] = acc[17 * nl + v] + a8 * g1
                            acc[18 * nl + v] = acc[18 * nl + v] + a9 * g0
                            acc[19 * nl + v] = acc[19 * nl + v] + a9 * g1
                            acc[20 * nl + v] = acc[20 * nl + v] + a10 * g0
                            acc[21 * nl + v] = acc[21 * nl + v] + a10 * g1
                            acc[22 * nl + v] = acc[22 * nl + v] + a11 * g0
                            acc[23 * nl + v] = acc[23 * nl + v] + a11 * g1
                # copied whole first: read element by element in the copy-out, the block was
                # stored to the stack on every position (LLVM's SROA splits a whole copy)
                for t in range(12 * width):
                    sums[t] = acc[t]
                for q in range(12):
                    orow = out[s, grp * 12 + q, ob * width : ob * width + width]
                    if first:
                        for v in range(width):
                            orow[v] = sums[q * width + v]
                    else:
                        for v in range(width):
                            orow[v] += sums[q * width + v]


@njit(cache=True, nogil=True, fastmath={"contract"})
def _outvec_twentyfour_by_one(part, nparts, xp, g, osize, toff, nrange, out):
    # One vector of output channels: a broadcast input value a FMA (no second vector to share
    # it), so loads bound the block, which still ran 1.1-2.4x the batch-last kernel and its
    # two transposes on small images on two threads (0.92x on one, LeNet conv2).
    wide_vectors()
    xp, g, toff, nrange, out = borrow(xp, g, toff, nrange, out)
    nl = lanes(g)
    width = nl
    nsplit, ngrp, nob = out.shape[0], out.shape[1] // 24, out.shape[2] // width
    tile = np.empty(2 * _CHUNK * width, dtype=g.dtype)
    segs = np.empty((3, _CHUNK), dtype=np.int64)
    sums = np.empty(24 * width, dtype=g.dtype)
    xf = xp.reshape(xp.size)
    ntask = nsplit * nrange * nob
    for task in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        s = task // (nrange * nob)
        rg = (task // nob) % nrange
        ob = task % nob
        done = np.int64(0)  # a literal 0 would compile _next_chunk a second time
        while True:
            first = done == 0  # the task's first chunk starts its rows of partial sums
            done, nseg = _next_chunk(xp.shape, g, osize, s, nsplit, ob, done, tile, segs)
            if nseg == 0:
                break
            for grp in range(rg * ngrp // nrange, (rg + 1) * ngrp // nrange):
                # unsigned offsets from the first tap (see _outvec_six_by_four)
                base = toff[grp, 0]
                tm = np.int64(0)
                for q in range(1, 24):
                    tm = max(tm, toff[grp, q] - base)
                t0 = np.uint64(0)
                t1 = np.uint64(toff[grp, 1] - base)
                t2 = np.uint64(toff[grp, 2] - base)
                t3 = np.uint64(toff[grp, 3] - base)
                t4 = np.uint64(toff[grp, 4] - base)
                t5 = np.uint64(toff[grp, 5] - base)
                t6 = np.uint64(toff[grp, 6] - base)
                t7 = np.uint64(toff[grp, 7] - base)
                t8 = np.uint64(toff[grp, 8] - base)
                t9 = np.uint64(toff[grp, 9] - base)
                t10 = np.uint64(toff[grp, 10] - base)
                t11 = np.uint64(toff[grp, 11] - base)
                t12 = np.uint64(toff[grp, 12] - base)
                t13 = np.uint64(toff[grp, 13] - base)
                t14 = np.uint64(toff[grp, 14] - base)
                t15 = np.uint64(toff[grp, 15] - base)
                t16 = np.uint64(toff[grp, 16] - base)
                t17 = np.uint64(toff[grp, 17] - base)
                t18 = np.uint64(toff[grp, 18] - base)
                t19 = np.uint64(toff[grp, 19] - base)
                t20 = np.uint64(toff[grp, 20] - base)
                t21 = np.uint64(toff[grp, 21] - base)
                t22 = np.uint64(toff[grp, 22] - base)
                t23 = np.uint64(toff[grp, 23] - base)
                acc = stack_array(384, g.dtype)  # zeros; 24 x 16 float32 lanes
                for sg in range(nseg):
                    xb = segs[0, sg] + base
                    at = segs[2, sg]
                    for k in range(segs[1, sg]):
                        # the gradient by a flat index, the input by its slice (see
                        # _outvec_twelve_by_two)
                        gq = np.uint64((at + k) * width)
                        xs = xf[xb + k : xb + k + tm + 1]
                        a0 = xs[t0]
                        a1 = xs[t1]
                        a2 = xs[t2]
                        a3 = xs[t3]
                        a4 = xs[t4]
                        a5 = xs[t5]
                        a6 = xs[t6]
                        a7 = xs[t7]
                        a8 = xs[t8]
                        a9 = xs[t9]
                        a10 = xs[t10]
                        a11 = xs[t11]
                        a12 = xs[t12]
                        a13 = xs[t13]
                        a14 = xs[t14]
                        a15 = xs[t15]
                        a16 = xs[t16]
                        a17 = xs[t17]
                        a18 = xs[t18]
                        a19 = xs[t19]
                        a20 = xs[t20]
                        a21 = xs[t21]
                        a22 = xs[t22]
                        a23 = xs[t23]
                        for v in range(nl):
                            g0 = tile[gq + np.uint64(v)]
                            acc[0 * nl + v] = acc[0 * nl + v] + a0 * g0
                            acc[1 * nl + v] = acc[1 * nl + v] + a1 * g0
                            acc[2 * nl + v] = acc[2 * nl + v] + a2 * g0
                            acc[3 * nl + v] = acc[3 * nl + v] + a3 * g0
                            acc[4 * nl + v] = acc[4 * nl + v] + a4 * g0
                            acc[5 * nl + v] = acc[5 * nl + v] + a5 * g0
                            acc[6 * nl + v] = acc[6 * nl + v] + a6 * g0
                            acc[7 * nl + v] = acc[7 * nl + v] + a7 * g0
                            acc[8 * nl + v] = acc[8 * nl + v] + a8 * g0
                            acc[9 * nl + v] = acc[9 * nl + v] + a9 * g0
                            acc[10 * nl + v] = acc[10 * nl + v] + a10 * g0
                            acc[11 * nl + v] = acc[11 * nl + v] + a11 * g0
                            acc[12 * nl + v] = acc[12 * nl + v] + a12 * g0
                            acc[13 * nl + v] = acc[13 * nl + v] + a13 * g0
                            acc[14 * nl + v] = acc[14 * nl + v] + a14 * g0
                            acc[15 * nl + v] = acc[15 * nl + v] + a15 * g0
                            acc[16 * nl + v] = acc[16 * nl + v] + a16 * g0
                            acc[17 * nl + v] = acc[17 * nl + v] + a17 * g0
                            acc[18 * nl + v] = acc[18 * nl + v] + a18 * g0
                            acc[19 * nl + v] = acc[19 * nl + v] + a19 * g0
                            acc[20 * nl + v] = acc[20 * nl + v] + a20 * g0
                            acc[21 * nl + v] = acc[21 * nl + v] + a21 * g0
                            acc[22 * nl + v] = acc[22 * nl + v] + a22 * g0
                            acc[23 * nl + v] = acc[23 * nl + v] + a23 * g0
                # copied whole first (see _outvec_six_by_four)
                for t in range(24 * width):
                    sums[t] = acc[t]
                for q in range(24):
                    orow = out[s, grp * 24 + q, ob * width : ob * width + width]
                    if first:
                        for v in range(width):
                            orow[v] = sums[q * width + v]
                    else:
                        for v in range(width):
                            orow[v] += sums[q * width + v]


#: The kernel of each block, by its taps.
_KERNELS = {6: _outvec_six_by_four, 12: _outvec_twelve_by_two, 24: _outvec_twentyfour_by_one}


def suits_outvec(nout, groups, stride, itemsize, npix, cg, ntap) -> bool:
    """Whether ``direct_grad_weight_outvec`` should compute a weight gradient: AVX-512, groups
    1, unit strides, output channels in whole blocks of a register block (``_block_for``), and
    either small images (at most ``_config.NN_CONV_WGRAD_OUTVEC_MAX_PIXELS`` outputs a
    channel) or enough taps to fill the blocks (``_config.NN_CONV_WGRAD_OUTVEC_MIN_TAPS``) from
    at most ``_config.NN_CONV_WGRAD_OUTVEC_MAX_CHANNELS`` input channels (blocks of four
    vectors) or ``_config.NN_CONV_WGRAD_OUTVEC_MAX_CHANNELS_2`` (blocks of two or one)."""
    if not (avx512() and groups == 1 and all(s == 1 for s in stride)):
        return False
    block = _block_for(nout, itemsize)
    if block is None:
        return False
    c = _config
    if npix <= c.NN_CONV_WGRAD_OUTVEC_MAX_PIXELS:
        return True
    most = (
        c.NN_CONV_WGRAD_OUTVEC_MAX_CHANNELS
        if block[1] == 4
        else c.NN_CONV_WGRAD_OUTVEC_MAX_CHANNELS_2
    )
    return cg <= most and ntap >= c.NN_CONV_WGRAD_OUTVEC_MIN_TAPS


# --- bias -------------------------------------------------------------------------------------


def grad_bias(g, dtype):
    """``g.sum(axis=(0, 2))`` of ``g`` ``(N, C, P)`` in float64, returned in ``dtype``: one
    task per channel, the sums in vectors of partial sums. NumPy's two reductions (along the
    pixels, then the images) took 74 us for the digits network's 32 x 64 x 8 x 8 gradient."""
    out = np.empty(g.shape[1], dtype=np.float64)
    run_chunks(_grad_bias, g.size, g, out)
    return out.astype(dtype)


# reassociation: partial sums in vectors (one running float64 sum is bound by the latency of
# its additions)
@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _grad_bias(part, nparts, g, out):
    g, out = borrow(g, out)
    nb, nc, npix = g.shape
    for c in range(part * nc // nparts, (part + 1) * nc // nparts):
        s = 0.0
        for n in range(nb):
            row = g[n, c]
            for p in range(npix):
                s += np.float64(row[p])
        out[c] = s

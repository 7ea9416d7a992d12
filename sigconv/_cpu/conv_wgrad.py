"""Weight gradient of the direct (few-channel) CNN convolution on the wide grid: Numba CPU.

Per-tap dot products of the padded input with the output gradient laid out on the "wide"
flattened grid of ``conv_direct`` (its module docstring has the layout), blocked over positions
and split over the batch for parallelism; ``convolution`` picks it (``use_direct``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._nrt import borrow, stack_array
from ._simd import lanes, wide_vectors
from ._threads import run_chunks


# contract + reassoc: the per-tap dot products are reductions, which LLVM vectorises only when
# it may reorder the sum (the blocks' partial sums are then added in float64).
def direct_grad_weight_wide(xp, gwide, nq, ksize, dilation, zero, blk, nsplit, part):
    """Weight gradient of a unit-stride correlation from the output gradient on the wide grid.

    ``gwide`` ``(N, O, >= nq)`` holds the output gradient at wide positions (zero elsewhere);
    ``part`` ``(nsplit, O, C // G, KK)`` float64 receives, per split of the batch, the sums
    ``sum_n sum_q gwide[n, o, q] * xp[n, c, q + offset[tap]]``. Tasks are (split, pair of
    output channels, input channel); each walks its images and blocks of positions and
    computes four taps per contiguous loop for both channels (six loads per eight FMAs).
    ``zero`` is 0 in the compute dtype (the type of the per-block sums).
    """
    run_chunks(
        _direct_grad_weight_wide,
        gwide.shape[0] * nq * part[0].size,
        xp,
        gwide,
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
def _direct_grad_weight_wide(
    chunk, nchunk, xp, gwide, nq, ksize, dilation, zero, blk, nsplit, part
):
    wide_vectors()
    xp, gwide, nq, ksize, dilation, zero, blk, nsplit, part = borrow(
        xp, gwide, nq, ksize, dilation, zero, blk, nsplit, part
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
            g0 = gwide[n, o]
            g1 = gwide[n, o1]
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

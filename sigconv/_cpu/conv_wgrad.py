"""Weight gradient of the direct (few-channel) CNN convolution on the wide grid: Numba CPU.

Per-tap dot products of the padded input with the output gradient laid out on the "wide"
flattened grid of ``conv_direct`` (its module docstring has the layout), blocked over positions
and split over the batch for parallelism; ``convolution`` picks it (``use_direct``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._nrt import borrow
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

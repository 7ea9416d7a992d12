"""Strided 1-D convolutions with few input channels, by the input's phases (Numba CPU).

Tap ``t = S * a + r`` of stride ``S`` reads ``x[S * p + t] = xr[p + a]`` with ``xr = x[r::S]``,
phase ``r`` of the input. So a strided correlation is a unit-stride one over the phases, with
``C * S`` channels and ``ceil(K / S)`` taps each (``split_phases``; ``phases_help`` says when the
forward pass runs that way), and its weight gradient is a set of dot products of contiguous
rows (``direct_grad_weight_phases``):

    gw[o, c, S * a + r] = sum_n sum_p g[n, o, p] * xr[n, c, r][p + a].

The first layer of a raw-audio network (M5: 1 -> 128 channels, 80 taps, stride 4, on 16,000
samples) has no unit-stride direct kernel, and im2col + GEMM streams an 80-row column matrix per
image through OpenBLAS at about 1.8 G vector FMA/s per core.

The weight gradient's register block is four output channels by five lags ``a``, vectorised
along the positions ``p``: per vector of positions, four gradient vectors and five shifted
input vectors feed 20 FMAs (two channels by ten lags, 12 loads of which ten cross cache lines,
ran 1.12x slower). The image's phases are copied once per task; stretches of ``_STRETCH``
positions keep the gradient rows and the phases in L1 while the channels, phases and lags
change. Measured on the 2-vCPU Sapphire Rapids VM (W5f, 32 x 16,000 samples, float32): one
thread 31 ms (2.6 G vector FMA/s), two threads 19.7 ms against im2col + GEMM's 22.9 ms and
PyTorch's 20.5 ms.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._nrt import borrow, stack_array
from ._simd import avx512, lanes, wide_vectors
from ._threads import run_chunks

#: Lags per register block (by four output channels: 20 vectors of accumulators).
_LAGS = 5
#: Positions per stretch (a multiple of every vector width).
_STRETCH = 1024
#: Groups of images with partial sums of their own (at most).
_GROUPS = 8
#: Channels times stride at most, for the weight gradient by phases.
_MAX_PHASES = 16


def phases_help(xshape, wshape, stride, dilation, groups) -> bool:
    """Whether a strided 1-D forward correlation (the last axis; 5-D padded input ``xshape``
    and weights ``wshape``) should run as a unit-stride one over the input's phases
    (``split_phases``): groups 1, no dilation, at most four channels after the split
    and three or more taps a phase, where the unit-stride kernels have rows of taps to work
    on. In one process against im2col + GEMM: 1 -> 16 channels, 9 taps, stride 4 (the audio
    network's first layer) 1.56x on 2,000 samples, 1.06-1.11x on 8,000-16,000; 1 -> 32, 16
    taps, stride 2 1.68x; 2 -> 16, 6 taps, stride 2 1.11x; M5's first layer and 1 -> 32 with
    9 taps 0.95-1.02x. With more phases or fewer taps a phase it lost (0.75-0.93x: 4 and 8
    channels, 3 and 5 taps, strides 2 and 3)."""
    s = int(stride[2])
    return (
        groups == 1
        and s >= 2
        and tuple(int(v) for v in xshape[2:4]) == (1, 1)
        and tuple(int(v) for v in wshape[2:4]) == (1, 1)
        and tuple(int(d) for d in dilation) == (1, 1, 1)
        and int(wshape[1]) * s <= 4
        and -(-int(wshape[4]) // s) >= 3
    )


def split_phases(xp, w, s, ow):
    """A strided 1-D correlation as a unit-stride one over the input's phases: ``(xq, wq)``
    with ``xq[n, c * s + r, q] = xp[n, c, r + s * q]`` (zero past the input's end) and
    ``wq[o, c * s + r, a] = w[o, c, s * a + r]`` (zero past the last tap), as 5-D arrays."""
    nb, nc, length = xp.shape[0], xp.shape[1], xp.shape[4]
    nout, k = w.shape[0], w.shape[4]
    ka = -(-k // s)
    lq = ow + ka - 1
    xq = np.zeros((nb, nc, s, lq), dtype=xp.dtype)
    wq = np.zeros((nout, nc, s, ka), dtype=w.dtype)
    for r in range(s):
        cnt = min(lq, (length - r + s - 1) // s)
        xq[:, :, r, :cnt] = xp[:, :, 0, 0, r : r + s * cnt : s]
        taps = w[:, :, 0, 0, r::s]
        wq[:, :, r, : taps.shape[2]] = taps
    return xq.reshape(nb, nc * s, 1, 1, lq), wq.reshape(nout, nc * s, 1, 1, ka)


def suits_phases(xshape, wshape, stride, dilation, groups, osize) -> bool:
    """Whether ``direct_grad_weight_phases`` should compute this weight gradient (padded input
    ``xshape`` and weights ``wshape``, both 5-D): a strided 1-D layer (the last axis) with
    groups 1, no dilation, output channels in fours, few input channels and rows of at least
    a few hundred outputs (the GEMM path wins on short rows). AVX-512 only: the block's 20
    accumulators and 12 operands fit 32 vector registers, not 16."""
    nout, cg = int(wshape[0]), int(wshape[1])
    k = int(wshape[4])
    s = int(stride[2])
    return (
        avx512()
        and groups == 1
        and tuple(int(v) for v in xshape[2:4]) == (1, 1)
        and tuple(int(v) for v in wshape[2:4]) == (1, 1)
        and tuple(int(d) for d in dilation) == (1, 1, 1)
        and s >= 2
        and nout % 4 == 0
        and cg * s <= _MAX_PHASES
        and -(-k // s) >= _LAGS // 2
        and int(osize[2]) >= 256
    )


def direct_grad_weight_phases(xp, g, k, s):
    """``(O, C, k)`` weight gradient (``g``'s dtype) of the valid correlation with stride ``s``
    of the padded input ``xp`` ``(N, C, 1, 1, L)`` whose output gradient is ``g``
    ``(N, O, 1, 1, P)``. Tasks are (image, block of output channels); each chunk of tasks sums
    into its own float64 partial sums, added up at the end."""
    nb, nc, length = xp.shape[0], xp.shape[1], xp.shape[4]
    nout, npos = g.shape[1], g.shape[4]
    ka = -(-k // s)
    nlag = -(-ka // _LAGS) * _LAGS
    x3 = np.ascontiguousarray(xp).reshape(nb, nc, length)
    g3 = np.ascontiguousarray(g).reshape(nb, nout, npos)
    # a task is (group of images, block of output channels) and sums into its group's own
    # float64 partial sums: tasks never share a sum, however run_chunks splits them, and the
    # result does not depend on the thread count
    ngrp = min(nb, _GROUPS)
    ob = _out_block(nout, ngrp)
    out = np.zeros((ngrp, nout, nc, s, nlag), dtype=np.float64)
    run_chunks(_grad_weight_phases, float(g.size) * nc * k, x3, g3, s, ka, ob, out)
    # (O, C, S, lags) -> (O, C, lags, S) -> taps S * a + r, cut to k
    gw = out.sum(axis=0).transpose(0, 1, 3, 2).reshape(nout, nc, nlag * s)[:, :, :k]
    return np.ascontiguousarray(gw, dtype=g.dtype)


def _out_block(nout: int, ngrp: int) -> int:
    """Output channels per task (a multiple of four): enough tasks for every chunk when images
    are few."""
    ob = nout
    while ob % 8 == 0 and ngrp * (nout // ob) < 32:
        ob //= 2
    return ob


@njit(cache=True, nogil=True, fastmath={"contract"})
def _grad_weight_phases(part, nparts, x, g, s, ka, ob, out):
    """Tasks (group of images, block of output channels) ``part``-th of ``nparts``; a task
    sums into its group's ``out[group]`` ``(O, C, S, lags)``, its block's rows."""
    x, g, out = borrow(x, g, out)
    nb, nc, length = x.shape
    nout, npos = g.shape[1], g.shape[2]
    ngrp = out.shape[0]
    nlag = out.shape[4]
    nab = nlag // _LAGS
    nl = lanes(g)
    full = npos - npos % nl
    nobk = nout // ob
    ntask = ngrp * nobk
    # the image's phases, zero past the input's end (lags past the last tap read there)
    span = npos + nlag
    xr = np.zeros((nc, s, span), dtype=x.dtype)
    # one block's vector sums per (channel, phase, block of lags), over the stretches
    blk = 4 * _LAGS * nl
    vacc = np.empty(nc * s * nab * blk, dtype=g.dtype)
    for task in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        grp = task // nobk
        o_lo = (task - grp * nobk) * ob
        dst = out[grp]
        for n in range(grp * nb // ngrp, (grp + 1) * nb // ngrp):
            for c in range(nc):
                for r in range(s):
                    row = xr[c, r]
                    cnt = min(span, (length - r + s - 1) // s)
                    for q in range(cnt):
                        row[q] = x[n, c, r + s * q]
                    for q in range(cnt, span):
                        row[q] = 0
            for o in range(o_lo, o_lo + ob, 4):
                g0 = g[n, o]
                g1 = g[n, o + 1]
                g2 = g[n, o + 2]
                g3 = g[n, o + 3]
                vacc[:] = 0
                # stretches of _STRETCH positions: four gradient rows and every phase's stretch
                # stay in L1 while the channels, phases and lags change
                for p0 in range(0, full, _STRETCH):
                    p1 = min(p0 + _STRETCH, full)
                    k = 0
                    for c in range(nc):
                        for r in range(s):
                            for a0 in range(0, ka, _LAGS):
                                _quad_block(
                                    g0[p0:p1],
                                    g1[p0:p1],
                                    g2[p0:p1],
                                    g3[p0:p1],
                                    xr[c, r, p0 + a0 :],
                                    vacc[k : k + blk],
                                )
                                k += blk
                k = 0
                for c in range(nc):
                    for r in range(s):
                        xs = xr[c, r]
                        for a0 in range(0, ka, _LAGS):
                            for j in range(_LAGS):
                                s0 = 0.0
                                s1 = 0.0
                                s2 = 0.0
                                s3 = 0.0
                                for i in range(nl):
                                    s0 += vacc[k + j * nl + i]
                                    s1 += vacc[k + (_LAGS + j) * nl + i]
                                    s2 += vacc[k + (2 * _LAGS + j) * nl + i]
                                    s3 += vacc[k + (3 * _LAGS + j) * nl + i]
                                for p in range(full, npos):  # the row's last, partial vector
                                    v = xs[p + a0 + j]
                                    s0 += g0[p] * v
                                    s1 += g1[p] * v
                                    s2 += g2[p] * v
                                    s3 += g3[p] * v
                                dst[o, c, r, a0 + j] += s0
                                dst[o + 1, c, r, a0 + j] += s1
                                dst[o + 2, c, r, a0 + j] += s2
                                dst[o + 3, c, r, a0 + j] += s3
                            k += blk


@njit(cache=True, nogil=True, fastmath={"contract"})
def _quad_block(g0, g1, g2, g3, xs, vsum):
    """``vsum[(i * _LAGS + j) * lanes + l] += sum over p = l (mod lanes) of g_i[p] * xs[p + j]``
    for the four gradient rows ``g_i`` (whole vectors of positions) and ``j < _LAGS``."""
    wide_vectors()
    nl = lanes(g0)
    acc = stack_array(320, g0.dtype)  # 4 x _LAGS x 16 float32 lanes (8 float64 use half)
    for p0 in range(0, g0.shape[0], nl):
        u0 = g0[p0 : p0 + nl]
        u1 = g1[p0 : p0 + nl]
        u2 = g2[p0 : p0 + nl]
        u3 = g3[p0 : p0 + nl]
        w = xs[p0 : p0 + nl + _LAGS]
        # the lanes innermost with every product in the body: LLVM vectorises the lane loop
        # (five unaligned loads of the shifted phase, shared by the four channels)
        for i in range(nl):
            a = u0[i]
            b = u1[i]
            c = u2[i]
            d = u3[i]
            x0 = w[i]
            x1 = w[i + 1]
            x2 = w[i + 2]
            x3 = w[i + 3]
            x4 = w[i + 4]
            acc[0 * nl + i] = acc[0 * nl + i] + a * x0
            acc[1 * nl + i] = acc[1 * nl + i] + a * x1
            acc[2 * nl + i] = acc[2 * nl + i] + a * x2
            acc[3 * nl + i] = acc[3 * nl + i] + a * x3
            acc[4 * nl + i] = acc[4 * nl + i] + a * x4
            acc[5 * nl + i] = acc[5 * nl + i] + b * x0
            acc[6 * nl + i] = acc[6 * nl + i] + b * x1
            acc[7 * nl + i] = acc[7 * nl + i] + b * x2
            acc[8 * nl + i] = acc[8 * nl + i] + b * x3
            acc[9 * nl + i] = acc[9 * nl + i] + b * x4
            acc[10 * nl + i] = acc[10 * nl + i] + c * x0
            acc[11 * nl + i] = acc[11 * nl + i] + c * x1
            acc[12 * nl + i] = acc[12 * nl + i] + c * x2
            acc[13 * nl + i] = acc[13 * nl + i] + c * x3
            acc[14 * nl + i] = acc[14 * nl + i] + c * x4
            acc[15 * nl + i] = acc[15 * nl + i] + d * x0
            acc[16 * nl + i] = acc[16 * nl + i] + d * x1
            acc[17 * nl + i] = acc[17 * nl + i] + d * x2
            acc[18 * nl + i] = acc[18 * nl + i] + d * x3
            acc[19 * nl + i] = acc[19 * nl + i] + d * x4
    for t in range(4 * _LAGS * nl):
        vsum[t] += acc[t]

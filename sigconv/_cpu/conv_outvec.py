"""Direct correlation vectorised along the output channels (Numba CPU, AVX-512).

``direct_corr_outvec``: for layers with at least a vector's worth of output channels on small
images (LeNet's second layer: 6 -> 16 channels, 5x5 on 14x14), where the kernels vectorised
along the pixels (``conv_direct``) either waste the wide grid's row ends or need the batch axis
moved last (two transposes, and an input that streams from L2).

A register block is ``_POS`` positions by one vector of output channels (20 zmm of
accumulators): two runs of ten, consecutive on the wide grid (see ``conv_direct``) or the same
ten columns of two output rows. The reduction runs in steps of three (or two) consecutive taps
of one input row: per step three vectors of weights, and 24 input values broadcast straight
from memory feed 60 FMAs (position ``p``'s tap ``t`` reads input ``p + t``, so neighbouring
positions share their broadcasts).
The input is read in its own layout (not transposed), and an image's frame and the weights
stay in L1 or L2. The block is stored to a small tile and its real outputs stored with
the bias: transposed in registers, a masked vector store per channel and run
(``_transpose.store_runs``), where they are whole runs of a whole vector of channels; element by
element otherwise. Rows of 8 outputs, which those blocks cover with a fifth of their positions
wasted, take a second block (``_block_run8``, in a kernel of its own): a run of 8 positions
by two vectors of output channels.

Measured on the Sapphire Rapids vCPU (docs/performance.md, "Output channels in the vectors"):
the inner loop ran at 3.1-3.2 G FMA/s on one core, against 3.4 for the same loop in C and 4.2
for FMAs alone; one FMA per broadcast (no sharing) ran at 1.6-2.0.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from .. import _config
from ._nrt import borrow, stack_array
from ._simd import avx512, lanes, lanes_for, wide_vectors
from ._threads import run_chunks
from ._transpose import store_runs

#: Wide positions per register block: 20 accumulator vectors; with the 3 weight vectors and
#: the broadcasts, 24 did not fit the 32 zmm (LLVM spilled broadcasts to the stack). On small
#: images a block can be two runs of ``_SEG`` positions: the same ten columns of two output
#: rows, which skips the wide grid's row ends.
_SEG = 10
_POS = 2 * _SEG
#: Positions of a run-of-8 block (``_block_run8``), by two vectors of output channels.
_RUN = 8


@njit(cache=True, fastmath={"contract"})
def _block(ximg, cs, n3, qa, qb, wt, o0, tile):
    """``tile[p * lanes + o] = sum_s sum_t wt[s, t, o0 + o] * ximg[cs[s] + q(p) + t]`` for
    ``o < lanes(tile)`` and the ``_POS`` positions ``q(p) = qa + p`` (``p < _SEG``) and
    ``qb + p - _SEG`` (the others), over the taps ``t`` of every step ``s``: three for the
    first ``n3`` steps, two for the others. The two runs are consecutive on the wide grid
    (``qb = qa + _SEG``) or the same ten columns of two output rows. (A block with one run and
    22 broadcasts a step was as fast on the wide grid, 0.98-1.01x, and cost a second copy.)"""
    wide_vectors()
    nl = lanes(tile)
    acc = stack_array(384, tile.dtype)  # zeros; _POS x 16 float32 lanes (8 float64 use half)
    for s in range(n3):
        xa = ximg[cs[s] + qa : cs[s] + qa + _SEG + 2]
        xb = ximg[cs[s] + qb : cs[s] + qb + _SEG + 2]
        w0 = wt[s, 0, o0 : o0 + nl]
        w1 = wt[s, 1, o0 : o0 + nl]
        w2 = wt[s, 2, o0 : o0 + nl]
        a0 = xa[0]
        a1 = xa[1]
        a2 = xa[2]
        a3 = xa[3]
        a4 = xa[4]
        a5 = xa[5]
        a6 = xa[6]
        a7 = xa[7]
        a8 = xa[8]
        a9 = xa[9]
        a10 = xa[10]
        a11 = xa[11]
        b0 = xb[0]
        b1 = xb[1]
        b2 = xb[2]
        b3 = xb[3]
        b4 = xb[4]
        b5 = xb[5]
        b6 = xb[6]
        b7 = xb[7]
        b8 = xb[8]
        b9 = xb[9]
        b10 = xb[10]
        b11 = xb[11]
        # the loop over the lanes innermost, with every position in its body: LLVM
        # vectorises it (one iteration of one vector) instead of unrolling it first and
        # vectorising the positions with gathers. Position p's tap t reads x[p + t], so
        # the 24 broadcasts feed 60 FMAs.
        for o in range(nl):
            u = w0[o]
            v = w1[o]
            w = w2[o]
            acc[0 * nl + o] = acc[0 * nl + o] + a0 * u + a1 * v + a2 * w
            acc[1 * nl + o] = acc[1 * nl + o] + a1 * u + a2 * v + a3 * w
            acc[2 * nl + o] = acc[2 * nl + o] + a2 * u + a3 * v + a4 * w
            acc[3 * nl + o] = acc[3 * nl + o] + a3 * u + a4 * v + a5 * w
            acc[4 * nl + o] = acc[4 * nl + o] + a4 * u + a5 * v + a6 * w
            acc[5 * nl + o] = acc[5 * nl + o] + a5 * u + a6 * v + a7 * w
            acc[6 * nl + o] = acc[6 * nl + o] + a6 * u + a7 * v + a8 * w
            acc[7 * nl + o] = acc[7 * nl + o] + a7 * u + a8 * v + a9 * w
            acc[8 * nl + o] = acc[8 * nl + o] + a8 * u + a9 * v + a10 * w
            acc[9 * nl + o] = acc[9 * nl + o] + a9 * u + a10 * v + a11 * w
            acc[10 * nl + o] = acc[10 * nl + o] + b0 * u + b1 * v + b2 * w
            acc[11 * nl + o] = acc[11 * nl + o] + b1 * u + b2 * v + b3 * w
            acc[12 * nl + o] = acc[12 * nl + o] + b2 * u + b3 * v + b4 * w
            acc[13 * nl + o] = acc[13 * nl + o] + b3 * u + b4 * v + b5 * w
            acc[14 * nl + o] = acc[14 * nl + o] + b4 * u + b5 * v + b6 * w
            acc[15 * nl + o] = acc[15 * nl + o] + b5 * u + b6 * v + b7 * w
            acc[16 * nl + o] = acc[16 * nl + o] + b6 * u + b7 * v + b8 * w
            acc[17 * nl + o] = acc[17 * nl + o] + b7 * u + b8 * v + b9 * w
            acc[18 * nl + o] = acc[18 * nl + o] + b8 * u + b9 * v + b10 * w
            acc[19 * nl + o] = acc[19 * nl + o] + b9 * u + b10 * v + b11 * w
    for s in range(n3, cs.shape[0]):
        xa = ximg[cs[s] + qa : cs[s] + qa + _SEG + 1]
        xb = ximg[cs[s] + qb : cs[s] + qb + _SEG + 1]
        w0 = wt[s, 0, o0 : o0 + nl]
        w1 = wt[s, 1, o0 : o0 + nl]
        a0 = xa[0]
        a1 = xa[1]
        a2 = xa[2]
        a3 = xa[3]
        a4 = xa[4]
        a5 = xa[5]
        a6 = xa[6]
        a7 = xa[7]
        a8 = xa[8]
        a9 = xa[9]
        a10 = xa[10]
        b0 = xb[0]
        b1 = xb[1]
        b2 = xb[2]
        b3 = xb[3]
        b4 = xb[4]
        b5 = xb[5]
        b6 = xb[6]
        b7 = xb[7]
        b8 = xb[8]
        b9 = xb[9]
        b10 = xb[10]
        for o in range(nl):
            u = w0[o]
            v = w1[o]
            acc[0 * nl + o] = acc[0 * nl + o] + a0 * u + a1 * v
            acc[1 * nl + o] = acc[1 * nl + o] + a1 * u + a2 * v
            acc[2 * nl + o] = acc[2 * nl + o] + a2 * u + a3 * v
            acc[3 * nl + o] = acc[3 * nl + o] + a3 * u + a4 * v
            acc[4 * nl + o] = acc[4 * nl + o] + a4 * u + a5 * v
            acc[5 * nl + o] = acc[5 * nl + o] + a5 * u + a6 * v
            acc[6 * nl + o] = acc[6 * nl + o] + a6 * u + a7 * v
            acc[7 * nl + o] = acc[7 * nl + o] + a7 * u + a8 * v
            acc[8 * nl + o] = acc[8 * nl + o] + a8 * u + a9 * v
            acc[9 * nl + o] = acc[9 * nl + o] + a9 * u + a10 * v
            acc[10 * nl + o] = acc[10 * nl + o] + b0 * u + b1 * v
            acc[11 * nl + o] = acc[11 * nl + o] + b1 * u + b2 * v
            acc[12 * nl + o] = acc[12 * nl + o] + b2 * u + b3 * v
            acc[13 * nl + o] = acc[13 * nl + o] + b3 * u + b4 * v
            acc[14 * nl + o] = acc[14 * nl + o] + b4 * u + b5 * v
            acc[15 * nl + o] = acc[15 * nl + o] + b5 * u + b6 * v
            acc[16 * nl + o] = acc[16 * nl + o] + b6 * u + b7 * v
            acc[17 * nl + o] = acc[17 * nl + o] + b7 * u + b8 * v
            acc[18 * nl + o] = acc[18 * nl + o] + b8 * u + b9 * v
            acc[19 * nl + o] = acc[19 * nl + o] + b9 * u + b10 * v
    # a flat copy (a loop over positions and lanes vectorises the positions, with scatters)
    for t in range(_POS * nl):
        tile[t] = acc[t]


@njit(cache=True, fastmath={"contract"})
def _block_run8(ximg, cs, n3, q, wt, o0, tile):
    """``tile[(2 * p + u) * lanes + o] = sum_s sum_t wt[s, t, o0 + u * lanes + o] * ximg[cs[s] +
    q + p + t]``: ``_block``'s sums for a run of ``_RUN`` consecutive positions ``q + p`` by two
    vectors of output channels (16 accumulator vectors; per step of three taps ten broadcasts
    and six weight vectors feed 48 FMAs). For rows of 8 outputs (the digits network's 8x8
    layers), which ``_block``'s 20 positions cover only with a fifth of them wasted."""
    wide_vectors()
    nl = lanes(tile)
    acc = stack_array(512, tile.dtype)  # 8 positions x 2 vectors x 16 float32 lanes
    for s in range(n3):
        xa = ximg[cs[s] + q : cs[s] + q + _RUN + 2]
        u0 = wt[s, 0, o0 : o0 + nl]
        v0 = wt[s, 1, o0 : o0 + nl]
        w0 = wt[s, 2, o0 : o0 + nl]
        u1 = wt[s, 0, o0 + nl : o0 + 2 * nl]
        v1 = wt[s, 1, o0 + nl : o0 + 2 * nl]
        w1 = wt[s, 2, o0 + nl : o0 + 2 * nl]
        a0 = xa[0]
        a1 = xa[1]
        a2 = xa[2]
        a3 = xa[3]
        a4 = xa[4]
        a5 = xa[5]
        a6 = xa[6]
        a7 = xa[7]
        a8 = xa[8]
        a9 = xa[9]
        for o in range(nl):
            p = u0[o]
            r = v0[o]
            t = w0[o]
            acc[0 * nl + o] = acc[0 * nl + o] + a0 * p + a1 * r + a2 * t
            acc[2 * nl + o] = acc[2 * nl + o] + a1 * p + a2 * r + a3 * t
            acc[4 * nl + o] = acc[4 * nl + o] + a2 * p + a3 * r + a4 * t
            acc[6 * nl + o] = acc[6 * nl + o] + a3 * p + a4 * r + a5 * t
            acc[8 * nl + o] = acc[8 * nl + o] + a4 * p + a5 * r + a6 * t
            acc[10 * nl + o] = acc[10 * nl + o] + a5 * p + a6 * r + a7 * t
            acc[12 * nl + o] = acc[12 * nl + o] + a6 * p + a7 * r + a8 * t
            acc[14 * nl + o] = acc[14 * nl + o] + a7 * p + a8 * r + a9 * t
            p = u1[o]
            r = v1[o]
            t = w1[o]
            acc[1 * nl + o] = acc[1 * nl + o] + a0 * p + a1 * r + a2 * t
            acc[3 * nl + o] = acc[3 * nl + o] + a1 * p + a2 * r + a3 * t
            acc[5 * nl + o] = acc[5 * nl + o] + a2 * p + a3 * r + a4 * t
            acc[7 * nl + o] = acc[7 * nl + o] + a3 * p + a4 * r + a5 * t
            acc[9 * nl + o] = acc[9 * nl + o] + a4 * p + a5 * r + a6 * t
            acc[11 * nl + o] = acc[11 * nl + o] + a5 * p + a6 * r + a7 * t
            acc[13 * nl + o] = acc[13 * nl + o] + a6 * p + a7 * r + a8 * t
            acc[15 * nl + o] = acc[15 * nl + o] + a7 * p + a8 * r + a9 * t
    for s in range(n3, cs.shape[0]):
        xa = ximg[cs[s] + q : cs[s] + q + _RUN + 1]
        u0 = wt[s, 0, o0 : o0 + nl]
        v0 = wt[s, 1, o0 : o0 + nl]
        u1 = wt[s, 0, o0 + nl : o0 + 2 * nl]
        v1 = wt[s, 1, o0 + nl : o0 + 2 * nl]
        a0 = xa[0]
        a1 = xa[1]
        a2 = xa[2]
        a3 = xa[3]
        a4 = xa[4]
        a5 = xa[5]
        a6 = xa[6]
        a7 = xa[7]
        a8 = xa[8]
        for o in range(nl):
            p = u0[o]
            r = v0[o]
            acc[0 * nl + o] = acc[0 * nl + o] + a0 * p + a1 * r
            acc[2 * nl + o] = acc[2 * nl + o] + a1 * p + a2 * r
            acc[4 * nl + o] = acc[4 * nl + o] + a2 * p + a3 * r
            acc[6 * nl + o] = acc[6 * nl + o] + a3 * p + a4 * r
            acc[8 * nl + o] = acc[8 * nl + o] + a4 * p + a5 * r
            acc[10 * nl + o] = acc[10 * nl + o] + a5 * p + a6 * r
            acc[12 * nl + o] = acc[12 * nl + o] + a6 * p + a7 * r
            acc[14 * nl + o] = acc[14 * nl + o] + a7 * p + a8 * r
            p = u1[o]
            r = v1[o]
            acc[1 * nl + o] = acc[1 * nl + o] + a0 * p + a1 * r
            acc[3 * nl + o] = acc[3 * nl + o] + a1 * p + a2 * r
            acc[5 * nl + o] = acc[5 * nl + o] + a2 * p + a3 * r
            acc[7 * nl + o] = acc[7 * nl + o] + a3 * p + a4 * r
            acc[9 * nl + o] = acc[9 * nl + o] + a4 * p + a5 * r
            acc[11 * nl + o] = acc[11 * nl + o] + a5 * p + a6 * r
            acc[13 * nl + o] = acc[13 * nl + o] + a6 * p + a7 * r
            acc[15 * nl + o] = acc[15 * nl + o] + a7 * p + a8 * r
    for t in range(_RUN * 2 * nl):
        tile[t] = acc[t]


@njit(cache=True, nogil=True)
def _direct_corr_run8(part, nparts, xp, cs, n3, wt, bias, relu, y):
    # tasks (image, plane, run of a row, pair of vectors of output channels); a row's last run
    # moved back to end with the row. A kernel of its own: compiled only when a layer takes it.
    wide_vectors()
    xp, cs, wt, bias, y = borrow(xp, cs, wt, bias, y)
    nb = xp.shape[0]
    hp, wp = xp.shape[3], xp.shape[4]
    nout = y.shape[1]
    od, oh, ow = y.shape[2], y.shape[3], y.shape[4]
    nl = lanes(y)
    plane = hp * wp
    ncol = (ow + _RUN - 1) // _RUN
    nblk = oh * ncol
    nvec = wt.shape[2] // (2 * nl)
    tile = np.empty(_RUN * 2 * nl, dtype=y.dtype)
    zero = np.zeros(1, dtype=y.dtype)[0]
    xf = xp.reshape(nb, xp.size // nb)
    yf = y.reshape(y.size)
    oplane = oh * ow
    ntask = nb * od * nblk * nvec
    for task in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        n = task // (od * nblk * nvec)
        rem = task % (od * nblk * nvec)
        i = rem // (nblk * nvec)
        rem = rem % (nblk * nvec)
        b = rem // nvec
        o0 = (rem % nvec) * 2 * nl
        j = b // ncol
        k0 = min((b % ncol) * _RUN, ow - _RUN)
        _block_run8(xf[n], cs, n3, i * plane + j * wp + k0, wt, o0, tile)
        no = min(2 * nl, nout - o0)
        d = ((n * nout + o0) * od + i) * oplane + j * ow + k0
        if no == 2 * nl:  # the two vectors of channels, each stored transposed
            store_runs(tile, 0, 2, yf, (d,), _RUN, od * oplane, bias, o0, relu)
            d += nl * od * oplane
            store_runs(tile, nl, 2, yf, (d,), _RUN, od * oplane, bias, o0 + nl, relu)
            continue
        for o in range(no):
            bv = bias[o0 + o]
            ra = yf[d : d + _RUN]
            for k in range(_RUN):
                ra[k] = _act(tile[(2 * k + o // nl) * nl + o % nl] + bv, relu, zero)
            d += od * oplane


def direct_corr_outvec(xp, w, bias, dilation, y, *, relu=False):
    """Unit-stride valid correlation ``y = corr(xp, w) + bias`` with the output channels in the
    vectors (groups 1; ``suits`` says when), then ``max(y, 0)`` where ``relu`` (in the same
    stores; NaN kept, as ``activation.relu``).

    ``xp`` ``(N, C, Dp, Hp, Wp)``; ``w`` ``(O, C, KD, KH, KW)``; ``bias`` ``(O,)`` or None;
    ``y`` ``(N, O, OD, OH, OW)``. The kernel's steps are three or two consecutive taps of an
    input row (a row of five taps: columns 0-2, then 3-4; of four: 0-1, 2-3), so no tap is
    computed twice or read outside the row. Blocks are 20 consecutive wide positions, or two
    output rows by ten columns where those are fewer (``_use_rows``); a plane's last block is
    moved back to end with the plane (the span, or the last rows and columns), so no read
    leaves the image. Rows of 8 (or a multiple) take runs of 8 positions by two vectors of
    output channels instead (``_use_run8``).
    """
    lay = _layout(xp.shape, w.shape, tuple(dilation), y.shape, w.itemsize)
    run8, rows, opad, threes, n3, cs = lay
    wt = np.empty((len(cs), 3, opad), dtype=w.dtype)
    bp = np.zeros(opad, dtype=w.dtype)
    if bias is not None:
        bp[: w.shape[0]] = bias
    _step_weights(w, threes, wt)
    work = y.size * w[0].size
    if run8:
        run_chunks(_direct_corr_run8, work, xp, cs, n3, wt, bp, bool(relu), y)
    else:
        run_chunks(_direct_corr_outvec, work, xp, cs, n3, wt, bp, rows, bool(relu), y)
    return y


@functools.lru_cache(maxsize=64)
def _layout(xshape, wshape, dilation, yshape, itemsize):
    """What the shapes decide, worked out once per shape (about 4 us of Python a call, a
    tenth of a small layer's): ``(run8, rows, opad, threes, n3, cs)``: runs of 8 or not, row
    pairs or not, the output channels padded to whole blocks, the steps of three taps a row
    and in all, and ``cs``, each step's first input offset in an image (never written to)."""
    nl = lanes_for(itemsize)
    oh, ow = yshape[3], yshape[4]
    span = (oh - 1) * xshape[4] + ow
    run8 = _use_run8(oh, ow, span, wshape[0], nl)
    vec = 2 * nl if run8 else nl  # output channels a block
    opad = -(-wshape[0] // vec) * vec
    threes, twos = _split(wshape[4])
    nc, kd, kh = wshape[1:4]
    # a step's first tap: rows (channel, depth, height) in order, the steps of three of every
    # row first, then the steps of two
    c, a, e = np.unravel_index(np.arange(nc * kd * kh), (nc, kd, kh))
    dp, hp, wp = xshape[2:]
    base = ((c * dp + a * dilation[0]) * hp + e * dilation[1]) * wp
    first3 = base[:, None] + 3 * np.arange(threes)[None, :]
    first2 = base[:, None] + 3 * threes + 2 * np.arange(twos)[None, :]
    cs = np.concatenate([first3.ravel(), first2.ravel()]).astype(np.int64)
    return run8, _use_rows(oh, ow, span), opad, threes, nc * kd * kh * threes, cs


@njit(cache=True)
def _act(v, relu, zero):
    """``v``, or +0 where ``relu`` and ``v <= 0`` (NaN kept)."""
    return zero if relu and v <= zero else v


def _split(kw):
    """A row of ``kw`` taps as steps of three and two: ``(threes, twos)``."""
    twos = (3 - kw % 3) % 3
    return (kw - 2 * twos) // 3, twos


@njit(cache=True, nogil=True)
def _step_weights(w, threes, wt):
    """``wt[s, t]``, the weights of step ``s``'s taps (the order of ``_layout``'s ``cs``: every
    row's ``threes`` steps of three, then the rows' steps of two), zero past the output
    channels and in a step of two's third tap."""
    nout, nc, kd, kh, kw = w.shape
    nrow = nc * kd * kh
    twos = (kw - 3 * threes) // 2
    wt[:] = 0.0
    for r in range(nrow):
        c = r // (kd * kh)
        a = (r // kh) % kd
        e = r % kh
        for g in range(threes + twos):
            if g < threes:
                s, f0, nt = r * threes + g, 3 * g, 3
            else:
                s, f0, nt = nrow * threes + r * twos + g - threes, 3 * threes + 2 * (g - threes), 2
            for t in range(nt):
                for o in range(nout):
                    wt[s, t, o] = w[o, c, a, e, f0 + t]


def suits(pshape, wshape, stride, dilation, groups, osize, *, few_steps=False) -> bool:
    """Whether ``direct_corr_outvec`` should compute this correlation (of a padded input of
    spatial shape ``pshape``): it can (AVX-512, groups 1, unit strides, two or more taps
    along the last axis at unit dilation there, output planes that span ``_POS`` wide
    positions) and it wins (thresholds in ``_config``: enough output channels to fill half the
    lanes, enough steps per block, few enough input channels for the weights to stay in L2).
    ``few_steps``: any number of steps will do (the other kernel would be batch-last, whose
    two transposes cost more than short blocks: the digits network's first layer, 1 -> 32
    channels 3x3 on 8x8, 1.6x faster with 3 steps a block; on 28x28 and larger images the
    wide grid's tap loops won, 0.54-0.85x).
    """
    c = _config
    nout, cg, kd, kh, kw = wshape
    return (
        avx512()
        and groups == 1
        and all(s == 1 for s in stride)
        and kw >= 2
        and dilation[-1] == 1
        and nout >= c.NN_CONV_OUTVEC_MIN_OUT
        and cg <= c.NN_CONV_OUTVEC_MAX_CHANNELS
        and (few_steps or cg * kd * kh * sum(_split(kw)) >= c.NN_CONV_OUTVEC_MIN_STEPS)
        and (osize[1] - 1) * pshape[-1] + osize[2] >= _POS
    )


@njit(cache=True)
def _task(task, od, nblk, nvec, nl):
    """Task ``task``'s image, plane, block of the plane and first output channel (tasks are
    (image, plane, block, vector of output channels), the vectors fastest)."""
    n = task // (od * nblk * nvec)
    rem = task % (od * nblk * nvec)
    i = rem // (nblk * nvec)
    rem = rem % (nblk * nvec)
    return n, i, rem // nvec, (rem % nvec) * nl


def _use_run8(oh, ow, span, nout, nl) -> bool:
    """Whether runs of ``_RUN`` positions by two vectors (``_block_run8``) compute fewer
    positions than the blocks of ``_POS`` (wide, or row pairs), for output channels in whole
    pairs of vectors: rows of 8 outputs, where the 20-position blocks waste a fifth (the digits
    network's 32 -> 64 3x3 layer on 8x8 and its input gradient: 1.23-1.28x). The blocks are
    as fast per FMA (3.1 G FMA/s on one core), so the positions decide."""
    if ow < _RUN or nout % (2 * nl):
        return False
    runs = oh * -(-ow // _RUN) * _RUN
    pos = -(-span // _POS) * _POS
    if _use_rows(oh, ow, span):
        pos = (oh + 1) // 2 * -(-ow // _SEG) * _POS
    return runs < pos


def _use_rows(oh, ow, span) -> bool:
    """Whether blocks of two output rows by ``_SEG`` columns are fewer than blocks of ``_POS``
    wide positions (LeNet conv2's 10x10 outputs: 5 against 7 a plane)."""
    return oh >= 2 and ow >= _SEG and (oh + 1) // 2 * -(-ow // _SEG) < -(-span // _POS)


@njit(cache=True, nogil=True)
def _direct_corr_outvec(part, nparts, xp, cs, n3, wt, bias, rows, relu, y):
    wide_vectors()
    xp, cs, wt, bias, y = borrow(xp, cs, wt, bias, y)
    nb = xp.shape[0]
    hp, wp = xp.shape[3], xp.shape[4]
    nout = y.shape[1]
    od, oh, ow = y.shape[2], y.shape[3], y.shape[4]
    nl = lanes(y)
    plane = hp * wp
    span = (oh - 1) * wp + ow
    # blocks of a plane: 20 wide positions (the last moved back to end with the span), or row
    # pairs by chunks of ten columns (the last pair and chunk moved back to end with the
    # plane's rows and columns); outputs computed twice are stored twice
    ncol = (ow + _SEG - 1) // _SEG
    nblk = (oh + 1) // 2 * ncol if rows else (span + _POS - 1) // _POS
    nvec = wt.shape[2] // nl
    tile = np.empty(_POS * nl, dtype=y.dtype)
    zero = np.zeros(1, dtype=y.dtype)[0]
    xf = xp.reshape(nb, xp.size // nb)
    yf = y.reshape(y.size)
    oplane = oh * ow
    ntask = nb * od * nblk * nvec
    for task in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        n, i, b, o0 = _task(task, od, nblk, nvec, nl)
        if rows:
            qa = min(2 * (b // ncol), oh - 2) * wp + min((b % ncol) * _SEG, ow - _SEG)
            qb = qa + wp
        else:
            qa = min(b * _POS, span - _POS)
            qb = qa + _SEG
        _block(xf[n], cs, n3, i * plane + qa, i * plane + qb, wt, o0, tile)
        no = min(nl, nout - o0)
        # the block's real outputs, through a slice of y per channel and row segment: indexing
        # y flat with a computed (signed) index cost five instructions of wrap-around code a
        # store (slices: 1-20% faster kernels; a function for these loops cost about 6% of a
        # 3x3 layer's kernel)
        j = qa // wp
        k0 = qa - j * wp
        if rows:  # ten columns of output rows j and j + 1, each inside its row
            d = ((n * nout + o0) * od + i) * oplane + j * ow + k0
            if no == nl:
                store_runs(tile, 0, 1, yf, (d, d + ow), _SEG, od * oplane, bias, o0, relu)
                continue
            for o in range(no):
                bv = bias[o0 + o]
                ra = yf[d : d + _SEG]
                rb = yf[d + ow : d + ow + _SEG]
                for k in range(_SEG):
                    ra[k] = _act(tile[k * nl + o] + bv, relu, zero)
                    rb[k] = _act(tile[(_SEG + k) * nl + o] + bv, relu, zero)
                d += od * oplane
            continue
        if k0 + _POS <= ow and no == nl:  # one row's real outputs
            d = ((n * nout + o0) * od + i) * oplane + j * ow + k0
            store_runs(tile, 0, 1, yf, (d,), _POS, od * oplane, bias, o0, relu)
            continue
        p = 0  # 20 wide positions, row segment by row segment
        while p < _POS:
            cnt = min(wp - k0, _POS - p)
            if k0 < ow:
                m = min(cnt, ow - k0)
                d = ((n * nout + o0) * od + i) * oplane + j * ow + k0
                for o in range(no):
                    bv = bias[o0 + o]
                    seg = yf[d : d + m]
                    for k in range(m):
                        seg[k] = _act(tile[(p + k) * nl + o] + bv, relu, zero)
                    d += od * oplane
            p += cnt
            j += 1
            k0 = 0

"""Direct correlation for few output channels (Numba CPU, AVX-512): a register block of six
output channels by four vectors of the innermost axis.

The block (in ``_direct_corr_fewout``) sums the whole reduction (every input channel and
tap) in 24 zmm of accumulators and stores once: per tap four vectors of input and six broadcast
weights feed 24 FMAs. The kernels vectorised along the pixels (``conv_direct``) instead load and
store their accumulator rows every three taps (the wide grid's ``_taps4``) or every step of a
register block of four channels (batch-last), and pad six output channels to eight. Two layouts
feed it:

* ``direct_corr_widevec``: the wide flattened grid of ``conv_direct`` (64 consecutive wide
  positions of one image), for LeNet's first layer (1 -> 6 channels, 5x5 on 32x32): the input
  is read in its own layout and nothing is transposed.
* ``direct_corr_batchvec``: the batch-last layout (64 images of one output position), for
  LeNet conv2's input gradient (the output gradient's 16 channels, zero-framed, to the input's
  6), where the frame is half zeros: the taps that read only zeros (rows outside the framed
  gradient, columns outside it) are skipped per output position, so the block does only the
  arithmetic of a transposed convolution, and the zero frame is never built.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import _config
from ._nrt import borrow, stack_array
from ._simd import avx512, lanes, lanes_for, wide_vectors
from ._threads import run_chunks

#: Output channels and vectors (of images or of wide positions) per register block: 24
#: accumulator zmm, with the four input vectors and a broadcast weight 29 of the 32.
_OUT = 6
_VEC = 4
#: Values per copy loop when blocks are copied out in row segments.
_CHUNK = 16


def direct_corr_batchvec(xt, lo, w, bias, dilation, y):
    """Unit-stride valid correlation ``y = corr(frame, w) + bias`` from the batch-last layout
    (groups 1), where the frame is ``xt`` placed at ``lo`` in zeros; the zeros are never read.

    ``xt`` ``(C, D, H, W, NB)``, the source with the batch last, ``NB`` a multiple of
    ``_VEC`` vectors (images past the batch are ignored); ``lo`` the frame position of the
    source's first element per spatial axis (negative where the frame starts inside the
    source); ``w`` ``(O, C, KD, KH, KW)``; ``bias`` ``(O,)``; ``y`` ``(N, O, OD, OH, OW)``,
    the frame's valid correlation, batch first: a task moves its output row's batch back in
    front while the row is in L1 (a separate ``unbatch_last`` pass cost 60 us of LeNet conv2's
    0.55 ms input gradient). The taps that read only the frame's zeros (the zero frame of an
    input gradient) are skipped.
    """
    nl = lanes_for(w.itemsize)
    nout, nc, kd, kh, kw = w.shape
    wq = np.empty((-(-nout // _OUT), nc * kd * kh * kw, 8), dtype=w.dtype)
    _weights(w.reshape(nout, -1), wq)
    nbb = xt.shape[4] // (_VEC * nl)
    work = y.size * w[0].size
    lo = np.asarray(lo, dtype=np.int64)
    args = (wq, bias, dilation, lo, (kd, kh, kw), nbb, False, y)
    run_chunks(_direct_corr_fewout, work, xt, *args)
    return y


@njit(cache=True, nogil=True)
def _weights(w, wq):
    """``wq[b, t, o] = w[b * _OUT + o, t]``, zero past the output channels (``w`` ``(O, C *
    taps)``): a block's six weights of a tap side by side."""
    wq[:] = 0.0
    for o in range(w.shape[0]):
        for t in range(w.shape[1]):
            wq[o // _OUT, t, o % _OUT] = w[o, t]


def direct_corr_widevec(xp, w, bias, dilation, y):
    """Unit-stride valid correlation ``y = corr(xp, w) + bias`` on the wide flattened grid
    (groups 1; ``suits_wide`` says when).

    ``xp`` ``(N, C, Dp, Hp, Wp)``; ``w`` ``(O, C, KD, KH, KW)``; ``bias`` ``(O,)``; ``y``
    ``(N, O, OD, OH, OW)``. Blocks are ``_VEC`` vectors of consecutive wide positions of an
    output plane's span (see ``conv_direct``), the last one moved back to end with the span so
    that no read leaves the image; the real outputs are copied out with the bias.
    """
    nout, nc, kd, kh, kw = w.shape
    wq = np.empty((-(-nout // _OUT), nc * kd * kh * kw, 8), dtype=w.dtype)
    _weights(w.reshape(nout, -1), wq)
    args = (wq, bias, dilation, np.zeros(3, dtype=np.int64), (kd, kh, kw), 1, True, y)
    run_chunks(_direct_corr_fewout, y.size * w[0].size, xp, *args)
    return y


@njit(cache=True, nogil=True, fastmath={"contract"})
def _direct_corr_fewout(part, nparts, x, wq, bias, dilation, lo, ksize, nbb, wide, y):
    # Both layouts in one function with the register block written in once: as a function of
    # its own the block compiled three times (alone, then inlined into each layout's kernel and
    # optimised again there), 5 s against 1.5 s from a cold cache.
    wide_vectors()
    x, wq, bias, lo, y = borrow(x, wq, bias, lo, y)
    nb, nout, od, oh, ow = y.shape
    kd, kh, kw = ksize
    dd, dh, dw = dilation
    nl = lanes(y)
    width = _VEC * nl
    nob = wq.shape[0]
    if wide:  # x (N, C, Dp, Hp, Wp)
        nc, dp, hp, wp, nbp = x.shape[1], x.shape[2], x.shape[3], x.shape[4], 1
    else:  # x (C, D, H, W, NB)
        nc, dp, hp, wp, nbp = x.shape
    span = (oh - 1) * wp + ow
    nblk = (span + width - 1) // width
    nrow = od * oh
    ntask = nb * od * nblk * nob if wide else nob * nrow * nbb
    nk = 1 if wide else ow  # blocks a task: one, or one per output column
    xs = x.reshape(x.size)
    yf = y.reshape(y.size)
    oplane = oh * ow
    cstride = dp * hp * wp * nbp
    rb = np.empty(nc * kd * kh, dtype=np.int64)
    wb = np.empty(nc * kd * kh, dtype=np.int64)
    # the blocks' sums: one per output column batch-last, the wide grid's one block in row 0
    # (a second copy, from a tile into rows per channel, took a fifth of LeNet conv1's kernel)
    rowbuf = np.empty((nk, _OUT * width), dtype=y.dtype)
    tile = rowbuf[0]
    for task in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        nr = task - task  # an int64 (the literal 0 would type the loops below twice)
        n = i = j = q0 = n0 = 0
        if wide:
            # (image, plane, block of wide positions, channel block), the channel blocks
            # fastest: consecutive tasks read the same input
            ob = task % nob
            n = task // (nob * nblk * od)
            i = (task // (nob * nblk)) % od
            q0 = min(((task // nob) % nblk) * width, span - width)
            for c in range(nc):
                for a in range(kd):
                    for e in range(kh):
                        rb[nr] = (((n * nc + c) * dp + i + a * dd) * hp + e * dh) * wp + q0
                        wb[nr] = nr * kw
                        nr += 1
        else:
            # (channel block, output row, block of images); the input rows that hold
            # nonzeros, for every input channel
            ob = task // (nrow * nbb)
            row = (task // nbb) % nrow
            n0 = (task % nbb) * width
            i = row // oh
            j = row % oh
            for a in range(kd):
                si = i + a * dd - lo[0]
                if si < 0 or si >= dp:
                    continue
                for e in range(kh):
                    sj = j + e * dh - lo[1]
                    if sj < 0 or sj >= hp:
                        continue
                    for c in range(nc):
                        rb[nr] = c * cstride + (si * hp + sj) * wp * nbp + n0
                        wb[nr] = ((c * kd + a) * kh + e) * kw
                        nr += 1
        o0 = ob * _OUT
        no = min(_OUT, nout - o0)
        wt = wq[ob]
        # no test of the layout inside this loop, or LLVM copies it (and the block) per layout:
        # on the wide grid k is 0 and so is lo, and the formulas give every tap
        for k in range(nk):
            # the column taps f that read the source: 0 <= k + f * dw - lo[2] < wp
            sk = k - lo[2]
            f0 = max(0, (dw - 1 - sk) // dw)
            f1 = max(f0, min(kw, (wp - sk + dw - 1) // dw))
            q = sk * nbp
            # the block's sums in registers (zeros; _OUT x _VEC x 16 float32 lanes), copied
            # out flat
            acc = stack_array(384, y.dtype)
            for r in range(nr):
                for f in range(f0, f1):
                    s = rb[r] + q + f * dw * nbp
                    xv = xs[s : s + width]
                    w = wt[wb[r] + f]
                    w0 = w[0]
                    w1 = w[1]
                    w2 = w[2]
                    w3 = w[3]
                    w4 = w[4]
                    w5 = w[5]
                    # lanes innermost with every accumulator its own statement (see conv_outvec)
                    for v in range(nl):
                        x0 = xv[v]
                        x1 = xv[nl + v]
                        x2 = xv[2 * nl + v]
                        x3 = xv[3 * nl + v]
                        acc[0 * nl + v] = acc[0 * nl + v] + x0 * w0
                        acc[1 * nl + v] = acc[1 * nl + v] + x1 * w0
                        acc[2 * nl + v] = acc[2 * nl + v] + x2 * w0
                        acc[3 * nl + v] = acc[3 * nl + v] + x3 * w0
                        acc[4 * nl + v] = acc[4 * nl + v] + x0 * w1
                        acc[5 * nl + v] = acc[5 * nl + v] + x1 * w1
                        acc[6 * nl + v] = acc[6 * nl + v] + x2 * w1
                        acc[7 * nl + v] = acc[7 * nl + v] + x3 * w1
                        acc[8 * nl + v] = acc[8 * nl + v] + x0 * w2
                        acc[9 * nl + v] = acc[9 * nl + v] + x1 * w2
                        acc[10 * nl + v] = acc[10 * nl + v] + x2 * w2
                        acc[11 * nl + v] = acc[11 * nl + v] + x3 * w2
                        acc[12 * nl + v] = acc[12 * nl + v] + x0 * w3
                        acc[13 * nl + v] = acc[13 * nl + v] + x1 * w3
                        acc[14 * nl + v] = acc[14 * nl + v] + x2 * w3
                        acc[15 * nl + v] = acc[15 * nl + v] + x3 * w3
                        acc[16 * nl + v] = acc[16 * nl + v] + x0 * w4
                        acc[17 * nl + v] = acc[17 * nl + v] + x1 * w4
                        acc[18 * nl + v] = acc[18 * nl + v] + x2 * w4
                        acc[19 * nl + v] = acc[19 * nl + v] + x3 * w4
                        acc[20 * nl + v] = acc[20 * nl + v] + x0 * w5
                        acc[21 * nl + v] = acc[21 * nl + v] + x1 * w5
                        acc[22 * nl + v] = acc[22 * nl + v] + x2 * w5
                        acc[23 * nl + v] = acc[23 * nl + v] + x3 * w5
            dst = rowbuf[k]
            for t in range(_OUT * width):
                dst[t] = acc[t]
        if wide:
            # the block's real outputs, row segment by row segment, as flat indices
            j = q0 // wp
            k0 = q0 - j * wp
            p = 0
            while p < width:
                cnt = min(wp - k0, width - p)
                if k0 < ow:
                    m = min(cnt, ow - k0)
                    d = ((n * nout + o0) * od + i) * oplane + j * ow + k0
                    for o in range(no):
                        bv = bias[o0 + o]
                        t0 = o * width + p
                        if m < _CHUNK:
                            for kk in range(m):
                                yf[d + kk] = tile[t0 + kk] + bv
                        else:
                            # whole vectors, the last one moved back to end with the segment
                            # (rewriting a few outputs with the same values): slices, so that
                            # each is one vector load, add and store (a flat index stayed
                            # scalar; a copy with a remainder loop was 40% of the call)
                            for c in range(0, m, _CHUNK):
                                c = min(c, m - _CHUNK)
                                src = tile[t0 + c : t0 + c + _CHUNK]
                                dst = yf[d + c : d + c + _CHUNK]
                                for kk in range(_CHUNK):
                                    dst[kk] = src[kk] + bv
                        d += od * oplane
                p += cnt
                j += 1
                k0 = 0
        else:
            # the output row's batch back in front, with the bias
            for o in range(no):
                bv = bias[o0 + o]
                for n in range(n0, min(nb, n0 + width)):
                    dst = y[n, o0 + o, i, j]
                    for k in range(ow):
                        dst[k] = rowbuf[k, o * width + n - n0] + bv


def batch_width(nb: int, itemsize: int) -> int:
    """The batch axis's length in the kernel's layout: ``nb`` rounded up to whole blocks."""
    width = _VEC * lanes_for(itemsize)
    return -(-nb // width) * width


def frame_offsets(maps, shape):
    """``lo`` for ``direct_corr_batchvec`` when the frame that ``maps`` (``pad``'s index maps,
    -1 for a zero) describe is a source of spatial ``shape`` shifted into zeros, else None."""
    lo = np.empty(3, dtype=np.int64)
    ok = _shifted(maps[0], maps[1], maps[2], np.asarray(shape, dtype=np.int64), lo)
    return tuple(int(v) for v in lo) if ok else None


@njit(cache=True)
def _shifted(m0, m1, m2, shape, lo):
    """Whether every map ``m`` is ``p - lo`` inside the source, -1 outside (``lo`` set)."""
    for a, m in enumerate((m0, m1, m2)):
        lo[a] = 0
        for p in range(m.shape[0]):
            if m[p] >= 0:
                lo[a] = p - m[p]
                break
        for p in range(m.shape[0]):
            s = p - lo[a]
            if m[p] != (s if 0 <= s < shape[a] else -1):
                return False
    return True


def suits_batch(nb, nout, groups, itemsize) -> bool:
    """Whether ``direct_corr_batchvec`` should compute a unit-stride batch-last correlation:
    AVX-512, groups 1, at most ``_config.NN_CONV_FEWOUT_MAX_OUT`` output channels and a batch
    that fills its vectors (rounded up to whole blocks, at most
    ``NN_CONV_FEWOUT_MAX_BATCH_WASTE`` of them empty)."""
    c = _config
    nbp = batch_width(nb, itemsize)
    return (
        avx512()
        and groups == 1
        and nout <= c.NN_CONV_FEWOUT_MAX_OUT
        and nbp - nb <= c.NN_CONV_FEWOUT_MAX_BATCH_WASTE * nbp
    )


def suits_wide(nout, groups, itemsize, pshape, osize) -> bool:
    """Whether ``direct_corr_widevec`` should compute a unit-stride correlation on the wide
    grid (padded input of spatial shape ``pshape``): AVX-512, groups 1,
    ``_config.NN_CONV_FEWOUT_MIN_OUT_WIDE`` to ``NN_CONV_FEWOUT_MAX_OUT`` output channels,
    output planes that span a block."""
    c = _config
    return (
        avx512()
        and groups == 1
        and c.NN_CONV_FEWOUT_MIN_OUT_WIDE <= nout <= c.NN_CONV_FEWOUT_MAX_OUT
        and (osize[1] - 1) * pshape[2] + osize[2] >= _VEC * lanes_for(itemsize)
    )

"""Explicit padding, im2col and their adjoints for the CNN convolution: Numba CPU kernels.

Canonical arrays (3 spatial axes, native, C-contiguous, float32/float64), as described in
``convolution``'s module docstring: ``pad`` and ``fold`` (padding and its adjoint, through
per-axis index maps), ``im2col`` and ``col2im`` (the column matrix of a chunk of images and
its scatter-add adjoint), ``unchunk`` and ``rechunk`` (the GEMM's ``(O, B, P)`` layout to and
from ``(B, O, P)``).
"""

from __future__ import annotations

from numba import njit

from ._nrt import borrow
from ._threads import run_chunks

# --- explicit padding and its adjoint ---------------------------------------------------------


def pad(x, md, mh, mw, lo, out):
    """``out[n, c, i, j, k] = x[n, c, md[i], mh[j], mw[k]]``, zero where a map entry is -1.

    The maps encode every padding mode (zeros, reflect, replicate, circular, symmetric); the
    interior of each row (``lo`` = padding before the last axis) is a straight contiguous copy.
    """
    # an element copied costs several multiply-adds' time (a 344k-element copy, LeNet conv1's
    # output gradient on the wide grid as the weight gradient once laid it: 148-230 us as one
    # chunk, 154-167 as two)
    run_chunks(_pad, 2 * out.size, x, md, mh, mw, lo, out)
    return out


@njit(cache=True, nogil=True)
def _pad(part, nparts, x, md, mh, mw, lo, out):
    x, md, mh, mw, lo, out = borrow(x, md, mh, mw, lo, out)
    nb, nc = x.shape[0], x.shape[1]
    wn = x.shape[4]
    dp, hp, wp = out.shape[2], out.shape[3], out.shape[4]
    ntask = nb * nc
    for task in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        n = task // nc
        c = task % nc
        for i in range(dp):
            si = md[i]
            for j in range(hp):
                sj = mh[j]
                dst = out[n, c, i, j]
                if si < 0 or sj < 0:
                    for k in range(wp):
                        dst[k] = 0.0
                    continue
                src = x[n, c, si, sj]
                for k in range(lo):
                    sk = mw[k]
                    dst[k] = src[sk] if sk >= 0 else 0.0
                body = dst[lo : lo + wn]
                for k in range(wn):
                    body[k] = src[k]
                for k in range(lo + wn, wp):
                    sk = mw[k]
                    dst[k] = src[sk] if sk >= 0 else 0.0


def fold(gp, md, mh, mw, lo, out):
    """Adjoint of ``pad``: add every padded position's gradient to its source pixel in ``out``.

    ``out`` must be zeroed. One task per (image, channel) plane, so there are no write races and
    the summation order is fixed.
    """
    run_chunks(_fold, gp.size, gp, md, mh, mw, lo, out)
    return out


@njit(cache=True, nogil=True)
def _fold(part, nparts, gp, md, mh, mw, lo, out):
    gp, md, mh, mw, lo, out = borrow(gp, md, mh, mw, lo, out)
    nb, nc = out.shape[0], out.shape[1]
    wn = out.shape[4]
    dp, hp, wp = gp.shape[2], gp.shape[3], gp.shape[4]
    ntask = nb * nc
    for task in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        n = task // nc
        c = task % nc
        for i in range(dp):
            si = md[i]
            if si < 0:
                continue
            for j in range(hp):
                sj = mh[j]
                if sj < 0:
                    continue
                src = gp[n, c, i, j]
                dst = out[n, c, si, sj]
                for k in range(lo):
                    sk = mw[k]
                    if sk >= 0:
                        dst[sk] += src[k]
                body = src[lo : lo + wn]
                for k in range(wn):
                    dst[k] += body[k]
                for k in range(lo + wn, wp):
                    sk = mw[k]
                    if sk >= 0:
                        dst[sk] += src[k]


# --- im2col / col2im ----------------------------------------------------------------------------


def im2col(xp, b0, ksize, stride, dilation, osize, col):
    """Column matrix of images ``b0 .. b0 + B`` of the padded input ``xp``.

    ``col[(c * KK + t), b * P + p]`` is the input value that kernel tap ``t`` of channel ``c``
    meets at output pixel ``p`` of image ``b0 + b``.
    """
    run_chunks(_im2col, col.size, xp, b0, ksize, stride, dilation, osize, col)
    return col


def im2col_image(xp, n, ksize, stride, dilation, osize, col):
    """``im2col`` of image ``n`` alone, on the calling thread (the image-by-image GEMM passes
    run one image per thread)."""
    _im2col(0, 1, xp, n, ksize, stride, dilation, osize, col)
    return col


@njit(cache=True, nogil=True)
def _im2col(part, nparts, xp, b0, ksize, stride, dilation, osize, col):
    xp, b0, ksize, stride, dilation, osize, col = borrow(
        xp, b0, ksize, stride, dilation, osize, col
    )
    nc = xp.shape[1]
    kd, kh, kw = ksize
    sd, sh, sw = stride
    dd, dh, dw = dilation
    od, oh, ow = osize
    kk = kd * kh * kw
    npix = od * oh * ow
    nimg = col.shape[1] // npix
    ntask = nc * kk * nimg
    lo, hi = part * ntask // nparts, (part + 1) * ntask // nparts
    # tasks (row r = channel and tap, image b), images fastest; a row's channel and tap are
    # split once for all its images (seven integer divisions a task were most of the time of
    # a layer with 7-sample rows: 38 ns a task)
    for r in range(lo // nimg, (hi + nimg - 1) // nimg):
        c = r // kk
        t = r % kk
        a = t // (kh * kw)
        e = (t // kw) % kh
        f = t % kw
        for b in range(max(lo - r * nimg, 0), min(hi - r * nimg, nimg)):
            dst = col[r, b * npix : (b + 1) * npix]
            for i in range(od):
                for j in range(oh):
                    src = xp[b0 + b, c, i * sd + a * dd, j * sh + e * dh]
                    base = (i * oh + j) * ow
                    if sw == 1:
                        seg = src[f * dw : f * dw + ow]
                        row = dst[base : base + ow]
                        for k in range(ow):
                            row[k] = seg[k]
                    else:
                        for k in range(ow):
                            dst[base + k] = src[f * dw + k * sw]


def col2im(col, b0, ksize, stride, dilation, osize, gxp):
    """Adjoint of ``im2col``: scatter-add the column matrix into images ``b0 ..`` of ``gxp``.

    One task per (image, channel), so there are no write races.
    """
    run_chunks(_col2im, col.size, col, b0, ksize, stride, dilation, osize, gxp)
    return gxp


def col2im_image(col, n, ksize, stride, dilation, osize, gxp):
    """``col2im`` of one image's columns into image ``n`` of ``gxp``, on the calling thread."""
    _col2im(0, 1, col, n, ksize, stride, dilation, osize, gxp)
    return gxp


@njit(cache=True, nogil=True)
def _col2im(part, nparts, col, b0, ksize, stride, dilation, osize, gxp):
    col, b0, ksize, stride, dilation, osize, gxp = borrow(
        col, b0, ksize, stride, dilation, osize, gxp
    )
    nc = gxp.shape[1]
    kd, kh, kw = ksize
    sd, sh, sw = stride
    dd, dh, dw = dilation
    od, oh, ow = osize
    kk = kd * kh * kw
    npix = od * oh * ow
    nimg = col.shape[1] // npix
    ntask = nimg * nc
    for task in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        b = task // nc
        c = task % nc
        img = gxp[b0 + b, c]
        # the taps in order, as nested loops: dividing the tap number into its position cost
        # four integer divisions a tap
        t = 0
        for a in range(kd):
            for e in range(kh):
                for f in range(kw):
                    src = col[c * kk + t, b * npix : (b + 1) * npix]
                    t += 1
                    for i in range(od):
                        for j in range(oh):
                            dst = img[i * sd + a * dd, j * sh + e * dh]
                            base = (i * oh + j) * ow
                            if sw == 1:
                                seg = dst[f * dw : f * dw + ow]
                                row = src[base : base + ow]
                                for k in range(ow):
                                    seg[k] += row[k]
                            else:
                                for k in range(ow):
                                    dst[f * dw + k * sw] += src[base + k]


def unchunk(res, b0, bias, y):
    """``y[b0 + b, o, :] = res[o, b * P : (b + 1) * P] + bias[o]`` (GEMM result to NC...)."""
    run_chunks(_unchunk, y.size, res, b0, bias, y)
    return y


@njit(cache=True, nogil=True)
def _unchunk(part, nparts, res, b0, bias, y):
    res, b0, bias, y = borrow(res, b0, bias, y)
    nout = res.shape[0]
    npix = y.shape[2]
    nimg = res.shape[1] // npix
    ntask = nimg * nout
    for task in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        b = task // nout
        o = task % nout
        src = res[o, b * npix : (b + 1) * npix]
        dst = y[b0 + b, o]
        bv = bias[o]
        for p in range(npix):
            dst[p] = src[p] + bv


def rechunk(g, b0, out):
    """``out[o, b * P : (b + 1) * P] = g[b0 + b, o, :]`` (output gradient to GEMM layout)."""
    run_chunks(_rechunk, out.size, g, b0, out)
    return out


@njit(cache=True, nogil=True)
def _rechunk(part, nparts, g, b0, out):
    g, b0, out = borrow(g, b0, out)
    nout = out.shape[0]
    npix = g.shape[2]
    nimg = out.shape[1] // npix
    ntask = nimg * nout
    for task in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        b = task // nout
        o = task % nout
        src = g[b0 + b, o]
        dst = out[o, b * npix : (b + 1) * npix]
        for p in range(npix):
            dst[p] = src[p]

"""Numba CPU kernels for pooling over ``(P, D, H, W)`` planes.

Private: the wrappers in ``sigconv.nn._pool`` validate, make the arrays native and C-contiguous,
and view every input as ``P = N * C`` planes of ``(D, H, W)`` (1-D and 2-D inputs get leading
axes of size 1 with a one-tap, stride-1, unpadded window). Window geometry is an int64 array
``geom`` of shape ``(3, 4)``: one row ``(kernel, stride, padding, dilation)`` per axis ``D, H, W``,
so every kernel keeps one compiled signature per dtype.

Sliding windows are split in two passes (docs/performance.md): the rows of a window are
combined first into a padded row buffer with loops over contiguous rows (sum, or max with
argmax), then each output takes its ``kw`` taps from that buffer. This reads every input row
once per window row instead of once per output, and the row loops vectorise.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._nrt import borrow
from ._threads import run_chunks

# Marks a buffer slot that no input element reached (padding): never chosen as an argmax.
_NO_INDEX = np.iinfo(np.int64).max


@njit(cache=True)
def _row_split(r, od_n, oh_n):
    p = r // (od_n * oh_n)
    rem = r - p * od_n * oh_n
    od = rem // oh_n
    return p, od, rem - od * oh_n


def avg_pool_forward(x, out, geom, rd, rh, rw):
    """``out[p, od, oh, ow] = sum(window) * rd[od] * rh[oh] * rw[ow]`` (zero padding)."""
    run_chunks(_avg_pool_forward, x.size + out.size, x, out, geom, rd, rh, rw)


@njit(cache=True, nogil=True)
def _avg_pool_forward(part, nparts, x, out, geom, rd, rh, rw):
    x, out, geom, rd, rh, rw = borrow(x, out, geom, rd, rh, rw)
    _, D, H, W = x.shape
    P, OD, OH, OW = out.shape
    kd, sd, pd = geom[0, 0], geom[0, 1], geom[0, 2]
    kh, sh, ph = geom[1, 0], geom[1, 1], geom[1, 2]
    kw, sw, pw = geom[2, 0], geom[2, 1], geom[2, 2]
    length = (OW - 1) * sw + kw
    hi = min(W, length - pw)
    nrows = P * OD * OH
    nchunk = min(nrows, 256)
    ntask = nchunk
    for c in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        buf = np.empty(length, dtype=x.dtype)
        for r in range(c * nrows // nchunk, (c + 1) * nrows // nchunk):
            p, od, oh = _row_split(r, OD, OH)
            buf[:] = 0
            bb = buf[pw : pw + hi]
            for a in range(kd):
                i_d = od * sd - pd + a
                if i_d < 0 or i_d >= D:
                    continue
                for b in range(kh):
                    i_h = oh * sh - ph + b
                    if i_h < 0 or i_h >= H:
                        continue
                    row = x[p, i_d, i_h]
                    for w in range(hi):
                        bb[w] += row[w]
            orow = out[p, od, oh]
            scale = rd[od] * rh[oh]
            for ow in range(OW):
                j = ow * sw
                acc = buf[j]
                for t in range(1, kw):
                    acc += buf[j + t]
                orow[ow] = acc * (scale * rw[ow])


def avg_pool_backward(g, gx, geom, rd, rh, rw):
    """Adjoint of :func:`avg_pool_forward`: ``gx`` (zeroed by the caller) accumulates."""
    run_chunks(_avg_pool_backward, g.size + gx.size, g, gx, geom, rd, rh, rw)


@njit(cache=True, nogil=True)
def _avg_pool_backward(part, nparts, g, gx, geom, rd, rh, rw):
    g, gx, geom, rd, rh, rw = borrow(g, gx, geom, rd, rh, rw)
    P, D, H, W = gx.shape
    _, OD, OH, OW = g.shape
    kd, sd, pd = geom[0, 0], geom[0, 1], geom[0, 2]
    kh, sh, ph = geom[1, 0], geom[1, 1], geom[1, 2]
    kw, sw, pw = geom[2, 0], geom[2, 1], geom[2, 2]
    length = (OW - 1) * sw + kw
    hi = min(W, length - pw)
    # Overlapping windows write the same input rows, so threads own whole planes (no races).
    ntask = P
    for p in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        buf = np.empty(length, dtype=gx.dtype)
        bb = buf[pw : pw + hi]
        for od in range(OD):
            for oh in range(OH):
                buf[:] = 0
                grow = g[p, od, oh]
                scale = rd[od] * rh[oh]
                for ow in range(OW):
                    v = grow[ow] * (scale * rw[ow])
                    j = ow * sw
                    for t in range(kw):
                        buf[j + t] += v
                for a in range(kd):
                    i_d = od * sd - pd + a
                    if i_d < 0 or i_d >= D:
                        continue
                    for b in range(kh):
                        i_h = oh * sh - ph + b
                        if i_h < 0 or i_h >= H:
                            continue
                        xrow = gx[p, i_d, i_h]
                        for w in range(hi):
                            xrow[w] += bb[w]


@njit(cache=True)
def _nan_window(bv, bi, j, kw, dw):
    """PyTorch's rule on one buffered window holding a NaN: the NaN with the largest index."""
    m = bv[j]
    mi = bi[j]
    for t in range(1, kw):
        v = bv[j + t * dw]
        i = bi[j + t * dw]
        if v != v and (m == m or i > mi):
            m = v
            mi = i
    return m, mi


def max_pool_forward(x, out, idx, geom):
    """Max over each dilated window (padding is -inf) and its flat index in the plane.

    Ties go to the smallest flat index and NaN wins with the largest flat index among NaNs,
    which is PyTorch's scan-order rule ``val > max or isnan(val)``.
    """
    # work in multiply-add units (run_chunks): a window element costs a compare, a select and
    # an index store, about 16 multiply-adds' time (LeNet's first pooling, 376k elements,
    # ran on one thread at 0.8 ms per step before)
    work = 16 * (x.size + out.size)
    _, _, H, W = x.shape
    _, _, OH, OW = out.shape
    g = geom.tolist()
    if g == [[1, 1, 0, 1], [2, 2, 0, 1], [2, 2, 0, 1]] and 2 * OH <= H and 2 * OW <= W:
        run_chunks(_max_pool_2x2, work, x, out, idx)
        return
    kw = g[2][0]
    if g[:2] == [[1, 1, 0, 1]] * 2 and g[2][1:] == [kw, 0, 1] and kw * OW <= W:
        run_chunks(_max_pool_rows, work, x, out, idx, kw)
        return
    run_chunks(_max_pool_forward, work, x, out, idx, geom)


@njit(cache=True, nogil=True)
def _max_pool_rows(part, nparts, x, out, idx, kw):
    """:func:`_max_pool_forward` for windows along the rows only, ``kw`` taps with stride
    ``kw`` and no padding or dilation (1-D networks' pooling): the taps in scan order per
    output, with the same rule.

    Windows of 2, 3 and 4 taps are written out with selects (``_take``), so LLVM vectorises
    the outputs with strided loads and no branch: on the audio network's poolings (k 4; 32 x
    16 x 500, 32 x 32 x 125, 32 x 64 x 31) 5.3x, 3.5x and 1.6x faster on one core than a loop
    over the taps with a branch per tap (a random maximum mispredicts about half of them);
    with selects in a loop over the taps LLVM kept it scalar. Rows are slices of the flat
    arrays: a flat index may be negative to Numba, and its wraparound test kept the loop
    scalar."""
    x, out, idx = borrow(x, out, idx)
    P, D, H, W = x.shape
    OW = out.shape[3]
    plane = D * H
    xf = x.reshape(x.size)
    of = out.reshape(out.size)
    jf = idx.reshape(idx.size)
    nrows = P * plane
    # tap numbers as int64 variables: literal ones would type ``_take`` once per value
    zero, one, two, three = np.int64(0), np.int64(1), np.int64(2), np.int64(3)
    for r in range(part * nrows // nparts, (part + 1) * nrows // nparts):
        row = xf[r * W : (r + 1) * W]
        orow = of[r * OW : (r + 1) * OW]
        irow = jf[r * OW : (r + 1) * OW]
        base = (r % plane) * W
        if kw == 2:
            for o in range(OW):
                m, mi = _take(row[2 * o + 1], one, row[2 * o], zero)
                orow[o] = m
                irow[o] = base + 2 * o + mi
        elif kw == 3:
            for o in range(OW):
                m, mi = _take(row[3 * o + 1], one, row[3 * o], zero)
                m, mi = _take(row[3 * o + 2], two, m, mi)
                orow[o] = m
                irow[o] = base + 3 * o + mi
        elif kw == 4:
            for o in range(OW):
                m, mi = _take(row[4 * o + 1], one, row[4 * o], zero)
                m, mi = _take(row[4 * o + 2], two, m, mi)
                m, mi = _take(row[4 * o + 3], three, m, mi)
                orow[o] = m
                irow[o] = base + 4 * o + mi
        else:
            for o in range(OW):
                m, mi = row[kw * o], zero
                for t in range(1, kw):
                    m, mi = _take(row[kw * o + t], t, m, mi)
                orow[o] = m
                irow[o] = base + kw * o + mi


@njit(cache=True, nogil=True)
def _take(v, t, m, mi):
    """The running maximum ``(m, mi)`` after tap ``t`` of value ``v``: a later tap wins when
    it is larger or NaN (the scan-order rule), as selects."""
    take = (v > m) | (v != v)
    return (v if take else m), (t if take else mi)


@njit(cache=True, nogil=True)
def _max_pool_2x2(part, nparts, x, out, idx):
    """:func:`_max_pool_forward` for 2-D 2x2 windows with stride 2, no padding or dilation
    (LeNet's and most CNNs' pooling): the four taps in scan order per output, with the same
    rule. Its per-row buffer costs the general kernel more than the taps here: LeNet's two
    poolings took 0.57 and 0.30 ms on one thread, 0.25 and 0.09 ms here."""
    x, out, idx = borrow(x, out, idx)
    P = x.shape[0]
    W = x.shape[3]
    OH = out.shape[2]
    OW = out.shape[3]
    for p in range(part * P // nparts, (part + 1) * P // nparts):
        for oh in range(OH):
            r0 = x[p, 0, 2 * oh]
            r1 = x[p, 0, 2 * oh + 1]
            orow = out[p, 0, oh]
            irow = idx[p, 0, oh]
            b0 = 2 * oh * W
            b1 = b0 + W
            for j in range(OW):
                m = r0[2 * j]
                mi = b0 + 2 * j
                v = r0[2 * j + 1]
                if v > m or v != v:
                    m = v
                    mi = b0 + 2 * j + 1
                v = r1[2 * j]
                if v > m or v != v:
                    m = v
                    mi = b1 + 2 * j
                v = r1[2 * j + 1]
                if v > m or v != v:
                    m = v
                    mi = b1 + 2 * j + 1
                orow[j] = m
                irow[j] = mi


@njit(cache=True, nogil=True)
def _max_pool_forward(part, nparts, x, out, idx, geom):
    x, out, idx, geom = borrow(x, out, idx, geom)
    _, D, H, W = x.shape
    P, OD, OH, OW = out.shape
    kd, sd, pd, dd = geom[0, 0], geom[0, 1], geom[0, 2], geom[0, 3]
    kh, sh, ph, dh = geom[1, 0], geom[1, 1], geom[1, 2], geom[1, 3]
    kw, sw, pw, dw = geom[2, 0], geom[2, 1], geom[2, 2], geom[2, 3]
    length = (OW - 1) * sw + (kw - 1) * dw + 1
    hi = min(W, length - pw)
    nrows = P * OD * OH
    nchunk = min(nrows, 256)
    ntask = nchunk
    for c in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        bv = np.empty(length, dtype=x.dtype)
        bi = np.empty(length, dtype=np.int64)
        for r in range(c * nrows // nchunk, (c + 1) * nrows // nchunk):
            p, od, oh = _row_split(r, OD, OH)
            bv[:] = -np.inf
            bi[:] = _NO_INDEX
            vv = bv[pw : pw + hi]
            ii = bi[pw : pw + hi]
            first = True
            for a in range(kd):
                i_d = od * sd - pd + a * dd
                if i_d < 0 or i_d >= D:
                    continue
                for b in range(kh):
                    i_h = oh * sh - ph + b * dh
                    if i_h < 0 or i_h >= H:
                        continue
                    row = x[p, i_d, i_h]
                    base = (i_d * H + i_h) * W
                    if first:
                        for w in range(hi):
                            vv[w] = row[w]
                            ii[w] = base + w
                        first = False
                    else:
                        # Branch-free selects: random data would mispredict a branch half
                        # the time, and selects let LLVM vectorise the loop.
                        for w in range(hi):
                            v = row[w]
                            c = vv[w]
                            take = (v > c) | (v != v)
                            vv[w] = v if take else c
                            ii[w] = base + w if take else ii[w]
            orow = out[p, od, oh]
            irow = idx[p, od, oh]
            for ow in range(OW):
                # Data-dependent branches mispredict on random data and cost more than all
                # the arithmetic here, so the max and its first index use max/min and 0/1
                # arithmetic; only windows holding a NaN take the branching path.
                j = ow * sw
                m = bv[j]
                nan = m != m
                for t in range(1, kw):
                    v = bv[j + t * dw]
                    m = max(m, v)
                    nan |= v != v
                if nan:
                    m, mi = _nan_window(bv, bi, j, kw, dw)
                else:
                    mi = _NO_INDEX
                    for t in range(kw):
                        jj = j + t * dw
                        eq = np.int64(bv[jj] == m)  # padding slots carry _NO_INDEX either way
                        mi = min(mi, eq * bi[jj] + (1 - eq) * _NO_INDEX)
                orow[ow] = m
                irow[ow] = mi


def scatter_add(g, idx, gx):
    """``gx[p, idx[p, j]] += g[p, j]`` on ``(P, n)`` views; threads own planes (no races)."""
    run_chunks(_scatter_add, g.size + idx.size, g, idx, gx)


@njit(cache=True, nogil=True)
def _scatter_add(part, nparts, g, idx, gx):
    g, idx, gx = borrow(g, idx, gx)
    P, n = g.shape
    ntask = P
    for p in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        grow = g[p]
        irow = idx[p]
        xrow = gx[p]
        for j in range(n):
            xrow[irow[j]] += grow[j]


def stochastic_train_forward(x, u, out, idx, geom):
    """Sample one element per (unpadded) window with probability ``x_i / sum(window)``.

    ``u`` holds one uniform draw in ``[0, 1)`` per output. An all-zero window picks its element
    ``floor(u * window size)`` in scan order (uniform), whose value is 0.
    """
    run_chunks(_stochastic_train_forward, x.size + u.size, x, u, out, idx, geom)


@njit(cache=True, nogil=True)
def _stochastic_train_forward(part, nparts, x, u, out, idx, geom):
    x, u, out, idx, geom = borrow(x, u, out, idx, geom)
    _, D, H, W = x.shape
    P, OD, OH, OW = out.shape
    kd, sd = geom[0, 0], geom[0, 1]
    kh, sh = geom[1, 0], geom[1, 1]
    kw, sw = geom[2, 0], geom[2, 1]
    ksize = kd * kh * kw
    ntask = P
    for p in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        xp = x[p]
        for od in range(OD):
            for oh in range(OH):
                for ow in range(OW):
                    d0 = od * sd
                    h0 = oh * sh
                    w0 = ow * sw
                    total = 0.0
                    for a in range(kd):
                        for b in range(kh):
                            row = xp[d0 + a, h0 + b]
                            for t in range(kw):
                                total += row[w0 + t]
                    uu = u[p, od, oh, ow]
                    chosen = -1
                    if total > 0.0:
                        thr = uu * total
                        cum = 0.0
                        last = -1
                        for a in range(kd):
                            for b in range(kh):
                                row = xp[d0 + a, h0 + b]
                                for t in range(kw):
                                    v = row[w0 + t]
                                    if v > 0.0 and chosen < 0:
                                        last = ((d0 + a) * H + h0 + b) * W + w0 + t
                                        cum += v
                                        if cum > thr:
                                            chosen = last
                        if chosen < 0:  # rounding left thr at the very top: the last positive
                            chosen = last
                    else:
                        k = min(int(uu * ksize), ksize - 1)
                        t = k % kw
                        b = (k // kw) % kh
                        a = k // (kw * kh)
                        chosen = ((d0 + a) * H + h0 + b) * W + w0 + t
                    c_w = chosen % W
                    c_h = (chosen // W) % H
                    c_d = chosen // (W * H)
                    out[p, od, oh, ow] = xp[c_d, c_h, c_w]
                    idx[p, od, oh, ow] = chosen


def stochastic_infer_forward(x, out, geom):
    """Probability-weighted average ``sum(x_i^2) / sum(x_i)`` per window (0 if the sum is 0)."""
    run_chunks(_stochastic_infer_forward, x.size + out.size, x, out, geom)


@njit(cache=True, nogil=True)
def _stochastic_infer_forward(part, nparts, x, out, geom):
    x, out, geom = borrow(x, out, geom)
    P, OD, OH, OW = out.shape
    kd, sd = geom[0, 0], geom[0, 1]
    kh, sh = geom[1, 0], geom[1, 1]
    kw, sw = geom[2, 0], geom[2, 1]
    ntask = P
    for p in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        xp = x[p]
        for od in range(OD):
            for oh in range(OH):
                for ow in range(OW):
                    s1 = 0.0
                    s2 = 0.0
                    for a in range(kd):
                        for b in range(kh):
                            row = xp[od * sd + a, oh * sh + b]
                            for t in range(kw):
                                v = row[ow * sw + t]
                                s1 += v
                                s2 += v * v
                    out[p, od, oh, ow] = s2 / s1 if s1 > 0.0 else 0.0


def stochastic_infer_backward(g, x, gx, geom):
    """Adjoint of the inference forward: ``d y / d x_j = (2 x_j s1 - s2) / s1^2``."""
    run_chunks(_stochastic_infer_backward, g.size + x.size, g, x, gx, geom)


@njit(cache=True, nogil=True)
def _stochastic_infer_backward(part, nparts, g, x, gx, geom):
    g, x, gx, geom = borrow(g, x, gx, geom)
    P, OD, OH, OW = g.shape
    kd, sd = geom[0, 0], geom[0, 1]
    kh, sh = geom[1, 0], geom[1, 1]
    kw, sw = geom[2, 0], geom[2, 1]
    ntask = P
    for p in range(part * ntask // nparts, (part + 1) * ntask // nparts):
        xp = x[p]
        gp = gx[p]
        for od in range(OD):
            for oh in range(OH):
                for ow in range(OW):
                    s1 = 0.0
                    s2 = 0.0
                    for a in range(kd):
                        for b in range(kh):
                            row = xp[od * sd + a, oh * sh + b]
                            for t in range(kw):
                                v = row[ow * sw + t]
                                s1 += v
                                s2 += v * v
                    if s1 <= 0.0:
                        continue
                    gv = g[p, od, oh, ow]
                    c1 = 2.0 * gv / s1
                    c0 = gv * s2 / (s1 * s1)
                    for a in range(kd):
                        for b in range(kh):
                            row = xp[od * sd + a, oh * sh + b]
                            grow = gp[od * sd + a, oh * sh + b]
                            for t in range(kw):
                                grow[ow * sw + t] += c1 * row[ow * sw + t] - c0


def plane_means(x, out):
    """``out[p] = mean(x[p])`` on ``(P, n)`` and ``(P,)`` arrays, summed in float64 (global
    average pooling; NumPy's ``mean(dtype=float64)`` over short planes took 55 us for the
    audio network's 2,048 planes of 7)."""
    run_chunks(_plane_means, x.size, x, out)


# reassociation lets LLVM sum in vectors of float64 partial sums: one running sum was bound by
# the addition's latency (0.15 ms for a 32 x 64 x 8 x 8 batch)
@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _plane_means(part, nparts, x, out):
    x, out = borrow(x, out)
    P, n = x.shape
    for p in range(part * P // nparts, (part + 1) * P // nparts):
        row = x[p]
        s = 0.0
        for j in range(n):
            s += np.float64(row[j])
        out[p] = s / n


def plane_fill(g, scale, gx):
    """``gx[p, :] = g[p] * scale`` on ``(P,)`` and ``(P, n)`` arrays (global average pooling's
    gradient, in ``gx``'s dtype)."""
    run_chunks(_plane_fill, gx.size, g, scale, gx)


@njit(cache=True, nogil=True)
def _plane_fill(part, nparts, g, scale, gx):
    g, gx = borrow(g, gx)
    P, n = gx.shape
    for p in range(part * P // nparts, (part + 1) * P // nparts):
        row = gx[p]
        v = g[p] * scale
        for j in range(n):
            row[j] = v

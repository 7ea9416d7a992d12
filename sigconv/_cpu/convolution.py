"""The CPU backend of the CNN convolution: ``conv``, ``conv_backward``, ``conv_transpose`` (each
``(plan, arrays)``) over the host drivers ``forward``, ``grad_weight`` and ``grad_input_padded``.

Every array here is canonical: 3 spatial axes (1-D and 2-D problems get leading singleton
axes), native-endian, C-contiguous, float32 or float64, already validated. The input has been
padded explicitly (``pad``), so every operation is a *valid* strided, dilated correlation.

Two ways to compute the same correlation, picked per pass and shape by ``use_direct``:

* **im2col + GEMM.** ``im2col`` writes, for a chunk of images, the column matrix
  ``(C * KK, B * P)`` (row = input channel and kernel tap, column = image and output pixel; every
  row is filled from contiguous input rows), and numpy's ``matmul`` (OpenBLAS sgemm) does the
  arithmetic: forward ``W @ col``, weight gradient ``grad_out @ col.T`` and input gradient
  ``W.T @ grad_out`` followed by ``col2im`` (the scatter-add adjoint of ``im2col``). Groups are
  a batched matmul over a ``(groups, ...)`` view. Chunks of images keep the column matrix within
  ``_config.NN_CONV_COL_BYTES`` so it stays in cache and memory use is bounded.
* **Direct** (``direct_corr_wide``, ``direct_corr_batch_last``, ``direct_grad_weight_wide``):
  for few channels the column matrix costs more memory traffic than the arithmetic it feeds,
  so blocked kernels work straight from the padded input. Their inner loops (``_taps4``) run
  over a contiguous block of outputs, four output channels and three taps per loop, so the
  twelve weights stay in registers and every accumulator load/store feeds three FMAs. Two
  layouts make the taps contiguous:

  - the "wide" flattened grid: with unit strides, output pixel ``q`` (flattened with the
    *padded* input's row lengths) reads input ``q + offset[tap]``; the wide positions that are
    not real outputs are never copied out or, for the weight gradient, carry a zero
    output gradient. Only each output plane's span is computed.
  - batch-last (``batch_last`` picks it when the wide grid would waste over 20%, i.e. small
    images): input ``(C, D, H, W, N)``, output ``(O, OD, OH, OW, N)``; an output row and the
    input row of each tap are contiguous, so nothing is wasted, at the price of transposing in
    (``pad_batch_last``, which also pads) and out (``unbatch_last``). It skips a zero frame.

  - output channels in the vectors (``conv_outvec``, forward pass only): for 8 or more output
    channels, the vectors run along the output channels and every input value is broadcast
    from the input's own layout, so the input needs no transposing and small images waste no
    lanes on their row ends; ``conv_outvec.suits`` picks it before the two above.
  - few output channels (``conv_fewout``): six output channels by four vectors of the
    innermost axis in registers, in either layout (``corr_from_frame`` picks it within the
    layout ``batch_last`` chose; batch-last, it skips the input gradient's zero frame).

The weight gradient with whole blocks of 16, 32 or 64 float32 (8, 16 or 32 float64) output
channels has a direct kernel of its own, with the output channels in the vectors
(``conv_wgrad.direct_grad_weight_outvec``), for small images and for large ones with enough
taps (and, for blocks of 16 or 32, few input channels): ``conv_wgrad.suits_outvec``.

The backward passes reuse these: the input gradient is a forward correlation of the
zero-framed output gradient with the flipped, channel-transposed weight (``corr_from_frame``;
with zero padding only the unpadded window is computed), or ``W.T @ grad_out`` + ``col2im``;
the weight gradient is a correlation of the input with the output gradient (per-tap dot
products, or ``grad_out @ col.T``). ``use_direct`` and the thresholds in ``_config`` pick per
pass and shape; where Numba compiles for AVX-512 the direct forward pass and input gradient
of large images take up to 64 channels (``_max_channels``).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .. import _config, _scratch
from . import _blas, activation, conv_fft, conv_outvec
from ._simd import avx512, lanes_for
from ._threads import run_chunks
from .conv_direct import batch_last, corr_from_frame, to_batch_last, wide_count
from .conv_im2col import (
    col2im,
    col2im_image,
    fold,
    im2col,
    im2col_image,
    pad,
    rechunk,
    unchunk,
)
from .conv_phase import direct_grad_weight_phases, phases_help, split_phases, suits_phases
from .conv_wgrad import (
    direct_grad_weight_batch_last,
    direct_grad_weight_outvec,
    direct_grad_weight_wide,
    grad_bias,
    suits_outvec,
)

# --- host drivers ---------------------------------------------------------------------------------


def _chunk(n: int, per_image: int) -> int:
    """Images per im2col chunk so the column matrix stays within the configured budget."""
    return max(1, min(n, _config.NN_CONV_COL_BYTES // max(per_image, 1)))


def use_direct(channels: int, limit: int, stride, nq_wide: int, npix: int, nb: int = 1) -> bool:
    """Whether the direct kernel should compute a correlation instead of im2col + GEMM.

    The direct kernel needs unit strides and, on the wide grid, pays for its extra positions
    (``nq_wide / npix``; the batch-last layout has none, see ``batch_last``); it wins when few
    channels are summed over (``channels <= limit``), where the GEMM is small and im2col's
    memory traffic dominates (thresholds: ``_config``).
    """
    if any(s != 1 for s in stride):
        return False
    return channels <= limit and (nq_wide <= 1.5 * npix or batch_last(nb, nq_wide, npix))


def _max_channels(npix: int, *, grad: bool) -> int:
    """The most channels summed over for which the forward pass (or the input gradient) of
    ``npix`` output pixels an image takes the direct kernel: ``_config``'s limits, higher for
    large images where Numba compiles for AVX-512."""
    c = _config
    if avx512() and npix >= c.NN_CONV_DIRECT_AVX512_MIN_PIXELS:
        fwd, grd = c.NN_CONV_DIRECT_MAX_CHANNELS_AVX512, c.NN_CONV_DIRECT_MAX_CHANNELS_GRAD_AVX512
    else:
        fwd, grd = c.NN_CONV_DIRECT_MAX_CHANNELS, c.NN_CONV_DIRECT_MAX_CHANNELS_GRAD
    return grd if grad else fwd


def _window(a, start, shape):
    """Contiguous copy of ``a[:, :, start[0] : start[0] + shape[0], ...]`` (a result)."""
    sl = tuple(slice(b, b + n) for b, n in zip(start, shape))
    return _scratch.result_copy(a[(slice(None), slice(None)) + sl])


def _whole_window(pspatial, ksize, osize) -> bool:
    """Whether the kernel covers the whole padded input (one output per image: a fully
    connected layer in convolution form, like LeNet-5's conv3 or a network's final layer).

    Every pass is then one GEMM per group on the images as rows, with no column matrix: for
    LeNet-5's conv3 (16 -> 120 channels, 5x5 on 5x5, batch 64) im2col alone took 0.5 ms a
    call (25,600 one-element tasks), 13% of a training step.
    """
    return tuple(osize) == (1, 1, 1) and tuple(pspatial) == tuple(ksize)


def _rows(a, groups):
    """``(N, C, *spatial)`` as ``(groups, N, C / groups * prod(spatial))`` (a view)."""
    return a.reshape(a.shape[0], groups, -1).transpose(1, 0, 2)


def _image_by_image(nb: int, col_bytes: int, work: int) -> bool:
    """Whether the GEMM passes run one image at a time on each thread (``_config``'s
    ``NN_CONV_IMAGE_COL_BYTES`` and ``NN_CONV_IMAGE_MIN_WORK``): enough images for every
    thread, one image's column matrix small enough to stay in cache between im2col and the
    GEMM, and a GEMM per image (``work`` multiply-adds) big enough to pay for its calls."""
    import numba

    return (
        nb >= numba.get_num_threads()
        and col_bytes <= _config.NN_CONV_IMAGE_COL_BYTES
        and work >= _config.NN_CONV_IMAGE_MIN_WORK
    )


def _image_col(shape, dtype):
    # the calling thread's own column matrix, reused from call to call
    return _scratch.take("nn-conv-col", shape, dtype)


def _forward_images(chunk, nchunk, xp, w3, bias, ksize, stride, dilation, osize, y):
    """Images ``chunk``-th of ``nchunk`` of :func:`forward`'s GEMM path: im2col of one image,
    ``W @ col`` into its output, plus the bias (``y``: ``(N, O, P)``)."""
    nb = xp.shape[0]
    groups, og, cgk = w3.shape
    npix = y.shape[2]
    col = _image_col((groups * cgk, npix), xp.dtype)
    for n in range(chunk * nb // nchunk, (chunk + 1) * nb // nchunk):
        im2col_image(xp, n, ksize, stride, dilation, osize, col)
        np.matmul(w3, col.reshape(groups, cgk, npix), out=y[n].reshape(groups, og, npix))
        y[n] += bias[:, None]


def _grad_weight_images(chunk, nchunk, g, xp, ksize, stride, dilation, osize, parts):
    """Images ``chunk``-th of ``nchunk`` of :func:`grad_weight`'s GEMM path, summed into
    ``parts[chunk]`` (``(G, C/G * taps, O/G)``, the weight gradient transposed):
    ``col[n] @ grad_out[n].T``. OpenBLAS ran this product at 32 GMAC/s on one core of the
    AVX-512 vCPU, against 20-26 for ``grad_out[n] @ col[n].T`` (W5c: 64 x 3136 x 576)."""
    nb = xp.shape[0]
    groups, cgk, og = parts.shape[1:]
    npix = g.shape[2]
    col = _image_col((groups * cgk, npix), xp.dtype)
    prod = np.empty(parts.shape[1:], dtype=parts.dtype)
    for n in range(chunk * nb // nchunk, (chunk + 1) * nb // nchunk):
        im2col_image(xp, n, ksize, stride, dilation, osize, col)
        gn = g[n].reshape(groups, og, npix).transpose(0, 2, 1)
        np.matmul(col.reshape(groups, cgk, npix), gn, out=prod)
        parts[chunk] += prod


def _grad_input_images(chunk, nchunk, g, w3t, ksize, stride, dilation, osize, gxp):
    """Images ``chunk``-th of ``nchunk`` of :func:`grad_input_padded`'s GEMM path:
    ``W.T @ grad_out[n]``, scattered back by col2im into the image's zeroed gradient."""
    nb = g.shape[0]
    groups, cgk, og = w3t.shape
    npix = g.shape[2]
    col = _image_col((groups * cgk, npix), g.dtype)
    for n in range(chunk * nb // nchunk, (chunk + 1) * nb // nchunk):
        np.matmul(w3t, g[n].reshape(groups, og, npix), out=col.reshape(groups, cgk, npix))
        col2im_image(col, n, ksize, stride, dilation, osize, gxp)


def forward_route(xp_shape, w_shape, stride, dilation, groups, osize, method="auto"):
    """Which way :func:`forward` computes a problem of these shapes: ``'whole'`` (one GEMM,
    the kernel covers the input), ``'phases'`` (split into stride phases first), ``'outvec'``
    (``conv_outvec``), ``'direct'`` (``corr_from_frame``) or ``'gemm'`` (im2col + GEMM).

    Shapes alone decide, so the CPU backend keeps the answer with the plan (``conv``): the
    decisions took 4 of the 30 us that LeNet conv2's forward pass spent in Python.
    """
    nb = xp_shape[0]
    cg = w_shape[1]
    ksize = tuple(w_shape[2:])
    npix = math.prod(osize)
    if method == "auto" and _whole_window(xp_shape[2:], ksize, osize):
        return "whole"
    if method == "auto" and phases_help(xp_shape, w_shape, stride, dilation, groups):
        return "phases"
    nq = wide_count(xp_shape[2:], osize)
    small = batch_last(nb, nq, npix)
    outvec = conv_outvec.suits(
        xp_shape[2:], w_shape, stride, dilation, groups, osize, few_steps=small
    )
    if method in ("auto", "direct") and outvec:
        return "outvec"
    if method == "auto":
        direct = use_direct(cg, _max_channels(npix, grad=False), stride, nq, npix, nb)
    else:
        direct = method == "direct"
    return "direct" if direct else "gemm"


def forward(xp, w, bias, stride, dilation, groups, osize, method="auto", route=None, relu=False):
    """Valid correlation of the padded canonical input: ``(N, O, OD, OH, OW)``; ``route`` is
    :func:`forward_route`'s answer for these shapes and ``method`` (worked out when None);
    ``relu``: ``max(., 0)`` of it (:func:`conv`)."""
    nb, nc = xp.shape[0], xp.shape[1]
    nout, cg = w.shape[0], w.shape[1]
    ksize = w.shape[2:]
    kk = math.prod(ksize)
    npix = math.prod(osize)
    dtype = xp.dtype
    if route is None:
        route = forward_route(xp.shape, w.shape, stride, dilation, groups, osize, method)
    if route == "whole":
        wg = w.reshape(groups, nout // groups, -1)
        y = np.matmul(_rows(xp, groups), wg.transpose(0, 2, 1))  # (G, N, O/G)
        y = np.ascontiguousarray(y.transpose(1, 0, 2)).reshape((nb, nout) + tuple(osize))
        if bias is not None:
            y += bias.reshape(nout, 1, 1, 1)
        return _relu_after(y, relu)
    if route == "phases":
        xq, wq = split_phases(xp, w, int(stride[2]), int(osize[2]))
        return forward(xq, wq, bias, (1, 1, 1), (1, 1, 1), 1, osize, relu=relu)
    if bias is None:
        bias = np.zeros(nout, dtype=dtype)
    # Read-only arrays are a distinct Numba type: copying the small operands keeps the
    # signatures to (dtype) x (input read-only or not).
    w = w if w.flags.writeable else w.copy()
    bias = bias if bias.flags.writeable else bias.copy()
    y = _scratch.new_result((nb, nout) + tuple(osize), dtype)
    if route == "outvec":
        return conv_outvec.direct_corr_outvec(xp, w, bias, dilation, y, relu=relu)
    if route == "direct":
        return _relu_after(corr_from_frame(xp, None, None, w, bias, dilation, y), relu)
    og = nout // groups
    w3 = w.reshape(groups, og, cg * kk)
    yf = y.reshape(nb, nout, npix)
    if _image_by_image(nb, nc * kk * npix * dtype.itemsize, nout * cg * kk * npix):
        with _blas.one_pool():
            args = (xp, w3, bias, tuple(ksize), tuple(stride), tuple(dilation), tuple(osize), yf)
            run_chunks(_forward_images, nout * nc * kk * npix * nb, *args)
        return _relu_after(y, relu)
    bimg = _chunk(nb, nc * kk * npix * dtype.itemsize)
    col = np.empty((nc * kk, bimg * npix), dtype=dtype)
    res = np.empty((nout, bimg * npix), dtype=dtype)
    for b0 in range(0, nb, bimg):
        m = min(bimg, nb - b0)
        c = col[:, : m * npix]
        im2col(xp, b0, ksize, stride, dilation, osize, c)
        r = res[:, : m * npix]
        _blas.matmul(w3, c.reshape(groups, cg * kk, m * npix), r.reshape(groups, og, m * npix))
        unchunk(r, b0, bias, yf)
    return _relu_after(y, relu)


def grad_weight(g, xp, wshape, stride, dilation, groups, osize, method="auto"):
    """Weight gradient, shape ``wshape``.

    Either ``sum_n grad_out[n] @ col[n].T`` per group (im2col + GEMM) or, with unit strides,
    a direct kernel (``conv_wgrad``): one dot product per (output channel, input channel, tap)
    between the output gradient laid on the wide grid (or batch-last) and the shifted padded
    input, or, for small images with whole blocks of 64 output channels, the sums with the
    output channels in the vectors.
    """
    nb, nc = xp.shape[0], xp.shape[1]
    nout, cg = wshape[0], wshape[1]
    ksize = tuple(wshape[2:])
    kk = math.prod(ksize)
    npix = math.prod(osize)
    dtype = xp.dtype
    og = nout // groups
    if method == "auto" and _whole_window(xp.shape[2:], ksize, osize):
        gm = g.reshape(nb, groups, og).transpose(1, 2, 0)  # (G, O/G, N)
        return np.matmul(gm, _rows(xp, groups)).reshape(wshape)
    if method in ("auto", "direct") and suits_outvec(
        nout, groups, stride, dtype.itemsize, npix, cg, cg * kk
    ):
        # (O, C * taps), C-ordered: a transposed view would send Adam's update to NumPy's
        # slow path
        return direct_grad_weight_outvec(xp, g, ksize, tuple(dilation)).reshape(wshape)
    if method in ("auto", "direct") and suits_phases(
        xp.shape, wshape, stride, dilation, groups, osize
    ):
        return direct_grad_weight_phases(xp, g, ksize[2], int(stride[2])).reshape(wshape)
    nq = wide_count(xp.shape[2:], osize)
    if method == "auto":
        direct = use_direct(cg, _config.NN_CONV_DIRECT_MAX_CHANNELS_WGRAD, stride, nq, npix) and (
            cg <= _config.NN_CONV_DIRECT_WGRAD_FEW_CHANNELS
            or npix >= _config.NN_CONV_DIRECT_WGRAD_MIN_PIXELS
        )
    else:
        direct = method == "direct"
    if direct and batch_last(nb, nq, npix):
        gw = np.empty((nout, cg, kk), dtype=np.float64)
        direct_grad_weight_batch_last(
            to_batch_last(xp, "nn-conv-bl-x"),
            to_batch_last(g, "nn-conv-bl-g"),
            ksize,
            tuple(dilation),
            gw,
        )
        return gw.astype(dtype).reshape(wshape)
    if direct:
        # split the batch so that both threads have work when channels are few
        nsplit = max(1, min(nb, _config.NN_CONV_WGRAD_SPLIT))
        part = np.empty((nsplit, nout, cg, kk), dtype=np.float64)
        direct_grad_weight_wide(
            xp,
            g,
            nq,
            ksize,
            tuple(dilation),
            dtype.type(0),
            _config.NN_CONV_DIRECT_BLOCK,
            nsplit,
            part,
        )
        return part.sum(axis=0).astype(dtype).reshape(wshape)
    gf = g.reshape(nb, nout, npix)
    if _image_by_image(nb, nc * kk * npix * dtype.itemsize, nout * cg * kk * npix):
        import numba

        nparts = _config.CPU_CHUNKS_PER_THREAD * numba.get_num_threads()  # run_chunks' most
        parts = np.zeros((nparts, groups, cg * kk, og), dtype=dtype)
        with _blas.one_pool():
            args = (tuple(ksize), tuple(stride), tuple(dilation), tuple(osize), parts)
            run_chunks(_grad_weight_images, nout * nc * kk * npix * nb, gf, xp, *args)
        return np.ascontiguousarray(parts.sum(axis=0).transpose(0, 2, 1)).reshape(wshape)
    bimg = _chunk(nb, (nc * kk + nout) * npix * dtype.itemsize)
    col = np.empty((nc * kk, bimg * npix), dtype=dtype)
    gt = np.empty((nout, bimg * npix), dtype=dtype)
    gw = np.zeros((groups, og, cg * kk), dtype=dtype)
    part = np.empty_like(gw) if nb > bimg else gw
    for b0 in range(0, nb, bimg):
        m = min(bimg, nb - b0)
        c = col[:, : m * npix]
        im2col(xp, b0, ksize, stride, dilation, osize, c)
        t = gt[:, : m * npix]
        rechunk(gf, b0, t)
        _blas.matmul(
            t.reshape(groups, og, m * npix),
            c.reshape(groups, cg * kk, m * npix).transpose(0, 2, 1),
            part,
        )
        if part is not gw:
            gw += part
    return gw.reshape(wshape)


@functools.lru_cache(maxsize=64)
def _frame_maps(osize, ext, start, target):
    """``pad``'s maps of the input gradient's frame: the output gradient in zeros (cached:
    building them took a tenth of LeNet conv2's input gradient; never written to)."""
    maps = []
    for o, e, s0, n in zip(osize, ext, start, target):
        # Full correlation: padded position i reads the output gradient at i - e .. i, so
        # window position j reads frame positions j .. j + e with frame[j] = g[j + s0 - e]
        # (zero outside g; the frame can reach past g when a strided conv left input rows
        # unread).
        src = np.arange(n + e, dtype=np.int64) + (s0 - e)
        maps.append(np.where((src >= 0) & (src < o), src, -1))
    return tuple(maps)


def grad_input_padded(g, w, pshape, stride, dilation, groups, osize, method="auto", window=None):
    """Gradient with respect to the *padded* input (shape ``pshape``), or a window of it.

    Either GEMM + ``col2im``, or (unit strides) the direct kernel: the full correlation of the
    output gradient with the flipped, channel-transposed weight, which is a forward correlation
    whose reduction runs over output channels and taps.

    ``window = (start, shape)`` (3-tuples) asks only for the padded positions
    ``start .. start + shape`` in every spatial axis: with zero padding that is the unpadded
    input's gradient, which the direct kernel then computes without the border (fewer outputs,
    no cropping copy); the GEMM path computes everything and copies the window out.
    """
    nb = g.shape[0]
    nout, cg = w.shape[0], w.shape[1]
    nc = cg * groups
    ksize = tuple(w.shape[2:])
    kk = math.prod(ksize)
    npix = math.prod(osize)
    dtype = g.dtype
    og = nout // groups
    ext = tuple((k - 1) * d for k, d in zip(ksize, dilation))  # dilated kernel minus one
    start, target = (0, 0, 0), tuple(pshape[2:])
    if window is not None:
        start, target = tuple(window[0]), tuple(window[1])
    if method in ("auto", "gemm") and _whole_window(pshape[2:], ksize, osize):
        gm = g.reshape(nb, groups, og).transpose(1, 0, 2)  # (G, N, O/G)
        full = np.matmul(gm, w.reshape(groups, og, -1))
        full = np.ascontiguousarray(full.transpose(1, 0, 2))
        full = full.reshape(pshape)
        return full if window is None else _window(full, start, target)
    # The direct kernel reads the output gradient laid into a zero frame. On the wide grid the
    # frame is built by ``pad``, whose contiguous row copy needs the whole last-axis row inside
    # the frame; when it is not, the wide path computes the whole padded gradient and the
    # window is copied out. The batch-last layout takes any frame.
    framed = ext[2] >= start[2] and ext[2] - start[2] + osize[2] <= target[2] + ext[2]
    framed = framed or batch_last(
        nb, wide_count(tuple(n + e for n, e in zip(target, ext)), target), math.prod(target)
    )
    fstart, ftarget = (start, target) if framed else ((0, 0, 0), tuple(pshape[2:]))
    # Output channels in the vectors (conv_outvec) for a full vector of input channels: with
    # half of one (W5e's 8), it lost to the batch-last and wide kernels, 0.71-0.85x.
    fshape = tuple(n + e for n, e in zip(ftarget, ext))
    outvec = (
        method in ("auto", "direct")
        and nc >= lanes_for(dtype.itemsize)
        and conv_outvec.suits(fshape, (nc, nout) + ksize, stride, dilation, groups, ftarget)
    )
    if method == "auto":
        npx = math.prod(ftarget)
        nqx = wide_count(tuple(n + e for n, e in zip(ftarget, ext)), ftarget)
        direct = use_direct(og, _max_channels(npx, grad=True), stride, nqx, npx, nb)
    else:
        direct = method == "direct"
    if direct or outvec:
        if not framed:
            full = grad_input_padded(g, w, pshape, stride, dilation, groups, osize, "direct")
            return _window(full, start, target)
        # wt[grp * cg + c, o] = w[grp * og + o, c] with every kernel axis reversed.
        wt = w.reshape((groups, og, cg) + ksize).transpose((0, 2, 1, 3, 4, 5))
        wt = np.ascontiguousarray(wt[:, :, :, ::-1, ::-1, ::-1]).reshape((nc, og) + ksize)
        maps = _frame_maps(tuple(osize), ext, start, target)
        gx = _scratch.new_result(tuple(pshape[:2]) + target, dtype)
        if outvec:
            frame = _scratch.take("nn-conv-frame", g.shape[:2] + fshape, dtype)
            frame = pad(g, maps[0], maps[1], maps[2], ext[2] - start[2], frame)
            return conv_outvec.direct_corr_outvec(frame, wt, None, dilation, gx)
        zero = np.zeros(nc, dtype=dtype)
        return corr_from_frame(g, maps, ext[2] - start[2], wt, zero, dilation, gx)
    if window is not None:
        full = grad_input_padded(g, w, pshape, stride, dilation, groups, osize, "gemm")
        return _window(full, start, target)
    w3t = w.reshape(groups, og, cg * kk).transpose(0, 2, 1)
    gf = g.reshape(nb, nout, npix)
    gxp = np.zeros(pshape, dtype=dtype)
    if _image_by_image(nb, nc * kk * npix * dtype.itemsize, nout * cg * kk * npix):
        w3t = np.ascontiguousarray(w3t)
        with _blas.one_pool():
            args = (tuple(ksize), tuple(stride), tuple(dilation), tuple(osize), gxp)
            run_chunks(_grad_input_images, nout * nc * kk * npix * nb, gf, w3t, *args)
        return gxp
    bimg = _chunk(nb, (nc * kk + nout) * npix * dtype.itemsize)
    col = np.empty((nc * kk, bimg * npix), dtype=dtype)
    gt = np.empty((nout, bimg * npix), dtype=dtype)
    for b0 in range(0, nb, bimg):
        m = min(bimg, nb - b0)
        t = gt[:, : m * npix]
        rechunk(gf, b0, t)
        c = col[:, : m * npix]
        _blas.matmul(w3t, t.reshape(groups, og, m * npix), c.reshape(groups, cg * kk, m * npix))
        col2im(c, b0, ksize, stride, dilation, osize, gxp)
    return gxp


# --- the backend interface: (plan, arrays) -------------------------------------------------


def _to3(a, nd):
    """View ``(N, C, *spatial)`` as ``(N, C, D, H, W)`` by inserting singleton axes."""
    return a.reshape(a.shape[:2] + (1,) * (3 - nd) + a.shape[2:])


def _pad_input(x3, plan):
    if all(b == 0 and a == 0 for b, a in plan.pads):
        return x3
    shape = x3.shape[:2] + plan.padded3
    md, mh, mw = plan.maps()
    # a temporary of the call (read by the forward pass or the weight gradient, never
    # returned): the thread's scratch, so a training loop faults no new pages in for it
    out = _scratch.take("nn-conv-padded", shape, x3.dtype)
    return pad(x3, md, mh, mw, plan.pads[-1][0], out)


def _unpad(gxp3, x_shape3, plan):
    if all(b == 0 and a == 0 for b, a in plan.pads):
        return gxp3
    if plan.padding_mode == "zeros":
        sl = tuple(slice(b, b + n) for n, (b, a) in zip(plan.spatial, plan.pads))
        return _scratch.result_copy(gxp3[(slice(None),) * (5 - plan.nd) + sl])
    md, mh, mw = plan.maps()
    return fold(gxp3, md, mh, mw, plan.pads[-1][0], np.zeros(x_shape3, dtype=gxp3.dtype))


def _grad_input3(g3, w3, plan, x_shape3):
    """Gradient of conv with respect to its (canonical) input, through the padding."""
    pshape = x_shape3[:2] + plan.padded3
    stride3, dil3 = plan.stride3, plan.dilation3
    out3 = plan.out3
    if plan.padding_mode == "zeros":
        # zero padding sends no gradient anywhere: only the unpadded window is wanted
        window = (plan.c3([b for b, _ in plan.pads], 0), tuple(x_shape3[2:]))
        return grad_input_padded(g3, w3, pshape, stride3, dil3, plan.groups, out3, window=window)
    gxp = grad_input_padded(g3, w3, pshape, stride3, dil3, plan.groups, out3)
    return _unpad(gxp, x_shape3, plan)


def _fft(plan) -> bool:
    """Whether the plan's correlations run by FFT (``conv_fft``; method 'fft', or 'auto' and the
    cost model says so); kept with the plan."""
    fft = plan.memo.get("cpu-fft")
    if fft is None:
        fft = plan.memo["cpu-fft"] = plan.method == "fft" or (
            plan.method == "auto" and conv_fft.use_fft(plan)
        )
    return fft


def conv(plan, x, weight, bias, *, relu=False):
    """``plan``'s convolution (``_geometry.ConvPlan``) of host arrays of ``plan.dtype``; with
    ``relu``, ``max(., 0)`` of it (NaN kept, as ``activation.relu``): in the kernel's own
    stores for the output-channel kernel, else one in-place pass over the fresh result."""
    run = plan.memo.get("cpu-conv")
    if run is None:
        run = plan.memo["cpu-conv"] = _conv_runner(plan, x.shape, weight.shape)
    return run(x, weight, bias, relu)


def _conv_runner(plan, x_shape, w_shape):
    """``run(x, weight, bias, relu)``: :func:`conv` for the plan, with what its shapes decide
    worked out once (FFT or not, the padding, :func:`forward_route`). For the output-channel
    kernel the call goes straight to it: LeNet conv2's forward pass spent 12 us of Python
    between ``F.conv`` and the kernel's set-up, about 8 after this (the call 155 -> 150 us,
    rounds of 40 calls after pauses, two threads)."""
    nd, y_shape = plan.nd, plan.y_shape
    stride3, dilation3, groups, out3 = plan.stride3, plan.dilation3, plan.groups, plan.out3
    padded = not all(b == 0 and a == 0 for b, a in plan.pads)
    x3_shape = tuple(x_shape[:2]) + (1,) * (3 - nd) + tuple(x_shape[2:])
    xp_shape = x3_shape[:2] + plan.padded3
    w3_shape = tuple(w_shape[:2]) + (1,) * (3 - nd) + tuple(w_shape[2:])
    if _fft(plan):

        def run(x, weight, bias, relu):
            xp = _pad_input(x.reshape(x3_shape), plan)
            w3 = weight.reshape(w3_shape)
            y = conv_fft.forward(xp, w3, bias, stride3, dilation3, groups, out3)
            return _relu_after(y, relu).reshape(y_shape)

        return run
    route = forward_route(xp_shape, w3_shape, stride3, dilation3, groups, out3)
    if route == "outvec" and not padded:
        y3_shape = (x_shape[0], w_shape[0]) + tuple(out3)

        def run(x, weight, bias, relu):
            # forward()'s "outvec" branch with its shapes known (read-only operands copied:
            # they are another Numba type)
            w3 = weight.reshape(w3_shape)
            w3 = w3 if w3.flags.writeable else w3.copy()
            if bias is not None and not bias.flags.writeable:
                bias = bias.copy()
            y = _scratch.new_result(y3_shape, x.dtype)
            xr = x.reshape(x3_shape)
            conv_outvec.direct_corr_outvec(xr, w3, bias, dilation3, y, relu=relu)
            return y.reshape(y_shape)

        return run

    def run(x, weight, bias, relu):
        xp = _pad_input(x.reshape(x3_shape), plan)
        w3 = weight.reshape(w3_shape)
        y = forward(xp, w3, bias, stride3, dilation3, groups, out3, route=route, relu=relu)
        return y.reshape(y_shape)

    return run


def _relu_after(y, relu):
    """``y``, or ``max(y, 0)`` written into it where ``relu`` (a result of its own)."""
    return activation.relu_host(y, y) if relu else y


def conv_backward(plan, grad_out, x, weight, need):
    """``(grad_x, grad_weight, grad_bias)`` of :func:`conv`, ``None`` where not in ``need``."""
    dt = plan.dtype
    g3 = _to3(grad_out, plan.nd)
    gx = gw = gb = None
    fft = _fft(plan)
    if "bias" in need:
        gb = grad_bias(g3.reshape(g3.shape[0], g3.shape[1], -1), dt)
    if "x" in need:
        x_shape3 = plan.x_shape[:2] + plan.c3(plan.spatial, 1)
        w3 = _to3(weight, plan.nd)
        if fft:
            pshape = x_shape3[:2] + plan.padded3
            gxp = conv_fft.grad_input_padded(
                g3, w3, pshape, plan.stride3, plan.dilation3,
                plan.groups, plan.out3,
            )  # fmt: skip
            gx = _unpad(gxp, x_shape3, plan).reshape(plan.x_shape)
        else:
            gx = _grad_input3(g3, w3, plan, x_shape3).reshape(plan.x_shape)
    if "weight" in need:
        xp = _pad_input(_to3(x, plan.nd), plan)
        w_shape3 = plan.w_shape[:2] + plan.ksize3
        gw = (conv_fft.grad_weight if fft else grad_weight)(
            g3,
            xp,
            w_shape3,
            plan.stride3,
            plan.dilation3,
            plan.groups,
            plan.out3,
        )
        gw = np.ascontiguousarray(gw).reshape(plan.w_shape)
    return gx, gw, gb


def conv_transpose(plan, x, weight, bias):
    """``plan``'s transposed convolution (the adjoint of its conv) of host arrays."""
    y_shape3 = plan.x_shape[:2] + plan.c3(plan.spatial, 1)
    y = _grad_input3(_to3(x, plan.nd), _to3(weight, plan.nd), plan, y_shape3)
    if bias is not None:
        y += bias.reshape(1, plan.cin, 1, 1, 1)
    return y.reshape(plan.x_shape)

"""The CUDA backend of the CNN convolution: ``conv``, ``conv_backward``, ``conv_transpose``.

Each takes a ``_geometry.ConvPlan`` and host arrays of ``plan.dtype`` or the caller's device
arrays, brings them to the canonical 5-D form and launches the implicit-GEMM kernels
(``igemm``, enough channels per group) or the direct ones (``conv_kernels``, whose docstring
describes both); a device operand gives a device result.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _config
from . import common, elementwise, igemm
from .conv_kernels import (
    COB,
    INT32_PLANE,
    KMAX,
    channel_sum,
    conv_direct,
    conv_gather,
    conv_tiled,
    fold_padding,
    grad_weight_direct,
    grad_weight_taps,
)
from .launch import launch

# --- host launchers ---------------------------------------------------------------------------


def _c3(t, fill):
    return (fill,) * (3 - len(t)) + tuple(int(v) for v in t)


def _to5(d, nd):
    shape = tuple(int(n) for n in d.shape)
    return common.reshape(d, shape[:2] + (1,) * (3 - nd) + shape[2:])


def _grid(block, out_spatial, n_z_items):
    """Grid for kernels that tile spatial outputs by ``block`` and stride over z items."""
    bx, by, bz = block
    O0, O1, O2 = out_spatial
    nb0 = common.blocks(O0, bz)
    gz = max(1, min(nb0 * n_z_items, _config.CUDA_MAX_GRID_YZ))
    return (common.blocks(O2, bx), common.blocks(O1, by), gz), nb0


def _bias_arg(bias, dtype):
    if bias is None:
        return common.empty((1,), dtype), 0
    return common.contiguous(bias, dtype), 1


def _reduce_threads():
    """Threads of the reduction kernels: the 1-D block rounded down to a power of two."""
    return 1 << (max(1, int(_config.CUDA_BLOCK_1D)).bit_length() - 1)


def forward_device(xd, wd, bias_d, has_bias, yd, pads, stride, dilation, mode, groups):
    """Launch the forward kernel on canonical 5-D device arrays (tuples in (D, H, W) order)."""
    cin_g, cout_g = int(wd.shape[1]), int(wd.shape[0]) // groups
    planes = (math.prod(xd.shape[2:]), math.prod(yd.shape[2:]))
    if igemm.use(cin_g, cout_g, groups) and common.fits_int32(*planes):
        igemm.forward(xd, wd, bias_d, has_bias, yd, pads, stride, dilation, mode, groups)
        return
    nd_block = 3 if yd.shape[2] > 1 else (2 if yd.shape[3] > 1 else 1)
    block = common.block_for(nd_block)
    N, Cout = yd.shape[0], yd.shape[1]
    cout_g = Cout // groups
    K = math.prod(wd.shape[2:])
    dtype = np.dtype(yd.dtype)
    tile = math.prod(
        (b - 1) * s + (k - 1) * d + 1
        for b, k, s, d in zip(block[::-1], wd.shape[2:], stride, dilation)
    )
    shbytes = (tile + COB * K) * dtype.itemsize
    args_tail = (
        *(int(p[0]) for p in pads),
        *stride,
        *dilation,
        int(mode),
        int(groups),
    )
    # the tiled kernel's offsets within one channel plane are int32
    fits32 = max(math.prod(xd.shape[2:]), math.prod(yd.shape[2:])) <= INT32_PLANE
    if shbytes <= _config.CUDA_SHARED_BYTES and fits32:
        ncb = -(-cout_g // COB)
        grid, nb0 = _grid(block, yd.shape[2:], N * groups * ncb)
        i32 = np.int32
        launch(
            conv_tiled,
            grid,
            block,
            shbytes,
            common.reshape(xd, (math.prod(xd.shape),)),
            common.reshape(wd, (math.prod(wd.shape),)),
            bias_d,
            common.reshape(yd, (math.prod(yd.shape),)),
            int(N),
            *(i32(v) for v in (xd.shape[1], *xd.shape[2:], wd.shape[0], wd.shape[1])),
            *(i32(v) for v in (*wd.shape[2:], *yd.shape[2:])),
            *(i32(v) for v in args_tail),
            int(nb0),
            i32(has_bias),
        )
    else:
        grid, nb0 = _grid(block, yd.shape[2:], N * Cout)
        launch(conv_direct, grid, block, 0, xd, wd, bias_d, yd, *args_tail, nb0, has_bias)


def gather_device(gd, wd, bias_d, has_bias, outd, offsets, stride, dilation, groups):
    """Launch the transposed convolution: ``outd`` (N, C, P0, P1, P2) from ``gd``."""
    cin_g, cout_g = int(wd.shape[1]), int(wd.shape[0]) // groups
    planes = (math.prod(outd.shape[2:]), math.prod(gd.shape[2:]))
    if igemm.use(cout_g, cin_g, groups) and common.fits_int32(*planes):
        igemm.gather(gd, wd, bias_d, has_bias, outd, offsets, stride, dilation, groups)
        return
    P = tuple(int(n) for n in outd.shape[2:])
    nd_block = 3 if P[0] > 1 else (2 if P[1] > 1 else 1)
    block = common.block_for(nd_block)
    grid, nb0 = _grid(block, P, outd.shape[0] * outd.shape[1])
    i32 = np.int32
    sizes = (math.prod(P), math.prod(gd.shape[2:]), math.prod(wd.shape))
    if max(sizes) > common.INT32_LIMIT:
        raise ValueError(
            "the CUDA transposed convolution computes offsets within a channel plane and the "
            f"weights in int32; got planes of {sizes[0]} and {sizes[1]} elements and "
            f"{sizes[2]} weights (at most {common.INT32_LIMIT})"
        )
    launch(
        conv_gather,
        grid,
        block,
        0,
        common.reshape(gd, (math.prod(gd.shape),)),
        common.reshape(wd, (math.prod(wd.shape),)),
        bias_d,
        common.reshape(outd, (math.prod(outd.shape),)),
        int(gd.shape[0]),
        *(i32(v) for v in (gd.shape[1], *gd.shape[2:], outd.shape[1], cin_g, *wd.shape[2:], *P)),
        *(i32(v) for v in (*offsets, *stride, *dilation, groups)),
        int(nb0),
        i32(has_bias),
    )


def _fold_axes(gpad, shape5, pads3, mode):
    """Fold a padded gradient ``gpad`` (N, C, D+, H+, W+) back to ``shape5`` (N, C, D, H, W)."""
    cur = gpad
    dims = list(int(n) for n in gpad.shape)
    for axis in (4, 3, 2):
        pb, pa = pads3[axis - 2]
        if pb == 0 and pa == 0:
            continue
        n = shape5[axis]
        A = math.prod(dims[:axis])
        Cn = math.prod(dims[axis + 1 :])
        src = common.reshape(cur, (A, dims[axis], Cn))
        dst = common.empty((A, n, Cn), cur.dtype)
        total = A * n * Cn
        launch(
            fold_padding,
            common.grid_1d(total),
            _config.CUDA_BLOCK_1D,
            0,
            src,
            dst,
            int(pb),
            int(mode),
        )
        dims[axis] = n
        cur = common.reshape(dst, dims)
    return cur


def _pads3(plan):
    return [(0, 0)] * (3 - plan.nd) + [tuple(int(v) for v in p) for p in plan.pads]


def _direct_only(plan):
    if plan.method == "fft":
        # Running the direct kernels for an explicit method="fft" would hide what the caller
        # asked for.
        raise ValueError(
            "method='fft' is not available on the CUDA backend (it has direct kernels "
            "only); use method='direct' or 'auto', or backend='cpu' for the FFT path"
        )


def _operands5(plan, x, weight, bias):
    """``(on_device, x, weight, bias, has_bias)``: canonical 5-D device arrays of ``plan.dtype``
    (a dummy bias when there is none)."""
    on_device = common.on_device(x, weight, bias)
    x, weight, bias = common.views(x, weight, bias)
    xd = _to5(common.contiguous(x, plan.dtype), plan.nd)
    wd = _to5(common.contiguous(weight, plan.dtype), plan.nd)
    return (on_device, xd, wd, *_bias_arg(bias, plan.dtype))


def conv(plan, x, weight, bias, *, relu=False):
    """Forward convolution ``(N, C_in, *spatial) -> (N, C_out, *out)`` on the GPU; with
    ``relu``, ``max(., 0)`` of it (one in-place pass, as the CPU backend's fallback)."""
    _direct_only(plan)
    on_device, xd, wd, bias_d, has_bias = _operands5(plan, x, weight, bias)
    dtype = plan.dtype
    yd = common.empty((plan.n, plan.cout) + plan.c3(plan.out, 1), dtype)
    forward_device(
        xd, wd, bias_d, has_bias, yd, _pads3(plan), plan.c3(plan.stride, 1),
        plan.c3(plan.dilation, 1), plan.padding_code, plan.groups,
    )  # fmt: skip
    if relu:
        elementwise.relu(yd, inplace=True)
    return common.finish(common.reshape(yd, plan.y_shape), None, on_device)


def _grad_input5(gd, wd, x_shape5, pads3, stride3, dil3, groups, mode):
    """Gradient with respect to the canonical input, folded back through the padding."""
    dtype = np.dtype(gd.dtype)
    dummy = common.empty((1,), dtype)
    if mode == 0 or all(b == 0 and a == 0 for b, a in pads3):
        gx = common.empty(x_shape5, dtype)
        offsets = tuple(int(b) for b, _ in pads3)
        gather_device(gd, wd, dummy, 0, gx, offsets, stride3, dil3, groups)
        return gx
    padded = x_shape5[:2] + tuple(n + b + a for n, (b, a) in zip(x_shape5[2:], pads3))
    gpad = common.empty(padded, dtype)
    gather_device(gd, wd, dummy, 0, gpad, (0, 0, 0), stride3, dil3, groups)
    return _fold_axes(gpad, x_shape5, pads3, mode)


def _grad_weight_device(gd, xd, gw5, pads3, stride3, dil3, mode, groups):
    """The direct weight-gradient kernels (few channels): block reductions per filter."""
    dtype = np.dtype(gd.dtype)
    w_shape = tuple(int(n) for n in gw5.shape)
    threads = _reduce_threads()
    K = math.prod(w_shape[2:])
    if K <= KMAX:
        kernel = grad_weight_taps
        blocks = max(1, min(w_shape[0] * w_shape[1], _config.CUDA_MAX_BLOCKS_1D))
    else:
        kernel = grad_weight_direct
        blocks = max(1, min(math.prod(w_shape), _config.CUDA_MAX_BLOCKS_1D))
    launch(
        kernel,
        blocks,
        threads,
        threads * dtype.itemsize,
        gd,
        xd,
        gw5,
        *(b for b, _ in pads3),
        *stride3,
        *dil3,
        mode,
        int(groups),
    )


def conv_backward(plan, grad_out, x, weight, need):
    """``(grad_x, grad_weight, grad_bias)`` of :func:`conv`, ``None`` where not in ``need``."""
    _direct_only(plan)
    on_device = common.on_device(grad_out, x, weight)
    grad_out, x, weight = common.views(grad_out, x, weight)
    dtype, nd = plan.dtype, plan.nd
    gd = _to5(common.contiguous(grad_out, dtype), nd)
    pads3 = _pads3(plan)
    stride3, dil3 = plan.c3(plan.stride, 1), plan.c3(plan.dilation, 1)
    mode, groups = plan.padding_code, plan.groups
    x_shape, w_shape = plan.x_shape, plan.w_shape
    x_shape5 = x_shape[:2] + plan.c3(plan.spatial, 1)
    gx = gw = gb = None
    if "x" in need:
        wd = _to5(common.contiguous(weight, dtype), nd)
        gx5 = _grad_input5(gd, wd, x_shape5, pads3, stride3, dil3, groups, mode)
        gx = common.finish(common.reshape(gx5, x_shape), None, on_device)
    if "weight" in need:
        xd = _to5(common.contiguous(x, dtype), nd)
        gw5 = common.empty(w_shape[:2] + (1,) * (3 - nd) + w_shape[2:], dtype)
        # the GEMM's reduction (images x positions) and an image's channel planes are int32
        reduce_len = int(gd.shape[0]) * math.prod(gd.shape[2:])
        planes = int(xd.shape[1]) * math.prod(xd.shape[2:])
        if igemm.use(w_shape[1], w_shape[0] // groups, groups) and common.fits_int32(
            reduce_len, planes
        ):
            igemm.grad_weight(gd, xd, gw5, pads3, stride3, dil3, mode, int(groups))
        else:
            _grad_weight_device(gd, xd, gw5, pads3, stride3, dil3, mode, groups)
        gw = common.finish(common.reshape(gw5, w_shape), None, on_device)
    if "bias" in need:
        N, Cout = int(gd.shape[0]), int(gd.shape[1])
        g3 = common.reshape(gd, (N, Cout, math.prod(gd.shape[2:])))
        gbd = common.empty((Cout,), dtype)
        threads = _reduce_threads()
        blocks = max(1, min(Cout, _config.CUDA_MAX_BLOCKS_1D))
        launch(channel_sum, blocks, threads, threads * dtype.itemsize, g3, gbd)
        gb = common.finish(gbd, None, on_device)
    return gx, gw, gb


def conv_transpose(plan, x, weight, bias):
    """Transposed convolution (the adjoint of ``plan``'s zero-padded conv) on the GPU."""
    on_device, xd, wd, bias_d, has_bias = _operands5(plan, x, weight, bias)
    dtype = plan.dtype
    yd = common.empty((plan.n, plan.cin) + plan.c3(plan.spatial, 1), dtype)
    offsets = tuple(int(b) for b, _ in _pads3(plan))
    stride3, dil3 = plan.c3(plan.stride, 1), plan.c3(plan.dilation, 1)
    gather_device(xd, wd, bias_d, has_bias, yd, offsets, stride3, dil3, plan.groups)
    return common.finish(common.reshape(yd, plan.x_shape), None, on_device)

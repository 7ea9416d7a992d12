"""Dense (fully connected) layers on the GPU: a shared-memory tiled matrix multiply.

``dense(x, weight, bias)`` is PyTorch's ``Linear``: ``y = x @ weight.T + bias`` with ``x``
``(N, in)`` and ``weight`` ``(out, in)``; ``dense_backward`` returns ``grad_x = g @ weight``,
``grad_weight = g.T @ x`` and ``grad_bias = g.sum(0)``. All three products are one kernel,
:func:`_matmul`, reading either operand transposed in place (no transposed copies).

The kernel is the classic tiled GEMM: a block of ``T x T`` threads (``T`` from
``_config.CUDA_TILE_MM``) computes a ``T x T`` tile of ``C``, staging ``T x T`` tiles of both
operands in shared memory per step along the reduction axis, so each global element is read
``K / T`` times instead of ``K`` times; loads are bounds-guarded, so any shape works.
``grad_bias`` is :func:`_column_sum`, one thread per output feature.

``dense`` and ``dense_backward`` are the backend of ``sigconv.nn.functional.linear`` and
``linear_backward``, which validate the shapes; operands may be host or device arrays.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from .. import _config, _validate
from . import common
from .launch import launch


@cuda.jit(cache=True)
def _matmul(a, b, bias, c, trans_a, trans_b, has_bias):
    # c[M, N] = op(a)[M, K] @ op(b)[K, N] (+ bias[N]); op transposes when its flag is set.
    M, N = c.shape
    K = a.shape[0] if trans_a else a.shape[1]
    T = cuda.blockDim.x
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    row = cuda.blockIdx.y * T + ty
    col = cuda.blockIdx.x * T + tx
    sh = cuda.shared.array(0, c.dtype)
    ta = sh[: T * T]
    tb = sh[T * T : 2 * T * T]
    acc = c.dtype.type(0)
    for k0 in range(0, K, T):
        ka = k0 + tx  # column of op(a) this thread loads
        kb = k0 + ty  # row of op(b) this thread loads
        if row < M and ka < K:
            ta[ty * T + tx] = a[ka, row] if trans_a else a[row, ka]
        else:
            ta[ty * T + tx] = 0
        if col < N and kb < K:
            tb[ty * T + tx] = b[col, kb] if trans_b else b[kb, col]
        else:
            tb[ty * T + tx] = 0
        cuda.syncthreads()
        for kk in range(T):
            acc += ta[ty * T + kk] * tb[kk * T + tx]
        cuda.syncthreads()
    if row < M and col < N:
        if has_bias:
            acc += bias[col]
        c[row, col] = acc


@cuda.jit(cache=True)
def _column_sum(g, out):
    # out[j] = sum_i g[i, j]: one thread per column; neighbouring threads read neighbouring
    # elements of each row (coalesced), and the sum runs down the rows in order.
    N, M = g.shape
    for j in range(cuda.grid(1), M, cuda.gridsize(1)):
        acc = g.dtype.type(0)
        for i in range(N):
            acc += g[i, j]
        out[j] = acc


PTX_SIGNATURES = [
    (
        _matmul,
        [
            f"void({t}[:, ::1], {t}[:, ::1], {t}[::1], {t}[:, ::1], int64, int64, int64)"
            for t in ("float32", "float64")
        ],
    ),
    (_column_sum, [f"void({t}[:, ::1], {t}[::1])" for t in ("float32", "float64")]),
]


def _views(*arrays):
    return [a if a is None or not common.is_device(a) else common.device_view(a) for a in arrays]


def matmul_device(a, b, trans_a=False, trans_b=False, bias=None):
    """``op(a) @ op(b)`` (+ ``bias`` per column) of 2-D C-contiguous device arrays."""
    M = a.shape[1] if trans_a else a.shape[0]
    N = b.shape[0] if trans_b else b.shape[1]
    dtype = np.dtype(a.dtype)
    c = common.empty((M, N), dtype)
    T = int(_config.CUDA_TILE_MM)
    bias_d = bias if bias is not None else common.empty((1,), dtype)
    grid = (common.blocks(N, T), common.blocks(M, T))
    launch(
        _matmul,
        grid,
        (T, T),
        2 * T * T * dtype.itemsize,
        a,
        b,
        bias_d,
        c,
        int(trans_a),
        int(trans_b),
        int(bias is not None),
    )
    return c


def matmul(a, b, *, trans_a=False, trans_b=False):
    """``op(a) @ op(b)`` for 2-D host or device arrays (device result if either is on it)."""
    on_device = common.is_device(a) or common.is_device(b)
    a, b = _views(a, b)
    ka = a.shape[0] if trans_a else a.shape[1]
    kb = b.shape[1] if trans_b else b.shape[0]
    if len(a.shape) != 2 or len(b.shape) != 2 or ka != kb:
        raise ValueError(
            f"matmul needs 2-D operands with matching inner sizes; got {tuple(a.shape)} "
            f"(trans_a={trans_a}) and {tuple(b.shape)} (trans_b={trans_b})"
        )
    dtype = _validate.compute_dtype(a, b)
    ad, bd = common.contiguous(a, dtype), common.contiguous(b, dtype)
    return common.finish(matmul_device(ad, bd, trans_a, trans_b), None, on_device)


def dense(x, weight, bias=None):
    """``x @ weight.T + bias`` (PyTorch's ``Linear``) on the GPU; shapes checked by the caller."""
    on_device = any(common.is_device(a) for a in (x, weight, bias) if a is not None)
    x, weight, bias = _views(x, weight, bias)
    dtype = _validate.compute_dtype(*[a for a in (x, weight, bias) if a is not None])
    xd, wd = common.contiguous(x, dtype), common.contiguous(weight, dtype)
    bd = None if bias is None else common.contiguous(bias, dtype)
    return common.finish(matmul_device(xd, wd, False, True, bd), None, on_device)


def dense_backward(grad_y, x, weight, *, need=("x", "weight", "bias")):
    """``(grad_x, grad_weight, grad_bias)`` of :func:`dense`, ``None`` where not in ``need``
    (shapes checked by the caller)."""
    on_device = any(common.is_device(a) for a in (grad_y, x, weight))
    grad_y, x, weight = _views(grad_y, x, weight)
    out_f = int(grad_y.shape[1])
    dtype = _validate.compute_dtype(grad_y, x, weight)
    gd = common.contiguous(grad_y, dtype)
    gx = gw = gb = None
    if "x" in need:
        wd = common.contiguous(weight, dtype)
        gx = common.finish(matmul_device(gd, wd), None, on_device)
    if "weight" in need:
        xd = common.contiguous(x, dtype)
        gw = common.finish(matmul_device(gd, xd, trans_a=True), None, on_device)
    if "bias" in need:
        gbd = common.empty((out_f,), dtype)
        launch(_column_sum, common.grid_1d(out_f), _config.CUDA_BLOCK_1D, 0, gd, gbd)
        gb = common.finish(gbd, None, on_device)
    return gx, gw, gb

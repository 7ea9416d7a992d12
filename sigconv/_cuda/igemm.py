"""The implicit-GEMM convolution on the GPU: tile choice, dispatch rule and launchers of the
kernels in ``igemm_kernels`` (whose docstring has the design).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _config
from . import common
from .igemm_kernels import (
    TM,
    TN,
    igemm_forward,
    igemm_gather,
    igemm_wgrad,
    pack_tile_weights,
    sum_splits,
)
from .launch import launch

# --- host launchers ---------------------------------------------------------------------------


#: Most threads per block: the kernels take up to ~143 registers per thread (float64 weight
#: gradient, sm_90), and an SM's 65536 registers must hold a whole block (256 x 255 fit; 512
#: threads of 143 registers do not, and the launch would fail on a GPU, not in the simulator).
MAX_THREADS = 256
#: Largest offset the kernels' int32 index arithmetic may reach (a margin below 2**31).


def _threads(BM: int, BN: int, BK: int) -> int:
    """Threads of a ``BM x BN x BK`` tile, or 0 when the kernels cannot use it (thread count,
    whole rows and columns per load step, shared memory of the float64 weight gradient)."""
    nthreads = (BM // TM) * (BN // TN) if BM > 0 and BN > 0 else 0
    ok = (
        BK > 0 and BM % TM == 0 and BN % TN == 0 and 0 < nthreads <= MAX_THREADS
        and nthreads % BM == 0 and nthreads % BN == 0 and nthreads % BK == 0
    )  # fmt: skip
    pad = max(1, 32 // BK) if BK > 0 else 0
    shared = BK * (BM + BN + 2 * pad) * 8 + 16 * BN  # largest: grad_weight in float64
    return nthreads if ok and shared <= _config.CUDA_SHARED_BYTES else 0


def tiles(rows: int | None = None) -> tuple[int, int, int, int]:
    """``(BM, BN, BK, threads)`` from ``_config.CUDA_IGEMM_*``, checked.

    With ``rows`` (the GEMM's M per group), BM shrinks to ``rows`` rounded up to a multiple of
    ``TM*TN`` when that is smaller and valid: a 16- or 32-channel layer (W5e, W5d) then does not
    leave 3/4 or 1/2 of a 64-row tile idle; the block just has fewer threads.
    """
    BM, BN, BK = (int(_config.CUDA_IGEMM_BM), int(_config.CUDA_IGEMM_BN),
                  int(_config.CUDA_IGEMM_BK))  # fmt: skip
    nthreads = _threads(BM, BN, BK)
    if not nthreads:
        raise ValueError(
            "_config.CUDA_IGEMM_BM, CUDA_IGEMM_BN, CUDA_IGEMM_BK must be positive, BM and BN "
            f"multiples of {TM * TN} (the block's (BM/{TM})*(BN/{TN}) threads, at most "
            f"{MAX_THREADS}, load whole rows and columns of the tiles) with BK dividing the "
            f"thread count, and the tiles must fit _config.CUDA_SHARED_BYTES; got BM={BM}, "
            f"BN={BN}, BK={BK}"
        )
    if rows is not None:
        step = TM * TN
        bm = max(step, -(-int(rows) // step) * step)
        if bm < BM and _threads(bm, BN, BK):
            return bm, BN, BK, _threads(bm, BN, BK)
    return BM, BN, BK, nthreads


def use(k_channels: int, m_channels: int, groups: int) -> bool:
    """Whether a GEMM with ``k_channels`` summed over and ``m_channels`` computed per group is
    big enough for the implicit-GEMM kernels (``_config.CUDA_IGEMM_MIN_*``) and its grid (M
    tiles times groups along y or z) within the hardware limit."""
    if k_channels < _config.CUDA_IGEMM_MIN_K_CHANNELS:
        return False
    if m_channels < _config.CUDA_IGEMM_MIN_M_CHANNELS:
        return False
    mtiles = _blocks(m_channels, int(_config.CUDA_IGEMM_BM))
    return 0 < groups * mtiles <= _config.CUDA_MAX_GRID_YZ


def _i32(*values) -> tuple:
    """Kernel integer arguments as int32 (the kernels' signatures), checked to fit."""
    out = tuple(np.int32(v) for v in values if -(2**31) <= int(v) < 2**31)
    if len(out) != len(values):
        raise ValueError(
            f"implicit-GEMM convolution arguments must fit in int32; got {tuple(values)} "
            "(split the batch)"
        )
    return out


def _flat(d):
    return common.reshape(d, (math.prod(d.shape),))


def _blocks(n: int, b: int) -> int:
    return max(1, -(-n // b))


def pack_weights(wd, groups: int, m_is_cin: bool):
    """Weights ``(C_out, cin_g, *kernel)`` as the A operand: ``(groups, taps, cin_g, cout_g)``
    (forward) or ``(groups, taps, cout_g, cin_g)`` (``m_is_cin``: the transposed convolution)."""
    Cout, cin_g = int(wd.shape[0]), int(wd.shape[1])
    KK = math.prod(int(k) for k in wd.shape[2:])
    wp = common.empty((Cout * cin_g * KK,), wd.dtype)
    launch(
        pack_tile_weights,
        common.grid_1d(Cout * cin_g * KK),
        _config.CUDA_BLOCK_1D,
        0,
        _flat(wd),
        wp,
        *_i32(Cout // groups, cin_g, KK, int(m_is_cin)),
    )
    return wp


def forward(xd, wd, bias_d, has_bias, yd, pads, stride, dilation, mode, groups):
    """``yd = conv(xd, wd) + bias`` on canonical 5-D device arrays (``pads`` (before, after)
    pairs, ``stride``/``dilation`` triples, ``mode`` a ``_modes.PADDING_CODES`` value)."""
    N, C = int(xd.shape[0]), int(xd.shape[1])
    Cout = int(wd.shape[0])
    cout_g = Cout // groups
    BM, BN, BK, nthreads = tiles(cout_g)
    ncol = N * math.prod(int(o) for o in yd.shape[2:])
    wp = pack_weights(wd, groups, False)
    grid = (_blocks(ncol, BN), _blocks(cout_g, BM), int(groups))
    shbytes = BK * (BM + BN) * np.dtype(yd.dtype).itemsize
    launch(igemm_forward, grid, nthreads, shbytes,
        _flat(xd), wp, bias_d, _flat(yd), *_i32(
            C, *xd.shape[2:], Cout, *wd.shape[2:], *yd.shape[2:], *(p[0] for p in pads),
            *stride, *dilation, mode, groups, has_bias, BM, BN, BK,
        ),
    )  # fmt: skip


def gather(gd, wd, bias_d, has_bias, outd, offsets, stride, dilation, groups):
    """The transposed convolution ``outd (N, C_in, Q0, Q1, Q2)`` of ``gd (N, C_out, ...)`` by
    ``wd``, position ``q`` of ``outd`` standing at ``q + offsets`` of the padded input."""
    N, Cout = int(gd.shape[0]), int(gd.shape[1])
    Cin = int(outd.shape[1])
    cin_g = Cin // groups
    BM, BN, BK, nthreads = tiles(cin_g)
    ncol = N * math.prod(int(q) for q in outd.shape[2:])
    wq = pack_weights(wd, groups, True)
    grid = (_blocks(ncol, BN), _blocks(cin_g, BM), int(groups))
    shbytes = BK * (BM + BN) * np.dtype(outd.dtype).itemsize
    launch(igemm_gather, grid, nthreads, shbytes,
        _flat(gd), wq, bias_d, _flat(outd), *_i32(
            Cout, *gd.shape[2:], Cin, *outd.shape[2:], *wd.shape[2:], *offsets, *stride,
            *dilation, groups, has_bias, BM, BN, BK,
        ),
    )  # fmt: skip


def wgrad_splits(ktot: int, tiles_mn: int, BK: int) -> tuple[int, int]:
    """``(splits, chunk)`` of the weight gradient's K = ``ktot`` over grid z: enough blocks for
    ``_config.CUDA_IGEMM_WGRAD_BLOCKS`` with ``tiles_mn`` output tiles, chunks of at least
    ``_config.CUDA_IGEMM_WGRAD_MIN_K`` (a multiple of ``BK``)."""
    want = _blocks(int(_config.CUDA_IGEMM_WGRAD_BLOCKS), tiles_mn)
    most = max(1, ktot // max(1, int(_config.CUDA_IGEMM_WGRAD_MIN_K)))
    splits = max(1, min(want, most, int(_config.CUDA_MAX_GRID_YZ)))
    chunk = _blocks(_blocks(ktot, splits), BK) * BK
    return _blocks(ktot, chunk), chunk


def grad_weight(gd, xd, gwd, pads, stride, dilation, mode, groups):
    """``gwd (C_out, cin_g, *kernel)`` = gradient of ``conv`` with respect to its weights."""
    N, C = int(xd.shape[0]), int(xd.shape[1])
    Cout = int(gd.shape[1])
    cout_g, cin_g = Cout // groups, C // groups
    BM, BN, BK, nthreads = tiles(cout_g)
    KK = math.prod(int(k) for k in gwd.shape[2:])
    ncols = cin_g * KK
    ktot = N * math.prod(int(o) for o in gd.shape[2:])
    mtiles = _blocks(cout_g, BM)
    ntiles = _blocks(ncols, BN)
    # The kernel indexes the reduction, and its column table the channel planes of one image,
    # with int32.
    _i32(ktot, C * math.prod(int(v) for v in xd.shape[2:]))
    splits, chunk = wgrad_splits(ktot, ntiles * mtiles * groups, BK)
    pad = max(1, 32 // BK)  # k-fast shared stores of a warp spread over the banks
    lda, ldb = BM + pad, BN + pad
    itemsize = np.dtype(gwd.dtype).itemsize
    fbytes = BK * (lda + ldb) * itemsize
    shbytes = fbytes + 4 * BN * 4
    out = _flat(gwd)
    part = out if splits == 1 else common.empty((splits * out.shape[0],), gwd.dtype)
    grid = (ntiles, mtiles * int(groups), splits)
    launch(igemm_wgrad, grid, nthreads, shbytes,
        _flat(gd), _flat(xd), part, *_i32(
            C, *xd.shape[2:], Cout, *gwd.shape[2:], *gd.shape[2:], *(p[0] for p in pads),
            *stride, *dilation, mode, groups, chunk, BM, BN, BK, lda, ldb, fbytes // 4,
        ),
    )  # fmt: skip
    if splits > 1:
        S = int(out.shape[0])
        launch(sum_splits, common.grid_1d(S), _config.CUDA_BLOCK_1D, 0, part, out, *_i32(splits))

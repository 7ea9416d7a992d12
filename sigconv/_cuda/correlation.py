"""Strided, dilated N-D cross-correlation with boundary handling: numba.cuda kernels.

Like the CPU twin (``sigconv._cpu.correlation``), every correlation is normalised to

* ``x``   ``(B, N0, N1, N2)``: C-contiguous input, batch axes flattened, missing spatial axes 1;
* ``w``   ``(K0, K1, K2)``:    C-contiguous kernel (flipped while it is loaded for a convolution);
* ``out`` ``(B, O0, O1, O2)``: C-contiguous output;

and per axis a stride, a dilation and a ``pad_before``: output ``o`` reads input index
``o * stride - pad_before + k * dilation``; indices outside the input are resolved by the
boundary rule (``common.map_index``). 1-D and 2-D correlations run as 3-D ones with unit leading
axes, so two kernels (tiled and untiled) cover every case, each compiled once per dtype.

Tiled kernel: a block of ``(bx, by, bz)`` threads computes that many outputs of one batch item.
It first loads the kernel window and the input tile its outputs read (the halo included) into
shared memory, resolving the boundary rule once per tile element, so the multiply-add loop reads
shared memory only and has no branches. The block then walks the batch (grid-stride along z),
keeping the window and reloading the tile. The untiled kernel (tiles that exceed
``_config.CUDA_SHARED_BYTES``: long or widely dilated kernels) resolves indices per tap and reads
global memory through the cache.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, int32

from .. import _config
from . import common
from .common import map32, map_index
from .launch import launch


@cuda.jit(cache=True)
def _corr_tiled(
    x, w, out, B, N0, N1, N2, K0, K1, K2, O0, O1, O2,
    p0, p1, p2, s0, s1, s2, d0, d1, d2, mode, cval, flip, nb0, ny, ry, rz,
):  # fmt: skip
    # x (B, N0, N1, N2), w (K0, K1, K2) and out (B, O0, O1, O2) flat; int32 geometry. Numba
    # computes in int64 (its integer typing); the int32 casts keep indices in single registers:
    # 80 registers (float32) instead of 144 (sm_90, ``python -m sigconv._cuda.ptx
    # --resources``), three 256-thread blocks per SM instead of one. The launcher checks that
    # one item's offsets fit.
    #
    # A block computes OZ x OY x bx outputs: each thread ry along axis 1 (every by-th row) and
    # rz along axis 0 (every bz-th plane), so the halo is loaded once per ry*rz outputs. Thread-
    # strided loops are while loops: range(start, stop, step) divides in 64 bits for its trip
    # count.
    bx = int32(cuda.blockDim.x)
    by = int32(cuda.blockDim.y)
    bz = int32(cuda.blockDim.z)
    tx = int32(cuda.threadIdx.x)
    ty = int32(cuda.threadIdx.y)
    tz = int32(cuda.threadIdx.z)
    OY = int32(by * ry)
    OZ = int32(bz * rz)
    # Tile extents: the input span read by a block of outputs (halo included).
    T2 = int32((bx - 1) * s2 + (K2 - 1) * d2 + 1)
    T1 = int32((OY - 1) * s1 + (K1 - 1) * d1 + 1)
    T0 = int32((OZ - 1) * s0 + (K0 - 1) * d0 + 1)
    T12 = int32(T1 * T2)
    ntile = int32(T0 * T12)
    KK = int32(K1 * K2)
    nw = int32(K0 * KK)
    sh = cuda.shared.array(0, x.dtype)
    tid = int32((tz * by + ty) * bx + tx)
    nthreads = int32(bx * by * bz)
    t = tid
    while t < nw:
        sh[ntile + t] = w[nw - 1 - t] if flip else w[t]
        t = int32(t + nthreads)
    o2 = int32(cuda.blockIdx.x * bx + tx)
    i2 = int32(cuda.blockIdx.x * bx * s2 - p2)
    step0 = int32(d0 * T12)
    step1 = int32(d1 * T2)
    NS = int32(N0 * N1 * N2)
    OS = int32(O0 * O1 * O2)
    # Grid z strides over (item, row block, plane block) triples: no grid extent limits the
    # rows, planes or items (the hardware caps grid y and z at 65535).
    per_item = int32(nb0 * ny)  # blocks of one item: <= its outputs, an int32
    blk = cuda.blockIdx.z
    while blk < B * per_item:
        b = blk // per_item
        rest = int32(blk - b * per_item)
        yblock = int32(rest // nb0)
        zblock = int32(rest - yblock * nb0)
        i0 = int32(zblock * OZ * s0 - p0)
        i1 = int32(yblock * OY * s1 - p1)
        # Interior tiles (the same answer for the whole block) skip the boundary rule.
        inside = i0 >= 0 and i1 >= 0 and i2 >= 0 and i0 + T0 <= N0 and i1 + T1 <= N1
        inside = inside and i2 + T2 <= N2
        cuda.syncthreads()  # the previous tile is no longer read
        xb = b * NS  # int64: only one item's offsets must fit in int32
        c0 = tz
        while c0 < T0:
            if inside:
                # Four rows per step, loaded before any is stored: four loads in flight per
                # thread instead of one (a load's latency otherwise stalls the warp at its
                # store). Rows past the tile repeat its last row: the same value written twice.
                g0 = int32((i0 + c0) * N1 + i1)
                c1 = ty
                while c1 < T1:
                    c1b = int32(min(c1 + by, T1 - 1))
                    c1c = int32(min(c1 + 2 * by, T1 - 1))
                    c1d = int32(min(c1 + 3 * by, T1 - 1))
                    c2 = tx
                    while c2 < T2:
                        col = int32(i2 + c2)
                        v0 = x[xb + int32((g0 + c1) * N2 + col)]
                        v1 = x[xb + int32((g0 + c1b) * N2 + col)]
                        v2 = x[xb + int32((g0 + c1c) * N2 + col)]
                        v3 = x[xb + int32((g0 + c1d) * N2 + col)]
                        r0 = int32(c0 * T12 + c2)
                        sh[r0 + c1 * T2] = v0
                        sh[r0 + c1b * T2] = v1
                        sh[r0 + c1c * T2] = v2
                        sh[r0 + c1d * T2] = v3
                        c2 = int32(c2 + bx)
                    c1 = int32(c1 + 4 * by)
            else:
                # Nested thread-strided loops: no integer division per element, and each
                # boundary lookup is hoisted to the loop of its axis.
                j0 = map32(int32(i0 + c0), N0, mode)
                c1 = ty
                while c1 < T1:
                    row = int32((c0 * T1 + c1) * T2)
                    j1 = map32(int32(i1 + c1), N1, mode)
                    c2 = tx
                    while c2 < T2:
                        j2 = map32(int32(i2 + c2), N2, mode)
                        if j0 < 0 or j1 < 0 or j2 < 0:
                            sh[row + c2] = cval
                        else:
                            sh[row + c2] = x[xb + int32((j0 * N1 + j1) * N2 + j2)]
                        c2 = int32(c2 + bx)
                    c1 = int32(c1 + by)
            c0 = int32(c0 + bz)
        cuda.syncthreads()
        if o2 < O2:
            ob = b * OS
            q = int32(0)
            while q < rz:
                lz = int32(tz + q * bz)
                o0 = int32(zblock * OZ + lz)
                jj = int32(0)
                while jj < ry and o0 < O0:
                    ly = int32(ty + jj * by)
                    o1 = int32(yblock * OY + ly)
                    if o1 < O1:
                        base = int32((lz * s0 * T1 + ly * s1) * T2 + tx * s2)
                        acc = x.dtype.type(0)
                        wi = ntile
                        for a in range(K0):
                            ra = int32(base + a * step0)
                            for c in range(K1):
                                rc = int32(ra + c * step1)
                                for e in range(K2):
                                    acc += sh[wi] * sh[rc + e * d2]
                                    wi += 1
                        out[ob + int32((o0 * O1 + o1) * O2 + o2)] = acc
                    jj = int32(jj + 1)
                q = int32(q + 1)
        blk += cuda.gridDim.z


@cuda.jit(cache=True)
def _corr_direct(x, w, out, p0, p1, p2, s0, s1, s2, d0, d1, d2, mode, cval, flip, nb0, ny):
    B, N0, N1, N2 = x.shape
    K0, K1, K2 = w.shape
    O0, O1, O2 = out.shape[1], out.shape[2], out.shape[3]
    o2 = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    per_item = nb0 * ny
    blk = cuda.blockIdx.z  # strides over (item, row block, plane block), as _corr_tiled
    while blk < B * per_item:
        b = blk // per_item
        rest = blk - b * per_item
        yblock = rest // nb0
        o0 = (rest - yblock * nb0) * cuda.blockDim.z + cuda.threadIdx.z
        o1 = yblock * cuda.blockDim.y + cuda.threadIdx.y
        if o0 < O0 and o1 < O1 and o2 < O2:
            acc = x.dtype.type(0)
            for a in range(K0):
                j0 = map_index(o0 * s0 - p0 + a * d0, N0, mode)
                wa = K0 - 1 - a if flip else a
                for c in range(K1):
                    j1 = map_index(o1 * s1 - p1 + c * d1, N1, mode)
                    wc = K1 - 1 - c if flip else c
                    for e in range(K2):
                        j2 = map_index(o2 * s2 - p2 + e * d2, N2, mode)
                        we = K2 - 1 - e if flip else e
                        if j0 < 0 or j1 < 0 or j2 < 0:
                            v = cval
                        else:
                            v = x[b, j0, j1, j2]
                        acc += w[wa, wc, we] * v
            out[b, o0, o1, o2] = acc
        blk += cuda.gridDim.z


def _sig(t: str) -> str:
    a4 = f"{t}[:, :, :, ::1]"
    i10 = ", ".join(["int64"] * 10)
    return f"void({a4}, {t}[:, :, ::1], {a4}, {i10}, {t}, int64, int64, int64)"


def _sig_tiled(t: str) -> str:
    i = ", ".join(["int32"] * 19)
    return f"void({t}[::1], {t}[::1], {t}[::1], int64, {i}, {t}, int32, int32, int32, int32, int32)"


PTX_SIGNATURES = [
    (_corr_tiled, [_sig_tiled("float32"), _sig_tiled("float64")]),
    (_corr_direct, [_sig("float32"), _sig("float64")]),
]


def tile_elements(outputs, kshape, stride, dilation) -> int:
    """Shared-memory elements of the tiled kernel for a block computing ``outputs`` (per axis,
    (0, 1, 2) order): the input tile (halo included) plus the window."""
    tile = math.prod(
        (o - 1) * s + (k - 1) * d + 1 for o, k, s, d in zip(outputs, kshape, stride, dilation)
    )
    return tile + math.prod(kshape)


def _geometry(ndim: int, kshape, stride, dilation, itemsize: int):
    """``(block, ry, rz)`` of the tiled kernel, or ``(block, 0, 0)`` when even one output per
    thread needs more shared memory than ``_config.CUDA_SHARED_BYTES`` (untiled kernel)."""
    if ndim == 1:
        block, ry, rz = (_config.CUDA_BLOCK_1D, 1, 1), 1, 1
    elif ndim == 2:
        bx, by = _config.CUDA_BLOCK_2D
        block, ry, rz = (bx, by, 1), int(_config.CUDA_CORR_ROWS), 1
    else:
        block, ry, rz = tuple(_config.CUDA_CORR_BLOCK_3D), 1, int(_config.CUDA_CORR_PLANES)
    bx, by, bz = block
    while True:
        outputs = (bz * rz, by * ry, bx)
        if tile_elements(outputs, kshape, stride, dilation) * itemsize <= _config.CUDA_SHARED_BYTES:
            return block, ry, rz
        if ry == 1 and rz == 1:
            return block, 0, 0
        ry, rz = max(1, ry // 2), max(1, rz // 2)


def launch_correlate(xd, wd, od, pads, stride, dilation, mode, cval, flip) -> None:
    """Run the correlation of normalised device arrays (``(B,N0,N1,N2)``, ``(K0,K1,K2)``,
    ``(B,O0,O1,O2)``, all C-contiguous, one dtype); ``pads``/``stride``/``dilation`` per axis
    in (0, 1, 2) order."""
    B = xd.shape[0]
    O0, O1, O2 = od.shape[1], od.shape[2], od.shape[3]
    ndim = (
        3
        if (O0 > 1 or xd.shape[1] > 1 or wd.shape[0] > 1)
        else (2 if xd.shape[2] > 1 or wd.shape[1] > 1 or O1 > 1 else 1)
    )
    dtype = np.dtype(xd.dtype)
    # (z, y, x) order for the kernel's (0, 1, 2) axes: x is the contiguous axis.
    kshape = tuple(wd.shape)
    (bx, by, bz), ry, rz = _geometry(ndim, kshape, stride, dilation, dtype.itemsize)
    tiled = ry > 0
    oy, oz = (by * ry, bz * rz) if tiled else (by, bz)
    gx, ny, nb0 = common.blocks(O2, bx), common.blocks(O1, oy), common.blocks(O0, oz)
    # grid z strides over (item, row block, plane block): capped, the kernels loop over the rest
    gz = min(B * ny * nb0, _config.CUDA_MAX_GRID_YZ)
    # One item's input and output offsets must fit the tiled kernel's int32 arithmetic.
    fits32 = max(math.prod(xd.shape[1:]), math.prod(od.shape[1:])) <= common.INT32_LIMIT
    if tiled and fits32:
        i32 = np.int32
        shbytes = tile_elements((oz, oy, bx), kshape, stride, dilation) * dtype.itemsize
        launch(
            _corr_tiled,
            (gx, 1, gz),
            (bx, by, bz),
            shbytes,
            common.reshape(xd, (math.prod(xd.shape),)),
            common.reshape(wd, (math.prod(kshape),)),
            common.reshape(od, (math.prod(od.shape),)),
            int(B),
            *(i32(n) for n in (*xd.shape[1:], *kshape, O0, O1, O2)),
            *(i32(v) for v in (*pads, *stride, *dilation, mode)),
            dtype.type(cval),
            i32(bool(flip)),
            i32(nb0),
            i32(ny),
            i32(ry),
            i32(rz),
        )
        return
    if tiled:  # the untiled kernel's grid: one output per thread
        ny, nb0 = common.blocks(O1, by), common.blocks(O0, bz)
        gz = min(B * ny * nb0, _config.CUDA_MAX_GRID_YZ)
    launch(
        _corr_direct,
        (gx, 1, gz),
        (bx, by, bz),
        0,
        xd,
        wd,
        od,
        *(int(v) for v in (*pads, *stride, *dilation, mode)),
        dtype.type(cval),
        int(bool(flip)),
        int(nb0),
        int(ny),
    )


def correlate(plan, x, w, out):
    """``plan``'s correlation (``plan.flip``: convolution) on the GPU.

    ``x`` ``(*batch, *spatial)`` and ``w`` are host arrays of ``plan.dtype`` or the caller's
    device arrays; ``out`` is None or a checked host or device array of ``plan.out_shape``.
    A device array comes back when ``x`` or ``w`` lives on the device, else a host ndarray
    (``out`` when given). This backend has the direct kernels only.
    """
    if plan.method == "fft":
        # Running the direct kernels for an explicit method="fft" would hide what the caller
        # asked for.
        raise ValueError(
            "method='fft' is not available on the CUDA backend (it has direct kernels "
            "only); use method='direct' or 'auto', or backend='cpu' for the FFT path"
        )
    on_device = common.on_device(x, w)
    dtype = plan.dtype
    pad = 3 - plan.nd
    B = math.prod(plan.batch)
    xd = common.reshape(common.contiguous(x, dtype), (B,) + (1,) * pad + plan.spatial)
    wd = common.reshape(common.contiguous(w, dtype), (1,) * pad + plan.kernel)
    od = common.out_target(out, plan.out_shape, dtype)
    if math.prod(plan.out_shape) > 0:
        od4 = common.reshape(od, (B,) + (1,) * pad + tuple(int(g.n_out) for g in plan.axes))
        pads = (0,) * pad + tuple(int(g.pad_before) for g in plan.axes)
        strides = (1,) * pad + tuple(int(s) for s in plan.stride)
        dils = (1,) * pad + tuple(int(d) for d in plan.dilation)
        launch_correlate(xd, wd, od4, pads, strides, dils, plan.boundary_code, plan.cval, plan.flip)
    return common.finish(od, out, on_device)

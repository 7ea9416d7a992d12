"""The direct numba.cuda kernels of the CNN convolution (few channels per group).

The host side is ``convolution`` (the backend interface). Every problem is brought to three
spatial axes:

* ``x`` ``(N, C_in, D, H, W)``, ``w`` ``(C_out, C_in / groups, KD, KH, KW)``,
  ``y`` ``(N, C_out, OD, OH, OW)``, all C-contiguous in the compute dtype;
* output ``o`` reads (padded) input ``o * stride - pad_before + k * dilation``; the padding is
  never materialised in the forward pass: tile loads resolve it with the boundary rule of
  ``padding_mode`` (``common.map_index``).

Dispatch: when a GEMM has enough channels per group (``igemm.use``: at least
``_config.CUDA_IGEMM_MIN_K_CHANNELS`` summed over and ``CUDA_IGEMM_MIN_M_CHANNELS`` computed),
``forward_device``, ``gather_device`` and the weight gradient of ``conv_backward`` run the
register-tiled implicit-GEMM kernels of ``sigconv._cuda.igemm`` (design in its docstring); the
kernels below take the small channel counts (LeNet's first layer, depthwise convolutions) where
a 64-row tile would mostly hold zeros.

Kernels:

* ``conv_tiled``: a block computes a spatial tile of outputs for ``COB`` output channels of
  one image. Per input channel of the group it stages the input tile (halo included) and the
  ``COB`` filters' taps in shared memory, then every thread accumulates ``COB`` outputs in
  registers: each input value loaded from shared memory feeds ``COB`` multiply-adds.
  ``conv_direct`` is the untiled fallback for tiles beyond ``_config.CUDA_SHARED_BYTES``.
* ``conv_gather``: the transposed convolution (``grad_x`` and ``conv_transpose``) as a
  gather, so every output is written by one thread (no atomics, deterministic): position ``p``
  of the (padded) input collects ``g[(p + off - k*d) / s] * w[k]`` over the taps where the
  division is exact.
* ``grad_weight_taps``: one block per filter ``(co, ci)`` reduces ``g * x`` over the batch
  and the output positions for all its taps at once (one register accumulator per tap, up to
  ``KMAX``), then a shared-memory tree per tap; ``grad_weight_direct`` (one block per weight
  element) takes larger kernels.
* ``channel_sum``: ``grad_bias``, one block per channel.
* ``fold_padding``: sends the gradient of padded positions back to the pixels that the padding
  copied (reflect, replicate, circular, symmetric), one axis at a time, by gather.
"""

from __future__ import annotations

from numba import cuda, int32

from .. import _config
from . import common
from .common import map32, map_index
from .igemm_kernels import src32

#: Output channels per thread of the tiled forward kernel (registers per thread).
COB = 4
#: Most elements of one channel plane for the tiled forward kernel (int32 offsets within a
#: plane, COB planes of output; larger planes take the untiled kernel).
INT32_PLANE = common.INT32_LIMIT // COB


# --- forward -----------------------------------------------------------------------------------


@cuda.jit(cache=True)
def conv_tiled(
    x, w, b, y, N, C, N0, N1, N2, Cout, cin_g, K0, K1, K2, O0, O1, O2,
    p0, p1, p2, s0, s1, s2, d0, d1, d2, mode, groups, nb0, has_bias,
):  # fmt: skip
    # x (N, C, N0, N1, N2), w (Cout, cin_g, K0, K1, K2), y (N, Cout, O0, O1, O2) flat; int32
    # geometry, and indices within a channel plane kept in int32 (Numba computes in int64):
    # 108 registers instead of 167 (float32, sm_90). Grid- and thread-strided
    # loops are while loops (range with a step divides in 64 bits for its trip count).
    cout_g = int32(Cout // groups)
    ncb = int32((cout_g + COB - 1) // COB)  # channel blocks per group
    bx = int32(cuda.blockDim.x)
    by = int32(cuda.blockDim.y)
    bz = int32(cuda.blockDim.z)
    tx = int32(cuda.threadIdx.x)
    ty = int32(cuda.threadIdx.y)
    tz = int32(cuda.threadIdx.z)
    T2 = int32((bx - 1) * s2 + (K2 - 1) * d2 + 1)
    T1 = int32((by - 1) * s1 + (K1 - 1) * d1 + 1)
    T0 = int32((bz - 1) * s0 + (K0 - 1) * d0 + 1)
    ntile = int32(T0 * T1 * T2)
    K = int32(K0 * K1 * K2)
    NS = int32(N0 * N1 * N2)
    OS = int32(O0 * O1 * O2)
    sh = cuda.shared.array(0, x.dtype)
    tile = sh[:ntile]
    wsh = sh[ntile : ntile + COB * K]
    tid = int32((tz * by + ty) * bx + tx)
    nthreads = int32(bx * by * bz)
    acc = cuda.local.array(COB, x.dtype)
    base = int32((tz * s0 * T1 + ty * s1) * T2 + tx * s2)
    step0 = int32(d0 * T1 * T2)
    step1 = int32(d1 * T2)
    o1 = int32(cuda.blockIdx.y * by + ty)
    o2 = int32(cuda.blockIdx.x * bx + tx)
    i1 = int32(cuda.blockIdx.y * by * s1 - p1)
    i2 = int32(cuda.blockIdx.x * bx * s2 - p2)
    nz = nb0 * N * groups * ncb
    zi = cuda.blockIdx.z
    while zi < nz:
        zb = int32(zi % nb0)
        r = zi // nb0
        cb = int32(r % ncb)
        r = r // ncb
        g = int32(r % groups)
        n = r // groups
        co0 = int32(g * cout_g + cb * COB)
        nco = int32(min(COB, cout_g - cb * COB))
        o0 = int32(zb * bz + tz)
        i0 = int32(zb * bz * s0 - p0)
        active = o0 < O0 and o1 < O1 and o2 < O2
        for j in range(COB):
            acc[j] = 0
        for ci in range(cin_g):
            xb = (n * C + g * cin_g + ci) * NS  # int64: only a plane's offsets are int32
            wb = int32((co0 * cin_g + ci) * K)
            cuda.syncthreads()
            # Nested thread-strided loops: no integer division per element, and each boundary
            # lookup is hoisted to the loop of its axis.
            c0 = tz
            while c0 < T0:
                j0 = map32(int32(i0 + c0), N0, mode)
                c1 = ty
                while c1 < T1:
                    j1 = map32(int32(i1 + c1), N1, mode)
                    row = int32((c0 * T1 + c1) * T2)
                    src = int32((j0 * N1 + j1) * N2)
                    c2 = tx
                    while c2 < T2:
                        j2 = map32(int32(i2 + c2), N2, mode)
                        if j0 < 0 or j1 < 0 or j2 < 0:
                            tile[row + c2] = 0
                        else:
                            tile[row + c2] = x[xb + int32(src + j2)]
                        c2 = int32(c2 + bx)
                    c1 = int32(c1 + by)
                c0 = int32(c0 + bz)
            t = tid
            while t < COB * K:
                jj = int32(t // K)
                if jj < nco:
                    # filter co0 + jj, input channel ci: its taps are contiguous in w
                    wsh[t] = w[wb + int32(jj * cin_g * K + t - jj * K)]
                else:
                    wsh[t] = 0
                t = int32(t + nthreads)
            cuda.syncthreads()
            if active:
                for a in range(K0):
                    ra = int32(base + a * step0)
                    for cc in range(K1):
                        rc = int32(ra + cc * step1)
                        kw = int32((a * K1 + cc) * K2)
                        for e in range(K2):
                            v = tile[rc + e * d2]
                            for j in range(COB):
                                acc[j] += wsh[j * K + kw + e] * v
        if active:
            # range(COB) with a guard, not range(nco): constant trip counts let NVVM unroll every
            # loop over acc and keep it in registers (with range(nco) it lived in local memory)
            yb = (n * Cout + co0) * OS  # int64
            pos = int32((o0 * O1 + o1) * O2 + o2)
            for j in range(COB):
                if j < nco:
                    if has_bias:
                        y[yb + j * OS + pos] = acc[j] + b[co0 + j]
                    else:
                        y[yb + j * OS + pos] = acc[j]
        zi += cuda.gridDim.z


@cuda.jit(cache=True)
def conv_direct(x, w, b, y, p0, p1, p2, s0, s1, s2, d0, d1, d2, mode, groups, nb0, has_bias):
    N, C, N0, N1, N2 = x.shape
    Cout, cin_g, K0, K1, K2 = w.shape
    O0, O1, O2 = y.shape[2], y.shape[3], y.shape[4]
    cout_g = Cout // groups
    o1 = cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y
    o2 = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    nz = nb0 * N * Cout
    for zi in range(cuda.blockIdx.z, nz, cuda.gridDim.z):
        zb = zi % nb0
        r = zi // nb0
        co = r % Cout
        n = r // Cout
        o0 = zb * cuda.blockDim.z + cuda.threadIdx.z
        if o0 < O0 and o1 < O1 and o2 < O2:
            g = co // cout_g
            acc = x.dtype.type(0)
            for ci in range(cin_g):
                c = g * cin_g + ci
                for a in range(K0):
                    j0 = map_index(o0 * s0 - p0 + a * d0, N0, mode)
                    for cc in range(K1):
                        j1 = map_index(o1 * s1 - p1 + cc * d1, N1, mode)
                        for e in range(K2):
                            j2 = map_index(o2 * s2 - p2 + e * d2, N2, mode)
                            if j0 >= 0 and j1 >= 0 and j2 >= 0:
                                acc += w[co, ci, a, cc, e] * x[n, c, j0, j1, j2]
            if has_bias:
                acc += b[co]
            y[n, co, o0, o1, o2] = acc


# --- transposed convolution (grad_x, conv_transpose) ----------------------------------------


@cuda.jit(cache=True)
def conv_gather(
    g, w, b, out, N, Cout, O0, O1, O2, C, cin_g, K0, K1, K2, P0, P1, P2,
    f0, f1, f2, s0, s1, s2, d0, d1, d2, groups, nb0, has_bias,
):  # fmt: skip
    # out[n, c, p] = sum over co in c's group and taps k of g[n, co, (p + f - k*d) / s] *
    # w[co, c % cin_g, k], where the division is exact and in range (f: pad offset). All arrays
    # flat; int32 geometry and offsets within a channel plane, as in conv_tiled (78 registers
    # instead of 154, float32 sm_90).
    cout_g = int32(Cout // groups)
    K = int32(K0 * K1 * K2)
    OS = int32(O0 * O1 * O2)
    PS = int32(P0 * P1 * P2)
    q1 = int32(cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y)
    q2 = int32(cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x)
    nz = nb0 * N * C
    zi = cuda.blockIdx.z
    while zi < nz:
        zb = int32(zi % nb0)
        r = zi // nb0
        c = int32(r % C)
        n = r // C
        q0 = int32(zb * cuda.blockDim.z + cuda.threadIdx.z)
        if q0 < P0 and q1 < P1 and q2 < P2:
            grp = int32(c // cin_g)
            ci = int32(c - grp * cin_g)
            gb = (n * Cout + grp * cout_g) * OS  # int64: the group's first gradient plane
            wb = int32((grp * cout_g * cin_g + ci) * K)
            acc = g.dtype.type(0)
            for a in range(K0):
                u0 = src32(q0 + f0, a, d0, s0, O0)
                if u0 < 0:
                    continue
                for cc in range(K1):
                    u1 = src32(q1 + f1, cc, d1, s1, O1)
                    if u1 < 0:
                        continue
                    for e in range(K2):
                        u2 = src32(q2 + f2, e, d2, s2, O2)
                        if u2 < 0:
                            continue
                        gi = gb + int32((u0 * O1 + u1) * O2 + u2)
                        wi = int32(wb + (a * K1 + cc) * K2 + e)
                        for co in range(cout_g):
                            acc += g[gi + co * OS] * w[wi + co * cin_g * K]
            if has_bias:
                acc += b[c]
            out[(n * C + c) * PS + int32((q0 * P1 + q1) * P2 + q2)] = acc
        zi += cuda.gridDim.z


# --- weight and bias gradients -------------------------------------------------------------------


@cuda.jit(device=True, inline=True, cache=True)
def _block_sum(red, tid, nthreads):
    """Tree-sum ``red[:nthreads]`` (shared memory, ``nthreads`` a power of two) into ``red[0]``."""
    half = nthreads // 2
    while half > 0:
        cuda.syncthreads()
        if tid < half:
            red[tid] += red[tid + half]
        half //= 2
    cuda.syncthreads()


@cuda.jit(cache=True)
def grad_weight_direct(g, x, gw, p0, p1, p2, s0, s1, s2, d0, d1, d2, mode, groups):
    # One block per weight element (grid-stride over them): gw[co, ci, k] =
    # sum over n and output positions of g[n, co, o] * xpad[n, c, o*s - p + k*d].
    N, Cout, O0, O1, O2 = g.shape
    _, C, N0, N1, N2 = x.shape
    _, cin_g, K0, K1, K2 = gw.shape
    cout_g = Cout // groups
    red = cuda.shared.array(0, g.dtype)
    tid = cuda.threadIdx.x
    nthreads = cuda.blockDim.x
    nw = Cout * cin_g * K0 * K1 * K2
    M = N * O0 * O1 * O2
    for widx in range(cuda.blockIdx.x, nw, cuda.gridDim.x):
        e = widx % K2
        r = widx // K2
        cc = r % K1
        r //= K1
        a = r % K0
        r //= K0
        ci = r % cin_g
        co = r // cin_g
        c = (co // cout_g) * cin_g + ci
        acc = g.dtype.type(0)
        for m in range(tid, M, nthreads):
            u2 = m % O2
            q = m // O2
            u1 = q % O1
            q //= O1
            u0 = q % O0
            n = q // O0
            j0 = map_index(u0 * s0 - p0 + a * d0, N0, mode)
            j1 = map_index(u1 * s1 - p1 + cc * d1, N1, mode)
            j2 = map_index(u2 * s2 - p2 + e * d2, N2, mode)
            if j0 >= 0 and j1 >= 0 and j2 >= 0:
                acc += g[n, co, u0, u1, u2] * x[n, c, j0, j1, j2]
        red[tid] = acc
        _block_sum(red, tid, nthreads)
        if tid == 0:
            gw[co, ci, a, cc, e] = red[0]


#: Most kernel taps for which ``grad_weight_taps`` keeps one accumulator per tap in registers
#: (a module constant: the kernel sizes a local array with it).
KMAX = _config.CUDA_WGRAD_TAPS_MAX


@cuda.jit(cache=True)
def grad_weight_taps(g, x, gw, p0, p1, p2, s0, s1, s2, d0, d1, d2, mode, groups):
    # One block per (co, ci) filter (grid-stride over them), all K <= KMAX taps at once: each
    # g value is read once and feeds K multiply-adds (the x reads of neighbouring taps share
    # cache lines); then one shared-memory tree per tap.
    N, Cout, O0, O1, O2 = g.shape
    _, C, N0, N1, N2 = x.shape
    _, cin_g, K0, K1, K2 = gw.shape
    K = K0 * K1 * K2
    cout_g = Cout // groups
    red = cuda.shared.array(0, g.dtype)
    acc = cuda.local.array(KMAX, g.dtype)
    tid = cuda.threadIdx.x
    nthreads = cuda.blockDim.x
    M = N * O0 * O1 * O2
    for fidx in range(cuda.blockIdx.x, Cout * cin_g, cuda.gridDim.x):
        ci = fidx % cin_g
        co = fidx // cin_g
        c = (co // cout_g) * cin_g + ci
        for j in range(KMAX):
            acc[j] = 0
        for m in range(tid, M, nthreads):
            u2 = m % O2
            q = m // O2
            u1 = q % O1
            q //= O1
            u0 = q % O0
            n = q // O0
            gv = g[n, co, u0, u1, u2]
            for a in range(K0):
                j0 = map_index(u0 * s0 - p0 + a * d0, N0, mode)
                if j0 < 0:
                    continue
                for cc in range(K1):
                    j1 = map_index(u1 * s1 - p1 + cc * d1, N1, mode)
                    if j1 < 0:
                        continue
                    for e in range(K2):
                        j2 = map_index(u2 * s2 - p2 + e * d2, N2, mode)
                        if j2 >= 0:
                            acc[(a * K1 + cc) * K2 + e] += gv * x[n, c, j0, j1, j2]
        for kk in range(K):
            red[tid] = acc[kk]
            _block_sum(red, tid, nthreads)
            if tid == 0:
                gw[co, ci, kk // (K1 * K2), (kk // K2) % K1, kk % K2] = red[0]
            cuda.syncthreads()


@cuda.jit(cache=True)
def channel_sum(g, out):
    # out[c] = sum of g[:, c, :] (g viewed as (N, C, M)); one block per channel.
    N, C, M = g.shape
    red = cuda.shared.array(0, g.dtype)
    tid = cuda.threadIdx.x
    nthreads = cuda.blockDim.x
    for c in range(cuda.blockIdx.x, C, cuda.gridDim.x):
        acc = g.dtype.type(0)
        for m in range(tid, N * M, nthreads):
            acc += g[m // M, c, m % M]
        red[tid] = acc
        _block_sum(red, tid, nthreads)
        if tid == 0:
            out[c] = red[0]


# --- folding padded gradients back --------------------------------------------------------------


@cuda.jit(cache=True)
def fold_padding(src, dst, pb, mode):
    # dst[a, i, c] = sum over padded positions p of src[a, p, c] whose source pixel is i:
    # the interior position p = i + pb, plus the pad positions that copy i.
    A, P, Cn = src.shape
    n = dst.shape[1]
    total = A * n * Cn
    start = cuda.grid(1)
    step = cuda.gridsize(1)
    for t in range(start, total, step):
        cidx = t % Cn
        r = t // Cn
        i = r % n
        a = r // n
        acc = src[a, i + pb, cidx]
        for p in range(pb):
            if map_index(p - pb, n, mode) == i:
                acc += src[a, p, cidx]
        for p in range(pb + n, P):
            if map_index(p - pb, n, mode) == i:
                acc += src[a, p, cidx]
        dst[a, i, cidx] = acc


# --- PTX registry -------------------------------------------------------------------------------


def _a(t: str, nd: int) -> str:
    return f"{t}[{', '.join([':'] * (nd - 1) + ['::1'])}]"


def _sigs():
    out = {}
    for t in ("float32", "float64"):
        a5, a1 = _a(t, 5), _a(t, 1)
        i = "int64"
        out.setdefault("fwd", []).append(f"void({a5}, {a5}, {a1}, {a5}, {', '.join([i] * 13)})")
        i32 = ", ".join(["int32"] * 23)
        out.setdefault("fwd_tiled", []).append(
            f"void({a1}, {a1}, {a1}, {a1}, int64, {i32}, int64, int32)"
        )
        i22 = ", ".join(["int32"] * 22)
        out.setdefault("gather", []).append(
            f"void({a1}, {a1}, {a1}, {a1}, int64, {i22}, int64, int32)"
        )
        out.setdefault("gw", []).append(f"void({a5}, {a5}, {a5}, {', '.join([i] * 11)})")
        out.setdefault("sum", []).append(f"void({_a(t, 3)}, {a1})")
        out.setdefault("fold", []).append(f"void({_a(t, 3)}, {_a(t, 3)}, int64, int64)")
    return out


_S = _sigs()
PTX_SIGNATURES = [
    (conv_tiled, _S["fwd_tiled"]),
    (conv_direct, _S["fwd"]),
    (conv_gather, _S["gather"]),
    (grad_weight_direct, _S["gw"]),
    (grad_weight_taps, _S["gw"]),
    (channel_sum, _S["sum"]),
    (fold_padding, _S["fold"]),
]

"""Implicit-GEMM convolution kernels for the CNN path: forward, input gradient, weight gradient.

(The host side, tile choice and launchers, is ``igemm``.)

Each pass of a convolution is a matrix product whose operands are never materialised (no im2col
buffer in global memory): the kernels gather the operand tiles straight from the tensors, with
the padding rule, stride and dilation applied while loading. ``sigconv._cuda.convolution`` calls
them (with canonical 5-D C-contiguous device arrays) when a GEMM is large enough to fill the tiles
(``use``); tiny channel counts keep that module's direct kernels.

The three GEMMs (per group ``g``; ``KK = KD*KH*KW`` taps, ``P`` output positions per image):

* forward ``igemm_forward``: ``y[n, co, o] = sum_(tap, ci) w[co, ci, tap] * xpad[n, ci, o*s -
  p + tap*d]``; M = ``C_out/groups`` rows, N = ``N*P`` columns (image, position), K =
  ``KK * C_in/groups`` ordered tap-major (``k = tap*cin_g + ci``); bias in the epilogue.
* input gradient ``igemm_gather`` (also ``conv_transpose``): ``out[n, ci, q] = sum_(tap, co)
  w[co, ci, tap] * g[n, co, (q + f - tap*d)/s]`` where the division is exact and in range; M =
  ``C_in/groups``, N = ``N*Q`` (image, (padded) input position), K = ``KK * C_out/groups``. The
  gather form writes every output once (no atomics, deterministic), as ``conv_kernels.conv_gather``.
* weight gradient ``igemm_wgrad``: ``gw[co, (ci, tap)] = sum_(n, o) g[n, co, o] * xpad[n, ci,
  o*s - p + tap*d]``; M = ``C_out/groups``, N = ``cin_g*KK`` (the layout of ``w``'s rows), K =
  ``N*P``, a long reduction split over grid z into ``splits`` chunks; each writes a partial tile
  into a ``(splits, C_out, cin_g*KK)`` buffer that ``sum_splits`` adds in a fixed order
  (deterministic, no atomics).

Layout (the classic register-tiled SGEMM): a block of ``(BM/TM)*(BN/TN)`` threads computes a
``BM x BN`` tile of the output matrix; per K step it stages a ``BK``-deep slice of A (``As[k][m]``)
and of B (``Bs[k][n]``) in shared memory, k-major, so the inner loop reads ``TM`` contiguous A
values (the thread's rows ``ty*TM + i``: one or two addresses per warp, broadcast) and ``TN`` B
values, then does ``TM*TN`` multiply-adds into a register tile (``cuda.local.array(TM*TN)`` with
``TM``, ``TN`` module constants: NVVM unrolls every loop over them and keeps the tile in
registers, which ``-Xptxas -v`` confirms: no stack frame, no spills). A thread owns the B
columns ``tx + j*(BN/TN)`` (strided, not contiguous): Numba has no vector shared loads, and with
the strided owner the scalar loads of a warp hit 32 consecutive words (no bank conflict) and the
epilogue's stores of a warp are consecutive output positions (coalesced). Defaults BM = BN = 64,
BK = 8, TM = TN = 4: 256 threads, 64 multiply-adds per 8 shared loads, 4 KiB of shared memory
per block (float32), so several blocks fit per SM; see ``_config.CUDA_IGEMM_*``.

Loads (why the K order is tap-major in forward and gather): a thread loads a fixed B column
(``tid % BN``) on every K step. Its column's decode (image, output position -> input base
coordinates) happens once per block; for each tap the thread resolves its source offset once
(boundary rule of ``padding_mode`` via ``common.map_index``, or the exact-division test of
the transposed convolution) and the inner loop over channel slices only adds ``ci * plane``:
no division and no boundary test per element. A thread loads A (packed weights,
``pack_tile_weights``: ``(groups, taps, K-channel, M-channel)``, contiguous along M) at a fixed
row ``tid % BM``, so both global loads are coalesced along the warp and both shared stores are
conflict-free. In the gather, a tap that no column of the block reads (stride > 1 phases) is
skipped by the whole block (``syncthreads_or``).

The weight gradient's K index is (image, position): each thread loads a fixed K row
(``tid % BK``) of both operands, decoding it once per K step; the B column decode (channel
offset and the tap's dilated offsets) is a per-block table in shared memory (int32: a channel
plane offset ``ci * D*H*W`` must stay below 2**31). Its tiles are padded (leading dimension
``BM + 32/BK``) so the k-fast shared stores of a warp do not collide on one bank.

Integer arithmetic is int64 (Numba's integer typing); the NVPTX backend turns 64-bit divisions
of small values into 32-bit ones at run time, and the divisions are out of the inner loops.
"""

from __future__ import annotations

from numba import cuda, int32

from .common import map32

#: Rows (M) and columns (N) of the register tile each thread accumulates (compile-time: the
#: tile must stay in registers).
TM = 4
TN = 4
TMN = TM * TN  # a literal for cuda.local.array


@cuda.jit(device=True, inline=True, cache=True)
def tap_source(p, k, d, s, O):
    """Output index that tap ``k`` of position ``p`` (offset applied) reads, or -1."""
    q = p - k * d
    if q < 0:
        return -1
    o = q // s
    if o * s != q or o >= O:
        return -1
    return o


@cuda.jit(device=True, inline=True, cache=True)
def _mma(As, Bs, acc, ra, rb, kn, lda, ldb, arow, bcol, bnt):
    """``acc[i, j] += sum_k As[k, arow + i] * Bs[k, bcol + j*bnt]`` over ``k < kn``."""
    for kk in range(kn):
        ka = kk * lda + arow
        kb = kk * ldb + bcol
        for i in range(TM):
            ra[i] = As[ka + i]
        for j in range(TN):
            rb[j] = Bs[kb + j * bnt]
        for i in range(TM):
            for j in range(TN):
                acc[i * TN + j] += ra[i] * rb[j]


@cuda.jit(device=True, inline=True, cache=True)
def _store_tile(acc, out, b, has_bias, m0, mlim, c0, bnt, ncol, P, chan0, nchan, ty, tx):
    """Epilogue of forward and gather: ``out[n, chan0 + m, pos] = acc + b`` for the thread's
    rows ``m = m0 + ty*TM + i < mlim`` and columns ``c0 + tx + j*bnt = n*P + pos < ncol``."""
    for j in range(TN):
        col = c0 + tx + j * bnt
        if col < ncol:
            n = col // P
            base = (n * nchan + chan0) * P + (col - n * P)
            for i in range(TM):
                m = m0 + ty * TM + i
                if m < mlim:
                    v = acc[i * TN + j]
                    if has_bias:
                        v += b[chan0 + m]
                    out[base + m * P] = v


# --- forward ---------------------------------------------------------------------------------
#
# Integer arguments are int32 and values that live across the main loop are cast back to int32
# (Numba types int32 arithmetic as int64; LLVM narrows an int64 expression whose result is
# truncated): 64-bit integers take two registers each. Registers per thread (sm_90, float32,
# ``python -m sigconv._cuda.ptx --resources``), all-int64 -> now: forward 147 -> 113, gather
# 132 -> 102, weight gradient 135 -> 126; no stack frame, no spills (float64: 126, 123, 143).
# Under 128 registers two 256-thread blocks fit per SM. Offsets that grow with the batch
# (``n * C * ...``) stay int64.


@cuda.jit(device=True, inline=True, cache=True)
def src32(p, k, d, s, O):
    """:func:`tap_source` as an int32."""
    return int32(tap_source(p, k, d, s, O))


@cuda.jit(cache=True)
def igemm_forward(
    x, wp, b, y, C, N0, N1, N2, Cout, K0, K1, K2, O0, O1, O2,
    p0, p1, p2, s0, s1, s2, d0, d1, d2, mode, groups, has_bias, BM, BN, BK,
):  # fmt: skip
    # x (N, C, N0, N1, N2), y (N, Cout, O0, O1, O2) flat; wp packed (groups, KK, cin_g, cout_g).
    cin_g = int32(C // groups)
    cout_g = int32(Cout // groups)
    P = int32(O0 * O1 * O2)
    NS = int32(N0 * N1 * N2)
    ncol = y.shape[0] // Cout  # N * P
    sh = cuda.shared.array(0, x.dtype)
    As = sh[: BK * BM]
    Bs = sh[BK * BM : BK * (BM + BN)]
    acc = cuda.local.array(TMN, x.dtype)
    ra = cuda.local.array(TM, x.dtype)
    rb = cuda.local.array(TN, x.dtype)
    tid = int32(cuda.threadIdx.x)
    nthreads = int32(cuda.blockDim.x)
    bnt = int32(BN // TN)
    tx = int32(tid % bnt)
    ty = int32(tid // bnt)
    g = int32(cuda.blockIdx.z)
    m0 = int32(cuda.blockIdx.y * BM)
    c0 = cuda.blockIdx.x * BN
    # The thread's load slots: B column lc (rows lr, lr + rstep ...), A row am (k rows ar ...).
    lc = int32(tid % BN)
    lr = int32(tid // BN)
    rstep = int32(nthreads // BN)
    am = int32(tid % BM)
    ar = int32(tid // BM)
    astep = int32(nthreads // BM)
    aok = m0 + am < cout_g
    col = c0 + lc
    colok = col < ncol
    n = col // P
    o = int32(col - n * P)
    o0 = int32(o // (O1 * O2))
    r = int32(o - o0 * (O1 * O2))
    o1 = int32(r // O2)
    o2 = int32(r - o1 * O2)
    i0 = int32(o0 * s0 - p0)
    i1 = int32(o1 * s1 - p1)
    i2 = int32(o2 * s2 - p2)
    xb = (n * C + g * cin_g) * NS
    for i in range(TMN):
        acc[i] = 0
    wt = (g * K0 * K1 * K2) * cin_g * cout_g + m0 + am
    for a in range(K0):
        j0 = map32(int32(i0 + a * d0), N0, mode)
        for bb in range(K1):
            j1 = map32(int32(i1 + bb * d1), N1, mode)
            for cc in range(K2):
                j2 = map32(int32(i2 + cc * d2), N2, mode)
                off = -1
                if colok and j0 >= 0 and j1 >= 0 and j2 >= 0:
                    off = xb + int32((j0 * N1 + j1) * N2 + j2)
                for k0 in range(int32(0), cin_g, BK):
                    kn = int32(min(BK, cin_g - k0))
                    cuda.syncthreads()  # the previous slice has been consumed
                    for kk in range(ar, kn, astep):
                        if aok:
                            As[kk * BM + am] = wp[wt + (k0 + kk) * cout_g]
                        else:
                            As[kk * BM + am] = 0
                    for kk in range(lr, kn, rstep):
                        if off >= 0:
                            Bs[kk * BN + lc] = x[off + (k0 + kk) * NS]
                        else:
                            Bs[kk * BN + lc] = 0
                    cuda.syncthreads()
                    _mma(As, Bs, acc, ra, rb, kn, BM, BN, int32(ty * TM), tx, bnt)
                wt += cin_g * cout_g
    _store_tile(acc, y, b, has_bias, m0, cout_g, c0, bnt, ncol, P, g * cout_g, Cout, ty, tx)


# --- transposed convolution (input gradient, conv_transpose) ----------------------------------


@cuda.jit(cache=True)
def igemm_gather(
    gr, wq, b, out, Cout, O0, O1, O2, Cin, P0, P1, P2, K0, K1, K2,
    f0, f1, f2, s0, s1, s2, d0, d1, d2, groups, has_bias, BM, BN, BK,
):  # fmt: skip
    # gr (N, Cout, O0, O1, O2), out (N, Cin, P0, P1, P2) flat; wq packed (groups, KK, cout_g,
    # cin_g). out[n, c, q] = sum over taps and co of gr[n, co, (q + f - tap*d) / s] * w[co, ci,
    # tap] where the division is exact and in range (f: offset of out's first position).
    cin_g = int32(Cin // groups)
    cout_g = int32(Cout // groups)
    Q = int32(P0 * P1 * P2)
    OS = int32(O0 * O1 * O2)
    ncol = out.shape[0] // Cin  # N * Q
    sh = cuda.shared.array(0, gr.dtype)
    As = sh[: BK * BM]
    Bs = sh[BK * BM : BK * (BM + BN)]
    acc = cuda.local.array(TMN, gr.dtype)
    ra = cuda.local.array(TM, gr.dtype)
    rb = cuda.local.array(TN, gr.dtype)
    tid = int32(cuda.threadIdx.x)
    nthreads = int32(cuda.blockDim.x)
    bnt = int32(BN // TN)
    tx = int32(tid % bnt)
    ty = int32(tid // bnt)
    g = int32(cuda.blockIdx.z)
    m0 = int32(cuda.blockIdx.y * BM)
    c0 = cuda.blockIdx.x * BN
    lc = int32(tid % BN)
    lr = int32(tid // BN)
    rstep = int32(nthreads // BN)
    am = int32(tid % BM)
    ar = int32(tid // BM)
    astep = int32(nthreads // BM)
    aok = m0 + am < cin_g
    col = c0 + lc
    colok = col < ncol
    n = col // Q
    q = int32(col - n * Q)
    q0 = int32(q // (P1 * P2))
    r = int32(q - q0 * (P1 * P2))
    q1 = int32(r // P2)
    q2 = int32(r - q1 * P2 + f2)  # positions of the padded input: offset applied once
    q1 = int32(q1 + f1)
    q0 = int32(q0 + f0)
    gb = (n * Cout + g * cout_g) * OS
    for i in range(TMN):
        acc[i] = 0
    wt = (g * K0 * K1 * K2) * cout_g * cin_g + m0 + am
    for a in range(K0):
        u0 = src32(q0, a, d0, s0, O0)
        for bb in range(K1):
            u1 = src32(q1, bb, d1, s1, O1)
            for cc in range(K2):
                u2 = src32(q2, cc, d2, s2, O2)
                off = -1
                if colok and u0 >= 0 and u1 >= 0 and u2 >= 0:
                    off = gb + int32((u0 * O1 + u1) * O2 + u2)
                # With stride > 1 many taps feed no column of the block: skip them together.
                if cuda.syncthreads_or(int32(off >= 0)):
                    for k0 in range(int32(0), cout_g, BK):
                        kn = int32(min(BK, cout_g - k0))
                        cuda.syncthreads()
                        for kk in range(ar, kn, astep):
                            if aok:
                                As[kk * BM + am] = wq[wt + (k0 + kk) * cin_g]
                            else:
                                As[kk * BM + am] = 0
                        for kk in range(lr, kn, rstep):
                            if off >= 0:
                                Bs[kk * BN + lc] = gr[off + (k0 + kk) * OS]
                            else:
                                Bs[kk * BN + lc] = 0
                        cuda.syncthreads()
                        _mma(As, Bs, acc, ra, rb, kn, BM, BN, int32(ty * TM), tx, bnt)
                wt += cout_g * cin_g
    _store_tile(acc, out, b, has_bias, m0, cin_g, c0, bnt, ncol, Q, g * cin_g, Cin, ty, tx)


# --- weight gradient ------------------------------------------------------------------------------


@cuda.jit(cache=True)
def igemm_wgrad(
    gr, x, part, C, N0, N1, N2, Cout, K0, K1, K2, O0, O1, O2,
    p0, p1, p2, s0, s1, s2, d0, d1, d2, mode, groups, kchunk, BM, BN, BK, lda, ldb, ibase,
):  # fmt: skip
    # gr (N, Cout, O0, O1, O2), x (N, C, N0, N1, N2) flat; part (splits, Cout, cin_g*KK) flat.
    # Block (column tile, group * M tiles + M tile, split): part[split, co, (ci, tap)] = sum
    # over k = (n, o) in the split's chunk of gr[n, co, o] * xpad[n, ci, o*s - p + tap*d].
    cin_g = int32(C // groups)
    cout_g = int32(Cout // groups)
    KK = int32(K0 * K1 * K2)
    P = int32(O0 * O1 * O2)
    NS = int32(N0 * N1 * N2)
    ncols = int32(cin_g * KK)
    ktot = int32(gr.shape[0] // Cout)  # N * P (< 2**31: checked by the launcher)
    sh = cuda.shared.array(0, gr.dtype)
    As = sh[: BK * lda]
    Bs = sh[BK * lda : BK * (lda + ldb)]
    tab = cuda.shared.array(0, int32)[ibase : ibase + 4 * BN]
    acc = cuda.local.array(TMN, gr.dtype)
    ra = cuda.local.array(TM, gr.dtype)
    rb = cuda.local.array(TN, gr.dtype)
    tid = int32(cuda.threadIdx.x)
    nthreads = int32(cuda.blockDim.x)
    bnt = int32(BN // TN)
    tx = int32(tid % bnt)
    ty = int32(tid // bnt)
    mtiles = int32((cout_g + BM - 1) // BM)
    g = int32(cuda.blockIdx.y // mtiles)
    m0 = int32((cuda.blockIdx.y - g * mtiles) * BM)
    c0 = int32(cuda.blockIdx.x * BN)
    kbeg = int32(cuda.blockIdx.z * kchunk)
    kend = int32(min(kbeg + kchunk, ktot))
    # Column table: channel plane offset (-1: column out of range) and the tap's offsets.
    for t in range(tid, BN, nthreads):
        col = c0 + t
        ci = col // KK
        tap = col - ci * KK
        e0 = tap // (K1 * K2)
        rr = tap - e0 * (K1 * K2)
        e1 = rr // K2
        tab[4 * t] = (g * cin_g + ci) * NS if col < ncols else -1
        tab[4 * t + 1] = e0 * d0 - p0
        tab[4 * t + 2] = e1 * d1 - p1
        tab[4 * t + 3] = (rr - e1 * K2) * d2 - p2
    # Load slots: K row kr of both operands; A rows (channels) and B columns from lm by lstep.
    kr = int32(tid % BK)
    lm = int32(tid // BK)
    lstep = int32(nthreads // BK)
    ga0 = (g * cout_g + m0) * P
    for i in range(TMN):
        acc[i] = 0
    for k0 in range(kbeg, kend, BK):
        kn = int32(min(BK, kend - k0))
        cuda.syncthreads()  # table written / previous slice consumed
        if kr < kn:
            k = int32(k0 + kr)
            n = int32(k // P)
            o = int32(k - n * P)
            o0 = int32(o // (O1 * O2))
            r = int32(o - o0 * (O1 * O2))
            o1 = int32(r // O2)
            o2 = int32(r - o1 * O2)
            ga = n * Cout * P + ga0 + o  # int64: grows with the batch
            for m in range(lm, BM, lstep):
                if m0 + m < cout_g:
                    As[kr * lda + m] = gr[ga + m * P]
                else:
                    As[kr * lda + m] = 0
            xn = n * C * NS
            for t in range(lm, BN, lstep):
                cb = tab[4 * t]
                v = gr.dtype.type(0)
                if cb >= 0:
                    j0 = map32(o0 * s0 + tab[4 * t + 1], N0, mode)
                    j1 = map32(o1 * s1 + tab[4 * t + 2], N1, mode)
                    j2 = map32(o2 * s2 + tab[4 * t + 3], N2, mode)
                    if j0 >= 0 and j1 >= 0 and j2 >= 0:
                        v = x[xn + cb + int32((j0 * N1 + j1) * N2 + j2)]
                Bs[kr * ldb + t] = v
        cuda.syncthreads()
        _mma(As, Bs, acc, ra, rb, kn, lda, ldb, int32(ty * TM), tx, bnt)
    pb = (cuda.blockIdx.z * Cout + g * cout_g) * ncols
    for j in range(TN):
        col = c0 + tx + j * bnt
        if col < ncols:
            for i in range(TM):
                m = m0 + ty * TM + i
                if m < cout_g:
                    part[pb + m * ncols + col] = acc[i * TN + j]


@cuda.jit(cache=True)
def sum_splits(part, out, splits):
    # out[i] = sum over z of part[z * S + i], z in increasing order (deterministic).
    S = out.shape[0]
    start = cuda.grid(1)
    step = cuda.gridsize(1)
    for i in range(start, S, step):
        v = part[i]
        for z in range(1, splits):
            v += part[z * S + i]
        out[i] = v


@cuda.jit(cache=True)
def pack_tile_weights(w, wp, cout_g, cin_g, KK, m_is_cin):
    # w (Cout, cin_g, KK) flat -> wp (groups, KK, cin_g, cout_g) (m_is_cin = 0: the forward's A
    # with K = (tap, ci), M = co) or (groups, KK, cout_g, cin_g) (1: the gather's A).
    start = cuda.grid(1)
    step = cuda.gridsize(1)
    per = cin_g * KK
    for i in range(start, w.shape[0], step):
        co = i // per
        r = i - co * per
        ci = r // KK
        tap = r - ci * KK
        g = co // cout_g
        cl = co - g * cout_g
        if m_is_cin:
            wp[((g * KK + tap) * cout_g + cl) * cin_g + ci] = w[i]
        else:
            wp[((g * KK + tap) * cin_g + ci) * cout_g + cl] = w[i]


# --- PTX registry -------------------------------------------------------------------------------


def _sigs():
    out = {}
    i = "int32"
    for t in ("float32", "float64"):
        a = f"{t}[::1]"
        out.setdefault("fwd", []).append(f"void({a}, {a}, {a}, {a}, {', '.join([i] * 26)})")
        out.setdefault("gather", []).append(f"void({a}, {a}, {a}, {a}, {', '.join([i] * 25)})")
        out.setdefault("wgrad", []).append(f"void({a}, {a}, {a}, {', '.join([i] * 29)})")
        out.setdefault("sum", []).append(f"void({a}, {a}, {i})")
        out.setdefault("pack", []).append(f"void({a}, {a}, {', '.join([i] * 4)})")
    return out


_S = _sigs()
PTX_SIGNATURES = [
    (igemm_forward, _S["fwd"]),
    (igemm_gather, _S["gather"]),
    (igemm_wgrad, _S["wgrad"]),
    (sum_splits, _S["sum"]),
    (pack_tile_weights, _S["pack"]),
]

"""Multi-channel (CNN) convolution and both gradients by FFT (``method="fft"``, issue 12).

Arrays are canonical as in ``convolution``: ``(N, C, D, H, W)``, the input already padded, so
every pass is a *valid* strided, dilated correlation ``y[n, o, p] = sum_{c, t} w[o, c, t]
xp[n, c, p * s + t * d]``.

Strides by polyphase decomposition, not by computing every position and subsampling: the
dilated kernel ``we`` (zeros between the taps) and the input are split into ``S = prod(s)``
phases, ``x_r[m] = xp[s * m + r]`` and ``w_r[q] = we[s * q + r]``, so that
``y = sum_r corr(x_r, w_r)``: a unit-stride correlation with ``C * S`` channels, a kernel of
``ceil(ke / s)`` taps and ``M = out + ceil(ke / s) - 1`` input positions per axis (``S`` times
less arithmetic than a full-rate correlation, which would then be subsampled). Input positions
past ``s * M`` are never read by the conv; phase positions past the input meet only the zero
taps of the padded kernel.

Every pass is then a product per frequency: the forward pass ``Y = X @ conj(W)`` summed over
channels, the input gradient ``GX = G @ W`` (a full convolution, of length ``M``), the weight
gradient ``GW = conj(G).T @ X`` summed over the batch, one batched ``matmul`` per group over
all frequencies. Transforms have ``next_fast_len(M)`` points per axis, enough that the circular
correlation equals the linear one at every position kept. ``scipy.fft`` runs them on
``numba.get_num_threads()`` workers (sigconv's one thread setting, docs/performance.md).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .conv_fft_kernels import contract

# Cost model (``use_fft``), in units of one multiply-add of the direct paths at unit stride
# (about 80 G/s on the 2 shared cores where it was measured, float32, 1-D and 2-D layers):
# a transform costs ``FFT_COST`` per point and log2(points), a complex multiply-add of the
# per-frequency sums ``MAC_COST``, and a strided direct layer (im2col + GEMM) ``STRIDED_DIRECT``
# per multiply-add. Fitted on 7 layers (kernels 7-255 taps, strides 1-4): 8 k-tap 1-D layers
# with 16,000 samples cross over near k = 100 at stride 1; W5a-W5f stay direct.
FFT_COST = 21.0
MAC_COST = 8.0
STRIDED_DIRECT = 3.5
#: Kernels with fewer taps (after the polyphase split) always run direct under "auto".
MIN_TAPS = 8


def _phases(ksize, stride, dilation, osize):
    """Per axis: dilated kernel ``ke``, phase taps ``Q`` and phase length ``M``."""
    ke = tuple((k - 1) * d + 1 for k, d in zip(ksize, dilation))
    q = tuple(-(-e // s) for e, s in zip(ke, stride))
    return ke, q, tuple(o + qq - 1 for o, qq in zip(osize, q))


def _geometry(xshape, ksize, stride, dilation, osize):
    """Per axis: dilated kernel ``ke``, phase taps ``Q``, phase length ``M``, transform size."""
    import scipy.fft

    ke, q, m = _phases(ksize, stride, dilation, osize)
    nfft = tuple(
        1 if mm == 1 else scipy.fft.next_fast_len(mm, real=(i == 2)) for i, mm in enumerate(m)
    )
    return ke, q, m, nfft


def _axes(nfft):
    axes = tuple(2 + i for i, n in enumerate(nfft) if n > 1) or (4,)  # (4,): one point
    return axes, tuple(nfft[a - 2] for a in axes)


def _to_phases(a, stride, length):
    """``(N, C, *L)`` -> ``(N, C * S, *length)``: ``out[n, c * S + r, m] = a[n, c, s * m + r]``
    (zero past ``a``'s end)."""
    n, c = a.shape[:2]
    full = tuple(m * s for m, s in zip(length, stride))
    if tuple(a.shape[2:]) != full:
        b = np.zeros((n, c) + full, dtype=a.dtype)
        keep = tuple(slice(0, min(x, f)) for x, f in zip(a.shape[2:], full))
        b[(slice(None), slice(None)) + keep] = a[(slice(None), slice(None)) + keep]
        a = b
    s0, s1, s2 = stride
    m0, m1, m2 = length
    a = a.reshape(n, c, m0, s0, m1, s1, m2, s2).transpose(0, 1, 3, 5, 7, 2, 4, 6)
    return a.reshape(n, c * s0 * s1 * s2, m0, m1, m2)


def _from_phases(a, stride, c, target):
    """Inverse of ``_to_phases``, cropped or zero-extended to spatial shape ``target``."""
    n = a.shape[0]
    s0, s1, s2 = stride
    m0, m1, m2 = a.shape[2:]
    a = a.reshape(n, c, s0, s1, s2, m0, m1, m2).transpose(0, 1, 5, 2, 6, 3, 7, 4)
    a = a.reshape(n, c, m0 * s0, m1 * s1, m2 * s2)
    out = np.zeros((n, c) + tuple(target), dtype=a.dtype)
    keep = tuple(slice(0, min(x, t)) for x, t in zip(a.shape[2:], target))
    out[(slice(None), slice(None)) + keep] = a[(slice(None), slice(None)) + keep]
    return out


def _kernel_phases(w, stride, dilation, ke, q):
    """``(O, Cg, *k)`` -> ``(O, Cg * S, *q)``: the dilated kernel's phases."""
    we = np.zeros(w.shape[:2] + tuple(ke), dtype=w.dtype)
    we[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in dilation)] = w
    return _to_phases(we, stride, q)


def _rfft(a, nfft):
    import numba
    import scipy.fft

    axes, sizes = _axes(nfft)
    return scipy.fft.rfftn(a, s=sizes, axes=axes, workers=numba.get_num_threads())


def _irfft(a, nfft, keep):
    import numba
    import scipy.fft

    axes, sizes = _axes(nfft)
    r = scipy.fft.irfftn(a, s=sizes, axes=axes, workers=numba.get_num_threads())
    return r[(slice(None), slice(None)) + tuple(slice(0, k) for k in keep)]


def _split(a, groups):
    """``(N, G * K, *F)`` -> the view ``(G, N, K, prod(F))``."""
    n, gk = a.shape[:2]
    return a.reshape(n, groups, gk // groups, -1).transpose(1, 0, 2, 3)


def _wsplit(wf, groups):
    """``(G * Og, K, *F)`` -> the view ``(G, Og, K, prod(F))``."""
    o, k = wf.shape[:2]
    return wf.reshape(groups, o // groups, k, -1)


def forward(xp, w, bias, stride, dilation, groups, osize):
    """Valid correlation of the padded canonical input: ``(N, O, *osize)``."""
    nb = xp.shape[0]
    nout = w.shape[0]
    ke, q, m, nfft = _geometry(xp.shape[2:], w.shape[2:], stride, dilation, osize)
    xf = _rfft(_to_phases(xp, stride, m), nfft)
    wf = _rfft(_kernel_phases(w, stride, dilation, ke, q), nfft)
    yf = np.empty((nb, nout) + xf.shape[2:], dtype=xf.dtype)
    # Y[n, o] = sum_k X[n, k] conj(W[o, k]): a correlation
    contract(_split(xf, groups), _wsplit(wf, groups), True, _split(yf, groups))
    y = np.ascontiguousarray(_irfft(yf, nfft, osize), dtype=xp.dtype)
    if bias is not None:
        y += bias.reshape(1, nout, 1, 1, 1)
    return y


def grad_input_padded(g, w, pshape, stride, dilation, groups, osize):
    """Gradient with respect to the padded input, shape ``pshape``."""
    nb, cg = g.shape[0], w.shape[1]
    ke, q, m, nfft = _geometry(pshape[2:], w.shape[2:], stride, dilation, osize)
    gf = _rfft(g, nfft)
    wf = _rfft(_kernel_phases(w, stride, dilation, ke, q), nfft)
    xf = np.empty((nb, wf.shape[1] * groups) + gf.shape[2:], dtype=gf.dtype)
    # GX[n, k] = sum_o G[n, o] W[o, k]: a full convolution per phase
    contract(_split(gf, groups), _wsplit(wf, groups).transpose(0, 2, 1, 3), False,
             _split(xf, groups))  # fmt: skip
    xr = _irfft(xf, nfft, m).astype(g.dtype, copy=False)
    return _from_phases(xr, stride, cg * groups, pshape[2:])


def grad_weight(g, xp, wshape, stride, dilation, groups, osize):
    """Weight gradient, shape ``wshape``."""
    nout, cg = wshape[:2]
    ksize = tuple(wshape[2:])
    ke, q, m, nfft = _geometry(xp.shape[2:], ksize, stride, dilation, osize)
    xf = _rfft(_to_phases(xp, stride, m), nfft)
    gf = _rfft(g, nfft)
    k = xf.shape[1] // groups
    wf = np.empty((nout, k) + xf.shape[2:], dtype=xf.dtype)
    # conj(GW[o, k]) = sum_n G[n, o] conj(X[n, k]): the correlation, summed over the batch
    contract(_split(gf, groups).transpose(0, 2, 1, 3), _split(xf, groups).transpose(0, 2, 1, 3),
             True, _wsplit(wf, groups))  # fmt: skip
    np.conjugate(wf, out=wf)
    wr = _irfft(wf, nfft, q).astype(xp.dtype, copy=False)
    we = _from_phases(np.ascontiguousarray(wr), stride, cg, ke)
    taps = tuple(slice(None, None, d) for d in dilation)
    return np.ascontiguousarray(we[(slice(None), slice(None)) + taps]).reshape(wshape)


def use_fft(plan) -> bool:
    """``method="auto"``'s choice: whether the FFT path costs less than the direct one.

    Direct: ``Cg * prod(k)`` multiply-adds per output. FFT (per pass, forward shown): the
    transforms of the phased input, kernel and output plus ``N * O * Cg * S`` complex
    multiply-adds per frequency (constants above; a strided direct layer costs
    ``STRIDED_DIRECT`` times more per multiply-add). Short kernels always run direct. Cached
    per geometry: a training loop asks the same question every step.
    """
    return _use_fft(
        plan.n, plan.cout, plan.cin_g, plan.groups, plan.ksize3, plan.stride3, plan.dilation3,
        plan.out3,
    )  # fmt: skip


@functools.lru_cache(maxsize=256)
def _use_fft(n, cout, cg, groups, ksize, s, dil, osize) -> bool:
    if math.prod(ksize) < MIN_TAPS:
        return False
    q, m = _phases(ksize, s, dil, osize)[1:]
    if math.prod(q) < MIN_TAPS:
        return False
    S = math.prod(s)
    direct = n * cout * cg * math.prod(ksize) * math.prod(osize)
    if S > 1:
        direct *= STRIDED_DIRECT

    def fft_cost(nfft):
        ntot = math.prod(nfft)
        lg = math.log2(max(ntot, 2))
        transforms = (n * cg * groups * S + cout * cg * S + n * cout) * ntot * lg * FFT_COST
        return transforms + n * cout * cg * S * (ntot / 2 + 1) * MAC_COST

    # The cost grows with the transform sizes, which are at least the phase lengths: where
    # those already cost more, direct wins without scipy.fft's sizes (importing scipy.fft
    # loads scipy.special, 0.2 s, for a network of 3x3 and 5x5 layers that never uses it).
    if fft_cost(m) >= direct:
        return False
    return fft_cost(_geometry(None, ksize, s, dil, osize)[3]) < direct

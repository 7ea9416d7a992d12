"""Plain-loop pooling oracles: slow, obvious, independent of sigconv's kernels and geometry.

Each walks every output position and every window tap with itertools and Python scalars.
Output sizes are found by enumerating window starts (``_starts``), not by PyTorch's formula.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def _starts(n, k, s, p, d, ceil_mode):
    """Window starts (in unpadded coordinates) that PyTorch keeps on one axis.

    floor: the dilated window fits in the padded input. ceil: additionally the windows that
    run over the right padding, as long as they start inside the input or the left padding.
    """
    ke = (k - 1) * d + 1
    starts = []
    o = 0
    while True:
        start = o * s - p
        if ceil_mode:
            # Any window reaching past the last full one, as long as it starts inside the input
            # or the left padding (PyTorch's rule: never in the right padding).
            keep = start < n + p - ke + s and start < n
        else:
            keep = start + ke <= n + p  # the window fits in the padded input
        if not keep:
            break
        starts.append(start)
        o += 1
    return starts


def _grid(x_shape, k, s, p, d, ceil_mode):
    nd = len(x_shape) - 2
    return [_starts(x_shape[2 + a], k[a], s[a], p[a], d[a], ceil_mode) for a in range(nd)]


def max_pool(x, k, s, p, d, ceil_mode):
    """Max pool with PyTorch's scan-order rule ``v > best or isnan(v)`` and flat indices."""
    x = np.asarray(x)
    nd = x.ndim - 2
    spatial = x.shape[2:]
    starts = _grid(x.shape, k, s, p, d, ceil_mode)
    out_shape = x.shape[:2] + tuple(len(st) for st in starts)
    y = np.empty(out_shape, dtype=x.dtype)
    idx = np.empty(out_shape, dtype=np.int64)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o in itertools.product(*[range(len(st)) for st in starts]):
            best, best_i = -math.inf, None
            for t in itertools.product(*[range(kk) for kk in k]):
                pos = [starts[a][o[a]] + t[a] * d[a] for a in range(nd)]
                if any(q < 0 or q >= spatial[a] for a, q in enumerate(pos)):
                    continue
                v = float(x[(n, c, *pos)])
                if best_i is None or v > best or math.isnan(v):
                    best, best_i = v, int(np.ravel_multi_index(pos, spatial))
            y[(n, c, *o)] = best
            idx[(n, c, *o)] = best_i
    return y, idx


def avg_pool(x, k, s, p, ceil_mode, count_include_pad, divisor_override):
    x = np.asarray(x, dtype=np.float64)
    nd = x.ndim - 2
    spatial = x.shape[2:]
    ones = (1,) * nd
    starts = _grid(x.shape, k, s, p, ones, ceil_mode)
    y = np.empty(x.shape[:2] + tuple(len(st) for st in starts))
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o in itertools.product(*[range(len(st)) for st in starts]):
            total, inside, padded = 0.0, 0, 0
            for t in itertools.product(*[range(kk) for kk in k]):
                pos = [starts[a][o[a]] + t[a] for a in range(nd)]
                # Taps beyond the right padding (ceil_mode overhang) are not counted at all.
                if any(q >= spatial[a] + p[a] for a, q in enumerate(pos)):
                    continue
                padded += 1
                if all(0 <= q < spatial[a] for a, q in enumerate(pos)):
                    total += x[(n, c, *pos)]
                    inside += 1
            if divisor_override is not None:
                div = divisor_override
            else:
                div = padded if count_include_pad else inside
            y[(n, c, *o)] = total / div
    return y


def lp_pool(x, norm_type, k, s, ceil_mode):
    """``(sum x**p)**(1/p)`` per window, with PyTorch's ceil_mode scaling of cut windows
    (``prod(k) / taps inside``); positive ``x`` expected."""
    x = np.asarray(x, dtype=np.float64)
    nd = x.ndim - 2
    spatial = x.shape[2:]
    starts = _grid(x.shape, k, s, (0,) * nd, (1,) * nd, ceil_mode)
    y = np.empty(x.shape[:2] + tuple(len(st) for st in starts))
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o in itertools.product(*[range(len(st)) for st in starts]):
            total, inside = 0.0, 0
            for t in itertools.product(*[range(kk) for kk in k]):
                pos = [starts[a][o[a]] + t[a] for a in range(nd)]
                if all(q < spatial[a] for a, q in enumerate(pos)):
                    total += x[(n, c, *pos)] ** norm_type
                    inside += 1
            y[(n, c, *o)] = (total * math.prod(k) / inside) ** (1.0 / norm_type)
    return y


def _windows(x_shape, k, s):
    nd = len(x_shape) - 2
    starts = _grid(x_shape, k, s, (0,) * nd, (1,) * nd, False)
    for o in itertools.product(*[range(len(st)) for st in starts]):
        taps = [
            tuple(starts[a][o[a]] + t[a] for a in range(nd))
            for t in itertools.product(*[range(kk) for kk in k])
        ]
        yield o, taps
    return


def stochastic_out_shape(x_shape, k, s):
    nd = len(x_shape) - 2
    starts = _grid(x_shape, k, s, (0,) * nd, (1,) * nd, False)
    return tuple(x_shape[:2]) + tuple(len(st) for st in starts)


def stochastic_inference(x, k, s):
    """``sum(p_i * a_i)`` with ``p_i = a_i / sum(a)`` per window (0 for an all-zero window)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.zeros(stochastic_out_shape(x.shape, k, s))
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o, taps in _windows(x.shape, k, s):
            a = [x[(n, c, *t)] for t in taps]
            total = sum(a)
            if total > 0:
                y[(n, c, *o)] = sum((ai / total) * ai for ai in a)
    return y


def stochastic_window_probs(x, k, s):
    """Per output: list of (flat index, probability) of the training-mode draw."""
    x = np.asarray(x, dtype=np.float64)
    spatial = x.shape[2:]
    probs = {}
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o, taps in _windows(x.shape, k, s):
            a = [x[(n, c, *t)] for t in taps]
            total = sum(a)
            flat = [int(np.ravel_multi_index(t, spatial)) for t in taps]
            if total > 0:
                probs[(n, c, *o)] = [(f, ai / total) for f, ai in zip(flat, a)]
            else:
                probs[(n, c, *o)] = [(f, 1.0 / len(a)) for f in flat]
    return probs


def spectral_matrix(n, m):
    """The real ``m x n`` matrix of 1-D spectral pooling, from explicit DFT matrices.

    Keep frequency ``f`` (``-m//2 <= f < (m+1)//2``, fftfreq order) of the ``n``-point DFT; the
    output's ``-m/2`` bin (even ``m < n``) is the mean of the input's ``+m/2`` and ``-m/2``
    bins; inverse ``m``-point DFT scaled by ``m / n``.
    """
    jn = np.arange(n)
    jm = np.arange(m)
    dft_n = np.exp(-2j * np.pi * np.outer(jn, jn) / n)
    crop = np.zeros((m, n), dtype=complex)
    for row in range(m):
        f = row if row < (m + 1) // 2 else row - m  # fftfreq order of the output bins
        if m % 2 == 0 and f == -(m // 2) and m < n:
            crop[row, (m // 2) % n] += 0.5
            crop[row, (-(m // 2)) % n] += 0.5
        else:
            crop[row, f % n] = 1.0
    idft_m = np.exp(2j * np.pi * np.outer(jm, jm) / m) / m
    a = (m / n) * idft_m @ crop @ dft_n
    assert np.max(np.abs(a.imag)) < 1e-9
    return a.real


def spectral_pool(x, output_size):
    y = np.asarray(x, dtype=np.float64)
    for axis, m in zip(range(2, y.ndim), output_size):
        a = spectral_matrix(y.shape[axis], m)
        y = np.moveaxis(np.tensordot(a, np.moveaxis(y, axis, 0), axes=(1, 0)), 0, axis)
    return y


def central_difference(f, x, g, eps=1e-6):
    """``d/dx sum(f(x) * g)`` by float64 central differences, one element at a time."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = float(np.sum(f(x) * g))
        x[i] = old - eps
        down = float(np.sum(f(x) * g))
        x[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad

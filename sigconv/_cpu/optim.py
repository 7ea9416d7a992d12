"""Optimizer steps in one pass per weight (Numba): Adam's update of a weight and its two moments.

NumPy's Adam update (``nn.optim.Adam._update``'s fallback) makes about a dozen passes and four
temporaries per weight: 0.78-0.97 ms a step for the digits network's 151,000 weights on the
Sapphire Rapids vCPU. This kernel makes one vectorised pass with the same operations in the
same order and the same dtype, so its results are NumPy's bit for bit (no ``fastmath``: no
fused multiply-adds; packed square roots and divisions round as scalar ones do): the dense
layer's 131,072 weights in 0.15 ms on one thread. (Its loops indexed the arrays from the
chunk's first element, which LLVM could not prove non-negative: the wrap-around select kept
them scalar, 0.88 ms.) Large weights are split over the threads (``run_chunks``).
"""

from __future__ import annotations

import math

from numba import njit

from ._nrt import borrow
from ._threads import run_chunks

# Work per element in run_chunks' multiply-add units: a square root and a division (about a
# nanosecond an element in ymm vectors), so a weight of 131,072 elements (the digits network's
# dense layer) splits in four chunks and one of 3,000 runs on the calling thread alone.
_WORK_PER_ELEMENT = 8


def adam_step(p, g, m, v, *, step, lr, betas, eps, weight_decay):
    """One Adam step on ``p`` in place (``m``, ``v``: its moments, updated in place).

    ``p``, ``g``, ``m`` and ``v`` are C-contiguous, writeable and of one float dtype
    (``activation.fits``); ``step`` counts from 1.
    """
    b1, b2 = betas
    cast = p.dtype.type
    run_chunks(
        _adam, _WORK_PER_ELEMENT * p.size,
        p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
        cast(1.0 - b1), cast(b2), cast(1.0 - b2), cast(weight_decay),
        cast(lr / (1.0 - b1**step)), cast(math.sqrt(1.0 - b2**step)), cast(eps),
    )  # fmt: skip


# error_model="numpy": a division by zero gives inf or nan as in NumPy, where Numba's default
# tests every divisor to raise ZeroDivisionError, and that branch kept the loops scalar
@njit(cache=True, nogil=True, error_model="numpy")
def _adam(part, nparts, p, g, m, v, b1c, b2, b2c, wd, step_size, bias2, eps):
    # NumPy's order: g + wd * p; m += (1 - b1) * (g - m); v = v * b2 + (1 - b2) * g * g;
    # p -= (m / (sqrt(v) / bias2 + eps)) * step_size. Two loops, so that neither branches.
    # This call's part of the elements: whole 64-byte lines, so no two threads share one.
    p, g, m, v = borrow(p, g, m, v)
    lines = (p.shape[0] + 15) // 16
    lo = min(p.shape[0], part * lines // nparts * 16)
    hi = min(p.shape[0], (part + 1) * lines // nparts * 16)
    # slices indexed from 0: an index known not to be negative has no wrap-around select,
    # which had kept the loops scalar (0.88 ms for the digits network's dense weight)
    p, g, m, v = p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi]
    if wd != 0:
        for i in range(hi - lo):
            gi = g[i] + wd * p[i]
            mi = m[i] + b1c * (gi - m[i])
            vi = v[i] * b2 + b2c * gi * gi
            m[i] = mi
            v[i] = vi
            p[i] = p[i] - (mi / (math.sqrt(vi) / bias2 + eps)) * step_size
    else:
        for i in range(hi - lo):
            gi = g[i]
            mi = m[i] + b1c * (gi - m[i])
            vi = v[i] * b2 + b2c * gi * gi
            m[i] = mi
            v[i] = vi
            p[i] = p[i] - (mi / (math.sqrt(vi) / bias2 + eps)) * step_size

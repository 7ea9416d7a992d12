"""Rank-one (separable) kernels: detection and 1-D passes (docs/contract.md §1).

A 2-D or 3-D kernel that is an outer product of 1-D factors (every Gaussian, box and Sobel
component) is applied as one 1-D correlation per axis: ``K0 + K1 (+ K2)`` taps per output
instead of ``K0 * K1 (* K2)``. The definition (pad with the boundary, valid correlation,
stride) is separable axis by axis, so the passes give the full-kernel result to float
tolerance, with two details:

* a constant boundary pads each later pass with ``cval`` times the sums of the factors already
  applied (the value the earlier passes give at positions outside the input);
* each pass applies its axis's padding, dilation and stride, so skipped outputs are never
  computed and the other axes are untouched (no padding, stride 1).

Detection is an SVD of the kernel (unfolded for 3-D) in float64: the kernel is rank one when
every singular value but the first is at most ``tolerance(dtype)`` times the first, with the
tolerance tied to the compute dtype's epsilon, and the rebuilt outer product must match the
kernel to that tolerance too. Only ``method="auto"`` uses the passes (``direct`` means the full
kernel, ``fft`` the transform).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ._geometry import AxisGeometry

__all__ = ["factors", "run", "tolerance"]

# Kernels with more taps than this are not tested: their SVD would cost more than it saves, and
# the FFT path takes such kernels anyway.
MAX_TAPS = 1 << 15


def tolerance(dtype) -> float:
    """Relative size below which a singular value counts as zero for ``dtype``."""
    return 16 * float(np.finfo(np.dtype(dtype)).eps)


def _rank_one_2d(m: np.ndarray, tol: float):
    u, s, vt = np.linalg.svd(m, full_matrices=False)
    if s[0] == 0 or (s.size > 1 and s[1] > tol * s[0]):
        return None
    root = math.sqrt(s[0])
    col, row = u[:, 0] * root, vt[0] * root
    # a sign convention so that factors are reproducible: the largest entry of col positive
    if col[np.argmax(np.abs(col))] < 0:
        col, row = -col, -row
    return col, row


def factors(w: np.ndarray, dtype=np.float64, *, rtol: float | None = None):
    """1-D factors ``[f0, f1(, f2)]`` with ``w == outer(f0, f1(, f2))``, or ``None``.

    ``w`` is a real 2-D or 3-D array; ``rtol`` defaults to :func:`tolerance` of ``dtype``.
    """
    if w.ndim not in (2, 3) or w.size > MAX_TAPS or w.dtype.kind not in "biuf":
        return None
    tol = tolerance(dtype) if rtol is None else float(rtol)
    m = np.asarray(w, dtype=np.float64)
    if not np.all(np.isfinite(m)):
        return None
    first = _rank_one_2d(m.reshape(m.shape[0], -1), tol)
    if first is None:
        return None
    f0, rest = first
    out = [f0]
    if m.ndim == 3:
        second = _rank_one_2d(rest.reshape(m.shape[1], m.shape[2]), tol)
        if second is None:
            return None
        out += list(second)
    else:
        out.append(rest)
    rebuilt = out[0]
    for f in out[1:]:
        rebuilt = np.multiply.outer(rebuilt, f)
    scale = float(np.max(np.abs(m)))
    if float(np.max(np.abs(rebuilt - m))) > tol * max(scale, 1e-300) * math.sqrt(m.size):
        return None
    return out


def cheaper(x_shape, w_shape, geom, stride, dilation, dtype) -> bool:
    """Whether the 1-D passes beat the cheaper of the full direct and FFT estimates."""
    from . import _fft

    nd = len(w_shape)
    batch = math.prod(x_shape[: len(x_shape) - nd])
    sizes = list(x_shape[len(x_shape) - nd :])
    sep = 0.0
    for a in range(nd):
        sizes[a] = geom[a].n_out
        g1 = [AxisGeometry(0, 0, batch * math.prod(sizes) // sizes[a]), geom[a]]
        sep += _fft.direct_cost((1, 1), (1, w_shape[a]), g1, dtype)
    if sep >= _fft.direct_cost(x_shape, w_shape, geom, dtype):
        return False
    # the FFT handles at least one point per output (choose_method's bound): no plan needed
    # when the passes beat even that
    c_log, c_pt, _, _ = _fft.cost_constants(nd, dtype)
    outputs = batch * math.prod(g.n_out for g in geom)
    if sep <= outputs * (c_log + c_pt):
        return True
    plan = _fft.fft_plan(x_shape, w_shape, geom, stride, dilation, dtype)
    return plan is None or sep < plan.cost


def run(direct, plan, x, fs):
    """``plan``'s correlation of ``x`` with ``outer(*fs)`` as one 1-D pass per kernel axis.

    ``direct(plan, x, w, target)`` is the CPU backend's direct kernel driver, called with a plan
    of one kernel axis (a trailing axis of ``x``) per pass. Each pass merges the axes before its
    own into the batch and those after it into one untouched trailing axis; a constant boundary
    pads later passes with ``cval`` times the sums of the factors already applied.
    """
    nd = len(fs)
    lead = x.ndim - nd
    cur = x
    c = float(plan.cval) if plan.boundary == "constant" else 0.0
    for a in range(nd):
        f = np.ascontiguousarray(fs[a], dtype=x.dtype)
        pre = cur.shape[: lead + a]
        n_a = cur.shape[lead + a]
        post = cur.shape[lead + a + 1 :]
        m = math.prod(post)
        g = plan.axes[a]
        if m == 1:
            x2, w2 = cur.reshape(-1, n_a), f
            axes, stride, dilation = (g,), (plan.stride[a],), (plan.dilation[a],)
        else:
            x2, w2 = cur.reshape(-1, n_a, m), f.reshape(-1, 1)
            axes = (g, AxisGeometry(0, 0, m))
            stride, dilation = (plan.stride[a], 1), (plan.dilation[a], 1)
        step = dataclasses.replace(
            plan,
            batch=(x2.shape[0],),
            spatial=x2.shape[1:],
            kernel=w2.shape,
            axes=axes,
            stride=stride,
            dilation=dilation,
            cval=c,
            flip=False,
            method="direct",
            separable=False,
        )
        cur = direct(step, x2, w2, None).reshape(pre + (g.n_out,) + post)
        c *= float(np.sum(fs[a]))
    return cur

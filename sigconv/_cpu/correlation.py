"""The CPU backend of the signal API: ``correlate(plan, x, w, out)``.

Picks the method (``_fft.choose_method``'s cost model for ``auto``, and 1-D passes for a rank-one
kernel when ``_separable.cheaper`` says so) and, for the direct method,
the kernel family: the stride-2 kernels (``correlate_stride2.correlate3_stride2``: a stride 2
along the last axis, short kernels, ``_config.CPU_STRIDE2_MAX_TAPS``), the row kernels
(``correlate_rows.correlate3``, after splitting a strided last axis into its phases with
``deinterleave``) or the split-phase kernels (``correlate_split.correlate3_split``), by
:func:`_split_wins`.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _config, _scratch
from .correlate_parts import all_blocks_fast, deinterleave, row_taps
from .correlate_rows import correlate3
from .correlate_split import correlate3_split
from .correlate_stride2 import correlate3_stride2, stride2_geometry


def correlate(plan, x, w, out):
    """Fill and return ``out`` (or a new array) with ``plan``'s correlation of ``x`` and ``w``.

    ``x`` and ``w`` are host arrays of ``plan.dtype``, C-contiguous (the caller's own arrays
    possibly: never written); ``w`` is not flipped (``plan.flip`` asks for a convolution);
    ``out`` is None or a checked ndarray of ``plan.out_shape`` and ``plan.dtype``.
    """
    nd = plan.nd
    if plan.flip:
        w = np.ascontiguousarray(w[(slice(None, None, -1),) * nd])
    method = plan.method
    if method == "auto" and plan.separable and nd > 1 and _separable_cheaper(plan, x, w):
        from .. import _separable

        # the cost test first (kept with the plan): it is cheaper than the SVD and usually
        # decides
        if fs := _separable.factors(w, plan.dtype):
            y = _separable.run(_direct, plan, x, fs)
            if out is None:
                return y
            out[...] = y
            return out
    if method == "auto":
        method = plan.memo.get("cpu-method")
        if method is None:
            from .. import _fft

            method = plan.memo["cpu-method"] = _fft.choose_method(
                x.shape, w.shape, plan.axes, plan.stride, plan.dilation, x.dtype
            )
    if method == "fft":
        from .. import _fft

        result = _fft.correlate_fft(
            x, w, plan.axes, plan.stride, plan.dilation, plan.boundary, plan.cval
        )
        if out is None:
            return result
        out[...] = result
        return out
    # The kernel accumulates in place, so it writes straight into `out` only when that is
    # C-contiguous and overlaps neither operand (out=in1 must not read its own partial sums).
    direct_out = (
        out is not None
        and out.flags.c_contiguous
        and not np.may_share_memory(out, x)
        and not np.may_share_memory(out, w)
    )
    result = _direct(plan, x, w, out if direct_out else None)
    if out is not None and result is not out:
        out[...] = result
        return out
    return result


def _separable_cheaper(plan, x, w) -> bool:
    """``_separable.cheaper`` for the plan's shapes, kept with the plan."""
    cheaper = plan.memo.get("cpu-separable")
    if cheaper is None:
        from .. import _separable

        cheaper = plan.memo["cpu-separable"] = _separable.cheaper(
            x.shape, w.shape, plan.axes, plan.stride, plan.dilation, plan.dtype
        )
    return cheaper


def _direct(plan, x, w, target):
    """Run the Numba kernels on the problem normalised to ``(B, N0, N1, N2)`` and 3-D kernels."""
    # The kernels are compiled for writeable arrays only: a read-only operand would be typed
    # differently by Numba and compile a second version of every kernel (about 10 s each), so
    # it is copied instead.
    if not x.flags.writeable:
        x = x.copy()
    if not w.flags.writeable:
        w = w.copy()
    route = plan.memo.get("cpu-direct")
    if route is None:
        route = plan.memo["cpu-direct"] = _direct_route(plan, x.shape, w.shape, x.itemsize)
    kind, x4_shape, w3_shape, o4_shape, args = route
    x4 = x.reshape(x4_shape)
    w3 = w.reshape(w3_shape)
    res = _scratch.new_result(plan.out_shape, x.dtype) if target is None else target
    o4 = res.reshape(o4_shape)
    if kind == "stride2":
        correlate3_stride2(x4, w3, o4, *args)
    elif kind == "split":
        correlate3_split(x4, w3, o4, *args)
    else:
        if kind == "rows":
            xd = x4.reshape(x4_shape[:3] + (1, x4_shape[3]))
        else:
            # the phases live only for this call: reused memory (page faults cost more than
            # the split itself, _scratch)
            s2 = args[2]
            xd = _scratch.take("phases", x4_shape[:3] + (s2, -(-x4_shape[3] // s2)), x.dtype)
            deinterleave(x4, xd)
        correlate3(x4, xd, w3, o4, *args)
    return res


def _direct_route(plan, x_shape, w_shape, itemsize):
    """``(kind, x4 shape, w3 shape, o4 shape, kernel arguments)`` of :func:`_direct` for the
    plan: the shapes of the normalised problem and which kernel runs it, with what (kept with
    the plan: working them out took 5 of a small strided call's 12 us)."""
    nd = plan.nd
    geom = plan.axes
    pad = (0,) * (3 - nd) + tuple(g.pad_before for g in geom)
    s = (1,) * (3 - nd) + tuple(plan.stride)
    d = (1,) * (3 - nd) + tuple(plan.dilation)
    spatial = (1,) * (3 - nd) + tuple(x_shape[len(x_shape) - nd :])
    x4_shape = (math.prod(x_shape) // math.prod(spatial),) + spatial
    w3_shape = (1,) * (3 - nd) + tuple(w_shape)
    o4_shape = (x4_shape[0],) + (1,) * (3 - nd) + tuple(g.n_out for g in geom)
    s2 = s[2]
    block = int(_config.CPU_ROW_BLOCK)
    bc, cv = plan.boundary_code, float(plan.cval)
    # stride, dilation and padding per axis, boundary, cval and row block: both kernels take them
    rest = (*s[:2], s2, *d, *pad, bc, cv, block)
    short = w3_shape[2] <= 3 or math.prod(w3_shape) <= _config.CPU_STRIDE2_MAX_TAPS
    if s2 == 2 and d[2] == 1 and short:
        geom2 = stride2_geometry(x4_shape[3], w3_shape[2], pad[2], o4_shape[3], block)
        if geom2 is not None:
            args = (*s[:2], *d[:2], *pad, bc, cv, block, geom2)
            return "stride2", x4_shape, w3_shape, o4_shape, args
    if s2 > 1 and _split_wins(x4_shape, w3_shape, o4_shape, s, d, pad, block, itemsize):
        return "split", x4_shape, w3_shape, o4_shape, rest
    return ("rows" if s2 == 1 else "phases"), x4_shape, w3_shape, o4_shape, rest


def _split_wins(x_shape, w_shape, o_shape, s, d, pad, block, itemsize):
    """Whether ``correlate3_split`` (phases split per task) beats ``deinterleave`` +
    ``correlate3`` for a stride ``s[2] > 1`` along the last axis.

    Both give the same result; the rule is about speed. The deinterleaved copy splits every
    input sample once but writes and re-reads a copy of the whole input (for W4, 1024^2
    float32, that pass alone took 0.53 ms of 0.66). The split kernel splits, per output row
    block, the input rows it reads that the previous block of its run did not (the kernel
    rows shared by consecutive output rows are reused), into scratch that stays in L1/L2.
    Measured (1 thread, 2 shared cores): 2-D 3x3 stride 2 1.5x, stride (1, 2) 1.45x, stride 3
    1.7x, 3-D 3^3 stride 2 1.1x, 1-D stride 2 1.1-1.5x faster; 3-D 3^3 stride (1, 1, 2)
    (3 rows split per output row against 1 input row per output row) 0.93x. So split when
    its samples split per task are at most twice the input samples per task, and when every
    column block reads inside the row for all but ``SCALAR_MAX`` outputs (the split kernel
    computes the others by a scalar loop over all taps; ``correlate3`` uses per-tap passes).

    Since the phases live in reused memory (``_scratch``: no page faults), a 3-D kernel over
    an input that stays in cache splits faster in one pass: 3^3 stride 2 over 129^3 took
    1.33 ms against 2.07 (2 threads; 1.86 against 2.74 on one), stride (1, 1, 2) over 128^3
    2.39 against 3.87, 5^3 stride 2 over 8 x 64^3 5.3 against 8.1; over 256^3 (64 MiB) the
    extra pass through memory lost, 12.9 against 9.2. 2-D was unchanged (1024^2 3x3 stride 2:
    0.25 split against 0.33).
    """
    B, N0, N1, N2 = x_shape
    K0, K1, K2 = w_shape
    if K0 > 1 and B * N0 * N1 * N2 * itemsize <= _config.CPU_SPLIT_IN_CACHE_BYTES:
        return False
    O0, O1, O2 = o_shape[1:]
    s2 = s[2]
    _, q, _, _, _, lo_all, hi_all = row_taps(N2, K2, s2, d[2], pad[2], O2)
    if not all_blocks_fast(lo_all, hi_all, O2, block):
        return False
    nblk = -(-O2 // block)
    # Kernel rows along axis 1 not read by the previous output row (same block, o1 - 1).
    new1 = K1 if (nblk > 1 or s[1] % d[1]) else min(K1, s[1] // d[1])
    split_per_task = K0 * new1 * s2 * (min(block, O2) + int(q.max()) - int(q.min()))
    input_per_task = N0 * N1 * N2 / (O0 * O1 * nblk)
    return split_per_task <= 2 * input_per_task

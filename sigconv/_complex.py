"""Complex correlation and convolution (docs/contract.md §1).

``correlate`` conjugates ``in2`` as SciPy does: ``y[n] = sum_k x[n + k] * conj(w[k])``. With
``x = xr + i xi`` and ``w = wr + i wi``::

    real(y) = xr (*) wr + xi (*) wi        imag(y) = xi (*) wr - xr (*) wi

where ``(*)`` is the real correlation with every option (mode, stride, dilation, boundary,
flip, origin). The direct path stacks ``[xr, xi]`` as one more batch axis and runs the real
kernels once per kernel part (two calls, one when the kernel is real), so no Python loop runs
over samples or items. The FFT path transforms the complex data directly (``sigconv._fft``).
A convolution is the conjugating correlation with ``conj(in2)``, flipped.

A non-zero ``cval`` (possibly complex) is applied as ``corr0(x - cval) + cval * sum(conj(w))``,
so that the real and imaginary stacks share the zero padding.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["choose_method", "correlate"]


def choose_method(x_shape, w_shape, geom, stride, dilation, real_dtype) -> str:
    """``"direct"`` or ``"fft"`` for a complex problem, from the real cost model.

    Direct costs four real correlations (two stacked calls); complex transforms cost about
    two real ones.
    """
    from . import _fft

    nd = len(w_shape)
    lead = tuple(x_shape[: len(x_shape) - nd])
    spatial = tuple(x_shape[len(x_shape) - nd :])
    if any(g.n_out == 0 for g in geom) or math.prod(w_shape) == 1:
        return "direct"
    direct = _fft.direct_cost((4,) + lead + spatial, w_shape, geom, real_dtype)
    plan = _fft.fft_plan((2,) + lead + spatial, w_shape, geom, stride, dilation, real_dtype)
    return "fft" if plan is not None and plan.cost < direct else "direct"


def correlate(run, a, b, rdt, cval, boundary, *, flip, method):
    """The complex result (dtype ``rdt``) of correlating ``a`` with ``b`` (either complex).

    ``run(x, w, method)`` is the real correlation (or, for ``method="fft"``, the complex one)
    with ``cval=0`` and every other option fixed; ``flip`` says it flips ``w`` (a convolution).
    """
    real = np.float32 if rdt == np.complex64 else np.float64
    if flip:
        b = np.conj(b)  # convolve: no conjugation, so cancel the one correlate applies
    shift = complex(cval) if boundary == "constant" else 0j
    if shift:
        a = a.astype(rdt) - np.asarray(shift, dtype=rdt)
    if method == "fft":
        y = run(np.asarray(a, dtype=rdt), np.asarray(b, dtype=rdt), "fft")
    else:
        y = _direct(run, a, b, rdt, real)
    if shift:
        y += np.asarray(shift * np.sum(np.conj(b.astype(np.complex128))), dtype=rdt)
    return y


def _direct(run, a, b, rdt, real):
    """Two stacked real correlations (one for a real kernel); see the module docstring."""
    parts = [a.real] if a.dtype.kind != "c" else [a.real, a.imag]
    stack = np.stack([np.asarray(p, dtype=real) for p in parts])
    p_r = run(stack, np.asarray(b.real, dtype=real), "direct")  # [xr (*) wr, xi (*) wr]
    y = np.empty(p_r.shape[1:], dtype=rdt)
    y.real = p_r[0]
    if len(parts) == 2:
        y.imag = p_r[1]
    else:
        y.imag = 0
    del p_r
    if b.dtype.kind == "c" and np.any(b.imag):
        p_i = run(stack, np.asarray(b.imag, dtype=real), "direct")  # [xr (*) wi, xi (*) wi]
        y.imag -= p_i[0]
        if len(parts) == 2:
            y.real += p_i[1]
    return y

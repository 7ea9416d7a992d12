"""Pooling arguments: operand checks, the plan of every kind (``_geometry.pool_plan``) and the
one dispatch to a backend, shared by the pooling functions (``_pool``, ``_pool_whole``) and the
pooling layers' output shapes (docs/contract.md §2).
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _backend, _geometry, _validate


def pooled_input(x, name: str = "x") -> _validate.Operand:
    """The pooled input: a non-empty ``(N, C, *spatial)`` array with 1 to 3 spatial axes."""
    return _validate.operand(x, name, min_ndim=3, max_ndim=5)


def grad_operand(grad_out, plan, name="grad_out") -> _validate.Operand:
    return _validate.check_shape(_validate.operand(grad_out, name), plan.out_shape, name)


def indices_operand(indices, plan, name="indices") -> _validate.Operand:
    """Host indices: integer dtype, the output's shape, flat indices inside one plane (int64).
    Device indices are checked for shape only (their values stay on the device; the kernels
    ignore an index out of range rather than write out of bounds)."""
    op = _validate.check_shape(_validate.operand(indices, name), plan.out_shape, name)
    if op.dtype.kind not in "iu":
        raise TypeError(f"{name} must have an integer dtype; got dtype {op.dtype}")
    if op.on_device:
        return op
    lo, hi = int(op.array.min()), int(op.array.max())
    if lo < 0 or hi >= plan.plane:
        raise ValueError(
            f"{name} must be flat indices into each (n, c) spatial plane, in [0, {plan.plane}); "
            f"got values in [{lo}, {hi}]"
        )
    return op._replace(array=_validate.to_compute(op.array, np.int64))


def run(backend, name, plan, *operands, **options):
    """The one dispatch: ``plan`` and the operands (compute dtype; indices int64) to the
    backend's function ``name``."""
    ops = _backend.select(backend, *(op.array for op in operands if op is not None))
    arrays = [None if op is None else op.compute(plan.dtype) for op in operands]
    return getattr(ops, name)(plan, *arrays, **options)


def divisor(divisor_override):
    if divisor_override is None:
        return None
    if not isinstance(divisor_override, (numbers.Integral, np.integer)) or isinstance(
        divisor_override, (bool, np.bool_)
    ):
        raise TypeError(
            f"divisor_override must be None or a non-zero int; got {divisor_override!r} "
            f"(type {type(divisor_override).__name__})"
        )
    if divisor_override == 0:
        raise ValueError("divisor_override must be None or a non-zero int; got 0")
    return int(divisor_override)


def norm_type_value(norm_type) -> float:
    p = _validate.check_float(norm_type, "norm_type", finite=False)
    if np.isnan(p) or p == 0.0:
        raise ValueError(f"norm_type must be a non-zero number or +-inf; got {norm_type!r}")
    return p


def max_plan(shape, dtype, kernel_size, stride, padding, dilation, ceil_mode):
    return _geometry.pool_plan(
        shape, dtype, kernel_size, stride, padding, dilation, ceil_mode, check_windows=True
    )


def avg_plan(
    shape, dtype, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
):
    return _geometry.pool_plan(
        shape, dtype, kernel_size, stride, padding, 1, ceil_mode,
        count_include_pad=_validate.check_bool(count_include_pad, "count_include_pad"),
        divisor=divisor(divisor_override),
    )  # fmt: skip


def lp_plan(shape, dtype, norm_type, kernel_size, stride, ceil_mode):
    p = norm_type_value(norm_type)
    return _geometry.pool_plan(shape, dtype, kernel_size, stride, 0, 1, ceil_mode, norm_type=p)


def stochastic_plan(shape, dtype, kernel_size, stride, training):
    training = _validate.check_bool(training, "training")
    return _geometry.pool_plan(shape, dtype, kernel_size, stride, 0, 1, False, training=training)


def checked_output_size(output_size, spatial) -> tuple[int, ...]:
    out = _validate.int_tuple(output_size, "output_size", len(spatial))
    if any(o > n for o, n in zip(out, spatial)):
        raise ValueError(
            f"output_size must not exceed the input's spatial shape {tuple(spatial)} in any "
            f"axis; got {out}"
        )
    return out


def compute_dtype(*operands):
    return _validate.compute_dtype(*operands)


# --- output shapes without computing ------------------------------------------------------------


def output_shape(kind: str, sample_shape, **params) -> tuple[int, ...]:
    """Per-sample output shape ``(C, *out_spatial)`` of pooling ``kind`` ("max", "avg", "lp",
    "stochastic", "spectral") on samples of ``sample_shape = (C, *spatial)``.

    Validates ``params`` exactly as the functional call does (the same helpers), without
    running a kernel: a layer learns its output shape at build time from this, not from a
    dry run on zeros (a GPU launch, or an FFT for spectral pooling).
    """
    shape = (1, *sample_shape)
    dt = np.float64  # the dtype does not change a shape
    # each kind's own plan builder, called with the layer's constructor arguments by name
    if kind == "max":
        plan = max_plan(shape, dt, **{"stride": None, "padding": 0, "dilation": 1,
                                       "ceil_mode": False, **params})  # fmt: skip
    elif kind == "avg":
        plan = avg_plan(shape, dt, **{"stride": None, "padding": 0, "ceil_mode": False,
                                       "count_include_pad": True, "divisor_override": None,
                                       **params})  # fmt: skip
    elif kind == "lp":
        plan = lp_plan(shape, dt, **{"stride": None, "ceil_mode": False, **params})
    elif kind == "stochastic":
        plan = stochastic_plan(shape, dt, **{"stride": None, **params}, training=False)
    elif kind == "spectral":
        out = checked_output_size(params["output_size"], tuple(sample_shape[1:]))
        plan = _geometry.whole_plan(shape, dt, out)
    else:
        raise ValueError(f"kind must be one of max, avg, lp, stochastic, spectral; got {kind!r}")
    return (int(sample_shape[0]), *(int(n) for n in plan.out))

"""What makes ``correlate``/``convolve`` a drop-in for SciPy (docs/contract.md §1).

``dispatch`` runs before the real-valued core of ``sigconv.signal``: 0-d operands, ``axes=``
(moving the kernel axes last and broadcasting the others), the result dtype (``_dtypes``),
complex data (``_complex``) and exact integers (``_dtypes.integer_correlate``). The core then
sees real float operands only, plus ``origin`` (``origin_geometry``) and whether the separable
passes may run.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from . import _backend, _complex, _dask, _dtypes, _geometry, _modes, _validate
from ._geometry import AxisGeometry

__all__ = ["dispatch", "origin_geometry"]


def _is_int(v) -> bool:
    return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool)


def origin_geometry(geom, mode, kernel_shape, dilation, origin, flip):
    """``geom`` of ``mode="same"`` with scipy.ndimage's ``origin`` per kernel axis.

    scipy.ndimage centres a kernel of (effective) size ``Ke`` at ``Ke // 2 + origin`` for a
    correlation; its convolution flips the kernel and centres it at ``Ke // 2 - origin``,
    minus one for an even ``Ke``. ``origin`` must lie in ``[-(Ke // 2), (Ke - 1) // 2]`` as in
    scipy.ndimage, so the window always overlaps its output sample's neighbourhood.
    """
    nd = len(kernel_shape)
    if mode != "same":
        raise ValueError(f"origin applies to mode='same' only (scipy.ndimage); got mode={mode!r}")
    if _is_int(origin):
        origin = (int(origin),) * nd
    elif isinstance(origin, (Sequence, np.ndarray)) and not isinstance(origin, str):
        origin = tuple(origin)
        if len(origin) != nd or not all(_is_int(o) for o in origin):
            raise ValueError(
                f"origin must be an int or a sequence of {nd} ints (one per kernel axis); "
                f"got {origin!r}"
            )
        origin = tuple(int(o) for o in origin)
    else:
        raise TypeError(f"origin must be None, an int or a sequence of ints; got {origin!r}")
    out = []
    for g, k, d, o in zip(geom, kernel_shape, dilation, origin):
        ke = (k - 1) * d + 1
        if not -(ke // 2) <= o <= (ke - 1) // 2:
            raise ValueError(
                f"origin must lie in [-(Ke // 2), (Ke - 1) // 2] = [{-(ke // 2)}, "
                f"{(ke - 1) // 2}] for an axis of effective kernel size Ke={ke}; got {o}"
            )
        before = ke // 2 - o - (1 - ke % 2) if flip else ke // 2 + o
        out.append(AxisGeometry(before, ke - 1 - before, g.n_out))
    return out


def check_cval(cval, rdt, boundary):
    if isinstance(cval, (complex, np.complexfloating)) and not isinstance(cval, bool):
        if rdt.kind != "c":
            raise TypeError(f"cval may be complex only for a complex result; got {cval!r}")
        if not (np.isfinite(cval.real) and np.isfinite(cval.imag)):
            raise ValueError(f"cval must be finite; got {cval!r}")
        return complex(cval)
    value = _validate.check_float(cval, "cval")
    if rdt.kind in "biu" and boundary == "constant" and value != int(value):
        raise ValueError(
            f"cval must be an integer for an integer or bool result ({rdt}); got {cval!r} "
            "(pass dtype=np.float64 for a float result)"
        )
    return value


def _axes(axes, nda, ndb):
    if _is_int(axes):
        axes = (axes,)
    if not isinstance(axes, (Sequence, np.ndarray)) or isinstance(axes, str):
        raise TypeError(f"axes must be None, an int or a sequence of ints; got {axes!r}")
    items = tuple(axes)
    if not all(_is_int(a) for a in items):
        raise TypeError(f"axes must contain ints; got {axes!r}")
    norm = []
    for a in items:
        if not -nda <= a < nda:
            raise ValueError(f"axes entries must lie in [-{nda}, {nda - 1}] for in1; got {axes!r}")
        norm.append(int(a) % nda)
    if len(set(norm)) != len(norm) or not norm:
        raise ValueError(f"axes must be distinct and not empty; got {axes!r}")
    if ndb < nda and len(norm) != ndb:
        raise ValueError(
            f"axes must name one in1 axis per in2 axis when in2 has fewer dimensions "
            f"({ndb}); got {axes!r}"
        )
    if len(norm) > 3:
        raise ValueError(f"axes must name 1 to 3 axes (the kernel has at most 3); got {axes!r}")
    return norm


def _with_axes(call, a, b, axes, mode):
    """Move ``axes`` of ``a`` (and of ``b`` when it has ``a``'s rank) last, broadcast the rest
    as scipy.signal.fftconvolve does, compute, and move the kernel axes back.

    As in fftconvolve, ``same`` keeps ``in1``'s size on every axis: where ``in1`` has size 1
    and ``in2`` does not, that is the centre item of the broadcast result.
    """
    na = len(axes)
    tail = list(range(-na, 0))
    a2 = np.moveaxis(a, axes, tail)
    if b.ndim < a.ndim:
        return np.moveaxis(call(a2, b), tail, axes)
    b2 = np.moveaxis(b, axes, tail)
    try:
        lead = np.broadcast_shapes(a2.shape[:-na], b2.shape[:-na])
    except ValueError as exc:
        raise ValueError(
            "in1 and in2 must have equal sizes, or size 1 in one of them, on every axis not in "
            f"axes; got shapes {a.shape} and {b.shape} with axes={tuple(axes)}"
        ) from exc
    alead = a2.shape[:-na]
    a2 = np.broadcast_to(a2, lead + a2.shape[-na:])
    blead = b2.shape[:-na]
    kdims = [d for d in range(len(lead)) if blead[d] > 1]
    if not kdims:
        y = call(a2, b2.reshape(b2.shape[-na:]))
    else:
        # One call per distinct kernel: the axes where in2 varies go first, the others stay
        # batch axes of each call.
        bdims = [d for d in range(len(lead)) if blead[d] == 1]
        perm = kdims + bdims + list(range(len(lead), len(lead) + na))
        at, bt = a2.transpose(perm), b2.transpose(perm)
        grid = tuple(lead[d] for d in kdims)
        y = None
        for idx in np.ndindex(*grid):
            part = call(at[idx], bt[idx][(0,) * len(bdims)])
            if y is None:
                y = np.empty(grid + part.shape, dtype=part.dtype)
            y[idx] = part
        y = y.transpose(np.argsort(perm))
    if mode == "same" and alead != lead:
        y = y[tuple(slice((m - n) // 2, (m - n) // 2 + n) for m, n in zip(lead, alead))]
    return np.moveaxis(y, tail, axes)


def dispatch(
    core,
    in1,
    in2,
    mode,
    stride,
    dilation,
    boundary,
    cval,
    method,
    backend,
    out,
    *,
    flip,
    axes,
    origin,
    dtype,
):
    """The public ``correlate``/``convolve``: SciPy's drop-in rules around ``core``.

    ``core(in1, in2, mode, stride, dilation, boundary, cval, method, backend, out, flip=...,
    origin=..., compute=..., separable=...)`` is the real-valued implementation.
    """
    if _dask.is_dask_array(in1) or _dask.is_dask_array(in2):  # docs/contract.md §5
        return _dask.dispatch(
            in1, in2, mode, stride, dilation, boundary, cval, method, backend, out, flip=flip,
            axes=axes, origin=origin, dtype=dtype,
        )  # fmt: skip
    dev = _backend.is_device_array(in1) or _backend.is_device_array(in2)
    if dev or _backend.is_device_array(out):
        return _device(
            core,
            in1,
            in2,
            mode,
            stride,
            dilation,
            boundary,
            cval,
            method,
            backend,
            out,
            flip=flip,
            axes=axes,
            origin=origin,
            dtype=dtype,
        )
    a = _validate.as_input_array(in1, "in1", complex_ok=True)
    b = _validate.as_input_array(in2, "in2", complex_ok=True)
    rdt = _dtypes.resolve(dtype, a.dtype, b.dtype)
    if a.ndim == 0 or b.ndim == 0:
        if a.ndim != b.ndim:
            raise ValueError(
                "in1 and in2 must both be 0-d when either is (as scipy.signal); got shapes "
                f"{a.shape} and {b.shape}"
            )
        # SciPy multiplies two scalars (correlate conjugates in2) and returns a NumPy scalar.
        value = a * (b if flip else np.conj(b))
        value = np.asarray(value).astype(rdt)
        if out is not None:
            _validate.check_out(out, (), rdt)[...] = value
            return out
        return value[()]
    _validate.check_option(boundary, "boundary", _modes.BOUNDARIES)
    cval = check_cval(cval, rdt, boundary)

    def compute(x, w):
        return _compute(
            core,
            x,
            w,
            rdt,
            mode,
            stride,
            dilation,
            boundary,
            cval,
            method,
            backend,
            flip=flip,
            origin=origin,
        )

    if axes is not None:
        axes_n = _axes(axes, a.ndim, b.ndim)
        if b.ndim > a.ndim:
            raise ValueError(
                f"in2 must not have more dimensions than in1; got {b.ndim} and {a.ndim}"
            )
        y = _with_axes(compute, a, b, axes_n, mode)
    else:
        if out is not None and rdt == _dtypes.compute_dtype(rdt) and rdt.kind == "f":
            # the common case: the core writes into out itself
            return core(
                a,
                b,
                mode,
                stride,
                dilation,
                boundary,
                cval,
                method,
                backend,
                out,
                flip=flip,
                origin=origin,
                compute=rdt,
                separable=method == "auto",
            )
        y = compute(a, b)
    if out is not None:
        _validate.check_out(out, y.shape, rdt)[...] = y
        return out
    return y


def _compute(
    core, a, b, rdt, mode, stride, dilation, boundary, cval, method, backend, *, flip, origin
):
    """One host problem with the kernel on ``b``'s axes (trailing axes of ``a``)."""
    cdt = _dtypes.compute_dtype(rdt)
    kind = rdt.kind
    if kind == "f":
        y = core(
            a,
            b,
            mode,
            stride,
            dilation,
            boundary,
            cval,
            method,
            backend,
            None,
            flip=flip,
            origin=origin,
            compute=cdt,
            separable=method == "auto",
        )
        return y if y.dtype == rdt else y.astype(rdt)
    _validate.check_option(method, "method", ("auto", "direct", "fft"))
    _validate.check_option(backend, "backend", _backend.BACKENDS)
    # Host operands only here: the real passes run on either backend and come back as host
    # arrays. Complex data under backend="auto" stays on the CPU, where the FFT path exists.
    if kind == "c" and backend == "auto":
        backend = "cpu"

    def real(x, w, c, m="direct", compute=cdt):
        return core(
            x,
            w,
            mode,
            stride,
            dilation,
            boundary,
            c,
            m,
            backend,
            None,
            flip=flip,
            origin=origin,
            compute=compute,
            separable=False,
        )

    if kind == "c":
        # the core validates shapes and options; a cheap call on the geometry picks the method
        chosen = method
        if method == "auto":
            chosen = (
                "direct"
                if backend == "cuda"
                else _complex_method(a, b, mode, stride, dilation, cdt)
            )
        return _complex.correlate(
            lambda x, w, m: real(x, w, 0.0, m, rdt if m == "fft" else cdt),
            a,
            b,
            rdt,
            cval,
            boundary,
            flip=flip,
            method=chosen,
        )
    # integers and bool
    if method == "direct" or (
        method == "auto" and not _fft_ok(a, b, mode, stride, dilation, boundary, cval)
    ):
        return _dtypes.integer_correlate(lambda x, w, c: real(x, w, c), a, b, rdt, cval, boundary)
    y = real(a, b, cval if boundary == "constant" else 0.0, method)
    return _dtypes.wrap(np.rint(y), rdt)


def _complex_method(a, b, mode, stride, dilation, cdt):
    nd = b.ndim
    if nd < 1 or nd > 3 or nd > a.ndim:
        return "direct"  # the core raises the right error
    s = _validate.int_tuple(stride, "stride", nd)
    d = _validate.int_tuple(dilation, "dilation", nd)
    _validate.check_option(mode, "mode", _geometry.SIGNAL_MODES)
    geom = _geometry.signal_geometry(a.shape[-nd:], b.shape, mode, s, d)
    return _complex.choose_method(a.shape, b.shape, geom, s, d, cdt)


def _fft_ok(a, b, mode, stride, dilation, boundary, cval) -> bool:
    """``method="auto"`` for integers: whether the FFT is both faster and exactly rounded."""
    nd = b.ndim
    if nd < 1 or nd > 3 or nd > a.ndim:
        return False
    from . import _fft

    s = _validate.int_tuple(stride, "stride", nd)
    d = _validate.int_tuple(dilation, "dilation", nd)
    _validate.check_option(mode, "mode", _geometry.SIGNAL_MODES)
    geom = _geometry.signal_geometry(a.shape[-nd:], b.shape, mode, s, d)
    if _fft.choose_method(a.shape, b.shape, geom, s, d, np.float64) != "fft":
        return False
    padded = math.prod(n + (k - 1) * di * 2 for n, k, di in zip(a.shape[-nd:], b.shape, d))
    padded *= math.prod(a.shape[:-nd])
    return _dtypes.fft_rounding_safe(a, b, cval if boundary == "constant" else 0.0, padded)


def _device(
    core,
    in1,
    in2,
    mode,
    stride,
    dilation,
    boundary,
    cval,
    method,
    backend,
    out,
    *,
    flip,
    axes,
    origin,
    dtype,
):
    """Device operands: float32/float64 results only, kernel on the trailing axes."""
    dts, names = [], []
    for name, v in (("in1", in1), ("in2", in2)):
        if _backend.is_device_array(v) and not isinstance(v, np.ndarray):
            dts.append(np.dtype(v.__cuda_array_interface__["typestr"]))
            names.append(f"{name} (device, {dts[-1]})")
        else:
            dts.append(_validate.as_input_array(v, name, complex_ok=True).dtype)
            names.append(f"{name} ({dts[-1]})")
    for name, dt in zip(("in1", "in2"), dts):
        if dt.kind not in "biufc":
            raise TypeError(f"{name} must have a numeric dtype; got dtype {dt}")
    rdt = _dtypes.resolve(dtype, *dts)
    if rdt not in (np.float32, np.float64):
        raise TypeError(
            f"the CUDA backend computes float32/float64 only; {' and '.join(names)} give result "
            f"dtype {rdt}. Copy the operands to the host for backend='cpu', or pass "
            "dtype=np.float32 or np.float64 (real inputs)"
        )
    if axes is not None:
        raise ValueError(
            "axes= needs host arrays (device operands have the kernel on the trailing axes)"
        )
    return core(
        in1,
        in2,
        mode,
        stride,
        dilation,
        boundary,
        cval,
        method,
        backend,
        out,
        flip=flip,
        origin=origin,
        compute=rdt,
        separable=False,
    )

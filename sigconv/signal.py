"""SciPy-compatible correlation and convolution, extended with strides, dilations, boundaries,
batch axes and backends (docs/contract.md §1).

The public functions hand SciPy's conventions (0-d inputs, ``axes=``, ``origin=``, result
dtypes, complex data) to ``_dropin``, which calls the real-valued core :func:`_correlate`. The
core validates every argument, plans the call (``_geometry.correlate_plan``), picks the backend
(``_backend.select``) and hands the plan and arrays of the compute dtype to its ``correlate``
(``sigconv._cpu`` or ``sigconv._cuda``), which picks the method and kernels.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Sequence

import numpy as np

from . import _backend, _config, _dropin, _geometry, _modes, _validate

__all__ = ["convolve", "correlate", "output_shape"]

MODES = _geometry.SIGNAL_MODES
BOUNDARIES = _modes.BOUNDARIES
METHODS = _geometry.SIGNAL_METHODS


def output_shape(in_shape, kernel_shape, mode="full", *, stride=1, dilation=1):
    """Shape of ``correlate(in1, in2, mode, stride=stride, dilation=dilation)``.

    Parameters
    ----------
    in_shape : sequence of int
        Shape of ``in1`` (leading axes beyond the kernel's are batch axes).
    kernel_shape : sequence of int
        Shape of ``in2``: 1 to 3 axes, no more than ``len(in_shape)``.
    mode : {'full', 'same', 'valid'}
        As in :func:`correlate`.
    stride, dilation : int or sequence of int
        One per kernel axis (an int applies to all), each >= 1.

    Returns
    -------
    tuple of int

    Examples
    --------
    >>> output_shape((10,), (3,), "same", stride=2)
    (5,)
    >>> output_shape((4, 100, 100), (5, 5), "valid", dilation=2)
    (4, 92, 92)
    """
    in_shape = _shape_tuple(in_shape, "in_shape", 1, None)
    kernel_shape = _shape_tuple(kernel_shape, "kernel_shape", 1, 3)
    mode = _validate.check_option(mode, "mode", MODES)
    check_ranks(len(in_shape), len(kernel_shape), "in_shape", "kernel_shape")
    nd = len(kernel_shape)
    stride = _validate.int_tuple(stride, "stride", nd)
    dilation = _validate.int_tuple(dilation, "dilation", nd)
    geom = _geometry.signal_geometry(in_shape[-nd:], kernel_shape, mode, stride, dilation)
    return tuple(in_shape[:-nd]) + tuple(g.n_out for g in geom)


def correlate(
    in1,
    in2,
    mode="full",
    *,
    stride=1,
    dilation=1,
    boundary="constant",
    cval=0.0,
    method="auto",
    backend="auto",
    out=None,
    axes=None,
    origin=None,
    dtype=None,
):
    """Cross-correlate ``in1`` with the kernel ``in2`` over ``in2``'s trailing axes.

    With ``stride=1``, ``dilation=1``, ``boundary='constant'`` and ``cval=0`` this equals
    ``scipy.signal.correlate(in1, in2, mode)``, including the even-kernel centring of ``same``,
    SciPy's ``valid`` rule, its result dtypes and its 0-d behaviour (docs/contract.md §1 lists
    the remaining differences). Complex ``in2`` is conjugated, as SciPy does.

    Parameters
    ----------
    in1 : array_like
        Input of shape ``(*batch, *spatial)``; ``spatial`` has ``in2.ndim`` axes (or see
        ``axes``). Bool, integer, float and complex dtypes; any layout. Leading ``batch`` axes
        share the one kernel. 0-d only together with a 0-d ``in2`` (their product). A
        ``dask.array.Array`` (real data) gives a lazy Dask array equal to the in-memory result,
        computed chunk by chunk (docs/contract.md §5).
    in2 : array_like
        Kernel with 1, 2 or 3 axes (or as many as ``in1`` with ``axes``).
    mode : {'full', 'same', 'valid'}
        ``full``: every position where kernel and input overlap; ``same``: as many outputs as
        input samples, centred as SciPy does; ``valid``: positions where one operand covers the
        other (when the kernel is the larger, where it fully covers the input).
    stride : int or sequence of int, optional
        Keep every ``stride``-th output per kernel axis, starting at index 0 (``same`` then has
        ``ceil(n / stride)`` outputs). Skipped outputs are never computed.
    dilation : int or sequence of int, optional
        Spacing between kernel taps (``dilation - 1`` zeros inserted between them).
    boundary : {'constant', 'reflect', 'mirror', 'nearest', 'wrap'}, optional
        How the input is extended beyond its edges, with scipy.ndimage's meanings: ``constant``
        (``cval``), ``reflect`` (edge sample repeated, ``d c b a | a b c d | d c b a``),
        ``mirror`` (edge not repeated, ``d c b | a b c d | c b a``), ``nearest`` and ``wrap``.
        An extension wider than the input repeats periodically, as ``numpy.pad`` does.
    cval : float or complex, optional
        The value outside the input when ``boundary='constant'``: an integer for integer
        results, possibly complex for complex ones.
    method : {'auto', 'direct', 'fft'}, optional
        ``direct``: Numba kernels (exact for integer results); ``fft``: scipy.fft with
        overlap-save (integer results rounded, as SciPy); ``auto``: a cost model picks the
        faster, runs a rank-one 2-D/3-D kernel as 1-D passes when that is cheaper, and uses the
        FFT for integers only when it is provably exact. Results agree to floating-point
        tolerance. The CUDA backend has only the direct kernels: ``auto`` runs them there,
        ``fft`` raises.
    backend : {'auto', 'cpu', 'cuda'}, optional
        ``auto`` keeps GPU arrays (``__cuda_array_interface__``) on the GPU and uses the GPU for
        large host problems when one is present.
    out : ndarray, optional
        Array of exactly the output shape and dtype to write the result into.
    axes : int or sequence of int, optional
        The axes of ``in1`` the kernel acts on (1 to 3, in the kernel's axis order), as in
        ``scipy.signal.fftconvolve``: when ``in2`` has ``in1``'s rank, the other axes
        broadcast; when it has fewer, they are batch axes. Default: the trailing axes.
    origin : int or sequence of int, optional
        ``mode='same'`` only: scipy.ndimage's kernel origin, so the result equals
        ``scipy.ndimage.correlate(in1, in2, mode=boundary, origin=origin)``. ``0`` centres an
        even kernel the ndimage way; the default ``None`` keeps scipy.signal's centring.
    dtype : dtype, optional
        The result dtype; default ``numpy.result_type(in1, in2)``, as scipy.signal. Any float
        or complex dtype (``np.float64`` gives integer inputs an unrounded float result), or an
        integer dtype for integer and bool inputs.

    Returns
    -------
    ndarray
        Shape ``output_shape(in1.shape, in2.shape, mode, stride=..., dilation=...)`` (with
        ``axes``: the kernel axes in place), dtype ``numpy.result_type(in1, in2)`` or
        ``dtype``; integers exactly as SciPy's wrapping integer arithmetic gives them on the
        direct path. A device array when an operand lives on the GPU (float32/float64 results
        only). A NumPy scalar for two 0-d inputs.

    Raises
    ------
    TypeError
        Object, string or extended-precision dtypes; a result dtype the inputs cannot give;
        non-float results with device operands; arguments of the wrong type.
    ValueError
        Bad option values, empty inputs, a kernel with more axes than ``in1`` or more than 3,
        ``valid`` with neither operand covering the other, ``out`` of the wrong shape, bad
        ``axes`` or ``origin``, one 0-d operand with an array.

    Examples
    --------
    >>> import numpy as np
    >>> correlate(np.arange(5.0), [1.0, 1.0], "valid")
    array([1., 3., 5., 7.])
    >>> correlate(np.ones((2, 6)), [1.0, 2.0, 1.0], "same", stride=2, boundary="nearest").shape
    (2, 3)
    >>> correlate(np.array([1, 2, 3], dtype=np.uint8), np.array([1, 1], dtype=np.uint8))
    array([1, 3, 5, 3], dtype=uint8)
    >>> correlate([1j, 2.0], [1j])
    array([1.+0.j, 0.-2.j])
    """
    return _call(
        in1, in2, mode, stride, dilation, boundary, cval, method, backend, out,
        flip=False, axes=axes, origin=origin, dtype=dtype,
    )  # fmt: skip


def convolve(
    in1,
    in2,
    mode="full",
    *,
    stride=1,
    dilation=1,
    boundary="constant",
    cval=0.0,
    method="auto",
    backend="auto",
    out=None,
    axes=None,
    origin=None,
    dtype=None,
):
    """Convolve ``in1`` with the kernel ``in2`` over ``in2``'s trailing axes.

    Exactly :func:`correlate` with ``in2`` flipped along every kernel axis and not conjugated;
    with the default options equal to ``scipy.signal.convolve(in1, in2, mode)`` (with ``axes``,
    ``scipy.signal.fftconvolve``; with ``origin``, ``scipy.ndimage.convolve``). Parameters,
    returns and errors are those of :func:`correlate`.

    Examples
    --------
    >>> import numpy as np
    >>> convolve([1.0, 2.0, 3.0], [0.0, 1.0, 0.5])
    array([0. , 1. , 2.5, 4. , 1.5])
    """
    return _call(
        in1, in2, mode, stride, dilation, boundary, cval, method, backend, out,
        flip=True, axes=axes, origin=origin, dtype=dtype,
    )  # fmt: skip


# --- implementation ---------------------------------------------------------------------------


def _call(
    in1, in2, mode, stride, dilation, boundary, cval, method, backend, out, *, flip, axes, origin,
    dtype,
):  # fmt: skip
    """``correlate``/``convolve``: a call known by its :func:`_call_key` goes straight to the
    backend; any other through ``_dropin.dispatch`` (SciPy's rules, every check), and is known
    from then on when it succeeds."""
    key = None
    if out is None and axes is None and origin is None and dtype is None:
        key = _call_key(in1, in2, mode, stride, dilation, boundary, cval, method, backend, flip)
        plan = None if key is None else _geometry.known_plan(key)
        if plan is not None:
            return _run(plan, in1, in2, backend)
    y = _dropin.dispatch(
        _correlate, in1, in2, mode, stride, dilation, boundary, cval, method, backend, out,
        flip=flip, axes=axes, origin=origin, dtype=dtype,
    )  # fmt: skip
    if key is not None:
        _remember(key, in1, in2, mode, stride, dilation, boundary, cval, method, flip)
    return y


def _call_key(in1, in2, mode, stride, dilation, boundary, cval, method, backend, flip):
    """The key of a call that may skip ``_dropin.dispatch`` once a call like it succeeded, or
    None.

    The repeated call of a training loop or a pipeline: two host arrays of one native float
    dtype and options of the types validation takes as they are (an int stride and dilation, a
    float ``cval``, strings), so that an equal key means every check passes again. After a
    5 MB kernel had pushed the interpreter out of the caches, W4's call spent 59 us in Python
    around a 201 us kernel (two threads, medians of 400 calls); with the key, 36 us (a small
    call's Python, warm: 17.6 -> 10.8 us).
    """
    if type(backend) is not str or not _geometry.plain_signal_options(
        mode, stride, dilation, boundary, cval, method
    ):
        return None
    dt = _validate.host_float_dtype(in1, in2)
    if dt is None or in1 is None or in2 is None or in2.ndim == 0:
        return None
    return ("signal-call", in1.shape, in2.shape, dt.char, mode, stride, dilation, boundary,
            cval, method, backend, flip)  # fmt: skip


def _remember(key, in1, in2, mode, stride, dilation, boundary, cval, method, flip):
    """Keep the plan of a call that went through ``_dropin.dispatch`` without an error under
    its ``_call_key``: the plan the core used (``_correlate``, from the plan cache)."""
    plan = _geometry.correlate_plan(
        in1.shape, in2.shape, mode, stride=stride, dilation=dilation, boundary=boundary,
        cval=cval, flip=flip, method=method, dtype=in1.dtype, separable=method == "auto",
    )  # fmt: skip
    _geometry.remember_plan(key, plan)


def _run(plan, in1, in2, backend):
    """What ``_correlate`` does for a call under a known ``_call_key``, without its checks."""
    ops = _backend.select(backend, in1, in2, work=plan.work, gpu_min_work=_config.CUDA_MIN_WORK)
    dt = plan.dtype
    return ops.correlate(plan, _validate.to_compute(in1, dt), _validate.to_compute(in2, dt), None)


def _shape_tuple(shape, name, min_len, max_len):
    if isinstance(shape, (numbers.Integral, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (Sequence, np.ndarray)) or isinstance(shape, str):
        raise TypeError(f"{name} must be a sequence of ints; got {shape!r}")
    items = tuple(shape)
    for v in items:
        if not isinstance(v, (numbers.Integral, np.integer)) or isinstance(v, bool):
            raise TypeError(f"{name} must contain ints; got {shape!r}")
    items = tuple(int(v) for v in items)
    if len(items) < min_len or (max_len is not None and len(items) > max_len):
        want = f"at least {min_len}" if max_len is None else f"{min_len} to {max_len}"
        raise ValueError(f"{name} must have {want} entries; got {shape!r}")
    if any(v < 1 for v in items):
        raise ValueError(f"{name} must contain positive sizes; got {shape!r}")
    return items


def check_ranks(n_in, n_kernel, in_name, kernel_name):
    if n_kernel > n_in:
        raise ValueError(
            f"{kernel_name} must not have more dimensions than {in_name} (the kernel acts on the "
            f"trailing axes of the input); got {n_kernel} and {n_in}"
        )


def _correlate(
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
    origin=None,
    compute=None,
    separable=False,
):
    """The real-valued core; ``sigconv._dropin.dispatch`` hands it float operands (complex
    ones on the FFT path only), the ``compute`` dtype and whether rank-one kernels may run as
    1-D passes (docs/contract.md §1)."""
    _validate.check_option(backend, "backend", _backend.BACKENDS)
    a = _validate.operand(in1, "in1", min_ndim=1, complex_ok=True)
    k = _validate.operand(in2, "in2", min_ndim=1, max_ndim=3, complex_ok=True)
    check_ranks(len(a.shape), len(k.shape), "in1", "in2")
    plan = _geometry.correlate_plan(
        a.shape,
        k.shape,
        mode,
        stride=stride,
        dilation=dilation,
        boundary=boundary,
        cval=cval,
        flip=flip,
        method=method,
        dtype=np.dtype(compute) if compute is not None else _validate.compute_dtype(a, k),
        separable=separable,
    )
    if origin is not None:
        axes = _dropin.origin_geometry(list(plan.axes), mode, k.shape, plan.dilation, origin, flip)
        plan = dataclasses.replace(plan, axes=tuple(axes))
    ops = _backend.select(
        backend, a.array, k.array, work=plan.work, gpu_min_work=_config.CUDA_MIN_WORK
    )
    if out is not None:
        out = _validate.check_out(
            out, plan.out_shape, plan.dtype, device_ok=ops.__name__ == "sigconv._cuda"
        )
    return ops.correlate(plan, a.compute(plan.dtype), k.compute(plan.dtype), out)

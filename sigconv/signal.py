"""SciPy-compatible correlation and convolution, extended with strides, dilations, boundaries,
batch axes and backends (docs/contract.md §1).

The wrappers here validate every argument, work out the geometry (``_geometry``), pick the
method (direct or FFT, ``_fft``) and the backend (``_backend``), and hand contiguous arrays of the
compute dtype to the private kernels (``_cpu.correlate``, ``_fft``, ``_cuda.correlate``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from . import _backend, _config, _dask, _geometry, _validate
from ._cpu import correlate as _cpu_correlate

__all__ = ["convolve", "correlate", "output_shape"]

MODES = _geometry.SIGNAL_MODES
BOUNDARIES = ("constant", "reflect", "mirror", "nearest", "wrap")
METHODS = ("auto", "direct", "fft")


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
    _check_ranks(len(in_shape), len(kernel_shape), "in_shape", "kernel_shape")
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
):
    """Cross-correlate ``in1`` with the kernel ``in2`` over ``in2``'s trailing axes.

    With ``stride=1``, ``dilation=1``, ``boundary='constant'`` and ``cval=0`` this equals
    ``scipy.signal.correlate(in1, in2, mode)``, including the even-kernel centring of ``same``
    and SciPy's ``valid`` rule.

    Parameters
    ----------
    in1 : array_like
        Input of shape ``(*batch, *spatial)``; ``spatial`` has ``in2.ndim`` axes. Bool, integer
        and float dtypes; any layout. Leading ``batch`` axes share the one kernel. A
        ``dask.array.Array`` gives a lazy Dask array equal to the in-memory result, computed
        chunk by chunk (docs/contract.md §5).
    in2 : array_like
        Kernel with 1, 2 or 3 axes.
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
    cval : float, optional
        The value outside the input when ``boundary='constant'``.
    method : {'auto', 'direct', 'fft'}, optional
        ``direct``: Numba kernels; ``fft``: scipy.fft with overlap-save; ``auto``: a cost model
        picks the faster. Results agree to floating-point tolerance.
        The CUDA backend has only the direct kernels: ``auto`` runs them there, ``fft`` raises.
    backend : {'auto', 'cpu', 'cuda'}, optional
        ``auto`` keeps GPU arrays (``__cuda_array_interface__``) on the GPU and uses the GPU for
        large host problems when one is present.
    out : ndarray, optional
        Array of exactly the output shape and dtype to write the result into.

    Returns
    -------
    ndarray
        Shape ``output_shape(in1.shape, in2.shape, mode, stride=..., dilation=...)``; float32
        when both inputs are float32 (or float16), else float64. A device array when an
        operand lives on the GPU.

    Raises
    ------
    TypeError
        Complex, object or other non-real dtypes; arguments of the wrong type.
    ValueError
        Bad option values, empty inputs, a kernel with more axes than ``in1`` or more than 3,
        ``valid`` with neither operand covering the other, ``out`` of the wrong shape.

    Examples
    --------
    >>> import numpy as np
    >>> correlate(np.arange(5.0), [1.0, 1.0], "valid")
    array([1., 3., 5., 7.])
    >>> correlate(np.ones((2, 6)), [1.0, 2.0, 1.0], "same", stride=2, boundary="nearest").shape
    (2, 3)
    """
    return _correlate(
        in1, in2, mode, stride, dilation, boundary, cval, method, backend, out, flip=False
    )


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
):
    """Convolve ``in1`` with the kernel ``in2`` over ``in2``'s trailing axes.

    Exactly :func:`correlate` with ``in2`` flipped along every kernel axis; with the default
    options equal to ``scipy.signal.convolve(in1, in2, mode)``. Parameters, returns and errors
    are those of :func:`correlate`.

    Examples
    --------
    >>> import numpy as np
    >>> convolve([1.0, 2.0, 3.0], [0.0, 1.0, 0.5])
    array([0. , 1. , 2.5, 4. , 1.5])
    """
    return _correlate(
        in1, in2, mode, stride, dilation, boundary, cval, method, backend, out, flip=True
    )


# --- implementation ---------------------------------------------------------------------------


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


def _check_ranks(n_in, n_kernel, in_name, kernel_name):
    if n_kernel > n_in:
        raise ValueError(
            f"{kernel_name} must not have more dimensions than {in_name} (the kernel acts on the "
            f"trailing axes of the input); got {n_kernel} and {n_in}"
        )


def _device_meta(x, name, min_ndim, max_ndim):
    """Shape and dtype of a GPU array from its ``__cuda_array_interface__`` (no host copy)."""
    cai = x.__cuda_array_interface__
    shape = tuple(int(v) for v in cai["shape"])
    dtype = np.dtype(cai["typestr"])
    if dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must have a real numeric dtype (bool, integer or float); got dtype {dtype}"
        )
    if len(shape) < min_ndim or (max_ndim is not None and len(shape) > max_ndim):
        want = f"at least {min_ndim}" if max_ndim is None else f"{min_ndim} to {max_ndim}"
        raise ValueError(f"{name} must have {want} dimensions; got shape {shape}")
    if math.prod(shape) == 0:
        raise ValueError(f"{name} must not be empty; got shape {shape}")
    return shape, dtype


class _Meta:
    """Shape and dtype of a validated operand, host or device."""

    def __init__(self, value, name, min_ndim, max_ndim):
        if _backend.is_device_array(value) and not isinstance(value, np.ndarray):
            self.array = value
            self.shape, self.dtype = _device_meta(value, name, min_ndim, max_ndim)
            self.on_device = True
        else:
            self.array = _validate.as_input_array(value, name, min_ndim=min_ndim, max_ndim=max_ndim)
            self.shape, self.dtype = self.array.shape, self.array.dtype
            self.on_device = False


def _correlate(in1, in2, mode, stride, dilation, boundary, cval, method, backend, out, *, flip):
    if _dask.is_dask_array(in1) or _dask.is_dask_array(in2):  # docs/contract.md §5
        _dask.host_kernel(in2)
        return _dask.correlate(
            in1, in2, mode, stride, dilation, boundary, cval, method, backend, out, flip=flip
        )
    mode = _validate.check_option(mode, "mode", MODES)
    boundary = _validate.check_option(boundary, "boundary", BOUNDARIES)
    method = _validate.check_option(method, "method", METHODS)
    _validate.check_option(backend, "backend", _backend.BACKENDS)
    cval = _validate.check_float(cval, "cval")
    a = _Meta(in1, "in1", 1, None)
    k = _Meta(in2, "in2", 1, 3)
    _check_ranks(len(a.shape), len(k.shape), "in1", "in2")
    nd = len(k.shape)
    stride = _validate.int_tuple(stride, "stride", nd)
    dilation = _validate.int_tuple(dilation, "dilation", nd)
    batch = a.shape[:-nd]
    geom = _geometry.signal_geometry(a.shape[-nd:], k.shape, mode, stride, dilation)
    shape = tuple(batch) + tuple(g.n_out for g in geom)
    dtype = _validate.compute_dtype(a, k)
    work = 2.0 * math.prod(shape) * math.prod(k.shape)
    resolved = _backend.resolve_backend(
        backend, a.array, k.array, work=work, gpu_min_work=_config.CUDA_MIN_WORK
    )

    if resolved == "cuda":
        if method == "fft":
            # The CUDA backend has only the direct kernels; running them silently for an
            # explicit method="fft" would hide what the caller asked for.
            raise ValueError(
                "method='fft' is not available on the CUDA backend (it has direct kernels "
                "only); use method='direct' or 'auto', or backend='cpu' for the FFT path"
            )
        if out is not None:
            _check_out_meta(out, shape, dtype)
        x = a.array if a.on_device else _validate.to_compute(a.array, dtype)
        w = k.array if k.on_device else _validate.to_compute(k.array, dtype)
        # The one call into the CUDA backend. Contract (owned by sigconv._cuda.correlate):
        # x and w are validated host arrays of the compute dtype or the caller's raw device
        # arrays; w is NOT flipped here (flip=True asks the kernel to read it reversed for a
        # convolution); geom/stride/dilation describe the kernel axes as for the CPU path; the
        # result (or `out`, filled) has dtype `dtype` and is a device array when an operand
        # lives on the GPU, else a host ndarray.
        from ._cuda.correlate import correlate as _cuda_correlate

        return _cuda_correlate(
            x,
            w,
            geom,
            stride=stride,
            dilation=dilation,
            boundary=boundary,
            cval=cval,
            flip=flip,
            out=out,
            dtype=dtype,
        )

    if out is not None:
        out = _validate.check_out(out, shape, dtype)
    x = _validate.to_compute(a.array, dtype)
    w = _validate.to_compute(k.array, dtype)
    if flip:
        w = np.ascontiguousarray(w[(slice(None, None, -1),) * nd])

    if method != "direct":
        from . import _fft

        if method == "auto":
            method = _fft.choose_method(x.shape, w.shape, geom, stride, dilation, x.dtype)
    if method == "fft":
        result = _fft.correlate_fft(x, w, geom, stride, dilation, boundary, cval)
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
    target = out if direct_out else None
    result = _direct(x, w, geom, stride, dilation, boundary, cval, shape, target)
    if out is not None and result is not out:
        out[...] = result
        return out
    return result


def _direct(x, w, geom, stride, dilation, boundary, cval, shape, target):
    """Run the Numba kernel on the problem normalised to ``(B, N0, N1, N2)`` and 3-D kernels."""
    nd = w.ndim
    # The kernels are compiled for writeable arrays only: a read-only operand would be typed
    # differently by Numba and compile a second version of every kernel (about 10 s each), so
    # it is copied instead.
    if not x.flags.writeable:
        x = x.copy()
    if not w.flags.writeable:
        w = w.copy()
    pad = (0,) * (3 - nd) + tuple(g.pad_before for g in geom)
    s = (1,) * (3 - nd) + tuple(stride)
    d = (1,) * (3 - nd) + tuple(dilation)
    spatial = (1,) * (3 - nd) + x.shape[x.ndim - nd :]
    x4 = x.reshape((-1,) + spatial)
    w3 = w.reshape((1,) * (3 - nd) + w.shape)
    o_spatial = (1,) * (3 - nd) + tuple(g.n_out for g in geom)
    if target is None:
        res = np.empty(shape, dtype=x.dtype)
    else:
        res = target
    o4 = res.reshape((x4.shape[0],) + o_spatial)
    s2 = s[2]
    block = int(_config.CPU_ROW_BLOCK)
    bmode = _cpu_correlate.BOUNDARY_CODES[boundary]
    # stride, dilation and padding per axis, boundary, cval and row block: both kernels take them
    rest = (*s[:2], s2, *d, *pad, bmode, float(cval), block)
    if s2 > 1 and _split_wins(x4.shape, w3.shape, o4.shape, s, d, pad, block):
        _cpu_correlate.correlate3_split(x4, w3, o4, *rest)
        return res
    if s2 == 1:
        xd = x4.reshape(x4.shape[:3] + (1, x4.shape[3]))
    else:
        xd = np.empty(x4.shape[:3] + (s2, -(-x4.shape[3] // s2)), dtype=x.dtype)
        _cpu_correlate.deinterleave(x4, xd)
    _cpu_correlate.correlate3(x4, xd, w3, o4, *rest)
    return res


def _split_wins(x_shape, w_shape, o_shape, s, d, pad, block):
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
    column block reads inside the row for all but ``_SCALAR_MAX`` outputs (the split kernel
    computes the others by a scalar loop over all taps; ``correlate3`` uses per-tap passes).
    """
    B, N0, N1, N2 = x_shape
    K0, K1, K2 = w_shape
    O0, O1, O2 = o_shape[1:]
    s2 = s[2]
    _, q, _, _, _, lo_all, hi_all = _cpu_correlate.row_taps(N2, K2, s2, d[2], pad[2], O2)
    if not _cpu_correlate.all_blocks_fast(lo_all, hi_all, O2, block):
        return False
    nblk = -(-O2 // block)
    # Kernel rows along axis 1 not read by the previous output row (same block, o1 - 1).
    new1 = K1 if (nblk > 1 or s[1] % d[1]) else min(K1, s[1] // d[1])
    split_per_task = K0 * new1 * s2 * (min(block, O2) + int(q.max()) - int(q.min()))
    input_per_task = N0 * N1 * N2 / (O0 * O1 * nblk)
    return split_per_task <= 2 * input_per_task


def _check_out_meta(out, shape, dtype):
    """``out`` on the CUDA path: a host ndarray or a device array of the exact shape/dtype."""
    if _backend.is_device_array(out) and not isinstance(out, np.ndarray):
        cai = out.__cuda_array_interface__
        oshape = tuple(int(v) for v in cai["shape"])
        odtype = np.dtype(cai["typestr"])
        if oshape != tuple(shape):
            raise ValueError(f"out must have shape {tuple(shape)}; got {oshape}")
        if odtype != dtype:
            raise TypeError(f"out must have dtype {np.dtype(dtype)}; got {odtype}")
        return out
    return _validate.check_out(out, shape, dtype)

"""Multi-channel convolution for CNNs: ``conv``, ``conv_backward``, ``conv_transpose``.

Public wrappers: they validate, resolve the padding (``_geometry.nn_padding``), bring every
problem to the canonical 3-spatial-axis form the kernels in ``sigconv._cpu.conv`` expect, and
dispatch to the CPU or CUDA backend (one dispatch point per function).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _backend, _config, _geometry, _validate
from .._cpu import conv as _cpu

__all__ = ["conv", "conv_backward", "conv_transpose"]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")
_NUMPY_MODE = {
    "reflect": "reflect",
    "replicate": "edge",
    "circular": "wrap",
    "symmetric": "symmetric",
}
_NEEDS = ("x", "weight", "bias")


# --- validation -------------------------------------------------------------------------------


def _array(a, name, *, ndim=None, min_ndim=0, max_ndim=None):
    """Host arrays through ``as_input_array``; device arrays are only checked, never copied."""
    if _backend.is_device_array(a) and not isinstance(a, np.ndarray):
        rank = len(a.shape)
        if ndim is not None and rank != ndim:
            raise ValueError(f"{name} must have {ndim} dimensions; got shape {tuple(a.shape)}")
        if rank < min_ndim or (max_ndim is not None and rank > max_ndim):
            want = f"at least {min_ndim}" if max_ndim is None else f"{min_ndim} to {max_ndim}"
            raise ValueError(f"{name} must have {want} dimensions; got shape {tuple(a.shape)}")
        return a
    if ndim is not None:
        rank = np.ndim(a)
        if rank != ndim:
            raise ValueError(
                f"{name} must have {ndim} dimensions (like x); got {rank} (shape {np.shape(a)})"
            )
        min_ndim = max_ndim = ndim
    return _validate.as_input_array(a, name, min_ndim=min_ndim, max_ndim=max_ndim)


def _groups(groups) -> int:
    if not isinstance(groups, (numbers.Integral, np.integer)) or isinstance(groups, bool):
        raise TypeError(
            f"groups must be a positive int; got {groups!r} (type {type(groups).__name__})"
        )
    if groups < 1:
        raise ValueError(f"groups must be a positive int; got {groups!r}")
    return int(groups)


def _check_channels(cin, weight_shape, groups, *, transpose=False):
    """Channel bookkeeping shared by conv and conv_transpose; returns (C_out, C_in / groups)."""
    if transpose:
        # weight (C_in, C_out // groups, *k): C_in is the transposed input's channel count.
        if weight_shape[0] != cin:
            raise ValueError(
                f"weight.shape[0] must equal the input's channels x.shape[1] = {cin} for "
                f"conv_transpose; got weight shape {tuple(weight_shape)}"
            )
        if cin % groups:
            raise ValueError(f"groups={groups} must divide the input channels {cin}")
        return weight_shape[1] * groups, weight_shape[1]
    if cin % groups:
        raise ValueError(f"groups={groups} must divide the input channels x.shape[1] = {cin}")
    if weight_shape[1] * groups != cin:
        raise ValueError(
            f"weight.shape[1] must be x.shape[1] // groups = {cin} // {groups} = {cin // groups}; "
            f"got weight shape {tuple(weight_shape)}"
        )
    cout = weight_shape[0]
    if cout % groups:
        raise ValueError(
            f"groups={groups} must divide the output channels weight.shape[0] = {cout}"
        )
    return cout, weight_shape[1]


def _check_bias(bias, cout):
    if bias is None:
        return None
    bias = _array(bias, "bias", ndim=1)
    if tuple(bias.shape) != (cout,):
        raise ValueError(
            f"bias must have shape ({cout},) (one per output channel); got {tuple(bias.shape)}"
        )
    return bias


class _Geometry:
    """Everything about one convolution's shapes, resolved once."""

    def __init__(self, x_shape, w_shape, stride, padding, dilation, groups, padding_mode):
        nd = len(x_shape) - 2
        self.nd = nd
        self.groups = _groups(groups)
        self.cout, self.cin_g = _check_channels(x_shape[1], w_shape, self.groups)
        self.spatial = tuple(int(n) for n in x_shape[2:])
        self.ksize = tuple(int(k) for k in w_shape[2:])
        self.stride = _validate.int_tuple(stride, "stride", nd)
        self.dilation = _validate.int_tuple(dilation, "dilation", nd)
        self.padding_mode = _validate.check_option(padding_mode, "padding_mode", PADDING_MODES)
        self.pads = _geometry.nn_padding(
            padding, self.spatial, self.ksize, self.stride, self.dilation
        )
        self.out = tuple(
            _geometry.nn_output_size(n, p, k, s, d)
            for n, p, k, s, d in zip(
                self.spatial, self.pads, self.ksize, self.stride, self.dilation
            )
        )
        if any(o <= 0 for o in self.out):
            ke = [_geometry.effective_size(k, d) for k, d in zip(self.ksize, self.dilation)]
            raise ValueError(
                f"the output would be empty: input spatial size {self.spatial} with padding "
                f"{self.pads} is smaller than the dilated kernel {tuple(ke)} in some axis "
                f"(output size {self.out})"
            )
        if self.padding_mode != "zeros":
            for axis, (n, (b, a)) in enumerate(zip(self.spatial, self.pads)):
                most = n - 1 if self.padding_mode == "reflect" else n
                if self.padding_mode != "replicate" and max(b, a) > most:
                    rule = "smaller than" if self.padding_mode == "reflect" else "at most"
                    raise ValueError(
                        f"padding_mode={self.padding_mode!r} needs padding {rule} the input size "
                        f"in every axis; got padding {(b, a)} for spatial axis {axis} of size {n}"
                    )

    # canonical 3-D forms
    def c3(self, t, fill):
        return (fill,) * (3 - self.nd) + tuple(t)

    @property
    def padded(self):
        return tuple(n + b + a for n, (b, a) in zip(self.spatial, self.pads))

    def maps(self):
        """Per canonical axis, the source index of every padded position (-1 for zero)."""
        out = [np.zeros(1, dtype=np.int64)] * (3 - self.nd)
        for n, (b, a) in zip(self.spatial, self.pads):
            if self.padding_mode == "zeros":
                m = np.full(n + b + a, -1, dtype=np.int64)
                m[b : b + n] = np.arange(n)
            else:
                m = np.pad(
                    np.arange(n, dtype=np.int64), (b, a), mode=_NUMPY_MODE[self.padding_mode]
                )
            out.append(m)
        return out

    def flops(self, n):
        return 2.0 * n * self.cout * self.cin_g * math.prod(self.out) * math.prod(self.ksize)


def _to3(a, nd):
    """View ``(N, C, *spatial)`` as ``(N, C, D, H, W)`` by inserting singleton axes."""
    return a.reshape(a.shape[:2] + (1,) * (3 - nd) + a.shape[2:])


def _pad(x3, geo):
    if all(b == 0 and a == 0 for b, a in geo.pads):
        return x3
    shape = x3.shape[:2] + geo.c3(geo.padded, 1)
    md, mh, mw = geo.maps()
    return _cpu.pad(x3, md, mh, mw, geo.pads[-1][0], np.empty(shape, dtype=x3.dtype))


def _unpad(gxp3, x_shape3, geo):
    if all(b == 0 and a == 0 for b, a in geo.pads):
        return gxp3
    if geo.padding_mode == "zeros":
        sl = tuple(slice(b, b + n) for n, (b, a) in zip(geo.spatial, geo.pads))
        return np.ascontiguousarray(gxp3[(slice(None),) * (5 - geo.nd) + sl])
    md, mh, mw = geo.maps()
    return _cpu.fold(gxp3, md, mh, mw, geo.pads[-1][0], np.zeros(x_shape3, dtype=gxp3.dtype))


def _need(need):
    if isinstance(need, str):
        need = (need,)
    try:
        items = tuple(need)
    except TypeError:
        raise TypeError(
            f"need must be a sequence of names from {list(_NEEDS)}; got {need!r}"
        ) from None
    for item in items:
        _validate.check_option(item, "need", _NEEDS)
    return items


def _cuda():
    from .._cuda import conv as cuda_conv  # lazy: CUDA is optional

    return cuda_conv


# --- grad_x: shared by conv_backward and conv_transpose ------------------------------------------


def _grad_input3(g3, w3, geo, x_shape3):
    """Gradient of conv with respect to its (canonical) input, through the padding."""
    pshape = x_shape3[:2] + geo.c3(geo.padded, 1)
    stride3, dil3 = geo.c3(geo.stride, 1), geo.c3(geo.dilation, 1)
    out3 = geo.c3(geo.out, 1)
    if geo.padding_mode == "zeros":
        # zero padding sends no gradient anywhere: only the unpadded window is wanted
        window = (geo.c3([b for b, _ in geo.pads], 0), tuple(x_shape3[2:]))
        return _cpu.grad_input_padded(
            g3, w3, pshape, stride3, dil3, geo.groups, out3, window=window
        )
    gxp = _cpu.grad_input_padded(g3, w3, pshape, stride3, dil3, geo.groups, out3)
    return _unpad(gxp, x_shape3, geo)


# --- public functions ---------------------------------------------------------------------------


def conv(
    x,
    weight,
    bias=None,
    *,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    padding_mode="zeros",
    backend="auto",
):
    """Multi-channel cross-correlation of a batch, as ``torch.nn.functional.conv{1,2,3}d``.

    Parameters
    ----------
    x : array_like, shape ``(N, C_in, *spatial)``
        Batch with 1, 2 or 3 spatial axes.
    weight : array_like, shape ``(C_out, C_in // groups, *kernel)``
        Filters (cross-correlation: not flipped).
    bias : array_like, shape ``(C_out,)``, optional
        Added to every output pixel of each channel.
    stride, dilation : int or tuple of ints
        Per spatial axis, each >= 1.
    padding : int, tuple, tuple of (before, after) pairs, 'valid', 'same' or 'full'
        ``'same'`` pads like PyTorch at stride 1 and gives ``ceil(n / stride)`` outputs at
        larger strides (TensorFlow's rule); ``'full'`` pads ``(k - 1) * dilation`` both sides.
    groups : int
        Input and output channels are split into ``groups`` independent blocks
        (``groups == C_in`` is a depthwise convolution).
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular', 'symmetric'}
        What the padding holds (PyTorch's meanings; ``symmetric`` repeats the edge pixel).
    backend : {'auto', 'cpu', 'cuda'}

    Returns
    -------
    ndarray, shape ``(N, C_out, *out_spatial)``
        float32 when every operand is float32 (or float16), else float64.

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> x = np.ones((2, 3, 8, 8))  # (N, C_in, H, W)
    >>> w = np.ones((4, 3, 3, 3))  # (C_out, C_in, kH, kW)
    >>> F.conv(x, w).shape
    (2, 4, 6, 6)
    >>> F.conv(x, w, padding="same")[0, 0, :2, :3]  # 3 channels x 9 taps inside, fewer at the edge
    array([[12., 18., 18.],
           [18., 27., 27.]])
    >>> F.conv(x, w, stride=2, padding=1, dilation=2).shape
    (2, 4, 3, 3)
    """
    x = _array(x, "x", min_ndim=3, max_ndim=5)
    weight = _array(weight, "weight", ndim=len(x.shape))
    geo = _Geometry(x.shape, weight.shape, stride, padding, dilation, groups, padding_mode)
    bias = _check_bias(bias, geo.cout)
    operands = (x, weight) if bias is None else (x, weight, bias)
    where = _backend.resolve_backend(
        backend,
        *operands,
        work=geo.flops(x.shape[0]),
        gpu_min_work=_config.NN_CONV_GPU_MIN_WORK,
    )
    if where == "cuda":
        # CUDA contract: sigconv._cuda.conv.conv(x, weight, bias, *, stride, pads, dilation,
        # groups, padding_mode) with x/weight/bias as given (host arrays already in the compute
        # dtype, device arrays untouched), stride/dilation tuples of nd ints, pads a list of nd
        # (before, after) pairs already validated; returns (N, C_out, *geo.out) of the input
        # kind (device in -> device out).
        if not any(_backend.is_device_array(a) for a in operands):
            dt = _validate.compute_dtype(*operands)
            x, weight = _validate.to_compute(x, dt), _validate.to_compute(weight, dt)
            bias = None if bias is None else _validate.to_compute(bias, dt)
        return _cuda().conv(
            x,
            weight,
            bias,
            stride=geo.stride,
            pads=geo.pads,
            dilation=geo.dilation,
            groups=geo.groups,
            padding_mode=geo.padding_mode,
        )
    dt = _validate.compute_dtype(*operands)
    x3 = _to3(_validate.to_compute(x, dt), geo.nd)
    w3 = _to3(_validate.to_compute(weight, dt), geo.nd)
    b = None if bias is None else _validate.to_compute(bias, dt)
    xp = _pad(x3, geo)
    y = _cpu.forward(
        xp, w3, b, geo.c3(geo.stride, 1), geo.c3(geo.dilation, 1), geo.groups, geo.c3(geo.out, 1)
    )
    return y.reshape((x.shape[0], geo.cout) + geo.out)


def conv_backward(
    grad_out,
    x,
    weight,
    *,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    padding_mode="zeros",
    need=("x", "weight", "bias"),
    backend="auto",
):
    """Gradients of :func:`conv` with respect to its input, weight and bias.

    Parameters
    ----------
    grad_out : array_like, shape ``(N, C_out, *out_spatial)``
        Gradient of the loss with respect to ``conv(x, weight, ...)``.
    x, weight, stride, padding, dilation, groups, padding_mode, backend
        As given to :func:`conv`.
    need : sequence of {'x', 'weight', 'bias'}
        Which gradients to compute; the others are returned as ``None``.

    Returns
    -------
    (grad_x, grad_weight, grad_bias) : tuple of ndarray or None
        Shapes of ``x``, ``weight`` and ``(C_out,)``. ``grad_x`` is a transposed convolution
        of ``grad_out`` folded back through the padding (reflect, replicate, circular and
        symmetric padding send gradient to the pixels they copied); ``grad_weight`` is the
        correlation of the padded input with ``grad_out``; ``grad_bias`` its sum.

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> x, w = np.ones((2, 3, 8, 8)), np.ones((4, 3, 3, 3))
    >>> grad_out = np.ones((2, 4, 6, 6))  # the gradient of the loss with respect to conv(x, w)
    >>> gx, gw, gb = F.conv_backward(grad_out, x, w)
    >>> gx.shape, gw.shape, gb.shape
    ((2, 3, 8, 8), (4, 3, 3, 3), (4,))
    >>> gb  # grad_out summed over the batch and every position: 2 * 36
    array([72., 72., 72., 72.])
    >>> gx, gw, gb = F.conv_backward(grad_out, x, w, need=("weight",))
    >>> gx is None and gb is None
    True
    """
    need = _need(need)
    x = _array(x, "x", min_ndim=3, max_ndim=5)
    weight = _array(weight, "weight", ndim=len(x.shape))
    grad_out = _array(grad_out, "grad_out", ndim=len(x.shape))
    geo = _Geometry(x.shape, weight.shape, stride, padding, dilation, groups, padding_mode)
    want = (x.shape[0], geo.cout) + geo.out
    if tuple(grad_out.shape) != want:
        raise ValueError(
            f"grad_out must have the shape of conv's output {want}; got {tuple(grad_out.shape)}"
        )
    operands = (grad_out, x, weight)
    where = _backend.resolve_backend(
        backend,
        *operands,
        work=geo.flops(x.shape[0]) * (("x" in need) + ("weight" in need)),
        gpu_min_work=_config.NN_CONV_GPU_MIN_WORK,
    )
    if where == "cuda":
        # CUDA contract: sigconv._cuda.conv.conv_backward(grad_out, x, weight, *, stride, pads,
        # dilation, groups, padding_mode, need) with the arguments resolved as for conv (need a
        # tuple of names); returns (grad_x, grad_weight, grad_bias) with None where not needed.
        if not any(_backend.is_device_array(a) for a in operands):
            dt = _validate.compute_dtype(*operands)
            grad_out, x, weight = (_validate.to_compute(a, dt) for a in operands)
        return _cuda().conv_backward(
            grad_out,
            x,
            weight,
            stride=geo.stride,
            pads=geo.pads,
            dilation=geo.dilation,
            groups=geo.groups,
            padding_mode=geo.padding_mode,
            need=need,
        )
    dt = _validate.compute_dtype(*operands)
    g3 = _to3(_validate.to_compute(grad_out, dt), geo.nd)
    gx = gw = gb = None
    if "bias" in need:
        gb = g3.sum(axis=(0, 2, 3, 4), dtype=np.float64).astype(dt)
    if "x" in need:
        w3 = _to3(_validate.to_compute(weight, dt), geo.nd)
        x_shape3 = x.shape[:2] + geo.c3(geo.spatial, 1)
        gx = _grad_input3(g3, w3, geo, x_shape3).reshape(x.shape)
    if "weight" in need:
        xp = _pad(_to3(_validate.to_compute(x, dt), geo.nd), geo)
        w_shape3 = weight.shape[:2] + geo.c3(geo.ksize, 1)
        gw = _cpu.grad_weight(
            g3,
            xp,
            w_shape3,
            geo.c3(geo.stride, 1),
            geo.c3(geo.dilation, 1),
            geo.groups,
            geo.c3(geo.out, 1),
        ).reshape(weight.shape)
    return gx, gw, gb


def conv_transpose(
    x,
    weight,
    bias=None,
    *,
    stride=1,
    padding=0,
    output_padding=0,
    dilation=1,
    groups=1,
    backend="auto",
):
    """Transposed convolution, as ``torch.nn.functional.conv_transpose{1,2,3}d``.

    The adjoint of :func:`conv` with zero padding: ``conv_transpose(y, w)`` equals the input
    gradient of ``conv(x, w)`` for ``grad_out = y`` (what a decoder's "deconvolution" computes).

    Parameters
    ----------
    x : array_like, shape ``(N, C_in, *spatial)``
    weight : array_like, shape ``(C_in, C_out // groups, *kernel)``
        PyTorch's transposed-convolution layout (that of the matching conv's weight).
    bias : array_like, shape ``(C_out,)``, optional
    stride, dilation : int or tuple of ints
    padding : int, tuple of ints or tuple of (before, after) pairs
        Removed from the output's borders (the matching conv's padding).
    output_padding : int or tuple of ints
        Extra size added on the high side of every axis, each ``< max(stride, dilation)``;
        it selects among the input sizes that a strided conv maps to the same output size.
    groups : int
    backend : {'auto', 'cpu', 'cuda'}

    Returns
    -------
    ndarray, shape ``(N, C_out, *out_spatial)`` with
    ``out = (n - 1) * stride - before - after + dilation * (k - 1) + output_padding + 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> y = np.ones((1, 4, 6, 6))
    >>> w = np.ones((4, 3, 3, 3))  # the weight of a conv from 3 to 4 channels
    >>> F.conv_transpose(y, w).shape  # back to the conv's input size
    (1, 3, 8, 8)
    >>> F.conv_transpose(np.ones((1, 4, 4, 4)), w, stride=2, output_padding=1).shape
    (1, 3, 10, 10)
    """
    x = _array(x, "x", min_ndim=3, max_ndim=5)
    weight = _array(weight, "weight", ndim=len(x.shape))
    nd = len(x.shape) - 2
    groups = _groups(groups)
    cout, _ = _check_channels(x.shape[1], weight.shape, groups, transpose=True)
    bias = _check_bias(bias, cout)
    stride_t = _validate.int_tuple(stride, "stride", nd)
    dil_t = _validate.int_tuple(dilation, "dilation", nd)
    opad = _validate.int_tuple(output_padding, "output_padding", nd, minimum=0)
    ksize = tuple(int(k) for k in weight.shape[2:])
    if isinstance(padding, str):
        raise ValueError(
            "padding of conv_transpose must be an int, a tuple of ints or of (before, after) "
            f"pairs; got {padding!r}"
        )
    pads = _geometry.nn_padding(padding, x.shape[2:], ksize, stride_t, dil_t)
    for axis, (op, s, d) in enumerate(zip(opad, stride_t, dil_t)):
        if op >= max(s, d):
            raise ValueError(
                f"output_padding must be smaller than max(stride, dilation) in every axis; got "
                f"{op} for axis {axis} with stride {s} and dilation {d}"
            )
    out = tuple(
        (n - 1) * s - b - a + d * (k - 1) + op + 1
        for n, (b, a), k, s, d, op in zip(x.shape[2:], pads, ksize, stride_t, dil_t, opad)
    )
    if any(o <= 0 for o in out):
        raise ValueError(
            f"the output would be empty: conv_transpose output size {out} for input spatial "
            f"size {tuple(x.shape[2:])}, padding {pads} and kernel {ksize}"
        )
    # The matching forward convolution: input (N, C_out, *out), weight as given.
    geo = _Geometry((x.shape[0], cout) + out, weight.shape, stride_t, pads, dil_t, groups, "zeros")
    # With output_padding >= stride (allowed when dilation > stride) the forward formula would
    # count extra outputs that no input position reaches; the adjoint only involves x's.
    geo.out = tuple(int(n) for n in x.shape[2:])
    operands = (x, weight) if bias is None else (x, weight, bias)
    where = _backend.resolve_backend(
        backend, *operands, work=geo.flops(x.shape[0]), gpu_min_work=_config.NN_CONV_GPU_MIN_WORK
    )
    if where == "cuda":
        # CUDA contract: sigconv._cuda.conv.conv_transpose(x, weight, bias, *, stride, pads,
        # output_padding, dilation, groups) with tuples resolved as for conv; returns
        # (N, C_out, *out) of the input kind.
        if not any(_backend.is_device_array(a) for a in operands):
            dt = _validate.compute_dtype(*operands)
            x, weight = _validate.to_compute(x, dt), _validate.to_compute(weight, dt)
            bias = None if bias is None else _validate.to_compute(bias, dt)
        return _cuda().conv_transpose(
            x,
            weight,
            bias,
            stride=stride_t,
            pads=pads,
            output_padding=opad,
            dilation=dil_t,
            groups=groups,
        )
    dt = _validate.compute_dtype(*operands)
    g3 = _to3(_validate.to_compute(x, dt), nd)
    w3 = _to3(_validate.to_compute(weight, dt), nd)
    y_shape3 = (x.shape[0], cout) + geo.c3(out, 1)
    y = _grad_input3(g3, w3, geo, y_shape3)
    if bias is not None:
        y += _validate.to_compute(bias, dt).reshape(1, cout, 1, 1, 1)
    return y.reshape((x.shape[0], cout) + out)

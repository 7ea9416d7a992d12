"""Multi-channel convolution for CNNs: ``conv``, ``conv_backward``, ``conv_transpose``.

Public wrappers: they validate the operands (``_validate.operand``, host or device), plan the
call (``_geometry.conv_plan``: padding, output size, channel checks) and hand the plan and the
arrays in the compute dtype to the backend ``_backend.select`` picks (``sigconv._cpu`` or
``sigconv._cuda``, one interface). A call equal to one that passed those checks (same shapes,
host float dtype and plainly typed options: ``_call_key``) goes straight to the backend.
"""

from __future__ import annotations

from .. import _backend, _config, _geometry, _modes, _validate
from . import _operands

__all__ = ["conv", "conv_backward", "conv_transpose"]

PADDING_MODES = _modes.PADDING_MODES
_NEEDS = ("x", "weight", "bias")


def _bias(bias):
    return None if bias is None else _validate.operand(bias, "bias", ndim=1)


def _dtype(*operands):
    return _validate.compute_dtype(*(op for op in operands if op is not None))


def _check_bias(bias, cout):
    if bias is not None and tuple(bias.shape) != (cout,):
        raise ValueError(
            f"bias must have shape ({cout},) (one per output channel); got {tuple(bias.shape)}"
        )
    return bias


def _select(backend, plan, *operands, work):
    return _backend.select(
        backend,
        *(op.array for op in operands if op is not None),
        work=work,
        gpu_min_work=_config.NN_CONV_GPU_MIN_WORK,
    )


def _arrays(plan, *operands):
    return tuple(None if op is None else op.compute(plan.dtype) for op in operands)


def _call_key(kind, arrays, options):
    """The key of a call that may skip the checks once a call like it succeeded, or None.

    The repeated call of a training loop written with ``F``: host arrays of one native float
    dtype (``_validate.host_float_dtype``) and options (``stride, padding, dilation, groups,
    padding_mode, method, backend``) of the types the planner keys as they are (ints,
    strings), so an equal key means every check passes again. LeNet conv2's forward pass
    (batch 2, one thread) spent 9 us in this wrapper around the backend's 22.
    """
    stride, padding, dilation, groups, padding_mode, method, backend = options
    if not (
        type(padding_mode) is str
        and type(method) is str
        and type(backend) is str
        and _geometry.plain_conv_options(stride, padding, dilation, groups)
    ):
        return None
    dt = _validate.host_float_dtype(*arrays)
    if dt is None:
        return None
    return (kind, dt.char, tuple(None if a is None else a.shape for a in arrays)) + options


def _known(key, arrays):
    """``(plan, ops, arrays in the compute dtype)`` of a known call, or None."""
    known = None if key is None else _geometry.known_plan(key)
    if known is None:
        return None
    plan, work, ops = known
    if ops is None:
        # without the None of a missing bias: resolve_backend's host-array shortcut
        present = [a for a in arrays if a is not None]
        ops = _backend.select(
            key[-1], *present, work=work, gpu_min_work=_config.NN_CONV_GPU_MIN_WORK
        )
    dt = plan.dtype
    return plan, ops, tuple(None if a is None else _validate.to_compute(a, dt) for a in arrays)


def _remember(key, plan, work):
    """Keep a checked call's plan under its key, with the CPU backend where host arrays go
    there whatever the machine has (``backend='cpu'``, or work below the GPU threshold)."""
    if key is not None:
        backend = key[-1]
        cpu = backend == "cpu" or (backend == "auto" and work < _config.NN_CONV_GPU_MIN_WORK)
        _geometry.remember_plan(key, (plan, work, _backend.backend_ops("cpu") if cpu else None))


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
    method="auto",
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
    method : {'auto', 'direct', 'fft'}
        ``'direct'``: the direct and im2col + GEMM kernels; ``'fft'``: products of Fourier
        transforms (``scipy.fft``; strides by polyphase splitting), faster for long kernels;
        ``'auto'`` picks by a cost model (CPU backend; the CUDA backend has direct kernels
        only, so ``'fft'`` there is a ValueError and ``'auto'`` is direct).
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
    options = (stride, padding, dilation, groups, padding_mode, method, backend)
    key = _call_key("nn-conv", (x, weight, bias), options)
    known = _known(key, (x, weight, bias))
    if known is not None:
        plan, ops, arrays = known
        return ops.conv(plan, *arrays)
    x = _validate.operand(x, "x", min_ndim=3, max_ndim=5)
    weight = _validate.operand(weight, "weight", ndim=len(x.shape))
    bias = _bias(bias)
    plan = _geometry.conv_plan(
        x.shape, weight.shape, stride, padding, dilation, groups, padding_mode,
        _dtype(x, weight, bias), method,
    )  # fmt: skip
    _check_bias(bias, plan.cout)
    ops = _select(backend, plan, x, weight, bias, work=plan.flops())
    y = ops.conv(plan, *_arrays(plan, x, weight, bias))
    _remember(key, plan, plan.flops())
    return y


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
    method="auto",
    backend="auto",
):
    """Gradients of :func:`conv` with respect to its input, weight and bias.

    Parameters
    ----------
    grad_out : array_like, shape ``(N, C_out, *out_spatial)``
        Gradient of the loss with respect to ``conv(x, weight, ...)``.
    x, weight, stride, padding, dilation, groups, padding_mode, method, backend
        As given to :func:`conv` (``method`` picks how both gradients are computed).
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
    need = _operands.check_need(need, _NEEDS)
    options = (stride, padding, dilation, groups, padding_mode, method, backend)
    key = _call_key(("nn-conv-backward", need), (grad_out, x, weight), options)
    known = _known(key, (grad_out, x, weight))
    if known is not None:
        plan, ops, arrays = known
        return ops.conv_backward(plan, *arrays, need)
    x = _validate.operand(x, "x", min_ndim=3, max_ndim=5)
    weight = _validate.operand(weight, "weight", ndim=len(x.shape))
    grad_out = _validate.operand(grad_out, "grad_out", ndim=len(x.shape))
    plan = _geometry.conv_plan(
        x.shape,
        weight.shape,
        stride,
        padding,
        dilation,
        groups,
        padding_mode,
        _validate.compute_dtype(grad_out, x, weight),
        method,
    )
    if tuple(grad_out.shape) != plan.y_shape:
        raise ValueError(
            f"grad_out must have the shape of conv's output {plan.y_shape}; got "
            f"{tuple(grad_out.shape)}"
        )
    work = plan.flops() * (("x" in need) + ("weight" in need))
    ops = _select(backend, plan, grad_out, x, weight, work=work)
    grads = ops.conv_backward(plan, *_arrays(plan, grad_out, x, weight), need)
    _remember(key, plan, work)
    return grads


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
    x = _validate.operand(x, "x", min_ndim=3, max_ndim=5)
    weight = _validate.operand(weight, "weight", ndim=len(x.shape))
    bias = _bias(bias)
    plan = _geometry.conv_transpose_plan(
        x.shape, weight.shape, stride, padding, output_padding, dilation, groups,
        _dtype(x, weight, bias),
    )  # fmt: skip
    _check_bias(bias, plan.cin)
    ops = _select(backend, plan, x, weight, bias, work=plan.flops())
    return ops.conv_transpose(plan, *_arrays(plan, x, weight, bias))

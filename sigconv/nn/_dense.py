"""Fully connected layers as functions: ``linear`` and ``linear_backward`` (docs/contract.md §2).

The weight layout is PyTorch's and ``sigconv.nn.Dense``'s: ``weight`` is ``(out_features,
in_features)`` and ``linear(x, weight, bias) = x @ weight.T + bias``.

Dtypes: float32 when every operand is float16 or float32, else float64 (bool and integer
operands included), as the convolutions.

Dispatch: when ``backend`` resolves to ``"cuda"`` (a device operand, or ``backend="cuda"``)
each function calls ``sigconv._cuda.dense.dense`` / ``dense_backward`` once with the operands
as given and their shapes validated here (the CUDA functions check nothing); a device operand
gives device results, host operands host ones.
"""

from __future__ import annotations

from .. import _validate
from . import _device
from ._operands import check_need, on_cuda, operand

__all__ = ["linear", "linear_backward"]

_NEEDS = ("x", "weight", "bias")


def _cuda():
    return _device.cuda_module("dense")  # lazy: CUDA is optional


def _as(a, dt):
    """``a`` in ``dt`` (native), in its own layout: no copy when it already is."""
    return a if a.dtype == dt else a.astype(dt)


def _check(x, weight):
    x = operand(x, "x", ndim=2, floats=False)
    weight = operand(weight, "weight", ndim=2, floats=False)
    if int(weight.shape[1]) != int(x.shape[1]):
        raise ValueError(
            f"weight must be (out_features, in_features) with in_features = x.shape[1] = "
            f"{int(x.shape[1])}; got weight shape {tuple(int(n) for n in weight.shape)}"
        )
    return x, weight


def linear(x, weight, bias=None, *, backend="auto"):
    """Fully connected layer ``x @ weight.T + bias``, as ``torch.nn.functional.linear``.

    Parameters
    ----------
    x : array_like, shape ``(N, in_features)``
    weight : array_like, shape ``(out_features, in_features)``
    bias : array_like, shape ``(out_features,)``, optional
    backend : {"auto", "cpu", "cuda"}
        ``"auto"`` computes where the operands are (the GPU when one is a device array).

    Returns
    -------
    y : ndarray or device array, shape ``(N, out_features)``
        float32 when every operand is float32 (or float16), else float64.

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> x = np.array([[1.0, 2.0]])
    >>> w = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, -1.0]])
    >>> F.linear(x, w, np.array([0.0, 0.5, 1.0]))
    array([[ 1. ,  3.5, -1. ]])
    """
    x, weight = _check(x, weight)
    operands = (x, weight)
    if bias is not None:
        bias = operand(bias, "bias", ndim=1, floats=False)
        if int(bias.shape[0]) != int(weight.shape[0]):
            raise ValueError(
                f"bias must have shape ({int(weight.shape[0])},) (one per output feature); got "
                f"{tuple(int(n) for n in bias.shape)}"
            )
        operands += (bias,)
    if on_cuda(backend, *operands):
        return _cuda().dense(x, weight, bias)
    dt = _validate.compute_dtype(*operands)
    y = _as(x, dt) @ _as(weight, dt).T
    if bias is not None:
        y += _as(bias, dt)
    return y


def linear_backward(grad_out, x, weight, *, need=("x", "weight", "bias"), backend="auto"):
    """Gradients of :func:`linear` with respect to its input, weight and bias.

    Parameters
    ----------
    grad_out : array_like, shape ``(N, out_features)``
        Gradient of the loss with respect to ``linear(x, weight, bias)``.
    x, weight : array_like
        As given to :func:`linear`.
    need : sequence of {'x', 'weight', 'bias'}
        Which gradients to compute; the others are returned as ``None``.
    backend : {"auto", "cpu", "cuda"}

    Returns
    -------
    (grad_x, grad_weight, grad_bias) : tuple of arrays or None
        ``grad_out @ weight`` of shape ``(N, in_features)``, ``grad_out.T @ x`` of shape
        ``(out_features, in_features)`` and ``grad_out.sum(0)`` of shape ``(out_features,)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> x, w = np.array([[1.0, 2.0]]), np.array([[3.0, 4.0]])
    >>> gx, gw, gb = F.linear_backward(np.array([[2.0]]), x, w)
    >>> gx, gw, gb
    (array([[6., 8.]]), array([[2., 4.]]), array([2.]))
    >>> F.linear_backward(np.array([[2.0]]), x, w, need=("bias",))
    (None, None, array([2.]))
    """
    need = check_need(need, _NEEDS)
    x, weight = _check(x, weight)
    g = operand(grad_out, "grad_out", ndim=2, floats=False)
    want = (int(x.shape[0]), int(weight.shape[0]))
    if tuple(int(n) for n in g.shape) != want:
        raise ValueError(
            f"grad_out must have the shape of linear's output {want}; got "
            f"{tuple(int(n) for n in g.shape)}"
        )
    if on_cuda(backend, g, x, weight):
        return _cuda().dense_backward(g, x, weight, need=need)
    dt = _validate.compute_dtype(g, x, weight)
    g = _as(g, dt)
    gx = g @ _as(weight, dt) if "x" in need else None
    gw = g.T @ _as(x, dt) if "weight" in need else None
    gb = g.sum(axis=0) if "bias" in need else None
    return gx, gw, gb

"""Activations and dropout on arrays of any shape, forward and backward (docs/contract.md §2).

``relu``, ``leaky_relu``, ``sigmoid``, ``tanh`` and ``softmax`` compute what
``torch.nn.functional`` computes (``softmax`` max-shifted, ``sigmoid`` without overflow).
Each ``*_backward`` takes the gradient of the output and what the forward pass kept: the
output ``y`` (relu, sigmoid, tanh, softmax), the input ``x`` (leaky_relu) or the scaled mask
(dropout), as the layers of :mod:`sigconv.nn.layers` cache them.

Dtypes: on the host, float arrays keep their dtype and bool or integer ones are computed in
float64 (a backward pass returns the promotion of its operands; relu's the dtype of the
gradient). On the device the kernels compute in float32 when every operand is float16 or
float32, else in float64.

Dispatch: when ``backend`` resolves to ``"cuda"`` (a device operand, or ``backend="cuda"``)
each function calls ``sigconv._cuda.elementwise.<same name>`` once with the operands as given
and its options validated; a device operand gives a device result, host operands a host one.
"""

from __future__ import annotations

import numpy as np

from .. import _validate
from .._validate import check_bool, generator
from . import _device
from ._operands import check_int, on_cuda, operand, same_shape

__all__ = [
    "dropout",
    "dropout_backward",
    "leaky_relu",
    "leaky_relu_backward",
    "relu",
    "relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "softmax",
    "softmax_backward",
    "tanh",
    "tanh_backward",
]


def _cuda():
    return _device.cuda_module("elementwise")  # lazy: CUDA is optional


def _host_kernels():
    from .._cpu import activation  # lazy: importing sigconv.nn loads no Numba

    return activation


def _pair(grad_out, cached, cached_name):
    g = operand(grad_out, "grad_out")
    c = operand(cached, cached_name)
    same_shape(g, c, "grad_out", cached_name)
    return g, c


# --- ReLU ------------------------------------------------------------------------------------


def relu(x, *, inplace=False, backend="auto"):
    """Rectified linear unit ``max(x, 0)``, as ``torch.nn.functional.relu``.

    Parameters
    ----------
    x : array_like
        Any shape. NaN stays NaN (as ``numpy.maximum``).
    inplace : bool, default False
        Write the result into ``x`` when it is a writeable float ndarray (host) or a
        C-contiguous device array of its compute dtype; otherwise into a new array.
    backend : {"auto", "cpu", "cuda"}

    Returns
    -------
    y : ndarray or device array, shape of ``x``

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> F.relu(np.array([-1.0, 0.0, 2.5]))
    array([0. , 0. , 2.5])
    """
    x = operand(x, "x")
    inplace = check_bool(inplace, "inplace")
    if on_cuda(backend, x):
        return _cuda().relu(x, inplace=inplace)
    return _host_kernels().relu_host(x, x if inplace and x.flags.writeable else None)


def relu_backward(grad_out, y, *, backend="auto"):
    """Gradient of :func:`relu` from its output ``y``: ``grad_out`` where ``y > 0``, else 0.

    Parameters
    ----------
    grad_out : array_like
        Gradient of the loss with respect to ``relu(x)``.
    y : array_like, shape of ``grad_out``
        The output of :func:`relu`.
    backend : {"auto", "cpu", "cuda"}

    Returns
    -------
    grad_x : ndarray or device array, shape of ``y``

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> y = F.relu(np.array([-1.0, 3.0]))
    >>> F.relu_backward(np.array([5.0, 5.0]), y)
    array([0., 5.])
    """
    g, y = _pair(grad_out, y, "y")
    if on_cuda(backend, g, y):
        return _cuda().relu_backward(g, y)
    kernels = _host_kernels()
    if kernels.fits(g, y):
        return kernels.relu_backward(g, y, np.empty_like(g))
    out = np.zeros_like(g)  # 0 where y <= 0 even for a NaN or infinite gradient, as torch
    np.copyto(out, g, where=y > 0)
    return out


# --- leaky ReLU --------------------------------------------------------------------------------


def leaky_relu(x, negative_slope=0.01, *, backend="auto"):
    """``x`` where ``x > 0``, else ``negative_slope * x`` (``torch.nn.functional.leaky_relu``).

    Parameters
    ----------
    x : array_like
        Any shape.
    negative_slope : float, default 0.01
        Finite slope for negative inputs.
    backend : {"auto", "cpu", "cuda"}

    Returns
    -------
    y : ndarray or device array, shape of ``x``

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> F.leaky_relu(np.array([-2.0, 3.0]), 0.1)
    array([-0.2,  3. ])
    """
    x = operand(x, "x")
    slope = _validate.check_float(negative_slope, "negative_slope")
    if on_cuda(backend, x):
        return _cuda().leaky_relu(x, slope)
    return np.where(x > 0, x, x * np.asarray(slope, dtype=x.dtype))


def leaky_relu_backward(grad_out, x, negative_slope=0.01, *, backend="auto"):
    """Gradient of :func:`leaky_relu` from its input ``x``.

    Parameters
    ----------
    grad_out : array_like
        Gradient of the loss with respect to ``leaky_relu(x, negative_slope)``.
    x : array_like, shape of ``grad_out``
        The input of :func:`leaky_relu`.
    negative_slope : float, default 0.01
        As given to :func:`leaky_relu`.
    backend : {"auto", "cpu", "cuda"}

    Returns
    -------
    grad_x : ndarray or device array, shape of ``x``

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> F.leaky_relu_backward(np.array([1.0, 1.0]), np.array([-2.0, 3.0]), 0.1)
    array([0.1, 1. ])
    """
    g, x = _pair(grad_out, x, "x")
    slope = _validate.check_float(negative_slope, "negative_slope")
    if on_cuda(backend, g, x):
        return _cuda().leaky_relu_backward(g, x, slope)
    return np.where(x > 0, g, g * np.asarray(slope, dtype=g.dtype))


# --- sigmoid and tanh --------------------------------------------------------------------------


def sigmoid(x, *, backend="auto"):
    """Logistic function ``1 / (1 + exp(-x))``, computed without overflow.

    Parameters
    ----------
    x : array_like
        Any shape.
    backend : {"auto", "cpu", "cuda"}

    Returns
    -------
    y : ndarray or device array, shape of ``x``, values in ``[0, 1]``

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> F.sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    array([0. , 0.5, 1. ])
    """
    x = operand(x, "x")
    if on_cuda(backend, x):
        return _cuda().sigmoid(x)
    # imported here: scipy.special takes about 0.2 s to import, two thirds of `sigconv.nn`'s
    from scipy.special import expit

    return expit(x)


def sigmoid_backward(grad_out, y, *, backend="auto"):
    """Gradient of :func:`sigmoid` from its output ``y``: ``grad_out * y * (1 - y)``.

    Parameters
    ----------
    grad_out : array_like
        Gradient of the loss with respect to ``sigmoid(x)``.
    y : array_like, shape of ``grad_out``
        The output of :func:`sigmoid`.
    backend : {"auto", "cpu", "cuda"}

    Returns
    -------
    grad_x : ndarray or device array, shape of ``y``

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> F.sigmoid_backward(np.array([1.0]), F.sigmoid(np.array([0.0])))
    array([0.25])
    """
    g, y = _pair(grad_out, y, "y")
    if on_cuda(backend, g, y):
        return _cuda().sigmoid_backward(g, y)
    return g * y * (1 - y)


def tanh(x, *, backend="auto"):
    """Hyperbolic tangent.

    Parameters
    ----------
    x : array_like
        Any shape.
    backend : {"auto", "cpu", "cuda"}

    Returns
    -------
    y : ndarray or device array, shape of ``x``, values in ``[-1, 1]``

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> F.tanh(np.array([0.0, 100.0]))
    array([0., 1.])
    """
    x = operand(x, "x")
    if on_cuda(backend, x):
        return _cuda().tanh(x)
    return np.tanh(x)


def tanh_backward(grad_out, y, *, backend="auto"):
    """Gradient of :func:`tanh` from its output ``y``: ``grad_out * (1 - y**2)``.

    Parameters
    ----------
    grad_out : array_like
        Gradient of the loss with respect to ``tanh(x)``.
    y : array_like, shape of ``grad_out``
        The output of :func:`tanh`.
    backend : {"auto", "cpu", "cuda"}

    Returns
    -------
    grad_x : ndarray or device array, shape of ``y``

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> F.tanh_backward(np.array([2.0]), F.tanh(np.array([0.0])))
    array([2.])
    """
    g, y = _pair(grad_out, y, "y")
    if on_cuda(backend, g, y):
        return _cuda().tanh_backward(g, y)
    return g * (1 - y * y)


# --- softmax -----------------------------------------------------------------------------------


def _dim(dim, ndim: int) -> int:
    dim = check_int(dim, "dim")
    if not -ndim <= dim < ndim:
        raise ValueError(f"dim must be in [{-ndim}, {ndim}) for an input of {ndim} dimensions")
    return dim


def softmax(x, dim=1, *, backend="auto"):
    """Softmax along axis ``dim``, max-shifted for stability (``torch.nn.functional.softmax``).

    Parameters
    ----------
    x : array_like
        At least one dimension.
    dim : int, default 1
        The axis that sums to one (1: the class axis of ``(N, C, ...)``); negative counts
        from the end.
    backend : {"auto", "cpu", "cuda"}

    Returns
    -------
    y : ndarray or device array, shape of ``x``

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> F.softmax(np.array([[0.0, np.log(3.0)]]), dim=1)
    array([[0.25, 0.75]])
    """
    x = operand(x, "x", min_ndim=1)
    dim = _dim(dim, len(x.shape))
    if on_cuda(backend, x):
        return _cuda().softmax(x, dim)
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    e /= e.sum(axis=dim, keepdims=True)
    return e


def softmax_backward(grad_out, y, dim=1, *, backend="auto"):
    """Gradient of :func:`softmax` from its output ``y``:
    ``y * (grad_out - sum(grad_out * y, dim))``.

    Parameters
    ----------
    grad_out : array_like
        Gradient of the loss with respect to ``softmax(x, dim)``.
    y : array_like, shape of ``grad_out``
        The output of :func:`softmax`.
    dim : int, default 1
        As given to :func:`softmax`.
    backend : {"auto", "cpu", "cuda"}

    Returns
    -------
    grad_x : ndarray or device array, shape of ``y``

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> y = F.softmax(np.zeros((1, 2)))
    >>> F.softmax_backward(np.array([[1.0, 0.0]]), y)
    array([[ 0.25, -0.25]])
    """
    g, y = _pair(grad_out, y, "y")
    if len(y.shape) < 1:
        raise ValueError("y must have at least 1 dimension; got a 0-d array")
    dim = _dim(dim, len(y.shape))
    if on_cuda(backend, g, y):
        return _cuda().softmax_backward(g, y, dim)
    return y * (g - (g * y).sum(axis=dim, keepdims=True))


# --- dropout -----------------------------------------------------------------------------------


def dropout(x, p=0.5, *, training=True, rng=None, return_mask=False, backend="auto"):
    """Inverted dropout, as ``torch.nn.functional.dropout``: in training each element is
    zeroed with probability ``p`` and the others are scaled by ``1 / (1 - p)``.

    The mask is drawn on the host from ``rng`` (and copied to the device for a device ``x``:
    one host-to-device copy, nothing comes back), so a seeded generator drops exactly the same
    elements on either side.

    Parameters
    ----------
    x : array_like
        Any shape.
    p : float, default 0.5
        Drop probability, in ``[0, 1)``.
    training : bool, default True
        False (or ``p == 0``) returns ``x`` itself: dropout is the identity at inference.
    rng : None, int or numpy.random.Generator
        Source of the mask (None: fresh entropy).
    return_mask : bool, default False
        Also return the scaled mask ``keep / (1 - p)`` (None when nothing was dropped), which
        :func:`dropout_backward` takes.
    backend : {"auto", "cpu", "cuda"}

    Returns
    -------
    y : ndarray or device array, shape of ``x``
    mask : ndarray, device array or None (only with ``return_mask=True``)
        On the side of ``x``; ``y == x * mask``.

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> y, mask = F.dropout(np.ones(6), 0.5, rng=0, return_mask=True)
    >>> sorted(set(y.tolist()))  # dropped, or kept and scaled by 1 / (1 - p)
    [0.0, 2.0]
    >>> F.dropout_backward(np.ones(6), mask).tolist() == y.tolist()
    True
    """
    x = operand(x, "x")
    p = _validate.check_float(p, "p")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p must be in [0, 1); got {p!r}")
    training = check_bool(training, "training")
    return_mask = check_bool(return_mask, "return_mask")
    rng = generator(rng)
    cuda = on_cuda(backend, x)
    if not training or p == 0.0:
        return (x, None) if return_mask else x
    shape = tuple(int(n) for n in x.shape)
    dtype = x.dtype if x.dtype.kind == "f" else _validate.compute_dtype(x)
    keep = rng.random(shape) >= p
    mask = keep * np.asarray(1.0 / (1.0 - p), dtype=dtype)
    if cuda:
        if _device.is_device(x):
            mask = _device.to_device(mask)
        y = _cuda().multiply(x, mask)
    else:
        y = x * mask
    return (y, mask) if return_mask else y


def dropout_backward(grad_out, mask, *, backend="auto"):
    """Gradient of :func:`dropout` from its mask: ``grad_out * mask`` (``grad_out`` itself
    when ``mask`` is None: nothing was dropped).

    Parameters
    ----------
    grad_out : array_like
        Gradient of the loss with respect to ``dropout(x, ...)``.
    mask : array_like or None
        The mask :func:`dropout` returned with ``return_mask=True``.
    backend : {"auto", "cpu", "cuda"}

    Returns
    -------
    grad_x : ndarray or device array, shape of ``grad_out``

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv.nn import functional as F
    >>> F.dropout_backward(np.array([1.0, 1.0]), np.array([0.0, 2.0]))
    array([0., 2.])
    """
    if mask is None:
        g = operand(grad_out, "grad_out")
        on_cuda(backend, g)  # the backend is checked even when there is nothing to do
        return g
    g, mask = _pair(grad_out, mask, "mask")
    if on_cuda(backend, g, mask):
        return _cuda().multiply(g, mask)
    return g * mask

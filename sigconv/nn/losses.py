"""Losses with explicit backward passes: ``loss.forward(pred, target) -> float``, then
``loss.backward() -> grad_pred`` (the gradient of the returned value, same shape as ``pred``).

Device predictions (``__cuda_array_interface__``) are handled on the GPU by the fused kernels
of ``sigconv._cuda.elementwise``: the gradient stays on the device (a device array), and only
the loss value, one scalar per call, is copied back. Targets may be host arrays (checked on the
host, then copied over once) or device arrays (int64 labels for ``CrossEntropy``; labels out of
range are caught by the kernel and raise ``ValueError``).
"""

from __future__ import annotations

import numpy as np

from .. import _validate
from . import _device

__all__ = ["MSE", "CrossEntropy", "Loss", "log_softmax"]

_REDUCTIONS = ("mean", "sum")


def log_softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    """``logits - logsumexp(logits)`` along ``axis``, max-shifted so it never overflows."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return shifted


class _DeviceGrad:
    """The cache of a loss computed on the GPU: the gradient its kernel already produced."""

    __slots__ = ("grad",)

    def __init__(self, grad):
        self.grad = grad


class Loss:
    """Base class of the losses: ``forward`` returns a float, ``backward`` its gradient."""

    def __init__(self, reduction: str = "mean"):
        self.reduction = _validate.check_option(reduction, "reduction", _REDUCTIONS)
        self._cache = None

    def __call__(self, pred, target) -> float:
        return self.forward(pred, target)

    def get_config(self) -> dict:
        return {"reduction": self.reduction}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reduction={self.reduction!r})"

    def backward(self):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return self._backward()


class CrossEntropy(Loss):
    """Softmax cross-entropy of logits ``(N, C)`` against integer labels ``(N,)`` in
    ``[0, C)``: ``-log softmax(logits)[n, y_n]``, averaged (``reduction="mean"``, PyTorch's
    ``nn.CrossEntropyLoss``) or summed. The softmax is fused into the loss: the gradient is
    ``(softmax(logits) - onehot(y)) / N``, computed stably through log-sum-exp.

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv import nn
    >>> loss = nn.CrossEntropy()
    >>> logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    >>> round(loss.forward(logits, np.array([0, 2])), 4)
    0.6691
    >>> loss.backward().round(4)  # (softmax(logits) - onehot(y)) / N
    array([[-0.1065,  0.0533,  0.0533],
           [ 0.1667,  0.1667, -0.3333]])
    """

    def forward(self, logits, target) -> float:
        if _device.is_device(logits):
            return self._forward_device(_device.view(logits), target)
        logits = _validate.as_input_array(logits, "logits", min_ndim=2, max_ndim=2)
        if logits.dtype.kind != "f":
            logits = logits.astype(np.float64)
        target = self._host_target(target, logits.shape)
        logp = log_softmax(logits, axis=1)
        picked = logp[np.arange(logits.shape[0]), target]
        total = -float(picked.sum(dtype=np.float64))
        self._cache = (logp, target)
        return total / logits.shape[0] if self.reduction == "mean" else total

    @staticmethod
    def _host_target(target, shape):
        """Integer labels ``(N,)`` in ``[0, C)`` as an intp array (checked on the host)."""
        if _device.is_device(target):
            raise TypeError("target is a device array but logits are on the host")
        target = np.asarray(target)
        if target.dtype.kind not in "iub":
            if (
                target.dtype.kind == "f"
                and np.all(np.isfinite(target))
                and np.all(target == np.round(target))
            ):
                target = target.astype(np.intp)
            else:
                raise TypeError(f"target must hold integer class labels; got dtype {target.dtype}")
        n, c = shape
        if target.shape != (n,):
            raise ValueError(f"target must have shape ({n},) to match logits; got {target.shape}")
        if target.min() < 0 or target.max() >= c:
            raise ValueError(
                f"target labels must be in [0, {c}); got values from {target.min()} to "
                f"{target.max()}"
            )
        return target.astype(np.intp, copy=False)

    def _forward_device(self, logits, target) -> float:
        shape = tuple(int(n) for n in logits.shape)
        if len(shape) != 2 or 0 in shape:
            raise ValueError(f"logits must be a non-empty (N, C) array; got shape {shape}")
        if logits.dtype not in (np.float32, np.float64):
            raise TypeError(f"device logits must be float32 or float64; got dtype {logits.dtype}")
        if _device.is_device(target):
            target = _device.view(target)
            if target.dtype != np.int64:
                raise TypeError(f"a device target must hold int64 labels; got {target.dtype}")
            if tuple(target.shape) != shape[:1]:
                raise ValueError(
                    f"target must have shape ({shape[0]},) to match logits; got "
                    f"{tuple(target.shape)}"
                )
        else:
            target = self._host_target(target, shape).astype(np.int64, copy=False)
        value, grad = _device.cuda_module("elementwise").cross_entropy(
            logits, target, self.reduction
        )
        self._cache = _DeviceGrad(grad)
        return value

    def _backward(self):
        if isinstance(self._cache, _DeviceGrad):  # computed with the loss by the fused kernel
            return self._cache.grad
        logp, target = self._cache
        grad = np.exp(logp)
        n = grad.shape[0]
        grad[np.arange(n), target] -= 1
        if self.reduction == "mean":
            grad *= np.asarray(1.0 / n, dtype=grad.dtype)
        return grad


class MSE(Loss):
    """Mean squared error over every element (PyTorch's ``nn.MSELoss``), or the sum.

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv import nn
    >>> loss = nn.MSE()
    >>> round(loss.forward(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0])), 4)
    1.3333
    >>> loss.backward().round(4)  # 2 * (y - target) / n
    array([ 0.    ,  0.    , -1.3333])
    """

    def forward(self, pred, target) -> float:
        if _device.is_device(pred):
            pred = _device.view(pred)
            if pred.dtype not in (np.float32, np.float64):
                raise TypeError(f"device pred must be float32 or float64; got dtype {pred.dtype}")
            if not _device.is_device(target):
                target = _validate.as_input_array(target, "target")
            if tuple(target.shape) != tuple(pred.shape):
                raise ValueError(
                    f"target must have the shape of pred {tuple(pred.shape)}; got "
                    f"{tuple(target.shape)}"
                )
            # the difference is taken in pred's dtype, as on the host
            value, grad = _device.cuda_module("elementwise").mse(
                pred, _device.to_device(target, pred.dtype), self.reduction
            )
            self._cache = _DeviceGrad(grad)
            return value
        pred = _validate.as_input_array(pred, "pred")
        target = _validate.as_input_array(target, "target")
        if pred.shape != target.shape:
            raise ValueError(f"target must have the shape of pred {pred.shape}; got {target.shape}")
        dtype = pred.dtype if pred.dtype.kind == "f" else np.float64
        diff = np.subtract(pred, target, dtype=dtype)
        self._cache = diff
        total = float(np.dot(diff.ravel(), diff.ravel()))
        return total / diff.size if self.reduction == "mean" else total

    def _backward(self):
        if isinstance(self._cache, _DeviceGrad):  # the fused kernel computed the gradient
            return self._cache.grad
        diff = self._cache
        scale = 2.0 / diff.size if self.reduction == "mean" else 2.0
        return diff * np.asarray(scale, dtype=diff.dtype)

"""Losses with explicit backward passes: ``loss.forward(pred, target) -> float``, then
``loss.backward() -> grad_pred`` (the gradient of the returned value, same shape as ``pred``).
"""

from __future__ import annotations

import numpy as np

from .. import _validate

__all__ = ["MSE", "CrossEntropy", "Loss", "log_softmax"]

_REDUCTIONS = ("mean", "sum")


def log_softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    """``logits - logsumexp(logits)`` along ``axis``, max-shifted so it never overflows."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return shifted


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
    """

    def forward(self, logits, target) -> float:
        logits = _validate.as_input_array(logits, "logits", min_ndim=2, max_ndim=2)
        if logits.dtype.kind != "f":
            logits = logits.astype(np.float64)
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
        n, c = logits.shape
        if target.shape != (n,):
            raise ValueError(f"target must have shape ({n},) to match logits; got {target.shape}")
        if target.min() < 0 or target.max() >= c:
            raise ValueError(
                f"target labels must be in [0, {c}); got values from {target.min()} to "
                f"{target.max()}"
            )
        target = target.astype(np.intp, copy=False)
        logp = log_softmax(logits, axis=1)
        picked = logp[np.arange(n), target]
        total = -float(picked.sum(dtype=np.float64))
        self._cache = (logp, target)
        return total / n if self.reduction == "mean" else total

    def _backward(self):
        logp, target = self._cache
        grad = np.exp(logp)
        n = grad.shape[0]
        grad[np.arange(n), target] -= 1
        if self.reduction == "mean":
            grad *= np.asarray(1.0 / n, dtype=grad.dtype)
        return grad


class MSE(Loss):
    """Mean squared error over every element (PyTorch's ``nn.MSELoss``), or the sum."""

    def forward(self, pred, target) -> float:
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
        diff = self._cache
        scale = 2.0 / diff.size if self.reduction == "mean" else 2.0
        return diff * np.asarray(scale, dtype=diff.dtype)

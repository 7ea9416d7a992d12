"""Activation layers: ``ReLU``, ``LeakyReLU``, ``Sigmoid``, ``Tanh`` and ``Softmax``, each a
forward/backward pair over :mod:`sigconv.nn.functional` (host or device, as the input is)."""

from __future__ import annotations

import numbers

import numpy as np

from ... import _validate
from .. import functional as F
from ._base import Layer

__all__ = ["LeakyReLU", "ReLU", "Sigmoid", "Softmax", "Tanh"]


class _Elementwise(Layer):
    """A layer without weights that keeps the shape and takes samples of any shape."""

    def _accepts_shape(self, sample_shape):
        return True


class ReLU(_Elementwise):
    """``max(x, 0)``. With ``inplace=True`` the input array is overwritten (as in PyTorch)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = bool(inplace)

    def get_config(self):
        return {"inplace": self.inplace}

    def _forward(self, x, training):
        self._cache = F.relu(x, inplace=self.inplace)
        return self._cache

    def adopt(self, y):
        """Take ``y``, a ReLU output computed elsewhere (a layer's fused forward pass, as
        :meth:`Conv.forward_relu`), as this layer's output: kept for ``backward`` as
        ``forward`` keeps its own. Returns ``y``."""
        self._cache = self._entered(y)  # the checks and bookkeeping of forward's input
        return self._cache

    def _backward(self, grad_y, need_input_grad):
        return F.relu_backward(grad_y, self._cache) if need_input_grad else None


class LeakyReLU(_Elementwise):
    """``x`` where ``x > 0``, else ``negative_slope * x``."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = _validate.check_float(negative_slope, "negative_slope")

    def get_config(self):
        return {"negative_slope": self.negative_slope}

    def _forward(self, x, training):
        self._cache = x
        return F.leaky_relu(x, self.negative_slope)

    def _backward(self, grad_y, need_input_grad):
        if not need_input_grad:
            return None
        return F.leaky_relu_backward(grad_y, self._cache, self.negative_slope)


class Sigmoid(_Elementwise):
    """Logistic function ``1 / (1 + exp(-x))``, computed without overflow."""

    def _forward(self, x, training):
        self._cache = F.sigmoid(x)
        return self._cache

    def _backward(self, grad_y, need_input_grad):
        return F.sigmoid_backward(grad_y, self._cache) if need_input_grad else None


class Tanh(_Elementwise):
    """Hyperbolic tangent."""

    def _forward(self, x, training):
        self._cache = F.tanh(x)
        return self._cache

    def _backward(self, grad_y, need_input_grad):
        return F.tanh_backward(grad_y, self._cache) if need_input_grad else None


class Softmax(_Elementwise):
    """Softmax along axis ``dim`` (default 1, the class axis), max-shifted for stability.

    For training a classifier prefer logits and :class:`~sigconv.nn.losses.CrossEntropy`
    (softmax fused into the loss); this layer is for models that must output probabilities.
    """

    def __init__(self, dim: int = 1):
        super().__init__()
        if not isinstance(dim, (numbers.Integral, np.integer)) or isinstance(dim, bool):
            raise TypeError(f"dim must be an int; got {dim!r}")
        self.dim = int(dim)

    def get_config(self):
        return {"dim": self.dim}

    def _forward(self, x, training):
        self._cache = F.softmax(x, self.dim)
        return self._cache

    def _backward(self, grad_y, need_input_grad):
        return F.softmax_backward(grad_y, self._cache, self.dim) if need_input_grad else None

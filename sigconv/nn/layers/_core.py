"""``Dropout`` and ``Flatten``: the layers without weights that are neither activations nor
pooling."""

from __future__ import annotations

import math

from ... import _validate
from .. import _device
from .. import functional as F
from ._base import Layer

__all__ = ["Dropout", "Flatten"]


class Dropout(Layer):
    """Inverted dropout: in training, zero each element with probability ``p`` and scale the
    rest by ``1 / (1 - p)``; the identity at inference. The mask comes from the layer's seeded
    generator (``layer.rng``, set at build time), so a fixed seed repeats the same masks.

    On the GPU the mask is drawn on the host from the same generator and copied over (one
    host-to-device copy per batch; nothing comes back), so a seeded model drops exactly the
    same elements on either side and CPU and GPU training agree step for step.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        p = _validate.check_float(p, "p")
        if not 0.0 <= p < 1.0:
            raise ValueError(f"p must be in [0, 1); got {p!r}")
        self.p = p

    def get_config(self):
        return {"p": self.p}

    def _accepts_shape(self, sample_shape):
        return True

    def _forward(self, x, training):
        y, mask = F.dropout(x, self.p, training=training, rng=self.rng, return_mask=True)
        self._cache = False if mask is None else mask  # False: nothing dropped (None: no forward)
        return y

    def _backward(self, grad_y, need_input_grad):
        if not need_input_grad:
            return None
        return F.dropout_backward(grad_y, None if self._cache is False else self._cache)


class Flatten(Layer):
    """``(N, *shape) -> (N, prod(shape))`` (a view when the input is contiguous)."""

    def compute_output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def _forward(self, x, training):
        shape = tuple(int(n) for n in x.shape)
        self._cache = shape
        return _device.reshape(x, (shape[0], math.prod(shape[1:])))

    def _backward(self, grad_y, need_input_grad):
        return _device.reshape(grad_y, self._cache) if need_input_grad else None

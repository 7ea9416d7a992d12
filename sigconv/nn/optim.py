"""Optimizers with PyTorch's exact update rules, updating weights in place.

An optimizer is given what it trains: a :class:`~sigconv.nn.model.Sequential`, a single layer,
or a list of layers. It asks for the trainable ``(key, param, grad)`` triples at every
``step()``, so layers frozen (or unfrozen) after the optimizer was made are skipped (or
trained) from the next step on, and layers that are built lazily are picked up once built.
Per-parameter state (momentum buffers, Adam moments) is kept by key (``"<layer index>.<name>"``).

Weights that live on the GPU (``Sequential.to("cuda")``) are updated in place there by the
fused kernels of ``sigconv._cuda.elementwise`` (``sgd_step``, ``adam_step``), and their state
buffers live on the GPU too. When a model moves between host and GPU its state follows it at
the next ``step()`` (copied once), so training can continue on the other side.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _validate
from . import _device

__all__ = ["SGD", "Adam", "Optimizer", "trainable_parameters"]


def trainable_parameters(source):
    """``[(key, param, grad), ...]`` of the trainable, already-differentiated weights."""
    if hasattr(source, "named_parameters"):
        return list(source.named_parameters())
    if hasattr(source, "params") and hasattr(source, "grads"):
        layers = [source]
    elif isinstance(source, (list, tuple)):
        layers = list(source)
    else:
        raise TypeError(
            "params_or_model must be a Sequential, a layer or a list of layers; got "
            f"{type(source).__name__}"
        )
    out = []
    for i, layer in enumerate(layers):
        if not getattr(layer, "trainable", True):
            continue
        for name, p in layer.params.items():
            g = layer.grads.get(name)
            if g is not None:
                out.append((f"{i}.{name}", p, g))
    return out


class Optimizer:
    """Base class: holds the source of parameters, the learning rate and per-key state."""

    def __init__(self, params_or_model, lr: float):
        trainable_parameters(params_or_model)  # type check now, not at the first step
        self.source = params_or_model
        self.lr = _validate.check_float(lr, "lr")
        if self.lr < 0:
            raise ValueError(f"lr must be >= 0; got {lr!r}")
        self.state: dict[str, dict] = {}

    def step(self) -> None:
        """Update every trainable weight in place from its current gradient."""
        for key, p, g in trainable_parameters(self.source):
            if tuple(g.shape) != tuple(p.shape):
                raise ValueError(
                    f"gradient of {key} has shape {tuple(g.shape)}; weight has {tuple(p.shape)}"
                )
            if _device.is_device(p):
                self._update_device(key, _device.view(p), g)
            else:
                if _device.is_device(g):
                    raise TypeError(
                        f"weight {key} is on the host but its gradient is a device array"
                    )
                self._update(key, p, g)

    def _state_for(self, key, p, names):
        """The state of ``key`` with its buffers on ``p``'s side (moved and cast if the weight
        moved or changed dtype since), or None when there is none of ``p``'s shape yet."""
        state = self.state.get(key)
        if state is None or tuple(state[names[0]].shape) != tuple(p.shape):
            return None
        side = "cuda" if _device.is_device(p) else "cpu"
        for name in names:
            buf = _device.move(state[name], side)
            if buf.dtype != p.dtype:
                buf = _device.cast(buf, p.dtype)
            state[name] = buf
        return state

    def _update_device(self, key, p, g):
        raise NotImplementedError

    def zero_grad(self) -> None:
        """Nothing to do: layers overwrite their gradients on every backward pass."""

    def _update(self, key, p, g):
        raise NotImplementedError


def _check_fraction(value, name: str, *, upper_open: bool = True) -> float:
    value = _validate.check_float(value, name)
    if not (0.0 <= value < 1.0 if upper_open else 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be in [0, 1{')' if upper_open else ']'}; got {value!r}")
    return value


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, Nesterov momentum and weight decay.

    PyTorch's rule (``torch.optim.SGD``): ``d = g + weight_decay * p``; with momentum
    ``buf = d`` at the first step, then ``buf = momentum * buf + (1 - dampening) * d``;
    ``d = d + momentum * buf`` (Nesterov) or ``d = buf``; ``p -= lr * d``.

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv import nn
    >>> layer = nn.Dense(2, 1, bias=False)
    >>> layer.build((2,))  # returns its output shape
    (1,)
    >>> layer.params["weight"][...] = 1.0
    >>> layer.grads["weight"] = np.array([[0.5, -0.5]], dtype=np.float32)
    >>> nn.SGD([layer], lr=0.1).step()
    >>> layer.params["weight"].round(3)
    array([[0.95, 1.05]], dtype=float32)
    """

    def __init__(
        self,
        params_or_model,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ):
        super().__init__(params_or_model, lr)
        self.momentum = _check_fraction(momentum, "momentum", upper_open=False)
        self.dampening = _check_fraction(dampening, "dampening", upper_open=False)
        self.weight_decay = _validate.check_float(weight_decay, "weight_decay")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0; got {weight_decay!r}")
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening == 0")

    def _update_device(self, key, p, g):
        buf, first = None, False
        if self.momentum:
            state = self._state_for(key, p, ("momentum_buffer",))
            if state is None:  # the kernel initialises it with the gradient (first=True)
                state = {"momentum_buffer": _device.empty(p.shape, p.dtype)}
                self.state[key] = state
                first = True
            buf = state["momentum_buffer"]
        _device.cuda_module("elementwise").sgd_step(
            p,
            g,
            buf,
            lr=self.lr,
            momentum=self.momentum,
            dampening=self.dampening,
            weight_decay=self.weight_decay,
            nesterov=self.nesterov,
            first=first,
        )

    def _update(self, key, p, g):
        dt = p.dtype
        if self.weight_decay:
            g = g + np.asarray(self.weight_decay, dt) * p
        if self.momentum:
            state = self._state_for(key, p, ("momentum_buffer",))
            if state is None:
                buf = np.array(g, dtype=dt, copy=True)
                self.state[key] = {"momentum_buffer": buf}
            else:
                buf = state["momentum_buffer"]
                buf *= np.asarray(self.momentum, dt)
                if self.dampening:
                    buf += np.asarray(1.0 - self.dampening, dt) * g
                else:
                    buf += g
            g = g + np.asarray(self.momentum, dt) * buf if self.nesterov else buf
        p -= np.asarray(self.lr, dt) * g


class Adam(Optimizer):
    """Adam (Kingma & Ba) with PyTorch's rule (``torch.optim.Adam``, L2 ``weight_decay``).

    ``g += weight_decay * p``; ``m += (1 - beta1) * (g - m)``;
    ``v = beta2 * v + (1 - beta2) * g * g``;
    ``p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv import nn
    >>> layer = nn.Dense(2, 1, bias=False)
    >>> layer.build((2,))  # returns its output shape
    (1,)
    >>> layer.params["weight"][...] = 1.0
    >>> layer.grads["weight"] = np.array([[0.5, -0.5]], dtype=np.float32)
    >>> nn.Adam([layer], lr=0.1).step()  # the first step moves every weight by lr
    >>> layer.params["weight"].round(3)
    array([[0.9, 1.1]], dtype=float32)
    """

    def __init__(
        self,
        params_or_model,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        super().__init__(params_or_model, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair of floats; got {betas!r}")
        self.betas = (_check_fraction(betas[0], "betas[0]"), _check_fraction(betas[1], "betas[1]"))
        self.eps = _validate.check_float(eps, "eps")
        if self.eps < 0:
            raise ValueError(f"eps must be >= 0; got {eps!r}")
        self.weight_decay = _validate.check_float(weight_decay, "weight_decay")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0; got {weight_decay!r}")

    def _update_device(self, key, p, g):
        state = self._state_for(key, p, ("exp_avg", "exp_avg_sq"))
        if state is None:
            zeros = (_device.zeros(p.shape, p.dtype) for _ in range(2))
            state = {"step": 0, **dict(zip(("exp_avg", "exp_avg_sq"), zeros))}
            self.state[key] = state
        state["step"] += 1
        _device.cuda_module("elementwise").adam_step(
            p,
            g,
            state["exp_avg"],
            state["exp_avg_sq"],
            step=state["step"],
            lr=self.lr,
            betas=self.betas,
            eps=self.eps,
            weight_decay=self.weight_decay,
        )

    def _update(self, key, p, g):
        dt = p.dtype
        b1, b2 = self.betas
        state = self._state_for(key, p, ("exp_avg", "exp_avg_sq"))
        if state is None:
            state = {"step": 0, "exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)}
            self.state[key] = state
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        from .._cpu import activation, optim

        if activation.fits(p, g, m, v):  # one pass (the same arithmetic as below)
            optim.adam_step(
                p, g, m, v, step=t, lr=self.lr, betas=self.betas, eps=self.eps,
                weight_decay=self.weight_decay,
            )  # fmt: skip
            return
        if self.weight_decay:
            g = g + np.asarray(self.weight_decay, dt) * p
        m += np.asarray(1.0 - b1, dt) * (g - m)
        v *= np.asarray(b2, dt)
        v += np.asarray(1.0 - b2, dt) * g * g
        step_size = self.lr / (1.0 - b1**t)
        denom = np.sqrt(v)
        denom /= np.asarray(math.sqrt(1.0 - b2**t), dt)
        denom += np.asarray(self.eps, dt)
        p -= (m / denom) * np.asarray(step_size, dt)

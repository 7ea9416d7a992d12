"""The layer protocol: ``Layer`` and the helpers every layer module shares.

Every layer follows one protocol (docs/contract.md §2; the package docstring of
:mod:`sigconv.nn.layers` has the whole story):

``layer.forward(x, training=True) -> y``
    Computes the output and caches what the backward pass needs.
``layer.backward(grad_y, *, need_input_grad=True) -> grad_x``
    Fills ``layer.grads`` (same keys and shapes as ``layer.params``; overwritten, never
    accumulated) and returns the gradient of the input (``None`` when ``need_input_grad`` is
    False, which lets a model skip the input gradient of its first layer).

A subclass implements ``_forward(x, training)`` and ``_backward(grad_y, need_input_grad)`` as
calls of :mod:`sigconv.nn.functional` (which decides between host and device), and
``compute_output_shape``; layers with weights also ``_build_params``. Layers whose calls plan
(convolution, windowed pooling) may keep the plan per input shape with :meth:`Layer.planned`
and call the CPU backend with it for host arrays of one float dtype
(``_validate.host_float_dtype``).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ... import _validate
from .. import _device

__all__ = ["Layer", "bind_lazy", "check_count", "jsonable", "tupled"]

_REQUIRED = object()
# Shapes a layer keeps plans for: a training epoch alternates two (full batches and the last,
# smaller one), inference adds a third.
_PLANS_KEPT = 4


def bind_lazy(owner: str, names, defaults: dict, args, kwargs, lazy: str, core) -> dict:
    """Bind constructor arguments with the lazy-size rule of the package docstring."""
    unknown = set(kwargs) - set(names)
    if unknown:
        raise TypeError(f"{owner}() got unexpected keyword argument(s) {sorted(unknown)}")
    given_core = min(len(args), len(core)) + sum(n in kwargs for n in core)
    if lazy in kwargs or given_core >= len(core):
        positional = list(names)
    else:
        positional = [n for n in names if n != lazy]
    if len(args) > len(positional):
        raise TypeError(f"{owner}() takes at most {len(positional)} positional arguments here")
    bound = dict(zip(positional, args))
    for key, value in kwargs.items():
        if key in bound:
            raise TypeError(f"{owner}() got multiple values for argument {key!r}")
        bound[key] = value
    for key in names:
        if key not in bound:
            default = defaults.get(key, _REQUIRED)
            if default is _REQUIRED:
                raise TypeError(f"{owner}() missing required argument {key!r}")
            bound[key] = default
    return bound


def check_count(value, name: str, *, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if not isinstance(value, (numbers.Integral, np.integer)) or isinstance(value, bool):
        raise TypeError(
            f"{name} must be a positive int; got {value!r} (type {type(value).__name__})"
        )
    if value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return int(value)


def jsonable(value):
    """Tuples to lists, numpy scalars to Python scalars: a config that json can write."""
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def tupled(value):
    """Lists back to tuples (the inverse of :func:`jsonable` for argument values)."""
    if isinstance(value, list):
        return tuple(tupled(v) for v in value)
    return value


class Layer:
    """Base class: the forward/backward protocol, lazy building and configuration.

    Subclasses implement ``_forward(x, training)``, ``_backward(grad_y, need_input_grad)`` and
    ``compute_output_shape(input_shape)``; layers with weights also ``_build_params``.
    """

    #: Whether the layer has weights (drives summary and optimizers).
    has_params = False
    #: Smallest and largest rank of one sample (batch axis excluded); None: no limit.
    sample_ndim: tuple[int, int | None] = (1, None)

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.trainable = True
        self.built = False
        self.input_shape: tuple[int, ...] | None = None
        self.output_shape: tuple[int, ...] | None = None
        self.name: str | None = None
        self.dtype = np.dtype(np.float32)
        self.rng: np.random.Generator | None = None
        self._cache = None
        self._device = "cpu"
        self._ran_on_device = False
        self._plans: dict = {}

    # --- configuration --------------------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor arguments as a JSON-serialisable dict (sizes as inferred)."""
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**{k: tupled(v) for k, v in config.items()})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    # --- building -------------------------------------------------------------------------
    def build(self, input_shape, rng: np.random.Generator | None = None, dtype=np.float32):
        """Fix the input shape (batch axis excluded), create the weights; returns output shape."""
        shape = tuple(int(s) for s in input_shape)
        lo, hi = self.sample_ndim
        if len(shape) < lo or (hi is not None and len(shape) > hi):
            want = f"{lo}" if lo == hi else f"{lo} to {hi}" if hi is not None else f">= {lo}"
            raise ValueError(
                f"{type(self).__name__} needs inputs of {want} axes per sample (batch axis "
                f"excluded); got input_shape {shape}"
            )
        if any(s < 1 for s in shape):
            raise ValueError(f"input_shape must be positive in every axis; got {shape}")
        self.dtype = np.dtype(dtype)
        if rng is None:
            rng = np.random.default_rng(0)
        self.rng = rng
        self._build_params(shape, rng)
        self.output_shape = tuple(int(s) for s in self.compute_output_shape(shape))
        self.input_shape = shape
        self.built = True
        if self.device == "cuda":  # drawn on the host (same values as a CPU model), then moved
            self.params = {k: _device.move(p, "cuda") for k, p in self.params.items()}
        return self.output_shape

    def _build_params(self, input_shape, rng) -> None:
        pass

    def compute_output_shape(self, input_shape) -> tuple[int, ...]:
        return tuple(input_shape)

    def count_params(self) -> int:
        return int(sum(math.prod(p.shape) for p in self.params.values()))

    def astype(self, dtype):
        """Cast the weights (and cached gradients) to ``dtype`` in place, on the side they live
        on; returns the layer."""
        self.dtype = np.dtype(dtype)
        for key in self.params:
            self.params[key] = _device.cast(self.params[key], self.dtype)
        self.grads = {k: _device.cast(g, self.dtype) for k, g in self.grads.items()}
        return self

    # --- devices ------------------------------------------------------------------------------
    @property
    def device(self) -> str:
        """``"cuda"`` when the weights live on the GPU (or will, once built), else ``"cpu"``."""
        return getattr(self, "_device", "cpu")

    def to(self, device: str):
        """Move the weights and gradients to ``device`` (``"cpu"`` or ``"cuda"``); returns the
        layer. Before the layer is built this only records where its weights will go."""
        device = _device.check_device(device)
        if device != self.device:
            self.params = {k: _device.move(p, device) for k, p in self.params.items()}
            self.grads = {k: _device.move(g, device) for k, g in self.grads.items()}
            if _device.holds_device(self._cache) != (device == "cuda"):
                self._cache = None  # activations of the other side: backward needs a new forward
        self._device = device
        return self

    def planned(self, key, options, build):
        """What ``build()`` derives from the operands' shapes and dtypes (``key``) and the
        layer's ``options``, built once and kept for the next calls with the same ones.

        A training loop calls every layer with the same shapes at every step: the layers keep
        their validated plans (``_geometry``) here instead of validating and planning again.
        An entry is rebuilt when ``options`` differ from those it was built for (an attribute
        changed after the first call); at most a few shapes are kept, the oldest dropped first.
        ``build`` raising ``ValueError``, ``TypeError`` or ``RuntimeError`` (no GPU for
        ``backend="cuda"``) stores nothing and returns None: the caller then takes the
        functional call, which raises the same error with its context. Safe for threads that
        share a layer (Dask's threaded scheduler predicting with one model): every dict
        operation here is a single one, and two threads building one entry build equal ones.
        """
        plans = self.__dict__.get("_plans")
        if plans is None:  # unpickled, or pickled before layers kept plans
            plans = self._plans = {}
        entry = plans.get(key)
        if entry is not None:
            try:
                if entry[0] == options:
                    return entry[1]
            except (ValueError, TypeError):  # options holding arrays compare elementwise
                pass
        try:
            value = build()
        except (ValueError, TypeError, RuntimeError):
            return None
        if key not in plans and len(plans) >= _PLANS_KEPT:
            for old in list(plans)[: len(plans) - _PLANS_KEPT + 1]:  # the oldest first
                plans.pop(old, None)
        plans[key] = (options, value)
        return value

    def clear_cache(self):
        """Drop what the last forward pass kept for backward (its input or output, masks):
        the memory is freed and a pickled layer stays small. :meth:`backward` needs a new
        :meth:`forward` afterwards. Returns the layer."""
        self._cache = None
        return self

    def __getstate__(self):
        # Pickles (and deep copies) hold host arrays only: device memory belongs to a process.
        state = dict(self.__dict__)
        state.pop("_plans", None)  # rebuilt at the first call (they hold backend modules)
        if self.device == "cuda" or _device.holds_device(state.get("_cache")):
            state["params"] = {k: _device.to_host(p) for k, p in self.params.items()}
            state["grads"] = {k: _device.to_host(g) for k, g in self.grads.items()}
            state["_cache"] = None
            state["_device"] = "cpu"
            state["_ran_on_device"] = False
        return state

    # --- the protocol -----------------------------------------------------------------------
    def forward(self, x, training: bool = True):
        """The layer's output for batch ``x`` (``(N, *input_shape)``); caches for backward.

        A device ``x`` gives a device output (the weights must be on the GPU too, see
        :meth:`to`); a host ``x`` a numpy output.
        """
        return self._forward(self._entered(x), bool(training))

    def _entered(self, x):
        """``x`` checked for this layer (built at the first call, the weights' side matched),
        as :meth:`forward` passes it to ``_forward``."""
        x = self._check_input(x)
        on_device = _device.is_device(x)
        shape = tuple(int(n) for n in x.shape)
        if not self.built:
            if on_device:
                self._device = _device.check_device("cuda")
            self.build(shape[1:], None, _validate.compute_dtype(x))
        elif shape[1:] != self.input_shape and not self._accepts_shape(shape[1:]):
            raise ValueError(
                f"{type(self).__name__} was built for samples of shape {self.input_shape}; got "
                f"a batch of shape {shape}"
            )
        if self.params and on_device != (self.device == "cuda"):
            where = "the GPU" if self.device == "cuda" else "the host"
            given = "a device array" if on_device else "a host array"
            raise TypeError(
                f"{type(self).__name__} has its weights on {where} but x is {given}; move one "
                f"of them (layer.to('cuda' or 'cpu'), or copy x)"
            )
        self._ran_on_device = on_device
        return x

    def backward(self, grad_y, *, need_input_grad: bool = True):
        """Gradient of the input from ``grad_y`` (the gradient of the output); fills ``grads``.

        After a forward pass on the GPU a host ``grad_y`` is copied over; a device ``grad_y``
        after a host forward pass raises ``TypeError``.
        """
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        if _device.is_device(grad_y):
            if not self._ran_on_device:
                raise TypeError(
                    f"grad_y is a device array but {type(self).__name__}.forward ran on the host"
                )
            grad_y = _device.view(grad_y)
        else:
            grad_y = np.asarray(grad_y)
            if self._ran_on_device:
                grad_y = _device.to_device(grad_y, _validate.compute_dtype(grad_y))
        return self._backward(grad_y, bool(need_input_grad))

    def __call__(self, x, training: bool = True):
        return self.forward(x, training)

    def _check_input(self, x):
        if _device.is_device(x):
            d = _device.view(x)
            if len(d.shape) < 2 or math.prod(d.shape) == 0:
                raise ValueError(
                    f"x must be a non-empty (N, ...) batch of at least 2 dimensions; got shape "
                    f"{tuple(d.shape)}"
                )
            if d.dtype.kind in "iub":  # integers compute in float64, as on the host
                return _device.cast(d, np.float64)
            if d.dtype not in (np.float32, np.float64):
                raise TypeError(f"device x must be float32 or float64; got dtype {d.dtype}")
            return d
        x = _validate.as_input_array(x, "x", min_ndim=2)
        if x.dtype.kind != "f":
            x = x.astype(np.float64)
        return x

    def _accepts_shape(self, sample_shape) -> bool:
        """Whether a built layer accepts samples of another shape (size-agnostic layers)."""
        return False

    def _forward(self, x, training):
        raise NotImplementedError

    def _backward(self, grad_y, need_input_grad):
        raise NotImplementedError

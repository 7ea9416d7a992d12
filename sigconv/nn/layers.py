"""Layers: explicit forward/backward pairs with ``params``/``grads`` dicts (docs/contract.md §2).

Every layer follows one protocol:

``layer.forward(x, training=True) -> y``
    Computes the output and caches what the backward pass needs.
``layer.backward(grad_y, *, need_input_grad=True) -> grad_x``
    Fills ``layer.grads`` (same keys and shapes as ``layer.params``; overwritten, never
    accumulated) and returns the gradient of the input (``None`` when ``need_input_grad`` is
    False, which lets a model skip the input gradient of its first layer).
``layer.params`` / ``layer.grads``
    ``dict[str, ndarray]`` in PyTorch's layouts: Conv ``weight`` is
    ``(C_out, C_in // groups, *kernel)``, Dense ``weight`` is ``(out_features, in_features)``.

Shapes exclude the batch axis wherever a layer talks about an ``input_shape`` (as Keras does):
a Conv layer over ``(N, 3, 32, 32)`` batches has ``input_shape == (3, 32, 32)``.

Lazy sizes
----------
Constructors take PyTorch's argument names and order. ``in_channels`` (Conv) and
``in_features`` (Dense) may be left out; they are then inferred when the layer is built, at
its first forward pass or by ``Sequential.build(input_shape)``. The rule for positional
arguments: when fewer than all of the leading size arguments are given (positionally or by
keyword) and ``in_channels``/``in_features`` is not passed by keyword, the positional
arguments fill the remaining names from ``out_channels``/``out_features`` on. So
``Conv(6, 5)`` and ``Conv(6, kernel_size=5)`` mean ``Conv(out_channels=6, kernel_size=5)``
while ``Conv(1, 6, 5)`` and ``Conv(1, 6, kernel_size=5)`` mean PyTorch's ``Conv2d(1, 6, 5)``;
likewise ``Dense(84)`` is ``Dense(out_features=84)`` and ``Dense(120, 84)`` is PyTorch's
``Linear(120, 84)``.

Initialisation is seeded: ``build(input_shape, rng)`` draws weights from the numpy
``Generator`` it is given (He normal by default, ``weight_init="glorot_uniform"`` etc. for
others; biases start at zero). A layer built lazily by its first forward pass uses
``np.random.default_rng(0)``, so it is deterministic too.

Devices
-------
Every layer computes on the GPU when its input is a device array (``__cuda_array_interface__``:
Numba, CuPy, PyTorch CUDA tensors) and returns device arrays, forward and backward, calling the
``sigconv._cuda`` kernels without copying activations to the host. A layer with weights
computes where its weights live: ``layer.to("cuda")`` moves ``params`` and ``grads`` to the
GPU (Numba device arrays), ``layer.to("cpu")`` back; a host input to a layer whose weights are
on the GPU (or the reverse) raises ``TypeError``, as PyTorch does. A layer that is not built
yet and gets a device input builds its weights on the host (same seeded values) and moves them
to the GPU. Weights are always drawn on the host, so a seed gives the same model on either side.
Pickling (and ``copy.deepcopy``) copies device weights back: a pickled layer is a host layer.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy.special import expit

from .. import _geometry, _modes, _validate
from . import _device
from . import _pool as _pool_shapes
from . import functional as F
from . import init as _init

__all__ = [
    "AvgPool",
    "Conv",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAvgPool",
    "GlobalMaxPool",
    "LPPool",
    "Layer",
    "LeakyReLU",
    "MaxPool",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "SpectralPool",
    "StochasticPool",
    "Tanh",
    "layer_from_config",
]

_REQUIRED = object()


def _ew(name: str = "elementwise"):
    """A ``sigconv._cuda`` module (elementwise by default), imported only for device arrays."""
    return _device.cuda_module(name)


def _bind_lazy(owner: str, names, defaults: dict, args, kwargs, lazy: str, core) -> dict:
    """Bind constructor arguments with the lazy-size rule described in the module docstring."""
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


def _check_count(value, name: str, *, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if not isinstance(value, (numbers.Integral, np.integer)) or isinstance(value, bool):
        raise TypeError(
            f"{name} must be a positive int; got {value!r} (type {type(value).__name__})"
        )
    if value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return int(value)


def _jsonable(value):
    """Tuples to lists, numpy scalars to Python scalars: a config that json can write."""
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _tupled(value):
    """Lists back to tuples (the inverse of :func:`_jsonable` for argument values)."""
    if isinstance(value, list):
        return tuple(_tupled(v) for v in value)
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

    # --- configuration --------------------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor arguments as a JSON-serialisable dict (sizes as inferred)."""
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**{k: _tupled(v) for k, v in config.items()})

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

    def __getstate__(self):
        # Pickles (and deep copies) hold host arrays only: device memory belongs to a process.
        state = dict(self.__dict__)
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
        return self._forward(x, bool(training))

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


# --- weighted layers ------------------------------------------------------------------------


class Conv(Layer):
    """N-d convolution (cross-correlation) over ``(N, C_in, *spatial)``; 1 to 3 spatial axes.

    Parameters (PyTorch's names and order; see the module docstring for leaving out
    ``in_channels``): ``in_channels``, ``out_channels``, ``kernel_size``, ``stride=1``,
    ``padding=0`` (int, per-axis tuple, ``(before, after)`` pairs, ``"valid"``, ``"same"``,
    ``"full"``), ``dilation=1``, ``groups=1``, ``bias=True``, ``padding_mode="zeros"``, and
    sigconv's ``weight_init="he_normal"`` and ``backend="auto"``. The number of spatial axes
    comes from the input.
    """

    has_params = True
    sample_ndim = (2, 4)
    _names = (
        "in_channels",
        "out_channels",
        "kernel_size",
        "stride",
        "padding",
        "dilation",
        "groups",
        "bias",
        "padding_mode",
        "weight_init",
        "backend",
    )
    _defaults = {
        "in_channels": None,
        "stride": 1,
        "padding": 0,
        "dilation": 1,
        "groups": 1,
        "bias": True,
        "padding_mode": "zeros",
        "weight_init": "he_normal",
        "backend": "auto",
    }
    _padding_modes = _modes.PADDING_MODES

    def __init__(self, *args, **kwargs):
        super().__init__()
        a = _bind_lazy(
            "Conv",
            self._names,
            self._defaults,
            args,
            kwargs,
            "in_channels",
            ("in_channels", "out_channels", "kernel_size"),
        )
        self.in_channels = _check_count(a["in_channels"], "in_channels", allow_none=True)
        self.out_channels = _check_count(a["out_channels"], "out_channels")
        self.groups = _check_count(a["groups"], "groups")
        if self.out_channels % self.groups:
            raise ValueError(
                f"out_channels must be divisible by groups ({self.groups}); got {self.out_channels}"
            )
        if self.in_channels is not None and self.in_channels % self.groups:
            raise ValueError(
                f"in_channels must be divisible by groups ({self.groups}); got {self.in_channels}"
            )
        self.kernel_size = a["kernel_size"]
        self.stride = a["stride"]
        self.padding = a["padding"]
        self.dilation = a["dilation"]
        for key in ("kernel_size", "stride", "dilation"):  # early checks, any rank
            value = getattr(self, key)
            n = 1 if isinstance(value, (numbers.Integral, np.integer)) else len(value)
            _validate.int_tuple(value, key, n)
        self.bias = bool(a["bias"])
        self.padding_mode = _validate.check_option(
            a["padding_mode"], "padding_mode", self._padding_modes
        )
        self.weight_init = _validate.check_option(
            a["weight_init"], "weight_init", tuple(_init.INITIALIZERS)
        )
        self.backend = a["backend"]

    def get_config(self):
        return {k: _jsonable(getattr(self, k)) for k in self._names}

    def _geometry(self, input_shape):
        nd = len(input_shape) - 1
        k = _validate.int_tuple(self.kernel_size, "kernel_size", nd)
        s = _validate.int_tuple(self.stride, "stride", nd)
        d = _validate.int_tuple(self.dilation, "dilation", nd)
        pads = _geometry.nn_padding(self.padding, input_shape[1:], k, s, d)
        return k, s, d, pads

    def compute_output_shape(self, input_shape):
        k, s, d, pads = self._geometry(input_shape)
        spatial = [
            _geometry.nn_output_size(n, p, kk, ss, dd)
            for n, p, kk, ss, dd in zip(input_shape[1:], pads, k, s, d)
        ]
        if any(n < 1 for n in spatial):
            raise ValueError(
                f"Conv with kernel_size {k}, dilation {d}, padding {self.padding!r} does not fit "
                f"input of spatial shape {tuple(input_shape[1:])}"
            )
        return (self.out_channels, *spatial)

    def _build_params(self, input_shape, rng):
        c_in = input_shape[0]
        if self.in_channels is None:
            if c_in % self.groups:
                raise ValueError(
                    f"in_channels must be divisible by groups ({self.groups}); got input with "
                    f"{c_in} channels"
                )
            self.in_channels = c_in
        elif c_in != self.in_channels:
            raise ValueError(
                f"Conv expects {self.in_channels} input channels; got input_shape {input_shape}"
            )
        k, _, _, _ = self._geometry(input_shape)
        shape = (self.out_channels, self.in_channels // self.groups, *k)
        self.params = {"weight": _init.initialize(self.weight_init, shape, rng, self.dtype)}
        if self.bias:
            self.params["bias"] = np.zeros(self.out_channels, dtype=self.dtype)

    def _options(self):
        return {
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "groups": self.groups,
            "padding_mode": self.padding_mode,
            "backend": self.backend,
        }

    def _accepts_shape(self, sample_shape):
        # Any spatial size of the same rank and channel count: convolutions are size-agnostic.
        return len(sample_shape) == len(self.input_shape) and sample_shape[0] == self.in_channels

    def _forward(self, x, training):
        y = F.conv(x, self.params["weight"], self.params.get("bias"), **self._options())
        self._cache = x
        return y

    def _backward(self, grad_y, need_input_grad):
        need = []
        if need_input_grad:
            need.append("x")
        if self.trainable:
            need.append("weight")
            if self.bias:
                need.append("bias")
        if not need:
            return None
        gx, gw, gb = F.conv_backward(
            grad_y, self._cache, self.params["weight"], need=tuple(need), **self._options()
        )
        if self.trainable:
            self.grads["weight"] = gw
            if self.bias:
                self.grads["bias"] = gb
        return gx


class Dense(Layer):
    """Fully connected layer ``y = x @ weight.T + bias`` (PyTorch's ``Linear``).

    ``Dense(in_features, out_features, bias=True, weight_init="he_normal")``; ``in_features``
    may be left out (``Dense(84)``) and is then inferred. Inputs are ``(N, in_features)``.
    """

    has_params = True
    sample_ndim = (1, 1)
    _names = ("in_features", "out_features", "bias", "weight_init")
    _defaults = {"in_features": None, "bias": True, "weight_init": "he_normal"}

    def __init__(self, *args, **kwargs):
        super().__init__()
        a = _bind_lazy(
            "Dense",
            self._names,
            self._defaults,
            args,
            kwargs,
            "in_features",
            ("in_features", "out_features"),
        )
        self.in_features = _check_count(a["in_features"], "in_features", allow_none=True)
        self.out_features = _check_count(a["out_features"], "out_features")
        self.bias = bool(a["bias"])
        self.weight_init = _validate.check_option(
            a["weight_init"], "weight_init", tuple(_init.INITIALIZERS)
        )

    def get_config(self):
        return {k: _jsonable(getattr(self, k)) for k in self._names}

    def compute_output_shape(self, input_shape):
        return (self.out_features,)

    def _build_params(self, input_shape, rng):
        if self.in_features is None:
            self.in_features = input_shape[0]
        elif input_shape[0] != self.in_features:
            raise ValueError(
                f"Dense expects {self.in_features} input features; got input_shape {input_shape}"
                " (put a Flatten layer before Dense for image inputs)"
            )
        shape = (self.out_features, self.in_features)
        self.params = {"weight": _init.initialize(self.weight_init, shape, rng, self.dtype)}
        if self.bias:
            self.params["bias"] = np.zeros(self.out_features, dtype=self.dtype)

    def _forward(self, x, training):
        self._cache = x
        if _device.is_device(x):  # one tiled GEMM with the bias fused
            return _ew("dense").dense(x, self.params["weight"], self.params.get("bias"))
        y = x @ self.params["weight"].T
        if self.bias:
            y += self.params["bias"]
        return y

    def _backward(self, grad_y, need_input_grad):
        if _device.is_device(grad_y):
            need = ("x",) if need_input_grad else ()
            if self.trainable:
                need += ("weight", "bias") if self.bias else ("weight",)
            if not need:
                return None
            gx, gw, gb = _ew("dense").dense_backward(
                grad_y, self._cache, self.params["weight"], need=need
            )
            if self.trainable:
                self.grads["weight"] = gw
                if self.bias:
                    self.grads["bias"] = gb
            return gx
        if self.trainable:
            self.grads["weight"] = grad_y.T @ self._cache
            if self.bias:
                self.grads["bias"] = grad_y.sum(axis=0)
        return grad_y @ self.params["weight"] if need_input_grad else None


# --- activations ------------------------------------------------------------------------------


class ReLU(Layer):
    """``max(x, 0)``. With ``inplace=True`` the input array is overwritten (as in PyTorch)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = bool(inplace)

    def get_config(self):
        return {"inplace": self.inplace}

    def _accepts_shape(self, sample_shape):
        return True

    def _forward(self, x, training):
        if _device.is_device(x):
            y = _ew().relu(x, inplace=self.inplace)
        else:
            y = np.maximum(x, 0, out=x if self.inplace and x.flags.writeable else None)
        self._cache = y
        return y

    def _backward(self, grad_y, need_input_grad):
        if not need_input_grad:
            return None
        if _device.is_device(grad_y):
            return _ew().relu_backward(grad_y, self._cache)
        # a multiply by the boolean mask is ~8x faster than np.where here
        return np.multiply(grad_y, self._cache > 0, dtype=grad_y.dtype)


class LeakyReLU(Layer):
    """``x`` where ``x > 0``, else ``negative_slope * x``."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = _validate.check_float(negative_slope, "negative_slope")

    def get_config(self):
        return {"negative_slope": self.negative_slope}

    def _accepts_shape(self, sample_shape):
        return True

    def _forward(self, x, training):
        self._cache = x
        if _device.is_device(x):
            return _ew().leaky_relu(x, self.negative_slope)
        slope = np.asarray(self.negative_slope, dtype=x.dtype)
        return np.where(x > 0, x, x * slope)

    def _backward(self, grad_y, need_input_grad):
        if not need_input_grad:
            return None
        if _device.is_device(grad_y):
            return _ew().leaky_relu_backward(grad_y, self._cache, self.negative_slope)
        slope = np.asarray(self.negative_slope, dtype=grad_y.dtype)
        return np.where(self._cache > 0, grad_y, grad_y * slope)


class Sigmoid(Layer):
    """Logistic function ``1 / (1 + exp(-x))``, computed without overflow."""

    def _accepts_shape(self, sample_shape):
        return True

    def _forward(self, x, training):
        y = _ew().sigmoid(x) if _device.is_device(x) else expit(x)
        self._cache = y
        return y

    def _backward(self, grad_y, need_input_grad):
        if not need_input_grad:
            return None
        y = self._cache
        if _device.is_device(grad_y):
            return _ew().sigmoid_backward(grad_y, y)
        return grad_y * y * (1 - y)


class Tanh(Layer):
    """Hyperbolic tangent."""

    def _accepts_shape(self, sample_shape):
        return True

    def _forward(self, x, training):
        y = _ew().tanh(x) if _device.is_device(x) else np.tanh(x)
        self._cache = y
        return y

    def _backward(self, grad_y, need_input_grad):
        if not need_input_grad:
            return None
        y = self._cache
        if _device.is_device(grad_y):
            return _ew().tanh_backward(grad_y, y)
        return grad_y * (1 - y * y)


class Softmax(Layer):
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

    def _accepts_shape(self, sample_shape):
        return True

    def _forward(self, x, training):
        ndim = len(x.shape)
        if not -ndim <= self.dim < ndim:
            raise ValueError(f"dim must be in [{-ndim}, {ndim}) for input {tuple(x.shape)}")
        if _device.is_device(x):
            e = _ew().softmax(x, self.dim)
        else:
            e = np.exp(x - x.max(axis=self.dim, keepdims=True))
            e /= e.sum(axis=self.dim, keepdims=True)
        self._cache = e
        return e

    def _backward(self, grad_y, need_input_grad):
        if not need_input_grad:
            return None
        y = self._cache
        if _device.is_device(grad_y):
            return _ew().softmax_backward(grad_y, y, self.dim)
        return y * (grad_y - (grad_y * y).sum(axis=self.dim, keepdims=True))


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
        if not training or self.p == 0.0:
            self._cache = False
            return x
        shape = tuple(int(n) for n in x.shape)
        keep = self.rng.random(shape) >= self.p
        scale = np.asarray(1.0 / (1.0 - self.p), dtype=x.dtype)
        mask = keep * scale
        if _device.is_device(x):
            mask = _device.to_device(mask)
            self._cache = mask
            return _ew().multiply(x, mask)
        self._cache = mask
        return x * mask

    def _backward(self, grad_y, need_input_grad):
        if not need_input_grad:
            return None
        if self._cache is False:
            return grad_y
        if _device.is_device(grad_y):
            return _ew().multiply(grad_y, self._cache)
        return grad_y * self._cache


class Flatten(Layer):
    """``(N, *shape) -> (N, prod(shape))`` (a view when the input is contiguous)."""

    def compute_output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def _forward(self, x, training):
        shape = tuple(int(n) for n in x.shape)
        self._cache = shape
        if _device.is_device(x):  # a view of a contiguous device array (a copy otherwise)
            return _device.to_device(x).reshape((shape[0], math.prod(shape[1:])))
        return x.reshape(shape[0], -1)

    def _backward(self, grad_y, need_input_grad):
        if not need_input_grad:
            return None
        if _device.is_device(grad_y):
            return _device.to_device(grad_y).reshape(self._cache)
        return grad_y.reshape(self._cache)


# --- pooling ------------------------------------------------------------------------------------


class _Pool(Layer):
    """Shared parts of the pooling layers: output shape from the pooling geometry (validated
    as the functional call validates it, nothing computed), lazy geometry."""

    sample_ndim = (2, 4)
    _kind = ""  # the pooling kind of _pool.output_shape

    def compute_output_shape(self, input_shape):
        # every constructor argument but the backend decides the shape
        params = {k: getattr(self, k) for k in self._config_keys if k != "backend"}
        return _pool_shapes.output_shape(self._kind, input_shape, **params)

    def _accepts_shape(self, sample_shape):
        return len(sample_shape) == len(self.input_shape) and sample_shape[0] == self.input_shape[0]

    # Constructor arguments that get_config records (each pooling layer names its own).
    _config_keys: tuple[str, ...] = ()

    def get_config(self):
        return {k: _jsonable(getattr(self, k)) for k in self._config_keys}

    def _pool(self, x, training):
        raise NotImplementedError

    def _forward(self, x, training):
        self._cache = x
        return self._pool(x, training)


class MaxPool(_Pool):
    """Max pooling: ``MaxPool(kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
    backend="auto")`` (``stride`` defaults to ``kernel_size``, as in PyTorch)."""

    _config_keys = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "backend")
    _kind = "max"

    def __init__(
        self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, backend="auto"
    ):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.ceil_mode = bool(ceil_mode)
        self.backend = backend

    def _opts(self):
        return {"dilation": self.dilation, "ceil_mode": self.ceil_mode, "backend": self.backend}

    def _pool(self, x, training):
        return F.max_pool(x, self.kernel_size, self.stride, self.padding, **self._opts())

    def _forward(self, x, training):
        y, idx = F.max_pool(
            x, self.kernel_size, self.stride, self.padding, return_indices=True, **self._opts()
        )
        self._cache = (x, idx)
        return y

    def _backward(self, grad_y, need_input_grad):
        if not need_input_grad:
            return None
        x, idx = self._cache
        return F.max_pool_backward(
            grad_y, x, idx, self.kernel_size, self.stride, self.padding, **self._opts()
        )


class AvgPool(_Pool):
    """Average pooling: ``AvgPool(kernel_size, stride=None, padding=0, ceil_mode=False,
    count_include_pad=True, divisor_override=None, backend="auto")`` (PyTorch's meanings)."""

    _config_keys = (
        "kernel_size",
        "stride",
        "padding",
        "ceil_mode",
        "count_include_pad",
        "divisor_override",
        "backend",
    )
    _kind = "avg"

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        ceil_mode=False,
        count_include_pad=True,
        divisor_override=None,
        backend="auto",
    ):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = divisor_override
        self.backend = backend

    def _opts(self):
        return {
            "ceil_mode": self.ceil_mode,
            "count_include_pad": self.count_include_pad,
            "divisor_override": self.divisor_override,
            "backend": self.backend,
        }

    def _pool(self, x, training):
        return F.avg_pool(x, self.kernel_size, self.stride, self.padding, **self._opts())

    def _backward(self, grad_y, need_input_grad):
        if not need_input_grad:
            return None
        return F.avg_pool_backward(
            grad_y, self._cache, self.kernel_size, self.stride, self.padding, **self._opts()
        )


class LPPool(_Pool):
    """Power-average pooling ``(sum x**p)**(1/p)`` over each window:
    ``LPPool(kernel_size, stride=None, norm_type=2, ceil_mode=False, backend="auto")`` (L2
    pooling by default; note that ``F.lp_pool`` takes ``norm_type`` first, as PyTorch)."""

    _config_keys = ("kernel_size", "stride", "norm_type", "ceil_mode", "backend")
    _kind = "lp"

    def __init__(self, kernel_size, stride=None, norm_type=2, ceil_mode=False, backend="auto"):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.norm_type = _validate.check_float(norm_type, "norm_type", finite=False)
        self.ceil_mode = bool(ceil_mode)
        self.backend = backend

    def _opts(self):
        return {"ceil_mode": self.ceil_mode, "backend": self.backend}

    def _pool(self, x, training):
        return F.lp_pool(x, self.norm_type, self.kernel_size, self.stride, **self._opts())

    def _backward(self, grad_y, need_input_grad):
        if not need_input_grad:
            return None
        return F.lp_pool_backward(
            grad_y, self._cache, self.norm_type, self.kernel_size, self.stride, **self._opts()
        )


class StochasticPool(_Pool):
    """Stochastic pooling (Zeiler & Fergus 2013): in training one activation per window is
    sampled with probability proportional to its value (inputs must be non-negative, e.g.
    after ReLU); at inference the probability-weighted average. Samples come from the layer's
    seeded generator (``layer.rng``). ``StochasticPool(kernel_size, stride=None)``."""

    _config_keys = ("kernel_size", "stride", "backend")
    _kind = "stochastic"

    def __init__(self, kernel_size, stride=None, backend="auto"):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.backend = backend

    def _pool(self, x, training):
        return F.stochastic_pool(
            x, self.kernel_size, self.stride, training=False, backend=self.backend
        )

    def _forward(self, x, training):
        if not training:
            self._cache = (x, None, False)
            return self._pool(x, training)
        y, idx = F.stochastic_pool(
            x,
            self.kernel_size,
            self.stride,
            training=True,
            rng=self.rng,
            return_indices=True,
            backend=self.backend,
        )
        self._cache = (x, idx, True)
        return y

    def _backward(self, grad_y, need_input_grad):
        if not need_input_grad:
            return None
        x, idx, training = self._cache
        return F.stochastic_pool_backward(
            grad_y,
            x,
            self.kernel_size,
            self.stride,
            training=training,
            indices=idx,
            backend=self.backend,
        )


class SpectralPool(_Pool):
    """Spectral pooling (Rippel et al. 2015): DFT, keep the lowest frequencies, inverse DFT.
    ``SpectralPool(output_size)`` (int or one per spatial axis)."""

    _config_keys = ("output_size", "backend")
    _kind = "spectral"

    def __init__(self, output_size, backend="auto"):
        super().__init__()
        self.output_size = output_size
        self.backend = backend

    def _pool(self, x, training):
        return F.spectral_pool(x, self.output_size, backend=self.backend)

    def _forward(self, x, training):
        self._cache = tuple(x.shape)
        return self._pool(x, training)

    def _backward(self, grad_y, need_input_grad):
        if not need_input_grad:
            return None
        return F.spectral_pool_backward(grad_y, self._cache, self.output_size, backend=self.backend)


class _GlobalPool(_Pool):
    def __init__(self, backend="auto"):
        super().__init__()
        self.backend = backend

    def get_config(self):
        return {"backend": self.backend}

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)

    def _accepts_shape(self, sample_shape):
        return 2 <= len(sample_shape) <= 4 and sample_shape[0] == self.input_shape[0]

    def _forward(self, x, training):
        self._cache = x
        y = self._fn(x, backend=self.backend)
        shape = (int(x.shape[0]), int(x.shape[1]))
        return _device.to_device(y).reshape(shape) if _device.is_device(y) else y.reshape(shape)

    def _backward(self, grad_y, need_input_grad):
        if not need_input_grad:
            return None
        x = self._cache
        shape = tuple(int(n) for n in grad_y.shape) + (1,) * (len(x.shape) - 2)
        if _device.is_device(grad_y):
            g = _device.to_device(grad_y).reshape(shape)
        else:
            g = grad_y.reshape(shape)
        return self._fn_backward(g, x, backend=self.backend)


class GlobalAvgPool(_GlobalPool):
    """Mean over every spatial axis: ``(N, C, *spatial) -> (N, C)`` (as Keras)."""

    _fn = staticmethod(lambda x, **kw: F.global_avg_pool(x, **kw))
    _fn_backward = staticmethod(lambda g, x, **kw: F.global_avg_pool_backward(g, x, **kw))


class GlobalMaxPool(_GlobalPool):
    """Maximum over every spatial axis: ``(N, C, *spatial) -> (N, C)`` (as Keras)."""

    _fn = staticmethod(lambda x, **kw: F.global_max_pool(x, **kw))
    _fn_backward = staticmethod(lambda g, x, **kw: F.global_max_pool_backward(g, x, **kw))


LAYERS = {
    cls.__name__: cls
    for cls in (
        Conv,
        Dense,
        ReLU,
        LeakyReLU,
        Sigmoid,
        Tanh,
        Softmax,
        Dropout,
        Flatten,
        MaxPool,
        AvgPool,
        LPPool,
        StochasticPool,
        SpectralPool,
        GlobalAvgPool,
        GlobalMaxPool,
    )
}


def layer_from_config(class_name: str, config: dict) -> Layer:
    """Rebuild a layer from its class name and :meth:`Layer.get_config` (used by ``load``)."""
    if class_name not in LAYERS:
        raise ValueError(f"unknown layer class {class_name!r}; expected one of {sorted(LAYERS)}")
    return LAYERS[class_name].from_config(config)

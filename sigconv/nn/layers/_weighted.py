"""The layers with weights: ``Conv`` (``F.conv``/``conv_backward``) and ``Dense``
(``F.linear``/``linear_backward``), in PyTorch's weight layouts."""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import numpy as np

from ... import _backend, _config, _geometry, _modes, _validate
from .. import functional as F
from .. import init as _init
from ._base import Layer, bind_lazy, check_count, jsonable

__all__ = ["Conv", "Dense"]


class _Weighted(Layer):
    """A layer with a ``weight`` and an optional ``bias``: which gradients a backward pass
    needs, and where they go."""

    has_params = True

    def _needed(self, need_input_grad) -> tuple[str, ...]:
        need = ("x",) if need_input_grad else ()
        if self.trainable:
            need += ("weight", "bias") if self.bias else ("weight",)
        return need

    def _keep_grads(self, gx, gw, gb):
        if self.trainable:
            self.grads["weight"] = gw
            if self.bias:
                self.grads["bias"] = gb
        return gx


class _ConvPlanned(NamedTuple):
    """A conv layer's plan for one input shape: the validated ``ConvPlan`` (what ``F.conv``
    and ``F.conv_backward`` build on every call), where a pass runs (``where[k]``: the backend
    ``F`` would resolve for ``k`` convolutions' work; a forward pass is one, a backward pass
    one per gradient of ``x`` and ``weight``) and the CPU backend module."""

    plan: _geometry.ConvPlan
    where: tuple[str, str, str]
    cpu: Any


class Conv(_Weighted):
    """N-d convolution (cross-correlation) over ``(N, C_in, *spatial)``; 1 to 3 spatial axes.

    Parameters (PyTorch's names and order; see the ``sigconv.nn.layers`` docstring for leaving out
    ``in_channels``): ``in_channels``, ``out_channels``, ``kernel_size``, ``stride=1``,
    ``padding=0`` (int, per-axis tuple, ``(before, after)`` pairs, ``"valid"``, ``"same"``,
    ``"full"``), ``dilation=1``, ``groups=1``, ``bias=True``, ``padding_mode="zeros"``, and
    sigconv's ``weight_init="he_normal"`` and ``backend="auto"``. The number of spatial axes
    comes from the input.
    """

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
        a = bind_lazy(
            "Conv",
            self._names,
            self._defaults,
            args,
            kwargs,
            "in_channels",
            ("in_channels", "out_channels", "kernel_size"),
        )
        self.in_channels = check_count(a["in_channels"], "in_channels", allow_none=True)
        self.out_channels = check_count(a["out_channels"], "out_channels")
        self.groups = check_count(a["groups"], "groups")
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
        return {k: jsonable(getattr(self, k)) for k in self._names}

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

    def _planned_conv(self, x, weight, bias):
        """The plan for host float operands of one dtype, built at the first call with their
        shapes (then reused), or None: the call goes through ``F.conv`` / ``F.conv_backward``.

        The plan is the one those functions would build from the same arguments (same
        validation, ``_geometry.conv_plan``), so the backend computes bit for bit the same.
        """
        dtype = _validate.host_float_dtype(x, weight, bias)
        if dtype is None:
            return None
        opts = self._options()
        key = (x.shape, dtype, weight.shape, None if bias is None else bias.shape)

        def build():
            plan = _geometry.conv_plan(
                x.shape, weight.shape, opts["stride"], opts["padding"], opts["dilation"],
                opts["groups"], opts["padding_mode"], dtype,
            )  # fmt: skip
            if bias is not None and bias.shape != (plan.cout,):
                raise ValueError("bias does not match the weight")  # F.conv says it in full
            where = tuple(
                _backend.resolve_backend(
                    opts["backend"],
                    work=k * plan.flops(),
                    gpu_min_work=_config.NN_CONV_GPU_MIN_WORK,
                )
                for k in range(3)
            )
            return _ConvPlanned(plan, where, _backend.backend_ops("cpu"))

        return self.planned(key, tuple(opts.values()), build)

    def forward_relu(self, x, training: bool = True):
        """``max(forward(x), 0)``: the convolution and a ReLU after it, as ``Sequential`` runs
        a ``Conv`` followed by a ``ReLU`` (the ReLU layer then takes this output with
        :meth:`ReLU.adopt`, for its backward pass). On the CPU the ReLU is applied in the
        kernel's own stores where the kernel can (the output-channel kernel), else in one
        in-place pass over the fresh output; either way no second array. The values are those
        of ``F.relu(forward(x))``, bit for bit."""
        return self._convolve(self._entered(x), relu=True)

    def _forward(self, x, training):
        return self._convolve(x, relu=False)

    def _convolve(self, x, relu):
        weight, bias = self.params["weight"], self.params.get("bias")
        run = self._planned_conv(x, weight, bias)
        if run is not None and run.where[1] == "cpu":
            dt = run.plan.dtype
            y = run.cpu.conv(
                run.plan,
                _validate.to_compute(x, dt),
                _validate.to_compute(weight, dt),
                None if bias is None else _validate.to_compute(bias, dt),
                relu=relu,
            )
        else:
            y = F.conv(x, weight, bias, **self._options())
            if relu:
                y = F.relu(y, inplace=True)  # the convolution's own result
        self._cache = x
        return y

    def _backward(self, grad_y, need_input_grad):
        need = self._needed(need_input_grad)
        if not need:
            return None
        x, weight = self._cache, self.params["weight"]
        run = self._planned_conv(x, weight, self.params.get("bias"))
        passes = ("x" in need) + ("weight" in need)
        if (
            run is not None
            and run.where[passes] == "cpu"
            and type(grad_y) is np.ndarray
            and grad_y.dtype == run.plan.dtype
            and grad_y.shape == run.plan.y_shape
        ):
            dt = run.plan.dtype
            gx, gw, gb = run.cpu.conv_backward(
                run.plan,
                _validate.to_compute(grad_y, dt),
                _validate.to_compute(x, dt),
                _validate.to_compute(weight, dt),
                need,
            )
        else:  # anything else is checked (and refused with the full message) by F
            gx, gw, gb = F.conv_backward(grad_y, x, weight, need=need, **self._options())
        return self._keep_grads(gx, gw, gb)


class Dense(_Weighted):
    """Fully connected layer ``y = x @ weight.T + bias`` (PyTorch's ``Linear``).

    ``Dense(in_features, out_features, bias=True, weight_init="he_normal")``; ``in_features``
    may be left out (``Dense(84)``) and is then inferred. Inputs are ``(N, in_features)``.
    """

    sample_ndim = (1, 1)
    _names = ("in_features", "out_features", "bias", "weight_init")
    _defaults = {"in_features": None, "bias": True, "weight_init": "he_normal"}

    def __init__(self, *args, **kwargs):
        super().__init__()
        a = bind_lazy(
            "Dense",
            self._names,
            self._defaults,
            args,
            kwargs,
            "in_features",
            ("in_features", "out_features"),
        )
        self.in_features = check_count(a["in_features"], "in_features", allow_none=True)
        self.out_features = check_count(a["out_features"], "out_features")
        self.bias = bool(a["bias"])
        self.weight_init = _validate.check_option(
            a["weight_init"], "weight_init", tuple(_init.INITIALIZERS)
        )

    def get_config(self):
        return {k: jsonable(getattr(self, k)) for k in self._names}

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
        return F.linear(x, self.params["weight"], self.params.get("bias"))

    def _backward(self, grad_y, need_input_grad):
        need = self._needed(need_input_grad)
        if not need:
            return None
        gx, gw, gb = F.linear_backward(grad_y, self._cache, self.params["weight"], need=need)
        return self._keep_grads(gx, gw, gb)

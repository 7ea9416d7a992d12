"""Pooling layers over ``(N, C, *spatial)`` (1 to 3 spatial axes), each a forward/backward
pair over the pooling functions of :mod:`sigconv.nn.functional`."""

from __future__ import annotations

import numpy as np

from ... import _backend, _validate
from .. import _device, _pool_args
from .. import functional as F
from ._base import Layer, jsonable

__all__ = [
    "AvgPool",
    "GlobalAvgPool",
    "GlobalMaxPool",
    "LPPool",
    "MaxPool",
    "SpectralPool",
    "StochasticPool",
]


class _Pool(Layer):
    """Shared parts of the pooling layers: output shape from the pooling geometry (validated
    as the functional call validates it, nothing computed), lazy geometry."""

    sample_ndim = (2, 4)
    _kind = ""  # the pooling kind of _pool_args.output_shape

    def compute_output_shape(self, input_shape):
        # every constructor argument but the backend decides the shape
        params = {k: getattr(self, k) for k in self._config_keys if k != "backend"}
        return _pool_args.output_shape(self._kind, input_shape, **params)

    def _accepts_shape(self, sample_shape):
        return len(sample_shape) == len(self.input_shape) and sample_shape[0] == self.input_shape[0]

    # Constructor arguments that get_config records (each pooling layer names its own).
    _config_keys: tuple[str, ...] = ()

    def get_config(self):
        return {k: jsonable(getattr(self, k)) for k in self._config_keys}

    def _pool(self, x, training):
        raise NotImplementedError

    def _forward(self, x, training):
        self._cache = x
        return self._pool(x, training)

    def _make_plan(self, shape, dtype):
        """The ``PoolPlan`` the functional call builds for an input of ``shape`` and ``dtype``
        from this layer's arguments (the same ``_pool_args`` builder, so the same checks)."""
        raise NotImplementedError

    def _planned_pool(self, x, grad_y=None):
        """``(plan, CPU backend)`` for a host float ``x`` (and ``grad_y`` of the plan's output
        shape and of ``x``'s dtype, when given), planned at the first call with ``x``'s shape
        and then reused; None when the call must go through the functional one (device or
        mixed operands, a backend other than the CPU, arguments it refuses)."""
        dtype = _validate.host_float_dtype(x, grad_y)
        if dtype is None:
            return None
        options = tuple(getattr(self, k) for k in self._config_keys)

        def build():
            plan = self._make_plan(x.shape, dtype)
            if _backend.resolve_backend(self.backend) != "cpu":
                return None
            return plan, _backend.backend_ops("cpu")

        run = self.planned((x.shape, dtype), options, build)
        if run is not None and grad_y is not None and grad_y.shape != run[0].out_shape:
            return None
        return run


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

    def _make_plan(self, shape, dtype):
        return _pool_args.max_plan(
            shape, dtype, self.kernel_size, self.stride, self.padding, self.dilation,
            self.ceil_mode,
        )  # fmt: skip

    def _forward(self, x, training):
        run = self._planned_pool(x)
        if run is not None:
            plan, cpu = run
            y, idx = cpu.max_pool(plan, _validate.to_compute(x, plan.dtype), return_indices=True)
        else:
            y, idx = F.max_pool(
                x, self.kernel_size, self.stride, self.padding, return_indices=True, **self._opts()
            )
        self._cache = (x, idx, y)
        return y

    def backward_relu(self, grad_y, *, need_input_grad: bool = True):
        """The gradient through this pooling and a ``ReLU`` right before it: what the ReLU's
        ``backward`` gives from this layer's ``backward``, with the ReLU's mask applied to
        the pooled gradient instead (a window's maximum is the ReLU's output at its argmax, so
        it is positive exactly where the ReLU passes that gradient): a quarter of the elements
        for 2 x 2 windows. The values are those of the two backward passes, bit for bit, as
        long as this layer's output has not been changed in place since ``forward`` (the
        mask is read from it; a later ``ReLU(inplace=True)`` keeps every ``y > 0`` as it
        was). ``Sequential`` runs a ``ReLU`` followed by a ``MaxPool`` this way when the
        pooled output is not part of what the model returned."""
        if self._cache is None or not need_input_grad:
            return self.backward(grad_y, need_input_grad=need_input_grad)  # as it would
        masked = F.relu_backward(grad_y, self._cache[2])
        return self.backward(masked, need_input_grad=need_input_grad)

    def _backward(self, grad_y, need_input_grad):
        if not need_input_grad:
            return None
        x, idx = self._cache[:2]  # (a layer pickled by 0.1 kept these two)
        run = self._planned_pool(x, grad_y)
        if run is not None and type(idx) is np.ndarray:
            # idx came from this layer's forward pass (int64, in range): F would check it again
            plan, cpu = run
            dt = plan.dtype
            g = _validate.to_compute(grad_y, dt)
            return cpu.max_pool_backward(plan, g, _validate.to_compute(x, dt), idx)
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
        run = self._planned_pool(x)
        if run is not None:
            plan, cpu = run
            return cpu.avg_pool(plan, _validate.to_compute(x, plan.dtype))
        return F.avg_pool(x, self.kernel_size, self.stride, self.padding, **self._opts())

    def _make_plan(self, shape, dtype):
        return _pool_args.avg_plan(
            shape, dtype, self.kernel_size, self.stride, self.padding, self.ceil_mode,
            self.count_include_pad, self.divisor_override,
        )  # fmt: skip

    def _backward(self, grad_y, need_input_grad):
        if not need_input_grad:
            return None
        run = self._planned_pool(self._cache, grad_y)
        if run is not None:
            plan, cpu = run
            return cpu.avg_pool_backward(plan, _validate.to_compute(grad_y, plan.dtype))
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
        run = self._planned_pool(x)
        if run is not None:
            plan, cpu = run
            return cpu.lp_pool(plan, _validate.to_compute(x, plan.dtype))
        return F.lp_pool(x, self.norm_type, self.kernel_size, self.stride, **self._opts())

    def _make_plan(self, shape, dtype):
        return _pool_args.lp_plan(
            shape, dtype, self.norm_type, self.kernel_size, self.stride, self.ceil_mode
        )

    def _backward(self, grad_y, need_input_grad):
        if not need_input_grad:
            return None
        x = self._cache
        run = self._planned_pool(x, grad_y)
        if run is not None:
            plan, cpu = run
            dt = plan.dtype
            g = _validate.to_compute(grad_y, dt)
            return cpu.lp_pool_backward(plan, g, _validate.to_compute(x, dt))
        return F.lp_pool_backward(
            grad_y, x, self.norm_type, self.kernel_size, self.stride, **self._opts()
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
        return _device.reshape(y, (int(x.shape[0]), int(x.shape[1])))

    def _backward(self, grad_y, need_input_grad):
        if not need_input_grad:
            return None
        x = self._cache
        shape = tuple(int(n) for n in grad_y.shape) + (1,) * (len(x.shape) - 2)
        return self._fn_backward(_device.reshape(grad_y, shape), x, backend=self.backend)


class GlobalAvgPool(_GlobalPool):
    """Mean over every spatial axis: ``(N, C, *spatial) -> (N, C)`` (as Keras)."""

    _fn = staticmethod(lambda x, **kw: F.global_avg_pool(x, **kw))
    _fn_backward = staticmethod(lambda g, x, **kw: F.global_avg_pool_backward(g, x, **kw))


class GlobalMaxPool(_GlobalPool):
    """Maximum over every spatial axis: ``(N, C, *spatial) -> (N, C)`` (as Keras)."""

    _fn = staticmethod(lambda x, **kw: F.global_max_pool(x, **kw))
    _fn_backward = staticmethod(lambda g, x, **kw: F.global_max_pool_backward(g, x, **kw))

"""Layers keep their plans between calls (issue 12, per-step overhead): a repeated call with the
same shapes reuses them, results are bit for bit those of the functional calls that validate and
plan every time, a new shape, dtype or option gets a new plan, and inputs are never modified."""

import copy
import pickle

import numpy as np
import pytest

from sigconv import nn
from sigconv.nn import functional as F
from sigconv.nn import layers as L


def _same(a, b):
    """Bit-for-bit equal (dtype, shape and every byte)."""
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def _conv_reference(layer, x, g, need):
    opts = dict(
        stride=layer.stride,
        padding=layer.padding,
        dilation=layer.dilation,
        groups=layer.groups,
        padding_mode=layer.padding_mode,
    )
    w, b = layer.params["weight"], layer.params.get("bias")
    y = F.conv(x, w, b, **opts)
    return y, F.conv_backward(g, x, w, need=need, **opts)


CONVS = [
    lambda: L.Conv(2, 4, 3, padding=1),
    lambda: L.Conv(4, 2, stride=2, padding="same", bias=False),
    lambda: L.Conv(6, (3, 2), padding=(1, 0), padding_mode="reflect", groups=2),
    lambda: L.Conv(2, 3, dilation=2, padding="full", padding_mode="circular"),
]


@pytest.mark.parametrize("make", CONVS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_layer_equals_functional_calls_bit_for_bit_every_call(make, dtype):
    layer = make()
    shapes = [(5, 2, 9, 8), (5, 2, 9, 8), (3, 2, 9, 8), (5, 2, 11, 7)]
    for x, y, g, gx in _steps(layer, shapes, dtype, seed=1):
        need = ("x", "weight", "bias") if layer.bias else ("x", "weight")
        y_ref, (gx_ref, gw_ref, gb_ref) = _conv_reference(layer, x, g, need)
        _same(y, y_ref)
        _same(gx, gx_ref)
        _same(layer.grads["weight"], gw_ref)
        if layer.bias:
            _same(layer.grads["bias"], gb_ref)


def _steps(layer, shapes, dtype, seed):
    """``(x, y, g, gx)`` of a forward and a backward pass per input shape, in order (repeated
    shapes reuse the layer's plan); neither input is modified by the passes."""
    rng = np.random.default_rng(seed)
    for shape in shapes:
        x = rng.standard_normal(shape).astype(dtype)
        x_before = x.copy()
        y = layer.forward(x)
        g = rng.standard_normal(y.shape).astype(dtype)
        g_before = g.copy()
        gx = layer.backward(g)
        np.testing.assert_array_equal(x, x_before)  # inputs are never modified
        np.testing.assert_array_equal(g, g_before)
        yield x, y, g, gx


POOLS = [
    lambda: L.MaxPool(2),
    lambda: L.MaxPool(3, 2, 1, dilation=1, ceil_mode=True),
    lambda: L.AvgPool(3, 2, 1, count_include_pad=False),
    lambda: L.AvgPool(2, ceil_mode=True, divisor_override=3),
    lambda: L.LPPool(2, norm_type=3),
    lambda: L.LPPool(2, 1, norm_type=float("inf")),
]


def _pool_reference(layer, x, g):
    if isinstance(layer, L.MaxPool):
        args = (layer.kernel_size, layer.stride, layer.padding)
        opts = {"dilation": layer.dilation, "ceil_mode": layer.ceil_mode}
        y, idx = F.max_pool(x, *args, return_indices=True, **opts)
        return y, F.max_pool_backward(g, x, idx, *args, **opts)
    if isinstance(layer, L.AvgPool):
        args = (layer.kernel_size, layer.stride, layer.padding)
        opts = {
            "ceil_mode": layer.ceil_mode,
            "count_include_pad": layer.count_include_pad,
            "divisor_override": layer.divisor_override,
        }
        return F.avg_pool(x, *args, **opts), F.avg_pool_backward(g, x, *args, **opts)
    args = (layer.norm_type, layer.kernel_size, layer.stride)
    opts = {"ceil_mode": layer.ceil_mode}
    return F.lp_pool(x, *args, **opts), F.lp_pool_backward(g, x, *args, **opts)


@pytest.mark.parametrize("make", POOLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pool_layer_equals_functional_calls_bit_for_bit_every_call(make, dtype):
    layer = make()
    shapes = [(4, 3, 9, 8), (4, 3, 9, 8), (2, 3, 9, 8), (4, 3, 12, 7)]
    for x, y, g, gx in _steps(layer, shapes, dtype, seed=2):
        y_ref, gx_ref = _pool_reference(layer, x, g)
        _same(y, y_ref)
        _same(gx, gx_ref)


def test_a_new_input_shape_gets_a_new_plan_and_old_shapes_stay_right():
    rng = np.random.default_rng(3)
    conv, pool = L.Conv(1, 2, 3), L.MaxPool(2)
    shapes = [(2, 1, 8, 8), (2, 1, 10, 6), (1, 1, 8, 8), (3, 1, 7, 9), (2, 1, 6, 6), (2, 1, 8, 8)]
    for shape in shapes:  # more shapes than a layer keeps: the oldest plans are dropped
        x = rng.standard_normal(shape).astype(np.float32)
        y = conv.forward(x)
        assert y.shape == (shape[0], 2, shape[2] - 2, shape[3] - 2)
        _same(y, F.conv(x, conv.params["weight"], conv.params["bias"]))
        p = pool.forward(y)
        _same(p, F.max_pool(y, 2))


def test_changed_options_and_weights_are_used_at_the_next_call():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 8, 8))
    conv = L.Conv(2, 3, 3, padding=1)
    conv.forward(x)
    conv.padding_mode = "reflect"  # an attribute changed after the first call
    w, b = conv.params["weight"], conv.params["bias"]
    _same(conv.forward(x), F.conv(x, w, b, padding=1, padding_mode="reflect"))
    conv.padding = 2
    _same(conv.forward(x), F.conv(x, w, b, padding=2, padding_mode="reflect"))
    conv.params["weight"] = rng.standard_normal(w.shape)  # new values, same shape
    _same(conv.forward(x), F.conv(x, conv.params["weight"], b, padding=2, padding_mode="reflect"))
    conv.astype(np.float32)  # a new dtype: a new plan in float32
    y = conv.forward(x.astype(np.float32))
    assert y.dtype == np.float32
    _same(y, F.conv(x.astype(np.float32), conv.params["weight"], conv.params["bias"], padding=2,
                    padding_mode="reflect"))  # fmt: skip
    pool = L.MaxPool(2)
    pool.forward(x)
    pool.stride = 1
    _same(pool.forward(x), F.max_pool(x, 2, 1))
    pool.kernel_size = np.array([2, 3])  # options that compare elementwise are handled
    _same(pool.forward(x), F.max_pool(x, (2, 3), 1))
    _same(pool.forward(x), F.max_pool(x, (2, 3), 1))


def test_other_operands_take_the_functional_path_with_its_checks():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 2, 6, 6)).astype(np.float32)
    conv = L.Conv(2, 3, 3)
    y = conv.forward(x)
    w = conv.params["weight"]
    # a float64 gradient for a float32 layer: computed in float64, as F.conv_backward does
    g64 = rng.standard_normal(y.shape)
    gx = conv.backward(g64)
    gx_ref, gw_ref, _ = F.conv_backward(g64, x, w)
    _same(gx, gx_ref)
    _same(conv.grads["weight"], gw_ref)
    with pytest.raises(ValueError, match="grad_out must have the shape"):
        conv.backward(np.zeros((2, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match="grad_out must have shape"):
        pool = L.MaxPool(2)
        pool.forward(x)
        pool.backward(np.zeros((2, 2, 2, 2), np.float32))
    # mixed dtypes (float64 input, float32 weights) compute in float64, as F.conv does
    x64 = x.astype(np.float64)
    _same(conv.forward(x64), F.conv(x64, w, conv.params["bias"]))
    # a bad option set after the first call is refused by F's own check
    conv.padding_mode = "mirror"
    with pytest.raises(ValueError, match="padding_mode"):
        conv.forward(x)


def test_layers_with_plans_pickle_and_copy():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 1, 28, 28)).astype(np.float32)
    model = nn.models.lenet5((1, 28, 28), pool="avg")
    y = model.forward(x)
    for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        _same(clone.forward(x), y)
    _same(model.forward(x), y)


def test_training_steps_with_plans_equal_steps_through_functional(monkeypatch):
    """A model trained with the layers' plans is bit for bit the model trained through the
    functional calls (the plans disabled: every layer validates and plans at every call)."""
    rng = np.random.default_rng(7)
    X = rng.random((40, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 40)

    def train():
        model = nn.models.lenet5((1, 28, 28), random_state=0)
        opt, loss = nn.SGD(model, lr=0.05, momentum=0.9), nn.CrossEntropy()
        values = [model.train_step(X[i : i + 16], y[i : i + 16], loss, opt) for i in (0, 16, 32)]
        return values, model.params

    values, params = train()
    monkeypatch.setattr(L.Layer, "planned", lambda self, key, options, build: None)
    ref_values, ref_params = train()
    assert values == ref_values
    for key in params:
        _same(params[key], ref_params[key])


def test_backend_errors_come_from_the_functional_call(monkeypatch):
    from sigconv import _backend

    monkeypatch.setattr(_backend, "cuda_status", lambda: (False, "no GPU here"))
    x = np.zeros((1, 1, 6, 6), np.float32)
    for layer in (L.Conv(1, 2, 3, backend="cuda"), L.MaxPool(2, backend="cuda")):
        with pytest.raises(RuntimeError, match="backend='cuda' is not available: no GPU here"):
            layer.forward(x)
    with pytest.raises(ValueError, match="backend must be one of"):
        L.AvgPool(2, backend="gpu").forward(x)


def test_threads_sharing_a_layer_get_their_own_results():
    """Dask's threaded scheduler predicts with one model from several threads at once."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(8)
    conv, pool = L.Conv(2, 3, 3, padding=1), L.MaxPool(2)
    conv.build((2, 8, 8), rng, np.float32)
    xs = [
        rng.standard_normal((1 + i % 3, 2, 6 + 2 * (i % 5), 8)).astype(np.float32)
        for i in range(40)
    ]

    def run(x):
        return pool.forward(conv.forward(x, training=False), training=False)

    with ThreadPoolExecutor(4) as ex:
        outs = list(ex.map(run, xs))
    w, b = conv.params["weight"], conv.params["bias"]
    for x, y in zip(xs, outs):
        _same(y, F.max_pool(F.conv(x, w, b, padding=1), 2))

"""Layers: backward passes vs finite differences (an independent loop here and gradcheck),
values and gradients vs torch.nn, the lazy-size argument rule, configs, input handling."""

import copy

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sigconv import _geometry, nn
from sigconv.nn import layers as L
from tests.tolerance import assert_close

H = 1e-6


def _numeric(layer, x, proj, *, training=True, seed=None):
    """Central differences of sum(proj * layer(x)) over x and every weight (a plain loop)."""

    def f():
        if seed is not None:
            layer.rng = np.random.default_rng(seed)
        return float(np.sum(proj * layer.forward(x, training)))

    out = {}
    for name, arr in [("x", x), *layer.params.items()]:
        g = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + H
            up = f()
            arr[idx] = old - H
            down = f()
            arr[idx] = old
            g[idx] = (up - down) / (2 * H)
        out[name] = g
    return out


def _analytic(layer, x, proj, *, training=True, seed=None):
    if seed is not None:
        layer.rng = np.random.default_rng(seed)
    layer.forward(x, training)
    gx = layer.backward(proj)
    return {"x": gx, **layer.grads}


def _positive(shape, rng):
    return rng.uniform(0.1, 2.0, shape)


def _normal(shape, rng):
    return rng.standard_normal(shape)


# (id, factory, input shape, input generator, training, stochastic)
CASES = [
    ("conv2d", lambda: L.Conv(2, 3, 3, stride=2, padding=1), (2, 2, 5, 6), _normal, True, False),
    (
        "conv1d_dil_groups",
        lambda: L.Conv(4, 4, 3, dilation=2, groups=2, padding="same"),
        (2, 4, 9),
        _normal,
        True,
        False,
    ),
    (
        "conv3d_reflect",
        lambda: L.Conv(2, 2, 2, padding=1, padding_mode="reflect"),
        (1, 2, 4, 3, 3),
        _normal,
        True,
        False,
    ),
    ("conv_nobias_lazy", lambda: L.Conv(3, (2, 3), bias=False), (2, 2, 4, 5), _normal, True, False),
    ("dense", lambda: L.Dense(5, 3), (4, 5), _normal, True, False),
    ("dense_nobias_lazy", lambda: L.Dense(3, bias=False), (4, 5), _normal, True, False),
    ("relu", L.ReLU, (3, 2, 4), _normal, True, False),
    ("leaky_relu", lambda: L.LeakyReLU(0.1), (3, 7), _normal, True, False),
    ("sigmoid", L.Sigmoid, (3, 2, 4), _normal, True, False),
    ("tanh", L.Tanh, (3, 5), _normal, True, False),
    ("softmax", L.Softmax, (3, 4, 2), _normal, True, False),
    ("softmax_last", lambda: L.Softmax(-1), (3, 2, 5), _normal, True, False),
    ("dropout", lambda: L.Dropout(0.3), (4, 6), _normal, True, True),
    ("flatten", L.Flatten, (2, 3, 2, 2), _normal, True, False),
    ("maxpool2d", lambda: L.MaxPool(2), (2, 2, 4, 5), _normal, True, False),
    ("maxpool1d_pad", lambda: L.MaxPool(3, 2, 1), (2, 2, 7), _normal, True, False),
    ("maxpool3d", lambda: L.MaxPool(2), (1, 2, 4, 4, 2), _normal, True, False),
    (
        "avgpool_nopadcount",
        lambda: L.AvgPool(3, 2, 1, count_include_pad=False),
        (2, 2, 5, 5),
        _normal,
        True,
        False,
    ),
    ("lppool2", lambda: L.LPPool(2), (2, 2, 4, 4), _normal, True, False),
    ("lppool3", lambda: L.LPPool(2, norm_type=3), (2, 2, 5), _positive, True, False),
    ("stochastic_train", lambda: L.StochasticPool(2), (2, 2, 4, 4), _positive, True, True),
    ("stochastic_eval", lambda: L.StochasticPool(2), (2, 2, 4, 4), _positive, False, False),
    ("spectral", lambda: L.SpectralPool((3, 4)), (2, 2, 6, 7), _normal, True, False),
    ("global_avg", L.GlobalAvgPool, (2, 3, 4, 3), _normal, True, False),
    ("global_max", L.GlobalMaxPool, (2, 3, 5), _normal, True, False),
]


@pytest.mark.parametrize(
    "factory, shape, gen, training, stochastic",
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_backward_matches_finite_differences(factory, shape, gen, training, stochastic):
    rng = np.random.default_rng(7)
    layer = factory()
    layer.build(shape[1:], np.random.default_rng(3), np.float64)
    for key in layer.params:  # non-zero biases, so their gradients are exercised
        layer.params[key] += rng.standard_normal(layer.params[key].shape) * 0.1
    x = gen(shape, rng)
    seed = 11 if stochastic else None
    y = layer.forward(x, training)
    proj = rng.standard_normal(y.shape)
    analytic = _analytic(layer, x, proj, training=training, seed=seed)
    numeric = _numeric(layer, x, proj, training=training, seed=seed)
    assert set(analytic) == set(numeric)
    for name in numeric:
        assert analytic[name].shape == numeric[name].shape, name
        np.testing.assert_allclose(
            analytic[name], numeric[name], rtol=1e-6, atol=1e-7, err_msg=name
        )
    # the library's gradcheck agrees (it works on its own float64 copy)
    report = nn.gradcheck(layer, x, seed=1, training=training)
    assert report.ok


# --- against torch -------------------------------------------------------------------------------


def _torch():
    return pytest.importorskip("torch")


def _torch_check(layer, tlayer_fn, x, *, param_map=None, atol=1e-10):
    """Run layer and torch function on x (float64): values, input and weight gradients."""
    torch = _torch()
    y = layer.forward(x)
    g = np.random.default_rng(5).standard_normal(y.shape)
    gx = layer.backward(g)
    xt = torch.tensor(x, requires_grad=True)
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in layer.params.items()}
    yt = tlayer_fn(xt, tparams)
    yt.backward(torch.tensor(g))
    assert_close(y, yt.detach().numpy(), dtype=np.float64)
    assert_close(gx, xt.grad.numpy(), dtype=np.float64)
    for k, t in tparams.items():
        assert_close(layer.grads[k], t.grad.numpy(), dtype=np.float64, err_msg=k)


CONV_GRID = [
    # (spatial, kernel, stride, padding, dilation, groups, padding_mode, c_in, c_out)
    ((9,), 3, 1, 0, 1, 1, "zeros", 2, 3),
    ((10,), 4, 2, 2, 2, 2, "circular", 4, 2),
    ((7, 8), 3, 1, "same", 1, 1, "zeros", 3, 4),
    ((7, 6), (3, 2), (2, 1), (1, 0), (1, 2), 3, "reflect", 3, 6),
    ((6, 6), 5, 1, 2, 1, 1, "replicate", 1, 6),
    ((5, 4, 6), 3, (1, 2, 1), 1, 1, 2, "zeros", 2, 4),
]


@pytest.mark.parametrize("spatial, k, s, p, d, g, mode, cin, cout", CONV_GRID)
def test_conv_layer_matches_torch(spatial, k, s, p, d, g, mode, cin, cout):
    torch = _torch()
    nd = len(spatial)
    x = np.random.default_rng(0).standard_normal((2, cin, *spatial))
    layer = L.Conv(cin, cout, k, stride=s, padding=p, dilation=d, groups=g, padding_mode=mode)
    layer.build(x.shape[1:], np.random.default_rng(1), np.float64)
    layer.params["bias"] += 0.3
    conv = getattr(torch.nn.functional, f"conv{nd}d")

    def fn(xt, tp):
        if mode != "zeros":
            pads = [q for q in (p if isinstance(p, tuple) else (p,) * nd)[::-1] for _ in (0, 1)]
            xt = torch.nn.functional.pad(xt, pads, mode=mode)
            return conv(xt, tp["weight"], tp["bias"], stride=s, dilation=d, groups=g)
        return conv(xt, tp["weight"], tp["bias"], stride=s, padding=p, dilation=d, groups=g)

    _torch_check(layer, fn, x)


def test_dense_and_activations_match_torch():
    torch = _torch()
    tf = torch.nn.functional
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 7))
    dense = L.Dense(7, 4)
    dense.build((7,), np.random.default_rng(0), np.float64)
    dense.params["bias"] += 0.5
    _torch_check(dense, lambda xt, tp: tf.linear(xt, tp["weight"], tp["bias"]), x)
    x4 = rng.standard_normal((3, 4, 5, 2)) * 3
    for layer, fn in [
        (L.ReLU(), tf.relu),
        (L.LeakyReLU(0.2), lambda t: tf.leaky_relu(t, 0.2)),
        (L.Sigmoid(), torch.sigmoid),
        (L.Tanh(), torch.tanh),
        (L.Softmax(), lambda t: tf.softmax(t, dim=1)),
        (L.Softmax(dim=2), lambda t: tf.softmax(t, dim=2)),
        (L.Flatten(), lambda t: torch.flatten(t, 1)),
    ]:
        _torch_check(layer, lambda xt, tp, fn=fn: fn(xt), x4)


def test_pool_layers_match_torch():
    torch = _torch()
    tf = torch.nn.functional
    rng = np.random.default_rng(4)
    x2 = rng.standard_normal((2, 3, 9, 8))
    x1 = rng.standard_normal((2, 3, 11))
    x3 = rng.standard_normal((1, 2, 4, 6, 5))
    cases = [
        (L.MaxPool(3, 2, 1), x2, lambda t: tf.max_pool2d(t, 3, 2, 1)),
        (L.MaxPool(2, ceil_mode=True), x1, lambda t: tf.max_pool1d(t, 2, ceil_mode=True)),
        (L.MaxPool(2, dilation=2), x3, lambda t: tf.max_pool3d(t, 2, dilation=2)),
        (L.AvgPool(2), x2, lambda t: tf.avg_pool2d(t, 2)),
        (
            L.AvgPool(3, 2, 1, count_include_pad=False),
            x1,
            lambda t: tf.avg_pool1d(t, 3, 2, 1, count_include_pad=False),
        ),
        (L.LPPool(2, norm_type=2), x2, lambda t: tf.lp_pool2d(t, 2, 2)),
        (L.LPPool(3, 2, norm_type=2), x1, lambda t: tf.lp_pool1d(t, 2, 3, 2)),
        (L.GlobalAvgPool(), x3, lambda t: t.mean(dim=(2, 3, 4))),
        (L.GlobalMaxPool(), x2, lambda t: t.amax(dim=(2, 3))),
    ]
    for layer, x, fn in cases:
        _torch_check(layer, lambda xt, tp, fn=fn: fn(xt), x)


def test_float32_layers_stay_float32():
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    for layer in [L.Conv(4, 3), L.MaxPool(2), L.ReLU(), L.Sigmoid(), L.GlobalAvgPool()]:
        y = layer.forward(x)
        assert y.dtype == np.float32, type(layer).__name__
        gx = layer.backward(np.ones_like(y))
        assert gx.dtype == np.float32, type(layer).__name__
        for g in layer.grads.values():
            assert g.dtype == np.float32


# --- dropout -------------------------------------------------------------------------------------


def test_dropout_statistics_and_modes():
    layer = L.Dropout(0.25)
    layer.build((1000,), np.random.default_rng(0))
    x = np.ones((20, 1000))
    y = layer.forward(x, training=True)
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.75)  # inverted dropout keeps the mean
    g = layer.backward(np.full_like(x, 2.0))
    np.testing.assert_array_equal(g, np.where(kept, 2.0 / 0.75, 0.0))
    assert layer.forward(x, training=False) is x  # identity at inference
    assert np.array_equal(layer.backward(x), x)
    a = L.Dropout(0.5)
    b = L.Dropout(0.5)
    a.build((50,), np.random.default_rng(9))
    b.build((50,), np.random.default_rng(9))
    np.testing.assert_array_equal(a.forward(x[:, :50]), b.forward(x[:, :50]))  # seeded


def test_stochastic_pool_is_seeded_and_samples_window_elements():
    x = np.random.default_rng(1).uniform(0.1, 1, (2, 3, 6, 6))
    a, b = L.StochasticPool(2), L.StochasticPool(2)
    a.build(x.shape[1:], np.random.default_rng(4))
    b.build(x.shape[1:], np.random.default_rng(4))
    ya, yb = a.forward(x), b.forward(x)
    np.testing.assert_array_equal(ya, yb)
    windows = x.reshape(2, 3, 3, 2, 3, 2).transpose(0, 1, 2, 4, 3, 5).reshape(2, 3, 3, 3, 4)
    assert np.all(np.any(windows == ya[..., None], axis=-1))
    expected = (windows**2).sum(-1) / windows.sum(-1)  # inference: probability-weighted mean
    assert_close(a.forward(x, training=False), expected, dtype=np.float64)


# --- construction rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, kwargs, expect",
    [
        ((6, 5), {}, (None, 6, 5)),
        ((6,), {"kernel_size": 5}, (None, 6, 5)),
        ((), {"out_channels": 6, "kernel_size": 5}, (None, 6, 5)),
        ((1, 6, 5), {}, (1, 6, 5)),
        ((1, 6), {"kernel_size": 5}, (1, 6, 5)),
        ((), {"in_channels": 1, "out_channels": 6, "kernel_size": 5}, (1, 6, 5)),
        ((1, 6, 5, 2, 1), {}, (1, 6, 5)),
    ],
)
def test_conv_lazy_argument_rule(args, kwargs, expect):
    layer = L.Conv(*args, **kwargs)
    assert (layer.in_channels, layer.out_channels, layer.kernel_size) == expect


def test_dense_lazy_argument_rule():
    assert (L.Dense(84).in_features, L.Dense(84).out_features) == (None, 84)
    assert (L.Dense(120, 84).in_features, L.Dense(120, 84).out_features) == (120, 84)
    assert L.Dense(84, bias=False).bias is False
    layer = L.Dense(84)
    layer.forward(np.zeros((2, 120), np.float32))
    assert layer.in_features == 120 and layer.params["weight"].shape == (84, 120)


def test_conv_infers_channels_and_dimension():
    layer = L.Conv(6, 5, padding="same")
    y = layer.forward(np.zeros((2, 3, 12), np.float32))
    assert layer.in_channels == 3 and layer.params["weight"].shape == (6, 3, 5)
    assert y.shape == (2, 6, 12)
    assert layer.output_shape == (6, 12)


@pytest.mark.parametrize(
    "make, exc, words",
    [
        (lambda: L.Conv(6), TypeError, "kernel_size"),
        (lambda: L.Conv(in_channels=1, kernel_size=5), TypeError, "out_channels"),
        (lambda: L.Conv(6, 5, bogus=1), TypeError, "bogus"),
        (lambda: L.Conv(1, 6, 5, kernel_size=3), TypeError, "kernel_size"),
        (lambda: L.Conv(0, 5), ValueError, "out_channels"),
        (lambda: L.Conv(6, 0), ValueError, "kernel_size"),
        (lambda: L.Conv(3, 6, 5, groups=4), ValueError, "groups"),
        (lambda: L.Conv(6, 5, padding_mode="wrap"), ValueError, "padding_mode"),
        (lambda: L.Conv(6, 5, weight_init="zeros"), ValueError, "weight_init"),
        (lambda: L.Dense(), TypeError, "out_features"),
        (lambda: L.Dense(2.5), TypeError, "out_features"),
        (lambda: L.Dropout(1.0), ValueError, "p"),
        (lambda: L.Softmax(dim="x"), TypeError, "dim"),
        (lambda: L.LeakyReLU("a"), TypeError, "negative_slope"),
    ],
)
def test_bad_constructor_arguments(make, exc, words):
    with pytest.raises(exc, match=words):
        make()


def test_bad_inputs_name_the_problem():
    conv = L.Conv(2, 4, 3)
    with pytest.raises(ValueError, match="input channels"):
        conv.forward(np.zeros((1, 3, 8, 8)))
    with pytest.raises(ValueError, match="axes per sample"):
        L.Conv(2, 3).forward(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="does not fit"):
        L.Conv(2, 9).forward(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="Flatten"):
        L.Dense(3, 2).forward(np.zeros((2, 4)))
    with pytest.raises(TypeError, match="x"):
        L.ReLU().forward(np.zeros((2, 2), dtype=complex))
    with pytest.raises(RuntimeError, match="before forward"):
        L.Tanh().backward(np.zeros((2, 2)))
    dense = L.Dense(4, 2)
    dense.forward(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="built for"):
        dense.forward(np.zeros((3, 5)))


def test_inputs_not_modified_and_any_layout():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((4, 2, 7, 6))
    for layer in [L.Conv(2, 3, 3), L.ReLU(), L.MaxPool(2), L.Sigmoid(), L.Softmax(), L.Flatten()]:
        layer.build(base.shape[1:], np.random.default_rng(0), np.float64)
        ref = layer.forward(base.copy())
        for x in [
            np.asfortranarray(base),
            base[::-1][::-1],
            base.astype(base.dtype.newbyteorder(">")),
            base.copy()[:, :, ::1, :],
        ]:
            before = x.copy()
            x.flags.writeable = False
            y = layer.forward(x)
            np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
            np.testing.assert_array_equal(x, before)
        g = np.ones_like(ref)
        g_before = g.copy()
        layer.backward(g)
        np.testing.assert_array_equal(g, g_before)


def test_inplace_relu_overwrites_its_input_only_when_asked():
    x = np.array([[-1.0, 2.0, -3.0]])
    y = L.ReLU().forward(x)
    assert x[0, 0] == -1.0 and y[0, 0] == 0.0
    L.ReLU(inplace=True).forward(x)
    np.testing.assert_array_equal(x, [[0.0, 2.0, 0.0]])


def test_config_round_trip_rebuilds_equal_layers():
    for layer in [
        L.Conv(6, (3, 5), stride=(1, 2), padding=((1, 0), (2, 2)), groups=1, bias=False),
        L.Dense(84),
        L.MaxPool(3, 2, 1),
        L.AvgPool(2, count_include_pad=False),
        L.LPPool(2, norm_type=3),
        L.StochasticPool(2),
        L.SpectralPool((4, 4)),
        L.Dropout(0.2),
        L.LeakyReLU(0.3),
        L.Softmax(-1),
    ]:
        clone = L.layer_from_config(type(layer).__name__, copy.deepcopy(layer.get_config()))
        assert clone.get_config() == layer.get_config()
        assert repr(clone) == repr(layer)
    with pytest.raises(ValueError, match="unknown layer"):
        L.layer_from_config("Nope", {})


def test_he_and_glorot_initialisation_statistics():
    conv = L.Conv(32, 64, 3)
    conv.build((32, 9, 9), np.random.default_rng(0))
    w = conv.params["weight"]
    assert w.dtype == np.float32 and w.shape == (64, 32, 3, 3)
    assert abs(w.std() / np.sqrt(2 / (32 * 9)) - 1) < 0.03  # He: std sqrt(2 / fan_in)
    assert np.all(conv.params["bias"] == 0)
    dense = L.Dense(100, 50, weight_init="glorot_uniform")
    dense.build((100,), np.random.default_rng(0))
    bound = np.sqrt(6 / 150)
    assert dense.params["weight"].max() <= bound and dense.params["weight"].min() >= -bound
    assert abs(dense.params["weight"].std() - bound / np.sqrt(3)) < 0.05 * bound
    again = L.Dense(100, 50, weight_init="glorot_uniform")
    again.build((100,), np.random.default_rng(0))
    np.testing.assert_array_equal(again.params["weight"], dense.params["weight"])


def test_frozen_layer_computes_no_weight_gradients():
    conv = L.Conv(2, 3, 3)
    x = np.random.default_rng(0).standard_normal((2, 2, 6, 6))
    y = conv.forward(x)
    conv.trainable = False
    gx = conv.backward(np.ones_like(y))
    assert gx.shape == x.shape and conv.grads == {}
    assert conv.backward(np.ones_like(y), need_input_grad=False) is None


# --- property: declared output shapes equal computed ones, values equal torch ------------------


@st.composite
def conv_geometry(draw):
    nd = draw(st.integers(1, 3))
    sizes = [1, 2, 3, 5, 7, 9, 17] if nd < 3 else [1, 2, 3, 5]
    spatial = tuple(draw(st.sampled_from(sizes)) for _ in range(nd))
    k = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    d = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    padding = draw(st.sampled_from([0, 1, "same", "valid", "full"]))
    groups = draw(st.sampled_from([1, 2]))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    return spatial, k, s, d, padding, groups, cin, cout


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(conv_geometry())
def test_conv_layer_shapes_and_values_property(geom):
    torch = _torch()
    spatial, k, s, d, padding, groups, cin, cout = geom
    layer = L.Conv(cout, k, stride=s, padding=padding, dilation=d, groups=groups)
    try:
        out_shape = layer.compute_output_shape((cin, *spatial))
    except ValueError:
        assume(False)  # kernel larger than the padded input: not a case
    layer.build((cin, *spatial), np.random.default_rng(0), np.float64)
    x = np.random.default_rng(1).standard_normal((2, cin, *spatial))
    y = layer.forward(x)
    assert y.shape[1:] == out_shape == layer.output_shape
    nd = len(spatial)
    pads = _geometry.nn_padding(padding, spatial, k, s, d)
    xt = torch.nn.functional.pad(torch.tensor(x), [q for pr in pads[::-1] for q in pr])
    conv = getattr(torch.nn.functional, f"conv{nd}d")
    ref = conv(
        xt,
        torch.tensor(layer.params["weight"]),
        torch.tensor(layer.params["bias"]),
        stride=s,
        dilation=d,
        groups=groups,
    )
    assert_close(y, ref.numpy(), dtype=np.float64)


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.MaxPool(3, 2, 1, ceil_mode=True),
        lambda: nn.MaxPool((2, 3), dilation=2),
        lambda: nn.AvgPool(2, ceil_mode=True, count_include_pad=False),
        lambda: nn.LPPool(2, norm_type=3),
        lambda: nn.StochasticPool(2, 1),
        lambda: nn.SpectralPool((4, 3)),
    ],
)
def test_pool_layers_know_their_output_shape_without_pooling(make, monkeypatch):
    """The shape comes from the geometry, not from a dry run (a GPU launch or an FFT)."""
    shape = (3, 9, 7)

    def refuse(*args, **kwargs):
        raise AssertionError("build ran the pooling")

    for name in ("max_pool", "avg_pool", "lp_pool", "stochastic_pool", "spectral_pool"):
        monkeypatch.setattr(nn.functional, name, refuse)
    layer = make()
    out = layer.build(shape)
    monkeypatch.undo()
    x = np.abs(np.random.default_rng(0).standard_normal((2, *shape))).astype(np.float32)
    y = make().forward(x, training=False)
    assert tuple(out) == tuple(layer.output_shape) == y.shape[1:]


def test_pool_layer_build_still_rejects_bad_geometry():
    with pytest.raises(ValueError, match="padding"):
        nn.MaxPool(2, padding=2).build((1, 8, 8))
    with pytest.raises(ValueError, match="empty"):
        nn.AvgPool(5).build((1, 3, 3))
    with pytest.raises(ValueError, match="output_size"):
        nn.SpectralPool(9).build((1, 8, 8))


def test_every_layer_imports_from_the_package_and_computes_through_functional():
    import importlib
    import inspect

    for name in L.__all__:
        assert getattr(importlib.import_module("sigconv.nn.layers"), name) is getattr(L, name)
    assert set(L.LAYERS) == set(L.__all__) - {"Layer", "layer_from_config"}
    assert all(getattr(nn, name) is cls for name, cls in L.LAYERS.items())
    # only the base class tells host from device; the layers call sigconv.nn.functional
    for module in ("_weighted", "_activations", "_core", "_pooling"):
        source = inspect.getsource(importlib.import_module(f"sigconv.nn.layers.{module}"))
        assert "is_device" not in source and "cuda_module" not in source, module
        assert len(source.splitlines()) < 500, module

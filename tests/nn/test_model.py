"""Sequential: forward/backward chaining, training step, summary, save/load, freezing."""

import pathlib
import pickle

import numpy as np
import pytest

from sigconv import nn
from sigconv._cpu import conv_outvec
from sigconv.nn import layers as L
from sigconv.nn.models import lenet5


def _small(**kw):
    return nn.Sequential(
        [
            L.Conv(4, 3, padding="same"),
            L.ReLU(inplace=True),
            L.MaxPool(2),
            L.Flatten(),
            L.Dropout(0.2),
            L.Dense(8),
            L.Tanh(),
            L.Dense(3),
        ],
        **kw,
    )


def _data(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 2, 6, 6)).astype(np.float32), rng.integers(0, 3, n)


def test_forward_and_backward_chain_the_layers():
    model = _small()
    x, _ = _data()
    y = model.forward(x, training=False)
    h = x
    for layer in model.layers:
        h = layer.forward(h, training=False)
    np.testing.assert_array_equal(y, h)
    g = np.ones_like(y)
    gx = model.backward(g)
    manual = g
    for layer in reversed(model.layers):
        manual = layer.backward(manual)
    np.testing.assert_array_equal(gx, manual)
    assert gx.shape == x.shape and gx.dtype == np.float32


def test_lazy_build_infers_shapes_dtype_and_is_seeded():
    x, _ = _data()
    a, b = _small(random_state=3), _small(random_state=3)
    ya, yb = a.forward(x), b.forward(x)
    np.testing.assert_array_equal(ya, yb)  # same seed: same weights and dropout masks
    assert a.built and a.dtype == np.float32 and a.input_shape == (2, 6, 6)
    assert a.layers[0].params["weight"].shape == (4, 2, 3, 3)
    assert a.layers[5].params["weight"].shape == (8, 36)
    c = _small(random_state=4)
    assert not np.array_equal(c.forward(x), ya)
    d = _small()
    d.forward(x.astype(np.float64))
    assert d.dtype == np.float64


def test_build_with_rng_and_dtype_and_layer_names():
    model = _small().build((2, 6, 6), rng=np.random.default_rng(5), dtype=np.float64)
    again = _small().build((2, 6, 6), rng=5, dtype=np.float64)
    for k, v in model.params.items():
        assert v.dtype == np.float64
        np.testing.assert_array_equal(v, again.params[k])
    names = [layer.name for layer in model.layers]
    assert names[:3] == ["conv", "relu", "max_pool"] and names[5:] == ["dense", "tanh", "dense_1"]
    assert model.output_shape == (3,)


def test_train_step_returns_the_loss_and_updates_weights():
    model = _small()
    x, y = _data()
    model.build(x.shape[1:])
    opt = nn.SGD(model, lr=0.1)
    before = {k: v.copy() for k, v in model.params.items()}
    loss = nn.CrossEntropy()
    state = [lay.rng.bit_generator.state for lay in model.layers]
    value = model.train_step(x, y, loss, opt)
    assert isinstance(value, float)
    # the returned value is the loss of the training-mode forward pass before the update
    for lay, st in zip(model.layers, state):
        lay.rng.bit_generator.state = st
    replay = _small().build(x.shape[1:])
    for lay, st in zip(replay.layers, state):
        lay.rng.bit_generator.state = st
    for k, v in before.items():
        replay.params[k][...] = v
    assert value == nn.CrossEntropy().forward(replay.forward(x, training=True), y)
    for k, v in model.params.items():
        assert not np.array_equal(v, before[k]), k


def test_training_reduces_loss():
    model = _small()
    x, y = _data(24, 1)
    opt = nn.Adam(model, lr=0.01)
    loss = nn.CrossEntropy()
    first = nn.CrossEntropy().forward(model.forward(x, training=False), y)
    for _ in range(40):
        model.train_step(x, y, loss, opt)
    last = nn.CrossEntropy().forward(model.forward(x, training=False), y)
    assert last < 0.5 * first


def test_predict_and_predict_proba():
    model = _small()
    x, y = _data(10)
    proba = model.predict_proba(x, batch_size=3)
    assert proba.shape == (10, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    logits = model.forward(x, training=False)
    np.testing.assert_array_equal(model.predict(x, batch_size=4), logits.argmax(1))
    assert model.score(x, y) == np.mean(logits.argmax(1) == y)
    soft = nn.Sequential([L.Flatten(), L.Dense(3), L.Softmax()])
    p = soft.predict_proba(x)
    np.testing.assert_allclose(p, soft.forward(x, training=False))
    with pytest.raises(ValueError, match="batch_size"):
        model.predict(x, batch_size=0)


def test_input_is_never_modified_even_with_inplace_first_layer():
    model = nn.Sequential([L.ReLU(inplace=True), L.Flatten(), L.Dense(2)])
    x, _ = _data()
    before = x.copy()
    model.forward(x)
    np.testing.assert_array_equal(x, before)


def test_summary_is_keras_style_and_lenet5_totals_62006():
    text = lenet5().summary()
    assert "Total params: 62,006" in text
    assert "Trainable params: 62,006" in text and "Non-trainable params: 0" in text
    assert "(None, 6, 28, 28)" in text and "(None, 120, 1, 1)" in text and "(None, 10)" in text
    lines = [ln for ln in text.splitlines() if "(Conv)" in ln]
    assert [ln.split()[-1] for ln in lines] == ["456", "2,416", "48,120"]
    model = lenet5()
    model.freeze([0, 3])
    text = model.summary()
    assert "Trainable params: 59,134" in text and "Non-trainable params: 2,872" in text
    with pytest.raises(RuntimeError, match="not built"):
        _small().summary()


def test_save_load_round_trip_is_exact(tmp_path):
    model = _small(random_state=7)
    x, y = _data()
    opt = nn.SGD(model, lr=0.05, momentum=0.9)
    for _ in range(3):
        model.train_step(x, y, nn.CrossEntropy(), opt)
    model.freeze([0])
    path = tmp_path / "model.weights"  # the exact name is kept (no .npz appended)
    model.save(path)
    assert path.exists()
    loaded = nn.Sequential.load(path)
    assert loaded.get_config() == model.get_config()
    assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers]
    assert not loaded.layers[0].trainable and loaded.layers[5].trainable
    for k, v in model.params.items():
        w = loaded.params[k]
        assert w.dtype == v.dtype
        np.testing.assert_array_equal(w, v)
    np.testing.assert_array_equal(
        loaded.forward(x, training=False), model.forward(x, training=False)
    )
    assert loaded.summary() == model.summary()
    # npz holds no pickles: it opens with allow_pickle=False and only arrays inside
    with np.load(path, allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)


def test_save_load_unbuilt_and_float64(tmp_path):
    model = _small()
    model.save(tmp_path / "a.npz")
    loaded = nn.Sequential.load(tmp_path / "a.npz")
    assert not loaded.built and len(loaded) == len(model)
    m64 = _small().build((2, 6, 6), dtype=np.float64)
    m64.save(tmp_path / "b.npz")
    back = nn.Sequential.load(tmp_path / "b.npz")
    assert back.dtype == np.float64
    for k, v in m64.params.items():
        np.testing.assert_array_equal(back.params[k], v)
    np.save(tmp_path / "c.npy", np.zeros(3))
    np.savez(tmp_path / "c.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a sigconv model"):
        nn.Sequential.load(tmp_path / "c.npz")


def test_load_of_other_files_says_not_a_model_and_never_suggests_pickle(tmp_path):
    import pickle

    np.save(tmp_path / "one.npy", np.zeros(3))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "notes.txt").write_text("not a model")
    (tmp_path / "model.pkl").write_bytes(pickle.dumps({"weights": [1, 2]}))
    (tmp_path / "empty.npz").write_bytes(b"")
    for name in ("one.npy", "objects.npy", "notes.txt", "model.pkl", "empty.npz"):
        with pytest.raises(ValueError, match="not a sigconv model") as info:
            nn.Sequential.load(tmp_path / name)
        assert "allow_pickle" not in str(info.value), name


def test_freezing_keeps_frozen_weights_and_skips_their_backward():
    model = _small()
    x, y = _data()
    model.build(x.shape[1:])
    model.train_only_last(1)
    assert [lay.name for lay in model.trainable_layers] == ["dense_1"]
    frozen = {k: v.copy() for k, v in model.params.items() if not k.startswith("7.")}
    opt = nn.Adam(model, lr=0.01)
    head = model.layers[7].params["weight"].copy()
    for _ in range(3):
        model.train_step(x, y, nn.CrossEntropy(), opt)
    for k, v in frozen.items():
        np.testing.assert_array_equal(model.params[k], v)
    assert not np.array_equal(model.layers[7].params["weight"], head)
    assert model.layers[0].grads == {}  # the frozen conv was never differentiated
    model.unfreeze("conv")
    assert model.layers[0].trainable
    model.freeze(slice(0, 6))
    assert [lay.name for lay in model.trainable_layers] == ["dense_1"]
    model.unfreeze()
    assert len(model.trainable_layers) == 3


def test_bad_arguments():
    with pytest.raises(TypeError, match="layers"):
        nn.Sequential([L.ReLU(), "relu"])
    with pytest.raises(ValueError, match="without layers"):
        nn.Sequential().build((3,))
    model = _small()
    with pytest.raises(ValueError, match="layer 'conv' \\(Conv\\)"):
        model.build((3, 6, 6, 6, 6))
    model = _small().build((2, 6, 6))
    with pytest.raises(RuntimeError, match="built"):
        model.add(L.ReLU())
    with pytest.raises(ValueError, match="no layer named"):
        model.freeze("nope")
    with pytest.raises(ValueError, match="index"):
        model.freeze(99)
    with pytest.raises(ValueError, match="k must"):
        model.train_only_last(-1)
    with pytest.raises(TypeError, match="rng"):
        _small().build((2, 6, 6), rng="seed")
    with pytest.raises(TypeError, match="dtype"):
        nn.Sequential([L.ReLU()], dtype=np.int32)


DATA = pathlib.Path(__file__).parent / "data"


@pytest.mark.parametrize("name", ["every_layer", "global_avg"])
def test_files_saved_before_the_layers_package_load_and_predict_the_same(name):
    """Written by sigconv before nn/layers.py became a package (one model holds every layer
    class but GlobalAvgPool, the other that one): classes are found by name."""
    model = nn.Sequential.load(DATA / f"saved_v1_{name}.npz")
    ref = np.load(DATA / "saved_v1_outputs.npz")
    assert model.name == name and model.dtype == np.float64
    np.testing.assert_allclose(model.forward(ref["x"], training=False), ref[name], rtol=1e-12)
    if name == "every_layer":
        assert {type(lay).__name__ for lay in model.layers} | {"GlobalAvgPool"} == set(L.LAYERS)
        assert not model.layers[0].trainable and model.layers[-1].trainable


def test_clear_caches_drops_what_backward_needs():
    model = _small(random_state=0)
    x, y = _data()
    model.forward(x)
    assert all(layer._cache is not None for layer in model.layers)
    small = len(pickle.dumps(model.clear_caches()))
    assert model.clear_caches() is model
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(np.ones((6, 3), np.float32))
    model.forward(x)
    assert len(pickle.dumps(model)) > small + x.nbytes  # the caches hold x
    layer = L.Dense(2)
    layer.forward(np.ones((1, 3)))
    assert layer.clear_cache() is layer
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((1, 2)))


# --- a Conv followed by a ReLU runs as one pass (Conv.forward_relu, ReLU.adopt) -------------

FUSED_NETS = [
    # (input shape, layers, whether the output-channel kernel applies the ReLU in its stores):
    # the CPU routes a fused pair can take
    ((4, 6, 14, 14), lambda: [L.Conv(16, 5), L.ReLU()], True),  # row pairs
    ((4, 6, 12, 12), lambda: [L.Conv(32, 5), L.ReLU(inplace=True)], True),  # runs of 8
    ((3, 6, 12, 12), lambda: [L.Conv(16, 5, padding=1, padding_mode="reflect"), L.ReLU()], True),
    ((4, 1, 28, 28), lambda: [L.Conv(6, 5, padding=2), L.ReLU()], False),  # LeNet conv1
    ((2, 130, 6, 6), lambda: [L.Conv(8, 3), L.ReLU()], False),  # many input channels
    ((2, 2, 300), lambda: [L.Conv(4, 81, stride=2), L.ReLU()], False),  # 1-D, long kernel
    ((2, 4, 8, 8), lambda: [L.Conv(8, 3, groups=2, bias=False), L.ReLU()], False),
    ((2, 3, 5, 6, 7), lambda: [L.Conv(8, 3), L.ReLU()], True),  # 3-D, the wide grid
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(FUSED_NETS)))
def test_fused_conv_relu_is_the_two_layers_bit_for_bit(monkeypatch, case, dtype):
    shape, make, in_kernel = FUSED_NETS[case]
    kernel_relu = []
    real = conv_outvec.direct_corr_outvec
    monkeypatch.setattr(
        conv_outvec,
        "direct_corr_outvec",
        lambda *a, relu=False: kernel_relu.append(relu) or real(*a, relu=relu),
    )
    rng = np.random.default_rng(case)
    x = rng.standard_normal(shape).astype(dtype)
    x[0, 0, ..., :2] = np.nan  # NaN stays NaN through the ReLU
    net = nn.Sequential([*make(), L.Flatten(), L.Dense(3)], random_state=case, dtype=dtype)
    net.build(shape[1:])
    conv, relu = net.layers[0], net.layers[1]
    if "bias" in conv.params:  # built as zeros: values of both signs
        conv.params["bias"][:] = rng.standard_normal(conv.params["bias"].shape)
    # the reference: each layer on its own, the ReLU by NumPy
    want_conv = conv.forward(x.copy())
    want = np.maximum(want_conv, 0)
    # the model must not run the ReLU layer's own forward pass
    monkeypatch.setattr(L.ReLU, "_forward", lambda *a: pytest.fail("ReLU ran unfused"))
    out = net.forward(x, training=True)
    assert (True in kernel_relu) is in_kernel  # the route this case is there for
    y = relu._cache
    np.testing.assert_array_equal(y, want)  # NaN where NaN
    assert not np.signbit(y[y == 0]).any()  # +0.0 for every x <= 0, as F.relu
    h = want
    for layer in net.layers[2:]:
        h = layer.forward(h)
    np.testing.assert_array_equal(out, h)
    # backward through the pair: the ReLU's own backward from the adopted output
    g = rng.standard_normal(out.shape).astype(dtype)
    gx = net.backward(g)
    manual = g
    for layer in reversed(net.layers[2:]):
        manual = layer.backward(manual)
    manual = np.where(want > 0, manual, 0)
    gw_fused = conv.grads["weight"].copy()
    conv.forward(x.copy())
    np.testing.assert_array_equal(gx, conv.backward(manual))
    np.testing.assert_array_equal(gw_fused, conv.grads["weight"])


def test_only_a_conv_then_a_plain_relu_is_fused(monkeypatch):
    fused = []
    real = L.Conv.forward_relu
    monkeypatch.setattr(L.Conv, "forward_relu", lambda *a, **k: fused.append(1) or real(*a, **k))

    class MyReLU(L.ReLU):
        pass

    x = np.random.default_rng(0).standard_normal((2, 2, 6, 6)).astype(np.float32)
    for layers, n in (
        ([L.Conv(4, 3), L.ReLU(), L.Conv(4, 3), L.ReLU()], 2),
        ([L.Conv(4, 3), L.LeakyReLU(), L.Conv(4, 3), MyReLU()], 0),
        ([L.ReLU(), L.Conv(4, 3), L.Tanh()], 0),
        ([L.Conv(4, 3)], 0),
    ):
        fused.clear()
        net = nn.Sequential(layers).build(x.shape[1:])
        want = x
        for layer in net.layers:
            want = layer.forward(want)
        np.testing.assert_array_equal(net.forward(x), want)
        assert len(fused) == n


def test_fused_relu_keeps_the_input_and_trains_like_the_layers():
    # LeNet-5 (three Conv, ReLU pairs): a training step from the same weights equals the one
    # the layers take one by one (the model's default ReLUs are not in place)
    x = np.random.default_rng(1).standard_normal((8, 1, 28, 28)).astype(np.float32)
    x0 = x.copy()
    y = np.arange(8) % 10
    a, b = lenet5((1, 28, 28), random_state=0), lenet5((1, 28, 28), random_state=0)
    loss = nn.CrossEntropy()
    a.train_step(x, y, loss, nn.SGD(a, lr=0.1))
    h = x
    for layer in b.layers:
        h = layer.forward(h)
    loss.forward(h, y)
    g = loss.backward()
    for layer in reversed(b.layers):
        g = layer.backward(g)
    nn.SGD(b, lr=0.1).step()
    np.testing.assert_array_equal(x, x0)
    for k, v in a.params.items():
        np.testing.assert_array_equal(v, b.params[k], err_msg=k)


# --- a ReLU followed by a MaxPool: the ReLU's mask on the pooled gradient -------------------

POOLED_NETS = [
    # (input shape, layers between the input and the head)
    ((3, 2, 8, 8), lambda: [L.Conv(16, 3, padding=1), L.ReLU(), L.MaxPool(2)]),
    ((2, 6, 14, 14), lambda: [L.Conv(16, 5), L.ReLU(inplace=True), L.MaxPool(3, stride=2)]),
    ((2, 3, 9, 9), lambda: [L.ReLU(), L.MaxPool(3, stride=2, padding=1, ceil_mode=True)]),
    ((2, 3, 20), lambda: [L.Conv(4, 3), L.ReLU(), L.MaxPool(2, dilation=2)]),
    ((2, 2, 4, 6, 6), lambda: [L.Conv(8, 3, padding=1), L.ReLU(), L.MaxPool(2)]),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(POOLED_NETS)))
def test_relu_then_max_pool_backward_is_the_two_layers_bit_for_bit(monkeypatch, case, dtype):
    shape, make = POOLED_NETS[case]
    rng = np.random.default_rng(case)
    x = rng.standard_normal(shape).astype(dtype)
    x[0, 0, ..., :3] = -1.0  # whole windows of zeros after a first ReLU: their gradient masked
    net = nn.Sequential([*make(), L.Flatten(), L.Dense(5)], random_state=case, dtype=dtype)
    net.build(shape[1:])
    if type(net.layers[0]) is L.Conv:  # a channel that the ReLU zeroes: its windows masked
        net.layers[0].params["bias"][0] = -1e3
    out = net.forward(x)
    pool = next(layer for layer in net.layers if type(layer) is L.MaxPool)
    assert (pool._cache[2] == 0).any()  # windows the mask zeroes
    g = rng.standard_normal(out.shape).astype(dtype)
    # the reference: every layer's own backward pass (the ReLU's included)
    manual = g
    for layer in reversed(net.layers):
        manual = layer.backward(manual)
    want_w = {k: v.copy() for k, v in net.grads.items()}
    monkeypatch.setattr(L.ReLU, "_backward", lambda *a: pytest.fail("ReLU ran unfused"))
    assert net.backward(g).tobytes() == manual.tobytes()  # signed zeros too
    for k, v in net.grads.items():
        assert v.tobytes() == want_w[k].tobytes(), k


@pytest.mark.parametrize("tail", [[], [L.Flatten], [L.Dropout]])
def test_pooled_output_the_model_returns_is_not_used_as_the_mask(tail):
    # the caller may change what forward returned in place: then the ReLU's own pass runs
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 8, 8))
    layers = [L.Conv(4, 3, padding=1), L.ReLU(), L.MaxPool(2)] + [t() for t in tail]
    net = nn.Sequential(layers).build(x.shape[1:])
    out = net.forward(x, training=False)
    g = rng.standard_normal(out.shape)
    manual = g
    for layer in reversed(net.layers):
        manual = layer.backward(manual)
    out -= 10.0  # every pooled value now <= 0: as a mask it would zero every gradient
    np.testing.assert_array_equal(net.backward(g), manual)
    assert np.abs(manual).sum() > 0


def test_max_pool_backward_relu_masks_nan_and_inf_gradients():
    # a ReLU output with windows of zeros: their pooled gradients, even NaN or infinite, give 0
    relu, pool = L.ReLU(), L.MaxPool(2)
    x = np.array([[[[-1.0, -2.0, 1.0, 0.5], [-3.0, -1.0, 0.2, 2.0]]]])
    y = pool.forward(relu.forward(x))
    g = np.array([[[[np.nan, np.inf]]]])
    want = relu.backward(pool.backward(g))
    got = pool.backward_relu(g)
    np.testing.assert_array_equal(got, want)
    assert got[0, 0, 0, 0] == 0 and got[0, 0, 1, 3] == np.inf and y[0, 0, 0, 0] == 0
    with pytest.raises(RuntimeError, match="before forward"):
        L.MaxPool(2).backward_relu(g)

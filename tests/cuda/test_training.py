"""End-to-end GPU training: layers, losses, optimizers, Sequential and CNNClassifier on the device.

The CPU backend is the oracle: the same seed and the same batches must give the same values on
the device (to the per-dtype tolerance). In CI this runs in Numba's CUDA simulator, where every
thread is Python, so the inputs are tiny (6x6 and 8x8 images, batches of 4).
"""

import pickle
from collections import defaultdict

import numpy as np
import pytest
from numba.core import sigutils
from sklearn.datasets import load_digits

from sigconv import CNNClassifier, _backend, nn
from sigconv._cuda import (
    common,
    conv_kernels,
    convolution,
    dense,
    elementwise,
    pool_kernels,
    pooling,
)
from tests.cuda.conftest import SIMULATED, KernelSpy, numba_cuda, to_host
from tests.tolerance import assert_close

pytestmark = pytest.mark.cuda

DTYPES = [np.float32, np.float64]


def dev(a, dtype=None):
    a = np.ascontiguousarray(a if dtype is None else np.asarray(a, dtype=dtype))
    return numba_cuda.to_device(a)


def is_dev(a):
    return _backend.is_device_array(a) and not isinstance(a, np.ndarray)


def small_net(dtype, seed=0):
    # Conv -> ReLU -> MaxPool -> Flatten -> Dense over (1, 6, 6): 6x6 -> 4x4 -> 2x2 -> 8 -> 3
    return nn.Sequential(
        [nn.Conv(2, 3), nn.ReLU(), nn.MaxPool(2), nn.Flatten(), nn.Dense(3)],
        random_state=seed,
        dtype=dtype,
    ).build((1, 6, 6))


# --- layers ------------------------------------------------------------------------------------


LAYER_CASES = [
    (lambda: nn.Dense(5, 3), (4, 5)),
    (lambda: nn.ReLU(), (2, 3, 2, 2)),
    (lambda: nn.ReLU(inplace=True), (2, 3, 2, 2)),
    (lambda: nn.LeakyReLU(0.1), (2, 3, 2, 2)),
    (lambda: nn.Sigmoid(), (3, 4)),
    (lambda: nn.Tanh(), (3, 4)),
    (lambda: nn.Softmax(), (2, 3, 2)),
    (lambda: nn.Softmax(dim=-1), (3, 4)),
    (lambda: nn.Dropout(0.4), (3, 6)),
    (lambda: nn.Flatten(), (2, 3, 2, 2)),
    (lambda: nn.Conv(2, 3, padding=1), (2, 1, 4, 4)),
    (lambda: nn.MaxPool(2), (2, 2, 4, 4)),
    (lambda: nn.AvgPool(2), (2, 2, 4, 4)),
    (lambda: nn.GlobalAvgPool(), (2, 3, 2, 2)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(LAYER_CASES)))
def test_layer_forward_backward_device_equals_host(case, dtype, rng):
    make, shape = LAYER_CASES[case]
    host, gpu = make(), make()
    host.build(shape[1:], np.random.default_rng(7), dtype)
    gpu.build(shape[1:], np.random.default_rng(7), dtype)
    gpu.to("cuda")
    assert gpu.device == "cuda" and all(is_dev(p) for p in gpu.params.values())
    x = rng.standard_normal(shape).astype(dtype)
    xd = dev(x)
    y = host.forward(x.copy(), training=True)
    yd = gpu.forward(xd, training=True)
    assert is_dev(yd)
    assert yd.dtype == y.dtype
    assert_close(to_host(yd), y, dtype=dtype)
    g = rng.standard_normal(y.shape).astype(dtype)
    gx = host.backward(g)
    gxd = gpu.backward(dev(g))
    assert is_dev(gxd)
    assert_close(to_host(gxd), gx, dtype=dtype)
    assert set(gpu.grads) == set(host.grads)
    for key, value in host.grads.items():
        assert is_dev(gpu.grads[key])
        assert_close(to_host(gpu.grads[key]), value, dtype=dtype, err_msg=key)


def test_layer_sides_must_match_and_lazy_device_build(rng):
    x = rng.standard_normal((3, 5)).astype(np.float32)
    layer = nn.Dense(4)
    y = layer.forward(dev(x))  # lazy: built on the host with the default seed, then moved
    assert layer.device == "cuda" and is_dev(layer.params["weight"])
    ref = nn.Dense(4)
    assert_close(to_host(y), ref.forward(x), dtype=np.float32)
    with pytest.raises(TypeError, match="weights on the GPU but x is a host array"):
        layer.forward(x)
    with pytest.raises(TypeError, match="weights on the host but x is a device array"):
        ref.forward(dev(x))
    with pytest.raises(TypeError, match="grad_y is a device array"):
        ref.backward(dev(np.ones((3, 4), np.float32)))
    layer.to("cpu")
    assert isinstance(layer.params["weight"], np.ndarray)
    np.testing.assert_array_equal(layer.params["weight"], ref.params["weight"])
    with pytest.raises(ValueError, match="device must be one of"):
        layer.to("gpu")


# --- losses ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_losses_on_device_equal_host(dtype, rng):
    logits = rng.standard_normal((4, 3)).astype(dtype)
    target = np.array([0, 2, 1, 2])
    for t in (target, dev(target)):
        host, gpu = nn.CrossEntropy(), nn.CrossEntropy()
        value = gpu.forward(dev(logits), t)
        assert isinstance(value, float)
        assert abs(value - host.forward(logits, target)) <= 1e-5
        grad = gpu.backward()
        assert is_dev(grad) and grad.dtype == dtype
        assert_close(to_host(grad), host.backward(), dtype=dtype)
    pred, goal = rng.standard_normal((3, 2)).astype(dtype), rng.standard_normal((3, 2))
    host, gpu = nn.MSE(reduction="sum"), nn.MSE(reduction="sum")
    assert abs(gpu.forward(dev(pred), goal) - host.forward(pred, goal)) <= 1e-4
    assert to_host(gpu.backward()).dtype == dtype
    assert_close(to_host(gpu.backward()), host.backward(), dtype=dtype)


def test_cross_entropy_device_errors(rng):
    logits = dev(rng.standard_normal((3, 4)).astype(np.float32))
    with pytest.raises(ValueError, match=r"target labels must be in \[0, 4\)"):
        nn.CrossEntropy().forward(logits, dev(np.array([0, 4, 1])))
    with pytest.raises(ValueError, match=r"target labels must be in \[0, 4\)"):
        nn.CrossEntropy().forward(logits, np.array([0, -1, 1]))
    with pytest.raises(TypeError, match="int64"):
        nn.CrossEntropy().forward(logits, dev(np.array([0, 1, 1], dtype=np.int32)))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        nn.CrossEntropy().forward(logits, dev(np.array([0, 1])))


# --- training ----------------------------------------------------------------------------------


def _optimizer(kind, model):
    if kind == "sgd":
        return nn.SGD(model, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    return nn.Adam(model, lr=0.05, weight_decay=1e-3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_train_steps_on_device_equal_host(kind, dtype, rng):
    host, gpu = small_net(dtype), small_net(dtype).to("cuda")
    opt_h, opt_d = _optimizer(kind, host), _optimizer(kind, gpu)
    loss_h, loss_d = nn.CrossEntropy(), nn.CrossEntropy()
    for _ in range(2):
        x = rng.standard_normal((4, 1, 6, 6)).astype(dtype)
        y = rng.integers(0, 3, 4)
        vh = host.train_step(x, y, loss_h, opt_h)
        vd = gpu.train_step(dev(x), dev(y), loss_d, opt_d)
        assert abs(vd - vh) <= (1e-4 if dtype == np.float32 else 1e-10)
    for key, value in host.params.items():
        assert is_dev(gpu.params[key])
        assert_close(to_host(gpu.params[key]), value, dtype=dtype, err_msg=key)
    for key, state in opt_h.state.items():
        for name, buf in state.items():
            if name != "step":
                assert is_dev(opt_d.state[key][name]), (key, name)
                assert_close(to_host(opt_d.state[key][name]), buf, dtype=dtype)


def test_optimizer_state_follows_the_model_between_sides(rng):
    # a dense-only model keeps the simulator fast; host, then GPU, then host again
    def make():
        return nn.Sequential([nn.Dense(4), nn.Tanh(), nn.Dense(3)], dtype=np.float64).build(5)

    xs = [rng.standard_normal((4, 5)) for _ in range(3)]
    ys = [rng.integers(0, 3, 4) for _ in range(3)]
    for kind in ("sgd", "adam"):
        ref, moved = make(), make()
        opt_r, opt_m = _optimizer(kind, ref), _optimizer(kind, moved)
        for i, (x, y) in enumerate(zip(xs, ys)):
            ref.train_step(x, y, nn.CrossEntropy(), opt_r)
            moved.to("cuda" if i == 1 else "cpu")
            moved.train_step(x, y, nn.CrossEntropy(), opt_m)  # host batches: copied over
        for key, value in ref.params.items():
            assert isinstance(moved.params[key], np.ndarray)
            assert_close(moved.params[key], value, err_msg=f"{kind} {key}")


def _copy_counter(monkeypatch):
    """Count device-to-host copies; make host-only numpy access of simulated arrays fail."""
    calls = []
    cls = type(numba_cuda.to_device(np.zeros(1)))
    original = cls.copy_to_host

    def counted(self, *args, **kwargs):
        calls.append(tuple(self.shape))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "copy_to_host", counted)
    if SIMULATED:
        # The simulator's arrays forward numpy attributes and arithmetic to a host array, which
        # a real device array cannot do; forbid them so such a path fails here as on a GPU.
        forward = cls.__getattr__

        def strict_getattr(self, name):
            if name.startswith("__array") or name in {"sum", "max", "min", "astype", "copy"}:
                raise AttributeError(f"host access {name!r} to a device array")
            return forward(self, name)

        def refuse(self, *args):
            raise TypeError("host arithmetic on a device array")

        monkeypatch.setattr(cls, "__getattr__", strict_getattr)
        for op in ("__add__", "__sub__", "__mul__", "__truediv__", "__gt__", "__lt__", "__eq__"):
            monkeypatch.setattr(cls, op, refuse)
    return calls


def test_device_train_step_copies_back_only_the_loss(monkeypatch, rng):
    model = nn.Sequential(
        [
            nn.Conv(2, 3),
            nn.ReLU(inplace=True),
            nn.MaxPool(2),
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Dense(3),
        ],  # fmt: skip
        dtype=np.float32,
    ).build((1, 6, 6))
    model.to("cuda")
    opt = nn.Adam(model, lr=0.01)
    x = dev(rng.standard_normal((4, 1, 6, 6)), np.float32)
    y = dev(np.array([0, 1, 2, 1]))
    # every kernel launch must use a signature declared for the PTX compile step
    declared, seen = {}, defaultdict(set)
    for mod in (common, conv_kernels, pool_kernels, dense, elementwise):
        for kernel, sigs in mod.PTX_SIGNATURES:
            declared[kernel.py_func.__name__] = {
                tuple(sigutils.normalize_signature(s)[0]) for s in sigs
            }
            # the host modules launch the kernels they import by name
            for launcher in (mod, convolution, pooling):
                for attr, value in list(vars(launcher).items()):
                    if value is kernel:
                        monkeypatch.setattr(launcher, attr, KernelSpy(kernel, seen))
    calls = _copy_counter(monkeypatch)
    value = model.train_step(x, y, nn.CrossEntropy(), opt)
    assert np.isfinite(value)
    assert calls == [(1,)], f"device-to-host copies during a train step: {calls}"
    assert all(is_dev(p) for p in model.params.values())
    assert {"conv_tiled", "_matmul", "_unary", "_unary_grad", "_adam"} <= set(seen)
    for name, types in seen.items():
        assert types <= declared[name], (name, types - declared[name])


def test_sequential_to_save_summary_pickle_on_device(tmp_path, rng):
    host = small_net(np.float32)
    gpu = small_net(np.float32).cuda()
    assert gpu.device == "cuda" and host.device == "cpu"
    assert gpu.count_params() == host.count_params() == 2 * 9 + 2 + 3 * 8 + 3
    assert gpu.summary() == host.summary()
    assert gpu.get_config() == host.get_config()
    x = rng.standard_normal((5, 1, 6, 6)).astype(np.float32)
    # host input to a GPU model is copied over; predictions come back as host arrays
    np.testing.assert_array_equal(gpu.predict(x, batch_size=3), host.predict(x))
    assert_close(gpu.predict_proba(dev(x)), host.predict_proba(x), dtype=np.float32)
    assert gpu.score(x, host.predict(x)) == 1.0
    gpu.save(tmp_path / "m.npz")
    loaded = nn.Sequential.load(tmp_path / "m.npz")
    assert loaded.device == "cpu"
    for key, value in host.params.items():
        np.testing.assert_array_equal(loaded.params[key], value)
    clone = pickle.loads(pickle.dumps(gpu))
    assert clone.device == "cpu" and gpu.device == "cuda"
    assert all(isinstance(p, np.ndarray) for p in clone.params.values())
    with pytest.raises(TypeError, match="model.to\\('cuda'\\)"):
        host.forward(dev(x))
    gpu.astype(np.float64)
    assert all(is_dev(p) and p.dtype == np.float64 for p in gpu.params.values())
    back = gpu.to("cpu")
    assert back is gpu and gpu.device == "cpu"
    for key, value in host.params.items():
        np.testing.assert_array_equal(gpu.params[key], value.astype(np.float64))


def test_lazy_sequential_builds_on_device(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    lazy = nn.Sequential([nn.Dense(2)])
    out = lazy.forward(dev(x))
    assert lazy.device == "cuda" and is_dev(out)
    ref = nn.Sequential([nn.Dense(2)])
    assert_close(to_host(out), ref.forward(x), dtype=np.float32)


# --- the estimator -----------------------------------------------------------------------------


def _digits():
    X, y = load_digits(return_X_y=True)
    keep = np.flatnonzero(y < 3)[:8]
    return X[keep] / 16.0, y[keep]


ARCH = [("Conv", {"out_channels": 2, "kernel_size": 3}), ("MaxPool", {"kernel_size": 2})]


def test_cnn_classifier_cuda_equals_cpu_and_pickles(rng):
    X, y = _digits()
    kw = dict(architecture=ARCH, input_shape=(1, 8, 8), max_iter=2, batch_size=4)
    kw.update(learning_rate=0.01, random_state=0)
    cpu = CNNClassifier(backend="cpu", **kw).fit(X, y)
    gpu = CNNClassifier(backend="cuda", **kw).fit(X, y)
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-4)
    assert gpu.model_.device == "cpu"  # on the host between calls
    for key, value in cpu.model_.params.items():
        assert_close(gpu.model_.params[key], value, dtype=np.float32, err_msg=key)
    proba = gpu.predict_proba(X)
    assert gpu.model_.device == "cpu"
    assert_close(proba, cpu.predict_proba(X), dtype=np.float32)
    np.testing.assert_array_equal(gpu.predict(X), cpu.predict(X))
    assert_close(gpu.transform(X[:3]), cpu.transform(X[:3]), dtype=np.float32)
    restored = pickle.loads(pickle.dumps(gpu))
    np.testing.assert_array_equal(restored.predict(X), cpu.predict(X))


def test_cnn_classifier_cuda_without_gpu_raises(monkeypatch):
    X, y = _digits()
    monkeypatch.setattr(_backend, "cuda_status", lambda: (False, "no GPU here (test)"))
    est = CNNClassifier(backend="cuda", architecture=ARCH, input_shape=(1, 8, 8), max_iter=1)
    with pytest.raises(RuntimeError, match="backend='cuda' is not available: no GPU here"):
        est.fit(X, y)
    with pytest.raises(RuntimeError, match="backend='cuda' is not available"):
        nn.Dense(2).to("cuda")
    # auto stays on the CPU without a GPU
    CNNClassifier(backend="auto", architecture=ARCH, input_shape=(1, 8, 8), max_iter=1).fit(X, y)

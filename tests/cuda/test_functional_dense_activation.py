"""The device paths of ``F.linear``, the activations and dropout (nn/_dense.py,
nn/_activation.py): NumPy formulas as oracles, device in -> device out, host in with
``backend="cuda"`` -> host out, and the same checks for device operands as for host ones."""

import numpy as np
import pytest

from sigconv import _backend
from sigconv.nn import functional as F
from tests.cuda.conftest import numba_cuda, to_host
from tests.tolerance import assert_close

pytestmark = pytest.mark.cuda

DTYPES = [np.float32, np.float64]


def dev(a):
    return numba_cuda.to_device(np.ascontiguousarray(a))


def is_dev(a):
    return _backend.is_device_array(a) and not isinstance(a, np.ndarray)


def _softmax(x, dim):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


# name -> (forward, backward (g, x, y), forward formula, backward formula (g, x, y))
CASES = {
    "relu": (
        F.relu,
        lambda g, x, y: F.relu_backward(g, y),
        lambda x: np.maximum(x, 0),
        lambda g, x, y: np.where(x > 0, g, 0),
    ),
    "leaky_relu": (
        lambda x, **kw: F.leaky_relu(x, 0.3, **kw),
        lambda g, x, y, **kw: F.leaky_relu_backward(g, x, 0.3, **kw),
        lambda x: np.where(x > 0, x, 0.3 * x),
        lambda g, x, y: np.where(x > 0, g, 0.3 * g),
    ),
    "sigmoid": (
        F.sigmoid,
        lambda g, x, y, **kw: F.sigmoid_backward(g, y, **kw),
        lambda x: 1 / (1 + np.exp(-x)),
        lambda g, x, y: g * np.exp(-x) / (1 + np.exp(-x)) ** 2,
    ),
    "tanh": (
        F.tanh,
        lambda g, x, y, **kw: F.tanh_backward(g, y, **kw),
        np.tanh,
        lambda g, x, y: g / np.cosh(x) ** 2,
    ),
    "softmax": (
        lambda x, **kw: F.softmax(x, -1, **kw),
        lambda g, x, y, **kw: F.softmax_backward(g, y, -1, **kw),
        lambda x: _softmax(x, -1),
        lambda g, x, y: _softmax(x, -1) * (g - (g * _softmax(x, -1)).sum(-1, keepdims=True)),
    ),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_activations_on_device(name, dtype, rng):
    fwd, bwd, f_ref, b_ref = CASES[name]
    x = np.where(np.abs(xx := rng.standard_normal((2, 3, 4)) * 3) < 1e-3, 0.5, xx).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    y = fwd(dev(x))
    assert is_dev(y) and y.dtype == dtype
    assert_close(to_host(y), f_ref(x64), dtype=dtype)
    gx = bwd(dev(g), dev(x), y)
    assert is_dev(gx) and gx.dtype == dtype
    assert_close(to_host(gx), b_ref(g64, x64, f_ref(x64)), dtype=dtype)
    # host operands on the CUDA backend: computed there, returned as host arrays
    yh = fwd(x, backend="cuda")
    assert isinstance(yh, np.ndarray)
    assert_close(yh, f_ref(x64), dtype=dtype)


def test_relu_inplace_on_device_and_device_checks(rng):
    x = rng.standard_normal((3, 4))
    d = dev(x)
    assert F.relu(d, inplace=True) is not None
    np.testing.assert_array_equal(d.copy_to_host(), np.maximum(x, 0))
    with pytest.raises(ValueError, match="grad_out must have the shape of y"):
        F.relu_backward(dev(np.ones(3)), dev(np.ones(4)))
    with pytest.raises(ValueError, match="dim must be in"):
        F.softmax(dev(np.ones((2, 3))), 2)
    with pytest.raises(TypeError, match="backend='cpu' got a device array"):
        F.sigmoid(dev(x), backend="cpu")


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_on_device_uses_the_host_mask(dtype, rng):
    x = rng.standard_normal((4, 5)).astype(dtype)
    y_h, m_h = F.dropout(x, 0.4, rng=3, return_mask=True)
    y_d, m_d = F.dropout(dev(x), 0.4, rng=3, return_mask=True)
    assert is_dev(y_d) and is_dev(m_d)
    np.testing.assert_array_equal(to_host(m_d), m_h)
    assert_close(to_host(y_d), x.astype(np.float64) * m_h, dtype=dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    gd = F.dropout_backward(dev(g), m_d)
    assert is_dev(gd)
    assert_close(to_host(gd), g.astype(np.float64) * m_h, dtype=dtype)
    y_c = F.dropout(x, 0.4, rng=3, backend="cuda")  # host in, CUDA backend: host out
    assert isinstance(y_c, np.ndarray)
    assert_close(y_c, y_h, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_on_device(dtype, rng):
    x = rng.standard_normal((5, 6)).astype(dtype)
    w = rng.standard_normal((3, 6)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    g = rng.standard_normal((5, 3)).astype(dtype)
    x64, w64, g64 = (a.astype(np.float64) for a in (x, w, g))
    y = F.linear(dev(x), dev(w), dev(b))
    assert is_dev(y) and y.dtype == dtype
    assert_close(to_host(y), x64 @ w64.T + b, dtype=dtype)
    gx, gw, gb = F.linear_backward(dev(g), dev(x), dev(w))
    assert all(is_dev(a) for a in (gx, gw, gb))
    assert_close(to_host(gx), g64 @ w64, dtype=dtype)
    assert_close(to_host(gw), g64.T @ x64, dtype=dtype)
    assert_close(to_host(gb), g64.sum(0), dtype=dtype)
    assert F.linear_backward(dev(g), dev(x), dev(w), need=("bias",))[:2] == (None, None)
    yh = F.linear(x, w, None, backend="cuda")
    assert isinstance(yh, np.ndarray)
    assert_close(yh, x64 @ w64.T, dtype=dtype)
    with pytest.raises(ValueError, match="in_features"):
        F.linear(dev(x), dev(w[:, :4].copy()))
    with pytest.raises(ValueError, match="x must have 2 dimensions"):
        F.linear(dev(x[0]), dev(w))
    with pytest.raises(ValueError, match="grad_out must have the shape"):
        F.linear_backward(dev(g[:, :2].copy()), dev(x), dev(w))


def test_device_helpers_the_layers_and_estimator_use(rng):
    from sigconv.nn import _device

    a = rng.standard_normal((2, 3, 4))
    d = dev(a)
    r = _device.reshape(d, (2, 12))
    assert is_dev(r)
    np.testing.assert_array_equal(to_host(r), a.reshape(2, 12))
    np.testing.assert_array_equal(
        to_host(_device.reshape(d[:, ::2], (2, 8))), a[:, ::2].reshape(2, 8)
    )
    assert _device.reshape(a, (6, 4)).shape == (6, 4)
    e = _device.empty((3, 2), np.float32)
    assert is_dev(e) and e.shape == (3, 2) and e.dtype == np.float32
    target = dev(np.zeros((2, 3, 4)))
    _device.copy_into(d, target)  # device to device, in place
    np.testing.assert_array_equal(target.copy_to_host(), a)
    _device.copy_into(a * 2, target)  # host to device
    np.testing.assert_array_equal(target.copy_to_host(), a * 2)
    host = np.zeros_like(a)
    _device.copy_into(a, host)
    np.testing.assert_array_equal(host, a)


def test_early_stopping_restores_the_best_weights_on_the_device():
    """The estimator's snapshot/restore (``_device.copy_into``) on the GPU, against the CPU."""
    from sklearn.datasets import load_digits

    from sigconv import CNNClassifier

    X, y = load_digits(return_X_y=True)
    keep = np.flatnonzero(y < 2)[:12]
    X, y = X[keep] / 16.0, y[keep]
    kw = dict(
        architecture=[("Conv", {"out_channels": 2, "kernel_size": 3})],
        input_shape=(1, 8, 8), max_iter=3, batch_size=4, learning_rate=0.5, random_state=0,
        early_stopping=True, validation_fraction=0.34, n_iter_no_change=3, lr_schedule="constant",
    )  # fmt: skip
    cpu = CNNClassifier(backend="cpu", **kw).fit(X, y)
    gpu = CNNClassifier(backend="cuda", **kw).fit(X, y)
    assert gpu.validation_scores_ == cpu.validation_scores_
    assert gpu.best_validation_score_ == cpu.best_validation_score_
    for key, value in cpu.model_.params.items():
        assert_close(gpu.model_.params[key], value, dtype=np.float32, err_msg=key)

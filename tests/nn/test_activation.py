"""Activations and dropout of ``sigconv.nn.functional`` (nn/_activation.py): NumPy formulas,
PyTorch, float64 central differences, dtypes, input handling and errors."""

import doctest

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sigconv.nn import _activation
from sigconv.nn import functional as F
from tests.tolerance import assert_close

H = 1e-6

# name -> (forward, backward taking (g, x, y), NumPy formula of the forward)
CASES = {
    "relu": (F.relu, lambda g, x, y: F.relu_backward(g, y), lambda x: np.where(x > 0, x, 0.0)),
    "leaky_relu": (
        lambda x: F.leaky_relu(x, 0.2),
        lambda g, x, y: F.leaky_relu_backward(g, x, 0.2),
        lambda x: np.where(x > 0, x, 0.2 * x),
    ),
    "sigmoid": (
        F.sigmoid,
        lambda g, x, y: F.sigmoid_backward(g, y),
        lambda x: 1.0 / (1.0 + np.exp(-x)),
    ),
    "tanh": (
        F.tanh,
        lambda g, x, y: F.tanh_backward(g, y),
        lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x)),
    ),
    "softmax": (
        F.softmax,
        lambda g, x, y: F.softmax_backward(g, y),
        lambda x: np.exp(x) / np.exp(x).sum(axis=1, keepdims=True),
    ),
    "softmax_last": (
        lambda x: F.softmax(x, -1),
        lambda g, x, y: F.softmax_backward(g, y, -1),
        lambda x: np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True),
    ),
}


def _central(f, x, proj):
    """d/dx of sum(proj * f(x)) by central differences, element by element (a plain loop)."""
    out = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + H
        up = float(np.sum(proj * f(x)))
        x[idx] = old - H
        down = float(np.sum(proj * f(x)))
        x[idx] = old
        out[idx] = (up - down) / (2 * H)
    return out


def _away_from_kinks(shape, rng):
    # relu and leaky relu have no derivative at 0: keep |x| > 10 H so differences do not cross it
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < 1e-3, 0.5, x)


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_matches_numpy_formula(name, rng):
    fwd, _, formula = CASES[name]
    x = rng.standard_normal((3, 4, 2)) * 3
    assert_close(fwd(x), formula(x))


@pytest.mark.parametrize("name", sorted(CASES))
def test_backward_matches_central_differences(name, rng):
    fwd, bwd, _ = CASES[name]
    x = _away_from_kinks((2, 3, 2), rng)
    proj = rng.standard_normal(x.shape)
    numeric = _central(fwd, x.copy(), proj)
    assert_close(bwd(proj, x, fwd(x)), numeric, dtype=np.float32)  # differences: ~1e-9 error


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_and_backward_match_torch(name, dtype, rng):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    twin = {
        "relu": tf.relu,
        "leaky_relu": lambda t: tf.leaky_relu(t, 0.2),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "softmax": lambda t: torch.softmax(t, 1),
        "softmax_last": lambda t: torch.softmax(t, -1),
    }[name]
    fwd, bwd, _ = CASES[name]
    x = (rng.standard_normal((4, 5)) * 20).astype(dtype)  # large: sigmoid/softmax must not overflow
    g = rng.standard_normal(x.shape).astype(dtype)
    tx = torch.tensor(x.astype(np.float64), requires_grad=True)
    ty = twin(tx)
    (tg,) = torch.autograd.grad(ty, tx, torch.tensor(g.astype(np.float64)))
    y = fwd(x)
    assert y.dtype == dtype and np.all(np.isfinite(y))
    assert_close(y, ty.detach().numpy(), dtype=dtype)
    gx = bwd(g, x, y)
    assert gx.dtype == dtype
    assert_close(gx, tg.numpy(), dtype=dtype)


@given(
    hnp.arrays(
        st.sampled_from([np.float32, np.float64]),
        hnp.array_shapes(min_dims=1, max_dims=4, max_side=4),
        elements=st.floats(-50, 50, width=32),
    )
)
def test_properties_on_any_shape(x):
    before = x.copy()
    y = F.relu(x)
    assert y.dtype == x.dtype and y.shape == x.shape
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    s = F.sigmoid(x)
    assert np.all((s >= 0) & (s <= 1))
    assert_close(F.sigmoid(-x), 1 - s, dtype=x.dtype)  # sigmoid(-x) = 1 - sigmoid(x)
    p = F.softmax(x, -1)
    assert_close(p.sum(axis=-1), np.ones(x.shape[:-1]), dtype=x.dtype)
    assert_close(F.softmax(x + 7, -1), p, dtype=x.dtype)  # shift-invariant
    np.testing.assert_array_equal(x, before)  # inputs are never modified


def test_relu_inplace_and_nan(rng):
    x = rng.standard_normal((3, 4))
    y = F.relu(x.copy())
    xi = x.copy()
    out = F.relu(xi, inplace=True)
    assert out is xi
    np.testing.assert_array_equal(xi, y)
    ro = x.copy()
    ro.flags.writeable = False
    np.testing.assert_array_equal(F.relu(ro, inplace=True), y)  # read-only: a new array
    np.testing.assert_array_equal(F.relu(np.array([np.nan, -1.0])), [np.nan, 0.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("layout", ["contiguous", "strided", "large"])
def test_relu_kernels_against_numpy(rng, dtype, layout):
    """The one-pass kernels (float32/float64, C-contiguous; several thread chunks when large)
    and the NumPy fallback (other dtypes, strided views) agree with NumPy's formulas on NaN and
    infinities too; a NaN gradient where y = 0 gives 0, as in torch; in place on each
    layout."""
    shape = (600, 1000) if layout == "large" else (37, 41)
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0], dtype=dtype)
    x.flat[:5], g.flat[5:10], x.flat[5:10] = special, special, -1.0  # NaN grads where y = 0
    if layout == "strided":
        x, g = x[:, ::2], g[:, ::2]
    x0, g0 = x.copy(), g.copy()
    y = F.relu(x)
    want = np.where(x > 0, x, np.where(np.isnan(x), x, 0)).astype(dtype)
    np.testing.assert_array_equal(y, want)
    assert y.dtype == dtype
    gx = F.relu_backward(g, y)
    np.testing.assert_array_equal(gx, np.where(y > 0, g, 0).astype(dtype))
    np.testing.assert_array_equal(x, x0)  # inputs are never modified
    np.testing.assert_array_equal(g, g0)
    xi = np.empty(shape, dtype)[:, ::2] if layout == "strided" else np.empty_like(x)
    xi[...] = x
    assert F.relu(xi, inplace=True) is xi
    np.testing.assert_array_equal(xi, want)


def test_integer_input_is_computed_in_float64():
    assert F.relu(np.array([-2, 3])).dtype == np.float64
    assert F.tanh([[0, 1]]).dtype == np.float64
    assert F.softmax(np.array([[True, False]])).dtype == np.float64
    np.testing.assert_array_equal(F.relu_backward(np.array([1, 1]), np.array([0.0, 2.0])), [0, 1])


def test_dropout_masks_are_seeded_and_scaled(rng):
    x = rng.standard_normal((50, 40))
    y, mask = F.dropout(x, 0.3, rng=np.random.default_rng(5), return_mask=True)
    np.testing.assert_array_equal(y, x * mask)
    assert set(np.unique(mask)) <= {0.0, 1 / 0.7}
    assert abs((mask == 0).mean() - 0.3) < 0.03  # 2000 draws: 4 standard deviations
    # the same seed gives the same mask (the layer relies on it for CPU/GPU agreement)
    keep = np.random.default_rng(5).random(x.shape) >= 0.3
    np.testing.assert_array_equal(mask != 0, keep)
    np.testing.assert_array_equal(F.dropout(x, 0.3, rng=5), y)
    g = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(F.dropout_backward(g, mask), g * mask)
    assert F.dropout(x, 0.3, rng=0, return_mask=True)[1].dtype == x.dtype
    x32 = x.astype(np.float32)
    assert F.dropout(x32, 0.3, rng=0).dtype == np.float32


def test_dropout_identity_at_inference_and_p_zero(rng):
    x = rng.standard_normal((3, 4))
    assert F.dropout(x, 0.5, training=False) is x
    y, mask = F.dropout(x, 0.0, return_mask=True)
    assert y is x and mask is None
    g = rng.standard_normal(x.shape)
    assert F.dropout_backward(g, None) is g


@pytest.mark.parametrize(
    "call,exc,words",
    [
        (lambda: F.relu(np.ones(3), inplace=1), TypeError, "inplace must be a bool"),
        (lambda: F.relu(np.ones(3, complex)), TypeError, "x must have a real numeric dtype"),
        (lambda: F.relu(np.ones((0, 3))), ValueError, "x must not be empty"),
        (lambda: F.relu_backward(np.ones(3), np.ones(4)), ValueError, "grad_out must have the"),
        (lambda: F.leaky_relu(np.ones(3), "a"), TypeError, "negative_slope"),
        (lambda: F.leaky_relu(np.ones(3), np.nan), ValueError, "negative_slope must be finite"),
        (lambda: F.leaky_relu_backward(np.ones(2), np.ones(3)), ValueError, "shape of x"),
        (lambda: F.sigmoid_backward(np.ones(2), np.ones((2, 1))), ValueError, "shape of y"),
        (lambda: F.softmax(np.ones((2, 3)), 2), ValueError, r"dim must be in \[-2, 2\)"),
        (lambda: F.softmax(np.ones((2, 3)), 1.0), TypeError, "dim must be an int"),
        (lambda: F.softmax(np.float64(1.0)), ValueError, "x must have at least 1 dimensions"),
        (lambda: F.softmax_backward(np.ones(3), np.ones(3), -2), ValueError, "dim must be in"),
        (lambda: F.dropout(np.ones(3), 1.0), ValueError, r"p must be in \[0, 1\)"),
        (lambda: F.dropout(np.ones(3), "x"), TypeError, "p must be a real number"),
        (lambda: F.dropout(np.ones(3), 0.5, rng="seed"), TypeError, "rng must be None"),
        (lambda: F.dropout(np.ones(3), 0.5, training=None), TypeError, "training must be"),
        (lambda: F.dropout_backward(np.ones(3), np.ones(2)), ValueError, "shape of mask"),
        (lambda: F.tanh(np.ones(3), backend="gpu"), ValueError, "backend"),
        (lambda: F.tanh(np.ones(3), backend=0), TypeError, "backend"),
    ],
)
def test_bad_arguments_name_themselves(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


def test_examples_in_docstrings_hold():
    result = doctest.testmod(_activation, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 12 and result.failed == 0

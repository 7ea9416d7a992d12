"""``F.linear`` and ``F.linear_backward`` (nn/_dense.py): a plain-loop oracle, PyTorch, float64
central differences, dtypes and errors."""

import doctest

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sigconv.nn import _dense
from sigconv.nn import functional as F
from tests.tolerance import assert_close


def _loop_linear(x, w, b):
    """y[n, o] = sum_i x[n, i] w[o, i] + b[o], one output at a time."""
    n, fin = x.shape
    fout = w.shape[0]
    y = np.zeros((n, fout))
    for r in range(n):
        for o in range(fout):
            y[r, o] = sum(float(x[r, i]) * float(w[o, i]) for i in range(fin))
            y[r, o] += 0.0 if b is None else float(b[o])
    return y


@given(
    n=st.integers(1, 4),
    fin=st.integers(1, 5),
    fout=st.integers(1, 5),
    bias=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_linear_matches_a_plain_loop(n, fin, fout, bias, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, fin)).astype(dtype)
    w = rng.standard_normal((fout, fin)).astype(dtype)
    b = rng.standard_normal(fout).astype(dtype) if bias else None
    y = F.linear(x, w, b)
    assert y.dtype == dtype and y.shape == (n, fout)
    assert_close(y, _loop_linear(x, w, b), dtype=dtype)


def _central(f, a, h=1e-6):
    g = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        old = a[idx]
        a[idx] = old + h
        up = f()
        a[idx] = old - h
        down = f()
        a[idx] = old
        g[idx] = (up - down) / (2 * h)
    return g


def test_backward_matches_central_differences(rng):
    x = rng.standard_normal((3, 4))
    w = rng.standard_normal((2, 4))
    b = rng.standard_normal(2)
    proj = rng.standard_normal((3, 2))

    def loss():
        return float(np.sum(proj * F.linear(x, w, b)))

    gx, gw, gb = F.linear_backward(proj, x, w)
    assert_close(gx, _central(loss, x), dtype=np.float32)
    assert_close(gw, _central(loss, w), dtype=np.float32)
    assert_close(gb, _central(loss, b), dtype=np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_and_backward_match_torch(dtype, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((5, 7)).astype(dtype)
    w = rng.standard_normal((3, 7)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    g = rng.standard_normal((5, 3)).astype(dtype)
    tx, tw, tb = (torch.tensor(a.astype(np.float64), requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.linear(tx, tw, tb)
    grads = torch.autograd.grad(ty, (tx, tw, tb), torch.tensor(g.astype(np.float64)))
    assert_close(F.linear(x, w, b), ty.detach().numpy(), dtype=dtype)
    for got, want in zip(F.linear_backward(g, x, w), grads):
        assert got.dtype == dtype
        assert_close(got, want.numpy(), dtype=dtype)


def test_need_dtypes_layouts_and_inputs_untouched(rng):
    x = np.asfortranarray(rng.standard_normal((4, 3)))
    w = rng.standard_normal((3, 2)).T  # any layout
    g = rng.standard_normal((4, 2))
    before = [a.copy() for a in (x, w, g)]
    assert F.linear_backward(g, x, w, need=("weight",))[0::2] == (None, None)
    assert F.linear_backward(g, x, w, need="bias")[:2] == (None, None)
    assert F.linear_backward(g, x, w, need=()) == (None, None, None)
    gx, gw, gb = F.linear_backward(g, x, w)
    assert_close(gx, g @ w)
    assert_close(gw, g.T @ x)
    assert_close(gb, g.sum(0))
    for a, b in zip((x, w, g), before):
        np.testing.assert_array_equal(a, b)
    # float32 only when every operand is float32 (or float16); integers are float64
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    assert F.linear(x32, w32).dtype == np.float32
    assert F.linear(x32.astype(np.float16), w32).dtype == np.float32
    assert F.linear(x32, w32, np.zeros(2)).dtype == np.float64
    assert F.linear(np.ones((1, 3), int), np.ones((2, 3), np.float32)).dtype == np.float64
    np.testing.assert_array_equal(F.linear([[1, 2, 3]], [[1, 0, 1]], [1]), [[5.0]])


@pytest.mark.parametrize(
    "call,exc,words",
    [
        (lambda: F.linear(np.ones(3), np.ones((2, 3))), ValueError, "x must have 2 dimensions"),
        (lambda: F.linear(np.ones((1, 3)), np.ones(3)), ValueError, "weight must have 2"),
        (lambda: F.linear(np.ones((1, 3)), np.ones((2, 4))), ValueError, "in_features"),
        (lambda: F.linear(np.ones((1, 3)), np.ones((2, 3)), np.ones(3)), ValueError, "bias must"),
        (lambda: F.linear(np.ones((1, 3), complex), np.ones((2, 3))), TypeError, "x must have"),
        (lambda: F.linear(np.ones((0, 3)), np.ones((2, 3))), ValueError, "x must not be empty"),
        (
            lambda: F.linear_backward(np.ones((1, 3)), np.ones((1, 3)), np.ones((2, 3))),
            ValueError,
            r"grad_out must have the shape of linear's output \(1, 2\)",
        ),
        (
            lambda: F.linear_backward(np.ones((1, 2)), np.ones((1, 3)), np.ones((2, 3)), need="w"),
            ValueError,
            "need must be one of",
        ),
        (
            lambda: F.linear_backward(np.ones((1, 2)), np.ones((1, 3)), np.ones((2, 3)), need=3),
            TypeError,
            "need must be a sequence",
        ),
        (lambda: F.linear(np.ones((1, 3)), np.ones((2, 3)), backend="gpu"), ValueError, "backend"),
    ],
)
def test_bad_arguments_name_themselves(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


def test_examples_in_docstrings_hold():
    result = doctest.testmod(_dense, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0

"""Losses vs torch and finite differences; stability and argument checks."""

import numpy as np
import pytest

from sigconv.nn import MSE, CrossEntropy
from tests.tolerance import assert_close


def _numeric(loss, pred, target, h=1e-6):
    g = np.zeros_like(pred)
    for idx in np.ndindex(pred.shape):
        old = pred[idx]
        pred[idx] = old + h
        up = loss.forward(pred, target)
        pred[idx] = old - h
        down = loss.forward(pred, target)
        pred[idx] = old
        g[idx] = (up - down) / (2 * h)
    return g


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_matches_torch_and_finite_differences(reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((7, 5)) * 3
    y = rng.integers(0, 5, 7)
    loss = CrossEntropy(reduction=reduction)
    value = loss.forward(logits, y)
    grad = loss.backward()
    lt = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(lt, torch.tensor(y), reduction=reduction)
    ref.backward()
    assert abs(value - ref.item()) <= 1e-12 * max(1, abs(value))
    assert_close(grad, lt.grad.numpy(), dtype=np.float64)
    assert_close(grad, _numeric(CrossEntropy(reduction=reduction), logits, y), dtype=np.float32)


def test_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1e4, 0.0, -1e4], [-5e3, 5e3, 0.0]], dtype=np.float32)
    loss = CrossEntropy()
    value = loss.forward(logits, np.array([1, 1]))
    assert np.isfinite(value)
    assert value == pytest.approx(1e4 / 2)  # sample 0 loses 1e4 nats, sample 1 nothing
    grad = loss.backward()
    assert grad.dtype == np.float32 and np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]], atol=1e-7)


def test_cross_entropy_float32_and_integral_float_labels():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((4, 3)).astype(np.float32)
    a = CrossEntropy()
    b = CrossEntropy()
    assert a.forward(logits, np.array([0, 2, 1, 2])) == b.forward(logits, [0.0, 2.0, 1.0, 2.0])
    assert a.backward().dtype == np.float32


@pytest.mark.parametrize(
    "logits, y, exc, words",
    [
        (np.zeros((3, 4)), np.array([0, 1, 4]), ValueError, r"\[0, 4\)"),
        (np.zeros((3, 4)), np.array([0, -1, 2]), ValueError, "labels"),
        (np.zeros((3, 4)), np.array([0, 1]), ValueError, "shape"),
        (np.zeros((3, 4)), np.array([0.5, 1, 2]), TypeError, "integer"),
        (np.zeros(4), np.array([0]), ValueError, "logits"),
        (np.zeros((3, 4), complex), np.array([0, 1, 2]), TypeError, "logits"),
    ],
)
def test_cross_entropy_bad_arguments(logits, y, exc, words):
    with pytest.raises(exc, match=words):
        CrossEntropy().forward(logits, y)


def test_loss_backward_before_forward_and_bad_reduction():
    with pytest.raises(RuntimeError, match="before forward"):
        CrossEntropy().backward()
    with pytest.raises(ValueError, match="reduction"):
        MSE(reduction="none")


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_matches_torch_and_finite_differences(reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    pred = rng.standard_normal((3, 4, 2))
    target = rng.standard_normal((3, 4, 2))
    loss = MSE(reduction=reduction)
    value = loss.forward(pred, target)
    grad = loss.backward()
    pt = torch.tensor(pred, requires_grad=True)
    ref = torch.nn.functional.mse_loss(pt, torch.tensor(target), reduction=reduction)
    ref.backward()
    assert value == pytest.approx(ref.item(), rel=1e-12)
    assert_close(grad, pt.grad.numpy(), dtype=np.float64)
    assert_close(grad, _numeric(MSE(reduction=reduction), pred, target), dtype=np.float32)
    with pytest.raises(ValueError, match="shape"):
        loss.forward(pred, target[:2])


def test_losses_do_not_modify_inputs():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((5, 3))
    y = np.array([0, 1, 2, 1, 0])
    before = logits.copy()
    loss = CrossEntropy()
    loss.forward(logits, y)
    loss.backward()
    np.testing.assert_array_equal(logits, before)
    target = rng.standard_normal((5, 3))
    mse = MSE()
    mse.forward(logits, target)
    mse.backward()
    np.testing.assert_array_equal(logits, before)

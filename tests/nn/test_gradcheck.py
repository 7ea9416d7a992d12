"""gradcheck itself: it passes correct backward passes, flags wrong ones, reports per tensor,
leaves its argument alone, and handles models, losses and stochastic layers."""

import numpy as np
import pytest

from sigconv import nn
from sigconv.nn import layers as L


class WrongBiasDense(L.Dense):
    """Dense whose bias gradient is off by a factor of two."""

    def _backward(self, grad_y, need_input_grad):
        gx = super()._backward(grad_y, need_input_grad)
        self.grads["bias"] = 2 * self.grads["bias"]
        return gx


class WrongMaskReLU(L.ReLU):
    """ReLU whose backward lets gradients through where the input was negative."""

    def _backward(self, grad_y, need_input_grad):
        return grad_y


class SlightlyWrongTanh(L.Tanh):
    """Tanh with a 1e-3 relative error in its derivative: only a tight check catches it."""

    def _backward(self, grad_y, need_input_grad):
        return super()._backward(grad_y, need_input_grad) * 1.001


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_report_structure_for_a_correct_layer():
    layer = L.Conv(2, 3, 3, padding=1)
    report = nn.gradcheck(layer, _x((2, 2, 4, 4)))
    assert report.ok
    assert [c.name for c in report.checks] == ["x", "weight", "bias"]
    assert report["x"].n_checked == 2 * 2 * 4 * 4
    assert report["weight"].n_checked == 3 * 2 * 3 * 3
    assert all(c.max_abs_error < 1e-7 for c in report.checks)
    text = str(report)
    assert "weight" in text and "yes" in text


@pytest.mark.parametrize(
    "layer, shape, bad",
    [
        (WrongBiasDense(4, 3), (5, 4), "bias"),
        (WrongMaskReLU(), (3, 6), "x"),
        (SlightlyWrongTanh(), (3, 4), "x"),
    ],
)
def test_wrong_backward_is_flagged(layer, shape, bad):
    x = _x(shape)
    with pytest.raises(nn.GradcheckError, match=bad):
        nn.gradcheck(layer, x)
    report = nn.gradcheck(layer, x, raise_on_fail=False)
    assert not report.ok and not report[bad].ok
    assert report[bad].max_abs_error > 1e-6


def test_wrong_layer_inside_a_model_is_flagged_but_correct_tensors_pass():
    model = nn.Sequential([L.Dense(5), L.Tanh(), WrongBiasDense(3)], random_state=1)
    report = nn.gradcheck_model(model, _x((6, 4)), np.arange(6) % 3, raise_on_fail=False)
    assert not report["2.bias"].ok
    assert report["x"].ok and report["0.weight"].ok and report["2.weight"].ok


def test_gradcheck_does_not_modify_its_argument():
    layer = L.Dense(4, 3)
    layer.build((4,), np.random.default_rng(0), np.float32)
    before = {k: v.copy() for k, v in layer.params.items()}
    x = _x((3, 4))
    x_before = x.copy()
    nn.gradcheck(layer, x)
    assert layer.params["weight"].dtype == np.float32
    for k in before:
        np.testing.assert_array_equal(layer.params[k], before[k])
    np.testing.assert_array_equal(x, x_before)


def test_model_with_loss_dropout_and_stochastic_pooling():
    model = nn.Sequential(
        [
            L.Conv(3, 3, padding=1),
            L.ReLU(),
            L.StochasticPool(2),
            L.Flatten(),
            L.Dropout(0.3),
            L.Dense(3),
        ],
        random_state=0,
    )
    x = np.abs(_x((2, 1, 4, 4))) + 0.1
    report = nn.gradcheck_model(model, x, np.array([0, 2]), max_checks=20)
    assert report.ok and report["0.weight"].n_checked == 20


def test_frozen_layers_and_input_check_are_optional():
    model = nn.Sequential([L.Dense(3), L.Tanh(), L.Dense(2)], random_state=0)
    model.build((4,), dtype=np.float64)
    model.freeze([0])
    report = nn.gradcheck(model, _x((3, 4)), check_input=False)
    assert [c.name for c in report.checks] == ["2.weight", "2.bias"]


def test_mse_loss_target():
    model = nn.Sequential([L.Dense(3), L.Sigmoid()], random_state=0)
    x = _x((4, 2))
    assert nn.gradcheck(model, x, loss=nn.MSE(), target=_x((4, 3), 1)).ok


def test_bad_arguments():
    with pytest.raises(TypeError, match="layer_or_model"):
        nn.gradcheck(lambda x: x, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="together"):
        nn.gradcheck(L.Tanh(), np.zeros((2, 2)), loss=nn.MSE())
    with pytest.raises(TypeError, match="Sequential"):
        nn.gradcheck_model(L.Tanh(), np.zeros((2, 2)))

"""Ready-made architectures: shapes, parameter counts, and LeNet-5 vs the same net in torch."""

import numpy as np
import pytest

from sigconv import nn
from sigconv.nn import models


def test_lenet5_parameter_counts():
    assert models.lenet5().count_params() == 62_006  # the lecture's RGB 28x28 summary
    gray = models.lenet5((1, 28, 28))
    assert gray.count_params() == 61_706  # 300 fewer first-layer weights on one channel
    assert gray.layers[0].params["weight"].shape == (6, 1, 5, 5)
    assert gray.layers[6].output_shape == (120, 1, 1)
    tanh = models.lenet5(activation="tanh", pool="avg")
    assert tanh.count_params() == 62_006
    assert isinstance(tanh.layers[1], nn.Tanh) and isinstance(tanh.layers[2], nn.AvgPool)


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: models.digits_net(), (1, 8, 8)),
        (lambda: models.digits_net((1, 6, 5), n_classes=4, width=4), (1, 6, 5)),
        (lambda: models.alexnet_small((3, 32, 32), 7, width=4), (3, 32, 32)),
        (lambda: models.vgg_small((1, 16, 16), 5, width=4, depth=2), (1, 16, 16)),
        (lambda: models.audio_net((1, 1024), 6, width=4), (1, 1024)),
        (lambda: models.volume_net((2, 8, 10, 9), 3, width=2), (2, 8, 10, 9)),
    ],
)
def test_models_forward_backward_shapes(make, shape):
    model = make()
    assert model.built and model.input_shape == shape
    n_classes = model.output_shape[0]
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    y = model.forward(x)
    assert y.shape == (2, n_classes) and y.dtype == np.float32
    value = model.train_step(x, np.arange(2) % n_classes, nn.CrossEntropy(), nn.SGD(model, 0.01))
    assert np.isfinite(value)
    assert "Total params" in model.summary()


def test_models_are_seeded():
    a = models.vgg_small((1, 8, 8), width=2, depth=1, random_state=5)
    b = models.vgg_small((1, 8, 8), width=2, depth=1, random_state=5)
    c = models.vgg_small((1, 8, 8), width=2, depth=1, random_state=6)
    for k, v in a.params.items():
        np.testing.assert_array_equal(v, b.params[k])
    assert any(not np.array_equal(v, c.params[k]) for k, v in a.params.items())


@pytest.mark.parametrize(
    "make, exc, words",
    [
        (lambda: models.lenet5(activation="gelu"), ValueError, "activation"),
        (lambda: models.lenet5(pool="min"), ValueError, "pool"),
        (lambda: models.lenet5((28, 28)), ValueError, "input_shape"),
        (lambda: models.digits_net(width=0), ValueError, "width"),
        (lambda: models.vgg_small(depth=0), ValueError, "depth"),
        (lambda: models.audio_net((1, 16, 16)), ValueError, "input_shape"),
        (lambda: models.lenet5((1, 12, 12)), ValueError, "does not fit"),
    ],
)
def test_bad_arguments(make, exc, words):
    with pytest.raises(exc, match=words):
        make()


def torch_lenet5(model):
    """The same LeNet-5 in torch with sigconv's weights copied in."""
    torch = pytest.importorskip("torch")
    tn = torch.nn
    net = tn.Sequential(
        tn.Conv2d(model.input_shape[0], 6, 5, padding=2),
        tn.ReLU(),
        tn.MaxPool2d(2),
        tn.Conv2d(6, 16, 5),
        tn.ReLU(),
        tn.MaxPool2d(2),
        tn.Conv2d(16, 120, 5),
        tn.ReLU(),
        tn.Flatten(),
        tn.Linear(120, 84),
        tn.ReLU(),
        tn.Linear(84, 10),
    ).double()
    with torch.no_grad():
        for ours, theirs in zip(
            [model.layers[i] for i in (0, 3, 6, 9, 11)], [net[i] for i in (0, 3, 6, 9, 11)]
        ):
            theirs.weight.copy_(torch.tensor(ours.params["weight"]))
            theirs.bias.copy_(torch.tensor(ours.params["bias"]))
    return net


def test_lenet5_matches_torch_forward_and_gradients():
    torch = pytest.importorskip("torch")
    model = models.lenet5((1, 28, 28), dtype=np.float64, random_state=3)
    for layer in model.layers:
        if "bias" in layer.params:
            layer.params["bias"] += 0.05
    net = torch_lenet5(model)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 1, 28, 28))
    y = rng.integers(0, 10, 4)
    loss = nn.CrossEntropy()
    value = loss.forward(model.forward(x), y)
    gx = model.backward(loss.backward())
    xt = torch.tensor(x, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(net(xt), torch.tensor(y))
    tl.backward()
    assert value == pytest.approx(tl.item(), rel=1e-10)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-8, atol=1e-12)
    for i in (0, 3, 6, 9, 11):
        for name in ("weight", "bias"):
            np.testing.assert_allclose(
                model.layers[i].grads[name],
                getattr(net[i], name).grad.numpy(),
                rtol=1e-8,
                atol=1e-12,
                err_msg=f"{i}.{name}",
            )

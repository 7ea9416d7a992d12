"""Training on scikit-learn's 8x8 digits: the network provably learns, a fixed seed repeats
bit for bit, and digits_net reaches its documented accuracy."""

import numpy as np
import pytest

from sigconv import nn
from sigconv.nn import models


@pytest.fixture(scope="module")
def digits():
    datasets = pytest.importorskip("sklearn.datasets")
    from sklearn.model_selection import train_test_split

    X, y = datasets.load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


def train(model, X, y, *, epochs, batch_size=32, optimizer=None, seed=0):
    """Plain mini-batch training; returns the mean training loss of every epoch."""
    opt = optimizer or nn.Adam(model, lr=1e-3)
    loss = nn.CrossEntropy()
    rng = np.random.default_rng(seed)
    curve = []
    for _ in range(epochs):
        order = rng.permutation(len(X))
        total = 0.0
        for i in range(0, len(X), batch_size):
            idx = order[i : i + batch_size]
            total += model.train_step(X[idx], y[idx], loss, opt) * len(idx)
        curve.append(total / len(X))
    return curve


def test_small_cnn_learns_digits_and_repeats_bit_for_bit(digits):
    Xtr, Xte, ytr, yte = digits
    runs = []
    for _ in range(2):
        model = models.digits_net(width=8, random_state=1)
        chance = model.score(Xte, yte)
        curve = train(model, Xtr, ytr, epochs=6, optimizer=nn.SGD(model, lr=0.05, momentum=0.9))
        runs.append((model, curve))
    (a, curve_a), (b, curve_b) = runs
    assert curve_a[-1] < 0.25 * curve_a[0]  # the loss falls
    assert a.score(Xte, yte) > 0.9 > chance + 0.5  # far above chance (10 classes)
    assert curve_a == curve_b  # same seed: identical losses ...
    for k, v in a.params.items():
        np.testing.assert_array_equal(v, b.params[k])  # ... and identical weights


@pytest.mark.slow
def test_digits_net_reaches_documented_accuracy(digits):
    """The recipe in digits_net's docstring (the sklearn classifier's 2-D default)."""
    Xtr, Xte, ytr, yte = digits
    model = models.digits_net()
    train(model, Xtr, ytr, epochs=20)
    # Float32 rounding (kernel choice by thread count, summation order) moves the trajectory:
    # 20 epochs measured 0.980-0.993 across seeds and 1 or 2 threads (450 test images, so
    # 0.005 is two images); the docstring's "about 99%" is for about 30 epochs.
    assert model.score(Xte, yte) >= 0.98


def test_transfer_learning_retrains_only_the_head(digits):
    Xtr, Xte, ytr, yte = digits
    model = models.digits_net(width=8, random_state=2)
    train(model, Xtr, ytr, epochs=3)
    base = {k: v.copy() for k, v in model.params.items()}
    # new head for a 2-class task (even vs odd digit), all other layers frozen
    model.train_only_last(1)
    head = model.layers[-1]
    head.params["weight"] = head.params["weight"][:2].copy()
    head.params["bias"] = head.params["bias"][:2].copy()
    head.out_features = 2
    head.output_shape = (2,)
    before = model.score(Xte, yte % 2)
    train(model, Xtr, ytr % 2, epochs=4, optimizer=nn.Adam(model, lr=0.01))
    for k, v in base.items():
        if not k.startswith(f"{len(model.layers) - 1}."):
            np.testing.assert_array_equal(model.params[k], v)
    assert model.score(Xte, yte % 2) > max(before + 0.2, 0.85)

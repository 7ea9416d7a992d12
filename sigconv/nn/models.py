"""Ready-made architectures, each a function returning a built, seeded :class:`Sequential`.

Every model ends in a ``Dense(n_classes)`` producing logits: train it with
:class:`~sigconv.nn.losses.CrossEntropy` (softmax fused); ``predict_proba`` applies the
softmax. Input shapes exclude the batch axis: ``(channels, *spatial)``.
"""

from __future__ import annotations

import numpy as np

from .layers import AvgPool, Conv, Dense, Dropout, Flatten, GlobalAvgPool, MaxPool, ReLU, Tanh
from .model import Sequential

__all__ = ["alexnet_small", "audio_net", "digits_net", "lenet5", "vgg_small", "volume_net"]


def _check_width(width, name="width"):
    if not isinstance(width, (int, np.integer)) or isinstance(width, bool) or width < 1:
        raise ValueError(f"{name} must be a positive int; got {width!r}")
    return int(width)


def _finish(layers, input_shape, random_state, dtype, name):
    model = Sequential(layers, random_state=random_state, name=name)
    return model.build(tuple(input_shape), dtype=dtype)


def _check_shape(input_shape, n_spatial: int, name: str):
    shape = tuple(input_shape)
    if len(shape) != n_spatial + 1:
        raise ValueError(
            f"input_shape of {name} must be (channels, {n_spatial} spatial sizes); got {shape}"
        )
    return shape


def lenet5(
    input_shape=(3, 28, 28),
    n_classes: int = 10,
    *,
    activation: str = "relu",
    pool: str = "max",
    random_state=0,
    dtype=np.float32,
) -> Sequential:
    """LeNet-5 as in the lecture's Keras model.

    conv 5x5 'same' -> 6, pool 2x2, conv 5x5 -> 16, pool 2x2, conv 5x5 -> 120, flatten,
    dense 84, dense ``n_classes`` (logits); ReLU (He init) or tanh (Glorot init) activations;
    max or average pooling.

    The lecture's summary totals **62,006** parameters: that is this architecture on 3-channel
    28x28 input (the default, ``lenet5().summary()``). On grayscale ``(1, 28, 28)`` input the
    first convolution has 150 weights instead of 450, and the total is 61,706.

    Examples
    --------
    >>> from sigconv.nn import models
    >>> model = models.lenet5()  # 3 x 28 x 28 images, 10 classes
    >>> model.count_params()
    62006
    >>> models.lenet5((1, 32, 32)).output_shape
    (10,)
    """
    act, init = {"relu": (ReLU, "he_normal"), "tanh": (Tanh, "glorot_uniform")}.get(
        activation, (None, None)
    )
    if act is None:
        raise ValueError(f"activation must be 'relu' or 'tanh'; got {activation!r}")
    pools = {"max": MaxPool, "avg": AvgPool}
    if pool not in pools:
        raise ValueError(f"pool must be 'max' or 'avg'; got {pool!r}")
    Pool = pools[pool]
    shape = _check_shape(input_shape, 2, "lenet5")
    inplace = activation == "relu"
    a = (lambda: ReLU(inplace=True)) if inplace else act
    layers = [
        Conv(6, 5, padding="same", weight_init=init),
        a(),
        Pool(2),
        Conv(16, 5, weight_init=init),
        a(),
        Pool(2),
        Conv(120, 5, weight_init=init),
        a(),
        Flatten(),
        Dense(84, weight_init=init),
        a(),
        Dense(n_classes, weight_init="glorot_uniform"),
    ]
    return _finish(layers, shape, random_state, dtype, "lenet5")


def digits_net(
    input_shape=(1, 8, 8),
    n_classes: int = 10,
    *,
    width: int = 32,
    dropout: float = 0.3,
    random_state=0,
    dtype=np.float32,
) -> Sequential:
    """A small CNN for scikit-learn's 8x8 digits (and other small 2-D images).

    conv 3x3 'same' -> ``width``, ReLU, conv 3x3 'same' -> ``2 * width``, ReLU, max-pool 2,
    flatten, dense ``4 * width``, ReLU, dropout, dense ``n_classes``.

    Recipe (tests/nn/test_training.py): pixels scaled to [0, 1], Adam (lr 1e-3), batch 32,
    about 30 epochs; this reaches about 99% test accuracy on the stratified 75/25 split.
    Inputs smaller than 2x2 are not supported (the pooling needs a 2x2 window).

    Examples
    --------
    >>> from sigconv.nn import models
    >>> model = models.digits_net()  # for scikit-learn's 8 x 8 digits
    >>> model.count_params(), model.output_shape
    (151306, (10,))
    """
    width = _check_width(width)
    shape = _check_shape(input_shape, 2, "digits_net")
    layers = [
        Conv(width, 3, padding="same"),
        ReLU(inplace=True),
        Conv(2 * width, 3, padding="same"),
        ReLU(inplace=True),
        MaxPool(2),
        Flatten(),
        Dense(4 * width),
        ReLU(inplace=True),
        Dropout(dropout),
        Dense(n_classes, weight_init="glorot_uniform"),
    ]
    return _finish(layers, shape, random_state, dtype, "digits_net")


def alexnet_small(
    input_shape=(3, 32, 32),
    n_classes: int = 10,
    *,
    width: int = 16,
    dropout: float = 0.5,
    random_state=0,
    dtype=np.float32,
) -> Sequential:
    """An AlexNet-style 2-D net scaled down for small images (e.g. 32x32).

    Five convolutions (5x5 -> ``width``, 5x5 -> ``2w``, 3x3 -> ``4w``, ``4w``, ``2w``, all
    'same') with overlapping 3x3/stride-2 max pooling after the first, second and fifth, then
    two dropout + dense ``8w`` layers and dense ``n_classes``. Spatial sizes must stay >= 3
    before each pooling (inputs of at least about 24x24).

    Examples
    --------
    >>> from sigconv.nn import models
    >>> model = models.alexnet_small()
    >>> model.count_params(), model.output_shape
    (142730, (10,))
    """
    w = _check_width(width)
    shape = _check_shape(input_shape, 2, "alexnet_small")
    layers = [
        Conv(w, 5, padding="same"),
        ReLU(inplace=True),
        MaxPool(3, 2),
        Conv(2 * w, 5, padding="same"),
        ReLU(inplace=True),
        MaxPool(3, 2),
        Conv(4 * w, 3, padding="same"),
        ReLU(inplace=True),
        Conv(4 * w, 3, padding="same"),
        ReLU(inplace=True),
        Conv(2 * w, 3, padding="same"),
        ReLU(inplace=True),
        MaxPool(3, 2),
        Flatten(),
        Dropout(dropout),
        Dense(8 * w),
        ReLU(inplace=True),
        Dropout(dropout),
        Dense(8 * w),
        ReLU(inplace=True),
        Dense(n_classes, weight_init="glorot_uniform"),
    ]
    return _finish(layers, shape, random_state, dtype, "alexnet_small")


def vgg_small(
    input_shape=(3, 32, 32),
    n_classes: int = 10,
    *,
    width: int = 16,
    depth: int = 3,
    dropout: float = 0.5,
    random_state=0,
    dtype=np.float32,
) -> Sequential:
    """A VGG-style 2-D net: ``depth`` blocks of two 3x3 'same' convolutions and a 2x2 max-pool,
    block ``i`` with ``width * 2**i`` channels; then flatten, dense ``8 * width``, dropout,
    dense ``n_classes``. The input's spatial sizes must be at least ``2**depth``.

    Examples
    --------
    >>> from sigconv.nn import models
    >>> model = models.vgg_small(depth=2)
    >>> model.count_params(), model.output_shape
    (280218, (10,))
    """
    w = _check_width(width)
    depth = _check_width(depth, "depth")
    shape = _check_shape(input_shape, 2, "vgg_small")
    layers = []
    for i in range(depth):
        c = w * 2**i
        layers += [
            Conv(c, 3, padding=1),
            ReLU(inplace=True),
            Conv(c, 3, padding=1),
            ReLU(inplace=True),
            MaxPool(2),
        ]
    layers += [
        Flatten(),
        Dense(8 * w),
        ReLU(inplace=True),
        Dropout(dropout),
        Dense(n_classes, weight_init="glorot_uniform"),
    ]
    return _finish(layers, shape, random_state, dtype, "vgg_small")


def audio_net(
    input_shape=(1, 16000),
    n_classes: int = 10,
    *,
    width: int = 16,
    random_state=0,
    dtype=np.float32,
) -> Sequential:
    """A 1-D net for raw audio ``(channels, n_samples)``.

    conv 9 stride 4 -> ``width``, max-pool 4, conv 9 'same' -> ``2w``, max-pool 4,
    conv 9 'same' -> ``4w``, max-pool 4, conv 3 'same' -> ``4w``, global average pooling
    (any length >= 256 works), dense ``n_classes``.

    Examples
    --------
    >>> from sigconv.nn import models
    >>> model = models.audio_net((1, 4000), n_classes=4)
    >>> model.count_params(), model.output_shape
    (35908, (4,))
    """
    w = _check_width(width)
    shape = _check_shape(input_shape, 1, "audio_net")
    layers = [
        Conv(w, 9, stride=4, padding="same"),
        ReLU(inplace=True),
        MaxPool(4),
        Conv(2 * w, 9, padding="same"),
        ReLU(inplace=True),
        MaxPool(4),
        Conv(4 * w, 9, padding="same"),
        ReLU(inplace=True),
        MaxPool(4),
        Conv(4 * w, 3, padding="same"),
        ReLU(inplace=True),
        GlobalAvgPool(),
        Dense(n_classes, weight_init="glorot_uniform"),
    ]
    return _finish(layers, shape, random_state, dtype, "audio_net")


def volume_net(
    input_shape=(1, 32, 32, 32),
    n_classes: int = 10,
    *,
    width: int = 8,
    random_state=0,
    dtype=np.float32,
) -> Sequential:
    """A 3-D net for volumes ``(channels, depth, height, width)``.

    Three blocks of conv 3x3x3 (padding 1, ``width``, ``2w``, ``4w`` channels), ReLU and a
    2x2x2 max-pool, then global average pooling and dense ``n_classes``. Each spatial size
    must be at least 8.

    Examples
    --------
    >>> from sigconv.nn import models
    >>> model = models.volume_net((1, 16, 16, 16), n_classes=3)
    >>> model.count_params(), model.output_shape
    (17651, (3,))
    """
    w = _check_width(width)
    shape = _check_shape(input_shape, 3, "volume_net")
    layers = []
    for c in (w, 2 * w, 4 * w):
        layers += [Conv(c, 3, padding=1), ReLU(inplace=True), MaxPool(2)]
    layers += [GlobalAvgPool(), Dense(n_classes, weight_init="glorot_uniform")]
    return _finish(layers, shape, random_state, dtype, "volume_net")

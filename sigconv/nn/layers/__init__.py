"""Layers: explicit forward/backward pairs with ``params``/``grads`` dicts (docs/contract.md §2).

Where they live: ``_base`` (``Layer``, the protocol below), ``_weighted`` (``Conv``,
``Dense``), ``_activations`` (``ReLU``, ``LeakyReLU``, ``Sigmoid``, ``Tanh``, ``Softmax``),
``_core`` (``Dropout``, ``Flatten``) and ``_pooling`` (the pooling layers). Every layer's
forward and backward pass is a call of :mod:`sigconv.nn.functional`, which decides between host
and device; import the layers from here (``from sigconv.nn.layers import Conv``) or from
:mod:`sigconv.nn`. The convolution and the windowed pooling layers (max, average, Lp) keep, per
input shape, the plan those functions build (``Layer.planned``): with host arrays of one float
dtype on the CPU backend, the case a training loop repeats at every step, they call the backend
with it and check and plan nothing again (the results are bit for bit the same).

Every layer follows one protocol:

``layer.forward(x, training=True) -> y``
    Computes the output and caches what the backward pass needs.
``layer.backward(grad_y, *, need_input_grad=True) -> grad_x``
    Fills ``layer.grads`` (same keys and shapes as ``layer.params``; overwritten, never
    accumulated) and returns the gradient of the input (``None`` when ``need_input_grad`` is
    False, which lets a model skip the input gradient of its first layer).
``layer.params`` / ``layer.grads``
    ``dict[str, ndarray]`` in PyTorch's layouts: Conv ``weight`` is
    ``(C_out, C_in // groups, *kernel)``, Dense ``weight`` is ``(out_features, in_features)``.

Shapes exclude the batch axis wherever a layer talks about an ``input_shape`` (as Keras does):
a Conv layer over ``(N, 3, 32, 32)`` batches has ``input_shape == (3, 32, 32)``.

Lazy sizes
----------
Constructors take PyTorch's argument names and order. ``in_channels`` (Conv) and
``in_features`` (Dense) may be left out; they are then inferred when the layer is built, at
its first forward pass or by ``Sequential.build(input_shape)``. The rule for positional
arguments: when fewer than all of the leading size arguments are given (positionally or by
keyword) and ``in_channels``/``in_features`` is not passed by keyword, the positional
arguments fill the remaining names from ``out_channels``/``out_features`` on. So
``Conv(6, 5)`` and ``Conv(6, kernel_size=5)`` mean ``Conv(out_channels=6, kernel_size=5)``
while ``Conv(1, 6, 5)`` and ``Conv(1, 6, kernel_size=5)`` mean PyTorch's ``Conv2d(1, 6, 5)``;
likewise ``Dense(84)`` is ``Dense(out_features=84)`` and ``Dense(120, 84)`` is PyTorch's
``Linear(120, 84)``.

Initialisation is seeded: ``build(input_shape, rng)`` draws weights from the numpy
``Generator`` it is given (He normal by default, ``weight_init="glorot_uniform"`` etc. for
others; biases start at zero). A layer built lazily by its first forward pass uses
``np.random.default_rng(0)``, so it is deterministic too.

Devices
-------
Every layer computes on the GPU when its input is a device array (``__cuda_array_interface__``:
Numba, CuPy, PyTorch CUDA tensors) and returns device arrays, forward and backward: the
functions of :mod:`sigconv.nn.functional` run the ``sigconv._cuda`` kernels for device operands,
without copying activations to the host. A layer with weights
computes where its weights live: ``layer.to("cuda")`` moves ``params`` and ``grads`` to the
GPU (Numba device arrays), ``layer.to("cpu")`` back; a host input to a layer whose weights are
on the GPU (or the reverse) raises ``TypeError``, as PyTorch does. A layer that is not built
yet and gets a device input builds its weights on the host (same seeded values) and moves them
to the GPU. Weights are always drawn on the host, so a seed gives the same model on either side.
Pickling (and ``copy.deepcopy``) copies device weights back: a pickled layer is a host layer.
"""

from __future__ import annotations

from ._activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from ._base import Layer
from ._core import Dropout, Flatten
from ._pooling import (
    AvgPool,
    GlobalAvgPool,
    GlobalMaxPool,
    LPPool,
    MaxPool,
    SpectralPool,
    StochasticPool,
)
from ._weighted import Conv, Dense

__all__ = [
    "AvgPool",
    "Conv",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAvgPool",
    "GlobalMaxPool",
    "LPPool",
    "Layer",
    "LeakyReLU",
    "MaxPool",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "SpectralPool",
    "StochasticPool",
    "Tanh",
    "layer_from_config",
]

# Class name -> class: how Sequential.load finds the layers of a saved model (the names in old
# files are these class names; the modules the classes live in do not matter).
LAYERS = {
    cls.__name__: cls
    for cls in (
        Conv,
        Dense,
        ReLU,
        LeakyReLU,
        Sigmoid,
        Tanh,
        Softmax,
        Dropout,
        Flatten,
        MaxPool,
        AvgPool,
        LPPool,
        StochasticPool,
        SpectralPool,
        GlobalAvgPool,
        GlobalMaxPool,
    )
}


def layer_from_config(class_name: str, config: dict) -> Layer:
    """Rebuild a layer from its class name and :meth:`Layer.get_config` (used by ``load``)."""
    if class_name not in LAYERS:
        raise ValueError(f"unknown layer class {class_name!r}; expected one of {sorted(LAYERS)}")
    return LAYERS[class_name].from_config(config)

"""sigconv.nn: a CNN with every forward and backward pass written out (docs/contract.md §2).

Layers (``Conv``, pooling, ``Dense``, activations, ``Dropout``, ``Flatten``), losses
(``CrossEntropy``, ``MSE``), optimizers (``SGD``, ``Adam``), ``Sequential`` and the ready-made
architectures in :mod:`sigconv.nn.models`; :func:`gradcheck` checks any backward pass against
float64 finite differences. The array functions live in :mod:`sigconv.nn.functional` (``F``).
"""

from . import functional, init, models
from . import functional as F
from .gradcheck import GradcheckError, GradcheckReport, gradcheck, gradcheck_model
from .layers import (
    AvgPool,
    Conv,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool,
    GlobalMaxPool,
    Layer,
    LeakyReLU,
    LPPool,
    MaxPool,
    ReLU,
    Sigmoid,
    Softmax,
    SpectralPool,
    StochasticPool,
    Tanh,
)
from .losses import MSE, CrossEntropy, Loss
from .model import Sequential
from .optim import SGD, Adam, Optimizer

__all__ = [
    "MSE",
    "SGD",
    "Adam",
    "AvgPool",
    "Conv",
    "CrossEntropy",
    "Dense",
    "Dropout",
    "F",
    "Flatten",
    "GlobalAvgPool",
    "GlobalMaxPool",
    "GradcheckError",
    "GradcheckReport",
    "LPPool",
    "Layer",
    "LeakyReLU",
    "Loss",
    "MaxPool",
    "Optimizer",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "SpectralPool",
    "StochasticPool",
    "Tanh",
    "functional",
    "gradcheck",
    "gradcheck_model",
    "init",
    "models",
]

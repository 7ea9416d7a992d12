"""How ``CNNClassifier`` shapes its input: the per-sample shape and the network's batches."""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["DTYPE", "check_input_shape", "sample_shape", "to_network"]

DTYPE = np.float32  # training and inference run in float32: twice the speed of float64


def check_input_shape(shape) -> None:
    """``ValueError`` unless ``shape`` is None or ``(channels, *spatial)`` of 2 to 4 positive
    ints (the constraints of scikit-learn's parameter validation stop at tuple or list)."""
    if shape is None:
        return
    ok = isinstance(shape, (tuple, list)) and 2 <= len(shape) <= 4
    ok = ok and all(
        isinstance(s, (numbers.Integral, np.integer)) and not isinstance(s, bool) and s > 0
        for s in shape
    )
    if not ok:
        raise ValueError(
            "input_shape must be None or a tuple (channels, *spatial) of 2 to 4 "
            f"positive ints; got {shape!r}"
        )


def sample_shape(X, input_shape) -> tuple[int, ...]:
    """The per-sample shape (channels first) for X, from ``input_shape`` or from X's rank."""
    if input_shape is not None:
        shape = tuple(int(s) for s in input_shape)
        if math.prod(shape) != math.prod(X.shape[1:]):
            raise ValueError(
                f"input_shape {shape} holds {math.prod(shape)} values per sample but X has "
                f"{math.prod(X.shape[1:])} (X shape {X.shape})"
            )
        return shape
    rank = X.ndim - 1
    if rank == 4:
        return tuple(X.shape[1:])
    if rank > 4:
        raise ValueError(
            f"X must be (n_samples, *input_shape) with at most 4 axes per sample; got shape "
            f"{X.shape}"
        )
    return (1, *X.shape[1:])


def to_network(X, shape, owner: str):
    """X as a C-contiguous float32 batch of shape ``(n, *shape)`` (``owner``: the estimator's
    name, for the message when X does not fit)."""
    if math.prod(X.shape[1:]) != math.prod(shape):
        raise ValueError(
            f"X has {math.prod(X.shape[1:])} values per sample (shape {X.shape}) but "
            f"{owner} was fitted on samples of shape {shape}"
        )
    return np.ascontiguousarray(X.reshape((X.shape[0], *shape)), dtype=DTYPE)

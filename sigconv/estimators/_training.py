"""The pieces of ``CNNClassifier``'s training loop that need no estimator: one epoch of
mini-batches, the learning-rate schedule, weight snapshots, the validation split, and where
(host or GPU) the model runs."""

from __future__ import annotations

import contextlib
import math

import numpy as np
from sklearn.model_selection import train_test_split

from .. import _backend, _config
from ..nn import _device
from ._architecture import model_flops

__all__ = [
    "device_for",
    "lr_at",
    "model_on",
    "progress_bar",
    "restore",
    "run_epoch",
    "snapshot",
    "validation_split",
]


def run_epoch(model, Xn, yi, optimizer, loss, rng, lr, *, batch_size, shuffle) -> float:
    """One pass over ``(Xn, yi)`` in mini-batches at learning rate ``lr``; the mean loss."""
    n = len(Xn)
    order = rng.permutation(n) if shuffle else np.arange(n)
    bs = min(batch_size, n)
    optimizer.lr = lr
    on_gpu = model.device == "cuda"
    total = 0.0
    for start in range(0, n, bs):
        idx = order[start : start + bs]
        xb, yb = Xn[idx], yi[idx]
        if on_gpu:  # each batch crosses once; the loss value is all that comes back
            xb, yb = _device.to_device(xb), _device.to_device(yb.astype(np.int64))
        total += model.train_step(xb, yb, loss, optimizer) * len(idx)
    return total / n


def lr_at(schedule: str, learning_rate: float, epoch: int, max_iter: int) -> float:
    """The learning rate of ``epoch``: constant, or cosine-annealed to zero over ``max_iter``."""
    if schedule == "constant":
        return learning_rate
    return 0.5 * learning_rate * (1 + math.cos(math.pi * epoch / max_iter))


def snapshot(model) -> list[dict]:
    """Copies of every weight, on the weights' own side (a GPU model's never visits the host)."""
    return [{k: _device.clone(v) for k, v in layer.params.items()} for layer in model.layers]


def restore(model, saved) -> None:
    """Write a :func:`snapshot` back, in place: the optimizer keeps its references."""
    for layer, params in zip(model.layers, saved):
        for key, value in params.items():
            _device.copy_into(value, layer.params[key])


def validation_split(Xn, yi, fraction, rs):
    """``(Xn, Xv, yi, yv)``: a stratified hold-out of ``fraction`` (unstratified when a class
    has too few samples), seeded from the RandomState ``rs``."""
    strat = yi if np.bincount(yi).min() >= 2 else None
    try:
        return train_test_split(
            Xn, yi, test_size=fraction, random_state=rs.randint(np.iinfo(np.int32).max),
            stratify=strat,
        )  # fmt: skip
    except ValueError:  # too few samples per class for a stratified split
        return train_test_split(
            Xn, yi, test_size=fraction, random_state=rs.randint(np.iinfo(np.int32).max)
        )


def device_for(backend: str, model, batch: int, passes: int) -> str:
    """``"cuda"`` or ``"cpu"`` for work on ``batch`` samples, ``passes`` passes per batch:
    ``"auto"`` takes a real GPU only when the flops pay for the transfers."""
    if backend == "cpu":
        return "cpu"
    if backend == "cuda":
        _backend.require_cuda()
        return "cuda"
    work = passes * batch * model_flops(model)
    if work >= _config.NN_CONV_GPU_MIN_WORK and _backend.gpu_present():
        return "cuda"
    return "cpu"


@contextlib.contextmanager
def model_on(model, device: str):
    """``model`` on ``device`` for the duration; back on the host after, its caches dropped
    (a fitted estimator pickles small and holds no copy of the data)."""
    if device == "cuda":
        model.to("cuda")
    try:
        yield model
    finally:
        model.clear_caches()
        if model.device != "cpu":
            model.to("cpu")


def progress_bar(verbose, total: int, desc: str):
    """A tqdm bar over epochs when ``verbose``, else None."""
    if not verbose:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="epoch", leave=False)

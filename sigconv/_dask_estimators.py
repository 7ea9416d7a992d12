"""``CNNClassifier`` on Dask arrays (docs/contract.md §5).

Inference runs block-wise over samples: X is rechunked so that each block holds whole samples
(every axis but the first in one chunk) and each block goes through the in-memory method with
``map_blocks``; the result is a lazy Dask array chunked like X's samples. ``score`` returns a
float, as scikit-learn's scorers expect, so it computes. ``partial_fit`` streams X block by
block (one in-memory ``partial_fit`` call per block); ``fit`` needs the data in memory.

Inside a Dask task the estimator's kernels run with the per-task thread count of
``_dask.task_threads`` unless ``n_threads`` is set.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from . import _dask


def _samples(est, X):
    """X with whole samples per block, after the checks the in-memory path makes first."""
    check_is_fitted(est, "model_")
    _dask.check_array(X, "X", 2, None)
    single = {axis: -1 for axis in range(1, X.ndim)}
    return X.rechunk(single) if any(len(c) > 1 for c in X.chunks[1:]) else X


def _per_sample(est, method, X, width, dtype):
    """``method`` of ``est`` block by block: ``(n,)`` when ``width`` is None, else
    ``(n, width)``."""
    X = _samples(est, X)
    fn = getattr(est, method)
    if width is None:
        drop = list(range(1, X.ndim))
        chunks = (X.chunks[0],)
    else:
        drop = list(range(2, X.ndim))
        chunks = (X.chunks[0], (width,))
    return X.map_blocks(
        fn,
        drop_axis=drop,
        chunks=chunks,
        dtype=dtype,
        meta=np.empty((0,) * len(chunks), dtype=dtype),
    )


def predict_proba(est, X):
    check_is_fitted(est, "model_")
    return _per_sample(est, "predict_proba", X, len(est.classes_), np.float64)


def predict_log_proba(est, X):
    check_is_fitted(est, "model_")
    return _per_sample(est, "predict_log_proba", X, len(est.classes_), np.float64)


def predict(est, X):
    check_is_fitted(est, "model_")
    return _per_sample(est, "predict", X, None, est.classes_.dtype)


def transform(est, X):
    # the feature count: one sample through the network on the client (cheap)
    X = _samples(est, X)
    width = est.transform(np.asarray(X[:1])).shape[1]
    return _per_sample(est, "transform", X, width, np.float32)


def score(est, X, y, sample_weight=None):
    """Accuracy of ``predict(X)`` against ``y`` (computed: a float)."""
    import dask.array as da

    pred = predict(est, X)
    y = da.asarray(y)
    if y.shape != pred.shape:
        raise ValueError(f"y must have shape {pred.shape} (one label per sample); got {y.shape}")
    hit = (pred == y.rechunk(pred.chunks)).astype(np.float64)
    if sample_weight is None:
        return float(hit.mean().compute())
    w = da.asarray(sample_weight)
    if w.shape != pred.shape:
        raise ValueError(
            f"sample_weight must have shape {pred.shape} (one weight per sample); got {w.shape}"
        )
    w = w.rechunk(pred.chunks)
    num, den = da.compute((hit * w).sum(), w.sum())
    return float(num / den)


def fit_refused(est):
    name = type(est).__name__
    return TypeError(
        f"{name}.fit needs X in memory; got a Dask array. Call X.compute() (and y.compute()) "
        f"first, or stream the data with {name}.partial_fit(X, y, classes=...), which takes "
        "a Dask X block by block"
    )


def partial_fit(est, X, y, classes=None):
    """One in-memory ``partial_fit`` per block of samples, in order."""
    import dask.array as da

    _dask.check_array(X, "X", 2, None)
    single = {axis: -1 for axis in range(1, X.ndim)}
    X = X.rechunk(single)
    y = y if _dask.is_dask_array(y) else da.asarray(y)
    if y.shape[:1] != X.shape[:1]:
        raise ValueError(f"y must have {X.shape[0]} labels (one per sample); got {y.shape}")
    y = y.rechunk((X.chunks[0],) + tuple(-1 for _ in range(1, y.ndim)))
    for i in range(X.numblocks[0]):
        xb, yb = da.compute(X.blocks[i], y.blocks[i])
        est.partial_fit(xb, yb, classes=classes)
    return est

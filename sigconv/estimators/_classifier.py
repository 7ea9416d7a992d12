"""``CNNClassifier``: the estimator itself (parameters, fit, partial_fit, inference).

Its network comes from ``_architecture``, its input shaping from ``_data``, its thread limit
from ``_threads``; the contract is the package docstring and docs/contract.md §3.
"""

from __future__ import annotations

import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import _backend, _dask, nn
from ..nn import _device
from ._architecture import build_model, replace_head
from ._data import DTYPE, check_input_shape, sample_shape, to_network
from ._threads import limited
from ._training import (
    device_for,
    lr_at,
    model_on,
    progress_bar,
    restore,
    run_epoch,
    snapshot,
    validation_split,
)

__all__ = ["CNNClassifier"]


def _dask_for(X):
    """``sigconv._dask_estimators`` when ``X`` is a Dask array (its methods run block-wise over
    samples, docs/contract.md §5), else None; Dask is imported only then."""
    if _dask.is_dask_array(X):
        from .. import _dask_estimators

        return _dask_estimators
    return None


# Numeric parameters that scikit-learn's Interval would also accept as bools (True is an int).
_NOT_BOOL = (
    "max_iter batch_size learning_rate momentum weight_decay validation_fraction "
    "n_iter_no_change tol trainable_layers feature_layer verbose n_threads"
).split()


class CNNClassifier(ClassifierMixin, TransformerMixin, BaseEstimator):
    """A convolutional network classifier built from ``sigconv.nn``.

    Parameters
    ----------
    architecture : None, str, callable or list, default=None
        The network. None: a default for the input rank (``sigconv.nn.models.digits_net`` for
        images, ``audio_net`` for 1-D signals, ``volume_net`` for volumes; a small 'same'-padded
        conv net when the input is too small for their pooling). A str names a builder in
        ``sigconv.nn.models`` (e.g. ``"lenet5"``); a callable is such a builder; both are called
        with ``input_shape`` and ``n_classes`` when they accept them. A list gives the body
        layer by layer (``sigconv.nn`` layers, layer names or ``("Conv", {"out_channels": 8,
        "kernel_size": 3})`` tuples); ``Flatten`` (when needed) and ``Dense(n_classes)`` are
        appended.
    input_shape : tuple of int or None, default=None
        Shape of one sample, channels first (``(1, 8, 8)`` for digits). Needed for flat X.
    max_iter : int, default=30
        Epochs (passes over the training data).
    batch_size : int, default=32
        Mini-batch size (capped at the number of training samples).
    learning_rate : float, default=1e-3
        Step size of the optimizer.
    optimizer : {"adam", "sgd"}, default="adam"
        Adam or SGD with Nesterov ``momentum``.
    momentum : float, default=0.9
        Momentum of SGD (unused by Adam).
    weight_decay : float, default=0.0
        L2 penalty added to the gradients.
    lr_schedule : {"constant", "cosine"}, default="cosine"
        ``"cosine"`` anneals the learning rate to zero over ``max_iter`` epochs.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (stratified), score it after each epoch,
        stop after ``n_iter_no_change`` epochs without an improvement of ``tol`` and restore
        the best weights. Otherwise training stops when the training loss has not improved by
        ``tol`` for ``n_iter_no_change`` epochs, or after ``max_iter`` epochs.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    tol : float, default=1e-4
    shuffle : bool, default=True
        Shuffle the training data every epoch.
    warm_start : bool, default=False
        Continue from the fitted weights. If the classes change, the last layer is re-made
        for the new classes (transfer learning together with ``trainable_layers``).
    trainable_layers : int or None, default=None
        Train only the last ``trainable_layers`` layers that have weights; the others are
        frozen. None trains everything.
    feature_layer : int or str, default=-2
        The layer whose output ``transform`` returns: an index into ``model_.layers`` or a
        layer name. -2 is the input of the last layer (the penultimate activations).
    random_state : None, int or RandomState, default=None
        Seeds initialisation, shuffling, dropout and the validation split: the same seed gives
        the same model.
    backend : {"auto", "cpu", "cuda"}, default="auto"
        Where training and inference run. ``"cuda"`` keeps the model on the GPU during each
        call (batches copied over once, no activations copied back) and raises
        ``RuntimeError`` when no GPU is usable. ``"auto"`` uses a GPU only when a real one is
        present and one training step (3 passes over ``batch_size`` samples) costs at least
        ``sigconv._config.NN_CONV_GPU_MIN_WORK`` flops; else the CPU.
    verbose : int, default=0
        1 shows a progress bar over epochs with the loss; 2 also prints one line per epoch.
    n_threads : int or None, default=None
        Limit Numba's and the BLAS's threads to this many while fitting and predicting. Small
        batches gain little from threads and lose a lot when the cores are shared with other
        work (spinning worker threads); 1 is often fastest there. None keeps the defaults.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    input_shape_ : tuple of int
        The per-sample shape the network sees.
    model_ : sigconv.nn.Sequential
    loss_curve_ : list of float
        Mean training loss per epoch.
    validation_scores_ : list of float or None
        Validation accuracy per epoch with ``early_stopping``, else None.
    best_validation_score_ : float or None
    n_iter_ : int
        Epochs run (summed over ``partial_fit`` calls and warm starts).
    fit_time_ : float
        Seconds spent in the last ``fit``.
    """

    def __init__(
        self,
        architecture=None,
        *,
        input_shape=None,
        max_iter=30,
        batch_size=32,
        learning_rate=1e-3,
        optimizer="adam",
        momentum=0.9,
        weight_decay=0.0,
        lr_schedule="cosine",
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        shuffle=True,
        warm_start=False,
        trainable_layers=None,
        feature_layer=-2,
        random_state=None,
        backend="auto",
        verbose=0,
        n_threads=None,
    ):
        self.architecture = architecture
        self.input_shape = input_shape
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.shuffle = shuffle
        self.warm_start = warm_start
        self.trainable_layers = trainable_layers
        self.feature_layer = feature_layer
        self.random_state = random_state
        self.backend = backend
        self.verbose = verbose
        self.n_threads = n_threads

    # --- scikit-learn plumbing ------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.non_deterministic = False
        return tags

    # --- parameter checks -----------------------------------------------------------------
    _parameter_constraints: dict = {
        "architecture": [None, str, callable, list, tuple],
        "input_shape": [None, tuple, list],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions({"adam", "sgd"})],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "lr_schedule": [StrOptions({"constant", "cosine"})],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "shuffle": ["boolean"],
        "warm_start": ["boolean"],
        "trainable_layers": [None, Interval(Integral, 1, None, closed="left")],
        "feature_layer": [Integral, str],
        "random_state": ["random_state"],
        "backend": [StrOptions({"auto", "cpu", "cuda"})],
        "verbose": [Interval(Integral, 0, None, closed="left")],
        "n_threads": [None, Interval(Integral, 1, None, closed="left")],
    }

    def _check_more_params(self):
        """What the constraints above cannot say (run after them, by fit and partial_fit)."""
        for name in _NOT_BOOL:
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)):
                raise InvalidParameterError(
                    f"The {name!r} parameter of {type(self).__name__} must be a number, not a "
                    f"bool. Got {value!r} instead."
                )
        check_input_shape(self.input_shape)

    # --- data -----------------------------------------------------------------------------
    def _validate_X(self, X, y=None, reset=True):
        if y is None:
            X = validate_data(self, X, reset=reset, allow_nd=True, dtype=[np.float64, np.float32])
        else:
            X, y = validate_data(
                self, X, y, reset=reset, allow_nd=True, dtype=[np.float64, np.float32]
            )
        return X, y

    def _sample_shape(self, X):
        return sample_shape(X, self.input_shape)

    def _to_network(self, X):
        """X as a C-contiguous float32 batch of shape (n, *input_shape_)."""
        return to_network(X, self.input_shape_, type(self).__name__)

    # --- the network ----------------------------------------------------------------------
    def _configure(self, model):
        """Backend on every layer that has one; freezing per trainable_layers."""
        weighted = [layer for layer in model.layers if layer.has_params]
        n_train = len(weighted) if self.trainable_layers is None else self.trainable_layers
        for i, layer in enumerate(weighted):
            layer.trainable = i >= len(weighted) - n_train
        for layer in model.layers:
            if hasattr(layer, "backend"):
                layer.backend = self.backend

    def _make_optimizer(self, model):
        if self.optimizer == "adam":
            return nn.Adam(model, lr=self.learning_rate, weight_decay=self.weight_decay)
        return nn.SGD(
            model,
            lr=self.learning_rate,
            momentum=self.momentum,
            nesterov=self.momentum > 0,
            weight_decay=self.weight_decay,
        )

    def _logits(self, Xn, batch=256):
        # a model on the GPU copies each host batch over once; only the logits come back
        model = self.model_
        out = [
            _device.to_host(model.forward(Xn[i : i + batch], training=False))
            for i in range(0, len(Xn), batch)
        ]
        model.clear_caches()  # no activations kept between calls
        return np.concatenate(out, axis=0)

    # --- devices ----------------------------------------------------------------------------
    def _device_for(self, batch, passes):
        return device_for(self.backend, self.model_, batch, passes)

    # --- training ---------------------------------------------------------------------------
    def _init_state(self, X, classes, rng, keep_model):
        """Set classes_, input_shape_ and model_ (a new one, or the old one re-headed)."""
        shape = self._sample_shape(X)
        if keep_model:
            if shape != self.input_shape_:
                raise ValueError(
                    f"warm_start: X has samples of shape {shape} but the model was fitted on "
                    f"{self.input_shape_}"
                )
            if not np.array_equal(classes, self.classes_):
                self.model_ = replace_head(self.model_, len(classes), rng)
                self._optimizer = None
        else:
            self.input_shape_ = shape
            self.model_ = build_model(self.architecture, shape, len(classes), rng)
            self._optimizer = None
            self.n_iter_ = 0
            self.loss_curve_ = []
        self.classes_ = classes

    @limited
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train on X, y for up to ``max_iter`` epochs; returns self."""
        if (dk := _dask_for(X)) is not None:
            raise dk.fit_refused(self)
        self._check_more_params()
        if self.backend == "cuda":
            _backend.require_cuda()  # before any work: the error says how to get a GPU
        started = time.perf_counter()
        X, y = self._validate_X(X, y, reset=True)
        check_classification_targets(y)
        classes = unique_labels(y)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes; got 1 class "
                f"({classes[0]!r})"
            )
        rs = check_random_state(self.random_state)
        rng = np.random.default_rng(rs.randint(np.iinfo(np.int32).max))
        keep = self.warm_start and hasattr(self, "model_")
        self._init_state(X, classes, rng, keep)
        yi = np.searchsorted(classes, y)
        Xn = self._to_network(X)

        Xv = yv = None
        if self.early_stopping:
            Xn, Xv, yi, yv = validation_split(Xn, yi, self.validation_fraction, rs)
        self._train(Xn, yi, Xv, yv, rng)
        self.fit_time_ = time.perf_counter() - started
        return self

    def _train(self, Xn, yi, Xv, yv, rng):
        model = self.model_
        self._configure(model)
        device = self._device_for(min(self.batch_size, len(Xn)), 3)
        with model_on(model, device):
            self._train_loop(model, Xn, yi, Xv, yv, rng)

    def _train_loop(self, model, Xn, yi, Xv, yv, rng):
        optimizer = self._make_optimizer(model)
        loss = nn.CrossEntropy()
        self.validation_scores_ = [] if Xv is not None else None
        self.best_validation_score_ = None
        best_loss, best_score, best_weights, stale = np.inf, -np.inf, None, 0
        bar = progress_bar(self.verbose, self.max_iter, type(self).__name__)
        try:
            for epoch in range(self.max_iter):
                lr = lr_at(self.lr_schedule, self.learning_rate, epoch, self.max_iter)
                value = self._epoch(Xn, yi, optimizer, loss, rng, lr)
                if not np.isfinite(value):
                    raise FloatingPointError(
                        f"training diverged at epoch {epoch + 1} (loss {value}); lower "
                        f"learning_rate (now {self.learning_rate})"
                    )
                self.loss_curve_.append(float(value))
                self.n_iter_ += 1
                info = {"loss": f"{value:.4f}"}
                if Xv is not None:
                    score = float(np.mean(self._logits(Xv).argmax(axis=1) == yv))
                    self.validation_scores_.append(score)
                    info["val_acc"] = f"{score:.4f}"
                    if score > best_score + self.tol:
                        best_score, stale = score, 0
                        best_weights = snapshot(model)
                    else:
                        stale += 1
                else:
                    if value < best_loss - self.tol:
                        stale = 0
                    else:
                        stale += 1
                    best_loss = min(best_loss, value)
                if bar is not None:
                    bar.set_postfix(info)
                    bar.update(1)
                if self.verbose >= 2:
                    text = ", ".join(f"{k} {v}" for k, v in info.items())
                    print(f"epoch {epoch + 1}: {text}", flush=True)
                if stale >= self.n_iter_no_change:
                    break
        finally:
            if bar is not None:
                bar.close()
        if best_weights is not None:
            restore(model, best_weights)
            self.best_validation_score_ = best_score
        model.clear_caches()  # a fitted estimator pickles small, no copy of X

    def _epoch(self, Xn, yi, optimizer, loss, rng, lr):
        return run_epoch(
            self.model_, Xn, yi, optimizer, loss, rng, lr,
            batch_size=self.batch_size, shuffle=self.shuffle,
        )  # fmt: skip

    @limited
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
        """One epoch on X, y. The first call needs ``classes`` (every label there will be)."""
        if (dk := _dask_for(X)) is not None:  # one call per block of samples
            return dk.partial_fit(self, X, y, classes)
        first = not hasattr(self, "model_")
        if not first:  # _fit_context validates only a first partial_fit; set_params may follow
            self._validate_params()
        self._check_more_params()
        X, y = self._validate_X(X, y, reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            classes = unique_labels(classes)
            if len(classes) < 2:
                raise ValueError(f"classes must hold at least 2 classes; got {classes!r}")
            rs = check_random_state(self.random_state)
            self._rng = np.random.default_rng(rs.randint(np.iinfo(np.int32).max))
            self._init_state(X, classes, self._rng, keep_model=False)
            self.validation_scores_ = None
            self.best_validation_score_ = None
        elif classes is not None and not np.array_equal(unique_labels(classes), self.classes_):
            raise ValueError(
                f"classes {unique_labels(classes)!r} differ from those of the first call "
                f"{self.classes_!r}"
            )
        unseen = np.setdiff1d(unique_labels(y), self.classes_)
        if unseen.size:
            raise ValueError(f"y holds labels {unseen!r} that are not in classes {self.classes_!r}")
        if not hasattr(self, "_rng"):  # continuing a model made by fit
            self._rng = np.random.default_rng(check_random_state(self.random_state).randint(2**31))
        Xn = self._to_network(X)
        yi = np.searchsorted(self.classes_, y)
        if self.backend == "cuda":
            _backend.require_cuda()
        if getattr(self, "_optimizer", None) is None:
            self._configure(self.model_)
            self._optimizer = self._make_optimizer(self.model_)
        device = self._device_for(min(self.batch_size, len(Xn)), 3)
        with model_on(self.model_, device):
            # the optimizer's state follows the weights to the GPU and stays there between calls
            value = self._epoch(
                Xn, yi, self._optimizer, nn.CrossEntropy(), self._rng, self.learning_rate
            )
        self.loss_curve_.append(float(value))
        self.n_iter_ += 1
        return self

    # --- inference --------------------------------------------------------------------------
    def _checked(self, X):
        check_is_fitted(self, "model_")
        X, _ = self._validate_X(X, reset=False)
        return self._to_network(X)

    @limited
    def _scores(self, X):
        """Logits of shape (n_samples, n_classes), float64."""
        Xn = self._checked(X)
        with model_on(self.model_, self._device_for(min(256, len(Xn)), 1)):
            return self._logits(Xn).astype(np.float64)

    def predict_proba(self, X):
        """Class probabilities (softmax of the logits), shape (n_samples, n_classes)."""
        if (dk := _dask_for(X)) is not None:
            return dk.predict_proba(self, X)
        z = self._scores(X)
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z

    def predict_log_proba(self, X):
        if (dk := _dask_for(X)) is not None:
            return dk.predict_log_proba(self, X)
        z = self._scores(X)
        z -= z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def predict(self, X):
        """The most probable class of each sample."""
        if (dk := _dask_for(X)) is not None:
            return dk.predict(self, X)
        scores = self._scores(X)  # first: it checks that the estimator is fitted
        return self.classes_[scores.argmax(axis=1)]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of ``predict(X)`` against ``y`` (scikit-learn's ``score``)."""
        if (dk := _dask_for(X)) is not None:  # computed block-wise
            return dk.score(self, X, y, sample_weight)
        return super().score(X, y, sample_weight=sample_weight)

    def _feature_index(self):
        layers = self.model_.layers
        fl = self.feature_layer
        if isinstance(fl, str):
            names = [getattr(layer, "name", None) for layer in layers]
            if fl not in names:
                raise ValueError(
                    f"feature_layer {fl!r} names no layer of the model; names: {names}"
                )
            return names.index(fl)
        if not -len(layers) <= fl < len(layers):
            raise ValueError(
                f"feature_layer must index one of the model's {len(layers)} layers; got {fl}"
            )
        return fl % len(layers)

    @limited
    def transform(self, X):
        """Activations of ``feature_layer`` for X, flattened to (n_samples, n_features)."""
        if (dk := _dask_for(X)) is not None:
            return dk.transform(self, X)
        Xn = self._checked(X)
        stop = self._feature_index() + 1
        out = []
        with model_on(self.model_, self._device_for(min(256, len(Xn)), 1)) as model:
            for i in range(0, len(Xn), 256):
                h = Xn[i : i + 256]
                if model.device == "cuda":
                    h = _device.to_device(h)
                for layer in model.layers[:stop]:
                    h = layer.forward(h, training=False)
                out.append(np.asarray(_device.to_host(h), dtype=DTYPE).reshape(len(h), -1))
        return np.concatenate(out, axis=0)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_optimizer", None)  # rebuilt on the next partial_fit
        return state

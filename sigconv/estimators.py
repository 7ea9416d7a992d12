"""``CNNClassifier``: a sigconv CNN as a scikit-learn classifier (docs/contract.md §3).

The estimator follows scikit-learn's contract: ``__init__`` only stores its arguments, fitted
state ends in ``_``, inputs go through ``validate_data``. X is ``(n_samples, *input_shape)`` or
flat ``(n_samples, n_features)`` with an ``input_shape`` that says how to fold it (so it works
after a ``StandardScaler`` in a Pipeline). Without ``input_shape`` the rank of X decides:
``(n, L)`` is a batch of 1-D signals, ``(n, H, W)`` of grey images, ``(n, D, H, W)`` of volumes,
and ``(n, C, D, H, W)`` of volumes with channels; pass ``input_shape`` for channels in 1-D or 2-D
data (``input_shape=(3, 32, 32)`` for colour images).

``transform`` returns the activations of one layer (by default the input of the classifier's
last layer): the "deep features" recipe, e.g. ``Pipeline([("cnn", CNNClassifier(...)),
("svc", SVC())])``.

GPU: with ``backend="cuda"`` (or ``"auto"`` on a machine with a GPU when one training step is
large enough to pay for it) ``fit``/``partial_fit`` move the model to the GPU for the duration
of the call, copy each mini-batch over once and train without copying activations back (only
the loss value per batch). ``predict``, ``predict_proba``, ``transform`` and ``score`` likewise
run batch by batch on the GPU. Between calls ``model_`` lives on the host, so a fitted
estimator pickles (and is inspected) like a CPU one.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import math
import numbers
import sys
import time

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from . import _backend, _config, _dask, _validate, nn
from .nn import _device

__all__ = ["CNNClassifier"]

_OPTIMIZERS = ("adam", "sgd")
_DTYPE = np.float32  # training and inference run in float32: twice the speed of float64


def _default_layers(rank: int, n_classes: int):
    """A small net that fits any input size: 'same' convolutions keep every position."""
    width = 16 if rank == 1 else 8
    return [
        nn.Conv(width, 3, padding="same"),
        nn.ReLU(),
        nn.Flatten(),
        nn.Dense(n_classes),
    ]


@contextlib.contextmanager
def _thread_limit(n):
    """Limit Numba's and the BLAS's threads to ``n`` for the duration (None: no change)."""
    if n is None:
        yield
        return
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    try:
        with threadpool_limits(n):
            yield
    finally:
        numba.set_num_threads(before)


def _limited(method):
    """Run an estimator method under its ``n_threads`` limit."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        n = self.n_threads if _valid_threads(self.n_threads) else None
        if n is None and "dask" in sys.modules:  # in a Dask task: docs/contract.md §5
            n = _dask.task_threads()
        with _thread_limit(n):
            return method(self, *args, **kwargs)

    return wrapper


def _valid_threads(n):
    return n is None or (
        isinstance(n, (numbers.Integral, np.integer)) and not isinstance(n, bool) and n >= 1
    )


def _model_flops(model) -> float:
    """Multiply-adds (x2) of one sample's forward pass through the weighted layers."""
    total = 0.0
    for layer in model.layers:
        w = layer.params.get("weight")
        if w is None or layer.output_shape is None:
            continue
        w_shape = tuple(int(n) for n in w.shape)
        if len(w_shape) > 2:  # Conv: every output position reads C_in/groups x kernel weights
            total += 2.0 * math.prod(layer.output_shape) * math.prod(w_shape[1:])
        else:
            total += 2.0 * math.prod(w_shape)
    return total


def _call_builder(builder, input_shape, n_classes):
    """Call a model builder with whichever of input_shape / in_channels / n_classes it takes."""
    try:
        params = inspect.signature(builder).parameters
    except (TypeError, ValueError):  # builtins without a signature
        params = {}
    kwargs = {}
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if "input_shape" in params or accepts_any:
        kwargs["input_shape"] = tuple(input_shape)
    elif "in_channels" in params:
        kwargs["in_channels"] = input_shape[0]
    for name in ("n_classes", "num_classes"):
        if name in params:
            kwargs[name] = n_classes
            break
    else:
        if accepts_any:
            kwargs["n_classes"] = n_classes
    model = builder(**kwargs)
    if isinstance(model, (list, tuple)):
        model = nn.Sequential(list(model))
    if not hasattr(model, "forward") or not hasattr(model, "layers"):
        raise TypeError(
            "architecture builder must return a sigconv.nn.Sequential or a list of layers; "
            f"got {type(model).__name__}"
        )
    return model


def _layer_from_spec(spec, index):
    """A fresh layer from a layer, a layer name, ``(name, kwargs)`` or ``(name, *args)``."""
    if isinstance(spec, nn.Layer):
        return copy.deepcopy(spec)
    if isinstance(spec, str):
        name, args, kwargs = spec, (), {}
    elif isinstance(spec, (tuple, list)) and spec and isinstance(spec[0], str):
        name = spec[0]
        rest = list(spec[1:])
        kwargs = rest.pop() if rest and isinstance(rest[-1], dict) else {}
        args = tuple(rest)
    else:
        raise TypeError(
            f"architecture[{index}] must be a sigconv.nn layer, a layer name or a "
            f"(name, kwargs) tuple; got {spec!r}"
        )
    cls = getattr(nn, name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Layer)):
        raise ValueError(f"architecture[{index}] names no sigconv.nn layer; got {name!r}")
    return cls(*args, **kwargs)


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
    def _check_params(self):
        def positive_int(name, minimum=1, allow_none=False):
            value = getattr(self, name)
            if value is None and allow_none:
                return
            if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
                raise TypeError(f"{name} must be an int >= {minimum}; got {value!r}")
            if value < minimum:
                raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")

        def real(name, lo, hi=None, lo_open=False, hi_open=False):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.number)):
                raise TypeError(f"{name} must be a real number; got {value!r}")
            bad = value < lo or (lo_open and value == lo)
            if hi is not None:
                bad = bad or value > hi or (hi_open and value == hi)
            if bad or not np.isfinite(value):
                left = "(" if lo_open else "["
                right = ")" if hi_open else "]"
                rng = f"{left}{lo}, {hi}{right}" if hi is not None else f"{left}{lo}, inf)"
                raise ValueError(f"{name} must be in {rng}; got {value!r}")

        positive_int("max_iter")
        positive_int("batch_size")
        positive_int("n_iter_no_change")
        positive_int("trainable_layers", allow_none=True)
        positive_int("verbose", minimum=0)
        positive_int("n_threads", allow_none=True)
        real("learning_rate", 0, lo_open=True)
        real("momentum", 0, 1)
        real("weight_decay", 0)
        real("tol", 0)
        real("validation_fraction", 0, 1, lo_open=True, hi_open=True)
        for name, options in (
            ("optimizer", _OPTIMIZERS),
            ("lr_schedule", ("constant", "cosine")),
            ("backend", ("auto", "cpu", "cuda")),
        ):
            # a non-string is a TypeError, as everywhere else in the package
            _validate.check_option(getattr(self, name), name, options)
        if self.input_shape is not None:
            shape = self.input_shape
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
        fl = self.feature_layer
        if isinstance(fl, bool) or not isinstance(fl, (numbers.Integral, np.integer, str)):
            raise TypeError(f"feature_layer must be an int index or a layer name; got {fl!r}")

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
        """The per-sample shape (channels first) for X, from input_shape or from X's rank."""
        if self.input_shape is not None:
            shape = tuple(int(s) for s in self.input_shape)
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

    def _to_network(self, X):
        """X as a C-contiguous float32 batch of shape (n, *input_shape_)."""
        shape = self.input_shape_
        if math.prod(X.shape[1:]) != math.prod(shape):
            raise ValueError(
                f"X has {math.prod(X.shape[1:])} values per sample (shape {X.shape}) but "
                f"{type(self).__name__} was fitted on samples of shape {shape}"
            )
        return np.ascontiguousarray(X.reshape((X.shape[0], *shape)), dtype=_DTYPE)

    # --- the network ----------------------------------------------------------------------
    def _build_model(self, input_shape, n_classes, rng):
        arch = self.architecture
        if arch is None:
            model = self._default_model(input_shape, n_classes, rng)
        elif isinstance(arch, str) or callable(arch):
            builder = arch
            if isinstance(arch, str):
                from .nn import models

                builder = getattr(models, arch, None)
                if builder is None or arch.startswith("_") or not callable(builder):
                    names = [
                        n for n in getattr(models, "__all__", []) if callable(getattr(models, n))
                    ]
                    raise ValueError(
                        f"architecture must name a builder in sigconv.nn.models {names}; "
                        f"got {arch!r}"
                    )
            model = _call_builder(builder, input_shape, n_classes)
            model.build(input_shape, rng, _DTYPE)
        elif isinstance(arch, (list, tuple)):
            layers = [_layer_from_spec(spec, i) for i, spec in enumerate(arch)]
            body = nn.Sequential(copy.deepcopy(layers)).build(input_shape, rng, _DTYPE)
            head = [nn.Flatten()] if len(body.output_shape) > 1 else []
            model = nn.Sequential(layers + head + [nn.Dense(n_classes)])
            model.build(input_shape, rng, _DTYPE)
        else:
            raise TypeError(
                "architecture must be None, a builder name, a callable or a list of layers; "
                f"got {type(arch).__name__}"
            )
        out = model.layers[-1].output_shape
        if out is not None and tuple(out) != (n_classes,):
            raise ValueError(
                f"the architecture outputs shape {tuple(out)} per sample; a classifier of "
                f"{n_classes} classes needs ({n_classes},)"
            )
        return model

    def _default_model(self, input_shape, n_classes, rng):
        from .nn import models

        rank = len(input_shape) - 1
        builder = {1: "audio_net", 2: "digits_net", 3: "volume_net"}[rank]
        builder = getattr(models, builder, None)
        if builder is not None:
            try:
                model = _call_builder(builder, input_shape, n_classes)
                model.build(input_shape, rng, _DTYPE)
                return model
            except ValueError:
                pass  # too small for the builder's pooling: the small net below fits anything
        model = nn.Sequential(_default_layers(rank, n_classes))
        model.build(input_shape, rng, _DTYPE)
        return model

    def _replace_head(self, n_classes, rng):
        """Re-make the last Dense layer for ``n_classes`` outputs (new classes on warm start)."""
        layers = list(self.model_.layers)
        idx = max(i for i, layer in enumerate(layers) if layer.has_params)
        old = layers[idx]
        if not isinstance(old, nn.Dense):
            raise ValueError(
                "warm_start with new classes needs a Dense last weighted layer to re-make; got "
                f"{type(old).__name__}"
            )
        new = nn.Dense(old.in_features, n_classes, bias=old.bias, weight_init=old.weight_init)
        new.build(old.input_shape, rng, _DTYPE)
        new.name = old.name
        model = self.model_
        model.layers[idx] = new  # in place: building the model again would redraw every weight
        return model

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

    @staticmethod
    def _clear_caches(model):
        # forward passes cache their inputs for backward; drop them so a fitted estimator
        # pickles small and holds no copy of the training data
        for layer in model.layers:
            layer._cache = None

    def _logits(self, Xn, batch=256):
        # a model on the GPU copies each host batch over once; only the logits come back
        model = self.model_
        out = [
            _device.to_host(model.forward(Xn[i : i + batch], training=False))
            for i in range(0, len(Xn), batch)
        ]
        self._clear_caches(model)
        return np.concatenate(out, axis=0)

    # --- devices ----------------------------------------------------------------------------
    def _device_for(self, batch, passes):
        """``"cuda"`` or ``"cpu"`` for work on ``batch`` samples, ``passes`` passes per batch."""
        if self.backend == "cpu":
            return "cpu"
        if self.backend == "cuda":
            _backend.require_cuda()
            return "cuda"
        work = passes * batch * _model_flops(self.model_)
        if work >= _config.NN_CONV_GPU_MIN_WORK and _backend.gpu_present():
            return "cuda"
        return "cpu"

    @contextlib.contextmanager
    def _model_on(self, device):
        """``model_`` on ``device`` for the duration; back on the host (caches dropped) after."""
        model = self.model_
        if device == "cuda":
            model.to("cuda")
        try:
            yield model
        finally:
            self._clear_caches(model)
            if model.device != "cpu":
                model.to("cpu")

    # --- training ---------------------------------------------------------------------------
    def _epoch(self, Xn, yi, optimizer, loss, rng, lr):
        model = self.model_
        n = len(Xn)
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        bs = min(self.batch_size, n)
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

    def _lr_at(self, epoch):
        if self.lr_schedule == "constant":
            return self.learning_rate
        return 0.5 * self.learning_rate * (1 + math.cos(math.pi * epoch / self.max_iter))

    def _snapshot(self):
        # copies on the weights' own side: a GPU model's snapshot never visits the host
        return [
            {k: _device.clone(v) for k, v in layer.params.items()} for layer in self.model_.layers
        ]

    def _restore(self, snapshot):
        for layer, params in zip(self.model_.layers, snapshot):
            for key, value in params.items():
                # in place: the optimizer keeps its references
                target = layer.params[key]
                if _device.is_device(target):
                    _device.cuda_module("_launch").copy(_device.view(value), _device.view(target))
                else:
                    target[...] = value

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
                self.model_ = self._replace_head(len(classes), rng)
                self._optimizer = None
        else:
            self.input_shape_ = shape
            self.model_ = self._build_model(shape, len(classes), rng)
            self._optimizer = None
            self.n_iter_ = 0
            self.loss_curve_ = []
        self.classes_ = classes

    @_limited
    def fit(self, X, y):
        """Train on X, y for up to ``max_iter`` epochs; returns self."""
        if _dask.is_dask_array(X):
            from . import _dask_estimators

            raise _dask_estimators.fit_refused(self)
        self._check_params()
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
            strat = yi if np.bincount(yi).min() >= 2 else None
            try:
                Xn, Xv, yi, yv = train_test_split(
                    Xn,
                    yi,
                    test_size=self.validation_fraction,
                    random_state=rs.randint(np.iinfo(np.int32).max),
                    stratify=strat,
                )
            except ValueError:  # too few samples per class for a stratified split
                Xn, Xv, yi, yv = train_test_split(
                    Xn,
                    yi,
                    test_size=self.validation_fraction,
                    random_state=rs.randint(np.iinfo(np.int32).max),
                )
        self._train(Xn, yi, Xv, yv, rng)
        self.fit_time_ = time.perf_counter() - started
        return self

    def _train(self, Xn, yi, Xv, yv, rng):
        model = self.model_
        self._configure(model)
        device = self._device_for(min(self.batch_size, len(Xn)), 3)
        with self._model_on(device):
            self._train_loop(model, Xn, yi, Xv, yv, rng)

    def _train_loop(self, model, Xn, yi, Xv, yv, rng):
        optimizer = self._make_optimizer(model)
        loss = nn.CrossEntropy()
        self.validation_scores_ = [] if Xv is not None else None
        self.best_validation_score_ = None
        best_loss, best_score, best_weights, stale = np.inf, -np.inf, None, 0
        bar = self._progress(self.max_iter)
        try:
            for epoch in range(self.max_iter):
                value = self._epoch(Xn, yi, optimizer, loss, rng, self._lr_at(epoch))
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
                        best_weights = self._snapshot()
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
            self._restore(best_weights)
            self.best_validation_score_ = best_score
        self._clear_caches(model)

    def _progress(self, total):
        if not self.verbose:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=type(self).__name__, unit="epoch", leave=False)

    @_limited
    def partial_fit(self, X, y, classes=None):
        """One epoch on X, y. The first call needs ``classes`` (every label there will be)."""
        if _dask.is_dask_array(X):  # one call per block of samples (docs/contract.md §5)
            from . import _dask_estimators

            return _dask_estimators.partial_fit(self, X, y, classes)
        self._check_params()
        first = not hasattr(self, "model_")
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
        with self._model_on(device):
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

    @_limited
    def _scores(self, X):
        """Logits of shape (n_samples, n_classes), float64."""
        Xn = self._checked(X)
        with self._model_on(self._device_for(min(256, len(Xn)), 1)):
            return self._logits(Xn).astype(np.float64)

    def predict_proba(self, X):
        """Class probabilities (softmax of the logits), shape (n_samples, n_classes)."""
        if _dask.is_dask_array(X):  # block-wise over samples (docs/contract.md §5)
            from . import _dask_estimators

            return _dask_estimators.predict_proba(self, X)
        z = self._scores(X)
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z

    def predict_log_proba(self, X):
        if _dask.is_dask_array(X):  # block-wise over samples (docs/contract.md §5)
            from . import _dask_estimators

            return _dask_estimators.predict_log_proba(self, X)
        z = self._scores(X)
        z -= z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def predict(self, X):
        """The most probable class of each sample."""
        if _dask.is_dask_array(X):  # block-wise over samples (docs/contract.md §5)
            from . import _dask_estimators

            return _dask_estimators.predict(self, X)
        scores = self._scores(X)  # first: it checks that the estimator is fitted
        return self.classes_[scores.argmax(axis=1)]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of ``predict(X)`` against ``y`` (scikit-learn's ``score``)."""
        if _dask.is_dask_array(X):  # computed block-wise (docs/contract.md §5)
            from . import _dask_estimators

            return _dask_estimators.score(self, X, y, sample_weight)
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

    @_limited
    def transform(self, X):
        """Activations of ``feature_layer`` for X, flattened to (n_samples, n_features)."""
        if _dask.is_dask_array(X):  # block-wise over samples (docs/contract.md §5)
            from . import _dask_estimators

            return _dask_estimators.transform(self, X)
        Xn = self._checked(X)
        stop = self._feature_index() + 1
        out = []
        with self._model_on(self._device_for(min(256, len(Xn)), 1)) as model:
            for i in range(0, len(Xn), 256):
                h = Xn[i : i + 256]
                if model.device == "cuda":
                    h = _device.to_device(h)
                for layer in model.layers[:stop]:
                    h = layer.forward(h, training=False)
                out.append(np.asarray(_device.to_host(h), dtype=_DTYPE).reshape(len(h), -1))
        return np.concatenate(out, axis=0)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_optimizer", None)  # rebuilt on the next partial_fit
        return state

"""``Sequential``: a stack of layers with training, summary, save/load and freezing.

The model is built (weights created, sizes inferred) by ``build(input_shape, rng)`` or lazily
by its first ``forward``. Shapes exclude the batch axis, as in Keras. Weights are drawn from a
numpy ``Generator`` (``random_state`` or the ``rng`` given to ``build``); every layer gets its
own child generator (``Generator.spawn``), so a fixed seed gives bit-identical weights, dropout
masks and stochastic-pooling samples.

GPU training: ``model.to("cuda")`` (or ``model.cuda()``) moves every weight and gradient to the
GPU, ``model.to("cpu")`` (``model.cpu()``) back. A model on the GPU takes device batches (or
host batches, copied over once per batch) and keeps every activation and gradient on the
device: ``train_step`` copies back only the loss value. ``predict``, ``predict_proba`` and
``score`` take host or device inputs and return host arrays; ``save``, ``summary``,
``count_params`` and ``get_config`` work on either side (``save`` writes host arrays). Weights
are always drawn on the host, so a seed gives the same model on either side; a pickled model
(or a deep copy) is a host model.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _validate
from . import _device, _model_file
from .layers import Conv, Layer, MaxPool, ReLU, Softmax
from .losses import log_softmax

__all__ = ["Sequential"]

_SPECIAL_NAMES = {"ReLU": "relu", "LeakyReLU": "leaky_relu", "LPPool": "lp_pool"}


def _snake(name: str) -> str:
    if name in _SPECIAL_NAMES:
        return _SPECIAL_NAMES[name]
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def _as_rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (numbers.Integral, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be None, an int seed or a numpy Generator; got {rng!r}")


class Sequential:
    """A linear stack of layers.

    Parameters
    ----------
    layers : list of Layer, or layers as separate arguments
        ``Sequential([Conv(6, 5), ReLU(), ...])`` or ``Sequential(Conv(6, 5), ReLU(), ...)``.
    random_state : int, numpy Generator or None, default 0
        Seed of the weights when the model builds itself (first ``forward``); ``build`` may be
        given its own ``rng``. ``None`` draws fresh entropy (not reproducible).
    dtype : float32, float64 or None
        Weight and activation dtype. ``None`` takes the input's compute dtype at the first
        forward pass (float32 for float32 input, float64 otherwise); ``build`` defaults to
        float32.
    name : str
        Shown by :meth:`summary`.

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv import nn
    >>> model = nn.Sequential(
    ...     [nn.Conv(4, 3, padding=1), nn.ReLU(), nn.GlobalAvgPool(), nn.Flatten(), nn.Dense(3)]
    ... )
    >>> model.build((1, 8, 8)).count_params()  # in_channels and in_features inferred
    55
    >>> x = np.random.default_rng(0).standard_normal((5, 1, 8, 8)).astype(np.float32)
    >>> model.forward(x).shape
    (5, 3)
    >>> model.predict_proba(x).sum(axis=1).round(6)
    array([1., 1., 1., 1., 1.], dtype=float32)
    >>> model.freeze(0).trainable_layers[0].name  # layer 0 frozen: only the dense layer trains
    'dense'
    """

    def __init__(self, layers=(), *more, random_state=0, dtype=None, name: str = "sequential"):
        if isinstance(layers, Layer):
            layers = [layers, *more]
        elif more:
            raise TypeError("pass the layers either as one list or as separate arguments")
        self.layers: list[Layer] = []
        self.random_state = random_state
        self.dtype = None if dtype is None else np.dtype(dtype)
        if self.dtype is not None and self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64; got {dtype!r}")
        self.name = str(name)
        self.input_shape: tuple[int, ...] | None = None
        self.built = False
        self._device = "cpu"
        self._masked_pools = frozenset()  # see forward()
        for layer in layers:
            self.add(layer)

    # --- structure ------------------------------------------------------------------------
    def add(self, layer: Layer) -> Sequential:
        """Append ``layer`` (before the model is built); returns the model."""
        if not isinstance(layer, Layer):
            raise TypeError(f"layers must be sigconv.nn layers; got {type(layer).__name__}")
        if self.built:
            raise RuntimeError("cannot add layers to a built model")
        if layer.name is None:
            base = _snake(type(layer).__name__)
            taken = {lay.name for lay in self.layers}
            name, k = base, 0
            while name in taken:
                k += 1
                name = f"{base}_{k}"
            layer.name = name
        if self.device == "cuda":
            layer.to("cuda")
        self.layers.append(layer)
        return self

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, index):
        return self.layers[index]

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential([{inner}])"

    @property
    def output_shape(self):
        return self.layers[-1].output_shape if self.built and self.layers else None

    def build(self, input_shape, rng=None, dtype=None) -> Sequential:
        """Create every layer's weights for samples of ``input_shape`` (batch axis excluded).

        ``rng`` (seed or Generator; default ``random_state``) is split into one child generator
        per layer. ``dtype`` defaults to the model's dtype, else float32. Returns the model.
        """
        if not self.layers:
            raise ValueError("cannot build a Sequential without layers")
        if isinstance(input_shape, (numbers.Integral, np.integer)):
            input_shape = (input_shape,)
        shape = tuple(_validate.int_tuple(tuple(input_shape), "input_shape", len(input_shape)))
        rng = _as_rng(self.random_state if rng is None else rng)
        dtype = np.dtype(dtype if dtype is not None else self.dtype or np.float32)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64; got {dtype}")
        children = rng.spawn(len(self.layers))
        self.input_shape = shape
        for layer, child in zip(self.layers, children):
            try:
                shape = layer.build(shape, child, dtype)
            except ValueError as exc:
                raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}): {exc}") from exc
        self.dtype = dtype
        self.built = True
        return self

    # --- devices ------------------------------------------------------------------------------
    @property
    def device(self) -> str:
        """Where the weights live: ``"cpu"`` (numpy arrays) or ``"cuda"`` (device arrays)."""
        return getattr(self, "_device", "cpu")

    def to(self, device: str) -> Sequential:
        """Move every weight and gradient to ``device`` (``"cpu"`` or ``"cuda"``), in place;
        returns the model (PyTorch's ``model.to("cuda")``).

        A model moved before it is built creates its weights on the host (the same seeded
        values as on the CPU) and moves them when it builds. ``"cuda"`` without a usable GPU
        raises ``RuntimeError`` saying what is missing. Optimizers keep working: their state
        follows the weights at the next step.
        """
        device = _device.check_device(device)
        for layer in self.layers:
            layer.to(device)
        self._device = device
        return self

    def cuda(self) -> Sequential:
        """``to("cuda")``."""
        return self.to("cuda")

    def cpu(self) -> Sequential:
        """``to("cpu")``."""
        return self.to("cpu")

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_device"] = "cpu"  # layers pickle their weights as host arrays
        return state

    def clear_caches(self) -> Sequential:
        """Drop what every layer kept from the last forward pass for backward (activations,
        masks, indices): frees that memory and keeps a pickled model small. :meth:`backward`
        needs a new :meth:`forward` afterwards. Returns the model."""
        for layer in self.layers:
            layer.clear_cache()
        self._masked_pools = frozenset()
        return self

    # --- forward / backward -------------------------------------------------------------------
    def _input(self, x):
        """``x`` as a batch on the model's side, in its dtype (builds the model if needed).

        Host input to a GPU model is copied over once; device input builds a model that is
        not built yet on the GPU, and is refused by a host model with weights.
        """
        if _device.is_device(x):
            d = _device.view(x)
            shape = tuple(int(n) for n in d.shape)
            if len(shape) < 2 or 0 in shape:
                raise ValueError(
                    f"x must be a non-empty (N, ...) batch of at least 2 dimensions; got shape "
                    f"{shape}"
                )
            if d.dtype.kind not in "iubf":
                raise TypeError(f"x must have a real numeric dtype; got dtype {d.dtype}")
            if not self.built:
                self.to("cuda")
                self.build(shape[1:], dtype=self.dtype or _validate.compute_dtype(d))
            elif self.device != "cuda" and self.count_params():
                raise TypeError(
                    "x is a device array but the model's weights are on the host; call "
                    "model.to('cuda') first (or pass a host array)"
                )
            x = _device.to_device(d, self.dtype)
            if x is d and getattr(self.layers[0], "inplace", False):
                x = _device.clone(x)  # the caller's array is never modified
            return x
        x = _validate.as_input_array(x, "x", min_ndim=2)
        if not self.built:
            self.build(x.shape[1:], dtype=self.dtype or _validate.compute_dtype(x))
        if self.device == "cuda":
            return _device.to_device(x, self.dtype)  # one copy per batch; a fresh buffer
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        elif getattr(self.layers[0], "inplace", False):
            x = x.copy()  # the caller's array is never modified
        return x

    def forward(self, x, training: bool = True):
        """The model's output for a batch ``x`` of shape ``(N, *input_shape)``.

        A model on the GPU returns a device array (host ``x`` is copied over first); a host
        model returns a numpy array. A ``Conv`` followed by a ``ReLU`` runs as one pass
        (:meth:`Conv.forward_relu`, the ReLU layer taking its output with
        :meth:`ReLU.adopt`): the values of the two layers, bit for bit, without a second pass
        over the convolution's output.
        """
        x = self._input(x)
        layers = self.layers
        pooled = {}  # host outputs of the MaxPools that follow a ReLU, by index
        i = 0
        while i < len(layers):
            layer = layers[i]
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if type(layer) is Conv and type(nxt) is ReLU:
                # one pass for both (Conv.forward_relu); the ReLU keeps the output for its
                # backward pass as its own forward would
                x = nxt.adopt(layer.forward_relu(x, training))
                i += 2
                continue
            x = layer.forward(x, training)
            if type(layer) is MaxPool and i and type(layers[i - 1]) is ReLU:
                pooled[i] = x
            i += 1
        # backward() masks these pools' gradients with their outputs (MaxPool.backward_relu):
        # not where the model's output is, or views, one of them (the caller may change it)
        self._masked_pools = frozenset(
            i for i, y in pooled.items() if type(y) is np.ndarray and not np.may_share_memory(y, x)
        )
        return x

    __call__ = forward

    def _first_needed(self) -> int:
        """Index of the first layer with trainable weights (len(layers) when none)."""
        for i, layer in enumerate(self.layers):
            if layer.trainable and layer.has_params:
                return i
        return len(self.layers)

    def backward(self, grad, *, need_input_grad: bool = True):
        """Back-propagate ``grad`` (gradient of the output); fills every trainable layer's
        ``grads`` and returns the gradient of the input (``None`` if not ``need_input_grad``).

        Layers before the first trainable one are skipped when the input gradient is not
        needed, so a model with frozen early layers trains at the cost of its trainable tail.
        A ``ReLU`` followed by a ``MaxPool`` runs as one pass (:meth:`MaxPool.backward_relu`,
        host arrays, a pooled output that :meth:`forward` did not return), with the values
        of the two layers' passes.
        """
        if not self.built:
            raise RuntimeError("Sequential.backward called before forward")
        first = 0 if need_input_grad else self._first_needed()
        if not _device.is_device(grad):
            grad = np.asarray(grad)
        layers = self.layers
        masked = self.__dict__.get("_masked_pools", ())  # (none in a model pickled by 0.1)
        i = len(layers) - 1
        while i >= first:
            layer = layers[i]
            if i in masked and i - 1 >= first and not _device.is_device(grad):
                # the ReLU's mask applied to the pooled gradient (MaxPool.backward_relu): the
                # ReLU's own pass over the full-size gradient is skipped
                grad = layer.backward_relu(grad)
                i -= 2
                continue
            grad = layer.backward(grad, need_input_grad=i > first or need_input_grad)
            i -= 1
        return grad if need_input_grad else None

    def train_step(self, x, y, loss, optimizer) -> float:
        """One step: forward (training), loss, backward, optimizer update; returns the loss.

        On the GPU everything stays on the device but the returned loss value (``x`` and
        ``y`` may be host arrays, copied over once, or device arrays). On the CPU the step
        runs with BLAS limited to one thread (restored when it returns) and its matrix
        products split over sigconv's threads, as :meth:`predict` does.
        """
        from .._cpu import _blas

        # One pool for the step: BLAS single-threaded while it runs, its products split over
        # sigconv's threads (docs/performance.md, "Threads"): W6's epoch 0.70 -> 0.61 s on the
        # quiet 2-core machine; next to another busy process OpenBLAS's spinning threads made
        # it 5-15 s.
        with _blas.one_pool():
            out = self.forward(x, training=True)
            value = loss.forward(out, y)
            self.backward(loss.backward(), need_input_grad=False)
            optimizer.step()
        return value

    def _batched(self, x, batch_size):
        """The outputs for ``x`` in batches, as one host array (device outputs copied back)."""
        if _device.is_device(x):
            x = _device.view(x)
        else:
            x = _validate.as_input_array(x, "x", min_ndim=2)
        if not isinstance(batch_size, (numbers.Integral, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
        from .._cpu import _blas

        with _blas.one_pool():  # as in train_step
            outs = [
                _device.to_host(self.forward(x[i : i + batch_size], training=False))
                for i in range(0, int(x.shape[0]), batch_size)
            ]
        return np.concatenate(outs, axis=0)

    def predict_proba(self, x, batch_size: int = 256):
        """Class probabilities ``(N, n_classes)``: softmax of the outputs, in batches (a final
        :class:`Softmax` layer's output is returned as it is)."""
        out = self._batched(x, batch_size)
        if isinstance(self.layers[-1], Softmax):
            return out
        return np.exp(log_softmax(out, axis=1))

    def predict(self, x, batch_size: int = 256):
        """Predicted class indices ``(N,)`` (argmax of the outputs), in batches."""
        return np.argmax(self._batched(x, batch_size), axis=1)

    def score(self, x, y, batch_size: int = 256) -> float:
        """Accuracy of :meth:`predict` against integer labels ``y`` (host or device)."""
        return float(np.mean(self.predict(x, batch_size) == _device.to_host(y)))

    # --- parameters ---------------------------------------------------------------------------
    def named_parameters(self):
        """``(key, param, grad)`` of every trainable weight that has a gradient (optimizers)."""
        for i, layer in enumerate(self.layers):
            if not layer.trainable:
                continue
            for name, p in layer.params.items():
                g = layer.grads.get(name)
                if g is not None:
                    yield f"{i}.{name}", p, g

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Every weight, keyed ``"<layer index>.<name>"`` (the arrays themselves, not copies)."""
        return {f"{i}.{k}": p for i, lay in enumerate(self.layers) for k, p in lay.params.items()}

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """Every gradient computed so far, keyed like :attr:`params`."""
        return {f"{i}.{k}": g for i, lay in enumerate(self.layers) for k, g in lay.grads.items()}

    def count_params(self, trainable: bool | None = None) -> int:
        """Number of weights (only trainable ones with ``True``, only frozen with ``False``)."""
        return sum(
            layer.count_params()
            for layer in self.layers
            if trainable is None or layer.trainable == trainable
        )

    def astype(self, dtype) -> Sequential:
        """Cast every weight to ``dtype`` in place, on the side it lives on (e.g. float64 for
        gradient checks)."""
        dtype = np.dtype(dtype)
        for layer in self.layers:
            layer.astype(dtype)
        self.dtype = dtype
        return self

    # --- freezing -------------------------------------------------------------------------------
    def _select(self, layers) -> list[Layer]:
        if layers is None:
            return list(self.layers)
        if isinstance(layers, (Layer, numbers.Integral, np.integer, str)):
            layers = [layers]
        if isinstance(layers, slice):
            return self.layers[layers]
        chosen = []
        for item in layers:
            if isinstance(item, Layer):
                if not any(item is lay for lay in self.layers):
                    raise ValueError(f"layer {item!r} is not part of this model")
                chosen.append(item)
            elif isinstance(item, str):
                match = [lay for lay in self.layers if lay.name == item]
                if not match:
                    raise ValueError(
                        f"no layer named {item!r}; names are {[lay.name for lay in self.layers]}"
                    )
                chosen.extend(match)
            elif isinstance(item, (numbers.Integral, np.integer)) and not isinstance(item, bool):
                if not -len(self.layers) <= item < len(self.layers):
                    raise ValueError(
                        f"layer index must be in [{-len(self.layers)}, {len(self.layers)}); "
                        f"got {item}"
                    )
                chosen.append(self.layers[item])
            else:
                raise TypeError(
                    "layers must be None, a slice, or layers / indices / names; got "
                    f"{type(item).__name__}"
                )
        return chosen

    def freeze(self, layers=None) -> Sequential:
        """Stop training ``layers`` (None: all; else indices, names, layers or a slice)."""
        for layer in self._select(layers):
            layer.trainable = False
        return self

    def unfreeze(self, layers=None) -> Sequential:
        """Train ``layers`` again (None: all)."""
        for layer in self._select(layers):
            layer.trainable = True
        return self

    def train_only_last(self, k: int = 1) -> Sequential:
        """Freeze every layer with weights except the last ``k`` of them (transfer learning:
        ``train_only_last(1)`` retrains just the classifier head)."""
        if not isinstance(k, (numbers.Integral, np.integer)) or isinstance(k, bool) or k < 0:
            raise ValueError(f"k must be an int >= 0; got {k!r}")
        weighted = [layer for layer in self.layers if layer.has_params]
        for i, layer in enumerate(weighted):
            layer.trainable = i >= len(weighted) - k
        return self

    @property
    def trainable_layers(self) -> list[Layer]:
        """The layers with weights that the optimizers update."""
        return [layer for layer in self.layers if layer.has_params and layer.trainable]

    # --- summary -------------------------------------------------------------------------------
    def summary(self, line_length: int = 78) -> str:
        """A Keras-style table (layer name and type, output shape, parameter count, totals).

        Returns the text and prints nothing: ``print(model.summary())``. Shapes show the batch
        axis as ``None``. The model must be built.
        """
        if not self.built:
            raise RuntimeError(
                "the model is not built yet: call build(input_shape) or run a forward pass"
            )
        cols = (line_length * 45 // 100, line_length * 80 // 100)
        rows = []
        for layer in self.layers:
            label = f" {layer.name} ({type(layer).__name__})"
            shape = str((None, *layer.output_shape))
            count = layer.count_params()
            text = f"{count:,}" if layer.trainable or not count else f"{count:,} (frozen)"
            rows.append(label.ljust(cols[0]) + shape.ljust(cols[1] - cols[0]) + text)
        total = self.count_params()
        trainable = self.count_params(trainable=True)
        head = " Layer (type)".ljust(cols[0]) + "Output Shape".ljust(cols[1] - cols[0]) + "Param #"
        lines = [
            f'Model: "{self.name}"',
            "_" * line_length,
            head,
            "=" * line_length,
            *rows,
            "=" * line_length,
            f"Total params: {total:,}",
            f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}",
            "_" * line_length,
        ]
        return "\n".join(lines)

    # --- persistence ----------------------------------------------------------------------------
    def get_config(self) -> dict:
        """The architecture as JSON-serialisable data (no weights)."""
        return {
            "format": _model_file.FORMAT,
            "version": 1,
            "name": self.name,
            "dtype": None if self.dtype is None else self.dtype.name,
            "random_state": self.random_state
            if self.random_state is None or isinstance(self.random_state, int)
            else None,
            "input_shape": None if self.input_shape is None else list(self.input_shape),
            "layers": [
                {
                    "class": type(layer).__name__,
                    "name": layer.name,
                    "trainable": bool(layer.trainable),
                    "config": layer.get_config(),
                }
                for layer in self.layers
            ],
        }

    def save(self, path) -> None:
        """Write the architecture (JSON) and every weight to one ``.npz`` file at ``path``
        (exactly that name). No pickles: :meth:`load` rebuilds layers from their configs.
        Weights on the GPU are written as host arrays; :meth:`load` returns a host model."""
        _model_file.save(self, path)

    @classmethod
    def load(cls, path) -> Sequential:
        """Rebuild a model written by :meth:`save`; weights are restored bit for bit."""
        return _model_file.load(cls, path)

"""How ``CNNClassifier`` makes its network: from its ``architecture`` parameter (None, a builder
name, a callable or a list of layers), for an input shape and a number of classes."""

from __future__ import annotations

import copy
import inspect
import math

from .. import nn
from ._data import DTYPE

__all__ = [
    "build_model",
    "call_builder",
    "default_layers",
    "default_model",
    "layer_from_spec",
    "model_flops",
    "replace_head",
]


def default_layers(rank: int, n_classes: int):
    """A small net that fits any input size: 'same' convolutions keep every position."""
    width = 16 if rank == 1 else 8
    return [
        nn.Conv(width, 3, padding="same"),
        nn.ReLU(),
        nn.Flatten(),
        nn.Dense(n_classes),
    ]


def model_flops(model) -> float:
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


def call_builder(builder, input_shape, n_classes):
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


def layer_from_spec(spec, index):
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


def build_model(arch, input_shape, n_classes, rng):
    """The network for ``architecture`` (see ``CNNClassifier``), built for ``input_shape``."""
    if arch is None:
        model = default_model(input_shape, n_classes, rng)
    elif isinstance(arch, str) or callable(arch):
        builder = arch
        if isinstance(arch, str):
            from ..nn import models

            builder = getattr(models, arch, None)
            if builder is None or arch.startswith("_") or not callable(builder):
                names = [n for n in getattr(models, "__all__", []) if callable(getattr(models, n))]
                raise ValueError(
                    f"architecture must name a builder in sigconv.nn.models {names}; got {arch!r}"
                )
        model = call_builder(builder, input_shape, n_classes)
        model.build(input_shape, rng, DTYPE)
    elif isinstance(arch, (list, tuple)):
        layers = [layer_from_spec(spec, i) for i, spec in enumerate(arch)]
        body = nn.Sequential(copy.deepcopy(layers)).build(input_shape, rng, DTYPE)
        head = [nn.Flatten()] if len(body.output_shape) > 1 else []
        model = nn.Sequential(layers + head + [nn.Dense(n_classes)])
        model.build(input_shape, rng, DTYPE)
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


def default_model(input_shape, n_classes, rng):
    """The default network for the input rank (a small one when the input is too small)."""
    from ..nn import models

    rank = len(input_shape) - 1
    builder = {1: "audio_net", 2: "digits_net", 3: "volume_net"}[rank]
    builder = getattr(models, builder, None)
    if builder is not None:
        try:
            model = call_builder(builder, input_shape, n_classes)
            model.build(input_shape, rng, DTYPE)
            return model
        except ValueError:
            pass  # too small for the builder's pooling: the small net below fits anything
    model = nn.Sequential(default_layers(rank, n_classes))
    model.build(input_shape, rng, DTYPE)
    return model


def replace_head(model, n_classes, rng):
    """Re-make the last Dense layer of ``model`` for ``n_classes`` outputs, in place (new classes
    on warm start); returns the model."""
    layers = list(model.layers)
    idx = max(i for i, layer in enumerate(layers) if layer.has_params)
    old = layers[idx]
    if not isinstance(old, nn.Dense):
        raise ValueError(
            "warm_start with new classes needs a Dense last weighted layer to re-make; got "
            f"{type(old).__name__}"
        )
    new = nn.Dense(old.in_features, n_classes, bias=old.bias, weight_init=old.weight_init)
    new.build(old.input_shape, rng, DTYPE)
    new.name = old.name
    model.layers[idx] = new  # in place: building the model again would redraw every weight
    return model

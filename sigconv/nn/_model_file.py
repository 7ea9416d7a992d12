"""The model file of ``Sequential.save`` / ``Sequential.load``: one ``.npz`` holding the
architecture as JSON and every weight, never a pickle (docs/contract.md §2)."""

from __future__ import annotations

import io
import json
import os

import numpy as np

from . import _device
from .layers import layer_from_config

FORMAT = "sigconv.nn.Sequential"
CONFIG_KEY = "__sigconv_config__"


def save(model, path) -> None:
    """Write ``model``'s config and weights (device weights copied to the host) to ``path``."""
    arrays = {CONFIG_KEY: np.array(json.dumps(model.get_config()))}
    for key, value in model.params.items():
        arrays[f"param:{key}"] = _device.to_host(value)  # device weights are copied back
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with open(os.fspath(path), "wb") as fh:
        fh.write(buffer.getvalue())


def load(cls, path):
    """A ``cls`` (``Sequential``) rebuilt from the file at ``path``, weights bit for bit."""
    not_a_model = f"{path!s} is not a sigconv model file (an .npz written by Sequential.save)"
    try:
        data = np.load(os.fspath(path), allow_pickle=False)
    except (ValueError, EOFError) as exc:
        # NumPy's own message for a pickle suggests allow_pickle=True: never load that way.
        raise ValueError(not_a_model) from exc
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{not_a_model}; it holds a single array")
    with data:
        if CONFIG_KEY not in data:
            raise ValueError(f"{not_a_model}; it has no {CONFIG_KEY}")
        config = json.loads(str(data[CONFIG_KEY]))
        params = {k[len("param:") :]: data[k] for k in data.files if k.startswith("param:")}
    if config.get("format") != FORMAT:
        raise ValueError(f"{path!s} holds {config.get('format')!r}, not {FORMAT!r}")
    layers = []
    for entry in config["layers"]:
        layer = layer_from_config(entry["class"], entry["config"])
        layer.name = entry["name"]
        layer.trainable = entry["trainable"]
        layers.append(layer)
    model = cls(layers, random_state=config["random_state"], name=config["name"])
    model.dtype = None if config["dtype"] is None else np.dtype(config["dtype"])
    if config["input_shape"] is not None:
        model.build(tuple(config["input_shape"]), dtype=model.dtype)
        for i, layer in enumerate(model.layers):
            for name in layer.params:
                stored = params[f"{i}.{name}"]
                if stored.shape != layer.params[name].shape:
                    raise ValueError(
                        f"weight {i}.{name} has shape {stored.shape}; the architecture "
                        f"expects {layer.params[name].shape}"
                    )
                layer.params[name] = np.array(stored, copy=True)
    return model

"""The benchmark workloads, defined once: sizes, parameters and seeded data.

Both the asv suites (``bench_*.py``) and ``compare.py``'s cases (``cases_*.py``) build their data
here, so a workload means the same arrays everywhere. Float32 throughout, as the users the
workloads stand for (audio, images, volumes, CNNs) work in it.

* W1 audio FIR: 441,000 samples (10 s at 44.1 kHz) through ``W1_TAPS``-tap filters; W1c the
  same with complex64 samples and taps.
* W2 image filter: 2048 x 2048 with ``W2_SIZES`` square kernels; W2g a separable Gaussian.
* W3 volume filter: 256^3 with ``W3_SIZES`` cubic kernels; W3g a separable Gaussian.
* W4 geometry: 1024 x 1024, 3x3, stride 2 or dilation 4 (``W4_GEOMETRIES``).
* W5 CNN layers (``LAYERS``; W5f, strided, in ``STRIDED_LAYERS``) and pooling layers
  (``POOLS``); W6 one LeNet-5 training epoch (``N_TRAIN``, ``BATCH``, ``LR``, ``MOMENTUM``).
"""

from __future__ import annotations

import numpy as np

SEED = 2026

W1_SAMPLES = 441_000
W1_TAPS = (31, 255, 1023)
W1_MODES = ("same", "valid")
W2_SHAPE = (2048, 2048)
W2_SIZES = (3, 7, 15)
W3_SHAPE = (256, 256, 256)
W3_SIZES = (3, 7)
W4_SHAPE = (1024, 1024)
W4_GEOMETRIES = {"stride 2": {"stride": 2}, "dilation 4": {"dilation": 4}}
#: W2g / W3g: (image shape, sigma, truncate) of scipy.ndimage.gaussian_filter (radius 7 and 3).
GAUSSIANS = {"2048^2 15x15": (W2_SHAPE, 2.0, 3.5), "256^3 7^3": (W3_SHAPE, 1.0, 3.0)}

#: W5: (name, x shape, weight shape, padding) of each CNN layer.
LAYERS = {
    "W5a": ("LeNet conv1", (64, 1, 28, 28), (6, 1, 5, 5), 2),
    "W5b": ("LeNet conv2", (64, 6, 14, 14), (16, 6, 5, 5), 0),
    "W5c": ("VGG 64ch 56^2", (32, 64, 56, 56), (64, 64, 3, 3), 1),
    "W5d": ("audio 1-D", (32, 16, 16000), (32, 16, 9), 0),
    "W5e": ("volume 3-D", (8, 8, 32, 32, 32), (16, 8, 3, 3, 3), 1),
}

#: W5f: the first layer of an M5-style raw-audio network (issue 12): (name, x shape, weight
#: shape, padding, stride). Kept apart from ``LAYERS``, whose 4-tuples the GPU suites unpack.
STRIDED_LAYERS = {
    "W5f": ("M5 conv1 1-D k80 s4", (32, 1, 16000), (128, 1, 80), 0, 4),
}

#: Pooling layers next to W5: (x shape, kernel, stride, padding).
POOLS = {
    "28": ((64, 16, 28, 28), 2, 2, 0),
    "56": ((32, 64, 56, 56), 3, 2, 1),
    "3d": ((8, 16, 32, 32, 32), 2, 2, 0),
}

#: W6: LeNet-5 on 12,000 28x28 digits, batch 64, SGD with momentum.
N_TRAIN = 12_000
BATCH = 64
LR = 0.01
MOMENTUM = 0.9


def rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


def w1(taps: int, *, complex_: bool = False):
    """``(x, h)``: the audio and a ``taps``-tap filter of unit gain scale."""
    r = rng()
    if complex_:
        x = (r.standard_normal(W1_SAMPLES) + 1j * r.standard_normal(W1_SAMPLES)).astype(
            np.complex64
        )
        h = (r.standard_normal(taps) + 1j * r.standard_normal(taps)) / np.sqrt(taps)
        return x, h.astype(np.complex64)
    x = r.standard_normal(W1_SAMPLES).astype(np.float32)
    return x, (r.standard_normal(taps) / np.sqrt(taps)).astype(np.float32)


def w2(k: int):
    """``(image, k x k kernel)``."""
    r = rng()
    x = r.standard_normal(W2_SHAPE).astype(np.float32)
    return x, (r.standard_normal((k, k)) / k).astype(np.float32)


def w3(k: int):
    """``(volume, k^3 kernel)``."""
    r = rng()
    x = r.standard_normal(W3_SHAPE, dtype=np.float32)
    return x, (r.standard_normal((k, k, k)) / k**1.5).astype(np.float32)


def w4():
    """``(image, 3 x 3 kernel)``."""
    r = rng()
    x = r.standard_normal(W4_SHAPE).astype(np.float32)
    return x, (r.standard_normal((3, 3)) / 3).astype(np.float32)


def gauss1d(sigma: float, truncate: float) -> np.ndarray:
    """scipy.ndimage.gaussian_filter's 1-D weights (its formula, in float64, normalised)."""
    radius = int(truncate * sigma + 0.5)
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 / sigma**2 * t**2)
    return g / g.sum()


def gaussian(case: str):
    """``(data, kernel, sigma, truncate)`` of W2g/W3g: the outer product of ``gauss1d``."""
    shape, sigma, truncate = GAUSSIANS[case]
    g = gauss1d(sigma, truncate)
    w = g
    for _ in range(len(shape) - 1):
        w = np.multiply.outer(w, g)
    x = rng().standard_normal(shape, dtype=np.float32)
    return x, w.astype(np.float32), sigma, truncate


def layer_stride(workload: str) -> int:
    """The stride of a W5 layer (1 except in ``STRIDED_LAYERS``)."""
    return STRIDED_LAYERS[workload][4] if workload in STRIDED_LAYERS else 1


def layer(workload: str):
    """``(x, weight, bias, padding)`` of a W5 layer (stride: ``layer_stride``)."""
    if workload in STRIDED_LAYERS:
        _, xs, ws, padding, _ = STRIDED_LAYERS[workload]
    else:
        _, xs, ws, padding = LAYERS[workload]
    r = rng()
    x = r.standard_normal(xs, dtype=np.float32)
    w = (r.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(np.float32)
    b = r.standard_normal(ws[0], dtype=np.float32)
    return x, w, b, padding

"""compare.py cases for W1-W4: the signal API (``sigconv.correlate/convolve``, method="auto").

Every peer computes exactly the quantity sigconv computes (float32 data):

* W1 audio FIR is a convolution (``sigconv.convolve``); torch's conv1d is a cross-correlation,
  so it gets the flipped taps. The kernels are odd, so every library centres ``same`` alike.
* W2/W3 filters are correlations with zero padding (``boundary="constant"``): scipy.ndimage
  gets ``mode="constant"``; scipy.signal.fftconvolve gets the flipped kernel.
* W4 geometry: a strided or dilated ``same`` correlation. torch.conv2d does it natively; the
  SciPy peers do what users do today: the full stride-1 result sliced, or the zero-stuffed
  (dilated) kernel.

W1c (complex64 FIR), W2g and W3g (Gaussians, with scipy.ndimage.gaussian_filter's own weights,
so its separable filter is a peer) are the SciPy drop-in rows of issue 15.

Slow peers (numpy.convolve and scipy direct on W1's long kernels, scipy.ndimage on W3 7^3) make
their cases use fewer repeats.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi
import scipy.signal as sps
from compare import Case
from workloads import W1_MODES, W1_TAPS, W2_SIZES, W3_SIZES, gaussian, w1, w2, w3, w4

from sigconv import convolve, correlate

try:
    import torch
except ImportError:  # peers that are not installed are left out
    torch = None


def _w1(taps: int, mode: str):
    def setup():
        x, h = w1(taps)
        impls = {
            "sigconv": lambda: convolve(x, h, mode),
            "numpy.convolve": lambda: np.convolve(x, h, mode),
            "scipy.signal.convolve direct": lambda: sps.convolve(x, h, mode, method="direct"),
            "scipy.signal.convolve auto": lambda: sps.convolve(x, h, mode, method="auto"),
            "scipy.signal.oaconvolve": lambda: sps.oaconvolve(x, h, mode),
        }
        if torch is not None:
            tx = torch.from_numpy(x)[None, None]
            th = torch.from_numpy(np.ascontiguousarray(h[::-1]))[None, None]
            pad = "same" if mode == "same" else 0
            impls["torch.conv1d"] = lambda: torch.nn.functional.conv1d(tx, th, padding=pad)[0, 0]
        return impls

    return Case("W1", f"441000 x {taps} taps {mode}", setup, repeat=7 if taps < 255 else 3)


def _w2(k: int):
    def setup():
        x, w = w2(k)
        impls = {
            "sigconv": lambda: correlate(x, w, "same"),
            "scipy.ndimage.correlate": lambda: ndi.correlate(x, w, mode="constant"),
            "scipy.signal.correlate auto": lambda: sps.correlate(x, w, "same"),
        }
        if torch is not None:
            tx, tw = torch.from_numpy(x)[None, None], torch.from_numpy(w)[None, None]
            impls["torch.conv2d"] = lambda: torch.nn.functional.conv2d(tx, tw, padding="same")[0, 0]
        return impls

    return Case("W2", f"2048^2 {k}x{k} same", setup, repeat=7)


def _w3(k: int):
    def setup():
        x, w = w3(k)
        wf = np.ascontiguousarray(w[::-1, ::-1, ::-1])
        impls = {
            "sigconv": lambda: correlate(x, w, "same"),
            "scipy.ndimage.correlate": lambda: ndi.correlate(x, w, mode="constant"),
            "scipy.signal.fftconvolve": lambda: sps.fftconvolve(x, wf, "same"),
        }
        if torch is not None:
            tx, tw = torch.from_numpy(x)[None, None], torch.from_numpy(w)[None, None]
            impls["torch.conv3d"] = lambda: torch.nn.functional.conv3d(tx, tw, padding="same")[0, 0]
        return impls

    return Case("W3", f"256^3 {k}^3 same", setup, repeat=5 if k == 3 else 3)


def _w4_stride():
    def setup():
        x, w = w4()
        impls = {
            "sigconv": lambda: correlate(x, w, "same", stride=2),
            "scipy.signal.correlate[::2,::2]": lambda: sps.correlate(x, w, "same")[::2, ::2],
            "scipy.ndimage.correlate[::2,::2]": lambda: ndi.correlate(x, w, mode="constant")[
                ::2, ::2
            ],
        }
        if torch is not None:
            tx, tw = torch.from_numpy(x)[None, None], torch.from_numpy(w)[None, None]
            impls["torch.conv2d stride=2"] = lambda: torch.nn.functional.conv2d(
                tx, tw, stride=2, padding=1
            )[0, 0]
        return impls

    return Case("W4", "1024^2 3x3 stride 2 same", setup, repeat=9)


def _w4_dilation():
    def setup():
        x, w = w4()
        wd = np.zeros((9, 9), dtype=np.float32)
        wd[::4, ::4] = w  # the zero-stuffed kernel users build today
        impls = {
            "sigconv": lambda: correlate(x, w, "same", dilation=4),
            "scipy.signal.correlate zero-stuffed": lambda: sps.correlate(x, wd, "same"),
            "scipy.ndimage.correlate zero-stuffed": lambda: ndi.correlate(x, wd, mode="constant"),
        }
        if torch is not None:
            tx, tw = torch.from_numpy(x)[None, None], torch.from_numpy(w)[None, None]
            impls["torch.conv2d dilation=4"] = lambda: torch.nn.functional.conv2d(
                tx, tw, dilation=4, padding="same"
            )[0, 0]
        return impls

    return Case("W4", "1024^2 3x3 dilation 4 same", setup, repeat=9)


def _w1_complex(taps: int, mode: str):
    """W1c: a complex64 FIR (IQ samples, complex taps) at W1's sizes."""

    def setup():
        x, h = w1(taps, complex_=True)
        impls = {
            "sigconv": lambda: convolve(x, h, mode),
            "scipy.signal.oaconvolve": lambda: sps.oaconvolve(x, h, mode),
            "scipy.signal.convolve auto": lambda: sps.convolve(x, h, mode, method="auto"),
        }
        if taps < 255:
            impls["numpy.convolve"] = lambda: np.convolve(x, h, mode)
        return impls

    return Case("W1c", f"441000 x {taps} taps {mode} complex64", setup, repeat=7)


def _w2_gauss():
    """W2g: 15x15 Gaussian (sigma 2, truncate 3.5: radius 7, ndimage's own weights)."""

    def setup():
        x, w, sigma, truncate = gaussian("2048^2 15x15")
        impls = {
            "sigconv": lambda: correlate(x, w, "same"),
            "scipy.ndimage.gaussian_filter": lambda: ndi.gaussian_filter(
                x, sigma, mode="constant", truncate=truncate
            ),
            "scipy.ndimage.correlate": lambda: ndi.correlate(x, w, mode="constant"),
            "scipy.signal.correlate auto": lambda: sps.correlate(x, w, "same"),
        }
        if torch is not None:
            tx, tw = torch.from_numpy(x)[None, None], torch.from_numpy(w)[None, None]
            impls["torch.conv2d"] = lambda: torch.nn.functional.conv2d(tx, tw, padding="same")[0, 0]
        return impls

    return Case("W2g", "2048^2 15x15 Gaussian same", setup, repeat=7)


def _w3_gauss():
    """W3g: 7^3 Gaussian (sigma 1, truncate 3: radius 3, ndimage's own weights)."""

    def setup():
        x, w, sigma, truncate = gaussian("256^3 7^3")
        impls = {
            "sigconv": lambda: correlate(x, w, "same"),
            "scipy.ndimage.gaussian_filter": lambda: ndi.gaussian_filter(
                x, sigma, mode="constant", truncate=truncate
            ),
            "scipy.ndimage.correlate": lambda: ndi.correlate(x, w, mode="constant"),
            "scipy.signal.fftconvolve": lambda: sps.fftconvolve(x, w, "same"),
        }
        if torch is not None:
            tx, tw = torch.from_numpy(x)[None, None], torch.from_numpy(w)[None, None]
            impls["torch.conv3d"] = lambda: torch.nn.functional.conv3d(tx, tw, padding="same")[0, 0]
        return impls

    return Case("W3g", "256^3 7^3 Gaussian same", setup, repeat=3)


CASES = (
    [_w1(taps, mode) for taps in W1_TAPS for mode in W1_MODES]
    + [_w2(k) for k in W2_SIZES]
    + [_w3(k) for k in W3_SIZES]
    + [_w4_stride(), _w4_dilation()]
    + [_w1_complex(taps, mode) for taps in W1_TAPS for mode in W1_MODES]
    + [_w2_gauss(), _w3_gauss()]
)

"""asv suites for the signal API: workloads W1-W4 (float32) and peak memory (start-up and cold
compile times: ``bench_startup.py``).

Every ``setup`` builds the data, warms the JIT (and SciPy's FFT plans) and checks sigconv's result
against an independent SciPy computation before anything is timed. ``compare.py`` (with
``cases_signal.py``) times the same workloads side by side with their peers.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import scipy.signal as sps

from sigconv import convolve, correlate

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from workloads import (  # noqa: E402
    GAUSSIANS,
    W1_MODES,
    W1_TAPS,
    W2_SIZES,
    W3_SHAPE,
    W3_SIZES,
    W4_GEOMETRIES,
    gaussian,
    w1,
    w2,
    w3,
    w4,
)


def _threads():
    import numba

    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))


def _check(got, want, rtol=1e-3):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    err = float(np.max(np.abs(got - want)))
    scale = float(np.max(np.abs(want)))
    assert err <= rtol * scale, f"sigconv disagrees with SciPy: max error {err} (scale {scale})"


class W1AudioFIR:
    """441,000 samples (10 s at 44.1 kHz) through FIR filters of 31, 255 and 1023 taps."""

    params = (list(W1_TAPS), list(W1_MODES))
    param_names = ["taps", "mode"]
    timeout = 300

    def setup(self, taps, mode):
        _threads()
        self.x, self.h = w1(taps)
        _check(convolve(self.x, self.h, mode), sps.oaconvolve(self.x, self.h, mode))

    def time_convolve(self, taps, mode):
        convolve(self.x, self.h, mode)

    def peakmem_convolve(self, taps, mode):
        convolve(self.x, self.h, mode)


class W2ImageFilter:
    """A 2048 x 2048 image filtered with 3x3, 7x7 and 15x15 kernels (zero padding, same)."""

    params = list(W2_SIZES)
    param_names = ["k"]
    timeout = 300

    def setup(self, k):
        _threads()
        self.x, self.w = w2(k)
        _check(correlate(self.x, self.w, "same"), sps.correlate(self.x, self.w, "same"))

    def time_correlate(self, k):
        correlate(self.x, self.w, "same")

    def peakmem_correlate(self, k):
        correlate(self.x, self.w, "same")


class W3VolumeFilter:
    """A 256^3 volume filtered with 3^3 and 7^3 kernels (zero padding, same)."""

    params = list(W3_SIZES)
    param_names = ["k"]
    timeout = 600
    number = 1
    repeat = (1, 5, 30.0)

    def setup(self, k):
        _threads()
        self.x, self.w = w3(k)
        want = sps.fftconvolve(self.x, self.w[::-1, ::-1, ::-1], "same")
        _check(correlate(self.x, self.w, "same"), want)

    def time_correlate(self, k):
        correlate(self.x, self.w, "same")

    def peakmem_correlate(self, k):
        correlate(self.x, self.w, "same")

    def track_footprint_over_input(self, k):
        """Input + output + temporaries at the peak, in units of the input size (target <= 3).

        Measured in a fresh process: peak RSS during the call minus the RSS just before it
        (input already allocated, JIT warm), plus the input itself.
        """
        return _footprint_ratio(W3_SHAPE, (k, k, k))

    track_footprint_over_input.unit = "x input"


_FOOTPRINT = """
import gc
import numpy as np
from sigconv import correlate
from sigconv import _backend


def status(field):  # this process's own memory, in bytes (ru_maxrss would include the parent's)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024


shape, kshape = {shape!r}, {kshape!r}
small = np.ones((9,) * len(shape), dtype=np.float32)
for method in ("direct", "fft"):
    correlate(small, np.ones((3,) * len(shape), dtype=np.float32), "same", method=method)
_backend.cuda_status()  # backend="auto" looks for a GPU on big inputs: import that first
x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
w = np.ones(kshape, dtype=np.float32)
gc.collect()
before = status("VmRSS")
y = correlate(x, w, "same")
peak = status("VmHWM")
print(max(peak - before, y.nbytes) / x.nbytes + 1.0)
"""


def _footprint_ratio(shape, kshape) -> float:
    code = _FOOTPRINT.format(shape=tuple(shape), kshape=tuple(kshape))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600
    )
    return float(out.stdout.strip().splitlines()[-1])


class W4Geometry:
    """1024 x 1024, 3x3: stride 2, and dilation 4 (same)."""

    params = list(W4_GEOMETRIES)
    param_names = ["geometry"]
    timeout = 300

    def setup(self, geometry):
        _threads()
        self.x, self.w = w4()
        self.kw = W4_GEOMETRIES[geometry]
        if "stride" in self.kw:
            want = sps.correlate(self.x, self.w, "same")[::2, ::2]
        else:
            wd = np.zeros((9, 9), dtype=np.float32)
            wd[::4, ::4] = self.w
            want = sps.correlate(self.x, wd, "same")
        _check(correlate(self.x, self.w, "same", **self.kw), want)

    def time_correlate(self, geometry):
        correlate(self.x, self.w, "same", **self.kw)

    def peakmem_correlate(self, geometry):
        correlate(self.x, self.w, "same", **self.kw)


class W1ComplexFIR:
    """W1c: 441,000 complex64 samples (IQ) through complex FIR filters (issue 15)."""

    params = (list(W1_TAPS), list(W1_MODES))
    param_names = ["taps", "mode"]
    timeout = 300

    def setup(self, taps, mode):
        _threads()
        self.x, self.h = w1(taps, complex_=True)
        want = sps.oaconvolve(self.x, self.h, mode)
        got = convolve(self.x, self.h, mode)
        assert got.dtype == np.complex64 and got.shape == want.shape
        assert np.max(np.abs(got - want)) <= 1e-3 * np.max(np.abs(want))

    def time_convolve(self, taps, mode):
        convolve(self.x, self.h, mode)


class SeparableGaussian:
    """W2g/W3g: a 15x15 Gaussian on 2048^2 and a 7^3 Gaussian on 256^3, run as 1-D passes
    (scipy.ndimage.gaussian_filter's own weights; issue 15)."""

    params = list(GAUSSIANS)
    param_names = ["case"]
    timeout = 600

    def setup(self, case):
        import scipy.ndimage as ndi

        _threads()
        self.x, self.w, sigma, truncate = gaussian(case)
        want = ndi.gaussian_filter(self.x, sigma, mode="constant", truncate=truncate)
        _check(correlate(self.x, self.w, "same"), want)

    def time_correlate(self, case):
        correlate(self.x, self.w, "same")

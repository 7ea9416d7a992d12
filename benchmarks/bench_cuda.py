"""asv suites for the CUDA backend (float32, device-resident data, synchronised timings).

Every ``setup`` raises ``NotImplementedError`` where no real GPU is present (asv then skips the
benchmark), builds device arrays, warms the JIT and checks the GPU result against the CPU
backend before anything is timed. ``compare.py --only GPU`` (``cases_cuda.py``) times the same
workloads side by side with torch/cuDNN and CuPy.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np

from sigconv import _backend


def _need_gpu():
    if not _backend.gpu_present():
        raise NotImplementedError("no CUDA GPU here (the simulator is not benchmarked)")


def _check(got, want, rtol=1e-3):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    err = float(np.max(np.abs(got - want)))
    assert err <= rtol * float(np.max(np.abs(want))), f"GPU disagrees with CPU: {err}"


class GpuFilter:
    """Single-channel filters on the GPU: W2 (2048^2, 3x3/7x7), W3 (256^3, 3^3), W4."""

    params = ["W2 3x3", "W2 7x7", "W3 3^3", "W4 stride 2", "W4 dilation 4"]
    param_names = ["case"]
    timeout = 300
    _CASES = {
        "W2 3x3": ((2048, 2048), (3, 3), 1, 1),
        "W2 7x7": ((2048, 2048), (7, 7), 1, 1),
        "W3 3^3": ((256, 256, 256), (3, 3, 3), 1, 1),
        "W4 stride 2": ((1024, 1024), (3, 3), 2, 1),
        "W4 dilation 4": ((1024, 1024), (3, 3), 1, 4),
    }

    def setup(self, case):
        _need_gpu()
        from numba import cuda

        from sigconv.signal import correlate

        xs, ws, self.stride, self.dilation = self._CASES[case]
        rng = np.random.default_rng(0)
        x = rng.standard_normal(xs).astype(np.float32)
        w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws))).astype(np.float32)
        self.dx, self.dw = cuda.to_device(x), cuda.to_device(w)
        self.correlate, self.sync = correlate, cuda.synchronize
        got = self._run().copy_to_host()
        want = correlate(x, w, "same", stride=self.stride, dilation=self.dilation, backend="cpu")
        _check(got, want)

    def _run(self):
        out = self.correlate(self.dx, self.dw, "same", stride=self.stride, dilation=self.dilation)
        self.sync()
        return out

    def time_correlate(self, case):
        self._run()

    def peakmem_correlate(self, case):
        self._run()


class GpuConvLayer:
    """W5 CNN layers on the GPU: forward, and forward + the three gradients."""

    params = (["W5a", "W5b", "W5c", "W5d", "W5e"], ["fwd", "fwd+bwd"])
    param_names = ["layer", "passes"]
    timeout = 300

    def setup(self, layer, passes):
        _need_gpu()
        import os

        from numba import cuda

        import sigconv.nn.functional as F

        sys.path.insert(0, os.path.dirname(__file__))
        from workloads import LAYERS

        _, xs, ws, self.padding = LAYERS[layer]
        rng = np.random.default_rng(0)
        x = rng.standard_normal(xs).astype(np.float32)
        w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(np.float32)
        b = rng.standard_normal(ws[0]).astype(np.float32)
        self.F, self.sync = F, cuda.synchronize
        self.dx, self.dw, self.db = (cuda.to_device(a) for a in (x, w, b))
        y = F.conv(self.dx, self.dw, self.db, padding=self.padding)
        _check(y.copy_to_host(), F.conv(x, w, b, padding=self.padding, backend="cpu"))
        g = rng.standard_normal(tuple(y.shape)).astype(np.float32)
        self.dg = cuda.to_device(g)
        self.both = passes == "fwd+bwd"
        if self.both:
            got = F.conv_backward(self.dg, self.dx, self.dw, padding=self.padding)[1]
            want = F.conv_backward(g, x, w, padding=self.padding, backend="cpu")[1]
            _check(got.copy_to_host(), want)

    def time_layer(self, layer, passes):
        self.F.conv(self.dx, self.dw, self.db, padding=self.padding)
        if self.both:
            self.F.conv_backward(self.dg, self.dx, self.dw, padding=self.padding)
        self.sync()


class GpuCompile:
    """Cold compile of the CUDA correlate kernels in a fresh process (no on-disk cache)."""

    timeout = 600

    def setup(self):
        _need_gpu()

    def track_cold_compile_seconds(self):
        code = textwrap.dedent(
            """
            import time, numpy as np
            from numba import cuda
            from sigconv.signal import correlate
            x = cuda.to_device(np.ones((64, 64), np.float32))
            w = cuda.to_device(np.ones((3, 3), np.float32))
            t = time.perf_counter(); correlate(x, w, "same"); cuda.synchronize()
            print(time.perf_counter() - t)
            """
        )
        import os
        import tempfile

        with tempfile.TemporaryDirectory() as cache:  # an empty cache: a cold compile
            out = subprocess.run(
                [sys.executable, "-c", code],
                env={**os.environ, "NUMBA_CACHE_DIR": cache},
                capture_output=True,
                text=True,
                check=True,
            )
        return float(out.stdout.strip().splitlines()[-1])

    track_cold_compile_seconds.unit = "seconds"

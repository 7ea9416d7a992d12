"""Where the time of a CUDA call goes: host overhead, allocation, or the kernel itself.

compare.py's GPU table (H100, 2026-11-27) showed a fixed ~0.6 ms per ``correlate`` call
(2048^2: 3x3 0.74 ms, 7x7 0.98 ms; 1024^2 stride 2: 0.34 ms), while CuPy's whole call takes
0.06 ms. This script splits each call into parts so the next GPU session knows what to fix:

* ``call``: the public function, synchronised after every call (what compare.py times);
* ``call out=``: the same with a preallocated device ``out`` (no output allocation);
* ``launch``: the kernel launcher alone on prepared device arrays (no validation, no views);
* ``alloc``: ``cuda.device_array`` of the output's shape; ``alloc pooled``: the same from
  sigconv's caching allocator (``sigconv/_cuda/memory.py``); ``call, Numba allocator``: the
  whole call with that allocator switched off;
* ``enqueue``: host time per call of 20 back-to-back calls, before synchronising (if it is
  close to ``call``, the host is the bottleneck and the GPU idles);
* ``gpu``: CUDA-event time per call over those 20 calls (an upper bound of the kernel time).

Run on a GPU machine: ``python benchmarks/gpu_profile.py``. ``--tiny`` runs tiny shapes in
Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), to check the script itself.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np


def _median_ms(fn, sync, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def _batch_ms(fn, sync, cuda, n):
    """(host enqueue ms per call, event ms per call) over ``n`` back-to-back calls."""
    sync()
    start, stop = cuda.event(), cuda.event()
    start.record()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    host = (time.perf_counter() - t0) * 1e3 / n
    stop.record()
    stop.synchronize()
    return host, start.elapsed_time(stop) / n


def _filter_parts(cuda, xshape, wshape, stride, dilation):
    from sigconv import _modes, correlate, output_shape
    from sigconv._cuda import common
    from sigconv._cuda import correlation as cc

    rng = np.random.default_rng(0)
    x = rng.standard_normal(xshape).astype(np.float32)
    w = rng.standard_normal(wshape).astype(np.float32)
    dx, dw = cuda.to_device(x), cuda.to_device(w)
    oshape = output_shape(xshape, wshape, "same", stride=stride, dilation=dilation)
    dout = cuda.device_array(oshape, dtype=np.float32)
    pad = 3 - len(wshape)
    x4 = dx.reshape((1,) * (pad + 1) + xshape)
    w3 = dw.reshape((1,) * pad + wshape)
    o4 = dout.reshape((1,) * (pad + 1) + tuple(oshape))
    pads = (0,) * pad + tuple(((k - 1) * dilation) // 2 for k in wshape)
    strides = (1,) * pad + (stride,) * len(wshape)
    dils = (1,) * pad + (dilation,) * len(wshape)
    mode = _modes.BOUNDARY_CODES["constant"]
    return {
        "call": lambda: correlate(dx, dw, "same", stride=stride, dilation=dilation),
        "call out=": lambda: correlate(dx, dw, "same", stride=stride, dilation=dilation, out=dout),
        "launch": lambda: cc.launch_correlate(x4, w3, o4, pads, strides, dils, mode, 0.0, False),
        "alloc": lambda: cuda.device_array(oshape, dtype=np.float32),
        "alloc pooled": lambda: common.empty(oshape, np.float32),
        "call, Numba allocator": _unpooled(
            lambda: correlate(dx, dw, "same", stride=stride, dilation=dilation)
        ),
    }


def _unpooled(fn):
    """``fn`` with sigconv's caching allocator switched off (a cuMemAlloc per array)."""
    from sigconv import _config

    def run():
        _config.CUDA_MEMORY_POOL = False
        try:
            return fn()
        finally:
            _config.CUDA_MEMORY_POOL = True

    return run


def _layer_parts(cuda, xs, ws, padding):
    import sigconv.nn.functional as F

    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    dx, dw = cuda.to_device(x), cuda.to_device(w)
    y = F.conv(dx, dw, None, padding=padding)
    dg = cuda.device_array(tuple(y.shape), dtype=np.float32)
    return {
        "call": lambda: F.conv(dx, dw, None, padding=padding),
        "backward": lambda: F.conv_backward(dg, dx, dw, padding=padding),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shapes (simulator check)")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)
    if args.tiny:
        import os
        import pathlib

        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
        import tests.cuda.conftest  # noqa: F401  (device-array interface for simulated arrays)
    from sigconv import _backend

    if not args.tiny and not _backend.gpu_present():
        print(f"gpu_profile.py needs a real NVIDIA GPU: {_backend.cuda_status()[1]}")
        return 1
    from numba import cuda

    s = 1 if args.tiny else 0
    filters = {
        "W2 2048^2 3x3": ((12, 12) if s else (2048, 2048), (3, 3), 1, 1),
        "W2 2048^2 7x7": ((12, 12) if s else (2048, 2048), (7, 7), 1, 1),
        "W3 256^3 3^3": ((6, 6, 6) if s else (256, 256, 256), (3, 3, 3), 1, 1),
        "W4 1024^2 3x3 stride 2": ((12, 12) if s else (1024, 1024), (3, 3), 2, 1),
        "W4 1024^2 3x3 dilation 4": ((12, 12) if s else (1024, 1024), (3, 3), 1, 4),
    }
    layers = {
        "W5b LeNet conv2": ((2, 2, 8, 8), (3, 2, 3, 3), 0)
        if s
        else ((64, 6, 14, 14), (16, 6, 5, 5), 0),
        "W5c VGG 64ch 56^2": ((2, 2, 8, 8), (3, 2, 3, 3), 1)
        if s
        else ((32, 64, 56, 56), (64, 64, 3, 3), 1),
    }
    repeat, n = (1, 2) if s else (args.repeat, 20)
    print("| case | part | synced ms | enqueue ms | gpu ms |\n|---|---|---:|---:|---:|")
    work = [(k, _filter_parts(cuda, *v)) for k, v in filters.items()]
    work += [(k, _layer_parts(cuda, *v)) for k, v in layers.items()]
    for name, parts in work:
        for part, fn in parts.items():
            fn()  # compile / warm
            synced = _median_ms(fn, cuda.synchronize, repeat)
            host, gpu = _batch_ms(fn, cuda.synchronize, cuda, n)
            print(f"| {name} | {part} | {synced:.3f} | {host:.3f} | {gpu:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where the host time of one CUDA kernel launch goes: sigconv's launcher against Numba's layers.

The H200 run of 2026-12-04 (gpu_profile.py) found every single-channel filter host-bound: the
launcher alone (``correlation.launch_correlate`` on prepared device arrays) took 0.26 ms per call
for 2048^2 3x3, several times the kernel. This script times one launch of the tiled correlation
kernel peeled layer by layer, each as host time per call over back-to-back launches (the GPU
only queues work, so this is what the host spends):

* ``launcher``: ``launch_correlate`` (reshapes, geometry, launch through
  ``sigconv/_cuda/launch.py``), and the same with every launch through Numba's dispatcher;
* ``sigconv launch()``: that module's cached plan for the kernel's arguments;
* ``configure + dispatch``: ``kernel[grid, block, 0, shared](*args)`` on the flat arrays and
  scalars the launcher passes (no reshapes, no geometry);
* ``cached configuration``: the same with the configured launcher object made once;
* ``compiled kernel .launch``: Numba's compiled kernel called directly (no argument typing, no
  overload lookup; arguments still converted each call);
* ``cuda.core launch``: ``cuda.core.launch`` with the arguments converted once (the floor any
  Python launcher can reach);
* ``device reshape``: one ``DeviceNDArray.reshape`` (the launcher makes three).

Then ``cProfile`` of whole ``correlate`` calls and of a LeNet conv2 forward + backward, the top
functions by own time. Run on a GPU machine: ``python benchmarks/gpu_launch.py``.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import sys

import numpy as np
from gpu_profile import _batch_ms


def _host_us(fn, cuda, n=200, rounds=5):
    """Median over ``rounds`` of host microseconds per call of ``n`` back-to-back calls
    (``gpu_profile``'s enqueue time)."""
    fn()
    return statistics.median(
        _batch_ms(fn, cuda.synchronize, cuda, n)[0] * 1e3 for _ in range(rounds)
    )


def _capture(module, name, call):
    """Run ``call`` with ``module.name`` replaced by a recorder; return (config, args)."""
    real = getattr(module, name)
    seen = {}

    class Recorder:
        def __getitem__(self, cfg):
            def record(*args):
                seen["cfg"], seen["args"] = cfg, args
                return real[cfg](*args)

            return record

    setattr(module, name, Recorder())
    try:
        call()
    finally:
        setattr(module, name, real)
    return real, seen["cfg"], seen["args"]


def _layers(cuda):
    from sigconv import _modes
    from sigconv._cuda import correlation as cc

    rng = np.random.default_rng(0)
    x = cuda.to_device(rng.standard_normal((1, 1, 2048, 2048)).astype(np.float32))
    w = cuda.to_device(rng.standard_normal((1, 3, 3)).astype(np.float32))
    o = cuda.device_array((1, 1, 2048, 2048), dtype=np.float32)
    mode = _modes.BOUNDARY_CODES["constant"]

    def launcher():
        cc.launch_correlate(x, w, o, (0, 1, 1), (1, 1, 1), (1, 1, 1), mode, 0.0, False)

    kernel, cfg, args = _capture(cc, "_corr_tiled", launcher)
    configured = kernel[cfg]
    from sigconv import _config
    from sigconv._cuda import launch as fast

    def numba_launcher():
        _config.CUDA_FAST_LAUNCH = False
        try:
            launcher()
        finally:
            _config.CUDA_FAST_LAUNCH = True

    rows = {
        "launcher": launcher,
        "launcher, every launch through Numba": numba_launcher,
        "sigconv launch() (cached plan)": lambda: fast.launch(
            kernel, cfg[0], cfg[1], cfg[3], *args
        ),
        "configure + dispatch": lambda: kernel[cfg](*args),
        "cached configuration": lambda: configured(*args),
        "device reshape": lambda: x.reshape((2048 * 2048,)),
    }
    try:
        compiled = kernel.overloads[tuple(kernel.typeof_pyval(a) for a in args)]
        grid, block, stream, shared = (
            configured.griddim,
            configured.blockdim,
            configured.stream,
            configured.sharedmem,
        )
        rows["compiled kernel .launch"] = lambda: compiled.launch(args, grid, block, stream, shared)
        from numba.cuda import dispatcher as nd

        kernelargs, retr = [], []
        for t, v in zip(compiled.argument_types, args):
            compiled._prepare_args(t, v, stream, retr, kernelargs)
        lc = nd.LaunchConfig(grid=grid, block=block, shmem_size=shared)
        cufunc = compiled._codelibrary.get_cufunc().kernel
        rows["cuda.core launch"] = lambda: nd.launch(stream, lc, cufunc, *kernelargs)
    except Exception as exc:  # the layers below the dispatcher are Numba internals
        print(f"(direct launch rows skipped: {type(exc).__name__}: {exc})")
    print(f"W2 2048^2 3x3 tiled kernel, {len(args)} arguments\n")
    print("| layer | host us per launch |\n|---|---:|")
    for name, fn in rows.items():
        try:
            print(f"| {name} | {_host_us(fn, cuda):.1f} |", flush=True)
        except Exception as exc:
            print(f"| {name} | failed: {type(exc).__name__}: {exc} |", flush=True)


def _profile(label, fn, sync, n):
    fn()
    sync()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        fn()
    sync()
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(22)
    print(f"\n### cProfile: {label}, {n} calls (sorted by own time)\n")
    print("\n".join(line for line in buf.getvalue().splitlines() if line.strip())[:6000])


def main() -> int:
    from sigconv import _backend

    if not _backend.gpu_present():
        print(f"gpu_launch.py needs a real NVIDIA GPU: {_backend.cuda_status()[1]}")
        return 1
    from numba import cuda

    import sigconv
    import sigconv.nn.functional as F

    try:
        _layers(cuda)
    except Exception as exc:
        print(f"(layer table failed: {type(exc).__name__}: {exc})")
    rng = np.random.default_rng(1)
    dx = cuda.to_device(rng.standard_normal((2048, 2048)).astype(np.float32))
    dw = cuda.to_device(rng.standard_normal((3, 3)).astype(np.float32))
    _profile(
        "correlate 2048^2 3x3 same",
        lambda: sigconv.correlate(dx, dw, "same"),
        cuda.synchronize,
        300,
    )
    x = cuda.to_device(rng.standard_normal((64, 6, 14, 14)).astype(np.float32))
    w = cuda.to_device(rng.standard_normal((16, 6, 5, 5)).astype(np.float32))
    b = cuda.to_device(rng.standard_normal(16).astype(np.float32))
    g = cuda.to_device(rng.standard_normal((64, 16, 10, 10)).astype(np.float32))

    def step():
        F.conv(x, w, b)
        F.conv_backward(g, x, w)

    _profile("LeNet conv2 forward + backward", step, cuda.synchronize, 100)
    return 0


if __name__ == "__main__":
    sys.exit(main())

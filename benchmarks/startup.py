"""Start-up figures: ``import sigconv`` and the first call of each public operation in a fresh
interpreter, from an empty Numba cache (cold: compiling) and from a filled one (warm: loading).

``CASES`` maps a name to ``(setup, call)``: two snippets of Python; ``setup`` builds the data
after ``import numpy as np, sigconv`` (not timed), ``call`` is the first call (timed). Used by
``bench_startup.py`` (asv ``timeraw_`` benchmarks) and by ``compare.py --startup`` (a table).
Run this file directly for the table alone: ``python benchmarks/startup.py [name prefixes]``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

_F = "from sigconv.nn import functional as F\n"
_POOL = _F + "x = np.random.default_rng(0).random((8, 4, 16, 16)).astype(np.float32)\n"


def _signal(shape, kshape, dtype, **kw):
    opts = "".join(f", {k}={v!r}" for k, v in kw.items())
    setup = (
        f"x = np.random.default_rng(0).random({shape}).astype(np.{dtype})\n"
        f"w = np.random.default_rng(1).random({kshape}).astype(np.{dtype})\n"
    )
    return setup, f"sigconv.correlate(x, w, 'same', method='direct'{opts})"


CASES: dict[str, tuple[str, str]] = {
    "correlate 1-D float32": _signal((8192,), (31,), "float32"),
    "correlate 1-D float64 stride 2 dilation 2": _signal(
        (8192,), (31,), "float64", stride=2, dilation=2
    ),
    "correlate 1-D float32 long kernel (row ends)": _signal((1000,), (255,), "float32"),
    "correlate 2-D float32 3x3": _signal((256, 256), (3, 3), "float32"),
    "correlate 2-D float64 3x3": _signal((256, 256), (3, 3), "float64"),
    "correlate 2-D float32 stride 2": _signal((256, 256), (3, 3), "float32", stride=2),
    "correlate 2-D float32 dilation 2 reflect": _signal(
        (256, 256), (3, 3), "float32", dilation=2, boundary="reflect"
    ),
    "correlate 3-D float32 3^3": _signal((32, 32, 32), (3, 3, 3), "float32"),
    "correlate 3-D float32 stride 2": _signal((32, 32, 32), (3, 3, 3), "float32", stride=2),
    "correlate 3-D float64 3^3": _signal((32, 32, 32), (3, 3, 3), "float64"),
    "nn conv forward 2-D float32": (
        _F + "x = np.ones((8, 3, 16, 16), np.float32); w = np.ones((4, 3, 3, 3), np.float32)\n",
        "F.conv(x, w, padding=1)",
    ),
    "nn conv forward+backward 2-D float32": (
        _F + "x = np.ones((8, 3, 16, 16), np.float32); w = np.ones((4, 3, 3, 3), np.float32)\n",
        "F.conv_backward(F.conv(x, w, padding=1), x, w, padding=1)",
    ),
    "nn max_pool forward+backward": (
        _POOL,
        "y, i = F.max_pool(x, 2, return_indices=True); F.max_pool_backward(y, x, i, 2)",
    ),
    "nn avg_pool forward+backward": (_POOL, "F.avg_pool_backward(F.avg_pool(x, 2), x, 2)"),
    "nn lp_pool forward": (_POOL, "F.lp_pool(x, 2, 2)"),
    "nn stochastic_pool forward": (_POOL, "F.stochastic_pool(x, 2)"),
    "nn spectral_pool forward": (_POOL, "F.spectral_pool(x, (8, 8))"),
    "nn global_max_pool forward": (_POOL, "F.global_max_pool(x)"),
    "CNNClassifier.fit (1 epoch, 8x8 digits)": (
        "from sklearn.datasets import load_digits\n"
        "X, y = load_digits(return_X_y=True)\n"
        "clf = sigconv.CNNClassifier(input_shape=(1, 8, 8), max_iter=1, random_state=0)\n",
        "clf.fit(X[:256], y[:256])",
    ),
}

# Runs in the child: setup untimed, then the call, timed; prints the seconds.
_CHILD = """
import time
t0 = time.perf_counter()
import numpy as np, sigconv
t_import = time.perf_counter() - t0
{setup}
t0 = time.perf_counter()
{call}
print(t_import, time.perf_counter() - t0)
"""


def run_child(setup: str, call: str, cache_dir: str) -> tuple[float, float]:
    """``(import seconds, first-call seconds)`` in a fresh interpreter using ``cache_dir``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    code = _CHILD.format(setup=setup, call=call)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900
    )
    if out.returncode:
        raise RuntimeError(f"start-up case failed:\n{out.stderr[-2000:]}")
    t_import, t_call = out.stdout.split()[-2:]
    return float(t_import), float(t_call)


def import_seconds(module: str = "sigconv") -> float:
    """Seconds to import ``module`` in a fresh interpreter (median of three)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = sorted(
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout)
        for _ in range(3)
    )  # fmt: skip
    return times[1]


def table(prefixes: list[str] | None = None) -> list[str]:
    """Markdown rows, printed as they come: the import times of sigconv and its peers, then
    per case the first call from an empty cache (cold) and from the cache it filled (warm)."""
    lines = [
        "| start-up (fresh interpreter each) | cold: empty cache, s | warm: cache filled, s |",
        "|---|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    peers = ["sigconv", "numpy", "scipy.signal", "scipy.ndimage", "sklearn", "torch"]
    for name in peers:
        try:
            lines.append(f"| `import {name}` | {import_seconds(name):.4f} | |")
        except subprocess.CalledProcessError:  # peer not installed
            continue
        print(lines[-1], flush=True)
    for name, (setup, call) in CASES.items():
        if prefixes and not any(name.startswith(p) for p in prefixes):
            continue
        with tempfile.TemporaryDirectory() as cache:
            cold = run_child(setup, call, cache)[1]
            warm = run_child(setup, call, cache)[1]
        lines.append(f"| {name} | {cold:.2f} | {warm:.3f} |")
        print(lines[-1], flush=True)
    return lines


if __name__ == "__main__":
    table(sys.argv[1:] or None)

"""Thread interference: sigconv and PyTorch alone, and both in one process (issue 12, item 2).

For a few workloads (W5b and W5c forward + backward, W2 2048^2 7x7 'same'), each library's
time is measured in four kinds of fresh process, all at the libraries' defaults (no ``OMP_*``
variables unless ``--env`` sets one, no thread counts set):

* ``sigconv alone`` / ``torch alone``: only that library is imported;
* ``sigconv then torch`` / ``torch then sigconv``: both are imported and warmed up in that order,
  then their calls alternate (what a program mixing them does).

Each configuration runs ``--rounds`` times, in alternating order; a process times every
workload ``--repeat`` times per library. The table gives each library's median time per
configuration and the slowdown against it alone (``both / alone - 1``); the spread (IQR /
median) says how noisy the shared machine was. Run: ``python benchmarks/interference.py``.

``--env NAME=VALUE`` sets a variable in every worker process (each configuration alike), to
see what a setting outside sigconv would change: ``--env GOMP_SPINCOUNT=0`` stops PyTorch's
OpenMP workers from spinning after its calls (docs/performance.md, "Next to PyTorch").
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
CONFIGS = {
    "sigconv alone": ("sigconv",),
    "torch alone": ("torch",),
    "sigconv then torch": ("sigconv", "torch"),
    "torch then sigconv": ("torch", "sigconv"),
}
WORKLOADS = ("W5b fwd+bwd", "W5c fwd+bwd", "W2 2048^2 7x7 same")


def _sigconv(name):
    import numpy as np
    from workloads import layer, w2

    if name.startswith("W2"):
        from sigconv import correlate

        x, k = w2(7)
        return lambda: correlate(x, k, mode="same")
    import sigconv.nn.functional as F

    x, w, b, padding = layer(name.split()[0])
    g = np.ones(F.conv(x, w, b, padding=padding).shape, dtype=np.float32)

    def step():
        F.conv(x, w, b, padding=padding)
        return F.conv_backward(g, x, w, padding=padding)

    return step


def _torch(name):
    import numpy as np
    import torch
    from workloads import layer, w2

    if name.startswith("W2"):
        x, k = w2(7)
        tx, tk = torch.from_numpy(x)[None, None], torch.from_numpy(k)[None, None]
        return lambda: torch.nn.functional.conv2d(tx, tk, padding=3)
    x, w, b, padding = layer(name.split()[0])
    tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
    with torch.no_grad():
        shape = torch.nn.functional.conv2d(tx, tw, tb, padding=padding).shape
    tg = torch.from_numpy(np.ones(tuple(shape), dtype=np.float32))

    def step():
        xr, wr, br = (t.clone().requires_grad_() for t in (tx, tw, tb))
        torch.nn.functional.conv2d(xr, wr, br, padding=padding).backward(tg)
        return xr.grad

    return step


def worker(libs, repeat):
    sys.path.insert(0, str(HERE))
    if "torch" not in libs:
        import isolate

        isolate.block_torch()  # truly alone
    fns = {}
    for lib in libs:  # import, build and warm up in this order
        for name in WORKLOADS:
            fn = (_sigconv if lib == "sigconv" else _torch)(name)
            fn()
            fns[(lib, name)] = fn
    times = {f"{lib}|{name}": [] for lib, name in fns}
    for _ in range(repeat):
        for name in WORKLOADS:
            for lib in libs:
                t0 = time.perf_counter()
                fns[(lib, name)]()
                times[f"{lib}|{name}"].append(time.perf_counter() - t0)
    info = {}
    if "numba" in sys.modules:
        info["numba_threads"] = sys.modules["numba"].get_num_threads()
    if "torch" in libs:
        info["torch_threads"] = sys.modules["torch"].get_num_threads()
    print(json.dumps({"times": times, "info": info}))


def _spread(ts):
    q = statistics.quantiles(ts, n=4)
    return (q[2] - q[0]) / q[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for every worker process (repeatable)",
    )
    parser.add_argument("--worker", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    extra = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--env takes NAME=VALUE; got {item!r}")
        extra[name] = value
    if args.worker:
        worker(tuple(args.worker), args.repeat)
        return 0
    times: dict = {}
    infos = {}
    order = list(CONFIGS)
    for r in range(args.rounds):
        for config in order if r % 2 == 0 else order[::-1]:
            cmd = [sys.executable, __file__, "--repeat", str(args.repeat), "--worker"]
            out = subprocess.run(
                cmd + list(CONFIGS[config]),
                capture_output=True,
                text=True,
                env={**os.environ, **extra},
            )
            if out.returncode:
                raise RuntimeError(out.stderr)
            reply = json.loads(out.stdout.strip().splitlines()[-1])
            infos[config] = reply["info"]
            for key, ts in reply["times"].items():
                times.setdefault((config, *key.split("|")), []).extend(ts)
    print(
        "Each library alone vs both in one process (fresh processes, library defaults"
        + (f" but every process with {' '.join(args.env)}" if args.env else "")
        + f", {args.rounds} rounds x {args.repeat} calls; slowdown = both / alone - 1)"
        + ".\n"
    )
    print("| workload | library | alone ms | both, the other first | both, this one first |")
    print("|---|---|---:|---:|---:|")
    for name in WORKLOADS:
        for lib, other in (("sigconv", "torch"), ("torch", "sigconv")):
            alone = times[(f"{lib} alone", lib, name)]
            base = statistics.median(alone)
            cells = [f"{base * 1e3:.1f} (spread {_spread(alone):.0%})"]
            for config in (f"{other} then {lib}", f"{lib} then {other}"):
                t = statistics.median(times[(config, lib, name)])
                cells.append(f"{t * 1e3:.1f} ({t / base - 1:+.0%})")
            print(f"| {name} | {lib} | " + " | ".join(cells) + " |")
    print(f"\nthreads: {infos}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Side-by-side timing of sigconv and its peers on the same data, each alone in its own process.

Every workload module ``benchmarks/cases_*.py`` exposes ``CASES``: a list of :class:`Case`.
A case's ``setup()`` builds the data once and returns ``{implementation name: zero-argument
callable}``; the callable named ``"sigconv"`` is the reference the peers are checked against
and compared with. Peers that are not installed are simply left out of ``setup``'s dict.

Run ``python benchmarks/compare.py`` (all cases) or ``--only W2 W5a`` (workload prefixes). It
prints a markdown table of median times and, per peer, the ratio ``peer time / sigconv time``
(> 1 means sigconv is faster). Results are checked for agreement before anything is timed.

By default every implementation runs in its own fresh process at its library's defaults
(``isolate.py``: peers' imports blocked, no ``OMP_*`` variables, alternating rounds; the output
header says so), because two CPU libraries in one process slow each other (issue 12;
``benchmarks/interference.py`` measures by how much). ``--same-process`` times everything in
this process instead, as before: ``--threads`` threads for every library and
``OMP_WAIT_POLICY=PASSIVE`` (set by this script, never by sigconv).

``--startup`` prints the start-up table instead (``startup.py``): the import time of sigconv and
its peers, and per operation the first call in a fresh interpreter from an empty Numba cache
(compiling) and from a filled one; ``--startup correlate`` keeps the cases with that prefix.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import pathlib
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np


@dataclasses.dataclass
class Case:
    workload: str  # e.g. "W2"
    name: str  # e.g. "2048^2 3x3 same"
    setup: Callable[[], dict[str, Callable[[], object]]]
    rtol: float = 1e-3  # agreement, relative to the largest magnitude of sigconv's result
    repeat: int = 7
    check: bool = True  # False where outputs cannot agree (stochastic; W6's float32 epoch)


def _to_numpy(value):
    if isinstance(value, (tuple, list)):
        return [_to_numpy(v) for v in value]
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach()
        if hasattr(value, "cpu"):
            value = value.cpu()
        return value.numpy()
    if hasattr(value, "copy_to_host"):
        return value.copy_to_host()
    if hasattr(value, "get"):  # cupy
        return value.get()
    return np.asarray(value)


def _agree(ref, got, rtol) -> bool:
    if _is_dask(ref) and _is_dask(got):  # compared where the blocks are, not gathered here
        import dask.array as da

        if ref.shape != got.shape:
            return False
        ref, got = ref.astype(np.float64), got.astype(np.float64)
        diff, top = da.compute(abs(ref - got).max(), abs(ref).max())
        return float(diff) <= rtol * max(float(top), 1e-30)
    ref, got = _to_numpy(ref), _to_numpy(got)
    if isinstance(ref, list):
        return len(ref) == len(got) and all(_agree(r, g, rtol) for r, g in zip(ref, got))
    # complex results are compared as complex (a float64 cast would drop the imaginary part)
    dt = np.result_type(np.asarray(ref).dtype, np.asarray(got).dtype, np.float64)
    ref = np.asarray(ref, dtype=dt)
    got = np.asarray(got, dtype=dt)
    if ref.shape != got.shape:
        return False
    scale = max(float(np.max(np.abs(ref))), 1e-30)
    return float(np.max(np.abs(ref - got))) <= rtol * scale


def _is_dask(value) -> bool:
    return type(value).__module__.startswith("dask.array")


def _median_times(impls, repeat: int, sync: Callable[[], None] | None) -> dict[str, float]:
    """Median seconds per implementation over ``repeat`` rounds, each round timing every
    implementation once in turn: a slow spell of this shared machine then falls on all of them
    instead of on whichever ran during it (the ratios' spread shrinks)."""
    times: dict[str, list[float]] = {name: [] for name in impls}
    for _ in range(repeat):
        for name, fn in impls.items():
            t0 = time.perf_counter()
            fn()
            if sync is not None:
                sync()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def load_cases(only: list[str] | None) -> list[Case]:
    here = pathlib.Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    cases = []
    for path in sorted(here.glob("cases_*.py")):
        module = importlib.import_module(path.stem)
        cases.extend(module.CASES)
    if only:
        cases = [c for c in cases if any(c.workload.startswith(o) for o in only)]
    return cases


def run(cases: list[Case], repeat: int | None = None, sync=None) -> list[str]:
    lines = [
        "| workload | case | implementation | median ms | peer / sigconv |",
        "|---|---|---|---:|---:|",
    ]
    for case in cases:
        impls = case.setup()
        if "sigconv" not in impls:
            raise RuntimeError(f"case {case.workload} {case.name} has no 'sigconv' entry")
        ref = impls["sigconv"]()  # also warms the JIT
        ok = {}
        for name, fn in list(impls.items()):
            try:
                out = fn()
            except Exception as exc:  # a peer that cannot do this case is reported, not fatal
                if name == "sigconv":
                    raise
                print(f"| {case.workload} | {case.name} | {name} (failed: {exc!r:.80}) | | |")
                del impls[name]
                continue
            ok[name] = (not case.check) or name == "sigconv" or _agree(ref, out, case.rtol)
        # the checked results go before the timing: held, they keep memory (on a Dask cluster,
        # every persisted block) that the timed calls would otherwise reuse
        ref = out = None
        times = _median_times(impls, repeat or case.repeat, sync)
        base = times["sigconv"]
        for name, t in times.items():
            ratio = "" if name == "sigconv" else f"{t / base:.2f}"
            flag = "" if ok[name] else " (DISAGREES)"
            lines.append(
                f"| {case.workload} | {case.name} | {name}{flag} | {t * 1e3:.2f} | {ratio} |"
            )
        print("\n".join(lines[-len(times) :]), flush=True)
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="workload prefixes to run (e.g. W2 W5a)")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per implementation")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for every library (default: each library's own; 2 with --same-process)",
    )
    parser.add_argument(
        "--same-process",
        action="store_true",
        help="time every implementation in this one process (not isolated; see the docstring)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds of timed calls (isolated mode)"
    )
    parser.add_argument(
        "--startup",
        nargs="*",
        default=None,
        help="print the start-up table (optionally only cases with these prefixes)",
    )
    args = parser.parse_args(argv)
    if args.startup is not None:
        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
        import startup

        startup.table(args.startup or None)
        return 0
    if not args.same_process:
        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
        import isolate

        isolate.run(
            args.only, repeat=args.repeat, rounds=args.rounds, threads=args.threads, agree=_agree
        )
        return 0
    args.threads = args.threads or 2
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    # Idle OpenMP workers (Numba's default threading layer, PyTorch) sleep instead of spinning.
    # On a shared, oversubscribed machine spinning workers starve the threads doing the work:
    # a 1 ms two-thread Numba kernel measured 40-60 ms with spinning and 0.9 ms without.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import numba

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    print(
        f"Measured in one process ({args.threads} threads for every library, "
        "OMP_WAIT_POLICY=PASSIVE unless already set): the libraries can slow each other.\n\n"
        "| workload | case | implementation | median ms | peer / sigconv |\n"
        "|---|---|---|---:|---:|",
        flush=True,
    )
    # numpy's BLAS read its thread count when numpy was imported (above); limit it here too.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(args.threads):
        run(load_cases(args.only), args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())

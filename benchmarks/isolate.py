"""compare.py's default mode: every implementation timed alone, in its own fresh process.

Why: two CPU libraries in one process measure each other. PyTorch's OpenMP workers spin
while idle and slow sigconv's kernels (up to 2x); an ``OMP_WAIT_POLICY`` set for sigconv's
sake slows PyTorch (issue 12). A user runs one library at its defaults; so do these timings.

How, per case:

* one worker process per implementation (``python isolate.py --worker MODULE INDEX NAME``),
  started with the parent's environment unchanged (no ``OMP_*`` set, no thread count set unless
  ``--threads`` is given, and then each worker sets only its own library's count);
* in every worker except PyTorch's, ``import torch`` is blocked (``block_torch``), so the
  peer is never even loaded; a case whose setup needs torch (W6 copies its initial weights
  into torch) imports it but never runs it, and the worker says so;
* the worker builds the same seeded data (``benchmarks/workloads.py``), calls its implementation
  once (compiling / warming), saves the result to a temporary ``.npz`` that the parent compares
  with sigconv's (agreement is checked before anything is timed), and reports whether sigconv's
  thread pool or torch ran in it (it must not, except in its own worker);
* the parent then asks the workers in turn, ``rounds`` times in alternating order, for
  ``repeat`` timed calls each (only one worker runs at a time; the others wait on their stdin),
  and reports the median of all of them, the spread (interquartile range / median) as noise,
  and, for each peer, the lowest and highest ratio within one round (the peer's median over
  sigconv's in the same round), which says whether a ratio near 1 holds in every round.
"""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent


def case_index():
    """``[(module, index, case)]`` of every case, in compare.py's order."""
    sys.path.insert(0, str(HERE))
    out = []
    for path in sorted(HERE.glob("cases_*.py")):
        module = importlib.import_module(path.stem)
        out.extend((path.stem, i, c) for i, c in enumerate(module.CASES))
    return out


# --- worker ----------------------------------------------------------------------------------


class _BlockTorch:
    """A meta-path finder that refuses ``torch`` (a ``None`` in ``sys.modules`` would do too,
    but SciPy's array-API helpers look up ``sys.modules["torch"].Tensor`` and fail on it)."""

    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"{name} is blocked in this worker (isolated timing)")
        return None


def block_torch(on: bool = True) -> None:
    """Make ``import torch`` fail in this process (``on``), or allow it again."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _BlockTorch)]
    if on:
        sys.meta_path.insert(0, _BlockTorch())


def _flatten(value, to_numpy):
    value = to_numpy(value)
    return value if isinstance(value, list) else [value]


def _info():
    """What ran in this process: sigconv's pool, torch, and their thread counts."""
    info = {"torch_imported": "torch" in sys.modules}
    if "sigconv._cpu._threads" in sys.modules:
        info["sigconv_pool_started"] = sys.modules["sigconv._cpu._threads"]._pool is not None
    if "numba" in sys.modules:
        info["numba_threads"] = sys.modules["numba"].get_num_threads()
    if info["torch_imported"]:
        info["torch_threads"] = sys.modules["torch"].get_num_threads()
    return info


def worker(module_name: str, index: int, name: str, threads: int | None) -> int:
    sys.path.insert(0, str(HERE))
    blocked = not name.startswith("torch")
    if blocked:
        block_torch()  # this worker must not load the peer
    compare = importlib.import_module("compare")
    case = importlib.import_module(module_name).CASES[index]
    if threads is not None:
        if name == "torch":
            importlib.import_module("torch").set_num_threads(threads)
        else:
            import numba

            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            from threadpoolctl import threadpool_limits

            threadpool_limits(threads)
    try:
        impls = case.setup()
        needed_torch = False
    except ImportError as exc:  # the case's setup itself needs torch (not to run it)
        if not (blocked and "torch" in str(exc)):
            raise
        block_torch(False)
        impls, needed_torch = case.setup(), True
    reply = {"names": sorted(impls), "needed_torch": needed_torch}
    fn = impls.get(name)
    if fn is not None:
        arrays = _flatten(fn(), compare._to_numpy)
        path = tempfile.mktemp(suffix=".npz", prefix=f"sigconv-{name}-")
        np.savez(path, *[np.asarray(a) for a in arrays])
        reply["result"] = path
    reply["info"] = _info()
    print(json.dumps(reply), flush=True)
    if fn is None:
        return 0
    for line in sys.stdin:
        repeat = int(line)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        print(json.dumps({"times": times, "info": _info()}), flush=True)
    return 0


# --- parent ----------------------------------------------------------------------------------


class _Worker:
    def __init__(self, module, index, name, threads):
        cmd = [sys.executable, str(HERE / "isolate.py"), "--worker", module, str(index), name]
        if threads is not None:
            cmd.append(str(threads))
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {name} for {module}[{index}] failed to start")
        self.hello = json.loads(line)
        self.times: list[float] = []
        self.round_medians: list[float] = []

    def time(self, repeat):
        self.proc.stdin.write(f"{repeat}\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        self.times.extend(reply["times"])
        self.round_medians.append(statistics.median(reply["times"]))
        self.info = reply["info"]

    def close(self):
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait()
        path = self.hello.get("result")
        if path and os.path.exists(path):
            os.remove(path)

    def result(self):
        with np.load(self.hello["result"]) as f:
            return [f[f"arr_{i}"] for i in range(len(f.files))]


def _spread(times):
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return (q[2] - q[0]) / max(q[1], 1e-12)


def run_case(module, index, case, *, repeat, rounds, threads, agree):
    """Rows ``(name, median s, spread, agrees, note, each round's median s)`` of one case,
    sigconv first."""
    ref = _Worker(module, index, "sigconv", threads)
    names = [n for n in ref.hello["names"] if n != "sigconv"]
    workers = {"sigconv": ref}
    try:
        if not any(n.startswith("torch") for n in names):
            # torch is blocked in sigconv's worker, so its peers (named "torch..." by the
            # cases) are missing from the names there: ask a worker that may import it
            probe = _Worker(module, index, "torch", threads)
            names += [n for n in probe.hello["names"] if n.startswith("torch") and n != "torch"]
            if "result" in probe.hello:
                workers["torch"] = probe
            else:
                probe.close()
        for name in names:
            w = _Worker(module, index, name, threads)
            if "result" in w.hello:
                workers[name] = w
            else:
                w.close()
        ref_out = ref.result()
        ok = {n: (not case.check) or agree(ref_out, w.result(), case.rtol)
              for n, w in workers.items()}  # fmt: skip
        order = list(workers)
        for r in range(rounds):
            for name in order if r % 2 == 0 else order[::-1]:
                workers[name].time(repeat)
                time.sleep(0.05)  # let the previous worker's threads go idle
        rows = []
        for name, w in workers.items():
            notes = []
            if w.hello["needed_torch"]:
                notes.append("torch imported for setup, not run")
            if name != "sigconv" and w.info.get("sigconv_pool_started"):
                notes.append("sigconv ran here")
            rows.append(
                (
                    name,
                    statistics.median(w.times),
                    _spread(w.times),
                    ok[name],
                    "; ".join(notes),
                    w.round_medians,
                )
            )
        return rows, {n: w.info for n, w in workers.items()}
    finally:
        for w in workers.values():
            w.close()


def header(rounds, repeat, threads) -> str:
    how = "library defaults" if threads is None else f"{threads} (each worker sets its own)"
    calls = "each case's own number of" if repeat is None else repeat
    return (
        "Measured in isolation: each implementation in its own fresh process (peers' imports "
        "blocked), at its library's defaults (no OMP_* variables set; threads: "
        f"{how}); same seeded data; results checked against sigconv's; median of "
        f"{rounds} alternating rounds x {calls} calls; spread = IQR / median.\n\n"
        "The last column is the peer / sigconv ratio within each round (the two medians of "
        "that round), lowest-highest: whether a ratio holds in every round.\n\n"
        "| workload | case | implementation | median ms | spread | peer / sigconv | by round |\n"
        "|---|---|---|---:|---:|---:|---:|"
    )


def run(only, *, repeat, rounds, threads, agree):
    entries = [
        e for e in case_index() if not only or any(e[2].workload.startswith(o) for o in only)
    ]
    print(header(rounds, repeat, threads), flush=True)
    threads_seen = {}
    for module, index, case in entries:
        rows, infos = run_case(
            module, index, case, repeat=repeat or case.repeat, rounds=rounds, threads=threads,
            agree=agree,
        )  # fmt: skip
        base, base_rounds = rows[0][1], rows[0][5]
        for name, t, spread, ok, note, round_medians in rows:
            ratio = by_round = ""
            if name != "sigconv":
                ratio = f"{t / base:.2f}"
                per = [p / b for p, b in zip(round_medians, base_rounds)]
                by_round = f"{min(per):.2f}-{max(per):.2f}"
            flag = "" if ok else " (DISAGREES)"
            note = f" ({note})" if note else ""
            print(
                f"| {case.workload} | {case.name} | {name}{flag}{note} | {t * 1e3:.2f} | "
                f"{spread:.0%} | {ratio} | {by_round} |",
                flush=True,
            )
        for n, info in infos.items():
            threads_seen.setdefault(
                n, info.get("torch_threads" if n == "torch" else "numba_threads")
            )
    print(f"\nthreads used: {threads_seen}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "--worker":
        t = int(sys.argv[5]) if len(sys.argv) > 5 else None
        sys.exit(worker(sys.argv[2], int(sys.argv[3]), sys.argv[4], t))
    sys.exit("usage: python benchmarks/compare.py (this module is its isolated mode)")

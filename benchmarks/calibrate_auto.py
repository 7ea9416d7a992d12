"""Measure the constants of the ``method="auto"`` cost model on this machine.

Run ``python benchmarks/calibrate_auto.py`` (single-threaded, see ``_timer``) and paste the
two dicts it prints into ``sigconv/_config.py`` (``DIRECT_COST`` and ``FFT_COST``). The model
is documented in ``sigconv/_fft.py``:

* direct: ``t = outputs * (per_output + taps * per_tap) + per_call`` per kernel ndim and dtype;
* FFT: ``t = P * (per_point_log * L + per_point + per_point_big * max(0, L - 16))
  + per_group * groups`` with ``L = log2(transform size)`` and ``P`` the real points
  transformed; fitted over whole-axis and overlap-save plans of several frame lengths, so
  that the planner's choice between them is calibrated too.

Timings on a shared machine are noisy: times are single-thread CPU time (``_timer``), every
problem is timed in several rounds, round-robin, and the minimum is kept; the fit is a
non-negative least squares on relative errors, so small and large problems weigh alike. The
maximum relative error of each fit is printed to stderr, with the direct kernels' GFLOP/s.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np
from scipy.optimize import nnls

from sigconv import _fft
from sigconv._geometry import signal_geometry


def _timer(fn, inner: int) -> float:
    """CPU seconds of this process per call.

    The calibration runs single-threaded (``--threads 1``): on the shared 2-core machine this
    was written on, wall time is dominated by other processes (a load of 10 is common), and
    with two threads the CPU time of Numba's parallel regions includes waiting for a
    descheduled partner. One thread's CPU time is stable; both methods parallelise over the
    same two cores, so the comparison the model makes is unaffected by the thread count.
    """
    t0 = time.process_time()
    for _ in range(inner):
        fn()
    return (time.process_time() - t0) / inner


def measure(jobs: dict, rounds: int, budget: float = 0.05) -> dict:
    """Min over ``rounds`` round-robin passes of each job's time per call."""
    inner = {}
    for key, fn in jobs.items():
        fn()  # warm (JIT, FFT plans)
        t = _timer(fn, 1)
        inner[key] = max(1, min(50, int(budget / max(t, 1e-6))))
    best = dict.fromkeys(jobs, math.inf)
    for _ in range(rounds):
        for key, fn in jobs.items():
            best[key] = min(best[key], _timer(fn, inner[key]))
    return best


def _fit(rows, times):
    """Non-negative least squares of ``times ~ rows @ coef`` on relative errors."""
    a = np.asarray(rows, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    coef, _ = nnls(a / t[:, None], np.ones_like(t))
    pred = a @ coef
    return coef, float(np.max(np.abs(pred / t - 1)))


def _problem(shape, kshape, mode="same", stride=None, dilation=None):
    nd = len(kshape)
    stride = stride or (1,) * nd
    dilation = dilation or (1,) * nd
    geom = signal_geometry(shape[len(shape) - nd :], kshape, mode, stride, dilation)
    return shape, kshape, geom, tuple(stride), tuple(dilation)


FFT_PROBLEMS = {
    1: [
        _problem((200_000,), (31,)),
        _problem((200_000,), (255,)),
        _problem((200_000,), (1023,)),
        _problem((8, 20_000), (101,)),
        _problem((60_000,), (4001,), "valid"),
    ],
    2: [
        _problem((512, 512), (9, 9)),
        _problem((1024, 1024), (3, 3)),
        _problem((1024, 768), (31, 31)),
        _problem((4, 256, 256), (15, 15)),
    ],
    3: [
        _problem((96, 96, 96), (7, 7, 7)),
        _problem((128, 128, 128), (3, 3, 3)),
        _problem((192, 192, 192), (3, 3, 3)),
        _problem((64, 80, 72), (11, 5, 9)),
    ],
}

# Kernels of one tap are always computed directly (choose_method), so none are measured here.
DIRECT_PROBLEMS = {
    1: [_problem((200_000,), (k,)) for k in (3, 15, 63, 255)],
    2: [_problem((1024, 1024), (k, k)) for k in (3, 5, 9, 15)],
    3: [_problem((160, 160, 160), (k, k, k)) for k in (3, 5, 7)],
}


def calibrate_fft(nd, dtype, rounds):
    rng = np.random.default_rng(0)
    jobs, feats = {}, {}
    for i, (shape, kshape, geom, stride, dilation) in enumerate(FFT_PROBLEMS[nd]):
        x = rng.standard_normal(shape).astype(dtype)
        w = rng.standard_normal(kshape).astype(dtype)
        ke0 = (kshape[0] - 1) * dilation[0] + 1
        seen = set()
        for frame in (2 * ke0, 4 * ke0, 8 * ke0, 32 * ke0, None, 2**40):
            kw = {"frame_len": frame} if frame is not None else {}
            plan = _fft.fft_plan(shape, kshape, geom, stride, dilation, dtype, **kw)
            if plan is None or plan.lengths in seen:
                continue
            seen.add(plan.lengths)
            points = math.prod(shape[: len(shape) - len(kshape)]) * plan.nframes
            points *= math.prod(plan.lengths)
            size = math.prod(plan.lengths)
            groups = -(-plan.nframes // plan.group)
            # The kernel's transform is one more transform of `size` points.
            total = points + size
            log = math.log2(max(size, 2))
            big = max(0.0, log - _fft._CACHE_LOG2)
            feats[(i, plan.lengths)] = (total * log, total, total * big, groups)
            jobs[(i, plan.lengths)] = lambda x=x, w=w, g=geom, s=stride, d=dilation, p=plan: (
                _fft.correlate_fft(x, w, g, s, d, "constant", 0.0, plan=p)
            )
    times = measure(jobs, rounds)
    keys = list(jobs)
    coef, err = _fit([feats[k] for k in keys], [times[k] for k in keys])
    return coef, err, times


def calibrate_direct(nd, dtype, rounds):
    from sigconv import signal

    rng = np.random.default_rng(1)
    jobs, feats = {}, {}
    for i, (shape, kshape, geom, _, _) in enumerate(DIRECT_PROBLEMS[nd]):
        x = rng.standard_normal(shape).astype(dtype)
        w = rng.standard_normal(kshape).astype(dtype)
        outputs = math.prod(g.n_out for g in geom) * math.prod(shape[: len(shape) - nd])
        feats[i] = (outputs, outputs * math.prod(kshape), 1.0)
        jobs[i] = lambda x=x, w=w: signal.correlate(x, w, "same", method="direct")
    times = measure(jobs, rounds)
    coef, err = _fit([feats[k] for k in jobs], [times[k] for k in jobs])
    return coef, err, times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=["fft", "direct"], default=None)
    parser.add_argument("--ndim", type=int, nargs="*", default=[1, 2, 3], help="kernel ndims")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import numba

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))

    lines = []
    if args.only in (None, "direct"):
        direct = {}
        for nd in args.ndim:
            direct[nd] = {}
            for dt in (np.float32, np.float64):
                coef, err, times = calibrate_direct(nd, dt, args.rounds)
                name = np.dtype(dt).name
                direct[nd][name] = tuple(float(f"{c:.3g}") for c in coef)
                rate = [
                    2 * math.prod(p[1]) * math.prod(p[0]) / times[i] / 1e9
                    for i, p in enumerate(DIRECT_PROBLEMS[nd])
                ]
                print(
                    f"# direct {nd}-D {name}: max rel. fit error {err:.0%}; GFLOP/s "
                    + ", ".join(f"{r:.1f}" for r in rate),
                    file=sys.stderr,
                )
        lines.append(f"DIRECT_COST = {direct!r}")
    if args.only in (None, "fft"):
        fft = {}
        for nd in args.ndim:
            fft[nd] = {}
            for dt in (np.float32, np.float64):
                coef, err, _ = calibrate_fft(nd, dt, args.rounds)
                name = np.dtype(dt).name
                fft[nd][name] = tuple(float(f"{c:.3g}") for c in coef)
                print(f"# fft {nd}-D {name}: max rel. fit error {err:.0%}", file=sys.stderr)
        lines.append(f"FFT_COST = {fft!r}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

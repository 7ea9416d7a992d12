"""One LeNet-5 training epoch on the GPU: images per second (sigconv, and torch with --torch).

12,000 random 1x28x28 images, batch 64, SGD (lr 0.01, momentum 0.9), ``Sequential.to("cuda")``.
The epoch's data are shuffled on the host and copied to the GPU once; every batch is then a
contiguous slice on the device, so the timing is the training step alone (as torch's). Kernels
are compiled by a warm-up of a few steps first. With ``--torch`` the same network, from the
same initial weights, trains on the same batches with torch on CUDA, and the ratio is printed.

Measured on an NVIDIA H100 80GB (2026-11-27, 2 epochs, best): sigconv 3.41 s per epoch
(3,518 images/s), torch 0.36 s (33,048 images/s): sigconv takes 9.4x torch's time. Compiling
the kernels (first 3 steps, no on-disk cache yet) took 7.7 s.

    python benchmarks/gpu_train_epoch.py [--torch] [--epochs N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

N, BATCH, LR, MOMENTUM = 12_000, 64, 0.01, 0.9
# LeNet's late layers launch small grids; Numba would warn at every one of them
os.environ.setdefault("NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS", "0")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", action="store_true", help="also time torch on CUDA")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs (best is shown)")
    args = parser.parse_args(argv)
    from sigconv import _backend

    if not _backend.gpu_present():
        sys.exit(f"gpu_train_epoch: needs a real NVIDIA GPU ({_backend.cuda_status()[1]})")
    from numba import cuda

    from sigconv import nn
    from sigconv.nn.models import lenet5

    rng = np.random.default_rng(0)
    X = rng.random((N, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, N)
    order = rng.permutation(N)
    model = lenet5((1, 28, 28), random_state=0)
    init = {k: v.copy() for k, v in model.params.items()}
    model.to("cuda")
    Xd, yd = cuda.to_device(X[order]), cuda.to_device(y[order].astype(np.int64))
    loss = nn.CrossEntropy()

    def epoch(steps=None):
        opt = nn.SGD(model, lr=LR, momentum=MOMENTUM)
        for i, s in enumerate(range(0, N, BATCH)):
            if steps is not None and i >= steps:
                break
            model.train_step(Xd[s : s + BATCH], yd[s : s + BATCH], loss, opt)
        cuda.synchronize()

    t0 = time.perf_counter()
    epoch(steps=3)  # compiles every kernel of the step
    print(f"warm-up (JIT compile, 3 steps): {time.perf_counter() - t0:.1f} s")
    best = min(_timed(epoch) for _ in range(args.epochs))
    name = cuda.get_current_device().name
    name = name.decode() if isinstance(name, bytes) else name
    print(f"sigconv LeNet-5 epoch on {name}: {best:.2f} s, {N / best:,.0f} images/s")
    if args.torch:
        tt = _torch_epoch(init, X[order], y[order], args.epochs)
        print(f"torch   LeNet-5 epoch: {tt:.2f} s, {N / tt:,.0f} images/s; "
              f"sigconv / torch time: {best / tt:.2f}x")  # fmt: skip
    return 0


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _torch_epoch(init, X, y, epochs) -> float:
    import torch

    tn = torch.nn
    net = tn.Sequential(
        tn.Conv2d(1, 6, 5, padding=2), tn.ReLU(), tn.MaxPool2d(2),
        tn.Conv2d(6, 16, 5), tn.ReLU(), tn.MaxPool2d(2),
        tn.Conv2d(16, 120, 5), tn.ReLU(), tn.Flatten(),
        tn.Linear(120, 84), tn.ReLU(), tn.Linear(84, 10),
    ).cuda()  # fmt: skip
    with torch.no_grad():  # the same initial weights (layer indices match sigconv's lenet5)
        for i in (0, 3, 6, 9, 11):
            for name in ("weight", "bias"):
                getattr(net[i], name).copy_(torch.from_numpy(init[f"{i}.{name}"]))
    Xt, yt = torch.from_numpy(X).cuda(), torch.from_numpy(y.astype(np.int64)).cuda()

    def epoch(steps=None):
        opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
        for i, s in enumerate(range(0, N, BATCH)):
            if steps is not None and i >= steps:
                break
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(net(Xt[s : s + BATCH]), yt[s : s + BATCH]).backward()
            opt.step()
        torch.cuda.synchronize()

    epoch(steps=3)
    return min(_timed(epoch) for _ in range(epochs))


if __name__ == "__main__":
    sys.exit(main())

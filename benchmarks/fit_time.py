"""CNNClassifier's fit time and accuracy against the same network trained by PyTorch (issue 12).

Two tasks, each library in its own fresh process at its defaults (``--rounds`` alternating
runs; the median fit time is reported, and every run's test accuracy):

* ``digits``: scikit-learn's 8x8 digits as ``sigconv demo`` uses them (``cli.digits_split``:
  pixels / 16, stratified 75/25 split), ``CNNClassifier(input_shape=(1, 8, 8))`` at its defaults:
  ``digits_net`` (conv 3x3 32, conv 3x3 64, max-pool 2, dense 128, dropout 0.3, dense 10), Adam
  lr 1e-3 annealed by a cosine over 30 epochs, batch 32, shuffled.
* ``audio``: ``sigconv.datasets.make_audio`` (4 classes, 2,000 samples at 8 kHz, 100 per
  class, seed 0), 75/25 stratified split, ``CNNClassifier(input_shape=(1, 2000))``: ``audio_net``
  (conv 9/4 16, pool 4, conv 9 32, pool 4, conv 9 64, pool 4, conv 3 64, global average, dense),
  same optimiser, schedule, epochs and batch.

The PyTorch network has the same layers, padding ('same' at stride 4 as sigconv pads it:
TensorFlow's rule), optimiser (Adam, lr schedule per epoch), epochs, batch size and shuffling;
its initial weights are PyTorch's own (so accuracies are compared, not trajectories). Each fit
is timed from the estimator's ``fit`` call (sigconv, including its float32 conversion) or the
first batch (PyTorch) to the end of training; compile time is excluded by a warm-up fit of one
epoch in the same process.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time

import numpy as np

EPOCHS, BATCH, LR = 30, 32, 1e-3


def data(task):
    from sklearn.model_selection import train_test_split

    if task == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
        return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    from sigconv.datasets import make_audio

    X, y = make_audio(100, sr=8000, duration=0.25, random_state=0)[:2]
    X = np.asarray(X, dtype=np.float32).reshape(len(X), 1, -1)
    y = np.unique(np.asarray(y), return_inverse=True)[1]
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


def run_sigconv(task, Xtr, Xte, ytr, yte):
    from sigconv import CNNClassifier

    shape = Xtr.shape[1:]
    CNNClassifier(input_shape=shape, max_iter=1, random_state=0).fit(Xtr, ytr)  # compile
    clf = CNNClassifier(input_shape=shape, max_iter=EPOCHS, batch_size=BATCH, random_state=0)
    t0 = time.perf_counter()
    clf.fit(Xtr, ytr)
    return time.perf_counter() - t0, float(clf.score(Xte, yte))


def _torch_net(task, torch, n_classes, length=None):
    tn = torch.nn
    if task == "digits":
        return tn.Sequential(
            tn.Conv2d(1, 32, 3, padding=1), tn.ReLU(), tn.Conv2d(32, 64, 3, padding=1), tn.ReLU(),
            tn.MaxPool2d(2), tn.Flatten(), tn.Linear(64 * 16, 128), tn.ReLU(), tn.Dropout(0.3),
            tn.Linear(128, n_classes),
        )  # fmt: skip
    out = math.ceil(length / 4)
    total = max((out - 1) * 4 + 9 - length, 0)  # 'same' at stride 4 (TensorFlow's rule)
    return tn.Sequential(
        tn.ConstantPad1d((total // 2, total - total // 2), 0.0), tn.Conv1d(1, 16, 9, stride=4),
        tn.ReLU(), tn.MaxPool1d(4), tn.Conv1d(16, 32, 9, padding=4), tn.ReLU(), tn.MaxPool1d(4),
        tn.Conv1d(32, 64, 9, padding=4), tn.ReLU(), tn.MaxPool1d(4),
        tn.Conv1d(64, 64, 3, padding=1), tn.ReLU(), tn.AdaptiveAvgPool1d(1), tn.Flatten(),
        tn.Linear(64, n_classes),
    )  # fmt: skip


def run_torch(task, Xtr, Xte, ytr, yte):
    import torch

    torch.manual_seed(0)
    n_classes = int(ytr.max()) + 1
    Xt, yt = torch.from_numpy(Xtr), torch.from_numpy(ytr.astype(np.int64))

    def fit(epochs):
        net = _torch_net(task, torch, n_classes, Xtr.shape[-1])
        opt = torch.optim.Adam(net.parameters(), lr=LR)
        rng = np.random.default_rng(0)
        for epoch in range(epochs):
            for group in opt.param_groups:  # sigconv's cosine schedule, per epoch
                group["lr"] = 0.5 * LR * (1 + math.cos(math.pi * epoch / epochs))
            net.train()
            order = torch.from_numpy(rng.permutation(len(Xt)))
            for i in range(0, len(Xt), BATCH):
                idx = order[i : i + BATCH]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(net(Xt[idx]), yt[idx]).backward()
                opt.step()
        return net

    fit(1)  # warm-up
    t0 = time.perf_counter()
    net = fit(EPOCHS)
    elapsed = time.perf_counter() - t0
    net.eval()
    with torch.no_grad():
        pred = net(torch.from_numpy(Xte)).argmax(1).numpy()
    return elapsed, float(np.mean(pred == yte))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tasks", nargs="*", default=["digits", "audio"])
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        lib, task = args.worker
        if lib != "torch":
            import isolate

            isolate.block_torch()  # truly alone
        split = data(task)
        t, acc = (run_sigconv if lib == "sigconv" else run_torch)(task, *split)
        print(json.dumps({"time": t, "acc": acc, "n_train": len(split[0])}))
        return 0
    print(
        f"Fit time, each library alone in a fresh process at its defaults; {EPOCHS} epochs, "
        f"batch {BATCH}, Adam lr {LR} cosine; median of {args.rounds} alternating runs.\n"
    )
    print("| task | train size | sigconv s | torch s | torch / sigconv | acc sigconv | acc torch |")
    print("|---|---:|---:|---:|---:|---|---|")
    for task in args.tasks:
        res = {"sigconv": [], "torch": []}
        n = 0
        for r in range(args.rounds):
            for lib in ("sigconv", "torch") if r % 2 == 0 else ("torch", "sigconv"):
                cmd = [sys.executable, __file__, "--worker", lib, task]
                out = subprocess.run(cmd, capture_output=True, text=True)
                if out.returncode:
                    raise RuntimeError(out.stderr)
                reply = json.loads(out.stdout.strip().splitlines()[-1])
                res[lib].append(reply)
                n = reply["n_train"]
        ts = {k: statistics.median(r["time"] for r in v) for k, v in res.items()}
        accs = {k: ", ".join(f"{r['acc']:.3f}" for r in v) for k, v in res.items()}
        print(
            f"| {task} | {n} | {ts['sigconv']:.2f} | {ts['torch']:.2f} | "
            f"{ts['torch'] / ts['sigconv']:.2f} | {accs['sigconv']} | {accs['torch']} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Audio classification
====================

A 1-D CNN on a folder of sound files, one sub-folder per class.

Usage::

    python examples/audio_classification.py [DATA_DIR] [--sr 8000] [--duration 0.25]
                                            [--quick] [--plot]

DATA_DIR holds one sub-folder of sound files (WAV, FLAC, OGG, ...) per class. Without it, the
script generates tones, chirps, noise bursts and pulse trains (``sigconv.datasets.make_audio``),
writes them as WAV files to a temporary folder and reads them back with
``sigconv.io.load_audio_folder``, so the whole path from files to accuracy runs. It prints the
held-out accuracy of ``sigconv.CNNClassifier``.
"""

import argparse
import tempfile
import time

import numpy as np
from sklearn.model_selection import train_test_split

from sigconv import CNNClassifier
from sigconv.datasets import make_audio, write_audio_folder
from sigconv.io import load_audio_folder


def _plot(X, y, names, sr, clf):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    t = np.arange(X.shape[1]) / sr
    for k in range(len(names)):  # one sound of each class, stacked
        axes[0].plot(t, X[y == k][0] / 2 + k, lw=0.6)
    axes[0].set_yticks(range(len(names)), names)
    axes[0].set(xlabel="seconds", title="one sound per class")
    axes[1].plot(range(1, len(clf.loss_curve_) + 1), clf.loss_curve_, marker="o")
    axes[1].set(xlabel="epoch", ylabel="training loss", title="CNNClassifier.loss_curve_")
    fig.tight_layout()
    plt.show()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("data_dir", nargs="?", help="folder of class sub-folders of sounds")
    parser.add_argument("--sr", type=int, default=8000, help="sample rate to resample to")
    parser.add_argument("--duration", type=float, default=0.25, help="seconds per example")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="a small, fast run (smoke test)")
    parser.add_argument("--plot", action="store_true", help="draw the results (matplotlib)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sr, args.duration, args.epochs = 2000, 0.25, 4

    with tempfile.TemporaryDirectory() as tmp:
        root = args.data_dir
        if root is None:
            n = 12 if args.quick else 60
            X, y, names = make_audio(n, sr=args.sr, duration=args.duration, random_state=0)
            root = write_audio_folder(tmp, X, y, names, sr=args.sr, format="wav")
            print(f"generated {len(X)} sounds of {args.duration} s in {len(names)} classes")
        X, y, names = load_audio_folder(root, sr=args.sr, duration=args.duration)
    X = X / max(float(np.abs(X).max()), 1e-12)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    clf = CNNClassifier(max_iter=args.epochs, learning_rate=3e-3, random_state=0)
    t0 = time.perf_counter()
    clf.fit(Xtr, ytr)
    print(
        f"trained on {len(Xtr)} sounds of {X.shape[1]} samples in {time.perf_counter() - t0:.1f} s"
    )
    print(f"classes: {names}")
    print(f"held-out accuracy: {clf.score(Xte, yte):.3f}")

    if args.plot:
        _plot(X, y, names, args.sr, clf)


if __name__ == "__main__":
    main()

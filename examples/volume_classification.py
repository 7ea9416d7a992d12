"""Volume classification
=====================

A 3-D CNN on a folder of volumes, one sub-folder per class.

Usage::

    python examples/volume_classification.py [DATA_DIR] [--quick] [--plot]

DATA_DIR holds one sub-folder of ``.npy``, ``.npz`` or TIFF-stack volumes per class. Without it,
the script generates noisy spheres, cubes and hollow shells (``sigconv.datasets.make_volumes``),
writes them as ``.npy`` files to a temporary folder and reads them back with
``sigconv.io.load_volume_folder``. It prints the held-out accuracy of ``sigconv.CNNClassifier``.
"""

import argparse
import tempfile
import time

from sklearn.model_selection import train_test_split

from sigconv import CNNClassifier
from sigconv.datasets import make_volumes, write_volume_folder
from sigconv.io import load_volume_folder


def _plot(X, y, names, clf):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(names) + 1, figsize=(3 * (len(names) + 1), 3))
    for k, name in enumerate(names):  # the central slice of one volume of each class
        volume = X[y == k][0]
        axes[k].imshow(volume[volume.shape[0] // 2], cmap="gray")
        axes[k].set_title(f"{name} (central slice)", fontsize=9)
        axes[k].set_axis_off()
    axes[-1].plot(range(1, len(clf.loss_curve_) + 1), clf.loss_curve_, marker="o")
    axes[-1].set(xlabel="epoch", ylabel="training loss")
    fig.tight_layout()
    plt.show()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("data_dir", nargs="?", help="folder of class sub-folders of volumes")
    parser.add_argument("--size", type=int, default=16, help="edge of generated volumes")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="a small, fast run (smoke test)")
    parser.add_argument("--plot", action="store_true", help="draw the results (matplotlib)")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.epochs = 8, 3

    with tempfile.TemporaryDirectory() as tmp:
        root = args.data_dir
        if root is None:
            n = 10 if args.quick else 60
            X, y, names = make_volumes(n, size=args.size, random_state=0)
            root = write_volume_folder(tmp, X, y, names, format="npy")
            print(f"generated {len(X)} volumes of {args.size}^3 in {len(names)} classes")
        X, y, names = load_volume_folder(root)
    X = (X - X.mean()) / X.std()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    clf = CNNClassifier(max_iter=args.epochs, learning_rate=3e-3, random_state=0)
    t0 = time.perf_counter()
    clf.fit(Xtr, ytr)
    print(
        f"trained on {len(Xtr)} volumes of shape {X.shape[1:]} in {time.perf_counter() - t0:.1f} s"
    )
    print(f"classes: {names}")
    print(f"held-out accuracy: {clf.score(Xte, yte):.3f}")

    if args.plot:
        _plot(X, y, names, clf)


if __name__ == "__main__":
    main()

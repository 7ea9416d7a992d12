"""Transfer learning
=================

Retrain only the last layer of a CNN for new classes.

Usage::

    python examples/transfer_last_layer.py [--quick] [--plot]

A CNN is trained on the digits 0-4. Then, with ``warm_start=True`` and ``trainable_layers=1``,
it is fitted on a few examples of the digits 5-9: the classes change, so its last layer is made
anew for them, and every other layer stays frozen as a feature extractor. The result is compared
with the same network trained from scratch on the same few examples.
"""

import argparse

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sigconv import CNNClassifier


def _plot(clf, scratch, Xte, yte):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.2))
    scores = {
        "last layer retrained": clf.score(Xte, yte),
        "trained from scratch": scratch.score(Xte, yte),
    }
    ax.barh(list(scores), list(scores.values()))
    ax.set(xlabel="held-out accuracy on digits 5-9", xlim=(0, 1))
    fig.tight_layout()
    plt.show()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--per-class", type=int, default=10, help="new-class training examples")
    parser.add_argument("--quick", action="store_true", help="a small, fast run (smoke test)")
    parser.add_argument("--plot", action="store_true", help="draw the results (matplotlib)")
    args = parser.parse_args(argv)
    epochs, new_epochs = (2, 5) if args.quick else (25, 60)

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    old, new = y < 5, y >= 5
    clf = CNNClassifier(input_shape=(1, 8, 8), max_iter=epochs, random_state=0)
    clf.fit(X[old], y[old])
    frozen = [{k: v.copy() for k, v in layer.params.items()} for layer in clf.model_.layers[:-1]]

    Xn, yn = X[new], y[new]
    Xtr, Xte, ytr, yte = train_test_split(
        Xn, yn, train_size=5 * args.per_class, stratify=yn, random_state=0
    )
    clf.set_params(warm_start=True, trainable_layers=1, max_iter=new_epochs, learning_rate=3e-3)
    clf.fit(Xtr, ytr)
    unchanged = all(
        np.array_equal(before[k], layer.params[k])
        for before, layer in zip(frozen, clf.model_.layers[:-1])
        for k in before
    )
    scratch = CNNClassifier(
        input_shape=(1, 8, 8), max_iter=new_epochs, learning_rate=3e-3, random_state=0
    ).fit(Xtr, ytr)
    print(f"pretrained on digits 0-4 ({old.sum()} images), new classes {list(clf.classes_)}")
    print(f"frozen layers unchanged by the transfer: {unchanged}")
    print(f"{len(Xtr)} new examples; held-out accuracy on {len(Xte)} images of 5-9:")
    print(f"  last layer retrained: {clf.score(Xte, yte):.4f}")
    print(f"  trained from scratch: {scratch.score(Xte, yte):.4f}")

    if args.plot:
        _plot(clf, scratch, Xte, yte)


if __name__ == "__main__":
    main()

"""Deep features into an SVM
=========================

CNN activations as features for sklearn's SVC.

Usage::

    python examples/deep_features_svm.py [--quick] [--plot]

``CNNClassifier.transform`` returns the activations of one layer (by default the penultimate
one), so a CNN trained on the digits can feed an SVC in a Pipeline. The script compares the
CNN's own predictions, an SVC on the CNN's features and an SVC on the raw pixels.
"""

import argparse

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from sigconv import CNNClassifier


def _plot(scores):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.4))
    ax.barh(list(scores), list(scores.values()))
    ax.set(xlabel="held-out accuracy", xlim=(0, 1))
    fig.tight_layout()
    plt.show()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small, fast run (smoke test)")
    parser.add_argument("--plot", action="store_true", help="draw the results (matplotlib)")
    args = parser.parse_args(argv)

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    if args.quick:
        X, y = X[:400], y[:400]
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    epochs = 3 if args.quick else 30
    cnn = CNNClassifier(input_shape=(1, 8, 8), max_iter=epochs, random_state=0)
    deep_svm = Pipeline([("cnn", cnn), ("svc", SVC())]).fit(Xtr, ytr)
    features = deep_svm.named_steps["cnn"].transform(Xte[:1])
    print(f"deep features per image: {features.shape[1]} (layer {cnn.feature_layer})")
    scores = {
        "CNN alone": deep_svm.named_steps["cnn"].score(Xte, yte),
        "SVC on CNN features": deep_svm.score(Xte, yte),
        "SVC on raw pixels": SVC().fit(Xtr, ytr).score(Xte, yte),
    }
    for name, score in scores.items():
        print(f"{name + ':':<24} {score:.4f}")

    if args.plot:
        _plot(scores)


if __name__ == "__main__":
    main()

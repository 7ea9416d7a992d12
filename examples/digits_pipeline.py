"""Digits pipeline
===============

StandardScaler + CNNClassifier in a Pipeline, tuned with GridSearchCV.

Usage::

    python examples/digits_pipeline.py [--quick] [--plot]

The scaler hands the CNN flat ``(n_samples, 64)`` rows; ``input_shape=(1, 8, 8)`` folds them back
into images. GridSearchCV (two processes) picks the learning rate and batch size by 3-fold cross
validation on the training split, then the best pipeline is scored on the held-out quarter.
"""

import argparse
import time

from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sigconv import CNNClassifier


def _plot(search, Xte, yte):
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    labels = [
        ", ".join(f"{k.split('__')[1]}={v}" for k, v in p.items())
        for p in search.cv_results_["params"]
    ]
    axes[0].barh(labels, search.cv_results_["mean_test_score"])
    axes[0].set(xlabel="mean cross-validated accuracy", title="GridSearchCV")
    ConfusionMatrixDisplay.from_estimator(search, Xte, yte, ax=axes[1], colorbar=False)
    axes[1].set_title("best pipeline on held-out digits")
    fig.tight_layout()
    plt.show()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small, fast run (smoke test)")
    parser.add_argument("--plot", action="store_true", help="draw the results (matplotlib)")
    args = parser.parse_args(argv)

    X, y = load_digits(return_X_y=True)
    if args.quick:
        X, y = X[:300], y[:300]
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    pipe = Pipeline(
        [
            ("scaler", StandardScaler()),
            ("cnn", CNNClassifier(input_shape=(1, 8, 8), random_state=0)),
        ]
    )
    if args.quick:
        grid = {"cnn__learning_rate": [1e-3, 3e-3], "cnn__max_iter": [2]}
        cv = 2
    else:
        grid = {"cnn__learning_rate": [1e-3, 3e-3], "cnn__batch_size": [32, 64]}
        cv = 3
    search = GridSearchCV(pipe, grid, cv=cv, n_jobs=2)
    t0 = time.perf_counter()
    search.fit(Xtr, ytr)
    print(
        f"grid search over {len(search.cv_results_['params'])} settings took "
        f"{time.perf_counter() - t0:.1f} s"
    )
    for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
        print(f"  {params}: cv accuracy {score:.4f}")
    print(f"best: {search.best_params_}")
    print(f"held-out accuracy: {search.score(Xte, yte):.4f}")

    if args.plot:
        _plot(search, Xte, yte)


if __name__ == "__main__":
    main()

"""``CNNClassifier``: a sigconv CNN as a scikit-learn classifier (docs/contract.md §3).

Where it lives: ``_classifier`` (the estimator: parameters and their constraints, fit,
partial_fit, inference), ``_architecture`` (its network from the ``architecture`` parameter),
``_data`` (input shapes), ``_training`` (epochs, schedule, snapshots, device placement) and
``_threads`` (the ``n_threads`` limit).

The estimator follows scikit-learn's contract: ``__init__`` only stores its arguments, fitted
state ends in ``_``, inputs go through ``validate_data``. X is ``(n_samples, *input_shape)`` or
flat ``(n_samples, n_features)`` with an ``input_shape`` that says how to fold it (so it works
after a ``StandardScaler`` in a Pipeline). Without ``input_shape`` the rank of X decides:
``(n, L)`` is a batch of 1-D signals, ``(n, H, W)`` of grey images, ``(n, D, H, W)`` of volumes,
and ``(n, C, D, H, W)`` of volumes with channels; pass ``input_shape`` for channels in 1-D or 2-D
data (``input_shape=(3, 32, 32)`` for colour images).

``transform`` returns the activations of one layer (by default the input of the classifier's
last layer): the "deep features" recipe, e.g. ``Pipeline([("cnn", CNNClassifier(...)),
("svc", SVC())])``.

GPU: with ``backend="cuda"`` (or ``"auto"`` on a machine with a GPU when one training step is
large enough to pay for it) ``fit``/``partial_fit`` move the model to the GPU for the duration
of the call, copy each mini-batch over once and train without copying activations back (only
the loss value per batch). ``predict``, ``predict_proba``, ``transform`` and ``score`` likewise
run batch by batch on the GPU. Between calls ``model_`` lives on the host, so a fitted
estimator pickles (and is inspected) like a CPU one.
"""

from ._classifier import CNNClassifier

__all__ = ["CNNClassifier"]

"""CNNClassifier: scikit-learn's estimator checks, docs/contract.md §3 and the targets."""

import pickle
import time

import numba
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, make_blobs
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from sigconv import CNNClassifier, nn

pytestmark = pytest.mark.usefixtures("serial_threads")


# A small body keeps the ~60 estimator checks fast; the estimator appends Flatten + Dense.
SMALL_BODY = [("Conv", {"out_channels": 4, "kernel_size": 3, "padding": "same"}), "ReLU"]


def small(**kwargs):
    params = {
        "architecture": SMALL_BODY,
        "max_iter": 5,
        "learning_rate": 3e-2,
        "random_state": 0,
    }
    params.update(kwargs)
    return CNNClassifier(**params)


@parametrize_with_checks([small()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.fixture(scope="module")
def small_digits(digits):
    X, y = digits
    return train_test_split(X[:360], y[:360], test_size=0.25, stratify=y[:360], random_state=0)


def _weights(clf):
    return [p.copy() for layer in clf.model_.layers for p in layer.params.values()]


def test_fitted_attributes_and_shapes(small_digits):
    Xtr, Xte, ytr, yte = small_digits
    clf = small(input_shape=(1, 8, 8), max_iter=3).fit(Xtr, ytr)
    assert clf.n_features_in_ == 64
    assert clf.input_shape_ == (1, 8, 8)
    np.testing.assert_array_equal(clf.classes_, np.arange(10))
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 3
    assert clf.validation_scores_ is None
    assert isinstance(clf.model_, nn.Sequential)
    proba = clf.predict_proba(Xte)
    assert proba.shape == (len(Xte), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(Xte), clf.classes_[proba.argmax(axis=1)])
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(Xte)), proba, rtol=1e-6)
    # the loss actually falls
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_image_shaped_input_equals_flat_with_input_shape(small_digits):
    Xtr, Xte, ytr, _ = small_digits
    flat = small(input_shape=(1, 8, 8), max_iter=2).fit(Xtr, ytr)
    images = small(max_iter=2).fit(Xtr.reshape(-1, 8, 8), ytr)  # rank 2 -> (1, 8, 8)
    assert images.input_shape_ == (1, 8, 8)
    np.testing.assert_array_equal(
        flat.predict_proba(Xte), images.predict_proba(Xte.reshape(-1, 8, 8))
    )
    with pytest.raises(ValueError, match="features"):
        flat.predict(Xte[:, :4])
    with pytest.raises(ValueError, match="values per sample"):
        images.predict(Xte.reshape(-1, 8, 8)[:, :, :4])


def test_same_seed_same_model_other_seed_other_model(small_digits):
    Xtr, _, ytr, _ = small_digits
    a = small(input_shape=(1, 8, 8), max_iter=2, random_state=7).fit(Xtr, ytr)
    b = small(input_shape=(1, 8, 8), max_iter=2, random_state=7).fit(Xtr, ytr)
    c = small(input_shape=(1, 8, 8), max_iter=2, random_state=8).fit(Xtr, ytr)
    for wa, wb in zip(_weights(a), _weights(b)):
        np.testing.assert_array_equal(wa, wb)
    assert not all(np.array_equal(wa, wc) for wa, wc in zip(_weights(a), _weights(c)))
    # a RandomState instance works too and is not exhausted by clone
    rs = np.random.RandomState(3)
    small(input_shape=(1, 8, 8), max_iter=1, random_state=rs).fit(Xtr, ytr)


def test_pickle_roundtrip_identical_predictions(small_digits):
    Xtr, Xte, ytr, _ = small_digits
    clf = small(input_shape=(1, 8, 8), max_iter=2).fit(Xtr, ytr)
    blob = pickle.dumps(clf)
    # fitted estimators hold no cached activations (no copy of the training batch)
    assert len(blob) < 200_000
    back = pickle.loads(blob)
    np.testing.assert_array_equal(back.predict_proba(Xte), clf.predict_proba(Xte))
    np.testing.assert_array_equal(back.transform(Xte), clf.transform(Xte))
    back.partial_fit(Xtr, ytr)  # training continues after unpickling


def test_pipeline_with_scaler_and_default_architecture(small_digits):
    Xtr, Xte, ytr, yte = small_digits
    pipe = Pipeline(
        [
            ("scaler", StandardScaler()),
            ("cnn", CNNClassifier(input_shape=(1, 8, 8), max_iter=4, random_state=0)),
        ]
    ).fit(Xtr, ytr)
    names = [type(layer).__name__ for layer in pipe.named_steps["cnn"].model_.layers]
    assert names.count("Conv") == 2 and "MaxPool" in names  # sigconv.nn.models.digits_net
    assert pipe.score(Xte, yte) > 0.8


def test_grid_search_two_jobs(small_digits):
    Xtr, _, ytr, _ = small_digits
    search = GridSearchCV(
        small(input_shape=(1, 8, 8), max_iter=2),
        {"learning_rate": [1e-2, 3e-2]},
        cv=2,
        n_jobs=2,
    ).fit(Xtr, ytr)
    assert set(search.cv_results_["mean_test_score"]) and search.best_estimator_.n_iter_ == 2
    assert search.best_score_ > 0.5


def test_transform_deep_features_into_svc(small_digits):
    Xtr, Xte, ytr, yte = small_digits
    cnn = small(input_shape=(1, 8, 8), max_iter=4)
    pipe = Pipeline([("cnn", cnn), ("svc", SVC())]).fit(Xtr, ytr)
    feats = pipe.named_steps["cnn"].transform(Xte)
    # default feature layer: the input of the last Dense = Flatten of 4 channels x 8 x 8
    assert feats.shape == (len(Xte), 4 * 64) and feats.dtype == np.float32
    # by hand: run the layers up to the flatten
    h = np.ascontiguousarray(Xte.reshape(-1, 1, 8, 8), dtype=np.float32)
    for layer in pipe.named_steps["cnn"].model_.layers[:-1]:
        h = layer.forward(h, training=False)
    np.testing.assert_allclose(feats, h, rtol=1e-6)
    assert pipe.score(Xte, yte) > 0.7
    by_name = clone(cnn).set_params(feature_layer="conv").fit(Xtr, ytr).transform(Xte[:3])
    assert by_name.shape == (3, 4 * 64)
    with pytest.raises(ValueError, match="feature_layer"):
        clone(cnn).set_params(feature_layer="nope").fit(Xtr, ytr).transform(Xte)
    with pytest.raises(ValueError, match="feature_layer"):
        clone(cnn).set_params(feature_layer=10).fit(Xtr, ytr).transform(Xte)


def test_partial_fit(small_digits):
    Xtr, Xte, ytr, yte = small_digits
    clf = small(input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(Xtr, ytr)
    clf.partial_fit(Xtr[:50], ytr[:50], classes=np.arange(10))
    for _ in range(3):
        clf.partial_fit(Xtr, ytr)
    assert clf.n_iter_ == 4 and len(clf.loss_curve_) == 4
    np.testing.assert_array_equal(clf.classes_, np.arange(10))
    assert clf.score(Xte, yte) > 0.5
    with pytest.raises(ValueError, match="not in classes"):
        clf.partial_fit(Xtr[:5], np.full(5, 11))
    with pytest.raises(ValueError, match="differ"):
        clf.partial_fit(Xtr[:5], ytr[:5], classes=[0, 1])


def test_warm_start_continues(small_digits):
    Xtr, _, ytr, _ = small_digits
    clf = small(input_shape=(1, 8, 8), max_iter=2, warm_start=True).fit(Xtr, ytr)
    before = _weights(clf)
    model = clf.model_
    clf.fit(Xtr, ytr)
    assert clf.model_ is model and clf.n_iter_ == 4 and len(clf.loss_curve_) == 4
    assert not all(np.array_equal(a, b) for a, b in zip(before, _weights(clf)))
    cold = small(input_shape=(1, 8, 8), max_iter=2).fit(Xtr, ytr)
    cold.fit(Xtr, ytr)
    assert cold.n_iter_ == 2 and cold.model_ is not model


def test_trainable_layers_freeze_and_transfer_to_new_classes(digits):
    X, y = digits
    old, new = y < 5, y >= 5
    clf = small(input_shape=(1, 8, 8), max_iter=2).fit(X[old][:300], y[old][:300])
    body = [{k: v.copy() for k, v in lay.params.items()} for lay in clf.model_.layers[:-1]]
    clf.set_params(warm_start=True, trainable_layers=1, max_iter=3)
    clf.fit(X[new][:200], y[new][:200])
    np.testing.assert_array_equal(clf.classes_, [5, 6, 7, 8, 9])
    for saved, layer in zip(body, clf.model_.layers[:-1]):
        for k in saved:
            np.testing.assert_array_equal(saved[k], layer.params[k])
    assert clf.model_.layers[-1].params["weight"].shape == (5, 4 * 64)
    assert clf.score(X[new][200:400], y[new][200:400]) > 0.5


def test_early_stopping_restores_best_weights(small_digits):
    Xtr, Xte, ytr, _ = small_digits
    kw = {
        "input_shape": (1, 8, 8),
        "early_stopping": True,
        "validation_fraction": 0.2,
        "lr_schedule": "constant",
        "learning_rate": 0.1,  # noisy on purpose so the best epoch is rarely the last
    }
    clf = small(max_iter=8, n_iter_no_change=8, **kw).fit(Xtr, ytr)
    scores = clf.validation_scores_
    assert len(scores) == clf.n_iter_ == 8
    best = int(np.argmax(scores))
    assert clf.best_validation_score_ == scores[best]
    # the same run stopped after the best epoch has exactly the restored weights
    replay = small(max_iter=best + 1, n_iter_no_change=8, **kw).fit(Xtr, ytr)
    np.testing.assert_array_equal(replay.predict_proba(Xte), clf.predict_proba(Xte))
    # patience: stops n_iter_no_change epochs after the last improvement
    patient = small(max_iter=30, n_iter_no_change=2, **kw).fit(Xtr, ytr)
    assert patient.n_iter_ < 30
    s = np.asarray(patient.validation_scores_)
    assert len(s) == patient.n_iter_ >= 3
    assert s[:-2].max() + patient.tol >= s[-2:].max()  # the last two epochs brought nothing


def test_one_and_three_spatial_dimensions():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    # 1-D signals: a rising or a falling ramp under noise
    t = np.linspace(-1, 1, 33)
    X1 = np.where(y[:, None] == 0, t, -t) + 0.3 * rng.standard_normal((40, 33))
    clf = small(max_iter=10).fit(X1, y)
    assert clf.input_shape_ == (1, 33) and clf.score(X1, y) > 0.9
    # volumes (n, D, H, W): a bright or a dark centre
    X3 = rng.standard_normal((40, 6, 6, 6)) * 0.3
    X3[:, 2:4, 2:4, 2:4] += np.where(y == 0, 1.0, -1.0)[:, None, None, None]
    clf3 = small(max_iter=10).fit(X3, y)
    assert clf3.input_shape_ == (1, 6, 6, 6) and clf3.score(X3, y) > 0.9
    # channels in 1-D data via input_shape
    clf2 = small(max_iter=2, input_shape=(3, 11)).fit(X1, y)
    assert clf2.input_shape_ == (3, 11)


def test_default_architectures_per_rank():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 4)
    audio = CNNClassifier(max_iter=1, random_state=0).fit(rng.standard_normal((12, 512)), y)
    assert audio.model_.name == "audio_net"
    vol = CNNClassifier(max_iter=1, random_state=0).fit(rng.standard_normal((12, 8, 8, 8)), y)
    assert vol.model_.name == "volume_net"
    tiny = CNNClassifier(max_iter=1, random_state=0).fit(rng.standard_normal((12, 5)), y)
    assert [type(lay).__name__ for lay in tiny.model_.layers][0] == "Conv"  # small fallback
    named = CNNClassifier("lenet5", input_shape=(1, 28, 28), max_iter=1, random_state=0)
    named.fit(rng.standard_normal((12, 784)), y)
    assert named.model_.name == "lenet5" and named.model_.layers[-1].out_features == 3


def test_callable_and_layer_list_architectures(small_digits):
    Xtr, _, ytr, _ = small_digits

    def builder(input_shape, n_classes):
        return [nn.Flatten(), nn.Dense(16), nn.ReLU(), nn.Dense(n_classes)]

    clf = small(architecture=builder, input_shape=(1, 8, 8), max_iter=1).fit(Xtr, ytr)
    assert [type(lay).__name__ for lay in clf.model_.layers] == [
        "Flatten",
        "Dense",
        "ReLU",
        "Dense",
    ]
    layers = [nn.Conv(3, 3), nn.ReLU()]
    clf = small(architecture=layers, input_shape=(1, 8, 8), max_iter=1).fit(Xtr, ytr)
    assert not layers[0].built  # the estimator builds copies, its parameter stays unchanged
    assert clf.model_.layers[0].params["weight"].shape == (3, 1, 3, 3)


@pytest.mark.parametrize(
    "params,exc,match",
    [
        ({"max_iter": 0}, ValueError, "max_iter"),
        ({"batch_size": 2.5}, TypeError, "batch_size"),
        ({"learning_rate": -1.0}, ValueError, "learning_rate"),
        ({"optimizer": "rmsprop"}, ValueError, "optimizer"),
        ({"validation_fraction": 1.0}, ValueError, "validation_fraction"),
        ({"input_shape": (64,)}, ValueError, "input_shape"),
        ({"input_shape": (1, 8, 9)}, ValueError, "input_shape"),
        ({"architecture": "resnet"}, ValueError, "architecture"),
        ({"architecture": 3}, TypeError, "architecture"),
        ({"architecture": [("Bogus", {})]}, ValueError, "architecture"),
        ({"architecture": [object()]}, TypeError, "architecture"),
        ({"backend": "gpu"}, ValueError, "backend"),
        ({"backend": 1}, TypeError, "backend"),
        ({"optimizer": None}, TypeError, "optimizer"),
        ({"trainable_layers": 0}, ValueError, "trainable_layers"),
        ({"n_threads": 0}, ValueError, "n_threads"),
        ({"architecture": lambda: nn.Sequential([nn.Flatten(), nn.Dense(3)])}, ValueError, "3"),
    ],
)
def test_bad_parameters_name_themselves(small_digits, params, exc, match):
    Xtr, _, ytr, _ = small_digits
    with pytest.raises(exc, match=match):
        small(**{"input_shape": (1, 8, 8), **params}).fit(Xtr, ytr)


@pytest.mark.parametrize(
    "params,match",
    [
        ({"max_iter": True}, "'max_iter' parameter of CNNClassifier must be a number, not a bool"),
        ({"verbose": False}, "'verbose'"),
        ({"learning_rate": float("inf")}, "'learning_rate' parameter"),
        ({"tol": float("nan")}, "'tol' parameter"),
        ({"momentum": 1.5}, "'momentum' parameter"),
        ({"shuffle": 1}, "'shuffle' parameter"),
        ({"feature_layer": 1.5}, "'feature_layer' parameter"),
        ({"random_state": "seed"}, "'random_state' parameter"),
        ({"lr_schedule": "step"}, "'lr_schedule' parameter"),
    ],
)
def test_parameter_constraints_name_the_parameter(small_digits, params, match):
    from sklearn.utils._param_validation import InvalidParameterError

    Xtr, _, ytr, _ = small_digits
    for method in ("fit", "partial_fit"):
        clf = small(input_shape=(1, 8, 8), **params)
        args = (Xtr, ytr) if method == "fit" else (Xtr, ytr, np.arange(10))
        with pytest.raises(InvalidParameterError, match=match) as info:
            getattr(clf, method)(*args)
        assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)
        assert not hasattr(clf, "model_")  # rejected before any work


def test_partial_fit_checks_parameters_set_between_calls(small_digits):
    Xtr, _, ytr, _ = small_digits
    clf = small(input_shape=(1, 8, 8)).partial_fit(Xtr, ytr, classes=np.arange(10))
    clf.set_params(batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        clf.partial_fit(Xtr, ytr)
    clf.set_params(batch_size=16, input_shape=(8,))
    with pytest.raises(ValueError, match="input_shape"):
        clf.partial_fit(Xtr, ytr)


def test_sklearn_parameter_validation_check():
    from sklearn.utils.estimator_checks import check_param_validation

    check_param_validation("CNNClassifier", small())


def test_bad_data():
    X, y = make_blobs(30, random_state=0)
    with pytest.raises(ValueError, match="2 classes"):
        small().fit(X, np.zeros(30))
    with pytest.raises(ValueError, match="axes per sample"):
        small().fit(np.zeros((4, 2, 2, 2, 2, 2)), [0, 1, 0, 1])
    clf = small(max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :1])


def test_inputs_not_modified_and_any_layout(small_digits):
    Xtr, Xte, ytr, _ = small_digits
    Xf = np.asfortranarray(Xtr.reshape(-1, 8, 8))[:, ::-1]
    before = Xf.copy()
    clf = small(max_iter=1).fit(Xf, ytr)
    np.testing.assert_array_equal(Xf, before)
    Xb = Xte.reshape(-1, 8, 8)[:, ::-1].astype(">f8")
    Xb.flags.writeable = False
    ref = clf.predict_proba(np.ascontiguousarray(Xte.reshape(-1, 8, 8)[:, ::-1]))
    np.testing.assert_allclose(clf.predict_proba(Xb), ref, rtol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(Xb.tolist()), ref, rtol=1e-6)


def test_n_threads_limits_and_restores(small_digits, monkeypatch):
    Xtr, Xte, ytr, _ = small_digits
    seen = []
    original = nn.Sequential.train_step

    def spy(self, *args):
        seen.append(numba.get_num_threads())
        return original(self, *args)

    monkeypatch.setattr(nn.Sequential, "train_step", spy)
    numba.set_num_threads(2)
    try:
        a = small(input_shape=(1, 8, 8), max_iter=1, n_threads=1).fit(Xtr, ytr)
        assert set(seen) == {1} and numba.get_num_threads() == 2
        b = small(input_shape=(1, 8, 8), max_iter=1).fit(Xtr, ytr)
        assert 2 in seen
    finally:
        numba.set_num_threads(1)
    np.testing.assert_allclose(a.predict_proba(Xte), b.predict_proba(Xte), rtol=1e-5, atol=1e-6)


def test_verbose_progress(small_digits, capsys):
    Xtr, _, ytr, _ = small_digits
    small(input_shape=(1, 8, 8), max_iter=2, verbose=2).fit(Xtr, ytr)
    out = capsys.readouterr()
    assert "epoch 2: loss" in out.out
    assert "CNNClassifier" in out.err  # the tqdm bar


# --- the targets: digits accuracy and parity with PyTorch -----------------------------------


@pytest.fixture(scope="module")
def digits_split():
    from sigconv.cli import digits_split

    return digits_split(0)


@pytest.fixture(scope="module")
def fitted_default(digits_split):
    Xtr, Xte, ytr, yte = digits_split
    clf = CNNClassifier(input_shape=(1, 8, 8), random_state=0)
    t0 = time.perf_counter()
    clf.fit(Xtr, ytr)
    return clf, time.perf_counter() - t0


@pytest.mark.slow
def test_digits_accuracy_target(fitted_default, digits_split):
    """sklearn's digits, stratified 75/25 split, seed 0: at least 98.5% (the issue's target)."""
    clf, seconds = fitted_default
    _, Xte, _, yte = digits_split
    acc = clf.score(Xte, yte)
    print(f"digits: test accuracy {acc:.4f}, fit {seconds:.1f} s, {clf.n_iter_} epochs")
    assert acc >= 0.985


def _torch_twin(model):
    """The same layer stack in PyTorch (its own default initialisation)."""
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    layers = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv":
            layers.append(
                tnn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, padding=1)
            )
            assert layer.padding == "same" and layer.kernel_size == 3
        elif kind == "Dense":
            layers.append(tnn.Linear(layer.in_features, layer.out_features))
        elif kind == "ReLU":
            layers.append(tnn.ReLU())
        elif kind == "MaxPool":
            layers.append(tnn.MaxPool2d(layer.kernel_size))
        elif kind == "Flatten":
            layers.append(tnn.Flatten())
        elif kind == "Dropout":
            layers.append(tnn.Dropout(layer.p))
        else:  # pragma: no cover - the default digits net has only these
            pytest.fail(f"no torch twin for {kind}")
    return tnn.Sequential(*layers)


@pytest.mark.slow
def test_digits_parity_with_pytorch(fitted_default, digits_split):
    """The same architecture trained by PyTorch with the same data, optimizer, batch size,
    epochs, learning-rate schedule and shuffling seed lands within one point of sigconv."""
    torch = pytest.importorskip("torch")
    clf, _ = fitted_default
    Xtr, Xte, ytr, yte = digits_split
    torch.manual_seed(0)
    net = _torch_twin(clf.model_)
    opt = torch.optim.Adam(net.parameters(), lr=clf.learning_rate)
    epochs = clf.max_iter
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    xt = torch.from_numpy(np.ascontiguousarray(Xtr.reshape(-1, 1, 8, 8), dtype=np.float32))
    yt = torch.from_numpy(ytr.astype(np.int64))
    rng = np.random.default_rng(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(epochs):
            net.train()
            order = torch.from_numpy(rng.permutation(len(xt)))
            for i in range(0, len(xt), clf.batch_size):
                idx = order[i : i + clf.batch_size]
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
            sched.step()
        net.eval()
        with torch.no_grad():
            xe = torch.from_numpy(np.ascontiguousarray(Xte.reshape(-1, 1, 8, 8), dtype=np.float32))
            torch_acc = float((net(xe).argmax(1).numpy() == yte).mean())
    finally:
        torch.set_num_threads(threads)
    ours = clf.score(Xte, yte)
    print(f"digits: sigconv {ours:.4f}, PyTorch {torch_acc:.4f}")
    assert abs(ours - torch_acc) <= 0.01

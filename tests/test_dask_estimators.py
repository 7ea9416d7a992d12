"""CNNClassifier on Dask arrays (docs/contract.md §5): block-wise inference equals the in-memory
calls, partial_fit streams blocks, fit refuses clearly, and GridSearchCV runs on a real
2-process ``distributed.LocalCluster`` through joblib's Dask backend."""

import os

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

from sigconv import CNNClassifier, _dask  # noqa: E402
from tests.tolerance import assert_close  # noqa: E402

# The network runs in float32, and its kernels pick their layout by batch size (a block of 40
# samples may sum in another order than all 150): float32 tolerance.
F32 = np.float32


@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X[:150] / 16.0).astype(np.float32).reshape(-1, 8, 8)
    return X, y[:150]


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return CNNClassifier(max_iter=3, random_state=0, n_threads=1).fit(X, y)


@pytest.fixture
def threaded():
    with dask.config.set(scheduler="threads"):
        yield


def test_inference_is_lazy_and_equals_in_memory(fitted, data, threaded):
    X, y = data
    dX = da.from_array(X, chunks=(40, 3, 8))  # sample blocks of 40; other axes get merged
    for method in ("predict", "predict_proba", "predict_log_proba", "transform"):
        lazy = getattr(fitted, method)(dX)
        assert _dask.is_dask_array(lazy), method
        assert lazy.chunks[0] == (40, 40, 40, 30), method
        want = getattr(fitted, method)(X)
        got = lazy.compute()
        assert got.shape == want.shape and got.dtype == want.dtype, method
        if method == "predict":
            np.testing.assert_array_equal(got, want)
        else:
            assert_close(got, want, dtype=F32, err_msg=method)
    assert fitted.score(dX, y) == pytest.approx(fitted.score(X, y))
    assert fitted.score(dX, da.from_array(y, chunks=25)) == pytest.approx(fitted.score(X, y))
    w = np.linspace(0.1, 1.0, len(y))
    assert fitted.score(dX, y, sample_weight=w) == pytest.approx(
        fitted.score(X, y, sample_weight=w)
    )


def test_flat_features_with_input_shape(data, threaded):
    X, y = data
    flat = X.reshape(len(X), -1)
    clf = CNNClassifier(input_shape=(1, 8, 8), max_iter=2, random_state=0, n_threads=1)
    clf.fit(flat, y)
    got = clf.predict_proba(da.from_array(flat, chunks=(50, 16))).compute()
    assert_close(got, clf.predict_proba(flat), dtype=F32)


def test_errors(fitted, data):
    X, y = data
    dX = da.from_array(X, chunks=50)
    with pytest.raises(TypeError, match=r"fit needs X in memory.*compute\(\)"):
        CNNClassifier(max_iter=1).fit(dX, y)
    with pytest.raises(ValueError, match="y must have shape"):
        fitted.score(dX, y[:-1])
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        CNNClassifier().predict(dX)
    with pytest.raises(TypeError, match="X must have a real numeric dtype"):
        fitted.predict(dX.astype(complex))


def test_partial_fit_streams_blocks_in_order(data, threaded):
    """One in-memory partial_fit per block: the same model as those calls by hand."""
    X, y = data
    classes = np.unique(y)
    streamed = CNNClassifier(random_state=0, n_threads=1)
    streamed.partial_fit(da.from_array(X, chunks=(60, 8, 4)), y, classes=classes)
    by_hand = CNNClassifier(random_state=0, n_threads=1)
    for lo in (0, 60, 120):
        by_hand.partial_fit(X[lo : lo + 60], y[lo : lo + 60], classes=classes)
    assert streamed.n_iter_ == by_hand.n_iter_ == 3
    assert_close(streamed.predict_proba(X), by_hand.predict_proba(X), dtype=F32)
    with pytest.raises(ValueError, match="y must have 150 labels"):
        streamed.partial_fit(da.from_array(X, chunks=60), y[:10])


# --- a real cluster ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def test_predict_on_a_local_cluster(client, fitted, data):
    X, _ = data
    lazy = fitted.predict_proba(da.from_array(X, chunks=50))
    assert_close(client.compute(lazy).result(), fitted.predict_proba(X), dtype=F32)


def test_grid_search_on_the_dask_joblib_backend(client, data):
    import joblib
    from sklearn.model_selection import GridSearchCV

    X, y = data
    grid = {"learning_rate": [1e-3, 3e-3]}
    est = CNNClassifier(max_iter=2, random_state=0)
    with joblib.parallel_backend("dask"):
        on_cluster = GridSearchCV(est, grid, cv=2, n_jobs=-1).fit(X, y)
    local = GridSearchCV(est, grid, cv=2, n_jobs=1).fit(X, y)
    np.testing.assert_allclose(
        on_cluster.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    assert on_cluster.best_params_ == local.best_params_


def _threads_in_a_method(est):
    """Numba's thread count inside an estimator method (under its ``n_threads`` limit)."""
    import numba

    from sigconv.estimators._threads import limited

    return limited(lambda self: numba.get_num_threads())(est)


def test_methods_in_worker_tasks_follow_the_threads_rule(client):
    """2 workers x 1 thread: cores // 2 Numba threads per task, unless n_threads says."""
    rule = max(1, (os.cpu_count() or 1) // 2)
    for est, want in ((CNNClassifier(), rule), (CNNClassifier(n_threads=1), 1)):
        futures = [
            client.submit(_threads_in_a_method, est, workers=[w], pure=False)
            for w in client.scheduler_info()["workers"]
        ]
        assert {f.result() for f in futures} == {want}

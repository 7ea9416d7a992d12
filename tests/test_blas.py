"""One thread pool for sigconv's matrix products (``sigconv._cpu._blas``): inside ``one_pool``
BLAS runs single-threaded and the products are split over sigconv's threads; outside it, and
after it, no BLAS setting is changed."""

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from sigconv import nn
from sigconv._cpu import _blas
from sigconv.estimators import CNNClassifier
from sigconv.nn.models import lenet5


def _blas_threads():
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


@pytest.mark.parametrize("shape", [(1, 3, 5, 7), (2, 16, 40, 300), (3, 1, 1, 1)])
def test_split_product_equals_numpy(rng, shape):
    g, m, k, n = shape
    a = rng.standard_normal((g, m, k))
    b = rng.standard_normal((g, k, n))
    out = np.empty((g, m, n))
    with _blas.one_pool():
        _blas.matmul(a, b, out)
    np.testing.assert_allclose(out, np.einsum("gmk,gkn->gmn", a, b), rtol=1e-12, atol=1e-12)
    # a transposed operand and a strided output, as the weight gradient passes them
    outs = np.zeros((g, m, 2 * n))[..., ::2]
    with _blas.one_pool():
        _blas.matmul(a, np.ascontiguousarray(b.transpose(0, 2, 1)).transpose(0, 2, 1), outs)
    np.testing.assert_allclose(outs, out, rtol=1e-12, atol=1e-12)


def test_one_pool_limits_blas_and_restores_it():
    before = _blas_threads()
    with _blas.one_pool():
        assert all(n == 1 for n in _blas_threads())
        with _blas.one_pool():  # re-entrant
            assert all(n == 1 for n in _blas_threads())
        assert all(n == 1 for n in _blas_threads())
    assert _blas_threads() == before
    with pytest.raises(RuntimeError), _blas.one_pool():
        raise RuntimeError("boom")
    assert _blas_threads() == before


def test_training_and_prediction_leave_blas_settings_as_they_were(rng):
    before = _blas_threads()
    x = rng.standard_normal((40, 1, 8, 8)).astype(np.float32)
    y = np.arange(40) % 2
    clf = CNNClassifier(max_iter=1, random_state=0).fit(x, y)
    clf.predict(x)
    assert _blas_threads() == before
    model = lenet5((1, 28, 28), random_state=0)
    x28 = rng.standard_normal((8, 1, 28, 28)).astype(np.float32)
    model.train_step(x28, y[:8], nn.CrossEntropy(), nn.SGD(model, lr=0.01))
    model.predict(x28)
    assert _blas_threads() == before

"""Shared test set-up: the CUDA simulator and hypothesis profiles (tolerances: tolerance.py)."""

import os

# The CUDA tests run in Numba's simulator unless SIGCONV_REAL_GPU=1 asks for the device. This
# must be set before numba is first imported anywhere in the test process.
if os.environ.get("SIGCONV_REAL_GPU", "0") != "1":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
settings.register_profile(
    "dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def serial_threads():
    """One Numba and one BLAS thread for tests on tiny shapes.

    CI runs two test workers on two shared cores; there a 2-thread parallel region over a few
    hundred elements, or an oversubscribed OpenBLAS call, costs ~100x its serial time.
    """
    import numba
    from threadpoolctl import threadpool_limits

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(1, user_api="blas"):
            yield
    finally:
        numba.set_num_threads(before)


@pytest.fixture
def fresh_plans(monkeypatch):
    """An empty plan cache for the test, and none of its plans left behind: plans keep the
    backends' answers (``plan.memo``: method, kernel route), which a test that patches the
    rules or settings behind them must neither meet nor leave to others."""
    from sigconv import _geometry

    monkeypatch.setattr(_geometry, "_PLANS", {})

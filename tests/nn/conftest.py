"""The nn tests run on tiny shapes: one Numba and one BLAS thread each (tests/conftest.py)."""

import pytest


@pytest.fixture(autouse=True)
def _serial(serial_threads):
    yield

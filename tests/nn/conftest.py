"""The nn tests run on tiny shapes: one Numba and one BLAS thread each (tests/conftest.py)."""

import pytest


@pytest.fixture(autouse=True)
def _serial(serial_threads):
    yield


@pytest.fixture(autouse=True)
def _fresh(fresh_plans):
    # Plans keep the CPU backend's route for their shapes (plan.memo), and many tests here
    # patch the rules or settings behind it: each test plans afresh.
    yield


@pytest.fixture
def tasks_out_of_order(monkeypatch):
    """``patch(module)``: the module's ``run_chunks`` runs every kernel's tasks in five parts,
    out of order (as two threads taking chunks might), and records each call's work."""
    works = []

    def patch(module):
        def chunks(kernel, work, *args):
            works.append(work)
            for part in (3, 0, 4, 2, 1):
                kernel(part, 5, *args)

        monkeypatch.setattr(module, "run_chunks", chunks)
        return works

    return patch


@pytest.fixture
def driver_calls(monkeypatch):
    """``watch(name)``: a list that grows by one at each call the CPU convolution driver
    (``sigconv._cpu.convolution``) makes to its kernel entry ``name``, which still runs."""
    from sigconv._cpu import convolution

    def watch(name):
        seen = []
        real = getattr(convolution, name)
        monkeypatch.setattr(convolution, name, lambda *a: seen.append(1) or real(*a))
        return seen

    return watch

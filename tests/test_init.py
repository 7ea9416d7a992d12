"""The package namespace: lazy imports (issue: start-up), every public name reachable."""

import subprocess
import sys

import pytest

import sigconv

# Libraries `import sigconv` must not load: each costs 0.1-1.6 s and most users need few of them.
HEAVY = ("sklearn", "scipy", "skimage", "soundfile", "matplotlib", "numba", "dask", "torch")


def _modules_after(code):
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def _loaded(modules, names=HEAVY):
    return sorted(n for n in names if n in modules)


def test_import_loads_no_heavy_library():
    assert _loaded(_modules_after("import sigconv")) == []


@pytest.mark.parametrize("name", ["datasets", "filters", "io"])
def test_light_submodules_load_no_heavy_library(name):
    """The data generators, filters and loaders import their libraries when called."""
    assert _loaded(_modules_after(f"import sigconv.{name}")) == []


def test_first_use_loads_what_the_name_needs():
    modules = _modules_after("import sigconv; sigconv.correlate")
    assert "numpy" in modules and "numba" not in modules  # the backend loads on the first call
    modules = _modules_after("import sigconv; sigconv.correlate([1.0, 2.0], [1.0])")
    assert "numba" in modules and "sklearn" not in modules
    assert "sklearn" in _modules_after("import sigconv; sigconv.CNNClassifier")


def test_nn_loads_scipy_special_only_for_sigmoid():
    """A network's first training step needs Numba, not scipy.special (0.2 s to import)."""
    code = "import numpy as np, sigconv.nn.functional as F; x = np.ones((1, 1, 4, 4))\n"
    modules = _modules_after(code + "F.relu(F.conv(x, x))")
    assert "numba" in modules and "scipy.special" not in modules
    assert "scipy.special" in _modules_after(code + "F.sigmoid(x)")


@pytest.mark.parametrize("name", sigconv.__all__)
def test_every_public_name_resolves(name):
    value = getattr(sigconv, name)
    assert value is getattr(sigconv, name)
    assert name in dir(sigconv)


def test_names_are_the_defining_modules_objects():
    from sigconv import estimators, nn, signal

    assert sigconv.correlate is signal.correlate
    assert sigconv.convolve is signal.convolve
    assert sigconv.CNNClassifier is estimators.CNNClassifier
    assert sigconv.nn is nn


def test_star_import():
    namespace = {}
    exec("from sigconv import *", namespace)
    assert set(sigconv.__all__) <= set(namespace)


def test_unknown_name_raises_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        sigconv.not_a_name  # noqa: B018
    assert not hasattr(sigconv, "Correlate")

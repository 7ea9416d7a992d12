"""sigconv: fast, complete and transparent convolution.

Public names only; see ``sigconv.signal``, ``sigconv.nn`` and ``sigconv.estimators``.

Every name below is imported on first use (PEP 562 module ``__getattr__``), so ``import
sigconv`` takes about a millisecond: NumPy, SciPy, scikit-learn, Numba and the optional
libraries load when a name that needs them is first touched. ``dir(sigconv)`` and tab
completion list every name; type checkers see the real imports through ``TYPE_CHECKING``.
"""

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> module that defines it (a submodule when the name is the module itself)
_LAZY = {
    "CNNClassifier": ".estimators",
    "convolve": ".signal",
    "correlate": ".signal",
    "output_shape": ".signal",
    "empty_cpu_cache": "._backend",
    "empty_gpu_cache": "._backend",
    "datasets": ".datasets",
    "filters": ".filters",
    "io": ".io",
    "nn": ".nn",
    # submodules that are not in __all__ but that users reach as attributes
    "estimators": ".estimators",
    "signal": ".signal",
}

__all__ = [
    "CNNClassifier",
    "__version__",
    "convolve",
    "correlate",
    "datasets",
    "empty_cpu_cache",
    "empty_gpu_cache",
    "filters",
    "io",
    "nn",
    "output_shape",
]

if TYPE_CHECKING:  # pragma: no cover
    from . import datasets, filters, io, nn
    from ._backend import empty_cpu_cache, empty_gpu_cache
    from .estimators import CNNClassifier
    from .signal import convolve, correlate, output_shape


def __getattr__(name):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'sigconv' has no attribute {name!r}")
    module = importlib.import_module(target, __name__)
    value = module if target == f".{name}" else getattr(module, name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))

"""sigconv: fast, complete and transparent convolution.

Public names only; see ``sigconv.signal``, ``sigconv.nn`` and ``sigconv.estimators``.
"""

__version__ = "0.1.0"

from . import datasets, filters, io  # noqa: E402
from .estimators import CNNClassifier  # noqa: E402
from .signal import convolve, correlate, output_shape  # noqa: E402

__all__ = [
    "CNNClassifier",
    "__version__",
    "convolve",
    "correlate",
    "datasets",
    "filters",
    "io",
    "output_shape",
]

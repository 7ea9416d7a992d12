"""sigconv: fast, complete and transparent convolution.

Public names only; see ``sigconv.signal``, ``sigconv.nn`` and ``sigconv.estimators``.
"""

import os

__version__ = "0.1.0"

# Idle OpenMP workers (Numba's default "omp" threading layer) sleep rather than spin, unless the
# user chose otherwise. Spinning workers take the cores from OpenBLAS's threads between the
# Numba kernels and the BLAS calls of a training step: a LeNet-5 epoch (benchmarks W6) took 15 s
# with spinning and 3.7 s without on 2 cores. OpenMP reads this when Numba first loads it, so it
# holds when sigconv is imported before Numba's first parallel call; it also applies to libraries
# loading OpenMP later in the process (PyTorch's CPU epoch went from 2.0 s to 3.3 s beside it):
# set OMP_WAIT_POLICY=ACTIVE to keep spinning.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import datasets, filters, io  # noqa: E402
from ._backend import empty_gpu_cache  # noqa: E402
from .estimators import CNNClassifier  # noqa: E402
from .signal import convolve, correlate, output_shape  # noqa: E402

__all__ = [
    "CNNClassifier",
    "__version__",
    "convolve",
    "correlate",
    "datasets",
    "empty_gpu_cache",
    "filters",
    "io",
    "output_shape",
]

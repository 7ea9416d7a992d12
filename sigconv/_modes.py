"""Boundary and padding names, their kernel codes and their ``numpy.pad`` names: one table.

The signal API names boundaries as ``scipy.ndimage`` does; the NN API names padding modes as
PyTorch does (plus ``symmetric``). Both reach the same five index rules in the kernels
(``_cpu.correlate_rows._map_index`` and ``_cuda.common.map_index``), so every name maps to one
code here and nowhere else (docs/contract.md §1, §2).
"""

from __future__ import annotations

#: Boundary names of the signal API and the filters (scipy.ndimage's meanings).
BOUNDARIES = ("constant", "reflect", "mirror", "nearest", "wrap")

#: Kernel code of each boundary: the ``mode`` argument of the index-mapping functions.
BOUNDARY_CODES = {"constant": 0, "reflect": 1, "mirror": 2, "nearest": 3, "wrap": 4}

#: ``numpy.pad`` mode of each boundary (``constant`` also needs ``constant_values``).
BOUNDARY_NUMPY = {
    "constant": "constant",
    "reflect": "symmetric",
    "mirror": "reflect",
    "nearest": "edge",
    "wrap": "wrap",
}

#: Padding modes of the NN API (PyTorch's names, plus ``symmetric``).
PADDING_MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")

#: The boundary each padding mode is (PyTorch's ``reflect`` is scipy.ndimage's ``mirror``).
PADDING_BOUNDARY = {
    "zeros": "constant",
    "symmetric": "reflect",
    "reflect": "mirror",
    "replicate": "nearest",
    "circular": "wrap",
}

#: Kernel code of each padding mode.
PADDING_CODES = {mode: BOUNDARY_CODES[b] for mode, b in PADDING_BOUNDARY.items()}

#: ``numpy.pad`` mode of each padding mode.
PADDING_NUMPY = {mode: BOUNDARY_NUMPY[b] for mode, b in PADDING_BOUNDARY.items()}

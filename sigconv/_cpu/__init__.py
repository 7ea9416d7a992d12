"""Numba CPU kernels. Private: kernels assume validated, native, C-contiguous input."""

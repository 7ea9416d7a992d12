"""Tunables in one place: thresholds of the cost models and CUDA launch geometry.

Values are measured on the project's reference machine (2 cores, AVX2); change them here only,
never inline in a kernel or launcher.
"""

# --- CUDA launch geometry -------------------------------------------------------------------
# Threads per block along (x, y) for 2-D tiled kernels and along x for 1-D kernels. The test
# suite shrinks these (see tests/conftest.py) so that tiny inputs span several blocks in the
# simulator.
CUDA_BLOCK_1D = 256
CUDA_BLOCK_2D = (32, 8)
CUDA_BLOCK_3D = (32, 4, 2)

"""CUDA test set-up: tiny launch geometry, and simulated device arrays that look real.

The tests run in Numba's CUDA simulator (tests/conftest.py sets ``NUMBA_ENABLE_CUDASIM=1``
unless ``SIGCONV_REAL_GPU=1``). There every thread runs as Python, so inputs stay tiny and the
blocks are shrunk to a few threads: tiny inputs then span several blocks and every tile halo
crosses block edges, as on a GPU with real sizes.
"""

import sys

import numba
import numpy as np
import pytest

from sigconv import _config

numba_cuda = pytest.importorskip("numba.cuda", reason="numba-cuda is not installed")

SIMULATED = bool(numba.config.ENABLE_CUDASIM)

# Shrunk launch geometry: (1-D, 2-D, 3-D) blocks and GEMM tiles; shared-memory budget unchanged.
SMALL_BLOCKS = {
    "CUDA_BLOCK_1D": 8,
    "CUDA_BLOCK_2D": (4, 4),
    "CUDA_BLOCK_3D": (4, 2, 2),
    "CUDA_CORR_BLOCK_3D": (4, 2, 2),
    "CUDA_CORR_ROWS": 2,  # several outputs per thread, and interior tiles in small inputs
    "CUDA_CORR_PLANES": 2,
    "CUDA_TILE_MM": 4,  # matrix-multiply tiles: tiny dense layers still span several blocks
    # implicit-GEMM convolution tiles (the smallest allowed: 16 threads) and a weight-gradient
    # reduction split in chunks of a few positions
    "CUDA_IGEMM_BM": 16,
    "CUDA_IGEMM_BN": 16,
    "CUDA_IGEMM_BK": 4,
    "CUDA_IGEMM_WGRAD_BLOCKS": 16,
    "CUDA_IGEMM_WGRAD_MIN_K": 4,
}


def _fake_cai(self):
    a = self._ary
    return {
        "shape": a.shape,
        "strides": a.strides,
        "typestr": a.dtype.str,
        "data": (a.__array_interface__["data"][0], False),
        "version": 3,
    }


if SIMULATED:
    # The simulator's FakeCUDAArray carries no __cuda_array_interface__, which the public
    # wrappers read for the shape and dtype of device operands (as they must for CuPy/PyTorch).
    # Give it one so that the simulator exercises the same code paths as a GPU.
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    if not hasattr(FakeCUDAArray, "__cuda_array_interface__"):
        FakeCUDAArray.__cuda_array_interface__ = property(_fake_cai)


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    """Tiny blocks in the simulator; the configured ones on a real GPU."""
    if SIMULATED:
        for name, value in SMALL_BLOCKS.items():
            monkeypatch.setattr(_config, name, value)
    yield


@pytest.fixture
def small_gemm_tiles(monkeypatch):
    """The simulator's implicit-GEMM tiles on a real GPU too, for tests that count tiles and
    K splits: at the configured 64 x 64 tiles their tiny convolutions fit in one tile and the
    weight gradient is never split (seen on an H200, 2026-12-04)."""
    for name, value in SMALL_BLOCKS.items():
        if name.startswith("CUDA_IGEMM_"):
            monkeypatch.setattr(_config, name, value)


@pytest.fixture(autouse=True)
def fast_simulator():
    """A shorter GIL switch interval in the simulator: its block manager busy-polls the block's
    threads at every barrier, so tiled kernels (two barriers per K slice in the implicit GEMM)
    ran 2x faster with it."""
    before = sys.getswitchinterval()
    if SIMULATED:
        sys.setswitchinterval(5e-5)
    yield
    sys.setswitchinterval(before)


@pytest.fixture
def to_device():
    """Copy a host array to the device (a simulated one in CI)."""
    return lambda a: numba_cuda.to_device(np.ascontiguousarray(a))


def to_host(d):
    return d.copy_to_host() if hasattr(d, "copy_to_host") else np.asarray(d)


class KernelSpy:
    """Stands in for a CUDA kernel and records the Numba types of every launch's arguments."""

    def __init__(self, kernel, seen):
        self.kernel, self.seen = kernel, seen
        self.py_func = kernel.py_func

    def __getitem__(self, cfg):
        def launch(*args):
            self.seen[self.py_func.__name__].add(tuple(numba.typeof(a) for a in args))
            return self.kernel[cfg](*args)

        return launch


def spy_launches(monkeypatch, module, names) -> list:
    """Wrap kernels ``names`` of ``module``; the returned list records each launch's name."""
    calls = []

    class Spy:
        def __init__(self, kernel, name):
            self.kernel, self.name = kernel, name

        def __getitem__(self, cfg):
            calls.append(self.name)
            return self.kernel[cfg]

    for name in names:
        monkeypatch.setattr(module, name, Spy(getattr(module, name), name))
    return calls

"""sigconv._backend: which arrays count as device arrays, and the GPU cache control."""

import subprocess
import sys

import numpy as np

import sigconv
from sigconv import _backend


class _Interface:
    """Exposes a device-array interface, counting how often it is built."""

    built = 0

    @property
    def __cuda_array_interface__(self):
        type(self).built += 1
        return {"shape": (1,), "typestr": "<f4", "data": (0, False), "version": 3}


class _NumbaLike(_Interface):
    __cuda_ndarray__ = True  # Numba's class flag for its device arrays


class _HostTensor:
    """Like a PyTorch CPU tensor: the interface exists on the class but raises."""

    @property
    def __cuda_array_interface__(self):
        raise AttributeError("not a CUDA tensor")


def test_device_arrays_are_recognised_without_building_numbas_interface():
    _Interface.built = 0
    assert _backend.is_device_array(_NumbaLike())
    assert _Interface.built == 0  # the class flag answered
    assert _backend.is_device_array(_Interface())  # CuPy, PyTorch CUDA: the interface
    assert _Interface.built == 1
    assert not _backend.is_device_array(np.zeros(3))
    assert not _backend.is_device_array(np.zeros(3).view(np.recarray))  # ndarray subclass
    assert not _backend.is_device_array(None)
    assert not _backend.is_device_array([1.0, 2.0])
    assert not _backend.is_device_array(_HostTensor())


def test_empty_gpu_cache_without_cuda_use_frees_nothing():
    # a fresh process that never used the CUDA backend has nothing cached (and imports nothing)
    code = (
        "import sys, sigconv\n"
        "print(sigconv.empty_gpu_cache(), 'sigconv._cuda.memory' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["0", "False"]
    assert sigconv.empty_gpu_cache() >= 0

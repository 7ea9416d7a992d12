"""sigconv's caching device allocator (sigconv._cuda.memory).

The pool's bookkeeping is plain Python and is tested with a fake allocator; the Numba glue
(leasing blocks to device arrays) is tested on a real GPU only (the simulator has no device
memory, and ``common.empty`` bypasses the pool there, which is checked too).
"""

import gc
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sigconv
from sigconv import _config
from sigconv._cuda import common, memory
from tests.cuda.conftest import SIMULATED, numba_cuda

pytestmark = pytest.mark.cuda


@given(st.integers(min_value=0, max_value=1 << 40))
def test_size_class_covers_the_request_with_bounded_waste(nbytes):
    size = memory.size_class(nbytes)
    assert size >= max(nbytes, 1)
    if nbytes <= memory.SMALL_LIMIT:
        assert size % memory.SMALL_STEP == 0 and size - max(nbytes, 1) < memory.SMALL_STEP
    else:
        assert size <= nbytes * 1.125
    # classes are stable: a request of a class's own size maps to itself
    assert memory.size_class(size) == size


def test_size_classes_examples():
    assert memory.size_class(0) == 512
    assert memory.size_class(1) == 512
    assert memory.size_class(513) == 1024
    assert memory.size_class(1 << 20) == 1 << 20
    # above 1 MiB: eighths of the top power of two (16 MiB + 1 byte -> 18 MiB)
    assert memory.size_class((16 << 20) + 1) == 18 << 20


class FakeDevice:
    """Hands out numbered blocks; can be told to be full for some calls."""

    def __init__(self):
        self.allocated = []
        self.full_for = 0

    def __call__(self, nbytes):
        if self.full_for:
            self.full_for -= 1
            raise MemoryError("out of memory")
        block = ("block", len(self.allocated), nbytes)
        self.allocated.append(block)
        return block


def test_pool_reuses_blocks_of_the_same_class_only():
    dev = FakeDevice()
    pool = memory.BlockPool(dev)
    size, a = pool.take(1000)
    assert size == 1024 and a == ("block", 0, 1024)
    pool.give(size, a)
    assert pool.cached_bytes == 1024
    assert pool.take(600) == (1024, a)  # same class: the cached block, no new allocation
    assert pool.cached_bytes == 0 and len(dev.allocated) == 1
    size2, b = pool.take(3000)  # another class: a fresh block
    assert size2 == 3072 and b == ("block", 1, 3072)
    assert (pool.hits, pool.misses) == (1, 2)
    pool.give(size, a)
    pool.give(size2, b)
    assert pool.release() == 1024 + 3072
    assert pool.cached_bytes == 0
    _, c = pool.take(1000)  # after release nothing is cached
    assert c == ("block", 2, 1024)


def test_pool_releases_its_cache_and_retries_when_the_device_is_full():
    dev = FakeDevice()
    pool = memory.BlockPool(dev)
    size, a = pool.take(10_000)
    pool.give(size, a)
    dev.full_for = 1
    size_b, b = pool.take(5 << 20)
    assert b == ("block", 1, size_b)
    assert pool.cached_bytes == 0  # the cached block was dropped to make room
    dev.full_for = 2
    with pytest.raises(MemoryError):
        pool.take(1 << 20)


def test_a_lease_returns_its_block_when_the_last_owner_is_garbage():
    pool = memory.BlockPool(FakeDevice())
    size, block = pool.take(4096)
    owner = memory.lease(pool, size, block)
    holders = [owner, owner]  # views of an array all hold the one owner
    del owner
    gc.collect()
    assert pool.cached_bytes == 0
    holders.clear()
    gc.collect()
    assert pool.cached_bytes == size
    assert pool.take(4096) == (size, block)


class FakeContext:
    """Stands in for a Numba context: records that its queue of pending frees ran."""

    def __init__(self):
        self.flushed = 0
        self.memory_manager = self
        self.deallocations = self

    def clear(self):
        self.flushed += 1

    def memalloc(self, nbytes):
        return ("block", nbytes)


def test_empty_cache_releases_blocks_and_runs_numbas_pending_frees(monkeypatch):
    monkeypatch.setattr(memory, "_pools", {})
    ctx = FakeContext()
    pool = memory._pool_for(ctx)
    assert memory._pool_for(ctx) is pool  # one pool per context
    size, block = pool.take(5000)
    assert block == ("block", size)  # allocated through the context
    pool.give(size, block)
    assert memory.stats()["cached_bytes"] == size
    assert memory.empty_cache() == size
    assert ctx.flushed == 1 and memory.stats()["cached_bytes"] == 0


def test_pools_of_closed_contexts_are_dropped(monkeypatch):
    monkeypatch.setattr(memory, "_pools", {})
    old = FakeContext()
    alloc_old = memory._pool_for(old)._alloc
    del old
    gc.collect()
    with pytest.raises(RuntimeError, match="closed"):
        alloc_old(512)
    new = FakeContext()
    memory._pool_for(new)
    assert len(memory._pools) == 1  # the dead context's pool is gone


def test_pool_is_off_with_per_thread_default_streams(monkeypatch):
    monkeypatch.setattr(memory, "_per_thread_streams", lambda: True)
    monkeypatch.setattr(memory, "simulated", lambda: False)
    monkeypatch.setattr(_config, "CUDA_MEMORY_POOL", True)
    assert not memory.enabled()
    monkeypatch.setattr(memory, "_per_thread_streams", lambda: False)
    assert memory.enabled()
    monkeypatch.setattr(_config, "CUDA_MEMORY_POOL", False)
    assert not memory.enabled()


def test_c_strides():
    assert memory.c_strides((2, 3, 4), 4) == (48, 16, 4)
    assert memory.c_strides((5,), 8) == (8,)
    assert memory.c_strides((), 4) == ()
    assert memory.c_strides((0, 3), 4) == (12, 4)


def test_empty_gpu_cache_is_public_and_counts_bytes():
    assert "empty_gpu_cache" in sigconv.__all__
    assert sigconv.empty_gpu_cache() >= 0
    assert sigconv.empty_gpu_cache() == 0  # nothing cached right after a release


@pytest.mark.skipif(not SIMULATED, reason="simulator-only behaviour")
def test_simulator_bypasses_the_pool():
    assert not memory.enabled()
    d = common.empty((3, 4), np.float32)
    assert tuple(d.shape) == (3, 4) and d.dtype == np.float32
    assert memory.stats()["hits"] == 0


@pytest.mark.skipif(SIMULATED, reason="needs a real GPU (SIGCONV_REAL_GPU=1)")
def test_device_arrays_reuse_freed_blocks_and_keep_their_values(monkeypatch):
    monkeypatch.setattr(_config, "CUDA_MEMORY_POOL", True)
    sigconv.empty_gpu_cache()
    a = common.empty((256, 1000), np.float32)
    ptr = a.__cuda_array_interface__["data"][0]
    view = a.reshape((1000, 256))
    del a
    gc.collect()
    b = common.empty((256, 1000), np.float32)
    ptr_b = b.__cuda_array_interface__["data"][0]
    assert ptr_b != ptr  # the view still holds the first block
    hits = memory.stats()["hits"]
    del view, b
    gc.collect()
    c = common.empty((1000, 256), np.float32)  # same size class: one of the two blocks
    assert c.__cuda_array_interface__["data"][0] in (ptr, ptr_b)
    assert memory.stats()["hits"] == hits + 1
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    d = common.contiguous(x, np.float64)
    np.testing.assert_array_equal(d.copy_to_host(), x)
    y = sigconv.correlate(numba_cuda.to_device(x), np.ones((1, 1)), "same", backend="cuda")
    np.testing.assert_array_equal(y.copy_to_host(), x)
    del c, d, y
    gc.collect()
    assert sigconv.empty_gpu_cache() > 0


_GLUE = """
import gc, numpy as np
from numba.cuda.cudadrv.devicearray import DeviceNDArray
from numba.cuda.cudadrv.driver import MemoryPointer, binding
from sigconv._cuda import memory

class Block:  # stands in for the OwnedPointer of a real allocation
    context = None
    device_pointer = binding.CUdeviceptr(0x7F0000000000)

pool = memory.BlockPool(lambda n: Block())
size, block = pool.take(4000)
data = MemoryPointer(None, block.device_pointer, 4000, owner=memory.lease(pool, size, block))
a = DeviceNDArray((10, 100), memory.c_strides((10, 100), 4), np.float32, gpu_data=data)
del data
assert a.__cuda_array_interface__["data"][0] == 0x7F0000000000 and a.is_c_contiguous()
v = DeviceNDArray((1000,), (4,), np.float32, gpu_data=a.gpu_data)  # what reshape builds
part = a.gpu_data.view(400, 800)  # what slicing builds
alive = []
for name in ("a", "v", "part"):
    del globals()[name]
    gc.collect()
    alive.append(pool.cached_bytes)
print(alive)
"""


def test_lease_glue_with_numbas_real_array_classes():
    # The simulator replaces Numba's device-array module, so run Numba's real classes in a
    # child process; building arrays on a given pointer needs no driver.
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run(
        [sys.executable, "-c", _GLUE], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the block goes back to the pool only when the array, its reshape and its slice are gone
    assert proc.stdout.strip() == "[0, 0, 4096]"

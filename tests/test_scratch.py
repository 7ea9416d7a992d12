"""sigconv._scratch: per-thread reused temporaries."""

import threading

import numpy as np
import pytest

from sigconv import _scratch


def test_take_gives_the_shape_and_dtype_aligned():
    a = _scratch.take("t-shape", (3, 5, 7), np.float32)
    assert a.shape == (3, 5, 7)
    assert a.dtype == np.float32
    assert a.flags.c_contiguous and a.flags.writeable
    assert a.ctypes.data % 64 == 0


def test_a_slot_reuses_its_memory_and_slots_are_apart():
    a = _scratch.take("t-reuse", (100, 100), np.float64)
    b = _scratch.take("t-reuse", (50, 20), np.float32)  # smaller: the same memory
    c = _scratch.take("t-other", (100, 100), np.float64)
    assert b.ctypes.data == a.ctypes.data
    assert not np.may_share_memory(a, c)
    d = _scratch.take("t-reuse", (300, 300), np.float64)  # larger: grows
    assert d.shape == (300, 300)
    d[...] = 1.0
    assert d.sum() == 90000.0


def test_threads_get_their_own_memory():
    mine = _scratch.take("t-threads", (64, 64), np.float32)
    seen = []
    t = threading.Thread(target=lambda: seen.append(_scratch.take("t-threads", (64, 64), "f4")))
    t.start()
    t.join()
    assert not np.may_share_memory(mine, seen[0])


def test_large_requests_get_fresh_memory(monkeypatch):
    monkeypatch.setattr(_scratch, "MAX_BYTES", 1024)
    a = _scratch.take("t-large", (1000,), np.float32)
    b = _scratch.take("t-large", (1000,), np.float32)
    assert not np.may_share_memory(a, b)


def test_release_frees_the_slots():
    a = _scratch.take("t-release", (10,), np.float64)
    _scratch.release()
    b = _scratch.take("t-release", (10,), np.float64)
    assert not np.may_share_memory(a, b)  # without release, b would reuse a's memory


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_a_slot_serves_every_size_up_to_its_buffer_and_grows_past_it(dtype):
    """The view starts up to 63 bytes into the buffer (cache-line aligned), so a reused slot
    must hold the request after that offset: sizes just below, at and past the buffer."""
    item = np.dtype(dtype).itemsize
    for base in (4096 // item - 70, 4096 // item, 10_000):
        first = _scratch.take("t-sizes", (base,), dtype)
        first[...] = 1
        for extra in range(1, 80):
            a = _scratch.take("t-sizes", (base + extra,), dtype)
            assert a.shape == (base + extra,) and a.ctypes.data % 64 == 0
            a[...] = 2  # the whole view is writable memory of its own size
        _scratch.release()

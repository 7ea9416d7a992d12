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


def test_result_reuses_memory_only_once_nothing_references_it():
    _scratch.release_results()
    limit = 1 << 20
    a = _scratch.result((10, 20), np.float32, limit)
    assert a.shape == (10, 20) and a.dtype == np.float32 and a.flags.c_contiguous
    a[...] = 1.0
    b = _scratch.result((10, 20), np.float32, limit)
    assert not np.shares_memory(a, b)  # a is alive: its memory is not handed out again
    view = a[2:5]
    del a
    c = _scratch.result((10, 20), np.float32, limit)
    assert not np.shares_memory(c, view)  # a view keeps the buffer in use
    assert len(_scratch._results) == 3
    del view, c
    d = _scratch.result((10, 20), np.float32, limit)
    assert len(_scratch._results) == 3  # no new buffer: d took a freed one
    assert d.base is not None and any(d.base is buf for buf in _scratch._results)
    assert not np.shares_memory(d, b)
    _scratch.release_results()


def test_result_memoryview_and_pickle_buffers_keep_it_in_use():
    import pickle

    _scratch.release_results()
    a = _scratch.result((1000,), np.float64, 1 << 20)
    m = memoryview(a)
    p = pickle.PickleBuffer(a)
    del a
    b = _scratch.result((1000,), np.float64, 1 << 20)
    assert not np.shares_memory(b, np.asarray(m))
    del b
    c = _scratch.result((1000,), np.float64, 1 << 20)  # b's buffer is free again
    assert not np.shares_memory(c, np.asarray(m)) and not np.shares_memory(c, np.asarray(p))
    _scratch.release_results()


def test_result_limit_and_size_window():
    _scratch.release_results()
    a = _scratch.result((100,), np.uint8, 150)
    b = _scratch.result((100,), np.uint8, 150)  # over the limit: fresh memory, not pooled
    del a, b
    assert len(_scratch._results) == 1
    small = _scratch.result((10,), np.uint8, 150)  # 10 bytes would waste a 100-byte buffer
    assert small.base is None or small.base.size != 100
    big = _scratch.result((100,), np.uint8, 150)
    assert big.base is _scratch._results[0]
    zero = _scratch.result((0, 3), np.float32, 150)
    assert zero.shape == (0, 3)
    _scratch.release_results()
    assert _scratch._results == []


def test_result_is_thread_safe():
    _scratch.release_results()
    seen, lock = [], threading.Lock()

    def work():
        for _ in range(200):
            a = _scratch.result((64,), np.float64, 1 << 16)
            a[...] = threading.get_ident()
            with lock:
                seen.append(bool((a == threading.get_ident()).all()))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(seen) and len(seen) == 800
    _scratch.release_results()

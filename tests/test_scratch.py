"""sigconv._scratch: per-thread reused temporaries and the pool of results."""

import threading

import numpy as np
import pytest

from sigconv import _config, _scratch


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
    assert any(big.base is buf for buf in _scratch._results)
    assert big.base.size == 100
    zero = _scratch.result((0, 3), np.float32, 150)
    assert zero.shape == (0, 3)
    assert _scratch.release_results() == 0  # all in use
    del small, big, zero
    assert _scratch.release_results() == 110
    assert _scratch._results == []


def test_result_drops_free_buffers_least_recently_used_first():
    _scratch.release_results()
    limit = 300
    a = _scratch.result((100,), np.uint8, limit)
    b = _scratch.result((90,), np.uint8, limit)
    c = _scratch.result((80,), np.uint8, limit)
    ida, idb, idc = (id(v.base) for v in (a, b, c))
    del a, b, c
    a = _scratch.result((100,), np.uint8, limit)  # a's buffer again: now the most recent
    assert id(a.base) == ida
    # a 120-byte result fits none and not beside the three: b's buffer (least recent and free)
    # goes; c's stays
    d = _scratch.result((120,), np.uint8, limit)
    assert d.base.size == 120
    assert sorted(id(buf) for buf in _scratch._results) == sorted([ida, idc, id(d.base)])
    # with every buffer in use, nothing is dropped: fresh memory outside the pool
    c = _scratch.result((80,), np.uint8, limit)
    e = _scratch.result((200,), np.uint8, limit)
    assert not any(e.base is buf for buf in _scratch._results) and len(_scratch._results) == 3
    # larger than the whole pool: never pooled
    assert _scratch.result((400,), np.uint8, limit).base is None and len(_scratch._results) == 3
    # a free buffer is dropped only when that makes room: c's 80 bytes would not
    del c
    f = _scratch.result((250,), np.uint8, limit)
    assert f.base is None and idc in [id(buf) for buf in _scratch._results]
    del a, d, e, f
    _scratch.release_results()


def test_in_memory_results_never_drop_dask_block_buffers():
    _scratch.release_results()
    blocks = [_scratch.result((100,), np.uint8, 1000, pool="dask") for _ in range(5)]
    ids = sorted(id(b.base) for b in blocks)
    del blocks  # free block buffers, kept for the next blocks
    big = _scratch.result((300,), np.uint8, 350)  # the in-memory pool's own limit
    assert any(big.base is buf for buf in _scratch._results)
    assert sorted(id(buf) for buf in _scratch._pools["dask"]) == ids
    del big
    assert _scratch.release_results() == 800


def test_new_result_pools_large_results_only(monkeypatch):
    _scratch.release_results()
    monkeypatch.setattr(_config, "RESULT_POOL_MIN_BYTES", 4000)
    monkeypatch.setattr(_config, "RESULT_POOL_BYTES", 10_000)
    small = _scratch.new_result((999,), np.float32)
    assert small.shape == (999,) and small.dtype == np.float32 and not _scratch._results
    big = _scratch.new_result((10, 100), np.float32)
    assert big.shape == (10, 100) and big.flags.c_contiguous and big.flags.writeable
    assert len(_scratch._results) == 1 and big.base is _scratch._results[0]
    del big
    # 8000 bytes: big's free buffer is too small, and dropped to make room
    again = _scratch.new_result((1000,), np.float64)
    assert len(_scratch._results) == 1 and again.base is _scratch._results[0]
    monkeypatch.setattr(_config, "RESULT_POOL_BYTES", 0)  # no pool
    assert _scratch.new_result((10, 100), np.float32).base is None
    del again
    _scratch.release_results()


def test_empty_cpu_cache_frees_the_pool_and_scratch():
    import sigconv

    sigconv.empty_cpu_cache()
    kept = _scratch.result((1000,), np.float64, 1 << 20)
    _scratch.result((500,), np.float64, 1 << 20)  # freed at once
    _scratch.take("t-empty", (256,), np.float32)
    freed = sigconv.empty_cpu_cache()
    assert freed >= 4000 + 1024
    assert sigconv.empty_cpu_cache() == 0
    assert any(kept.base is buf for buf in _scratch._results)  # still in use: kept
    del kept
    assert sigconv.empty_cpu_cache() == 8000


def test_results_of_calls_are_pooled_and_never_shared_while_alive(rng):
    import sigconv
    from sigconv.nn import functional as F

    sigconv.empty_cpu_cache()
    x = rng.standard_normal((512, 512)).astype(np.float32)  # 1 MiB results
    w = rng.standard_normal((3, 3)).astype(np.float32)
    first = sigconv.correlate(x, w, "same")
    second = sigconv.correlate(x, 2 * w, "same")
    assert not np.shares_memory(first, second)
    np.testing.assert_allclose(second, 2 * first, rtol=1e-5, atol=1e-5)
    address = first.__array_interface__["data"][0]
    del first
    third = sigconv.correlate(x, w, "same")  # first's memory, freed
    assert third.__array_interface__["data"][0] == address
    np.testing.assert_allclose(second, 2 * third, rtol=1e-5, atol=1e-5)
    xb = rng.standard_normal((8, 8, 64, 64)).astype(np.float32)  # 1 MiB outputs
    wb = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    y1 = F.conv(xb, wb, padding=1)
    assert any(y1.base is buf for buf in _scratch._results)
    y2 = F.conv(xb, wb, padding=1)
    assert not np.shares_memory(y1, y2) and np.array_equal(y1, y2)
    del second, third, y1, y2
    sigconv.empty_cpu_cache()


def test_the_free_count_is_measured_on_this_interpreter():
    a = _scratch.result((10,), np.uint8, 1 << 10)
    pool = _scratch._results
    i = next(i for i in range(len(pool)) if pool[i] is a.base)
    assert _scratch._refs(pool, i) > _scratch._FREE_REFS  # a holds it
    del a
    assert _scratch._refs(pool, i) == _scratch._FREE_REFS
    _scratch.release_results()


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

"""sigconv._cpu._threads.run_chunks: every chunk once, errors raised, nothing after return."""

import os
import threading
import time

import numba
import pytest

from sigconv import _config
from sigconv._cpu._threads import run_chunks


@pytest.fixture
def two_threads(monkeypatch):
    # two threads, at most eight chunks a job (the tests below count on eight)
    monkeypatch.setattr(_config, "CPU_CHUNKS_PER_THREAD", 4)
    before = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    yield
    numba.set_num_threads(before)


def _recorder(delay=0.0):
    seen, lock = [], threading.Lock()

    def kernel(chunk, nchunk, tag):
        time.sleep(delay)
        with lock:
            seen.append((tag, chunk, nchunk, threading.get_ident()))

    return kernel, seen


@pytest.mark.parametrize("delay", [0.0, 0.002])
def test_every_chunk_runs_once_and_none_after_return(two_threads, delay):
    kernel, seen = _recorder(delay)
    for call in range(50):
        run_chunks(kernel, 8 * _config.CPU_MIN_CHUNK_WORK, call)
        mine = [s for s in seen if s[0] == call]
        nchunk = mine[0][2]
        assert sorted(s[1] for s in mine) == list(range(nchunk))
    time.sleep(0.05)  # a pool thread that wakes late must find no chunk left to run
    counts = {}
    for tag, chunk, _, _ in seen:
        counts[tag, chunk] = counts.get((tag, chunk), 0) + 1
    assert set(counts.values()) == {1}
    if delay and numba.get_num_threads() > 1:  # slow chunks: the pool thread takes some
        assert len({s[3] for s in seen}) > 1


def test_small_work_runs_in_one_chunk(two_threads):
    kernel, seen = _recorder()
    run_chunks(kernel, 1, "small")
    assert [s[1:3] for s in seen] == [(0, 1)]
    assert seen[0][3] == threading.get_ident()


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two threads")
@pytest.mark.parametrize("bad_chunk", [0, 3, 7])
def test_an_error_in_any_chunk_is_raised_after_every_chunk_ran(two_threads, bad_chunk):
    ran = []

    def kernel(chunk, nchunk):
        time.sleep(0.001)
        ran.append(chunk)
        if chunk == bad_chunk:
            raise ZeroDivisionError(f"chunk {chunk}")

    with pytest.raises(ZeroDivisionError, match=f"chunk {bad_chunk}"):
        run_chunks(kernel, 8 * _config.CPU_MIN_CHUNK_WORK)
    assert sorted(ran) == list(range(8))  # nothing still running in the output's memory


def test_callers_on_several_threads_each_get_every_chunk_once(two_threads):
    # One job holds the pool at a time; the others run theirs on their own thread.
    kernel, seen = _recorder(0.0005)
    errors = []

    def caller(tag):
        try:
            for call in range(20):
                run_chunks(kernel, 8 * _config.CPU_MIN_CHUNK_WORK, (tag, call))
                mine = [s for s in seen if s[0] == (tag, call)]
                assert sorted(s[1] for s in mine) == list(range(mine[0][2]))
        except BaseException as exc:
            errors.append(exc)

    callers = [threading.Thread(target=caller, args=(t,)) for t in range(3)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert not errors
    assert len(seen) == len({s[:2] for s in seen}) == 3 * 20 * seen[0][2]


def test_a_chunk_may_call_run_chunks_itself(two_threads):
    inner, seen = _recorder()

    def outer(chunk, nchunk):
        run_chunks(inner, 8 * _config.CPU_MIN_CHUNK_WORK, chunk)

    run_chunks(outer, 8 * _config.CPU_MIN_CHUNK_WORK)
    n = seen[0][2]
    assert sorted(s[:2] for s in seen) == [(o, i) for o in range(n) for i in range(n)]


@pytest.mark.parametrize("spin_us", [0, 100, 5000])
def test_every_chunk_runs_once_whatever_the_spin(two_threads, monkeypatch, spin_us):
    from sigconv._cpu import _threads

    monkeypatch.setattr(_config, "CPU_SPIN_US", spin_us)
    monkeypatch.setattr(_threads, "_pool", None)  # a pool with this budget
    kernel, seen = _recorder()
    for call in range(30):
        run_chunks(kernel, 8 * _config.CPU_MIN_CHUNK_WORK, call)
        if call % 10 == 0:
            time.sleep(0.003)  # let the helper fall asleep
        if call % 7 == 0:
            run_chunks(kernel, 1, ("one", call))  # nudges a sleeping helper
    counts = {}
    for tag, chunk, _, _ in seen:
        counts[tag, chunk] = counts.get((tag, chunk), 0) + 1
    assert set(counts.values()) == {1}
    assert len(counts) == 30 * 8 + 5


def test_spin_primitives_watch_and_store():
    import numpy as np

    from sigconv._cpu._spin import STRIDE, exit_and_watch, ticks, watch_exits

    flags = np.zeros(3 * STRIDE, dtype=np.int64)
    flags[0] = 7
    assert exit_and_watch(flags, STRIDE, 5, 0, 6, 1000, 0, 0) == 7  # changed: returns at once
    assert flags[STRIDE] == 5  # and the exit was stored
    assert exit_and_watch(flags, -1, 9, 0, 7, 50, 0, 0) == 7  # unchanged: gives up, stores nothing
    assert flags[STRIDE] == 5
    cells = np.array([STRIDE, 2 * STRIDE], dtype=np.int64)
    assert not watch_exits(flags, cells, 5, 20, 0)
    flags[2 * STRIDE] = 6
    assert watch_exits(flags, cells, 5, 20, 0)
    assert not watch_exits(flags, cells, 6, 20, 0)
    if ticks() != ticks():  # a cycle counter: a busy limit of one cycle ends the watch early
        t0 = time.perf_counter()
        assert exit_and_watch(flags, -1, 0, 0, 7, 10**6, 1, 0) == 7
        assert not watch_exits(flags, cells, 6, 10**6, 1)
        assert time.perf_counter() - t0 < 0.05  # after a yield each, not a million (0.3 s+)


def test_spin_grace_holds_back_a_thread_that_saw_a_job():
    # A changed cell is returned only after ``grace`` more cycles (the caller's GIL window);
    # an unchanged one that times out is not held back.
    import numpy as np

    from sigconv._cpu._spin import STRIDE, exit_and_watch, ticks

    if ticks() == ticks():
        pytest.skip("no cycle counter: the grace is 0 cycles")
    flags = np.zeros(2 * STRIDE, dtype=np.int64)
    flags[0] = 3
    grace = 5_000_000  # about 2 ms at 2.6 GHz
    t0 = ticks()
    assert exit_and_watch(flags, STRIDE, 1, 0, 2, 10, 0, grace) == 3
    assert ticks() - t0 >= grace
    assert flags[STRIDE] == 1
    t0 = ticks()
    assert exit_and_watch(flags, -1, 0, 0, 3, 1, 0, 10**9) == 3  # unchanged: no grace
    assert ticks() - t0 < 10**9  # (0.4 s at 2.6 GHz: a grace taken would show)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two threads")
def test_pool_threads_watch_with_the_pool_grace(two_threads, monkeypatch):
    # the helpers hand their pool's grace to every watch (a 0 there would go unnoticed by the
    # results): a fresh pool, with the watch spied on
    from sigconv._cpu import _threads

    graces = []
    real = _threads.exit_and_watch

    def spy(flags, mine, done, watch, seen, rounds, busy, grace):
        graces.append(grace)
        return real(flags, mine, done, watch, seen, rounds, busy, grace)

    monkeypatch.setattr(_threads, "exit_and_watch", spy)
    monkeypatch.setattr(_config, "CPU_GIL_GRACE_US", 3)
    monkeypatch.setattr(_threads, "_pool", None)
    kernel, seen = _recorder(0.002)
    run_chunks(kernel, 8 * _config.CPU_MIN_CHUNK_WORK, "grace")
    pool = _threads._pool
    assert pool is not None and len(graces) >= 2  # the pool's probe and a helper's watch
    assert graces[-1] == pool.grace and (pool.grace > 0) == (pool.busy_cycles > 0)


def test_pool_grace_is_the_configured_microseconds(monkeypatch):
    import numpy as np

    from sigconv._cpu import _threads
    from sigconv._cpu._spin import STRIDE, ticks

    flags = np.zeros(2 * STRIDE, dtype=np.int64)
    _, busy, grace = _threads._rounds(flags, 100)
    if ticks() == ticks():
        assert grace == busy == 0
    else:  # cycles per microsecond, measured once: busy and grace on one scale
        per_us = busy / _config.CPU_SPIN_BUSY_US
        assert grace == pytest.approx(_config.CPU_GIL_GRACE_US * per_us, rel=0.05, abs=2)
    monkeypatch.setattr(_config, "CPU_GIL_GRACE_US", 0)
    assert _threads._rounds(flags, 100)[2] == 0
    assert _threads._rounds(flags, 0) == (0, 0, 0)


def _chunks_in_child(q):
    kernel, seen = _recorder(0.001)
    run_chunks(kernel, 8 * _config.CPU_MIN_CHUNK_WORK, "child")
    q.put(sorted(s[1] for s in seen))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_pool(two_threads):
    import multiprocessing

    kernel, _ = _recorder()
    run_chunks(kernel, 8 * _config.CPU_MIN_CHUNK_WORK, "parent")  # the parent's pool exists
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    child = ctx.Process(target=_chunks_in_child, args=(q,))
    child.start()
    got = q.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert got == list(range(8))


@pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs two cores and thread affinity",
)
def test_helpers_are_kept_off_the_callers_core(two_threads):
    from sigconv._cpu import _threads

    kernel, seen = _recorder(0.001)
    run_chunks(kernel, 8 * _config.CPU_MIN_CHUNK_WORK, "first")
    pool = _threads._get_pool()
    if pool.allowed is None:
        pytest.skip("no sched_getcpu here")
    started = [k for k, tid in enumerate(pool.tids) if tid]
    assert started  # the helper recorded its thread id
    process = set(os.sched_getaffinity(0))
    for k in started:
        # the helper may run on every core of the process but the caller's last one
        cpu = pool.avoided[k]
        assert cpu in process
        assert set(os.sched_getaffinity(pool.tids[k])) == process - {cpu}
    # the caller's own affinity is untouched
    assert set(os.sched_getaffinity(0)) == process
    # a caller that moved is followed at its next call
    here = _threads._current_cpu()
    run_chunks(kernel, 8 * _config.CPU_MIN_CHUNK_WORK, "second")
    for k in started:
        assert pool.avoided[k] in (here, _threads._current_cpu())
        assert set(os.sched_getaffinity(pool.tids[k])) == process - {pool.avoided[k]}
    assert sorted(s[1] for s in seen if s[0] == "second") == list(range(8))


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two threads")
@pytest.mark.parametrize(("per_thread", "work", "want"), [(2, 100, 4), (4, 100, 8), (2, 3, 3)])
def test_chunks_per_thread_caps_the_split(monkeypatch, per_thread, work, want):
    monkeypatch.setattr(_config, "CPU_CHUNKS_PER_THREAD", per_thread)
    before = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        counts = []
        run_chunks(lambda chunk, nchunk: counts.append(nchunk), work * _config.CPU_MIN_CHUNK_WORK)
    finally:
        numba.set_num_threads(before)
    assert counts == [want] * want

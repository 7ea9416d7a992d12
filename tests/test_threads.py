"""sigconv._cpu._threads.run_chunks: every chunk once, errors raised, nothing after return."""

import threading
import time

import numba
import pytest

from sigconv import _config
from sigconv._cpu._threads import run_chunks


@pytest.fixture
def two_threads():
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

"""The transposed tile store (``sigconv._cpu._transpose.store_runs``) against NumPy's indexing:
every run of every lane, tiles of one or two vectors a position, runs shorter and longer than
a vector, float32 and float64, and nothing written outside the runs."""

import numpy as np
import pytest
from numba import njit

from sigconv._cpu._simd import lanes_for
from sigconv._cpu._transpose import store_runs, transpose_block


def _storer(nstart, nrun, pstride):
    # store_runs takes nrun and pstride as literals: one compiled caller for each
    if nstart == 1:

        @njit
        def store(tile, t0, y, starts, step, bias, o0, relu):
            store_runs(tile, t0, pstride, y, (starts[0],), nrun, step, bias, o0, relu)

    else:

        @njit
        def store(tile, t0, y, starts, step, bias, o0, relu):
            store_runs(tile, t0, pstride, y, (starts[0], starts[1]), nrun, step, bias, o0, relu)

    return store


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("nstart", "nrun", "pstride"),
    [(2, 10, 1), (1, 20, 1), (1, 8, 2), (1, 3, 1), (2, 16, 1), (1, 17, 2)],
)
def test_store_runs_matches_indexing(rng, dtype, nstart, nrun, pstride, relu):
    nl = lanes_for(np.dtype(dtype).itemsize)
    t0 = nl if pstride == 2 else 0  # the second vector of each position
    tile = rng.standard_normal(t0 + nstart * nrun * pstride * nl).astype(dtype)
    tile[1::7] = np.nan  # kept by the ReLU too
    tile[2::11] = -np.inf
    tile[t0 : t0 + 3 * pstride * nl : pstride * nl] = -0.0  # lane 0 of three positions
    bias = rng.standard_normal(3 * nl).astype(dtype)
    o0 = nl // 2
    bias[o0] = -0.0  # with the -0.0 tile values above: -0.0 sums, which the ReLU makes +0.0
    step = nrun + 5  # gaps between a channel's runs stay untouched
    starts = np.array([3, 3 + nl * step + 7][:nstart], dtype=np.int64)
    y = np.full(int(starts[-1]) + nl * step + 11, np.nan, dtype=dtype)
    _storer(nstart, nrun, pstride)(tile, t0, y, starts, step, bias, o0, relu)
    want = np.full_like(y, np.nan)
    for r, s in enumerate(starts):
        for o in range(nl):
            for k in range(nrun):
                v = tile[t0 + (r * nrun + k) * pstride * nl + o] + bias[o0 + o]
                # the ReLU: +0.0 for every v <= 0 (-0.0 too), NaN kept
                want[s + o * step + k] = (+0.0 if v <= 0 else v) if relu else v
    np.testing.assert_array_equal(y, want)  # NaN where nothing may be written
    np.testing.assert_array_equal(np.signbit(y), np.signbit(want))
    assert (np.signbit(want) & (want == 0)).any() != relu  # -0.0 reached the store


def test_store_runs_refuses_non_literal_run(rng):
    @njit
    def store(tile, y, nrun):
        store_runs(tile, 0, 1, y, (0,), nrun, 1, tile, 0, False)

    tile = np.zeros(16, np.float32)
    with pytest.raises(Exception, match="store_runs"):
        store(tile, np.zeros(16, np.float32), 1)


@njit
def _transpose_block(src, s0, sstride, dst, d0, dstride):
    transpose_block(src, s0, sstride, dst, d0, dstride)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transpose_block_matches_indexing(rng, dtype):
    nl = lanes_for(np.dtype(dtype).itemsize)
    src = rng.standard_normal(5 + 3 * nl * nl).astype(dtype)
    src[::13] = np.nan
    dst = np.full(7 + 2 * nl * nl + 40, np.inf, dtype=dtype)
    sstride, dstride = 3 * nl - 1, 2 * nl + 1  # rows with gaps between them on both sides
    _transpose_block(src, 5, sstride, dst, 7, dstride)
    want = np.full_like(dst, np.inf)
    for k in range(nl):
        for i in range(nl):
            want[7 + k * dstride + i] = src[5 + i * sstride + k]
    np.testing.assert_array_equal(dst, want)  # inf where nothing may be written

"""sigconv._cuda.launch: the fast launch path against Numba's own launches.

The fast path runs on a real GPU only (the simulator has no compiled kernels); there a kernel
launched first through Numba and then through the cached plan must give the same values, and
arguments whose Numba types the key cannot tell apart must keep going through Numba. In the
simulator and for stand-ins (the tests' kernel spies) ``launch`` is plain indexing.
"""

import numpy as np
import pytest

from sigconv import _config
from sigconv._cuda import common
from sigconv._cuda import launch as fast
from sigconv._cuda.igemm_kernels import sum_splits
from tests.cuda.conftest import SIMULATED, numba_cuda

pytestmark = pytest.mark.cuda

real_gpu = pytest.mark.skipif(SIMULATED, reason="the fast path needs compiled kernels")


def test_stand_ins_launch_through_indexing():
    seen = []

    class StandIn:
        def __getitem__(self, cfg):
            return lambda *args: seen.append((cfg, args))

    fast.launch(StandIn(), 4, (8, 2), 16, 1, 2.0)
    fast.launch(StandIn(), (3, 1), 32, 0)
    assert seen == [((4, (8, 2), 0, 16), (1, 2.0)), (((3, 1), 32, 0, 0), ())]


def _sum_splits(rng, dtype, splits, S):
    part = rng.standard_normal(splits * S).astype(dtype)
    out = numba_cuda.to_device(np.full(S, np.nan, dtype))
    args = (numba_cuda.to_device(part), out, np.int32(splits))
    fast.launch(sum_splits, common.grid_1d(S), _config.CUDA_BLOCK_1D, 0, *args)
    # the kernel's fixed order: split 0, then 1, ...
    want = part[:S].copy()
    for z in range(1, splits):
        want += part[z * S : (z + 1) * S]
    np.testing.assert_array_equal(out.copy_to_host(), want)
    return args


@real_gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cached_plan_gives_numbas_values(rng, dtype):
    fast._PLANS.clear()
    first = _sum_splits(rng, dtype, 3, 1000)  # through Numba; makes the plan
    plan = fast._PLANS[(sum_splits, fast._key(first))]
    assert plan is not None and len(plan[1]) == len(first)
    for splits, S in ((3, 1000), (2, 7), (5, 4097)):  # the plan, new arrays and sizes
        _sum_splits(rng, dtype, splits, S)
    assert sum_splits.overloads  # compiled once per dtype, not per call
    assert len([k for k in sum_splits.overloads if str(k[0].dtype) == np.dtype(dtype).name]) == 1


@real_gpu
def test_arguments_numba_might_type_differently_keep_numbas_path(rng):
    d = numba_cuda.to_device(np.zeros(4, np.float32))
    assert fast._key((d, True)) is None  # a bool: no converter of its own
    assert fast._key((d[::2], np.int32(1))) != fast._key((d, np.int32(1)))  # layout in the key
    assert fast._key((np.zeros(3),)) is None  # host arrays: Numba copies them
    assert fast._key((d, 1)) != fast._key((d, np.int32(1)))


@real_gpu
def test_switched_off_every_launch_goes_through_numba(rng, monkeypatch):
    monkeypatch.setattr(_config, "CUDA_FAST_LAUNCH", False)
    fast._PLANS.clear()
    _sum_splits(rng, np.float32, 2, 64)
    _sum_splits(rng, np.float32, 2, 64)
    assert not fast._PLANS

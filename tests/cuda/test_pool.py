"""CUDA pooling (sigconv._cuda.pooling) against PyTorch and the CPU backend, in the simulator."""

import numpy as np
import pytest

from sigconv.nn import functional as F
from tests.cuda.conftest import to_host
from tests.tolerance import assert_close

torch = pytest.importorskip("torch")
TF = torch.nn.functional

pytestmark = pytest.mark.cuda

DTYPES = [np.float32, np.float64]


def _t(a):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape,k,s,p,d,ceil",
    [
        ((2, 2, 11), 3, 2, 1, 2, True),
        ((1, 2, 7, 6), (3, 2), (2, 1), (1, 1), (1, 2), False),
        ((1, 2, 5, 7), 2, 2, 1, 1, True),
        ((1, 1, 4, 5, 3), (2, 3, 2), (2, 2, 1), (1, 0, 1), 1, False),
    ],
)
def test_max_pool_matches_torch(shape, k, s, p, d, ceil, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[3] = x.flat[4]  # a tie
    kw = dict(dilation=d, ceil_mode=ceil)
    y, idx = F.max_pool(x, k, s, p, return_indices=True, backend="cuda", **kw)
    assert y.dtype == dtype and idx.dtype == np.int64
    tx = _t(x)
    fn = (TF.max_pool1d, TF.max_pool2d, TF.max_pool3d)[x.ndim - 3]
    ty, tidx = fn(tx, k, s, p, return_indices=True, **kw)
    assert_close(y, ty.detach().numpy(), dtype=dtype)
    np.testing.assert_array_equal(idx, tidx.numpy())
    yc, ic = F.max_pool(x, k, s, p, return_indices=True, backend="cpu", **kw)
    np.testing.assert_array_equal(idx, ic)
    g = rng.standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(g, dtype=torch.float64))
    gx = F.max_pool_backward(g, x, idx, k, s, p, backend="cuda", **kw)
    assert gx.dtype == dtype
    assert_close(gx, tx.grad.numpy(), dtype=dtype)


def test_max_pool_nan_rule_matches_cpu(rng):
    x = rng.standard_normal((1, 2, 6, 6))
    x[0, 0, 1, 1] = np.nan
    x[0, 0, 1, 2] = np.nan
    x[0, 1, :3, :3] = -np.inf
    y, idx = F.max_pool(x, 3, 2, 1, return_indices=True, backend="cuda")
    yc, ic = F.max_pool(x, 3, 2, 1, return_indices=True, backend="cpu")
    np.testing.assert_array_equal(idx, ic)
    np.testing.assert_array_equal(y, yc)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape,k,s,p,ceil,cip,div",
    [
        ((2, 2, 9), 3, 2, 1, True, True, None),
        ((1, 2, 7, 6), (3, 2), (2, 1), (1, 1), False, False, None),
        ((1, 2, 5, 7), 3, 2, 1, True, False, None),
        ((1, 1, 4, 5, 3), 2, (2, 1, 1), (1, 1, 0), True, True, 3),
    ],
)
def test_avg_pool_matches_torch(shape, k, s, p, ceil, cip, div, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    kw = dict(ceil_mode=ceil, count_include_pad=cip)
    tx = _t(x)
    if x.ndim == 3:
        ty = TF.avg_pool1d(tx, k, s, p, **kw)
    else:
        fn = (TF.avg_pool2d, TF.avg_pool3d)[x.ndim - 4]
        ty = fn(tx, k, s, p, divisor_override=div, **kw)
    y = F.avg_pool(x, k, s, p, divisor_override=div, backend="cuda", **kw)
    assert y.dtype == dtype
    assert_close(y, ty.detach().numpy(), dtype=dtype)
    g = rng.standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(g, dtype=torch.float64))
    gx = F.avg_pool_backward(g, x, k, s, p, divisor_override=div, backend="cuda", **kw)
    assert_close(gx, tx.grad.numpy(), dtype=dtype)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # simulator: NaN powers
@pytest.mark.parametrize("norm", [2.0, 3.0, 1.5, np.inf, -np.inf])
def test_lp_pool_matches_cpu_and_torch(norm, rng):
    x = rng.standard_normal((1, 2, 7, 5))
    if norm == 1.5:
        x = np.abs(x)
    kw = dict(ceil_mode=True)
    y = F.lp_pool(x, norm, (3, 2), 2, backend="cuda", **kw)
    assert_close(y, F.lp_pool(x, norm, (3, 2), 2, backend="cpu", **kw))
    g = rng.standard_normal(y.shape)
    gx = F.lp_pool_backward(g, x, norm, (3, 2), 2, backend="cuda", **kw)
    assert_close(gx, F.lp_pool_backward(g, x, norm, (3, 2), 2, backend="cpu", **kw))
    if np.isfinite(norm) and norm != 3.0:
        tx = _t(x)
        ty = TF.lp_pool2d(tx, norm, (3, 2), 2, **kw)
        assert_close(y, ty.detach().numpy())
        ty.backward(torch.tensor(g))
        assert_close(gx, tx.grad.numpy())


@pytest.mark.parametrize("training", [True, False])
def test_stochastic_pool_matches_cpu(training, rng):
    x = np.abs(rng.standard_normal((2, 2, 6, 7)))
    x[0, 0, :2, :2] = 0.0  # an all-zero window
    kw = dict(training=training)
    if training:
        y, idx = F.stochastic_pool(x, 2, rng=7, return_indices=True, backend="cuda", **kw)
        yc, ic = F.stochastic_pool(x, 2, rng=7, return_indices=True, backend="cpu", **kw)
        np.testing.assert_array_equal(idx, ic)
        assert_close(y, yc)
        g = rng.standard_normal(y.shape)
        gx = F.stochastic_pool_backward(g, x, 2, indices=idx, backend="cuda", **kw)
        assert_close(gx, F.stochastic_pool_backward(g, x, 2, indices=ic, backend="cpu", **kw))
    else:
        y = F.stochastic_pool(x, (2, 3), (2, 2), backend="cuda", **kw)
        assert_close(y, F.stochastic_pool(x, (2, 3), (2, 2), backend="cpu", **kw))
        g = rng.standard_normal(y.shape)
        gx = F.stochastic_pool_backward(g, x, (2, 3), (2, 2), backend="cuda", **kw)
        want = F.stochastic_pool_backward(g, x, (2, 3), (2, 2), backend="cpu", **kw)
        assert_close(gx, want)
    with pytest.raises(ValueError, match="non-negative"):
        F.stochastic_pool(-x, 2, backend="cuda", rng=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_spectral_pool_matches_cpu(dtype, rng):
    x = rng.standard_normal((1, 2, 8, 7)).astype(dtype)
    for out in ((5, 4), (8, 3), (4, 7)):
        y = F.spectral_pool(x, out, backend="cuda")
        assert y.dtype == dtype
        assert_close(y, F.spectral_pool(x, out, backend="cpu"), dtype=dtype)
        g = rng.standard_normal(y.shape).astype(dtype)
        gx = F.spectral_pool_backward(g, x, out, backend="cuda")
        assert_close(gx, F.spectral_pool_backward(g, x, out, backend="cpu"), dtype=dtype)
        gs = F.spectral_pool_backward(g, x.shape, out, backend="cuda")
        assert_close(gs, gx, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_pools_match_cpu(dtype, rng):
    x = rng.standard_normal((2, 3, 5, 7)).astype(dtype)
    x[0, 1, 2, 3] = x[0, 1].max()  # a tie: the first maximum wins
    x[1, 2, 4, 1] = np.nan
    x[1, 2, 0, 5] = np.nan  # the first NaN wins
    for fwd, bwd in ((F.global_avg_pool, F.global_avg_pool_backward),
                     (F.global_max_pool, F.global_max_pool_backward)):  # fmt: skip
        y = fwd(x, backend="cuda")
        assert y.dtype == dtype and y.shape == (2, 3, 1, 1)
        assert_close(y, fwd(x, backend="cpu"), dtype=dtype)
        g = rng.standard_normal(y.shape).astype(dtype)
        assert_close(bwd(g, x, backend="cuda"), bwd(g, x, backend="cpu"), dtype=dtype)


def test_device_in_device_out(to_device, rng):
    x = rng.standard_normal((2, 2, 6, 5)).astype(np.float32)
    dx = to_device(x)
    y, idx = F.max_pool(dx, 2, return_indices=True)
    assert hasattr(y, "copy_to_host") and hasattr(idx, "copy_to_host")
    yc, ic = F.max_pool(x, 2, return_indices=True, backend="cpu")
    np.testing.assert_array_equal(to_host(idx), ic)
    g = to_device(np.ones(yc.shape, dtype=np.float32))
    gx = F.max_pool_backward(g, dx, idx, 2)
    assert hasattr(gx, "copy_to_host")
    want = F.max_pool_backward(np.ones(yc.shape, np.float32), x, ic, 2, backend="cpu")
    assert_close(to_host(gx), want, dtype=np.float32)
    ya = F.avg_pool(dx, 3, 1, 1)
    assert_close(to_host(ya), F.avg_pool(x, 3, 1, 1, backend="cpu"), dtype=np.float32)
    np.testing.assert_array_equal(to_host(dx), x)

"""Pooling forward and backward: PyTorch, plain-loop oracles, DFT matrices, finite differences."""

import numpy as np
import pytest
import scipy.stats
from hypothesis import assume, given
from hypothesis import strategies as st

from sigconv._cpu import pool_kernels as kernels
from sigconv.nn import functional as F
from tests.nn import naive_pool as naive
from tests.tolerance import assert_close

# --- strategies --------------------------------------------------------------------------------

SIZES = [1, 2, 3, 4, 5, 7, 8, 9]


@st.composite
def pool_case(draw, *, dilation=True, padding=True, max_nd=3):
    nd = draw(st.integers(1, max_nd))
    small = nd == 3
    k = tuple(draw(st.integers(1, 3 if small else 4)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    p = tuple(draw(st.integers(0, kk // 2)) if padding else 0 for kk in k)
    d = tuple(draw(st.integers(1, 3)) if dilation else 1 for _ in range(nd))
    sizes = [1, 2, 3, 5, 6] if small else SIZES
    spatial = tuple(draw(st.sampled_from(sizes)) for _ in range(nd))
    n = draw(st.integers(1, 2))
    c = draw(st.integers(1, 3))
    ceil_mode = draw(st.booleans())
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return (n, c) + spatial, k, s, p, d, ceil_mode, dtype


def _call_or_reject(fn, *args, **kwargs):
    """Run ``fn``; geometries with an empty output (or padding-only windows) are not cases."""
    try:
        return fn(*args, **kwargs)
    except ValueError as exc:
        assume("empty" not in str(exc) and "only padding" not in str(exc))
        raise


def _data(shape, dtype, rng, positive=False):
    x = rng.standard_normal(shape)
    if positive:
        x = np.abs(x) + 0.1
    return x.astype(dtype)


def _torch():
    return pytest.importorskip("torch")


def _tfn(name, nd):
    torch = _torch()
    return getattr(torch.nn.functional, f"{name}{nd}d")


# --- max pooling -------------------------------------------------------------------------------


@given(pool_case())
def test_max_pool_matches_naive(case):
    shape, k, s, p, d, ceil_mode, dtype = case
    x = _data(shape, dtype, np.random.default_rng(1))
    y, idx = _call_or_reject(
        F.max_pool, x, k, s, p, dilation=d, ceil_mode=ceil_mode, return_indices=True
    )
    ry, ridx = naive.max_pool(x, k, s, p, d, ceil_mode)
    assert y.dtype == dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(idx, ridx)


@given(pool_case())
def test_max_pool_matches_torch(case):
    torch = _torch()
    shape, k, s, p, d, ceil_mode, dtype = case
    x = _data(shape, dtype, np.random.default_rng(2))
    y, idx = _call_or_reject(
        F.max_pool, x, k, s, p, dilation=d, ceil_mode=ceil_mode, return_indices=True
    )
    g = _data(y.shape, dtype, np.random.default_rng(3))
    xt = torch.tensor(x, requires_grad=True)
    yt, it = _tfn("max_pool", len(k))(xt, k, s, p, d, ceil_mode=ceil_mode, return_indices=True)
    (yt * torch.tensor(g)).sum().backward()
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(idx, it.numpy())
    gx = F.max_pool_backward(g, x, idx, k, s, p, dilation=d, ceil_mode=ceil_mode)
    assert gx.dtype == dtype
    assert_close(gx, xt.grad.numpy())


def test_max_pool_ties_nan_and_inf_follow_torch():
    torch = _torch()
    x = np.array(
        [[[[1.0, 5.0, 5.0, 0.0], [5.0, 2.0, np.nan, 1.0], [-np.inf, -np.inf, 3.0, np.nan]]]],
        dtype=np.float32,
    )
    for args in [((2, 2), 1, 0), ((3, 3), 1, 1), ((2, 3), (1, 2), (1, 1))]:
        y, idx = F.max_pool(x, *args, return_indices=True)
        yt, it = torch.nn.functional.max_pool2d(torch.tensor(x), *args, return_indices=True)
        np.testing.assert_array_equal(y, yt.numpy())
        np.testing.assert_array_equal(idx, it.numpy())
    x = np.full((1, 1, 4), -np.inf, dtype=np.float32)
    y, idx = F.max_pool(x, 2, padding=1, return_indices=True)
    yt, it = torch.nn.functional.max_pool1d(torch.tensor(x), 2, padding=1, return_indices=True)
    np.testing.assert_array_equal(idx, it.numpy())


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_pool_many_ties_nans_and_infs(nd):
    # Few distinct values: windows tie across rows and columns, which the row-then-column
    # kernel must resolve in PyTorch's scan order (smallest flat index; last NaN).
    torch = _torch()
    rng = np.random.default_rng(23)
    shape = (2, 3) + (9, 7, 6)[:nd]
    x = rng.integers(0, 3, shape).astype(np.float32)
    x[rng.random(shape) < 0.05] = np.nan
    x[rng.random(shape) < 0.1] = -np.inf
    for k, s, p, d in [(2, 1, 0, 1), (3, 2, 1, 1), (3, 1, 1, 2), (2, 3, 1, 1)]:
        kw = dict(kernel_size=(k, 2, 3)[:nd], stride=s, padding=(p, 1, 1)[:nd], dilation=d)
        y, idx = F.max_pool(x, **kw, ceil_mode=True, return_indices=True)
        yt, it = _tfn("max_pool", nd)(torch.tensor(x), **kw, ceil_mode=True, return_indices=True)
        np.testing.assert_array_equal(y, yt.numpy())
        np.testing.assert_array_equal(idx, it.numpy())
        args = (kw["kernel_size"], (s,) * nd, kw["padding"], (d,) * nd, True)
        ry, ridx = naive.max_pool(x, *args)
        np.testing.assert_array_equal(idx, ridx)


def _ties_nan_inf(rng, shape, dtype):
    """Small integers (many ties) with some NaN and -inf."""
    x = rng.integers(0, 3, shape).astype(dtype)
    x[rng.random(shape) < 0.08] = np.nan
    x[rng.random(shape) < 0.1] = -np.inf
    return x


def _spy(monkeypatch, name):
    """Record the calls of the pooling kernel ``name``."""
    calls = []
    real = getattr(kernels, name)
    monkeypatch.setattr(kernels, name, lambda *a: calls.append(1) or real(*a))
    return calls


@pytest.mark.parametrize("shape", [(3, 2, 8, 6), (2, 1, 9, 7), (1, 1, 2, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_2x2_tiles_follow_the_scan_rule(shape, dtype, monkeypatch):
    """2x2 windows with stride 2 (their own kernel): ties, NaN and -inf resolved as the plain
    loops (and PyTorch) do, odd sizes leaving a row and a column unread, and the same values
    and indices as the general kernel."""
    x = _ties_nan_inf(np.random.default_rng(5), shape, dtype)
    calls = _spy(monkeypatch, "_max_pool_2x2")
    y, idx = F.max_pool(x, 2, return_indices=True)
    assert calls
    ry, ridx = naive.max_pool(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(idx, ridx)
    plan_geom = np.array([[1, 1, 0, 1], [2, 2, 0, 1], [2, 2, 0, 1]], dtype=np.int64)
    gy = np.empty_like(y).reshape((-1, 1) + y.shape[2:])
    gidx = np.empty(gy.shape, dtype=np.int64)
    kernels._max_pool_forward(0, 1, x.reshape((-1, 1) + shape[2:]), gy, gidx, plan_geom)
    np.testing.assert_array_equal(gy.reshape(y.shape), y)
    np.testing.assert_array_equal(gidx.reshape(idx.shape), idx)


@pytest.mark.parametrize(
    "shape, k",
    [
        ((3, 2, 13), 4),
        ((2, 3, 9), 3),
        ((2, 1, 3, 10), (1, 3)),
        ((1, 2, 4), 4),
        # rows long enough for the vectorised loops' bodies and remainders (2, 3, 4 taps)
        ((2, 2, 203), 4),
        ((2, 2, 70), 2),
        ((1, 2, 100), 3),
        ((1, 2, 2, 3, 37), (1, 1, 2)),
        # the loop over the taps: 1 and 5 taps
        ((2, 2, 12), 1),
        ((2, 2, 84), 5),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_row_windows_follow_the_scan_rule(shape, k, dtype, monkeypatch):
    """Windows along the rows with stride equal to the window (their own kernel): ties, NaN
    and -inf resolved as the plain loops do, a row's unread tail, 1-D and 2-D."""
    x = _ties_nan_inf(np.random.default_rng(6), shape, dtype)
    calls = _spy(monkeypatch, "_max_pool_rows")
    y, idx = F.max_pool(x, k, return_indices=True)
    assert calls
    nd = len(shape) - 2
    ks = (k,) if nd == 1 else k
    ry, ridx = naive.max_pool(x, ks, ks, (0,) * nd, (1,) * nd, False)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(idx, ridx)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_pool_backward_finite_differences(nd):
    rng = np.random.default_rng(4)
    shape = (1, 2) + {1: (7,), 2: (5, 6), 3: (4, 3, 3)}[nd]
    x = rng.permutation(np.prod(shape)).reshape(shape) * 0.1  # distinct: no ties near x
    kw = dict(kernel_size=(3, 2, 2)[:nd], stride=(2, 1, 2)[:nd], padding=1, ceil_mode=True)
    _, idx = F.max_pool(x, return_indices=True, **kw)
    g = rng.standard_normal(idx.shape)
    fd = naive.central_difference(
        lambda v: naive.max_pool(v, kw["kernel_size"], kw["stride"], (1,) * nd, (1,) * nd, True)[0],
        x,
        g,
    )
    gx = F.max_pool_backward(g, x, idx, **kw)
    assert_close(gx, fd, dtype=np.float32)


# --- average pooling ---------------------------------------------------------------------------


@st.composite
def avg_case(draw):
    shape, k, s, p, _, ceil_mode, dtype = draw(pool_case(dilation=False))
    cip = draw(st.booleans())
    div = draw(st.sampled_from([None, None, 3, -2]))
    return shape, k, s, p, ceil_mode, cip, div, dtype


@given(avg_case())
def test_avg_pool_matches_naive_and_torch(case):
    torch = _torch()
    shape, k, s, p, ceil_mode, cip, div, dtype = case
    x = _data(shape, dtype, np.random.default_rng(5))
    kw = dict(ceil_mode=ceil_mode, count_include_pad=cip, divisor_override=div)
    y = _call_or_reject(F.avg_pool, x, k, s, p, **kw)
    assert y.dtype == dtype
    assert_close(y, naive.avg_pool(x, k, s, p, ceil_mode, cip, div), dtype=dtype)
    g = _data(y.shape, dtype, np.random.default_rng(6))
    xt = torch.tensor(x, requires_grad=True)
    tkw = dict(kw) if len(k) > 1 else dict(ceil_mode=ceil_mode, count_include_pad=cip)
    if len(k) == 1 and div is not None:  # avg_pool1d has no divisor_override
        return
    if len(k) == 3 and any(n < kk for n, kk in zip(shape[2:], k)):
        return  # avg_pool3d alone refuses inputs smaller than the kernel, even when padded
    yt = _tfn("avg_pool", len(k))(xt, k, s, p, **tkw)
    (yt * torch.tensor(g)).sum().backward()
    assert_close(y, yt.detach().numpy(), dtype=dtype)
    gx = F.avg_pool_backward(g, x, k, s, p, **kw)
    assert gx.dtype == dtype
    assert_close(gx, xt.grad.numpy(), dtype=dtype)


@pytest.mark.parametrize("cip", [True, False])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_avg_pool_backward_finite_differences(nd, cip):
    rng = np.random.default_rng(7)
    shape = (1, 2) + (5, 4, 3)[:nd]
    x = rng.standard_normal(shape)
    k, s, p = (3, 2, 2)[:nd], (2, 1, 2)[:nd], (1, 1, 0)[:nd]
    kw = dict(ceil_mode=True, count_include_pad=cip, divisor_override=None)
    g = rng.standard_normal(F.avg_pool(x, k, s, p, **kw).shape)
    fd = naive.central_difference(lambda v: naive.avg_pool(v, k, s, p, True, cip, None), x, g)
    assert_close(F.avg_pool_backward(g, x, k, s, p, **kw), fd, dtype=np.float32)


# --- Lp pooling --------------------------------------------------------------------------------


@st.composite
def lp_case(draw):
    shape, k, s, _, _, ceil_mode, dtype = draw(pool_case(dilation=False, padding=False))
    p = draw(st.sampled_from([1.0, 2.0, 3.0, 1.5, 4]))
    return shape, p, k, s, ceil_mode, dtype


@given(lp_case())
def test_lp_pool_matches_naive_and_torch(case):
    torch = _torch()
    shape, p, k, s, ceil_mode, dtype = case
    x = _data(shape, dtype, np.random.default_rng(8), positive=True)
    y = _call_or_reject(F.lp_pool, x, p, k, s, ceil_mode=ceil_mode)
    assert y.dtype == dtype
    assert_close(y, naive.lp_pool(x, p, k, s, ceil_mode), dtype=dtype)
    if len(k) == 3 and any(n < kk for n, kk in zip(shape[2:], k)):
        return  # lp_pool3d runs avg_pool3d, which refuses inputs smaller than the kernel
    g = _data(y.shape, dtype, np.random.default_rng(9))
    xt = torch.tensor(x, requires_grad=True)
    kk = k[0] if len(k) == 1 else k
    yt = _tfn("lp_pool", len(k))(xt, p, kk, s, ceil_mode=ceil_mode)
    (yt * torch.tensor(g)).sum().backward()
    assert_close(y, yt.detach().numpy(), dtype=dtype)
    gx = F.lp_pool_backward(g, x, p, k, s, ceil_mode=ceil_mode)
    assert gx.dtype == dtype
    assert_close(gx, xt.grad.numpy(), dtype=dtype)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, 1.5, np.inf, -np.inf])
def test_lp_pool_signed_inputs_match_torch(p):
    torch = _torch()
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    y = F.lp_pool(x, p, 3, 2, ceil_mode=True)
    yt = torch.nn.functional.lp_pool2d(torch.tensor(x), p, 3, 2, ceil_mode=True).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(yt))
    ok = ~np.isnan(yt)
    assert_close(y[ok], yt[ok], dtype=np.float32)
    if p in (2.0, np.inf, -np.inf):  # smooth here for signed inputs: compare gradients too
        xt = torch.tensor(x, requires_grad=True)
        g = rng.standard_normal(y.shape).astype(np.float32)
        out = torch.nn.functional.lp_pool2d(xt, p, 3, 2, ceil_mode=True)
        (out * torch.tensor(g)).sum().backward()
        assert_close(F.lp_pool_backward(g, x, p, 3, 2, ceil_mode=True), xt.grad.numpy())


def test_lp_pool_zero_window_has_zero_gradient():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 0, 0] = 2.0
    g = np.ones((1, 1, 2, 2))
    gx = F.lp_pool_backward(g, x, 2.0, 2)
    assert np.all(np.isfinite(gx))
    assert gx[0, 0, 0, 0] == pytest.approx(1.0)
    assert np.count_nonzero(gx) == 1


@pytest.mark.parametrize("p", [2.0, 3.0, 1.5, np.inf])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_lp_pool_backward_finite_differences(nd, p):
    rng = np.random.default_rng(11)
    shape = (1, 2) + (5, 4, 3)[:nd]
    x = rng.permutation(np.prod(shape)).reshape(shape) * 0.1 + 0.2
    k, s = (3, 2, 2)[:nd], (2, 1, 2)[:nd]
    y = F.lp_pool(x, p, k, s, ceil_mode=True)
    g = rng.standard_normal(y.shape)
    if np.isinf(p):
        ref = lambda v: naive.max_pool(np.abs(v), k, s, (0,) * nd, (1,) * nd, True)[0]  # noqa: E731
    else:
        ref = lambda v: naive.lp_pool(v, p, k, s, True)  # noqa: E731
    fd = naive.central_difference(ref, x, g)
    assert_close(F.lp_pool_backward(g, x, p, k, s, ceil_mode=True), fd, dtype=np.float32)


# --- stochastic pooling ------------------------------------------------------------------------


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_stochastic_inference_matches_weighted_average(nd):
    rng = np.random.default_rng(12)
    shape = (2, 2) + (7, 5, 4)[:nd]
    x = np.maximum(rng.standard_normal(shape), 0)  # after a ReLU: many zeros, some 0-windows
    k, s = (3, 2, 2)[:nd], (2, 1, 2)[:nd]
    y = F.stochastic_pool(x, k, s, training=False)
    assert_close(y, naive.stochastic_inference(x, k, s))
    y32 = F.stochastic_pool(x.astype(np.float32), k, s, training=False)
    assert y32.dtype == np.float32
    assert_close(y32, naive.stochastic_inference(x, k, s), dtype=np.float32)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_stochastic_inference_backward_finite_differences(nd):
    rng = np.random.default_rng(13)
    shape = (1, 2) + (5, 4, 3)[:nd]
    x = rng.random(shape) + 0.1
    k, s = (2, 2, 2)[:nd], (1, 2, 1)[:nd]
    g = rng.standard_normal(F.stochastic_pool(x, k, s, training=False).shape)
    fd = naive.central_difference(lambda v: naive.stochastic_inference(v, k, s), x, g)
    gx = F.stochastic_pool_backward(g, x, k, s, training=False)
    assert_close(gx, fd, dtype=np.float32)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_stochastic_training_draws_inside_window_and_backward(nd):
    rng = np.random.default_rng(14)
    shape = (2, 2) + (6, 5, 4)[:nd]
    x = np.maximum(rng.standard_normal(shape), 0)
    k, s = (2, 3, 2)[:nd], (2, 1, 2)[:nd]
    y, idx = F.stochastic_pool(x, k, s, rng=3, return_indices=True)
    probs = naive.stochastic_window_probs(x, k, s)
    flat = x.reshape(shape[:2] + (-1,))
    for pos, choices in probs.items():
        allowed = {f for f, pr in choices if pr > 0}
        assert idx[pos] in allowed
        assert y[pos] == flat[pos[:2] + (idx[pos],)]
    # With the draw fixed, the output is a gather; its gradient by finite differences.
    g = rng.standard_normal(y.shape)

    def gather(v):
        v = v.reshape(shape[:2] + (-1,))
        return np.take_along_axis(v, idx.reshape(shape[:2] + (-1,)), axis=2).reshape(y.shape)

    fd = naive.central_difference(gather, x, g)
    gx = F.stochastic_pool_backward(g, x, k, s, training=True, indices=idx)
    assert_close(gx, fd, dtype=np.float32)


def test_stochastic_training_frequencies_match_probabilities():
    # 40,000 copies of one 2x2 window (values 1, 2, 0, 5): draw counts against p_i = a_i / 8.
    x = np.tile(np.array([[1.0, 2.0], [0.0, 5.0]], dtype=np.float32), (200, 200, 1, 1))
    _, idx = F.stochastic_pool(x, 2, rng=2024, return_indices=True)
    counts = np.bincount(idx.ravel(), minlength=4)
    assert counts[2] == 0  # a zero activation is never drawn
    expected = idx.size * np.array([1.0, 2.0, 5.0]) / 8.0
    _, pvalue = scipy.stats.chisquare(counts[[0, 1, 3]], expected)
    assert pvalue > 1e-3, (counts, expected)
    # All-zero windows draw uniformly and output 0.
    z = np.zeros((100, 100, 1, 4), dtype=np.float32)
    yz, iz = F.stochastic_pool(z, (1, 4), rng=7, return_indices=True)
    assert np.all(yz == 0)
    _, pvalue = scipy.stats.chisquare(np.bincount(iz.ravel(), minlength=4))
    assert pvalue > 1e-3


def test_stochastic_same_seed_same_result():
    x = np.random.default_rng(15).random((3, 4, 9, 9))
    a = F.stochastic_pool(x, 3, rng=99, return_indices=True)
    b = F.stochastic_pool(x, 3, rng=np.random.default_rng(99), return_indices=True)
    c = F.stochastic_pool(x, 3, rng=100, return_indices=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


# --- spectral pooling --------------------------------------------------------------------------


@given(
    st.lists(st.integers(1, 9), min_size=1, max_size=3),
    st.data(),
    st.sampled_from([np.float32, np.float64]),
)
def test_spectral_pool_matches_dft_matrices(spatial, data, dtype):
    out = tuple(data.draw(st.integers(1, n)) for n in spatial)
    x = _data((2, 1, *spatial), dtype, np.random.default_rng(16))
    y = F.spectral_pool(x, out)
    assert y.dtype == dtype and y.shape == (2, 1) + out
    assert_close(y, naive.spectral_pool(x, out), dtype=dtype)
    g = _data(y.shape, dtype, np.random.default_rng(17))
    gx = F.spectral_pool_backward(g, x, out)
    assert gx.dtype == dtype
    # The adjoint: <A x, g> == <x, A^T g>, with A from explicit DFT matrices.
    ref = np.asarray(g, dtype=np.float64)
    for axis, (n, m) in enumerate(zip(spatial, out), start=2):
        a = naive.spectral_matrix(n, m)
        ref = np.moveaxis(np.tensordot(a.T, np.moveaxis(ref, axis, 0), axes=(1, 0)), 0, axis)
    assert_close(gx, ref, dtype=dtype)
    np.testing.assert_array_equal(F.spectral_pool_backward(g, x.shape, out), gx)


def test_spectral_pool_backward_finite_differences():
    rng = np.random.default_rng(18)
    x = rng.standard_normal((1, 2, 6, 5, 4))
    out = (4, 3, 2)
    g = rng.standard_normal((1, 2) + out)
    fd = naive.central_difference(lambda v: F.spectral_pool(v, out), x, g, eps=1e-3)
    assert_close(F.spectral_pool_backward(g, x, out), fd, dtype=np.float32)


def test_spectral_pool_is_linear_and_keeps_band_limited_signals():
    rng = np.random.default_rng(19)
    a, b = rng.standard_normal((2, 2, 3, 12, 10))
    out = (6, 5)
    lhs = F.spectral_pool(2.0 * a - 3.0 * b, out)
    assert_close(lhs, 2.0 * F.spectral_pool(a, out) - 3.0 * F.spectral_pool(b, out))

    # cos/sin at frequencies below out/2 on the 12x10 grid, resampled onto the 6x5 grid.
    def signal(n1, n2):
        t1 = np.arange(n1)[:, None] / n1
        t2 = np.arange(n2)[None, :] / n2
        return 1.5 + np.cos(2 * np.pi * (2 * t1 + 1 * t2)) + np.sin(2 * np.pi * (1 * t1 - 2 * t2))

    x = signal(12, 10)[None, None]
    assert_close(F.spectral_pool(x, out), signal(*out)[None, None])
    assert_close(F.spectral_pool(x, (12, 10)), x)


# --- global pooling ----------------------------------------------------------------------------


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_pools_match_numpy(nd, dtype):
    rng = np.random.default_rng(20)
    shape = (3, 4) + (5, 6, 7)[:nd]
    x = rng.standard_normal(shape).astype(dtype)
    axes = tuple(range(2, 2 + nd))
    y = F.global_avg_pool(x)
    assert y.dtype == dtype and y.shape == shape[:2] + (1,) * nd
    assert_close(y, x.astype(np.float64).mean(axis=axes, keepdims=True), dtype=dtype)
    m = F.global_max_pool(x)
    np.testing.assert_array_equal(m, x.max(axis=axes, keepdims=True))
    g = rng.standard_normal(y.shape).astype(dtype)
    xd = x.astype(np.float64)
    fd = naive.central_difference(lambda v: v.mean(axis=axes, keepdims=True), xd, g)
    assert_close(F.global_avg_pool_backward(g, x), fd, dtype=np.float32)
    fd = naive.central_difference(lambda v: v.max(axis=axes, keepdims=True), xd, g)
    assert_close(F.global_max_pool_backward(g, x), fd, dtype=np.float32)


def test_global_max_ties_go_to_first():
    x = np.array([[[1.0, 3.0, 3.0, 2.0]]])
    gx = F.global_max_pool_backward(np.ones((1, 1, 1)), x)
    np.testing.assert_array_equal(gx, [[[0.0, 1.0, 0.0, 0.0]]])


# --- layouts, inputs unmodified, dtypes, signatures --------------------------------------------


def _calls(x):
    g2 = np.ones((2, 3, 3, 4))
    _, idx = F.max_pool(x, 2, 2, 1, return_indices=True)
    return [
        F.max_pool(x, 2, 2, 1, return_indices=True),
        F.max_pool_backward(g2, x, idx, 2, 2, 1),
        F.avg_pool(x, 3, 2, 1, ceil_mode=True),
        F.avg_pool_backward(g2, x, 3, 2, 1, ceil_mode=True),
        F.lp_pool(x, 2, 2, 2, ceil_mode=True),
        F.lp_pool_backward(g2, x, 2, 2, 2, ceil_mode=True),
        F.stochastic_pool(np.abs(x), 2, training=False),
        F.stochastic_pool(np.abs(x), 2, rng=1, return_indices=True),
        F.spectral_pool(x, (3, 4)),
        F.spectral_pool_backward(np.ones((2, 3, 3, 4)), x, (3, 4)),
        F.global_avg_pool(x),
        F.global_max_pool(x),
        F.global_avg_pool_backward(np.ones((2, 3, 1, 1)), x),
        F.global_max_pool_backward(np.ones((2, 3, 1, 1)), x),
    ]


def _flatten(results):
    for r in results:
        yield from (r if isinstance(r, tuple) else (r,))


def test_odd_layouts_and_inputs_unmodified():
    rng = np.random.default_rng(21)
    base = rng.standard_normal((2, 3, 5, 7))
    want = list(_flatten(_calls(base)))
    big = base.astype(">f8")
    ro = base.copy()
    ro.flags.writeable = False
    layouts = {
        "fortran": np.asfortranarray(base),
        "negative strides": base[::-1, :, ::-1][::-1, :, ::-1],
        "non-contiguous": np.repeat(base, 2, axis=3)[..., ::2],
        "big-endian": big,
        "read-only": ro,
        "list": base.tolist(),
    }
    for name, x in layouts.items():
        before = np.array(x, copy=True)
        got = list(_flatten(_calls(x)))
        np.testing.assert_array_equal(np.asarray(x), before, err_msg=name)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b, err_msg=name)
            assert a.flags.writeable and a.flags.c_contiguous, name


def test_integer_and_bool_inputs_compute_in_float64():
    x = np.arange(2 * 1 * 6).reshape(2, 1, 6)
    assert F.max_pool(x, 2).dtype == np.float64
    assert F.avg_pool(x.astype(bool), 2).dtype == np.float64
    assert F.global_avg_pool(x).dtype == np.float64
    assert F.spectral_pool(x, 3).dtype == np.float64


def test_signature_counts_stay_fixed():
    rng = np.random.default_rng(22)
    for dtype in (np.float32, np.float64):
        for shape in [(2, 3, 8, 9), (1, 2, 7), (1, 1, 4, 5, 6)]:
            x = np.abs(rng.standard_normal(shape)).astype(dtype)
            F.max_pool_backward(*_max_args(x))
            F.avg_pool_backward(np.ones(F.avg_pool(x, 2).shape, dtype), x, 2)
            F.stochastic_pool_backward(
                np.ones(F.stochastic_pool(x, 2, training=False).shape, dtype), x, 2, training=False
            )
            F.stochastic_pool(x, 2, rng=0)
    names = [  # the compiled kernels behind the host wrappers
        "_avg_pool_forward",
        "_avg_pool_backward",
        "_max_pool_forward",
        "_scatter_add",
        "_stochastic_train_forward",
        "_stochastic_infer_forward",
        "_stochastic_infer_backward",
    ]
    counts = {n: len(getattr(kernels, n).signatures) for n in names}
    assert all(c <= 2 for c in counts.values()), counts
    for dtype in (np.float64, np.float32):
        x = np.abs(rng.standard_normal((3, 2, 11, 6))).astype(dtype)
        F.max_pool_backward(*_max_args(x, k=3, s=1, p=1))
        F.avg_pool_backward(
            np.ones(F.avg_pool(x, 3, 1, 1, count_include_pad=False).shape, dtype),
            x,
            3,
            1,
            1,
            count_include_pad=False,
        )
        F.lp_pool_backward(np.ones(F.lp_pool(x, 3.0, 2).shape, dtype), x, 3.0, 2)
        F.stochastic_pool(x, 3, 2, rng=5)
    assert {n: len(getattr(kernels, n).signatures) for n in names} == counts


def _max_args(x, k=2, s=None, p=0):
    y, idx = F.max_pool(x, k, s, p, return_indices=True)
    return np.ones_like(y), x, idx, k, s, p


# --- bad input ---------------------------------------------------------------------------------

X = np.ones((2, 3, 6, 6), dtype=np.float32)
G = np.ones((2, 3, 3, 3), dtype=np.float32)
I = F.max_pool(X, 2, return_indices=True)[1]

BAD = [
    (lambda: F.max_pool(np.ones((3, 6)), 2), ValueError, "x"),
    (lambda: F.max_pool(np.ones((1, 1, 2, 2, 2, 2)), 2), ValueError, "x"),
    (lambda: F.max_pool(np.ones((1, 1, 0)), 2), ValueError, "x"),
    (lambda: F.max_pool(X.astype(complex), 2), TypeError, "x"),
    (lambda: F.max_pool(X, 0), ValueError, "kernel_size"),
    (lambda: F.max_pool(X, (2, 2, 2)), ValueError, "kernel_size"),
    (lambda: F.max_pool(X, 2.5), TypeError, "kernel_size"),
    (lambda: F.max_pool(X, 2, 0), ValueError, "stride"),
    (lambda: F.max_pool(X, 2, 2, 2), ValueError, "padding"),
    (lambda: F.max_pool(X, 2, 2, -1), ValueError, "padding"),
    (lambda: F.max_pool(X, 2, dilation=0), ValueError, "dilation"),
    (lambda: F.max_pool(X, 7), ValueError, "empty"),
    (lambda: F.max_pool(np.ones((1, 1, 2)), 2, 1, 1, dilation=3), ValueError, "only padding"),
    (lambda: F.max_pool(X, 2, ceil_mode=1), TypeError, "ceil_mode"),
    (lambda: F.max_pool(X, 2, return_indices="yes"), TypeError, "return_indices"),
    (lambda: F.max_pool(X, 2, backend="gpu"), ValueError, "backend"),
    (lambda: F.max_pool_backward(G[:, :, :2], X, I, 2), ValueError, "grad_out"),
    (lambda: F.max_pool_backward(G, X, I.astype(float), 2), TypeError, "indices"),
    (lambda: F.max_pool_backward(G, X, I + 100, 2), ValueError, "indices"),
    (lambda: F.max_pool_backward(G, X, I[:1], 2), ValueError, "indices"),
    (lambda: F.avg_pool(X, 2, divisor_override=0), ValueError, "divisor_override"),
    (lambda: F.avg_pool(X, 2, divisor_override=1.5), TypeError, "divisor_override"),
    (lambda: F.avg_pool(X, 2, count_include_pad=None), TypeError, "count_include_pad"),
    (lambda: F.avg_pool_backward(G.T, X, 2), ValueError, "grad_out"),
    (lambda: F.lp_pool(X, 0.0, 2), ValueError, "norm_type"),
    (lambda: F.lp_pool(X, "2", 2), TypeError, "norm_type"),
    (lambda: F.lp_pool(X, float("nan"), 2), ValueError, "norm_type"),
    (lambda: F.lp_pool_backward(G[..., :1], X, 2.0, 2), ValueError, "grad_out"),
    (lambda: F.stochastic_pool(-X, 2), ValueError, "non-negative"),
    (lambda: F.stochastic_pool(X * np.nan, 2, training=False), ValueError, "non-negative"),
    (lambda: F.stochastic_pool(X, 2, rng="seed"), TypeError, "rng"),
    (lambda: F.stochastic_pool(X, 2, training=False, return_indices=True), ValueError, "training"),
    (lambda: F.stochastic_pool(X, 2, training="no"), TypeError, "training"),
    (lambda: F.stochastic_pool_backward(G, X, 2), ValueError, "indices"),
    (lambda: F.stochastic_pool_backward(G, X, 2, indices=I - 1), ValueError, "indices"),
    (lambda: F.spectral_pool(X, 7), ValueError, "output_size"),
    (lambda: F.spectral_pool(X, 0), ValueError, "output_size"),
    (lambda: F.spectral_pool(X, (2, 2, 2)), ValueError, "output_size"),
    (lambda: F.spectral_pool_backward(G, X, 2), ValueError, "grad_out"),
    (lambda: F.spectral_pool_backward(G, (2, 3, 0, 6), 3), ValueError, "x"),
    (lambda: F.global_avg_pool(np.ones(3)), ValueError, "x"),
    (lambda: F.global_max_pool_backward(G, X), ValueError, "grad_out"),
    (lambda: F.global_avg_pool_backward(np.ones((2, 3, 1)), X), ValueError, "grad_out"),
]


@pytest.mark.parametrize("call, exc, match", BAD)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_cuda_backend_without_gpu_says_how(monkeypatch):
    from sigconv import _backend

    monkeypatch.setattr(_backend, "cuda_status", lambda: (False, "no GPU here"))
    with pytest.raises(RuntimeError, match="cuda"):
        F.max_pool(X, 2, backend="cuda")


class _FakeDeviceArray:
    """Stands in for a GPU array: only ``__cuda_array_interface__``."""

    def __init__(self, shape, typestr="<f4"):
        self.__cuda_array_interface__ = {
            "shape": shape,
            "typestr": typestr,
            "data": (0, False),
            "version": 3,
        }


def test_cuda_dispatch_contract(monkeypatch):
    """Device operands reach the CUDA backend once, as (plan, arrays): the plan carries the
    validated geometry and options; nothing is copied to the host."""
    from sigconv import _backend

    calls = []

    class FakeCudaBackend:
        def __getattr__(self, name):
            def record(plan, *args, **kwargs):
                calls.append((name, plan, args, kwargs))
                return name

            return record

    real = _backend.backend_ops
    monkeypatch.setattr(_backend, "cuda_status", lambda: (True, "fake GPU"))
    monkeypatch.setattr(
        _backend, "backend_ops", lambda n: FakeCudaBackend() if n == "cuda" else real(n)
    )
    d = _FakeDeviceArray((2, 3, 6, 6))
    assert F.max_pool(d, 2, padding=1, return_indices=True) == "max_pool"
    _, plan, args, kwargs = calls[-1]
    assert (plan.kernel, plan.stride, plan.padding, plan.dilation) == (
        (2, 2),
        (2, 2),
        (1, 1),
        (1, 1),
    )
    assert plan.out_shape == (2, 3, 4, 4) and plan.dtype == np.float32
    assert args == (d,) and kwargs == {"return_indices": True}
    assert F.avg_pool(d, 3, 1, divisor_override=np.int64(2)) == "avg_pool"
    plan = calls[-1][1]
    assert plan.divisor == 2 and (plan.kernel, plan.stride, plan.padding) == (
        (3, 3),
        (1, 1),
        (0, 0),
    )
    assert F.lp_pool(d, 2, 2) == "lp_pool"
    assert (calls[-1][1].norm_type, calls[-1][1].kernel) == (2.0, (2, 2))
    assert F.spectral_pool(d, 3) == "spectral_pool" and calls[-1][1].out == (3, 3)
    assert F.global_max_pool(d) == "global_max_pool"
    assert F.stochastic_pool(d, 2, rng=1) == "stochastic_pool"
    assert isinstance(calls[-1][3]["rng"], np.random.Generator)
    # Host arrays with backend="cuda" go the same way; validation happens before dispatch.
    assert F.avg_pool_backward(G, X, 2, backend="cuda") == "avg_pool_backward"
    with pytest.raises(ValueError, match="padding"):
        F.max_pool(d, 2, padding=3)
    with pytest.raises(TypeError, match="dtype"):
        F.max_pool(_FakeDeviceArray((2, 3, 6, 6), "<c8"), 2)
    with pytest.raises(TypeError, match="device"):
        F.max_pool(d, 2, backend="cpu")

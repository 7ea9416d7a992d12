"""Implicit-GEMM convolution kernels (sigconv._cuda.igemm) against PyTorch and the CPU backend.

Simulator-sized: tiles of 16 x 16 x 4 (16 threads, conftest.SMALL_BLOCKS), so a few channels and
positions already span several M, N and K tiles, with partial tiles at every edge; the weight
gradient's reduction is split in several chunks. Every buffer the CUDA path allocates starts as
NaN (``nan_buffers``), so an output element a kernel forgets to write cannot pass.
"""

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigconv import _config
from sigconv._cuda import common, igemm, igemm_kernels
from sigconv._cuda import convolution as cuda_conv
from sigconv.nn import functional as F
from tests.cuda.conftest import numba_cuda, to_host
from tests.cuda.test_conv import _torch_conv
from tests.tolerance import assert_close

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.cuda, pytest.mark.usefixtures("small_gemm_tiles")]

DTYPES = [np.float32, np.float64]


@pytest.fixture
def nan_buffers(monkeypatch):
    """Device buffers allocated by the CUDA path start as NaN instead of uninitialised."""

    def empty(shape, dtype):
        return numba_cuda.to_device(np.full(tuple(int(n) for n in shape), np.nan, dtype))

    monkeypatch.setattr(common, "empty", empty)


@pytest.fixture
def launches(monkeypatch):
    """Counts the launches of the implicit-GEMM and direct convolution kernels by name."""
    seen = Counter()

    class Spy:
        def __init__(self, kernel):
            self.kernel = kernel

        def __getitem__(self, cfg):
            def launch(*args):
                seen[self.kernel.py_func.__name__] += 1
                return self.kernel[cfg](*args)

            return launch

    for mod, names in (
        (igemm, ("igemm_forward", "igemm_gather", "igemm_wgrad", "sum_splits")),
        (cuda_conv, ("conv_tiled", "conv_gather", "grad_weight_taps")),
    ):
        for name in names:
            monkeypatch.setattr(mod, name, Spy(getattr(mod, name)))
    return seen


def force(monkeypatch, path):
    """Route every convolution to the implicit GEMM (``"gemm"``) or the direct kernels."""
    low = path == "gemm"
    monkeypatch.setattr(_config, "CUDA_IGEMM_MIN_K_CHANNELS", 0 if low else 10**9)
    monkeypatch.setattr(_config, "CUDA_IGEMM_MIN_M_CHANNELS", 0 if low else 10**9)


CASES = [
    # (x shape, w shape, stride, padding, dilation, groups, padding_mode): 18 output channels
    # are two M tiles, 5 input channels two K slices (4 + 1), 18 output positions two N tiles.
    ((2, 5, 6, 5), (18, 5, 3, 3), (2, 1), (1, 1), (1, 2), 1, "zeros"),
    ((2, 6, 11), (8, 3, 3), 2, (2,), 1, 2, "reflect"),
    ((1, 6, 5, 6), (6, 2, 3, 3), 1, (2, 1), (2, 1), 3, "circular"),
    ((1, 4, 3, 4, 4), (5, 4, 2, 3, 2), (1, 2, 1), (1, 1, 0), 1, 1, "replicate"),
]
PARAMS = [(c, dt) for i, c in enumerate(CASES) for dt in (DTYPES if i < 2 else [np.float64])]


@pytest.mark.parametrize(
    "case,dtype",
    PARAMS,
    ids=[f"{len(c[0]) - 2}d-{c[6]}-g{c[5]}-{np.dtype(d).name}" for c, d in PARAMS],
)
def test_gemm_matches_torch_and_cpu(case, dtype, rng, monkeypatch, nan_buffers, launches):
    force(monkeypatch, "gemm")
    xs, ws, stride, padding, dilation, groups, mode = case
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, padding_mode=mode)
    y = F.conv(x, w, b, backend="cuda", **kw)
    assert y.dtype == dtype
    ty, tx, tw, tb = _torch_conv(x, w, b, stride, padding, dilation, groups, mode)
    assert_close(y, ty.detach().numpy(), dtype=dtype)
    assert_close(y, F.conv(x, w, b, backend="cpu", **kw), dtype=dtype)

    g = rng.standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(g, dtype=torch.float64))
    gx, gw, gb = F.conv_backward(g, x, w, backend="cuda", **kw)
    scale = float(np.abs(g).sum()) ** 0.5
    assert_close(gx, tx.grad.numpy(), dtype=dtype, scale=scale)
    assert_close(gw, tw.grad.numpy(), dtype=dtype, scale=scale)
    assert_close(gb, tb.grad.numpy(), dtype=dtype, scale=scale)
    cx, cw, _ = F.conv_backward(g, x, w, backend="cpu", **kw)
    assert_close(gx, cx, dtype=dtype, scale=scale)
    assert_close(gw, cw, dtype=dtype, scale=scale)
    assert launches["igemm_forward"] == launches["igemm_gather"] == 1
    assert launches["igemm_wgrad"] == launches["sum_splits"] == 1  # K split in chunks
    assert not launches["conv_tiled"] + launches["conv_gather"] + launches["grad_weight_taps"]


@pytest.mark.parametrize("path", ["gemm", "direct"])
def test_both_paths_agree_symmetric_padding(path, rng, monkeypatch, nan_buffers, launches):
    # 'symmetric' has no PyTorch twin: the CPU backend is the oracle, for either CUDA path.
    force(monkeypatch, path)
    x = rng.standard_normal((1, 5, 4, 6))
    w = rng.standard_normal((6, 5, 3, 2))
    kw = dict(stride=(2, 1), padding=((2, 1), (3, 2)), padding_mode="symmetric")
    assert_close(F.conv(x, w, backend="cuda", **kw), F.conv(x, w, backend="cpu", **kw))
    g = rng.standard_normal(F.conv(x, w, backend="cpu", **kw).shape)
    got = F.conv_backward(g, x, w, backend="cuda", need=("x", "weight"), **kw)
    want = F.conv_backward(g, x, w, backend="cpu", need=("x", "weight"), **kw)
    assert_close(got[0], want[0])
    assert_close(got[1], want[1])
    gemm = launches["igemm_forward"] + launches["igemm_gather"] + launches["igemm_wgrad"]
    direct = launches["conv_tiled"] + launches["conv_gather"] + launches["grad_weight_taps"]
    assert (gemm, direct) == ((3, 0) if path == "gemm" else (0, 3))


def test_thresholds_pick_the_path(rng, monkeypatch, launches):
    # Forward sums C_in/groups and computes C_out/groups; the input gradient the other way
    # round; the weight gradient sums positions (C_in/groups is its K channel count).
    monkeypatch.setattr(_config, "CUDA_IGEMM_MIN_K_CHANNELS", 4)
    monkeypatch.setattr(_config, "CUDA_IGEMM_MIN_M_CHANNELS", 2)
    x = rng.standard_normal((1, 4, 3, 3))
    w = rng.standard_normal((3, 4, 2, 2))  # cin_g 4, cout_g 3
    F.conv_backward(F.conv(x, w, backend="cuda"), x, w, backend="cuda")
    assert launches["igemm_forward"] == 1 and launches["igemm_wgrad"] == 1
    assert launches["conv_gather"] == 1 and launches["igemm_gather"] == 0  # sums only 3
    assert igemm.use(4, 2, 1) and not igemm.use(3, 2, 1) and not igemm.use(4, 1, 1)
    monkeypatch.setattr(_config, "CUDA_MAX_GRID_YZ", 3)
    assert not igemm.use(4, 2, 4)  # groups beyond the grid's z extent


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_transpose_matches_torch(dtype, rng, monkeypatch, nan_buffers, launches):
    force(monkeypatch, "gemm")
    x = rng.standard_normal((2, 6, 3, 4)).astype(dtype)
    w = rng.standard_normal((6, 9, 3, 2)).astype(dtype)  # C_in 6, C_out 9 * groups
    b = rng.standard_normal(18).astype(dtype)
    kw = dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2), dilation=(1, 2))
    y = F.conv_transpose(x, w, b, groups=2, backend="cuda", **kw)
    ref = torch.nn.functional.conv_transpose2d(
        torch.tensor(x).double(), torch.tensor(w).double(), torch.tensor(b).double(), groups=2,
        **kw,
    )  # fmt: skip
    assert y.dtype == dtype
    assert_close(y, ref.numpy(), dtype=dtype)
    assert launches["igemm_gather"] == 1


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernels_write_every_output_element(dtype, rng, launches):
    # Direct launcher calls on NaN-filled device outputs: forward with bias, the transposed
    # convolution over a padded grid (offsets 0) and the split weight gradient.
    x = rng.standard_normal((1, 5, 1, 4, 5)).astype(dtype)
    w = rng.standard_normal((17, 5, 1, 2, 3)).astype(dtype)
    b = rng.standard_normal(17).astype(dtype)
    y = numba_cuda.to_device(np.full((1, 17, 1, 5, 6), np.nan, dtype))
    pads = [(0, 0), (1, 1), (1, 2)]
    igemm.forward(*map(numba_cuda.to_device, (x, w, b)), 1, y, pads, (1, 1, 1), (1, 1, 1), 0, 1)
    want = F.conv(x[:, :, 0], w[:, :, 0], b, padding=((1, 1), (1, 2)), backend="cpu")
    assert_close(to_host(y)[:, :, 0], want, dtype=dtype)

    g = rng.standard_normal((1, 17, 1, 5, 6)).astype(dtype)
    gpad = numba_cuda.to_device(np.full((1, 5, 1, 6, 8), np.nan, dtype))
    dummy = numba_cuda.to_device(np.zeros(1, dtype))
    wd = numba_cuda.to_device(w)
    igemm.gather(numba_cuda.to_device(g), wd, dummy, 0, gpad, (0, 0, 0), (1, 1, 1), (1, 1, 1), 1)
    # Oracle: the padded-input gradient is conv_transpose with no padding cropped.
    want = F.conv_transpose(g[:, :, 0], w[:, :, 0], backend="cpu")
    assert_close(to_host(gpad)[:, :, 0], want, dtype=dtype)

    gw = numba_cuda.to_device(np.full(w.shape, np.nan, dtype))
    igemm.grad_weight(
        numba_cuda.to_device(g), numba_cuda.to_device(x), gw, pads, (1, 1, 1), (1, 1, 1), 0, 1
    )
    want = F.conv_backward(
        g[:, :, 0], x[:, :, 0], w[:, :, 0], padding=((1, 1), (1, 2)), need=("weight",),
        backend="cpu",
    )[1]  # fmt: skip
    assert_close(to_host(gw)[:, :, 0], want, dtype=dtype, scale=5.0)
    assert launches["igemm_wgrad"] == launches["sum_splits"] == 1


def test_weight_gradient_splits(monkeypatch):
    # Enough blocks for the target, chunks of at least MIN_K, whole BK slices, all K covered.
    monkeypatch.setattr(_config, "CUDA_IGEMM_WGRAD_BLOCKS", 100)
    monkeypatch.setattr(_config, "CUDA_IGEMM_WGRAD_MIN_K", 64)
    assert igemm.wgrad_splits(10_000, 4, 8) == (25, 400)
    splits, chunk = igemm.wgrad_splits(1000, 4, 8)  # MIN_K limits: 15 splits of 72 (rounded)
    assert chunk % 8 == 0 and chunk >= 64 and (splits - 1) * chunk < 1000 <= splits * chunk
    assert igemm.wgrad_splits(50, 1, 8) == (1, 56)
    assert igemm.wgrad_splits(10_000, 1000, 8) == (1, 10_000)


def test_tile_config_is_checked(monkeypatch):
    monkeypatch.setattr(_config, "CUDA_IGEMM_BM", 24)
    with pytest.raises(ValueError, match="CUDA_IGEMM_BM.*got BM=24"):
        igemm.tiles()
    monkeypatch.setattr(_config, "CUDA_IGEMM_BM", 16)
    monkeypatch.setattr(_config, "CUDA_IGEMM_BK", 3)
    with pytest.raises(ValueError, match="BK=3"):
        igemm.tiles()
    # more threads than a block of ~140-register threads can launch with (128 x 128: 1024)
    monkeypatch.setattr(_config, "CUDA_IGEMM_BK", 8)
    monkeypatch.setattr(_config, "CUDA_IGEMM_BM", 128)
    monkeypatch.setattr(_config, "CUDA_IGEMM_BN", 128)
    with pytest.raises(ValueError, match="at most 256"):
        igemm.tiles()
    # tiles beyond the shared-memory budget: 64 x 64 x 64 float64 slices need 66 KB
    monkeypatch.setattr(_config, "CUDA_IGEMM_BM", 64)
    monkeypatch.setattr(_config, "CUDA_IGEMM_BN", 64)
    assert igemm.tiles() == (64, 64, 8, 256)
    monkeypatch.setattr(_config, "CUDA_IGEMM_BK", 64)
    with pytest.raises(ValueError, match="CUDA_SHARED_BYTES"):
        igemm.tiles()
    assert igemm._i32(2**31 - 1, -(2**31)) == (2**31 - 1, -(2**31))
    with pytest.raises(ValueError, match="must fit in int32"):
        igemm._i32(3, 2**31)


def test_tile_rows_shrink_to_the_channels(rng, monkeypatch, nan_buffers):
    # 32-row tiles: 20 channels keep them (32 threads), 10 channels take 16-row tiles.
    force(monkeypatch, "gemm")
    monkeypatch.setattr(_config, "CUDA_IGEMM_BM", 32)
    assert igemm.tiles() == igemm.tiles(20) == (32, 16, 4, 32)
    assert igemm.tiles(10) == igemm.tiles(1) == (16, 16, 4, 16)
    for cout in (20, 10):
        x = rng.standard_normal((1, 10, 4, 3))
        w = rng.standard_normal((cout, 10, 2, 2))
        y = F.conv(x, w, padding=1, backend="cuda")
        assert_close(y, F.conv(x, w, padding=1, backend="cpu"))
        got = F.conv_backward(y, x, w, padding=1, backend="cuda", need=("x", "weight"))
        want = F.conv_backward(y, x, w, padding=1, backend="cpu", need=("x", "weight"))
        assert_close(got[0], want[0], scale=10.0)
        assert_close(got[1], want[1], scale=10.0)


def test_registry_lists_igemm_kernels():
    names = {k.py_func.__name__ for k, _ in igemm_kernels.PTX_SIGNATURES}
    assert names == {
        "igemm_forward",
        "igemm_gather",
        "igemm_wgrad",
        "sum_splits",
        "pack_tile_weights",
    }
    for _, sigs in igemm_kernels.PTX_SIGNATURES:
        assert [s.split("[")[0][5:] for s in sigs] == ["float32", "float64"]


MODES = ["zeros", "reflect", "replicate", "circular", "symmetric"]


@settings(max_examples=4, deadline=None)
@given(
    nd=st.integers(1, 3),
    n=st.integers(1, 2),
    groups=st.integers(1, 2),
    cin_g=st.integers(1, 5),
    cout_g=st.integers(1, 5),
    k=st.integers(1, 3),
    stride=st.integers(1, 2),
    dilation=st.integers(1, 2),
    pad=st.integers(0, 2),
    mode=st.sampled_from(MODES),
    seed=st.integers(0, 2**16),
)
def test_random_geometries_match_cpu(
    nd, n, groups, cin_g, cout_g, k, stride, dilation, pad, mode, seed
):
    # Per-example set-up by hand (hypothesis forbids function-scoped fixtures): GEMM path
    # forced, NaN-filled buffers.
    saved = {a: getattr(_config, a) for a in ("CUDA_IGEMM_MIN_K_CHANNELS",
                                              "CUDA_IGEMM_MIN_M_CHANNELS")}  # fmt: skip
    empty = common.empty
    _config.CUDA_IGEMM_MIN_K_CHANNELS = _config.CUDA_IGEMM_MIN_M_CHANNELS = 0
    common.empty = lambda shape, dtype: numba_cuda.to_device(np.full(shape, np.nan, dtype))
    try:
        rng = np.random.default_rng(seed)
        sizes = (3, 4, 3)[3 - nd :] if nd > 1 else (7,)
        sizes = tuple(max(s, (k - 1) * dilation + 1) for s in sizes)
        x = rng.standard_normal((n, cin_g * groups, *sizes))
        w = rng.standard_normal((cout_g * groups, cin_g) + (k,) * nd)
        kw = dict(stride=stride, padding=pad, dilation=dilation, groups=groups, padding_mode=mode)
        y = F.conv(x, w, backend="cuda", **kw)
        assert_close(y, F.conv(x, w, backend="cpu", **kw))
        g = rng.standard_normal(y.shape)
        got = F.conv_backward(g, x, w, backend="cuda", need=("x", "weight"), **kw)
        want = F.conv_backward(g, x, w, backend="cpu", need=("x", "weight"), **kw)
        scale = float(np.abs(g).sum()) ** 0.5
        assert_close(got[0], want[0], scale=scale)
        assert_close(got[1], want[1], scale=scale)
    finally:
        common.empty = empty
        for a, v in saved.items():
            setattr(_config, a, v)


def test_sizes_beyond_int32_offsets_take_the_direct_kernels(rng, monkeypatch, launches):
    # Lowering the limit below this problem's planes (6 x 7 = 42 input positions per channel,
    # 2 x 42 = 84 reduction positions, 10 x 42 = 420 positions of an image's channel planes)
    # sends every pass to the direct (int64) kernels.
    force(monkeypatch, "gemm")
    x = rng.standard_normal((2, 10, 6, 7))
    w = rng.standard_normal((12, 10, 3, 3))
    g = rng.standard_normal((2, 12, 6, 7))
    want = [F.conv(x, w, padding=1, backend="cpu"), *F.conv_backward(g, x, w, padding=1,
            backend="cpu")]  # fmt: skip
    # only the dispatch's check is lowered (the direct kernels' own limit stays)
    monkeypatch.setattr(common, "fits_int32", lambda *sizes: max(sizes) <= 41)
    got = [F.conv(x, w, padding=1, backend="cuda"), *F.conv_backward(g, x, w, padding=1,
           backend="cuda")]  # fmt: skip
    for a, b in zip(got, want):
        assert_close(a, b)
    assert not launches["igemm_forward"] + launches["igemm_gather"] + launches["igemm_wgrad"]
    assert launches["conv_tiled"] and launches["conv_gather"] and launches["grad_weight_taps"]

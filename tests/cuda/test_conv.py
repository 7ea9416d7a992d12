"""The CUDA CNN convolution (sigconv._cuda.convolution) against PyTorch autograd and the CPU.

Simulator-sized: a few hundred outputs per case, blocks of a few threads (conftest.py).
"""

import numpy as np
import pytest

from sigconv import _config
from sigconv._cuda import common, conv_kernels
from sigconv._cuda import convolution as cuda_conv
from sigconv.nn import functional as F
from tests.cuda.conftest import numba_cuda, spy_launches, to_host
from tests.tolerance import assert_close

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.cuda

DTYPES = [np.float32, np.float64]
TORCH_MODE = {"zeros": "zeros", "reflect": "reflect", "replicate": "replicate",
              "circular": "circular"}  # fmt: skip


def _torch_conv(x, w, b, stride, padding, dilation, groups, padding_mode):
    """Forward and autograd gradients from PyTorch (float64)."""
    nd = x.ndim - 2
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    tw = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    tb = None if b is None else torch.tensor(b, dtype=torch.float64, requires_grad=True)
    conv = (torch.nn.functional.conv1d, torch.nn.functional.conv2d, torch.nn.functional.conv3d)[
        nd - 1
    ]
    inp = tx
    if padding_mode != "zeros":
        pads = []
        for p in reversed(padding):
            pads += [p, p]
        inp = torch.nn.functional.pad(tx, pads, mode=TORCH_MODE[padding_mode])
        padding = 0
    y = conv(inp, tw, tb, stride=stride, padding=padding, dilation=dilation, groups=groups)
    return y, tx, tw, tb


CASES = [
    # (x shape, w shape, stride, padding, dilation, groups, padding_mode)
    ((2, 3, 11), (4, 3, 3), 2, (1,), 1, 1, "zeros"),
    ((1, 2, 7, 6), (3, 2, 3, 2), 1, (1, 1), 1, 1, "zeros"),
    ((2, 4, 6, 7), (6, 2, 3, 3), (2, 1), (1, 2), (1, 2), 2, "reflect"),
    ((1, 2, 5, 6), (5, 2, 2, 3), (1, 2), (1, 1), 1, 1, "replicate"),
    ((1, 3, 6, 5), (3, 1, 3, 3), 1, (2, 1), (2, 1), 3, "circular"),
    ((1, 2, 4, 5, 4), (2, 2, 2, 3, 2), (2, 1, 1), (1, 1, 0), 1, 1, "zeros"),
]


# Both dtypes for the first two cases (each kernel compiles per dtype); float64 for the rest,
# which keeps the simulator's share of CI time small.
PARAMS = [(c, dt) for i, c in enumerate(CASES) for dt in (DTYPES if i < 2 else [np.float64])]


@pytest.mark.parametrize(
    "case,dtype",
    PARAMS,
    ids=[f"{len(c[0]) - 2}d-{c[6]}-g{c[5]}-{np.dtype(d).name}" for c, d in PARAMS],
)
def test_forward_backward_match_torch_and_cpu(case, dtype, rng):
    xs, ws, stride, padding, dilation, groups, mode = case
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, padding_mode=mode)
    y = F.conv(x, w, b, backend="cuda", **kw)
    assert isinstance(y, np.ndarray) and y.dtype == dtype
    ty, tx, tw, tb = _torch_conv(x, w, b, stride, padding, dilation, groups, mode)
    assert_close(y, ty.detach().numpy(), dtype=dtype)
    assert_close(y, F.conv(x, w, b, backend="cpu", **kw), dtype=dtype)

    g = rng.standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(g, dtype=torch.float64))
    gx, gw, gb = F.conv_backward(g, x, w, backend="cuda", **kw)
    assert gx.dtype == gw.dtype == gb.dtype == dtype
    scale = float(np.abs(g).sum()) ** 0.5
    assert_close(gx, tx.grad.numpy(), dtype=dtype, scale=scale)
    assert_close(gw, tw.grad.numpy(), dtype=dtype, scale=scale)
    assert_close(gb, tb.grad.numpy(), dtype=dtype, scale=scale)
    cx, cw, cb = F.conv_backward(g, x, w, backend="cpu", **kw)
    assert_close(gx, cx, dtype=dtype, scale=scale)
    assert_close(gw, cw, dtype=dtype, scale=scale)


def test_symmetric_padding_and_need(rng):
    # 'symmetric' has no PyTorch twin: compare with the CPU backend (itself tested by
    # finite differences in tests/nn).
    x = rng.standard_normal((2, 2, 5, 7))
    w = rng.standard_normal((3, 2, 3, 3))
    kw = dict(stride=(2, 1), padding=((2, 1), (3, 2)), padding_mode="symmetric")
    assert_close(F.conv(x, w, backend="cuda", **kw), F.conv(x, w, backend="cpu", **kw))
    g = rng.standard_normal(F.conv(x, w, backend="cpu", **kw).shape)
    got = F.conv_backward(g, x, w, backend="cuda", need=("weight",), **kw)
    want = F.conv_backward(g, x, w, backend="cpu", need=("weight",), **kw)
    assert got[0] is None and got[2] is None
    assert_close(got[1], want[1])
    gx = F.conv_backward(g, x, w, backend="cuda", need=("x",), **kw)[0]
    assert_close(gx, F.conv_backward(g, x, w, backend="cpu", need=("x",), **kw)[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "xs,ws,stride,padding,opad,dilation,groups",
    [
        ((2, 4, 5), (4, 3, 3), 2, 1, 1, 1, 1),
        ((1, 4, 3, 4), (4, 1, 3, 2), (2, 3), (1, 0), (1, 2), (1, 1), 2),
        ((1, 2, 3, 2, 3), (2, 2, 2, 2, 2), 2, 0, 0, (1, 2, 1), 1),
    ],
)
def test_conv_transpose_matches_torch(xs, ws, stride, padding, opad, dilation, groups, dtype, rng):
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[1] * groups).astype(dtype)
    kw = dict(stride=stride, padding=padding, output_padding=opad, dilation=dilation)
    y = F.conv_transpose(x, w, b, groups=groups, backend="cuda", **kw)
    assert y.dtype == dtype
    tconv = (
        torch.nn.functional.conv_transpose1d,
        torch.nn.functional.conv_transpose2d,
        torch.nn.functional.conv_transpose3d,
    )[x.ndim - 3]
    ref = tconv(torch.tensor(x).double(), torch.tensor(w).double(), torch.tensor(b).double(),
                groups=groups, **kw)  # fmt: skip
    assert_close(y, ref.numpy(), dtype=dtype)


def test_long_kernel_weight_gradient(rng):
    # More taps than KMAX: the per-weight-element reduction kernel takes over.
    assert cuda_conv.KMAX < 30
    x = rng.standard_normal((2, 2, 33))
    w = rng.standard_normal((2, 2, 30))
    g = rng.standard_normal((2, 2, 6))
    got = F.conv_backward(g, x, w, padding=1, backend="cuda", need=("weight",))[1]
    want = F.conv_backward(g, x, w, padding=1, backend="cpu", need=("weight",))[1]
    assert_close(got, want)


def test_untiled_forward_matches(monkeypatch, rng):
    monkeypatch.setattr(_config, "CUDA_SHARED_BYTES", 0)
    x = rng.standard_normal((1, 2, 6, 5))
    w = rng.standard_normal((6, 1, 3, 2))
    kw = dict(stride=(1, 2), padding=1, dilation=(2, 1), groups=2, padding_mode="reflect")
    assert_close(F.conv(x, w, backend="cuda", **kw), F.conv(x, w, backend="cpu", **kw))


def test_grid_stride_over_batch_and_channels(monkeypatch, rng):
    # A grid capped at 3 blocks along z must cover every (image, channel block, tile).
    monkeypatch.setattr(_config, "CUDA_MAX_GRID_YZ", 3)
    x = rng.standard_normal((3, 2, 5, 5))
    w = rng.standard_normal((9, 2, 2, 2))
    assert_close(F.conv(x, w, backend="cuda", padding=1), F.conv(x, w, backend="cpu", padding=1))
    g = rng.standard_normal((3, 9, 6, 6))
    got = F.conv_backward(g, x, w, padding=1, backend="cuda")
    want = F.conv_backward(g, x, w, padding=1, backend="cpu")
    for a, b in zip(got, want):
        assert_close(a, b)


def test_device_in_device_out(to_device, rng):
    x = rng.standard_normal((2, 2, 5, 6)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    dx, dw, db = to_device(x), to_device(w), to_device(b)
    y = F.conv(dx, dw, db, padding="same")
    assert hasattr(y, "copy_to_host") and y.dtype == np.float32
    assert_close(to_host(y), F.conv(x, w, b, padding="same", backend="cpu"), dtype=np.float32)
    g = to_device(rng.standard_normal((2, 3, 5, 6)).astype(np.float32))
    grads = F.conv_backward(g, dx, dw, padding="same")
    want = F.conv_backward(to_host(g), x, w, padding="same", backend="cpu")
    for a, e in zip(grads, want):
        assert hasattr(a, "copy_to_host")
        assert_close(to_host(a), e, dtype=np.float32, scale=10.0)
    np.testing.assert_array_equal(to_host(dx), x)


def test_device_operands_get_the_rank_checks_of_host_ones(to_device):
    """A device x of the wrong rank is refused like a host one (it used to reach the kernels)."""
    for shape in ((4, 5), (1, 1, 2, 2, 2, 2)):
        for x in (np.ones(shape, np.float32), to_device(np.ones(shape, np.float32))):
            with pytest.raises(ValueError, match="x must have 3 to 5 dimensions"):
                F.conv(x, np.ones((1,) * len(shape), np.float32))


def test_inputs_not_modified(rng):
    x = rng.standard_normal((1, 2, 4, 5))
    w = rng.standard_normal((2, 2, 2, 2))
    x0, w0 = x.copy(), w.copy()
    y = F.conv(x, w, padding=1, padding_mode="circular", backend="cuda")
    F.conv_backward(np.ones_like(y), x, w, padding=1, padding_mode="circular", backend="cuda")
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


def test_registry_lists_conv_kernels():
    names = {k.py_func.__name__ for k, _ in conv_kernels.PTX_SIGNATURES}
    assert {
        "conv_tiled",
        "conv_direct",
        "conv_gather",
        "grad_weight_direct",
        "fold_padding",
    } <= names
    assert numba_cuda is not None


def test_planes_too_large_for_int32_offsets_take_the_untiled_forward(monkeypatch, rng):
    calls = spy_launches(monkeypatch, cuda_conv, ("conv_tiled", "conv_direct"))
    x = rng.standard_normal((2, 2, 5, 6))  # 30-element planes, 5 x 6 outputs with padding 1
    w = rng.standard_normal((3, 2, 3, 3))
    want = F.conv(x, w, None, padding=1, backend="cpu")
    monkeypatch.setattr(cuda_conv, "INT32_PLANE", 30)
    assert_close(F.conv(x, w, None, padding=1, backend="cuda"), want)
    monkeypatch.setattr(cuda_conv, "INT32_PLANE", 29)
    assert_close(F.conv(x, w, None, padding=1, backend="cuda"), want)
    assert calls == ["conv_tiled", "conv_direct"]


def test_transposed_convolution_rejects_planes_beyond_int32_offsets(monkeypatch, rng):
    x = rng.standard_normal((1, 2, 5, 6))
    w = rng.standard_normal((3, 2, 3, 3))
    g = rng.standard_normal((1, 3, 5, 6))
    want = F.conv_backward(g, x, w, padding=1, backend="cpu")[0]
    monkeypatch.setattr(common, "INT32_LIMIT", 54)  # the 54 weights still fit
    assert_close(F.conv_backward(g, x, w, padding=1, backend="cuda")[0], want)
    monkeypatch.setattr(common, "INT32_LIMIT", 53)
    with pytest.raises(ValueError, match="int32"):
        F.conv_backward(g, x, w, padding=1, backend="cuda")


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_with_relu_is_relu_of_forward(rng, dtype):
    # the backends' conv(..., relu=True), as Conv.forward_relu calls it: the plain forward
    # pass then the device ReLU, bit for bit
    from sigconv import _geometry

    x = rng.standard_normal((2, 3, 7, 6)).astype(dtype)
    x[0, 0, 0, :2] = np.nan
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    plan = _geometry.conv_plan(x.shape, w.shape, 1, 1, 1, 1, "zeros", np.dtype(dtype), "auto")
    y = to_host(cuda_conv.conv(plan, x, w, b))
    yr = to_host(cuda_conv.conv(plan, x, w, b, relu=True))
    np.testing.assert_array_equal(yr, to_host(F.relu(y)))
    assert np.isnan(yr).any() and (yr == 0).any() and not np.signbit(yr[yr == 0]).any()

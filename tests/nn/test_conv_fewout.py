"""The batch-last kernel vectorised along the batch (sigconv/_cpu/conv_fewout.py), through
``F.conv`` and ``F.conv_backward``, against SciPy (``scipy.signal.correlate`` and ``convolve``
per image and channel pair, with the dilation written into the kernel as zeros).

The kernel needs a batch that fills its vectors (64 float32 images, 32 float64), too many for
the plain-loop oracles; every case asserts that it took the kernel, so the grid covers what it
does differently: whole and rounded-up batches, one to six output channels, a zero frame
skipped on every side (the input gradient), dilation, 2-D and 3-D, and the tasks run in any
order.
"""

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from sigconv import _config
from sigconv._cpu import conv_fewout
from sigconv._cpu._simd import avx512
from sigconv.nn import functional as F
from tests.nn.naive_conv import naive_conv, naive_conv_transpose
from tests.tolerance import assert_close

pytestmark = pytest.mark.skipif(not avx512(), reason="the kernel needs AVX-512")


def _dilated(w, dilation):
    """``w`` ``(O, C, *k)`` with ``dilation - 1`` zeros between its taps."""
    k = w.shape[2:]
    out = np.zeros(w.shape[:2] + tuple((n - 1) * d + 1 for n, d in zip(k, dilation)))
    out[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in dilation)] = w
    return out


def scipy_conv(x, w, b, pads, dilation):
    """Zero-padded, dilated, unit-stride ``conv`` (a correlation) in float64, by SciPy."""
    xp = np.pad(x.astype(np.float64), [(0, 0), (0, 0)] + list(pads))
    wd = _dilated(w.astype(np.float64), dilation)
    y = np.stack(
        [
            sum(scipy.signal.correlate(xp[n, c], wd[o, c], mode="valid") for c in range(x.shape[1]))
            for n in range(x.shape[0])
            for o in range(w.shape[0])
        ]
    )
    y = y.reshape(x.shape[:1] + w.shape[:1] + y.shape[1:])
    return y + b.reshape((-1,) + (1,) * (x.ndim - 2))


def scipy_conv_grad_input(g, w, x_shape, pads, dilation):
    """The input gradient of :func:`scipy_conv`: the full convolution of the output gradient
    with the weights, summed over output channels, cropped to the unpadded input."""
    wd = _dilated(w.astype(np.float64), dilation)
    g = g.astype(np.float64)
    full = np.stack(
        [
            sum(scipy.signal.convolve(g[n, o], wd[o, c], mode="full") for o in range(w.shape[0]))
            for n in range(g.shape[0])
            for c in range(w.shape[1])
        ]
    )
    full = full.reshape(x_shape[:2] + full.shape[1:])
    crop = tuple(slice(b, b + n) for (b, _), n in zip(pads, x_shape[2:]))
    return full[(slice(None), slice(None)) + crop]


def _spy(monkeypatch, name):
    seen = []
    real = getattr(conv_fewout, name)
    monkeypatch.setattr(conv_fewout, name, lambda *a: seen.append(a[0].shape) or real(*a))
    return seen


@pytest.fixture
def calls(monkeypatch):
    return _spy(monkeypatch, "direct_corr_batchvec")


@pytest.fixture
def wide_calls(monkeypatch):
    return _spy(monkeypatch, "direct_corr_widevec")


GRAD_CASES = [
    # x shape, weight shape, padding, dilation, dtype: the input gradient's output channels
    # are the conv's input channels (six or fewer)
    ((64, 6, 14, 14), (16, 6, 5, 5), 0, 1, np.float32),  # LeNet conv2
    ((30, 6, 14, 14), (16, 6, 5, 5), 0, 1, np.float64),  # 30 images in 32 lanes
    ((56, 3, 12, 11), (8, 3, 5, 4), 1, (1, 2), np.float32),  # rounded up to 64, dilation
    ((64, 1, 9, 9), (4, 1, 5, 5), 0, 1, np.float32),  # one output channel
    ((32, 2, 6, 7, 8), (5, 2, 3, 4, 3), 1, (2, 1, 1), np.float64),  # 3-D
    ((64, 4, 3, 20), (7, 4, 2, 5), 1, (1, 2), np.float32),  # a row of 5 dilated taps
]


@pytest.mark.parametrize("xs, ws, padding, dilation, dtype", GRAD_CASES)
def test_input_gradient_matches_scipy(rng, calls, xs, ws, padding, dilation, dtype):
    nd = len(xs) - 2
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    dil = (dilation,) * nd if isinstance(dilation, int) else tuple(dilation)
    g = rng.standard_normal(F.conv(x, w, padding=padding, dilation=dilation).shape).astype(dtype)
    g.flags.writeable = False
    w.flags.writeable = False
    calls.clear()
    gx = F.conv_backward(g, x, w, padding=padding, dilation=dilation, need=("x",))[0]
    assert len(calls) == 1
    # the source alone went in (no zero frame), its batch rounded up to whole vectors
    width = 4 * 64 // np.dtype(dtype).itemsize
    assert calls[0] == (ws[0],) + (1,) * (3 - nd) + g.shape[2:] + (-(-xs[0] // width) * width,)
    assert gx.dtype == dtype
    want = scipy_conv_grad_input(g, w, xs, [(padding, padding)] * nd, dil)
    assert_close(gx, want, dtype=dtype)


FORWARD_CASES = [
    ((64, 3, 12, 12), (5, 3, 5, 5), 0, 1, np.float32),
    ((32, 2, 9, 10), (6, 2, 3, 5), 2, 1, np.float64),  # padded first, then no frame
    ((60, 1, 8, 8), (2, 1, 3, 3), 1, (2, 1), np.float32),
]


@pytest.mark.parametrize("xs, ws, padding, dilation, dtype", FORWARD_CASES)
def test_forward_matches_scipy(rng, calls, xs, ws, padding, dilation, dtype):
    nd = len(xs) - 2
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    y = F.conv(x, w, b, padding=padding, dilation=dilation)
    assert len(calls) == 1
    dil = (dilation,) * nd if isinstance(dilation, int) else tuple(dilation)
    assert_close(y, scipy_conv(x, w, b, [(padding, padding)] * nd, dil), dtype=dtype)


@pytest.mark.parametrize("case", [0, 2, 4])
def test_tasks_in_any_order(rng, tasks_out_of_order, calls, case):
    tasks_out_of_order(conv_fewout)
    test_input_gradient_matches_scipy(rng, calls, *GRAD_CASES[case])


@pytest.mark.parametrize(
    "xs, ws, kw",
    [
        ((64, 7, 14, 14), (16, 7, 5, 5), {}),  # seven output channels
        ((40, 6, 14, 14), (16, 6, 5, 5), {}),  # 40 images in 64 lanes
        ((64, 6, 14, 14), (16, 3, 5, 5), dict(groups=2)),
        ((64, 6, 14, 14), (16, 6, 5, 5), dict(padding=2, padding_mode="reflect")),  # a fold
    ],
)
def test_other_shapes_take_the_other_kernels(rng, calls, xs, ws, kw):
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    g = rng.standard_normal(F.conv(x, w, **kw).shape).astype(np.float32)
    calls.clear()
    gx = F.conv_backward(g, x, w, need=("x",), **kw)[0]
    if kw.get("padding_mode") == "reflect":
        # reflect padding: the whole padded gradient, zero frame and all, then folded back;
        # the frame is the source shifted, so the kernel takes it
        assert len(calls) == 1
        return
    assert calls == []
    if "groups" not in kw:
        assert_close(gx, scipy_conv_grad_input(g, w, xs, [(0, 0)] * 2, (1, 1)), dtype=np.float32)


def test_frame_offsets_accept_only_a_shifted_source():
    m = np.array([-1, -1, 0, 1, 2, -1], dtype=np.int64)
    ident = np.arange(1, dtype=np.int64)
    assert conv_fewout.frame_offsets([ident, ident, m], (1, 1, 3)) == (0, 0, 2)
    # the frame starting inside the source: a negative offset
    assert conv_fewout.frame_offsets([ident, ident, np.arange(2, 5)], (1, 1, 6)) == (0, 0, -2)
    # a reflected border, a hole, a map past the source's end
    for bad in ([1, 0, 1, 2], [0, 1, -1, 3], [0, 1, 2, 3]):
        assert conv_fewout.frame_offsets([ident, ident, np.array(bad)], (1, 1, 3)) is None


def test_thresholds_come_from_config(monkeypatch):
    assert conv_fewout.suits_batch(64, 6, 1, 4)
    assert not conv_fewout.suits_batch(64, 7, 1, 4)
    assert not conv_fewout.suits_batch(64, 6, 2, 4)
    wide = ((1, 32, 32), (1, 28, 28))
    assert conv_fewout.suits_wide(6, 1, 4, *wide) and conv_fewout.suits_wide(5, 1, 4, *wide)
    assert not conv_fewout.suits_wide(4, 1, 4, *wide)
    assert not conv_fewout.suits_wide(6, 1, 4, (1, 3, 30), (1, 1, 26))  # a 26-position span
    monkeypatch.setattr(_config, "NN_CONV_FEWOUT_MAX_OUT", 5)
    assert not conv_fewout.suits_batch(64, 6, 1, 4)
    assert not conv_fewout.suits_wide(6, 1, 4, *wide)
    assert conv_fewout.suits_batch(52, 5, 1, 4) and not conv_fewout.suits_batch(51, 5, 1, 4)
    monkeypatch.setattr(_config, "NN_CONV_FEWOUT_MIN_OUT_WIDE", 1)
    assert conv_fewout.suits_wide(1, 1, 4, *wide)
    monkeypatch.setattr(conv_fewout, "avx512", lambda: False)
    assert not conv_fewout.suits_batch(64, 5, 1, 4)
    assert not conv_fewout.suits_wide(5, 1, 4, *wide)


def test_no_recompilation_across_shapes(rng):
    kernels = [conv_fewout._direct_corr_fewout, conv_fewout._weights]
    for dt in (np.float32, np.float64):
        x = rng.standard_normal((64, 2, 8, 8)).astype(dt)
        w = rng.standard_normal((4, 2, 3, 3)).astype(dt)
        F.conv_backward(rng.standard_normal((64, 4, 6, 6)).astype(dt), x, w, need=("x",))
        F.conv(rng.standard_normal((2, 3, 12, 12)).astype(dt), np.ones((6, 3, 3, 3), dt))
    before = [len(k.signatures) for k in kernels]
    for n, k in ((56, 3), (64, 5)):
        x = rng.standard_normal((n, 3, 9, 7 + k)).astype(np.float32)
        w = rng.standard_normal((2 * k, 3, k, k)).astype(np.float32)
        g = rng.standard_normal(F.conv(x, w, padding=1).shape).astype(np.float32)
        F.conv_backward(g, x, w, padding=1, dilation=1, need=("x",))
        F.conv(x[:2], w[:5], padding=k // 2, dilation=(1, 2))
    assert [len(k.signatures) for k in kernels] == before


WIDE_CASES = [
    # x shape, weight shape, padding, dilation, padding mode, dtype
    ((3, 1, 28, 28), (6, 1, 5, 5), 2, 1, "zeros", np.float32),  # LeNet conv1: rows of 32
    ((2, 3, 13, 21), (5, 3, 3, 4), 1, (2, 1), "reflect", np.float32),  # 5 channels, dilation
    ((2, 2, 11, 9), (6, 2, 3, 3), 0, 1, "zeros", np.float64),  # 32 lanes: 63 positions
    ((2, 4, 70), (6, 4, 7), 3, 2, "circular", np.float32),  # 1-D
    (
        (1, 2, 3, 12, 30),
        (5, 2, 2, 3, 3),
        ((0, 0), (1, 1), (0, 0)),
        (1, 2, 1),
        "replicate",
        np.float64,
    ),  # 3-D
]


@pytest.mark.parametrize("xs, ws, padding, dilation, mode, dtype", WIDE_CASES)
def test_wide_forward_matches_loops(rng, wide_calls, xs, ws, padding, dilation, mode, dtype):
    nd = len(xs) - 2
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    y = F.conv(x, w, b, padding=padding, dilation=dilation, padding_mode=mode)
    assert len(wide_calls) == 1
    dil = (dilation,) * nd if isinstance(dilation, int) else tuple(dilation)
    pads = [(padding, padding)] * nd if isinstance(padding, int) else [tuple(p) for p in padding]
    want = naive_conv(x, w, b, stride=(1,) * nd, pads=pads, dilation=dil, padding_mode=mode)
    assert_close(y, want, dtype=dtype)


@pytest.mark.parametrize("case", [0, 2])
def test_wide_tasks_in_any_order(rng, tasks_out_of_order, wide_calls, case):
    tasks_out_of_order(conv_fewout)
    test_wide_forward_matches_loops(rng, wide_calls, *WIDE_CASES[case])


def test_wide_input_gradient_matches_loops(rng, wide_calls):
    # six input channels: the input gradient, a correlation of the zero-framed output
    # gradient on the wide grid (few images, so not batch-last), takes the kernel
    x = rng.standard_normal((3, 6, 9, 30)).astype(np.float32)
    w = rng.standard_normal((8, 6, 3, 3)).astype(np.float32)
    g = rng.standard_normal((3, 8, 9, 30)).astype(np.float32)
    gx = F.conv_backward(g, x, w, padding=1, need=("x",))[0]
    assert len(wide_calls) == 1
    want = naive_conv_transpose(
        g, w, stride=(1, 1), pads=[(1, 1)] * 2, output_padding=(0, 0), dilation=(1, 1)
    )
    assert_close(gx, want, dtype=np.float32)


# --- property test: the layer shapes these kernels (and conv_wgrad's outvec) take -------------


@st.composite
def few_channel_layers(draw):
    """Batches that fill the batch-last vectors (or fall short of them), one to six output
    channels or 32 or 64 (the outvec weight gradient), 1-D to 3-D, dilation, padding."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    full = 64 if dtype == np.float32 else 32
    n = draw(st.sampled_from([full - 8, full, 3]))
    nd = draw(st.integers(1, 3))
    cin = draw(st.integers(1, 7))
    cout = draw(st.sampled_from([1, 3, 5, 6, 32, 64]))
    ksize = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    padding = draw(st.integers(0, 2))
    side = {1: (20, 80), 2: (5, 14), 3: (3, 7)}[nd]
    spatial = tuple(
        draw(st.integers(max(side[0], (k - 1) * d + 1), side[1])) for k, d in zip(ksize, dilation)
    )
    return dtype, (n, cin) + spatial, (cout, cin) + ksize, dilation, padding


@settings(max_examples=25)
@given(few_channel_layers(), st.integers(0, 2**31 - 1))
def test_few_channel_layers_match_torch(layer, seed):
    torch = pytest.importorskip("torch")
    dtype, xs, ws, dilation, padding = layer
    nd = len(xs) - 2
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    y = F.conv(x, w, b, padding=padding, dilation=dilation)
    g = rng.standard_normal(y.shape).astype(dtype)
    gx, gw, gb = F.conv_backward(g, x, w, padding=padding, dilation=dilation)
    conv = (torch.nn.functional.conv1d, torch.nn.functional.conv2d, torch.nn.functional.conv3d)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    yt = conv[nd - 1](xt, wt, bt, padding=padding, dilation=dilation)
    yt.backward(torch.tensor(g, dtype=torch.float64))
    assert_close(y, yt.detach().numpy(), dtype=dtype)
    assert_close(gx, xt.grad.numpy(), dtype=dtype)
    assert_close(gw, wt.grad.numpy(), dtype=dtype)
    assert_close(gb, bt.grad.numpy(), dtype=dtype)

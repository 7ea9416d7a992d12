"""``method="fft"`` of nn.functional.conv / conv_backward (issue 12) against independent oracles.

Oracles: the plain-loop ``naive_conv``, float64 central finite differences of every gradient,
PyTorch float64 autograd over the hypothesis grid of ``test_conv_properties.problems`` (dims
1-3, strides, dilations, groups, padding kinds and modes), and the direct kernels' agreement is
not used as proof of anything. Also: the method option's validation, the CUDA backend's
refusal, dtypes, and the cost model's choice on the W5 layers and on long kernels.
"""

import numpy as np
import pytest
from hypothesis import given, settings

from sigconv import _geometry
from sigconv._cpu import conv_fft
from sigconv.nn import functional as F
from tests.nn.naive_conv import naive_conv
from tests.nn.test_conv import CASES, _pads, _tup
from tests.tolerance import assert_close


@pytest.mark.parametrize("xs, ws, stride, padding, dilation, groups, mode", CASES)
def test_fft_matches_loops_and_finite_differences(
    rng, xs, ws, stride, padding, dilation, groups, mode
):
    nd = len(xs) - 2
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, padding_mode=mode)
    y = F.conv(x, w, b, method="fft", **kw)
    want = naive_conv(
        x, w, b, stride=_tup(stride, nd), pads=_pads(padding, nd), dilation=_tup(dilation, nd),
        groups=groups, padding_mode=mode,
    )  # fmt: skip
    assert_close(y, want)
    G = rng.standard_normal(y.shape)
    gx, gw, gb = F.conv_backward(G, x, w, method="fft", **kw)

    def loss(xx, ww):
        # the loop oracle: the FFT path's own forward never proves its gradients
        return float(
            np.sum(
                naive_conv(
                    xx, ww, stride=_tup(stride, nd), pads=_pads(padding, nd),
                    dilation=_tup(dilation, nd), groups=groups, padding_mode=mode,
                ) * G
            )
        )  # fmt: skip

    h = 1e-3
    for arr, grad, name in ((x, gx, "x"), (w, gw, "weight")):
        entries = list(np.ndindex(arr.shape))
        pick = set(rng.choice(len(entries), size=min(len(entries), 10), replace=False).tolist())
        pick.update({0, len(entries) - 1})
        for i in sorted(pick):
            idx = entries[i]
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += h
            minus[idx] -= h
            args_p = (plus, w) if name == "x" else (x, plus)
            args_m = (minus, w) if name == "x" else (x, minus)
            num = (loss(*args_p) - loss(*args_m)) / (2 * h)
            np.testing.assert_allclose(grad[idx], num, rtol=1e-7, atol=1e-7, err_msg=f"{name}{idx}")
    np.testing.assert_allclose(gb, G.sum(axis=tuple(i for i in range(G.ndim) if i != 1)))


def _torch_case(p):
    from tests.nn.test_conv_properties import _reference

    rng = np.random.default_rng(p["seed"])
    x = rng.standard_normal((p["n"], p["cin"]) + p["spatial"])
    w = rng.standard_normal((p["cout"], p["cin"] // p["groups"]) + p["ksize"])
    b = rng.standard_normal(p["cout"])
    kw = dict(
        stride=p["stride"], padding=p["padding"], dilation=p["dilation"], groups=p["groups"],
        padding_mode=p["mode"],
    )  # fmt: skip
    y = F.conv(x, w, b, method="fft", **kw)
    g = rng.standard_normal(y.shape)
    ty, tgx, tgw, tgb = _reference(p, x, w, b, g)
    assert_close(y, ty)
    gx, gw, gb = F.conv_backward(g, x, w, method="fft", **kw)
    assert_close(gx, tgx)
    assert_close(gw, tgw)
    assert_close(gb, tgb)


try:
    import torch  # noqa: F401

    from tests.nn.test_conv_properties import problems

    @settings(max_examples=60, deadline=None)
    @given(problems())
    def test_fft_values_and_gradients_equal_pytorch(p):
        _torch_case(p)

except ImportError:  # pragma: no cover - torch is an optional oracle

    def test_fft_values_and_gradients_equal_pytorch():
        pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fft_dtypes_and_long_strided_kernel_equal_pytorch(rng, dtype):
    torch = pytest.importorskip("torch")
    # an M5-like first layer in miniature: long kernel, stride 4, two groups
    x = rng.standard_normal((2, 2, 400)).astype(dtype)
    w = (rng.standard_normal((6, 1, 40)) / 7).astype(dtype)
    y = F.conv(x, w, stride=4, groups=2, method="fft")
    assert y.dtype == dtype
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    tw = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    ty = torch.nn.functional.conv1d(tx, tw, stride=4, groups=2)
    g = rng.standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(g, dtype=torch.float64))
    gx, gw, _ = F.conv_backward(g, x, w, stride=4, groups=2, method="fft", need=("x", "weight"))
    assert gx.dtype == dtype and gw.dtype == dtype
    for got, want in ((y, ty), (gx, tx.grad), (gw, tw.grad)):
        want = want.detach().numpy()
        assert_close(got, want, dtype=dtype, scale=float(np.max(np.abs(want))))


def test_inputs_unmodified(rng):
    x, w = rng.standard_normal((2, 3, 30)), rng.standard_normal((4, 3, 9))
    g = rng.standard_normal((2, 4, 8))
    before = (x.copy(), w.copy(), g.copy())
    F.conv(x, w, stride=3, method="fft")
    F.conv_backward(g, x, w, stride=3, method="fft")
    for a, b in zip((x, w, g), before):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "method, exc, match",
    [("FFT", ValueError, "method must be one of"), (1, TypeError, "method must be one of")],
)
def test_bad_method_is_a_clear_error(method, exc, match):
    x, w = np.zeros((1, 2, 8)), np.zeros((3, 2, 3))
    with pytest.raises(exc, match=match):
        F.conv(x, w, method=method)
    with pytest.raises(exc, match=match):
        F.conv_backward(np.zeros((1, 3, 6)), x, w, method=method)


def test_cuda_backend_refuses_fft_clearly():
    pytest.importorskip("numba.cuda")
    import sigconv._cuda as cuda

    plan = _geometry.conv_plan((1, 2, 8), (3, 2, 3), 1, 0, 1, 1, "zeros", np.float32, "fft")
    x, w = np.zeros((1, 2, 8), np.float32), np.zeros((3, 2, 3), np.float32)
    with pytest.raises(ValueError, match="method='fft' is not available on the CUDA backend"):
        cuda.conv(plan, x, w, None)
    with pytest.raises(ValueError, match="method='fft' is not available on the CUDA backend"):
        cuda.conv_backward(plan, np.zeros((1, 3, 6), np.float32), x, w, ("x",))


def _plan(xs, ws, stride=1):
    return _geometry.conv_plan(xs, ws, stride, 0, 1, 1, "zeros", np.float32)


def test_auto_keeps_short_kernels_direct_and_takes_fft_for_long_ones():
    # the CNN layers of W5 (3x3 to 5x5, 9 taps, 80 taps at stride 4) stay direct
    assert not conv_fft.use_fft(_plan((64, 6, 14, 14), (16, 6, 5, 5)))
    assert not conv_fft.use_fft(_plan((32, 64, 56, 56), (64, 64, 3, 3)))
    assert not conv_fft.use_fft(_plan((32, 16, 16000), (32, 16, 9)))
    assert not conv_fft.use_fft(_plan((32, 1, 16000), (128, 1, 80), 4))
    # a 255-tap filter bank on audio, and a 256-tap strided first layer, go by FFT
    assert conv_fft.use_fft(_plan((8, 4, 16000), (16, 4, 255)))
    assert conv_fft.use_fft(_plan((32, 1, 16000), (64, 1, 256), 4))


def test_auto_result_equals_loops_when_it_picks_fft(rng):
    x, w = rng.standard_normal((1, 1, 8000)), rng.standard_normal((2, 1, 1001))
    assert conv_fft.use_fft(_plan(x.shape, w.shape))
    want = naive_conv(x, w, stride=(1,), pads=[(0, 0)], dilation=(1,))
    assert_close(F.conv(x, w), want)

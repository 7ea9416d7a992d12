"""sigconv.nn.functional conv / conv_backward / conv_transpose against independent oracles.

Oracles: the plain-loop ``naive_conv`` (tests/nn/naive_conv.py), float64 central finite
differences for every gradient, the adjoint identity of conv_transpose, scipy.signal.correlate,
and PyTorch where installed (the hypothesis grid lives in test_conv_properties.py).
"""

import numpy as np
import pytest
import scipy.signal

from sigconv import _config
from sigconv._cpu import conv_direct, conv_im2col, conv_wgrad
from sigconv._cpu import convolution as cpu_conv
from sigconv.nn import functional as F
from tests.nn.naive_conv import naive_conv, naive_conv_grad_weight, naive_conv_transpose
from tests.tolerance import assert_close

MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")


def _pads(padding, nd):
    if isinstance(padding, int):
        return [(padding, padding)] * nd
    return [tuple(p) if not isinstance(p, int) else (p, p) for p in padding]


def _tup(v, nd):
    return (v,) * nd if isinstance(v, int) else tuple(v)


CASES = [
    # x shape, w shape, stride, padding, dilation, groups, mode
    ((2, 3, 11), (4, 3, 3), 1, 0, 1, 1, "zeros"),
    ((1, 2, 13), (2, 1, 4), 3, 2, 2, 2, "reflect"),
    ((2, 4, 7, 9), (6, 2, 3, 2), (2, 1), 1, (1, 2), 2, "zeros"),
    ((2, 3, 8, 5), (5, 3, 2, 3), 1, ((2, 0), (1, 3)), 1, 1, "replicate"),
    ((1, 2, 9, 9), (2, 1, 3, 3), 2, 3, 2, 2, "circular"),
    ((2, 2, 6, 7), (3, 2, 3, 3), 1, 2, 1, 1, "symmetric"),
    ((1, 3, 5, 6, 7), (3, 1, 2, 3, 3), (1, 2, 1), (1, 0, 2), 1, 3, "zeros"),
    ((1, 2, 5, 5, 5), (4, 2, 3, 3, 3), 1, 1, (2, 1, 1), 1, "reflect"),
    ((3, 1, 17, 17), (6, 1, 5, 5), 1, 2, 1, 1, "zeros"),  # LeNet conv1-like: direct kernel
    ((2, 6, 10), (6, 1, 5), 1, 2, 1, 6, "zeros"),  # depthwise 1-D
]


@pytest.mark.parametrize("xs, ws, stride, padding, dilation, groups, mode", CASES)
def test_forward_and_backward_match_loops_and_finite_differences(
    rng, xs, ws, stride, padding, dilation, groups, mode
):
    nd = len(xs) - 2
    x = rng.standard_normal(xs)
    w = rng.standard_normal(ws)
    b = rng.standard_normal(ws[0])
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, padding_mode=mode)
    y = F.conv(x, w, b, **kw)
    want = naive_conv(
        x,
        w,
        b,
        stride=_tup(stride, nd),
        pads=_pads(padding, nd),
        dilation=_tup(dilation, nd),
        groups=groups,
        padding_mode=mode,
    )
    assert_close(y, want)
    # Gradients of L = sum(conv(x) * G) by central differences (the loss is linear in each
    # argument, so the differences are exact up to rounding).
    G = rng.standard_normal(y.shape)
    gx, gw, gb = F.conv_backward(G, x, w, **kw)

    def loss(xx, ww, bb):
        return float(np.sum(F.conv(xx, ww, bb, **kw) * G))

    h = 1e-3
    for arr, grad, name in ((x, gx, "x"), (w, gw, "weight"), (b, gb, "bias")):
        # A random subset of entries keeps the test quick; border pixels are always included
        # since that is where the padding modes differ.
        entries = list(np.ndindex(arr.shape))
        pick = set(rng.choice(len(entries), size=min(len(entries), 24), replace=False).tolist())
        pick.update({0, len(entries) - 1})
        for i in sorted(pick):
            idx = entries[i]
            args = {"x": x, "weight": w, "bias": b}
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += h
            minus[idx] -= h
            args[name] = plus
            lp = loss(args["x"], args["weight"], args["bias"])
            args[name] = minus
            lm = loss(args["x"], args["weight"], args["bias"])
            num = (lp - lm) / (2 * h)
            np.testing.assert_allclose(grad[idx], num, rtol=1e-7, atol=1e-7, err_msg=f"{name}{idx}")


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("stride, dilation, groups", [(1, 1, 1), (2, 1, 2), (3, 2, 1), (2, 3, 2)])
def test_conv_transpose_matches_loops_and_is_the_adjoint(rng, nd, stride, dilation, groups):
    spatial = (7, 6, 5)[:nd]
    ksize = (3, 2, 3)[:nd]
    cin_t, cout_t = 4, 2 * groups
    w = rng.standard_normal((cin_t, cout_t // groups) + ksize)
    b = rng.standard_normal(cout_t)
    pad = 1
    # the matching forward conv maps u (N, cout_t, *n_u) to (N, cin_t, *spatial)
    ke = [(k - 1) * dilation + 1 for k in ksize]
    n_u = [(n - 1) * stride - 2 * pad + e for n, e in zip(spatial, ke)]
    for op in range(max(stride, dilation)):
        out_sp = tuple(n + op for n in n_u)
        y = rng.standard_normal((2, cin_t) + spatial)
        got = F.conv_transpose(
            y,
            w,
            b,
            stride=stride,
            padding=pad,
            output_padding=op,
            dilation=dilation,
            groups=groups,
        )
        assert got.shape == (2, cout_t) + out_sp
        want = naive_conv_transpose(
            y,
            w,
            b,
            stride=(stride,) * nd,
            pads=[(pad, pad)] * nd,
            output_padding=(op,) * nd,
            dilation=(dilation,) * nd,
            groups=groups,
        )
        assert_close(got, want)
        # <conv(u), y> == <u, conv_transpose(y)>
        u = rng.standard_normal((2, cout_t) + out_sp)
        cu = F.conv(u, w, stride=stride, padding=pad, dilation=dilation, groups=groups)
        if cu.shape != y.shape:  # output_padding >= stride: conv sees extra positions
            continue
        lhs = np.sum(cu * y)
        rhs = np.sum(u * (got - b.reshape((1, -1) + (1,) * nd)))
        np.testing.assert_allclose(lhs, rhs, rtol=1e-10)


@pytest.mark.parametrize(
    "shape, kshape",
    [((1, 1, 31), (1, 1, 5)), ((2, 1, 12, 9), (1, 1, 4, 3)), ((1, 1, 6, 5, 7), (1, 1, 3, 2, 3))],
)
def test_single_channel_equals_scipy_correlate(rng, shape, kshape):
    x = rng.standard_normal(shape)
    w = rng.standard_normal(kshape)
    for padding, mode in (("valid", "valid"), ("full", "full")):
        got = F.conv(x, w, padding=padding)
        for i in range(shape[0]):
            want = scipy.signal.correlate(x[i, 0], w[0, 0], mode=mode)
            assert_close(got[i, 0], want)


@pytest.mark.parametrize(
    "n, k, s, d", [(10, 3, 2, 1), (11, 4, 3, 1), (7, 3, 4, 2), (9, 5, 2, 2), (5, 7, 3, 1)]
)
def test_same_at_stride_gives_ceil_and_tensorflow_padding(rng, n, k, s, d):
    x = rng.standard_normal((2, 2, n, n + 1))
    w = rng.standard_normal((3, 2, k, k))
    got = F.conv(x, w, stride=s, dilation=d, padding="same")
    assert got.shape[2:] == (-(-n // s), -(-(n + 1) // s))
    pads = []
    for size in (n, n + 1):
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        pads.append((total // 2, total - total // 2))
    want = naive_conv(x, w, stride=(s, s), pads=pads, dilation=(d, d))
    assert_close(got, want)


def test_same_at_stride_one_is_pytorch_split(rng):
    x = rng.standard_normal((1, 1, 8))
    w = rng.standard_normal((1, 1, 4))
    want = naive_conv(x, w, stride=(1,), pads=[(1, 2)], dilation=(1,))
    assert_close(F.conv(x, w, padding="same"), want)


def test_float32_stays_float32_and_mixed_is_float64(rng):
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y = F.conv(x, w, padding=1)
    assert y.dtype == np.float32
    assert_close(
        y, naive_conv(x, w, stride=(1, 1), pads=[(1, 1)] * 2, dilation=(1, 1)), dtype=np.float32
    )
    gx, gw, gb = F.conv_backward(y, x, w, padding=1)
    assert gx.dtype == gw.dtype == gb.dtype == np.float32
    assert F.conv_transpose(y, w, padding=1).dtype == np.float32
    assert F.conv(x, w.astype(np.float64)).dtype == np.float64
    assert F.conv(x.astype(np.int32), w.astype(np.float32)).dtype == np.float64


def test_inputs_unmodified_and_any_layout_accepted(rng):
    x = rng.standard_normal((2, 3, 10, 12))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    kw = dict(padding=1, padding_mode="reflect")
    want = F.conv(x, w, b, **kw)
    g = rng.standard_normal(want.shape)
    want_grads = F.conv_backward(g, x, w, **kw)
    copies = [a.copy() for a in (x, w, b, g)]
    layouts = [
        (np.asfortranarray(x), np.asfortranarray(w), b, np.asfortranarray(g)),
        (x[:, ::-1].copy()[:, ::-1], w[..., ::-1].copy()[..., ::-1], b[::-1].copy()[::-1], g),
        (x.astype(">f8"), w.astype(">f8"), b.astype(">f8"), g.astype(">f8")),
        (x.tolist(), w.tolist(), b.tolist(), g.tolist()),
    ]
    big = np.zeros((2, 6, 10, 24))
    big[:, ::2, :, ::2] = x
    layouts.append((big[:, ::2, :, ::2], w, b, g))
    ro = [a.copy() for a in (x, w, b, g)]
    for a in ro:
        a.flags.writeable = False
    layouts.append(tuple(ro))
    for xx, ww, bb, gg in layouts:
        assert_close(F.conv(xx, ww, bb, **kw), want)
        for got, ref in zip(F.conv_backward(gg, xx, ww, **kw), want_grads):
            assert_close(got, ref)
    for a, c in zip((x, w, b, g), copies):
        np.testing.assert_array_equal(a, c)


def test_need_returns_only_requested_gradients(rng):
    x = rng.standard_normal((2, 2, 6))
    w = rng.standard_normal((3, 2, 3))
    g = rng.standard_normal((2, 3, 4))
    full = F.conv_backward(g, x, w)
    for need in (("x",), ("weight",), ("bias",), ("x", "bias"), "weight"):
        got = F.conv_backward(g, x, w, need=need)
        names = (need,) if isinstance(need, str) else need
        for key, a, ref in zip(("x", "weight", "bias"), got, full):
            if key in names:
                assert_close(a, ref)
            else:
                assert a is None


@pytest.mark.parametrize(
    "xs, ws, kw",
    [
        ((2, 32, 8, 8), (64, 32, 3, 3), dict(padding=1)),  # output channels in the vectors
        ((2, 3, 40, 40), (6, 3, 5, 5), {}),  # wide grid
        ((2, 64, 12, 12), (24, 64, 3, 3), dict(stride=2)),  # im2col + GEMM
        ((2, 2, 300), (4, 2, 101), dict(method="fft")),
        ((2, 4, 5, 5), (8, 4, 5, 5), {}),  # the kernel covers the input: a matmul
    ],
)
def test_gradients_are_c_contiguous(rng, xs, ws, kw):
    # the optimizers' one-pass kernels take C-contiguous arrays only (Adam's weight update went
    # to NumPy's dozen passes for a transposed view)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    g = rng.standard_normal(F.conv(x, w, **kw).shape).astype(np.float32)
    for a in F.conv_backward(g, x, w, **kw):
        assert a.flags.c_contiguous and a.dtype == np.float32


def test_reflect_padding_sends_gradient_to_mirrored_pixels():
    # x = [a, b, c], reflect pad 1 -> [b, a, b, c, b]; kernel [1] sums everything: d/db = 3.
    x = np.array([[[1.0, 2.0, 3.0]]])
    w = np.ones((1, 1, 1))
    g = np.ones((1, 1, 5))
    gx, _, _ = F.conv_backward(g, x, w, padding=1, padding_mode="reflect")
    np.testing.assert_array_equal(gx, [[[1.0, 3.0, 1.0]]])
    gx, _, _ = F.conv_backward(g, x, w, padding=1, padding_mode="circular")
    np.testing.assert_array_equal(gx, [[[2.0, 1.0, 2.0]]])
    gx, _, _ = F.conv_backward(g, x, w, padding=1, padding_mode="replicate")
    np.testing.assert_array_equal(gx, [[[2.0, 1.0, 2.0]]])
    gx, _, _ = F.conv_backward(g, x, w, padding=1, padding_mode="zeros")
    np.testing.assert_array_equal(gx, [[[1.0, 1.0, 1.0]]])


@pytest.mark.parametrize("method", ["direct", "gemm"])
def test_both_cpu_methods_agree_with_loops(rng, method):
    # The auto rule picks one method per shape; check each on shapes it would not pick.
    xp = rng.standard_normal((2, 4, 1, 9, 11))
    w = rng.standard_normal((6, 2, 1, 3, 4))
    y = cpu_conv.forward(xp, w, None, (1, 1, 1), (1, 2, 1), 2, (1, 5, 8), method=method)
    want = naive_conv(
        xp[:, :, 0], w[:, :, 0], stride=(1, 1), pads=[(0, 0)] * 2, dilation=(2, 1), groups=2
    )
    assert_close(y[:, :, 0], want)


@pytest.mark.parametrize("method", ["direct", "gemm"])
@pytest.mark.parametrize("groups", [1, 3])
def test_both_input_gradient_methods_agree_with_finite_differences(rng, method, groups):
    # Gradient of sum(conv(xp, w) * g) with respect to the padded input xp, entry by entry.
    xp = rng.standard_normal((2, 3, 3, 6, 7))
    w = rng.standard_normal((6, 3 // groups, 2, 3, 2))
    dil = (1, 2, 1)
    osize = (2, 2, 6)
    g = rng.standard_normal((2, 6) + osize)
    got = cpu_conv.grad_input_padded(g, w, xp.shape, (1, 1, 1), dil, groups, osize, method=method)
    h = 1e-3
    for idx in [(0, 0, 0, 0, 0), (1, 2, 2, 5, 6), (0, 1, 1, 3, 2), (1, 0, 2, 0, 6)]:
        plus, minus = xp.copy(), xp.copy()
        plus[idx] += h
        minus[idx] -= h
        fp = cpu_conv.forward(plus, w, None, (1, 1, 1), dil, groups, osize, method="gemm")
        fm = cpu_conv.forward(minus, w, None, (1, 1, 1), dil, groups, osize, method="gemm")
        num = np.sum((fp - fm) * g) / (2 * h)
        np.testing.assert_allclose(got[idx], num, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("method", ["direct", "gemm"])
@pytest.mark.parametrize("groups, cout", [(1, 5), (3, 6)])
def test_both_weight_gradient_methods_agree_with_loops(rng, method, groups, cout):
    # d/dw[o, c, k] sum(conv(xp, w) * g) = sum_n sum_p g[n, o, p] * xp[n, c, p + k * dilation]
    xp = rng.standard_normal((3, 3, 3, 6, 7))
    wshape = (cout, 3 // groups, 2, 3, 2)
    dil = (1, 2, 1)
    osize = (2, 2, 6)
    g = rng.standard_normal((3, cout) + osize)
    got = cpu_conv.grad_weight(g, xp, wshape, (1, 1, 1), dil, groups, osize, method=method)
    og, cg = cout // groups, 3 // groups
    want = np.zeros(wshape)
    for o in range(cout):
        for c in range(cg):
            ch = (o // og) * cg + c
            for n in range(3):
                want[o, c] += _wgrad_loop(xp[n, ch], g[n, o], wshape[2:], dil)
    assert_close(got, want)


@pytest.mark.parametrize("groups", [1, 3])
def test_gemm_image_by_image_matches_loops_and_finite_differences(rng, monkeypatch, groups):
    """The GEMM passes image by image on each thread (chosen for big layers by
    ``_image_by_image``, forced here for small shapes) against the loop oracles and finite
    differences, with groups, dilation and stride."""
    monkeypatch.setattr(cpu_conv, "_image_by_image", lambda *a: True)
    calls = set()
    for name in ("_forward_images", "_grad_input_images", "_grad_weight_images"):
        real = getattr(cpu_conv, name)
        monkeypatch.setattr(cpu_conv, name, lambda *a, r=real, n=name: calls.add(n) or r(*a))
    test_both_cpu_methods_agree_with_loops(rng, "gemm")
    test_both_input_gradient_methods_agree_with_finite_differences(rng, "gemm", groups)
    test_both_weight_gradient_methods_agree_with_loops(rng, "gemm", groups, 5 if groups == 1 else 6)
    assert calls == {"_forward_images", "_grad_input_images", "_grad_weight_images"}
    # stride 2 (always the GEMM path) through the public functions
    x = rng.standard_normal((3, 6, 9, 8))
    w = rng.standard_normal((6, 6 // groups, 3, 2))
    b = rng.standard_normal(6)
    kw = dict(stride=2, padding=1, dilation=(1, 2), groups=groups)
    y = F.conv(x, w, b, **kw)
    pads, st, dil = [(1, 1)] * 2, (2, 2), (1, 2)
    assert_close(y, naive_conv(x, w, b, stride=st, pads=pads, dilation=dil, groups=groups))
    G = rng.standard_normal(y.shape)
    gx, gw, _ = F.conv_backward(G, x, w, **kw)
    h = 1e-3
    for arr, grad, name in ((x, gx, "x"), (w, gw, "w")):
        for idx in [(0,) * arr.ndim, tuple(n - 1 for n in arr.shape), (1, 1, 2, 1)]:
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += h
            minus[idx] -= h
            xp_, xm = (plus, minus) if name == "x" else (x, x)
            wp, wm = (plus, minus) if name == "w" else (w, w)
            num = np.sum((F.conv(xp_, wp, b, **kw) - F.conv(xm, wm, b, **kw)) * G) / (2 * h)
            np.testing.assert_allclose(grad[idx], num, rtol=1e-7, atol=1e-7, err_msg=name)


def _wgrad_loop(x, g, ksize, dil):
    out = np.zeros(ksize)
    for k in np.ndindex(*ksize):
        for p in np.ndindex(*g.shape):
            out[k] += g[p] * x[tuple(pi + ki * di for pi, ki, di in zip(p, k, dil))]
    return out


BAD = [
    (dict(x=np.zeros((2, 3))), ValueError, "x must have"),
    (dict(x=np.zeros((1, 2, 3, 3, 3, 3)), w=np.zeros((1, 2, 1, 1, 1, 1))), ValueError, "x must"),
    (dict(w=np.zeros((4, 3, 3))), ValueError, "weight must have 4 dimensions"),
    (dict(w=np.zeros((4, 2, 3, 3))), ValueError, "weight.shape[1]"),
    (dict(groups=2), ValueError, "groups=2 must divide"),
    (dict(groups=0), ValueError, "groups"),
    (dict(groups=1.5), TypeError, "groups"),
    (dict(w=np.zeros((3, 1, 3, 3)), groups=3, x=np.zeros((1, 3, 8, 8))), None, None),
    (dict(w=np.zeros((4, 1, 3, 3)), groups=3, x=np.zeros((1, 3, 8, 8))), ValueError, "output"),
    (dict(b=np.zeros(3)), ValueError, "bias must have shape (4,)"),
    (dict(stride=0), ValueError, "stride"),
    (dict(stride=(1, 2, 3)), ValueError, "stride"),
    (dict(dilation="2"), TypeError, "dilation"),
    (dict(padding=-1), ValueError, "padding"),
    (dict(padding="bogus"), ValueError, "padding"),
    (dict(padding=((1, 2, 3), 1)), TypeError, "padding"),
    (dict(padding_mode="mirror"), ValueError, "padding_mode"),
    (dict(padding=8, padding_mode="reflect"), ValueError, "smaller than the input size"),
    (dict(padding=9, padding_mode="circular"), ValueError, "at most the input size"),
    (dict(padding=9, padding_mode="symmetric"), ValueError, "at most the input size"),
    (dict(w=np.zeros((4, 3, 11, 3))), ValueError, "output would be empty"),
    (dict(x=np.zeros((1, 3, 8, 8), dtype=complex)), TypeError, "real numeric dtype"),
    (dict(x=np.zeros((0, 3, 8, 8))), ValueError, "must not be empty"),
    (dict(backend="gpu"), ValueError, "backend"),
]


@pytest.mark.parametrize("change, exc, match", BAD)
def test_bad_arguments_raise_clear_errors(change, exc, match):
    args = dict(x=np.zeros((1, 3, 8, 8)), w=np.zeros((4, 3, 3, 3)), b=None)
    args.update(change)
    x, w, b = args.pop("x"), args.pop("w"), args.pop("b")
    if exc is None:
        F.conv(x, w, b, **args)
        return
    with pytest.raises(exc, match=None if match is None else __import__("re").escape(match)):
        F.conv(x, w, b, **args)


def test_backward_and_transpose_bad_arguments():
    x = np.zeros((1, 3, 8, 8))
    w = np.zeros((4, 3, 3, 3))
    with pytest.raises(ValueError, match=r"grad_out must have the shape of conv's output"):
        F.conv_backward(np.zeros((1, 4, 7, 7)), x, w)
    with pytest.raises(ValueError, match="need must be one of"):
        F.conv_backward(np.zeros((1, 4, 6, 6)), x, w, need=("input",))
    with pytest.raises(ValueError, match=r"weight.shape\[0\] must equal"):
        F.conv_transpose(x, np.zeros((4, 2, 3, 3)))
    with pytest.raises(ValueError, match="output_padding must be smaller"):
        F.conv_transpose(x, np.zeros((3, 2, 3, 3)), stride=2, output_padding=2)
    with pytest.raises(ValueError, match="padding of conv_transpose"):
        F.conv_transpose(x, np.zeros((3, 2, 3, 3)), padding="same")
    with pytest.raises(ValueError, match="output would be empty"):
        F.conv_transpose(x, np.zeros((3, 2, 3, 3)), padding=6)
    with pytest.raises(ValueError, match="bias must have shape"):
        F.conv_transpose(x, np.zeros((3, 2, 3, 3)), np.zeros(3))


def test_cuda_backend_without_gpu_says_how_to_get_one(monkeypatch):
    from sigconv import _backend

    monkeypatch.setattr(_backend, "cuda_status", lambda: (False, "no GPU here; install ..."))
    with pytest.raises(RuntimeError, match="backend='cuda' is not available"):
        F.conv(np.zeros((1, 1, 5)), np.zeros((1, 1, 3)), backend="cuda")


FAMILIES = (conv_im2col, conv_direct, conv_wgrad)


def test_no_recompilation_on_repeated_calls(rng):
    for dt in (np.float32, np.float64):
        for padding, mode, stride in ((1, "zeros", 1), (2, "reflect", 2), ("same", "circular", 1)):
            x = rng.standard_normal((2, 4, 9, 10)).astype(dt)
            w = rng.standard_normal((4, 4, 3, 3)).astype(dt)
            y = F.conv(x, w, padding=padding, padding_mode=mode, stride=stride)
            F.conv_backward(y, x, w, padding=padding, padding_mode=mode, stride=stride)
    kernels = [
        # the compiled kernel behind each host wrapper, in the module of its family
        getattr(next(m for m in FAMILIES if hasattr(m, "_" + n)), "_" + n)
        for n in (
            "pad",
            "fold",
            "im2col",
            "col2im",
            "unchunk",
            "rechunk",
            "direct_corr_wide",
            "direct_grad_weight_wide",
            "direct_grad_weight_batch_last",
            "pad_batch_last",
            "direct_corr_batch_last",
            "unbatch_last",
        )
    ]
    before = [len(k.signatures) for k in kernels]
    for n in (1, 3, 5):
        x = rng.standard_normal((n, 4, 7 + n, 12)).astype(np.float32)
        w = rng.standard_normal((8, 2, 3, 1 + n % 3)).astype(np.float32)
        for padding, mode, stride in ((1, "zeros", 1), (2, "reflect", 2), ("same", "circular", 1)):
            y = F.conv(x, w, padding=padding, padding_mode=mode, stride=stride, groups=2)
            F.conv_backward(y, x, w, padding=padding, padding_mode=mode, stride=stride, groups=2)
            F.conv_transpose(y, w, padding=1, groups=2)
    assert [len(k.signatures) for k in kernels] == before
    # one per dtype, times read-only or writable input (test_inputs_unmodified...)
    assert all(b <= 4 for b in before)


@pytest.mark.cuda
def test_cuda_dispatch_agrees_with_cpu(rng):
    # In CI this runs in Numba's CUDA simulator (tests/conftest.py); tiny shapes keep it quick.
    from sigconv import _backend

    if not _backend.cuda_available():
        pytest.skip(_backend.cuda_status()[1])
    x = rng.standard_normal((1, 2, 5, 6))
    w = rng.standard_normal((2, 2, 3, 3))
    b = rng.standard_normal(2)
    kw = dict(padding=1, padding_mode="reflect")
    assert_close(F.conv(x, w, b, backend="cuda", **kw), F.conv(x, w, b, backend="cpu", **kw))
    g = rng.standard_normal((1, 2, 5, 6))
    for got, want in zip(
        F.conv_backward(g, x, w, backend="cuda", **kw),
        F.conv_backward(g, x, w, backend="cpu", **kw),
    ):
        assert_close(got, want)
    tk = dict(stride=2, padding=1, output_padding=1)
    assert_close(
        F.conv_transpose(x, w, b, backend="cuda", **tk),
        F.conv_transpose(x, w, b, backend="cpu", **tk),
    )


def test_chunked_gemm_path_matches_single_chunk(rng, monkeypatch):
    x = rng.standard_normal((5, 4, 9, 8))
    w = rng.standard_normal((6, 2, 3, 3))
    kw = dict(stride=2, padding=1, groups=2)  # stride 2: always the im2col + GEMM path
    y = F.conv(x, w, **kw)
    g = rng.standard_normal(y.shape)
    grads = F.conv_backward(g, x, w, **kw)
    monkeypatch.setattr(_config, "NN_CONV_COL_BYTES", 1)  # one image per chunk
    assert_close(F.conv(x, w, **kw), y)
    for got, want in zip(F.conv_backward(g, x, w, **kw), grads):
        assert_close(got, want)
    want = naive_conv(x, w, stride=(2, 2), pads=[(1, 1)] * 2, dilation=(1, 1), groups=2)
    assert_close(y, want)


@pytest.mark.parametrize(
    "xs, ws, kw",
    [
        ((5, 4, 9, 8), (6, 2, 3, 3), dict(stride=2, padding=1, groups=2)),
        ((3, 6, 7), (4, 6, 3), dict(stride=2, padding=1)),  # short 1-D rows
        ((2, 3, 5, 6, 7), (2, 3, 2, 3, 2), dict(stride=(1, 2, 2), padding=1, dilation=(2, 1, 1))),
    ],
)
def test_gemm_path_tasks_in_any_order(rng, tasks_out_of_order, xs, ws, kw):
    """im2col and col2im split their tasks (channel and tap by image; image by channel) at
    any point: five parts run out of order give the plain loops' values and gradients."""
    works = tasks_out_of_order(conv_im2col)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    nd = len(xs) - 2
    groups = kw.get("groups", 1)
    geo = {k: (v,) * nd if isinstance(v, int) else v for k, v in kw.items() if k != "groups"}
    pads = [(p, p) for p in geo.pop("padding")]
    geo.setdefault("dilation", (1,) * nd)
    y = F.conv(x, w, **kw)
    assert_close(y, naive_conv(x, w, pads=pads, groups=groups, **geo))
    g = rng.standard_normal(y.shape)
    gx, gw, _ = F.conv_backward(g, x, w, **kw)
    ke = [(k - 1) * d + 1 for k, d in zip(ws[2:], geo["dilation"])]
    extra = [n - ((o - 1) * s - 2 * p + e) for n, o, s, (p, _), e in zip(
        xs[2:], y.shape[2:], geo["stride"], pads, ke)]  # fmt: skip
    want_gx = naive_conv_transpose(g, w, pads=pads, output_padding=extra, groups=groups, **geo)
    assert_close(gx, want_gx)
    assert_close(gw, naive_conv_grad_weight(g, x, w.shape, pads=pads, groups=groups, **geo))
    assert len(works) >= 3  # im2col, col2im and the GEMM result's copies ran split


# --- direct kernel layouts (sigconv/_cpu/conv_direct.py): batch-last, wide grid, gx windows ---

BATCH_LAST = [
    # x shape, w shape, padding, dilation, groups, dtype
    ((9, 3, 7, 8), (4, 3, 3, 4), 0, 1, 1, np.float64),  # one quad of output channels
    ((8, 4, 6, 7), (6, 2, 2, 3), ((1, 2), (0, 1)), (2, 1), 2, np.float32),  # groups: 3 + 3
    ((8, 3, 5, 5), (5, 3, 3, 3), 1, 1, 1, np.float64),  # quad + single
    ((10, 2, 9, 4), (7, 2, 4, 3), (2, 1), (1, 1), 1, np.float32),  # quad + three
    ((8, 2, 4, 5, 6), (5, 2, 3, 2, 3), 1, 1, 1, np.float64),  # 3-D
    ((8, 6, 14, 14), (16, 6, 5, 5), 0, 1, 1, np.float32),  # LeNet conv2
    # rows of 64 values and more: register blocks (_simd.block_len_for) then a remainder
    ((16, 3, 7, 8), (7, 3, 3, 3), 0, 1, 1, np.float32),  # quad + three: a spare row
    ((16, 2, 6, 6), (5, 2, 3, 3), 0, 1, 1, np.float64),  # quad + single: a spare row
    ((24, 4, 8, 8), (6, 2, 3, 3), 1, (1, 2), 2, np.float32),  # groups of 3, dilation
]


def _uses_batch_last(nb, frame, osize):
    frame3 = (1,) * (3 - len(frame)) + tuple(frame)
    osize3 = (1,) * (3 - len(osize)) + tuple(osize)
    nq = cpu_conv.wide_count(frame3, osize3)
    return cpu_conv.batch_last(nb, nq, int(np.prod(osize3)))


@pytest.mark.parametrize("xs, ws, padding, dilation, groups, dtype", BATCH_LAST)
def test_batch_last_direct_path_matches_loops(rng, xs, ws, padding, dilation, groups, dtype):
    _check_batch_last(rng, xs, ws, padding, dilation, groups, dtype)


@pytest.mark.parametrize("case", [0, 4, 5])
def test_batch_last_rows_split_in_blocks_match_loops(rng, monkeypatch, case):
    # blocks of whole output columns: 40 values of a row hold 4 or 5 columns of 8-10 images
    monkeypatch.setattr(_config, "NN_CONV_CORR_BLOCK", 40)
    _check_batch_last(rng, *BATCH_LAST[case])


def _check_batch_last(rng, xs, ws, padding, dilation, groups, dtype):
    nd = len(xs) - 2
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    pads, dil = _pads(padding, nd), _tup(dilation, nd)
    kw = dict(padding=padding, dilation=dilation, groups=groups)
    y = F.conv(x, w, b, **kw)
    want = naive_conv(x, w, b, stride=(1,) * nd, pads=pads, dilation=dil, groups=groups)
    assert_close(y, want, dtype=dtype)
    # the shapes are picked so that both passes take the batch-last layout
    ke = [(k - 1) * d for k, d in zip(ws[2:], dil)]
    padded = [n + bb + a for n, (bb, a) in zip(xs[2:], pads)]
    assert ws[1] <= 8 and ws[0] // groups <= 16  # direct kernel for both (channel limits)
    assert _uses_batch_last(xs[0], padded, y.shape[2:])
    assert _uses_batch_last(xs[0], [n + e for n, e in zip(xs[2:], ke)], xs[2:])
    g = rng.standard_normal(y.shape).astype(dtype)
    gx, gw, _ = F.conv_backward(g, x, w, **kw)
    want_gx = naive_conv_transpose(
        g,
        w,
        stride=(1,) * nd,
        pads=pads,
        output_padding=(0,) * nd,
        dilation=dil,
        groups=groups,
    )
    assert gx.dtype == dtype
    assert_close(gx, want_gx, dtype=dtype)
    want_gw = naive_conv_grad_weight(
        g, x, w.shape, stride=(1,) * nd, pads=pads, dilation=dil, groups=groups
    )
    assert gw.dtype == dtype
    assert_close(gw, want_gw, dtype=dtype)


def test_batch_last_with_batch_one_and_reflect_padding(rng, monkeypatch):
    # Batch 1 only takes the layout when allowed to; reflect padding reads every frame row (the
    # zero-skipping masks are all true) and folds the gradient back (finite differences).
    monkeypatch.setattr(_config, "NN_CONV_BATCH_LAST_MIN_IMAGES", 1)
    x = rng.standard_normal((1, 2, 6, 7))
    w = rng.standard_normal((3, 2, 3, 3))
    kw = dict(padding=2, padding_mode="reflect", dilation=(1, 2))
    y = F.conv(x, w, **kw)
    want = naive_conv(
        x, w, stride=(1, 1), pads=[(2, 2)] * 2, dilation=(1, 2), padding_mode="reflect"
    )
    assert_close(y, want)
    assert _uses_batch_last(1, (10, 11), y.shape[2:])
    g = rng.standard_normal(y.shape)
    gx = F.conv_backward(g, x, w, need=("x",), **kw)[0]
    h = 1e-3
    for idx in [(0, 0, 0, 0), (0, 1, 5, 6), (0, 0, 2, 3), (0, 1, 0, 6), (0, 0, 5, 0)]:
        plus, minus = x.copy(), x.copy()
        plus[idx] += h
        minus[idx] -= h
        num = np.sum((F.conv(plus, w, **kw) - F.conv(minus, w, **kw)) * g) / (2 * h)
        np.testing.assert_allclose(gx[idx], num, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("block", [16, 40, 100000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wide_grid_blocks_and_planes_match_loops(rng, monkeypatch, block, dtype):
    # Batch 2: the wide grid. Small blocks split every output plane into several (aligned,
    # equal) blocks; 3-D outputs have several planes whose gaps are never computed.
    monkeypatch.setattr(_config, "NN_CONV_CORR_BLOCK", block)
    x = rng.standard_normal((2, 3, 5, 6, 7)).astype(dtype)
    w = rng.standard_normal((6, 3, 2, 3, 2)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    y = F.conv(x, w, b, padding=1)
    pads = [(1, 1)] * 3
    assert not _uses_batch_last(2, (7, 8, 9), y.shape[2:])
    assert_close(y, naive_conv(x, w, b, stride=(1,) * 3, pads=pads, dilation=(1,) * 3), dtype=dtype)
    g = rng.standard_normal(y.shape).astype(dtype)
    gx = F.conv_backward(g, x, w, padding=1, need=("x",))[0]
    want = naive_conv_transpose(
        g, w, stride=(1,) * 3, pads=pads, output_padding=(0,) * 3, dilation=(1,) * 3
    )
    assert_close(gx, want, dtype=dtype)


@pytest.mark.parametrize("nb", [2, 8])
@pytest.mark.parametrize(
    "padding",
    [
        ((3, 0), (1, 4)),  # more padding than the kernel reaches: the wide path's frame cannot
        ((0, 2), (2, 2)),  # hold the whole row, so it computes everything and crops
        ((2, 2), (0, 0)),
    ],
)
def test_zero_padding_input_gradient_window_matches_loops(rng, nb, padding):
    x = rng.standard_normal((nb, 2, 6, 7))
    w = rng.standard_normal((5, 2, 3, 3))
    g = rng.standard_normal(F.conv(x, w, padding=padding).shape)
    for method in ("direct", "gemm"):
        got = F.conv_backward(g, x, w, padding=padding, need=("x",))[0]
        if method == "gemm":  # the same window through im2col + GEMM
            g3, w3 = g[:, :, None], w[:, :, None]
            pshape = (nb, 2, 1) + tuple(n + a + b for n, (a, b) in zip((6, 7), padding))
            window = ((0, padding[0][0], padding[1][0]), (1, 6, 7))
            got = cpu_conv.grad_input_padded(
                g3, w3, pshape, (1, 1, 1), (1, 1, 1), 1, g3.shape[2:], "gemm", window
            )[:, :, 0]
        want = naive_conv_transpose(
            g, w, stride=(1, 1), pads=list(padding), output_padding=(0, 0), dilation=(1, 1)
        )
        assert_close(got, want, err_msg=method)


@pytest.mark.parametrize(
    "xs, ws, direct",
    [
        ((6, 16, 5, 5), (24, 16, 5, 5), False),  # LeNet conv3's shape: 1x1 outputs, 16 channels
        ((3, 16, 18, 18), (8, 16, 3, 3), True),  # 256 output pixels per image
        ((4, 4, 6, 6), (8, 4, 3, 3), True),  # few input channels: direct at any size
        ((2, 72, 18, 18), (4, 72, 3, 3), False),  # more channels than the direct limit
    ],
)
def test_weight_gradient_picks_direct_or_gemm_by_shape(rng, monkeypatch, xs, ws, direct):
    """The direct weight gradient runs for few input channels or enough output pixels per
    image (its per-task cost, 4.6x the GEMM's time on LeNet's 1x1 conv3); both paths equal the
    sum over windows (numpy's sliding windows). (8 float64 output channels are a block of the
    output-channel kernel: switched off here, test_conv_wgrad_outvec.py has it.)"""
    monkeypatch.setattr(cpu_conv, "suits_outvec", lambda *a: False)
    calls = []
    real = cpu_conv.direct_grad_weight_wide
    monkeypatch.setattr(cpu_conv, "direct_grad_weight_wide", lambda *a: calls.append(1) or real(*a))
    x = rng.standard_normal(xs)
    w = rng.standard_normal(ws)
    g = rng.standard_normal(F.conv(x, w).shape)
    gw = F.conv_backward(g, x, w, need=("weight",))[1]
    assert bool(calls) == direct
    windows = np.lib.stride_tricks.sliding_window_view(x, ws[2:], axis=(2, 3))
    assert_close(gw, np.einsum("nopq,ncpqij->ocij", g, windows))


@pytest.mark.parametrize(
    "avx512, length, direct_fwd, direct_gx",
    [
        (True, 1032, True, True),  # 1024 outputs an image: the AVX-512 limit (64 channels)
        (True, 1031, False, True),  # 1023 outputs: the base limit (8); its gradient 1031
        (True, 1000, False, False),
        (False, 4096, False, False),  # no AVX-512: the base limits (8 and 16) at any size
    ],
)
def test_forward_and_input_gradient_channel_limits(
    rng, monkeypatch, avx512, length, direct_fwd, direct_gx
):
    """16 input and 24 output channels take the direct kernels only on AVX-512 targets and for
    images of at least NN_CONV_DIRECT_AVX512_MIN_PIXELS pixels computed (the output, or the
    input gradient); both paths against SciPy. (The forward pass of these shapes is
    conv_outvec's on AVX-512: switched off here, test_conv_outvec.py has it.)"""
    monkeypatch.setattr(cpu_conv, "avx512", lambda: avx512)
    monkeypatch.setattr(_config, "NN_CONV_OUTVEC_MIN_OUT", 10**9)
    calls = []
    real = cpu_conv.corr_from_frame
    monkeypatch.setattr(cpu_conv, "corr_from_frame", lambda *a: calls.append(1) or real(*a))
    x = rng.standard_normal((2, 16, length)).astype(np.float32)
    w = rng.standard_normal((24, 16, 9)).astype(np.float32)
    y = F.conv(x, w)
    assert len(calls) == int(direct_fwd)
    xd, wd = x.astype(np.float64), w.astype(np.float64)
    want = np.array(
        [
            [sum(scipy.signal.correlate(xn[c], wo[c], "valid") for c in range(16)) for wo in wd]
            for xn in xd
        ]
    )
    assert_close(y, want)
    g = rng.standard_normal(y.shape).astype(np.float32)
    gx = F.conv_backward(g, x, w, need=("x",))[0]
    assert len(calls) == int(direct_fwd) + int(direct_gx)
    gd = g.astype(np.float64)
    want_gx = np.array(
        [
            [
                sum(scipy.signal.convolve(gn[o], wd[o, c], "full") for o in range(24))
                for c in range(16)
            ]
            for gn in gd
        ]
    )
    assert_close(gx, want_gx)


@pytest.mark.parametrize(
    "xs, ws, padding, groups, dtype",
    [
        ((7, 16, 5, 5), (12, 16, 5, 5), 0, 1, np.float32),  # LeNet-5's conv3 shape
        ((5, 4, 3, 2), (6, 2, 5, 4), ((1, 1), (1, 1)), 2, np.float64),  # padding, groups
        ((3, 2, 9), (5, 2, 9), 0, 1, np.float64),  # 1-D
        ((2, 3, 2, 3, 2), (4, 3, 2, 3, 2), 0, 1, np.float32),  # 3-D
    ],
)
def test_kernel_over_the_whole_input_is_a_dense_layer(
    rng, monkeypatch, xs, ws, padding, groups, dtype
):
    """One output per image (the kernel covers the padded input) runs as a GEMM on the images
    as rows, without im2col: the forward pass equals the plain loops, and both gradients are
    the adjoints (<g, conv(x, w)> = <gx, x> = <gw, w>)."""
    monkeypatch.setattr(
        cpu_conv, "im2col", lambda *a: pytest.fail("im2col ran for a whole-input kernel")
    )
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    nd = len(xs) - 2
    pads = [tuple(p) for p in padding] if padding else [(0, 0)] * nd
    y = F.conv(x, w, b, padding=padding, groups=groups)
    assert y.shape[2:] == (1,) * nd
    want = naive_conv(x, w, b, stride=(1,) * nd, pads=pads, dilation=(1,) * nd, groups=groups)
    assert_close(y, want, dtype=dtype)
    g = rng.standard_normal(y.shape).astype(dtype)
    gx, gw, gb = F.conv_backward(g, x, w, padding=padding, groups=groups)
    lin = float(np.vdot(g, F.conv(x, w, padding=padding, groups=groups)))
    assert_close(np.vdot(gx, x), lin, dtype=dtype)
    assert_close(np.vdot(gw, w), lin, dtype=dtype)
    assert_close(gb, g.sum(axis=tuple(i for i in range(g.ndim) if i != 1)), dtype=dtype)


# Temporaries of a call (padded input, frames, batch-last copies) live in the calling thread's
# scratch and are reused by the next call: a result must never be one of them or share memory
# with them. Both layouts (batch-last, wide grid), with padding, every gradient.
SCRATCH_CASES = [
    ((64, 6, 14, 14), (16, 6, 5, 5), 0),  # LeNet conv2: batch-last
    ((64, 1, 28, 28), (6, 1, 5, 5), 2),  # LeNet conv1: wide grid, padded
    ((3, 2, 9, 8), (4, 2, 3, 3), 1),  # small batch: wide grid
]


def _conv_all(x, w, b, g, padding):
    y = F.conv(x, w, b, padding=padding)
    gx, gw, gb = F.conv_backward(g, x, w, padding=padding)
    return y, gx, gw, gb


@pytest.mark.parametrize("xs, ws, padding", SCRATCH_CASES)
def test_results_survive_later_calls(rng, xs, ws, padding):
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in (xs, ws, ws[:1]))
    g = rng.standard_normal(F.conv(x, w, padding=padding).shape).astype(np.float32)
    first = _conv_all(x, w, b, g, padding)
    kept = [a.copy() for a in first]
    # the same shapes (the same scratch) and other shapes with other data
    second = _conv_all(-2 * x, w[::-1].copy(), b, g + 1, padding)
    for xs2, ws2, p2 in SCRATCH_CASES:
        x2, w2 = rng.standard_normal(xs2).astype(np.float32), rng.standard_normal(ws2)
        F.conv_backward(F.conv(x2, w2, padding=p2), x2, w2, padding=p2)
    for a, k in zip(first, kept):
        np.testing.assert_array_equal(a, k)
    for a in first:
        assert not any(np.shares_memory(a, s) for s in second)
    nd = len(xs) - 2
    pads = _pads(padding, nd)
    want = naive_conv(x, w, b, stride=(1,) * nd, pads=pads, dilation=(1,) * nd, groups=1)
    assert_close(first[0], want, dtype=np.float32)


def test_threads_keep_their_own_temporaries(rng):
    from concurrent.futures import ThreadPoolExecutor

    xs, ws, padding = SCRATCH_CASES[0]
    data = [
        tuple(rng.standard_normal(s).astype(np.float32) for s in (xs, ws, ws[:1], (64, 16, 10, 10)))
        for _ in range(4)
    ]
    want = [_conv_all(*d, padding) for d in data]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            got = list(pool.map(lambda d: _conv_all(*d, padding), data))
            for gt, wt in zip(got, want):
                for a, c in zip(gt, wt):
                    np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("shape", [(3, 5, 7), (2, 4, 6, 9), (2, 3, 2, 3, 17)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_gradient_is_the_float64_sum(rng, tasks_out_of_order, shape, dtype):
    """The bias gradient sums every image and pixel of a channel (any split of the channels
    over the threads) to float64 accuracy."""
    tasks_out_of_order(conv_wgrad)
    g = (rng.standard_normal(shape) * 10 ** rng.uniform(-3, 3, shape)).astype(dtype)
    x = rng.standard_normal((shape[0], 2) + shape[2:]).astype(dtype)
    w = rng.standard_normal((shape[1], 2) + (1,) * (len(shape) - 2)).astype(dtype)
    gb = F.conv_backward(g, x, w, need=("bias",))[2]
    axes = tuple(a for a in range(g.ndim) if a != 1)
    want = g.astype(np.float64).sum(axis=axes)
    assert gb.dtype == dtype
    # float64 summation in any order, then one rounding to the dtype
    bound = g.size * np.finfo(np.float64).eps * np.abs(g).astype(np.float64).sum(axis=axes)
    bound += np.finfo(dtype).eps * np.abs(want)
    assert np.all(np.abs(gb - want) <= bound)


def test_a_repeated_call_skips_the_checks_but_not_their_answers(rng, monkeypatch):
    # F.conv / F.conv_backward keep the plan of a call with host float arrays and plain options;
    # an equal call then goes straight to the backend. Checked against the loops, with the
    # validation counted (it must run for the first call of each key and for every refusal).
    from sigconv import _validate

    checks = []
    real = _validate.operand
    monkeypatch.setattr(_validate, "operand", lambda *a, **k: checks.append(1) or real(*a, **k))
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    g = rng.standard_normal((2, 4, 5, 5)).astype(np.float32)
    kw = dict(stride=2, padding=1, dilation=1, padding_mode="reflect")
    geo = dict(stride=(2, 2), pads=[(1, 1)] * 2, dilation=(1, 1), padding_mode="reflect")
    want = naive_conv(x, w, b, **geo)
    first = F.conv(x, w, b, **kw)
    n = len(checks)
    again = F.conv(x, w, b, **kw)
    assert len(checks) == n  # known: no validation
    assert_close(first, want, dtype=np.float32)
    np.testing.assert_array_equal(again, first)
    assert again.dtype == np.float32 and not np.shares_memory(again, first)
    # the same key with other arrays: a strided view, a read-only array, other values
    view = np.repeat(x, 2, axis=3)[..., ::2]
    assert_close(F.conv(view, w, b, **kw), want, dtype=np.float32)
    ro = w.copy()
    ro.flags.writeable = False
    assert_close(F.conv(x, ro, b, **kw), want, dtype=np.float32)
    assert_close(F.conv(2 * x, w, 2 * b, **kw), 2 * want, dtype=np.float32)
    assert len(checks) == n
    # the backward pass: a key per set of gradients
    gx, gw, gb = F.conv_backward(g, x, w, **kw)
    n = len(checks)
    gx2, gw2, gb2 = F.conv_backward(g, x, w, **kw)
    only_w = F.conv_backward(g, x, w, **kw, need=("weight",))
    assert len(checks) == n + 3  # a new key for need=("weight",) is checked
    np.testing.assert_array_equal(gx2, gx)
    np.testing.assert_array_equal(gw2, gw)
    np.testing.assert_array_equal(gb2, gb)
    assert only_w[0] is None and only_w[2] is None
    np.testing.assert_array_equal(only_w[1], gw)
    # the weight gradient is linear: <gw, v> = <g, conv(x, v)> for any v (loops' conv)
    v = rng.standard_normal(w.shape)
    want_dot = np.vdot(g.astype(np.float64), naive_conv(x.astype(np.float64), v, **geo))
    assert np.vdot(gw.astype(np.float64), v) == pytest.approx(want_dot, rel=1e-4)
    # refusals are refused every time, and other spellings take the checked path
    for _ in range(2):
        with pytest.raises(ValueError, match="bias"):
            F.conv(x, w, b[:3], **kw)
        with pytest.raises(ValueError, match="grad_out"):
            F.conv_backward(g[:, :, :4], x, w, **kw)
        with pytest.raises(ValueError, match="padding_mode"):
            F.conv(x, w, b, **{**kw, "padding_mode": "Reflect"})
        with pytest.raises(TypeError, match="stride"):
            F.conv(x, w, b, **{**kw, "stride": True})
        with pytest.raises(ValueError, match="backend"):
            F.conv(x, w, b, **kw, backend="gpu")
    n = len(checks)
    assert_close(F.conv(x, w, b, **{**kw, "stride": (2, 2)}), want, dtype=np.float32)
    assert_close(F.conv(x.astype(np.float64), w, b, **kw), want)
    y64 = F.conv(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), **kw)
    assert y64.dtype == np.float64  # another key: all float64
    assert_close(y64, want)
    assert len(checks) == n + 9

"""Hypothesis grid: conv values and gradients equal PyTorch (float64 autograd).

Dims 1-3, strides, dilations, paddings (int, per-axis, per-side pairs via F.pad, 'same' at
stride 1, 'valid', 'full'), groups (depthwise included) and every padding mode (PyTorch's F.pad
modes; 'symmetric' through numpy.pad + a valid conv), plus conv_transpose.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sigconv.nn import functional as F
from tests.tolerance import assert_close

torch = pytest.importorskip("torch")
TF = torch.nn.functional
TORCH_MODE = {"reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def _torch_conv(nd):
    return (TF.conv1d, TF.conv2d, TF.conv3d)[nd - 1]


@st.composite
def problems(draw):
    nd = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cg = draw(st.integers(1, 2))
    og = draw(st.integers(1, 2))
    depthwise = draw(st.booleans()) and groups > 1
    if depthwise:
        cg = 1
    cin, cout = cg * groups, og * groups
    max_side = (9, 6, 4)[nd - 1]
    ksize = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    ke = [(k - 1) * d + 1 for k, d in zip(ksize, dilation)]
    spatial = tuple(draw(st.integers(1, max_side)) for _ in range(nd))
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular", "symmetric"]))
    kind = draw(st.sampled_from(["int", "axis", "pairs", "valid", "same", "full"]))
    if kind == "same" and mode == "zeros":
        stride = (1,) * nd  # compared with PyTorch, which takes 'same' at stride 1 only
    if kind == "int":
        padding = draw(st.integers(0, 3))
        pads = [(padding, padding)] * nd
    elif kind == "axis":
        padding = tuple(draw(st.integers(0, 3)) for _ in range(nd))
        pads = [(p, p) for p in padding]
    elif kind == "pairs":
        padding = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(nd))
        pads = list(padding)
    elif kind == "valid":
        padding, pads = "valid", [(0, 0)] * nd
    elif kind == "full":
        padding, pads = "full", [(e - 1, e - 1) for e in ke]
    else:
        padding, pads = "same", [(e // 2, e // 2) for e in ke]  # bounds; recomputed below
    # Padding modes other than zeros need padding below the input size (PyTorch's rule), and
    # the output must not be empty; 'same' pads depend on the final size.
    if mode != "zeros":
        spatial = tuple(max(n, e, b + 1, a + 1) for n, e, (b, a) in zip(spatial, ke, pads))
    else:
        spatial = tuple(max(n, e - b - a) for n, e, (b, a) in zip(spatial, ke, pads))
    if kind == "same":
        pads = []
        for n, e, s in zip(spatial, ke, stride):
            total = max((-(-n // s) - 1) * s + e - n, 0)
            pads.append((total // 2, total - total // 2))
    n = draw(st.integers(1, 2))
    return dict(
        nd=nd,
        n=n,
        cin=cin,
        cout=cout,
        groups=groups,
        ksize=ksize,
        stride=stride,
        dilation=dilation,
        spatial=spatial,
        mode=mode,
        padding=padding,
        pads=pads,
        seed=draw(st.integers(0, 2**16)),
    )


def _reference(p, x, w, b, g):
    """PyTorch value and gradients: explicit padding (F.pad or numpy 'symmetric'), valid conv."""
    nd = p["nd"]
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    if p["mode"] == "symmetric":
        # numpy.pad's 'symmetric' as an index gather, so autograd folds the gradient back.
        idx = [np.pad(np.arange(n), pr, mode="symmetric") for n, pr in zip(p["spatial"], p["pads"])]
        xp = tx
        for axis, ix in enumerate(idx):
            xp = torch.index_select(xp, 2 + axis, torch.tensor(ix))
    else:
        flat = []
        for before, after in reversed(p["pads"]):
            flat += [before, after]
        mode = "constant" if p["mode"] == "zeros" else TORCH_MODE[p["mode"]]
        xp = TF.pad(tx, flat, mode=mode)
    y = _torch_conv(nd)(xp, tw, tb, stride=p["stride"], dilation=p["dilation"], groups=p["groups"])
    y.backward(torch.tensor(g))
    return y.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()


@given(problems())
def test_conv_values_and_gradients_equal_pytorch(p):
    rng = np.random.default_rng(p["seed"])
    x = rng.standard_normal((p["n"], p["cin"]) + p["spatial"])
    w = rng.standard_normal((p["cout"], p["cin"] // p["groups"]) + p["ksize"])
    b = rng.standard_normal(p["cout"])
    kw = dict(
        stride=p["stride"],
        padding=p["padding"],
        dilation=p["dilation"],
        groups=p["groups"],
        padding_mode=p["mode"],
    )
    y = F.conv(x, w, b, **kw)
    g = rng.standard_normal(y.shape)
    ty, tgx, tgw, tgb = _reference(p, x, w, b, g)
    assert_close(y, ty)
    gx, gw, gb = F.conv_backward(g, x, w, **kw)
    assert_close(gx, tgx)
    assert_close(gw, tgw)
    assert_close(gb, tgb)


def test_same_with_zeros_equals_pytorch_same(rng):
    x = rng.standard_normal((2, 3, 10, 7))
    w = rng.standard_normal((4, 3, 4, 3))
    want = TF.conv2d(torch.tensor(x), torch.tensor(w), padding="same", dilation=(2, 1))
    assert_close(F.conv(x, w, padding="same", dilation=(2, 1)), want.numpy())


@given(
    nd=st.integers(1, 3),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    padding=st.integers(0, 2),
    groups=st.sampled_from([1, 2]),
    extra=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_conv_transpose_equals_pytorch(nd, stride, dilation, padding, groups, extra, seed):
    rng = np.random.default_rng(seed)
    spatial = tuple(rng.integers(1, (7, 5, 4)[nd - 1] + 1, size=nd))
    ksize = tuple(rng.integers(1, 4, size=nd))
    output_padding = extra % max(stride, dilation)
    cin, og = 2 * groups, int(rng.integers(1, 3))
    x = rng.standard_normal((2, cin) + spatial)
    w = rng.standard_normal((cin, og) + ksize)
    b = rng.standard_normal(og * groups)
    out = [
        (n - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1
        for n, k in zip(spatial, ksize)
    ]
    if min(out) <= 0:
        with pytest.raises(ValueError, match="output would be empty"):
            F.conv_transpose(
                x,
                w,
                b,
                stride=stride,
                padding=padding,
                dilation=dilation,
                output_padding=output_padding,
                groups=groups,
            )
        return
    fn = (TF.conv_transpose1d, TF.conv_transpose2d, TF.conv_transpose3d)[nd - 1]
    want = fn(
        torch.tensor(x),
        torch.tensor(w),
        torch.tensor(b),
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        groups=groups,
        dilation=dilation,
    ).numpy()
    got = F.conv_transpose(
        x,
        w,
        b,
        stride=stride,
        padding=padding,
        dilation=dilation,
        output_padding=output_padding,
        groups=groups,
    )
    assert_close(got, want)


def test_float32_matches_pytorch_float32(rng):
    x = rng.standard_normal((4, 6, 14, 14)).astype(np.float32)
    w = rng.standard_normal((16, 6, 5, 5)).astype(np.float32)
    y = F.conv(x, w)
    assert y.dtype == np.float32
    want = TF.conv2d(torch.tensor(x), torch.tensor(w)).numpy()
    assert_close(y, want, dtype=np.float32)

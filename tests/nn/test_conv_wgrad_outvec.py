"""The weight gradient with the output channels in the vectors
(``conv_wgrad.direct_grad_weight_outvec``), through ``F.conv_backward``, against the
plain-loop oracle (tests/nn/naive_conv.py).

Every case asserts that it took the kernel, so the grid covers what it does differently: a
last block of taps with missing slots, several blocks of output channels, each register
block (four, two or one vector of output channels), float64's 8 lanes,
dilation, 1-D to 3-D, rows split into pieces and chunks that gather pieces of several images,
large images with few input channels, and the tasks split over the batch or over the blocks
of taps.
"""

import numpy as np
import pytest

from sigconv import _config
from sigconv._cpu import conv_wgrad
from sigconv._cpu._simd import avx512
from sigconv.nn import functional as F
from tests.nn.checks import weight_gradient_matches_loops
from tests.nn.naive_conv import naive_conv_grad_weight
from tests.tolerance import assert_close

pytestmark = pytest.mark.skipif(not avx512(), reason="the kernel needs AVX-512")

CASES = [
    # x shape, weight shape, padding, dilation, dtype
    ((2, 3, 8, 8), (64, 3, 3, 3), 1, 1, np.float32),  # 27 taps: the last block has 3
    ((3, 2, 7, 9), (32, 2, 2, 3), 0, (2, 1), np.float64),  # 32 float64: four vectors, dilation
    ((2, 3, 6, 7), (48, 3, 2, 2), 1, 1, np.float64),  # 48 float64: three blocks of two vectors
    ((2, 4, 30), (64, 4, 5), 2, 2, np.float32),  # 1-D
    ((2, 2, 4, 5, 6), (32, 2, 2, 2, 3), 1, 1, np.float64),  # 3-D
    ((2, 2, 6, 6), (128, 2, 3, 3), 1, 1, np.float32),  # four blocks of channels
    ((20, 16, 5, 5), (32, 16, 3, 3), 0, 1, np.float32),  # 144 taps, one block of channels
    # 7 outputs an image, eight splits of 20 images: a chunk gathers the rows of 19 images,
    # the next one the last image
    ((160, 8, 7), (64, 8, 3), 1, 1, np.float32),
    # two rows of 299 outputs: pieces of 128, 128 and 43; a chunk gathers a row's last piece
    # and the next row's first
    ((1, 5, 3, 307), (32, 5, 2, 9), 0, 1, np.float32),
    # 20x20 outputs, 16 channels x 9 taps: large images take the kernel
    ((2, 16, 22, 22), (32, 16, 3, 3), 0, 1, np.float32),
    # one image: the tasks split the 6 blocks of taps, not the batch
    ((1, 8, 12, 12), (32, 8, 3, 3), 1, 1, np.float32),
    # one vector of output channels (the twenty-four-by-one block): LeNet conv2's 150 taps in
    # blocks of 24; 8 float64 channels, 9 taps (one block, 15 empty slots); three blocks of 16
    ((9, 6, 14, 14), (16, 6, 5, 5), 0, 1, np.float32),
    ((3, 1, 8, 8), (8, 1, 3, 3), 1, 1, np.float64),
    ((2, 2, 9, 7), (48, 2, 2, 3), 1, (1, 2), np.float32),
    # 16 channels on large images: 18x18 outputs from 8 input channels (72 taps), 1-D
    ((2, 8, 20, 20), (16, 8, 3, 3), 0, 1, np.float32),
    ((3, 5, 400), (16, 5, 9), 4, 1, np.float32),
]


@pytest.fixture
def calls(driver_calls):
    return driver_calls("direct_grad_weight_outvec")


def _check(rng, calls, xs, ws, padding, dilation, dtype):
    nd = len(xs) - 2
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    g = rng.standard_normal(F.conv(x, w, padding=padding, dilation=dilation).shape).astype(dtype)
    x.flags.writeable = False
    g.flags.writeable = False
    gw = F.conv_backward(g, x, w, padding=padding, dilation=dilation, need=("weight",))[1]
    assert calls == [1]
    assert gw.dtype == dtype and gw.shape == w.shape
    dil = (dilation,) * nd if isinstance(dilation, int) else tuple(dilation)
    want = naive_conv_grad_weight(
        g, x, w.shape, stride=(1,) * nd, pads=[(padding, padding)] * nd, dilation=dil
    )
    assert_close(gw, want, dtype=dtype)


@pytest.mark.parametrize("xs, ws, padding, dilation, dtype", CASES)
def test_weight_gradient_matches_loops(rng, calls, xs, ws, padding, dilation, dtype):
    _check(rng, calls, xs, ws, padding, dilation, dtype)


@pytest.mark.parametrize("case", [0, 5, 6, 7, 8, 10, 11, 14])
def test_tasks_in_any_order(rng, tasks_out_of_order, calls, case):
    tasks_out_of_order(conv_wgrad)
    _check(rng, calls, *CASES[case])


@pytest.mark.parametrize(
    "xs, ws, kw",
    [
        ((2, 3, 8, 8), (40, 3, 3, 3), {}),  # 40 channels: not whole blocks of 16
        ((2, 3, 17, 17), (64, 3, 3, 3), dict(padding=1)),  # 289 outputs a channel, 27 taps
        # 289 outputs, 32 output channels (the two-vector block) from 40 input channels
        ((2, 40, 17, 17), (32, 40, 1, 1), dict(padding=1)),
        # 289 outputs, 16 output channels (one vector) from 40 input channels; 25 taps
        ((2, 40, 17, 17), (16, 40, 1, 1), dict(padding=1)),
        ((2, 1, 30, 30), (16, 1, 5, 5), {}),
        # 289 outputs, 64 output channels (four vectors) from 160 input channels
        ((1, 160, 17, 17), (64, 160, 1, 1), dict(padding=1)),
        ((2, 4, 8, 8), (64, 2, 3, 3), dict(groups=2)),
        ((2, 3, 12, 12), (64, 3, 3, 3), dict(stride=2)),
    ],
)
def test_other_shapes_take_the_other_kernels(rng, calls, xs, ws, kw):
    weight_gradient_matches_loops(rng, xs, ws, kw)
    assert calls == []


def test_batch_split_bounded_by_memory(rng, calls, monkeypatch):
    # partial sums of one split past the budget: one split, the tasks split the blocks of taps
    monkeypatch.setattr(conv_wgrad, "_SPLIT_BYTES", 1)
    _check(rng, calls, (6, 4, 9, 9), (64, 4, 3, 3), 1, 1, np.float32)


def test_threshold_comes_from_config(monkeypatch):
    suits = conv_wgrad.suits_outvec
    one = (1, 1, 1)
    assert suits(64, 1, one, 4, 256, 512, 4608)  # small images: any channels
    assert suits(64, 1, one, 4, 3136, 64, 576)  # large images, four vectors, 64 channels
    assert not suits(64, 1, one, 4, 3136, 256, 2304)  # four vectors, 256 channels: GEMM
    assert not suits(32, 1, one, 4, 3136, 64, 576)  # two vectors, 64 channels: GEMM
    assert suits(32, 1, one, 4, 3136, 32, 288)  # two vectors, few channels, enough taps
    assert not suits(64, 1, one, 4, 3136, 3, 27)  # too few taps
    assert suits(16, 1, one, 8, 64, 2, 18)  # float64: 16 channels a block
    assert suits(16, 1, one, 4, 64, 2, 18)  # float32: one vector
    assert suits(16, 1, one, 4, 3136, 8, 72)  # one vector, few channels, enough taps
    assert not suits(16, 1, one, 4, 3136, 64, 576)  # one vector, 64 channels
    assert not suits(8, 1, one, 4, 64, 2, 18)  # half a vector
    assert suits(8, 1, one, 8, 64, 2, 18)  # float64: a whole one
    assert not suits(64, 2, one, 4, 64, 2, 18)
    assert not suits(64, 1, (1, 1, 2), 4, 64, 2, 18)
    monkeypatch.setattr(_config, "NN_CONV_WGRAD_OUTVEC_MAX_PIXELS", 64)
    assert not suits(64, 1, one, 4, 65, 64, 27)
    monkeypatch.setattr(_config, "NN_CONV_WGRAD_OUTVEC_MIN_TAPS", 600)
    assert not suits(64, 1, one, 4, 3136, 64, 576)
    monkeypatch.setattr(_config, "NN_CONV_WGRAD_OUTVEC_MIN_TAPS", 36)
    monkeypatch.setattr(_config, "NN_CONV_WGRAD_OUTVEC_MAX_CHANNELS", 32)
    assert not suits(64, 1, one, 4, 3136, 64, 576)
    monkeypatch.setattr(_config, "NN_CONV_WGRAD_OUTVEC_MAX_CHANNELS_2", 16)
    assert not suits(32, 1, one, 4, 3136, 32, 288)
    monkeypatch.setattr(conv_wgrad, "avx512", lambda: False)
    assert not suits(64, 1, one, 4, 64, 2, 18)


def test_no_recompilation_across_shapes(rng):
    kernels = [
        conv_wgrad._outvec_six_by_four,
        conv_wgrad._outvec_twelve_by_two,
        conv_wgrad._outvec_twentyfour_by_one,
    ]
    for dt, nouts in ((np.float32, (64, 32, 16)), (np.float64, (32, 16, 8))):
        for nout in nouts:
            x = rng.standard_normal((2, 2, 6, 6)).astype(dt)
            w = rng.standard_normal((nout, 2, 3, 3)).astype(dt)
            F.conv_backward(F.conv(x, w), x, w, need=("weight",))
    before = [len(k.signatures) for k in kernels]
    assert all(before)  # every block compiled
    for n, k, nout in ((3, 2, 64), (4, 5, 128), (3, 3, 96), (5, 1, 32), (2, 3, 16), (4, 2, 48)):
        x = rng.standard_normal((n, 3, 7, 6 + k)).astype(np.float32)
        w = rng.standard_normal((nout, 3, k, 2)).astype(np.float32)
        g = rng.standard_normal(F.conv(x, w, padding=1, dilation=(2, 1)).shape)
        F.conv_backward(g.astype(np.float32), x, w, padding=1, dilation=(2, 1), need=("weight",))
    assert [len(k.signatures) for k in kernels] == before

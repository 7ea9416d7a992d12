"""Unit tests of sigconv._geometry against SciPy, PyTorch's and TensorFlow's rules."""

import math

import numpy as np
import pytest
import scipy.signal as sps

from sigconv import _geometry as geo


@pytest.mark.parametrize(("k", "d", "want"), [(1, 1, 1), (3, 1, 3), (3, 2, 5), (4, 3, 10)])
def test_effective_size(k, d, want):
    assert geo.effective_size(k, d) == want


@pytest.mark.parametrize(
    ("n", "s", "want"), [(0, 2, 0), (1, 3, 1), (5, 1, 5), (5, 2, 3), (6, 2, 3)]
)
def test_strided_count(n, s, want):
    assert geo.strided_count(n, s) == want
    assert geo.strided_count(n, s) == len(range(0, n, s))


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize(("n", "k"), [(10, 3), (10, 4), (4, 9), (1, 1), (7, 7), (2, 5)])
def test_signal_geometry_stride1_matches_scipy_sizes(n, k, mode):
    (g,) = geo.signal_geometry((n,), (k,), mode, (1,), (1,))
    assert g.n_out == sps.correlate(np.ones(n), np.ones(k), mode).shape[0]
    # The padded length is exactly what the valid correlation consumes.
    assert n + g.pad_before + g.pad_after - k + 1 == g.n_out


def test_signal_geometry_same_pads_scipy_centring():
    # SciPy centres 'same' so that an even kernel has the larger half before the output.
    (g,) = geo.signal_geometry((10,), (4,), "same", (1,), (1,))
    assert (g.pad_before, g.pad_after) == (2, 1)
    (g,) = geo.signal_geometry((10,), (3,), "same", (1,), (2,))  # Ke = 5
    assert (g.pad_before, g.pad_after) == (2, 2)


@pytest.mark.parametrize("s", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [1, 5, 8, 9])
def test_signal_geometry_stride(n, s):
    (full,) = geo.signal_geometry((n,), (3,), "full", (1,), (1,))
    (g,) = geo.signal_geometry((n,), (3,), "full", (s,), (1,))
    assert g.n_out == len(range(0, full.n_out, s))
    (g,) = geo.signal_geometry((n,), (3,), "same", (s,), (1,))
    assert g.n_out == math.ceil(n / s)


def test_signal_geometry_valid_swap_and_error():
    (g,) = geo.signal_geometry((4,), (9,), "valid", (1,), (1,))
    assert g == geo.AxisGeometry(5, 5, 6)
    with pytest.raises(ValueError, match="valid"):
        geo.signal_geometry((5, 3), (3, 5), "valid", (1, 1), (1, 1))
    # Dilation makes the kernel the larger operand.
    (g,) = geo.signal_geometry((4,), (3,), "valid", (1,), (3,))
    assert g.n_out == 7 - 4 + 1


def _tf_same(n, k, s, d):
    """TensorFlow's 'SAME': ceil(n / s) outputs, total pad max((out-1)*s + Ke - n, 0)."""
    ke = (k - 1) * d + 1
    out = -(-n // s)
    total = max((out - 1) * s + ke - n, 0)
    return total // 2, total - total // 2


@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("s", [2, 3])
@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [1, 6, 7, 10])
def test_nn_padding_same_strided_is_tensorflow_rule(n, k, s, d):
    (pads,) = geo.nn_padding("same", (n,), (k,), (s,), (d,))
    assert pads == _tf_same(n, k, s, d)
    assert geo.nn_output_size(n, pads, k, s, d) == math.ceil(n / s)


# PyTorch warns that an even extent pads by a copy of the input: the oracle's cost, not ours
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize(("k", "d"), [(1, 1), (2, 1), (3, 1), (4, 1), (3, 2), (2, 3)])
def test_nn_padding_same_stride1_is_pytorch_split(k, d):
    torch = pytest.importorskip("torch")
    n = 9
    ke = (k - 1) * d + 1
    (pads,) = geo.nn_padding("same", (n,), (k,), (1,), (d,))
    assert pads == ((ke - 1) // 2, ke - 1 - (ke - 1) // 2)
    x = torch.randn(1, 1, n, dtype=torch.float64)
    w = torch.randn(1, 1, k, dtype=torch.float64)
    want = torch.nn.functional.conv1d(x, w, padding="same", dilation=d)
    xp = torch.nn.functional.pad(x, pads)
    got = torch.nn.functional.conv1d(xp, w, dilation=d)
    assert torch.allclose(got, want)


def test_nn_padding_forms():
    assert geo.nn_padding(2, (5, 6), (3, 3), (1, 1), (1, 1)) == [(2, 2), (2, 2)]
    assert geo.nn_padding((1, 2), (5, 6), (3, 3), (1, 1), (1, 1)) == [(1, 1), (2, 2)]
    assert geo.nn_padding(((0, 1), (2, 3)), (5, 6), (3, 3), (1, 1), (1, 1)) == [(0, 1), (2, 3)]
    assert geo.nn_padding("valid", (5,), (3,), (1,), (1,)) == [(0, 0)]
    assert geo.nn_padding("full", (5,), (3,), (1,), (2,)) == [(4, 4)]


@pytest.mark.parametrize(
    ("padding", "exc"),
    [
        ("wide", ValueError),
        (-1, ValueError),
        ((1,), ValueError),
        (1.5, TypeError),
        (((1, 2, 3), 1), TypeError),
    ],
)
def test_nn_padding_bad(padding, exc):
    with pytest.raises(exc, match="padding"):
        geo.nn_padding(padding, (5, 6), (3, 3), (1, 1), (1, 1))


@pytest.mark.parametrize(
    ("n", "pads", "k", "s", "d"), [(10, (1, 1), 3, 2, 1), (7, (0, 0), 3, 1, 3)]
)
def test_nn_output_size_matches_torch(n, pads, k, s, d):
    torch = pytest.importorskip("torch")
    x = torch.zeros(1, 1, n + pads[0] + pads[1])
    y = torch.nn.functional.conv1d(x, torch.zeros(1, 1, k), stride=s, dilation=d)
    assert geo.nn_output_size(n, pads, k, s, d) == y.shape[-1]


def test_conv_plans_are_cached_by_the_types_and_values_of_their_arguments():
    shapes = ((2, 3, 8, 8), (4, 3, 3, 3))
    plan = geo.conv_plan(*shapes, 1, 1, 1, 1, "zeros", np.float32)
    assert geo.conv_plan(*shapes, 1, 1, 1, 1, "zeros", np.float32) is plan
    # what validation refuses is refused every time, after an equal valid argument was cached
    for stride in (True, 1.0, (1, True), (1.0, 1)):
        for _ in range(2):
            with pytest.raises(TypeError, match="stride"):
                geo.conv_plan(*shapes, stride, 1, 1, 1, "zeros", np.float32)
    with pytest.raises(TypeError, match="groups"):
        geo.conv_plan(*shapes, 1, 1, 1, True, "zeros", np.float32)
    # other spellings of the same geometry plan alike; an unhashable one (an array) uncached
    for stride in ([1, 1], (1, 1), np.int64(1), np.array([1, 1])):
        assert geo.conv_plan(*shapes, stride, 1, 1, 1, "zeros", np.float32) == plan
    other = geo.conv_plan(*shapes, 2, 1, 1, 1, "zeros", np.float32)
    assert other.out == (4, 4) and plan.out == (8, 8)


def test_correlate_plans_are_cached_by_the_types_and_values_of_their_arguments():
    def plan(mode="same", stride=1, dilation=1, boundary="constant", cval=0.0, method="auto"):
        return geo.correlate_plan(
            (5, 40, 30), (3, 3), mode, stride=stride, dilation=dilation, boundary=boundary,
            cval=cval, flip=False, method=method, dtype=np.float32,
        )  # fmt: skip

    first = plan()
    assert plan() is first
    assert first.out_shape == (5, 40, 30)
    # what validation refuses is refused every time, after an equal valid argument was cached
    refused = [
        ({"stride": True}, TypeError, "stride"),
        ({"stride": (1, 1.0)}, TypeError, "stride"),
        ({"dilation": 1.0}, TypeError, "dilation"),
        ({"cval": True}, TypeError, "cval"),
        ({"cval": np.inf}, ValueError, "cval"),
        ({"mode": ("same",)}, TypeError, "mode"),
        ({"mode": "Same"}, ValueError, "mode"),
        ({"boundary": "zero"}, ValueError, "boundary"),
        ({"method": None}, TypeError, "method"),
    ]
    for options, error, name in refused:
        for _ in range(2):
            with pytest.raises(error, match=name):
                plan(**options)
    # other spellings of the same geometry plan alike; an unhashable one (an array) uncached
    for stride in ([1, 1], (1, 1), np.int64(1), np.array([1, 1])):
        assert plan(stride=stride) == first
    assert plan(cval=0) == first and plan(cval=np.float32(0)) == first
    assert plan(stride=2).out_shape == (5, 20, 15)
    assert plan(mode="full").out_shape == (5, 42, 32)
    # the memo is each plan's own
    plan(stride=2).memo["probe"] = 1
    assert "probe" not in first.memo


def test_pool_plans_are_cached_by_the_types_and_values_of_their_arguments():
    shape = (2, 3, 9, 8)
    plan = geo.pool_plan(shape, np.float32, 2, None, 1, 1, False, check_windows=True)
    assert geo.pool_plan(shape, np.float32, 2, None, 1, 1, False, check_windows=True) is plan
    assert plan.out == (5, 5)
    for _ in range(2):  # refused every time after the valid spelling was cached
        with pytest.raises(TypeError, match="kernel_size"):
            geo.pool_plan(shape, np.float32, True, None, 1, 1, False)
        with pytest.raises(TypeError, match="ceil_mode"):
            geo.pool_plan(shape, np.float32, 2, None, 1, 1, 1)
        with pytest.raises(ValueError, match="only padding"):
            geo.pool_plan((1, 1, 2), np.float32, 2, 1, 1, 3, False, check_windows=True)
    # the window check and each kind's options are part of the key
    assert geo.pool_plan((1, 1, 2), np.float32, 2, 1, 1, 3, False).out == (1,)
    lp = geo.pool_plan(shape, np.float32, 2, None, 0, 1, False, norm_type=2.0)
    assert lp.norm_type == 2.0
    assert geo.pool_plan(shape, np.float32, 2, None, 0, 1, False, norm_type=3.0).norm_type == 3.0
    assert geo.pool_plan(shape, np.float64, 2, None, 1, 1, False).dtype == np.float64
    assert geo.pool_plan(shape, np.float32, 2, np.array([1, 1]), 1, 1, False).out == (10, 9)

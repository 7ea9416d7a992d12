"""The CUDA signal backend (sigconv._cuda.correlation) against SciPy, the loop oracle and the CPU.

Runs in Numba's CUDA simulator with blocks of a few threads (tests/cuda/conftest.py), so every
input here is tiny: a few hundred outputs at most.
"""

import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.signal as sps
from hypothesis import given, settings
from hypothesis import strategies as st

from sigconv import _backend, _config
from sigconv.signal import convolve, correlate
from tests import naive
from tests.cuda.conftest import SIMULATED, numba_cuda, spy_launches, to_host
from tests.tolerance import assert_close

pytestmark = pytest.mark.cuda

DTYPES = [np.float32, np.float64]
BOUNDARIES = ["constant", "reflect", "mirror", "nearest", "wrap"]


def _cuda(fn, x, w, *args, **kw):
    return fn(x, w, *args, backend="cuda", **kw)


# --- SciPy: every mode, 1-3 dims, both dtypes, correlate and convolve -------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize(
    "xshape,wshape",
    [((17,), (4,)), ((9, 11), (3, 4)), ((5, 6, 4), (2, 3, 2)), ((3, 4), (5, 6))],
    ids=["1d", "2d", "3d", "2d-kernel-larger"],
)
def test_matches_scipy(xshape, wshape, mode, dtype, rng):
    x = rng.standard_normal(xshape).astype(dtype)
    w = rng.standard_normal(wshape).astype(dtype)
    got = _cuda(correlate, x, w, mode)
    assert isinstance(got, np.ndarray) and got.dtype == dtype
    assert_close(got, sps.correlate(x.astype(np.float64), w.astype(np.float64), mode), dtype=dtype)
    got = _cuda(convolve, x, w, mode)
    assert_close(got, sps.convolve(x.astype(np.float64), w.astype(np.float64), mode), dtype=dtype)


@pytest.mark.parametrize("boundary", BOUNDARIES[1:])
@pytest.mark.parametrize("wshape", [(3, 3), (5, 3), (3,)])
def test_boundaries_match_ndimage(boundary, wshape, rng):
    x = rng.standard_normal((7, 9))
    w = rng.standard_normal(wshape)
    got = _cuda(correlate, x, w, "same", boundary=boundary)
    ref = ndi.correlate1d(x, w, axis=-1, mode=boundary) if w.ndim == 1 else None
    if ref is None:
        ref = ndi.correlate(x, w, mode=boundary)
    assert_close(got, ref)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_pad_wider_than_input_repeats_periodically(boundary, rng):
    # Kernel much longer than the input: the extension wraps around several times.
    x = rng.standard_normal((2, 3))
    w = rng.standard_normal((7, 9))
    for mode in ("full", "same"):
        got = _cuda(correlate, x, w, mode, boundary=boundary, cval=0.5)
        ref = naive.correlate(x, w, mode, boundary=boundary, cval=0.5)
        assert_close(got, ref, err_msg=f"{mode} {boundary}")


# --- strides, dilations, batch axes: the loop oracle and the CPU backend ----------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "xshape,wshape,stride,dilation,mode,boundary",
    [
        ((2, 3, 19), (4,), 3, 2, "full", "constant"),
        ((2, 10, 9), (3, 2), (2, 3), (1, 2), "same", "reflect"),
        ((11, 12), (3, 3), 2, 3, "valid", "mirror"),
        ((2, 6, 7, 5), (3, 2, 3), (2, 1, 2), (1, 2, 1), "same", "wrap"),
        ((5, 7, 6), (2, 3, 2), 1, (2, 1, 2), "full", "nearest"),
    ],
)
def test_strided_dilated_batched(xshape, wshape, stride, dilation, mode, boundary, dtype, rng):
    x = rng.standard_normal(xshape).astype(dtype)
    w = rng.standard_normal(wshape).astype(dtype)
    kw = dict(stride=stride, dilation=dilation, boundary=boundary, cval=-1.5)
    for fn, oracle in ((correlate, naive.correlate), (convolve, naive.convolve)):
        got = _cuda(fn, x, w, mode, **kw)
        assert got.dtype == dtype
        assert_close(got, oracle(x, w, mode, **kw), dtype=dtype)
        assert_close(got, fn(x, w, mode, backend="cpu", **kw), dtype=dtype)


@settings(max_examples=25)
@given(
    data=st.data(),
    nd=st.integers(1, 3),
    mode=st.sampled_from(["full", "same", "valid"]),
    boundary=st.sampled_from(BOUNDARIES),
    flip=st.booleans(),
)
def test_property_matches_cpu(data, nd, mode, boundary, flip):
    sizes = st.sampled_from([1, 2, 3, 5, 7, 9] if nd < 3 else [1, 2, 3, 5])
    xs = tuple(data.draw(sizes, label="x") for _ in range(nd))
    ks = tuple(data.draw(st.integers(1, 4), label="k") for _ in range(nd))
    stride = tuple(data.draw(st.integers(1, 3), label="stride") for _ in range(nd))
    dilation = tuple(data.draw(st.integers(1, 3), label="dilation") for _ in range(nd))
    batch = data.draw(st.sampled_from([(), (2,)]), label="batch")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    r = np.random.default_rng(seed)
    x = r.standard_normal(batch + xs)
    w = r.standard_normal(ks)
    fn = convolve if flip else correlate
    kw = dict(stride=stride, dilation=dilation, boundary=boundary, cval=0.25)
    try:
        want = fn(x, w, mode, backend="cpu", **kw)
    except ValueError:  # valid mode where neither operand covers the other
        with pytest.raises(ValueError):
            _cuda(fn, x, w, mode, **kw)
        return
    assert_close(_cuda(fn, x, w, mode, **kw), want)


# --- both kernels, launch geometry ------------------------------------------------------------


@pytest.mark.parametrize("shared_bytes", [0, 10**9], ids=["untiled", "tiled"])
def test_untiled_kernel_matches(shared_bytes, monkeypatch, rng):
    monkeypatch.setattr(_config, "CUDA_SHARED_BYTES", shared_bytes)
    import sigconv._cuda.correlation as cc

    calls = spy_launches(monkeypatch, cc, ("_corr_tiled", "_corr_direct"))
    x = rng.standard_normal((2, 6, 9))
    w = rng.standard_normal((3, 2))
    got = _cuda(convolve, x, w, "full", stride=(1, 2), dilation=(2, 1), boundary="reflect")
    ref = naive.convolve(x, w, "full", stride=(1, 2), dilation=(2, 1), boundary="reflect")
    assert_close(got, ref)
    assert calls == ["_corr_direct" if shared_bytes == 0 else "_corr_tiled"]


@pytest.mark.parametrize("boundary", ["constant", "reflect", "mirror", "nearest", "wrap"])
@pytest.mark.parametrize(
    "xshape,wshape,stride,dilation",
    [
        ((2, 21, 23), (3, 3), 1, 1),  # several rows per thread, interior and edge tiles
        ((22, 19), (3, 2), (2, 1), (1, 2)),
        ((10, 9, 12), (3, 3, 3), 1, 1),  # several planes per thread
        ((11, 8, 9), (2, 3, 2), (2, 1, 1), (2, 1, 1)),
    ],
    ids=["2d-batch", "2d-stride-dil", "3d", "3d-stride-dil"],
)
def test_multi_output_tiles_match_the_loop_oracle(xshape, wshape, stride, dilation, boundary, rng):
    # Small blocks (conftest) with 2 rows / planes per thread: blocks whose whole tile lies
    # inside the input take the fast load path, the others the boundary rule; NaN-filled
    # out= proves every output is written.
    import numba.cuda

    x = rng.standard_normal(xshape)
    w = rng.standard_normal(wshape)
    kw = dict(stride=stride, dilation=dilation, boundary=boundary, cval=0.5)
    want = naive.correlate(x, w, "same", **kw)
    out = numba.cuda.to_device(np.full(want.shape, np.nan))
    got = correlate(numba.cuda.to_device(x), w, "same", backend="cuda", out=out, **kw)
    assert_close(got.copy_to_host(), want)


def test_tile_geometry_halves_outputs_per_thread_until_the_tile_fits(monkeypatch):
    import sigconv._cuda.correlation as cc

    monkeypatch.setattr(_config, "CUDA_BLOCK_2D", (32, 8))
    monkeypatch.setattr(_config, "CUDA_CORR_ROWS", 4)
    monkeypatch.setattr(_config, "CUDA_CORR_PLANES", 8)
    monkeypatch.setattr(_config, "CUDA_CORR_BLOCK_3D", (32, 8, 1))
    monkeypatch.setattr(_config, "CUDA_SHARED_BYTES", 48 * 1024)
    one = (1, 1, 1)
    # 2-D 3x3: a 34 x 34 tile for 32 x 32 outputs
    assert cc._geometry(2, (1, 3, 3), one, one, 4) == ((32, 8, 1), 4, 1)
    assert cc.tile_elements((1, 32, 32), (1, 3, 3), one, one) == 34 * 34 + 9
    # 3-D 3^3: 8 planes per thread, a 10 x 10 x 34 tile
    assert cc._geometry(3, (3, 3, 3), one, one, 4) == ((32, 8, 1), 1, 8)
    # a 2-D 41 x 41 kernel in float64: 4 rows need (71 * 71 + 1681) * 8 B = 53.8 KB, 2 rows
    # (55 * 71 + 1681) * 8 B = 44.7 KB: they fit
    assert cc._geometry(2, (1, 41, 41), one, one, 8) == ((32, 8, 1), 2, 1)
    # a 3-D 15^3 kernel in float64: even 1 plane needs (15 * 21 * 45 + 3375) * 8 B: untiled
    assert cc._geometry(3, (15, 15, 15), one, one, 8) == ((32, 8, 1), 0, 0)
    monkeypatch.setattr(_config, "CUDA_SHARED_BYTES", 8 * 1024)
    # 3-D 3^3 float32 in 8 KiB: 8 planes (3427 values), 4 (2067) too many; 2 planes (1387) fit
    assert cc._geometry(3, (3, 3, 3), one, one, 4) == ((32, 8, 1), 1, 2)


def test_items_too_large_for_int32_offsets_take_the_untiled_kernel(monkeypatch, rng):
    import sigconv._cuda.correlation as cc

    calls = spy_launches(monkeypatch, cc, ("_corr_tiled", "_corr_direct"))
    x = rng.standard_normal((3, 7, 9))  # 63 elements per item
    w = rng.standard_normal((3, 2))
    monkeypatch.setattr(cc.common, "INT32_LIMIT", 63)
    assert_close(_cuda(correlate, x, w, "same"), naive.correlate(x, w, "same"))
    monkeypatch.setattr(cc.common, "INT32_LIMIT", 62)
    assert_close(_cuda(correlate, x, w, "same"), naive.correlate(x, w, "same"))
    assert calls == ["_corr_tiled", "_corr_direct"]


def test_batch_beyond_grid_limit_strides(monkeypatch, rng):
    # A grid capped at 2 blocks along z must still cover all 5 batch items (grid-stride loop).
    monkeypatch.setattr(_config, "CUDA_MAX_GRID_YZ", 2)
    x = rng.standard_normal((5, 3, 7))
    w = rng.standard_normal((2, 2))
    assert_close(_cuda(correlate, x, w, "same"), naive.correlate(x, w, "same"))


@pytest.mark.parametrize("kernel", ["tiled", "untiled"])
def test_rows_planes_and_items_beyond_the_grid_limit(kernel, monkeypatch, rng):
    # Grid z is capped at 3 blocks: the (item, row block, plane block) loop must still cover
    # many row blocks (2-D, 19 rows), plane blocks (3-D, 9 planes) and items.
    monkeypatch.setattr(_config, "CUDA_MAX_GRID_YZ", 3)
    if kernel == "untiled":
        monkeypatch.setattr(_config, "CUDA_SHARED_BYTES", 0)
    for xs, ws in (((2, 19, 7), (3, 2)), ((2, 9, 6, 5), (2, 3, 2))):
        x = rng.standard_normal(xs)
        w = rng.standard_normal(ws)
        want = naive.correlate(x, w, "same", boundary="reflect")
        assert_close(_cuda(correlate, x, w, "same", boundary="reflect"), want)


def test_one_compilation_per_dtype(monkeypatch, rng):
    # Every launch of a dtype passes arguments of the same Numba types, whatever the layout,
    # batch shape, mode, stride or boundary: so each kernel compiles once per dtype.
    import numba

    import sigconv._cuda.correlation as cc

    seen = {}
    real = cc._corr_tiled

    class Spy:
        def __getitem__(self, cfg):
            def launch(*args):
                key = numba.typeof(args[0]).dtype
                seen.setdefault(str(key), set()).add(tuple(str(numba.typeof(a)) for a in args))
                return real[cfg](*args)

            return launch

    monkeypatch.setattr(cc, "_corr_tiled", Spy())
    for dtype in DTYPES:
        x = rng.standard_normal((2, 3, 8)).astype(dtype)
        w = rng.standard_normal((2, 3)).astype(dtype)
        _cuda(correlate, x, w, "full")
        _cuda(convolve, np.asfortranarray(x[0]), w[:, ::-1], "same", stride=2, boundary="wrap")
        _cuda(correlate, x[..., 0], w[0], "valid", dilation=2, cval=3)
        _cuda(correlate, x.astype(">f8").astype(dtype), w, "same")
    assert set(seen) == {"float32", "float64"}
    assert all(len(v) == 1 for v in seen.values()), seen


# --- dtypes, layouts, inputs untouched ---------------------------------------------------------


def test_dtype_policy_and_layouts(rng):
    x = rng.integers(-5, 5, size=(6, 8))
    w = rng.integers(-2, 3, size=(3, 2)).astype(np.int16)
    got = _cuda(correlate, x, w, "same")
    # host integers: SciPy's integer result, exact (docs/contract.md §1); float64 on request
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, sps.correlate(x, w, "same", method="direct"))
    got = _cuda(correlate, x, w, "same", dtype=np.float64)
    assert got.dtype == np.float64
    assert_close(got, sps.correlate(x, w, "same").astype(np.float64))
    xc = x + 1j * x[::-1]
    assert_close(_cuda(correlate, xc, w, "full"), sps.correlate(xc, w, "full"))
    xf = np.asfortranarray(rng.standard_normal((6, 8)).astype(np.float32))
    got = _cuda(correlate, xf[::-1, ::2], w.astype(np.float32), "full")
    assert got.dtype == np.float32
    assert_close(got, sps.correlate(xf[::-1, ::2].astype(np.float64), w, "full"), dtype=np.float32)
    mixed = _cuda(correlate, xf, w.astype(np.float64), "valid")
    assert mixed.dtype == np.float64
    big = rng.standard_normal((5, 5)).astype(">f8")
    assert_close(_cuda(correlate, big, w, "same"), sps.correlate(big.astype("<f8"), w, "same"))


def test_device_operands_need_a_float_result(to_device, rng):
    """Device data computes in float32/float64 only: complex and integer results are refused
    with the dtype named and the alternatives given; dtype=np.float64 runs (contract §1)."""
    x = rng.standard_normal((6, 7))
    with pytest.raises(TypeError, match="float32/float64 only.*complex128.*backend='cpu'"):
        correlate(to_device(x), x[:2, :2] + 1j)
    xi = rng.integers(-3, 3, size=(6, 7))
    with pytest.raises(TypeError, match="int64.*dtype=np.float32 or np.float64"):
        correlate(to_device(xi), xi[:2, :2])
    res = correlate(to_device(xi), xi[:2, :2], dtype=np.float64)
    assert _backend.is_device_array(res)
    assert_close(to_host(res), sps.correlate(xi.astype(float), xi[:2, :2].astype(float)))


def test_inputs_not_modified(rng):
    x = rng.standard_normal((2, 5, 6))
    w = rng.standard_normal((3, 3))
    x0, w0 = x.copy(), w.copy()
    x.flags.writeable = False
    _cuda(convolve, x, w, "full", boundary="mirror")
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


def test_host_out(rng):
    x = rng.standard_normal((6, 7)).astype(np.float32)
    w = rng.standard_normal((2, 3)).astype(np.float32)
    out = np.full((7, 9), np.nan, dtype=np.float32)
    res = _cuda(correlate, x, w, "full", out=out)
    assert res is out
    assert_close(out, sps.correlate(x, w, "full"), dtype=np.float32)
    strided = np.full((7, 18), np.nan, dtype=np.float32)[:, ::2]
    res = _cuda(correlate, x, w, "full", out=strided)
    assert res is strided
    assert_close(strided, sps.correlate(x, w, "full"), dtype=np.float32)


# --- device arrays in, device arrays out -------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_device_in_device_out(dtype, to_device, rng):
    x = rng.standard_normal((2, 7, 6)).astype(dtype)
    w = rng.standard_normal((3, 2)).astype(dtype)
    dx, dw = to_device(x), to_device(w)
    res = correlate(dx, dw, "same", boundary="nearest")  # auto keeps device data on the device
    assert _backend.is_device_array(res)
    assert res.dtype == dtype and tuple(res.shape) == (2, 7, 6)
    assert_close(to_host(res), naive.correlate(x, w, "same", boundary="nearest"), dtype=dtype)
    # one operand on the device is enough
    res = convolve(x, dw, "full", backend="cuda")
    assert _backend.is_device_array(res)
    assert_close(to_host(res), naive.convolve(x, w, "full"), dtype=dtype)
    np.testing.assert_array_equal(to_host(dx), x)


def test_device_out_and_casts(to_device, rng):
    x = rng.integers(-3, 4, size=(9, 8)).astype(np.int64)
    w = rng.standard_normal((2, 2))
    dx = to_device(x)
    dout = numba_cuda.device_array((10, 9), dtype=np.float64)
    res = correlate(dx, w, "full", out=dout)
    assert res is dout
    assert_close(to_host(dout), sps.correlate(x.astype(np.float64), w, "full"))
    # a non-contiguous device view (reversed, strided) is copied on the device, not the host
    xf = rng.standard_normal((9, 8)).astype(np.float32)
    view = to_device(xf)[::-1, ::3]
    res = correlate(view, w.astype(np.float32), "same", backend="cuda")
    assert_close(to_host(res), sps.correlate(xf[::-1, ::3], w, "same"), dtype=np.float32)
    # device out with a wrong dtype is refused
    with pytest.raises(TypeError, match="out"):
        correlate(dx, w, "full", out=numba_cuda.device_array((10, 9), dtype=np.float32))


def test_fft_method_refused_on_cuda(to_device, rng):
    """The CUDA backend has only direct kernels: method='fft' says so instead of ignoring it."""
    x = rng.standard_normal((6, 7))
    for operand in (x, to_device(x)):
        with pytest.raises(ValueError, match="method='fft'.*backend='cpu'"):
            correlate(operand, np.ones((2, 2)), backend="cuda", method="fft")
    got = to_host(correlate(to_device(x), np.ones((2, 2)), method="auto"))
    assert_close(got, sps.correlate(x, np.ones((2, 2))))


def test_device_array_refused_by_cpu_backend(to_device, rng):
    with pytest.raises(TypeError, match="device"):
        correlate(to_device(rng.standard_normal(5)), np.ones(2), backend="cpu")


# --- backend resolution ------------------------------------------------------------------------


def test_cuda_without_gpu_says_how_to_install(monkeypatch):
    status = (False, "numba.cuda is installed but finds no GPU; " + _backend._INSTALL_HINT)
    monkeypatch.setattr(_backend, "cuda_status", lambda: status)
    with pytest.raises(RuntimeError, match=r"pip install sigconv\[cuda\]"):
        correlate(np.ones(5), np.ones(2), backend="cuda")


def test_auto_never_picks_the_simulator(rng):
    x = rng.standard_normal(8)
    assert _backend.resolve_backend("auto", x, work=1e12, gpu_min_work=1.0) == (
        "cuda" if _backend.gpu_present() else "cpu"
    )
    if SIMULATED:
        assert not _backend.gpu_present()

"""Dask arrays through the signal API, the filters, the loaders and the CLI (docs/contract.md
§5): a hypothesis grid on the threaded scheduler against the in-memory call and the plain-loop
oracle, and a real 2-process ``distributed.LocalCluster``."""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

import sigconv  # noqa: E402
from sigconv import _dask, filters, io  # noqa: E402
from tests import naive  # noqa: E402
from tests.tolerance import assert_close  # noqa: E402

pytestmark = pytest.mark.usefixtures("threaded")


@pytest.fixture
def threaded():
    with dask.config.set(scheduler="threads"):
        yield


def _valid_ok(shape, kshape, dilation):
    ke = [(k - 1) * d + 1 for k, d in zip(kshape, dilation)]
    return all(n >= e for n, e in zip(shape, ke)) or all(e >= n for n, e in zip(shape, ke))


def _chunking(draw, n):
    """A random split of ``n``: one chunk, uneven chunks, chunks of 1."""
    kind = draw(st.sampled_from(["one", "even", "random"]))
    if kind == "one":
        return (n,)
    if kind == "even":
        return draw(st.integers(1, max(1, n)))
    sizes, left = [], n
    while left:
        s = draw(st.integers(1, left))
        sizes.append(s)
        left -= s
    return tuple(sizes)


@st.composite
def problems(draw):
    nd = draw(st.integers(1, 3))
    sizes = st.integers(1, 17) if nd < 3 else st.integers(1, 7)
    shape = tuple(draw(sizes) for _ in range(nd))
    kshape = tuple(draw(st.integers(1, 5 if nd < 3 else 3)) for _ in range(nd))
    batch = tuple(draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 1))))
    chunks = tuple(_chunking(draw, n) for n in batch + shape)
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    mode = draw(st.sampled_from(["full", "same", "valid"]))
    boundary = draw(st.sampled_from(["constant", "reflect", "mirror", "nearest", "wrap"]))
    cval = draw(st.sampled_from([0.0, 1.5]))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int16]))
    method = draw(st.sampled_from(["direct", "fft", "auto"]))
    seed = draw(st.integers(0, 2**31 - 1))
    return shape, kshape, batch, chunks, stride, dilation, mode, boundary, cval, dtype, method, seed


@settings(max_examples=80)
@given(problem=problems(), flip=st.booleans())
def test_chunked_equals_in_memory_and_definition(problem, flip):
    shape, kshape, batch, chunks, stride, dilation, mode, boundary, cval, dtype, method, seed = (
        problem
    )
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(batch + shape) * 3).astype(dtype)
    w = (rng.standard_normal(kshape) * 3).astype(np.float32 if dtype == np.float32 else dtype)
    dx = da.from_array(x, chunks=chunks)
    fn, oracle = (
        (sigconv.convolve, naive.convolve) if flip else (sigconv.correlate, naive.correlate)
    )
    kw = dict(stride=stride, dilation=dilation, boundary=boundary, cval=cval, method=method)
    if mode == "valid" and not _valid_ok(shape, kshape, dilation):
        with pytest.raises(ValueError, match="valid"):
            fn(dx, w, mode, **kw)
        return
    lazy = fn(dx, w, mode, **kw)
    assert _dask.is_dask_array(lazy)
    want = fn(x, w, mode, **kw)
    assert lazy.shape == want.shape and lazy.dtype == want.dtype
    assert all(c > 0 for axis in lazy.chunks for c in axis)
    got = lazy.compute()
    assert_close(got, want, dtype=want.dtype)
    assert_close(got, oracle(x, w, mode, stride, dilation, boundary, cval), dtype=want.dtype)


def _frames(lazy):
    """The constant frames of the halo tasks in ``lazy``'s graph (``_dask._Halo.frame``)."""
    found = set()
    for task in dict(lazy.__dask_graph__()).values():
        args = getattr(task, "args", task if isinstance(task, tuple) else ())
        for a in args:
            a = getattr(a, "value", a)
            if isinstance(a, _dask._Halo):
                found.add(a.frame)
    return found


@pytest.mark.parametrize(
    ("shape", "chunks", "kshape", "mode", "stride", "dilation"),
    [
        ((9, 11, 40), (4, 5, 13), (3, 3, 3), "same", 1, 1),
        ((9, 11, 40), (4, 5, 40), (3, 3, 3), "same", 1, 1),  # one chunk along the rows
        ((9, 11, 40), (9, 11, (1, 20, 19)), (2, 3, 4), "same", 1, 1),  # even: asymmetric
        ((9, 11, 40), (4, 5, 13), (3, 3, 3), "full", (1, 2, 3), (2, 1, 2)),
        ((2, 12, 41), (1, 5, (7, 30, 4)), (3, 5), "same", 2, (1, 3)),  # a batch axis
        ((12, 41), (5, 3), (3, 5), "valid", 1, 1),  # nothing to frame
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constant_edges_framed(rng, shape, chunks, kshape, mode, stride, dilation, dtype):
    """With a constant boundary the edge blocks get a frame of ``cval`` in the task that
    assembles them, so their kernels read only inside the block: the result is the in-memory
    call's and the plain-loop definition's."""
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(kshape).astype(dtype)
    kw = dict(stride=stride, dilation=dilation, cval=-0.75)
    lazy = sigconv.correlate(da.from_array(x, chunks=chunks), w, mode, **kw)
    (frame,) = _frames(lazy)  # one overlap: every spatial axis framed unless none is padded
    lead = x.ndim - w.ndim
    assert all(f == (0, 0) for f in frame[:lead])
    assert all((f == (0, 0)) == (mode == "valid") for f in frame[lead:])
    got = lazy.compute()
    assert_close(got, sigconv.correlate(x, w, mode, **kw), dtype=dtype)
    want = naive.correlate(x, w, mode, stride, dilation, "constant", -0.75)
    assert_close(got, want, dtype=dtype)


def test_constant_frame_only_for_exact_fill(rng):
    """An int16 input with a fractional ``cval`` (a float64 result) cannot hold the frame in
    its own dtype: the kernels take the boundary rule instead, and the result is still exact;
    and 1-D chunks keep the in-memory edge path."""
    x = rng.integers(-9, 9, (10, 30)).astype(np.int16)
    w = rng.standard_normal((3, 3))
    lazy = sigconv.correlate(da.from_array(x, chunks=(4, 7)), w, "same", cval=1.5)
    assert _frames(lazy) == {((0, 0), (0, 0))}
    want = naive.correlate(x, w, "same", 1, 1, "constant", 1.5)
    assert_close(lazy.compute(), want, dtype=np.float64)
    lazy = sigconv.correlate(da.from_array(x[0].astype(np.float32), chunks=7), w[0], "same")
    assert _frames(lazy) == {((0, 0),)}


@pytest.mark.parametrize("boundary", ["constant", "reflect", "mirror", "nearest"])
def test_direct_chunks_equal_in_memory_1d_bitwise(boundary, rng):
    """The same kernel on the same samples: the 1-D direct path is bit-identical. (Not
    'wrap' over several chunks: its edge chunks read padded real samples, which the kernel sums
    in its interior loop instead of its boundary loop, a rounding apart.)"""
    x = rng.standard_normal(101).astype(np.float32)
    w = rng.standard_normal(6).astype(np.float32)
    for chunks in (7, (50, 1, 50), 101):
        got = sigconv.correlate(
            da.from_array(x, chunks=chunks), w, "same", boundary=boundary, method="direct"
        )
        want = sigconv.correlate(x, w, "same", boundary=boundary, method="direct")
        np.testing.assert_array_equal(got.compute(), want)


def test_odd_kernels_equal_scipy_ndimage(rng):
    import scipy.ndimage as ndi

    x = rng.standard_normal((3, 20, 23))
    w = rng.standard_normal((3, 5))
    dx = da.from_array(x, chunks=(2, 6, 4))
    for boundary in ("constant", "reflect", "mirror", "nearest", "wrap"):
        got = sigconv.correlate(dx, w, "same", boundary=boundary).compute()
        want = ndi.correlate(x, w[None], mode=boundary)
        assert_close(got, want)


def test_stride_outputs_start_on_the_global_grid():
    """128-sample chunks, stride 2, 'same': each output chunk holds the 64 outputs whose
    windows are centred in its input chunk."""
    x = da.zeros((512, 256), chunks=128, dtype=np.float32)
    out = sigconv.correlate(x, np.ones((3, 3), np.float32), "same", stride=2)
    assert out.chunks == ((64,) * 4, (64,) * 2)
    out = sigconv.correlate(x, np.ones((3, 3), np.float32), "same", stride=(3, 1))
    assert out.shape == (171, 256) and sum(out.chunks[0]) == 171


def test_even_kernel_halos_are_asymmetric(rng):
    """An even 'same' kernel reads 2 samples before and 1 after each output; chunks of 1."""
    x = rng.standard_normal(12)
    w = rng.standard_normal(4)
    got = sigconv.correlate(da.from_array(x, chunks=1), w, "same").compute()
    assert_close(got, naive.correlate(x, w, "same"))


def test_batch_axes_keep_their_chunks():
    x = da.ones((6, 40, 40), chunks=(1, 20, 40), dtype=np.float32)
    out = sigconv.correlate(x, np.ones((3, 3), np.float32), "same")
    assert out.chunks[0] == (1,) * 6
    np.testing.assert_allclose(out[:, 5:-5, 5:-5].compute(), 9.0)


def test_result_is_lazy_until_computed():
    calls = []

    def probe(block):
        calls.append(block.shape)
        return block

    x = da.ones((64, 64), chunks=16).map_blocks(probe, meta=np.empty((0, 0)))
    out = sigconv.correlate(x, np.ones((3, 3)), "same")
    assert calls == [] and _dask.is_dask_array(out)
    out.compute()
    assert calls


def test_errors_name_the_parameter():
    x = da.ones((10, 10), chunks=5)
    w = np.ones((3, 3))
    with pytest.raises(TypeError, match="out must be None"):
        sigconv.correlate(x, w, out=np.empty((12, 12)))
    with pytest.raises(TypeError, match="in2 must be a NumPy array-like"):
        sigconv.correlate(x, da.ones((3, 3)))
    with pytest.raises(TypeError, match="in2 must be a NumPy array-like"):
        sigconv.correlate(np.ones((10, 10)), da.ones((3, 3)))
    with pytest.raises(TypeError, match="in1 must have a real numeric dtype"):
        sigconv.correlate(x.astype(complex), w)
    with pytest.raises(ValueError, match="in1 must not be empty"):
        sigconv.correlate(da.ones((0, 10)), w)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        sigconv.correlate(x[x[:, 0] > 0], w)
    with pytest.raises(ValueError, match="valid"):
        sigconv.correlate(da.ones((10, 2), chunks=5), w, "valid")
    with pytest.raises(ValueError, match="mode must be one of"):
        sigconv.correlate(x, w, "middle")
    with pytest.raises(ValueError, match="method='fft' is not available on the CUDA"):
        sigconv.correlate(x, w, method="fft", backend="cuda")


def test_output_shape_matches_the_lazy_result():
    x = da.ones((5, 33, 17), chunks=(2, 8, 5))
    w = np.ones((4, 2))
    for mode in ("full", "same", "valid"):
        out = sigconv.correlate(x, w, mode, stride=(2, 3), dilation=(1, 2))
        assert out.shape == sigconv.output_shape(
            x.shape, w.shape, mode, stride=(2, 3), dilation=(1, 2)
        )


def test_import_and_numpy_calls_never_import_dask():
    code = (
        "import numpy as np, sigconv, sys\n"
        "sigconv.correlate(np.ones(8), np.ones(3))\n"
        "sigconv.filters.apply(np.ones((8, 8)), 'sharpen')\n"
        "print('dask' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- filters ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", filters.FILTERS)
def test_every_filter_takes_a_dask_image(name, rng):
    image = rng.random((30, 41, 3)).astype(np.float32)
    lazy = filters.filter_image(da.from_array(image, chunks=(7, 9, 3)), name, channel_axis=-1)
    assert _dask.is_dask_array(lazy)
    assert_close(lazy.compute(), filters.filter_image(image, name, channel_axis=-1))


def test_apply_grey_dask_image_equals_ndimage(rng):
    import scipy.ndimage as ndi

    image = rng.random((40, 33))
    k = filters.gaussian_blur(sigma=1.5)
    got = filters.apply(da.from_array(image, chunks=(8, 10)), k, boundary="mirror")
    assert_close(got.compute(), ndi.correlate(image, k, mode="mirror"))
    with pytest.raises(ValueError, match="image must be 2-D"):
        filters.apply(da.ones((4, 5, 3)), k)


# --- loading and the command line ---------------------------------------------------------------


def test_load_volume_lazily(tmp_path, rng):
    pytest.importorskip("zarr")
    vol = rng.random((12, 13, 14)).astype(np.float32)
    np.save(tmp_path / "v.npy", vol)
    lazy = io.load_volume(tmp_path / "v.npy", chunks=5)
    assert _dask.is_dask_array(lazy) and lazy.chunks[0] == (5, 5, 2)
    np.testing.assert_array_equal(lazy.compute(), vol)
    da.from_array(vol, chunks=6).to_zarr(str(tmp_path / "v.zarr"))
    store = io.load_volume(tmp_path / "v.zarr")
    assert store.chunks[0] == (6, 6) and store.dtype == np.float32
    np.testing.assert_array_equal(store.compute(), vol)
    np.savez(tmp_path / "v.npz", vol=vol)
    assert io.load_volume(tmp_path / "v.npz", chunks=4).chunks[2] == (4, 4, 4, 2)
    assert isinstance(io.load_volume(tmp_path / "v.npy"), np.ndarray)  # no chunks: in memory
    da.ones((3, 4), chunks=2).to_zarr(str(tmp_path / "flat.zarr"))
    with pytest.raises(ValueError, match="expected 3-D"):
        io.load_volume(tmp_path / "flat.zarr")
    with pytest.raises(FileNotFoundError):
        io.load_volume(tmp_path / "missing.npy", chunks=4)


def test_cli_filters_a_zarr_store(tmp_path, rng, capsys):
    pytest.importorskip("zarr")
    from sigconv import cli

    vol = rng.random((6, 20, 22)).astype(np.float32)
    da.from_array(vol, chunks=(2, 8, 8)).to_zarr(str(tmp_path / "in.zarr"))
    assert cli.main(["filter", str(tmp_path / "in.zarr"), str(tmp_path / "out.zarr"),
                     "--kernel", "sobel", "--boundary", "nearest"]) == 0  # fmt: skip
    got = da.from_zarr(str(tmp_path / "out.zarr"))
    assert got.chunksize == (2, 8, 8)
    want = np.hypot(
        sigconv.correlate(vol, filters.sobel_x(), "same", boundary="nearest"),
        sigconv.correlate(vol, filters.sobel_y(), "same", boundary="nearest"),
    )
    assert_close(got.compute(), want)
    assert "100% Completed" in capsys.readouterr().out  # Dask's progress bar
    assert cli.main(["filter", str(tmp_path / "in.zarr"), str(tmp_path / "x.png"),
                     "--kernel", "sharpen"]) == 1  # fmt: skip
    assert "needs a Zarr output" in capsys.readouterr().err


def test_info_states_the_threads_rule():
    from sigconv import cli

    line = next(ln for ln in cli.info_lines() if ln.startswith("dask:"))
    assert "workers on the host x threads per worker" in line


def test_threaded_scheduler_tasks_get_one_thread_each():
    cores = os.cpu_count()
    seen = da.ones(4, chunks=1).map_blocks(
        lambda b: np.full(b.shape, _dask.task_threads()), dtype=int
    )
    with dask.config.set(num_workers=cores):
        assert set(seen.compute().tolist()) <= {1, None}


# --- a real cluster: scheduler, 2 worker processes, pickling ------------------------------------


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def test_correlate_on_a_local_cluster(client, rng):
    x = rng.standard_normal((2, 30, 31)).astype(np.float32)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    dx = da.from_array(x, chunks=(1, 8, 9))
    for kw in (
        {"mode": "same", "boundary": "reflect"},
        {"mode": "full", "stride": 2, "dilation": (1, 2), "boundary": "wrap"},
        {"mode": "valid", "stride": (3, 1), "method": "fft"},
    ):
        got = client.compute(sigconv.correlate(dx, w, **kw)).result()
        assert_close(got, sigconv.correlate(x, w, **kw))


def _pool_sizes():
    from sigconv import _scratch

    return len(_scratch._pools["dask"])


def test_worker_block_results_reuse_released_memory(client, rng):
    """On a worker, block results come from memory of released results (_scratch.result):
    results still held stay intact while later ones are computed, and released ones are
    reused."""
    x = rng.standard_normal((40, 41, 42)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3)).astype(np.float32)
    dx = da.from_array(x, chunks=20)
    want = sigconv.correlate(x, w, "same")
    held = client.persist(sigconv.correlate(dx, w, "same"))
    pooled = sum(client.run(_pool_sizes).values())
    assert pooled >= 8  # one buffer per held block result, none of them free
    for _ in range(3):  # each round reuses the previous round's released buffers
        y = client.persist(sigconv.correlate(dx, w * 2, "same"))
        assert_close(client.compute(y).result(), 2 * want)
        del y
    assert_close(client.compute(held).result(), want)  # untouched by the later rounds
    assert sum(client.run(_pool_sizes).values()) <= 3 * pooled


def test_worker_tasks_apply_the_threads_rule(client):
    want = max(1, (os.cpu_count() or 1) // 2)  # 2 workers x 1 thread on this host
    futures = [
        client.submit(_dask.task_threads, workers=[w], pure=False)
        for w in client.scheduler_info()["workers"]
    ]
    assert {f.result() for f in futures} == {want}


@st.composite
def _overlaps(draw):
    """A shape, a chunking whose chunks hold at least the halo, and per-axis halos."""
    nd = draw(st.integers(1, 3))
    shape, chunks, depths = [], [], {}
    for ax in range(nd):
        left, right = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        least = max(left, right, 1)
        sizes = draw(st.lists(st.integers(least, least + 4), min_size=1, max_size=4))
        shape.append(sum(sizes))
        chunks.append(tuple(sizes))
        if left or right:
            depths[ax] = (left, right)
    return tuple(shape), tuple(chunks), depths


@settings(max_examples=60, deadline=None)
@given(_overlaps())
def test_overlap_equals_dasks_own(case):
    """sigconv's two-tasks-per-block halo equals dask.array.overlap with boundary='none'
    (the oracle), chunks included, for asymmetric halos and uneven chunks."""
    shape, chunks, depths = case
    assume(depths)
    x = da.from_array(np.arange(np.prod(shape), dtype=np.float32).reshape(shape), chunks=chunks)
    got = _dask.overlap(x, depths)
    want = da.overlap.overlap(
        x, depth=depths, boundary={ax: "none" for ax in depths}, allow_rechunk=False
    )
    assert got.chunks == want.chunks
    np.testing.assert_array_equal(got.compute(), want.compute())
    # the graph: two tasks per block on top of the input's, not one per neighbour piece
    assert len(dict(got.__dask_graph__())) == 3 * x.npartitions

"""Dask arrays through the signal API and the filters (docs/contract.md §5).

A ``dask.array.Array`` given to ``correlate``/``convolve`` comes back as a lazy Dask array whose
computed value is the in-memory call's. The rule per kernel axis (global length ``n``, dilated
kernel extent ``e``, stride ``s``, the in-memory geometry's ``pad_before`` ``pb`` and ``n_out``):

* output ``o`` reads input positions ``o*s - pb .. o*s - pb + e - 1`` (docs/contract.md §1);
* it belongs to the input chunk holding its window's centre ``o*s - pb + e//2`` (the first chunk
  also takes centres before 0, the last those past ``n``), so every chunk's outputs lie on the
  global stride grid and the output chunks follow from the input chunks;
* each chunk then needs at most ``e//2`` samples of its left neighbour and ``(e-1)//2`` of its
  right one (asymmetric for even extents; the exact need, smaller with a stride, is used):
  ``dask.array.overlap`` with ``boundary="none"``, after merging chunks smaller than ``e//2``
  into their neighbours;
* at the array's edges the chunk's kernel call extends its data by ``boundary`` itself, which is
  exact when the chunk holds every sample the extension reads (always for ``constant`` and
  ``nearest``); otherwise (``wrap`` over several chunks, ``reflect``/``mirror`` edges thinner
  than the extension) that axis is first padded with the real samples by index
  (``numpy.pad``'s index map) and the chunks read only real data.

Batch axes keep their chunks. Each chunk runs the same kernels as the in-memory call
(``method="auto"`` decides per chunk), under the per-task thread rule of :func:`task_threads`.
Nothing here is imported by ``import sigconv``: :func:`is_dask_array` looks at the type's module
name only.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import threading
from typing import NamedTuple

import numpy as np

from . import _backend, _geometry, _validate

# sigconv boundary name -> numpy.pad mode with the same extension (docs/contract.md §1)
_NUMPY_MODE = {"reflect": "symmetric", "mirror": "reflect", "nearest": "edge", "wrap": "wrap"}


def is_dask_array(x) -> bool:
    """True for a ``dask.array.Array`` (checked without importing Dask)."""
    return type(x).__module__.startswith("dask.array") and hasattr(x, "chunks")


def check_array(x, name: str, min_ndim: int = 1, max_ndim: int | None = None) -> None:
    """The checks ``_validate.as_input_array`` makes, on a Dask array's metadata."""
    dtype = np.dtype(x.dtype)
    if dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must have a real numeric dtype (bool, integer or float); got dtype {dtype}"
        )
    if x.ndim < min_ndim or (max_ndim is not None and x.ndim > max_ndim):
        want = f"at least {min_ndim}" if max_ndim is None else f"{min_ndim} to {max_ndim}"
        raise ValueError(f"{name} must have {want} dimensions; got shape {x.shape}")
    if any(isinstance(n, float) and math.isnan(n) for n in x.shape):
        raise ValueError(
            f"{name} has unknown chunk sizes (shape {x.shape}); call {name}.compute_chunk_sizes()"
        )
    if math.prod(x.shape) == 0:
        raise ValueError(f"{name} must not be empty; got shape {x.shape}")


def host_kernel(w, name: str = "in2"):
    """The kernel as a host ndarray: a Dask kernel is refused (it is small; compute it)."""
    if is_dask_array(w):
        raise TypeError(
            f"{name} must be a NumPy array-like when in1 is a Dask array; got a Dask array "
            f"of shape {w.shape} (the kernel is small: pass {name}.compute())"
        )
    return w


# --- the per-task thread rule ----------------------------------------------------------------

_host_workers: dict[str, int] = {}


def _workers_on_host(worker) -> int:
    """How many workers of the cluster share this worker's host (asked once per process)."""
    key = str(worker.scheduler.address)
    if key not in _host_workers:
        try:
            from distributed import get_client

            info = get_client().scheduler_info(n_workers=-1)
            host = worker.address.rsplit(":", 1)[0]
            same = [a for a in info["workers"] if a.rsplit(":", 1)[0] == host]
            _host_workers[key] = max(1, len(same))
        except Exception:  # no scheduler answer: count this worker alone
            _host_workers[key] = 1
    return _host_workers[key]


def task_threads() -> int | None:
    """Numba threads for one Dask task, so that tasks x threads never exceeds the cores.

    On a ``distributed`` worker: ``cores // (workers on this host x threads per worker)``;
    in a thread of Dask's threaded scheduler: ``cores // pool threads``; at least 1. None
    outside Dask (the caller's setting stands). ``SIGCONV_DASK_THREADS`` overrides the rule.
    """
    forced = os.environ.get("SIGCONV_DASK_THREADS")
    if forced:
        return max(1, int(forced))
    cores = os.cpu_count() or 1
    if "distributed" in sys.modules:
        from distributed import get_worker

        try:
            worker = get_worker()
        except ValueError:  # not inside a worker
            worker = None
        if worker is not None:
            return max(1, cores // (_workers_on_host(worker) * max(1, worker.state.nthreads)))
    if threading.current_thread() is threading.main_thread():
        return None
    if "dask" in sys.modules:
        import dask

        pool = dask.config.get("num_workers", None) or cores
        return max(1, cores // int(pool))
    return None


class _Threads:
    """Numba's thread count (thread-local) set to ``n`` for a block (None: unchanged)."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        if self.n is not None:
            import numba

            self.before = numba.get_num_threads()
            numba.set_num_threads(max(1, min(self.n, numba.config.NUMBA_NUM_THREADS)))

    def __exit__(self, *exc):
        if self.n is not None:
            import numba

            numba.set_num_threads(self.before)


# --- chunk geometry --------------------------------------------------------------------------


class _Piece(NamedTuple):
    """One chunk's share of an axis: its slab in the overlapped block and the local geometry."""

    start: int  # slab bounds inside the block (block = chunk plus its halos)
    stop: int
    pad_before: int  # samples the kernel call supplies by the boundary rule
    pad_after: int
    n_out: int


def _axis_pieces(chunks, n, pb, n_out, s, e, extend):
    """Per input chunk along one axis: its ``_Piece`` (None when it owns no output), and the
    halo ``(left, right)`` the chunks need: at most ``(e//2, (e-1)//2)``, less with a stride
    (stride 2 and a 3-tap 'same' kernel read nothing of the right neighbour)."""
    q = np.concatenate([[0], np.cumsum(chunks)]).astype(int).tolist()
    h = e // 2
    last = len(chunks) - 1
    bounds = [0]
    for k in range(1, len(chunks)):
        first = -(-(q[k] + pb - h) // s)  # first output whose window centre is in chunk k
        bounds.append(min(max(first, 0), n_out))
    bounds.append(n_out)
    spans = []  # per chunk: (lo, hi) read by its outputs, or None
    for k in range(len(chunks)):
        if bounds[k + 1] == bounds[k]:
            spans.append(None)
        else:
            spans.append((bounds[k] * s - pb, (bounds[k + 1] - 1) * s - pb + e))
    dl = max([q[k] - max(sp[0], 0) for k, sp in enumerate(spans) if sp and k > 0] + [0])
    dr = max([min(sp[1], n) - q[k + 1] for k, sp in enumerate(spans) if sp and k < last] + [0])
    pieces = []
    for k, span in enumerate(spans):
        if span is None:
            pieces.append(None)
            continue
        lo, hi = span
        block_lo = q[k] - (dl if k > 0 else 0)
        block_hi = q[k + 1] + (dr if k < last else 0)
        s0, s1 = max(lo, 0), min(hi, n)
        if extend and lo < 0:  # the edge's extension may read further into the real data
            s1 = block_hi
        assert block_lo <= s0 < s1 <= block_hi, (chunks, k, lo, hi, block_lo, block_hi)
        pieces.append(
            _Piece(
                s0 - block_lo, s1 - block_lo, s0 - lo, max(hi - s1, 0), bounds[k + 1] - bounds[k]
            )
        )
    return pieces, (dl, dr)


def _edges_exact(pieces, n, boundary) -> bool:
    """Whether every chunk that extends its data at an edge holds what the extension reads."""
    if boundary in ("constant", "nearest"):
        return True
    for p in pieces:
        if p is None or (p.pad_before == 0 and p.pad_after == 0):
            continue
        length = p.stop - p.start
        if length == n:  # the whole axis: the chunk's extension is the global one
            continue
        need = max(p.pad_before, p.pad_after) + (boundary == "mirror")
        if boundary == "wrap" or length < need:
            return False
    return True


def _min_chunks(chunks, size):
    """``chunks`` with every chunk at least ``size`` (neighbours merged; one chunk if need be)."""
    if size <= 1 or min(chunks) >= size:
        return tuple(chunks)
    from dask.array.overlap import ensure_minimum_chunksize

    if sum(chunks) <= size:
        return (sum(chunks),)
    return tuple(ensure_minimum_chunksize(size, tuple(chunks)))


def _pad_axis(x, axis, pb, pa, boundary):
    """``x`` extended along ``axis`` by real samples chosen as ``numpy.pad`` would."""
    import dask.array as da

    n = x.shape[axis]
    index = np.pad(np.arange(n), (pb, pa), mode=_NUMPY_MODE[boundary])
    parts = []
    lead = (slice(None),) * axis
    if pb:
        parts.append(x[lead + (index[:pb],)])
    parts.append(x)
    if pa:
        parts.append(x[lead + (index[pb + n :],)])
    return da.concatenate(parts, axis=axis)


# --- correlate -------------------------------------------------------------------------------


def dispatch(
    in1, in2, mode, stride, dilation, boundary, cval, method, backend, out, *, flip, axes,
    origin, dtype,
):  # fmt: skip
    """``signal.correlate``/``convolve`` for a Dask operand: a lazy Dask array.

    The result dtype follows the in-memory rule (``numpy.result_type``, or ``dtype``): float32
    and float64 results are computed in that dtype; float16 in float32, then cast; integer and
    bool results in float64, which is exact while ``max|in1| * sum|in2|`` (bounded by
    ``in1``'s dtype) stays below 2**52, then wrapped to the result dtype as SciPy's integer
    arithmetic does. Complex data, ``axes=`` and ``origin=`` are in-memory only.
    """
    from . import _dropin, _dtypes

    w = host_kernel(in2)
    check_array(in1, "in1", 1, None)
    if axes is not None or origin is not None:
        raise TypeError(
            "axes= and origin= are not supported when in1 is a Dask array; move the kernel "
            "axes last (dask.array.moveaxis) and use the default centring"
        )
    w = _validate.as_input_array(w, "in2", min_ndim=1, max_ndim=3)
    rdt = _dtypes.resolve(dtype, np.dtype(in1.dtype), w.dtype)
    if rdt.kind == "f" and rdt.itemsize >= 4:
        return correlate(
            in1, w, mode, stride, dilation, boundary, cval, method, backend, out, flip=flip,
            compute=rdt,
        )  # fmt: skip
    if rdt.kind == "f":  # float16: as the in-memory call, computed in float32
        y = correlate(
            in1, w, mode, stride, dilation, boundary, cval, method, backend, out, flip=flip,
            compute=np.dtype(np.float32),
        )  # fmt: skip
        return y.astype(rdt)
    if rdt.kind in "iub":
        cval = _dropin.check_cval(cval, rdt, boundary)
        xdt = np.dtype(in1.dtype)
        xmax = 1 if xdt.kind == "b" else max(abs(int(np.iinfo(xdt).min)), int(np.iinfo(xdt).max))
        bound = max(xmax, abs(int(cval))) * float(np.abs(w.astype(np.float64)).sum())
        if bound >= 2.0**52:
            raise TypeError(
                f"an exact {rdt} result of a Dask in1 needs max|in1| * sum|in2| < 2**52; with "
                f"in1 of dtype {xdt} the bound is {bound:.3g}: pass dtype=np.float64 for a float "
                "result, or compute() in1 first"
            )
        y = correlate(
            in1, w, mode, stride, dilation, boundary, cval, method, backend, out, flip=flip,
            compute=np.dtype(np.float64),
        )  # fmt: skip
        return y.map_blocks(_exact_integer, rdt, dtype=rdt)
    raise TypeError(
        f"a Dask in1 supports real results only; the result dtype would be {rdt} (complex "
        "data: compute() in1 first, or correlate its real and imaginary parts)"
    )


def _exact_integer(block, rdt):
    """An exact float64 block of integer sums as ``rdt``, wrapped as integer arithmetic wraps."""
    return np.rint(block).astype(np.int64).astype(rdt)


def correlate(
    in1, in2, mode, stride, dilation, boundary, cval, method, backend, out, *, flip, compute=None
):
    """``signal.correlate`` for a Dask ``in1`` (already checked to be one), computed in
    ``compute`` (default: the float compute dtype of the operands)."""
    from . import signal

    mode = _validate.check_option(mode, "mode", signal.MODES)
    boundary = _validate.check_option(boundary, "boundary", signal.BOUNDARIES)
    method = _validate.check_option(method, "method", signal.METHODS)
    _validate.check_option(backend, "backend", _backend.BACKENDS)
    cval = _validate.check_float(cval, "cval")
    if out is not None:
        raise TypeError(
            "out must be None when in1 is a Dask array (the result is a lazy Dask array; "
            "write it with dask.array.store or to_zarr)"
        )
    if backend == "cuda" and method == "fft":
        raise ValueError(
            "method='fft' is not available on the CUDA backend (it has direct kernels "
            "only); use method='direct' or 'auto', or backend='cpu' for the FFT path"
        )
    check_array(in1, "in1", 1, None)
    w = _validate.as_input_array(host_kernel(in2), "in2", min_ndim=1, max_ndim=3)
    signal.check_ranks(in1.ndim, w.ndim, "in1", "in2")
    nd = w.ndim
    lead = in1.ndim - nd
    stride = _validate.int_tuple(stride, "stride", nd)
    dilation = _validate.int_tuple(dilation, "dilation", nd)
    geom = _geometry.signal_geometry(in1.shape[lead:], w.shape, mode, stride, dilation)
    dtype = np.dtype(compute) if compute is not None else _validate.compute_dtype(in1, w)
    w = _validate.to_compute(w, dtype)
    if flip:
        w = np.ascontiguousarray(w[(slice(None, None, -1),) * nd])
    return _chunked(in1, w, geom, stride, dilation, boundary, cval, method, backend, dtype)


def _chunked(x, w, geom, stride, dilation, boundary, cval, method, backend, dtype):
    import dask.array as da

    nd = w.ndim
    lead = x.ndim - nd
    chunks = list(x.chunks)
    tables, depths, out_chunks = [], {}, []
    for a in range(nd):
        ax = lead + a
        e = _geometry.effective_size(w.shape[a], dilation[a])
        pb, pa, n_out = geom[a]
        n = x.shape[ax]
        for explicit in (False, True):
            if explicit:  # real samples in place of the extension; then only 'valid' reads
                x = _pad_axis(x, ax, pb, pa, boundary)
                n, pb, pa = n + pb + pa, 0, 0
            c = _min_chunks(x.chunks[ax], e // 2)
            extend = boundary in ("reflect", "mirror")
            pieces, depth = _axis_pieces(c, n, pb, n_out, stride[a], e, extend)
            if _edges_exact(pieces, n, boundary):
                break
        chunks = list(x.chunks)
        chunks[ax] = c
        x = x.rechunk(tuple(chunks))
        tables.append(pieces)
        if depth != (0, 0):
            depths[ax] = depth
        out_chunks.append(tuple(0 if p is None else p.n_out for p in pieces))
    # the edge blocks framed by cval (with a halo: the frame costs nothing more in the task
    # that assembles the block)
    frames = {}
    for a in range(nd):
        frame = _cval_frame(tables[a], nd, boundary, cval, x.dtype) if depths else (0, 0)
        tables[a] = _framed(tables[a], frame)
        if frame != (0, 0):
            frames[lead + a] = frame
    kernel = functools.partial(
        _block,
        w=w,
        tables=tables,
        stride=stride,
        dilation=dilation,
        boundary=boundary,
        cval=cval,
        method=method,
        backend=backend,
        out_dtype=dtype,
    )
    out = tuple(x.chunks[:lead]) + tuple(out_chunks)
    if depths:  # the halo's assembly and the kernel in one task per block
        edge = (frames, cval)
        result = overlap(x, depths, then=kernel, chunks=out, dtype=dtype, scratch=True, frame=edge)
    else:
        result = da.map_blocks(
            kernel, x, dtype=dtype, chunks=out, meta=np.empty((0,) * x.ndim, dtype=dtype)
        )
    if any(0 in c for c in out_chunks):  # chunks that own no output: drop them
        keep = tuple(x.chunks[:lead]) + tuple(tuple(v for v in c if v) for c in out_chunks)
        result = result.rechunk(keep)
    return result


def _cval_frame(pieces, nd, boundary, cval, dtype):
    """The ``(before, after)`` samples of ``cval`` to put around the edge blocks along an axis
    (its ``pieces``), so that their kernels read no sample outside their block (0 where none
    is needed): every block of an image or a volume is then a 'valid' correlation.

    The kernels send every output whose taps leave the input along the rows through a scalar
    loop with the boundary rule, two outputs per row of an image or a volume: a 3^3 'same'
    kernel took 1.5-2x as long on a 128^3 block with them as without (before 3^3 kernels had
    their own row kernel, ``_rows333``; other kernels still do). A 1-D chunk has
    two such outputs in all, so it keeps the in-memory call's edge path (and its
    bit-identical result). Only ``constant`` boundaries, and a ``cval`` the block's dtype
    holds exactly."""
    if boundary != "constant" or nd < 2 or dtype.type(cval) != cval:
        return (0, 0)
    first, last = pieces[0], pieces[-1]
    return (first.pad_before if first else 0, last.pad_after if last else 0)


def _framed(pieces, frame):
    """An axis's ``pieces`` inside blocks extended by ``frame`` (``_cval_frame``): the first
    block's slab starts in the frame and the last one's ends in it, with no pad left."""
    fb, fa = frame
    if not (fb or fa):
        return pieces
    pieces = list(pieces)
    if pieces[0] is not None and fb:
        p = pieces[0]  # its slab starts at the array's start, now at fb in the block
        pieces[0] = p._replace(start=p.start + fb - p.pad_before, stop=p.stop + fb, pad_before=0)
    if pieces[-1] is not None and fa:
        p = pieces[-1]  # its slab ends at the array's end, where the frame begins
        pieces[-1] = p._replace(stop=p.stop + p.pad_after, pad_after=0)
    return pieces


def overlap(x, depths, *, then=None, chunks=None, dtype=None, scratch=False, frame=({}, 0)):
    """``dask.array.overlap.overlap(x, depth=depths, boundary="none")`` in two tasks per block;
    with ``then``, ``map_blocks(then, ...)`` of that (``then(block, block_id=...)`` giving
    blocks of ``chunks`` and ``dtype``) in the same two tasks.

    ``depths`` maps an axis to ``(left, right)``: every block gets that many samples of its left
    and right neighbours along the axis (none at the array's edges), corners included. Dask's
    own overlap cuts one task per neighbour piece (26 per block in 3-D, about 1,700 for a
    512^3 volume in 128^3 chunks), and for a small kernel those tasks cost more than the
    kernels. Here one task per block cuts every slab its neighbours need (thin: ``left`` or
    ``right`` samples deep), and one task per block assembles its extended block from its own
    samples and its neighbours' slabs. Chunks must hold at least ``max(left, right)`` samples
    along each overlapped axis (``_min_chunks`` sees to it).

    With ``scratch`` (and ``then``), each extended block is assembled in memory its worker
    thread reuses from task to task (``_scratch``), so ``then`` must return new arrays, never
    its argument or a view of it (the kernels do).

    ``frame = (frames, value)``: ``frames`` maps an axis to ``(before, after)``; the first
    block along it gets ``before`` samples of ``value`` before its own, the last block
    ``after`` samples after (the array padded with a constant, in the same tasks).
    """
    import itertools

    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    ndim, nblocks = x.ndim, x.numblocks
    depth = tuple(tuple(depths.get(ax, (0, 0))) for ax in range(ndim))
    frames, fill = frame
    edges = tuple(tuple(frames.get(ax, (0, 0))) for ax in range(ndim))
    token = tokenize(x, depth, then, chunks, dtype, scratch, edges, fill)
    parts, name = f"sigconv-halo-slabs-{token}", f"sigconv-overlap-{token}"
    halo = _Halo(depth, x.chunks, edges, fill)
    dsk = {}
    for idx in itertools.product(*(range(n) for n in nblocks)):
        dsk[(parts, *idx)] = (_halo_slabs, (x.name, *idx), halo)
    code_of = {r: code for code, r in enumerate(halo.dirs)}
    for idx in itertools.product(*(range(n) for n in nblocks)):
        # the steps that stay inside the grid, per axis; their product is the neighbours
        steps = [
            [d for d in ((-1, 0, 1) if any(dp) else (0,)) if 0 <= i + d < n]
            for i, n, dp in zip(idx, nblocks, depth)
        ]
        codes = [code_of[r] for r in itertools.product(*steps) if any(r)]
        keys = [(parts, *(i + d for i, d in zip(idx, halo.dirs[c]))) for c in codes]
        args = ((x.name, *idx), idx, halo, tuple(codes), keys)
        dsk[(name, *idx)] = (
            (_assemble, *args) if then is None else (_assemble_then, then, scratch, *args)
        )
    if then is None:
        dtype = x.dtype
        chunks = tuple(
            tuple(c + lo + hi for c, lo, hi in zip(cs, *halo.extension(ax)))
            for ax, cs in enumerate(x.chunks)
        )
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x])
    return da.Array(graph, name, chunks, meta=np.empty((0,) * ndim, dtype=dtype))


class _Halo:
    """The halo of every block: ``depth`` per axis, the array's ``chunks``, the neighbour
    directions ``dirs`` (a -1/0/+1 step per axis, not all 0) and the constant ``frame`` of the
    edge blocks (``(before, after)`` per axis) with its ``fill``. One object, passed to every
    task as it is: the graph's converters then see one argument, not a nest of tuples."""

    def __init__(self, depth, chunks, frame=None, fill=0):
        self.depth = depth
        self.chunks = chunks
        self.frame = frame or ((0, 0),) * len(depth)
        self.fill = fill
        self.dirs = _halo_dirs(depth)

    def extension(self, ax):
        """Per block along ``ax``: the samples before and after its own (a neighbour's halo,
        or at the array's edges its frame)."""
        (left, right), (fb, fa), last = self.depth[ax], self.frame[ax], len(self.chunks[ax]) - 1
        before = [left if i > 0 else fb for i in range(last + 1)]
        after = [right if i < last else fa for i in range(last + 1)]
        return before, after

    def slab_shapes(self, shape):
        """The shapes of the slabs a block of ``shape`` gives, one per direction (along an
        axis, its last ``left`` samples for ``r = -1``: the neighbour that reads them lies to
        the right; its first ``right`` samples for ``r = +1``; all of them for ``r = 0``), and
        where each starts in the packed buffer (one entry more: the total)."""
        return _slab_layout(self.depth, tuple(int(n) for n in shape))

    def block_shape(self, idx):
        return tuple(c[i] for c, i in zip(self.chunks, idx))

    def __reduce__(self):
        return _Halo, (self.depth, self.chunks, self.frame, self.fill)


def _halo_dirs(depth):
    """Every neighbour direction of a halo ``depth``, in a fixed order (the slabs' packing
    order)."""
    import itertools

    steps = ((-1, 0, 1) if any(d) else (0,) for d in depth)
    return [r for r in itertools.product(*steps) if any(r)]


@functools.lru_cache(maxsize=256)
def _slab_layout(depth, shape):
    # cached per process: each task unpickles its own _Halo, and W7's 26 directions cost
    # 30-40 us per layout
    dirs = _halo_dirs(depth)
    shapes = [
        tuple(left if d < 0 else right if d > 0 else n
              for d, (left, right), n in zip(r, depth, shape))
        for r in dirs
    ]  # fmt: skip
    starts = [0]
    for sh in shapes:
        starts.append(starts[-1] + math.prod(sh))
    return shapes, starts


def _halo_slabs(block, halo):
    """Every slab of ``block`` that a neighbour reads (``_Halo.slab_shapes``), packed into one
    1-D array: one buffer to send, where a list of 26 arrays took 26 frames and headers."""
    from . import _scratch

    shapes, starts = halo.slab_shapes(block.shape)
    # a result handed to Dask: on a worker, in memory of released slabs (_scratch.result)
    out = _scratch.result((starts[-1],), block.dtype, _result_pool_limit(), pool="dask")
    for r, sh, at, end in zip(halo.dirs, shapes, starts, starts[1:]):
        sl = []
        for d, (left, right), n in zip(r, halo.depth, block.shape):
            sl.append(slice(n - left, n) if d < 0 else slice(0, right) if d > 0 else slice(None))
        out[at:end].reshape(sh)[...] = block[tuple(sl)]
    return out


def _assemble(block, idx, halo, codes, slabs, *, scratch=False):
    """``block`` extended by its neighbours' slabs (``slabs[k]``: the ``_halo_slabs`` of the
    neighbour in direction ``halo.dirs[codes[k]]``, whose entry ``codes[k]`` faces this block),
    as ``dask.array.overlap`` with ``boundary="none"``; with ``scratch``, in memory this thread
    reuses (``_scratch``: a block task's extended block is read once, by its kernel)."""
    lo, hi = [], []
    for ax, i in enumerate(idx):
        before, after = halo.extension(ax)
        lo.append(before[i])
        hi.append(after[i])
    shape = tuple(n + a + b for n, a, b in zip(block.shape, lo, hi))
    if scratch:
        from . import _scratch

        out = _scratch.take("dask-block", shape, block.dtype)
    else:
        out = np.empty(shape, dtype=block.dtype)
    own = tuple(slice(a, a + n) for a, n in zip(lo, block.shape))
    out[own] = block
    for ax, (i, cs) in enumerate(zip(idx, halo.chunks)):  # the constant frame at the edges
        lead = (slice(None),) * ax
        if i == 0 and halo.frame[ax][0]:
            out[lead + (slice(0, halo.frame[ax][0]),)] = halo.fill
        if i == len(cs) - 1 and halo.frame[ax][1]:
            out[lead + (slice(shape[ax] - halo.frame[ax][1], None),)] = halo.fill
    for code, packed in zip(codes, slabs):
        r = halo.dirs[code]
        # the neighbour's slabs come packed in direction order: find entry ``code``
        shapes, starts = halo.slab_shapes(halo.block_shape([i + d for i, d in zip(idx, r)]))
        slab = packed[starts[code] : starts[code + 1]].reshape(shapes[code])
        sl = []
        for d, a, n, b in zip(r, lo, block.shape, hi):
            sl.append(
                slice(0, a) if d < 0 else slice(a + n, a + n + b) if d > 0 else slice(a, a + n)
            )
        out[tuple(sl)] = slab
    return out


def _assemble_then(then, scratch, block, idx, *args):
    # With ``scratch`` the extended block lives in reused memory: a fresh 130^3 float32 block
    # cost 2.4-3.4 ms of page faults per task in a W7 worker, a reused one 1.0-1.6 ms to fill
    return then(_assemble(block, idx, *args, scratch=scratch), block_id=idx)


def _block(block, *, w, tables, stride, dilation, boundary, cval, method, backend, out_dtype,
           block_id=None):  # fmt: skip
    dtype = out_dtype
    nd = w.ndim
    lead = block.ndim - nd
    pieces = [tables[a][block_id[lead + a]] for a in range(nd)]
    if any(p is None for p in pieces):
        shape = block.shape[:lead] + tuple(0 if p is None else p.n_out for p in pieces)
        return np.empty(shape, dtype=dtype)
    slab = block[(Ellipsis, *(slice(p.start, p.stop) for p in pieces))]
    geom = [_geometry.AxisGeometry(p.pad_before, p.pad_after, p.n_out) for p in pieces]
    x = _validate.to_compute(slab, dtype)
    limit = _result_pool_limit()
    with _Threads(task_threads()):
        return run_kernel(
            x, w, geom, stride, dilation, boundary, cval, method, backend, pool_limit=limit
        )


_pool_limits: dict[str, int] = {}


def _result_pool_limit() -> int:
    """Bytes of block results a ``distributed`` worker keeps for reuse (``_scratch.result``):
    ``_config.DASK_RESULT_POOL_BYTES``, at most a tenth of the worker's memory limit; 0
    outside a worker (results are then always new memory)."""
    from . import _config

    if "distributed" not in sys.modules:
        return 0
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:  # not inside a worker
        return 0
    key = str(worker.address)
    if key not in _pool_limits:
        memory = getattr(getattr(worker, "memory_manager", None), "memory_limit", None)
        limit = _config.DASK_RESULT_POOL_BYTES
        _pool_limits[key] = min(limit, int(memory) // 10) if memory else limit
    return _pool_limits[key]


def run_kernel(x, w, geom, stride, dilation, boundary, cval, method, backend, pool_limit=0):
    """The in-memory call's backend and kernel choice on host arrays of the compute dtype, for
    any per-axis geometry (a chunk's own pads and output count); ``w`` is already flipped.

    With ``pool_limit`` the result is written into memory of earlier block results that
    nothing references any more (``_scratch.result``, up to that many bytes kept): a fresh
    128^3 float32 result cost a Dask worker 1-4 ms of page faults per block.
    """
    from . import _config

    nd = w.ndim
    plan = _geometry.CorrelatePlan(
        batch=tuple(int(n) for n in x.shape[: x.ndim - nd]),
        spatial=tuple(int(n) for n in x.shape[x.ndim - nd :]),
        kernel=tuple(int(k) for k in w.shape),
        axes=tuple(geom),
        stride=tuple(stride),
        dilation=tuple(dilation),
        boundary=boundary,
        cval=float(cval),
        flip=False,
        method=method,
        dtype=x.dtype,
        separable=method == "auto",
    )
    ops = _backend.select(backend, x, w, work=plan.work, gpu_min_work=_config.CUDA_MIN_WORK)
    out = None
    if pool_limit:
        from . import _scratch

        out = _scratch.result(plan.out_shape, plan.dtype, pool_limit, pool="dask")
    return ops.correlate(plan, x, w, out)

"""FFT and overlap-save path of the signal API, and the cost model behind ``method="auto"``.

The definition (docs/contract.md §1) is: dilate the kernel, pad the input with the boundary,
take the valid cross-correlation, keep every ``stride``-th output. Here that is computed with
``scipy.fft`` over the trailing (kernel) axes; leading axes are batch axes that share one kernel
transform.

How the transform is kept small
-------------------------------
* Zero padding is never materialised. With ``boundary="constant", cval=0`` an axis is a plain
  view of the input, zero-extended to the transform length ``N`` by the FFT itself; the offset
  ``pad_before`` is folded into the kernel spectrum as a phase ramp (a circular shift), so the
  wanted outputs come out at indices ``0 .. n1-1``. No aliasing needs
  ``N >= max(n_c + pad_before, n1 + Ke - 1 - pad_before, Ke)``, which for ``same`` is about
  ``n + Ke/2`` rather than the ``n + Ke - 1`` of a full convolution. Other boundaries gather the
  needed padded range (``numpy.pad`` semantics, any width) along each axis.
* A dilated kernel's spectrum at a length ``N`` divisible by ``d`` is the spectrum of the
  undilated kernel at ``N/d``, tiled ``d`` times (zero-stuffing in time is periodic repetition in
  frequency), so lengths of dilated axes are picked as multiples of ``d``.
* Overlap-save: the first kernel axis may be cut into frames of a short transform length ``N0``
  (the frames are a strided view of a padded segment, transformed as one batch). For long
  signals with short kernels this turns ``n log n`` into ``n log N0``. Frames are processed in
  groups so that the temporary memory stays under a cap (``_config.FFT_TEMP_FACTOR`` times the
  larger of input and output): that is how large 3-D filters stay within about 3x the input.
  The segment, spectrum and inverse transform of a group are the calling thread's scratch
  slots (``_scratch``, up to 64 MiB each, kept from call to call): fresh pages for them cost
  as much as the transforms (docs/performance.md, "Memory").
* Strided outputs: only the stride-1 range that the kept outputs need is computed (the input
  beyond it is cropped), then sliced.
* float32 stays float32: ``scipy.fft`` computes complex64 spectra for float32 input.

Cost model
----------
``choose_method`` compares two estimates, with constants measured on this machine by
``benchmarks/calibrate_auto.py`` and kept in ``sigconv._config``:

* direct: ``outputs * (per_output + taps * per_tap) + per_call`` per number of kernel axes and
  dtype (the Numba kernels run at a roughly constant rate per multiply-add once
  the kernel has a few taps; the per-output term is the memory traffic). Stride reduces the
  number of outputs, so it reduces this estimate; dilation changes nothing.
* FFT: for the cheapest plan (whole-axis transform or overlap-save frames of some length),
  ``P * (per_point_log * L + per_point + per_point_big * max(0, L - 16)) + per_group * groups``
  per number of kernel axes and dtype, where ``L = log2(prod N)`` and ``P`` is the number of
  real points transformed (batch x frames x prod N, plus one transform for the kernel); the
  third term charges transforms too large for the caches. Stride does not reduce it.

The FFT path is chosen only when its estimate is smaller and a plan fits the memory cap.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import scipy.fft as sp_fft

from . import _config, _scratch


def _pocketfft_binding():
    """scipy.fft's own pocketfft binding, or None where it is missing or behaves otherwise.

    Unlike the public functions, it writes into a given array (``out=``), so the transforms'
    spectra live in reused scratch memory. Fresh ones cost the kernel's page faults: W1's
    255-tap 'same' filter took 3.5-4.0 ms a call with them, 1.6-2.0 ms without
    (docs/performance.md, "Memory"). It is private to SciPy, so it is tried on a small
    problem first; the public functions are the fallback. (A backend set with
    ``scipy.fft.set_backend`` is not used by either: sigconv asks for SciPy's pocketfft.)
    """
    try:
        from scipy.fft._pocketfft import pypocketfft as binding

        x = np.arange(1.0, 9.0, dtype=np.float32).reshape(2, 4)
        spec = np.empty((2, 3), dtype=np.complex64)
        binding.r2c(x, axes=(1,), forward=True, inorm=0, out=spec, nthreads=1)
        binding.c2c(spec, axes=(0,), forward=True, inorm=0, out=spec, nthreads=1)
        binding.c2c(spec, axes=(0,), forward=False, inorm=2, out=spec, nthreads=1)
        back = np.empty_like(x)
        binding.c2r(spec, axes=(1,), lastsize=4, forward=False, inorm=2, out=back, nthreads=1)
        ok = np.allclose(spec, np.fft.rfft(x), atol=1e-4) and np.allclose(back, x, atol=1e-5)
    except Exception:  # any failure means: use the public functions
        return None
    return binding if ok else None


_pocketfft = _pocketfft_binding()

__all__ = ["choose_method", "correlate_fft", "fft_plan"]


def _workers() -> int:
    try:
        import numba

        return max(1, int(numba.get_num_threads()))
    except Exception:  # pragma: no cover - numba is a dependency, this is a safety net
        return 2


def _is_smooth(d: int) -> bool:
    for p in (2, 3, 5):
        while d % p == 0:
            d //= p
    return d == 1


def _fast_len(nmin: int, dilation: int) -> int:
    """A fast real-FFT length ``>= nmin``; a multiple of ``dilation`` when that is cheap."""
    if dilation > 1 and _is_smooth(dilation):
        return dilation * sp_fft.next_fast_len(-(-nmin // dilation), real=True)
    return sp_fft.next_fast_len(nmin, real=True)


class FFTPlan(NamedTuple):
    """How ``correlate_fft`` computes one problem (see the module docstring)."""

    lengths: tuple[int, ...]  # transform length per kernel axis (axis 0: frame length if framed)
    framed: bool  # overlap-save frames along the first kernel axis
    block: int  # kept outputs per frame along the first kernel axis
    nframes: int
    group: int  # frames transformed together
    cost: float  # estimated seconds
    temp_bytes: int  # estimated temporary memory of one group


def _axis_length(n, ke, n1, pad_before, dilation, implicit) -> int:
    """Transform length for an unframed axis (see the aliasing condition in the docstring)."""
    needed = n1 + ke - 1  # padded positions the kept outputs read
    if implicit:
        n_c = min(n, needed - pad_before)
        nmin = max(n_c + pad_before, needed - pad_before, ke)
    else:
        nmin = needed
    return _fast_len(nmin, dilation)


# Transforms above about 2**16 points spill out of the per-core caches and cost more per point
# than n log n says (measured: a 200,000-point rfft runs at a sixth of the rate of batched
# 1,000-point ones); the cost model charges them an extra term.
_CACHE_LOG2 = 16


def _precision(dtype) -> str:
    """The cost-table key of a dtype: complex64 runs at float32's precision."""
    return "float32" if np.dtype(dtype) in (np.float32, np.complex64) else "float64"


def cost_constants(nd, dtype):
    """The FFT cost model's calibrated constants ``(c_log, c_pt, c_big, c_call)`` for ``nd``
    transform axes in ``dtype``'s precision (``_config.FFT_COST``)."""
    key = _precision(dtype)
    return _config.FFT_COST[nd][key]


def fft_plan(
    x_shape,
    w_shape,
    geom,
    stride,
    dilation,
    dtype,
    *,
    implicit=True,
    temp_cap=None,
    frame_len=None,
) -> FFTPlan | None:
    """The cheapest FFT plan that fits the memory cap, or ``None`` if none fits.

    ``implicit`` says whether the boundary is zero padding (``constant`` with ``cval=0``),
    which needs no gathered copy and a slightly shorter transform. ``frame_len`` forces
    overlap-save frames of (at least) that length, or one whole-axis transform if that is not
    shorter (for calibration).
    """
    nd = len(w_shape)
    itemsize = np.dtype(dtype).itemsize
    batch = math.prod(x_shape[: len(x_shape) - nd])
    n = x_shape[len(x_shape) - nd :]
    ke = [(k - 1) * d + 1 for k, d in zip(w_shape, dilation)]
    n_out = [g.n_out for g in geom]
    n1 = [(o - 1) * s + 1 for o, s in zip(n_out, stride)]
    rest = [
        _axis_length(n[a], ke[a], n1[a], geom[a].pad_before, dilation[a], implicit)
        for a in range(1, nd)
    ]
    rest_pts = math.prod(rest)
    if temp_cap is None:
        big = max(math.prod(x_shape), batch * math.prod(n_out)) * itemsize
        temp_cap = max(_config.FFT_TEMP_FACTOR * big, _config.FFT_TEMP_MIN_BYTES)
    c_log, c_pt, c_big, c_call = cost_constants(nd, dtype)

    def per_point(size):
        log = math.log2(max(size, 2))
        return c_log * log + c_pt + c_big * max(0.0, log - _CACHE_LOG2)

    def make(n0, framed):
        if framed:
            block = (n0 - ke[0]) // stride[0] + 1
            nframes = -(-n_out[0] // block)
            copies = 2  # segment and spectrum, then spectrum and inverse transform
        else:
            block, nframes = n_out[0], 1
            copies = 2
        per_frame = batch * n0 * rest_pts * itemsize
        group = int(min(nframes, temp_cap // (copies * per_frame)))
        if group < 1:
            return None
        groups = -(-nframes // group)
        size = n0 * rest_pts
        pts = batch * nframes * size + size  # the kernel's transform is one more
        cost = pts * per_point(size) + c_call * groups
        return FFTPlan((n0, *rest), framed, block, nframes, group, cost, copies * per_frame * group)

    n0_full = _axis_length(n[0], ke[0], n1[0], geom[0].pad_before, dilation[0], implicit)
    if frame_len is not None:
        n0 = _fast_len(max(frame_len, ke[0]), dilation[0])
        if n0 < n0_full and (n0 - ke[0]) // stride[0] + 1 < n_out[0]:
            return make(n0, True)
        return make(n0_full, False)
    plans = [make(n0_full, False)]
    target = 2 * ke[0] + stride[0]
    while True:
        n0 = _fast_len(target, dilation[0])
        if n0 >= n0_full:
            break
        if (n0 - ke[0]) // stride[0] + 1 < n_out[0]:
            plans.append(make(n0, True))
        target = n0 + n0 // 2 + 1
    plans = [p for p in plans if p is not None]
    return min(plans, key=lambda p: p.cost) if plans else None


def direct_cost(x_shape, w_shape, geom, dtype) -> float:
    """Estimated seconds of the direct Numba kernels (constants in ``_config.DIRECT_COST``)."""
    nd = len(w_shape)
    key = _precision(dtype)
    c_out, c_tap, c_call = _config.DIRECT_COST[nd][key]
    batch = math.prod(x_shape[: len(x_shape) - nd])
    outputs = batch * math.prod(g.n_out for g in geom)
    return outputs * (c_out + math.prod(w_shape) * c_tap) + c_call


def choose_method(x_shape, w_shape, geom, stride, dilation, dtype) -> str:
    """``"direct"`` or ``"fft"``, whichever the calibrated cost model says is faster.

    The boundary is not known here; the FFT estimate assumes zero padding, the common case
    (other boundaries add one gathered copy, a small share of the FFT's cost).
    """
    x_shape, w_shape = tuple(x_shape), tuple(w_shape)
    stride, dilation = tuple(stride), tuple(dilation)
    if any(g.n_out == 0 for g in geom) or math.prod(w_shape) == 1:
        return "direct"
    direct = direct_cost(x_shape, w_shape, geom, dtype)
    # Every output lies in some transformed frame, so the FFT handles at least as many points
    # as there are outputs: a bound that skips the planning for small kernels and inputs.
    nd = len(w_shape)
    c_log, c_pt, _, _ = cost_constants(nd, dtype)
    outputs = math.prod(x_shape[: len(x_shape) - nd]) * math.prod(g.n_out for g in geom)
    if direct <= outputs * (c_log + c_pt):
        return "direct"
    plan = fft_plan(x_shape, w_shape, geom, stride, dilation, dtype)
    if plan is None:
        return "direct"
    return "fft" if plan.cost < direct else "direct"


# --- the computation ------------------------------------------------------------------------


def _source_index(pos: np.ndarray, n: int, boundary: str) -> np.ndarray:
    """Input index read at padded positions ``pos`` (input coordinates), for any pad width.

    These are the periodic extensions ``numpy.pad`` and ``scipy.ndimage`` agree on: ``reflect``
    (edge repeated) has period ``2n``, ``mirror`` (edge not repeated) ``2n - 2``.
    """
    if boundary == "nearest":
        return np.clip(pos, 0, n - 1)
    if boundary == "wrap":
        return pos % n
    if boundary == "reflect":
        q = pos % (2 * n)
        return np.where(q < n, q, 2 * n - 1 - q)
    if n == 1:  # mirror of a single sample
        return np.zeros_like(pos)
    q = pos % (2 * n - 2)
    return np.where(q < n, q, 2 * n - 2 - q)


def _gather(arr: np.ndarray, axis: int, n: int, lo: int, hi: int, boundary: str):
    """Positions ``lo .. hi-1`` of ``arr`` along ``axis`` after padding with ``boundary`` (not
    ``constant``: ``_segment`` fills that itself).

    A view when the range lies inside the input; otherwise one new array of the range.
    """
    if lo >= 0 and hi <= n:
        return arr[(*(slice(None),) * axis, slice(lo, hi))]
    return np.take(arr, _source_index(np.arange(lo, hi), n, boundary), axis=axis)


def _segment(x, lead, ranges, lengths, boundary, cval):
    """A C-contiguous scratch buffer of shape ``(*batch, *lengths)`` for one transform.

    Along kernel axis ``a`` it holds padded positions ``ranges[a]`` (input coordinates, with
    ``boundary``) at its start and zeros after them. It is the calling thread's
    ``"fft-segment"`` slot (``_scratch``): valid until the next call of this function there.
    """
    shape = x.shape[:lead] + tuple(lengths)
    buf = _scratch.take("fft-segment", shape, x.dtype)
    head = (slice(None),) * lead
    if boundary == "constant":
        # The input's part of the range is copied and the rest filled with ``cval``: inside
        # the range that is the padding, and past it (the transform's zero extension, only
        # with implicit zero padding, ``cval == 0``) zero.
        inner, src = [], []
        for a, (lo, hi) in enumerate(ranges):
            n = x.shape[lead + a]
            a0 = max(lo, 0)
            b0 = max(a0, min(hi, n))
            src.append(slice(a0, b0))
            inner.append((a0 - lo, b0 - lo))
        data = x[(*head, *src)]
        fill = cval
    else:
        data = x
        for a, (lo, hi) in enumerate(ranges):
            data = _gather(data, lead + a, x.shape[lead + a], lo, hi, boundary)
        inner = [(0, hi - lo) for lo, hi in ranges]
        fill = 0
    # the complement of the data's box, as one slab per axis: before and after the box on
    # that axis, inside the box on the axes before it, whole on the axes after it
    for a, (a0, b0) in enumerate(inner):
        box = tuple(slice(i, j) for i, j in inner[:a])
        for part in (slice(0, a0), slice(b0, lengths[a])):
            if part.stop > part.start:
                buf[(*head, *box, part)] = fill
    buf[(*head, *(slice(a, b) for a, b in inner))] = data
    return buf


def _frames(buf, lead, count, length, hop):
    """``count`` overlapping frames of ``length`` rows, ``hop`` apart, along axis ``lead``.

    A read-only strided view; it is the only reference to ``buf`` a caller should keep.
    """
    st = buf.strides
    return np.lib.stride_tricks.as_strided(
        buf,
        shape=buf.shape[:lead] + (count, length) + buf.shape[lead + 1 :],
        strides=st[:lead] + (hop * st[lead], st[lead]) + st[lead + 1 :],
        writeable=False,
    )


def _kernel_spectrum(w, lengths, shifts, dilation, cdtype, workers):
    """``conj(FFT(dilated w))`` at ``lengths`` with a circular shift by ``shifts``; rfft layout
    for real ``w``, full (fftn) layout for complex ``w``."""
    nd = w.ndim
    cplx = w.dtype.kind == "c"
    if any(d > 1 for d in dilation) and all(n % d == 0 for n, d in zip(lengths, dilation)):
        # Zero-stuffing by d in time is the spectrum at N/d tiled d times.
        small = [n // d for n, d in zip(lengths, dilation)]
        spec = sp_fft.fftn(w, s=small, workers=workers)
        freqs = [np.arange(lengths[a]) % small[a] for a in range(nd - 1)]
        last = lengths[-1] if cplx else lengths[-1] // 2 + 1
        freqs.append(np.arange(last) % small[-1])
        spec = spec[np.ix_(*freqs)]
    else:
        ke = [(k - 1) * d + 1 for k, d in zip(w.shape, dilation)]
        kd = np.zeros(ke, dtype=w.dtype)
        kd[tuple(slice(None, None, d) for d in dilation)] = w
        spec = (sp_fft.fftn if cplx else sp_fft.rfftn)(kd, s=lengths, workers=workers)
    spec = np.conj(spec)
    for a, (n, shift) in enumerate(zip(lengths, shifts)):
        if shift:
            nf = spec.shape[a]
            # exp(-2 pi i f shift / n): the turn count is reduced to [0, 1) in float64 first,
            # then cos/sin run in the spectrum's precision (much cheaper than a complex exp).
            turns = np.arange(nf, dtype=np.float64) * (shift / n)
            turns -= np.floor(turns)
            real = np.float32 if spec.dtype == np.complex64 else np.float64
            angle = (turns * (-2 * np.pi)).astype(real)
            phase = np.empty(nf, dtype=spec.dtype)
            phase.real = np.cos(angle)
            phase.imag = np.sin(angle)
            spec *= phase.reshape((nf,) + (1,) * (nd - 1 - a))
    return spec.astype(cdtype, copy=False)


def _spectrum(a, cplx, workers):
    """The forward transform of ``a`` along its last axis (``rfft``, or ``fft`` for complex
    ``a``) in the calling thread's ``"fft-spectrum"`` scratch slot."""
    cdtype = np.complex64 if a.dtype in (np.float32, np.complex64) else np.complex128
    last = a.shape[-1] if cplx else a.shape[-1] // 2 + 1
    out = _scratch.take("fft-spectrum", a.shape[:-1] + (last,), cdtype)
    if _pocketfft is None:
        out[...] = (sp_fft.fft if cplx else sp_fft.rfft)(a, axis=-1, workers=workers)
    elif cplx:
        _pocketfft.c2c(a, axes=(a.ndim - 1,), forward=True, inorm=0, out=out, nthreads=workers)
    else:
        _pocketfft.r2c(a, axes=(a.ndim - 1,), forward=True, inorm=0, out=out, nthreads=workers)
    return out


def _c2c(a, axes, forward, workers):
    """``a``'s complex transform along ``axes``, in place (unnormalised forward, 1/n back)."""
    if _pocketfft is None:
        f = sp_fft.fftn if forward else sp_fft.ifftn
        a[...] = f(a, axes=axes, overwrite_x=True, workers=workers)
        return a
    axes = tuple(ax % a.ndim for ax in axes)
    inorm = 0 if forward else 2
    return _pocketfft.c2c(a, axes=axes, forward=forward, inorm=inorm, out=a, nthreads=workers)


def _inverse(spectrum, n, workers):
    """The real inverse transform (``irfft``, ``n`` points) of ``spectrum`` along its last
    axis, in the calling thread's ``"fft-inverse"`` scratch slot."""
    real = np.float32 if spectrum.dtype == np.complex64 else np.float64
    out = _scratch.take("fft-inverse", spectrum.shape[:-1] + (n,), real)
    if _pocketfft is None:
        out[...] = sp_fft.irfft(spectrum, n=n, axis=-1, workers=workers)
        return out
    last = (spectrum.ndim - 1,)
    return _pocketfft.c2r(
        spectrum, axes=last, lastsize=n, forward=False, inorm=2, out=out, nthreads=workers
    )


def correlate_fft(x, w, geom, stride, dilation, boundary, cval, *, plan=None):
    """Strided, dilated cross-correlation of ``x`` with ``w`` by FFT (docs/contract.md §1).

    ``x`` is ``(*batch, *spatial)`` with the kernel acting on the trailing ``w.ndim`` axes;
    ``geom`` is ``signal_geometry``'s per-axis ``(pad_before, pad_after, n_out)``. Returns
    ``(*batch, *n_out)`` in ``x``'s dtype. ``plan`` (from ``fft_plan``) overrides the choice
    of transform lengths and frames; the calibration script uses it.
    """
    nd = w.ndim
    lead = x.ndim - nd
    stride, dilation = tuple(stride), tuple(dilation)
    n = x.shape[lead:]
    n_out = [g.n_out for g in geom]
    if 0 in n_out:
        return np.empty(x.shape[:lead] + tuple(n_out), dtype=x.dtype)
    implicit = boundary == "constant" and float(cval) == 0.0
    if plan is None:
        plan = fft_plan(x.shape, w.shape, geom, stride, dilation, x.dtype, implicit=implicit)
    if plan is None:  # only when even one frame exceeds the cap: accept the memory
        plan = fft_plan(
            x.shape, w.shape, geom, stride, dilation, x.dtype, implicit=implicit, temp_cap=2**62
        )
    workers = _workers()
    ke = [(k - 1) * d + 1 for k, d in zip(w.shape, dilation)]
    n1 = [(o - 1) * s + 1 for o, s in zip(n_out, stride)]
    axes = tuple(range(-nd, 0))
    cdtype = np.complex64 if x.dtype in (np.float32, np.complex64) else np.complex128
    # Complex data (docs/contract.md §1) uses full complex transforms on every axis; the
    # conjugated kernel spectrum is then exactly SciPy's correlate, which conjugates in2.
    cplx = x.dtype.kind == "c"

    # Implicit zero padding: the data of an axis sits at the start of the transform buffer,
    # cropped to what the kept outputs read, zeros after it, and pad_before becomes a phase
    # ramp. Otherwise the buffer holds padded positions -pad_before .. -pad_before + N - 1
    # (those beyond the needed range are never read by a kept output).
    shifts = [0] * nd
    ranges = []
    for a in range(nd):
        pb = geom[a].pad_before
        if implicit:
            ranges.append((0, min(n[a], n1[a] + ke[a] - 1 - pb)))
            shifts[a] = pb
        else:
            ranges.append((-pb, -pb + plan.lengths[a]))
    if plan.framed:
        shifts[0] = 0
    spec = _kernel_spectrum(w, plan.lengths, shifts, dilation, cdtype, workers)

    def transform(frames):
        """Inverse transform of (transform of frames x kernel spectrum), in scratch memory.

        The spectrum is transformed in place along the other axes, so two arrays of the
        transform's size are used: the spectrum and the output (``_spectrum``, ``_inverse``).
        """
        spectrum = _spectrum(frames, cplx, workers)
        if nd > 1:
            _c2c(spectrum, axes[:-1], True, workers)
        spectrum *= spec
        if nd > 1:
            _c2c(spectrum, axes[:-1], False, workers)
        if cplx:
            return _c2c(spectrum, (-1,), False, workers)
        return _inverse(spectrum, plan.lengths[-1], workers)

    if not plan.framed:
        y = transform(_segment(x, lead, ranges, plan.lengths, boundary, cval))
        kept = y[(Ellipsis, *(slice(0, m, s) for m, s in zip(n1, stride)))]
        return _scratch.result_copy(kept)  # never y itself: that is scratch

    # Overlap-save along the first kernel axis: frame f reads padded rows f*hop .. f*hop+N0-1
    # and keeps outputs f*block .. (f+1)*block-1. Frames are a strided view of one segment.
    n0 = plan.lengths[0]
    hop = plan.block * stride[0]
    pb0 = geom[0].pad_before
    keep = (slice(0, (plan.block - 1) * stride[0] + 1, stride[0]),) + tuple(
        slice(0, m, s) for m, s in zip(n1[1:], stride[1:])
    )
    # Frames write whole blocks into a buffer rounded up to a multiple of the block; the result
    # is its leading part (a view when there are no batch axes).
    rows = plan.nframes * plan.block
    full = _scratch.new_result(x.shape[:lead] + (rows,) + tuple(n_out[1:]), x.dtype)
    blocks = full.reshape(x.shape[:lead] + (plan.nframes, plan.block) + tuple(n_out[1:]))
    for f0 in range(0, plan.nframes, plan.group):
        f1 = min(plan.nframes, f0 + plan.group)
        lo = f0 * hop - pb0
        hi = (f1 - 1) * hop + n0 - pb0
        seg_lengths = (hi - lo,) + plan.lengths[1:]
        y = transform(
            _frames(
                _segment(x, lead, [(lo, hi)] + ranges[1:], seg_lengths, boundary, cval),
                lead,
                f1 - f0,
                n0,
                hop,
            )
        )
        blocks[(slice(None),) * lead + (slice(f0, f1),)] = y[(Ellipsis, *keep)]
    res = full[(slice(None),) * lead + (slice(0, n_out[0]),)]
    if res.flags.c_contiguous:
        return res
    return _scratch.result_copy(res)

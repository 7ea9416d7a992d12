"""ReLU forward and backward in one pass each (Numba), for C-contiguous float32/float64 arrays.

NumPy's versions take two passes or a slow one: ``numpy.maximum(x, 0)`` (NaN-propagating
compare and blend) took 101 us on a LeNet-5 conv1 output (64 x 6 x 28 x 28 float32), and the
backward ``grad * (y > 0)`` (a bool temporary, then a multiply) 82 us; these kernels took about
40 us each there, in cache (out of cache, on the AVX-512 vCPU: 155-183 us on one thread, 82-92
on two). Semantics: ``relu`` keeps NaN and gives +0.0 for every other ``x <= 0`` (-0.0
included, as ``numpy.maximum`` does for float32/float64); ``relu_backward`` passes ``grad``
where ``y > 0`` and writes 0 elsewhere (also where ``grad`` is NaN or infinite, as
``torch.nn.functional.relu``'s backward).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._threads import run_chunks


def fits(*arrays) -> bool:
    """Whether the kernels take these host arrays (C-contiguous, writeable, one dtype,
    float32/64). Read-only arrays go to NumPy: Numba would compile another version of each
    kernel for them."""
    dt = arrays[0].dtype
    return dt in (np.float32, np.float64) and all(
        type(a) is np.ndarray and a.dtype == dt and a.flags.c_contiguous and a.flags.writeable
        for a in arrays
    )


# Work per element in run_chunks' multiply-add units. The passes stream from L3 or memory: on
# the AVX-512 vCPU LeNet conv1's backward (301k float32, three arrays) took 155-183 us as one
# chunk and 82-92 us as two (eight chunks: 118-136 us). With 2 here an array is split from
# _config.CPU_MIN_CHUNK_WORK (262k) elements on, in chunks of at least 131k.
_WORK_PER_ELEMENT = 2


def relu(x, out):
    """``out[...] = max(x, 0)`` (``out`` may be ``x``)."""
    if out is x:
        # its own kernel: with ``out`` the same array, LLVM's run-time overlap check sent the
        # two-array loop to its scalar version (LeNet conv1, one thread: 170-197 us, against
        # 107-113 us out of place)
        run_chunks(_relu_inplace, _WORK_PER_ELEMENT * x.size, x.reshape(-1))
    else:
        run_chunks(_relu, _WORK_PER_ELEMENT * x.size, x.reshape(-1), out.reshape(-1))
    return out


def relu_host(x, out=None):
    """``max(x, 0)`` of any host array into ``out`` (``x`` itself, or None for a new array):
    the kernel where ``x`` :func:`fits` it, else NumPy (NaN kept either way)."""
    if not fits(x):
        return np.maximum(x, 0, out=out)
    return relu(x, np.empty_like(x) if out is None else out)


def relu_backward(g, y, out):
    """``out[...] = g`` where ``y > 0``, else 0."""
    args = (g.reshape(-1), y.reshape(-1), out.reshape(-1))
    run_chunks(_relu_backward, _WORK_PER_ELEMENT * g.size, *args)
    return out


@njit(cache=True, nogil=True)
def _relu(chunk, nchunk, x, out):
    n = x.shape[0]
    lo, hi = chunk * n // nchunk, (chunk + 1) * n // nchunk
    xs, os = x[lo:hi], out[lo:hi]
    for i in range(hi - lo):
        v = xs[i]
        os[i] = 0.0 if v <= 0 else v  # NaN <= 0 is False: NaN stays


@njit(cache=True, nogil=True)
def _relu_inplace(chunk, nchunk, x):
    n = x.shape[0]
    xs = x[chunk * n // nchunk : (chunk + 1) * n // nchunk]
    for i in range(xs.shape[0]):
        v = xs[i]
        xs[i] = 0.0 if v <= 0 else v


@njit(cache=True, nogil=True)
def _relu_backward(chunk, nchunk, g, y, out):
    n = g.shape[0]
    lo, hi = chunk * n // nchunk, (chunk + 1) * n // nchunk
    gs, ys, os = g[lo:hi], y[lo:hi], out[lo:hi]
    for i in range(hi - lo):
        os[i] = gs[i] if ys[i] > 0 else 0.0

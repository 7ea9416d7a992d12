"""The per-frequency channel sums of ``conv_fft``: one Numba kernel for all three passes.

``out[g, i, j, f] = sum_l a[g, i, l, f] * b[g, j, l, f]`` (``b`` conjugated when asked), over
strided views of the natural ``(N, C, F)`` spectra, so nothing is transposed: frequencies stay
the contiguous inner axis and every inner loop is a vectorisable complex multiply-add over
them. Tasks are ``(g, i)`` pairs, run in chunks on sigconv's thread pool (``run_chunks``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._threads import run_chunks


@njit(cache=True, nogil=True)
def _contract_chunk(chunk, nchunk, a, b, conj_b, out):
    ng, ni, nl, nf = a.shape
    nj = b.shape[1]
    ntask = ng * ni
    for task in range(chunk * ntask // nchunk, (chunk + 1) * ntask // nchunk):
        g, i = task // ni, task % ni
        for j in range(nj):
            for f in range(nf):
                out[g, i, j, f] = 0
            for l in range(nl):
                if conj_b:
                    for f in range(nf):
                        out[g, i, j, f] += a[g, i, l, f] * np.conj(b[g, j, l, f])
                else:
                    for f in range(nf):
                        out[g, i, j, f] += a[g, i, l, f] * b[g, j, l, f]


def contract(a, b, conj_b, out):
    """Fill ``out`` (a view, ``(G, I, J, F)``) with the channel sums of ``a`` and ``b``."""
    ng, ni, nl, nf = a.shape
    work = 4.0 * ng * ni * b.shape[1] * nl * nf
    run_chunks(_contract_chunk, work, a, b, bool(conj_b), out)
    return out

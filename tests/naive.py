"""Plain-loop oracles, written straight from the definitions in docs/contract.md (slow).

They share no code with sigconv: each computes its own geometry and walks every output and
every kernel tap. Other parts of the project append their own oracles below.
"""

import itertools

import numpy as np

# --- signal API (docs/contract.md §1) --------------------------------------------------------

_NUMPY_PAD_MODE = {
    "constant": "constant",
    "reflect": "symmetric",
    "mirror": "reflect",
    "nearest": "edge",
    "wrap": "wrap",
}


def signal_pads(n, k, mode, dilation):
    """``(before, after)`` padding of one axis (docs/contract.md §1, with SciPy's valid swap)."""
    ke = (k - 1) * dilation + 1
    if mode == "full":
        return ke - 1, ke - 1
    if mode == "same":
        return ke // 2, (ke - 1) // 2
    if n >= ke:
        return 0, 0
    return ke - n, ke - n


def correlate(in1, in2, mode="full", stride=1, dilation=1, boundary="constant", cval=0.0):
    """Strided, dilated correlation of ``in1`` (batch axes leading) with the kernel ``in2``.

    Pads the input with ``numpy.pad``, then for every output position sums over every kernel tap
    ``x[o * s + k * d]``: the definition, loop by loop (vectorised over the batch only).
    """
    x = np.asarray(in1, dtype=np.float64)
    w = np.asarray(in2, dtype=np.float64)
    nd = w.ndim
    s = (stride,) * nd if np.isscalar(stride) else tuple(stride)
    d = (dilation,) * nd if np.isscalar(dilation) else tuple(dilation)
    spatial = x.shape[x.ndim - nd :]
    ke = [(k - 1) * di + 1 for k, di in zip(w.shape, d)]
    if mode == "valid":
        if not (
            all(n >= e for n, e in zip(spatial, ke)) or all(e >= n for n, e in zip(spatial, ke))
        ):
            raise ValueError("valid: neither operand covers the other")
    pads = [signal_pads(n, k, mode, di) for n, k, di in zip(spatial, w.shape, d)]
    width = [(0, 0)] * (x.ndim - nd) + pads
    if boundary == "constant":
        xp = np.pad(x, width, mode="constant", constant_values=cval)
    else:
        xp = np.pad(x, width, mode=_NUMPY_PAD_MODE[boundary])
    n1 = [xp.shape[x.ndim - nd + i] - ke[i] + 1 for i in range(nd)]
    n_out = [(m - 1) // si + 1 for m, si in zip(n1, s)]
    out = np.zeros(x.shape[: x.ndim - nd] + tuple(n_out))
    for o in itertools.product(*[range(m) for m in n_out]):
        acc = np.zeros(x.shape[: x.ndim - nd])
        for k in itertools.product(*[range(m) for m in w.shape]):
            idx = tuple(oi * si + ki * di for oi, si, ki, di in zip(o, s, k, d))
            acc = acc + w[k] * xp[(Ellipsis,) + idx]
        out[(Ellipsis,) + o] = acc
    return out


def convolve(in1, in2, mode="full", stride=1, dilation=1, boundary="constant", cval=0.0):
    """:func:`correlate` with the kernel reversed along every axis."""
    w = np.asarray(in2, dtype=np.float64)
    return correlate(
        in1, w[(slice(None, None, -1),) * w.ndim], mode, stride, dilation, boundary, cval
    )

"""Plain-loop oracles of the CNN convolution (slow, obviously correct, for small shapes only).

They follow the definitions directly: pad with ``numpy.pad``, then for every output pixel sum
``input window * filter`` over the group's channels and the dilated taps; the transposed
convolution scatters every input pixel times the filter into the output.
"""

import itertools

import numpy as np

NUMPY_PAD_MODE = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "edge",
    "circular": "wrap",
    "symmetric": "symmetric",
}


def _window(pos, stride, ksize, dilation):
    """The input slices that output pixel ``pos`` reads (its dilated taps)."""
    return tuple(
        slice(p * s, p * s + (k - 1) * d + 1, d) for p, s, k, d in zip(pos, stride, ksize, dilation)
    )


def naive_conv(x, w, b=None, *, stride, pads, dilation, groups=1, padding_mode="zeros"):
    """``conv`` by loops; ``stride``/``dilation`` tuples, ``pads`` a list of (before, after)."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    nd = x.ndim - 2
    xp = np.pad(x, [(0, 0), (0, 0)] + [tuple(p) for p in pads], mode=NUMPY_PAD_MODE[padding_mode])
    n, cin = x.shape[:2]
    cout, cg = w.shape[:2]
    ksize = w.shape[2:]
    og = cout // groups
    out_sp = [
        (xp.shape[2 + a] - ((ksize[a] - 1) * dilation[a] + 1)) // stride[a] + 1 for a in range(nd)
    ]
    y = np.zeros((n, cout, *out_sp))
    for img in range(n):
        for o in range(cout):
            c0 = (o // og) * cg
            for pos in itertools.product(*(range(m) for m in out_sp)):
                window = _window(pos, stride, ksize, dilation)
                patch = xp[(img, slice(c0, c0 + cg)) + window]
                y[(img, o) + pos] = np.sum(patch * w[o])
            if b is not None:
                y[img, o] += b[o]
    return y


def naive_conv_transpose(x, w, b=None, *, stride, pads, output_padding, dilation, groups=1):
    """``conv_transpose`` by scattering: weight ``(C_in, C_out // groups, *k)``."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    nd = x.ndim - 2
    n, cin = x.shape[:2]
    og = w.shape[1]
    cout = og * groups
    cg = cin // groups
    ksize = w.shape[2:]
    full = [
        (x.shape[2 + a] - 1) * stride[a] + (ksize[a] - 1) * dilation[a] + 1 + output_padding[a]
        for a in range(nd)
    ]
    y = np.zeros((n, cout, *full))
    for img in range(n):
        for c in range(cin):
            grp = c // cg
            for pos in itertools.product(*(range(m) for m in x.shape[2:])):
                v = x[(img, c) + pos]
                for k in itertools.product(*(range(m) for m in ksize)):
                    idx = tuple(pos[a] * stride[a] + k[a] * dilation[a] for a in range(nd))
                    for o in range(og):
                        y[(img, grp * og + o) + idx] += v * w[(c, o) + k]
    crop = tuple(slice(pads[a][0], full[a] - pads[a][1]) for a in range(nd))
    y = y[(slice(None), slice(None)) + crop]
    if b is not None:
        y = y + np.asarray(b, dtype=np.float64).reshape((1, cout) + (1,) * nd)
    return y


def naive_conv_grad_weight(g, x, w_shape, *, stride, pads, dilation, groups=1):
    """Gradient of ``sum(g * conv(x, w))`` with respect to ``w`` (zero padding), by loops:
    every output pixel's gradient times the input window it read, added to the filter."""
    g = np.asarray(g, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    xp = np.pad(x, [(0, 0), (0, 0)] + [tuple(p) for p in pads])
    cout, cg = w_shape[:2]
    ksize = w_shape[2:]
    og = cout // groups
    gw = np.zeros(w_shape)
    for img in range(x.shape[0]):
        for o in range(cout):
            c0 = (o // og) * cg
            for pos in itertools.product(*(range(m) for m in g.shape[2:])):
                window = _window(pos, stride, ksize, dilation)
                gw[o] += g[(img, o) + pos] * xp[(img, slice(c0, c0 + cg)) + window]
    return gw

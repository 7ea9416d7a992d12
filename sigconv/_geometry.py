"""Output sizes and paddings for every mode: pure Python, shared by every backend.

Two conventions live here:

* the signal API (SciPy's ``full``/``same``/``valid``, docs/contract.md §1), and
* the neural-network API (PyTorch's ``padding``, plus ``"same"`` at any stride by TensorFlow's
  rule and ``"full"``, docs/contract.md §2).

Both reduce to one description per axis: ``(pad_before, pad_after, n_out)`` where output ``o``
reads input positions ``o * stride - pad_before + k * dilation`` for ``k`` in ``range(K)``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

SIGNAL_MODES = ("full", "same", "valid")


class AxisGeometry(NamedTuple):
    """One axis of a strided, dilated correlation over a padded input."""

    pad_before: int
    pad_after: int
    n_out: int


def effective_size(k: int, dilation: int) -> int:
    """Extent of a kernel of ``k`` taps with ``dilation - 1`` zeros between taps."""
    return (k - 1) * dilation + 1


def strided_count(n: int, stride: int) -> int:
    """How many of ``n`` stride-1 outputs are kept when every ``stride``-th is taken from 0."""
    return 0 if n <= 0 else (n - 1) // stride + 1


def signal_geometry(
    in_shape: Sequence[int],
    kernel_shape: Sequence[int],
    mode: str,
    stride: Sequence[int],
    dilation: Sequence[int],
) -> list[AxisGeometry]:
    """Per kernel axis, the padding and output count of the signal API.

    ``in_shape`` is the trailing part of the input's shape that the kernel acts on. ``valid``
    follows SciPy: one operand must cover the other in every axis; when the (dilated) kernel is
    the larger one, the result is the positions where it fully covers the input.
    """
    ke = [effective_size(k, d) for k, d in zip(kernel_shape, dilation)]
    if mode == "valid":
        input_covers = all(n >= e for n, e in zip(in_shape, ke))
        kernel_covers = all(e >= n for n, e in zip(in_shape, ke))
        if not (input_covers or kernel_covers):
            raise ValueError(
                "mode='valid' needs one of in1 and the (dilated) in2 to be at least as large as "
                f"the other in every axis; got in1 axes {tuple(in_shape)} and in2 extents "
                f"{tuple(ke)}"
            )
    out = []
    for n, e, s in zip(in_shape, ke, stride):
        if mode == "full":
            before, after, n1 = e - 1, e - 1, n + e - 1
        elif mode == "same":
            before, after, n1 = e // 2, (e - 1) // 2, n
        elif n >= e:  # valid, input covers kernel
            before, after, n1 = 0, 0, n - e + 1
        else:  # valid, kernel covers input (SciPy swaps the operands)
            before, after, n1 = e - n, e - n, e - n + 1
        out.append(AxisGeometry(before, after, strided_count(n1, s)))
    return out


def _is_int(v) -> bool:
    return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool)


def nn_padding(
    padding,
    spatial_shape: Sequence[int],
    kernel_shape: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    name: str = "padding",
) -> list[tuple[int, int]]:
    """Resolve the neural-network ``padding`` argument to ``(before, after)`` per spatial axis.

    Accepts an int, a tuple of ints (one per axis, both sides), a tuple of ``(before, after)``
    pairs, ``"valid"``, ``"same"`` (PyTorch's split at stride 1, TensorFlow's rule at stride > 1:
    ``ceil(n / s)`` outputs) or ``"full"`` (``Ke - 1`` on both sides).
    """
    nd = len(spatial_shape)
    ke = [effective_size(k, d) for k, d in zip(kernel_shape, dilation)]
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * nd
        if padding == "full":
            return [(e - 1, e - 1) for e in ke]
        if padding == "same":
            pads = []
            for n, e, s in zip(spatial_shape, ke, stride):
                total = max((-(-n // s) - 1) * s + e - n, 0)
                # At stride 1 total == e - 1 and this is PyTorch's split (before = (e-1)//2).
                pads.append((total // 2, total - total // 2))
            return pads
        raise ValueError(
            f"{name} must be an int, a tuple or one of 'valid', 'same', 'full'; got {padding!r}"
        )
    if _is_int(padding):
        pads = [(int(padding), int(padding))] * nd
    elif isinstance(padding, (Sequence, np.ndarray)):
        items = list(padding)
        if len(items) != nd:
            raise ValueError(f"{name} must have one entry per spatial axis ({nd}); got {padding!r}")
        pads = []
        for item in items:
            if _is_int(item):
                pads.append((int(item), int(item)))
            elif (
                isinstance(item, (Sequence, np.ndarray))
                and len(item) == 2
                and all(_is_int(v) for v in item)
            ):
                pads.append((int(item[0]), int(item[1])))
            else:
                raise TypeError(
                    f"{name} entries must be ints or (before, after) pairs of ints; got {padding!r}"
                )
    else:
        raise TypeError(
            f"{name} must be an int, a tuple or one of 'valid', 'same', 'full'; "
            f"got {padding!r} (type {type(padding).__name__})"
        )
    if any(b < 0 or a < 0 for b, a in pads):
        raise ValueError(f"{name} must be non-negative; got {padding!r}")
    return pads


def nn_output_size(n: int, pads: tuple[int, int], k: int, stride: int, dilation: int) -> int:
    """PyTorch's output length: ``floor((n + before + after - Ke) / s) + 1`` (may be <= 0)."""
    return (n + pads[0] + pads[1] - effective_size(k, dilation)) // stride + 1

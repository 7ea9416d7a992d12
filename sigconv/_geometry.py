"""Output sizes, paddings and the plan of every operation: pure Python, shared by every backend.

A public front end validates its arguments and builds one plan here (:class:`CorrelatePlan`,
:class:`ConvPlan`, :class:`PoolPlan`); both backends (``sigconv._cpu``, ``sigconv._cuda``) take
``(plan, arrays...)`` and never re-validate or re-derive a shape.

Two conventions live here:

* the signal API (SciPy's ``full``/``same``/``valid``, docs/contract.md §1), and
* the neural-network API (PyTorch's ``padding``, plus ``"same"`` at any stride by TensorFlow's
  rule and ``"full"``, docs/contract.md §2).

Both reduce to one description per axis: ``(pad_before, pad_after, n_out)`` where output ``o``
reads input positions ``o * stride - pad_before + k * dilation`` for ``k`` in ``range(K)``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from . import _modes, _validate

SIGNAL_MODES = ("full", "same", "valid")
SIGNAL_METHODS = ("auto", "direct", "fft")


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


# --- plans -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CorrelatePlan:
    """One call of the signal API (docs/contract.md §1), resolved.

    ``axes`` holds one :class:`AxisGeometry` per kernel axis; ``in2`` is NOT flipped by the
    front end: ``flip`` asks the backend for a convolution. ``method`` is what the caller asked
    for (``auto`` is the CPU backend's cost model to resolve; the CUDA backend has only the
    direct kernels).
    """

    batch: tuple[int, ...]
    spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    axes: tuple[AxisGeometry, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    boundary: str
    cval: float
    flip: bool
    method: str
    dtype: np.dtype
    separable: bool = False  # may a rank-one kernel run as 1-D passes (method="auto" only)

    @property
    def nd(self) -> int:
        return len(self.kernel)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.batch + tuple(g.n_out for g in self.axes)

    @property
    def boundary_code(self) -> int:
        return _modes.BOUNDARY_CODES[self.boundary]

    @functools.cached_property
    def memo(self) -> dict:
        """Answers a backend derives from the plan alone (its choice of method), kept with
        the plan: plans are cached, so repeated calls of one shape decide once."""
        return {}

    @property
    def work(self) -> float:
        """Multiply-adds times two of the direct method (the backend cost models' unit)."""
        return 2.0 * math.prod(self.out_shape) * math.prod(self.kernel)


def correlate_plan(
    in_shape, kernel_shape, mode, *, stride, dilation, boundary, cval, flip, method, dtype,
    separable=False,
) -> CorrelatePlan:  # fmt: skip
    """Validate the options of ``correlate``/``convolve`` and plan the call (``valid`` may
    still raise when neither operand covers the other); ``stride``, ``dilation``, ``mode``,
    ``boundary``, ``method`` and ``cval`` as the caller gave them.

    Plans are cached by their arguments (types and values), as :func:`conv_plan`'s: planning
    and validating took 10 us of the 46 us a small strided call spent in Python. Invalid
    arguments raise every time, since only plans are cached.
    """
    args = (in_shape, kernel_shape, mode, stride, dilation, boundary, cval, flip, method, dtype,
            separable)  # fmt: skip
    if plain_signal_options(mode, stride, dilation, boundary, cval, method):
        # the common call, keyed as it is: no item is a pair, so it cannot equal a general key
        return _cached(args, _correlate_plan, args, {})
    key = (in_shape, kernel_shape) + tuple(map(_plan_key, args[2:]))
    return _cached(key, _correlate_plan, args, {})


def _correlate_plan(
    in_shape, kernel_shape, mode, stride, dilation, boundary, cval, flip, method, dtype, separable
) -> CorrelatePlan:
    mode = _validate.check_option(mode, "mode", SIGNAL_MODES)
    boundary = _validate.check_option(boundary, "boundary", _modes.BOUNDARIES)
    method = _validate.check_option(method, "method", SIGNAL_METHODS)
    cval = _validate.check_float(cval, "cval")
    nd = len(kernel_shape)
    stride = _validate.int_tuple(stride, "stride", nd)
    dilation = _validate.int_tuple(dilation, "dilation", nd)
    spatial = tuple(int(n) for n in in_shape[len(in_shape) - nd :])
    axes = signal_geometry(spatial, kernel_shape, mode, stride, dilation)
    return CorrelatePlan(
        batch=tuple(int(n) for n in in_shape[: len(in_shape) - nd]),
        spatial=spatial,
        kernel=tuple(int(k) for k in kernel_shape),
        axes=tuple(axes),
        stride=stride,
        dilation=dilation,
        boundary=boundary,
        cval=cval,
        flip=bool(flip),
        method=method,
        dtype=np.dtype(dtype),
        separable=bool(separable),
    )


def check_groups(groups) -> int:
    if not isinstance(groups, (numbers.Integral, np.integer)) or isinstance(groups, bool):
        raise TypeError(
            f"groups must be a positive int; got {groups!r} (type {type(groups).__name__})"
        )
    if groups < 1:
        raise ValueError(f"groups must be a positive int; got {groups!r}")
    return int(groups)


def check_channels(cin, weight_shape, groups, *, transpose=False):
    """Channel bookkeeping shared by conv and conv_transpose; returns (C_out, C_in / groups)."""
    if transpose:
        # weight (C_in, C_out // groups, *k): C_in is the transposed input's channel count.
        if weight_shape[0] != cin:
            raise ValueError(
                f"weight.shape[0] must equal the input's channels x.shape[1] = {cin} for "
                f"conv_transpose; got weight shape {tuple(weight_shape)}"
            )
        if cin % groups:
            raise ValueError(f"groups={groups} must divide the input channels {cin}")
        return weight_shape[1] * groups, weight_shape[1]
    if cin % groups:
        raise ValueError(f"groups={groups} must divide the input channels x.shape[1] = {cin}")
    if weight_shape[1] * groups != cin:
        raise ValueError(
            f"weight.shape[1] must be x.shape[1] // groups = {cin} // {groups} = {cin // groups}; "
            f"got weight shape {tuple(weight_shape)}"
        )
    cout = weight_shape[0]
    if cout % groups:
        raise ValueError(
            f"groups={groups} must divide the output channels weight.shape[0] = {cout}"
        )
    return cout, weight_shape[1]


@dataclasses.dataclass(frozen=True)
class ConvPlan:
    """One NN convolution (docs/contract.md §2), resolved: ``x (N, C_in, *spatial)`` correlated
    with ``weight (C_out, C_in / groups, *ksize)`` over ``pads`` gives ``(N, C_out, *out)``.

    A transposed convolution is planned as the forward convolution it is the adjoint of
    (``transpose=True``): its input is that convolution's output (``out``) and its result that
    convolution's input (``spatial``).
    """

    n: int
    cout: int
    cin_g: int
    groups: int
    spatial: tuple[int, ...]
    ksize: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: list
    padding_mode: str
    out: tuple[int, ...]
    dtype: np.dtype
    transpose: bool = False
    #: 'auto', 'direct' or 'fft' (issue 12): how the CPU backend computes the correlations;
    #: the CUDA backend has direct kernels only.
    method: str = "auto"

    @property
    def nd(self) -> int:
        return len(self.spatial)

    @property
    def cin(self) -> int:
        return self.cin_g * self.groups

    @property
    def padding_code(self) -> int:
        return _modes.PADDING_CODES[self.padding_mode]

    def c3(self, t, fill):
        """``t`` (one value per spatial axis) padded at the front to the canonical 3 axes."""
        return (fill,) * (3 - self.nd) + tuple(t)

    # The canonical (3-axis) geometry the CPU kernels take, built once per plan: a call made
    # seven of these (9 us of a LeNet-sized call's Python).
    @functools.cached_property
    def stride3(self):
        return self.c3(self.stride, 1)

    @functools.cached_property
    def dilation3(self):
        return self.c3(self.dilation, 1)

    @functools.cached_property
    def out3(self):
        return self.c3(self.out, 1)

    @functools.cached_property
    def ksize3(self):
        return self.c3(self.ksize, 1)

    @functools.cached_property
    def padded3(self):
        return self.c3(self.padded, 1)

    @functools.cached_property
    def memo(self) -> dict:
        """Answers a backend derives from the plan alone (its choice of method, say), kept
        with the plan: plans are cached, so a training loop decides once per layer."""
        return {}

    @functools.cached_property
    def padded(self):
        return tuple(n + b + a for n, (b, a) in zip(self.spatial, self.pads))

    @property
    def x_shape(self) -> tuple[int, ...]:
        return (self.n, self.cin) + self.spatial

    @property
    def w_shape(self) -> tuple[int, ...]:
        return (self.cout, self.cin_g) + self.ksize

    @property
    def y_shape(self) -> tuple[int, ...]:
        return (self.n, self.cout) + self.out

    def maps(self):
        """Per canonical axis, the source index of every padded position (-1 for zero); built
        once per plan (plans are cached, so a training loop builds them once), never to be
        written to."""
        return self._maps

    @functools.cached_property
    def _maps(self):
        out = [np.zeros(1, dtype=np.int64)] * (3 - self.nd)
        for n, (b, a) in zip(self.spatial, self.pads):
            if self.padding_mode == "zeros":
                m = np.full(n + b + a, -1, dtype=np.int64)
                m[b : b + n] = np.arange(n)
            else:
                m = np.pad(
                    np.arange(n, dtype=np.int64),
                    (b, a),
                    mode=_modes.PADDING_NUMPY[self.padding_mode],
                )
            out.append(m)
        return out

    def flops(self):
        return 2.0 * self.n * self.cout * self.cin_g * math.prod(self.out) * math.prod(self.ksize)


CONV_METHODS = ("auto", "direct", "fft")


_PLANS: dict = {}
_PLANS_MAX = 256


def _plan_key(value):
    """A key for a planning argument that keeps every distinction validation makes: the type
    of each value as well as the value (``True`` is not ``1``, ``1.0`` is not ``1``, a list is
    not a tuple). Unhashable for anything else unhashable (an array)."""
    kind = type(value)
    if kind is tuple or kind is list:
        return (kind, tuple(map(_plan_key, value)))
    return (kind, value)


def conv_plan(
    x_shape, w_shape, stride, padding, dilation, groups, padding_mode, dtype, method="auto"
) -> ConvPlan:
    """Validate the geometry of ``conv(x, weight, ...)`` and plan it.

    Plans are cached by their arguments (types and values): a training loop plans each layer
    once. Planning took 28 us of a LeNet-sized call's 100 us of Python on the Sapphire Rapids
    vCPU. A ``ConvPlan`` is frozen, so a cached one is shared safely; invalid arguments raise
    every time, since only plans are cached.
    """
    args = (x_shape, w_shape, stride, padding, dilation, groups, padding_mode, dtype, method)
    if plain_conv_options(stride, padding, dilation, groups):
        # the common call, keyed as it is (a key of (type, value) pairs took 5 us); it cannot
        # equal a key of the general form, whose items are pairs
        return _cached(args, _conv_plan, args, {})
    # the shapes are an array's (tuples of ints): keyed as they are
    key = (x_shape, w_shape) + tuple(map(_plan_key, args[2:]))
    return _cached(key, _conv_plan, args, {})


def plain_signal_options(mode, stride, dilation, boundary, cval, method) -> bool:
    """Whether the signal options have the types validation takes as they are (an int stride
    and dilation, a float ``cval``, strings): such a spelling keys a plan, or a known call, by
    its values, since no other type can then compare equal (``1 == 1.0 == True``)."""
    return (
        type(stride) is int
        and type(dilation) is int
        and type(cval) is float
        and type(mode) is str
        and type(boundary) is str
        and type(method) is str
    )


def plain_conv_options(stride, padding, dilation, groups) -> bool:
    """:func:`plain_signal_options` for the CNN convolution's geometry (int stride, dilation
    and groups; an int or string padding)."""
    return (
        type(stride) is int
        and type(dilation) is int
        and type(groups) is int
        and (type(padding) is int or type(padding) is str)
    )


def known_plan(key):
    """The plan kept under ``key`` by :func:`remember_plan`, or None."""
    return _PLANS.get(key)


def remember_plan(key, plan) -> None:
    """Keep ``plan`` under ``key`` (a tuple whose first item names its kind, so that it cannot
    equal a planning function's key) in the plan cache."""
    if len(_PLANS) >= _PLANS_MAX:
        _PLANS.clear()
    _PLANS[key] = plan


def _cached(key, plan, args, options):
    """``plan(*args, **options)``, from the cache under ``key`` when planned before."""
    try:
        out = _PLANS.get(key)
    except TypeError:  # an unhashable argument: plan without the cache
        return plan(*args, **options)
    if out is None:
        out = plan(*args, **options)
        if len(_PLANS) >= _PLANS_MAX:
            _PLANS.clear()
        _PLANS[key] = out
    return out


def _conv_plan(
    x_shape, w_shape, stride, padding, dilation, groups, padding_mode, dtype, method
) -> ConvPlan:
    method = _validate.check_option(method, "method", CONV_METHODS)
    nd = len(x_shape) - 2
    groups = check_groups(groups)
    cout, cin_g = check_channels(x_shape[1], w_shape, groups)
    spatial = tuple(int(n) for n in x_shape[2:])
    ksize = tuple(int(k) for k in w_shape[2:])
    stride = _validate.int_tuple(stride, "stride", nd)
    dilation = _validate.int_tuple(dilation, "dilation", nd)
    padding_mode = _validate.check_option(padding_mode, "padding_mode", _modes.PADDING_MODES)
    pads = nn_padding(padding, spatial, ksize, stride, dilation)
    out = tuple(
        nn_output_size(n, p, k, s, d)
        for n, p, k, s, d in zip(spatial, pads, ksize, stride, dilation)
    )
    if any(o <= 0 for o in out):
        ke = [effective_size(k, d) for k, d in zip(ksize, dilation)]
        raise ValueError(
            f"the output would be empty: input spatial size {spatial} with padding "
            f"{pads} is smaller than the dilated kernel {tuple(ke)} in some axis "
            f"(output size {out})"
        )
    if padding_mode != "zeros":
        for axis, (n, (b, a)) in enumerate(zip(spatial, pads)):
            most = n - 1 if padding_mode == "reflect" else n
            if padding_mode != "replicate" and max(b, a) > most:
                rule = "smaller than" if padding_mode == "reflect" else "at most"
                raise ValueError(
                    f"padding_mode={padding_mode!r} needs padding {rule} the input size "
                    f"in every axis; got padding {(b, a)} for spatial axis {axis} of size {n}"
                )
    return ConvPlan(
        int(x_shape[0]), int(cout), int(cin_g), groups, spatial, ksize, stride, dilation,
        pads, padding_mode, out, np.dtype(dtype), method=method,
    )  # fmt: skip


def conv_transpose_plan(
    x_shape, w_shape, stride, padding, output_padding, dilation, groups, dtype
) -> ConvPlan:
    """Validate ``conv_transpose(x, weight, ...)`` and plan it as the adjoint of a conv."""
    nd = len(x_shape) - 2
    groups = check_groups(groups)
    cout, _ = check_channels(x_shape[1], w_shape, groups, transpose=True)
    stride_t = _validate.int_tuple(stride, "stride", nd)
    dil_t = _validate.int_tuple(dilation, "dilation", nd)
    opad = _validate.int_tuple(output_padding, "output_padding", nd, minimum=0)
    ksize = tuple(int(k) for k in w_shape[2:])
    if isinstance(padding, str):
        raise ValueError(
            "padding of conv_transpose must be an int, a tuple of ints or of (before, after) "
            f"pairs; got {padding!r}"
        )
    pads = nn_padding(padding, x_shape[2:], ksize, stride_t, dil_t)
    for axis, (op, s, d) in enumerate(zip(opad, stride_t, dil_t)):
        if op >= max(s, d):
            raise ValueError(
                f"output_padding must be smaller than max(stride, dilation) in every axis; got "
                f"{op} for axis {axis} with stride {s} and dilation {d}"
            )
    out = tuple(
        (n - 1) * s - b - a + d * (k - 1) + op + 1
        for n, (b, a), k, s, d, op in zip(x_shape[2:], pads, ksize, stride_t, dil_t, opad)
    )
    if any(o <= 0 for o in out):
        raise ValueError(
            f"the output would be empty: conv_transpose output size {out} for input spatial "
            f"size {tuple(x_shape[2:])}, padding {pads} and kernel {ksize}"
        )
    # The matching forward convolution: input (N, C_out, *out), weight as given. With
    # output_padding >= stride (allowed when dilation > stride) the forward formula would
    # count extra outputs that no input position reaches; the adjoint only involves x's.
    plan = conv_plan(
        (x_shape[0], cout) + out, w_shape, stride_t, pads, dil_t, groups, "zeros", dtype
    )
    return dataclasses.replace(plan, out=tuple(int(n) for n in x_shape[2:]), transpose=True)


@dataclasses.dataclass(frozen=True)
class PoolPlan:
    """One pooling call (docs/contract.md §2), resolved: ``x`` of ``shape`` gives
    ``(N, C, *out)``. Window geometry (``kernel``, ``stride``, ``padding``, ``dilation``) has
    one int per spatial axis; the other fields hold the options of the kinds that have them.
    """

    shape: tuple[int, ...]
    out: tuple[int, ...]
    dtype: np.dtype
    kernel: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    padding: tuple[int, ...] = ()
    dilation: tuple[int, ...] = ()
    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor: int | None = None
    norm_type: float = 1.0
    training: bool = False

    @property
    def nd(self) -> int:
        return len(self.shape) - 2

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.shape[:2] + self.out

    @property
    def plane(self) -> int:
        """Elements in one ``(n, c)`` spatial plane of ``x``."""
        return math.prod(self.shape[2:])


def pool_stride(stride, kernel, name: str = "stride") -> tuple[int, ...]:
    # PyTorch: None (or an empty sequence) means stride = kernel_size.
    if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0):
        return kernel
    return _validate.int_tuple(stride, name, len(kernel))


def pool_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's ``pooling_output_shape``: with ``ceil_mode`` the last window must start
    inside the input or the left padding."""
    out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def pool_plan(
    shape, dtype, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, *,
    check_windows=False, **options,
) -> PoolPlan:  # fmt: skip
    """Validate a windowed pooling's geometry (max, avg, Lp, stochastic) and plan it;
    ``options`` are the kind's own, already validated.

    Cached as :func:`conv_plan` (the window check alone took 20-40 us a call, of a pooling
    whose kernel takes 50 us).
    """
    args = (shape, dtype, kernel_size, stride, padding, dilation, ceil_mode)
    key = ("pool", shape, check_windows) + tuple(map(_plan_key, args[1:]))
    key += tuple((name, _plan_key(value)) for name, value in sorted(options.items()))
    return _cached(key, _pool_plan, args, dict(options, check_windows=check_windows))


def _pool_plan(
    shape, dtype, kernel_size, stride, padding, dilation, ceil_mode, *, check_windows, **options
) -> PoolPlan:
    nd = len(shape) - 2
    k = _validate.int_tuple(kernel_size, "kernel_size", nd)
    s = pool_stride(stride, k)
    p = _validate.int_tuple(padding, "padding", nd, minimum=0)
    d = _validate.int_tuple(dilation, "dilation", nd)
    ceil_mode = _validate.check_bool(ceil_mode, "ceil_mode")
    for kk, pp in zip(k, p):
        if pp > kk // 2:
            raise ValueError(
                f"padding must be at most half of kernel_size in every axis (as PyTorch); "
                f"got padding={p} with kernel_size={k}"
            )
    spatial = tuple(shape[2:])
    out = tuple(pool_size(n, *g, ceil_mode) for n, g in zip(spatial, zip(k, s, p, d)))
    if any(o < 1 for o in out):
        raise ValueError(
            f"the pooling output would be empty: input spatial shape {spatial} with "
            f"kernel_size={k}, stride={s}, padding={p}, dilation={d} gives {out}"
        )
    if check_windows:
        for n, kk, ss, pp, dd, o in zip(spatial, k, s, p, d, out):
            pos = np.arange(o)[:, None] * ss - pp + np.arange(kk)[None, :] * dd
            if not np.all(np.any((pos >= 0) & (pos < n), axis=1)):
                raise ValueError(
                    "some pooling window covers only padding (dilation skips every input "
                    f"element): input spatial shape {spatial}, kernel_size={k}, "
                    f"stride={s}, padding={p}, dilation={d}"
                )
    return PoolPlan(
        tuple(int(v) for v in shape), out, np.dtype(dtype), k, s, p, d, ceil_mode, **options
    )


def whole_plan(shape, dtype, out=None) -> PoolPlan:
    """The plan of a pooling that is not windowed: global pooling (``out`` all ones) or
    spectral pooling (``out`` the validated output size)."""
    nd = len(shape) - 2
    out = (1,) * nd if out is None else tuple(out)
    return PoolPlan(tuple(int(v) for v in shape), out, np.dtype(dtype))

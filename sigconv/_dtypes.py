"""SciPy's result dtypes for the signal API, and exact integer correlation (docs/contract.md §1).

The result dtype of ``correlate``/``convolve`` is ``numpy.result_type(in1, in2)``, as in
``scipy.signal`` (integers stay integers, float16 stays float16, complex64 stays complex64), or
the ``dtype=`` the caller asks for. The Numba kernels compute in float32 or float64 only, so:

* float results run in float32 (float16, float32) or float64 and are cast;
* complex results are decomposed into real correlations (``sigconv._complex``);
* integer and bool results are computed **exactly** on the direct path: in float64 when the
  largest possible output magnitude is below 2**52 (every product and partial sum is then an
  exact integer), otherwise by splitting both operands into limbs of a few bits whose
  correlations are exact in float64 and recombining them in wrapping uint64 arithmetic. The
  result is the exact sum reduced modulo ``2**bits`` of the result type, which is what SciPy's
  integer accumulation gives (and a bool result is True where the sum is non-zero). On the FFT
  path the float64 result is rounded to the nearest integer, as SciPy does; ``method="auto"``
  takes that path for integers only when the rounding error is provably far below 0.5.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["compute_dtype", "fft_rounding_safe", "integer_correlate", "resolve", "wrap"]

_SUPPORTED = "biufc"


def resolve(dtype, a_dtype, b_dtype) -> np.dtype:
    """The result dtype: ``dtype`` if given (validated), else ``numpy.result_type``."""
    if dtype is None:
        rdt = np.result_type(a_dtype, b_dtype)
        name = "the result dtype (numpy.result_type of in1 and in2)"
    else:
        try:
            rdt = np.dtype(dtype)
        except TypeError as exc:
            raise TypeError(f"dtype must be a numpy dtype or None; got {dtype!r}") from exc
        name = "dtype"
    if rdt.kind not in _SUPPORTED or rdt.itemsize > (16 if rdt.kind == "c" else 8):
        raise TypeError(
            f"{name} must be bool, an integer, float16/32/64 or complex64/128; got {rdt} "
            "(extended precision is not supported: cast the inputs to float64 or complex128)"
        )
    if dtype is not None:
        if rdt.kind != "c" and "c" in (a_dtype.kind, b_dtype.kind):
            raise TypeError(
                f"dtype must be complex for complex inputs (a real result would drop the "
                f"imaginary part); got dtype={rdt}"
            )
        if rdt.kind in "biu" and (a_dtype.kind not in "biu" or b_dtype.kind not in "biu"):
            raise TypeError(
                f"dtype={rdt} (an integer result) needs integer or bool inputs; got "
                f"{a_dtype} and {b_dtype} (round the result yourself, or pass a float dtype)"
            )
    return rdt


def compute_dtype(rdt: np.dtype) -> np.dtype:
    """The real dtype the kernels run in for result dtype ``rdt``."""
    if rdt.kind in "biu":
        return np.dtype(np.float64)
    if rdt.kind == "c":
        return np.dtype(np.float32 if rdt.itemsize <= 8 else np.float64)
    return np.dtype(np.float32 if rdt.itemsize <= 4 else np.float64)


def wrap(y: np.ndarray, rdt: np.dtype) -> np.ndarray:
    """Integer-valued float64 ``y`` as ``rdt``, reduced modulo ``2**bits`` (bool: non-zero).

    Values beyond int64 (only possible on the FFT path) are reduced modulo 2**64 first, so the
    conversion is always defined.
    """
    if rdt.kind == "b":
        return y != 0
    if np.any(np.abs(y) >= 2.0**63):
        y = np.fmod(y, 2.0**64)  # exact
        y = np.where(y >= 2.0**63, y - 2.0**64, np.where(y < -(2.0**63), y + 2.0**64, y))
    return y.astype(np.int64).astype(rdt)


def _max_abs(arr: np.ndarray) -> float:
    """``max|arr|`` as a float, rounded up (int64's minimum does not overflow)."""
    return float(np.max(np.abs(arr.astype(np.float64)))) * (1 + 2.0**-50)


def fft_rounding_safe(a, b, cval, n_points) -> bool:
    """Whether a float64 FFT correlation of integer operands rounds to the exact result.

    The error of an FFT correlation is at most about ``eps * log2(n) * ||x||_2 * ||k||_2``
    (Cooley-Tukey's normwise bound, with a generous constant); below 1/8 rounding is exact.
    ``n_points`` is the size of the padded input (cval counted at every padded position).
    """
    xf = a.astype(np.float64)
    kf = b.astype(np.float64)
    norm_x = math.sqrt(float(np.vdot(xf, xf))) + abs(cval) * math.sqrt(n_points)
    norm_k = math.sqrt(float(np.vdot(kf, kf)))
    err = 64 * 2.0**-52 * max(math.log2(max(n_points, 2)), 1.0) * norm_x * norm_k
    return err < 0.125


def integer_correlate(run, a, b, rdt, cval, boundary):
    """Exact correlation of integer/bool ``a`` and ``b`` on the direct path, as ``rdt``.

    ``run(x, w, cval)`` is the real float64 direct correlation with every other option fixed
    (mode, stride, dilation, boundary, flip, origin). ``cval`` is integral.
    """
    c = cval if boundary == "constant" else 0.0
    bound = max(_max_abs(a), abs(c)) * float(np.sum(np.abs(b.astype(np.float64))))
    if bound < 2.0**52:
        # every product and partial sum is an integer below 2**52: float64 is exact
        return wrap(run(a.astype(np.float64), b.astype(np.float64), c), rdt)
    return _limbs(run, a, b, rdt, int(c), boundary)


def _unsigned(arr: np.ndarray) -> np.ndarray:
    """``arr`` modulo 2**64 as uint64 (two's complement for negative values)."""
    if arr.dtype.kind == "i":
        return arr.astype(np.int64).view(np.uint64)
    return arr.astype(np.uint64)


def _limbs(run, a, b, rdt, c, boundary):
    """The exact correlation modulo ``2**bits`` by limb splitting (large integers).

    ``a = sum_i a_i 2**(L i)`` and ``b = sum_j b_j 2**(L j)`` with limbs in ``[0, 2**L)`` of the
    operands taken modulo 2**bits; each ``a_i (x) b_j`` is exact in float64 because
    ``taps * (2**L - 1)**2 < 2**52``, and the terms are shifted and summed in wrapping uint64.
    A constant boundary ``c`` is handled as ``corr0(a - c) + c * sum(b)`` (exact modulo
    2**bits), so that every limb is zero-padded.
    """
    bits = 8 * rdt.itemsize
    taps = b.size
    limb = max(1, (52 - math.ceil(math.log2(taps + 1))) // 2)
    mask = np.uint64((1 << limb) - 1)
    au = _unsigned(a)
    if c:
        au = au - np.uint64(c % 2**64)  # wraps modulo 2**64
    bu = _unsigned(b)
    n_limbs = -(-bits // limb)
    a_limbs = np.stack(
        [((au >> np.uint64(limb * i)) & mask).astype(np.float64) for i in range(n_limbs)]
    )
    acc = None
    for j in range(n_limbs):
        bj = ((bu >> np.uint64(limb * j)) & mask).astype(np.float64)
        if not bj.any():
            continue
        keep = [i for i in range(n_limbs) if limb * (i + j) < bits]
        part = run(a_limbs[keep], bj, 0.0)
        for slot, i in enumerate(keep):
            term = part[slot].astype(np.uint64) << np.uint64(limb * (i + j))
            acc = term if acc is None else acc + term
    if acc is None:  # the kernel is zero modulo 2**bits
        acc = np.zeros(run(a_limbs[:1], np.zeros_like(bu, np.float64), 0.0)[0].shape, np.uint64)
    if c:
        acc = acc + np.uint64((c * int(np.sum(b.astype(object)))) % 2**64)
    if rdt.kind == "b":  # not reached (bool sums stay below 2**52), kept for completeness
        return acc != 0
    return acc.astype(rdt)

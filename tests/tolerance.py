"""Tolerances per dtype, defined once, and the comparison every test uses."""

import numpy as np

# Tolerances per dtype, defined once: (rtol, atol) relative to the result's scale.
TOL = {
    np.dtype(np.float32): (2e-4, 2e-4),
    np.dtype(np.float64): (1e-10, 1e-10),
}


def assert_close(actual, desired, *, dtype=None, scale=None, err_msg=""):
    """Compare with the per-dtype tolerance; ``atol`` is scaled by the desired result's size."""
    actual = np.asarray(actual)
    desired = np.asarray(desired)
    dt = np.dtype(dtype) if dtype is not None else actual.dtype
    rtol, atol = TOL.get(dt, TOL[np.dtype(np.float64)])
    if scale is None:
        scale = max(1.0, float(np.max(np.abs(desired))) if desired.size else 1.0)
    assert actual.shape == desired.shape, f"shape {actual.shape} != {desired.shape} {err_msg}"
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol * scale, err_msg=err_msg)

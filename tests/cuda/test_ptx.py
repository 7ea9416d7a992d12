"""Every registered CUDA kernel compiles to PTX for sm_80 and sm_90 (no GPU needed).

The simulator accepts code that NVVM rejects, so this runs the real compiler in a child process
without ``NUMBA_ENABLE_CUDASIM`` (``compile_ptx`` is unavailable in the simulator).
"""

import os
import subprocess
import sys

import pytest

from sigconv._cuda import ptx

pytestmark = pytest.mark.cuda


def test_every_registered_kernel_compiles_for_sm80_and_sm90():
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run(
        [sys.executable, "-m", "sigconv._cuda.ptx"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    ok = {
        tuple(line.split(" (")[0].split(" ", 1)[1].rsplit(" ", 1))
        for line in proc.stdout.splitlines()
        if line.startswith("ok ")
    }
    kernels, errors = ptx.registered_kernels()
    assert not errors
    names = {name for name, _, _ in kernels}
    # the registry holds the signal kernels and both dtypes of each
    assert {"sigconv._cuda.correlate._corr_tiled", "sigconv._cuda.correlate._corr_direct"} <= names
    for name, _, sigs in kernels:
        assert any("float32" in s for s in sigs) and any("float64" in s for s in sigs), name
        for sig in sigs:
            for target in ("sm_80", "sm_90"):
                assert (f"{name} {sig}", target) in ok, (name, sig, target)


def test_ptx_checks_target_and_float64_in_float32_code():
    sig32 = "void(float32[::1], float32[::1])"
    good = ".version 9.5\n.target sm_80\n\tmov.f32 %f64, %f42;\n\tfma.rn.f32 %f1, %f2, %f3, %f4;"
    assert ptx.ptx_problem(sig32, "sm_80", good) is None
    assert "target" in ptx.ptx_problem(sig32, "sm_90", good)
    bad = good + "\n\tcvt.f64.f32 %fd1, %f1;\n\tfma.rn.f64 %fd2, %fd1, %fd1, %fd1;"
    assert "float64" in ptx.ptx_problem(sig32, "sm_80", bad)
    assert ptx.ptx_problem("void(float64[::1], float64[::1])", "sm_80", bad) is None

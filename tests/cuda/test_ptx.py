"""Every registered CUDA kernel compiles to PTX for sm_80 and sm_90 (no GPU needed), and its
sm_90 module assembles with ptxas without float32 spills (``--resources``).

The simulator accepts code that NVVM rejects, so this runs the real compiler in a child process
without ``NUMBA_ENABLE_CUDASIM`` (``compile_ptx`` is unavailable in the simulator). This test is
the CI's PTX check: it runs beside the other tests instead of before them.
"""

import json
import os
import subprocess
import sys

import pytest

from sigconv._cuda import ptx

pytestmark = pytest.mark.cuda


def test_every_registered_kernel_compiles_for_sm80_and_sm90_without_spills():
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run(
        [sys.executable, "-m", "sigconv._cuda.ptx", "--resources"],
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
    assert {
        "sigconv._cuda.correlation._corr_tiled",
        "sigconv._cuda.correlation._corr_direct",
    } <= names
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


_LOG = """ptxas info    : Compiling entry function '_Z1k' for 'sm_90'
ptxas info    : Function properties for _Z1k
ptxas         .     24 bytes stack frame, 8 bytes spill stores, 12 bytes spill loads
ptxas info    : Used 138 registers, used 1 barriers"""


def test_ptxas_log_parsing_and_register_limited_occupancy():
    assert ptx.parse_ptxas_log(_LOG) == {
        "registers": 138,
        "stack": 24,
        "spill_stores": 8,
        "spill_loads": 12,
    }
    with pytest.raises(ValueError, match="register report"):
        ptx.parse_ptxas_log("ptxas fatal: nothing")
    # 65536 registers per SM, handed out per warp in units of 256, at most 64 warps:
    # 32 regs -> 1024 per warp -> 64 warps; 33 and 40 both cost 1280 -> 51 warps;
    # 138 -> 4608 per warp -> 14 warps; 255 -> 8192 -> 8 warps.
    assert [ptx.warps_per_sm(r) for r in (16, 32, 33, 40, 64, 138, 255)] == [
        64,
        64,
        51,
        51,
        32,
        14,
        8,
    ]


def test_ptxas_assembles_a_kernel_and_reports_its_resources():
    pytest.importorskip("cuda.bindings.nvjitlink", reason="nvJitLink (cuda extra) not installed")
    code = (
        "import json\n"
        "from numba import cuda\n"
        "from sigconv._cuda import ptx, dense\n"
        "k, sigs = dense.PTX_SIGNATURES[0]\n"
        "src, _ = cuda.compile_ptx(k.py_func, sigs[0], cc=(9, 0))\n"
        "print(json.dumps(ptx.assemble(src, 'sm_90')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert 8 <= res["registers"] <= 255 and res["spill_stores"] == 0

"""Register-block sizes (``sigconv._cpu._simd``): they fit the kernels' stack arrays on every
target, follow the target Numba compiles for, and the kernels compiled without AVX-512 (the
other sizes) still match the plain loops."""

import os
import platform
import subprocess
import sys

import pytest

from sigconv._cpu import _simd

# Haswell's features: AVX2 and FMA, 16 ymm registers; every x86 CPU with AVX-512 has them
HASWELL = (
    "+64bit,+avx,+avx2,+bmi,+bmi2,+cmov,+cx16,+f16c,+fma,+fsgsbase,+lzcnt,+movbe,+popcnt,"
    "+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,+xsave,+xsaveopt"
)


@pytest.mark.parametrize("avx512", [True, False])
@pytest.mark.parametrize("itemsize", [4, 8])
def test_blocks_fit_their_stack_arrays(monkeypatch, avx512, itemsize):
    monkeypatch.setattr(_simd, "avx512", lambda: avx512)
    n, lanes = _simd.block_len_for(itemsize), _simd.lanes_for(itemsize)
    assert 4 * n <= 256 and 2 * n <= 128  # conv_direct._block4 and _block2
    assert 16 * lanes <= 256  # conv_wgrad's sixteen dot products
    assert n <= _simd.MAX_BLOCK  # the slack after the batch-last frame
    if avx512:  # 16 zmm of accumulators; one zmm per dot product
        assert (n * itemsize, lanes * itemsize) == (256, 64)
    else:
        assert (n, lanes) == (64, 16)


def _avx512_under(features):
    env = dict(os.environ, NUMBA_CPU_FEATURES=features)
    code = "from sigconv._cpu import _simd; print(_simd.avx512())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 features")
def test_avx512_follows_numba_target_features():
    assert _avx512_under(HASWELL) == "False"
    assert _avx512_under(HASWELL + ",+avx512f,+avx512bw,+avx512dq,+avx512vl") == "True"


def _host_has(*features):
    from numba.core.codegen import get_host_cpu_features

    host = set(str(get_host_cpu_features()).split(","))
    return all(f"+{f}" in host for f in features)


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64") or not _host_has("avx2", "fma"),
    reason="runs Haswell code: needs an x86 CPU with AVX2 and FMA",
)
def test_kernels_without_avx512_match_loops(tmp_path):
    # the batch-last tests in a process that compiles for Haswell, in an empty Numba cache:
    # the block sizes of CPUs without AVX-512 against the plain loops
    env = dict(
        os.environ,
        NUMBA_CPU_NAME="haswell",
        NUMBA_CPU_FEATURES=HASWELL,
        NUMBA_CACHE_DIR=str(tmp_path / "numba"),
    )
    test = os.path.join(os.path.dirname(__file__), "nn", "test_conv.py")
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test]
    out = subprocess.run(
        args + ["-k", "batch_last", "-W", "ignore"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert " passed" in out.stdout and "failed" not in out.stdout

#!/usr/bin/env bash
# The GPU checks in one go, for a machine with an NVIDIA GPU (run from the repo root): the
# comparison with cuDNN and CuPy on the same GPU (compare.py's GPU cases, one process), where
# each call's time goes (gpu_profile.py), where one launch's host time goes (gpu_launch.py), one
# LeNet-5 training epoch against torch, then the CUDA test suite on the real device.
# Benchmarks first: on a lent machine device time is short (the H200 run of 2026-12-04 took
# 15 s to set up, 35 s for the comparison, 20 s for the profiles, 16 s for the epoch and
# 110-135 s for the suite).
# Needs the cuda extra (numba-cuda) and, for the peers, torch with CUDA and cupy-cuda13x.
# numba-cuda 0.30 does not load under numpy 2.5 (np.row_stack is gone): where the machine's
# numpy is 2.5 or newer, put a numpy 2.4 wheel in .whl/ (pip download numpy==2.4.6 for the
# machine's Python) and this script installs it in front of the machine's own.
# Results go to $OUT (default ./gpu-results).
set -uo pipefail
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" SIGCONV_REAL_GPU=1
export NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS=0
if python3 -c "import numpy, sys; sys.exit(tuple(map(int, numpy.__version__.split('.')[:2])) < (2, 5))"; then
    if ls .whl/numpy-2.4.*.whl > /dev/null 2>&1; then
        python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/sigconv-site \
            .whl/numpy-2.4.*.whl || exit 2
        # behind the repo, in front of the machine's own numpy
        export PYTHONPATH="$PWD:/tmp/sigconv-site${PYTHONPATH#"$PWD"}"
    else
        echo "gpu_run.sh: numpy >= 2.5 here; numba-cuda 0.30 will fail to load (see the header)"
    fi
fi
TEST_S=${TEST_S:-240}
BENCH_S=${BENCH_S:-180}
{
    nvidia-smi -L
    python3 -c "import numba, numba.cuda as c, numpy, sys; print(sys.version.split()[0], 'numba', numba.__version__, 'numpy', numpy.__version__, 'gpu', c.get_current_device().name)"
    python3 -c "import importlib.metadata as m; print({p: m.version(p) for p in ('numba-cuda', 'torch', 'cupy-cuda13x')})"
} 2>&1 | tee "$OUT/versions.txt"
timeout "$BENCH_S" python3 benchmarks/compare.py --same-process --only GPU 2>&1 | tee "$OUT/gpu_compare.md"
timeout "$BENCH_S" python3 benchmarks/gpu_profile.py 2>&1 | tee "$OUT/gpu_profile.md"
timeout "$BENCH_S" python3 benchmarks/gpu_launch.py 2>&1 | tee "$OUT/gpu_launch.md"
timeout "$BENCH_S" python3 benchmarks/gpu_train_epoch.py --torch 2>&1 | tee "$OUT/gpu_train.txt"
timeout "$TEST_S" python3 -m pytest tests/cuda -q -n "${JOBS:-12}" -p no:cacheprovider \
    -p no:benchmark --durations=5 2>&1 | tee "$OUT/cuda_tests.txt"

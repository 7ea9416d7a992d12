#!/usr/bin/env bash
# Issue 5's GPU checks in one go, for a machine with an NVIDIA GPU (run from the repo root):
# the CUDA test suite on the real device, then compare.py's GPU cases (W2, W3, W4, W5 against
# torch/cuDNN and cupyx.scipy on the same GPU), where each call's time goes (gpu_profile.py),
# then one LeNet-5 training epoch on the GPU.
# Needs the cuda extra (numba-cuda) and, for the peers, torch with CUDA and cupy-cuda13x.
# Results go to $OUT (default ./gpu-results).
set -uo pipefail
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" SIGCONV_REAL_GPU=1
TEST_S=${TEST_S:-240}
BENCH_S=${BENCH_S:-180}
{
    nvidia-smi -L
    python3 -c "import numba, numba.cuda as c, numpy, sys; print(sys.version.split()[0], 'numba', numba.__version__, 'numpy', numpy.__version__, 'gpu', c.get_current_device().name)"
    python3 -c "import importlib.metadata as m; print({p: m.version(p) for p in ('numba-cuda', 'torch', 'cupy-cuda13x')})"
} 2>&1 | tee "$OUT/versions.txt"
timeout "$TEST_S" python3 -m pytest tests/cuda -q -n "${JOBS:-8}" -p no:cacheprovider \
    --durations=5 2>&1 | tee "$OUT/cuda_tests.txt"
timeout "$BENCH_S" python3 benchmarks/compare.py --only GPU 2>&1 | tee "$OUT/gpu_compare.md"
timeout "$BENCH_S" python3 benchmarks/gpu_profile.py 2>&1 | tee "$OUT/gpu_profile.md"
timeout "$BENCH_S" python3 benchmarks/gpu_train_epoch.py --torch 2>&1 | tee "$OUT/gpu_train.txt"

"""``import sigconv`` and its CPU kernels change no process-wide setting (docs/contract.md §4,
docs/performance.md "Threads"): no environment variable (``OMP_WAIT_POLICY`` ...), no Numba
thread count, no BLAS thread limit, no NumPy error state, before or after a kernel has run."""

import json
import subprocess
import sys

CODE = r"""
import json, os
import numpy as np, numba
from threadpoolctl import threadpool_info

def state():
    return {
        "env": dict(os.environ),
        "numba_threads": numba.get_num_threads(),
        "blas": {i["filepath"]: i["num_threads"] for i in threadpool_info()},
        "errstate": np.geterr(),
    }

before = state()
import sigconv
after_import = state()
import sigconv.nn.functional as F
x = np.ones((2, 3, 12, 12), np.float32)
w = np.ones((4, 3, 3, 3), np.float32)
F.conv(x, w)
F.conv_backward(np.ones((2, 4, 10, 10), np.float32), x, w)
F.conv(x[:, :, 0], w[:, :, 0], method="fft")
x40, w40 = np.ones((2, 40, 40, 40), np.float32), np.ones((40, 40, 3, 3), np.float32)
F.conv(x40, w40)  # 40 channels, 20 M multiply-adds an image: GEMMs image by image in one_pool
F.conv_backward(np.ones((2, 40, 38, 38), np.float32), x40, w40)
sigconv.correlate(np.ones((64, 64)), np.ones((5, 5)))
print(json.dumps([before, after_import, state()]))
"""


def test_import_and_kernels_set_no_process_wide_setting():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    before, after_import, after_use = json.loads(out.stdout.strip().splitlines()[-1])
    for after in (after_import, after_use):
        # libraries loaded later (SciPy's own OpenBLAS) are new, not changed: compare the others
        after["blas"] = {k: v for k, v in after["blas"].items() if k in before["blas"]}
        assert after == before

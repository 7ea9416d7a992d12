"""``import sigconv`` never imports numba.cuda; the CUDA modules load only when asked for."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.cuda


def test_import_sigconv_does_not_import_numba_cuda():
    code = (
        "import sys, sigconv, sigconv.nn, sigconv.signal\n"
        "print(sorted(m for m in sys.modules if m.startswith(('numba.cuda', 'sigconv._cuda'))))"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_cuda_without_gpu_says_how_to_install_everywhere(monkeypatch):
    import numpy as np

    from sigconv import _backend
    from sigconv.nn import functional as F
    from sigconv.signal import convolve

    status = (False, "numba.cuda is installed but finds no GPU; " + _backend._INSTALL_HINT)
    monkeypatch.setattr(_backend, "cuda_status", lambda: status)
    x = np.ones((1, 1, 6, 6))
    calls = [
        lambda: convolve(x[0, 0], np.ones((2, 2)), backend="cuda"),
        lambda: F.conv(x, np.ones((1, 1, 3, 3)), backend="cuda"),
        lambda: F.max_pool(x, 2, backend="cuda"),
        lambda: F.avg_pool(x, 2, backend="cuda"),
    ]
    for call in calls:
        with pytest.raises(RuntimeError, match=r"pip install sigconv\[cuda\]"):
            call()
    # and a host "auto" call never needs the GPU
    assert F.conv(x, np.ones((1, 1, 3, 3))).shape == (1, 1, 4, 4)

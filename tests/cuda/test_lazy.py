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

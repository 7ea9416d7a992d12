"""asv start-up suite: ``import sigconv`` and the first call of every public operation, each in
a fresh interpreter (``timeraw_``), from an empty Numba cache (cold) and from a filled one (warm).

The cases live in ``startup.py`` (shared with ``compare.py --startup``). A cold run gets its own
empty ``NUMBA_CACHE_DIR``; a warm run fills one in a child process first (untimed setup).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from startup import CASES  # noqa: E402

_NAMES = list(CASES)

# Untimed setup of a cold run: an empty cache directory, set before Numba is imported.
_COLD = """
import os, tempfile
os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="sigconv-cold-")
import numpy as np, sigconv
{setup}
"""

# Untimed setup of a warm run: a child process compiles into a new cache directory first.
_WARM = """
import os, subprocess, sys, tempfile
os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="sigconv-warm-")
subprocess.run([sys.executable, "-c", {child!r}], check=True)
import numpy as np, sigconv
{setup}
"""


def _prelude(name):
    return "import numpy as np, sigconv\n" + CASES[name][0]


class Import:
    """``import sigconv`` alone (it must stay under 0.3 s and load no heavy library)."""

    repeat = 5

    def timeraw_import_sigconv(self):
        return "import sigconv"


class FirstCall:
    """First call of one operation in a fresh interpreter; cold compiles, warm loads the cache.

    The call includes loading what the name needs (Numba, SciPy, scikit-learn), as a user's
    first call does.
    """

    params = (_NAMES, ["cold", "warm"])
    param_names = ["case", "cache"]
    number = 1
    repeat = 1
    warmup_time = 0
    timeout = 600

    def timeraw_first_call(self, case, cache):
        setup, call = CASES[case]
        if cache == "cold":
            return call, _COLD.format(setup=setup)
        child = _prelude(case) + "\n" + call
        return call, _WARM.format(child=child, setup=setup)

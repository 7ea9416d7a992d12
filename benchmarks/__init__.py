"""Benchmarks: asv suites (``bench_*.py``) and compare.py cases (``cases_*.py``)."""

import os
import sys

# The cases modules import the harness as ``compare`` (how compare.py loads them); asv imports
# them as ``benchmarks.cases_*`` while discovering suites, so the folder must be on sys.path.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

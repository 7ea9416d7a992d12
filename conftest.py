"""Collection rules for the doctests of the docstrings and of the guide.

``pytest --doctest-modules --doctest-glob="*.rst" sigconv docs/guide`` runs every ``>>>``
example of the package's docstrings and of the user guide's pages. The CUDA modules are left
out (importing them needs numba-cuda; their behaviour is tested by tests/cuda), and so is
``python -m sigconv``'s entry point, which runs the command line when imported.
"""

collect_ignore_glob = ["sigconv/_cuda/*", "sigconv/__main__.py", "docs/conf.py", "docs/_build/*"]

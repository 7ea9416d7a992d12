"""Collection rules for the doctests of the docstrings and of the documentation.

``pytest --doctest-modules --doctest-glob="*.rst" sigconv docs`` runs every ``>>>`` example
of the package's docstrings and of the documentation's pages. The CUDA modules hold no
doctests and are left out, so that this run never loads ``numba.cuda`` (tests/cuda test them
in Numba's simulator); so is ``python -m sigconv``'s entry point, which runs the command line
when imported.
"""

collect_ignore_glob = [
    "sigconv/_cuda/*",
    "sigconv/__main__.py",
    # the Sphinx configuration and what a build generates (copies of examples/, API stubs)
    "docs/conf.py",
    "docs/_build/*",
    "docs/auto_examples/*",
    "docs/generated/*",
]

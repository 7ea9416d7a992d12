"""Sphinx configuration of sigconv's documentation site.

Build it with ``python -m sphinx -W --keep-going -n -b html docs docs/_build/html`` (or
``make -C docs html``); open ``docs/_build/html/index.html``. The guide's figures, the gallery
and the API reference are computed by the sigconv being documented, at build time.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "sphinxext"))
# The documented sigconv is the one next to this folder (an editable install points there too).
sys.path.insert(0, str(HERE.parent))

# The gallery's scripts and the guide's figures run small workloads; one Numba thread keeps them
# quiet on shared machines and is what the examples' tests use.
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import sigconv  # noqa: E402

project = "sigconv"
author = "the sigconv developers"
copyright = "2026, the sigconv developers"  # noqa: A001
release = sigconv.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "matplotlib.sphinxext.plot_directive",
    "sphinx_gallery.gen_gallery",
    "sigconv_docs",  # docs/sphinxext: the sigconv-source directive
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "sphinxext", "_intersphinx", "auto_examples/*.ipynb"]
templates_path = ["_templates"]
default_role = "py:obj"

html_theme = "pydata_sphinx_theme"
html_title = f"sigconv {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"index": []}
# The site is plain static HTML: no server, no search index service.
html_copy_source = False
html_show_sourcelink = False

# -- API reference -------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False  # the class template lists members itself
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = True
numpydoc_xref_aliases = {
    "ndarray": "numpy.ndarray",
    "array_like": ":term:`numpy:array_like`",
    "array-like": ":term:`numpy:array_like`",
    "dtype": "numpy.dtype",
    "Generator": "numpy.random.Generator",
    "Path": "pathlib.Path",
    "dask.array.Array": "dask.array.Array",
    "Sequential": "sigconv.nn.Sequential",
    "Layer": "sigconv.nn.Layer",
    "Loss": "sigconv.nn.Loss",
    "Optimizer": "sigconv.nn.Optimizer",
    "GradcheckReport": "sigconv.nn.GradcheckReport",
    "CNNClassifier": "sigconv.CNNClassifier",
}
numpydoc_xref_ignore = "all"  # only the aliases above (and the builtins) become links
numpydoc_validation_checks = set()

# -- Cross-references to NumPy, SciPy, scikit-learn, Dask and PyTorch -----------------------
# Each project is tried online first; when its inventory cannot be fetched (CI and the
# developers' machines have no route to those sites), Sphinx falls back to the local file, an
# inventory with no entries, so the build stays warning-free and the names stay plain text.
# nitpick_ignore_regex below lets exactly those external names go unresolved.
_OFFLINE = "_intersphinx/empty.inv"
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", (None, _OFFLINE)),
    "numpy": ("https://numpy.org/doc/stable", (None, _OFFLINE)),
    "scipy": ("https://docs.scipy.org/doc/scipy", (None, _OFFLINE)),
    "sklearn": ("https://scikit-learn.org/stable", (None, _OFFLINE)),
    "dask": ("https://docs.dask.org/en/stable", (None, _OFFLINE)),
    "torch": ("https://docs.pytorch.org/docs/stable", (None, _OFFLINE)),
}
intersphinx_timeout = 10

nitpicky = True
# Offline, only these external targets stay unresolved (the list of a build with no ignores):
# numpy.ndarray, numpy.random.Generator/RandomState, numpy, pathlib.Path, the builtins numpydoc
# links (python:int, python:None, ...) and two glossary terms. Online they all resolve.
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|scipy|sklearn|dask|torch|pathlib)(\..+)?"),
    (r"py:.*", r"python:.*"),  # numpydoc's links for builtin types (int, None, tuple, ...)
    (r"std:ref", r"python:bltin-boolean-values"),
    (r"std:term", r"(numpy:array_like|python:sequence)"),
]

# -- Figures -------------------------------------------------------------------------------
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 90)]
plot_rcparams = {"figure.dpi": 90, "savefig.bbox": "tight", "image.cmap": "gray"}
plot_pre_code = "import numpy as np\nimport matplotlib.pyplot as plt\nimport sigconv\n"
plot_working_directory = str(HERE)

# -- Gallery -------------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r".*\.py$",  # run every script, not only plot_*.py
    "reset_argv": "sigconv_docs.gallery_argv",  # each script runs in its --quick form
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "matplotlib_animations": False,
}


def _skip_member(app, what, name, obj, skip, options):
    # scikit-learn's metadata-routing setters (set_fit_request, ...) are generated on every
    # estimator; they are scikit-learn's API, documented there, not sigconv's.
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)

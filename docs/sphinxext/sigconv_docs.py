"""Helpers of the documentation build (imported by ``docs/conf.py`` through its name)."""

import tempfile
from pathlib import Path


def gallery_argv(gallery_conf, script_vars):
    """The command line sphinx-gallery gives each script in ``examples/``: its ``--quick`` form.

    ``image_filters.py`` also saves its figure to a file: that goes to a temporary folder, since
    sphinx-gallery scrapes the figure itself and runs scripts inside ``examples/``.
    """
    args = ["--quick"]
    if Path(script_vars["src_file"]).name == "image_filters.py":
        args += ["--out", str(Path(tempfile.mkdtemp()) / "image_filters.png")]
    return args

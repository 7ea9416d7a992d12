"""Helpers of the documentation build (imported by ``docs/conf.py`` through its name)."""

import inspect
import tempfile
import textwrap
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective


def gallery_argv(gallery_conf, script_vars):
    """The command line sphinx-gallery gives each script in ``examples/``: its ``--quick`` form,
    with ``--plot`` so that it draws its results for the page.

    ``image_filters.py`` and ``large_volume_dask.py`` always draw, and save their figure to a
    file: that goes to a temporary folder, since sphinx-gallery scrapes the figure itself and
    runs scripts inside ``examples/``.
    """
    name = Path(script_vars["src_file"]).name
    out = str(Path(tempfile.mkdtemp()) / name.replace(".py", ".png"))
    if name == "image_filters.py":
        return ["--quick", "--out", out]
    if name == "large_volume_dask.py":
        return ["--quick", "--plot", "--out", out]
    return ["--quick", "--plot"]


class SourceDirective(SphinxDirective):
    """``.. sigconv-source:: sigconv.nn.Dense.backward``: the current source of a function.

    The guide shows the code that implements an equation next to it. Quoting it by its import
    name (not by file and line) keeps the page right when code moves between modules.
    """

    required_arguments = 1
    has_content = False

    def run(self):
        import importlib

        path = self.arguments[0]
        parts = path.split(".")
        try:
            for i in range(len(parts), 0, -1):  # the longest importable prefix, then attributes
                try:
                    obj = importlib.import_module(".".join(parts[:i]))
                except ImportError:
                    continue
                for attr in parts[i:]:
                    obj = getattr(obj, attr)
                break
            source = textwrap.dedent(inspect.getsource(obj)).rstrip()
        except (AttributeError, TypeError, OSError) as err:
            # a renamed or moved function: a warning (an error under -W) naming the directive
            return [self.state.document.reporter.warning(f"sigconv-source {path}: {err}")]
        node = nodes.literal_block(source, source, language="python")
        caption = nodes.paragraph()
        caption += nodes.emphasis(text=f"The source of {path}:")
        return [caption, node]


def setup(app):
    app.add_directive("sigconv-source", SourceDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

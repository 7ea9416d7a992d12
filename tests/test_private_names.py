"""No module reaches into another module's private names (issue 11): no ``obj._name`` on
anything but ``self``/``cls``, no ``from sigconv... import _name`` of a non-module.

Covers every module of the package; a private *module* (``from . import _device``) is fine,
its public names are its API. Three attribute names are other libraries' API with no public
spelling: a namedtuple's ``_replace``, and in Numba a struct proxy's ``_getvalue`` (``_cpu._nrt``)
and the host array behind a simulated device array (``_ary``, ``_cuda.common``).
"""

import ast
import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "sigconv"
FILES = sorted(ROOT.rglob("*.py"))
OTHER_LIBRARIES = {"_replace", "_getvalue", "_ary"}


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _offences(path: pathlib.Path, text: str | None = None) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8") if text is None else text)
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            if node.attr in OTHER_LIBRARIES:
                continue
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                found.append(f"{path.name}:{node.lineno} .{node.attr}")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            if not source.startswith("sigconv"):
                continue  # third-party private API (scikit-learn's _fit_context) is asked for
            for alias in node.names:
                if _private(alias.name) and not _is_module(f"{source}.{alias.name}"):
                    found.append(f"{path.name}:{node.lineno} import {alias.name}")
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_names_across_modules(path):
    assert _offences(path) == []


def test_the_check_catches_what_it_looks_for():
    probe = ROOT / "nn" / "_probe.py"  # never written: the text is checked as if it were there
    text = (
        "from . import _device\n"
        "from .._cuda.dense import _views\n"
        "def f(layer):\n    layer._cache = None\n    self._cache = None\n"
    )
    assert _offences(probe, text) == ["_probe.py:2 import _views", "_probe.py:4 ._cache"]

"""The documentation site covers the package: every public name in the API reference, an
Examples section (a doctest) in every public function, a gallery header in every example, and
CI running exactly the README's command."""

import ast
import importlib
import inspect
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCUMENTED = [
    "sigconv",
    "sigconv.filters",
    "sigconv.nn",
    "sigconv.nn.functional",
    "sigconv.nn.models",
    "sigconv.nn.init",
    "sigconv.io",
    "sigconv.datasets",
]


def _public(module_name):
    module = importlib.import_module(module_name)
    for name in module.__all__:
        obj = getattr(module, name)
        if not inspect.ismodule(obj):
            yield name, obj


def test_ci_runs_exactly_the_readme_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", readme, flags=re.S).group(1).strip().splitlines()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert block[1] == ci[-1]
    assert "sphinx -W --keep-going -n" in ci[-1] and "--doctest-modules" in ci[-1]


@pytest.mark.parametrize("module_name", DOCUMENTED)
def test_every_public_name_is_in_the_api_reference(module_name):
    api = (ROOT / "docs" / "api.rst").read_text(encoding="utf-8")
    sections = re.split(r"^\.\. module:: ", api, flags=re.M)
    section = next(s for s in sections[1:] if s.split("\n", 1)[0].strip() == module_name)
    listed = set(re.findall(r"^   (\w+)$", section, flags=re.M))
    assert {name for name, _ in _public(module_name)} <= listed


@pytest.mark.parametrize("module_name", DOCUMENTED)
def test_every_public_function_has_a_doctest_example(module_name):
    missing = [
        name
        for name, obj in _public(module_name)
        if inspect.isfunction(obj) and "\n    >>> " not in (obj.__doc__ or "")
    ]
    assert missing == []


def test_every_example_has_a_gallery_title():
    for path in sorted((ROOT / "examples").glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        title, underline = doc.splitlines()[:2]
        assert title.strip() and underline == "=" * len(title), path.name


def test_the_offline_inventory_is_a_valid_empty_inventory():
    inventory = pytest.importorskip("sphinx.util.inventory")
    data = (ROOT / "docs" / "_intersphinx" / "empty.inv").read_bytes()
    loaded = inventory.InventoryFile.loads(data, uri="https://example.org/")
    assert len(list(loaded.data)) == 0 if hasattr(loaded, "data") else not loaded

"""The two backends have one interface, and the package is layered (docs/contract.md §4).

``sigconv._cpu`` and ``sigconv._cuda`` export the same operation names with the same
signatures, each taking a plan from ``sigconv._geometry``; the modules below the public API
never import upward (a backend never reaches into ``sigconv.nn`` or the signal front end).
"""

import ast
import inspect
import pathlib

import pytest

import sigconv

PACKAGE = pathlib.Path(sigconv.__file__).parent


def test_cpu_and_cuda_export_the_same_operations():
    pytest.importorskip("numba.cuda")
    import sigconv._cpu as cpu
    import sigconv._cuda as cuda

    assert sorted(cpu.__all__) == sorted(cuda.__all__)
    assert {"correlate", "conv", "conv_backward", "conv_transpose", "max_pool"} <= set(cpu.__all__)
    for name in cpu.__all__:
        a, b = inspect.signature(getattr(cpu, name)), inspect.signature(getattr(cuda, name))
        assert list(a.parameters) == list(b.parameters), name
        assert [p.kind for p in a.parameters.values()] == [p.kind for p in b.parameters.values()], (
            name
        )
        assert next(iter(a.parameters)) == "plan", name


def _imports(path):
    """``(module imported, names)`` of every import in the file, relative ones resolved."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = parts[: len(parts) - node.level + (path.name == "__init__.py")]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            yield mod, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []


def _files(sub=""):
    return sorted((PACKAGE / sub).rglob("*.py"))


@pytest.mark.parametrize("backend", ["_cpu", "_cuda"])
def test_backends_never_import_upward(backend):
    """Backends depend only on the bottom modules (config, validation, geometry, modes)."""
    allowed = {"sigconv._config", "sigconv._validate", "sigconv._geometry", "sigconv._modes",
               "sigconv._backend", "sigconv._fft", "sigconv._separable",
               "sigconv._scratch"}  # fmt: skip
    for path in _files(backend):
        for mod, names in _imports(path):
            if not mod.startswith("sigconv"):
                continue
            targets = [mod] if mod != "sigconv" else [f"sigconv.{n}" for n in names]
            for target in targets:
                inside = target.startswith(f"sigconv.{backend}")
                assert inside or target in allowed, (str(path), target)

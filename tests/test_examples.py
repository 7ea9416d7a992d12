"""Every example runs end to end on its small setting (``--quick``)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ENV = {**os.environ, "NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def run_example(name, *args, cwd=None):
    res = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--quick", *args],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=cwd,
        timeout=300,
    )
    assert res.returncode == 0, f"{name} failed:\n{res.stdout}\n{res.stderr}"
    return res.stdout


def _accuracy(out):
    line = next(ln for ln in out.splitlines() if "held-out accuracy" in ln)
    return float(line.rsplit(":", 1)[1])


def test_every_example_has_a_title_docstring():
    import ast

    scripts = sorted(EXAMPLES.glob("*.py"))
    assert {p.stem for p in scripts} >= {
        "audio_classification",
        "volume_classification",
        "digits_pipeline",
        "deep_features_svm",
        "transfer_last_layer",
        "image_filters",
        "large_volume_dask",
    }
    for path in scripts:
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc and doc.splitlines()[0].strip(), f"{path.name} has no title docstring"


def test_audio_classification():
    out = run_example("audio_classification.py")
    assert "generated 48 sounds" in out
    assert 0.0 <= _accuracy(out) <= 1.0


def test_audio_classification_on_a_folder(tmp_path):
    from sigconv.datasets import make_audio, write_audio_folder

    X, y, names = make_audio(6, sr=4000, duration=0.3, classes=["tone", "noise"], random_state=1)
    write_audio_folder(tmp_path, X, y, names, sr=4000, format="flac")
    out = run_example("audio_classification.py", str(tmp_path))
    assert "generated" not in out and "['noise', 'tone']" in out


def test_volume_classification():
    out = run_example("volume_classification.py")
    assert "generated 30 volumes" in out
    assert 0.0 <= _accuracy(out) <= 1.0


def test_digits_pipeline():
    out = run_example("digits_pipeline.py")
    assert "best: {" in out and "cnn__learning_rate" in out
    assert _accuracy(out) > 0.5


def test_deep_features_svm():
    out = run_example("deep_features_svm.py")
    assert "SVC on CNN features" in out and "SVC on raw pixels" in out


def test_transfer_last_layer():
    out = run_example("transfer_last_layer.py")
    assert "frozen layers unchanged by the transfer: True" in out
    assert "last layer retrained" in out


def test_image_filters(tmp_path):
    pytest.importorskip("matplotlib")
    out = run_example("image_filters.py", "--out", str(tmp_path / "f.png"))
    assert (tmp_path / "f.png").stat().st_size > 10_000 and "saved" in out


def test_large_volume_dask(tmp_path):
    pytest.importorskip("dask.array")
    pytest.importorskip("distributed")
    pytest.importorskip("zarr")
    out = run_example("large_volume_dask.py", "--out", str(tmp_path / "v.png"), cwd=tmp_path)
    assert "matches the in-memory result: True" in out
    assert "peak RSS: client" in out

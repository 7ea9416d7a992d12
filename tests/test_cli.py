"""The ``sigconv`` command, run as ``python -m sigconv`` in a subprocess."""

import os
import subprocess
import sys

import numpy as np
import pytest

from sigconv import filters
from sigconv.datasets import make_audio, make_volumes, write_audio_folder, write_volume_folder

# one thread each: the test workers already use every core
ENV = {**os.environ, "NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def run(*args, code=None, cwd=None):
    cmd = [sys.executable, "-m", "sigconv", *args] if code is None else [sys.executable, "-c", code]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=cwd, timeout=300)


def test_info():
    res = run("info")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "sigconv 0.1.0" in out and "numba " in out and "scikit-learn " in out
    assert "threads: numba" in out
    assert "backend cpu: available" in out
    assert "backend cuda:" in out
    # the reason comes from the one place that decides it
    from sigconv._backend import cuda_status

    assert cuda_status()[1].split(";")[0] in out


def test_help_and_bad_usage():
    res = run("--help")
    assert res.returncode == 0 and "demo" in res.stdout and "filter" in res.stdout
    res = run("frobnicate")
    assert res.returncode == 2 and "invalid choice" in res.stderr
    res = run("filter", "a.png", "b.png", "--kernel", "emboss")
    assert res.returncode == 2 and "emboss" in res.stderr


def test_demo_quick(tmp_path):
    res = run("demo", "--epochs", "1", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "sigconv CNNClassifier" in res.stdout and "sklearn MLPClassifier" in res.stdout
    assert "Total params" in res.stdout  # the model summary
    assert "CNNClassifier" in res.stderr  # the tqdm progress bar
    acc = float(res.stdout.split("sigconv CNNClassifier")[1].split()[0])
    assert 0.5 < acc <= 1.0  # one epoch already learns most digits
    png = tmp_path / "sigconv_demo.png"
    assert png.is_file()
    import matplotlib.image

    img = matplotlib.image.imread(png)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 500


def test_demo_quiet_and_without_matplotlib(tmp_path):
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from sigconv.cli import main\n"
        f"sys.exit(main(['--quiet', 'demo', '--epochs', '1', '--out', {str(tmp_path)!r}]))"
    )
    res = run(code=code)
    assert res.returncode == 0, res.stderr
    assert "sigconv CNNClassifier" in res.stdout  # results are printed even when quiet
    assert "Total params" not in res.stdout and "epoch" not in res.stderr  # no chatter, no bar
    assert "matplotlib is not installed" in res.stderr and "sigconv[plot]" in res.stderr
    assert not (tmp_path / "sigconv_demo.png").exists()


def test_filter_colour_and_grey(tmp_path, rng):
    from skimage import io as skio
    from skimage.util import img_as_float, img_as_ubyte

    rgb = (rng.random((20, 24, 3)) * 255).astype(np.uint8)
    skio.imsave(tmp_path / "in.png", rgb, check_contrast=False)
    res = run(
        "filter", str(tmp_path / "in.png"), str(tmp_path / "blur.png"), "--kernel", "gaussian_blur"
    )
    assert res.returncode == 0, res.stderr
    out = skio.imread(tmp_path / "blur.png")
    expected = filters.apply(img_as_float(rgb), "gaussian_blur", channel_axis=-1)
    np.testing.assert_allclose(out, img_as_ubyte(np.clip(expected, 0, 1)), atol=1)

    grey = (rng.random((16, 16)) * 255).astype(np.uint8)
    skio.imsave(tmp_path / "g.png", grey, check_contrast=False)
    res = run(
        "--quiet", "filter", str(tmp_path / "g.png"), str(tmp_path / "s.png"), "--kernel", "sobel"
    )
    assert res.returncode == 0 and res.stdout == "", res.stderr
    sob = np.abs(filters.sobel(img_as_float(grey)))
    np.testing.assert_allclose(
        skio.imread(tmp_path / "s.png"), img_as_ubyte(sob / sob.max()), atol=1
    )

    res = run("filter", str(tmp_path / "g.png"), str(tmp_path / "x.png"), "--kernel", "sepia")
    assert res.returncode == 1 and "colour" in res.stderr
    res = run("filter", str(tmp_path / "missing.png"), str(tmp_path / "x.png"), "--kernel", "edge")
    assert res.returncode == 1 and "missing.png" in res.stderr


@pytest.mark.parametrize("kind", ["audio", "volume"])
def test_train_detects_folder_kind(tmp_path, kind):
    if kind == "audio":
        X, y, names = make_audio(8, sr=2000, duration=0.25, random_state=0)
        write_audio_folder(tmp_path / "data", X, y, names, sr=2000)
    else:
        X, y, names = make_volumes(8, size=8, random_state=0)
        write_volume_folder(tmp_path / "data", X, y, names)
    model = tmp_path / "model.npz"
    res = run("train", str(tmp_path / "data"), "--epochs", "2", "--save", str(model))
    assert res.returncode == 0, res.stderr
    assert f"{kind} data: {len(X)} files" in res.stdout
    assert "held-out accuracy" in res.stdout
    from sigconv.nn import Sequential

    net = Sequential.load(model)
    assert net.layers[-1].out_features == len(names)


def test_train_errors(tmp_path):
    res = run("train", str(tmp_path / "nope"))
    assert res.returncode == 1 and "nope" in res.stderr
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "v.npy").write_bytes(b"x")
    (tmp_path / "a" / "s.wav").write_bytes(b"x")
    res = run("train", str(tmp_path))
    assert res.returncode == 1 and "mixes" in res.stderr

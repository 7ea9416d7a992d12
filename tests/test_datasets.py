"""Generators of sigconv.datasets: shapes, seeding, class structure and argument checks."""

import numpy as np
import pytest

from sigconv import datasets


def test_make_audio_shapes_and_seed():
    X, y, names = datasets.make_audio(5, sr=2000, duration=0.1, random_state=3)
    assert X.shape == (20, 200) and X.dtype == np.float32
    assert names == list(datasets.AUDIO_CLASSES)
    np.testing.assert_array_equal(np.bincount(y), [5, 5, 5, 5])
    X2, y2, _ = datasets.make_audio(5, sr=2000, duration=0.1, random_state=3)
    np.testing.assert_array_equal(X, X2)
    X3, _, _ = datasets.make_audio(5, sr=2000, duration=0.1, random_state=4)
    assert not np.array_equal(X, X3)


def test_make_audio_classes_differ_in_spectrum():
    X, y, names = datasets.make_audio(10, sr=4000, duration=0.25, noise=0.0, random_state=0)
    spec = np.abs(np.fft.rfft(X, axis=1))
    # a tone concentrates its energy in few bins; white noise spreads it
    peakiness = spec.max(axis=1) / spec.mean(axis=1)
    tone = peakiness[y == names.index("tone")]
    noise = peakiness[y == names.index("noise")]
    assert tone.min() > noise.max()


def test_make_volumes_shapes_and_shapes_differ():
    X, y, names = datasets.make_volumes(4, size=12, noise=0.0, random_state=0)
    assert X.shape == (12, 12, 12, 12) and X.dtype == np.float32
    assert names == ["sphere", "cube", "shell"]
    # without noise the volumes are binary masks; a shell is hollow at its centre of mass
    assert set(np.unique(X)) <= {0.0, 1.0}
    filled = X.reshape(len(X), -1).sum(axis=1)
    assert (filled > 0).all()
    shells = X[y == 2]
    for vol in shells:
        c = np.round(np.argwhere(vol > 0).mean(axis=0)).astype(int)
        assert vol[tuple(c)] == 0
    for vol in X[y == 0]:
        c = np.round(np.argwhere(vol > 0).mean(axis=0)).astype(int)
        assert vol[tuple(c)] == 1
    np.testing.assert_array_equal(
        X, datasets.make_volumes(4, size=12, noise=0.0, random_state=0)[0]
    )


def test_subset_of_classes():
    X, y, names = datasets.make_volumes(2, size=8, classes=["shell", "cube"], random_state=0)
    assert names == ["shell", "cube"] and list(np.bincount(y)) == [2, 2]


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"n_per_class": 0}, ValueError, "n_per_class"),
        ({"n_per_class": 2.5}, TypeError, "n_per_class"),
        ({"classes": ["tone", "violin"]}, ValueError, "classes"),
        ({"classes": []}, ValueError, "classes"),
        ({"noise": -1.0}, ValueError, "noise"),
        ({"duration": 0}, ValueError, "duration"),
    ],
)
def test_make_audio_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        datasets.make_audio(**kwargs)


def test_make_volumes_bad_size():
    with pytest.raises(ValueError, match="size"):
        datasets.make_volumes(size=3)


def test_write_folders_validate(tmp_path):
    X = np.zeros((2, 10))
    with pytest.raises(ValueError, match="y"):
        datasets.write_audio_folder(tmp_path, X, np.array([0, 5]), ["a"], sr=100)
    with pytest.raises(ValueError, match="format"):
        datasets.write_volume_folder(tmp_path, np.zeros((1, 2, 2, 2)), [0], ["a"], format="png")

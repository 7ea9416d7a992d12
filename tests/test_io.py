"""sigconv.io on real files written here with soundfile, numpy and tifffile."""

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from sigconv import io
from sigconv.datasets import make_audio, make_volumes, write_audio_folder, write_volume_folder


def _tone(sr, seconds, f=440.0, channels=1):
    t = np.arange(int(sr * seconds)) / sr
    x = 0.5 * np.sin(2 * np.pi * f * t)
    if channels == 1:
        return x
    return np.stack([x * (c + 1) / channels for c in range(channels)], axis=1)


@pytest.mark.parametrize("fmt,subtype,tol", [("wav", "FLOAT", 1e-7), ("flac", "PCM_24", 1e-6)])
def test_load_audio_lossless_roundtrip(tmp_path, fmt, subtype, tol):
    x = _tone(8000, 0.1)
    path = tmp_path / f"a.{fmt}"
    sf.write(path, x, 8000, subtype=subtype)
    audio, sr = io.load_audio(path)
    assert sr == 8000 and audio.dtype == np.float32 and audio.shape == x.shape
    np.testing.assert_allclose(audio, x, atol=tol)


def test_load_audio_ogg(tmp_path):
    x = _tone(16000, 0.25)
    path = tmp_path / "a.ogg"
    sf.write(path, x, 16000)
    audio, sr = io.load_audio(path)
    assert sr == 16000 and audio.ndim == 1
    # lossy: compare energy and correlation instead of samples
    n = min(audio.size, x.size)
    corr = np.corrcoef(audio[:n], x[:n])[0, 1]
    assert corr > 0.95


def test_load_audio_resample_matches_scipy(tmp_path):
    x = _tone(8000, 0.2, f=300)
    path = tmp_path / "a.wav"
    sf.write(path, x, 8000, subtype="FLOAT")
    audio, sr = io.load_audio(path, sr=12000)
    assert sr == 12000
    expected = resample_poly(x.astype(np.float32), 3, 2)
    np.testing.assert_allclose(audio, expected, atol=1e-5)
    assert audio.size == 2400


def test_load_audio_mono_and_channels(tmp_path):
    x = _tone(8000, 0.05, channels=2)
    path = tmp_path / "s.wav"
    sf.write(path, x, 8000, subtype="FLOAT")
    mono, _ = io.load_audio(path)
    np.testing.assert_allclose(mono, x.mean(axis=1), atol=1e-6)
    stereo, _ = io.load_audio(path, mono=False)
    assert stereo.shape == (2, x.shape[0])
    np.testing.assert_allclose(stereo, x.T, atol=1e-6)


def test_load_audio_duration_pads_and_crops(tmp_path):
    x = _tone(1000, 0.1)
    path = tmp_path / "a.wav"
    sf.write(path, x, 1000, subtype="FLOAT")
    long, _ = io.load_audio(path, duration=0.25)
    assert long.shape == (250,)
    np.testing.assert_allclose(long[:100], x, atol=1e-7)
    assert not long[100:].any()
    short, _ = io.load_audio(path, duration=0.03)
    np.testing.assert_allclose(short, x[:30], atol=1e-7)


def test_load_audio_errors_name_the_file(tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"this is not a sound")
    with pytest.raises(ValueError, match="broken.wav"):
        io.load_audio(bad)
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        io.load_audio(tmp_path / "missing.wav")
    sf.write(tmp_path / "ok.wav", _tone(1000, 0.01), 1000)
    with pytest.raises(ValueError, match="sr"):
        io.load_audio(tmp_path / "ok.wav", sr=0)
    with pytest.raises(TypeError, match="sr"):
        io.load_audio(tmp_path / "ok.wav", sr=1.5)
    with pytest.raises(ValueError, match="duration"):
        io.load_audio(tmp_path / "ok.wav", duration=-1)


def test_load_audio_folder_roundtrip(tmp_path):
    X, y, names = make_audio(3, sr=4000, duration=0.05, random_state=0)
    write_audio_folder(tmp_path, X, y, names, sr=4000, format="flac")
    X2, y2, names2 = io.load_audio_folder(tmp_path)
    assert names2 == sorted(names)
    assert X2.shape == X.shape and X2.dtype == np.float32
    # rows come back grouped by sorted class name; match them to the originals
    for cls in names:
        orig = X[y == names.index(cls)]
        back = X2[y2 == names2.index(cls)]
        scale = np.maximum(np.abs(orig).max(axis=1, keepdims=True) / 0.99, 1.0)
        np.testing.assert_allclose(back, orig / scale, atol=2e-4)


def test_load_audio_folder_resamples_and_fixes_duration(tmp_path):
    for cls, sr in (("a", 8000), ("b", 16000)):
        (tmp_path / cls).mkdir()
        sf.write(tmp_path / cls / "x.wav", _tone(sr, 0.1), sr)
    with pytest.raises(ValueError, match="x.wav.*sample rate"):
        io.load_audio_folder(tmp_path)
    X, y, names = io.load_audio_folder(tmp_path, sr=8000, duration=0.2)
    assert X.shape == (2, 1600) and list(y) == [0, 1] and names == ["a", "b"]


def test_load_audio_folder_mismatch_and_unreadable(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    sf.write(tmp_path / "a" / "one.wav", _tone(1000, 0.1), 1000)
    sf.write(tmp_path / "b" / "two.wav", _tone(1000, 0.2), 1000)
    with pytest.raises(ValueError, match="two.wav"):
        io.load_audio_folder(tmp_path)
    X, _, _ = io.load_audio_folder(tmp_path, duration=0.1)
    assert X.shape == (2, 100)
    # a file with a sound extension that is not a sound: the error names it
    (tmp_path / "b" / "broken.wav").write_text("not audio")
    with pytest.raises(ValueError, match="broken.wav"):
        io.load_audio_folder(tmp_path, duration=0.1)
    (tmp_path / "b" / "broken.wav").unlink()
    # other files are skipped, with a warning that names them; hidden ones silently
    (tmp_path / "b" / "notes.txt").write_text("not audio")
    (tmp_path / "b" / ".DS_Store").write_text("ignored")
    with pytest.warns(UserWarning, match=r"skipped 1 file.*notes\.txt"):
        assert io.load_audio_folder(tmp_path, duration=0.1)[0].shape == (2, 100)
    (tmp_path / "b" / "notes.txt").unlink()
    assert io.load_audio_folder(tmp_path, duration=0.1)[0].shape == (2, 100)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "readme.md").write_text("no sounds here")
    with pytest.raises(ValueError, match=r"holds no files of a sound format.*readme\.md"):
        io.load_audio_folder(tmp_path, duration=0.1)


def test_load_audio_folder_empty(tmp_path):
    with pytest.raises(ValueError, match="sub-folder"):
        io.load_audio_folder(tmp_path)
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="holds no files"):
        io.load_audio_folder(tmp_path)
    with pytest.raises(FileNotFoundError):
        io.load_audio_folder(tmp_path / "nope")


@pytest.mark.parametrize("fmt", ["npy", "npz", "tif"])
def test_load_volume_formats(tmp_path, fmt):
    rng = np.random.default_rng(0)
    vol = rng.standard_normal((5, 6, 7)).astype(np.float32)
    path = tmp_path / f"v.{fmt}"
    if fmt == "npy":
        np.save(path, vol)
    elif fmt == "npz":
        np.savez(path, anything=vol)
    else:
        import tifffile

        tifffile.imwrite(path, vol, photometric="minisblack")
    out = io.load_volume(path)
    np.testing.assert_array_equal(out, vol)


def test_load_volume_tiff_uint16_stack(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    vol = np.arange(4 * 8 * 9, dtype=np.uint16).reshape(4, 8, 9)
    tifffile.imwrite(tmp_path / "s.tiff", vol, photometric="minisblack")
    np.testing.assert_array_equal(io.load_volume(tmp_path / "s.tiff"), vol)


def test_load_volume_errors(tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros((4, 4)))
    with pytest.raises(ValueError, match="flat.npy.*3-D"):
        io.load_volume(tmp_path / "flat.npy")
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 2, 2)), b=np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="two.npz.*key"):
        io.load_volume(tmp_path / "two.npz")
    np.testing.assert_array_equal(io.load_volume(tmp_path / "two.npz", key="b"), 1)
    with pytest.raises(ValueError, match="two.npz.*'c'"):
        io.load_volume(tmp_path / "two.npz", key="c")
    (tmp_path / "bad.npy").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="bad.npy"):
        io.load_volume(tmp_path / "bad.npy")
    (tmp_path / "bad.tif").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="bad.tif"):
        io.load_volume(tmp_path / "bad.tif")
    (tmp_path / "v.txt").write_text("1 2 3")
    with pytest.raises(ValueError, match="v.txt"):
        io.load_volume(tmp_path / "v.txt")


@pytest.mark.parametrize("fmt", ["npy", "tif"])
def test_load_volume_folder_roundtrip(tmp_path, fmt):
    X, y, names = make_volumes(2, size=8, random_state=1)
    write_volume_folder(tmp_path, X, y, names, format=fmt)
    X2, y2, names2 = io.load_volume_folder(tmp_path)
    assert names2 == sorted(names) and X2.dtype == np.float32
    for cls in names:
        np.testing.assert_array_equal(X2[y2 == names2.index(cls)], X[y == names.index(cls)])


def test_load_volume_folder_mismatch(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    np.save(tmp_path / "a" / "v1.npy", np.zeros((4, 4, 4)))
    np.save(tmp_path / "b" / "v2.npy", np.zeros((4, 4, 5)))
    with pytest.raises(ValueError, match="v2.npy.*shape"):
        io.load_volume_folder(tmp_path)


def test_load_volume_folder_skips_other_files_and_names_them(tmp_path):
    (tmp_path / "a").mkdir()
    np.save(tmp_path / "a" / "v1.npy", np.ones((4, 4, 4)))
    (tmp_path / "a" / "notes.txt").write_text("scanner settings")
    (tmp_path / "a" / ".DS_Store").write_bytes(b"\0")
    with pytest.warns(UserWarning, match=r"notes\.txt"):
        X, y, names = io.load_volume_folder(tmp_path)
    assert X.shape == (1, 4, 4, 4) and names == ["a"]

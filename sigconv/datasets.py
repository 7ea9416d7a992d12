"""Small seeded data generators for the examples and tests: audio classes and 3-D shapes.

``make_audio`` draws tones, chirps, noise bursts and pulse trains; ``make_volumes`` draws noisy
spheres, cubes and hollow shells. Both return ``X, y, class_names`` like the folder loaders of
:mod:`sigconv.io`, and ``write_audio_folder`` / ``write_volume_folder`` store such data as one
sub-folder per class so the loaders and the ``sigconv train`` command can be tried on it.
"""

from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np

from . import _validate

__all__ = [
    "AUDIO_CLASSES",
    "VOLUME_CLASSES",
    "make_audio",
    "make_volumes",
    "write_audio_folder",
    "write_volume_folder",
]

AUDIO_CLASSES = ("tone", "chirp", "noise", "pulses")
VOLUME_CLASSES = ("sphere", "cube", "shell")


def _check_count(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an int; got {value!r} (type {type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value!r}")
    return int(value)


def _check_classes(classes, name: str, known: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(classes, str):
        classes = (classes,)
    classes = tuple(classes)
    if not classes:
        raise ValueError(f"{name} must name at least one class of {list(known)}; got none")
    for c in classes:
        _validate.check_option(c, name, known)
    if len(set(classes)) != len(classes):
        raise ValueError(f"{name} must not repeat a class; got {list(classes)}")
    return classes


def _check_positive(value, name: str) -> float:
    value = _validate.check_float(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be > 0; got {value!r}")
    return value


def _check_noise(value) -> float:
    value = _validate.check_float(value, "noise")
    if value < 0:
        raise ValueError(f"noise must be >= 0; got {value!r}")
    return value


def _audio_example(kind: str, t: np.ndarray, sr: float, rs: np.random.RandomState) -> np.ndarray:
    nyq = sr / 2
    phase = rs.uniform(0, 2 * np.pi)
    if kind == "tone":
        f = rs.uniform(0.05, 0.3) * nyq
        sig = np.sin(2 * np.pi * f * t + phase)
    elif kind == "chirp":
        f0, f1 = rs.uniform(0.02, 0.1) * nyq, rs.uniform(0.3, 0.6) * nyq
        if rs.rand() < 0.5:
            f0, f1 = f1, f0
        rate = (f1 - f0) / max(t[-1], 1e-12)
        sig = np.sin(2 * np.pi * (f0 * t + 0.5 * rate * t**2) + phase)
    elif kind == "noise":
        sig = rs.standard_normal(t.size) * 0.6
    else:  # pulses: a train of short decaying clicks
        period = rs.uniform(0.04, 0.12) * max(t[-1], 1e-3) * 2
        start = rs.uniform(0, period)
        local = np.mod(t - start, period)
        sig = np.exp(-local / (0.08 * period)) * np.sin(2 * np.pi * 0.25 * nyq * local)
    return sig * rs.uniform(0.5, 1.0)


def make_audio(
    n_per_class: int = 30,
    *,
    sr: int = 8000,
    duration: float = 0.25,
    classes=AUDIO_CLASSES,
    noise: float = 0.1,
    random_state=None,
):
    """Short synthetic sounds, one class per kind of signal.

    Parameters
    ----------
    n_per_class : int
        Examples drawn per class.
    sr : int
        Sample rate in Hz.
    duration : float
        Length of every example in seconds.
    classes : sequence of str
        Any of ``"tone"`` (a sine of random pitch), ``"chirp"`` (a linear sweep up or down),
        ``"noise"`` (white noise) and ``"pulses"`` (a train of decaying clicks).
    noise : float
        Standard deviation of white noise added to every example.
    random_state : None, int or RandomState
        Seed; the same seed gives the same data.

    Returns
    -------
    X : ndarray of shape (n_per_class * len(classes), round(sr * duration)), float32
    y : ndarray of int64, the class index of each row, classes in order
    class_names : list of str

    Examples
    --------
    >>> from sigconv.datasets import make_audio
    >>> X, y, names = make_audio(2, sr=4000, duration=0.25, random_state=0)
    >>> X.shape, X.dtype, names  # 2 sounds of 1000 samples per class
    ((8, 1000), dtype('float32'), ['tone', 'chirp', 'noise', 'pulses'])
    >>> y
    array([0, 0, 1, 1, 2, 2, 3, 3])
    >>> bool((make_audio(2, sr=4000, duration=0.25, random_state=0)[0] == X).all())  # seeded
    True
    """
    n_per_class = _check_count(n_per_class, "n_per_class")
    sr = _check_count(sr, "sr", minimum=8)
    duration = _check_positive(duration, "duration")
    classes = _check_classes(classes, "classes", AUDIO_CLASSES)
    noise = _check_noise(noise)
    from sklearn.utils import check_random_state  # scikit-learn loads on first use only

    rs = check_random_state(random_state)
    n = max(int(round(sr * duration)), 1)
    t = np.arange(n) / sr
    X = np.empty((n_per_class * len(classes), n), dtype=np.float32)
    y = np.repeat(np.arange(len(classes), dtype=np.int64), n_per_class)
    for i, label in enumerate(y):
        sig = _audio_example(classes[label], t, sr, rs)
        X[i] = sig + noise * rs.standard_normal(n)
    return X, y, list(classes)


def _volume_example(kind: str, size: int, rs: np.random.RandomState) -> np.ndarray:
    grid = np.arange(size, dtype=np.float64)
    zz, yy, xx = np.meshgrid(grid, grid, grid, indexing="ij")
    r = rs.uniform(0.22, 0.34) * size
    c = rs.uniform(r, size - 1 - r, size=3) if size - 1 - 2 * r > 0 else np.full(3, size / 2)
    dz, dy, dx = zz - c[0], yy - c[1], xx - c[2]
    if kind == "sphere":
        return (np.sqrt(dz**2 + dy**2 + dx**2) <= r).astype(np.float64)
    if kind == "cube":
        # a randomly rotated cube (about z) of the same volume scale as the sphere
        a = rs.uniform(0, np.pi / 2)
        u = np.cos(a) * dy + np.sin(a) * dx
        v = -np.sin(a) * dy + np.cos(a) * dx
        h = 0.85 * r
        return ((np.abs(dz) <= h) & (np.abs(u) <= h) & (np.abs(v) <= h)).astype(np.float64)
    dist = np.sqrt(dz**2 + dy**2 + dx**2)
    thickness = max(1.0, 0.25 * r)
    return ((dist <= r) & (dist >= r - thickness)).astype(np.float64)


def make_volumes(
    n_per_class: int = 30,
    *,
    size: int = 16,
    classes=VOLUME_CLASSES,
    noise: float = 0.2,
    random_state=None,
):
    """Noisy 3-D shapes of random size and position: filled spheres, cubes and hollow shells.

    Parameters
    ----------
    n_per_class : int
        Examples drawn per class.
    size : int
        Edge length of the cubic volume (at least 6 voxels).
    classes : sequence of str
        Any of ``"sphere"``, ``"cube"`` and ``"shell"``.
    noise : float
        Standard deviation of white noise added to every voxel.
    random_state : None, int or RandomState
        Seed; the same seed gives the same data.

    Returns
    -------
    X : ndarray of shape (n_per_class * len(classes), size, size, size), float32
    y : ndarray of int64
    class_names : list of str

    Examples
    --------
    >>> from sigconv.datasets import make_volumes
    >>> X, y, names = make_volumes(2, size=16, random_state=0)
    >>> X.shape, X.dtype, names
    ((6, 16, 16, 16), dtype('float32'), ['sphere', 'cube', 'shell'])
    >>> y
    array([0, 0, 1, 1, 2, 2])
    """
    n_per_class = _check_count(n_per_class, "n_per_class")
    size = _check_count(size, "size", minimum=6)
    classes = _check_classes(classes, "classes", VOLUME_CLASSES)
    noise = _check_noise(noise)
    from sklearn.utils import check_random_state  # scikit-learn loads on first use only

    rs = check_random_state(random_state)
    X = np.empty((n_per_class * len(classes), size, size, size), dtype=np.float32)
    y = np.repeat(np.arange(len(classes), dtype=np.int64), n_per_class)
    for i, label in enumerate(y):
        vol = _volume_example(classes[label], size, rs)
        X[i] = vol + noise * rs.standard_normal(vol.shape)
    return X, y, list(classes)


def _check_folder_data(X, y, class_names):
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim < 2 or y.shape != (X.shape[0],):
        raise ValueError(
            f"X must be (n_samples, ...) and y (n_samples,); got X {X.shape} and y {y.shape}"
        )
    class_names = [str(c) for c in class_names]
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= len(class_names):
        raise ValueError(
            f"y must hold class indices in [0, {len(class_names)}); got values {np.unique(y)}"
        )
    return X, y, class_names


def write_audio_folder(root, X, y, class_names, *, sr: int, format: str = "wav") -> Path:
    """Write ``X`` as sound files under ``root/<class name>/<class name>_<i>.<format>``.

    ``X`` is ``(n, samples)`` (mono) or ``(n, channels, samples)`` with values in [-1, 1]
    (louder examples are scaled down so nothing clips). ``format`` is ``"wav"``, ``"flac"`` or
    ``"ogg"``. Returns ``root`` as a Path.

    Examples
    --------
    >>> import tempfile
    >>> from sigconv.datasets import make_audio, write_audio_folder
    >>> X, y, names = make_audio(2, sr=4000, duration=0.25, random_state=0)
    >>> root = write_audio_folder(tempfile.mkdtemp(), X, y, names, sr=4000)
    >>> sorted(p.name for p in root.iterdir())
    ['chirp', 'noise', 'pulses', 'tone']
    >>> len(list((root / "chirp").iterdir()))
    2
    """
    import soundfile as sf

    X, y, class_names = _check_folder_data(X, y, class_names)
    _validate.check_option(format, "format", ("wav", "flac", "ogg"))
    sr = _check_count(sr, "sr", minimum=1)
    root = Path(root)
    counters = dict.fromkeys(range(len(class_names)), 0)
    for x, label in zip(X, y):
        folder = root / class_names[label]
        folder.mkdir(parents=True, exist_ok=True)
        data = np.asarray(x, dtype=np.float64)
        peak = np.max(np.abs(data))
        if peak > 0.99:
            data = data * (0.99 / peak)
        data = data.T if data.ndim == 2 else data  # soundfile wants (frames, channels)
        path = folder / f"{class_names[label]}_{counters[label]:04d}.{format}"
        subtype = "PCM_16" if format in ("wav", "flac") else None
        sf.write(str(path), data, sr, subtype=subtype)
        counters[label] += 1
    return root


def write_volume_folder(root, X, y, class_names, *, format: str = "npy") -> Path:
    """Write ``X`` as volumes under ``root/<class name>/<class name>_<i>.<format>``.

    ``format`` is ``"npy"``, ``"npz"`` (one array named ``volume``) or ``"tif"`` (a TIFF stack,
    needs tifffile). Returns ``root`` as a Path.

    Examples
    --------
    >>> import tempfile
    >>> from sigconv.datasets import make_volumes, write_volume_folder
    >>> X, y, names = make_volumes(2, size=8, random_state=0)
    >>> root = write_volume_folder(tempfile.mkdtemp(), X, y, names)
    >>> sorted(p.name for p in root.iterdir())
    ['cube', 'shell', 'sphere']
    >>> sorted(p.suffix for p in (root / "cube").iterdir())
    ['.npy', '.npy']
    """
    X, y, class_names = _check_folder_data(X, y, class_names)
    _validate.check_option(format, "format", ("npy", "npz", "tif"))
    if format == "tif":
        import tifffile
    root = Path(root)
    counters = dict.fromkeys(range(len(class_names)), 0)
    for x, label in zip(X, y):
        folder = root / class_names[label]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{class_names[label]}_{counters[label]:04d}.{format}"
        if format == "npy":
            np.save(path, x)
        elif format == "npz":
            np.savez(path, volume=x)
        else:
            tifffile.imwrite(path, np.ascontiguousarray(x), photometric="minisblack")
        counters[label] += 1
    return root

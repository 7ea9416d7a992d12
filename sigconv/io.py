"""Loading sounds and volumes, one file or a folder of classes.

Audio is read with soundfile (WAV, FLAC, OGG and every other format libsndfile knows), resampled
with :func:`scipy.signal.resample_poly` and padded or cropped to a fixed duration. Volumes are
``.npy``, ``.npz`` or TIFF stacks (tifffile). A folder of classes holds one sub-folder per class;
every file in it must load and match the others, otherwise the error names the file: nothing is
skipped silently.
"""

from __future__ import annotations

import math
import numbers
import warnings
from pathlib import Path

import numpy as np

from . import _validate

__all__ = ["load_audio", "load_audio_folder", "load_volume", "load_volume_folder"]

VOLUME_EXTENSIONS = (".npy", ".npz", ".tif", ".tiff")


def _check_sr(sr, name: str = "sr"):
    if sr is None:
        return None
    if isinstance(sr, bool) or not isinstance(sr, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be None or a positive int (Hz); got {sr!r}")
    if sr < 1:
        raise ValueError(f"{name} must be a positive int (Hz); got {sr!r}")
    return int(sr)


def _check_duration(duration):
    if duration is None:
        return None
    duration = _validate.check_float(duration, "duration")
    if duration <= 0:
        raise ValueError(f"duration must be None or > 0 seconds; got {duration!r}")
    return duration


def _existing_file(path, *, folder: bool = False) -> Path:
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or pathlib.Path; got {type(path).__name__}")
    path = Path(path)
    if not (path.is_file() or (folder and path.is_dir())):
        raise FileNotFoundError(f"no such file: {path}")
    return path


def _fix_length(x: np.ndarray, n: int) -> np.ndarray:
    """Crop or zero-pad the last axis to ``n`` samples."""
    if x.shape[-1] >= n:
        return x[..., :n]
    pad = [(0, 0)] * (x.ndim - 1) + [(0, n - x.shape[-1])]
    return np.pad(x, pad)


def load_audio(path, sr=None, mono: bool = True, duration=None):
    """Read a sound file as float32 samples.

    Parameters
    ----------
    path : str or Path
        Any file soundfile reads (WAV, FLAC, OGG/Vorbis, AIFF, ...).
    sr : int or None
        Target sample rate in Hz; the signal is resampled with a polyphase filter
        (``scipy.signal.resample_poly``). None keeps the file's rate.
    mono : bool
        Average the channels into one. Otherwise the result is ``(channels, samples)``.
    duration : float or None
        Crop or zero-pad to this many seconds (at the output rate). None keeps the full length.

    Returns
    -------
    audio : ndarray of float32, ``(samples,)`` when ``mono`` else ``(channels, samples)``
    sr : int
        The sample rate of ``audio``.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The file is not a sound soundfile can read, or it holds no samples; the message names it.

    Examples
    --------
    >>> import tempfile
    >>> from sigconv.datasets import make_audio, write_audio_folder
    >>> from sigconv.io import load_audio
    >>> X, y, names = make_audio(1, sr=8000, duration=0.5, random_state=0)
    >>> root = write_audio_folder(tempfile.mkdtemp(), X, y, names, sr=8000)
    >>> path = sorted((root / "tone").iterdir())[0]
    >>> audio, sr = load_audio(path, sr=4000)  # resampled to 4 kHz
    >>> audio.shape, sr
    ((2000,), 4000)
    >>> load_audio(path, duration=0.25)[0].shape  # cropped (or zero-padded) to 0.25 s
    (2000,)
    """
    import soundfile as sf
    from scipy.signal import resample_poly

    sr = _check_sr(sr)
    duration = _check_duration(duration)
    path = _existing_file(path)
    try:
        data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises its own error types for bad files
        raise ValueError(f"cannot read audio file {path}: {exc}") from exc
    if data.shape[0] == 0:
        raise ValueError(f"audio file {path} holds no samples")
    audio = np.ascontiguousarray(data.T)  # (channels, samples)
    if mono:
        audio = audio.mean(axis=0)
    out_sr = file_sr if sr is None else sr
    if out_sr != file_sr:
        g = math.gcd(int(out_sr), int(file_sr))
        audio = resample_poly(audio, out_sr // g, file_sr // g, axis=-1).astype(np.float32)
    if duration is not None:
        audio = _fix_length(audio, max(int(round(duration * out_sr)), 1))
    return np.ascontiguousarray(audio, dtype=np.float32), int(out_sr)


def _class_folders(root) -> tuple[Path, list[Path]]:
    if not isinstance(root, (str, Path)):
        raise TypeError(f"root must be a str or pathlib.Path; got {type(root).__name__}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise ValueError(f"folder {root} has no class sub-folders (one sub-folder per class)")
    return root, folders


def _audio_extensions() -> frozenset[str]:
    """File extensions of the formats this soundfile build reads, plus common aliases."""
    import soundfile as sf

    return frozenset("." + f.lower() for f in sf.available_formats()) | {".aif", ".oga", ".wave"}


def _class_files(folder: Path, extensions, kind: str) -> list[Path]:
    """The files of a class folder with one of ``extensions``, sorted by name.

    Hidden files are ignored. Other files (a stray ``notes.txt``) are skipped with a warning
    that names them, so a class folder can hold more than the data.
    """
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    chosen = [p for p in files if p.suffix.lower() in extensions]
    skipped = [p.name for p in files if p.suffix.lower() not in extensions]
    listed = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
    if not chosen:
        formats = ", ".join(sorted(extensions))
        raise ValueError(
            f"class folder {folder} holds no files of a {kind} format ({formats})"
            + (f"; it holds {listed}" if skipped else "")
        )
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} file(s) in {folder} without a {kind} extension: {listed}",
            UserWarning,
            stacklevel=3,
        )
    return chosen


def load_audio_folder(root, sr=None, duration=None, *, mono: bool = True):
    """Load every sound in ``root/<class>/`` as one array, one class per sub-folder.

    Classes are the sub-folder names in sorted order. Hidden files and folders (starting with
    ``.``) are ignored; files without the extension of a sound format soundfile reads (WAV,
    FLAC, OGG, AIFF, ...) are skipped with a ``UserWarning`` naming them; every other file must
    be a readable sound.

    Parameters
    ----------
    root : str or Path
    sr : int or None
        Resample everything to this rate. None requires every file to share one rate.
    duration : float or None
        Crop or pad every sound to this many seconds. None requires equal lengths.
    mono : bool
        Average channels; otherwise every file must have the same number of channels.

    Returns
    -------
    X : ndarray of float32, ``(n_files, samples)`` or ``(n_files, channels, samples)``
    y : ndarray of int64, class index per row
    class_names : list of str

    Raises
    ------
    ValueError
        A file cannot be read or does not match the first one (rate, length or channels); the
        message names the file.

    Examples
    --------
    >>> import tempfile
    >>> from sigconv.datasets import make_audio, write_audio_folder
    >>> from sigconv.io import load_audio_folder
    >>> X, y, names = make_audio(3, sr=8000, duration=0.25, random_state=0)
    >>> root = write_audio_folder(tempfile.mkdtemp(), X, y, names, sr=8000, format="flac")
    >>> X2, y2, names2 = load_audio_folder(root, sr=4000)
    >>> X2.shape, names2  # one sub-folder per class, sorted by name
    ((12, 1000), ['chirp', 'noise', 'pulses', 'tone'])
    >>> y2[:6]
    array([0, 0, 0, 1, 1, 1])
    """
    sr = _check_sr(sr)
    duration = _check_duration(duration)
    root, folders = _class_folders(root)
    extensions = _audio_extensions()
    rows, labels = [], []
    first = None  # (path, sr, shape) of the first file, to name the mismatch
    for label, folder in enumerate(folders):
        for path in _class_files(folder, extensions, "sound"):
            audio, rate = load_audio(path, sr=sr, mono=mono, duration=duration)
            if first is None:
                first = (path, rate, audio.shape)
            elif rate != first[1]:
                raise ValueError(
                    f"audio file {path} has sample rate {rate} Hz but {first[0]} has "
                    f"{first[1]} Hz; pass sr= to resample them all"
                )
            elif audio.shape != first[2]:
                what = "channels and samples" if audio.ndim == 2 else "samples"
                raise ValueError(
                    f"audio file {path} has shape {audio.shape} ({what}) but {first[0]} has "
                    f"{first[2]}; pass duration= to crop or pad them all"
                    + ("" if mono else ", or mono=True to mix channels down")
                )
            rows.append(audio)
            labels.append(label)
    X = np.stack(rows).astype(np.float32, copy=False)
    return X, np.asarray(labels, dtype=np.int64), [f.name for f in folders]


def load_volume(path, *, key=None, chunks=None):
    """Read one volume from ``.npy``, ``.npz`` or a TIFF stack, or open one lazily.

    Parameters
    ----------
    path : str or Path
        A file, or a Zarr store (a ``.zarr`` folder), which is always opened lazily.
    key : str or None
        For ``.npz`` files holding several arrays, the one to read. With None the file must
        hold exactly one array. For a Zarr group, the path of the array inside it.
    chunks : int, tuple, "auto" or None
        With a value, or for a Zarr store, the volume is a lazy ``dask.array.Array`` of these
        chunks (a Zarr store's own chunks when None): ``.npy`` files are memory-mapped and read
        chunk by chunk, ``.npz`` and TIFF files are read and then chunked. Write a result back
        with ``result.to_zarr(path)``. Needs the ``dask`` extra (docs/contract.md §5).

    Returns
    -------
    volume : ndarray or dask.array.Array, 3-D ``(depth, height, width)`` or 4-D
        ``(channels, depth, height, width)`` as stored (dtype unchanged).

    Raises
    ------
    FileNotFoundError, ValueError
        Missing, unreadable, non-numeric or not 3-D/4-D; the message names the file.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from sigconv.io import load_volume
    >>> path = Path(tempfile.mkdtemp()) / "volume.npy"
    >>> np.save(path, np.zeros((8, 16, 16), dtype=np.float32))
    >>> load_volume(path).shape
    (8, 16, 16)
    """
    lazy = None
    if isinstance(path, (str, Path)):
        from . import _dask_io

        if _dask_io.is_zarr(path) or (chunks is not None and Path(path).suffix.lower() == ".npy"):
            lazy = _dask_io.load_volume(_existing_file(path, folder=True), chunks, key)
    vol = lazy if lazy is not None else _read_volume(path, key)
    if vol.dtype.kind not in "biuf":
        raise ValueError(f"volume file {path} holds dtype {vol.dtype}; expected real numbers")
    if vol.ndim not in (3, 4):
        raise ValueError(
            f"volume file {path} holds an array of shape {vol.shape}; expected 3-D "
            "(depth, height, width) or 4-D (channels, depth, height, width)"
        )
    if chunks is not None and lazy is None:
        import dask.array as da

        vol = da.from_array(vol, chunks=chunks)
    return vol


def _read_volume(path, key):
    path = _existing_file(path)
    suffix = path.suffix.lower()
    if suffix not in VOLUME_EXTENSIONS:
        raise ValueError(
            f"volume file {path} must end in one of {list(VOLUME_EXTENSIONS)}; got {suffix!r}"
        )
    try:
        if suffix == ".npy":
            vol = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                names = list(archive.files)
                if key is None:
                    if len(names) != 1:
                        raise ValueError(
                            f"volume file {path} holds arrays {names}; pass key= to pick one"
                        )
                    key = names[0]
                elif key not in names:
                    raise ValueError(f"volume file {path} has no array {key!r}; it has {names}")
                vol = archive[key]
        else:
            try:
                import tifffile
            except ImportError as exc:
                raise ImportError(
                    f"reading TIFF volume {path} needs tifffile: pip install tifffile"
                ) from exc
            vol = tifffile.imread(path)
    except (ValueError, ImportError) as exc:
        if str(path) in str(exc):
            raise
        raise ValueError(f"cannot read volume file {path}: {exc}") from exc
    except Exception as exc:  # numpy/tifffile raise various types on corrupt files
        raise ValueError(f"cannot read volume file {path}: {exc}") from exc
    return np.asarray(vol)


def load_volume_folder(root, *, key=None, dtype=np.float32):
    """Load every volume in ``root/<class>/`` as one array, one class per sub-folder.

    Every ``.npy``, ``.npz`` or TIFF file must be a volume of the same shape; other files are
    skipped with a ``UserWarning`` naming them, hidden ones silently.

    Returns
    -------
    X : ndarray of ``dtype``, ``(n_files, *volume_shape)``
    y : ndarray of int64
    class_names : list of str

    Examples
    --------
    >>> import tempfile
    >>> from sigconv.datasets import make_volumes, write_volume_folder
    >>> from sigconv.io import load_volume_folder
    >>> X, y, names = make_volumes(2, size=12, random_state=0)
    >>> root = write_volume_folder(tempfile.mkdtemp(), X, y, names)
    >>> X2, y2, names2 = load_volume_folder(root)
    >>> X2.shape, X2.dtype, names2
    ((6, 12, 12, 12), dtype('float32'), ['cube', 'shell', 'sphere'])
    >>> y2
    array([0, 0, 1, 1, 2, 2])
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a float dtype; got {dtype}")
    root, folders = _class_folders(root)
    rows, labels = [], []
    first = None
    for label, folder in enumerate(folders):
        for path in _class_files(folder, VOLUME_EXTENSIONS, "volume"):
            vol = load_volume(path, key=key)
            if first is None:
                first = (path, vol.shape)
            elif vol.shape != first[1]:
                raise ValueError(
                    f"volume file {path} has shape {vol.shape} but {first[0]} has {first[1]}; "
                    "every volume must have the same shape"
                )
            rows.append(vol.astype(dtype, copy=False))
            labels.append(label)
    return np.stack(rows), np.asarray(labels, dtype=np.int64), [f.name for f in folders]

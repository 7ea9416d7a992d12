"""Volumes as lazy Dask arrays: Zarr stores and memory-mapped ``.npy`` files
(``sigconv.io.load_volume(path, chunks=...)``, docs/contract.md §5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def is_zarr(path) -> bool:
    """A Zarr store on disk: a ``.zarr`` folder, or any folder with Zarr v2/v3 metadata."""
    path = Path(path)
    if not path.is_dir():
        return False
    marks = (".zarray", ".zgroup", "zarr.json")
    return path.suffix.lower() == ".zarr" or any((path / m).exists() for m in marks)


def load_volume(path: Path, chunks, key):
    """``path`` opened lazily as a Dask array of ``chunks`` (None: the store's own chunks,
    or Dask's automatic chunks for ``.npy``)."""
    import dask.array as da

    try:
        if is_zarr(path):
            vol = da.from_zarr(str(path), component=key, chunks=chunks)
        else:  # .npy: a memory map, read chunk by chunk
            data = np.load(path, mmap_mode="r", allow_pickle=False)
            vol = da.from_array(data, chunks="auto" if chunks is None else chunks)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"cannot open volume {path} lazily: {exc}") from exc
    except Exception as exc:  # zarr raises its own types for missing or corrupt stores
        raise ValueError(f"cannot open volume {path} lazily: {exc}") from exc
    return vol

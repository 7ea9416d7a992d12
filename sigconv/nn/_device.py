"""Where arrays of ``sigconv.nn`` live: the host (numpy) or the GPU (Numba device arrays).

Layers, losses, optimizers and ``Sequential`` compute on the side their data is on. Device
operands are anything with ``__cuda_array_interface__`` (Numba, CuPy, PyTorch CUDA tensors) or a
simulated Numba device array; internally they are handled as Numba device arrays (a view, no
copy). ``numba.cuda`` and ``sigconv._cuda`` are imported only when a device array or
``device="cuda"`` shows up, so ``import sigconv.nn`` needs no GPU.
"""

from __future__ import annotations

import importlib

import numpy as np

from .. import _backend, _validate

DEVICES = ("cpu", "cuda")


def is_device(a) -> bool:
    """True for a GPU array (never for a numpy array)."""
    return a is not None and _backend.is_device_array(a) and not isinstance(a, np.ndarray)


def cuda_module(name: str):
    """``sigconv._cuda.<name>``, imported on first use (CUDA stays optional)."""
    return importlib.import_module(f"sigconv._cuda.{name}")


def check_device(device) -> str:
    """``device`` if it is ``"cpu"`` or ``"cuda"`` (and CUDA can run for ``"cuda"``)."""
    device = _validate.check_option(device, "device", DEVICES)
    if device == "cuda":
        _backend.require_cuda()
    return device


def view(a):
    """A Numba device array viewing device array ``a`` (CuPy, PyTorch ...), without a copy."""
    return cuda_module("common").device_view(a)


def to_device(a, dtype=None):
    """``a`` as a C-contiguous device array (of ``dtype`` when given): a device array of the
    right layout is returned as it is, a host array is copied over once."""
    launch = cuda_module("common")
    if is_device(a):
        d = launch.device_view(a)
        return launch.contiguous(d, d.dtype if dtype is None else dtype)
    arr = np.asarray(a)
    return launch.contiguous(arr, arr.dtype if dtype is None else dtype)


def to_host(a):
    """``a`` as a numpy array: device arrays are copied back, host arrays returned as they are."""
    if is_device(a):
        return view(a).copy_to_host()
    return a


def move(a, device: str):
    """``a`` on ``device`` (``"cpu"``: numpy array; ``"cuda"``: Numba device array)."""
    if a is None:
        return None
    return to_device(a) if device == "cuda" else to_host(a)


def clone(a):
    """A fresh copy of ``a`` on its own side (device copies never touch the host)."""
    if is_device(a):
        return cuda_module("common").clone(view(a))
    return np.array(a, copy=True)


def cast(a, dtype):
    """``a`` in ``dtype`` on its own side (device casts run on the device)."""
    dtype = np.dtype(dtype)
    if is_device(a):
        return cuda_module("common").contiguous(view(a), dtype)
    return a.astype(dtype)


def zeros(shape, dtype):
    """A device array of zeros (copied once from the host: optimizer state, set up once)."""
    return to_device(np.zeros(tuple(int(n) for n in shape), dtype=np.dtype(dtype)))


def holds_device(obj) -> bool:
    """Whether ``obj`` (an array, or a tuple/list/dict of them, nested) holds a device array."""
    if is_device(obj):
        return True
    if isinstance(obj, (tuple, list)):
        return any(holds_device(o) for o in obj)
    if isinstance(obj, dict):
        return any(holds_device(o) for o in obj.values())
    return False


def reshape(a, shape):
    """``a`` reshaped on its own side (a view of a contiguous array; device arrays that are not
    C-contiguous are copied on the device first)."""
    shape = tuple(int(n) for n in shape)
    if is_device(a):
        return to_device(a).reshape(shape)
    return a.reshape(shape)


def empty(shape, dtype):
    """An uninitialised device array (from sigconv's caching pool)."""
    return cuda_module("common").empty(tuple(int(n) for n in shape), np.dtype(dtype))


def copy_into(src, dst) -> None:
    """Copy ``src`` into ``dst`` in place, on the side ``dst`` lives on (``dst`` keeps its
    identity: optimizers hold references to weights)."""
    if is_device(dst):
        cuda_module("common").copy(view(to_device(src)), view(dst))
    else:
        dst[...] = src

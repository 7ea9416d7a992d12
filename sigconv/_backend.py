"""Backend resolution in one place; CUDA is imported lazily so ``import sigconv`` needs no GPU."""

from __future__ import annotations

import functools
import importlib

import numpy as np

from . import _validate
from ._validate import is_device_array

__all__ = ["BACKENDS", "backend_ops", "is_device_array", "resolve_backend", "select"]

BACKENDS = ("auto", "cpu", "cuda")

_INSTALL_HINT = (
    "install the CUDA extra with `pip install sigconv[cuda]` (numba-cuda with the CUDA 13 "
    "toolkit libraries) and run on a machine with an NVIDIA GPU and driver"
)


@functools.lru_cache(maxsize=1)
def cuda_status() -> tuple[bool, str]:
    """``(available, reason)``: whether the CUDA backend can run here, and why (not)."""
    try:
        from numba import cuda
    except ImportError as exc:  # numba-cuda missing or broken
        return False, f"numba.cuda cannot be imported ({exc}); {_INSTALL_HINT}"
    try:
        if cuda.is_available():
            simulated = getattr(cuda, "simulator_enabled", False) or _simulator_on()
            where = "the CUDA simulator" if simulated else "a GPU"
            return True, f"numba.cuda found {where}"
    except Exception as exc:  # driver errors surface here
        return False, f"numba.cuda is installed but the driver failed ({exc}); {_INSTALL_HINT}"
    return False, f"numba.cuda is installed but finds no GPU; {_INSTALL_HINT}"


def _simulator_on() -> bool:
    from numba import config

    return bool(getattr(config, "ENABLE_CUDASIM", 0))


def cuda_available() -> bool:
    return cuda_status()[0]


def gpu_present() -> bool:
    """True when a real GPU (not Numba's simulator) can run the CUDA backend."""
    return cuda_status()[0] and not _simulator_on()


def require_cuda() -> None:
    """Raise ``RuntimeError`` saying what is missing when the CUDA backend cannot run."""
    ok, reason = cuda_status()
    if not ok:
        raise RuntimeError(f"backend='cuda' is not available: {reason}")


def resolve_backend(backend, *arrays, work: float = 0.0, gpu_min_work: float = 0.0) -> str:
    """Resolve ``backend`` to ``"cpu"`` or ``"cuda"``.

    ``auto`` picks CUDA when any operand already lives on the GPU, or when a GPU is present and
    ``work`` (a flop estimate) is at least ``gpu_min_work`` so the transfers pay off; else CPU.
    """
    if (backend == "auto" or backend == "cpu") and all(type(a) is np.ndarray for a in arrays):
        # host arrays (every call of a CPU training loop): the checks below come to this
        if backend == "cpu" or not (gpu_min_work > 0 and work >= gpu_min_work and gpu_present()):
            return "cpu"
    _validate.check_option(backend, "backend", BACKENDS)
    on_device = any(is_device_array(a) for a in arrays)
    if backend == "cpu":
        if on_device:
            raise TypeError(
                "backend='cpu' got a device array; copy it to the host first "
                "(e.g. numba's .copy_to_host()) or use backend='cuda'"
            )
        return "cpu"
    if backend == "cuda":
        require_cuda()
        return "cuda"
    if on_device:
        require_cuda()
        return "cuda"
    # auto never picks the simulator for host data: it is for tests, and far slower than the CPU.
    if gpu_min_work > 0 and work >= gpu_min_work and gpu_present():
        return "cuda"
    return "cpu"


def backend_ops(name: str):
    """The backend package, ``sigconv._cpu`` or ``sigconv._cuda``: the same function names with
    the same signatures (``tests/test_backends.py``), each taking a plan from ``_geometry`` and
    the operands."""
    ops = _OPS.get(name)
    if ops is None:
        ops = _OPS[name] = importlib.import_module(f"sigconv._{name}")
    return ops


_OPS: dict = {}


def select(backend, *arrays, work: float = 0.0, gpu_min_work: float = 0.0):
    """``backend_ops(resolve_backend(...))``: the one place where host/device dispatch happens."""
    return backend_ops(resolve_backend(backend, *arrays, work=work, gpu_min_work=gpu_min_work))


def empty_cpu_cache() -> int:
    """Free the host memory sigconv keeps for reuse: freed results and the calling thread's
    temporaries.

    Results of 1 MiB or more come from a pool: once nothing references a result any more,
    its memory is kept (up to 128 MiB in all) and handed out for the next one, instead of
    going back to the system and being faulted in again, which in a process next to other
    libraries cost up to a third of a large filter's time. Each thread likewise keeps the
    temporaries of its last calls (a few slots, at most 64 MiB a slot). Arrays still in use
    are not affected; other threads' temporaries are kept.

    Returns
    -------
    int
        Bytes released.

    Examples
    --------
    >>> import numpy as np, sigconv
    >>> y = sigconv.correlate(np.ones(300_000), np.ones(3), "same")  # a 2.4 MB result
    >>> del y  # its memory stays with sigconv for the next result
    >>> sigconv.empty_cpu_cache() >= 2_400_000
    True
    >>> sigconv.empty_cpu_cache()  # nothing left to free
    0
    """
    from . import _scratch

    return _scratch.release_results() + _scratch.release()


def empty_gpu_cache() -> int:
    """Free the GPU memory sigconv keeps cached for reuse (like ``torch.cuda.empty_cache``).

    Device arrays that sigconv allocates come from a caching pool: a block freed by Python is
    kept and handed out again instead of going back to the driver, which makes repeated calls
    much cheaper. Arrays still in use are not affected.

    Returns
    -------
    int
        Bytes released (0 when the CUDA backend was never used in this process).

    Examples
    --------
    >>> import sigconv
    >>> sigconv.empty_gpu_cache()  # nothing cached: the GPU was not used
    0
    """
    import sys

    memory = sys.modules.get("sigconv._cuda.memory")  # never import CUDA just to clear nothing
    return 0 if memory is None else memory.empty_cache()

"""compare.py cases for W7: a Dask volume filtered on a 2-worker ``distributed.LocalCluster``.

512^3 float32 in 128^3 chunks, generated on the cluster and kept there (``persist``), filtered
by ``sigconv.correlate`` on the Dask array and by ``dask_image.ndfilters.correlate`` (the same
array, the same cluster, zero padding for both). Each implementation's callable persists its
result on the workers and waits for it, so the times are the cluster's compute times, without
shipping 512 MiB to the client; the agreement check (``compare.py``) gathers both results. For
the stride-2 case dask-image's full result is sliced ``[::2, ::2, ::2]``, as users do today.

The cluster has 2 worker processes of 1 thread each (2 cores); sigconv's chunks then run with
1 Numba thread each (docs/contract.md §5, the workers x threads rule). Left out when dask,
distributed or dask-image is not installed.
"""

from __future__ import annotations

import atexit
import uuid

import numpy as np
from compare import Case

try:
    import dask.array as da
    import dask_image.ndfilters as dndi
    from distributed import Client, LocalCluster, wait
except ImportError:  # peers that are not installed are left out
    da = None

SHAPE = (512, 512, 512)
CHUNKS = (128, 128, 128)
_state: dict = {}


def client():
    """One cluster for every W7 case (started on first use, closed at exit)."""
    if "client" not in _state:
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit="5GiB",
            dashboard_address=":0",
        )
        _state["client"] = Client(cluster)
        atexit.register(cluster.close)
        atexit.register(_state["client"].close)
        atexit.register(_state.pop, "x", None)  # runs first: release the data before closing
    return _state["client"]


def volume():
    """The 512^3 float32 input, generated on the workers and kept there."""
    if "x" not in _state:
        c = client()
        rng = da.random.default_rng(2026)
        x = rng.standard_normal(SHAPE, dtype=np.float32, chunks=CHUNKS)
        _state["x"] = c.persist(x)
        wait(_state["x"])
    return _state["x"]


def _fresh(x):
    """``x`` under new task keys: a repeated run must compute again, not reuse a persisted
    result with the same (deterministic) keys. The identity task copies nothing."""
    return da.map_blocks(_identity, x, dtype=x.dtype, name=f"w7-input-{uuid.uuid4().hex}")


def _identity(block):
    return block


def _persisted(make):
    """A callable that builds the lazy result on a fresh alias of the input, computes it on
    the cluster and waits."""

    def run():
        out = client().persist(make(_fresh(volume())))
        wait(out)
        return out

    return run


def _w7(k: int, stride: int):
    def setup():
        volume()
        rng = np.random.default_rng(2026)
        w = (rng.standard_normal((k,) * 3) / k**1.5).astype(np.float32)
        cut = (slice(None, None, stride),) * 3
        return {
            "sigconv": _persisted(lambda x: correlate(x, w, "same", stride=stride)),
            f"dask_image.ndfilters.correlate{'[::2]' if stride > 1 else ''}": _persisted(
                lambda x: dndi.correlate(x, w, mode="constant")[cut]
            ),
        }

    name = f"512^3 in 128^3 chunks, {k}^3 same" + (f" stride {stride}" if stride > 1 else "")
    # rounds of both implementations in turn (compare.py); 7^3 takes dask-image about 20 s
    return Case("W7", name, setup, repeat=3 if k > 3 else 5)


if da is None:
    CASES = []
else:
    from sigconv import correlate

    CASES = [_w7(3, 1), _w7(7, 1), _w7(3, 2)]

"""asv suite for W7: a 512^3 float32 Dask volume in 128^3 chunks filtered on a 2-worker
``distributed.LocalCluster`` (docs/contract.md §5), sigconv and dask-image side by side.

``setup`` starts the cluster, generates the volume on the workers (``persist``), warms both
implementations and checks that they agree (dask-image's full result sliced for the stride
case). Each timed call computes on fresh task keys (a persisted result with the same keys would
be reused) and keeps the result on the workers. ``compare.py`` (``cases_dask.py``) prints the
same workloads as a ratio table.
"""

from __future__ import annotations

import uuid

import numpy as np


class W7DaskVolume:
    """512^3 float32 in 128^3 chunks: 3^3 and 7^3 'same', and 3^3 'same' with stride 2."""

    params = (["3", "7", "3 stride 2"],)
    param_names = ["case"]
    timeout = 900
    number = 1
    repeat = 3

    def setup(self, case):
        import dask.array as da
        import dask_image.ndfilters as dndi
        from distributed import Client, LocalCluster, wait

        from sigconv import correlate

        k = int(case.split()[0])
        self.stride = 2 if "stride" in case else 1
        self.cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        self.client = Client(self.cluster)
        rng = da.random.default_rng(2026)
        x = rng.standard_normal((512,) * 3, dtype=np.float32, chunks=128)
        self.x = self.client.persist(x)
        wait(self.x)
        w = (np.random.default_rng(2026).standard_normal((k,) * 3) / k**1.5).astype(np.float32)
        cut = (slice(None, None, self.stride),) * 3
        self.sigconv = lambda x: correlate(x, w, "same", stride=self.stride)
        self.dask_image = lambda x: dndi.correlate(x, w, mode="constant")[cut]
        got = self._run(self.sigconv)
        want = self._run(self.dask_image)
        err = float(abs(got - want).max().compute())
        scale = float(abs(want).max().compute())
        assert err <= 1e-4 * scale, f"sigconv disagrees with dask-image: {err} (scale {scale})"

    def teardown(self, case):
        self.client.close()
        self.cluster.close()

    def _run(self, make):
        import dask.array as da
        from distributed import wait

        fresh = da.map_blocks(_identity, self.x, dtype=self.x.dtype, name=f"in-{uuid.uuid4()}")
        out = self.client.persist(make(fresh))
        wait(out)
        return out

    def time_sigconv(self, case):
        self._run(self.sigconv)

    def time_dask_image(self, case):
        self._run(self.dask_image)


def _identity(block):
    return block

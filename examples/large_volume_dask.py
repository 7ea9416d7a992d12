"""A volume larger than memory, filtered with Dask
===============================================

Filtered chunk by chunk with Dask on a local cluster.

Usage::

    python examples/large_volume_dask.py [--size 1024] [--chunks 128] [--workdir DIR]
                                         [--workers 2] [--memory-limit 3GiB] [--quick] [--plot]

Builds a ``size^3`` float32 volume (1024^3: 4 GiB) in a Zarr store, chunk by chunk on a
``distributed.LocalCluster`` (bright spheres on a noisy background), then filters it lazily:
a 3^3 box smoothing, then a 3^3 edge filter (the 3-D Laplacian) with stride 2, which computes
only the outputs it keeps (no full-size result to slice). The result goes to a second Zarr
store; one slice before and after is plotted (with matplotlib). Every worker has a memory limit
and the client never holds more than a slice: the script prints the run time and the peak
resident memory of the client and of each worker. ``--quick`` uses 128^3 and also checks the
result against the in-memory ``sigconv.correlate`` calls. Needs the ``dask`` extra
(``pip install 'sigconv[dask]'``).
"""

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

SPHERES = 12  # bright spheres in the volume


def make_block(block, block_info=None):
    """One chunk of the synthetic volume, from its global coordinates (any chunking gives the
    same volume): spheres of value 1 plus seeded noise."""
    info = block_info[None]
    n = info["shape"][0]
    (z0, z1), (y0, y1), (x0, x1) = info["array-location"]
    rng = np.random.default_rng(7)
    centres = rng.uniform(0.1, 0.9, (SPHERES, 3)) * n
    radii = rng.uniform(0.04, 0.12, SPHERES) * n
    z, y, x = np.ogrid[z0:z1, y0:y1, x0:x1]
    out = np.zeros((z1 - z0, y1 - y0, x1 - x0), dtype=np.float32)
    for (cz, cy, cx), r in zip(centres, radii):
        out[((z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2) <= r * r] = 1.0
    seed = (z0 * n + y0) * n + x0
    out += 0.2 * np.random.default_rng(seed).standard_normal(out.shape, dtype=np.float32)
    return out


def kernels():
    box = np.full((3, 3, 3), 1.0 / 27.0, dtype=np.float32)
    laplace = -np.ones((3, 3, 3), dtype=np.float32)
    laplace[1, 1, 1] = 26.0
    return box, laplace


def filtered(volume):
    """The lazy pipeline: smoothing, then the strided edge filter."""
    from sigconv import correlate

    box, laplace = kernels()
    smooth = correlate(volume, box, "same", boundary="nearest")
    return correlate(smooth, laplace, "same", stride=2, boundary="nearest")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--size", type=int, default=1024, help="edge of the volume (voxels)")
    parser.add_argument("--chunks", type=int, default=128, help="edge of a Zarr/Dask chunk")
    parser.add_argument("--workdir", default=None, help="folder for the Zarr stores (temp)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--memory-limit", default="3GiB", help="memory limit per worker")
    parser.add_argument("--out", default="large_volume_dask.png", help="figure of one slice")
    parser.add_argument("--quick", action="store_true", help="128^3 and a check (smoke test)")
    parser.add_argument("--plot", action="store_true", help="also leave the figure open")
    args = parser.parse_args(argv)
    size = 128 if args.quick else args.size
    chunks = min(args.chunks, size // 2) if args.quick else args.chunks

    import dask.array as da
    from distributed import Client, LocalCluster, progress

    from sigconv import io

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="sigconv-volume-"))
    src, dst = workdir / "volume.zarr", workdir / "edges.zarr"
    cluster = LocalCluster(
        n_workers=args.workers,
        threads_per_worker=1,
        processes=True,
        memory_limit=args.memory_limit,
        dashboard_address=":0",
    )
    with cluster, Client(cluster) as client:
        print(
            f"cluster: {args.workers} workers x 1 thread, {args.memory_limit} each; "
            f"volume {size}^3 float32 ({size**3 * 4 / 2**30:.2f} GiB) in {chunks}^3 chunks"
        )
        started = time.perf_counter()
        template = da.empty((size,) * 3, chunks=chunks, dtype=np.float32)
        volume = template.map_blocks(make_block, dtype=np.float32)
        job = client.compute(volume.to_zarr(str(src), overwrite=True, compute=False))
        progress(job)
        job.result()
        built = time.perf_counter() - started
        print(f"\nwrote {src} in {built:.1f} s")

        started = time.perf_counter()
        edges = filtered(io.load_volume(src))  # lazy: a Dask array of the store's chunks
        job = client.compute(edges.to_zarr(str(dst), overwrite=True, compute=False))
        progress(job)
        job.result()
        took = time.perf_counter() - started
        print(f"\nfiltered into {dst} ({'x'.join(map(str, edges.shape))}) in {took:.1f} s")
        workers = client.run(peak_rss_mib)
        print(f"peak RSS: client {peak_rss_mib():.0f} MiB", end="")
        for name, rss in sorted(workers.items()):
            print(f", worker {name.rsplit(':', 1)[-1]} {rss:.0f} MiB", end="")
        print()

    before = da.from_zarr(str(src))[size // 2].compute()
    after = da.from_zarr(str(dst))[size // 4].compute()
    try:
        if args.quick:
            check(src, dst)
    finally:
        if args.workdir is None:  # our temporary stores
            shutil.rmtree(workdir, ignore_errors=True)
    figure(args.out, size, before, after, keep_open=args.plot)


def check(src, dst):
    """The chunked result equals the in-memory calls (small volumes only)."""
    import dask.array as da

    from sigconv import correlate

    box, laplace = kernels()
    whole = da.from_zarr(str(src)).compute()
    smooth = correlate(whole, box, "same", boundary="nearest")
    want = correlate(smooth, laplace, "same", stride=2, boundary="nearest")
    got = da.from_zarr(str(dst)).compute()
    ok = np.allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))
    print(f"matches the in-memory result: {ok}")
    if not ok:
        raise SystemExit(1)


def figure(path, size, before, after, keep_open=False):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no figure (pip install 'sigconv[plot]')")
        return
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.6))
    axes[0].imshow(before, cmap="gray")
    axes[0].set_title(f"slice {size // 2} of the volume")
    axes[1].imshow(np.abs(after), cmap="magma")
    axes[1].set_title("smoothed, then 3-D Laplacian, stride 2")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    if not keep_open:  # --plot leaves it to the caller (the documentation's gallery shows it)
        plt.close(fig)
    print(f"saved {path}")


if __name__ == "__main__":
    main()

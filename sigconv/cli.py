"""The ``sigconv`` command: ``demo``, ``filter``, ``train`` and ``info``.

``sigconv demo`` trains the default CNN on scikit-learn's digits, compares it with
``MLPClassifier`` on the same split and saves a figure of the learned first-layer filters and the
loss curves. ``sigconv filter IN OUT --kernel NAME`` applies one of the classic image filters (to an
image file, or chunk by chunk with Dask from one Zarr store to another).
``sigconv train DATA_DIR`` trains a classifier on a folder of sounds or volumes (one sub-folder
per class). ``sigconv info`` reports versions, threads and which backends can run here.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

__all__ = ["main"]


def _say(args, *parts):
    if not args.quiet:
        print(*parts, flush=True)


def _need_matplotlib(args):
    """pyplot with the Agg backend, or None after saying how to get it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "matplotlib is not installed, so no figure is saved; install it with "
            "`pip install 'sigconv[plot]'`",
            file=sys.stderr,
        )
        return None
    return plt


# --- demo ---------------------------------------------------------------------------------


def digits_split(seed: int = 0):
    """sklearn's digits scaled to [0, 1], split 75/25 stratified with ``seed``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype("float32")
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)


def _save_demo_figure(plt, path, cnn, mlp):
    import numpy as np

    first = next(layer for layer in cnn.model_.layers if layer.has_params)
    w = first.params["weight"]
    filters = w.reshape(w.shape[0], -1, *w.shape[2:])[:, 0]  # first input channel
    n = filters.shape[0]
    cols = min(n, 8)
    rows = int(np.ceil(n / cols))
    fig = plt.figure(figsize=(max(8, 1.2 * cols), 1.3 * rows + 3.2))
    grid = fig.add_gridspec(rows + 2, cols)
    lim = float(np.abs(filters).max()) or 1.0
    for i in range(n):
        ax = fig.add_subplot(grid[i // cols, i % cols])
        img = filters[i] if filters[i].ndim == 2 else filters[i][None, :]
        ax.imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{i}", fontsize=7)
    ax = fig.add_subplot(grid[rows:, :])
    ax.plot(np.arange(1, len(cnn.loss_curve_) + 1), cnn.loss_curve_, label="sigconv CNN")
    ax.plot(np.arange(1, len(mlp.loss_curve_) + 1), mlp.loss_curve_, label="MLPClassifier")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.legend()
    fig.suptitle("sigconv demo: learned first-layer filters and loss curves")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cmd_demo(args):
    from sklearn.neural_network import MLPClassifier

    from .estimators import CNNClassifier

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    Xtr, Xte, ytr, yte = digits_split(args.seed)
    _say(args, f"digits: {len(Xtr)} training and {len(Xte)} test images of 8x8 (seed {args.seed})")
    kwargs = {} if args.epochs is None else {"max_iter": args.epochs}
    cnn = CNNClassifier(
        input_shape=(1, 8, 8),
        random_state=args.seed,
        verbose=0 if args.quiet else 1,
        n_threads=args.threads or None,
        **kwargs,
    )
    t0 = time.perf_counter()
    cnn.fit(Xtr, ytr)
    cnn_time = time.perf_counter() - t0
    cnn_acc = cnn.score(Xte, yte)
    mlp = MLPClassifier(
        hidden_layer_sizes=(100,),
        max_iter=args.epochs if args.epochs is not None else 300,
        random_state=args.seed,
    )
    t0 = time.perf_counter()
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from .estimators._threads import thread_limit

    with warnings.catch_warnings(), thread_limit(args.threads or None):
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(Xtr, ytr)  # under the same thread limit as the CNN: a fair comparison
    mlp_time = time.perf_counter() - t0
    mlp_acc = mlp.score(Xte, yte)
    if not args.quiet:
        print(cnn.model_.summary() if hasattr(cnn.model_, "summary") else cnn.model_)
    print(f"{'model':<22}{'test accuracy':>15}{'fit time (s)':>15}{'epochs':>8}")
    print(f"{'sigconv CNNClassifier':<22}{cnn_acc:>15.4f}{cnn_time:>15.1f}{cnn.n_iter_:>8}")
    print(f"{'sklearn MLPClassifier':<22}{mlp_acc:>15.4f}{mlp_time:>15.1f}{mlp.n_iter_:>8}")
    plt = _need_matplotlib(args)
    if plt is not None:
        path = out / "sigconv_demo.png"
        _save_demo_figure(plt, path, cnn, mlp)
        _say(args, f"saved {path}")
    return 0


# --- filter -------------------------------------------------------------------------------

_SIGNED = ("edge", "laplacian", "sobel_x", "sobel_y", "sobel")


def cmd_filter(args):
    import numpy as np
    from skimage import io as skio
    from skimage.util import img_as_float, img_as_ubyte

    from . import filters

    if _is_zarr_path(args.input) or _is_zarr_path(args.output):
        return _filter_zarr(args)
    src = Path(args.input)
    if not src.is_file():
        raise FileNotFoundError(f"no such image: {src}")
    try:
        image = skio.imread(str(src))
    except Exception as exc:
        raise ValueError(f"cannot read image {src}: {exc}") from exc
    image = img_as_float(image)
    alpha = None
    if image.ndim == 3 and image.shape[-1] == 4 and args.kernel != "sepia":
        image, alpha = image[..., :3], image[..., 3:]
    if image.ndim == 3 and image.shape[-1] not in (3, 4):
        raise ValueError(f"image {src} has shape {image.shape}; expected grey, RGB or RGBA")
    if args.kernel == "sepia" and image.ndim != 3:
        raise ValueError(f"sepia needs a colour image; {src} is grey")
    channel_axis = -1 if image.ndim == 3 else None
    result = filters.filter_image(
        image, args.kernel, channel_axis=channel_axis, boundary=args.boundary
    )
    if args.kernel in _SIGNED:
        result = np.abs(result)
        peak = result.max()
        result = result / peak if peak > 0 else result
    result = np.clip(result, 0.0, 1.0)
    if alpha is not None:
        result = np.concatenate([result, alpha], axis=-1)
    dst = Path(args.output)
    dst.parent.mkdir(parents=True, exist_ok=True)
    skio.imsave(str(dst), img_as_ubyte(result), check_contrast=False)
    _say(args, f"{args.kernel}: {src} -> {dst} ({'x'.join(map(str, result.shape))})")
    return 0


def _is_zarr_path(path) -> bool:
    from ._dask_io import is_zarr

    return Path(path).suffix.lower() == ".zarr" or is_zarr(path)


def _filter_zarr(args):
    """A Zarr volume or image stack in, a Zarr store out: the 2-D filter on every slice of
    the last two axes, computed chunk by chunk by Dask (docs/contract.md §5), with a progress
    bar. The values are written as computed (float), not rescaled to an 8-bit image."""
    import numpy as np

    from . import filters
    from .signal import correlate

    if not (_is_zarr_path(args.input) and _is_zarr_path(args.output)):
        raise ValueError(
            "a Zarr input needs a Zarr output and the other way round; got "
            f"{args.input} -> {args.output}"
        )
    if args.kernel == "sepia":
        raise ValueError("sepia needs a colour image; it is not applied to Zarr volumes")
    src = Path(args.input)
    if not src.is_dir():
        raise FileNotFoundError(f"no such Zarr store: {src}")
    image = _open_zarr(src)
    if image.ndim < 2:
        raise ValueError(f"Zarr input {src} has shape {image.shape}; expected 2 or more axes")
    if args.kernel == "sobel":
        kx, ky = filters.sobel_x(), filters.sobel_y()
        gx = correlate(image, kx, "same", boundary=args.boundary)
        gy = correlate(image, ky, "same", boundary=args.boundary)
        result = np.hypot(gx, gy)
    else:
        kernel = filters.get_kernel(args.kernel)
        result = correlate(image, kernel, "same", boundary=args.boundary)
    result = result.rechunk(image.chunksize)  # Zarr stores need regular chunks
    store = result.to_zarr(str(args.output), overwrite=True, compute=False)
    _compute_with_progress(args, store)
    _say(args, f"{args.kernel}: {src} -> {args.output} ({'x'.join(map(str, result.shape))})")
    return 0


def _open_zarr(path):
    import dask.array as da

    try:
        return da.from_zarr(str(path))
    except Exception as exc:  # zarr raises its own types for missing or corrupt stores
        raise ValueError(f"cannot open Zarr store {path}: {exc}") from exc


def _compute_with_progress(args, value):
    """Compute on a distributed cluster (``--scheduler``) with its progress bar, or locally
    with Dask's ``ProgressBar``."""
    if getattr(args, "scheduler", None):
        from distributed import Client, progress

        with Client(args.scheduler) as client:
            future = client.compute(value)
            if not args.quiet:
                progress(future)
                print(flush=True)
            future.result()
        return
    if args.quiet:
        value.compute()
        return
    from dask.diagnostics import ProgressBar

    with ProgressBar():
        value.compute()


# --- train --------------------------------------------------------------------------------


def detect_folder_kind(root) -> str:
    """``"volume"`` when the class folders hold .npy/.npz/TIFF files, else ``"audio"``."""
    from .io import VOLUME_EXTENSIONS

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    suffixes = {
        p.suffix.lower()
        for d in root.iterdir()
        if d.is_dir() and not d.name.startswith(".")
        for p in d.iterdir()
        if p.is_file() and not p.name.startswith(".")
    }
    if not suffixes:
        raise ValueError(f"folder {root} has no class sub-folders with files in them")
    volume = suffixes & set(VOLUME_EXTENSIONS)
    if volume and volume != suffixes:
        raise ValueError(
            f"folder {root} mixes volume files ({sorted(volume)}) with other files "
            f"({sorted(suffixes - volume)})"
        )
    return "volume" if volume else "audio"


def cmd_train(args):
    import numpy as np
    from sklearn.model_selection import train_test_split

    from . import io
    from .estimators import CNNClassifier

    kind = detect_folder_kind(args.data_dir)
    if kind == "audio":
        X, y, names = io.load_audio_folder(args.data_dir, sr=args.sr, duration=args.duration)
        X = X / max(float(np.abs(X).max()), 1e-12)
    else:
        X, y, names = io.load_volume_folder(args.data_dir)
        X = (X - X.mean()) / max(float(X.std()), 1e-12)
    counts = np.bincount(y, minlength=len(names))
    _say(
        args,
        f"{kind} data: {len(X)} files of shape {X.shape[1:]}, classes {dict(zip(names, counts))}",
    )
    stratify = y if counts.min() >= 2 else None
    Xtr, Xte, ytr, yte = train_test_split(
        X, y, test_size=args.test_size, stratify=stratify, random_state=args.seed
    )
    kwargs = {} if args.epochs is None else {"max_iter": args.epochs}
    clf = CNNClassifier(
        random_state=args.seed,
        verbose=0 if args.quiet else 1,
        n_threads=args.threads or None,
        **kwargs,
    )
    clf.fit(Xtr, ytr)
    acc = clf.score(Xte, yte)
    print(
        f"held-out accuracy: {acc:.4f} on {len(Xte)} files "
        f"({clf.n_iter_} epochs, {clf.fit_time_:.1f} s)"
    )
    if args.save:
        clf.model_.save(args.save)
        _say(args, f"saved the model to {args.save}")
    return 0


# --- info ---------------------------------------------------------------------------------


def info_lines() -> list[str]:
    """Versions, threads and backends, one fact per line."""
    from importlib import metadata

    import numba

    from . import __version__
    from ._backend import cuda_status

    lines = [f"sigconv {__version__}", f"python {platform.python_version()} ({sys.platform})"]
    for dist in (
        "numpy",
        "scipy",
        "numba",
        "numba-cuda",
        "scikit-learn",
        "scikit-image",
        "soundfile",
        "tifffile",
        "matplotlib",
        "torch",
        "dask",
        "distributed",
        "zarr",
    ):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "not installed"
        lines.append(f"{dist} {version}")
    lines.append(
        f"threads: numba {numba.get_num_threads()} of {numba.config.NUMBA_NUM_THREADS} "
        f"(cpu count {os.cpu_count()}, threading layer {numba.config.THREADING_LAYER})"
    )
    lines.append(f"dask: {_dask_threads_line()}")
    lines.append(f"backend cpu: available (Numba {numba.__version__} parallel kernels)")
    ok, reason = cuda_status()
    lines.append(f"backend cuda: {'available' if ok else 'not available'}: {reason}")
    return lines


def _dask_threads_line() -> str:
    """The workers x threads rule of Dask tasks (docs/contract.md §5) with this machine's
    numbers."""
    cores = os.cpu_count() or 1
    forced = os.environ.get("SIGCONV_DASK_THREADS")
    rule = (
        "each task runs sigconv's kernels with cores // (workers on the host x threads per "
        "worker) Numba threads, at least 1"
    )
    example = (
        f"here {cores} cores: LocalCluster(n_workers=2, threads_per_worker=1) -> "
        f"{max(1, cores // 2)} per task; the threaded scheduler ({cores} threads) -> 1"
    )
    if forced:
        example = f"SIGCONV_DASK_THREADS={forced} overrides it"
    return f"{rule}; {example}"


def cmd_info(args):
    for line in info_lines():
        print(line)
    return 0


# --- entry point --------------------------------------------------------------------------


_THREADS_HELP = (
    "Numba/BLAS threads for training (default 1: small batches gain little from threads and "
    "lose much when the cores are shared; 0 keeps the libraries' defaults)"
)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .filters import BOUNDARIES, FILTERS

    parser = argparse.ArgumentParser(
        prog="sigconv", description="sigconv: fast, complete and transparent convolution."
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars or status messages"
    )
    # the sub-commands take --quiet too; SUPPRESS keeps `sigconv --quiet demo` quiet
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no progress bars or status messages",
    )
    parser.add_argument("--version", action="version", version=f"sigconv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser(
        "demo", parents=[common], help="train the default CNN on digits, compare with an MLP"
    )
    demo.add_argument("--out", default=".", help="folder for sigconv_demo.png (default: .)")
    demo.add_argument("--epochs", type=int, default=None, help="epochs (default: the estimator's)")
    demo.add_argument("--seed", type=int, default=0, help="split and initialisation seed")
    demo.add_argument("--threads", type=int, default=1, help=_THREADS_HELP)
    demo.set_defaults(func=cmd_demo)

    filt = sub.add_parser("filter", parents=[common], help="apply a classic filter to an image")
    filt.add_argument("input", help="input image (any format scikit-image reads) or a .zarr volume")
    filt.add_argument("output", help="output image (format from the extension) or a .zarr store")
    filt.add_argument("--kernel", required=True, choices=FILTERS, help="the filter")
    filt.add_argument("--boundary", default="reflect", choices=BOUNDARIES)
    filt.add_argument(
        "--scheduler",
        default=None,
        help="address of a Dask distributed scheduler for .zarr input and output (default: "
        "the local threaded scheduler)",
    )
    filt.set_defaults(func=cmd_filter)

    train = sub.add_parser(
        "train", parents=[common], help="train on a folder of sounds or volumes (one per class)"
    )
    train.add_argument("data_dir", help="folder with one sub-folder of files per class")
    train.add_argument("--epochs", type=int, default=None)
    train.add_argument("--sr", type=int, default=None, help="resample audio to this rate (Hz)")
    train.add_argument(
        "--duration", type=float, default=None, help="crop or pad audio to this many seconds"
    )
    train.add_argument("--test-size", type=float, default=0.25, help="held-out fraction")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--save", default=None, help="save the trained network (.npz)")
    train.add_argument("--threads", type=int, default=1, help=_THREADS_HELP)
    train.set_defaults(func=cmd_train)

    info = sub.add_parser("info", parents=[common], help="versions, threads and backends")
    info.set_defaults(func=cmd_info)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quiet:
        os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as exc:
        print(f"sigconv {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

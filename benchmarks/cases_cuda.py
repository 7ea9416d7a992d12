"""compare.py cases for the CUDA backend: W2, W3, W4 and W5 on the GPU (float32).

Left out entirely (``CASES = []``) where no real GPU is present: the simulator is for tests.
Every implementation gets device-resident data and synchronises inside its callable, so the
times are kernel times with synchronisation and without host<->device transfers:

* sigconv: ``backend="cuda"`` on Numba device arrays (results stay on the device);
* ``torch`` CUDA tensors with cuDNN (``conv2d``/``conv3d``; autograd for forward+backward); for
  the CNN layers (W5) twice: with PyTorch's default, which lets cuDNN use TF32 tensor cores, and
  with TF32 off (full float32, as sigconv computes);
* ``cupyx.scipy.ndimage.correlate`` and ``cupyx.scipy.signal.correlate`` (when CuPy is there).

Run on a GPU machine: ``python benchmarks/compare.py --only GPU`` (or ``GPU-W2`` ...).
"""

from __future__ import annotations

import numpy as np
from compare import Case

from sigconv import _backend, correlate


def _peers():
    try:
        import torch

        torch = torch if torch.cuda.is_available() else None
    except ImportError:
        torch = None
    try:
        import cupy
        import cupyx.scipy.ndimage as cndi
        import cupyx.scipy.signal as csig
    except ImportError:
        cupy = cndi = csig = None
    return torch, cupy, cndi, csig


def _synced(fn, sync):
    def run():
        out = fn()
        sync()
        return out

    return run


def _filter_case(workload, name, xshape, wshape, **geom):
    """A single-channel filter: correlate ``same`` with zero padding."""

    def setup():
        from numba import cuda

        torch, cupy, cndi, csig = _peers()
        rng = np.random.default_rng(2026)
        x = rng.standard_normal(xshape).astype(np.float32)
        w = (rng.standard_normal(wshape) / np.sqrt(np.prod(wshape))).astype(np.float32)
        dx, dw = cuda.to_device(x), cuda.to_device(w)
        stride, dilation = geom.get("stride", 1), geom.get("dilation", 1)
        impls = {
            "sigconv": _synced(
                lambda: correlate(dx, dw, "same", stride=stride, dilation=dilation),
                cuda.synchronize,
            )
        }
        nd = len(wshape)
        if torch is not None:
            tx = torch.from_numpy(x).cuda()[None, None]
            tw = torch.from_numpy(w).cuda()[None, None]
            conv = torch.nn.functional.conv2d if nd == 2 else torch.nn.functional.conv3d
            pad = [(k - 1) * dilation // 2 for k in wshape] if stride > 1 else "same"
            impls["torch cuDNN"] = _synced(
                lambda: conv(tx, tw, stride=stride, dilation=dilation, padding=pad)[0, 0],
                torch.cuda.synchronize,
            )
        if cupy is not None and stride == 1:
            cx, cw = cupy.asarray(x), cupy.asarray(w)
            if dilation > 1:
                ke = [(k - 1) * dilation + 1 for k in wshape]
                cw = cupy.zeros(ke, dtype=cupy.float32)
                cw[(slice(None, None, dilation),) * nd] = cupy.asarray(w)
            sync = cupy.cuda.Device().synchronize
            impls["cupyx.scipy.ndimage.correlate"] = _synced(
                lambda: cndi.correlate(cx, cw, mode="constant"), sync
            )
            # cupyx.scipy.signal's method="auto" handles 1-D only; time both of its N-D methods.
            for method in ("direct", "fft"):
                impls[f"cupyx.scipy.signal.correlate {method}"] = _synced(
                    lambda m=method: csig.correlate(cx, cw, "same", method=m), sync
                )
        return impls

    return Case(workload, name, setup, repeat=21)


def _layer_case(workload, name, xs, ws, padding, both):
    """A CNN layer (W5): forward, or forward + all three gradients."""

    def setup():
        from numba import cuda

        import sigconv.nn.functional as F

        torch, _, _, _ = _peers()
        rng = np.random.default_rng(0)
        x = rng.standard_normal(xs).astype(np.float32)
        w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(np.float32)
        b = rng.standard_normal(ws[0]).astype(np.float32)
        dx, dw, db = (cuda.to_device(a) for a in (x, w, b))
        y = F.conv(dx, dw, db, padding=padding)
        dg = cuda.to_device(rng.standard_normal(tuple(y.shape)).astype(np.float32))

        def ours():
            out = F.conv(dx, dw, db, padding=padding)
            if both:
                out = F.conv_backward(dg, dx, dw, padding=padding)
            return out

        impls = {"sigconv": _synced(ours, cuda.synchronize)}
        if torch is not None:
            nd = len(xs) - 2
            conv = (torch.nn.functional.conv1d, torch.nn.functional.conv2d,
                    torch.nn.functional.conv3d)[nd - 1]  # fmt: skip
            tx = torch.from_numpy(x).cuda().requires_grad_(both)
            tw = torch.from_numpy(w).cuda().requires_grad_(both)
            tb = torch.from_numpy(b).cuda().requires_grad_(both)
            tg = torch.from_numpy(dg.copy_to_host()).cuda()

            def theirs():
                out = conv(tx, tw, tb, padding=padding)
                if both:
                    return torch.autograd.grad(out, (tx, tw, tb), tg)
                return out

            # PyTorch lets cuDNN run float32 convolutions on TF32 tensor cores by default (10-bit
            # mantissa, about 3 significant digits); sigconv computes in full float32. Both are
            # timed: the TF32 row is what PyTorch users get, the float32 row the like-for-like.
            impls["torch cuDNN (TF32 allowed, default)"] = _synced(theirs, torch.cuda.synchronize)
            impls["torch cuDNN float32 (TF32 off)"] = _synced(
                _without_tf32(torch, theirs), torch.cuda.synchronize
            )
        return impls

    return Case(workload, name, setup, repeat=11)


def _without_tf32(torch, fn):
    def run():
        before = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = False
        try:
            return fn()
        finally:
            torch.backends.cudnn.allow_tf32 = before

    return run


def _cases():
    if not _backend.gpu_present():
        return []
    from workloads import LAYERS

    cases = [
        _filter_case("GPU-W2", "2048^2 3x3 same", (2048, 2048), (3, 3)),
        _filter_case("GPU-W2", "2048^2 7x7 same", (2048, 2048), (7, 7)),
        _filter_case("GPU-W3", "256^3 3^3 same", (256, 256, 256), (3, 3, 3)),
        _filter_case("GPU-W4", "1024^2 3x3 stride 2 same", (1024, 1024), (3, 3), stride=2),
        _filter_case("GPU-W4", "1024^2 3x3 dilation 4 same", (1024, 1024), (3, 3), dilation=4),
    ]
    for key, (label, xs, ws, padding) in LAYERS.items():
        cases.append(_layer_case(f"GPU-{key}", f"{label} fwd", xs, ws, padding, False))
        cases.append(_layer_case(f"GPU-{key}", f"{label} fwd+bwd", xs, ws, padding, True))
    return cases


CASES = _cases()

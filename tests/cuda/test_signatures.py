"""Every kernel launch uses exactly the argument types its module declares in PTX_SIGNATURES.

So (1) each kernel compiles once per dtype however it is called (layouts, batch shapes,
modes, strides, device or host inputs), and (2) ``python -m sigconv._cuda.ptx`` compiles what
really runs. Launches are intercepted and their arguments typed with ``numba.typeof``.
"""

from collections import defaultdict

import numpy as np
import pytest
from numba.core import sigutils

from sigconv._cuda import (
    common,
    conv_kernels,
    convolution,
    correlation,
    dense,
    elementwise,
    igemm,
    igemm_kernels,
    pool_kernels,
    pooling,
)
from sigconv.nn import functional as F
from sigconv.signal import convolve
from sigconv.signal import correlate as corr
from tests.cuda.conftest import KernelSpy, numba_cuda

pytestmark = [pytest.mark.cuda, pytest.mark.usefixtures("small_gemm_tiles")]

# the modules that declare kernels, and every module that launches them (the host modules
# import their kernels by name, so a spy must replace the name there)
MODULES = [common, correlation, conv_kernels, igemm_kernels, pool_kernels, dense, elementwise]
LAUNCHERS = MODULES + [convolution, pooling, igemm]


def _workload(rng, monkeypatch):
    for dt in (np.float32, np.float64):
        x = rng.standard_normal((2, 5, 6)).astype(dt)
        w = rng.standard_normal((3, 2)).astype(dt)
        corr(x, w, "full", backend="cuda")
        convolve(np.asfortranarray(x[0]), w, "same", stride=2, boundary="wrap", backend="cuda")
        corr(x[..., 0], w[0], "valid", dilation=2, backend="cuda")
        corr(numba_cuda.to_device(x)[:, ::-1], w, "same", backend="cuda")
        xi = rng.standard_normal((2, 2, 5, 5)).astype(dt)
        wi = rng.standard_normal((2, 2, 3, 3)).astype(dt)
        y = F.conv(xi, wi, np.ones(2, dt), padding=1, padding_mode="reflect", backend="cuda")
        F.conv_backward(y, xi, wi, padding=1, padding_mode="reflect", backend="cuda")
        F.conv_transpose(y, wi, stride=2, backend="cuda")
        ym, idx = F.max_pool(xi, 2, return_indices=True, backend="cuda")
        F.max_pool_backward(ym, xi, idx, 2, backend="cuda")
        ya = F.avg_pool(xi, 3, 2, 1, backend="cuda")
        F.avg_pool_backward(ya, xi, 3, 2, 1, backend="cuda")
        yl = F.lp_pool(xi, 2.0, 2, backend="cuda")
        F.lp_pool_backward(yl, xi, 2.0, 2, backend="cuda")
        F.lp_pool_backward(yl, xi, np.inf, 2, backend="cuda")
        ax = np.abs(xi)
        ys, si = F.stochastic_pool(ax, 2, rng=0, return_indices=True, backend="cuda")
        F.stochastic_pool_backward(ys, ax, 2, indices=si, backend="cuda")
        yi = F.stochastic_pool(ax, 2, training=False, backend="cuda")
        F.stochastic_pool_backward(yi, ax, 2, training=False, backend="cuda")
        F.spectral_pool_backward(F.spectral_pool(xi, (3, 4), backend="cuda"), xi, (3, 4),
                                 backend="cuda")  # fmt: skip
        F.global_max_pool_backward(F.global_max_pool(xi, backend="cuda"), xi, backend="cuda")
        F.global_avg_pool_backward(F.global_avg_pool(xi, backend="cuda"), xi, backend="cuda")
        a2 = rng.standard_normal((4, 3)).astype(dt)
        w2 = rng.standard_normal((5, 3)).astype(dt)
        g2 = dense.dense(a2, w2, np.zeros(5, dt))
        dense.dense_backward(g2, a2, w2)
        for fwd, bwd in ((elementwise.relu, elementwise.relu_backward),
                         (elementwise.sigmoid, elementwise.sigmoid_backward)):  # fmt: skip
            bwd(a2, fwd(a2))
        elementwise.softmax_backward(a2, elementwise.softmax(a2))
        elementwise.cross_entropy(a2, np.array([0, 1, 2, 0]))
        elementwise.mse(a2, a2 * 2)
        p = numba_cuda.to_device(a2.copy())
        buf = numba_cuda.device_array(a2.shape, dtype=dt)
        elementwise.sgd_step(p, a2, buf, lr=0.1, momentum=0.9, first=True)
        m = numba_cuda.to_device(np.zeros_like(a2))
        v = numba_cuda.to_device(np.zeros_like(a2))
        elementwise.adam_step(p, a2, m, v, step=1, lr=0.1)
    corr(rng.integers(0, 5, size=(6, 6)), np.ones((2, 2)), backend="cuda")  # int64 -> float64
    x1, w1 = rng.standard_normal((1, 1, 33)), rng.standard_normal((1, 1, 30))  # K > KMAX
    F.conv_backward(F.conv(x1, w1, backend="cuda"), x1, w1, need=("weight",), backend="cuda")
    from sigconv import _config

    for name in ("CUDA_IGEMM_MIN_K_CHANNELS", "CUDA_IGEMM_MIN_M_CHANNELS"):
        monkeypatch.setattr(_config, name, 0)  # the implicit-GEMM kernels
    for dt in (np.float32, np.float64):
        xg = rng.standard_normal((2, 2, 4, 5)).astype(dt)
        wg = rng.standard_normal((2, 2, 2, 3)).astype(dt)
        yg = F.conv(xg, wg, np.ones(2, dt), padding=1, padding_mode="circular", backend="cuda")
        F.conv_backward(yg, xg, wg, padding=1, padding_mode="circular", backend="cuda")
        F.conv_transpose(yg, wg, stride=2, backend="cuda")
    for name in ("CUDA_IGEMM_MIN_K_CHANNELS", "CUDA_IGEMM_MIN_M_CHANNELS"):
        monkeypatch.setattr(_config, name, 10**9)
    monkeypatch.setattr(_config, "CUDA_SHARED_BYTES", 0)  # the untiled kernels
    for dt in (np.float32, np.float64):
        xs = rng.standard_normal((1, 2, 4, 5)).astype(dt)
        ws = rng.standard_normal((2, 2, 2, 2)).astype(dt)
        F.conv(xs, ws, padding=1, backend="cuda")
        corr(xs[0], ws[0, 0], "same", backend="cuda")


def test_launch_types_are_the_declared_ptx_signatures(monkeypatch, rng):
    declared = {}
    kernels = {}
    for mod in MODULES:
        for kernel, sigs in mod.PTX_SIGNATURES:
            name = kernel.py_func.__name__
            declared[name] = {tuple(sigutils.normalize_signature(s)[0]) for s in sigs}
            kernels[id(kernel)] = kernel
    seen = defaultdict(set)
    for mod in LAUNCHERS:
        for attr, value in list(vars(mod).items()):
            if id(value) in kernels:
                monkeypatch.setattr(mod, attr, KernelSpy(value, seen))
    _workload(rng, monkeypatch)
    assert set(seen) == set(declared), set(declared) ^ set(seen)
    for name, types in seen.items():
        assert types <= declared[name], (name, types - declared[name], declared[name])

"""asv suite for W6: LeNet-5 training, one epoch over 12,000 1x28x28 images, batch 64, SGD.

``setup`` builds the data (upscaled, shifted scikit-learn digits; see ``cases_nn_train``),
warms the JIT with one training step and checks that one step of sigconv's LeNet-5 gives the
same loss and weights as the same step in PyTorch from the same initial weights. ``time_epoch``
times the epoch, ``peakmem_epoch`` its peak memory, ``track_images_per_second`` the
throughput (the cold start is in ``bench_startup.py``).
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cases_nn_train import BATCH, N_TRAIN, LeNetPair, digits_28  # noqa: E402


def _check_one_step(pair, X, y):
    """One SGD step in both frameworks from the same weights must agree closely."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return
    idx = np.arange(BATCH)
    pair.reset()
    pair.epoch_sigconv(X[idx], y[idx], idx)
    pair.epoch_torch(pair.torch.from_numpy(X[idx]), pair.torch.from_numpy(y[idx]), idx)
    theirs = {
        f"{i}.{name}": getattr(pair.net[i], name).detach().numpy()
        for i, _ in pair.pairs
        for name in ("weight", "bias")
    }
    for key, value in pair.model.params.items():
        err = np.max(np.abs(value - theirs[key])) / max(np.max(np.abs(theirs[key])), 1e-30)
        if err > 1e-3:
            raise AssertionError(f"{key} after one step disagrees with torch: {err:.2e}")
    pair.reset()


class W6LeNetTrain:
    timeout = 600
    number = 1
    repeat = 3
    warmup_time = 0

    def setup(self):
        self.X, self.y, _, _ = digits_28()
        self.order = np.random.default_rng(1).permutation(N_TRAIN)
        self.pair = LeNetPair()
        _check_one_step(self.pair, self.X, self.y.astype(np.int64))

    def time_epoch(self):
        self.pair.reset()
        self.pair.epoch_sigconv(self.X, self.y, self.order)

    def peakmem_epoch(self):
        self.pair.reset()
        self.pair.epoch_sigconv(self.X, self.y, self.order)

    def track_images_per_second(self):
        self.pair.reset()
        t0 = time.perf_counter()
        self.pair.epoch_sigconv(self.X, self.y, self.order)
        return N_TRAIN / (time.perf_counter() - t0)

    track_images_per_second.unit = "images/s"

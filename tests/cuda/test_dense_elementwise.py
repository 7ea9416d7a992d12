"""CUDA dense layers, activations, losses and optimizer steps against numpy and PyTorch."""

import numpy as np
import pytest

from sigconv._cuda import dense as cd
from sigconv._cuda import elementwise as ce
from tests.cuda.conftest import numba_cuda, to_host
from tests.tolerance import assert_close

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.cuda

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,fin,fout", [(5, 7, 3), (9, 4, 10), (1, 1, 1)])
def test_dense_forward_backward(n, fin, fout, dtype, rng):
    x = rng.standard_normal((n, fin)).astype(dtype)
    w = rng.standard_normal((fout, fin)).astype(dtype)
    b = rng.standard_normal(fout).astype(dtype)
    y = cd.dense(x, w, b)
    assert y.dtype == dtype
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    assert_close(y, x64 @ w64.T + b, dtype=dtype)
    g = rng.standard_normal((n, fout)).astype(dtype)
    gx, gw, gb = cd.dense_backward(g, x, w)
    assert_close(gx, g.astype(np.float64) @ w64, dtype=dtype)
    assert_close(gw, g.T.astype(np.float64) @ x64, dtype=dtype)
    assert_close(gb, g.sum(0, dtype=np.float64), dtype=dtype)
    assert cd.dense_backward(g, x, w, need=("bias",))[:2] == (None, None)


def test_matmul_transposes_and_device(to_device, rng):
    a = rng.standard_normal((6, 5))
    b = rng.standard_normal((6, 7))
    got = cd.matmul(to_device(a), b, trans_a=True)
    assert hasattr(got, "copy_to_host")
    assert_close(to_host(got), a.T @ b)
    assert_close(cd.matmul(b, a.T.copy(), trans_a=True, trans_b=True), b.T @ a)
    with pytest.raises(ValueError, match="inner"):
        cd.matmul(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_activations_match_torch(dtype, rng):
    x = (rng.standard_normal((4, 6)) * 30).astype(dtype)  # large values: sigmoid must not overflow
    x[0, 0] = 0.0
    g = rng.standard_normal(x.shape).astype(dtype)
    tx = torch.tensor(x.astype(np.float64), requires_grad=True)
    cases = [
        (ce.relu(x), torch.relu(tx), lambda y: ce.relu_backward(g, y)),
        (ce.leaky_relu(x, 0.1), torch.nn.functional.leaky_relu(tx, 0.1),
         lambda y: ce.leaky_relu_backward(g, x, 0.1)),
        (ce.sigmoid(x), torch.sigmoid(tx), lambda y: ce.sigmoid_backward(g, y)),
        (ce.tanh(x), torch.tanh(tx), lambda y: ce.tanh_backward(g, y)),
        (ce.softmax(x, 1), torch.softmax(tx, 1), lambda y: ce.softmax_backward(g, y, 1)),
    ]  # fmt: skip
    for y, ty, back in cases:
        assert y.dtype == dtype
        assert np.all(np.isfinite(y))
        assert_close(y, ty.detach().numpy(), dtype=dtype)
        (gt,) = torch.autograd.grad(ty, tx, torch.tensor(g.astype(np.float64)))
        assert_close(back(y), gt.numpy(), dtype=dtype)


def test_softmax_other_axis_and_nan_relu(rng):
    x = rng.standard_normal((2, 3, 4))
    assert_close(ce.softmax(x, 2), torch.softmax(torch.tensor(x), 2).numpy())
    y = ce.relu(np.array([np.nan, -1.0, 2.0]))
    np.testing.assert_array_equal(y, np.maximum([np.nan, -1.0, 2.0], 0))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_losses_match_torch(reduction, rng):
    logits = rng.standard_normal((5, 4)) * 20
    target = rng.integers(0, 4, size=5)
    loss, grad = ce.cross_entropy(logits, target, reduction)
    tl = torch.tensor(logits, requires_grad=True)
    tloss = torch.nn.functional.cross_entropy(tl, torch.tensor(target), reduction=reduction)
    assert loss == pytest.approx(tloss.item(), rel=1e-10)
    (tg,) = torch.autograd.grad(tloss, tl)
    assert_close(grad, tg.numpy())
    pred, tgt = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    loss, grad = ce.mse(pred, tgt, reduction)
    tp = torch.tensor(pred, requires_grad=True)
    tloss = torch.nn.functional.mse_loss(tp, torch.tensor(tgt), reduction=reduction)
    assert loss == pytest.approx(tloss.item(), rel=1e-10)
    (tg,) = torch.autograd.grad(tloss, tp)
    assert_close(grad, tg.numpy())


@pytest.mark.parametrize(
    "kw",
    [
        dict(lr=0.1),
        dict(lr=0.05, momentum=0.9, weight_decay=0.01),
        dict(lr=0.05, momentum=0.8, dampening=0.3),
        dict(lr=0.05, momentum=0.9, nesterov=True),
    ],
)
def test_sgd_matches_torch(kw, rng):
    p0 = rng.standard_normal(7)
    grads = [rng.standard_normal(7) for _ in range(3)]
    dp = numba_cuda.to_device(p0.copy())
    buf = numba_cuda.device_array(7, dtype=np.float64)
    tp = torch.tensor(p0.copy(), requires_grad=True)
    opt = torch.optim.SGD([tp], **kw)
    for i, g in enumerate(grads):
        ce.sgd_step(dp, numba_cuda.to_device(g), buf, first=i == 0, **kw)
        tp.grad = torch.tensor(g)
        opt.step()
    assert_close(to_host(dp), tp.detach().numpy())


def test_adam_matches_torch(rng):
    p0 = rng.standard_normal(6).astype(np.float32)
    dp = numba_cuda.to_device(p0.copy())
    m = numba_cuda.to_device(np.zeros(6, np.float32))
    v = numba_cuda.to_device(np.zeros(6, np.float32))
    tp = torch.tensor(p0.copy(), requires_grad=True)
    opt = torch.optim.Adam([tp], lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)
    for step in range(1, 4):
        g = rng.standard_normal(6).astype(np.float32)
        ce.adam_step(dp, g, m, v, step=step, lr=0.01, betas=(0.8, 0.99), eps=1e-6,
                     weight_decay=0.1)  # fmt: skip
        tp.grad = torch.tensor(g)
        opt.step()
    assert_close(to_host(dp), tp.detach().numpy(), dtype=np.float32)
    with pytest.raises(TypeError, match="device"):
        ce.adam_step(p0, p0, m, v, step=1, lr=0.1)


def test_two_layer_step_stays_on_device(to_device, rng):
    # dense -> relu -> dense -> cross-entropy -> backward -> SGD, with no host copy but the loss.
    x = to_device(rng.standard_normal((6, 5)).astype(np.float32))
    w1 = to_device((rng.standard_normal((8, 5)) * 0.5).astype(np.float32))
    w2 = to_device((rng.standard_normal((3, 8)) * 0.5).astype(np.float32))
    b1 = to_device(np.zeros(8, np.float32))
    target = to_device(np.array([0, 1, 2, 0, 1, 2]))
    losses = []
    for _ in range(4):
        h = ce.relu(cd.dense(x, w1, b1))
        logits = cd.dense(h, w2)
        loss, g = ce.cross_entropy(logits, target)
        losses.append(loss)
        gh, gw2, _ = cd.dense_backward(g, h, w2, need=("x", "weight"))
        gz = ce.relu_backward(gh, h)
        _, gw1, gb1 = cd.dense_backward(gz, x, w1, need=("weight", "bias"))
        for p, gp in ((w1, gw1), (w2, gw2), (b1, gb1)):
            assert hasattr(gp, "copy_to_host")
            ce.sgd_step(p, gp, None, lr=0.5)
    assert losses[-1] < losses[0]

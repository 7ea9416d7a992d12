"""Activations, losses and optimizer updates on the GPU, so a model can train without host
copies between layers.

Each function mirrors the CPU computation in ``sigconv.nn`` (``layers``, ``losses``,
``optim``) operation for operation, so CPU and CUDA agree to float tolerance:

* activations and their backward passes: ``relu``, ``leaky_relu``, ``sigmoid`` (overflow-free),
  ``tanh``, ``softmax`` (max-shifted, along axis 1 of ``(N, C, ...)``), and ``multiply`` (the
  dropout mask, forward and backward);
* losses returning ``(value, grad_pred)``: ``cross_entropy`` (softmax fused, through
  log-sum-exp), ``mse``;
* in-place parameter updates: ``sgd_step`` (momentum, dampening, Nesterov, weight decay) and
  ``adam_step`` (PyTorch's rules, as ``sigconv.nn.optim``).

Elementwise kernels are grid-stride loops over flat C-contiguous views.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from .. import _config, _validate
from . import common
from .launch import launch

RELU, LEAKY, SIGMOID, TANH, MUL = 0, 1, 2, 3, 4


@cuda.jit(cache=True)
def _unary(x, y, op, slope):
    one = y.dtype.type(1)
    for t in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        v = x[t]
        if op == 0:  # max(x, 0), NaN propagating as numpy.maximum
            y[t] = v if (v > 0 or v != v) else y.dtype.type(0)
        elif op == 1:
            y[t] = v if v > 0 else v * slope
        elif op == 2:  # logistic without overflow: exp of a non-positive number only
            if v >= 0:
                y[t] = one / (one + math.exp(-v))
            else:
                e = math.exp(v)
                y[t] = e / (one + e)
        else:
            y[t] = math.tanh(v)


@cuda.jit(cache=True)
def _unary_grad(g, c, gx, op, slope):
    # c is the cached forward value: y for relu/sigmoid/tanh, x for leaky relu; for MUL (op 4)
    # any second factor (dropout's scaled mask), which makes this kernel the elementwise product.
    one = gx.dtype.type(1)
    for t in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        v = c[t]
        if op == 0:
            gx[t] = g[t] if v > 0 else gx.dtype.type(0)
        elif op == 1:
            gx[t] = g[t] if v > 0 else g[t] * slope
        elif op == 2:
            gx[t] = g[t] * v * (one - v)
        elif op == 3:
            gx[t] = g[t] * (one - v * v)
        else:
            gx[t] = g[t] * v


@cuda.jit(cache=True)
def _softmax(x, y):
    # x, y (A, C, B): softmax along C for each (a, b).
    A, C, B = x.shape
    for t in range(cuda.grid(1), A * B, cuda.gridsize(1)):
        a = t // B
        b = t - a * B
        m = x[a, 0, b]
        for c in range(1, C):
            m = max(m, x[a, c, b])
        s = y.dtype.type(0)
        for c in range(C):
            e = math.exp(x[a, c, b] - m)
            y[a, c, b] = e
            s += e
        for c in range(C):
            y[a, c, b] /= s


@cuda.jit(cache=True)
def _softmax_grad(g, y, gx):
    # gx = y * (g - sum_c g * y)
    A, C, B = y.shape
    for t in range(cuda.grid(1), A * B, cuda.gridsize(1)):
        a = t // B
        b = t - a * B
        s = gx.dtype.type(0)
        for c in range(C):
            s += g[a, c, b] * y[a, c, b]
        for c in range(C):
            gx[a, c, b] = y[a, c, b] * (g[a, c, b] - s)


@cuda.jit(cache=True)
def _cross_entropy(logits, target, loss, grad, scale):
    # Per row: loss = logsumexp - logit[target]; grad = (softmax - onehot) * scale.
    # A label outside [0, C) (possible for device targets, which the host cannot check without
    # a copy) gives loss -inf, which no valid row can, and NaN gradients; the host raises on it.
    N, C = logits.shape
    for n in range(cuda.grid(1), N, cuda.gridsize(1)):
        tn = target[n]
        if tn < 0 or tn >= C:
            loss[n] = -grad.dtype.type(math.inf)
            for c in range(C):
                grad[n, c] = grad.dtype.type(math.nan)
            continue
        m = logits[n, 0]
        for c in range(1, C):
            m = max(m, logits[n, c])
        s = grad.dtype.type(0)
        for c in range(C):
            s += math.exp(logits[n, c] - m)
        lse = m + math.log(s)
        loss[n] = lse - logits[n, tn]
        for c in range(C):
            p = math.exp(logits[n, c] - lse)
            if c == tn:
                p -= grad.dtype.type(1)
            grad[n, c] = p * scale


@cuda.jit(cache=True)
def _sq_diff(pred, target, diff, sq, scale):
    # diff = pred - target; sq = diff^2; diff *= scale afterwards (the gradient).
    for t in range(cuda.grid(1), diff.size, cuda.gridsize(1)):
        d = pred[t] - target[t]
        sq[t] = d * d
        diff[t] = d * scale


@cuda.jit(cache=True)
def _sum(x, out):
    # out[0] = sum of x: one block, a tree in shared memory (losses are small reductions).
    nthreads = cuda.blockDim.x
    tid = cuda.threadIdx.x
    red = cuda.shared.array(0, x.dtype)
    acc = x.dtype.type(0)
    for t in range(tid, x.size, nthreads):
        acc += x[t]
    red[tid] = acc
    half = nthreads // 2
    while half > 0:
        cuda.syncthreads()
        if tid < half:
            red[tid] += red[tid + half]
        half //= 2
    cuda.syncthreads()
    if tid == 0:
        out[0] = red[0]


@cuda.jit(cache=True)
def _sgd(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    for t in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        d = g[t]
        if weight_decay != 0:
            d = d + weight_decay * p[t]
        if momentum != 0:
            if first:
                b = d
            else:
                b = buf[t] * momentum
                if dampening != 0:
                    b += (p.dtype.type(1) - dampening) * d
                else:
                    b += d
            buf[t] = b
            d = d + momentum * b if nesterov else b
        p[t] -= lr * d


@cuda.jit(cache=True)
def _adam(p, g, m, v, step_size, b1c, b2, b2c, bias2, eps, weight_decay):
    # b1c = 1 - beta1, b2c = 1 - beta2, bias2 = sqrt(1 - beta2 ** t), step = lr / (1 - beta1**t)
    for t in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        d = g[t]
        if weight_decay != 0:
            d = d + weight_decay * p[t]
        mt = m[t] + b1c * (d - m[t])
        vt = v[t] * b2 + b2c * d * d
        m[t] = mt
        v[t] = vt
        p[t] -= (mt / (math.sqrt(vt) / bias2 + eps)) * step_size


def _sigs():
    s = {}
    for t in ("float32", "float64"):
        a1, a2, a3 = f"{t}[::1]", f"{t}[:, ::1]", f"{t}[:, :, ::1]"
        s.setdefault("unary", []).append(f"void({a1}, {a1}, int64, {t})")
        s.setdefault("ugrad", []).append(f"void({a1}, {a1}, {a1}, int64, {t})")
        s.setdefault("smax", []).append(f"void({a3}, {a3})")
        s.setdefault("sgrad", []).append(f"void({a3}, {a3}, {a3})")
        s.setdefault("ce", []).append(f"void({a2}, int64[::1], {a1}, {a2}, {t})")
        s.setdefault("sq", []).append(f"void({a1}, {a1}, {a1}, {a1}, {t})")
        s.setdefault("sum", []).append(f"void({a1}, {a1})")
        s.setdefault("sgd", []).append(
            f"void({a1}, {a1}, {a1}, {', '.join([t] * 4)}, int64, int64)"
        )
        s.setdefault("adam", []).append(f"void({a1}, {a1}, {a1}, {a1}, {', '.join([t] * 7)})")
    return s


_S = _sigs()
PTX_SIGNATURES = [
    (_unary, _S["unary"]),
    (_unary_grad, _S["ugrad"]),
    (_softmax, _S["smax"]),
    (_softmax_grad, _S["sgrad"]),
    (_cross_entropy, _S["ce"]),
    (_sq_diff, _S["sq"]),
    (_sum, _S["sum"]),
    (_sgd, _S["sgd"]),
    (_adam, _S["adam"]),
]


# --- host side -----------------------------------------------------------------------------------


def _prep(*arrays):
    """(on_device, dtype, C-contiguous device arrays of the compute dtype)."""
    on_device = any(common.is_device(a) for a in arrays)
    views = [common.device_view(a) if common.is_device(a) else np.asarray(a) for a in arrays]
    dtype = _validate.compute_dtype(*views)
    return on_device, dtype, [common.contiguous(a, dtype) for a in views]


def _flat(d):
    return common.reshape(d, (math.prod(d.shape),))


def _run1d(kernel, n, *args):
    launch(kernel, common.grid_1d(n), _config.CUDA_BLOCK_1D, 0, *args)


def _unary_op(x, op, slope=0.0, inplace=False):
    on_device, dtype, (xd,) = _prep(x)
    # In place only when x is a C-contiguous device array of the compute dtype (then xd views
    # the caller's buffer); otherwise a fresh output.
    same = inplace and common.is_device(x) and common.device_view(x).dtype == dtype
    y = xd if same and common.is_c_contiguous(common.device_view(x)) else None
    y = common.empty(xd.shape, dtype) if y is None else y
    _run1d(_unary, math.prod(xd.shape), _flat(xd), _flat(y), op, dtype.type(slope))
    return common.finish(y, None, on_device)


def _unary_back(grad_y, cached, op, slope=0.0):
    on_device, dtype, (gd, cd) = _prep(grad_y, cached)
    if tuple(gd.shape) != tuple(cd.shape):
        raise ValueError(f"grad_y must have shape {tuple(cd.shape)}; got {tuple(gd.shape)}")
    gx = common.empty(gd.shape, dtype)
    n = math.prod(gd.shape)
    _run1d(_unary_grad, n, _flat(gd), _flat(cd), _flat(gx), op, dtype.type(slope))
    return common.finish(gx, None, on_device)


def relu(x, *, inplace=False):
    """``max(x, 0)``; ``inplace=True`` writes into ``x`` when it is a C-contiguous float device
    array (else into a new array)."""
    return _unary_op(x, RELU, inplace=inplace)


def relu_backward(grad_y, y):
    """Gradient of :func:`relu` from its output ``y`` (``grad_y`` where ``y > 0``)."""
    return _unary_back(grad_y, y, RELU)


def leaky_relu(x, negative_slope):
    return _unary_op(x, LEAKY, negative_slope)


def leaky_relu_backward(grad_y, x, negative_slope):
    """Gradient of :func:`leaky_relu` from its input ``x``."""
    return _unary_back(grad_y, x, LEAKY, negative_slope)


def sigmoid(x):
    return _unary_op(x, SIGMOID)


def sigmoid_backward(grad_y, y):
    return _unary_back(grad_y, y, SIGMOID)


def tanh(x):
    return _unary_op(x, TANH)


def tanh_backward(grad_y, y):
    return _unary_back(grad_y, y, TANH)


def multiply(a, b):
    """``a * b`` elementwise for arrays of one shape (dropout: the input times its scaled mask,
    and the gradient times the same mask)."""
    on_device, dtype, (ad, bd) = _prep(a, b)
    if tuple(ad.shape) != tuple(bd.shape):
        raise ValueError(
            f"multiply needs equal shapes; got {tuple(ad.shape)} and {tuple(bd.shape)}"
        )
    out = common.empty(ad.shape, dtype)
    _run1d(_unary_grad, math.prod(ad.shape), _flat(ad), _flat(bd), _flat(out), MUL, dtype.type(0))
    return common.finish(out, None, on_device)


def _acb(shape, dim):
    dim = dim % len(shape)
    return math.prod(shape[:dim]), shape[dim], math.prod(shape[dim + 1 :])


def softmax(x, dim=1):
    on_device, dtype, (xd,) = _prep(x)
    shape = tuple(int(n) for n in xd.shape)
    A, C, B = _acb(shape, dim)
    y = common.empty(shape, dtype)
    _run1d(_softmax, A * B, common.reshape(xd, (A, C, B)), common.reshape(y, (A, C, B)))
    return common.finish(y, None, on_device)


def softmax_backward(grad_y, y, dim=1):
    on_device, dtype, (gd, yd) = _prep(grad_y, y)
    shape = tuple(int(n) for n in yd.shape)
    A, C, B = _acb(shape, dim)
    gx = common.empty(shape, dtype)
    v = [common.reshape(a, (A, C, B)) for a in (gd, yd, gx)]
    _run1d(_softmax_grad, A * B, *v)
    return common.finish(gx, None, on_device)


def _total(d):
    dtype = np.dtype(d.dtype)
    out = common.empty((1,), dtype)
    threads = 1 << (max(1, int(_config.CUDA_BLOCK_1D)).bit_length() - 1)
    launch(_sum, 1, threads, threads * dtype.itemsize, _flat(d), out)
    return float(out.copy_to_host()[0])


def cross_entropy(logits, target, reduction="mean"):
    """``(loss, grad_logits)``: softmax cross-entropy of ``(N, C)`` logits against integer
    labels (validated by the caller); ``grad_logits`` stays on the device for device input."""
    on_device = common.is_device(logits) or common.is_device(target)
    _, dtype, (ld,) = _prep(logits)
    td = common.contiguous(
        common.device_view(target) if common.is_device(target) else np.asarray(target),
        np.int64,
    )
    N, C = (int(n) for n in ld.shape)
    loss = common.empty((N,), dtype)
    grad = common.empty((N, C), dtype)
    scale = dtype.type(1.0 / N if reduction == "mean" else 1.0)
    _run1d(_cross_entropy, N, ld, td, loss, grad, scale)
    total = _total(loss)
    if total == -math.inf:
        raise ValueError(f"target labels must be in [0, {C}); the device target holds others")
    value = total / N if reduction == "mean" else total
    return value, common.finish(grad, None, on_device)


def mse(pred, target, reduction="mean"):
    """``(loss, grad_pred)`` of the mean (or summed) squared error."""
    on_device, dtype, (pd, td) = _prep(pred, target)
    if tuple(pd.shape) != tuple(td.shape):
        raise ValueError(f"target must have the shape of pred {tuple(pd.shape)}; got {td.shape}")
    n = math.prod(pd.shape)
    grad = common.empty(pd.shape, dtype)
    sq = common.empty((n,), dtype)
    scale = dtype.type(2.0 / n if reduction == "mean" else 2.0)
    _run1d(_sq_diff, n, _flat(pd), _flat(td), _flat(grad), sq, scale)
    total = _total(sq)
    return (total / n if reduction == "mean" else total), common.finish(grad, None, on_device)


def _param(a, name):
    if not common.is_device(a):
        raise TypeError(f"{name} must be a device array (updated in place); got {type(a)}")
    d = common.device_view(a)
    if not common.is_c_contiguous(d):
        raise ValueError(f"{name} must be C-contiguous")
    return d


def sgd_step(param, grad, buf, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
             nesterov=False, first=False):  # fmt: skip
    """In-place SGD update of the device array ``param`` (``buf``: the momentum buffer, a device
    array of the same shape; ``first=True`` initialises it with the gradient, as PyTorch)."""
    p = _param(param, "param")
    dtype = np.dtype(p.dtype)
    g = common.contiguous(common.device_view(grad) if common.is_device(grad) else grad, dtype)
    b = _param(buf, "buf") if momentum else common.empty((1,), dtype)
    t = dtype.type
    _run1d(_sgd, math.prod(p.shape), _flat(p), _flat(g), _flat(b), t(lr), t(momentum),
           t(dampening), t(weight_decay), int(bool(nesterov)), int(bool(first)))  # fmt: skip
    return param


def adam_step(param, grad, exp_avg, exp_avg_sq, *, step, lr, betas=(0.9, 0.999), eps=1e-8,
              weight_decay=0.0):  # fmt: skip
    """In-place Adam update (PyTorch's rule) at 1-based ``step`` of device arrays."""
    p = _param(param, "param")
    dtype = np.dtype(p.dtype)
    g = common.contiguous(common.device_view(grad) if common.is_device(grad) else grad, dtype)
    m, v = _param(exp_avg, "exp_avg"), _param(exp_avg_sq, "exp_avg_sq")
    b1, b2 = betas
    t = dtype.type
    step_size = lr / (1.0 - b1**step)
    bias2 = math.sqrt(1.0 - b2**step)
    _run1d(_adam, math.prod(p.shape), _flat(p), _flat(g), _flat(m), _flat(v), t(step_size),
           t(1.0 - b1), t(b2), t(1.0 - b2), t(bias2), t(eps), t(weight_decay))  # fmt: skip
    return param

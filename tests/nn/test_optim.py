"""Optimizers vs torch.optim over several steps on the same gradients; freezing; checks."""

import platform

import numpy as np
import pytest

from sigconv.nn import SGD, Adam, Dense, ReLU, Sequential


def _model(dtype):
    model = Sequential([Dense(3), ReLU(), Dense(2)], random_state=0)
    return model.build((4,), dtype=dtype)


def _run_both(make_ours, make_torch, dtype, steps=6):
    """Apply the same random gradients to sigconv and torch copies of the same weights."""
    torch = pytest.importorskip("torch")
    model = _model(dtype)
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in model.params.items()}
    opt = make_ours(model)
    topt = make_torch(list(tparams.values()))
    rng = np.random.default_rng(1)
    for _ in range(steps):
        for i, layer in enumerate(model.layers):
            for name, p in layer.params.items():
                g = rng.standard_normal(p.shape).astype(dtype)
                layer.grads[name] = g
                tparams[f"{i}.{name}"].grad = torch.tensor(g.copy())
        opt.step()
        topt.step()
    return model, tparams


SGD_CASES = [
    {"lr": 0.1},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
]
ADAM_CASES = [
    {"lr": 1e-3},
    {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6},
    {"lr": 0.01, "weight_decay": 0.05},
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "ours, theirs, kwargs",
    [("SGD", "SGD", kw) for kw in SGD_CASES] + [("Adam", "Adam", kw) for kw in ADAM_CASES],
)
def test_updates_match_torch_optim(ours, theirs, kwargs, dtype):
    torch = pytest.importorskip("torch")
    cls = {"SGD": SGD, "Adam": Adam}[ours]
    model, tparams = _run_both(
        lambda m: cls(m, **kwargs),
        lambda ps: getattr(torch.optim, theirs)(ps, **kwargs),
        dtype,
    )
    tol = 1e-14 if dtype == np.float64 else 2e-6
    for key, p in model.params.items():
        assert p.dtype == dtype
        np.testing.assert_allclose(
            p, tparams[key].detach().numpy(), rtol=tol, atol=tol, err_msg=key
        )


def test_frozen_layers_are_skipped_and_state_follows_unfreeze():
    model = _model(np.float64)
    x = np.random.default_rng(0).standard_normal((8, 4))
    y = np.arange(8) % 2
    from sigconv.nn import CrossEntropy

    opt = SGD(model, lr=0.1, momentum=0.9)
    model.freeze([0])
    frozen = model.layers[0].params["weight"].copy()
    head = model.layers[2].params["weight"].copy()
    for _ in range(3):
        model.train_step(x, y, CrossEntropy(), opt)
    np.testing.assert_array_equal(model.layers[0].params["weight"], frozen)
    assert not np.array_equal(model.layers[2].params["weight"], head)
    assert set(opt.state) == {"2.weight", "2.bias"}
    model.unfreeze()
    model.train_step(x, y, CrossEntropy(), opt)
    assert not np.array_equal(model.layers[0].params["weight"], frozen)


def test_optimizer_over_a_layer_list_and_a_single_layer():
    layer = Dense(3, 2)
    layer.build((3,), np.random.default_rng(0), np.float64)
    layer.grads = {k: np.ones_like(v) for k, v in layer.params.items()}
    before = layer.params["weight"].copy()
    SGD(layer, lr=0.5).step()
    np.testing.assert_allclose(layer.params["weight"], before - 0.5)
    SGD([layer], lr=0.5).step()
    np.testing.assert_allclose(layer.params["weight"], before - 1.0)


@pytest.mark.parametrize(
    "make, exc, words",
    [
        (lambda m: SGD(m, lr=-1), ValueError, "lr"),
        (lambda m: SGD(m, lr="a"), TypeError, "lr"),
        (lambda m: SGD(m, lr=0.1, momentum=1.5), ValueError, "momentum"),
        (lambda m: SGD(m, lr=0.1, nesterov=True), ValueError, "nesterov"),
        (lambda m: SGD(m, lr=0.1, weight_decay=-1), ValueError, "weight_decay"),
        (lambda m: Adam(m, betas=(0.9, 1.0)), ValueError, r"betas\[1\]"),
        (lambda m: Adam(m, betas=0.9), TypeError, "betas"),
        (lambda m: Adam(m, eps=-1), ValueError, "eps"),
        (lambda m: SGD("model", lr=0.1), TypeError, "params_or_model"),
    ],
)
def test_bad_arguments(make, exc, words):
    with pytest.raises(exc, match=words):
        make(_model(np.float32))


def _kernel_and_numpy_steps(fast, slow, opt_fast, opt_slow, dtype, *, steps, seed):
    """``steps`` optimizer steps of two copies of a model on the same random gradients:
    writeable ones for ``fast`` (the one-pass kernel), read-only ones for ``slow`` (NumPy's
    update); then every weight must be the same bit for bit."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        for lf, ls in zip(fast.layers, slow.layers):
            for name, p in lf.params.items():
                g = rng.standard_normal(p.shape).astype(dtype)
                lf.grads[name] = g.copy()
                ls.grads[name] = g
                g.flags.writeable = False
        opt_fast.step()
        opt_slow.step()
    for key, p in fast.params.items():
        np.testing.assert_array_equal(p, slow.params[key], err_msg=key)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", ADAM_CASES)
def test_adam_kernel_is_numpy_bit_for_bit(dtype, kwargs):
    # read-only gradients take NumPy's update, writeable ones the one-pass kernel
    fast, slow = _model(dtype), _model(dtype)
    opt_fast, opt_slow = Adam(fast, **kwargs), Adam(slow, **kwargs)
    _kernel_and_numpy_steps(fast, slow, opt_fast, opt_slow, dtype, steps=5, seed=2)
    for key in fast.params:
        for moment in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_array_equal(
                opt_fast.state[key][moment], opt_slow.state[key][moment], err_msg=key
            )
    from sigconv._cpu import optim as cpu_optim

    assert len(cpu_optim._adam.signatures) <= 2  # float32 and float64 only


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_kernel_split_over_threads_is_numpy_bit_for_bit(tasks_out_of_order, dtype):
    # weights of 150,000 and 120,300 elements: the kernel splits them in chunks of whole cache
    # lines (here five, run out of order) and still matches NumPy
    from sigconv._cpu import optim as cpu_optim

    works = tasks_out_of_order(cpu_optim)

    def model():
        return Sequential([Dense(300), ReLU(), Dense(401)], random_state=0).build(
            (500,), dtype=dtype
        )

    fast, slow = model(), model()
    opt_fast, opt_slow = Adam(fast, lr=0.01), Adam(slow, lr=0.01)
    _kernel_and_numpy_steps(fast, slow, opt_fast, opt_slow, dtype, steps=3, seed=3)
    assert works  # the kernel ran through run_chunks


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x86 asm")
def test_adam_kernel_loops_are_vectorised():
    # the loops indexed a slice from 0: indexed from ``lo`` (maybe negative, as far as LLVM
    # knew) they kept a wrap-around select and stayed scalar, 5.9x slower
    import numba

    from sigconv._cpu import optim as cpu_optim

    fresh = numba.njit(nogil=True, error_model="numpy")(cpu_optim._adam.py_func)  # uncached
    p, g, m, v = (np.ones(64, np.float32) for _ in range(4))
    one = np.float32(1.0)
    for wd in (np.float32(0.0), np.float32(0.1)):
        fresh(0, 1, p, g, m, v, one, one, one, wd, one, one, one)
    asm = fresh.inspect_asm(fresh.signatures[0])
    assert "sqrtps" in asm and "divps" in asm

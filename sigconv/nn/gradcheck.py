"""Float64 central-difference checks of hand-written backward passes.

:func:`gradcheck` perturbs every element (or a seeded random sample of ``max_checks``
elements) of the input and of every trainable weight by ``+-eps``, and compares
``(L(+eps) - L(-eps)) / (2 eps)`` with the analytic gradient from ``backward``. The scalar
``L`` is a random projection ``sum(R * y)`` of the output (``R`` standard normal, seeded) or a
given loss. The check runs on a float64 copy: the object passed in is never modified.
Stochastic layers (dropout, stochastic pooling) have their generators rewound before every
forward pass so each evaluation samples the same masks.

An element passes when ``|analytic - numeric| <= atol + rtol * |numeric|`` (the criterion of
``torch.autograd.gradcheck``).
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np

from .layers import Layer
from .model import Sequential

__all__ = ["GradcheckError", "GradcheckReport", "gradcheck", "gradcheck_model"]


class GradcheckError(AssertionError):
    """Raised by :func:`gradcheck` when an analytic gradient disagrees with the numeric one."""


@dataclasses.dataclass
class TensorCheck:
    """The comparison for one tensor (the input ``"x"`` or a weight ``"<layer>.<name>"``)."""

    name: str
    max_abs_error: float
    max_rel_error: float
    n_checked: int
    ok: bool


@dataclasses.dataclass
class GradcheckReport:
    """Per-tensor results; ``ok`` is True when every tensor passed."""

    checks: list[TensorCheck]
    eps: float
    atol: float
    rtol: float

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def __getitem__(self, name: str) -> TensorCheck:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def __str__(self) -> str:
        lines = [f"gradcheck (eps={self.eps:g}, atol={self.atol:g}, rtol={self.rtol:g})"]
        lines.append(f"{'tensor':<24}{'max abs err':>14}{'max rel err':>14}{'checked':>10}  ok")
        for c in self.checks:
            lines.append(
                f"{c.name:<24}{c.max_abs_error:>14.3e}{c.max_rel_error:>14.3e}"
                f"{c.n_checked:>10}  {'yes' if c.ok else 'NO'}"
            )
        return "\n".join(lines)


def _layers_of(obj):
    return list(obj.layers) if isinstance(obj, Sequential) else [obj]


def gradcheck(
    layer_or_model,
    x,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    loss=None,
    target=None,
    seed: int = 0,
    training: bool = True,
    max_checks: int | None = None,
    check_input: bool = True,
    raise_on_fail: bool = True,
) -> GradcheckReport:
    """Compare a layer's or model's backward pass with float64 central differences.

    Parameters
    ----------
    layer_or_model : Layer or Sequential
        Checked on a float64 deep copy (built here if it is not yet, from ``seed``).
    x : array_like
        Input batch ``(N, *input_shape)``.
    eps, atol, rtol : float
        Step of the central differences and the pass criterion.
    loss, target : Loss and its target, optional
        Scalar objective ``loss.forward(y, target)``; default a seeded random projection.
    seed : int
        Seeds the projection, the sampling of checked elements and the build.
    training : bool
        Forward mode (training mode exercises dropout and stochastic pooling).
    max_checks : int, optional
        Check at most this many elements per tensor (a seeded random sample); default all.
    check_input : bool
        Also check the gradient of the input.
    raise_on_fail : bool
        Raise :class:`GradcheckError` (with the report) when a tensor fails.

    Returns
    -------
    GradcheckReport

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv import nn
    >>> x = np.random.default_rng(0).standard_normal((2, 3, 6, 6))
    >>> report = nn.gradcheck(nn.Conv(3, 4, 3, padding=1), x)
    >>> report.ok, [check.name for check in report.checks]
    (True, ['x', 'weight', 'bias'])
    >>> report["weight"].n_checked
    108
    >>> nn.gradcheck(nn.Tanh(), x).ok
    True
    """
    if not isinstance(layer_or_model, (Layer, Sequential)):
        raise TypeError(
            f"layer_or_model must be a sigconv.nn Layer or Sequential; got "
            f"{type(layer_or_model).__name__}"
        )
    if (loss is None) != (target is None):
        raise ValueError("loss and target must be given together")
    rng = np.random.default_rng(seed)
    work = copy.deepcopy(layer_or_model)
    x = np.array(x, dtype=np.float64, copy=True)
    if not work.built:
        if isinstance(work, Sequential):
            work.build(x.shape[1:], rng=seed, dtype=np.float64)
        else:
            work.build(x.shape[1:], np.random.default_rng(seed), np.float64)
    work.astype(np.float64)
    layers = _layers_of(work)
    states = [
        (lay, copy.deepcopy(lay.rng.bit_generator.state)) for lay in layers if lay.rng is not None
    ]
    projection = None

    def objective():
        nonlocal projection
        for lay, state in states:
            lay.rng.bit_generator.state = copy.deepcopy(state)
        y = work.forward(x, training)
        if loss is not None:
            return loss.forward(y, target), None
        if projection is None:
            projection = np.random.default_rng(seed + 1).standard_normal(np.shape(y))
        return float(np.sum(projection * y)), projection

    value, grad_y = objective()
    if loss is not None:
        grad_y = loss.backward()
    grad_x = work.backward(grad_y, need_input_grad=True)
    tensors = []
    if check_input:
        tensors.append(("x", x, np.array(grad_x, dtype=np.float64)))
    for i, lay in enumerate(layers):
        if not lay.trainable:
            continue
        prefix = f"{i}." if isinstance(work, Sequential) else ""
        for name, p in lay.params.items():
            tensors.append((prefix + name, p, np.array(lay.grads[name], dtype=np.float64)))

    checks = []
    for name, arr, analytic in tensors:
        if analytic.shape != arr.shape:
            checks.append(TensorCheck(name, np.inf, np.inf, 0, False))
            continue
        flat = arr.reshape(-1)  # a view: perturbing it perturbs the tensor the model uses
        if max_checks is not None and flat.size > max_checks:
            picks = rng.choice(flat.size, size=max_checks, replace=False)
        else:
            picks = np.arange(flat.size)
        numeric = np.empty(picks.size)
        for j, k in enumerate(picks):
            orig = flat[k]
            flat[k] = orig + eps
            up, _ = objective()
            flat[k] = orig - eps
            down, _ = objective()
            flat[k] = orig
            numeric[j] = (up - down) / (2 * eps)
        got = analytic.reshape(-1)[picks]
        err = np.abs(got - numeric)
        bound = atol + rtol * np.abs(numeric)
        big = np.abs(numeric) > atol
        rel = float(np.max(err[big] / np.abs(numeric[big]))) if big.any() else 0.0
        checks.append(
            TensorCheck(name, float(err.max()), rel, int(picks.size), bool(np.all(err <= bound)))
        )
    report = GradcheckReport(checks, eps, atol, rtol)
    if raise_on_fail and not report.ok:
        raise GradcheckError(f"analytic and numeric gradients disagree\n{report}")
    return report


def gradcheck_model(model: Sequential, x, y=None, *, loss=None, **kwargs) -> GradcheckReport:
    """:func:`gradcheck` of a whole model, through ``loss`` against labels/targets ``y``
    (``CrossEntropy`` when ``y`` is given without a loss; a random projection when neither).

    Examples
    --------
    >>> import numpy as np
    >>> from sigconv import nn
    >>> rng = np.random.default_rng(0)
    >>> model = nn.Sequential([nn.Conv(2, 3), nn.ReLU(), nn.Flatten(), nn.Dense(3)])
    >>> x, y = rng.standard_normal((4, 1, 6, 6)), np.array([0, 1, 2, 1])
    >>> report = nn.gradcheck_model(model, x, y, loss=nn.CrossEntropy())
    >>> report.ok, len(report.checks)
    (True, 5)
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a Sequential; got {type(model).__name__}")
    if y is not None and loss is None:
        from .losses import CrossEntropy

        loss = CrossEntropy()
    return gradcheck(model, x, loss=loss, target=y, **kwargs)

"""Finite-difference gradient checking (Chapter "Backpropagation", section "Gradient checking").

The central difference (f(x+ε) − f(x−ε)) / 2ε has error O(ε²), so in float64
with ε = 1e-6 it agrees with a correct analytic gradient to about 1e-8.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence

import numpy as np

from .module import Module


class GradcheckError(AssertionError):
    """Raised when an analytic gradient disagrees with the numerical one."""


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of the scalar ``f()`` with respect to the array ``x``.

    ``x`` is perturbed in place, one entry at a time, and restored afterwards.  Use float64: in
    float32 much of ε is lost to rounding (the backprop chapter measures how much), and an integer
    array cannot hold x ± ε at all, so it is refused.
    """
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        got = f"dtype {x.dtype.name}" if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"numerical_gradient perturbs x by ±{eps:g}, so x must be a float NumPy array (float64 for "
                         f"a check), got {got}; pass x.astype(np.float64)")
    if not eps > 0:
        raise ValueError(f"numerical_gradient needs a step eps > 0, got {eps!r}")
    grad = np.zeros_like(x, dtype=np.float64)
    flat = x.reshape(-1)  # a view: writing to it perturbs x
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_gradient perturbs x in place and needs a contiguous array: pass "
                         "np.ascontiguousarray(x)")
    for index in range(flat.size):
        original = flat[index]
        flat[index] = original + eps
        plus = _scalar(f())
        flat[index] = original - eps
        minus = _scalar(f())
        flat[index] = original
        grad.reshape(-1)[index] = (plus - minus) / (2 * eps)
    return grad


def _scalar(value) -> float:
    """f()'s value as a number: f must return the loss, one number."""
    if np.size(value) != 1:
        raise ValueError(f"numerical_gradient needs f() to return one number (the loss), got shape {np.shape(value)}")
    return float(np.asarray(value).reshape(()))


def _as_tuple(value) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def _leaves(tree) -> list:
    """The arrays of a module's output, in order: ``LSTM`` returns ``(output, (h_n, c_n))``."""
    if isinstance(tree, (tuple, list)):
        return [leaf for branch in tree for leaf in _leaves(branch)]
    return [tree]


def _rebuild(tree, leaves):
    """``tree``'s nesting with the next values of the iterator ``leaves`` in place of its arrays."""
    if isinstance(tree, (tuple, list)):
        return type(tree)(_rebuild(branch, leaves) for branch in tree)
    return next(leaves)


def _require_float64(what: str, array) -> None:
    """Central differences with ε = 1e-6 need float64: in float32 rounding swamps them."""
    dtype = np.asarray(array).dtype
    if np.issubdtype(dtype, np.floating) and dtype != np.float64:
        raise ValueError(f"gradcheck needs float64 numbers, got {dtype} for {what}: in {dtype} the "
                         f"rounding of f(x ± ε) swamps the difference; build the module with "
                         f"dtype=np.float64 and pass float64 inputs")


def gradcheck(
    fn,
    *inputs: np.ndarray,
    backward: Optional[Callable] = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    check_inputs: Optional[Sequence[int]] = None,
    seed: int = 0,
) -> bool:
    """Check ``backward`` against central differences of ``fn``.

    ``fn(*inputs)`` returns an array or a tuple of them, possibly nested like ``LSTM``'s
    ``(output, (h_n, c_n))``; ``backward`` receives one gradient per array, nested the same
    way.  If ``fn`` is a scratch
    ``Module`` its own ``backward`` and parameters are checked too; otherwise pass
    ``backward(grad_output) -> grad_input`` (or a tuple of them, None for an input without one).
    The scalar used is L = Σ output · R for a fixed random R, so every output entry is exercised;
    an entry passes when |analytic − numerical| ≤ atol + rtol·|numerical| + the rounding error of
    the difference quotient itself (about 2·machine ε·Σ|output · R| / ε), which only matters for
    outputs far from 1 in size.
    The inputs checked are the floating-point arrays (integer indices, masks and plain numbers are
    constants), or those listed in ``check_inputs``; they and the parameters must be float64, and
    so must the outputs (``ValueError`` otherwise).  ``fn`` must be deterministic, give finite
    outputs and leave its inputs as they were.  Returns True or raises ``GradcheckError`` naming the
    worst entry.
    """
    if backward is None:
        if not isinstance(fn, Module):
            raise TypeError("gradcheck needs backward= when fn is not a scratch Module")
        backward = fn.backward
    if check_inputs is None:
        which = [index for index, value in enumerate(inputs)
                 if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating)]
    else:
        which = list(check_inputs)
        for index in which:
            if not 0 <= index < len(inputs) or not isinstance(inputs[index], np.ndarray):
                raise ValueError(f"check_inputs names input {index}, but fn gets {len(inputs)} inputs and that one "
                                 f"is {'missing' if not 0 <= index < len(inputs) else type(inputs[index]).__name__}, "
                                 "not an array")
    inputs = list(inputs)
    for index in which:
        # perturbed in place one entry at a time: each checked input must be its own contiguous
        # array (a transposed view cannot be perturbed through a flat view, and one array passed
        # twice would move in both places at once)
        shared = any(np.shares_memory(inputs[index], inputs[other]) for other in which if other < index)
        if shared or not inputs[index].flags.c_contiguous or not inputs[index].flags.writeable:
            inputs[index] = np.array(inputs[index], order="C")
    # the parameters that take part: a frozen one (requires_grad False) is a constant, as in torch
    params: List = [p for p in fn.parameters() if p.requires_grad] if isinstance(fn, Module) else []
    for index in which:
        _require_float64(f"input {index}", inputs[index])
    named = [(name, p) for name, p in fn.named_parameters() if p.requires_grad] if params else []
    for name, param in named:
        _require_float64(f"parameter '{name}'", param.data)
    rng = np.random.default_rng(seed)
    before = [inputs[index].copy() for index in which]
    structure = _as_tuple(fn(*inputs))
    for index, kept in zip(which, before):
        if not np.array_equal(inputs[index], kept, equal_nan=True):
            inputs[index][...] = kept  # the caller's array as it was
            raise ValueError(f"fn changed its input {index} in place (x += … or np.exp(x, out=x)), so every "
                             "perturbed call would start from another x: compute into a new array instead "
                             "(x = x + …)")
    outputs = [None if out is None else np.asarray(out) for out in _leaves(structure)]
    for position, out in enumerate(outputs):
        if out is None:
            continue
        _require_float64(f"output {position} of fn", out)
        if np.issubdtype(out.dtype, np.floating) and not np.all(np.isfinite(out)):
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
            raise ValueError(f"output {position} of fn is not finite at index {bad} ({out[bad]}) for these inputs: "
                             "a finite difference there means nothing; check the gradient at inputs away from "
                             "the singularity")
    weights = [None if out is None else rng.standard_normal(np.shape(out)) for out in outputs]

    def loss() -> float:
        outs = _leaves(_as_tuple(fn(*inputs)))
        return float(sum(np.sum(np.asarray(out) * w) for out, w in zip(outs, weights) if w is not None))

    if loss() != loss():
        raise ValueError("fn gives different outputs for the same inputs (dropout in training mode? a random "
                         "draw inside?): a finite difference needs a deterministic fn — call model.eval() or "
                         "fix the random numbers")
    # the rounding error of (L(x + ε) − L(x − ε)) / 2ε, for outputs far from 1 in size
    noise = 2 * np.finfo(np.float64).eps * float(sum(np.sum(np.abs(out * w)) for out, w in zip(outputs, weights)
                                                    if w is not None)) / eps

    for param in params:
        param.zero_grad()
    fn(*inputs)
    grad_outputs = [None if w is None else w.astype(out.dtype) for w, out in zip(weights, outputs)]
    returned = backward(*_rebuild(structure, iter(grad_outputs)))
    grads_in = tuple(returned) if isinstance(returned, (tuple, list)) else (returned,)
    analytic_params = [param.grad.copy() for param in params]

    for index in which:
        if index >= len(grads_in):
            raise GradcheckError(f"backward returned {len(grads_in)} gradient(s), but input {index} is checked: "
                                 "return one per input (None for an input without one)")
        numeric = numerical_gradient(loss, inputs[index], eps)
        _compare(f"input {index}", grads_in[index], numeric, atol + noise, rtol)
    for (name, param), analytic in zip(named, analytic_params):
        numeric = numerical_gradient(loss, param.data, eps)
        _compare(f"parameter '{name}'", analytic, numeric, atol + noise, rtol)
    return True


def _compare(what: str, analytic, numeric: np.ndarray, atol: float, rtol: float) -> None:
    if analytic is None:
        raise GradcheckError(f"backward returned None for {what}, which is checked (pass check_inputs= to leave "
                             "it out)")
    analytic = np.asarray(analytic, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise GradcheckError(f"gradient of {what} has shape {analytic.shape}, expected {numeric.shape}")
    error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    error[np.isnan(error)] = np.inf  # a NaN on either side is a disagreement (NaN > 0 is False)
    if np.any(error > 0):
        worst = np.unravel_index(np.argmax(error), error.shape)
        raise GradcheckError(
            f"gradient of {what} disagrees at index {tuple(int(i) for i in worst)}: "
            f"analytic {analytic[worst]:.6g}, numerical {numeric[worst]:.6g}"
        )

"""Explicit weight penalties (Chapter "Regularisation", section "L2 regularisation: weight decay", and the next).

Conventions used throughout the course (λ = ``strength``):

  L1:  R₁(w) = λ Σ |w_i|          ∂R₁/∂w = λ · sign(w)     (0 at w = 0, like torch's abs)
  L2:  R₂(w) = (λ/2) Σ w_i²       ∂R₂/∂w = λ · w

The ½ in the L2 penalty is chosen so that its gradient is exactly λw: adding
(λ/2)‖w‖² to the loss and taking a plain SGD step is the same update as
``SGD(params, lr, weight_decay=λ)``, which adds λw to every gradient
(w ← w − lr (∇L + λw)).  For Adam this equivalence breaks (the penalty gradient is
rescaled by the adaptive step); AdamW's *decoupled* weight decay is the fix.

Usage in a training step::

    loss = loss_fn(model(x), y) + l2_penalty(model.parameters(), 1e-4)
    model.backward(loss_fn.backward())
    add_l2_penalty_grad(model.parameters(), 1e-4)   # ∂R/∂w added into each .grad

Usually only weights are penalised, not biases: pass the parameters you mean.
"""
from __future__ import annotations

import math
import numbers
from typing import Iterable, List

import numpy as np

from .module import Parameter


def _as_parameters(parameters: Iterable[Parameter]) -> List[Parameter]:
    if hasattr(parameters, "parameters") and callable(parameters.parameters):
        raise ValueError(f"penalties take the parameters, got the model {type(parameters).__name__} itself: "
                         "pass model.parameters()")
    params = [parameters] if isinstance(parameters, Parameter) else list(parameters)
    if not params:  # an iterator or a generator expression can be read once
        raise ValueError("penalties got no parameters (an iterator or a generator expression is empty once read: "
                         "pass a list, such as model.parameters())")
    for param in params:
        if not isinstance(param, Parameter):
            raise ValueError(
                f"penalties take Parameters (e.g. model.parameters()), got {type(param).__name__}"
            )
    return params


def _check_strength(strength: float) -> float:
    if isinstance(strength, bool) or not isinstance(strength, numbers.Real) or not 0 <= strength < math.inf:
        raise ValueError(f"penalty strength λ must be a finite number ≥ 0, got {strength!r}")
    return float(strength)


def l1_penalty(parameters: Iterable[Parameter], strength: float) -> np.float64:
    """R₁ = λ Σ_params Σ_i |w_i|  (accumulated in float64)."""
    strength = _check_strength(strength)
    total = sum(np.abs(param.data).sum(dtype=np.float64) for param in _as_parameters(parameters))
    return np.float64(strength * total)


def l2_penalty(parameters: Iterable[Parameter], strength: float) -> np.float64:
    """R₂ = (λ/2) Σ_params Σ_i w_i²  (accumulated in float64)."""
    strength = _check_strength(strength)
    total = sum(np.square(param.data, dtype=np.float64).sum() for param in _as_parameters(parameters))
    return np.float64(0.5 * strength * total)


def add_l1_penalty_grad(parameters: Iterable[Parameter], strength: float) -> None:
    """param.grad += λ sign(w) for every parameter (in place, in the parameter's dtype)."""
    strength = _check_strength(strength)
    for param in _as_parameters(parameters):
        if param.requires_grad:  # a frozen parameter has no gradient to add to
            param.grad += np.asarray(strength, dtype=param.dtype) * np.sign(param.data)


def add_l2_penalty_grad(parameters: Iterable[Parameter], strength: float) -> None:
    """param.grad += λ w for every parameter — what SGD's ``weight_decay=λ`` does."""
    strength = _check_strength(strength)
    for param in _as_parameters(parameters):
        if param.requires_grad:
            param.grad += np.asarray(strength, dtype=param.dtype) * param.data


class L1Penalty:
    """λ Σ|w| over a fixed list of parameters, with ``value()`` and ``backward()``."""

    def __init__(self, parameters: Iterable[Parameter], strength: float) -> None:
        self.parameters = _as_parameters(parameters)
        self.strength = _check_strength(strength)

    def value(self) -> np.float64:
        return l1_penalty(self.parameters, self.strength)

    def backward(self) -> None:
        add_l1_penalty_grad(self.parameters, self.strength)


class L2Penalty(L1Penalty):
    """(λ/2) Σ w² over a fixed list of parameters, with ``value()`` and ``backward()``."""

    def value(self) -> np.float64:
        return l2_penalty(self.parameters, self.strength)

    def backward(self) -> None:
        add_l2_penalty_grad(self.parameters, self.strength)

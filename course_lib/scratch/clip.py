"""Gradient clipping (Chapter "Recurrent networks", section "Gradient clipping": against exploding gradients).

Clipping by norm rescales all gradients together, keeping their direction:

    ‖g‖_p = ( Σ_i ‖g_i‖_p^p )^{1/p}       over every parameter's gradient g_i (max |g| for p = ∞)
    g_i ← g_i · min(1, c / (‖g‖_p + 10⁻⁶))

Clipping by value clamps each entry to [−c, c] and so may change the direction.
Both work in place on ``Parameter.grad`` and follow ``torch.nn.utils`` exactly.
"""
from __future__ import annotations

import math
from typing import Iterable, Union

import numpy as np

from .module import Parameter


def _gradients(parameters: Union[Parameter, Iterable[Parameter]], caller: str):
    if isinstance(parameters, Parameter):
        parameters = [parameters]
    if hasattr(parameters, "parameters") and callable(parameters.parameters):  # the model itself
        raise TypeError(f"{caller} takes the parameters, not the model: pass model.parameters()")
    grads = []
    for param in parameters:
        if not isinstance(param, Parameter):
            raise TypeError(f"{caller} expects Parameters (e.g. model.parameters()), got {type(param).__name__}")
        if param.has_grad:  # like torch, which skips a .grad of None (and reading .grad would count it)
            grads.append(param.grad)
    return grads


def _vector_norm(x: np.ndarray, norm_type: float) -> np.floating:
    """‖x‖_p of all entries, computed in x's dtype like ``torch.linalg.vector_norm``."""
    absolute = np.abs(x.ravel())
    if norm_type == math.inf:
        return absolute.max(initial=0).astype(x.dtype)
    if norm_type == 2.0:
        return np.sqrt(np.dot(absolute, absolute))
    if norm_type == 1.0:
        return absolute.sum(dtype=x.dtype)
    return np.power(np.power(absolute, norm_type).sum(dtype=x.dtype), 1.0 / norm_type)


def clip_grad_norm_(parameters: Union[Parameter, Iterable[Parameter]], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> np.floating:
    """Scale all gradients so that their joint ``norm_type``-norm is at most ``max_norm``; return the norm before.

    As in torch the norm of the norms of the individual gradients is taken, and the gradients
    are multiplied by min(1, max_norm / (norm + 1e-6)) (so a norm just below ``max_norm`` is
    left practically unchanged).
    """
    grads = _gradients(parameters, "clip_grad_norm_")
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 (or inf), got {norm_type}")
    if not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm}")
    if not grads:
        return np.float32(0.0)
    norms = np.array([_vector_norm(grad, norm_type) for grad in grads])
    total_norm = _vector_norm(norms.astype(np.result_type(*grads)), norm_type)
    if error_if_nonfinite and not np.isfinite(total_norm):
        raise RuntimeError(
            f"clip_grad_norm_: the total {norm_type}-norm of the gradients is {total_norm}, so it cannot be "
            "clipped (set error_if_nonfinite=False to scale by it anyway)"
        )
    clip_coefficient = min(max_norm / (total_norm + 1e-6), 1.0)
    for grad in grads:
        grad *= clip_coefficient
    return total_norm


def clip_grad_value_(parameters: Union[Parameter, Iterable[Parameter]], clip_value: float) -> None:
    """Clamp every gradient entry to [−clip_value, clip_value] in place."""
    grads = _gradients(parameters, "clip_grad_value_")
    clip_value = float(clip_value)
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for grad in grads:
        np.clip(grad, -clip_value, clip_value, out=grad)


__all__ = ["clip_grad_norm_", "clip_grad_value_"]

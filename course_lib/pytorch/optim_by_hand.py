"""The optimisers of ``torch.optim`` written out with tensor operations (Chapter "Optimisation").

``torch.optim.Adam(model.parameters()).step()`` hides the algorithm; the functions below
show it.  Each one performs a single step on every parameter that has a ``.grad``, under
``torch.no_grad()`` (an update is not part of the graph), and keeps what it must remember
between steps (moving averages, step counter) in ``state``, a dict you pass back in::

    state = {}
    for x, y in loader:
        model.zero_grad()
        loss_fn(model(x), y).backward()
        adam(model.parameters(), state, lr=1e-3)

The classes ``SGDByHand`` … ``AdamWByHand`` wrap the same functions in a
``torch.optim.Optimizer`` so that ``zero_grad``, ``param_groups``, ``state_dict`` and the
learning-rate schedulers of ``torch.optim.lr_scheduler`` work with them unchanged.

Notation: θ parameters, g gradient, η learning rate, λ weight decay, μ momentum,
β₁, β₂ decay rates, ε a small constant, t the step (1, 2, …).  The rules are those of
``course_lib/scratch/optim.py`` and of torch; tests/pytorch/test_optim_by_hand.py checks
that they give torch's parameters after 20 steps.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Dict, Iterable, Tuple

import torch

State = Dict[torch.Tensor, Dict[str, Any]]


def _with_grad(params: Iterable[torch.Tensor]):
    params = [param for param in params if param.grad is not None]
    for param in params:
        if param.is_complex():
            raise TypeError(f"the by-hand optimisers update real parameters, got a {param.dtype} one "
                            "(torch.optim updates a complex one as the pair of its real and imaginary parts, "
                            "torch.view_as_real)")
    return params


@torch.no_grad()
def sgd(params: Iterable[torch.Tensor], state: State, lr: float = 1e-3, momentum: float = 0.0,
        dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False, maximize: bool = False) -> None:
    """SGD step: b ← μb + (1 − τ)g (b₁ = g),  θ ← θ − η·(g + μb if Nesterov else b);  θ ← θ − ηg if μ = 0."""
    for param in _with_grad(params):
        grad = -param.grad if maximize else param.grad
        if weight_decay != 0:
            grad = grad + weight_decay * param          # L2 penalty λ/2·‖θ‖² adds λθ to the gradient
        if momentum != 0:
            param_state = state.setdefault(param, {})
            if "momentum_buffer" not in param_state:
                param_state["momentum_buffer"] = grad.clone()  # first step: no history to dampen
            else:
                buffer = param_state["momentum_buffer"]
                buffer.mul_(momentum).add_((1 - dampening) * grad)
            buffer = param_state["momentum_buffer"]
            grad = grad + momentum * buffer if nesterov else buffer
        param.sub_(lr * grad)


@torch.no_grad()
def adagrad(params: Iterable[torch.Tensor], state: State, lr: float = 1e-2, lr_decay: float = 0.0,
            weight_decay: float = 0.0, initial_accumulator_value: float = 0.0, eps: float = 1e-10,
            maximize: bool = False) -> None:
    """Adagrad step: G ← G + g²,  θ ← θ − η/(1 + (t − 1)·lr_decay) · g / (√G + ε)."""
    for param in _with_grad(params):
        param_state = state.setdefault(param, {})
        if not param_state:
            param_state["step"] = 0
            param_state["sum"] = torch.full_like(param, initial_accumulator_value)
        param_state["step"] = int(param_state["step"]) + 1  # a number: torch.optim's states hold a float32 tensor
        grad = -param.grad if maximize else param.grad
        if weight_decay != 0:
            grad = grad + weight_decay * param
        decayed_lr = lr / (1 + (param_state["step"] - 1) * lr_decay)
        param_state["sum"].add_(grad * grad)
        param.sub_(decayed_lr * grad / (param_state["sum"].sqrt() + eps))


@torch.no_grad()
def rmsprop(params: Iterable[torch.Tensor], state: State, lr: float = 1e-2, alpha: float = 0.99,
            eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
            maximize: bool = False) -> None:
    """RMSprop step: v ← αv + (1 − α)g²,  d = √(v − m²) + ε (centered, m ← αm + (1 − α)g) or √v + ε,
    then θ ← θ − η·g/d, or with momentum b ← μb + g/d, θ ← θ − ηb."""
    for param in _with_grad(params):
        param_state = state.setdefault(param, {})
        if not param_state:
            param_state.update(step=0, square_avg=torch.zeros_like(param))
            if momentum > 0:
                param_state["momentum_buffer"] = torch.zeros_like(param)
            if centered:
                param_state["grad_avg"] = torch.zeros_like(param)
        param_state["step"] = int(param_state["step"]) + 1  # a number: torch.optim's states hold a float32 tensor
        grad = -param.grad if maximize else param.grad
        if weight_decay != 0:
            grad = grad + weight_decay * param
        square_avg = param_state["square_avg"]
        square_avg.mul_(alpha).add_((1 - alpha) * grad * grad)
        if centered:
            grad_avg = param_state["grad_avg"]
            grad_avg.mul_(alpha).add_((1 - alpha) * grad)
            denominator = (square_avg - grad_avg * grad_avg).sqrt() + eps
        else:
            denominator = square_avg.sqrt() + eps       # ε outside the square root, as in torch
        if momentum > 0:
            buffer = param_state["momentum_buffer"]
            buffer.mul_(momentum).add_(grad / denominator)
            param.sub_(lr * buffer)
        else:
            param.sub_(lr * grad / denominator)


@torch.no_grad()
def adam(params: Iterable[torch.Tensor], state: State, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
         eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, maximize: bool = False,
         decoupled_weight_decay: bool = False) -> None:
    """Adam step: m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g²  (v̂ = running max of v with AMSGrad),
    θ ← θ − η/(1 − β₁ᵗ) · m / (√v̂ / √(1 − β₂ᵗ) + ε).

    With ``decoupled_weight_decay`` (AdamW) the decay is θ ← (1 − ηλ)θ instead of g ← g + λθ.
    """
    beta1, beta2 = betas
    for param in _with_grad(params):
        param_state = state.setdefault(param, {})
        if not param_state:
            param_state.update(step=0, exp_avg=torch.zeros_like(param), exp_avg_sq=torch.zeros_like(param))
            if amsgrad:
                param_state["max_exp_avg_sq"] = torch.zeros_like(param)
        param_state["step"] = int(param_state["step"]) + 1  # a number: torch.optim's states hold a float32 tensor
        step = param_state["step"]
        grad = -param.grad if maximize else param.grad
        if weight_decay != 0:
            if decoupled_weight_decay:
                param.mul_(1 - lr * weight_decay)
            else:
                grad = grad + weight_decay * param
        exp_avg, exp_avg_sq = param_state["exp_avg"], param_state["exp_avg_sq"]
        exp_avg.mul_(beta1).add_((1 - beta1) * grad)
        exp_avg_sq.mul_(beta2).add_((1 - beta2) * grad * grad)
        if amsgrad:
            torch.maximum(param_state["max_exp_avg_sq"], exp_avg_sq, out=param_state["max_exp_avg_sq"])
            second_moment = param_state["max_exp_avg_sq"]
        else:
            second_moment = exp_avg_sq
        # bias corrections: m and v start at 0, so early averages are too small by 1 − βᵗ
        step_size = lr / (1 - beta1 ** step)
        denominator = second_moment.sqrt() / (1 - beta2 ** step) ** 0.5 + eps
        param.sub_(step_size * exp_avg / denominator)


def adamw(params: Iterable[torch.Tensor], state: State, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
          eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, maximize: bool = False) -> None:
    """AdamW step: θ ← (1 − ηλ)θ, then the Adam step without weight decay in the gradient."""
    adam(params, state, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
         maximize=maximize, decoupled_weight_decay=True)


@functools.lru_cache(maxsize=None)
def _hyper_parameter_names(rule) -> Tuple[str, ...]:
    """The keywords of an update rule: a group passes only these (a scheduler adds keys such as
    'initial_lr', and torch's Optimizer its runtime switches, 'differentiable', 'foreach', …, on
    loading a state)."""
    return tuple(name for name in inspect.signature(rule).parameters if name not in ("params", "state"))


class _ByHand(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` whose ``step`` calls one of the functions above per group."""

    rule = None
    #: the hyper-parameters that must not be negative (torch.optim refuses them with a ValueError)
    non_negative: Tuple[str, ...] = ("lr", "weight_decay")

    def __init__(self, params, **defaults):
        for name in self.non_negative:
            if not defaults[name] >= 0:
                raise ValueError(f"{type(self).__name__}: {name} must be >= 0, got {defaults[name]}")
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        rule = type(self).rule
        names = _hyper_parameter_names(rule)
        for group in self.param_groups:
            hyper = {name: group[name] for name in names if name in group}
            rule(group["params"], self.state, **hyper)
        return loss


class SGDByHand(_ByHand):
    """``torch.optim.SGD`` re-implemented with ``sgd`` (same arguments)."""

    rule = staticmethod(sgd)
    non_negative = ("lr", "momentum", "weight_decay")

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *,
                 maximize=False):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGDByHand: Nesterov momentum requires momentum > 0 and dampening = 0, got "
                             f"momentum={momentum!r} and dampening={dampening!r}")
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                         nesterov=nesterov, maximize=maximize)


class AdagradByHand(_ByHand):
    """``torch.optim.Adagrad`` re-implemented with ``adagrad``."""

    rule = staticmethod(adagrad)
    non_negative = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                 *, maximize=False):
        super().__init__(params, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize)


class RMSpropByHand(_ByHand):
    """``torch.optim.RMSprop`` re-implemented with ``rmsprop``."""

    rule = staticmethod(rmsprop)
    non_negative = ("lr", "alpha", "eps", "weight_decay", "momentum")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, *,
                 maximize=False):
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                         centered=centered, maximize=maximize)


class AdamByHand(_ByHand):
    """``torch.optim.Adam`` re-implemented with ``adam``."""

    rule = staticmethod(adam)
    non_negative = ("lr", "eps", "weight_decay")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *,
                 maximize=False):
        if len(betas) != 2 or not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"{type(self).__name__}: betas must be a pair (beta1, beta2) in [0, 1), got {betas}")
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize)


class AdamWByHand(AdamByHand):
    """``torch.optim.AdamW`` re-implemented with ``adamw``."""

    rule = staticmethod(adamw)

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize)


__all__ = ["sgd", "adagrad", "rmsprop", "adam", "adamw",
           "SGDByHand", "AdagradByHand", "RMSpropByHand", "AdamByHand", "AdamWByHand"]

"""Gradient-based optimisers: SGD (with momentum), Adagrad, RMSprop, Adam, AdamW (Chapter "Optimisation").

Notation (Chapter "Optimisation"): θ_t are the parameters after step t, g_t = ∇L(θ_{t-1})
the gradient of the loss on the current mini-batch, η the learning rate, λ the weight decay,
μ the momentum, β₁, β₂ the decay rates of the moving averages, ε a small constant that
keeps divisions finite.  Every operation on arrays below is element-wise.

Each optimiser follows the formulas of ``torch.optim`` *exactly* (the single-tensor
"for-loop" implementation, ``foreach=False``): where ε goes, when the bias correction is
applied, how the first momentum buffer starts.  A scratch model and a torch model fed the
same gradients therefore stay equal up to rounding (≈1e-15 relative in float64 after
20 steps; torch's kernels fuse some multiply-adds, so the last bit can differ).
The update rule of each method is also available as a plain function
(``sgd_update``, ``adagrad_update``, ``rmsprop_update``, ``adam_update``) acting on one
array and its state dictionary; the classes only loop over parameters and call them.

Usage is the torch one::

    optimizer = Adam(model.parameters(), lr=1e-3)
    for x, y in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        model.backward(loss_fn.backward())
        optimizer.step()

``param_groups`` is a list of dictionaries (``'params'``, ``'lr'``, …) exactly as in torch:
a learning-rate schedule (``course_lib.scratch.lr_scheduler``) changes
``param_groups[i]['lr']`` between steps, and one optimiser may give different
hyper-parameters to different groups (e.g. no weight decay on biases).
"""
from __future__ import annotations

import copy
import numbers
from abc import ABC, abstractmethod
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np

from .module import Parameter, _typename

State = Dict[str, Any]


# --- helpers -------------------------------------------------------------------------------
# entries of a torch optimiser's param_groups that no scratch optimiser has (course_lib.interop drops them)
TORCH_ONLY_KEYS = frozenset({"foreach", "differentiable", "fused", "capturable"})


def _check_non_negative(owner: str, name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # "0.1" or None, say so rather than fail on >=
        raise TypeError(f"{owner}: {name} must be a number, got {_typename(value)} {value!r}")
    if not value >= 0.0:  # also rejects NaN
        raise ValueError(f"{owner}: {name} must be >= 0, got {value}")


def _check_beta(owner: str, name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{owner}: {name} must be in [0, 1), got {value}")


def _buffer(state: State, key: str, like: np.ndarray) -> np.ndarray:
    """``state[key]``, created as zeros shaped like the parameter the first time a step needs it.

    torch creates an optimiser's state lazily too, at the first step, so switching on
    ``momentum``, ``centered`` or ``amsgrad`` in ``param_groups`` before it just works.
    """
    buffer = state.get(key)
    if buffer is None:
        buffer = state[key] = np.zeros_like(like)
    return buffer


# --- the update rules, one array at a time -----------------------------------------------
def sgd_update(param: np.ndarray, grad: np.ndarray, state: State, *, lr: float, momentum: float = 0.0,
               dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
               maximize: bool = False) -> None:
    """One SGD step on ``param`` in place (``state`` keeps the momentum buffer b).

        g ← ±g_t + λ θ_{t-1}
        b_t = g                       (t = 1: the first buffer is the gradient itself)
        b_t = μ b_{t-1} + (1 − τ) g   (t > 1, τ = dampening)
        g ← g + μ b_t  (Nesterov)   or   g ← b_t  (classical momentum)
        θ_t = θ_{t-1} − η g
    """
    grad = -grad if maximize else grad
    if weight_decay != 0:
        grad = grad + weight_decay * param
    if momentum != 0:
        buffer = state.get("momentum_buffer")
        if buffer is None:
            buffer = state["momentum_buffer"] = np.array(grad, copy=True)
        else:
            buffer *= momentum
            buffer += (1 - dampening) * grad if dampening else grad  # skip a temporary array when τ = 0
        grad = grad + momentum * buffer if nesterov else buffer
    param -= lr * grad


def adagrad_update(param: np.ndarray, grad: np.ndarray, state: State, *, lr: float, lr_decay: float = 0.0,
                   weight_decay: float = 0.0, eps: float = 1e-10, maximize: bool = False) -> None:
    """One Adagrad step in place (``state``: ``step`` t and ``sum`` G; an empty dict is a fresh state with
    G = 0, ``Adagrad`` starts G at its ``initial_accumulator_value``).

        g ← ±g_t + λ θ_{t-1}
        η_t = η / (1 + (t − 1)·lr_decay)
        G_t = G_{t-1} + g²
        θ_t = θ_{t-1} − η_t · g / (√G_t + ε)
    """
    state["step"] = state.get("step", 0) + 1
    grad = -grad if maximize else grad
    if weight_decay != 0:
        grad = grad + weight_decay * param
    if "sum" not in state:
        state["sum"] = np.zeros_like(param)
    decayed_lr = lr / (1 + (state["step"] - 1) * lr_decay)
    accumulated = state["sum"]
    accumulated += grad * grad
    std = np.sqrt(accumulated)
    std += eps
    param -= decayed_lr * grad / std  # (η_t·g)/std: the association torch's addcdiv uses


def rmsprop_update(param: np.ndarray, grad: np.ndarray, state: State, *, lr: float, alpha: float = 0.99,
                   eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                   centered: bool = False, maximize: bool = False) -> None:
    """One RMSprop step in place (``state``: ``step``, ``square_avg`` v, ``grad_avg`` m, ``momentum_buffer`` b;
    each created as 0 at the first step that needs it, so an empty dict is a fresh state).

        g ← ±g_t + λ θ_{t-1}
        v_t = α v_{t-1} + (1 − α) g²
        m_t = α m_{t-1} + (1 − α) g,   v̂ = v_t − m_t²   (centered)   else  v̂ = v_t
        d = √v̂ + ε                      (ε is added *after* the square root, as in torch)
        b_t = μ b_{t-1} + g / d,  θ_t = θ_{t-1} − η b_t    (μ > 0)
        θ_t = θ_{t-1} − η g / d                             (μ = 0)
    """
    state["step"] = state.get("step", 0) + 1
    grad = -grad if maximize else grad
    if weight_decay != 0:
        grad = grad + weight_decay * param
    square_avg = _buffer(state, "square_avg", param)
    square_avg *= alpha
    square_avg += (1 - alpha) * grad * grad
    if centered:
        grad_avg = _buffer(state, "grad_avg", param)
        grad_avg *= alpha
        grad_avg += (1 - alpha) * grad
        with np.errstate(over="ignore", invalid="ignore"):
            variance = square_avg - grad_avg * grad_avg
        # v ≥ m², so m² overflows only where v already has: there torch's fused multiply-add
        # gives inf − m² = inf (the step is 0), where v − m² computed in two roundings is inf − inf = NaN
        avg = np.sqrt(np.where(np.isposinf(square_avg), square_avg, variance))  # (np.where: a 0-d parameter too)
    else:
        avg = np.sqrt(square_avg)
    avg += eps
    if momentum > 0:
        buffer = _buffer(state, "momentum_buffer", param)
        buffer *= momentum
        buffer += grad / avg
        param -= lr * buffer
    else:
        param -= lr * grad / avg


def adam_update(param: np.ndarray, grad: np.ndarray, state: State, *, lr: float, beta1: float = 0.9,
                beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False,
                maximize: bool = False, decoupled_weight_decay: bool = False) -> None:
    """One Adam (or AdamW) step in place (``state``: ``step``, ``exp_avg`` m, ``exp_avg_sq`` v, ``max_exp_avg_sq``;
    each created as 0 at the first step that needs it, so an empty dict is a fresh state).

        Adam:   g ← ±g_t + λ θ_{t-1}          AdamW:  g ← ±g_t,  θ_{t-1} ← (1 − ηλ) θ_{t-1}
        m_t = β₁ m_{t-1} + (1 − β₁) g
        v_t = β₂ v_{t-1} + (1 − β₂) g²
        v̂_t = max(v̂_{t-1}, v_t) (AMSGrad)   else   v̂_t = v_t
        θ_t = θ_{t-1} − η/(1 − β₁ᵗ) · m_t / (√v̂_t / √(1 − β₂ᵗ) + ε)

    The bias corrections 1 − β₁ᵗ and 1 − β₂ᵗ undo the pull of m₀ = v₀ = 0 towards zero;
    as in torch, ε is added to the *bias-corrected* √v̂_t.
    """
    state["step"] = step = state.get("step", 0) + 1
    grad = -grad if maximize else grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            grad = grad + weight_decay * param
    exp_avg, exp_avg_sq = _buffer(state, "exp_avg", param), _buffer(state, "exp_avg_sq", param)
    exp_avg *= beta1
    exp_avg += (1 - beta1) * grad
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad

    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    step_size = lr / bias_correction1
    bias_correction2_sqrt = bias_correction2 ** 0.5
    if amsgrad:
        max_exp_avg_sq = _buffer(state, "max_exp_avg_sq", param)
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        denominator = np.sqrt(max_exp_avg_sq)
    else:
        denominator = np.sqrt(exp_avg_sq)
    denominator /= bias_correction2_sqrt
    denominator += eps
    param -= step_size * exp_avg / denominator


# --- the optimiser classes -----------------------------------------------------------------
class Optimizer(ABC):
    """Base class: holds ``param_groups`` and per-parameter ``state``, as ``torch.optim.Optimizer``.

    ``params`` is an iterable of ``Parameter`` (e.g. ``model.parameters()``) or of dicts
    ``{'params': [...], 'lr': ...}`` whose missing keys are filled from ``defaults``.
    Sub-classes implement ``_update(param, grad, group, state)``; ``state`` starts as an empty
    dict that the update rule fills at the first step, as in torch (only Adagrad, like torch's,
    fills it in the constructor, through ``_init_state``).

    ``step()`` skips every parameter without a gradient since ``zero_grad()`` (``Parameter.has_grad``
    is False), exactly as torch skips a ``.grad`` of None: a layer that took no part in this step
    is not moved by momentum, moving averages or weight decay, and its step count stays put.
    """

    def __init__(self, params: Iterable, defaults: Dict[str, Any]):
        self.defaults = dict(defaults)
        self.state: Dict[Parameter, State] = {}
        self.param_groups: List[Dict[str, Any]] = []
        self._step_count = 0  # calls of step(): a scheduler stepped before the first one warns, as torch's
        if isinstance(params, (Parameter, np.ndarray)):
            raise TypeError(
                f"{type(self).__name__} expects an iterable of Parameters (e.g. model.parameters()), "
                f"got a single {type(params).__name__}"
            )
        if hasattr(params, "parameters") and callable(params.parameters):
            raise TypeError(
                f"{type(self).__name__} expects model.parameters(), got the model {type(params).__name__} itself"
            )
        groups = list(params)
        if len(groups) == 0:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        """Append a group; keys it does not set take the optimiser's defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Parameter) else list(params)
        if group["params"] and all(isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                                   for item in group["params"]):  # model.named_parameters(), as torch allows
            group["param_names"] = [name for name, _ in group["params"]]
            group["params"] = [param for _, param in group["params"]]
        for param in group["params"]:
            if not isinstance(param, Parameter):
                hint = (" (a PyTorch parameter: give a scratch optimiser a course_lib.scratch model's parameters(), "
                        "or use torch.optim)") if type(param).__module__.startswith("torch") else ""
                raise TypeError(
                    f"{type(self).__name__} can only optimise Parameter objects, got {_typename(param)}{hint}"
                )
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        existing = {id(param) for other in self.param_groups for param in other["params"]}
        if len({id(param) for param in group["params"]}) != len(group["params"]) or any(
            id(param) in existing for param in group["params"]
        ):
            raise ValueError(f"{type(self).__name__}: a Parameter appears in more than one place in param_groups")
        self._validate_group(group)
        self.param_groups.append(group)
        for param in group["params"]:
            self._init_state(param, group)

    # hooks for sub-classes
    def _validate_group(self, group: Dict[str, Any]) -> None:
        _check_non_negative(type(self).__name__, "learning rate lr", group["lr"])

    def _init_state(self, param: Parameter, group: Dict[str, Any]) -> None:
        """Create the state of ``param`` when it joins the optimiser (only Adagrad needs this)."""

    @abstractmethod
    def _update(self, param: Parameter, grad: np.ndarray, group: Dict[str, Any], state: State) -> None:
        """Apply one step of this optimiser's rule to ``param`` in place."""

    # public API
    def step(self, closure: Optional[Callable[[], float]] = None):
        """Update every parameter that has a gradient; return ``closure()`` if one is given."""
        loss = closure() if closure is not None else None
        # torch skips parameters whose .grad is None, so do we; every gradient is checked before
        # any parameter moves, so a bad one leaves the model as it was
        updates = [(param, param.grad, group) for group in self.param_groups for param in group["params"]
                   if param.has_grad]
        for param, grad, _ in updates:
            if grad.shape != param.data.shape or grad.dtype != param.data.dtype:
                raise ValueError(
                    f"{type(self).__name__}: gradient of shape {grad.shape} and dtype "
                    f"{grad.dtype} does not match its parameter of shape {param.data.shape} "
                    f"and dtype {param.data.dtype} (no parameter was updated)"
                )
        for param, grad, group in updates:
            self._update(param, grad, group, self.state.setdefault(param, {}))
        self._step_count = getattr(self, "_step_count", 0) + 1
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every gradient before the next backward pass.

        The arrays are kept and read as zeros, because scratch ``backward`` methods add into
        them.  With ``set_to_none=True`` (torch's default) each parameter is also marked as
        having no gradient, the scratch version of torch's ``.grad = None``: ``step()`` skips it
        until a backward pass writes into its ``.grad`` again (the zeros are written lazily, see
        ``Parameter``).  ``set_to_none=False`` zeroes the gradients that exist and keeps counting
        them: ``step()`` still applies weight decay and momentum, exactly as to torch's zero-filled
        tensors; a parameter that had no gradient (torch: ``.grad`` None) still has none.
        """
        for group in self.param_groups:
            for param in group["params"]:
                param.zero_grad(set_to_none)

    def state_dict(self) -> Dict[str, Any]:
        """``{'state': {index: {...}}, 'param_groups': [...]}`` with parameters replaced by indices, as in torch."""
        index_of: Dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            indices = []
            for param in group["params"]:
                index_of.setdefault(id(param), len(index_of))
                indices.append(index_of[id(param)])
            packed = {key: copy.deepcopy(value) for key, value in group.items() if key != "params"}
            packed["params"] = indices
            groups.append(packed)
        state = {
            index_of[id(param)]: copy.deepcopy(param_state)
            for param, param_state in self.state.items()
            if id(param) in index_of and param_state
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore hyper-parameters and state saved by ``state_dict`` (arrays are copied, cast to each parameter's dtype).

        Everything is checked before anything changes: a state that does not fit leaves the
        optimiser as it was.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= state_dict.keys():
            got = (f"a dict with the keys {sorted(map(str, state_dict))[:4]}" if isinstance(state_dict, dict)
                   else _typename(state_dict))
            raise ValueError(f"{name}.load_state_dict expected what an optimiser's state_dict() returns, a dict "
                             f"with 'state' and 'param_groups', got {got} (a model's state_dict?)")
        saved_groups = state_dict["param_groups"]
        # torch's state holds tensors once it has stepped, and its groups always hold torch's runtime
        # switches (foreach, fused, …), which a fresh torch optimiser's state would otherwise carry in silently
        if any(type(value).__module__.startswith("torch") for saved in state_dict["state"].values()
               for value in saved.values()) or any(TORCH_ONLY_KEYS & set(saved) for saved in saved_groups):
            raise TypeError(f"{type(self).__name__}.load_state_dict: this is a PyTorch optimiser's state; a scratch "
                            "optimiser loads what a scratch optimiser's state_dict() saved, or "
                            "course_lib.interop.optimizer_state_from_torch(state, optimizer) converts it")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: expected {len(self.param_groups)} parameter groups, "
                f"got {len(saved_groups)}"
            )
        params_by_index: Dict[int, Parameter] = {}
        for group, saved in zip(self.param_groups, saved_groups):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: a group has {len(group['params'])} parameters, "
                    f"the saved one {len(saved['params'])}"
                )
            params_by_index.update(zip(saved["params"], group["params"]))
        state: Dict[Parameter, State] = {}  # replaces the current state, as torch does: a parameter
        for index, saved_state in state_dict["state"].items():  # without saved state starts afresh
            if int(index) not in params_by_index:
                raise ValueError(f"{name}.load_state_dict: state for parameter {index}, which no group holds")
            param = params_by_index[int(index)]
            restored = {}
            for key, value in saved_state.items():
                if isinstance(value, np.ndarray):
                    if value.shape != param.data.shape:
                        raise ValueError(
                            f"{type(self).__name__}.load_state_dict: state '{key}' has shape {value.shape}, "
                            f"its parameter {param.data.shape}"
                        )
                    value = value.astype(param.data.dtype, copy=True)
                else:
                    value = copy.deepcopy(value)
                restored[key] = value
            state[param] = restored
        for group, saved in zip(self.param_groups, saved_groups):
            for key, value in saved.items():
                if key != "params":
                    group[key] = copy.deepcopy(value)
        self.state = state
        for group in self.param_groups:
            for param in group["params"]:
                if param not in self.state:
                    self._init_state(param, group)  # Adagrad's accumulator exists from the start

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        return "\n".join(lines) + "\n)"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum — ``torch.optim.SGD``.

    Update (see ``sgd_update``): θ_t = θ_{t-1} − η b_t with b_t = μ b_{t-1} + (1 − τ) g_t
    (plain SGD when μ = 0: θ_t = θ_{t-1} − η g_t).  *Full-batch gradient descent* is this same
    optimiser fed the gradient of the loss on the whole training set at every step; *mini-batch
    SGD* feeds it the gradient of one mini-batch.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def _validate_group(self, group):
        super()._validate_group(group)
        _check_non_negative("SGD", "momentum", group["momentum"])
        _check_non_negative("SGD", "weight_decay", group["weight_decay"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires momentum > 0 and dampening = 0, got "
                             f"momentum={group['momentum']!r} and dampening={group['dampening']!r}")

    def _update(self, param, grad, group, state):
        sgd_update(param.data, grad, state, lr=float(group["lr"]), momentum=float(group["momentum"]),
                   dampening=float(group["dampening"]), weight_decay=float(group["weight_decay"]),
                   nesterov=group["nesterov"], maximize=group["maximize"])


class Adagrad(Optimizer):
    """Adagrad — ``torch.optim.Adagrad``: per-coordinate steps η/(√G_t + ε), G_t = Σ_s g_s².

    Coordinates with large past gradients take small steps.  ``lr_decay`` additionally
    divides η by 1 + (t − 1)·lr_decay.  See ``adagrad_update`` for the exact rule.
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize))

    def _validate_group(self, group):
        super()._validate_group(group)
        for name in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            _check_non_negative("Adagrad", name, group[name])

    def _init_state(self, param, group):
        # torch creates Adagrad's accumulator in the constructor (not lazily), filled with the initial value
        self.state[param] = {
            "step": 0,
            "sum": np.full_like(param.data, group["initial_accumulator_value"]),
        }

    def _update(self, param, grad, group, state):
        adagrad_update(param.data, grad, state, lr=float(group["lr"]), lr_decay=float(group["lr_decay"]),
                       weight_decay=float(group["weight_decay"]), eps=float(group["eps"]),
                       maximize=group["maximize"])


class RMSprop(Optimizer):
    """RMSprop — ``torch.optim.RMSprop``: divide the gradient by a running RMS of past gradients.

    v_t = α v_{t-1} + (1 − α) g_t²,  θ_t = θ_{t-1} − η g_t / (√v_t + ε); ``centered``
    subtracts the squared running mean of g, ``momentum`` smooths the normalised step.
    See ``rmsprop_update`` for the exact rule.
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0,
                 momentum: float = 0, centered: bool = False, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize))

    def _validate_group(self, group):
        super()._validate_group(group)
        for name in ("alpha", "eps", "weight_decay", "momentum"):
            _check_non_negative("RMSprop", name, group[name])

    def _update(self, param, grad, group, state):
        rmsprop_update(param.data, grad, state, lr=float(group["lr"]), alpha=float(group["alpha"]),
                       eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
                       momentum=float(group["momentum"]), centered=group["centered"], maximize=group["maximize"])


class Adam(Optimizer):
    """Adam — ``torch.optim.Adam``: momentum (m) and RMS scaling (v) with bias correction.

    θ_t = θ_{t-1} − η m̂_t / (√v̂_t + ε),  m̂_t = m_t/(1 − β₁ᵗ),  v̂_t = v_t/(1 − β₂ᵗ).
    ``weight_decay`` adds λθ to the gradient (L2 regularisation — compare ``AdamW``), or with
    ``decoupled_weight_decay=True`` (as in torch) shrinks θ directly, which makes it AdamW;
    ``amsgrad`` uses the running maximum of v.  See ``adam_update`` for the exact rule.
    """

    def __init__(self, params, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False):
        if not isinstance(betas, (tuple, list)):
            raise ValueError(f"{type(self).__name__}: betas must be a pair (beta1, beta2), got {betas!r}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=bool(decoupled_weight_decay)))

    def _validate_group(self, group):
        name = type(self).__name__
        super()._validate_group(group)
        _check_non_negative(name, "eps", group["eps"])
        _check_non_negative(name, "weight_decay", group["weight_decay"])
        if len(group["betas"]) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {group['betas']}")
        _check_beta(name, "betas[0]", group["betas"][0])
        _check_beta(name, "betas[1]", group["betas"][1])

    def _update(self, param, grad, group, state):
        beta1, beta2 = group["betas"]
        adam_update(param.data, grad, state, lr=float(group["lr"]), beta1=float(beta1), beta2=float(beta2),
                    eps=float(group["eps"]), weight_decay=float(group["weight_decay"]), amsgrad=group["amsgrad"],
                    maximize=group["maximize"], decoupled_weight_decay=group["decoupled_weight_decay"])


class AdamW(Adam):
    """AdamW — ``torch.optim.AdamW``: Adam with *decoupled* weight decay.

    θ_{t-1} ← (1 − ηλ) θ_{t-1} before the Adam step, instead of adding λθ to g_t:
    the decay is not rescaled by √v̂, so every weight shrinks at the same relative rate.
    """

    def __init__(self, params, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize, decoupled_weight_decay=True)

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """As ``Optimizer.load_state_dict``; an Adam state's groups say ``decoupled_weight_decay=False``,
        and AdamW stays AdamW, as torch's does."""
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True


__all__ = [
    "Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW",
    "sgd_update", "adagrad_update", "rmsprop_update", "adam_update",
]

"""The base class ``LRScheduler`` and the schedules that count steps: η_t as a function of t (the table
in ``course_lib.scratch.lr_scheduler``), each computed with torch's floating-point expressions."""
from __future__ import annotations

import bisect
import math
import numbers
import types
import warnings
from abc import ABC, abstractmethod
from collections import Counter
from typing import Any, Callable, Dict, List, Sequence, Union


def _number(scheduler: str, name: str, value, low: float, high: float, low_open: bool = False) -> float:
    """A real number in [low, high] (or (low, high] with ``low_open``), named in the error otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            (low < value if low_open else low <= value) and value <= high):
        bounds = f"{'>' if low_open else '>='} {low:g}" + ("" if high == math.inf else f" and <= {high:g}")
        raise ValueError(f"{scheduler}: {name} must be a number {bounds}, got {value!r}")
    return float(value)


def _count(scheduler: str, name: str, value) -> int:
    """A number of steps: a positive integer (NumPy integers welcome)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{scheduler}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _is_tensor(value) -> bool:
    """A torch tensor (a ``torch.optim`` optimiser may hold its rate as one), told without importing torch."""
    return hasattr(value, "fill_") and hasattr(value, "clone")


def _copy(value):
    """A rate that no later step changes: a tensor rate is cloned (torch's ``_param_groups_val_list``)."""
    return value.clone() if _is_tensor(value) else value


def _set_rate(group: dict, key: str, value) -> None:
    """Write a rate into a parameter group; a tensor rate is filled in place, as torch does, so that
    whatever holds that tensor (a compiled or fused optimiser step) sees the new rate."""
    if _is_tensor(group[key]):
        group[key].fill_(value)
    else:
        group[key] = value


def _rates(optimizer) -> list:
    """The current rate of every parameter group, copied (tensor rates cloned)."""
    return [_copy(group["lr"]) for group in optimizer.param_groups]


class LRScheduler(ABC):
    """Base class: remembers the initial rates (``base_lrs``) and counts steps (``last_epoch``)."""

    def __init__(self, optimizer, last_epoch: int = -1):
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(f"{type(self).__name__} needs an optimizer with param_groups, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", _copy(group["lr"]))
        else:
            for index, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param_groups[{index}] has no 'initial_lr': resume a schedule (last_epoch >= 0) only "
                        "after loading the optimizer state that was saved with it"
                    )
        self.base_lrs: List[float] = [_copy(group["initial_lr"]) for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        """The constructor's step, which sets η₀ (``SequentialLR`` repeats it for the scheduler it starts with)."""
        self._is_initial = True  # a resumed schedule must not advance here
        try:
            self.step()
        finally:
            self._is_initial = False

    @abstractmethod
    def get_lr(self) -> List[float]:
        """The rates for step ``self.last_epoch`` (called by ``step`` after it advanced the counter)."""

    def step(self, epoch: None = None) -> None:
        """Advance t by one and write the new rates into the optimiser's ``param_groups``."""
        if epoch is not None:
            raise TypeError(f"{type(self).__name__}.step() takes no epoch (torch deprecated step(epoch)); "
                            "call step() once per epoch, or pass last_epoch= to the constructor to resume")
        if not self._is_initial and getattr(self.optimizer, "_step_count", None) == 0 \
                and not getattr(self, "_warned_early_step", False):  # once, as torch warns
            self._warned_early_step = True
            warnings.warn(f"{type(self).__name__}.step() was called before the optimiser's step(): the first "
                          "learning rate of the schedule is skipped.  Call optimizer.step() first, then "
                          "scheduler.step(), as in torch.", UserWarning, stacklevel=2)
        self._update_lr()

    def _update_lr(self, epoch: Union[int, None] = None) -> None:
        """Advance t by one (or, as ``SequentialLR`` does at a milestone, set t = ``epoch`` and use
        the closed form) and write the rates."""
        if len(self.optimizer.param_groups) != len(self.base_lrs):
            raise ValueError(f"{type(self).__name__}: the optimizer has {len(self.optimizer.param_groups)} parameter "
                             f"groups, the scheduler was made for {len(self.base_lrs)}: make the scheduler after "
                             "adding a group (torch refuses this too)")
        if epoch is None:
            self.last_epoch += 1
            rates = self.get_lr()
        else:
            self.last_epoch = epoch
            rates = self._closed_form_lr()
        for group, lr in zip(self.optimizer.param_groups, rates):
            _set_rate(group, "lr", lr)
        self._last_lr = _rates(self.optimizer)

    def _closed_form_lr(self) -> List[float]:
        """η_t for t = ``last_epoch`` from the base rates (torch's ``_get_closed_form_lr``); the
        recursive ``get_lr`` where a schedule has no closed form."""
        return self.get_lr()

    def get_last_lr(self) -> List[float]:
        """The rates set by the last ``step`` (one per parameter group)."""
        return list(self._last_lr)

    def state_dict(self) -> Dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "lr_lambdas")}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self.__dict__.update(state_dict)

    def _current_lrs(self) -> List[float]:
        return [group["lr"] for group in self.optimizer.param_groups]


class LambdaLR(LRScheduler):
    """η_t = η · f(t) for a function ``lr_lambda`` of the step (or one function per parameter group)."""

    def __init__(self, optimizer, lr_lambda: Union[Callable[[int], float], Sequence[Callable[[int], float]]],
                 last_epoch: int = -1):
        groups = getattr(optimizer, "param_groups", [])
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != len(groups):
                raise ValueError(f"LambdaLR expected {len(groups)} lr_lambdas (one per group), got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            if not callable(lr_lambda):
                raise ValueError(f"LambdaLR: lr_lambda must be a function of the step, got {type(lr_lambda).__name__}")
            self.lr_lambdas = [lr_lambda] * len(groups)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base_lr * self._factor(lr_lambda) for lr_lambda, base_lr in zip(self.lr_lambdas, self.base_lrs)]

    def _factor(self, lr_lambda) -> float:
        """lr_lambda(step), checked: a string gave "can't multiply sequence", a negative factor a
        negative learning rate, which the optimisers refuse when constructed."""
        factor = lr_lambda(self.last_epoch)
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not 0 <= factor < math.inf:
            raise ValueError(f"LambdaLR: lr_lambda({self.last_epoch}) must return a finite factor ≥ 0 for the "
                             f"learning rate, got {factor!r}")
        return factor

    def state_dict(self) -> Dict[str, Any]:
        """As torch's: a function is not saved (None), a callable object's attributes are."""
        state = super().state_dict()
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else dict(fn.__dict__)
                               for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """As torch's: the functions stay this scheduler's; a callable object's saved attributes
        come back (a torch LambdaLR's state loads too)."""
        state = dict(state_dict)
        for fn, saved in zip(self.lr_lambdas, state.pop("lr_lambdas", [None] * len(self.lr_lambdas))):
            if saved is not None:
                fn.__dict__.update(saved)
        super().load_state_dict(state)


class InverseSqrtLR(LRScheduler):
    """η_t = η / √(1 + δ t): the decaying learning rate of the course.

    Large steps early, then η_t → 0 while Σ η_t = ∞, so the iterates can still travel any
    distance.  Σ η_t² diverges too (logarithmically), so this schedule does not meet the
    Robbins–Monro conditions (Σ η_t = ∞, Σ η_t² < ∞); its O(1/√t) rate is the standard one
    for convex stochastic problems (Chapter "Optimisation").  It equals ``torch.optim.lr_scheduler.LambdaLR(optimizer,
    lambda t: 1 / math.sqrt(1 + delta * t))`` — the same floating-point expression — which is
    how the PyTorch side of the course writes it.  δ = 0 gives a constant rate.
    """

    def __init__(self, optimizer, delta: float, last_epoch: int = -1):
        if not delta >= 0:
            raise ValueError(f"InverseSqrtLR: delta must be >= 0, got {delta}")
        self.delta = float(delta)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        factor = 1 / math.sqrt(1 + self.delta * self.last_epoch)
        return [base_lr * factor for base_lr in self.base_lrs]


class StepLR(LRScheduler):
    """η_t = η · γ^⌊t / step_size⌋: multiply the rate by γ every ``step_size`` steps."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        if isinstance(step_size, bool) or not isinstance(step_size, numbers.Integral) or step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size!r}")
        step_size = int(step_size)  # NumPy integers welcome
        if not gamma >= 0:
            raise ValueError(f"StepLR: gamma must be >= 0, got {gamma}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self):
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    """η_t = η · γ^(number of milestones ≤ t): multiply the rate by γ at each milestone step
    (a milestone listed twice multiplies by γ², as torch)."""

    def __init__(self, optimizer, milestones: Sequence[int], gamma: float = 0.1, last_epoch: int = -1):
        milestones = list(milestones) if isinstance(milestones, (list, tuple, range, Counter)) else milestones
        if not isinstance(milestones, list) or not all(
                isinstance(m, numbers.Integral) and not isinstance(m, bool) and m >= 0 for m in milestones):
            raise ValueError(f"MultiStepLR: milestones must be a list of step numbers (integers >= 0), got {milestones!r}")
        gamma = _number("MultiStepLR", "gamma", gamma, 0, math.inf)
        self.milestones = Counter(int(m) for m in milestones)  # as torch: step → how many times it is listed
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in self._current_lrs()]

    def _closed_form_lr(self):
        milestones = sorted(int(m) for m, count in self.milestones.items() for _ in range(count))
        return [base_lr * self.gamma ** bisect.bisect_right(milestones, self.last_epoch) for base_lr in self.base_lrs]


class ConstantLR(LRScheduler):
    """η_t = η · factor for t < ``total_iters``, then η: a constant warm-up."""

    def __init__(self, optimizer, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch: int = -1):
        # > 0: at total_iters the rate is divided by it (torch accepts 0 and divides by zero there)
        self.factor = _number("ConstantLR", "factor", factor, 0, 1, low_open=True)
        self.total_iters = _count("ConstantLR", "total_iters", total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [lr * self.factor for lr in self._current_lrs()]
        if self.last_epoch != self.total_iters:
            return self._current_lrs()
        return [lr * (1.0 / self.factor) for lr in self._current_lrs()]

    def _closed_form_lr(self):
        return [base_lr * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
                for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    """η_t = η · (s + (e − s) · min(t, T) / T) for start factor s, end factor e and T = ``total_iters``:
    the linear warm-up (s < e = 1) that Transformers are trained with, or a linear decay (s > e).

    Computed recursively from η_{t-1} with torch's expression, like the other chainable schedules.
    """

    def __init__(self, optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0, total_iters: int = 5,
                 last_epoch: int = -1):
        self.start_factor = _number("LinearLR", "start_factor", start_factor, 0, 1, low_open=True)
        self.end_factor = _number("LinearLR", "end_factor", end_factor, 0, 1)
        self.total_iters = _count("LinearLR", "total_iters", total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._current_lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        change = self.end_factor - self.start_factor
        return [lr * (1.0 + change / (self.total_iters * self.start_factor + (self.last_epoch - 1) * change))
                for lr in self._current_lrs()]

    def _closed_form_lr(self):
        return [base_lr * (self.start_factor + (self.end_factor - self.start_factor)
                           * min(self.total_iters, self.last_epoch) / self.total_iters)
                for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """η_t = η · γ^t, computed as η_t = γ η_{t-1}."""

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        if not gamma >= 0:
            raise ValueError(f"ExponentialLR: gamma must be >= 0, got {gamma}")
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self):
        return [base_lr * self.gamma ** self.last_epoch for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """η_t = η_min + (η − η_min)(1 + cos(π t / T_max)) / 2, then back up (period 2 T_max), as in torch.

    Computed recursively from η_{t-1} with torch's expressions (so it also composes with
    other schedulers exactly as torch's does).
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        if not T_max > 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be > 0, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t, period, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if (t - 1 - period) % (2 * period) == 0:  # at the bottom the ratio below would divide by 0
            return [lr + (base_lr - eta_min) * (1 - math.cos(math.pi / period)) / 2
                    for base_lr, lr in zip(self.base_lrs, self._current_lrs())]
        return [(1 + math.cos(math.pi * t / period)) / (1 + math.cos(math.pi * (t - 1) / period)) * (lr - eta_min)
                + eta_min for lr in self._current_lrs()]

    def _closed_form_lr(self):
        return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base_lr in self.base_lrs]

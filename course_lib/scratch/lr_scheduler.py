"""Learning-rate schedules η_t (Chapter "Optimisation", section on decaying learning rates).

A scheduler rewrites ``optimizer.param_groups[i]['lr']``; call ``scheduler.step()`` once
per epoch (or per iteration) *after* ``optimizer.step()``, exactly as in torch.  The counting
is torch's: the constructor already performs step 0 (``last_epoch = 0``, η₀ = η), and the
k-th call of ``step()`` sets the rate for step t = k.  With η the initial rate:

    StepLR            η_t = η · γ^⌊t / step_size⌋
    MultiStepLR       η_t = η · γ^(number of milestones ≤ t)
    ConstantLR        η_t = η · factor for t < T, then η                 (a constant warm-up)
    LinearLR          η_t = η · (s + (e − s) · min(t, T) / T)            (the linear warm-up)
    ExponentialLR     η_t = η · γ^t
    LambdaLR          η_t = η · f(t)
    InverseSqrtLR     η_t = η / √(1 + δ t)               (the course's "decaying learning rate")
    CosineAnnealingLR η_t = η_min + (η − η_min)(1 + cos(π t / T_max)) / 2

StepLR, MultiStepLR, ConstantLR, LinearLR, ExponentialLR and CosineAnnealingLR are computed
*recursively* from the current ``lr`` (torch's "chainable" form), with the same floating-point
expressions as torch, so the sequences agree to the last bit and several schedulers may be
stacked: ``ChainedScheduler`` steps several at once, ``SequentialLR`` runs one after another
(a warm-up, then a decay).  ``ReduceLROnPlateau`` watches a metric instead of counting steps.
Only ``param_groups`` is needed, so these schedulers also drive a ``torch.optim`` optimiser.
"""
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


class LRScheduler(ABC):
    """Base class: remembers the initial rates (``base_lrs``) and counts steps (``last_epoch``)."""

    def __init__(self, optimizer, last_epoch: int = -1):
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(f"{type(self).__name__} needs an optimizer with param_groups, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for index, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param_groups[{index}] has no 'initial_lr': resume a schedule (last_epoch >= 0) only "
                        "after loading the optimizer state that was saved with it"
                    )
        self.base_lrs: List[float] = [group["initial_lr"] for group in optimizer.param_groups]
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
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

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
        return [base_lr * lr_lambda(self.last_epoch) for lr_lambda, base_lr in zip(self.lr_lambdas, self.base_lrs)]

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


def _check_schedulers(kind: str, schedulers, optimizer) -> list:
    """The schedulers a ``SequentialLR`` or ``ChainedScheduler`` runs: at least one, all of the same
    optimiser, none a ``ReduceLROnPlateau`` (its step needs the metric)."""
    schedulers = list(schedulers)
    if not schedulers:
        raise ValueError(f"{kind} expects at least one scheduler, got none")
    for index, scheduler in enumerate(schedulers):
        if isinstance(scheduler, ReduceLROnPlateau):
            raise ValueError(f"{kind} cannot run ReduceLROnPlateau (schedulers[{index}]): its step() needs the "
                             "metric; step it yourself, after the other schedules")
        if not isinstance(scheduler, (LRScheduler, _Composite)):
            raise TypeError(f"{kind}: schedulers[{index}] is a {type(scheduler).__name__}, not a scheduler of "
                            "course_lib.scratch.lr_scheduler")
        if optimizer is not None and scheduler.optimizer is not optimizer:
            raise ValueError(f"{kind} expects all schedulers to drive the same optimizer; schedulers[{index}] "
                             f"({type(scheduler).__name__}) drives another one")
    return schedulers


class _Composite:
    """What ``SequentialLR`` and ``ChainedScheduler`` share: the rates of the last step and, as torch's,
    a state with the composite's own attributes and each inner scheduler's state under ``_schedulers``."""

    _schedulers: list

    def _initial_step(self) -> None:
        """As torch: a composite that starts a ``SequentialLR`` makes its first step there."""
        self.step()

    def get_last_lr(self) -> List[float]:
        return list(self._last_lr)

    def state_dict(self) -> Dict[str, Any]:
        state = {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [inner.state_dict() for inner in self._schedulers]
        return state

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        state = dict(state_dict)  # the caller's dict is left as it was
        inner_states = state.pop("_schedulers")
        self.__dict__.update(state)
        for inner, inner_state in zip(self._schedulers, inner_states):
            inner.load_state_dict(inner_state)


class SequentialLR(_Composite):
    """One schedule after another: ``schedulers[k]`` runs from step ``milestones[k-1]`` on, its
    own count starting again at 0 there, as torch's ``SequentialLR``.

    The usual Transformer schedule is a linear warm-up followed by a decay::

        warm_up = LinearLR(optimizer, start_factor=0.01, total_iters=500)
        decay = CosineAnnealingLR(optimizer, T_max=9_500)
        schedule = SequentialLR(optimizer, [warm_up, decay], milestones=[500])

    At a milestone the next schedule starts again from its closed form at t = 0, with torch's
    expressions: η for most schedules, η · factor for ``LinearLR`` and ``ConstantLR``, η · γ^k for a
    ``MultiStepLR`` with k milestones at 0.
    """

    def __init__(self, optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int], last_epoch: int = -1):
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(f"SequentialLR needs the optimizer its schedulers drive, got {type(optimizer).__name__}")
        self._schedulers = _check_schedulers("SequentialLR", schedulers, optimizer)
        for index, scheduler in enumerate(self._schedulers[1:], start=1):
            if isinstance(scheduler, _Composite):  # it would have to start again at t = 0 at its milestone
                raise ValueError(f"SequentialLR: schedulers[{index}] is a {type(scheduler).__name__}; only the first "
                                 "schedule may be a SequentialLR or ChainedScheduler (torch fails at its milestone)")
        milestones = list(milestones)
        if len(milestones) != len(self._schedulers) - 1:
            raise ValueError(f"SequentialLR expects one milestone fewer than schedulers: got {len(self._schedulers)} "
                             f"schedulers and {len(milestones)} milestones")
        if any(isinstance(m, bool) or not isinstance(m, numbers.Integral) for m in milestones):
            raise ValueError(f"SequentialLR: milestones must be step numbers (integers), got {milestones!r}")
        self._milestones = [int(m) for m in milestones]
        self.optimizer = optimizer
        self.last_epoch = last_epoch + 1
        for group in optimizer.param_groups:  # the schedulers' constructors have stepped: start again
            group["lr"] = group["initial_lr"]
        self._undo_initial_steps(self)
        first = self._schedulers[bisect.bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def _undo_initial_steps(self, scheduler) -> None:
        """Move every scheduler (nested ones too) back by the step its constructor made, as torch."""
        if hasattr(scheduler, "_schedulers"):
            for inner in scheduler._schedulers:
                self._undo_initial_steps(inner)
        else:
            scheduler.last_epoch -= 1

    def step(self) -> None:
        self.last_epoch += 1
        index = bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            scheduler._update_lr(0)  # this schedule starts now, at its own t = 0
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


class ChainedScheduler(_Composite):
    """Several schedules at once: each ``step`` steps every one of them in order, so their factors
    multiply (e.g. a ``ConstantLR`` warm-up on top of an ``ExponentialLR`` decay), as torch's."""

    def __init__(self, schedulers: Sequence[LRScheduler], optimizer=None):
        schedulers = list(schedulers)
        optimizer = optimizer if optimizer is not None else (schedulers[0].optimizer if schedulers else None)
        self._schedulers = _check_schedulers("ChainedScheduler", schedulers, optimizer)
        self.optimizer = optimizer
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def step(self) -> None:
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


class ReduceLROnPlateau:
    """Multiply the rate by ``factor`` when a watched metric has not improved for more than
    ``patience`` steps, as torch's: ``step(metric)`` once per epoch with, e.g., the validation loss.

    "Improved" means below best · (1 − threshold) in mode ``'min'`` (above best · (1 + threshold)
    in ``'max'``; ``threshold_mode='abs'`` uses best ∓ threshold).  After a reduction the count waits
    ``cooldown`` steps; a rate never goes below ``min_lr`` and is left alone when the reduction
    would change it by ``eps`` or less.  ``course_lib.training.fit`` passes it the validation loss
    (the training loss without validation data).
    """

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: Union[float, Sequence[float]] = 0, eps: float = 1e-8):
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(f"ReduceLROnPlateau needs an optimizer with param_groups, got {type(optimizer).__name__}")
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not 0 <= factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must be >= 0 and < 1 (the new rate is lr · factor), "
                             f"got {factor!r}")
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(f"ReduceLROnPlateau: {name} must be an integer >= 0, got {value!r}")
        groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != groups:
                raise ValueError(f"ReduceLROnPlateau expected {groups} min_lrs (one per group), got {len(min_lr)}")
            self.default_min_lr = None
            self.min_lrs = [_number("ReduceLROnPlateau", f"min_lr[{index}]", value, 0, math.inf)
                            for index, value in enumerate(min_lr)]
        else:
            min_lr = _number("ReduceLROnPlateau", "min_lr", min_lr, 0, math.inf)
            self.default_min_lr, self.min_lrs = min_lr, [min_lr] * groups
        self.optimizer = optimizer
        self.factor, self.patience, self.cooldown, self.eps = factor, int(patience), int(cooldown), eps
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]
        self._init_is_better(mode, threshold, threshold_mode)
        self.best, self.cooldown_counter, self.num_bad_epochs = self.mode_worse, 0, 0

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf

    def _is_better(self, value: float, best: float) -> bool:
        if self.mode == "min":
            return value < (best * (1.0 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return value > (best * (self.threshold + 1.0) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metrics) -> None:
        """One epoch's value of the watched metric (a number, a 0-d array or a one-element tensor)."""
        try:
            current = float(metrics)
        except (TypeError, ValueError, RuntimeError) as error:  # RuntimeError: torch's for a tensor of several
            raise TypeError(f"ReduceLROnPlateau.step expected the metric as a number, got "
                            f"{type(metrics).__name__} ({error})") from None
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in the cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise ValueError(f"ReduceLROnPlateau: the optimizer has {len(groups)} parameter groups, min_lr "
                                 f"was given for {len(self.min_lrs)}")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    def get_last_lr(self) -> List[float]:
        return list(self._last_lr)

    def state_dict(self) -> Dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self.__dict__.update(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)


__all__ = ["LRScheduler", "LambdaLR", "InverseSqrtLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR",
           "ExponentialLR", "CosineAnnealingLR", "SequentialLR", "ChainedScheduler", "ReduceLROnPlateau"]

"""Schedules built from other schedules, as torch's: ``SequentialLR`` runs one after another (a warm-up,
then a decay), ``ChainedScheduler`` steps several at once so that their factors multiply."""
from __future__ import annotations

import bisect
import numbers
from typing import Any, Dict, List, Sequence

from .plateau import ReduceLROnPlateau
from .schedules import LRScheduler, _rates, _set_rate


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
            _set_rate(group, "lr", group["initial_lr"])
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
        if optimizer is None and schedulers:  # the first scheduler's (checked to be a scheduler below)
            optimizer = getattr(schedulers[0], "optimizer", None)
        self._schedulers = _check_schedulers("ChainedScheduler", schedulers, optimizer)
        self.optimizer = optimizer
        self._last_lr = _rates(optimizer)

    def step(self) -> None:
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = _rates(self.optimizer)

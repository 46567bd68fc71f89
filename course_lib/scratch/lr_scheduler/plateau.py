"""``ReduceLROnPlateau``: the schedule that watches a metric (the validation loss) instead of counting
steps, as torch's."""
from __future__ import annotations

import math
import numbers
from typing import Any, Dict, List, Sequence, Union

from .schedules import _number, _rates, _set_rate


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
        self._last_lr = _rates(optimizer)
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
        self._last_lr = _rates(self.optimizer)

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
                _set_rate(group, "lr", new_lr)

    def get_last_lr(self) -> List[float]:
        return list(self._last_lr)

    def state_dict(self) -> Dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self.__dict__.update(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)

"""What ``fit`` can be asked to do after each epoch: stop early, save a checkpoint.

``EarlyStopping`` and ``Checkpoint`` are the configuration objects a user passes; ``_Monitor``
follows the quantity each of them watches (``'val_loss'``, ``'val_accuracy'`` …) and says
whether an epoch improved it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from ..checks import positive_int


@dataclass
class EarlyStopping:
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    ``monitor``: a history key such as ``'val_loss'``, ``'val_accuracy'``, ``'loss'``; None means
    ``'val_loss'`` when there is validation data, else ``'loss'``.  ``mode``: ``'min'``,
    ``'max'`` or ``'auto'`` (min for names containing "loss", max otherwise).
    With ``restore_best`` the model ends training with the weights of its best epoch
    (whether or not training stopped early).
    """

    patience: int = 5
    min_delta: float = 0.0
    monitor: Optional[str] = None
    mode: str = "auto"
    restore_best: bool = True

    def __post_init__(self) -> None:
        positive_int("early_stopping patience", self.patience)
        if not isinstance(self.min_delta, (int, float, np.floating)) or self.min_delta < 0:
            raise ValueError(f"early_stopping min_delta must be a number >= 0, got {self.min_delta!r}")


@dataclass
class Checkpoint:
    """Save the weights to ``path`` after the best epoch (``save='best'``) or every epoch (``'every'``).

    ``path`` may contain ``{epoch}`` (e.g. ``"ckpt/epoch{epoch:02d}.pt"``) to keep one file per
    epoch.  Torch models are saved with ``torch.save`` (with ``course_lib.deploy.save_checkpoint``
    when the model carries a ``config``, so ``deploy.load_checkpoint`` can rebuild it); scratch
    models as a ``.npz`` archive.  ``load_training_checkpoint`` reads the weights of either back.
    Each file also holds the run's training state (optimiser, scheduler, generators, History so
    far; see ``course_lib.training.state``), so ``fit(..., resume=path)`` can finish an
    interrupted run exactly as the uninterrupted one; a file without ``{epoch}`` is overwritten.
    """

    path: Union[str, Path]
    save: str = "best"
    monitor: Optional[str] = None
    mode: str = "auto"


class _Monitor:
    def __init__(self, what: str, monitor: Optional[str], mode: str, has_val: bool, recorded: Sequence[str],
                 min_delta: float = 0.0):
        monitor = monitor or ("val_loss" if has_val else "loss")
        if monitor.startswith("val_") and not has_val:
            raise ValueError(f"{what} monitors '{monitor}' but fit got no val_data; pass val_data or "
                             f"monitor='{monitor[4:]}'")
        known = list(recorded) + ([f"val_{name}" for name in recorded] if has_val else [])
        if monitor not in known:
            raise ValueError(f"{what} cannot monitor '{monitor}': fit records {known}")
        if mode == "auto":
            mode = "min" if "loss" in monitor else "max"
        if mode not in ("min", "max"):
            raise ValueError(f"{what}: mode must be 'min', 'max' or 'auto', got {mode!r}")
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(float(min_delta))
        self.best: Optional[float] = None

    def value(self, logs: Dict[str, float]) -> float:
        if self.monitor not in logs:
            raise ValueError(f"cannot monitor '{self.monitor}': the epoch logs are {sorted(logs)}")
        return logs[self.monitor]

    def improved(self, logs: Dict[str, float]) -> bool:
        value = self.value(logs)
        if self.best is None:
            better = True
        elif self.mode == "min":
            better = value < self.best - self.min_delta
        else:
            better = value > self.best + self.min_delta
        if better:
            self.best = value
        return better


def _as_config(value, cls, what: str):
    if value is None or value is False:
        return None
    if isinstance(value, cls):
        return value
    if value is True:
        return cls()
    if isinstance(value, dict):
        return cls(**value)
    if cls is Checkpoint and isinstance(value, (str, Path)):
        return Checkpoint(path=value)
    raise TypeError(f"{what} must be None, True, a dict or a {cls.__name__}, got {type(value).__name__}")


def _monitor_state(monitor: Optional[_Monitor]) -> Optional[Dict[str, Any]]:
    return None if monitor is None else {"monitor": monitor.monitor, "mode": monitor.mode, "best": monitor.best}


def _restore_monitor(monitor: Optional[_Monitor], saved: Optional[Dict[str, Any]]) -> bool:
    """Take the saved best value if the monitor watches the same quantity the same way; True if it did."""
    if monitor is None or saved is None or (saved["monitor"], saved["mode"]) != (monitor.monitor, monitor.mode):
        return False
    monitor.best = saved["best"]
    return True

"""``History``: what ``fit`` records, epoch by epoch."""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Sequence


class History:
    """What ``fit`` records, one entry per epoch.

    ``train['loss']``, ``train['accuracy']`` …, ``val[...]`` (empty without validation data),
    ``epoch_time`` (seconds), ``lr`` (the first parameter group's learning rate during each
    epoch), ``best_epoch`` (1-based, when early stopping or a checkpoint
    monitored something) and ``stopped_epoch`` (the epoch after which early stopping ended
    training, else None).  Keras-style keys work too: ``history['loss']``, ``history['val_accuracy']``.
    """

    def __init__(self) -> None:
        self.train: Dict[str, List[float]] = {}
        self.val: Dict[str, List[float]] = {}
        self.epoch_time: List[float] = []
        self.lr: List[float] = []
        self.best_epoch: Optional[int] = None
        self.stopped_epoch: Optional[int] = None

    @property
    def epochs(self) -> List[int]:
        return list(range(1, len(self.epoch_time) + 1))

    def keys(self) -> List[str]:
        return list(self.train) + [f"val_{name}" for name in self.val]

    def __getitem__(self, key: str) -> List[float]:
        if key.startswith("val_") and key[4:] in self.val:
            return self.val[key[4:]]
        if key in self.train:
            return self.train[key]
        raise KeyError(f"history has no '{key}'; it has {self.keys()}")

    def __contains__(self, key: str) -> bool:
        return key in self.keys()

    def __len__(self) -> int:
        return len(self.epoch_time)

    def _append(self, logs: Dict[str, float], seconds: float) -> None:
        for key, value in logs.items():
            target = self.val if key.startswith("val_") else self.train
            target.setdefault(key[4:] if key.startswith("val_") else key, []).append(float(value))
        self.epoch_time.append(seconds)

    def last(self) -> Dict[str, float]:
        """The logs of the last epoch, Keras-style keys."""
        return {key: self[key][-1] for key in self.keys()}

    def to_dict(self) -> Dict[str, Any]:
        return {"train": copy.deepcopy(self.train), "val": copy.deepcopy(self.val),
                "epoch_time": list(self.epoch_time), "lr": list(self.lr), "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch}

    def plot(self, metrics: Optional[Sequence[str]] = None, **kwargs):
        """Learning curves (train and validation per quantity); returns the matplotlib Figure."""
        from ..plots import plot_learning_curves

        return plot_learning_curves(self, metrics=metrics, **kwargs)

    def __repr__(self) -> str:
        last = ", ".join(f"{key}={value:.4g}" for key, value in self.last().items()) if len(self) else ""
        return f"History(epochs={len(self)}{', ' if last else ''}{last})"

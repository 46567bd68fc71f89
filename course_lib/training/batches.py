"""Mini-batches for ``fit``, ``evaluate`` and ``predict``: from ``(x, y)`` arrays or tensors (shuffled by
the run's generator, the same order on both sides) or from a DataLoader-like iterable."""
from __future__ import annotations

from typing import Any, Iterator, Optional, Tuple

import numpy as np

from .backends import _is_tensor


class _Batches:
    """Mini-batches of ``(x, y)`` arrays/tensors (shuffled by a shared generator) or of a loader."""

    def __init__(self, name: str, data, backend, batch_size: int, passes: int = 1, drop_last: bool = False):
        self.name, self.backend, self.batch_size, self.drop_last = name, backend, batch_size, drop_last
        self.loader = None
        if isinstance(data, (tuple, list)) and len(data) == 2 and not _looks_like_batch_list(data):
            x, y = data
            _check_array(f"{name} x", x)
            _check_array(f"{name} y", y)
            if len(x) != len(y):
                raise ValueError(f"{name}: x has {len(x)} samples but y has {len(y)}; they must match")
            if len(x) == 0:
                raise ValueError(f"{name} is empty")
            if drop_last and len(x) < batch_size:
                raise ValueError(f"{name} has {len(x)} samples, fewer than batch_size={batch_size}: with "
                                 "drop_last=True no mini-batch would be left")
            if not _is_tensor(y) and np.asarray(y).dtype.kind in "USO":
                raise TypeError(f"{name}: the targets are {np.asarray(y).dtype} (class names?); a model needs numbers: "
                                "map the names to 0, 1, … first, e.g. np.unique(y, return_inverse=True)[1]")
            self.x, self.y = backend.as_full(x), backend.as_full(y)
            self.n_samples = len(x)
        elif _is_loader(data):
            if drop_last:
                raise ValueError(f"{name} is a {type(data).__name__}, which makes its own batches: drop_last is "
                                 "its option (DataLoader(..., drop_last=True)), not fit's")
            if passes > 1 and iter(data) is data:  # a generator or iterator: its batches are gone after one pass
                raise ValueError(f"{name} is a {type(data).__name__}, which can be iterated only once, and it is "
                                 f"needed {passes} times; pass a DataLoader, a list of (x, y) batches or (x, y) arrays")
            self.loader = data
            self.n_samples = len(data.dataset) if hasattr(data, "dataset") and hasattr(data.dataset, "__len__") \
                else None
        else:
            raise TypeError(
                f"{name} must be a tuple (x, y) of arrays/tensors or a DataLoader-like iterable of (x, y) "
                f"batches, got {type(data).__name__}"
            )

    def n_batches(self) -> Optional[int]:
        """Batches per pass, or None for a loader without a length."""
        if self.loader is not None:
            return len(self.loader) if hasattr(self.loader, "__len__") else None
        return self.n_samples // self.batch_size if self.drop_last else -(-self.n_samples // self.batch_size)

    def iterate(self, rng: Optional[np.random.Generator]) -> Iterator[Tuple[Any, Any]]:
        if self.loader is not None:
            for batch in self.loader:
                if not isinstance(batch, (tuple, list)) or len(batch) < 2:
                    raise TypeError(f"{self.name}: each batch must be (x, y), got {type(batch).__name__}")
                yield self.backend.to_device_x(batch[0]), self.backend.to_device_y(batch[1])
            return
        order = rng.permutation(self.n_samples) if rng is not None else np.arange(self.n_samples)
        end = self.n_batches() * self.batch_size if self.drop_last else self.n_samples
        for start in range(0, end, self.batch_size):
            index = order[start:start + self.batch_size]
            yield (self.backend.to_device_x(self.backend.take(self.x, index)),
                   self.backend.to_device_y(self.backend.take(self.y, index)))


def _looks_like_batch_list(data) -> bool:
    """A list of two (x, y) batches is a loader, not (x, y)."""
    return isinstance(data, list) and all(isinstance(item, (tuple, list)) for item in data)


def _is_loader(data) -> bool:
    if isinstance(data, (np.ndarray, str, bytes, dict)) or _is_tensor(data):
        return False
    return hasattr(data, "__iter__")


def _check_array(name: str, value) -> None:
    if not (isinstance(value, np.ndarray) or _is_tensor(value)):
        if isinstance(value, (list, tuple)):
            return  # converted by np.asarray / torch.as_tensor
        raise TypeError(f"{name} must be a NumPy array or a torch tensor, got {type(value).__name__}")

"""Argument checks shared across course_lib: sizes and counts, probabilities; tensors read as arrays.

A size of 0, a count given as 100.0 or None, or a dropout probability outside [0, 1) would fail
later, far from the mistake (a ZeroDivisionError inside attention, an error inside NumPy); these
say so at once, in the same words everywhere.
"""
from __future__ import annotations

import numbers
from typing import Any, Optional

import numpy as np


def positive_int(name: str, value) -> int:
    """``value`` as an int, or a ValueError naming ``name`` unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def whole(where: str, name: str, value, minimum: Optional[int] = None) -> int:
    """``value`` as an int, or a ValueError naming ``where`` (a layer) and the argument: int(d / 2) =
    int(5.5) would silently be 5 and int("5") a size read from a string (torch
    refuses both with a TypeError).  ``minimum``: the smallest value allowed (a size is at least 0)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{where}: {name} must be a whole number, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{where}: {name} must be at least {minimum}, got {value}")
    return int(value)


def is_seed(value) -> bool:
    """Whether ``value`` is an integer seed NumPy takes, 0 … 2**32 − 1 (not a bool)."""
    return not isinstance(value, bool) and isinstance(value, numbers.Integral) and 0 <= value < 2**32


def check_sizes(where: Optional[str], **sizes) -> None:
    """Every named size must be a positive integer (None skips an optional one); ``where`` (a model
    or function name) starts the message."""
    for name, value in sizes.items():
        if value is not None:
            positive_int(f"{where}: {name}" if where else name, value)


def check_probability(where: str, name: str, value) -> None:
    """A dropout probability must lie in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{where}: {name} must be a probability in [0, 1), got {value!r}")


def host_array(value: Any) -> np.ndarray:
    """``value`` as a NumPy array: a torch tensor (known by its methods: torch is not imported) is
    detached and copied to the CPU first, and a bfloat16 one — the usual type of mixed precision on a
    GPU, which NumPy lacks — is read as float32, which holds every bfloat16 exactly."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu()
        if str(getattr(value, "dtype", "")) == "torch.bfloat16":
            value = value.float()
    return np.asarray(value)

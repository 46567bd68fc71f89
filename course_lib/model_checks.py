"""Checks of model configurations shared by ``course_lib.pytorch.models`` and ``course_lib.scratch.models``.

A size of 0 or a dropout probability outside [0, 1) builds a model that fails later, far from
the mistake (a ZeroDivisionError inside attention, an empty layer); these say so at once.
"""
from __future__ import annotations

import numbers


def check_sizes(model: str, **sizes) -> None:
    """Every named size must be a positive integer (None skips an optional one)."""
    for name, value in sizes.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{model}: {name} must be a positive integer, got {value!r}")


def check_probability(model: str, name: str, value) -> None:
    """A dropout probability must lie in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{model}: {name} must be a probability in [0, 1), got {value!r}")

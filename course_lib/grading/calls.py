"""A check's call written out as Python a student can run in a cell (``softmax(np.array([…]))``).

``check()`` prints it under a failed public check; the grader adds it to a failed public check's
message, whose inputs it drew for that submission (``runner._prepare``).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

SHOWN_CHARACTERS = 160  # a call this long or shorter is written out
SHOWN_ELEMENTS = 40  # and never one whose arrays hold more numbers (a10 sends 3000 images: no text of them)


def written_call(function: str, args: tuple, kwargs: dict) -> Optional[str]:
    """``function(*args, **kwargs)`` as Python, or None where it would be longer than ``SHOWN_CHARACTERS``
    or its arrays hold more than ``SHOWN_ELEMENTS`` numbers."""
    if _elements((args, kwargs)) > SHOWN_ELEMENTS:
        return None
    parts = [_argument_text(arg) for arg in args]  # by position, as the grader calls it
    parts += [f"{key}={_argument_text(arg)}" for key, arg in kwargs.items()]
    call = f"{function}({', '.join(parts)})"
    return call if len(call) <= SHOWN_CHARACTERS else None


def _argument_text(value) -> str:
    if isinstance(value, np.ndarray):  # every digit: the same numbers once cast back to the dtype
        return f"np.array({value.tolist()!r}, dtype=np.{value.dtype})"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_argument_text(item) for item in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    return repr(value)


def _elements(value) -> int:
    """How many numbers the arrays in ``value`` (nested in tuples, lists and dicts) hold."""
    if isinstance(value, np.ndarray):
        return value.size
    if isinstance(value, dict):
        value = list(value.values())
    return sum(_elements(item) for item in value) if isinstance(value, (list, tuple)) else 0

"""``check("q3")``: the public tests of a question, run in the student's own kernel.

This is a convenience for students while they work, not part of grading: it runs in
the student's process, so it proves nothing.  It uses the same inputs, reference
answers, comparisons and hints as the grader's public checks, so what passes here
passes there (the grader adds hidden checks on other inputs).
"""
from __future__ import annotations

import contextlib
import json
import sys
from typing import Any, List

import numpy as np

from . import assignments
from .runner import NOT_ATTEMPTED, _copy, _prepare, error_message, judge_value
from .wire import Foreign, decode_result, encode


def plain(value: Any) -> Any:
    """The value as the grader would receive it: plain data, or a Foreign marker for anything else."""
    try:
        tree = encode(value)
    except TypeError:
        return Foreign(f"{type(value).__module__}.{type(value).__qualname__}")
    return decode_result(json.dumps({"status": "ok", "value": tree, "mutated": []}))["value"]


class Checker:
    def __init__(self, assignment_id: str):
        self.assignment = assignments.get(assignment_id)

    def __call__(self, question_id: str, namespace: dict = None) -> bool:
        """Run the public checks of ``question_id`` against functions in ``namespace`` (default: the notebook)."""
        question = self.assignment.question(question_id)
        namespace = namespace if namespace is not None else sys.modules["__main__"].__dict__
        prepared = [p for p in _prepare(self.assignment, seed=0) if p.question is question and not p.check.hidden]
        lines: List[str] = [f"{question.id} — {question.title} ({question.points:g} points)"]
        passed_count = 0
        for item in prepared:
            passed, message = self._run_one(item, namespace)
            passed_count += passed
            lines.append(f"  {'✓' if passed else '✗'} {item.check.name}" + ("" if passed else f"\n      {message}"))
        total = len(prepared)
        lines.append(f"{passed_count} of {total} public checks passed." +
                     (" The grader also runs hidden checks on other inputs." if passed_count == total else ""))
        print("\n".join(lines))
        return passed_count == total

    @staticmethod
    def _run_one(item, namespace):
        function = namespace.get(item.check.function)
        if not callable(function):
            return False, f"{item.check.function} is not defined: run its cell first"
        args, kwargs = _copy(item.args), _copy(item.kwargs)
        strict = np.errstate(over="raise", divide="raise", invalid="raise")
        try:
            with strict if item.check.float_errors else contextlib.nullcontext():
                value = function(*args, **kwargs)
        except NotImplementedError:
            return False, NOT_ATTEMPTED
        except Exception as error:  # noqa: BLE001 - shown to the student
            return False, error_message({"ename": type(error).__name__, "evalue": str(error)}, item.check.function,
                                        item.check.float_errors)
        passed, message = judge_value(item, plain(value))
        if passed and not all(_same(a, b) for a, b in zip(args, item.args)):
            return False, f"{item.check.function} returned the right value but modified its input in place; work on a copy"
        return passed, message


def _same(a, b) -> bool:
    if isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))
    return True

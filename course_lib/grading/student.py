"""``check("q3")``: the public tests of a question, run in the student's own kernel.

This is a convenience for students while they work, not part of grading: it runs in
the student's process, so it proves nothing.  It uses the same kinds of input, reference
answers, comparisons and hints as the grader's public checks, so what passes here passes
there for a function that computes its answers (the grader draws the inputs anew for each
submission — random ones from another seed, fixed ones such as ``[1000, 1000]`` as others of the
same kind — so that answers copied for the ones shown here earn nothing, and adds hidden checks on
other inputs).
"""
from __future__ import annotations

import contextlib
import functools
import json
import math
import re
import signal
import sys
import textwrap
import threading
import time
import traceback
from typing import Any, List

import numpy as np

from . import assignments
from .assign import check_lines, is_check_code, is_demo_code, template_cells
from .calls import written_call
from .notebook import forbidden_imports, imported_modules
from .runner import NOT_ATTEMPTED, in_place_message, _copy, _prepare, error_message, judge_value
from .wire import decode_result, kernel_helpers
from .zmtp import MESSAGE_CAP


def _template_sources(assignment) -> set:
    """The code cells of the assignment's own notebooks (exercise and solution): running those is fine."""
    return set(template_cells(assignment.notebook))


@functools.lru_cache(maxsize=None)
def _harness():
    """``(encode, same, strict)``: the functions the grader's harness runs in the kernel (``wire.kernel_helpers``)."""
    return kernel_helpers()


def plain(value: Any) -> Any:
    """The value as the grader would receive it: plain data, with a Foreign marker for anything else,
    at its own place (item 0 of a tuple of tensors, not the whole tuple) — the harness's own encoder."""
    return decode_result(json.dumps({"status": "ok", "value": _harness()[0](value), "mutated": []}))["value"]


def _same(a, b) -> bool:
    """Whether argument ``a`` after the call still equals ``b`` as passed, as the grader's harness
    compares them: arrays byte for byte, and inside lists, tuples and dicts too."""
    return _harness()[1](a, b)


class _TimeUp(BaseException):
    """The grader's time for one check has passed (a BaseException: ``except Exception`` in the
    student's code does not swallow it)."""


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Stop the block after ``seconds`` with ``_TimeUp``, where a timer signal can (the main thread of a
    POSIX process: a notebook's kernel) and no timer of the student's (``signal.alarm``) or of an outer
    ``check()`` is pending, which is left alone; elsewhere the block runs to its end and its time is
    reported.  The student's SIGALRM handler is put back afterwards."""
    usable = (math.isfinite(seconds) and seconds > 0 and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread()
              and signal.getitimer(signal.ITIMER_REAL)[0] == 0)
    if not usable:
        yield
        return

    def stop(signum, frame):  # the timer is one-shot: put the student's handler back before stopping them,
        signal.signal(signal.SIGALRM, previous)  # so that wherever _TimeUp lands, nothing of ours stays
        raise _TimeUp()

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        # A timer that fires during the clean-up must not cut it short, nor reach the student's handler after
        # it: disarm, then let Python run a handler call it has already noted (it does so between bytecodes:
        # the loop) while `stop` is still installed — a _TimeUp from it only repeats these steps — and only
        # then put the student's handler back.  (Blocking the signal instead would not do: another thread of
        # the kernel could take it, or it could wait until the default handler, which ends the process.)
        while True:
            try:
                signal.setitimer(signal.ITIMER_REAL, 0)
                for _ in range(3):
                    pass
                break
            except _TimeUp:
                continue
        signal.signal(signal.SIGALRM, previous)


class _Interrupted(Exception):
    """The student interrupted the kernel during a check: the report so far, then stop."""


class CheckOutcome:
    """What ``check("qN")`` returns: true when every public check passed.  It shows nothing in a
    notebook (the report above says it all), unlike a bare ``False`` under every failing check."""

    def __init__(self, question_id: str, passed: int, total: int):
        self.question_id, self.passed, self.total = question_id, passed, total

    def __bool__(self) -> bool:
        return self.passed == self.total

    def __repr__(self) -> str:
        return f"CheckOutcome({self.question_id}: {self.passed} of {self.total} public checks passed)"

    def _ipython_display_(self) -> None:
        pass


class Checker:
    def __init__(self, assignment_id: str):
        self.assignment = assignments.get(assignment_id)
        self._template = None  # the assignment notebooks' own code cells, read once
        self._imports = {}  # cell source → the modules it imports (the history only grows)

    @staticmethod
    @contextlib.contextmanager
    def demo():
        """``with check.demo():`` around a demo cell: if it calls a function that is still a stub, say
        so and go on, so that *Run All Cells* reaches the questions after it."""
        try:
            yield
        except NotImplementedError as error:
            print(f"(demo skipped: {error})")

    def __call__(self, question_id: str, namespace: dict = None) -> CheckOutcome:
        """Run the public checks of ``question_id`` against functions in ``namespace`` (default: the notebook)."""
        question = self._question(question_id)
        if question is None:
            return CheckOutcome(str(question_id), 0, 1)
        in_notebook = namespace is None
        namespace = namespace if namespace is not None else sys.modules["__main__"].__dict__
        prepared = _prepare(self.assignment, seed=0, questions=[question.id], include_hidden=False)
        points = f"{question.points:g} point" + ("" if question.points == 1 else "s")
        lines: List[str] = [f"{question.id} — {question.title} ({points})"]
        passed_count = 0
        # as the grader: each call within its own limit, and the question's public checks within the
        # question's (a slow answer that stays under the per-call limit can still run out of the latter)
        question_limit, spent = self.assignment.question_timeout_s, 0.0
        for number, item in enumerate(prepared, start=1):
            call_limit = item.check.timeout_s or self.assignment.call_timeout_s
            which = None
            if question_limit - spent < call_limit:
                call_limit = max(question_limit - spent, 0.001)
                which = f"this question's time limit ({question_limit:g} s for its public checks)"
            started = time.monotonic()
            try:
                passed, message = self._run_one(item, namespace, call_limit, which)
            except _Interrupted as stop:  # the report so far, then the interrupt goes on: Run All stops here
                lines.append(f"  ✗ {item.check.name}\n      {stop}")
                print("\n".join(lines))
                raise KeyboardInterrupt(str(stop)) from None
            spent += time.monotonic() - started
            out_of_time = isinstance(message, _EndsQuestion)
            if not passed and message != NOT_ATTEMPTED and callable(namespace.get(item.check.function)):
                message += "\n" + call_text(item, f"check.inputs({question.id!r}, {number})")
            passed_count += passed
            lines.append(f"  {'✓' if passed else '✗'} {item.check.name}" +
                         ("" if passed else "\n" + textwrap.indent(message, "      ")))
            if out_of_time:  # as the grader: a check that ran out of time ends the question
                break
        total = len(prepared)
        lines.append(f"{passed_count} of {total} public checks passed." +
                     (" The grader runs these checks on inputs of the same kind drawn for each submission, "
                      "and hidden checks on others." if passed_count == total else ""))
        if in_notebook:
            lines += self._import_warnings(question, namespace.get("In"))
        print("\n".join(lines))
        return CheckOutcome(question.id, passed_count, total)

    def _question(self, question_id):
        """The question ``question_id`` names ("q3"; "Q3" and " q3 " too), or None after printing which exist."""
        key = question_id.strip().lower() if isinstance(question_id, str) else question_id
        try:
            return self.assignment.question(key)
        except KeyError:
            known = ", ".join(q.id for q in self.assignment.questions)
            print(f"{self.assignment.id} has no question {question_id!r}; its questions are {known} "
                  f"(for example check({self.assignment.questions[0].id!r}))")
            return None

    def inputs(self, question_id: str, number: int):
        """``(args, kwargs)`` of public check ``number`` (1, 2, … as ``check(question_id)`` lists them):
        the inputs ``check`` uses, fresh copies, to call the function with in a cell."""
        question = self._question(question_id)
        if question is None:
            raise ValueError(f"{self.assignment.id} has no question {question_id!r}") from None
        prepared = _prepare(self.assignment, seed=0, questions=[question.id], include_hidden=False)
        if not isinstance(number, int) or not 1 <= number <= len(prepared):
            raise ValueError(f"{question_id} has public checks 1 to {len(prepared)}, not {number!r}")
        item = prepared[number - 1]
        return _copy(item.args), _copy(item.kwargs)

    def _import_warnings(self, question, history) -> List[str]:
        """The grader gives 0 to every question whose notebook imports what it forbids (course_lib in
        any assignment, torch and the like in from-scratch ones) outside the notebook's own demo and
        check cells; say so now rather than after grading.  ``history`` is IPython's ``In``."""
        if not isinstance(history, list):
            return []
        if self._template is None:
            self._template = _template_sources(self.assignment)
        found = {}
        own_lines = check_lines(self.assignment.notebook)
        for source in history:
            if (not isinstance(source, str) or source.strip() in self._template or is_check_code(source, own_lines)
                    or is_demo_code(source, self.assignment.notebook)):  # an edited demo cell: the grader skips it
                continue
            if source not in self._imports:
                self._imports[source] = imported_modules(source)[0]
            for name in forbidden_imports(self._imports[source], question):
                found.setdefault(name, source.strip().splitlines()[0][:60] if source.strip() else "")
        # the import is in the notebook, not in one question: every question that may not use it gets 0
        return [f"  ! a cell you ran imports {name} ({line!r}): while the notebook contains that import, the grader "
                f"gives 0 to this question and to every other that may not use {name}"
                for name, line in sorted(found.items())]

    @staticmethod
    def _run_one(item, namespace, time_limit_s: float = float("inf"), which: str = None):
        """(passed, message) of one public check; ``time_limit_s``: the grader's limit for its calls, or
        what is left of the question's when that is less (``which`` then names the question's limit)."""
        function = namespace.get(item.check.function)
        if not callable(function):
            name = item.check.function
            defines = re.compile(rf"^def\s+{re.escape(name)}\s*\(", re.MULTILINE)
            history = namespace.get("In")
            if isinstance(history, list) and any(isinstance(s, str) and defines.search(s) for s in history):
                return False, (f"{name} is not defined, although a cell that defines it has run: that cell "
                               "stopped with an error (shown under it) before defining it; fix the error and "
                               "run the cell again")
            return False, f"{name} is not defined: run its cell first"
        strict = _harness()[2]
        started = time.monotonic()
        try:
            values, changed = [], []
            with _time_limit(time_limit_s):
                for _ in range(item.check.calls):  # each call on fresh copies of the arguments
                    args, kwargs = _copy(item.args), _copy(item.kwargs)
                    with strict() if item.check.float_errors else contextlib.nullcontext():
                        result = function(*args, **kwargs)
                    size = _array_bytes(result)
                    if size > _LARGEST_RESULT:  # as the grader: it would not come back
                        return False, (f"the return value of {item.check.function} holds "
                                       f"{size / 1024 / 1024:.0f} MB of arrays, more than the "
                                       f"grader reads back ({_LARGEST_RESULT // 1024 // 1024} MB): is the result "
                                       "the expected shape?")
                    values.append(plain(result))  # now: a later call may reuse the arrays it returned
                    names = [f"argument {i + 1}" for i, (a, b) in enumerate(zip(args, item.args)) if not _same(a, b)]
                    names += [f"argument {k}" for k in kwargs if not _same(kwargs[k], item.kwargs[k])]  # as the grader
                    changed += [name for name in names if name not in changed]
            value = values[0] if item.check.calls == 1 else tuple(values)
        except NotImplementedError:
            return False, NOT_ATTEMPTED
        except _TimeUp:
            if which:
                return False, _EndsQuestion(f"{item.check.function} was stopped after {time_limit_s:.3g} s, where "
                                            f"the grader stops it: {which} ran out; {_NOT_RUN}")
            return False, _EndsQuestion(f"{item.check.function} did not finish within {time_limit_s:.3g} s (an "
                                        f"infinite loop?), where the grader stops it; {_NOT_RUN}")
        except KeyboardInterrupt:
            raise _Interrupted(f"interrupted after {time.monotonic() - started:.3g} s while {item.check.function} "
                               f"ran (the grader stops a call after {time_limit_s:.3g} s); the remaining checks "
                               "were not run") from None
        except BaseException as error:  # noqa: BLE001 - shown to the student, as the grader shows it
            return False, error_message({"ename": type(error).__name__, "evalue": _text_of(error),
                                         "where": _where(error)}, item.check.function, item.check.float_errors)
        elapsed = time.monotonic() - started
        if elapsed > time_limit_s and which:
            return False, _EndsQuestion(f"{item.check.function} ran {elapsed:.3f} s, past the {time_limit_s:.3g} s "
                                        f"left of {which}, so this check would get no points there; {_NOT_RUN}")
        if elapsed > time_limit_s:  # the grader would have stopped it (here the student's code kept on)
            return False, _EndsQuestion(f"{item.check.function} ran {elapsed:.3f} s, past the grader's limit of "
                                        f"{time_limit_s:g} s per call (on one CPU thread), so this check would get "
                                        f"no points there; {_NOT_RUN}")
        passed, message = judge_value(item, value, _torch_seed() if item.check.torch_seed else None)
        if passed and changed:
            return False, in_place_message(item, changed)
        return passed, message


_NOT_RUN = "the remaining checks of this question were not run, as in the grader"


class _EndsQuestion(str):
    """The message of a check that ran out of time: as in the grader, the question's other checks are not
    run.  A type, not a wording, so that no message a student's code raises can end a question."""


_LARGEST_RESULT = MESSAGE_CAP * 3 // 4  # the bytes of arrays that fit the kernel's message to the grader (base64)


def _array_bytes(value, depth: int = 0) -> int:
    """The bytes of the NumPy arrays and scalars in ``value`` (in tuples, lists and dicts)."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.nbytes
    if depth > 15:
        return 0
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return sum(_array_bytes(item, depth + 1) for item in value)
    return 0


def _text_of(error: BaseException) -> str:
    """``str(error)``, or a note where the error's own ``__str__`` fails (it is the student's code too)."""
    try:
        return str(error)
    except BaseException as inner:  # noqa: BLE001
        return f"(its message could not be shown: str() raised {type(inner).__name__})"


def _where(error: BaseException) -> str:
    """The last lines of the student's own code that the error passed through, as the grader shows them."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename != __file__]
    return "".join(traceback.format_list(frames[-3:]))[-1500:]


def call_text(item, inputs: str) -> str:
    """The failed public check's call, for the student to run in a cell: written out when short
    (``softmax(np.array([1000.0, 1000.0], dtype=np.float64))``), else through ``inputs`` (the
    ``check.inputs(…)`` expression that returns its arguments)."""
    call = written_call(item.check.function, item.args, item.kwargs)
    return f"to run it yourself: {call or f'args, kwargs = {inputs}; {item.check.function}(*args, **kwargs)'}"


def _torch_seed():
    """PyTorch's seed after a call, as the grader's harness reads it in the kernel (``wire.HARNESS``)."""
    torch = sys.modules.get("torch")
    try:
        return None if torch is None else int(torch.initial_seed())
    except Exception:  # noqa: BLE001 - a notebook that broke torch: an unknown seed
        return "unknown"

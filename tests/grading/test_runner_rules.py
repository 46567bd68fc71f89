"""The runner's own rules — a question's status, kernel restarts, time budgets, hidden seeds and the
assignment's limits — with a stand-in for the sandbox, so that no kernel starts and no test waits.

The stand-in answers the preamble and the notebook's cells with "ok" and runs each graded call in
this process through the real harness (``wire.HARNESS``), on the functions a test gives it; a function
"runs out of time" or "stops the kernel" by raising ``KernelTimeout`` or ``KernelDied``.  What the
sandbox itself does is tested with real kernels in ``test_sandbox.py`` and ``test_adversarial.py``.
"""
from __future__ import annotations

import dataclasses
import json
import re
import sys

import numpy as np
import pytest

from course_lib.data.store import DatasetError
from course_lib.grading import assignments, runner
from course_lib.grading.sandbox import ExecResult, Limits
from course_lib.grading.wire import HARNESS

from .helpers import FAST, question_score, seeding_training, solution_functions, torch_generator_kept


class KernelTimeout(BaseException):
    """Raised by a graded function: the stand-in reports that the call ran out of time."""


class KernelDied(BaseException):
    """Raised by a graded function: the stand-in reports that the kernel stopped."""


@pytest.fixture
def stand_in(monkeypatch):
    """``grade(functions, assignment="a01", limits=FAST, seed=1)`` grades a notebook whose graded
    functions are ``functions`` (a dict), through the stand-in; returns (result, stand-in)."""
    import IPython.display

    sent = []
    monkeypatch.setattr(IPython.display, "publish_display_data", lambda data: sent.append(data))
    harness = {}
    exec(HARNESS, harness)
    made = []

    class StandIn:
        def __init__(self, limits, forbid=(), hide=()):
            self.limits, self.starts, self.kernel_peak_kb = limits, 0, 0
            self.isolation = {"namespaces": ["mount", "pid", "net"], "errors": []}
            self.calls = []  # (function, timeout) of every graded call
            made.append(self)

        def start(self):
            self.starts += 1

        def kill(self):
            pass

        def spill(self, array):
            raise AssertionError("the stand-in takes inputs small enough to travel in the code")

        def execute(self, code, timeout):
            call = re.match(r"__course_call__\('(\w+)'", code)
            if not call:  # the preamble, the harness, a cell
                return ExecResult("ok")
            self.calls.append((call.group(1), timeout))
            exec(code, harness)
            payload = next(iter(sent.pop().values()))
            stopped = {"KernelTimeout": "timeout", "KernelDied": "died"}.get(json.loads(payload).get("ename"))
            if stopped:
                return ExecResult(stopped, seconds=timeout if stopped == "timeout" else 0.0)
            return ExecResult("ok", payloads=[payload])

    monkeypatch.setattr(runner, "Sandbox", StandIn)

    def grade(functions, assignment="a01", limits=FAST, seed=1):
        for name, function in functions.items():  # where the harness looks them up, as in the kernel
            monkeypatch.setitem(sys.modules["__main__"].__dict__, name, function)
        if isinstance(assignment, str):
            assignment = assignments.get(assignment)
        result = runner.grade_cells([], assignment, seed=seed, limits=limits)
        return result, made[-1]

    return grade


def _a01_functions():
    namespace = solution_functions("a01")
    return {name: namespace[name] for question in assignments.get("a01").questions for name in question.functions}


def test_the_solution_scores_full_marks_through_the_stand_in(stand_in):
    """The control: a broken stand-in must not pass for a broken rule."""
    result, kernel = stand_in(_a01_functions())
    assert result.score == result.max_score == 10.0, [c for c in result.checks if not c.passed]
    assert all(q["status"] == "passed" for q in result.questions.values())
    assert kernel.starts == 1 and len(kernel.calls) == len(result.checks)


def test_a_question_answered_in_part_has_failed_and_one_not_begun_is_not_attempted(stand_in):
    """A question is "not attempted" only when every check says so, "passed" only when every check
    passed: a softmax written for rows that raises NotImplementedError for axis=0 has failed."""
    functions = _a01_functions()
    rows_only = functions["softmax"]

    def softmax(x, axis=-1):
        if axis == 0:
            raise NotImplementedError("columns: to do")
        return rows_only(x, axis=axis)

    def neuron(x, w, b):
        raise NotImplementedError("q1: write neuron")

    result, _ = stand_in({**functions, "softmax": softmax, "neuron": neuron})
    q5 = [c for c in result.checks if c.question == "q5"]
    assert [c.message for c in q5 if not c.passed] == ["not attempted"], q5  # the axis=0 check only
    assert result.questions["q5"]["status"] == "failed"
    assert 0 < result.questions["q5"]["score"] < 3
    assert result.questions["q1"] == {"title": "A single neuron", "score": 0.0, "max_score": 2, "status": "not attempted"}
    assert result.questions["q2"]["status"] == "passed"
    # the total counts the part q5 earned (a total over passed questions only went unnoticed)
    assert result.score == pytest.approx(sum(q["score"] for q in result.questions.values()), abs=1e-6)
    assert result.score > 10 - 2 - 3  # q1's 2 points and q5's part, not all of q5's 3


def test_a_right_answer_that_writes_into_its_input_loses_the_check(stand_in):
    """The caller's arrays must come back unchanged: a softmax that returns the right numbers but zeroes
    its input earns nothing for those checks (were the rule skipped, it scored 10 of 10)."""
    functions = _a01_functions()
    right = functions["softmax"]

    def softmax(x, axis=-1):
        out = right(x.copy(), axis=axis)
        x[...] = 0
        return out

    result, _ = stand_in({**functions, "softmax": softmax})
    assert result.questions["q5"]["score"] == 0.0 and result.score == 7.0
    assert all("changed" in c.message or "modif" in c.message or "input" in c.message
               for c in result.checks if c.question == "q5" and not c.passed), [c.message for c in result.checks]


def test_a_kernel_that_keeps_dying_is_restarted_at_most_max_restarts_times(stand_in):
    """Every function stops the kernel: each question loses its first check's kernel, which is
    restarted ``MAX_RESTARTS`` times; after that the remaining questions are not graded, and the
    report says why."""
    def dies(*args, **kwargs):
        raise KernelDied

    result, kernel = stand_in({name: dies for name in _a01_functions()})
    assert kernel.starts == 4 and len(kernel.calls) == 4  # the first start and MAX_RESTARTS (3) more
    assert "the kernel was restarted too often; the remaining questions were not graded" in result.notes
    died = [c.question for c in result.checks
            if "stopped the kernel" in c.message and not c.message.endswith("were not run")]
    assert died == ["q1", "q2", "q3", "q4"], died
    q5 = [c.message for c in result.checks if c.question == "q5"]
    assert q5 and all(m == "not graded: the kernel could not be (re)started within the limits" for m in q5), q5
    assert result.score == 0.0


def test_a_call_gets_no_more_time_than_its_question_has_left(stand_in):
    """A question's checks share its time budget: no call may run past it, whatever the call's own
    limit, and a call cut short by it says which limit ran out."""
    functions = _a01_functions()

    def softmax(x, axis=-1):
        raise KernelTimeout

    limits = dataclasses.replace(FAST, call_timeout_s=20.0, question_timeout_s=5.0)
    result, kernel = stand_in({**functions, "softmax": softmax}, limits=limits)
    assert kernel.calls and all(0 < timeout <= 5.0 for _, timeout in kernel.calls), kernel.calls
    (first, *_) = [c for c in result.checks if c.question == "q5"]
    assert first.message.startswith("not graded: this question's time limit (5 s for its public checks) ran out"), first
    assert question_score(result, "q1") == 2.0


def test_a_checks_own_time_limit_replaces_the_call_limit(stand_in):
    """A check with ``timeout_s`` (a10's training run: 120 s) gets that long, not the grader's
    per-call limit, and a call that runs out of it is told so."""
    a01 = assignments.get("a01")
    slow_softmax = dataclasses.replace(a01.question("q5"), checks=[
        dataclasses.replace(check, timeout_s=7.0) for check in a01.question("q5").checks])
    assignment = dataclasses.replace(a01, questions=[slow_softmax if q.id == "q5" else q for q in a01.questions])
    limits = dataclasses.replace(FAST, call_timeout_s=3.0, question_timeout_s=60.0)
    result, kernel = stand_in(_a01_functions(), assignment=assignment, limits=limits)
    assert result.score == 10.0
    timeouts = {}
    for function, timeout in kernel.calls:
        timeouts.setdefault(function, []).append(timeout)
    assert all(timeout == 7.0 for timeout in timeouts.pop("softmax")), kernel.calls
    assert all(timeout == 3.0 for values in timeouts.values() for timeout in values), timeouts

    def softmax(x, axis=-1):
        raise KernelTimeout

    result, _ = stand_in({**_a01_functions(), "softmax": softmax}, assignment=assignment, limits=limits)
    timed_out = [c.message for c in result.checks if c.message.startswith("softmax did not finish within 7 s")]
    assert timed_out and timed_out[0].startswith("softmax did not finish within 7 s (an infinite loop?)\n(graded on "
                                                 "inputs drawn for this submission"), timed_out


class _NoKernel:
    """A sandbox that records the limits it is given and cannot start."""

    limits = []

    def __init__(self, limits, forbid=(), hide=()):
        _NoKernel.limits.append(limits)
        self.starts, self.isolation, self.kernel_peak_kb = 0, {}, 0

    def start(self):
        self.starts += 1
        raise RuntimeError("no kernel in this test")

    def kill(self):
        pass


def test_each_grading_draws_fresh_hidden_inputs_unless_given_a_seed(monkeypatch):
    monkeypatch.setattr(runner, "Sandbox", _NoKernel)
    monkeypatch.setattr(_NoKernel, "limits", [])
    a01 = assignments.get("a01")
    seeds = {runner.grade_cells([], a01).seed for _ in range(3)}
    assert len(seeds) == 3 and all(0 <= seed < 2**63 for seed in seeds), seeds
    assert runner.grade_cells([], a01, seed=42).seed == 42


def test_without_limits_the_grader_uses_the_assignments_own(monkeypatch):
    """a10 trains a PyTorch model: it needs its own 12 GiB and 64 tasks, not the defaults."""
    monkeypatch.setattr(runner, "Sandbox", _NoKernel)
    monkeypatch.setattr(_NoKernel, "limits", [])
    a01 = assignments.get("a01")
    odd = dataclasses.replace(a01, cell_timeout_s=11.0, call_timeout_s=12.0, question_timeout_s=13.0,
                              total_timeout_s=140.0, memory_bytes=5 * 1024**3 + 4096, processes=17)
    result = runner.grade_cells([], odd)
    assert result.grader_failure == "no kernel in this test"
    (limits,) = _NoKernel.limits
    assert (limits.cell_timeout_s, limits.call_timeout_s, limits.question_timeout_s, limits.total_timeout_s,
            limits.memory_bytes, limits.processes) == (11.0, 12.0, 13.0, 140.0, 5 * 1024**3 + 4096, 17)
    assert limits.file_bytes == Limits().file_bytes  # what an assignment does not set keeps the default
    a10 = assignments.get("a10")
    try:
        runner.grade_cells([], a10)
    except DatasetError as error:  # a10's inputs are drawn from Fashion-MNIST
        pytest.skip(f"a10's inputs need Fashion-MNIST: {error}")
    assert (_NoKernel.limits[-1].memory_bytes, _NoKernel.limits[-1].processes) == (12 * 1024**3, 64)


def test_the_harness_reports_pytorchs_seed_after_the_call_where_a_check_asks(stand_in):
    """a10's q2 asks for PyTorch seeded with `seed`: the harness reads torch.initial_seed() in the
    kernel after the call and the judge gets it (a check that does not ask gets no such keyword)."""
    from course_lib.grading.assignments import a10_pytorch_training as a10
    from course_lib.grading.spec import Check, Question

    def make(rng):  # 4 tiny "images"; the labels stay with the grader
        return ((np.zeros((4, 28, 28), np.uint8), np.arange(4, dtype=np.int64), np.zeros((4, 28, 28), np.uint8)),
                {"seed": int(rng.integers(1, 2**31))}, np.arange(4, dtype=np.int64))

    seen = []

    def recording(value, args, kwargs, secret, **observed):
        seen.append(observed)
        return True, "correct"

    checks = [Check("seeded", "train_and_predict", make, None, judge=a10.judge_predictions, torch_seed=True),
              Check("not asked", "train_and_predict", make, None, judge=recording)]
    assignment = dataclasses.replace(a10.ASSIGNMENT, questions=[
        Question("q2", "seed", 2, ["train_and_predict"], checks, forbid=())])

    with torch_generator_kept():  # every prediction right: judged by the accuracy, then by the seed
        result, _ = stand_in({"train_and_predict": seeding_training(predict=np.arange)}, assignment=assignment)
        assert [c.passed for c in result.checks] == [True, True], result.checks
        assert "flagged for the instructor" in result.checks[0].message  # 100 %: judged by a10's own judge
        assert seen == [{}]
        result, _ = stand_in({"train_and_predict": seeding_training(fixed_seed=0, predict=np.arange)},
                             assignment=assignment)
        assert not result.checks[0].passed
        assert "PyTorch's seed after the call is 0, not the `seed` it was given" in result.checks[0].message

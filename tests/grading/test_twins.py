"""Public checks with fixed inputs (``softmax([1000, 1000])``) run in the grader on twins of them.

Students see every public check's inputs (``check.inputs``), so answers looked up from a table of
the fixed ones earned 46–57 % of a01, a02 and a09 while the grader ran those checks as shown (a red
team, 2026-12-07).  The grader now runs each on its twin (``Check.twin``): inputs of the same kind
drawn from the submission's seed.  Here: every fixed check has a twin; a twin has the shown
inputs' structure but other values and another answer; the solutions pass every twin; and every
wrong answer that fails a fixed check as check() shows it fails the twin too, with the same advice —
the twin keeps what the check is named for.
"""
from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from course_lib.grading import assignments
from course_lib.grading.assignments._util import is_fixed, varied
from course_lib.grading.runner import _prepare
from course_lib.grading.spec import compare
from course_lib.grading.student import Checker

from .helpers import solution_functions
from .test_known_mistakes import MISTAKES, _FromSolution
from .test_wrong_answers import WRONG, _with

IDS = [a.id for a in assignments.all_assignments()]
SEEDS = range(1, 41)


def _structure(value):
    """Types, shapes and dtypes, without the values."""
    if isinstance(value, np.ndarray):
        return ("array", value.shape, value.dtype.str)
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(_structure(item) for item in value))
    if isinstance(value, dict):
        return ("dict", tuple((key, _structure(item)) for key, item in value.items()))
    return type(value).__name__


def _fixed_public(assignment):
    return [check for question in assignment.questions for check in question.checks
            if not check.hidden and is_fixed(check.make_args)]


def test_the_red_teams_fixed_checks_are_all_found():
    """The count the red team measured: 60 public checks in a01, a02, a04, a05, a08 and a09."""
    found = {a.id: len(_fixed_public(a)) for a in assignments.all_assignments()}
    assert {key: count for key, count in found.items() if count} == {
        "a01": 20, "a02": 17, "a04": 3, "a05": 7, "a08": 3, "a09": 10}


@pytest.mark.parametrize("assignment_id", IDS)
def test_every_public_check_with_fixed_inputs_has_a_twin(assignment_id):
    lacking = [check.name for check in _fixed_public(assignments.get(assignment_id)) if check.twin is None]
    assert not lacking


@pytest.mark.parametrize("assignment_id", [a for a in IDS if _fixed_public(assignments.get(a))])
def test_a_twin_has_the_shown_structure_other_values_and_another_answer(assignment_id):
    assignment = assignments.get(assignment_id)
    shown = [item for item in _prepare(assignment, seed=0, include_hidden=False)]
    for seed in SEEDS:
        graded = [item for item in _prepare(assignment, seed, fresh_public=True) if not item.check.hidden]
        assert [item.check.name for item in graded] == [item.check.name for item in shown]
        for before, after in zip(shown, graded):
            if before.check.twin is None:
                continue
            name = f"seed {seed}, {before.check.name}"
            assert _structure((after.args, after.kwargs)) == _structure((before.args, before.kwargs)), name
            assert not compare(before.expected, after.expected, before.check.rtol, before.check.atol)[0], name


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id", [a for a in IDS if _fixed_public(assignments.get(a))])
def test_the_solution_passes_every_twin(assignment_id):
    assignment = assignments.get(assignment_id)
    namespace = solution_functions(assignment_id)
    failures = []
    for seed in range(1, 101):
        for item in _prepare(assignment, seed, fresh_public=True):
            if item.check.hidden or item.check.twin is None:
                continue
            with contextlib.redirect_stdout(io.StringIO()):
                passed, message = Checker._run_one(item, namespace)
            if not passed:
                failures.append(f"seed {seed}, {item.check.name}: {message}")
    assert not failures, "\n".join(failures[:5])


def _failures(assignment_id, question, namespace, seed=None) -> dict:
    """{check name: message} of the twinned public checks of ``question`` that ``namespace`` fails, on
    the inputs check() shows (``seed`` None) or on the grader's draw for ``seed``."""
    prepared = (_prepare(assignments.get(assignment_id), 0, include_hidden=False) if seed is None
                else _prepare(assignments.get(assignment_id), seed, fresh_public=True))
    failed = {}
    for item in prepared:
        if item.question.id == question and not item.check.hidden and item.check.twin is not None:
            with contextlib.redirect_stdout(io.StringIO()):
                passed, message = Checker._run_one(item, namespace)
            if not passed:
                failed[item.check.name] = message
    return failed


def _mistakes():
    """(id, assignment, question, namespace, words) for each known mistake and wrong answer whose
    question has fixed public checks."""
    twinned = {(a.id, q.id) for a in assignments.all_assignments() for q in a.questions
               if any(not c.hidden and c.twin is not None for c in q.checks)}
    for assignment_id, question, function, wrong, words in MISTAKES:
        if (assignment_id, question) in twinned:
            yield (f"{assignment_id}-{function}-{getattr(wrong, '__name__', 'wrapped').strip('_')}",
                   assignment_id, question, (function, wrong), words)
    for assignment_id, question, mistake, source, words in WRONG:
        if (assignment_id, question) in twinned:
            yield f"{assignment_id}-{question}-{mistake[:40]}", assignment_id, question, source, words


MISTAKEN = list(_mistakes())


def _namespace(assignment_id, wrong) -> dict:
    if isinstance(wrong, str):
        return _with(assignment_id, wrong)
    function, answer = wrong
    solution = solution_functions(assignment_id)
    return {**solution, function: answer.make(solution) if isinstance(answer, _FromSolution) else answer}


def test_there_are_mistakes_to_try_on_the_twins():
    assert len(MISTAKEN) >= 20


@pytest.mark.parametrize("case_id, assignment_id, question, wrong, words", MISTAKEN, ids=[m[0] for m in MISTAKEN])
def test_a_mistake_a_fixed_check_catches_fails_its_twin_with_the_same_advice(case_id, assignment_id, question,
                                                                              wrong, words):
    namespace = _namespace(assignment_id, wrong)
    shown = _failures(assignment_id, question, namespace)
    for seed in (1, 2, 3):
        graded = _failures(assignment_id, question, namespace, seed)
        assert shown.keys() <= graded.keys(), f"seed {seed}: passes the twin of {sorted(shown.keys() - graded.keys())}"
        for name, message in shown.items():
            if words in message:
                assert words in graded[name], f"seed {seed}, {name}: {graded[name]}"


def test_a_twin_varies_floats_but_keeps_integers_zeros_signs_and_keyword_arguments():
    def make(rng):
        return (np.array([[-1000.0, 0.0, 2.0]]), np.array([0, 2]), 0.5, [np.array([3.0, -4.0], np.float32)]), {"axis": 0}

    twin = varied(make)
    for seed in range(20):
        (x, labels, rate, (weights,)), kwargs = twin(np.random.default_rng(seed))
        assert kwargs == {"axis": 0} and labels.tolist() == [0, 2] and weights.dtype == np.float32
        assert sorted(np.sign(x[0])) == [-1, 0, 1] and 0.0 in x and np.abs(x).max() >= 900
        assert sorted(np.abs(weights)) != [3.0, 4.0] and 0.45 <= rate <= 0.56 and rate != 0.5
    (kept, targets), _ = varied(lambda rng: ((np.array([1.0, 2.0]), np.array([1.0, 0.0])), {}), at=(0,))(
        np.random.default_rng(0))
    assert targets.tolist() == [1.0, 0.0] and kept.tolist() != [1.0, 2.0]

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
import dataclasses
import io

import numpy as np
import pytest

from course_lib.grading import assignments, runner
from course_lib.grading.assignments._util import is_fixed, same_inputs, varied
from course_lib.grading.runner import _prepare
from course_lib.grading.spec import compare
from course_lib.grading.student import Checker

from .helpers import solution_functions
from .test_known_mistakes import MISTAKES, _FromSolution
from .test_wrong_answers import WRONG, _with

IDS = [a.id for a in assignments.all_assignments()]
SEEDS = range(1, 41)


def _structure(value):
    """Types, numbers of axes and dtypes, without the values (a09's twins draw more samples than shown
    where the case's name does not give their number)."""
    if isinstance(value, np.ndarray):
        return ("array", value.ndim, value.dtype.str)
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(_structure(item) for item in value))
    if isinstance(value, dict):
        return ("dict", tuple((key, _structure(item)) for key, item in value.items()))
    return type(value).__name__


def _fixed_public(assignment):
    return [check for question in assignment.questions for check in question.checks
            if not check.hidden and is_fixed(check.make_args)]


def _twinned(assignment_id, seeds=SEEDS):
    """``(seed, item)`` for every twinned public check of the grader's draw for each seed."""
    for seed in seeds:
        for item in _prepare(assignments.get(assignment_id), seed, fresh_public=True):
            if not item.check.hidden and item.check.twin is not None:
                yield seed, item


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


@pytest.mark.parametrize("assignment_id", [a for a in IDS if _fixed_public(assignments.get(a))])
def test_a_twins_answer_is_not_the_shown_one_reordered(assignment_id):
    """A table that reorders the shown answer as the twin's inputs are ordered (per row), or renames its
    classes as the twin's labels are renamed, earned 13 % of a01 and 39 % of a09 from twins that only
    scaled and shuffled saturated inputs or renamed classes (an audit): the numbers must differ."""
    shown = {item.check.name: item for item in _prepare(assignments.get(assignment_id), seed=0, include_hidden=False)}
    for seed, item in _twinned(assignment_id):
        before, after = runner._numbers(shown[item.check.name].expected), runner._numbers(item.expected)
        assert before.shape != after.shape or not np.allclose(before, after, rtol=1e-6, atol=1e-9), \
            f"seed {seed}, {item.check.name}"


def test_tables_the_audit_wrote_earn_nothing_from_the_twins():
    """Tables two audits wrote against the first twins: a naive softmax that turns its NaN into a one-hot
    of the maximum passed the [1000, 1000] twin (418 seeds in 500); a step-decay answer read off the
    epoch (lr × {25: 0.25, 9: 1, 20: 0.25}) passed all three (it still passes "epoch 9 of the same",
    whose answer is the initial rate itself, as any answer that returns it there does); the shown
    causal mask and encoding table cropped passed twins smaller than them (41 and 25 % of seeds); a
    cross-entropy of 0 passed the large-logit twin where the shuffle put +1000 on the label (33 %)."""
    def one_hot_softmax(x, axis=-1):
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(x)
            out = e / e.sum(axis=axis, keepdims=True)
        return np.where(np.isnan(out), (x == x.max(axis=axis, keepdims=True)).astype(x.dtype), out)

    def decay_from_a_table(initial_lr, epoch, step_size, gamma):
        return initial_lr * {25: 0.25, 9: 1.0, 20: 0.25}.get(epoch, 1.0)

    shown = {item.check.name: item.expected for a in ("a08",)
             for item in _prepare(assignments.get(a), seed=0, include_hidden=False)}

    def cropped_mask(size):  # the shown 4 × 4 mask's corner: right for sizes up to 4
        return shown["causal_mask: size 4"][:size, :size].copy()

    def cropped_table(max_len, d_model):  # the shown (4, 8) table's first rows: right for d_model 8 and up to 4
        return shown["positional_encoding: 4 positions, d_model 8 (after the call above)"][:max_len].copy()

    for assignment_id, function, answer, names in (
            ("a08", "causal_mask", cropped_mask, ("causal_mask: size 4",)),
            ("a08", "positional_encoding", cropped_table,
             ("positional_encoding: 4 positions, d_model 8 (after the call above)",)),
            ("a02", "cross_entropy", lambda logits, labels: 0.0, ("cross_entropy: large logits",
                                                                  "cross_entropy: rows on different scales: the "
                                                                  "maximum of each row")),
            ("a01", "softmax", one_hot_softmax, ("softmax: large logits [1000, 1000]",)),
            ("a04", "step_decay_lr", decay_from_a_table, ("step_decay_lr: epoch 25 of lr 0.1, halved every 10 epochs",
                                                          "step_decay_lr: epoch 20 of the same: the second halving "
                                                          "happens at epoch 20"))):
        namespace = {**solution_functions(assignment_id), function: answer}
        for seed, item in _twinned(assignment_id):
            if item.check.name in names:
                with contextlib.redirect_stdout(io.StringIO()):
                    assert not Checker._run_one(item, namespace)[0], f"seed {seed}, {item.check.name}"


def test_a_twin_that_keeps_giving_the_shown_answer_is_an_error_not_a_free_check():
    check = assignments.get("a01").questions[4].checks[1]  # softmax([1000, 1000])
    assert check.name == "softmax: large logits [1000, 1000]"
    broken = dataclasses.replace(check, twin=check.make_args)
    with pytest.raises(RuntimeError, match="gave the numbers of the shown inputs' answer 200 times"):
        runner._twin(broken, np.random.default_rng(0))


def test_twins_draw_from_streams_of_their_own():
    """However often a twin is drawn again, the random public checks' inputs stay those of the
    submission's seed: the same as with no twins at all (a fixed case draws nothing)."""
    assignment = assignments.get("a01")
    untwinned = dataclasses.replace(assignment, questions=[
        dataclasses.replace(question, checks=[dataclasses.replace(check, twin=None) for check in question.checks])
        for question in assignment.questions])
    for seed in (1, 2, 3):
        with_twins = _prepare(assignment, seed, fresh_public=True)
        without = _prepare(untwinned, seed, fresh_public=True)
        for item, other in zip(with_twins, without):
            if item.check.twin is None:
                assert same_inputs((item.args, item.kwargs), (other.args, other.kwargs)), item.check.name


def test_a_failed_public_check_says_on_which_inputs_the_grader_ran_it():
    """Failed twins were reported under names with values they did not have ("size 4", "[1000, 1000]"),
    and check.inputs gives the shown inputs, which pass (an audit): the message now writes the call."""
    from .helpers import build, grade

    naive = "def softmax(x, axis=-1):\n    e = np.exp(x)\n    return e / e.sum(axis=axis, keepdims=True)\n"
    result = grade(build(replace={"q5": naive}), seed=7)
    failed = {c.name: c.message for c in result.checks if c.question == "q5" and not c.passed and not c.hidden}
    message = failed["softmax: large logits [1000, 1000]"]
    assert "graded on inputs drawn for this submission, of the kind check() shows: softmax(np.array([" in message
    assert "1000.0, 1000.0" not in message
    assert all("graded on inputs drawn for this submission" in text for text in failed.values())
    # a passed check that ran on a twin says so too: its name still quotes the shown values
    passed = {c.name: c.message for c in result.checks if c.passed and not c.hidden}
    twinned = {check.name for question in assignments.get("a01").questions for check in question.checks
               if check.twin is not None and not check.hidden}
    assert twinned & set(passed), sorted(passed)
    for name, text in passed.items():
        if name in twinned:
            assert "\n(graded on inputs drawn for this submission, of the kind check() shows" in text, (name, text)
        else:
            assert "graded on inputs drawn" not in text, (name, text)


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id", [a for a in IDS if _fixed_public(assignments.get(a))])
def test_the_solution_passes_every_twin(assignment_id):
    namespace = solution_functions(assignment_id)
    failures = []
    for seed, item in _twinned(assignment_id, range(1, 101)):
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


def test_no_constant_answer_passes_a_twin():
    """relu′'s first twin drew five random signs: all negative in 1 draw of 32, where an answer of zeros
    passed (a table's fallback did, in one run of the suite in three)."""
    for assignment_id in [a for a in IDS if _fixed_public(assignments.get(a))]:
        for seed, item in _twinned(assignment_id):
            if not item.check.judge:
                numbers = runner._numbers(item.expected)
                assert numbers.size < 2 or numbers[0] != numbers[-1], f"seed {seed}, {item.check.name}"


def test_the_call_is_added_only_where_the_function_ran():
    """A missing function's message ("softmax is not defined …") got the call appended too (an audit)."""
    from .helpers import build, grade

    result = grade(build(replace={"q5": "pass"}), seed=7)
    messages = [c.message for c in result.checks if c.question == "q5" and not c.hidden]
    assert messages and not any("graded on inputs drawn" in message for message in messages), messages


def test_a09s_most_redrawn_twin_stays_far_from_the_limit():
    """Six pairs of three classes repeat the shown counts in 56 % of draws: seed 41931 needed more than the
    first limit of 20 draws, and grading stopped with an error (an audit)."""
    assert len(_prepare(assignments.get("a09"), 41931, fresh_public=True)) == 18

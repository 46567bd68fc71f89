"""Fair grading: each reference solution passes every hidden check for many seeds.

The grader draws each submission's hidden inputs from a fresh seed (``runner._prepare``), and
``test_assignments`` grades each solution with one such seed per run.  A check whose tolerance a
correct answer misses for some inputs would cost a student points by bad luck, and one run
rarely shows it.  Here each solution runs against the hidden checks of many fixed seeds — the
same inputs, comparisons and hints as the grader, through the self-check's runner
(``student.Checker``), in this process: the solutions are trusted code, so no sandbox.  A sweep
of 5,000 seeds per assignment (a03: 1,000; 2026-12-05) found no failure; a10 is left to
``test_assignments`` (each of its hidden checks trains a model).
"""
from __future__ import annotations

import contextlib
import io

import pytest

from course_lib.grading import assignments
from course_lib.grading.runner import _prepare
from course_lib.grading.student import Checker

from .helpers import solution_functions

pytestmark = pytest.mark.slow

SEEDS = {"a03": range(1, 21)}  # its hidden checks run gradient checks: 0.3 s per seed
DEFAULT_SEEDS = range(1, 101)
IDS = [a.id for a in assignments.all_assignments() if a.id != "a10"]


@pytest.mark.parametrize("assignment_id", IDS)
def test_solution_passes_every_hidden_check_for_many_seeds(assignment_id):
    assignment = assignments.get(assignment_id)
    namespace = solution_functions(assignment_id)
    failures, count = [], 0
    for seed in SEEDS.get(assignment_id, DEFAULT_SEEDS):
        for item in _prepare(assignment, seed):
            if not item.check.hidden:
                continue
            with contextlib.redirect_stdout(io.StringIO()):
                passed, message = Checker._run_one(item, namespace)
            count += 1
            if not passed:
                failures.append(f"seed {seed}, {item.check.name}: {message}")
    assert count >= len(SEEDS.get(assignment_id, DEFAULT_SEEDS))  # every assignment has hidden checks
    assert not failures, "\n".join(failures[:5])

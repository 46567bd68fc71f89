"""Every assignment: the solution scores full marks, the generated exercise scores 0, and
the notebooks agree with the grader's specification (question ids, points, functions)."""
from __future__ import annotations

import json

import pytest

from course_lib.grading import assignments
from course_lib.grading.assign import BEGIN, run

from .helpers import FAST, SOLUTIONS, build, grade

pytestmark = pytest.mark.slow
IDS = [a.id for a in assignments.all_assignments()]


def _limits(assignment):
    # the training questions need their own (longer) call budget
    return FAST.__class__(**{**FAST.__dict__, "call_timeout_s": max(FAST.call_timeout_s, assignment.call_timeout_s),
                             "cell_timeout_s": assignment.cell_timeout_s, "memory_bytes": assignment.memory_bytes,
                             "question_timeout_s": assignment.question_timeout_s,
                             "total_timeout_s": assignment.total_timeout_s})


@pytest.mark.parametrize("assignment_id", IDS)
def test_solution_scores_full_marks(assignment_id):
    assignment = assignments.get(assignment_id)
    result = grade(build(assignment_id), assignment_id, limits=_limits(assignment))
    failed = [(c.name, c.message) for c in result.checks if not c.passed]
    assert not failed
    assert result.score == result.max_score == assignment.max_score
    assert not [n for n in result.notes if "raised" in n], result.notes  # the solution runs cleanly


@pytest.mark.parametrize("assignment_id", IDS)
def test_untouched_exercise_scores_zero(assignment_id):
    assignment = assignments.get(assignment_id)
    result = grade(build(assignment_id, template=True), assignment_id, limits=_limits(assignment))
    assert result.score == 0.0
    assert all(q["status"] == "not attempted" for q in result.questions.values())


@pytest.mark.parametrize("assignment_id", IDS)
def test_notebook_metadata_matches_the_grader(assignment_id):
    assignment = assignments.get(assignment_id)
    notebook = json.loads((SOLUTIONS / assignment.notebook).read_text())
    assert notebook["metadata"]["course"]["assignment"] == assignment.id
    found = {}
    for cell in notebook["cells"]:
        course = cell.get("metadata", {}).get("course", {})
        assert not cell.get("outputs"), "notebooks are stored without outputs"
        if cell["cell_type"] == "code" and "question" in course and "role" not in course:
            assert BEGIN in cell["source"], f"{course['question']} has no solution region"
            found[course["question"]] = (course["points"], course["functions"])
    expected = {q.id: (q.points, q.functions) for q in assignment.questions}
    assert found == expected
    sources = [c["source"] for c in notebook["cells"] if c["cell_type"] == "code"]
    assert any("np.random.seed" in s or "default_rng" in s for s in sources[:2]), "a seed at the top"
    for question in assignment.questions:
        assert any(f'check("{question.id}")' in s for s in sources), f"no self-check cell for {question.id}"


def test_committed_exercises_are_generated_from_solutions():
    assert run(check=True) == []


def test_assign_check_detects_drift(tmp_path):
    exercises = tmp_path / "exercises"
    assert run(check=False, exercises_dir=exercises) == []
    name = sorted(exercises.glob("*.ipynb"))[0]
    assert run(check=True, exercises_dir=exercises) == []
    name.write_text(name.read_text().replace("NotImplementedError", "NotImplementedError ", 1))
    assert run(check=True, exercises_dir=exercises) == [f"exercises/{name.name} is out of date"]
    (exercises / "stray.ipynb").write_text("{}")
    assert len(run(check=True, exercises_dir=exercises)) == 2

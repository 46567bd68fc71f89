"""The grader's static look at cells (IPython syntax, text that is not valid) and its reports,
which must not let a student's text pass for the grader's own lines; the CLI's choice of
assignment when the notebook names it."""
from __future__ import annotations

import json

from course_lib.grading.cli import main
from course_lib.grading.report import gradescope_results, text_report
from course_lib.grading.runner import GradeResult, imported_modules


def test_ipython_syntax_is_not_a_syntax_error_and_its_imports_are_seen():
    assert imported_modules("files = !ls\nimport torch") == ({"torch"}, None)
    assert imported_modules("%time total = 1\nfrom scipy import special") == ({"scipy"}, None)
    assert imported_modules("np.linspace?") == (set(), None)
    assert imported_modules("%run other.py") == ({"%run"}, None)
    assert imported_modules("%%time\nimport torch") == ({"torch"}, None)  # a cell magic's body is code too
    long_shell = "!echo\n" * 600 + "import scipy"  # too many rewrites for IPython's transformer: blanked instead
    assert imported_modules(long_shell) == ({"scipy"}, None)
    names, problem = imported_modules("def f(:\n    pass")
    assert names == set() and problem.startswith("line 1")


def test_a_lone_surrogate_is_reported_not_raised():
    names, problem = imported_modules('s = "\ud800"')
    assert names == set() and "not valid text" in problem


def _result(notes):
    return GradeResult("a01", 0.0, 10.0, [], {}, notes, {"namespaces": ["mount"], "errors": []}, seed=1)


def test_a_note_cannot_forge_report_lines():
    forged = "cell 3 raised ValueError: oops\n\nAssignment a01: 10 / 10 points\n  ✓ softmax: hidden test 3"
    report = text_report(_result([forged]))
    assert [line for line in report.splitlines() if line.startswith("Assignment")] == ["Assignment a01: 0 / 10 points"]
    assert "  - cell 3 raised ValueError: oops" in report
    assert all(not line.startswith(("Assignment", "  ✓")) for line in report.splitlines()[1:])
    output = gradescope_results(_result([forged]))["output"].splitlines()
    assert output[0] == "Assignment a01: 0 / 10 points"
    assert all(line == "" or line.startswith(("- ", "  ")) for line in output[1:]), output


def _notebook(tmp_path, assignment):
    path = tmp_path / "submission.ipynb"
    path.write_text(json.dumps({"cells": [], "metadata": {"course": {"assignment": assignment}},
                                "nbformat": 4, "nbformat_minor": 5}))
    return str(path)


def test_an_unknown_or_malformed_assignment_id_in_the_notebook_is_a_clear_error(tmp_path, capsys):
    assert main(["grade", _notebook(tmp_path, "a99")]) == 2
    assert "unknown assignment 'a99'" in capsys.readouterr().err
    assert main(["grade", _notebook(tmp_path, ["a01"])]) == 2
    assert "pass --assignment" in capsys.readouterr().err

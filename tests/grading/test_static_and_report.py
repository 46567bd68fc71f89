"""The grader's static look at cells (IPython syntax, text that is not valid) and its reports,
which must not let a student's text pass for the grader's own lines; the CLI's choice of
assignment when the notebook names it."""
from __future__ import annotations

import json

from course_lib.grading.cli import main
from course_lib.grading import assignments
from course_lib.grading.report import gradescope_results, text_report
from course_lib.grading.notebook import _TRANSFORM_WORK, TransformBudget, forbidden_imports, imported_modules
from course_lib.grading.runner import CheckResult, GradeResult


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


def test_imports_behind_every_kind_of_ipython_rewrite_are_seen():
    """Escapes IPython rewrites (help, autocall, quoting), code run by a line magic, and indented magics."""
    for cell in ("?a\nimport torch", "/print 1\nimport torch", ",f a b\nimport torch", ";f a b\nimport torch",
                 "obj?\nimport torch", "%time import torch", "%timeit -n 1 -r 2 import torch",
                 "for i in range(2):\n    %time i\n    import torch"):
        assert imported_modules(cell)[0] == {"torch"}, cell
    many = "\n".join(["?a"] * 499 + ["import torch"])  # too many rewrites: blanked, and still read
    assert imported_modules(many)[0] == {"torch"}
    # blanking leaves Python alone: continuation lines that start with / or , and a string's line ending in ?
    python = 'y = (1\n     / 2,\n     3)\ntext = """Why?\nbecause"""\nimport torch\n'
    assert imported_modules("%time x = 1\n" * 60 + python) == ({"torch"}, None)


def test_a_submodule_import_module_and_load_count_as_their_package():
    """What a question forbids is a package: `import torch.nn` imports torch, and so do
    importlib.import_module("torch.nn") and %load, which pastes a file's code into the cell (a
    mutation audit found each of these unseen)."""
    assert imported_modules("import torch.nn") == ({"torch"}, None)
    assert imported_modules("import torch.nn.functional as F, scipy.special") == ({"torch", "scipy"}, None)
    assert imported_modules('import importlib\nimportlib.import_module("torch.nn")') == ({"importlib", "torch"}, None)
    assert imported_modules('from importlib import import_module\nsk = import_module("sklearn")') == \
        ({"importlib", "sklearn"}, None)
    assert imported_modules('np = __import__("numpy.linalg")') == ({"numpy"}, None)
    assert imported_modules("%load helpers.py") == ({"%load"}, None)
    assert imported_modules("x = 1\n%load -r 1-5 helpers.py") == ({"%load"}, None)
    softmax = assignments.get("a01").question("q5")
    assert forbidden_imports({"torch", "numpy", "%load"}, softmax) == ["torch", "%load"]


def test_run_or_load_mentioned_in_a_string_is_not_a_magic():
    """A docstring line `%run -t bench.py (gave 3 ms)` gave a correct notebook 0 (red team): IPython only
    rewrites a magic that starts a statement, never one inside a string."""
    docstring = 'def tanh_derivative(x):\n    """1 - tanh².\n\n    %run -t bench.py   (gave 3 ms)\n    """\n    return x\n'
    assert imported_modules(docstring) == (set(), None)
    assert imported_modules('notes = """\n%load helpers.py\n"""') == (set(), None)
    assert imported_modules("if True:\n    %run other.py") == ({"%run"}, None)  # indented: still a magic
    assert imported_modules("get_ipython().run_line_magic('load', 'helpers.py')") == ({"%load"}, None)
    blanked = "!echo\n" * 600 + "%run other.py"  # the rewriting budget ran out: the line is still seen
    assert imported_modules(blanked)[0] == {"%run"}
    # an audit: help on %run, %load_ext and a %%writefile body are no runs, whether rewritten or not
    for cell in ("%run?", "%load_ext autoreload", "%%writefile helper.py\n%run other.py\n"):
        assert "%run" not in imported_modules(cell)[0] and "%load" not in imported_modules(cell)[0], cell
    assert "%load" not in imported_modules("!echo\n" * 600 + "%load_ext autoreload")[0]


def test_the_ipython_rewriting_of_one_notebook_has_a_budget(monkeypatch):
    """IPython re-reads a whole cell for every line it rewrites: a notebook of large cells full of
    magics cost minutes of grader time before its kernel started (red-team finding).  Each cell is
    charged bytes × rewritten lines; once the notebook's budget is spent, cells are blanked instead."""
    from IPython.core.inputtransformer2 import TransformerManager

    calls = []
    original = TransformerManager.transform_cell
    monkeypatch.setattr(TransformerManager, "transform_cell", lambda self, cell: calls.append(1) or original(self, cell))
    cell = "\n".join(["%time a = 1"] * 40 + ["a = 1"] * 1000 + ["import torch"])  # 10 KB, 40 rewrites
    budget = TransformBudget()
    per_cell = len(cell) * 41
    assert all(imported_modules(cell, budget)[0] == {"torch"} for _ in range(20))
    assert 0 < len(calls) <= _TRANSFORM_WORK // per_cell < 20  # the rest were blanked, their imports still seen
    assert budget.left < per_cell


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


def test_the_text_report_shows_a_hidden_checks_feedback_only_when_asked():
    """Feedback on a hidden check can hold its hidden input: the report a student may be shown
    names the check and whether it passed, nothing more; ``--show-hidden`` is for instructors."""
    checks = [CheckResult("q5", "softmax: rows of a (2, 3) array", False, False, 0.0, 1.0, "public feedback"),
              CheckResult("q5", "softmax: hidden test 1", True, False, 0.0, 1.0, "got 0.5 for the input [800.25, 3.5]"),
              CheckResult("q5", "softmax: hidden test 2", True, True, 1.0, 1.0, "correct")]
    result = GradeResult("a01", 1.0, 3.0, checks, {"q5": {"title": "A numerically stable softmax", "score": 1.0,
                                                          "max_score": 3.0, "status": "failed"}},
                         [], {"namespaces": ["mount"], "errors": []}, seed=1)
    report = text_report(result)
    assert "  ✗ softmax: hidden test 1" in report and "  ✓ softmax: hidden test 2" in report
    assert "public feedback" in report and "800.25" not in report and "got 0.5" not in report
    assert "      got 0.5 for the input [800.25, 3.5]" in text_report(result, show_hidden=True)
    assert "800.25" not in gradescope_results(result)["output"]
    # the seed that reproduces the grade, for the course staff (an audit: only stderr had it)
    assert gradescope_results(result)["extra_data"]["seed"] == result.seed


def test_results_json_lists_feedback_only_for_failed_hidden_checks_and_times_the_whole_grade():
    """A passed hidden check has one line and no "(feedback)" line after the due date; the execution
    time is the whole grade's (``total_s``), not the kernel's share of it."""
    checks = [CheckResult("q5", "softmax: hidden test 1", True, False, 0.0, 1.0, "got 0.5"),
              CheckResult("q5", "softmax: hidden test 2", True, True, 1.0, 1.0, "correct"),
              CheckResult("q5", "softmax: rows", False, True, 1.0, 1.0, "correct")]
    result = GradeResult("a01", 2.0, 3.0, checks, {"q5": {"title": "softmax", "score": 2.0, "max_score": 3.0,
                                                          "status": "failed"}},
                         [], {"namespaces": ["mount"], "errors": []}, seed=1,
                         timings={"total_s": 5.0, "kernel_s": 2.0})
    results = gradescope_results(result)
    names = [test["name"] for test in results["tests"]]
    assert names == ["q5: softmax: hidden test 1", "q5: softmax: hidden test 1 (feedback)",
                     "q5: softmax: hidden test 2", "q5: softmax: rows"]
    assert results["execution_time"] == 5.0


def test_six_decimal_rounding_gives_the_missing_unit_to_the_largest_remainder():
    from course_lib.grading.report import _six_decimals

    assert _six_decimals([4e-7, 6e-7], 1e-6) == [0.0, 1e-6]
    assert _six_decimals([10 / 3] * 3, 10.0) == [3.333334, 3.333333, 3.333333]

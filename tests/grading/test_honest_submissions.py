"""Correct work that arrives in an unusual shape keeps its points, and a failure names its real cause.

Found by an audit that looked for false negatives (correct answers marked wrong): each case here
lost points or got a misleading message before its fix.
"""
from __future__ import annotations

import copy
import io
import json
import re
import zipfile

import pytest

from course_lib.grading.submissions import collect

from .helpers import build, grade, messages, question_cell, question_score, solution, zip_of

pytestmark = pytest.mark.slow


def test_cells_that_lost_their_metadata_are_still_the_assignments_own():
    """A notebook copied cell by cell into a fresh one has no metadata: its set-up cell imports
    course_lib, which as the student's own code would cost every question."""
    notebook = copy.deepcopy(solution("a01"))
    for cell in notebook["cells"]:
        cell["metadata"] = {}
    result = grade(json.dumps(notebook).encode(), "a01", seed=1)
    assert result.score == result.max_score, [(c.name, c.message) for c in result.checks if not c.passed]
    assert any("lost their metadata" in note for note in result.notes), result.notes
    # its comment dropped and its blank line gone (a code formatter): still the assignment's own lines
    # (an audit, 2026-12-07: only the exact source was recognised, and this notebook scored 0)
    notebook["cells"][2]["source"] = 'from course_lib.grading import checker\ncheck = checker("a01")\n'
    tidied = grade(json.dumps(notebook).encode(), "a01", seed=1)
    assert tidied.score == tidied.max_score, [(c.name, c.message) for c in tidied.checks if not c.passed]
    # the set-up cell's code changed: no longer the assignment's own, so its import counts
    notebook["cells"][2]["source"] = "from course_lib.grading import checker\ncheck = checker('a01')  # mine"
    changed = grade(json.dumps(notebook).encode(), "a01", seed=1)
    assert changed.score == 0 and "no question may use course_lib" in messages(changed, "q1")


def test_an_edited_demo_cell_that_lost_its_metadata_is_still_a_demo_cell():
    """An audit: a03 with its metadata gone and the demo's epochs=300 changed to 2000 scored 0 of 10 — the
    demo, no longer matching the template, counted as the student's code, and its course_lib import
    with it — while check() was all green; with the metadata, the same edit scored 10 (a note)."""
    notebook = copy.deepcopy(solution("a03"))
    for cell in notebook["cells"]:
        cell["metadata"] = {}
    demo = next(cell for cell in notebook["cells"]
                if cell["cell_type"] == "code" and "make_spirals(" in "".join(cell["source"]))
    demo["source"] = "".join(demo["source"]).replace("epochs=300", "epochs=2000")
    result = grade(json.dumps(notebook).encode(), "a03", seed=1)
    assert result.score == result.max_score, [(c.name, c.message) for c in result.checks if not c.passed]
    assert any("demo cell, which the grader skips" in note for note in result.notes), result.notes
    # a cell of the student's with check.demo() and a function of its own is the student's code: it runs
    demo["source"] = demo["source"].replace("from course_lib.data import make_spirals", "def helper():\n    pass")
    kept = grade(json.dumps(notebook).encode(), "a03", seed=1)
    assert kept.score == kept.max_score and not any("demo cell, which" in note for note in kept.notes), kept.notes


def test_answer_cells_that_try_their_function_out_under_check_demo_are_still_answers():
    """An audit of the mend above: its first version skipped any cell holding `with check.demo():` and no
    top-level def — an answer cell that kept its metadata and defined its function as a lambda, a helper
    cell of lambdas, a def indented under an if — and q1 fell from 2 to 0."""
    lambda_answer = ("_forward = mlp_forward\nmlp_forward = lambda x, W1, b1, W2, b2: _forward(x, W1, b1, W2, b2)\n"
                     "with check.demo():\n    print(mlp_forward(np.ones((1, 4)), np.ones((5, 4)), np.zeros(5), "
                     "np.ones((3, 5)), np.zeros(3)))\n")
    indented = "if True:\n    def twice(z):\n        return 2 * z\nwith check.demo():\n    print(twice(1))\n"
    for notebook in (build("a03", after=[lambda_answer]), build("a03", after=[indented])):
        plain = json.loads(notebook)
        for cell in plain["cells"][-1:]:
            cell["metadata"] = {}  # a cell of the student's own: no metadata at all
        result = grade(json.dumps(plain).encode(), "a03", seed=1)
        assert result.score == result.max_score, [(c.name, c.message) for c in result.checks if not c.passed]
        assert not any("demo cell" in note for note in result.notes), result.notes
    marked = json.loads(build("a03"))
    answer = question_cell(marked, "q1")
    answer["source"] = "".join(answer["source"]) + "\n" + lambda_answer  # metadata kept: the question's cell
    result = grade(json.dumps(marked).encode(), "a03", seed=1)
    assert question_score(result, "q1") == 2, messages(result, "q1")


def test_a_namedtuple_is_a_tuple():
    wrapper = ("from collections import namedtuple\n\n"
               "Scores = namedtuple('Scores', 'precision recall f1')\n"
               "_plain = precision_recall_f1\n\n\n"
               "def precision_recall_f1(*args, **kwargs):\n"
               "    return Scores(*_plain(*args, **kwargs))\n")
    result = grade(build("a09", after=[wrapper]), "a09", seed=1)
    assert question_score(result, "q2") == 3, messages(result, "q2")


def test_variables_named_like_builtins_do_not_fail_correct_answers():
    """`type = "sigmoid"` or `range = (-5.0, 5.0)` in a notebook: the harness was defined in the
    student's namespace, so its own `type(...)` and `range(...)` found these — 0 of 10 with "no return
    value came back", while check() passed everything (an audit, 2026-12-07)."""
    shadows = ('type = "sigmoid"\nrange = (-5.0, 5.0)\nlist = [1, 2, 3]\ntuple = len = int = float = 0\n'
               'isinstance = zip = all = str = dict = callable = None\n')
    result = grade(build("a01", after=[shadows]), "a01", seed=1)
    assert result.score == result.max_score, [(c.name, c.message) for c in result.checks if not c.passed]


def _with_cell_edited(assignment_id, edit):
    """The solution, with ``edit(cell)`` applied to each of its check and demo cells."""
    notebook = copy.deepcopy(solution(assignment_id))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code" and cell.get("metadata", {}).get("course", {}).get("role"):
            edit(cell)
    return notebook


def test_code_a_student_adds_to_a_check_cell_is_run():
    """`import math` added under `check = checker("a08")` (the text suggests math.sqrt) ran in Jupyter,
    and the grader skipped it with the cell: q1 scored 0 with "NameError: name 'math' is not defined"
    (a false-negative audit, 2026-12-06).  A course_lib import written there is still not the student's."""
    def edit(cell):
        if "checker(" in "".join(cell["source"]):
            cell["source"] = "".join(cell["source"]) + "\nimport math\nfrom course_lib.scratch import Linear\n"

    notebook = _with_cell_edited("a08", edit)
    uses_math = ("_attention = attention\n\n\ndef attention(query, key, value, mask):\n"
                 "    assert math.sqrt(4.0) == 2.0\n    return _attention(query, key, value, mask)\n")
    notebook["cells"].append({"cell_type": "code", "metadata": {}, "source": uses_math, "outputs": [],
                              "execution_count": None})
    result = grade(json.dumps(notebook).encode(), "a08", seed=1)
    assert result.score == result.max_score, [(c.name, c.message) for c in result.checks if not c.passed]
    assert any("this check cell also holds code of yours" in note for note in result.notes), result.notes


def test_code_in_a_demo_cell_is_named_as_not_run():
    def edit(cell):
        if cell["metadata"]["course"]["role"] == "demo":
            cell["source"] = "my_value = 3\n" + "".join(cell["source"])

    notebook = _with_cell_edited("a04", edit)
    result = grade(json.dumps(notebook).encode(), "a04", seed=1)
    assert result.score == result.max_score
    assert any("is a demo cell, which the grader skips" in note for note in result.notes), result.notes


def test_check_inputs_and_check_demo_in_an_answer_cell_do_not_stop_it():
    """The failure messages of check() suggest `args, kwargs = check.inputs("q3", 2)`; in the grader
    `check` had no `inputs`, the cell stopped before its def, and q3 scored 0 (audit, 2026-12-06)."""
    answer = ('args, kwargs = check.inputs("q3", 2)\nwith check.demo():\n    raise NotImplementedError("later")\n\n'
              + "".join(question_cell(solution("a02"), "q3")["source"]))
    result = grade(build("a02", replace={"q3": answer}), "a02", seed=1)
    assert question_score(result, "q3") == result.questions["q3"]["max_score"], messages(result, "q3")


def test_a_list_where_a_pair_is_written_as_a_tuple_is_the_same_answer():
    wrapper = ("_plain = precision_recall_f1\n\n\n"
               "def precision_recall_f1(*args, **kwargs):\n"
               "    return list(_plain(*args, **kwargs))\n")
    result = grade(build("a09", after=[wrapper]), "a09", seed=1)
    assert question_score(result, "q2") == 3, messages(result, "q2")


@pytest.mark.parametrize("assignment_id, question, functions", [("a05", "q3", ["dropout_forward", "dropout"]),
                                                                ("a03", "q4", ["train_mlp"])])
def test_a_list_for_a_written_tuple_keeps_the_points_of_answers_judged_by_a_rule(assignment_id, question, functions):
    """The rules judging a05's dropout and a03's trained weights asked for a tuple, where every other
    check takes a list as the same answer: check() and the grader both took 1.33 of a05 q3's 3 points
    (an audit, 2026-12-07)."""
    wrappers = "".join(f"_plain_{name} = {name}\n\n\ndef {name}(*args, **kwargs):\n"
                       f"    return list(_plain_{name}(*args, **kwargs))\n\n\n" for name in functions)
    result = grade(build(assignment_id, after=[wrappers]), assignment_id, seed=1)
    assert question_score(result, question) == result.questions[question]["max_score"], messages(result, question)


def test_a_module_the_notebook_writes_itself_can_be_imported():
    helper = ("%%writefile my_softmax.py\nimport numpy as np\n\n\ndef softmax(x, axis=-1):\n"
              "    shifted = np.exp(x - np.max(x, axis=axis, keepdims=True))\n"
              "    return shifted / shifted.sum(axis=axis, keepdims=True)\n")
    result = grade(build("a01", replace={"q5": "from my_softmax import softmax"}, before=[helper]), "a01", seed=1)
    assert question_score(result, "q5") == 3, messages(result, "q5")


def test_a_function_whose_cell_failed_is_reported_with_the_cells_error():
    failing = "import a_module_that_is_not_there\n\n\ndef softmax(x, axis=-1):\n    return x\n"
    result = grade(build("a01", replace={"q5": failing}), "a01", seed=1)
    text = messages(result, "q5")
    # the cell is named by its first line too: its number counts markdown cells, which Jupyter does not show
    assert re.search(r"softmax is not defined: cell \d+ \(`import a_module_that_is_not_there`\), which defines "
                     r"it, raised ModuleNotFoundError", text), text


def test_a_syntax_error_is_noted_once_with_the_cells_first_line():
    """A workflow audit: the static scan noted 'cell 14 has a syntax error (…)' and running the cell
    noted 'cell 14 raised SyntaxError: …' again."""
    broken = "# my softmax\ndef softmax(x, axis=-1)\n    return x\n"
    result = grade(build("a01", replace={"q5": broken}), "a01", seed=1)
    about = [note for note in result.notes if "SyntaxError" in note or "syntax error" in note]
    assert len(about) == 1 and re.fullmatch(r"cell \d+ \(`# my softmax`\) has a syntax error \(line 2: .*\)", about[0]), about
    assert "which defines it, raised SyntaxError" in messages(result, "q5")


def test_a_later_draft_that_replaces_an_answer_is_named_in_the_notes():
    draft = "def softmax(x, axis=-1):\n    e = np.exp(x)\n    return e / e.sum(axis=axis, keepdims=True)\n"
    result = grade(build("a01", after=["raise SystemExit('Run All stops here')", draft]), "a01", seed=1)
    assert question_score(result, "q5") < 3  # the grader runs every cell: the draft is what it grades
    assert any(note.startswith("softmax is defined in cells") and "was graded" in note for note in result.notes)


def test_a_zipped_folder_with_jupyter_checkpoints_holds_one_notebook(tmp_path):
    good = build()
    (tmp_path / "bob.zip").write_bytes(zip_of([("bob/a01_activations.ipynb", good, None),
                                               ("bob/.ipynb_checkpoints/a01_activations-checkpoint.ipynb", good, None),
                                               (".DS_Store/x.ipynb", good, None)]))
    (submission,) = collect(tmp_path)
    assert submission.student == "bob" and submission.problem is None and submission.data == good


def _without_utf8_flags(data: bytes) -> bytes:
    """The zip as Info-ZIP on Linux or macOS writes it: UTF-8 names without the UTF-8 flag."""
    data = bytearray(data)
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = data.find(signature)
        while start != -1:
            data[start + flag_at + 1] &= 0xFF ^ 0x08  # bit 11 of the little-endian flags: 0x08 of the high byte
            start = data.find(signature, start + 4)
    return bytes(data)


def test_names_in_a_zip_and_their_unicode_forms_stay_one_student_each(tmp_path):
    """Found by an audit: a class zip made with `zip -r` turned 'Zoë' into 'Zo├½', a new student, and
    'José' typed with a decomposed é was a second José; '.IPYNB' files were ignored."""
    good = build()
    data = _without_utf8_flags(zip_of([("Zoë/a01.ipynb", good, None), ("Jose\u0301.ipynb", good, None),
                                       ("KIM.IPYNB", good, None)]))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert "Zo├½/a01.ipynb" in archive.namelist()  # what Python reads without the flag
    (tmp_path / "class.zip").write_bytes(data)
    students = {submission.student: submission for submission in collect(tmp_path / "class.zip")}
    assert set(students) == {"Zoë", "Jos\u00e9", "KIM"}
    assert all(submission.data == good for submission in students.values())

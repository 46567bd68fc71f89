"""The grading commands as a user runs them (``course-lib grade`` …) and the Gradescope package."""
import json
import re
import zipfile
from pathlib import Path

import pytest

from course_lib.grading.cli import main

from .helpers import REPO, build, zip_of

pytestmark = pytest.mark.slow


def test_grade_prints_a_report_and_writes_results_json(tmp_path, capsys):
    submission = tmp_path / "alice.ipynb"
    submission.write_bytes(build(replace={"q5": "def softmax(x, axis=-1):\n    return np.exp(x) / np.exp(x).sum(axis=axis, keepdims=True)"}))
    results = tmp_path / "results.json"
    # no --assignment: read from the notebook's metadata
    assert main(["grade", str(submission), "--json", str(results)]) == 0
    out, err = capsys.readouterr()
    assert re.search(r"seed \d+: `--seed \d+` grades", err), err  # to reproduce the hidden inputs
    assert out.startswith("Assignment a01: ")
    assert "q5 — A numerically stable softmax" in out and "subtract the maximum" in out
    written = json.loads(results.read_text())
    assert {"score", "execution_time", "output", "tests"} <= set(written)
    assert 7.0 < written["score"] < 10.0
    hidden = [t for t in written["tests"] if "hidden" in t["name"] and "(feedback)" not in t["name"]]
    assert hidden and all(t["output"] in ("passed", "failed") for t in hidden)


def test_grade_without_an_assignment_id_asks_for_one(tmp_path, capsys):
    submission = tmp_path / "x.ipynb"
    submission.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": []}))
    assert main(["grade", str(submission)]) == 2
    assert "--assignment" in capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [
    (["grade", "{tmp}/missing.ipynb"], "cannot read the submission"),
    (["grade", "{tmp}", "--assignment", "a01"], "cannot read the submission"),
    (["grade", "{tmp}/x.ipynb", "--assignment", "a99"], "unknown assignment 'a99'; known: a01"),
    (["grade-batch", "{tmp}/missing", "--assignment", "a01", "--db", "{tmp}/g.sqlite"], "neither a folder nor a zip"),
    (["grade-batch", "{tmp}", "--assignment", "a99", "--db", "{tmp}/g.sqlite"], "unknown assignment 'a99'"),
    (["grade-batch", "{tmp}", "--assignment", "a01", "--db", "{tmp}/x.ipynb/g.sqlite"], "is a file, not a folder"),
    (["gradescope-package", "a99"], "unknown assignment 'a99'"),
    (["gradebook", "export", "--db", "{tmp}/g.sqlite", "--assignment", "a99", "--csv", "{tmp}/c.csv"], "unknown assignment"),
    (["gradebook", "export", "--db", "{tmp}", "--csv", "{tmp}/c.csv"], "cannot open the gradebook"),
    (["gradebook", "export", "--db", "{tmp}/x.ipynb", "--csv", "{tmp}/c.csv"], "cannot open the gradebook"),
    (["gradebook", "export", "--db", "{tmp}/g.sqlite", "--csv", "{tmp}"], "is a folder"),
    (["grade-batch", "{tmp}", "--assignment", "a01", "--db", "{tmp}/g.sqlite", "--csv", "{tmp}"], "is a folder"),
    (["grade-batch", "{tmp}/broken.zip", "--assignment", "a01", "--db", "{tmp}/g.sqlite"], "could not be read"),
    (["grade", "{tmp}/x.ipynb", "--json", "{tmp}/missing/r.json"], "does not exist"),
    (["grade", "{tmp}/x.ipynb", "--json", "{tmp}"], "is a folder"),
    (["gradebook", "export", "--db", "{tmp}/g.sqlite", "--csv", "{tmp}/x.ipynb/c.csv"], "is a file, not a folder"),
    (["grade-batch", "{tmp}", "--assignment", "a01", "--db", "{tmp}/g.sqlite", "--csv", "{tmp}/x.ipynb/c.csv"],
     "is a file, not a folder"),
    (["gradebook", "export", "--db", "{tmp}/g.sqlite", "--results", "{tmp}/r", "--excel"], "pass --csv too"),
])
def test_mistyped_commands_get_one_clear_line_not_a_traceback(tmp_path, capsys, argv, words):
    (tmp_path / "x.ipynb").write_bytes(build())
    (tmp_path / "g.sqlite").write_bytes(b"")
    whole = zip_of([("a.ipynb", build(), None)])
    (tmp_path / "broken.zip").write_bytes(whole[:30] + b"\0" * 200 + whole[-22:])  # its end intact, the rest not
    assert main([arg.format(tmp=tmp_path) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and "Traceback" not in err, err


def test_gradebook_export_takes_an_assignment_as_grade_batch_does(tmp_path, capsys):
    from course_lib.grading.gradebook import open_gradebook, record
    from course_lib.grading.submissions import Submission
    from course_lib.grading.runner import unreadable_result
    from course_lib.grading import assignments

    db = tmp_path / "g.sqlite"
    record(open_gradebook(db), Submission("zoe", "zoe.ipynb", None, "broken"),
           unreadable_result(assignments.get("a01"), "broken"), "hash")
    assert main(["gradebook", "export", "--db", str(db), "--assignment", "a01_activations", "--csv", str(tmp_path / "c.csv")]) == 0
    assert "wrote 1 rows" in capsys.readouterr().out
    csv_path = tmp_path / "excel.csv"
    assert main(["gradebook", "export", "--db", str(db), "--csv", str(csv_path), "--excel"]) == 0
    assert csv_path.read_bytes().startswith(b"\xef\xbb\xbfassignment,student,")  # Excel then reads UTF-8
    assert (tmp_path / "c.csv").read_bytes().startswith(b"assignment,")  # and only then
    assert main(["gradebook", "export", "--db", str(db), "--results", str(csv_path)]) == 2  # a file, not a folder
    assert "is a file, not a folder" in capsys.readouterr().err


def test_gradescope_package(tmp_path):
    output = tmp_path / "a03.zip"
    assert main(["gradescope-package", "a03", "--output", str(output)]) == 0
    with zipfile.ZipFile(output) as archive:
        names = set(archive.namelist())
        run = archive.read("run_autograder").decode()
    assert {"setup.sh", "run_autograder", "pyproject.toml", "course_lib/grading/runner.py",
            "course_lib/grading/assignments/a03_backprop.py", "exercises/a03_backprop.ipynb"} <= names
    assert "--assignment a03" in run and "/autograder/results/results.json" in run
    assert not any(name.startswith("solutions/") for name in names)
    # an audit of the package (2026-12-07): torch was installed for every assignment (in a degraded sandbox
    # a from-scratch one could then import it), and only 13 packages were pinned, not what they pull in
    with zipfile.ZipFile(output) as archive:
        requirements = archive.read("requirements-grader.txt").decode()
        constraints = archive.read("constraints.txt").decode()
        setup = archive.read("setup.sh").decode()
    assert "numpy==" in requirements and "torch" not in requirements
    # the students' other packages are there, so a notebook that imports tabulate grades as it ran (an
    # audit, 2026-12-07: it lost its question on Gradescope only); what every question forbids is not
    pins = {line.split("==")[0] for line in requirements.split()}
    assert {"tabulate", "networkx", "ipywidgets", "matplotlib"} <= pins
    assert not pins & {"scikit-learn", "scipy", "sympy", "onnx", "onnxruntime", "onnxscript", "onnx-ir"}
    assert constraints == (Path(__file__).parents[2] / "requirements.txt").read_text() and "ipython==" in constraints
    assert "pip install -c constraints.txt -r requirements-grader.txt" in setup
    assert main(["gradescope-package", "a10", "--output", str(tmp_path / "a10.zip")]) == 0
    with zipfile.ZipFile(tmp_path / "a10.zip") as archive:
        assert "torch==2.13.0" in archive.read("requirements-grader.txt").decode()
    # the grader in the package finds the notebook's parameter names (an audit: it shipped without them)
    import subprocess
    import sys

    with zipfile.ZipFile(output) as archive:
        archive.extractall(tmp_path / "source")
    probe = ("from course_lib.grading.assign import template_parameters; "
             "print(template_parameters('a03_backprop.ipynb')['numerical_grad_W2'])")
    found = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path / "source", capture_output=True, text=True,
                           env={"PYTHONPATH": str(tmp_path / "source"), "PATH": "/usr/bin:/bin"}, check=True)
    assert found.stdout.startswith("('x', 'y', 'W1'"), found


def _run_autograder(tmp_path, files, course_lib_command=None, venv_python=True, links=None):
    """run_autograder from the package, in a copy of Gradescope's layout under tmp_path: the
    submission's files, then the results.json it wrote."""
    import subprocess
    import sys

    tmp_path.mkdir(parents=True, exist_ok=True)
    output = tmp_path / "package.zip"
    assert main(["gradescope-package", "a01", "--output", str(output)]) == 0
    with zipfile.ZipFile(output) as archive:
        script = archive.read("run_autograder").decode()
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "venv" / "bin").mkdir(parents=True)
    if venv_python:  # without it: a setup.sh that failed before making the venv
        (root / "venv" / "bin" / "python").symlink_to(sys.executable)
    command = root / "venv" / "bin" / "course-lib"
    command.write_text(course_lib_command or f'#!/bin/sh\nexec "{sys.executable}" -m course_lib.grading.cli "$@"\n')
    command.chmod(0o755)
    submission = root / "submission"
    submission.mkdir()
    for name, data in files.items():
        (submission / name).parent.mkdir(parents=True, exist_ok=True)
        (submission / name).write_bytes(data)
    for name, target in (links or {}).items():
        (submission / name).symlink_to(target)
    (root / "source" / "course_lib").mkdir()
    metadata = root / "submission_metadata.json"  # Gradescope's: earlier results, hidden feedback included
    metadata.write_text('{"previous_submissions": []}')
    metadata.chmod(0o644)
    local = root / "run_autograder"
    local.write_text(script.replace("/autograder", str(root)))
    subprocess.run(["bash", str(local)], check=True, capture_output=True, timeout=300)
    assert metadata.stat().st_mode & 0o777 == 0o600  # the student's kernel (another user) cannot read it
    # nor import course_lib from the package where the sandbox is degraded (a red team, 2026-12-07)
    assert all(path.stat().st_mode & 0o077 == 0 for path in [root / "source", root / "source" / "course_lib"])
    return json.loads((root / "results" / "results.json").read_text())


@pytest.mark.slow
def test_run_autograder_always_leaves_a_results_json(tmp_path):
    """Found by an audit: two notebooks graded whichever came first, a notebook three folders deep
    was not found, and a grader failure left no results.json (students then see only "failed")."""
    from .helpers import build

    good = build()
    assert _run_autograder(tmp_path / "deep", {"hw/week1/Alice Final.IPYNB": good})["score"] == 10.0
    two = _run_autograder(tmp_path / "two", {"a_draft.ipynb": build(template=True), "z_final.ipynb": good})
    assert two["score"] == 0 and "2 notebooks (a_draft.ipynb, z_final.ipynb)" in two["output"]
    none = _run_autograder(tmp_path / "none", {"notes.txt": b"", ".ipynb_checkpoints/x-checkpoint.ipynb": good})
    assert none["score"] == 0 and "No .ipynb notebook" in none["output"]
    # a link named .ipynb is no notebook: to /dev/zero it exhausted the grader's memory (a red team)
    linked = _run_autograder(tmp_path / "linked", {"a.ipynb": good}, links={"zero.ipynb": "/dev/zero"})
    assert linked["score"] == 10.0, linked.get("output")
    failed = _run_autograder(tmp_path / "failed", {"a.ipynb": good}, "#!/bin/sh\necho 'NOT GRADED' >&2\nexit 3\n")
    assert failed["score"] == 0 and "could not grade this submission (status 3" in failed["output"]
    no_venv = _run_autograder(tmp_path / "no_venv", {"a.ipynb": good}, "#!/bin/sh\nexit 127\n", venv_python=False)
    assert no_venv["score"] == 0 and "could not grade" in no_venv["output"]


@pytest.mark.slow
def test_run_autograder_ignores_what_macos_adds_to_a_zip(tmp_path):
    """A zip made in macOS's Finder holds __MACOSX/ with a copy of every file's metadata, which
    Gradescope unpacks beside the notebook: it is no second notebook."""
    from .helpers import build

    files = {"hw1/a.ipynb": build(), "__MACOSX/hw1/._a.ipynb": b"\x00\x05\x16\x07", "__MACOSX/hw1/a.ipynb": b"x"}
    graded = _run_autograder(tmp_path, files)
    assert graded["score"] == 10.0, graded.get("output")


def test_grade_hides_the_folder_of_the_submission_from_its_kernel(tmp_path, capsys):
    """The notebook's folder holds the other students' notebooks (a class graded one by one):
    its kernel must not see them.  (The folder is outside /tmp, whose kernel has a /tmp of its own.)"""
    from .helpers import seeing_softmax, visible_folder

    with visible_folder() as folder:
        class_dir = folder.path
        (class_dir / "bob.ipynb").write_bytes(build())
        (class_dir / "bob.ipynb").chmod(0o644)
        alice = build(replace={"q5": seeing_softmax(class_dir / "bob.ipynb")})
        folder.check(alice, "q5")  # the control: unhidden, the kernel sees bob's notebook
        (class_dir / "alice.ipynb").write_bytes(alice)
        results = tmp_path / "results.json"
        assert main(["grade", str(class_dir / "alice.ipynb"), "--assignment", "a01", "--json", str(results)]) == 0
    assert json.loads(results.read_text())["score"] == 10.0, capsys.readouterr().out


def test_the_package_pins_what_the_students_ran_and_fetches_a10s_data(tmp_path):
    output = tmp_path / "a10.zip"
    assert main(["gradescope-package", "a10", "--output", str(output)]) == 0
    with zipfile.ZipFile(output) as archive:
        setup = archive.read("setup.sh").decode()
        pins = archive.read("requirements-grader.txt").decode().split()
    requirements = (REPO / "requirements.txt").read_text().split()
    assert "torch==2.13.0" in pins and all(pin in requirements for pin in pins)
    assert "course-lib data download fashion-mnist" in setup and "python3.11" in setup
    assert "scikit-learn" not in setup


def test_a_notebook_of_another_assignment_is_named_in_the_report(tmp_path, capsys):
    submission = tmp_path / "a02.ipynb"
    submission.write_bytes(build("a02"))
    assert main(["grade", str(submission), "--assignment", "a01", "--seed", "1"]) == 0
    assert "this notebook says it is assignment a02, but it was graded as a01" in capsys.readouterr().out


def test_grading_off_linux_says_where_to_grade_and_check_still_imports(tmp_path, monkeypatch, capsys):
    """A setup audit: on macOS `course-lib grade` crashed reading /proc, and on Windows a notebook's
    check() cell could not even import the grader (resource, ctypes.CDLL(None))."""
    import subprocess
    import sys

    (tmp_path / "x.ipynb").write_bytes(build())
    monkeypatch.setattr(sys, "platform", "darwin")
    assert main(["grade", str(tmp_path / "x.ipynb")]) == 2
    assert "Linux sandbox, and this is darwin" in capsys.readouterr().err
    assert main(["grade-batch", str(tmp_path), "--assignment", "a01", "--db", str(tmp_path / "g.sqlite")]) == 2
    assert "Linux sandbox" in capsys.readouterr().err
    windows = ("import ctypes, sys; sys.modules['resource'] = None\n"
               "def no_libc(*args, **kwargs): raise TypeError('no library named None on Windows')\n"
               "ctypes.CDLL = no_libc\n"
               "from course_lib.grading import checker\n"
               "check = checker('a01')\n"
               "import numpy as np\n"
               "def softmax(x, axis=-1):\n"
               "    e = np.exp(x - x.max(axis=axis, keepdims=True))\n"
               "    return e / e.sum(axis=axis, keepdims=True)\n"
               "assert check('q5', {'softmax': softmax})\n"
               "from course_lib.grading.cli import main\n"  # exporting a gradebook needs no Linux
               f"assert main(['gradebook', 'export', '--db', {str(tmp_path / 'g.sqlite')!r}, "
               f"'--csv', {str(tmp_path / 'w.csv')!r}]) == 0\n")
    from course_lib.grading.gradebook import open_gradebook

    open_gradebook(tmp_path / "g.sqlite").close()
    done = subprocess.run([sys.executable, "-c", windows], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_grade_batch_exits_with_status_1_when_the_grader_failed_on_a_submission(tmp_path, monkeypatch, capsys):
    """A script that reruns grade-batch until it succeeds needs the status: 1 while a submission is
    NOT GRADED (rerun it), 0 once all were graded."""
    from course_lib.grading import batch

    summary = {"graded": 2, "skipped": 0, "failed": 1, "seconds": 1.0, "per_minute": 120.0, "peak_rss_kb": 0}
    monkeypatch.setattr(batch, "grade_batch", lambda *args, **kwargs: dict(summary))
    argv = ["grade-batch", str(tmp_path), "--assignment", "a01", "--db", str(tmp_path / "g.sqlite")]
    assert main(argv) == 1
    assert "1 not graded because the grader failed (rerun to retry)" in capsys.readouterr().out
    summary["failed"] = 0
    assert main(argv) == 0


def test_grade_exits_with_status_3_and_writes_no_results_when_the_grader_failed(tmp_path, monkeypatch, capsys):
    """A grader failure (no kernel could be started) is no grade: no report, no results.json with
    zero points that Gradescope would show the student, and exit status 3."""
    from course_lib.grading import assignments, runner

    failed = runner.unreadable_result(assignments.get("a01"), "unused")
    failed.error, failed.grader_failure = None, "the kernel did not start within 60 s"
    monkeypatch.setattr(runner, "grade_notebook", lambda *args, **kwargs: failed)
    submission, results = tmp_path / "alice.ipynb", tmp_path / "results.json"
    submission.write_bytes(build())
    assert main(["grade", str(submission), "--assignment", "a01", "--json", str(results)]) == 3
    out, err = capsys.readouterr()
    assert "NOT GRADED: the kernel did not start within 60 s" in err and out == ""
    assert not results.exists()


def test_a_broken_notebook_without_an_assignment_is_called_broken(tmp_path, capsys):
    """A workflow audit: truncated JSON was answered 'pass --assignment ID', which then only led to
    'not a valid notebook'."""
    submission = tmp_path / "broken.ipynb"
    submission.write_bytes(build()[:500])
    assert main(["grade", str(submission)]) == 2
    assert capsys.readouterr().err.strip() == (f"error: {submission} cannot be graded: the file is not a valid notebook "
                                               "(it is not JSON); re-download it from Jupyter with File → Save")
    submission.write_bytes(json.dumps({"nbformat": 4, "metadata": {}, "cells": []}).encode())
    assert main(["grade", str(submission)]) == 2
    assert "could not tell which assignment this is (the notebook's metadata does not say)" in capsys.readouterr().err


@pytest.mark.parametrize("workers", ["0", "-1", "two"])
def test_grade_batch_needs_at_least_one_worker(tmp_path, capsys, workers):
    with pytest.raises(SystemExit) as exit_:
        main(["grade-batch", str(tmp_path), "--assignment", "a01", "--db", str(tmp_path / "g.sqlite"), "--workers", workers])
    assert exit_.value.code == 2
    assert "--workers: expected a whole number of at least 1" in capsys.readouterr().err


# --- found by a walkthrough of the README on a fresh clone (2026-12-07) -----------------------------------
def test_a_refused_class_leaves_no_gradebook_and_a_rerun_prints_no_rate(tmp_path, capsys):
    """`grade-batch --assignment a02` on an a03 class was refused but left an empty gradebook behind; a rerun
    that skipped everything printed "0.0 submissions/minute, peak worker memory 0 MB"."""
    from .helpers import build

    class_dir, db = tmp_path / "class", tmp_path / "gradebook.sqlite"
    class_dir.mkdir()
    for student in ("alice", "bob"):
        (class_dir / f"{student}.ipynb").write_bytes(build("a01"))
    assert main(["grade-batch", str(class_dir), "--assignment", "a02", "--db", str(db)]) == 2
    assert "nothing was graded" in capsys.readouterr().err and not db.exists()
    assert main(["grade-batch", str(class_dir), "--assignment", "a01", "--db", str(db)]) == 0
    assert "submissions/minute" in capsys.readouterr().out
    assert main(["grade-batch", str(class_dir), "--assignment", "a01", "--db", str(db)]) == 0
    rerun = capsys.readouterr().out.strip().splitlines()[-1]
    assert rerun.startswith("graded 0, skipped 2 already graded") and "submissions/minute" not in rerun, rerun


def test_grade_reads_only_a_plain_file_of_bounded_size(tmp_path, capsys):
    """`grade` read any path whole: a link to /dev/zero ran the grader out of memory and a FIFO hung it
    (a red team); grade-batch already read only plain files of at most 20 MB."""
    import os

    (tmp_path / "zero.ipynb").symlink_to("/dev/zero")
    assert main(["grade", str(tmp_path / "zero.ipynb"), "--assignment", "a01"]) == 2
    assert "it is a symbolic link" in capsys.readouterr().err
    os.mkfifo(tmp_path / "pipe.ipynb")
    assert main(["grade", str(tmp_path / "pipe.ipynb"), "--assignment", "a01"]) == 2
    assert "not a regular file" in capsys.readouterr().err
    with open(tmp_path / "huge.ipynb", "wb") as handle:
        handle.truncate(23 * 1024 * 1024)
    # the student's problem: a zero that says why, in the report and in results.json (an audit: only
    # an error line and no results.json, which Gradescope shows as "the autograder failed")
    results = tmp_path / "results.json"
    assert main(["grade", str(tmp_path / "huge.ipynb"), "--assignment", "a01", "--json", str(results)]) == 0
    assert "the notebook is 23 MB; the limit is 20 MB (clear the outputs)" in capsys.readouterr().out
    graded = json.loads(results.read_text())
    assert graded["score"] == 0 and "the notebook is 23 MB" in json.dumps(graded)
    assert main(["grade", str(tmp_path / "huge.ipynb")]) == 2  # no assignment to name: an error line
    assert "larger than 20 MB" in capsys.readouterr().err

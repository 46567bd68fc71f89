"""The grading commands as a user runs them (``course-lib grade`` …) and the Gradescope package."""
import json
import zipfile

import pytest

from course_lib.grading.cli import main

from .helpers import build

pytestmark = pytest.mark.slow


def test_grade_prints_a_report_and_writes_results_json(tmp_path, capsys):
    submission = tmp_path / "alice.ipynb"
    submission.write_bytes(build(replace={"q5": "def softmax(x, axis=-1):\n    return np.exp(x) / np.exp(x).sum(axis=axis, keepdims=True)"}))
    results = tmp_path / "results.json"
    # no --assignment: read from the notebook's metadata
    assert main(["grade", str(submission), "--json", str(results)]) == 0
    out = capsys.readouterr().out
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


def test_gradescope_package(tmp_path):
    output = tmp_path / "a03.zip"
    assert main(["gradescope-package", "a03", "--output", str(output)]) == 0
    with zipfile.ZipFile(output) as archive:
        names = set(archive.namelist())
        run = archive.read("run_autograder").decode()
    assert {"setup.sh", "run_autograder", "pyproject.toml", "course_lib/grading/runner.py",
            "course_lib/grading/assignments/a03_backprop.py"} <= names
    assert "--assignment a03" in run and "/autograder/results/results.json" in run

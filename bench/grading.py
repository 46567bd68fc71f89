"""Grading throughput: ``grade-batch`` with 2 workers over a class of assignment-3 submissions.

Not a NumPy/PyTorch comparison: the rows are measurements — submissions per minute, wall
seconds per submission, and the peak memory of a grader worker process and of a student
kernel (each kernel is a separate sandboxed process).  The class mixes correct solutions (four
in five) and untouched templates (one in five), each with distinct content.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from course_lib.grading.assign import exercise_from_solution
from course_lib.grading.batch import grade_batch

from .timing import Measurement

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "a03_backprop.ipynb"


def _class(folder: Path, size: int) -> None:
    solution = json.loads(SOLUTION.read_text())
    template = exercise_from_solution(solution)
    for index in range(size):
        notebook = json.loads(json.dumps(template if index % 5 == 4 else solution))
        # a distinct comment per student gives each submission its own content hash
        notebook["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                                  "source": f"# student {index}"})
        (folder / f"student{index:03d}.ipynb").write_text(json.dumps(notebook))


def _kernel_peak_mb(database: Path) -> float:
    import sqlite3

    connection = sqlite3.connect(database)
    (peak,) = connection.execute("SELECT MAX(kernel_peak_kb) FROM submissions").fetchone()
    connection.close()
    return (peak or 0) / 1024


def run(quick: bool):
    size = 6 if quick else 100
    workers = 2
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        _class(folder, size)
        started = time.perf_counter()
        database = Path(tmp) / "book" / "gradebook.sqlite"
        summary = grade_batch(folder, "a03", database, workers=workers, log=lambda *_: None)
        elapsed = time.perf_counter() - started
        kernel_peak = _kernel_peak_mb(database)
    graded = max(1, summary["graded"])
    label = f"grade-batch a03, {summary['graded']} submissions, {workers} workers"
    return [
        Measurement(f"{label}: throughput", graded / elapsed * 60, "submissions/min"),
        Measurement(f"{label}: wall time per submission", elapsed / graded, "s"),
        Measurement(f"{label}: peak memory per grader worker", summary["peak_rss_kb"] / 1024, "MB"),
        Measurement(f"{label}: peak memory per student kernel", kernel_peak, "MB"),
    ]

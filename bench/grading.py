"""Grading throughput: ``grade-batch`` with 2 workers over a class of assignment-3 submissions.

Not a NumPy/PyTorch comparison: the row's two time columns both hold the wall seconds per
submission, and the note gives submissions per minute and the peak memory of a worker
process (the grader side; each kernel is a separate sandboxed process).  The class mixes
correct solutions, untouched templates and partial answers, each with distinct content.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from course_lib.grading.assign import exercise_from_solution
from course_lib.grading.batch import grade_batch

from .timing import Row

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
    per_submission = elapsed / max(1, summary["graded"])
    note = (f"{summary['graded']} submissions, {workers} workers: {summary['graded'] / elapsed * 60:.1f}/minute, "
            f"peak worker RSS {summary['peak_rss_kb'] / 1024:.0f} MB (grader), kernel {kernel_peak:.0f} MB")
    return [Row(f"grade-batch a03 ×{size}", per_submission, per_submission, None, note)]

"""Grade a whole class into the gradebook, resumably, in worker processes (``course-lib grade-batch``).

The submissions are read by ``submissions.py``; each result goes into the gradebook
(``gradebook.py``) in its own transaction, so a rerun skips what is already graded and a kill
loses nothing already recorded; the CSV and results.json exports are written from it.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import multiprocessing.connection
import os
import secrets
import threading
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor, as_completed

try:
    import resource
except ImportError:  # Windows: grading needs Linux, but `gradebook export` works anywhere
    resource = None
from collections import Counter
from multiprocessing import get_context
from pathlib import Path
from typing import Iterable, List, Optional

from . import assignments
from .gradebook import (already_graded, clear_failure, export_csv, make_current, open_gradebook, record,
                        record_failure)
from .notebook import notebook_assignment
from .report import _printable, sandbox_warning
from .runner import grade_notebook, unreadable_result
from .submissions import Submission, class_folder, collect
from .wire import clean_text

# ----------------------------------------------------------------------------- grading in workers
def _exit_with_the_grader() -> None:
    """Worker initialiser: leave the moment the grading process is gone (``kill -9``, out of memory).

    A worker otherwise waits for its next submission forever: it holds both ends of the task
    queue's pipe itself, so the pipe never reports that the grader died.  The student's kernel
    needs no extra care: its launcher dies with the worker (``PR_SET_PDEATHSIG``) and takes the
    kernel's whole PID namespace with it.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])  # readable once the grader has exited
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-the-grader", daemon=True).start()


def _hide_list(extra: Iterable[str]) -> List[str]:
    return [str(Path(p).resolve()) for p in extra]


def submission_seed(run_seed: int, assignment_id: str, digest: str) -> int:
    """The seed of one submission's hidden inputs: drawn from the run's seed and the notebook's content.

    So within a run identical notebooks get identical inputs (and grades), and a run repeated with
    the same ``--seed`` grades every notebook on the same inputs again; without ``--seed`` the run's
    seed is fresh and secret, so no student can know the inputs in advance.  63 bits, as
    ``grade_notebook``'s own fresh seeds; the gradebook records it, and ``grade --seed`` reproduces
    one grade with it.
    """
    text = f"{int(run_seed)}:{assignment_id}:{digest}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") >> 1


def _grade_one(data: Optional[bytes], problem: Optional[str], assignment_id: str, hide: List[str], limits=None,
               seed: Optional[int] = None):
    """Worker: grade one submission; returns (GradeResult, peak RSS of this worker in kB)."""
    assignment = assignments.get(assignment_id)
    if data is None:
        result = unreadable_result(assignment, problem or "no notebook")
    else:
        result = grade_notebook(data, assignment, seed=seed, limits=limits, hide=hide)
    return result, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss if resource else 0


class AnotherAssignment(ValueError):
    """Most notebooks of the class name another assignment than the one asked for: nothing is graded."""


class NoSubmissions(ValueError):
    """The folder or zip holds no submission at all (most likely a wrong path)."""


def refuse_another_assignment(submissions: List[Submission], assignment) -> None:
    """Raise ``AnotherAssignment`` when more than half of the readable notebooks name one other
    assignment in their metadata (``course-lib assign`` writes it): ``--assignment a01`` typed for
    the a09 class would otherwise grade everyone 0 and fill the gradebook with those rows.  A few
    students who uploaded the wrong notebook are graded, each with a note that says so."""
    readable = [s for s in submissions if s.data is not None]
    named = Counter(notebook_assignment(s.data) for s in readable)
    named.pop(None, None)
    named.pop(assignment.id, None)
    if not named:
        return
    other, count = named.most_common(1)[0]
    if count * 2 > len(readable):
        other = clean_text(other)[:20]
        raise AnotherAssignment(
            f"{count} of the {len(readable)} notebooks say they are assignment {other}, not {assignment.id} "
            f"({assignment.title}); nothing was graded: is this the {other} class (--assignment {other})?")


def _safe_log(log):
    """``log`` for lines that carry a student's text (names, errors): control characters shown as escapes,
    so that no submission can move the cursor and rewrite another student's line, and at most 500 characters."""
    # _printable leaves line breaks and tabs (a report's own); here a name holding one could forge a line
    return lambda line: log(_printable(line if len(line) <= 500 else line[:497] + "...").replace("\n", "\\n")
                            .replace("\t", "\\t"))


def grade_batch(source: os.PathLike, assignment_id: str, db: os.PathLike, csv_path: Optional[os.PathLike] = None,
                workers: int = 2, log=print, limits=None, excel: bool = False, seed: Optional[int] = None) -> dict:
    """Grade every submission in ``source`` not yet in the gradebook.  Returns a summary.

    ``limits`` (a ``sandbox.Limits``) overrides the assignment's own limits.  ``seed`` is the run's
    seed of the hidden inputs (default: fresh), from which each notebook's follows (``submission_seed``).
    """
    assignment = assignments.get(assignment_id)
    log = _safe_log(log)
    ignored: List[str] = []
    submissions = collect(source, ignored)
    if Path(source).is_file():
        with zipfile.ZipFile(source) as archive:
            root = class_folder(archive)
        if root:
            log(f"the zip holds one folder, {root}/, with the submissions: each entry in it is one student's")
    for name in ignored[:20]:
        log(f"ignored {name}: not a notebook (NAME.ipynb), a folder or a zip of one student")
    if len(ignored) > 20:
        log(f"ignored {len(ignored) - 20} more files that are neither notebooks, folders nor zips")
    if not submissions:
        raise NoSubmissions(f"{source} holds no submissions (a notebook, or a folder or zip of one, per student)"
                            + (f"; it holds only {len(ignored)} other file(s)" if ignored else ": it is empty"))
    refuse_another_assignment(submissions, assignment)
    connection = open_gradebook(db)
    hide = _hide_list([source if Path(source).is_dir() else Path(source).parent, Path(db).parent]
                      + ([Path(csv_path).parent] if csv_path else []))
    todo = []
    skipped = 0
    for submission in submissions:
        digest = submission.content_hash
        if already_graded(connection, assignment.id, submission.student, digest):
            skipped += 1
            clear_failure(connection, assignment.id, submission.student)
            again = make_current(connection, assignment.id, submission.student, digest)
            if again is not None:
                log(f"{submission.student}: back to a notebook graded before, {again:g}/{assignment.max_score:g}; "
                    "that grade is the latest again")
        else:
            todo.append((submission, digest))
    run_seed = secrets.randbits(63) if seed is None else int(seed)
    if todo:
        log(f"hidden inputs drawn from the run's seed {run_seed} and each notebook's content: `--seed {run_seed}` "
            "grades the same notebooks on the same inputs again")
    started = time.monotonic()
    peak = {}
    graded = failed = 0
    warned: set = set()
    if todo:
        context = get_context("forkserver")
        with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=context, initializer=_exit_with_the_grader) as pool:
            futures = {pool.submit(_grade_one, s.data, s.problem, assignment.id, hide, limits,
                                   submission_seed(run_seed, assignment.id, d)): (s, d) for s, d in todo}
            for future in as_completed(futures):
                submission, digest = futures[future]
                try:
                    result, rss = future.result()
                except Exception as error:  # noqa: BLE001 - one bad submission must not stop the class
                    failed += 1
                    why = f"the grader failed ({type(error).__name__}: {error})"
                    record_failure(connection, assignment.id, submission, digest, why)
                    log(f"{submission.student}: NOT GRADED, {why}; rerun to retry")
                    continue
                if result.grader_failure:
                    failed += 1
                    record_failure(connection, assignment.id, submission, digest, result.grader_failure)
                    log(f"{submission.student}: NOT GRADED ({result.grader_failure}); rerun to retry")
                    continue
                warning = sandbox_warning(result)
                if warning and warning not in warned:  # once per run: it is the machine's, not the student's
                    warned.add(warning)
                    log(warning)
                record(connection, submission, result, digest, rss)
                peak[submission.student] = rss
                graded += 1
                named = notebook_assignment(submission.data) if submission.data is not None else None
                log(f"{submission.student}: {result.score:g}/{result.max_score:g}"
                    + (f"  ({result.error})" if result.error else "")
                    + (f"  (the notebook says it is assignment {clean_text(named)[:20]})"
                       if named is not None and named != assignment.id else ""))
    elapsed = time.monotonic() - started
    if csv_path:
        export_csv(connection, assignment.id, csv_path, excel)
    connection.close()
    return {
        "graded": graded,
        "skipped": skipped,
        "failed": failed,
        "seconds": elapsed,
        "per_minute": graded / elapsed * 60 if graded and elapsed > 0 else 0.0,
        "peak_rss_kb": max(peak.values()) if peak else 0,
    }

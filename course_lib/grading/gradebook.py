"""The gradebook: one SQLite file with every graded submission of a class, and its exports (CSV,
Gradescope's results.json per student).

Every submission's result is committed in one transaction, keyed by its content hash, so a rerun
skips what is already graded and a kill loses nothing already recorded.  Only the grading process
writes it; the kernels cannot even see its folder.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Optional

from . import assignments
from .version import GRADER_VERSION
from .report import gradescope_results
from .runner import GradeResult
from .submissions import Submission

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY,
    assignment TEXT NOT NULL,
    student TEXT NOT NULL,
    source TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    error TEXT,
    note TEXT,
    seed INTEGER NOT NULL,
    grader_version TEXT NOT NULL,
    graded_at TEXT NOT NULL,
    wall_s REAL, kernel_s REAL, overhead_s REAL, peak_rss_kb INTEGER, kernel_peak_kb INTEGER,
    results_json TEXT NOT NULL,
    UNIQUE (assignment, student, content_hash)
);
CREATE TABLE IF NOT EXISTS questions (
    submission_id INTEGER NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
    question TEXT NOT NULL,
    points REAL NOT NULL,
    max_points REAL NOT NULL,
    status TEXT NOT NULL,
    feedback TEXT NOT NULL,
    PRIMARY KEY (submission_id, question)
);
CREATE TABLE IF NOT EXISTS failures (
    assignment TEXT NOT NULL,
    student TEXT NOT NULL,
    source TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    message TEXT NOT NULL,
    failed_at TEXT NOT NULL,
    PRIMARY KEY (assignment, student)
);
"""



# ----------------------------------------------------------------------------- the gradebook
def open_gradebook(path: os.PathLike) -> sqlite3.Connection:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None)  # explicit BEGIN/COMMIT below
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.executescript(SCHEMA)
    # gradebooks written before the column existed (grader 2026-12-07): a note the CSV reports
    if "note" not in {row[1] for row in connection.execute("PRAGMA table_info(submissions)")}:
        connection.execute("ALTER TABLE submissions ADD COLUMN note TEXT")
    os.chmod(path, 0o600)
    return connection


def already_graded(connection, assignment_id: str, student: str, digest: str) -> bool:
    row = connection.execute(
        "SELECT 1 FROM submissions WHERE assignment=? AND student=? AND content_hash=?",
        (assignment_id, student, digest)).fetchone()
    return row is not None


def make_current(connection, assignment_id: str, student: str, digest: str) -> Optional[float]:
    """A student who went back to a notebook graded before: its grade becomes the latest again
    (the export reports each student's latest row).  Returns that score, or None when it already
    was the latest."""
    reader = connection.cursor()
    reader.row_factory = sqlite3.Row  # for this cursor only
    row = reader.execute("SELECT * FROM submissions WHERE assignment=? AND student=? AND content_hash=?",
                         (assignment_id, student, digest)).fetchone()
    latest = connection.execute("SELECT MAX(id) FROM submissions WHERE assignment=? AND student=?",
                                (assignment_id, student)).fetchone()[0]
    if row is None or row["id"] == latest:
        return None
    columns = [name for name in row.keys() if name != "id"]
    questions = connection.execute("SELECT question, points, max_points, status, feedback FROM questions "
                                   "WHERE submission_id=?", (row["id"],)).fetchall()
    connection.execute("BEGIN IMMEDIATE")
    try:  # moved, not copied: (assignment, student, content_hash) is unique; a new id is the largest
        connection.execute("DELETE FROM submissions WHERE id=?", (row["id"],))  # its questions go with it
        cursor = connection.execute(f"INSERT INTO submissions ({', '.join(columns)}) VALUES "
                                    f"({', '.join('?' * len(columns))})", [row[name] for name in columns])
        connection.executemany("INSERT INTO questions VALUES (?,?,?,?,?,?)",
                               [(cursor.lastrowid, *tuple(question)) for question in questions])
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return row["score"]


def record(connection, submission: Submission, result: GradeResult, digest: str, peak_rss_kb: int = 0) -> None:
    """Write one graded submission and its questions in a single transaction."""
    results_json = json.dumps(gradescope_results(result))
    connection.execute("BEGIN IMMEDIATE")
    try:
        cursor = connection.execute(
            "INSERT OR REPLACE INTO submissions (assignment, student, source, content_hash, score, max_score, error, note,"
            " seed, grader_version, graded_at, wall_s, kernel_s, overhead_s, peak_rss_kb, kernel_peak_kb, results_json)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (result.assignment, submission.student, submission.source, digest, result.score, result.max_score,
             result.error, result.other_assignment, result.seed, GRADER_VERSION, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             result.timings.get("total_s"), result.timings.get("kernel_s"), result.timings.get("overhead_s"),
             peak_rss_kb, int(result.timings.get("kernel_peak_mb", 0) * 1024), results_json))
        submission_id = cursor.lastrowid
        clear_failure(connection, result.assignment, submission.student)
        for question_id, summary in result.questions.items():
            feedback = "\n".join(f"{'✓' if c.passed else '✗'} {c.name}: {c.message}"
                                 for c in result.checks if c.question == question_id)
            connection.execute("INSERT INTO questions VALUES (?,?,?,?,?,?)",
                               (submission_id, question_id, summary["score"], summary["max_score"],
                                summary["status"], feedback))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def record_failure(connection, assignment_id: str, submission: Submission, digest: str, message: str) -> None:
    """Remember that ``submission`` is this student's latest and could not be graded (the grader
    failed): the exports then show the student as not graded instead of leaving them out, or
    showing the grade of an older notebook, until a rerun grades it."""
    connection.execute("INSERT OR REPLACE INTO failures VALUES (?,?,?,?,?,?)",
                       (assignment_id, submission.student, submission.source, digest, message,
                        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))


def clear_failure(connection, assignment_id: str, student: str) -> None:
    """The student's latest notebook has a grade: an earlier failure no longer stands."""
    connection.execute("DELETE FROM failures WHERE assignment=? AND student=?", (assignment_id, student))


# ----------------------------------------------------------------------------- exports
def latest_rows(connection, assignment_id: Optional[str] = None):
    """The most recent graded submission of each student (per assignment)."""
    query = ("SELECT s.* FROM submissions s JOIN (SELECT assignment, student, MAX(id) AS id FROM submissions"
             " GROUP BY assignment, student) latest ON s.id = latest.id")
    params: tuple = ()
    if assignment_id:
        query += " WHERE s.assignment = ?"
        params = (assignment_id,)
    connection.row_factory = sqlite3.Row
    return connection.execute(query + " ORDER BY s.assignment, s.student", params).fetchall()


def _cell(value):
    """A CSV cell that a spreadsheet shows as text: a leading =, +, -, @ (a formula to Excel and
    LibreOffice: a file named '=HYPERLINK(…).ipynb' would become one) gets a quote in front."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def pending_failures(connection, assignment_id: Optional[str] = None) -> dict:
    """{(assignment, student): failure row} for students whose latest notebook the grader failed on."""
    query, params = "SELECT * FROM failures", ()
    if assignment_id:
        query, params = query + " WHERE assignment = ?", (assignment_id,)
    reader = connection.cursor()
    reader.row_factory = sqlite3.Row
    return {(row["assignment"], row["student"]): row for row in reader.execute(query, params)}


def export_csv(connection, assignment_id: Optional[str], path: os.PathLike, excel: bool = False) -> int:
    """One row per student and assignment: the latest grade, or — where the grader failed on the
    student's latest notebook — no score and the reason, so that nobody is left out unseen.

    UTF-8; with ``excel`` it starts with a byte-order mark, without which Excel reads the file in the
    system's code page and shows 'Zoë' as 'ZoÃ«' (other readers, Python's csv module among them,
    would take the mark for part of the first column's name, so it is not the default)."""
    rows = latest_rows(connection, assignment_id)
    failures = pending_failures(connection, assignment_id)
    question_ids = []
    for row in rows:
        for (question,) in connection.execute("SELECT question FROM questions WHERE submission_id=? ORDER BY question", (row["id"],)):
            if question not in question_ids:
                question_ids.append(question)
    lines = {}
    for row in rows:
        points = dict(connection.execute("SELECT question, points FROM questions WHERE submission_id=?", (row["id"],)).fetchall())
        lines[row["assignment"], row["student"]] = (
            row["assignment"], row["student"], row["score"], row["max_score"],
            *[points.get(q, "") for q in question_ids], row["error"] or "", row["note"] or "",
            "" if row["error"] else row["seed"],  # no hidden inputs were drawn for a notebook not run
            row["content_hash"], row["graded_at"], row["grader_version"])
    for key, failure in failures.items():
        try:
            max_score = assignments.get(failure["assignment"]).max_score
        except KeyError:
            max_score = ""
        lines[key] = (failure["assignment"], failure["student"], "", max_score, *["" for _ in question_ids],
                      f"NOT GRADED: {failure['message']}; rerun grade-batch", "", "", failure["content_hash"],
                      failure["failed_at"], GRADER_VERSION)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8-sig" if excel else "utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["assignment", "student", "score", "max_score", *question_ids, "error", "note", "seed",
                         "content_hash", "graded_at", "grader_version"])
        for key in sorted(lines):
            writer.writerow([_cell(value) for value in lines[key]])
    return len(lines)


def student_folder_name(student: str) -> str:
    """A folder name for ``student``: the name itself when it is made of letters, digits and ``-_.``,
    else those characters with ``_`` for the others and a short hash of the real name, so that two
    students never share a folder ("a b" and "a_b" become "a_b-c8687a08" and "a_b")."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in student)
    if safe == student and safe not in ("", ".", "..") and len(safe.encode()) <= _NAME_BYTES:
        return safe
    # cut to fit a file name (255 bytes on most file systems) with the hash that keeps names apart
    while len(safe.encode()) > _NAME_BYTES - 9:
        safe = safe[:-1]
    return f"{safe}-{hashlib.sha256(student.encode('utf-8', 'backslashreplace')).hexdigest()[:8]}"


_NAME_BYTES = 255


def export_results(connection, assignment_id: Optional[str], folder: os.PathLike) -> int:
    """One Gradescope-style results.json per student: FOLDER/ASSIGNMENT/STUDENT/results.json
    (STUDENT as ``student_folder_name`` makes it).  A student whose latest notebook the grader
    failed on gets none (an older grade is not theirs to upload); an earlier export's file of
    that student is removed.  Returns the number written."""
    failures = pending_failures(connection, assignment_id)
    written = 0
    for row in latest_rows(connection, assignment_id):
        target = Path(folder) / row["assignment"] / student_folder_name(row["student"])
        if (row["assignment"], row["student"]) in failures:
            (target / "results.json").unlink(missing_ok=True)
            continue
        target.mkdir(parents=True, exist_ok=True)
        (target / "results.json").write_text(row["results_json"])
        written += 1
    return written

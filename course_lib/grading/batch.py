"""Grade a whole class into an SQLite gradebook, resumably; export CSV and results.json.

Submissions are read from a folder or a zip of the class:

* ``NAME.ipynb`` directly inside: student ``NAME``;
* a folder ``NAME/`` or a zip ``NAME.zip``: student ``NAME``, which must hold exactly one notebook.

Zips are read member by member and never extracted to disk: absolute paths, ``..``,
symlinks and oversized members are refused (for that student only).  Every
submission's result is committed in one transaction, keyed by its content hash, so a
rerun skips what is already graded and a kill loses nothing already recorded.  Only
this process writes the gradebook; the kernels cannot even see its folder.
"""
from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing
import multiprocessing.connection
import os
import secrets
import sqlite3
import stat
import threading
import time
import unicodedata
import zipfile
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed

try:
    import resource
except ImportError:  # Windows: grading needs Linux, but `gradebook export` works anywhere
    resource = None
from collections import Counter
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path, PurePosixPath
from typing import Iterable, List, Optional, Tuple

from . import GRADER_VERSION, assignments
from .report import _printable, gradescope_results, sandbox_warning
from .runner import GradeResult, content_hash, grade_notebook, notebook_assignment, unreadable_result
from .wire import clean_text

MAX_MEMBER_BYTES = 20 * 1024 * 1024
MAX_MEMBERS = 10_000

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


@dataclass
class Submission:
    student: str
    source: str  # where it came from, for people
    data: Optional[bytes]  # the notebook bytes, or None when unreadable
    problem: Optional[str] = None  # why it cannot be graded
    no_notebook: bool = False  # a folder or zip without any notebook (only other files, or none)

    def __post_init__(self) -> None:
        # names come from the file system: bytes that are not UTF-8 would break the gradebook's INSERT,
        # and 'José' typed on a Mac (decomposed é) is the same student as 'José' typed elsewhere
        self.student = unicodedata.normalize("NFC", clean_text(self.student))
        self.source = clean_text(self.source)
        self.problem = None if self.problem is None else clean_text(self.problem)

    @property
    def content_hash(self) -> str:
        return content_hash(self.data if self.data is not None else (self.problem or "").encode())


# ----------------------------------------------------------------------------- collecting submissions
def _read_regular(path: Path, limit: int = MAX_MEMBER_BYTES) -> bytes:
    """Read a plain file without following a symlink at its last component."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > limit:
            raise ValueError(f"larger than {limit // 1024 // 1024} MB")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(limit + 1)
    finally:
        os.close(fd)


def _from_notebooks(student: str, source: str, notebooks: List[Tuple[str, bytes]], problems: List[str],
                    others: Iterable[str] = ()) -> Submission:
    """``others``: the names of the other files submitted, named when no notebook was (a .py, a .pdf)."""
    if problems:
        return Submission(student, source, None, "; ".join(problems))
    if len(notebooks) != 1:
        names = ", ".join(name for name, _ in notebooks) or "none"
        others = sorted(others)
        if not notebooks and others:
            names += "; submitted instead: " + ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        return Submission(student, source, None, f"expected exactly one notebook, found {len(notebooks)} ({names})",
                          no_notebook=not notebooks)
    return Submission(student, source, notebooks[0][1])


# What reading a student's zip can raise: a damaged archive, an encrypted member (RuntimeError),
# an unsupported compression method (NotImplementedError), a broken stream (zlib.error, EOFError)
_ZIP_ERRORS = (zipfile.BadZipFile, ValueError, OSError, RuntimeError, NotImplementedError, EOFError, zlib.error)


def _not_submitted(parts) -> bool:
    """Hidden files and folders (``.ipynb_checkpoints``, which zipping a working folder takes along)
    and macOS's resource forks (``__MACOSX``) are no part of a submission, in a folder or a zip."""
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)


def _member_name(info: zipfile.ZipInfo) -> str:
    """A zip member's name as its author wrote it.  Without the UTF-8 flag Python reads names as
    cp437, but zip tools on Linux and macOS write UTF-8 without setting it: 'Zoë' came out as
    'Zo├½' (a different student).  Such names are read again as UTF-8 where they are valid."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("utf-8")
        except UnicodeError:
            pass
    return unicodedata.normalize("NFC", name)


def class_folder(archive: zipfile.ZipFile) -> str:
    """The zip's one top folder when it is the class's folder zipped whole, else ''.

    ``zip -r submissions.zip submissions/`` puts every student under ``submissions/``; read as it
    stands, the class would be one student with many notebooks.  A zip whose every entry lies in
    one top folder that holds more than one notebook, zip or folder is read from inside that
    folder.  (One student's folder with two notebooks in a zip of its own would be read so too;
    ``grade-batch`` says which folder it took as the class.)
    """
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        return ""
    tops, inside = set(), set()
    for info in members:
        parts = PurePosixPath(_member_name(info)).parts
        if not parts or _not_submitted(parts):
            continue
        tops.add(parts[0])
        if len(tops) > 1 or (len(parts) == 1 and not info.is_dir()):  # two tops, or a file at the root
            return ""
        if len(parts) > 2 or (len(parts) == 2 and (info.is_dir() or parts[1].lower().endswith((".ipynb", ".zip")))):
            inside.add(parts[1])
    return next(iter(tops)) if len(inside) > 1 else ""


def _zip_notebooks(archive: zipfile.ZipFile, ignored: Optional[List[str]] = None,
                   others: Optional[dict] = None, root: str = "") -> Tuple[dict, List[str], dict]:
    """Group the notebooks of a zip by their top folder ('' for the root); refuse unsafe members.
    Files at the root that are neither notebooks nor zips are appended to ``ignored``; those in a
    top folder go to ``others[folder]``, and the folder is a group even without a notebook (a
    student who submitted a folder holding only ``hw1.py`` gets a grade of 0 that says so).
    With ``root`` (``class_folder``), names are read from inside that folder.

    Returns (groups, problems of the archive, problems by top folder).
    """
    groups: dict = {}
    problems: List[str] = []
    folder_problems: dict = {}
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        return {}, [f"the zip has {len(members)} entries (limit {MAX_MEMBERS})"], {}
    for info in members:
        name = _member_name(info)
        path = PurePosixPath(name)
        mode = info.external_attr >> 16
        if name.startswith("/") or "\\" in name or ".." in path.parts or (len(name) > 1 and name[1] == ":"):
            problems.append(f"refused zip entry {name!r}: its path escapes the archive")
            continue
        if root:
            if len(path.parts) < 2 or path.parts[0] != root:  # the class folder itself, or a hidden entry
                continue
            name = str(PurePosixPath(*path.parts[1:])) + ("/" if info.is_dir() else "")
            path = PurePosixPath(name)
        top = path.parts[0] if len(path.parts) > 1 or info.is_dir() else ""
        if others is not None and top and not _not_submitted([top]):
            groups.setdefault(top, [])  # every student folder is a submission, even one without a notebook
        if stat.S_ISLNK(mode):
            message = f"refused zip entry {name!r}: symbolic links are not accepted"
            (folder_problems.setdefault(top, []) if top else problems).append(message)
            continue
        if info.is_dir() or _not_submitted(path.parts):
            continue
        if info.file_size > MAX_MEMBER_BYTES:
            message = f"refused zip entry {name!r}: larger than {MAX_MEMBER_BYTES // 1024 // 1024} MB"
            (folder_problems.setdefault(top, []) if top else problems).append(message)
            continue
        if path.suffix.lower() in (".ipynb", ".zip"):
            groups.setdefault(top, []).append((name, info))
        elif not top and ignored is not None:
            ignored.append(name)
        elif top and others is not None:
            others.setdefault(top, []).append(str(PurePosixPath(*path.parts[1:])))
    for top in folder_problems:
        groups.setdefault(top, [])
    return groups, problems, folder_problems


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    with archive.open(info) as handle:
        data = handle.read(MAX_MEMBER_BYTES + 1)
    if len(data) > MAX_MEMBER_BYTES:
        raise ValueError("too large once decompressed")
    return data


def _student_zip(student: str, source: str, data: bytes) -> Submission:
    import io

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            loose, inside = [], {}  # the files that are not notebooks, at the root and in folders
            groups, problems, folder_problems = _zip_notebooks(archive, loose, inside)
            problems += [p for group in folder_problems.values() for p in group]
            members = [(name, info) for group in groups.values() for name, info in group
                       if name.lower().endswith(".ipynb")]
            if problems or len(members) != 1:  # decided from the names alone: nothing is decompressed
                others = loose + [f"{top}/{name}" for top, names in inside.items() for name in names]
                return _from_notebooks(student, source, [(name, b"") for name, _ in members], problems, others)
            notebooks = [(name, _read_member(archive, info)) for name, info in members]
    except _ZIP_ERRORS as error:
        return Submission(student, source, None, f"the zip could not be read ({error})")
    return _from_notebooks(student, source, notebooks, problems)


def collect(path: os.PathLike, ignored: Optional[List[str]] = None) -> List[Submission]:
    """Every student's submission in a folder or zip, each either readable or with its problem.

    Two submissions under one student name (``carol.ipynb`` and ``carol/``) are both refused: which
    one counts is the instructor's decision, not the order in which they finish grading.  Files at
    the top that are neither a notebook nor a zip (``dave.pdf``) are no submission: their names are
    appended to ``ignored``, for the instructor to see."""
    return _refuse_duplicates(_collect(Path(path), ignored if ignored is not None else []))


def _refuse_duplicates(submissions: List[Submission]) -> List[Submission]:
    # a folder without a notebook next to the student's notebook ('carol.ipynb' and 'carol/plot.png')
    # is no second submission
    named = {s.student for s in submissions if not s.no_notebook}
    submissions = [s for s in submissions if not (s.no_notebook and s.student in named)]
    # names that differ only in case are one student too: their results folders would be one
    # folder on macOS and Windows, and a class list does not tell Henry from henry
    sources: dict = {}
    for submission in submissions:
        sources.setdefault(submission.student.casefold(), []).append(submission)
    result = []
    for submission in submissions:
        same = sources[submission.student.casefold()]
        if len(same) == 1 or submission.student == "(archive)":
            result.append(submission)
            continue
        names = sorted({other.student for other in same})
        named = (f"named {submission.student!r}" if len(names) == 1 else
                 f"named {' and '.join(map(repr, names))} (names that differ only in case)")
        result.append(Submission(submission.student, submission.source, None,
                                 f"{len(same)} submissions are {named} ({', '.join(other.source for other in same)}); "
                                 "rename or remove all but one"))
    return result


def _collect(path: Path, ignored: List[str]) -> List[Submission]:
    submissions: List[Submission] = []
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            others: dict = {}
            groups, problems, folder_problems = _zip_notebooks(archive, ignored, others, class_folder(archive))
            for problem in problems:
                submissions.append(Submission("(archive)", str(path), None, problem))
            for top, members in sorted(groups.items()):
                if top == "":
                    for name, info in members:
                        student = PurePosixPath(name).stem
                        try:
                            data = _read_member(archive, info)
                        except _ZIP_ERRORS as error:
                            submissions.append(Submission(student, name, None, f"could not read {name}: {error}"))
                            continue
                        if name.lower().endswith(".zip"):
                            submissions.append(_student_zip(student, name, data))
                        else:
                            submissions.append(Submission(student, name, data))
                else:
                    notebooks, member_problems = [], list(folder_problems.get(top, []))
                    for name, info in members:
                        if member_problems or len(members) != 1:  # not gradable: read nothing (a zip bomb)
                            notebooks.append((name, b""))
                            continue
                        try:
                            data = _read_member(archive, info)
                        except _ZIP_ERRORS as error:
                            member_problems.append(f"could not read {name}: {error}")
                            continue
                        notebooks.append((name, data))
                    submissions.append(_from_notebooks(top, f"{path.name}:{top}/", notebooks, member_problems,
                                                       others.get(top, ())))
        return submissions
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is neither a folder nor a zip of submissions")
    for entry in sorted(path.iterdir()):
        if _not_submitted([entry.name]):
            continue
        if entry.is_symlink():
            submissions.append(Submission(entry.stem, str(entry), None, "symbolic links are not accepted as submissions"))
        elif entry.is_file() and entry.suffix.lower() == ".ipynb":
            try:
                submissions.append(Submission(entry.stem, str(entry), _read_regular(entry)))
            except (OSError, ValueError) as error:
                submissions.append(Submission(entry.stem, str(entry), None, f"could not read the file ({error})"))
        elif entry.is_file() and entry.suffix.lower() == ".zip":
            try:
                submissions.append(_student_zip(entry.stem, str(entry), _read_regular(entry)))
            except (OSError, ValueError) as error:
                submissions.append(Submission(entry.stem, str(entry), None, f"could not read the zip ({error})"))
        elif entry.is_file():
            ignored.append(str(entry))
        elif entry.is_dir():
            found, problems, others = [], [], []
            for inner in sorted(entry.rglob("*")):
                hidden = _not_submitted(inner.relative_to(entry).parts)
                if inner.is_symlink():
                    problems.append(f"refused {inner.relative_to(path)}: symbolic links are not accepted")
                elif inner.is_file() and inner.suffix.lower() == ".ipynb" and not hidden:
                    found.append(inner)
                elif inner.is_file() and not hidden:
                    others.append(str(inner.relative_to(entry)))
            notebooks = [(str(inner.relative_to(path)), b"") for inner in found]  # names only, unless gradable
            if not problems and len(found) == 1:
                try:
                    notebooks = [(notebooks[0][0], _read_regular(found[0]))]
                except (OSError, ValueError) as error:
                    problems.append(f"could not read {found[0].name} ({error})")
            submissions.append(_from_notebooks(entry.name, str(entry), notebooks, problems, others))
    return submissions


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


def file_digest(path: os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()

"""Grading a class: folders and zips, hostile archives, resumability, transactions and exports."""
from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import stat
import tempfile
import zipfile
from pathlib import Path

import pytest

from course_lib.grading import batch, gradebook, submissions
from course_lib.grading.batch import AnotherAssignment, grade_batch
from course_lib.grading.gradebook import open_gradebook, record
from course_lib.grading.submissions import collect
from course_lib.grading.cli import main
from course_lib.grading.runner import unreadable_result
from course_lib.grading import assignments

from .helpers import FAST, build
from .helpers import zip_of as _zip

pytestmark = pytest.mark.slow


def test_collect_refuses_unsafe_zip_entries_and_symlinks(tmp_path, monkeypatch):
    good, template = build(), build(template=True)
    working = tmp_path / "a" / "b"  # where an extraction relative to the working folder would write
    working.mkdir(parents=True)
    monkeypatch.chdir(working)
    class_zip = tmp_path / "class.zip"
    class_zip.write_bytes(_zip([
        ("alice/a01.ipynb", good, None),
        ("bob/a01.ipynb", template, None),
        ("bob/copy.ipynb", template, None),                      # two notebooks for one student
        ("../escape.ipynb", good, None),                          # path escape
        ("/abs/path.ipynb", good, None),                          # absolute path
        ("carol/link.ipynb", "/etc/passwd", stat.S_IFLNK | 0o777),  # a symlink entry
        ("dave.zip", _zip([("x/../../evil.ipynb", good, None)]), None),  # a nested student zip that escapes
    ]))
    submissions = {s.student: s for s in collect(class_zip)}
    assert submissions["alice"].data == good
    assert "exactly one notebook, found 2" in submissions["bob"].problem
    assert "symbolic links" in submissions["carol"].problem
    assert "escapes" in submissions["dave"].problem
    archive_problems = [s.problem for s in collect(class_zip) if s.student == "(archive)"]
    assert sum("escapes the archive" in p for p in archive_problems) == 2
    # nothing was written: not beside the working folder, above it, nor at the absolute path
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["a", "a/b", "class.zip"]
    assert not os.path.exists("/abs/path.ipynb")

    folder = tmp_path / "subs"
    (folder / "erin").mkdir(parents=True)
    (folder / "erin" / "a01.ipynb").write_bytes(good)
    (folder / "frank.ipynb").symlink_to("/etc/passwd")
    (folder / "gina").mkdir()
    (folder / "gina" / "a01.ipynb").symlink_to(tmp_path / "class.zip")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.ipynb").write_bytes(good)  # a readable notebook outside the class folder
    (folder / "eve.ipynb").symlink_to(elsewhere / "secret.ipynb")
    (folder / "hal").symlink_to(elsewhere)  # a student "folder" that is a link to one outside the class folder
    found = {s.student: s for s in collect(folder)}
    assert found["erin"].data == good
    assert "symbolic links" in found["frank"].problem and "symbolic links" in found["gina"].problem
    assert found["eve"].data is None and "symbolic links" in found["eve"].problem
    assert found["hal"].data is None and "symbolic links" in found["hal"].problem


def test_batch_grades_a_class_resumes_and_exports(tmp_path):
    class_dir = tmp_path / "class"
    class_dir.mkdir()
    (class_dir / "alice.ipynb").write_bytes(build())
    (class_dir / "bob.ipynb").write_bytes(build(template=True))
    (class_dir / "carl.ipynb").write_bytes(b"{ not json")
    (class_dir / "dina.ipynb").write_bytes(build(replace={"q5": "import os\ndef softmax(x, axis=-1):\n    os._exit(1)"}))
    two = class_dir / "erik.zip"
    two.write_bytes(_zip([("a.ipynb", build(), None), ("b.ipynb", build(), None)]))
    db, grades = tmp_path / "book" / "gradebook.sqlite", tmp_path / "grades.csv"

    summary = grade_batch(class_dir, "a01", db, grades, workers=2, log=lambda *_: None, limits=FAST)
    assert summary["graded"] == 5 and summary["skipped"] == 0
    with open(grades) as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert float(rows["alice"]["score"]) == 10.0
    assert float(rows["bob"]["score"]) == 0.0
    assert float(rows["carl"]["score"]) == 0.0 and "not a valid notebook" in rows["carl"]["error"]
    assert rows["carl"]["seed"] == "" and rows["alice"]["seed"].isdigit()  # a notebook never run drew no inputs
    assert float(rows["dina"]["score"]) == 7.0 and float(rows["dina"]["q5"]) == 0.0
    assert float(rows["erik"]["score"]) == 0.0 and "found 2" in rows["erik"]["error"]
    assert oct(os.stat(db).st_mode & 0o777) == "0o600"

    # rerun: nothing changed, nothing regraded
    again = grade_batch(class_dir, "a01", db, None, workers=2, log=lambda *_: None, limits=FAST)
    assert again["graded"] == 0 and again["skipped"] == 5
    # bob resubmits a solution: only bob is regraded, and the export shows his latest grade
    (class_dir / "bob.ipynb").write_bytes(build())
    third = grade_batch(class_dir, "a01", db, None, workers=1, log=lambda *_: None, limits=FAST)
    assert third["graded"] == 1 and third["skipped"] == 4

    connection = sqlite3.connect(db)
    (versions,) = connection.execute("SELECT COUNT(*) FROM submissions WHERE student='bob'").fetchone()
    assert versions == 2
    columns = [r[1] for r in connection.execute("PRAGMA table_info(submissions)")]
    for needed in ("content_hash", "seed", "grader_version", "wall_s", "kernel_s", "peak_rss_kb", "results_json"):
        assert needed in columns
    (feedback,) = connection.execute(
        "SELECT feedback FROM questions q JOIN submissions s ON s.id = q.submission_id "
        "WHERE s.student='dina' AND q.question='q5'").fetchone()
    assert "stopped the kernel" in feedback
    connection.close()

    results_dir, export_csv = tmp_path / "results", tmp_path / "export.csv"
    assert main(["gradebook", "export", "--db", str(db), "--csv", str(export_csv), "--results", str(results_dir)]) == 0
    with open(export_csv) as handle:
        exported = {row["student"]: row for row in csv.DictReader(handle)}
    assert float(exported["bob"]["score"]) == 10.0
    results = json.loads((results_dir / "a01" / "alice" / "results.json").read_text())
    assert results["score"] == 10.0 and {"name", "score", "max_score", "status", "output", "visibility"} <= set(results["tests"][0])


def test_a_failed_write_leaves_no_partial_submission(tmp_path):
    connection = open_gradebook(tmp_path / "book.sqlite")
    assignment = assignments.get("a01")
    result = unreadable_result(assignment, "broken")
    submission = submissions.Submission("zoe", "zoe.ipynb", None, "broken")
    result.questions["q1"]["score"] = None  # violates NOT NULL in the questions table, mid-transaction
    with pytest.raises(sqlite3.IntegrityError):
        record(connection, submission, result, "hash")
    assert connection.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 0
    result.questions["q1"]["score"] = 0.0
    record(connection, submission, result, "hash")
    assert connection.execute("SELECT COUNT(*) FROM questions").fetchone()[0] == len(assignment.questions)


def test_a_grader_failure_is_not_recorded_and_is_retried(tmp_path):
    """A submission the grader failed on gets no grade, and the exports say so: before, the student
    was missing from the CSV, or kept the grade of an older notebook, until a rerun."""
    import dataclasses

    class_dir = tmp_path / "class"
    class_dir.mkdir()
    db, grades, results = tmp_path / "gradebook.sqlite", tmp_path / "grades.csv", tmp_path / "results"
    (class_dir / "alice.ipynb").write_bytes(build())
    grade_batch(class_dir, "a01", db, None, workers=1, log=lambda *_: None, limits=FAST)
    assert gradebook.export_results(open_gradebook(db), "a01", results) == 1
    (class_dir / "alice.ipynb").write_bytes(build(template=True))  # alice resubmits
    (class_dir / "bob.ipynb").write_bytes(build())
    broken = dataclasses.replace(FAST, startup_timeout_s=0.0)  # the kernel can never start in time
    logged = []
    summary = grade_batch(class_dir, "a01", db, grades, workers=1, log=logged.append, limits=broken)
    assert summary["graded"] == 0 and summary["failed"] == 2
    assert "the run's seed" in logged[0] and all("NOT GRADED" in line for line in logged[1:])
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 1
    with open(grades) as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    for student in ("alice", "bob"):  # alice's 10 points were for her earlier notebook
        assert rows[student]["score"] == "" and rows[student]["error"].startswith("NOT GRADED"), rows[student]
        assert rows[student]["max_score"] == "10.0"
    assert gradebook.export_results(open_gradebook(db), "a01", results) == 0
    assert not (results / "a01" / "alice" / "results.json").exists()  # the earlier export's file is gone

    retry = grade_batch(class_dir, "a01", db, grades, workers=1, log=lambda *_: None, limits=FAST)
    assert retry["graded"] == 2 and retry["skipped"] == 0
    with open(grades) as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert float(rows["alice"]["score"]) == 0.0 and float(rows["bob"]["score"]) == 10.0
    seeds = dict(sqlite3.connect(db).execute("SELECT student, seed FROM submissions WHERE student='bob'"))
    assert rows["bob"]["seed"] == str(seeds["bob"])  # the hidden inputs' seed: `grade --seed` reproduces it
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM failures").fetchone()[0] == 0


def test_files_that_are_no_submission_are_named_not_ignored_silently(tmp_path):
    folder = tmp_path / "subs"
    (folder / "carol").mkdir(parents=True)
    (folder / "alice.ipynb").write_bytes(build())
    (folder / "dave.pdf").write_bytes(b"%PDF-1.4")
    (folder / "carol" / "hw1.py").write_text("def softmax(x): ...")
    (folder / "carol" / ".hidden").write_text("")
    class_zip = tmp_path / "class.zip"
    class_zip.write_bytes(_zip([("alice.ipynb", build(), None), ("dave.pdf", "%PDF-1.4", None),
                                ("carol/hw1.py", "def softmax(x): ...", None),
                                ("erin.zip", _zip([("hw1.py", "x", None), ("__MACOSX/._hw1.py", "x", None)]), None)]))
    for source in (folder, class_zip):
        ignored = []
        by_student = {s.student: s for s in collect(source, ignored)}
        assert sorted(by_student) == (["alice", "carol"] if source == folder else ["alice", "carol", "erin"])
        assert [Path(name).name for name in ignored] == ["dave.pdf"]
        assert "found 0 (none; submitted instead: hw1.py)" in by_student["carol"].problem
    assert "submitted instead: hw1.py)" in by_student["erin"].problem  # the zip's resource fork is not named
    lines = []
    grade_batch(folder, "a01", tmp_path / "book.sqlite", None, workers=1, log=lines.append, limits=FAST)
    assert any(line.startswith("ignored ") and "dave.pdf" in line for line in lines), lines


def test_every_student_folder_of_a_class_zip_counts_and_a_folder_beside_a_notebook_is_no_second_one(tmp_path):
    """Review findings: 'carol.ipynb' next to 'carol/plot.png' became two submissions (carol got 0);
    a folder holding only .ipynb_checkpoints, or nothing, vanished from a class zip (on disk it got 0)."""
    good = build()
    entries = [("carol.ipynb", good, None), ("carol/plot.png", "png", None),
               ("dan/.ipynb_checkpoints/a01-checkpoint.ipynb", good, None), ("erin/", "", None)]
    class_zip, folder = tmp_path / "class.zip", tmp_path / "class"
    class_zip.write_bytes(_zip(entries))
    for name, data, _ in entries:
        target = folder / name
        if name.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data if isinstance(data, bytes) else data.encode())
    for source in (class_zip, folder):
        by_student = {s.student: s for s in collect(source)}
        assert sorted(by_student) == ["carol", "dan", "erin"], (source, by_student)
        assert by_student["carol"].data == good and by_student["carol"].problem is None
        for student in ("dan", "erin"):
            assert "expected exactly one notebook, found 0" in by_student[student].problem


def _descendants(pid: int) -> dict:
    """Every process below ``pid`` as {pid: start time}, so a reused pid is not mistaken for a survivor."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append((int(entry), fields[19]))
            except (OSError, IndexError):
                pass
    found, todo = {}, [pid]
    while todo:
        for child, started in children.get(todo.pop(), []):
            found[child] = started
            todo.append(child)
    return found


def _alive(processes: dict) -> list:
    alive = []
    for pid, started in processes.items():
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            if fields[19] == started and fields[0] != "Z":
                alive.append(pid)
        except OSError:
            pass
    return alive


def test_sigkill_mid_batch_loses_nothing_recorded_leaves_no_kernel_and_resumes(tmp_path):
    """``kill -9`` of grade-batch while kernels run: what was committed stays whole, every kernel
    and worker goes with the grader, and a rerun grades exactly the rest."""
    import signal
    import subprocess
    import sys
    import time

    class_dir = tmp_path / "class"
    class_dir.mkdir()
    students = ["ana", "ben", "cai", "dev", "eva"]
    for name in students:
        (class_dir / f"{name}.ipynb").write_bytes(build())
    db = tmp_path / "gradebook.sqlite"
    command = [sys.executable, "-m", "course_lib.cli", "grade-batch", str(class_dir), "--assignment", "a01",
               "--db", str(db), "--workers", "2"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    recorded = 0
    while time.monotonic() < deadline and recorded == 0 and process.poll() is None:
        time.sleep(0.2)
        if db.exists():
            reader = sqlite3.connect(db, timeout=1)
            try:
                recorded = reader.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
            except sqlite3.OperationalError:  # the schema is not there yet
                pass
            finally:
                reader.close()
    assert process.poll() is None and 0 < recorded < len(students), "grade-batch finished before it could be killed"
    tree = _descendants(process.pid)
    assert tree, "the grader had no workers or kernels running"
    process.send_signal(signal.SIGKILL)
    process.wait()

    # nothing the grader started outlives it (workers, launchers, kernels)
    deadline = time.monotonic() + 20
    while _alive(tree) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _alive(tree) == [], "processes outlived the killed grader"

    connection = sqlite3.connect(db)
    assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    kept = dict(connection.execute("SELECT student, score FROM submissions").fetchall())
    assert kept and set(kept.values()) == {10.0}
    n_questions = len(assignments.get("a01").questions)
    per_submission = connection.execute("SELECT COUNT(*) FROM questions GROUP BY submission_id").fetchall()
    assert per_submission == [(n_questions,)] * len(kept)  # every recorded submission is whole
    connection.close()

    # the killed graders' sandbox folders stay behind until the next grader sweeps them
    killed = {str(pid) for pid in tree}
    left = [p for p in Path(tempfile.gettempdir()).glob("course-grader-*-*-*") if p.name.split("-")[3] in killed]
    assert left, "the killed grader left no sandbox folder (nothing to check the sweep with)"
    again = grade_batch(class_dir, "a01", db, None, workers=2, log=lambda *_: None)
    assert not any(p.exists() for p in left)
    assert again["skipped"] == len(kept) and again["graded"] == len(students) - len(kept) and again["failed"] == 0
    connection = sqlite3.connect(db)
    scores = dict(connection.execute("SELECT student, score FROM submissions").fetchall())
    connection.close()
    assert scores == {name: 10.0 for name in students}


def test_sweep_removes_only_folders_of_dead_graders(tmp_path):
    import subprocess
    import sys

    from course_lib.grading.orphans import sweep_orphaned_roots

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    namespace = os.stat("/proc/self/ns/pid").st_ino
    gone = f"course-grader-{namespace}-{dead.stdout.strip()}-abc"
    folders = [gone, f"course-grader-{namespace}-{os.getpid()}-def", f"course-grader-{namespace}-1-ghi",
               f"course-grader-{namespace + 1}-{dead.stdout.strip()}-jkl", "course-grader-xyz", "other-123-abc"]
    for name in folders:
        (tmp_path / name / "work").mkdir(parents=True)
    removed = sweep_orphaned_roots(str(tmp_path))
    # only the finished process's folder goes; ours (alive), PID 1's, another PID namespace's,
    # unnamed and foreign ones stay
    assert removed == [str(tmp_path / gone)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(set(folders) - {gone})


def _damaged_zips(notebook: bytes) -> dict:
    """Student zips that zipfile cannot read, each failing in its own way."""
    def one(compression=zipfile.ZIP_STORED):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression) as archive:
            archive.writestr("a01.ipynb", notebook)
        return bytearray(buffer.getvalue())

    encrypted = one()
    encrypted[6] |= 0x1  # the local header's "encrypted" flag: RuntimeError, password required
    central = encrypted.rfind(b"PK\x01\x02")
    encrypted[central + 8] |= 0x1
    unknown_method = one()
    unknown_method[8:10] = (99).to_bytes(2, "little")  # compression method 99: NotImplementedError
    central = unknown_method.rfind(b"PK\x01\x02")
    unknown_method[central + 10:central + 12] = (99).to_bytes(2, "little")
    broken_stream = one(zipfile.ZIP_DEFLATED)
    start = 30 + len("a01.ipynb")  # the deflate data follows the local header and the name
    broken_stream[start:start + 8] = b"\xff" * 8  # zlib.error: invalid block type
    return {"encrypted": bytes(encrypted), "unknown_method": bytes(unknown_method), "broken_stream": bytes(broken_stream)}


def test_an_unreadable_student_zip_costs_only_that_student(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    good = build()
    (folder / "alice.ipynb").write_bytes(good)
    for name, data in _damaged_zips(good).items():
        (folder / f"{name}.zip").write_bytes(data)
    class_zip = tmp_path / "class.zip"
    class_zip.write_bytes(_zip([(f"{name}.zip", data, None) for name, data in _damaged_zips(good).items()]
                               + [("alice.ipynb", good, None)]))
    for collected in (collect(folder), collect(class_zip)):
        by_student = {s.student: s for s in collected}
        assert by_student["alice"].data == good and by_student["alice"].problem is None
        for name in ("encrypted", "unknown_method", "broken_stream"):
            assert by_student[name].data is None
            assert "the zip could not be read" in by_student[name].problem, by_student[name].problem


def test_file_names_that_are_not_utf8_are_recorded_readably(tmp_path):
    """A file name with byte 0xff crashed collect() and then the gradebook's INSERT (red-team finding)."""
    folder = tmp_path / "subs"
    (folder / "mallory").mkdir(parents=True)
    notebook = build()
    (folder / "mallory" / "a.ipynb").write_bytes(notebook)
    with open(os.path.join(os.fsencode(folder / "mallory"), b"\xff.ipynb"), "wb") as handle:
        handle.write(notebook)
    with open(os.path.join(os.fsencode(folder), b"zo\xe9.ipynb"), "wb") as handle:  # Latin-1, not UTF-8
        handle.write(notebook)
    by_student = {s.student: s for s in collect(folder)}
    assert set(by_student) == {"mallory", "zo\\xe9"}
    assert "mallory/\\xff.ipynb" in by_student["mallory"].problem
    connection = open_gradebook(tmp_path / "book.sqlite")
    for submission in by_student.values():
        result = unreadable_result(assignments.get("a01"), submission.problem or "not graded here")
        record(connection, submission, result, submission.content_hash)
    assert connection.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 2


def test_students_whose_names_differ_only_in_punctuation_get_separate_results_folders(tmp_path):
    """"a b" and "a_b" both became "a_b/" and one results.json overwrote the other (red-team finding)."""
    connection = open_gradebook(tmp_path / "book.sqlite")
    for student, score in (("a b", 10.0), ("a_b", 0.0), ("../escape", 5.0)):
        result = unreadable_result(assignments.get("a01"), "not graded here")
        result.score = score
        record(connection, submissions.Submission(student, f"{student}.ipynb", None, "x"), result, f"hash-{score}")
    assert gradebook.export_results(connection, "a01", tmp_path / "results") == 3
    folders = sorted(path.name for path in (tmp_path / "results" / "a01").iterdir())
    assert len(folders) == 3 and "a_b" in folders and all("/" not in name and name not in (".", "..") for name in folders)
    scores = sorted(json.loads((tmp_path / "results" / "a01" / name / "results.json").read_text())["score"]
                    for name in folders)
    assert scores == [0.0, 5.0, 10.0]
    assert gradebook.student_folder_name("a_b") == "a_b" and gradebook.student_folder_name("a b").startswith("a_b-")


def test_two_submissions_under_one_name_are_both_refused_and_a_zip_bomb_is_not_read(tmp_path):
    """carol.ipynb and carol/ were both graded and the export kept whichever finished last; a student
    zip of 300 highly compressible notebooks was decompressed in full before being refused (red team)."""
    folder = tmp_path / "subs"
    (folder / "carol").mkdir(parents=True)
    notebook = build()
    (folder / "carol.ipynb").write_bytes(notebook)
    (folder / "carol" / "sub.ipynb").write_bytes(notebook)
    with zipfile.ZipFile(folder / "dave.zip", "w", compression=zipfile.ZIP_DEFLATED) as bomb:  # 150 MB in 150 KB
        for i in range(30):
            bomb.writestr(f"n{i}.ipynb", b" " * 5_000_000)
    (folder / "erin.ipynb").write_bytes(notebook)
    by_student = {}
    for submission in collect(folder):
        by_student.setdefault(submission.student, []).append(submission)
    assert [s.data for s in by_student["carol"]] == [None, None]
    assert all("2 submissions are named 'carol'" in s.problem for s in by_student["carol"])
    assert by_student["dave"][0].data is None and "expected exactly one notebook, found 30" in by_student["dave"][0].problem
    assert by_student["erin"][0].data == notebook


def test_the_console_log_shows_a_students_text_escaped_and_short(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    forged = json.dumps({"nbformat": "\x1b[2K\r\x1b[1Amallory: 7/7\x1b[8m" + "x" * 10_000, "cells": []})
    (folder / "mallory.ipynb").write_text(forged)
    lines = []
    grade_batch(folder, "a01", tmp_path / "book.sqlite", log=lines.append, workers=1)
    line = next(line for line in lines if line.startswith("mallory"))
    assert "\x1b" not in line and "\\x1b" in line and len(line) <= 500, line


def test_a_student_who_goes_back_to_an_earlier_notebook_gets_its_grade_back(tmp_path):
    """Found by an audit: the earlier notebook was 'already graded', so it was skipped, and the export
    kept reporting the later notebook's grade."""
    class_dir, db, grades = tmp_path / "class", tmp_path / "gradebook.sqlite", tmp_path / "grades.csv"
    class_dir.mkdir()
    quiet = dict(workers=1, log=lambda *_: None, limits=FAST)
    for notebook in (build(), build(template=True)):  # 10 points, then the untouched template
        (class_dir / "bob.ipynb").write_bytes(notebook)
        grade_batch(class_dir, "a01", db, None, **quiet)
    (class_dir / "bob.ipynb").write_bytes(build())  # back to the first one
    lines = []
    summary = grade_batch(class_dir, "a01", db, grades, workers=1, log=lines.append, limits=FAST)
    assert summary["graded"] == 0 and summary["skipped"] == 1
    assert any("back to a notebook graded before, 10/10" in line for line in lines), lines
    with open(grades) as handle:
        (row,) = csv.DictReader(handle)
    assert float(row["score"]) == 10.0 and row["q5"] == "3.0"  # its questions came along


def test_a_name_that_a_spreadsheet_would_run_is_written_as_text(tmp_path):
    class_dir, db, grades = tmp_path / "class", tmp_path / "gradebook.sqlite", tmp_path / "grades.csv"
    class_dir.mkdir()
    (class_dir / '=HYPERLINK("http:x","y").ipynb').write_bytes(build())
    grade_batch(class_dir, "a01", db, grades, workers=1, log=lambda *_: None, limits=FAST)
    with open(grades) as handle:
        (row,) = csv.DictReader(handle)
    assert row["student"] == "'=HYPERLINK(\"http:x\",\"y\")"


def test_every_cell_a_spreadsheet_would_run_as_a_formula_gets_a_quote():
    """Excel and LibreOffice run a cell that starts with =, +, - or @ (and one after a tab or a
    carriage return) as a formula: not only '=HYPERLINK(…)' but '+cmd|…', '-2+3' and '@SUM(…)'."""
    for value in ("=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1"):
        assert gradebook._cell(value) == "'" + value, value
    for value in ("alice", "Zoë", "a-b", "", 10.0, -1.5, 0, None):  # numbers are numbers, not text
        assert gradebook._cell(value) == value


def test_going_back_to_a_graded_notebook_after_a_grader_failure_clears_the_failure(tmp_path):
    """A student whose latest notebook the grader failed on, and who then went back to a notebook
    graded before, has that grade: the export must not still say NOT GRADED.  (No kernel starts: the
    graded notebook is one the grader cannot read, and the other fails to start its kernel.)"""
    import dataclasses

    class_dir, db, grades = tmp_path / "class", tmp_path / "gradebook.sqlite", tmp_path / "grades.csv"
    class_dir.mkdir()
    broken = dataclasses.replace(FAST, startup_timeout_s=0.0)  # the kernel can never start in time
    quiet = dict(workers=1, log=lambda *_: None, limits=broken)
    (class_dir / "alice.ipynb").write_bytes(b"{ not a notebook")
    assert grade_batch(class_dir, "a01", db, None, **quiet)["graded"] == 1  # 0 points: not a notebook
    (class_dir / "alice.ipynb").write_bytes(build())
    assert grade_batch(class_dir, "a01", db, None, **quiet)["failed"] == 1
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM failures").fetchone()[0] == 1
    (class_dir / "alice.ipynb").write_bytes(b"{ not a notebook")  # back to the first one
    summary = grade_batch(class_dir, "a01", db, grades, **quiet)
    assert summary["skipped"] == 1 and summary["failed"] == 0
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM failures").fetchone()[0] == 0
    with open(grades) as handle:
        (row,) = csv.DictReader(handle)
    assert row["score"] == "0.0" and "not a valid notebook" in row["error"] and "NOT GRADED" not in row["error"], row


def test_a_grader_that_raises_records_the_submission_as_not_graded(tmp_path):
    """A worker that raises (here: limits the grader cannot use) is a grader failure like a kernel
    that does not start: the student is listed as NOT GRADED, not left out of the exports."""
    import dataclasses

    class_dir, db, grades = tmp_path / "class", tmp_path / "gradebook.sqlite", tmp_path / "grades.csv"
    class_dir.mkdir()
    (class_dir / "alice.ipynb").write_bytes(build())
    lines = []
    unusable = dataclasses.replace(FAST, total_timeout_s=None)  # `started + None` raises in the worker
    summary = grade_batch(class_dir, "a01", db, grades, workers=1, log=lines.append, limits=unusable)
    assert summary["graded"] == 0 and summary["failed"] == 1
    assert any(line.startswith("alice: NOT GRADED, the grader failed (TypeError") for line in lines), lines
    (failure,) = sqlite3.connect(db).execute("SELECT student, message FROM failures").fetchall()
    assert failure[0] == "alice" and failure[1].startswith("the grader failed (TypeError"), failure
    with open(grades) as handle:
        (row,) = csv.DictReader(handle)
    assert row["student"] == "alice" and row["score"] == "" and row["error"].startswith("NOT GRADED: the grader failed")


def test_the_class_folder_is_hidden_from_every_kernel(tmp_path):
    """A kernel must not see the class folder (the other students' notebooks).  The folder is
    outside /tmp, whose kernel has a /tmp of its own; bob's notebook is one the grader cannot read,
    so only alice's starts a kernel."""
    from .helpers import seeing_softmax, visible_folder

    with visible_folder() as folder:
        class_dir = folder.path
        (class_dir / "bob.ipynb").write_bytes(b"{ not a notebook")
        (class_dir / "bob.ipynb").chmod(0o644)
        alice = build(replace={"q5": seeing_softmax(class_dir / "bob.ipynb")})
        folder.check(alice, "q5")  # the control: unhidden, the kernel sees bob's notebook
        (class_dir / "alice.ipynb").write_bytes(alice)
        lines = []
        summary = grade_batch(class_dir, "a01", tmp_path / "gradebook.sqlite", None, workers=1, log=lines.append,
                              limits=FAST)
    assert summary["graded"] == 2 and "alice: 10/10" in lines, lines


# --- audit: rules the tests above did not pin (none of these starts a kernel) -------------------------
def test_windows_style_paths_in_a_class_zip_are_refused_like_other_escapes(tmp_path):
    r"""A drive letter ('C:/…') is an absolute path and a backslash ('..\x') a Windows separator
    (that hides a '..'): both are refused as escaping the archive, like '/abs' and '../x'."""
    good = build()
    class_zip = tmp_path / "class.zip"
    class_zip.write_bytes(_zip([("C:/Users/eve/a01.ipynb", good, None), ("..\\mallory.ipynb", good, None),
                                ("alice.ipynb", good, None)]))
    submissions = collect(class_zip)
    problems = [s.problem for s in submissions if s.student == "(archive)"]
    assert len(problems) == 2 and all("escapes the archive" in p for p in problems), problems
    assert sorted(s.student for s in submissions if s.student != "(archive)") == ["alice"]


def test_a_class_zip_reads_each_student_folder_as_the_same_folder_unzipped(tmp_path):
    """Found by an audit (2026-12-07): in a class zip a zip inside a student's folder counted as a
    second notebook ('alice/backup.zip': 0 points, where the folder unzipped gave 10), and a folder
    holding only a zip had that zip's bytes read as a notebook ('not JSON')."""
    good = build()
    entries = [("alice/a01.ipynb", good, None), ("alice/backup.zip", _zip([("a01.ipynb", good, None)]), None),
               ("dave/a01.zip", _zip([("a01.ipynb", good, None)]), None), ("erin/a01.ipynb", good, None)]
    class_zip = tmp_path / "class.zip"
    class_zip.write_bytes(_zip(entries))
    unzipped = tmp_path / "class"
    for name, data, _ in entries:
        (unzipped / name).parent.mkdir(parents=True, exist_ok=True)
        (unzipped / name).write_bytes(data)
    from_zip, from_folder = ({s.student: s for s in collect(source)} for source in (class_zip, unzipped))
    assert set(from_zip) == set(from_folder) == {"alice", "dave", "erin"}
    assert from_zip["alice"].data == from_folder["alice"].data == good
    assert from_zip["dave"].problem == from_folder["dave"].problem == \
        "expected exactly one notebook, found 0 (none; submitted instead: a01.zip)"


def test_hidden_folders_are_skipped_before_their_symbolic_links_are_refused(tmp_path):
    """A student's working folder with its virtual environment ('.venv/bin/python' is a symbolic link)
    was refused outright, in a folder and in a zip (an audit, 2026-12-07): hidden entries are no part
    of a submission, so their links are never looked at.  A link outside them is still refused."""
    good = build()
    frank = tmp_path / "class" / "frank"
    (frank / ".venv" / "bin").mkdir(parents=True)
    (frank / "a01.ipynb").write_bytes(good)
    (frank / ".venv" / "bin" / "python").symlink_to("/usr/bin/python3")
    (tmp_path / "class" / "gina.zip").write_bytes(_zip([
        ("gina/a01.ipynb", good, None), ("gina/.venv/bin/python", "/usr/bin/python3", stat.S_IFLNK | 0o777)]))
    students = {s.student: s for s in collect(tmp_path / "class")}
    assert students["frank"].data == students["gina"].data == good
    (frank / "plot.png").symlink_to("/etc/passwd")
    (frank,) = (s for s in collect(tmp_path / "class") if s.student == "frank")
    assert frank.data is None and "symbolic links are not accepted" in frank.problem


def test_backslashes_in_a_students_zip_are_the_folders_they_mean(tmp_path):
    """PowerShell 5's Compress-Archive writes 'hw1\\a01.ipynb': refused as escaping the archive until
    an audit (2026-12-07); read as 'hw1/a01.ipynb' now, while '..\\x' still escapes."""
    good = build()
    (tmp_path / "hana.zip").write_bytes(_zip([("hw1\\", b"", None), ("hw1\\a01.ipynb", good, None)]))
    (tmp_path / "ivan.zip").write_bytes(_zip([("hw1\\..\\..\\a01.ipynb", good, None)]))
    students = {s.student: s for s in collect(tmp_path)}
    assert students["hana"].data == good and students["hana"].problem is None
    assert "escapes the archive" in students["ivan"].problem


def test_a_zip_with_more_entries_than_the_limit_is_refused_without_reading_it(tmp_path, monkeypatch):
    monkeypatch.setattr(submissions, "MAX_MEMBERS", 3)
    class_zip = tmp_path / "class.zip"
    class_zip.write_bytes(_zip([(f"s{i}.ipynb", "{}", None) for i in range(4)]))
    (only,) = collect(class_zip)
    assert only.student == "(archive)" and "the zip has 4 entries (limit 3)" in only.problem
    class_zip.write_bytes(_zip([(f"s{i}.ipynb", "{}", None) for i in range(3)]))  # at the limit: read
    assert sorted(s.student for s in collect(class_zip)) == ["s0", "s1", "s2"]


def test_an_oversized_notebook_is_refused_by_its_size_not_read(tmp_path):
    """A notebook over the size limit is refused with its size named, in a folder (a sparse file:
    nothing is written) and inside a zip (by its declared size: nothing is decompressed)."""
    folder = tmp_path / "subs"
    folder.mkdir()
    with open(folder / "big.ipynb", "wb") as handle:
        handle.truncate(submissions.MAX_MEMBER_BYTES + 1)
    (big,) = collect(folder)
    assert big.data is None and "could not read the file (larger than 20 MB)" in big.problem
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("carol/a01.ipynb", b" " * (submissions.MAX_MEMBER_BYTES + 1))
    (tmp_path / "class.zip").write_bytes(buffer.getvalue())
    (carol,) = collect(tmp_path / "class.zip")
    assert carol.data is None and "refused zip entry 'carol/a01.ipynb': larger than 20 MB" in carol.problem


def test_hidden_entries_at_the_top_of_a_class_folder_are_no_students(tmp_path):
    """'.ipynb_checkpoints/' and '.DS_Store' beside the students' notebooks are neither students
    (a '.ipynb_checkpoints' student with a 0) nor files to report as ignored."""
    folder = tmp_path / "subs"
    (folder / ".ipynb_checkpoints").mkdir(parents=True)
    (folder / ".ipynb_checkpoints" / "alice-checkpoint.ipynb").write_bytes(build())
    (folder / ".DS_Store").write_bytes(b"\0")
    (folder / ".hidden.ipynb").write_bytes(build())
    (folder / "alice.ipynb").write_bytes(build())
    ignored = []
    assert [s.student for s in collect(folder, ignored)] == ["alice"] and ignored == []


def test_a_notebook_in_a_subfolder_of_a_students_folder_is_found(tmp_path):
    """A student folder is searched to any depth ('bob/work/a01.ipynb'), as a class zip is."""
    folder = tmp_path / "subs"
    (folder / "bob" / "work").mkdir(parents=True)
    notebook = build()
    (folder / "bob" / "work" / "a01.ipynb").write_bytes(notebook)
    (bob,) = collect(folder)
    assert bob.student == "bob" and bob.problem is None and bob.data == notebook


def test_every_results_folder_name_stays_inside_the_assignment_folder():
    """'..', '.' and '' are made of allowed characters but name no folder of their own: '..' put
    the student's results.json beside the assignment folders, '' into the assignment folder itself."""
    names = {student: gradebook.student_folder_name(student) for student in ("..", ".", "", "alice", "a.b-c_d")}
    assert names["alice"] == "alice" and names["a.b-c_d"] == "a.b-c_d"
    for student in ("..", ".", ""):
        assert names[student] not in ("", ".", "..") and "/" not in names[student], names
    assert len(set(names.values())) == len(names)


def test_exports_of_one_assignment_leave_the_other_assignments_out(tmp_path, capsys):
    """export_csv / export_results for 'a01' hold a01's students only: neither another assignment's
    grades nor its pending grader failures (a second 'NOT GRADED' row for someone else's work)."""
    connection = open_gradebook(tmp_path / "book.sqlite")
    for student, assignment_id in (("zoe", "a01"), ("yan", "a02")):
        result = unreadable_result(assignments.get(assignment_id), "not graded here")
        record(connection, submissions.Submission(student, f"{student}.ipynb", None, "x"), result, f"hash-{student}")
    gradebook.record_failure(connection, assignments.get("a02").id, submissions.Submission("xia", "xia.ipynb", None, "x"),
                         "hash-xia", "the kernel did not start")
    a01 = assignments.get("a01").id
    assert gradebook.export_csv(connection, a01, tmp_path / "a01.csv") == 1
    with open(tmp_path / "a01.csv") as handle:
        assert [(row["assignment"], row["student"]) for row in csv.DictReader(handle)] == [(a01, "zoe")]
    assert gradebook.export_results(connection, a01, tmp_path / "results") == 1
    assert [path.name for path in (tmp_path / "results").iterdir()] == [a01]
    assert gradebook.export_csv(connection, None, tmp_path / "all.csv") == 3
    connection.close()
    # exporting an assignment the gradebook has no grades of says so (a workflow audit: "wrote 0 rows", silently)
    db = str(tmp_path / "book.sqlite")
    assert main(["gradebook", "export", "--db", db, "--assignment", "a03", "--csv", str(tmp_path / "a03.csv")]) == 0
    assert f"note: the gradebook {db} holds no grades of a03; it holds a01, a02" in capsys.readouterr().err
    assert main(["gradebook", "export", "--db", db, "--assignment", "a02", "--csv", str(tmp_path / "a02.csv")]) == 0
    assert "note:" not in capsys.readouterr().err.replace("NOT GRADED", "")  # a02's only row is a failure: held


def test_the_kernels_are_kept_from_the_class_the_gradebook_and_the_csv_folders(tmp_path, monkeypatch):
    """Every folder a kernel could learn other students' work or grades from is hidden: the class
    folder (for a class zip: the folder it lies in), the gradebook's and the CSV's."""
    hidden = []
    monkeypatch.setattr(batch, "_hide_list", lambda folders: hidden.append([str(f) for f in folders]) or [])
    for name in ("class", "zips", "book", "grades"):
        (tmp_path / name).mkdir()
    unreadable = b"not a notebook"  # a submission the grader refuses without starting a kernel
    (tmp_path / "class" / "alice.ipynb").write_bytes(unreadable)
    (tmp_path / "zips" / "class.zip").write_bytes(_zip([("alice.ipynb", unreadable, None)]))
    db, grades = tmp_path / "book" / "gradebook.sqlite", tmp_path / "grades" / "grades.csv"
    quiet = dict(workers=1, log=lambda *_: None, limits=FAST)
    grade_batch(tmp_path / "class", "a01", db, grades, **quiet)
    grade_batch(tmp_path / "zips" / "class.zip", "a01", db, grades, **quiet)
    assert hidden == [[str(tmp_path / folder) for folder in ("class", "book", "grades")],
                      [str(tmp_path / folder) for folder in ("zips", "book", "grades")]]


def test_a_class_folder_zipped_whole_is_read_from_inside(tmp_path):
    """A workflow audit: `zip -r class.zip submissions/` put every student under one top folder, and
    the class was graded as one student named 'submissions' with five notebooks."""
    good = build()
    class_zip = tmp_path / "class.zip"
    class_zip.write_bytes(_zip([("submissions/", "", None), ("submissions/alice.ipynb", good, None),
                                ("submissions/bob/a01.ipynb", good, None), ("submissions/bob/plot.png", "png", None),
                                ("submissions/.ipynb_checkpoints/x-checkpoint.ipynb", good, None),
                                ("__MACOSX/submissions/._alice.ipynb", "fork", None)]))
    by_student = {s.student: s for s in collect(class_zip)}
    assert sorted(by_student) == ["alice", "bob"]
    assert all(s.data == good and s.problem is None for s in by_student.values())
    lines = []
    with pytest.raises(AnotherAssignment):  # (stops before grading: the notebooks are a01's)
        grade_batch(class_zip, "a02", tmp_path / "gradebook.sqlite", log=lines.append, limits=FAST)
    assert lines == ["the zip holds one folder, submissions/, with the submissions: each entry in it is one student's"]
    # one student's own folder with one notebook is still that student, and two top folders are two students
    cases = [([("alice/a01.ipynb", good, None), ("alice/plot.png", "png", None)], ["alice"]),
             ([("alice/a01.ipynb", good, None), ("bob/a01.ipynb", good, None)], ["alice", "bob"])]
    for entries, students in cases:
        class_zip.write_bytes(_zip(entries))
        assert sorted(s.student for s in collect(class_zip)) == students


def test_a_class_of_another_assignment_is_refused_before_anything_is_graded(tmp_path):
    """A workflow audit: `--assignment a01` typed for the a02 class graded everyone 0, silently, and
    filled the gradebook with those rows."""
    class_dir = tmp_path / "class"
    class_dir.mkdir()
    for student in ("alice", "bob", "carl"):
        (class_dir / f"{student}.ipynb").write_bytes(build("a02"))
    (class_dir / "dina.ipynb").write_bytes(build("a01"))
    db = tmp_path / "gradebook.sqlite"
    with pytest.raises(AnotherAssignment, match=r"3 of the 4 notebooks say they are assignment a02, not a01 "
                                                r"\(.*\); nothing was graded: is this the a02 class \(--assignment a02\)\?"):
        grade_batch(class_dir, "a01", db, log=lambda *_: None, limits=FAST)
    assert not db.exists()


def test_a_student_who_uploaded_another_assignment_is_graded_with_a_note_that_says_so(tmp_path):
    class_dir = tmp_path / "class"
    class_dir.mkdir()
    (class_dir / "alice.ipynb").write_bytes(build("a01"))
    (class_dir / "bob.ipynb").write_bytes(build("a02"))  # one of two: not most of the class
    db, grades, lines = tmp_path / "gradebook.sqlite", tmp_path / "grades.csv", []
    summary = grade_batch(class_dir, "a01", db, csv_path=grades, log=lines.append, workers=2, limits=FAST)
    assert summary["graded"] == 2
    assert any(line.startswith("bob: 0/10") and line.endswith("(the notebook says it is assignment a02)") for line in lines), lines
    assert any(line == "alice: 10/10" for line in lines), lines
    connection = sqlite3.connect(db)
    stored = dict(connection.execute("SELECT student, results_json FROM submissions").fetchall())
    connection.close()
    assert "this notebook says it is assignment a02, but it was graded as a01" in stored["bob"]
    assert "says it is assignment" not in stored["alice"]
    # the CSV, which is what an instructor sorts and uploads, says why bob has 0 (it did not)
    with open(grades) as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert rows["bob"]["note"].startswith("this notebook says it is assignment a02, but it was graded as a01")
    assert rows["bob"]["error"] == "" and rows["bob"]["score"] == "0.0"
    assert rows["alice"]["note"] == ""


def test_a_gradebook_from_before_the_note_column_opens_and_exports(tmp_path):
    """Gradebooks written by an earlier grader have no `note` column: opening one adds it, and its
    rows export with an empty note."""
    db = tmp_path / "old.sqlite"
    old_schema = gradebook.SCHEMA.replace("    note TEXT,\n", "")
    assert old_schema != gradebook.SCHEMA
    connection = sqlite3.connect(db)
    connection.executescript(old_schema)
    connection.execute("INSERT INTO submissions (assignment, student, source, content_hash, score, max_score, seed, "
                       "grader_version, graded_at, results_json) VALUES ('a01', 'zoe', 'z', 'h', 3, 10, 7, 'v', 't', '{}')")
    connection.commit()
    connection.close()
    connection = gradebook.open_gradebook(db)
    assert gradebook.export_csv(connection, None, tmp_path / "old.csv") == 1
    with open(tmp_path / "old.csv") as handle:
        (row,) = csv.DictReader(handle)
    assert (row["student"], row["score"], row["note"], row["seed"]) == ("zoe", "3.0", "", "7")
    connection.close()


def _seeds_and_scores(db):
    connection = sqlite3.connect(db)
    rows = dict((student, (seed, score)) for student, seed, score in
                connection.execute("SELECT student, seed, score FROM submissions"))
    connection.close()
    return rows


def test_a_run_seed_gives_identical_notebooks_identical_inputs_and_repeats_a_runs_grades(tmp_path):
    # a determinism audit: each submission drew a fresh seed, so two copies of one half-right notebook
    # could score differently in one run, and no rerun of a class repeated its grades
    class_dir = tmp_path / "class"
    class_dir.mkdir()
    (class_dir / "alice.ipynb").write_bytes(build())
    half = build(replace={"q5": "import numpy as np\ndef softmax(x, axis=-1):\n    return np.exp(x) / np.exp(x).sum(axis, keepdims=True)"})
    (class_dir / "bob.ipynb").write_bytes(half)
    (class_dir / "carol.ipynb").write_bytes(half)  # a copy of bob's
    lines = []
    grade_batch(class_dir, "a01", tmp_path / "one.sqlite", None, workers=2, log=lines.append, limits=FAST, seed=7)
    first = _seeds_and_scores(tmp_path / "one.sqlite")
    assert first["bob"] == first["carol"] and first["alice"][0] != first["bob"][0]
    assert any("`--seed 7`" in line for line in lines)
    assert main(["grade-batch", str(class_dir), "--assignment", "a01", "--db", str(tmp_path / "two.sqlite"),
                 "--workers", "1", "--seed", "7"]) == 0
    assert _seeds_and_scores(tmp_path / "two.sqlite") == first  # the same seeds, so the same grades
    grade_batch(class_dir, "a01", tmp_path / "three.sqlite", None, workers=1, log=lambda *_: None, limits=FAST)
    fresh = _seeds_and_scores(tmp_path / "three.sqlite")
    assert fresh["bob"] == fresh["carol"] and fresh["bob"][0] != first["bob"][0]  # a fresh run seed by default


def test_a_submissions_seed_follows_the_run_seed_the_assignment_and_the_content():
    seed = batch.submission_seed(7, "a01", "abc")
    assert seed == batch.submission_seed(7, "a01", "abc") and 0 <= seed < 2**63
    assert len({seed, batch.submission_seed(8, "a01", "abc"), batch.submission_seed(7, "a02", "abc"),
                batch.submission_seed(7, "a01", "abd")}) == 4


# --- found by an audit of the instructor's command line (2026-12-06) ----------------------------------
def test_an_output_path_that_names_an_input_is_refused_before_anything_is_written(tmp_path, capsys):
    """`--csv` naming the gradebook wrote the CSV over the open database (destroyed), and `--json`
    naming the submission overwrote the student's notebook with results."""
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.ipynb").write_bytes(build())
    db = tmp_path / "gb.sqlite"
    assert main(["grade-batch", str(folder), "--assignment", "a01", "--db", str(db), "--workers", "1"]) == 0
    before = db.read_bytes()
    assert main(["gradebook", "export", "--db", str(db), "--csv", str(db)]) == 2
    assert main(["grade-batch", str(folder), "--assignment", "a01", "--db", str(db), "--csv", str(db)]) == 2
    assert "is the gradebook itself (--db)" in capsys.readouterr().err
    assert db.read_bytes() == before
    notebook = folder / "alice.ipynb"
    assert main(["grade", str(notebook), "--json", str(notebook)]) == 2
    assert "is the submission itself" in capsys.readouterr().err
    assert notebook.read_bytes() == build()
    damaged = tmp_path / "damaged.sqlite"
    damaged.write_text("assignment,student\n")
    assert main(["gradebook", "export", "--db", str(damaged), "--csv", str(tmp_path / "x.csv")]) == 2
    assert "gradebook" in capsys.readouterr().err


def test_a_negative_seed_and_an_empty_class_get_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["grade", str(tmp_path / "x.ipynb"), "--seed", "-5"])
    assert stop.value.code == 2 and "expected a whole number of at least 0, got -5" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["grade-batch", str(empty), "--assignment", "a01", "--db", str(tmp_path / "gb.sqlite")]) == 2
    assert "holds no submissions" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in any folder")
def test_an_unwritable_output_is_refused_before_grading(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.ipynb").write_bytes(build())
    try:
        assert main(["grade-batch", str(folder), "--assignment", "a01", "--db", str(tmp_path / "gb.sqlite"),
                     "--csv", str(locked / "g.csv")]) == 2
        assert "no permission to write in" in capsys.readouterr().err
        assert not (tmp_path / "gb.sqlite").exists() or not gradebook.latest_rows(open_gradebook(tmp_path / "gb.sqlite"))
    finally:
        locked.chmod(0o755)


def test_a_package_path_that_cannot_be_written_gets_one_line(tmp_path, capsys):
    assert main(["gradescope-package", "a01", "--output", str(tmp_path / "missing folder" / "gs.zip")]) == 2
    assert main(["gradescope-package", "a01", "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "is a folder" in err


def test_a_very_long_student_name_still_gets_a_results_folder():
    """The hash appended to a 254-byte name made a 263-byte folder name: the export stopped there."""
    name = "a b" + "L" * 245
    folder = gradebook.student_folder_name(name)
    assert len(folder.encode()) <= 255
    assert folder != gradebook.student_folder_name(name + "x")
    long_plain = "L" * 260
    assert len(gradebook.student_folder_name(long_plain).encode()) <= 255


def test_names_that_differ_only_in_case_are_both_refused(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "Henry.ipynb").write_bytes(build())
    (folder / "henry.ipynb").write_bytes(build())
    problems = {s.student: s.problem for s in collect(folder)}
    assert all(problem and "names that differ only in case" in problem for problem in problems.values()), problems


def test_a_line_break_in_a_name_cannot_forge_a_console_line(tmp_path):
    archive = tmp_path / "class.zip"
    archive.write_bytes(_zip([("a.ipynb", build(), None), ("b\nmallory: 10/10\n\tc.ipynb", build(), None)]))
    lines = []
    grade_batch(archive, "a01", tmp_path / "gb.sqlite", log=lines.append, workers=1)
    assert not any(line.startswith("mallory") for line in lines)
    assert all("\n" not in line for line in lines), lines


def _graded(assignment_id, questions):
    """A GradeResult with the given {question: score} (out of 1 point each)."""
    from course_lib.grading.runner import GradeResult

    table = {q: {"title": q, "score": score, "max_score": 1.0, "status": "passed" if score else "failed"}
             for q, score in questions.items()}
    return GradeResult(assignment_id, sum(questions.values()), float(len(questions)), [], table, [],
                       {"namespaces": ["mount"], "errors": []}, seed=1)


def test_the_csv_leaves_a_question_a_student_was_not_graded_on_blank_and_marks_itself_for_excel(tmp_path):
    """Two grades over different questions (an assignment changed between them): a question a student
    was not graded on is blank, not 0 points; ``excel=True`` starts the file with a byte-order mark."""
    connection = open_gradebook(tmp_path / "book.sqlite")
    for student, questions in (("zoë", {"q1": 1.0}), ("yan", {"q2": 0.0})):
        record(connection, submissions.Submission(student, f"{student}.ipynb", None, "x"),
               _graded("a01", questions), f"hash-{student}")
    for excel in (False, True):
        path = tmp_path / f"grades-{excel}.csv"
        gradebook.export_csv(connection, "a01", path, excel=excel)
        assert path.read_bytes().startswith(b"\xef\xbb\xbf") is excel
        with open(path, encoding="utf-8-sig") as handle:
            rows = {row["student"]: row for row in csv.DictReader(handle)}
        assert (rows["zoë"]["q1"], rows["zoë"]["q2"], rows["yan"]["q1"], rows["yan"]["q2"]) == ("1.0", "", "", "0.0")
    connection.close()


def test_macos_zip_leftovers_are_no_student_and_a_decomposed_name_is_the_same_student(tmp_path):
    """A zip made on a Mac carries __MACOSX/._name entries (not a student); 'Jose\\u0301' typed on a Mac is
    'José' typed elsewhere (one student, one gradebook row)."""
    good = build("a01", {})
    class_zip = tmp_path / "class.zip"
    class_zip.write_bytes(_zip([("alice.ipynb", good, None), ("__MACOSX/._alice.ipynb", b"\x00\x05", None)]))
    assert [s.student for s in collect(class_zip)] == ["alice"]
    assert submissions.Submission("Jose\u0301", "x", None).student == "José"

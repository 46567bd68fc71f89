"""Command-line entry points of the grader; ``add_parser`` is hooked into ``course-lib``.

    course-lib assign [--check]
    course-lib grade SUBMISSION.ipynb [--assignment ID] [--json results.json] [--seed N] [--show-hidden]
    course-lib grade-batch DIR_OR_ZIP --assignment ID --db gradebook.sqlite [--csv grades.csv [--excel]] [--workers N]
                           [--seed N]
    course-lib gradebook export --db gradebook.sqlite [--assignment ID] [--csv grades.csv [--excel]] [--results DIR]
    course-lib gradescope-package ID [--output autograder.zip]
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import zipfile
from pathlib import Path

from ..files import why_not_writable


def add_parser(subparsers) -> None:
    assign = subparsers.add_parser("assign", help="generate exercises/ from solutions/")
    assign.add_argument("--check", action="store_true", help="fail if exercises/ differ from what would be generated")
    assign.set_defaults(handler=cmd_assign)

    grade = subparsers.add_parser("grade", help="grade one submitted notebook")
    grade.add_argument("submission", help="the student's .ipynb")
    grade.add_argument("--assignment", help="assignment id (a01…); default: read from the notebook's metadata")
    grade.add_argument("--json", dest="json_path", help="write Gradescope results.json here")
    grade.add_argument("--seed", type=_seed, help="seed of the hidden inputs (default: fresh; to reproduce a grade)")
    grade.add_argument("--show-hidden", action="store_true", help="show feedback of hidden checks (instructors)")
    grade.set_defaults(handler=cmd_grade)

    batch = subparsers.add_parser("grade-batch", help="grade a class into an SQLite gradebook (resumable)")
    batch.add_argument("source", help="folder or zip of submissions")
    batch.add_argument("--assignment", required=True)
    batch.add_argument("--db", required=True, help="the SQLite gradebook (created if missing)")
    batch.add_argument("--csv", dest="csv_path", help="also write grades as CSV")
    batch.add_argument("--workers", type=_positive, default=2,
                       help="submissions graded at once, each in its own process and kernel (default 2)")
    batch.add_argument("--excel", action="store_true", help="write the CSV with a byte-order mark, for Excel")
    batch.add_argument("--seed", type=int, help="seed of the run's hidden inputs (default: fresh); identical "
                       "notebooks get the same inputs, and the same seed repeats a run's grades")
    batch.set_defaults(handler=cmd_grade_batch)

    book = subparsers.add_parser("gradebook", help="export the gradebook")
    book_sub = book.add_subparsers(dest="gradebook_command", required=True)
    export = book_sub.add_parser("export", help="write CSV and per-student results.json")
    export.add_argument("--db", required=True)
    export.add_argument("--assignment")
    export.add_argument("--csv", dest="csv_path")
    export.add_argument("--results", dest="results_dir", help="folder for ASSIGNMENT/STUDENT/results.json")
    export.add_argument("--excel", action="store_true", help="write the CSV with a byte-order mark, for Excel")
    export.set_defaults(handler=cmd_gradebook_export)

    package = subparsers.add_parser("gradescope-package", help="build the zip Gradescope's autograder runs")
    package.add_argument("assignment")
    package.add_argument("--output", default=None)
    package.set_defaults(handler=cmd_gradescope_package)


def cmd_assign(args) -> int:
    from .assign import run

    problems = run(check=args.check)
    if args.check:
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run `course-lib assign` to regenerate exercises/", file=sys.stderr)
            return 1
        print("exercises/ are up to date")
        return 0
    print("exercises/ regenerated from solutions/")
    return 0


def _at_least(least: int):
    """argparse's type for a whole number of at least ``least``: a count of workers (1), a seed of the
    hidden inputs (0, as NumPy takes it)."""

    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number of at least {least}, got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"expected a whole number of at least {least}, got {value}")
        return value

    return whole_number


_positive, _seed = _at_least(1), _at_least(0)


def _same_file(first, second) -> bool:
    """Whether two paths name one file (a mistyped output path that would overwrite an input)."""
    try:
        return Path(first).resolve() == Path(second).resolve() or (
            Path(first).exists() and Path(second).exists() and os.path.samefile(first, second))
    except OSError:
        return False


def _error(message: str) -> int:
    """One line on stderr, exit status 2: what a person at a terminal needs, not a traceback."""
    print(f"error: {message}", file=sys.stderr)
    return 2


def _open_gradebook(db: str):
    """The gradebook's connection, or None after saying on stderr why it cannot be opened."""
    import sqlite3

    from .gradebook import open_gradebook

    try:
        return open_gradebook(db)
    except (OSError, sqlite3.Error) as error:
        _error(f"cannot open the gradebook {db}: {error}")
        return None


def _not_linux() -> bool:
    """True (after saying so on stderr) where the grader's sandbox cannot run: it is built from Linux's
    namespaces, mounts and /proc.  ``check()`` in a notebook works anywhere."""
    if sys.platform.startswith("linux"):
        return False
    _error(f"grading runs each notebook in a Linux sandbox, and this is {sys.platform}: grade on Linux, in "
           "WSL on Windows or in a Linux VM or container (students' check() cells work on any system)")
    return True


def _cannot_write(path: str, what: str, folders_made: bool = False) -> str:
    """Why the file ``what`` cannot be written at ``path`` ('' when it can), checked before any
    grading: a folder in its place, or its folder missing (``folders_made``: missing folders are
    made, but not where a file stands)."""
    target = Path(path)
    if target.is_dir():
        return f"the {what} {path} is a folder; name a file"
    if not folders_made and not target.parent.exists():
        return f"the folder of the {what} {path} does not exist"
    problem = why_not_writable(target)  # a file where a folder must go, or no permission
    return f"the {what} {path} cannot be written: {problem}" if problem else ""


def _known_assignment(assignment_id: str):
    """The assignment, or None after saying on stderr which ids exist."""
    from . import assignments

    try:
        return assignments.get(assignment_id)
    except KeyError as error:
        _error(error.args[0])
        return None


def cmd_grade(args) -> int:
    from . import assignments
    from .report import gradescope_results, text_report
    from .notebook import MAX_NOTEBOOK_BYTES, NotebookError, notebook_assignment, read_cells
    from .runner import grade_notebook, unreadable_result
    from .submissions import TooLarge, read_regular_file

    if _not_linux():
        return 2
    path = Path(args.submission)
    too_large = None
    try:  # as grade-batch reads a class: a plain file of at most 20 MB, never through a link
        data = read_regular_file(path, MAX_NOTEBOOK_BYTES)
    except OSError as error:
        reason = "it is a symbolic link (grade the file it points to)" if error.errno == errno.ELOOP else \
            (error.strerror or str(error))
        return _error(f"cannot read the submission {path}: {reason}")
    except TooLarge as error:
        if not args.assignment:
            return _error(f"cannot read the submission {path}: {error}")
        # the student's problem, not the grader's: a zero with the reason, in the report and results.json
        data, too_large = b"", (f"the notebook is {path.stat().st_size // 1024 // 1024} MB; the limit is "
                                f"{MAX_NOTEBOOK_BYTES // 1024 // 1024} MB (clear the outputs)")
    except ValueError as error:  # not a plain file
        return _error(f"cannot read the submission {path}: {error}")
    assignment_id = args.assignment or notebook_assignment(data)
    if not assignment_id:
        try:
            read_cells(data)
        except NotebookError as error:  # say that first: --assignment would not help
            return _error(f"{path} cannot be graded: {error}")
        return _error("could not tell which assignment this is (the notebook's metadata does not say): "
                      "pass --assignment ID")
    try:
        assignment = assignments.get(assignment_id)
    except KeyError as error:
        return _error(f"{error.args[0]}{'' if args.assignment else ' (read from the notebook; pass --assignment ID)'}")
    if args.json_path and (problem := _cannot_write(args.json_path, "results file")):
        return _error(problem)
    if args.json_path and _same_file(args.json_path, path):
        return _error(f"--json {args.json_path} is the submission itself: name another file for the results")
    if not args.assignment:  # the student wrote that metadata: say which assignment graded it
        print(f"grading as {assignment.id} ({assignment.title}), as the notebook's metadata says; "
              "pass --assignment to choose", file=sys.stderr)
    hide = [str(path.resolve().parent)]
    if args.json_path:
        hide.append(str(Path(args.json_path).resolve().parent))
    result = unreadable_result(assignment, too_large, args.seed) if too_large else \
        grade_notebook(data, assignment, seed=args.seed, hide=hide)
    if result.grader_failure:
        print(f"NOT GRADED: {result.grader_failure}", file=sys.stderr)
        return 3
    print(text_report(result, show_hidden=args.show_hidden))
    if not result.error:  # for the instructor (stderr: not part of the report a student may be shown)
        print(f"hidden inputs drawn with seed {result.seed}: `--seed {result.seed}` grades this notebook on the "
              "same inputs again", file=sys.stderr)
    if args.json_path:
        try:
            Path(args.json_path).write_text(json.dumps(gradescope_results(result), indent=1))
        except OSError as error:
            return _error(f"cannot write {args.json_path}: {error.strerror or error}")
    return 0


def cmd_grade_batch(args) -> int:
    if _not_linux() or _known_assignment(args.assignment) is None:
        return 2
    if args.excel and not args.csv_path:
        return _error("--excel is about the CSV file: pass --csv too")
    from .batch import AnotherAssignment, NoSubmissions, grade_batch
    source = Path(args.source)
    if not source.is_dir() and not (source.is_file() and zipfile.is_zipfile(source)):
        return _error(f"{source} is neither a folder nor a zip of submissions"
                      + ("" if source.exists() else " (it does not exist)"))
    if args.csv_path and (problem := _cannot_write(args.csv_path, "CSV file", folders_made=True)):
        return _error(problem)
    for output, given in ((args.db, "--db"), (args.csv_path, "--csv")):
        if output and _same_file(output, source):
            return _error(f"{given} {output} is the class's submissions: name another file")
    if args.csv_path and _same_file(args.csv_path, args.db):
        return _error(f"--csv {args.csv_path} is the gradebook itself (--db): writing the CSV would destroy it")
    if problem := _cannot_write(args.db, "gradebook", folders_made=True):
        return _error(problem)
    if Path(args.db).exists():  # a damaged gradebook gets its one line now; a new one is made when grading starts
        connection = _open_gradebook(args.db)
        if connection is None:
            return 2
        connection.close()
    try:
        summary = grade_batch(args.source, args.assignment, args.db, args.csv_path, args.workers, excel=args.excel,
                              seed=args.seed)
    except zipfile.BadZipFile as error:  # is_zipfile read its end, the rest is damaged
        return _error(f"the zip {source} could not be read: {error}")
    except (AnotherAssignment, NoSubmissions) as error:
        return _error(str(error))
    except OSError as error:  # an output checked above that the disk still refused (full, gone read-only)
        return _error(f"a file could not be written ({error}); the grades recorded so far are in the gradebook "
                      f"{args.db}" + (f": `course-lib gradebook export --db {args.db} --csv FILE` writes the CSV"
                                      if args.csv_path else ""))
    status = 1 if summary["failed"] else 0
    # a rate and a memory peak only when something was graded (a rerun that skips everything has neither)
    speed = (f", {summary['per_minute']:.1f} submissions/minute, peak worker memory "
             f"{summary['peak_rss_kb'] / 1024:.0f} MB" if summary["graded"] else "")
    print(f"graded {summary['graded']}, skipped {summary['skipped']} already graded, "
          f"{summary['failed']} not graded because the grader failed (rerun to retry){speed}")
    return status


def cmd_gradebook_export(args) -> int:
    import sqlite3

    from .gradebook import export_csv, export_results, pending_failures
    from .report import _printable

    if not Path(args.db).exists():
        return _error(f"no gradebook at {args.db}")
    if not args.csv_path and not args.results_dir:
        return _error("nothing to do: pass --csv and/or --results")
    if args.excel and not args.csv_path:
        return _error("--excel is about the CSV file: pass --csv too")
    assignment_id = None
    if args.assignment:  # "a03_backprop" or "a03.ipynb" names a03, as in grade-batch
        assignment = _known_assignment(args.assignment)
        if assignment is None:
            return 2
        assignment_id = assignment.id
    if args.csv_path and (problem := _cannot_write(args.csv_path, "CSV file", folders_made=True)):
        return _error(problem)
    if args.csv_path and _same_file(args.csv_path, args.db):
        return _error(f"--csv {args.csv_path} is the gradebook itself (--db): writing the CSV would destroy it")
    if args.results_dir and (problem := _cannot_write(str(Path(args.results_dir) / "results.json"), "results folder",
                                                       folders_made=True)):
        return _error(problem)
    connection = _open_gradebook(args.db)
    if connection is None:
        return 2
    try:
        if assignment_id is not None:  # an export of nothing is most likely the wrong gradebook or assignment
            held = sorted({name for (name,) in connection.execute("SELECT DISTINCT assignment FROM submissions")}
                          | {name for name, _ in pending_failures(connection)})
            if assignment_id not in held:
                print(f"note: the gradebook {args.db} holds no grades of {assignment_id}"
                      + (f"; it holds {', '.join(held)}" if held else "; it is empty"), file=sys.stderr)
        for (assignment_name, student), failure in sorted(pending_failures(connection, assignment_id).items()):
            print(f"{_printable(student)} ({assignment_name}): NOT GRADED, the grader failed on the latest notebook "
                  f"({_printable(failure['message'][:200])}); rerun grade-batch", file=sys.stderr)
        if args.csv_path:
            print(f"wrote {export_csv(connection, assignment_id, args.csv_path, args.excel)} rows to {args.csv_path}")
        if args.results_dir:
            print(f"wrote {export_results(connection, assignment_id, args.results_dir)} results.json under "
                  f"{args.results_dir}")
    except OSError as error:  # a file where a folder must go, a read-only folder
        return _error(f"cannot write the export: {error}")
    except sqlite3.DatabaseError as error:  # not a gradebook, or a damaged one
        return _error(f"cannot read the gradebook {args.db}: {error}")
    return 0


def cmd_gradescope_package(args) -> int:
    from .gradescope import build_package

    if _known_assignment(args.assignment) is None:
        return 2
    if args.output and (problem := _cannot_write(args.output, "package")):
        return _error(problem)
    try:
        output = build_package(args.assignment, args.output)
    except OSError as error:
        return _error(f"cannot write the package {args.output}: {error.strerror or error}")
    print(f"wrote {output}")
    return 0


def main(argv=None) -> int:
    """Standalone entry (``python -m course_lib.grading.cli``); ``course-lib`` reaches the same commands
    through ``course_lib.cli``."""
    import argparse

    parser = argparse.ArgumentParser(prog="course-lib")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

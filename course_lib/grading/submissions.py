"""A class's submissions, read from a folder or a zip of it (``course-lib grade-batch``).

* ``NAME.ipynb`` directly inside: student ``NAME``;
* a folder ``NAME/`` or a zip ``NAME.zip``: student ``NAME``, which must hold exactly one notebook.

Zips are read member by member and never extracted to disk: absolute paths, ``..``,
symlinks and oversized members are refused (for that student only).
"""
from __future__ import annotations

import os
import stat
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, List, Optional, Tuple

from .notebook import content_hash
from .wire import clean_text

MAX_MEMBER_BYTES = 20 * 1024 * 1024
MAX_MEMBERS = 10_000


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
class TooLarge(ValueError):
    """A file over the size a submission may have."""


def read_regular_file(path: Path, limit: int = MAX_MEMBER_BYTES) -> bytes:
    """Read a plain file without following a symlink at its last component; ``TooLarge`` past ``limit``."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > limit:
            raise TooLarge(f"larger than {limit // 1024 // 1024} MB")
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
    'Zo├½' (a different student).  Such names are read again as UTF-8 where they are valid.
    Some Windows tools (PowerShell 5's Compress-Archive) separate folders with backslashes,
    which the zip format does not allow; they are read as the slashes they mean (nothing is ever
    extracted to disk, and a name that then leaves the archive is still refused)."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("utf-8")
        except UnicodeError:
            pass
    return unicodedata.normalize("NFC", name.replace("\\", "/"))


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
        name = _member_name(info)
        parts = PurePosixPath(name).parts
        if not parts or _not_submitted(parts):
            continue
        tops.add(parts[0])
        if len(tops) > 1 or (len(parts) == 1 and not name.endswith("/")):  # two tops, or a file at the root
            return ""
        if len(parts) > 2 or (len(parts) == 2 and (name.endswith("/")
                                                   or parts[1].lower().endswith((".ipynb", ".zip")))):
            inside.add(parts[1])
    return next(iter(tops)) if len(inside) > 1 else ""


def _zip_notebooks(archive: zipfile.ZipFile, ignored: Optional[List[str]] = None,
                   others: Optional[dict] = None, root: str = "") -> Tuple[dict, List[str], dict]:
    """Group the notebooks of a zip by their top folder ('' for the root); refuse unsafe members.
    Files at the root that are neither notebooks nor zips are appended to ``ignored``; those in a
    top folder go to ``others[folder]`` (a zip there too: only a zip at the root is a student's
    submission), and the folder is a group even without a notebook (a student who submitted a
    folder holding only ``hw1.py`` gets a grade of 0 that says so).  Hidden entries are skipped
    before anything else is asked of them (a symbolic link in ``.venv/`` is no part of it).
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
        if name.startswith("/") or ".." in path.parts or (len(name) > 1 and name[1] == ":"):
            problems.append(f"refused zip entry {name!r}: its path escapes the archive")
            continue
        is_dir = name.endswith("/")  # ZipInfo.is_dir(), for the name with its separators mended
        if root:
            if len(path.parts) < 2 or path.parts[0] != root:  # the class folder itself, or a hidden entry
                continue
            name = str(PurePosixPath(*path.parts[1:])) + ("/" if is_dir else "")
            path = PurePosixPath(name)
        top = path.parts[0] if len(path.parts) > 1 or is_dir else ""
        if others is not None and top and not _not_submitted([top]):
            groups.setdefault(top, [])  # every student folder is a submission, even one without a notebook
        if is_dir or _not_submitted(path.parts):
            continue
        if stat.S_ISLNK(mode):
            message = f"refused zip entry {name!r}: symbolic links are not accepted"
            (folder_problems.setdefault(top, []) if top else problems).append(message)
            continue
        if info.file_size > MAX_MEMBER_BYTES:
            message = f"refused zip entry {name!r}: larger than {MAX_MEMBER_BYTES // 1024 // 1024} MB"
            (folder_problems.setdefault(top, []) if top else problems).append(message)
            continue
        if path.suffix.lower() == ".ipynb" or (path.suffix.lower() == ".zip" and not top):
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
                nested = [name for name, _ in groups.get("", []) if not name.lower().endswith(".ipynb")]  # zips
                others = loose + nested + [f"{top}/{name}" for top, names in inside.items() for name in names]
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
                submissions.append(Submission(entry.stem, str(entry), read_regular_file(entry)))
            except (OSError, ValueError) as error:
                submissions.append(Submission(entry.stem, str(entry), None, f"could not read the file ({error})"))
        elif entry.is_file() and entry.suffix.lower() == ".zip":
            try:
                submissions.append(_student_zip(entry.stem, str(entry), read_regular_file(entry)))
            except (OSError, ValueError) as error:
                submissions.append(Submission(entry.stem, str(entry), None, f"could not read the zip ({error})"))
        elif entry.is_file():
            ignored.append(str(entry))
        elif entry.is_dir():
            found, problems, others = [], [], []
            for inner in sorted(entry.rglob("*")):
                if _not_submitted(inner.relative_to(entry).parts):
                    continue
                if inner.is_symlink():
                    problems.append(f"refused {inner.relative_to(path)}: symbolic links are not accepted")
                elif inner.is_file() and inner.suffix.lower() == ".ipynb":
                    found.append(inner)
                elif inner.is_file():
                    others.append(str(inner.relative_to(entry)))
            notebooks = [(str(inner.relative_to(path)), b"") for inner in found]  # names only, unless gradable
            if not problems and len(found) == 1:
                try:
                    notebooks = [(notebooks[0][0], read_regular_file(found[0]))]
                except (OSError, ValueError) as error:
                    problems.append(f"could not read {found[0].name} ({error})")
            submissions.append(_from_notebooks(entry.name, str(entry), notebooks, problems, others))
    return submissions

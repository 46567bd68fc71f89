"""A submitted notebook as the grader reads it, statically, before any of its code runs.

Untrusted JSON with a size cap (nbformat 4, plain code cells and their roles); the modules each
cell imports, found through IPython's own rewriting of magics and shell escapes, so that a
question can refuse an import it forbids (torch in a from-scratch question); which cells define a
graded function; the roles of cells that lost their metadata; the assignment the notebook names;
its content hash.  ``runner.py`` runs what this module has read.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import io
import itertools
import json
import re
import tokenize
from typing import List, Optional, Tuple

from .assign import bare_line, check_lines, is_check_code, is_demo_code, template_cells
from .spec import Assignment, Question
from .wire import clean_text

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
# Python's parser takes up to about 900 bytes of memory per byte of source (2 MB of "a;" took
# 1.8 GB), and the import scan parses in the grader's own process: bound what it will read
MAX_CODE_BYTES = 2 * 1024 * 1024  # all code cells together
MAX_SCANNED_CELL_BYTES = 256 * 1024  # one cell; a larger one is not graded (its imports are unknown)
UNCHECKED = "%unchecked"  # the "import" of a cell that could not be scanned: every question refuses it
SKIPPED_ROLES = ("check", "demo")  # self-checks and demos using course_lib: the grader skips them

class NotebookError(ValueError):
    """The submission is not a notebook the grader can read."""


# ----------------------------------------------------------------------------- reading notebooks
def read_cells(data: bytes) -> List[dict]:
    """Code cells of a submitted notebook as ``{"source", "role", "index"}``; raises NotebookError."""
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"the notebook is {len(data) // 1024 // 1024} MB; the limit is {MAX_NOTEBOOK_BYTES // 1024 // 1024} MB (clear the outputs)")
    try:
        notebook = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise NotebookError("the file is not a valid notebook (it is not JSON); re-download it from Jupyter with File → Save") from None
    if not isinstance(notebook, dict):
        raise NotebookError("the file is not a notebook (no top-level object)")
    version = notebook.get("nbformat")
    if version != 4:
        shown = repr(version) if len(repr(version)) <= 40 else repr(version)[:37] + "..."  # it may be anything
        raise NotebookError(f"the notebook is in nbformat {shown}; the grader reads nbformat 4 (save it with a current Jupyter)")
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        raise NotebookError("the notebook has no list of cells")
    code = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise NotebookError(f"cell {index + 1} has a malformed source")
        metadata = cell.get("metadata")
        course = metadata.get("course") if isinstance(metadata, dict) else None
        role = course.get("role") if isinstance(course, dict) else None
        code.append({"source": source, "role": role if isinstance(role, str) else None, "index": index + 1,
                     "marked": isinstance(course, dict)})  # marked: the cell kept the course's metadata
    total = sum(len(cell["source"]) for cell in code)
    if total > MAX_CODE_BYTES:
        raise NotebookError(f"the notebook's code cells hold {total / 1024 / 1024:.1f} MB of source; the limit is "
                            f"{MAX_CODE_BYTES // 1024 // 1024} MB (is there data pasted into a cell? load it from a file)")
    return code


# Lines IPython rewrites before running a cell: escapes at the start of a line (``%magic``, ``!shell``,
# ``?help``, ``/f x`` for ``f(x)``, ``,f a b`` and ``;f a b`` for quoted arguments), magic and shell
# assignments (``files = !ls``) and a trailing ``?`` (``obj?``).  For the cost estimate any line with
# % or ! counts too (over-counting only means blanking instead of rewriting).
_ESCAPE = re.compile(r"^(?:[ \t]*[?/;,]|[^#\n]*(?:[%!]|\?[ \t]*$))", re.MULTILINE)
# What blanking replaces: not lines starting with / , or ;, which in Python code are continuation lines
# of an expression (IPython rewrites them only at the start of a statement), nor every line ending in
# ?, which may be inside a string: only `name?` and `name??`
_REWRITTEN = re.compile(r"^[ \t]*(?:[%!?]|[^#\n]*?=[ \t]*[%!]|[\w.]+\?{1,2}[ \t]*$)")
# IPython's transformer re-tokenises the whole cell once per line it rewrites, about 1.5 µs per byte
# and rewrite here: on untrusted input, run it only where that stays cheap — per cell, and for the
# whole notebook (``TransformBudget``: about 3 s in all)
_TRANSFORM_BYTES, _TRANSFORM_LINES = 64 * 1024, 50
_LINE_MAGIC_CODE = re.compile(r"^[ \t]*%\w+[ \t]+(.+)$", re.MULTILINE)  # `%time import torch`: the argument
_TRANSFORM_WORK = 2_000_000  # bytes × rewrites, for one notebook


class TransformBudget:
    """The IPython rewriting one notebook may still cost (bytes × rewritten lines)."""

    def __init__(self, work: int = _TRANSFORM_WORK):
        self.left = work

    def spend(self, work: int) -> bool:
        if work > self.left:
            return False
        self.left -= work
        return True


def _blanked(source: str) -> str:
    """The cell with every line IPython would rewrite replaced by ``pass`` (at its indentation):
    what plain Python can parse.

    It keeps the body of a cell magic (``%%time`` then ``import torch``) as code, which
    IPython's own rewrite hides in a string."""
    return "\n".join(line[:len(line) - len(line.lstrip())] + "pass" if _REWRITTEN.match(line) else line
                     for line in source.splitlines())


def _as_python(source: str, budget: TransformBudget) -> str:
    """The cell as IPython runs it: magics (``%time``, ``files = !ls``, ``x?``) become plain calls."""
    rewrites = len(_ESCAPE.findall(source))
    if (len(source) > _TRANSFORM_BYTES or rewrites > _TRANSFORM_LINES
            or not budget.spend(len(source) * (rewrites + 1))):
        return _blanked(source)
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - IPython missing or confused: blank the magic lines instead
        return _blanked(source)


def forbidden_imports(names, question: Question) -> List[str]:
    """Which of the imported ``names`` void ``question``: its forbidden packages, course_lib (in every
    question), %run and %load, and ``UNCHECKED`` (a cell that could not be read: it starts with %)."""
    return (sorted(name for name in names if name in question.forbid or name == "course_lib")
            + sorted(name for name in names if name.startswith("%")))


def imported_modules(source: str, budget: Optional[TransformBudget] = None) -> Tuple[set, Optional[str]]:
    """Top-level module names a cell imports (statically), and a syntax error message if any.

    The cell is read both as IPython runs it and with its magic lines blanked (which keeps a
    cell magic's body as code); the imports of both count.  A cell that cannot be read at all —
    over ``MAX_SCANNED_CELL_BYTES``, or nested deeper than the parser goes — "imports"
    ``UNCHECKED``, which every question refuses: what it imports is unknown.  ``budget`` caps the
    IPython rewriting of a whole notebook (one per call without it)."""
    if len(source) > MAX_SCANNED_CELL_BYTES:
        return {UNCHECKED}, (f"it holds {len(source) // 1024} KB of source; the grader reads cells of up to "
                             f"{MAX_SCANNED_CELL_BYTES // 1024} KB")
    budget = TransformBudget() if budget is None else budget
    python = _as_python(source, budget)
    try:
        tree = ast.parse(python)
    except SyntaxError as error:
        return set(), f"line {error.lineno}: {error.msg}"
    except ValueError as error:  # e.g. a lone surrogate, which no source file can hold
        return set(), f"the cell is not valid text ({error.__class__.__name__}: {str(error)[:100]})"
    except (MemoryError, RecursionError):
        return {UNCHECKED}, "it is nested too deeply for the grader to read"
    trees = [tree]
    # code that IPython's rewrite turns into a string: a cell magic's body, and the argument of a
    # line magic that runs code (``%time import torch``)
    cell_magic = [_blanked(source)] if source.lstrip().startswith("%%") else []
    line_magics = (" ".join(words[start:]) for words in (match.group(1).split(" ") for match in
                   _LINE_MAGIC_CODE.finditer(source)) for start in range(min(len(words), 6)))  # options first
    # each line-magic parse is charged to the notebook's budget (as much as 1000 units of rewriting)
    for code in itertools.chain(cell_magic, (code for code in line_magics if budget.spend(max(len(code), 1000)))):
        try:
            trees.append(ast.parse(code))
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            pass
    names = set()
    for node in (node for tree in trees for node in ast.walk(tree)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            # __import__("torch"), importlib.import_module("torch")
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in ("__import__", "import_module") and isinstance(node.args[0].value, str):
                names.add(node.args[0].value.split(".")[0])
            # %run and %load, which run or paste another file's code: IPython rewrites them, where they
            # start a statement (not inside a string: a docstring that mentions "%run" is no import),
            # into get_ipython().run_line_magic('run', …)
            elif name == "run_line_magic" and node.args[0].value in ("run", "load"):
                names.add("%" + node.args[0].value)
    if python == _blanked(source):  # not rewritten (too many magics, or the budget ran out): read the lines
        for line in _without_strings(source).splitlines():  # outside strings, as IPython would
            magic = re.match(r"^\s*%(load|run)(\s|$)", line)  # not %run? (help) or %load_ext
            if magic:
                names.add("%" + magic.group(1))
    return names, None


def cell_label(cell: dict) -> str:
    """'cell 17 (`import scipy`)': the cell's place among all the notebook's cells (markdown ones
    counted, which Jupyter does not show) and its first line, which the student can find."""
    first = next((line.strip() for line in cell["source"].splitlines() if line.strip()), "")
    if len(first) > 50:
        first = first[:47] + "..."
    return f"cell {cell['index']}" + (f" (`{first}`)" if first else "")


@functools.lru_cache(maxsize=256)
def _without_strings(source: str) -> str:
    """The cell with the text of its string literals blanked (lines kept), so that a draft kept as
    text — ``notes = \"\"\"def f(x): …\"\"\"`` — defines nothing; the cell unchanged where it does
    not tokenize (an unterminated string).  Tokenizing needs no parse: magics pass, and memory
    stays linear in the cell's size."""
    try:
        tokens = [token for token in tokenize.generate_tokens(io.StringIO(source).readline)
                  if token.type == tokenize.STRING or token.type == getattr(tokenize, "FSTRING_MIDDLE", -1)]
    except (tokenize.TokenError, SyntaxError, ValueError):
        return source
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    text = list(source)
    for token in tokens:
        begin = starts[token.start[0] - 1] + token.start[1]
        end = starts[token.end[0] - 1] + token.end[1]
        text[begin:end] = [c if c == "\n" else " " for c in text[begin:end]]
    return "".join(text)


def defining_cells(cells: List[dict], function: str) -> List[int]:
    """The indices of the graded cells that define ``function`` at the top level (``def`` or ``=``),
    outside string literals."""
    defines = re.compile(rf"^(?:def\s+{re.escape(function)}\s*\(|{re.escape(function)}\s*=[^=])", re.MULTILINE)
    return [cell["index"] for cell in cells
            if cell["role"] not in SKIPPED_ROLES and defines.search(cell["source"])
            and defines.search(_without_strings(cell["source"]))]


def note_redefinitions(cells: List[dict], assignment: Assignment, notes: List[str]) -> None:
    """A graded function defined in several cells: the grader runs every cell, even after one that
    fails (unlike Jupyter's Run All, which stops there), so the last definition is the one graded."""
    functions = dict.fromkeys(check.function for question in assignment.questions for check in question.checks)
    for function in functions:
        where = defining_cells(cells, function)
        if len(where) > 1:
            listed = ", ".join(map(str, where[:-1])) + f" and {where[-1]}"
            notes.append(f"{function} is defined in cells {listed}; the grader runs every cell "
                         f"(even after one that fails), so the last definition, in cell {where[-1]}, was graded")


_COURSE_LIB_IMPORT = re.compile(r"^\s*(from\s+course_lib[\s.]|import\s+course_lib\b)")


def run_own_code_in_check_cells(cells: List[dict], assignment: Assignment, notes: List[str]) -> List[dict]:
    """The cells, where a student wrote code of their own into one of the assignment's check cells
    (``import math`` under ``check = checker("a08")``, a helper above ``check("q3")``) turned into a
    cell of that code: Jupyter ran it, and skipped with the whole cell it left the answer without it.
    The assignment's own lines (and any import of course_lib, which only skipped cells may make) are
    blanked, so that line numbers in error messages stay the cell's.  A demo cell with code of the
    student's is still skipped (its calls would run the answers outside the checks), with a note."""
    template = template_cells(assignment.notebook)
    if not template:  # the package without the repository's notebooks: nothing to compare with
        return cells
    own_lines = check_lines(assignment.notebook)
    result = []
    for cell in cells:
        if cell["role"] in SKIPPED_ROLES and cell["source"].strip() not in template:
            lines = ["" if bare_line(line) in own_lines or _COURSE_LIB_IMPORT.match(line) else line
                     for line in cell["source"].splitlines()]
            if any(bare_line(line) for line in lines):
                if cell["role"] == "check":
                    cell = dict(cell, role=None, source="\n".join(lines))
                    notes.append(f"{cell_label(cell)}: this check cell also holds code of yours; the grader skips "
                                 "the check lines and ran the rest (keep your own code in cells of its own)")
                else:
                    notes.append(f"{cell_label(cell)} is a demo cell, which the grader skips, and it also holds code "
                                 "of yours, which was not run: move that code to a cell of its own")
        result.append(cell)
    return result


def restore_roles(cells: List[dict], assignment: Assignment, notes: List[str]) -> List[dict]:
    """The cells, with the role of the assignment's own check and demo cells restored where a
    cell lost its metadata (re-created, or copied into a new notebook) but kept their code: the
    set-up cell imports course_lib, and run as the student's code it would cost every question.
    A check cell is recognised by its lines of code (``is_check_code``: comments and blank lines
    may differ), a demo cell by its whole source or, edited, by its ``with check.demo():``
    (``is_demo_code``; skipped, as an edited demo cell with its metadata is)."""
    templates = {source: role for source, role in template_cells(assignment.notebook).items()
                 if role in SKIPPED_ROLES}
    own_lines = check_lines(assignment.notebook)
    restored, recognised = [], []
    for cell in cells:
        role = None
        if cell["role"] is None:
            role = templates.get(cell["source"].strip())
            if role is None and is_check_code(cell["source"], own_lines):
                role = "check"
            elif role is None and not cell.get("marked") and is_demo_code(cell["source"], assignment.notebook):
                role = "demo"  # an edited demo cell (an answer cell with its question's metadata never is)
        if role:
            cell = dict(cell, role=role)
            recognised.append(str(cell["index"]))
        restored.append(cell)
    if recognised:
        notes.append(f"cells {', '.join(recognised)} have lost their metadata; recognised by their code as the "
                     f"assignment's own check or demo cells, they were skipped as usual" if len(recognised) > 1 else
                     f"cell {recognised[0]} has lost its metadata; recognised by its code as the assignment's own "
                     f"check or demo cell, it was skipped as usual")
    return restored


def notebook_assignment(data: bytes) -> Optional[str]:
    """The assignment id the notebook's metadata names (``course-lib assign`` writes it; the student
    controls it), or None."""
    try:
        found = json.loads(data)["metadata"]["course"]["assignment"]
    except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: JSON nested too deep
        return None
    return found if isinstance(found, str) else None


def other_assignment_note(data: bytes, assignment: Assignment) -> Optional[str]:
    """A note when the notebook names another assignment than the one grading it (a02 uploaded where
    a01 was due: its functions are missing, and the feedback alone would not say why), else None."""
    named = notebook_assignment(data)
    if named is None or named == assignment.id:
        return None
    return (f"this notebook says it is assignment {clean_text(named)[:20]}, but it was graded as {assignment.id} "
            f"({assignment.title}): was the right notebook submitted?")


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

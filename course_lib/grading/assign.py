"""``course-lib assign``: generate exercises/ from solutions/ (one source for both).

In a solution notebook, the body between ``### BEGIN SOLUTION`` and ``### END SOLUTION``
is replaced by a stub that names its question and raises ``NotImplementedError``;
everything else is kept as is.  Outputs and execution counts are cleared in both.
``--check`` fails when the committed exercises/ differ from what would be generated.
"""
from __future__ import annotations

import ast
import difflib
import functools
import json
import re
from pathlib import Path
from typing import Dict, List, Tuple

REPO_ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
_DEF = re.compile(r"^\s*def\s+(\w+)\s*\(")


class AssignError(ValueError):
    pass


@functools.lru_cache(maxsize=None)  # read once per process: grade-batch asks for every submission
def template_cells(notebook_name: str) -> Dict[str, str]:
    """The code cells of an assignment's own notebooks (exercise and solution): stripped source →
    the cell's role (``"check"``, ``"demo"``, or ``""`` for a cell without one).  Empty when the
    notebooks are not there (the package installed without the repository)."""
    cells: Dict[str, str] = {}
    for folder in ("exercises", "solutions"):
        try:
            notebook = json.loads((REPO_ROOT / folder / notebook_name).read_text(encoding="utf-8"))
            for cell in notebook["cells"]:
                if cell.get("cell_type") == "code":
                    role = (cell.get("metadata") or {}).get("course", {}).get("role") or ""
                    cells.setdefault("".join(cell.get("source", "")).strip(), role)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return cells


def bare_line(line: str) -> str:
    """A line of code without its comment and surrounding blanks."""
    return line.split("#", 1)[0].strip()


@functools.lru_cache(maxsize=None)
def check_lines(notebook_name: str) -> frozenset:
    """Every line of code of the assignment's own check cells (``bare_line``): the set-up cell's
    import and ``check = checker(…)``, and the ``check("q1")`` calls."""
    return frozenset(bare_line(line) for source, role in template_cells(notebook_name).items() if role == "check"
                     for line in source.splitlines()) - {""}


def is_check_code(source: str, lines: frozenset) -> bool:
    """Whether every line of ``source`` that holds code is one of the check cells' ``lines``: the
    assignment's own check cell, whatever a student or a code formatter did to its comments and
    blank lines (exact sources alone took a set-up cell without its comment for the student's own
    code: check() warned that it costs every question, and once the cell had also lost its
    metadata the grader gave 0)."""
    code = [bare_line(line) for line in source.splitlines()]
    code = [line for line in code if line]
    return bool(code) and all(line in lines for line in code)


# how close to one of the assignment's own demo cells an edited one stays (difflib's ratio): changing a
# number or a slice leaves it above 0.9, a cell of the student's that borrows `with check.demo():` far below
_DEMO_LIKENESS = 0.6


@functools.lru_cache(maxsize=None)
def demo_sources(notebook_name: str) -> Tuple[str, ...]:
    """The assignment's own demo cells, as its notebooks have them."""
    return tuple(source for source, role in template_cells(notebook_name).items() if role == "demo")


def is_demo_code(source: str, notebook_name: str) -> bool:
    """Whether ``source`` is one of the assignment's demo cells, edited: it runs code under ``with
    check.demo():``, as every demo cell does, defines no function, class or lambda (a cell that does
    holds an answer) and is still mostly the demo's text.  With its metadata a demo cell is known by
    it, and skipped even when edited; without it an edited one was taken for the student's code, and
    the course_lib import it keeps cost every question."""
    if not any(bare_line(line) == "with check.demo():" for line in source.splitlines()):
        return False
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    if any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
           for node in ast.walk(tree)):
        return False
    return any(difflib.SequenceMatcher(None, source.strip(), demo, autojunk=False).ratio() >= _DEMO_LIKENESS
               for demo in demo_sources(notebook_name))


@functools.lru_cache(maxsize=None)
def template_parameters(notebook_name: str) -> Dict[str, Tuple[str, ...]]:
    """The positional parameter names of each function the assignment's exercise notebook defines
    (``{"sgd_momentum_step": ("param", "grad", "velocity", "lr", "momentum")}``), for messages that
    name an argument; empty when the notebook is not there."""
    found: Dict[str, Tuple[str, ...]] = {}
    for source in template_cells(notebook_name):
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                found.setdefault(node.name, tuple(a.arg for a in node.args.posonlyargs + node.args.args))
    return found


def stub_source(source: str, question: str) -> str:
    """Replace every solution region of a cell by a stub naming the question and the function."""
    lines = source.split("\n")
    out: List[str] = []
    inside = False
    function = "this function"
    for number, line in enumerate(lines, 1):
        match = _DEF.match(line)
        if match and not inside:
            function = match.group(1)
        if line.strip() == BEGIN:
            if inside:
                raise AssignError(f"question {question}: nested {BEGIN} at line {number}")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}# TODO ({question}): implement {function}, then run check(\"{question}\").")
            out.append(f"{indent}raise NotImplementedError(\"{question}: {function} is not implemented yet\")")
            continue
        if line.strip() == END:
            if not inside:
                raise AssignError(f"question {question}: {END} without {BEGIN} at line {number}")
            inside = False
            continue
        if not inside:
            out.append(line)
    if inside:
        raise AssignError(f"question {question}: {BEGIN} is never closed")
    return "\n".join(out)


def clean(notebook: dict) -> dict:
    """Notebook without outputs, execution counts or per-user metadata."""
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        metadata = cell.get("metadata", {})
        cell["metadata"] = {"course": metadata["course"]} if "course" in metadata else {}
        cell.pop("id", None)
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    notebook["metadata"] = {k: v for k, v in notebook.get("metadata", {}).items() if k in ("kernelspec", "language_info", "course")}
    notebook["nbformat"], notebook["nbformat_minor"] = 4, 4
    return notebook


def exercise_from_solution(solution: dict) -> dict:
    exercise = json.loads(json.dumps(clean(solution)))
    for cell in exercise["cells"]:
        question = cell.get("metadata", {}).get("course", {}).get("question")
        if cell["cell_type"] == "code" and BEGIN in cell["source"]:
            if not question:
                raise AssignError("a cell with a solution region has no course.question metadata")
            cell["source"] = stub_source(cell["source"], question)
    return exercise


def dumps(notebook: dict) -> str:
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def generate(solutions_dir: Path = REPO_ROOT / "solutions") -> Dict[str, str]:
    """File name → exercise notebook text, for every solution notebook."""
    generated = {}
    for path in sorted(Path(solutions_dir).glob("*.ipynb")):
        solution = json.loads(path.read_text(encoding="utf-8"))
        generated[path.name] = dumps(exercise_from_solution(solution))
    return generated


def run(check: bool = False, solutions_dir: Path = REPO_ROOT / "solutions", exercises_dir: Path = REPO_ROOT / "exercises") -> List[str]:
    """Write exercises (or with ``check``, list the differences).  Returns the problems found."""
    generated = generate(solutions_dir)
    problems = []
    exercises_dir = Path(exercises_dir)
    for name, text in generated.items():
        target = exercises_dir / name
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if check:
            if current != text:
                problems.append(f"exercises/{name} is {'missing' if current is None else 'out of date'}")
        elif current != text:
            exercises_dir.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    if check:
        for extra in sorted(exercises_dir.glob("*.ipynb")):
            if extra.name not in generated:
                problems.append(f"exercises/{extra.name} has no solution notebook in solutions/")
    return problems

"""The package's layers, read from its import statements (also those inside functions, which hide a
dependency from a reader but not from Python): no module imports one that imports it back, but the one
exception named below, and the scratch side imports NumPy, the standard library and itself only."""
from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Dict, Set, Tuple

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "course_lib"

# History.plot() is the Keras-style convenience the book uses (history.plot()); it hands the History to
# plots.plot_learning_curves, and plots sits above training (its decision boundaries call predict)
ALLOWED_UPWARD = {("course_lib.training.history", "course_lib.plots")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(module: str) -> Set[Tuple[str, int]]:
    """(imported name, line) for every import in ``module``; a relative one made absolute."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add((f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base, node.lineno))
    return found


def _edges() -> Dict[str, Set[str]]:
    """Each course_lib module and the course_lib modules it imports."""
    edges = {}
    for module in MODULES:
        for name, _ in _imports(module):
            while name not in MODULES and "." in name:
                name = name.rsplit(".", 1)[0]
            if name in MODULES and name != module and (module, name) not in ALLOWED_UPWARD:
                edges.setdefault(module, set()).add(name)
    return edges


def _cycles(edges: Dict[str, Set[str]]):
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in edges.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for node in sorted(MODULES):
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_no_module_imports_one_that_imports_it_back():
    assert _cycles(_edges()) == []


def test_the_reader_finds_a_cycle_hidden_in_a_function():
    """The check itself: a function-level import back is a cycle (as plots ↔ training without the exception)."""
    edges = _edges()
    edges.setdefault("course_lib.training.history", set()).add("course_lib.plots")
    assert ["course_lib.plots", "course_lib.training", "course_lib.training.history", "course_lib.training.loop"] \
        in _cycles(edges)


def test_the_scratch_side_imports_numpy_the_standard_library_and_itself_only():
    allowed_course_lib = {"course_lib.checks"}
    wrong = []
    for module in MODULES:
        if not module.startswith("course_lib.scratch"):
            continue
        for name, line in _imports(module):
            top = name.split(".")[0]
            if top == "course_lib":
                if not (name.startswith("course_lib.scratch") or name in allowed_course_lib):
                    wrong.append(f"{module}:{line} imports {name}")
            elif top != "numpy" and top not in sys.stdlib_module_names and top != "__future__":
                wrong.append(f"{module}:{line} imports {name}")
    assert wrong == []

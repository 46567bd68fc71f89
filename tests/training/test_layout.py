"""course_lib.training's files: each named in the package's docstring, and none importing one listed below it.

The docstring of ``course_lib/training/__init__.py`` is the map a reader starts from; this keeps it
true when a file is added or an import goes the wrong way (the lower files then stay readable
without the higher ones, as MiniTorch's layers are).
"""
import ast
import re
from pathlib import Path

import course_lib.training as training

PACKAGE = Path(training.__file__).parent


def _documented_order():
    described = training.__doc__.split("one concern per file", 1)[1]
    return [name[:-3] for name in re.findall(r"``(\w+\.py)``", described)]


def _package_imports(path: Path):
    """The package's own modules that ``path`` imports (``from .x import …``, ``from . import x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update([node.module] if node.module else [alias.name for alias in node.names])
    return found


def test_every_file_of_the_package_is_on_the_map_once():
    order = _documented_order()
    files = sorted(path.stem for path in PACKAGE.glob("*.py") if path.name != "__init__.py")
    assert sorted(order) == files


def test_no_file_imports_one_listed_below_it():
    order = _documented_order()
    for position, name in enumerate(order):
        later = _package_imports(PACKAGE / f"{name}.py") - set(order[:position])
        assert not later, f"training/{name}.py imports {sorted(later)}, listed below it in the package's docstring"

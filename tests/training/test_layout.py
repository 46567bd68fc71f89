"""course_lib.training's files: each named in the package's docstring, none importing one listed below
it, and the scratch half of the package free of torch.

The docstring of ``course_lib/training/__init__.py`` is the map a reader starts from; this keeps it
true when a file is added or an import goes the wrong way (the lower files then stay readable
without the higher ones, as MiniTorch's layers are), and keeps ``backends.py``'s promise that a
scratch model trains without loading PyTorch.
"""
import ast
import re
import subprocess
import sys
from pathlib import Path

import course_lib.training as training

PACKAGE = Path(training.__file__).parent


def _documented_order():
    assert "one concern per file" in training.__doc__, "the package's docstring lost its map of files"
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


def test_training_a_scratch_model_never_loads_torch(tmp_path):
    """backends.py imports torch only for a torch model or tensor: the scratch half of the course
    trains (and checkpoints, and resumes) on a machine without PyTorch."""
    code = """
import sys
import numpy as np
from course_lib.scratch import Linear, ReLU, Sequential, init
from course_lib.scratch.losses import CrossEntropyLoss
from course_lib.scratch.optim import SGD
from course_lib.training import evaluate, fit, predict
init.manual_seed(0)
x = np.random.default_rng(0).standard_normal((64, 4)).astype(np.float32)
y = (x[:, 0] > 0).astype(np.int64)
model = Sequential(Linear(4, 8), ReLU(), Linear(8, 2))
path = sys.argv[1]
fit(model, (x, y), loss_fn=CrossEntropyLoss(), optimizer=SGD(model.parameters(), lr=0.1), epochs=1,
    progress=False, checkpoint={"path": path, "save": "every"})
fit(model, (x, y), loss_fn=CrossEntropyLoss(), optimizer=SGD(model.parameters(), lr=0.1), epochs=2,
    progress=False, resume=path)
evaluate(model, (x, y)), predict(model, x)
assert "torch" not in sys.modules, "torch was loaded"
"""
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run.npz")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "run.npz").is_file()

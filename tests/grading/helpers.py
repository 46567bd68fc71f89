"""Build hostile or broken submissions from the solution notebooks, grade them with small limits, and
run the solutions' functions in this process."""
from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from course_lib.grading import assignments
from course_lib.grading.assign import exercise_from_solution
from course_lib.grading.runner import grade_notebook
from course_lib.grading.sandbox import Limits

REPO = Path(__file__).resolve().parents[2]
SOLUTIONS = REPO / "solutions"

# Small limits keep the suite fast; generous enough for a correct a01/a02 solution on a loaded machine.
FAST = Limits(cell_timeout_s=5.0, call_timeout_s=3.0, total_timeout_s=90.0, startup_timeout_s=60.0,
              cpu_s=60, memory_bytes=2 * 1024**3, file_bytes=8 * 1024**2, processes=64)


def solution(assignment_id: str) -> dict:
    assignment = assignments.get(assignment_id)
    return json.loads((SOLUTIONS / assignment.notebook).read_text())


def solution_functions(assignment_id: str) -> dict:
    """The solution notebook's functions: its code cells run in this process (the solutions are
    trusted code), without the self-check and demo cells (demos train models).  NumPy's global
    generator, which the notebooks seed, is left as it was."""
    namespace = {"__name__": "__main__"}
    state = np.random.get_state()
    try:
        for cell in solution(assignment_id)["cells"]:
            role = cell.get("metadata", {}).get("course", {}).get("role")
            if cell["cell_type"] == "code" and role not in ("check", "demo"):
                exec(compile("".join(cell["source"]), assignment_id, "exec"), namespace)
    finally:
        np.random.set_state(state)
    return namespace


def exercise(assignment_id: str) -> dict:
    return exercise_from_solution(solution(assignment_id))


def question_cell(notebook: dict, question: str) -> dict:
    for cell in notebook["cells"]:
        course = cell.get("metadata", {}).get("course", {})
        if cell["cell_type"] == "code" and course.get("question") == question and "role" not in course:
            return cell
    raise KeyError(question)


def code_cell(source: str) -> dict:
    return {"cell_type": "code", "metadata": {}, "source": source, "outputs": [], "execution_count": None}


def build(assignment_id: str = "a01", replace: Optional[Dict[str, str]] = None, before: List[str] = (),
          after: List[str] = (), template: bool = False) -> bytes:
    """A submission: the solution (or the template) with question cells replaced and extra cells added.

    ``before`` cells go right after the setup cell; ``after`` cells at the end.
    """
    notebook = copy.deepcopy(exercise(assignment_id) if template else solution(assignment_id))
    for question, source in (replace or {}).items():
        question_cell(notebook, question)["source"] = source
    cells = notebook["cells"]
    cells[2:2] = [code_cell(s) for s in before]
    cells.extend(code_cell(s) for s in after)
    return json.dumps(notebook).encode()


def grade(data: bytes, assignment_id: str = "a01", limits: Limits = FAST, **kwargs):
    return grade_notebook(data, assignments.get(assignment_id), limits=limits, **kwargs)


def question_score(result, question: str) -> float:
    return result.questions[question]["score"]


def messages(result, question: str) -> str:
    return "\n".join(c.message for c in result.checks if c.question == question)


def zip_of(entries) -> bytes:
    """A zip archive of ``(name, data, mode)`` entries (``mode``: Unix permission bits, or None)."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def seeing_softmax(path) -> str:
    """An a01 softmax cell that answers right only while the kernel cannot see ``path``."""
    return ("import os\n\n\ndef softmax(x, axis=-1):\n"
            "    e = np.exp(x - x.max(axis=axis, keepdims=True))\n"
            "    s = e / e.sum(axis=axis, keepdims=True)\n"
            f"    return s + 1 if os.path.exists({str(path)!r}) else s\n")


class visible_folder:
    """A new folder, readable by everyone, where no rule of the sandbox hides it by default: not
    under /tmp (the kernel has its own), the repository, the home or the working folder.  For tests
    of what the grader hides on purpose (a class's submissions); removed on exit.  Skips the test
    where no such folder can be made, or where the kernel cannot see it even unhidden (``check``:
    a submission whose score shows it, graded without hiding anything)."""

    def __enter__(self) -> "visible_folder":
        import os
        import tempfile

        import pytest

        import shutil
        import time

        bases = (os.environ.get("COURSE_LIB_TEST_VISIBLE_DIR"), "/srv", "/var/lib", "/mnt", os.environ.get("XDG_RUNTIME_DIR"))
        for base in bases:
            if base and os.path.isdir(base) and os.access(base, os.W_OK | os.X_OK):
                for stale in Path(base).glob("course-lib-test-*"):  # left by a run killed before __exit__
                    if time.time() - stale.stat().st_mtime > 3600:
                        shutil.rmtree(stale, ignore_errors=True)
                self.path = Path(tempfile.mkdtemp(prefix="course-lib-test-", dir=base))
                self.path.chmod(0o755)
                return self
        pytest.skip("no folder outside /tmp, the repository and the home folder can be made here "
                    "(set COURSE_LIB_TEST_VISIBLE_DIR to one)")

    def check(self, data: bytes, question: str, assignment_id: str = "a01") -> None:
        """Skip unless ``data`` loses ``question``'s points when nothing is hidden (the kernel sees the folder)."""
        import pytest

        if question_score(grade(data, assignment_id), question) != 0.0:
            pytest.skip(f"the kernel cannot see {self.path} even when it is not hidden")

    def __exit__(self, *exc) -> None:
        import shutil

        shutil.rmtree(self.path, ignore_errors=True)


def seeding_training(fixed_seed: Optional[int] = None, predict=np.zeros):
    """A stand-in for a10's ``train_and_predict`` that only seeds PyTorch — with the ``seed`` it is
    given, or with ``fixed_seed`` as a notebook using its own constant would — and returns
    ``predict(len(x_test))`` as int64 predictions."""
    import torch

    def train_and_predict(x_train, y_train, x_test, seed=0):
        torch.manual_seed(seed if fixed_seed is None else fixed_seed)
        return predict(len(x_test)).astype(np.int64)

    return train_and_predict


@contextlib.contextmanager
def torch_generator_kept():
    """Put PyTorch's global generator (and so ``torch.initial_seed()``) back as it was."""
    import torch

    state = torch.random.get_rng_state()
    try:
        yield
    finally:
        torch.random.set_rng_state(state)

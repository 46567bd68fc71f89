"""``course-lib gradescope-package ID``: the zip Gradescope's autograder runs.

Gradescope unpacks it in ``/autograder/source``, runs ``setup.sh`` once per image and
``run_autograder`` per submission; results go to ``/autograder/results/results.json``.
The zip carries course_lib itself (the reference implementations and this grader).
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Optional

from . import assignments

REPO_ROOT = Path(__file__).resolve().parents[2]

# The distribution that provides each module a question may forbid (``Question.forbid``).  Grading
# installs the students' whole environment, requirements.txt, except the distributions whose modules
# every question of the assignment forbids: an honest notebook that imports tabulate or networkx (the
# students have them) then runs as it did for the student, while a from-scratch assignment never finds
# torch or scikit-learn installed, whatever the sandbox.  requirements.txt also goes in as pip's
# constraints file (constraints.txt), so that what these pull in is the students' version too.
FORBIDDEN_DISTRIBUTIONS = {"torch": "torch", "functorch": "torch", "sklearn": "scikit-learn", "scipy": "scipy",
                           "sympy": "sympy", "tensorflow": "tensorflow", "jax": "jax", "onnx": "onnx",
                           "onnx_ir": "onnx-ir", "onnxruntime": "onnxruntime", "onnxscript": "onnxscript"}


SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image (with network access).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y python3 python3-venv util-linux
PY=python3
# course_lib needs Python >= 3.11; Gradescope's Ubuntu 22.04 image has 3.10: take 3.11 from deadsnakes
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  apt-get install -y software-properties-common
  add-apt-repository -y ppa:deadsnakes/ppa
  apt-get update
  apt-get install -y python3.11 python3.11-venv
  PY=python3.11
fi
"$PY" -m venv /autograder/venv
cd /autograder/source
# PyTorch's CPU build first and alone (PyPI's torch is the multi-GB CUDA build), where the assignment
# uses it; then the rest, every package (dependencies too) at the version the students have
if grep -qE '^torch==' requirements-grader.txt; then
  /autograder/venv/bin/pip install --index-url https://download.pytorch.org/whl/cpu \
    "$(grep -E '^torch==' requirements-grader.txt)"
fi
/autograder/venv/bin/pip install -c constraints.txt -r requirements-grader.txt
/autograder/venv/bin/pip install --no-deps -e /autograder/source
{download}
"""

RUN = """#!/usr/bin/env bash
# One submission: grade it in a sandboxed kernel, write Gradescope's results.json — always, even
# when no grade can be made (Gradescope shows students only "the autograder failed" otherwise).
set -uo pipefail
results=/autograder/results/results.json
mkdir -p /autograder/results
# Gradescope's submission_metadata.json holds every earlier submission's results, hidden checks'
# feedback included: only root reads it (the student's kernel runs as another user)
chmod 600 /autograder/submission_metadata.json 2>/dev/null
# so is the course's code, which holds its own implementations of every graded function: where the
# sandbox is degraded (no mount namespace to hide it) the kernel could otherwise import course_lib
chmod -R go-rwx /autograder/source 2>/dev/null
rm -f "$results"
say() {  # a score of 0 and a message (with the system's Python if setup.sh never made the venv)
  local write='import json, sys; json.dump({"score": 0, "output": sys.argv[1]}, open(sys.argv[2], "w"))'
  for python in /autograder/venv/bin/python python3; do
    "$python" -c "$write" "$1" "$results" 2>/dev/null && return
  done
}
# plain files only: a link named .ipynb may lead to /dev/zero or to a file of the grader's
mapfile -t notebooks < <(find /autograder/submission -type f -iname '*.ipynb' -not -path '*/.*' -not -path '*/__MACOSX/*' | sort)
if [ ${#notebooks[@]} -eq 0 ]; then
  say "No .ipynb notebook was found in the submission: upload your notebook file."
  exit 0
fi
if [ ${#notebooks[@]} -gt 1 ]; then
  names=$(printf '%s, ' "${notebooks[@]#/autograder/submission/}")
  say "The submission holds ${#notebooks[@]} notebooks (${names%, }); upload exactly one, and it will be graded."
  exit 0
fi
cd /autograder/source
/autograder/venv/bin/course-lib grade "${notebooks[0]}" --assignment {assignment} --json "$results"
status=$?
if [ ! -s "$results" ]; then
  say "The autograder could not grade this submission (status $status; not a problem with your work). Please tell the course staff, who can rerun it."
fi
exit 0
"""


def _distribution(name: str) -> str:
    return name.lower().replace("_", "-")


def left_out(assignment) -> set:
    """The distributions grading ``assignment`` does not install: those whose modules every question
    forbids (torch where no question may use it, scikit-learn, scipy, …)."""
    forbidden_everywhere = set.intersection(*(set(question.forbid) for question in assignment.questions))
    return {_distribution(FORBIDDEN_DISTRIBUTIONS[module]) for module in forbidden_everywhere
            if module in FORBIDDEN_DISTRIBUTIONS}


def grader_requirements(assignment) -> str:
    """The pinned lines of requirements.txt, the students' environment, without ``left_out``'s."""
    lines = [line.strip() for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()]
    pinned = [line for line in lines if "==" in line and not line.startswith("#")]
    names = {_distribution(line.split("==")[0]) for line in pinned}
    missing = {"numpy", "ipykernel", "jupyter-client", "nbformat"} - names  # what grading itself runs on
    if missing:
        raise RuntimeError(f"requirements.txt pins no version of {sorted(missing)}")
    excluded = left_out(assignment)
    return "\n".join(line for line in pinned if _distribution(line.split("==")[0]) not in excluded) + "\n"


def build_package(assignment_id: str, output: Optional[str] = None) -> Path:
    assignment = assignments.get(assignment_id)
    output_path = Path(output or f"gradescope-{assignment.id}.zip")
    with zipfile.ZipFile(output_path, "w", zipfile.ZIP_DEFLATED) as archive:
        # an assignment that reads a dataset (a10: Fashion-MNIST) gets it while the image is built
        download = "\n".join(f"COURSE_LIB_OFFLINE=0 /autograder/venv/bin/course-lib data download {name}"
                              for name in assignment.extra.get("datasets", ()))
        setup = SETUP.replace("{download}", download)
        for name, text in (("setup.sh", setup), ("run_autograder", RUN.replace("{assignment}", assignment.id))):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            archive.writestr(info, text)
        archive.writestr("requirements-grader.txt", grader_requirements(assignment))
        archive.write(REPO_ROOT / "requirements.txt", "constraints.txt")
        for path in sorted((REPO_ROOT / "course_lib").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".json", ".md", ".txt"):
                archive.write(path, str(path.relative_to(REPO_ROOT)))
        archive.write(REPO_ROOT / "pyproject.toml", "pyproject.toml")
        # the students' own notebook (public): the grader reads its check and demo cells and its
        # functions' parameter names from it (restoring cells that lost their metadata, naming an
        # argument changed in place)
        archive.write(REPO_ROOT / "exercises" / assignment.notebook, f"exercises/{assignment.notebook}")
        readme = REPO_ROOT / "README.md"
        if readme.exists():
            archive.write(readme, "README.md")
    return output_path

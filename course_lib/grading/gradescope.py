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

SETUP = """#!/usr/bin/env bash
set -euo pipefail
apt-get update && apt-get install -y python3 python3-pip python3-venv util-linux
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install numpy torch --index-url https://download.pytorch.org/whl/cpu
/autograder/venv/bin/pip install nbformat jupyter_client ipykernel scikit-learn
/autograder/venv/bin/pip install -e /autograder/source
"""

RUN = """#!/usr/bin/env bash
# One submission: grade it in a sandboxed kernel, write Gradescope's results.json.
set -uo pipefail
notebook=$(find /autograder/submission -maxdepth 2 -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | head -n 1)
mkdir -p /autograder/results
if [ -z "$notebook" ]; then
  echo '{"score": 0, "output": "No .ipynb notebook was found in the submission."}' > /autograder/results/results.json
  exit 0
fi
cd /autograder/source
/autograder/venv/bin/course-lib grade "$notebook" --assignment {assignment} --json /autograder/results/results.json
"""


def build_package(assignment_id: str, output: Optional[str] = None) -> Path:
    assignment = assignments.get(assignment_id)
    output_path = Path(output or f"gradescope-{assignment.id}.zip")
    with zipfile.ZipFile(output_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("setup.sh", SETUP), ("run_autograder", RUN.replace("{assignment}", assignment.id))):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            archive.writestr(info, text)
        for path in sorted((REPO_ROOT / "course_lib").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".json", ".md", ".txt"):
                archive.write(path, str(path.relative_to(REPO_ROOT)))
        archive.write(REPO_ROOT / "pyproject.toml", "pyproject.toml")
        readme = REPO_ROOT / "README.md"
        if readme.exists():
            archive.write(readme, "README.md")
    return output_path

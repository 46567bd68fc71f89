"""The grader run by a normal user (how most instructors run it), checked from a root test run.

As root the kernel drops to a fresh uid; as a normal user it gets a user namespace mapped to the
grader's own uid, so it could write whatever the grader owns unless the sandbox stops it.  When
the suite itself runs as a normal user every sandbox test already takes that path; as root
(CI, containers) this test reruns the sandbox probes, the attacks that lean on the user's
rights and a kill -9 of grade-batch as uid 65534, through ``as_normal_user.py``.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import REPO

pytestmark = pytest.mark.slow

NOBODY = 65534
HERE = Path(__file__).resolve().parent
ATTACKS = " or ".join([
    "fork_bomb", "overwriting_and_deleting_files", "reading_the_solutions", "network_is_unreachable",
    "killing_the_grader", "memory_bomb", "ignoring_sigint", "importing_torch", "correct_solution",
    "sigkill_mid_batch",  # kill -9 of grade-batch: no launcher or kernel of the user outlives it
])

USER_NAMESPACE_PROBE = """
import ctypes, os
if ctypes.CDLL(None, use_errno=True).unshare(0x10000000) != 0:
    raise SystemExit('unshare(CLONE_NEWUSER): ' + os.strerror(ctypes.get_errno()))
"""


def test_sandbox_holds_when_the_grader_is_not_root(tmp_path):
    if os.getuid() != 0:
        pytest.skip("not root: every sandbox test of this run already takes the normal-user path")
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    as_nobody = [sys.executable, str(HERE / "as_normal_user.py"), str(NOBODY), str(home),
                 sys.base_prefix, sys.prefix, str(REPO), str(home), "--"]
    probe = subprocess.run(as_nobody + [sys.executable, "-c", USER_NAMESPACE_PROBE], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"a normal user cannot create user namespaces here, so its grader runs degraded: {probe.stderr[-300:]}")
    command = as_nobody + [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        f"--basetemp={home / 'pytest'}", f"--rootdir={REPO}",
        str(REPO / "tests/grading/test_sandbox.py"),
        str(REPO / "tests/grading/test_adversarial.py"), str(REPO / "tests/grading/test_batch.py"),
        "-k", f"(test_sandbox.py and not test_as_root) or {ATTACKS}",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=str(home))
    report = run.stdout[-4000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    summary = run.stdout.strip().splitlines()[-1]
    assert "passed" in summary and "skipped" not in summary and "deselected" in summary, report
    # every test of the sandbox file and one per attack ran
    assert int(summary.split(" passed")[0].split()[-1]) >= 6 + len(ATTACKS.split(" or ")), report

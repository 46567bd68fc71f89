"""The sandbox itself: what the student's kernel can and cannot see or do (one kernel, many probes)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from course_lib.grading.sandbox import OUTPUT_CAP, Sandbox

from .helpers import FAST, REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    secret_dir = tmp_path_factory.mktemp("gradebook")
    (secret_dir / "gradebook.sqlite").write_text("secret")
    sandbox = Sandbox(FAST, forbid=["torch", "sklearn"], hide=[str(secret_dir)])
    sandbox.start()
    yield sandbox, secret_dir
    sandbox.kill()


def run(sandbox, code):
    result = sandbox.execute(code, 20)
    assert result.status in ("ok", "error"), result
    return result


def test_namespaces_and_limits_are_in_place(kernel):
    sandbox, _ = kernel
    status = sandbox.isolation
    assert {"mount", "pid", "net"} <= set(status["namespaces"]), status
    assert status["limits"]["processes"] and status["limits"]["memory_bytes"] and status["limits"]["cpu_s"]
    # a normal user (or a container) may not be allowed a cgroup: that is said, and is the only gap
    assert not [e for e in status["errors"] if not e.startswith("no cgroup for the kernel")], status
    out = run(sandbox, "import os; print(os.getpid(), sorted(p for p in os.listdir('/proc') if p.isdigit())[:3])").stdout
    assert out.startswith("1 ")  # PID 1 of its own namespace: it sees only its own processes


def test_output_is_capped_and_says_how_much_was_dropped(kernel):
    """20 MB printed by one cell in flushed lines: the output kept for feedback stops at OUTPUT_CAP.
    (Unflushed, ipykernel sends it as one message over the 8 MB message cap, dropped whole.)"""
    sandbox, _ = kernel
    result = run(sandbox, "import sys\nfor _ in range(400):\n    print('x' * 50_000)\n    sys.stdout.flush()")
    assert len(result.stdout) <= OUTPUT_CAP + 200
    assert "more characters of output dropped" in result.stdout


def test_a_file_larger_than_the_file_size_limit_cannot_be_written(kernel):
    """RLIMIT_FSIZE: one file of more than ``file_bytes`` fails with "File too large" (the work
    folder's own cap is tested below, with files under this limit)."""
    sandbox, _ = kernel
    assert sandbox.isolation["limits"]["file_bytes"] == FAST.file_bytes
    code = (f"import os\ntry:\n    with open('too_big', 'wb') as handle:\n        handle.write(b'x' * {FAST.file_bytes + 1})\n"
            f"finally:\n    print(os.path.getsize('too_big'))\n    os.remove('too_big')")
    result = run(sandbox, code)
    assert result.error_name == "OSError" and "File too large" in result.error_value, result
    assert int(result.stdout) <= FAST.file_bytes
    fits = f"import os\nwith open('fits', 'wb') as handle:\n    handle.write(b'x' * {FAST.file_bytes})\nos.remove('fits')"
    assert run(sandbox, fits).status == "ok"


def test_course_files_gradebook_and_forbidden_packages_are_invisible(kernel):
    sandbox, secret_dir = kernel
    out = run(sandbox, f"import os; print(sorted(os.listdir({str(REPO)!r})), os.path.exists({str(secret_dir)!r}))").stdout
    assert out.strip() == "['.venv'] False"
    for module in ("torch", "sklearn", "course_lib"):
        result = run(sandbox, f"import {module}")
        assert result.error_name == "ModuleNotFoundError", (module, result)
    assert run(sandbox, "import numpy").status == "ok"


def test_no_network(kernel):
    sandbox, _ = kernel
    result = run(sandbox, "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=2)")
    assert result.error_name in ("OSError", "ConnectionRefusedError", "TimeoutError")
    out = run(sandbox, "import socket\nprint(socket.if_nameindex())").stdout
    assert "eth" not in out and "ens" not in out


def test_work_folder_is_capped_and_inputs_are_read_only(kernel):
    sandbox, _ = kernel
    result = run(sandbox, "for i in range(40):\n    open(f'big{i}', 'wb').write(b'x' * (7 * 1024 * 1024))")  # each under RLIMIT_FSIZE
    assert result.error_name == "OSError" and "No space left" in result.error_value
    path = sandbox.spill(np.arange(10.0))
    result = run(sandbox, f"import numpy as np; print(np.load({path!r}).sum()); open({path!r}, 'wb')")
    assert result.stdout.strip() == "45.0" and result.error_name in ("PermissionError", "OSError"), result
    assert np.load(path).sum() == 45.0 and os.stat(path).st_uid == os.getuid()


# Each probe prints what happened when the kernel opened the path for appending (which changes
# nothing even when it succeeds) or created a file in it.
WRITE_PROBE = """
import errno, os
def attempt(path, create):
    try:
        if create:
            target = os.path.join(path, 'planted.py')
            open(target, 'x').close()
            os.remove(target)
        else:
            open(path, 'ab').close()
        return 'written'
    except OSError as error:
        return errno.errorcode[error.errno]
"""


def test_kernel_writes_nowhere_but_its_work_folder_and_tmp(kernel):
    """When the grader is not root the kernel runs as the grader's user, who owns the inputs and
    often the Python installation (code the grader imports): read-only mounts must stop it."""
    sandbox, _ = kernel
    import numpy

    path = sandbox.spill(np.arange(3.0))
    probes = {
        "input file": (path, False),
        "input folder": (os.path.dirname(path), True),
        "numpy's __init__": (numpy.__file__, False),
        "site-packages": (os.path.dirname(os.path.dirname(numpy.__file__)), True),
        "sandbox folder": (sandbox.root, True),
        "socket folder": (os.path.join(sandbox.root, "sock"), True),  # its sockets made, on the host's disk
    }
    code = WRITE_PROBE + "".join(f"print({name!r}, attempt({target!r}, {create}))\n" for name, (target, create) in probes.items())
    code += "print('work', attempt(os.getcwd(), True)); print('tmp', attempt('/tmp', True))\n"
    assert sandbox.isolation["sockets_read_only"]
    lines = dict(line.rsplit(" ", 1) for line in run(sandbox, code).stdout.strip().splitlines())
    assert lines.pop("work") == "written" and lines.pop("tmp") == "written", lines
    assert set(lines) == set(probes) and all(v in ("EROFS", "EACCES", "EPERM") for v in lines.values()), lines


UNDO_PROBE = """
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def call(result):
    return 'done' if result == 0 else errno.errorcode[ctypes.get_errno()]
if sys.argv[-1] == 'nested':  # a user namespace of its own: every capability, over a copy of the mounts
    print('nested', call(libc.unshare(0x10000000 | 0x00020000)))
status = open('/proc/self/status').read()
print('CapEff', int(status.split('CapEff:')[1].split()[0], 16) > 0)
print('unmount-repo', call(libc.umount2(REPO, 2)))
print('unmount-tmp', call(libc.umount2(b'/tmp', 2)))
print('remount-root', call(libc.mount(None, b'/', None, ctypes.c_ulong(32 | 4096), None)))
print('remount-python', call(libc.mount(None, PREFIX, None, ctypes.c_ulong(32 | 4096), None)))
print('repo', sorted(os.listdir(os.fsdecode(REPO))), os.path.exists(SECRET))
"""


def test_kernel_cannot_undo_its_mounts(kernel):
    """With a capability over its mounts the kernel could unmount what covers the course files or
    remount a folder writable (as a normal user's grader it used to be root of its user namespace).
    In a user namespace of its own it has every capability, but over a copy whose mounts are locked."""
    import sys

    sandbox, secret_dir = kernel
    probe = UNDO_PROBE.replace("REPO", repr(str(REPO).encode())).replace("PREFIX", repr(sys.prefix.encode()))
    probe = probe.replace("SECRET", repr(str(secret_dir)))
    code = f"import subprocess, sys\nprobe = {probe!r}\nexec(probe)\n"
    code += "print(subprocess.run([sys.executable, '-c', probe, 'nested'], capture_output=True, text=True).stdout)\n"
    own, nested = run(sandbox, code).stdout.strip().split("nested ")
    for lines in (own, "nested " + nested):
        values = dict(line.split(" ", 1) for line in lines.strip().splitlines())
        assert values.pop("repo") == "['.venv'] False", values
        # where nested user namespaces are refused there is nothing more to try
        assert values.pop("nested", "done") in ("done", "EPERM", "ENOSPC", "EUSERS"), values
        assert all(v in ("EPERM", "EINVAL") for k, v in values.items() if k != "CapEff"), values
    assert "CapEff False" in own  # the kernel itself holds no capability


def test_socket_folder_is_locked_under_a_temporary_folder_with_a_space(monkeypatch):
    """mountinfo writes a space as \\040: the grader's check must read it back as the same path."""
    import shutil
    import tempfile

    spaced = tempfile.mkdtemp(prefix="a b", dir="/tmp")  # short: a socket path has at most 107 bytes
    os.chmod(spaced, 0o755)
    monkeypatch.setattr(tempfile, "tempdir", spaced)
    sandbox = Sandbox(FAST)
    try:
        sandbox.start()
        assert " " in sandbox.root and sandbox.isolation.get("sockets_read_only"), sandbox.isolation
        assert run(sandbox, "print(6 * 7)").stdout.strip() == "42"
    finally:
        sandbox.kill()
        shutil.rmtree(spaced, ignore_errors=True)


def _reachable_by_other_users() -> bool:
    from course_lib.grading import sandbox
    from course_lib.grading._launch import _world_reachable

    return all(_world_reachable(path) for path in sandbox.python_paths())


def test_degraded_mode_without_namespaces_still_grades_and_says_so(tmp_path):
    import dataclasses
    import subprocess
    import sys

    from course_lib.grading.report import gradescope_results, text_report

    from .helpers import build, grade, messages

    if os.getuid() == 0 and not _reachable_by_other_users():
        # as root the kernel runs as a fresh uid, which cannot reach a Python under /root (pyenv): rerun this
        # test, still as root, in a private mount table where other users can reach it (as_normal_user.py)
        home = tmp_path / "home"
        home.mkdir()
        here = os.path.dirname(os.path.abspath(__file__))
        command = [sys.executable, os.path.join(here, "as_normal_user.py"), "0", str(home), sys.base_prefix,
                   sys.prefix, str(REPO), "--", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   "-p", "no:nbval", f"--rootdir={REPO}", f"{__file__}::test_degraded_mode_without_namespaces_still_grades_and_says_so"]
        run = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=str(home))
        assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout[-3000:] + run.stderr[-2000:]
        return
    degraded = dataclasses.replace(FAST, isolate=False)
    result = grade(build(replace={"q5": "import torch\ndef softmax(x, axis=-1):\n    return x"}), limits=degraded)
    assert result.isolation["namespaces"] == []
    assert result.score == 0.0 and "must be solved from scratch" in messages(result, "q5")
    assert "sandbox ran without namespaces" in text_report(result)
    # for the course staff in extra_data, never as a test: a "hidden" test hides the student's total on
    # Gradescope (an audit of the Gradescope package, 2026-12-07: every degraded run hid every total)
    shown = gradescope_results(result)
    assert "sandbox ran without namespaces" in shown["extra_data"]["sandbox_warning"]
    assert all(test["visibility"] != "hidden" for test in shown["tests"])
    assert "namespaces" not in shown["output"] and all("namespaces" not in test["output"] for test in shown["tests"])
    full = grade(build(), limits=degraded)
    assert full.score == 10.0
    partial = dataclasses.replace(full, isolation={"namespaces": ["mount", "pid", "net"],
                                                   "errors": ["read-only /srv: Operation not permitted"]})
    assert "partly set up on this machine: read-only /srv: Operation not permitted" in text_report(partial)
    assert "read-only /srv" in gradescope_results(partial)["extra_data"]["sandbox_warning"]
    sound = dataclasses.replace(full, isolation={"namespaces": ["mount"], "errors": []})
    assert "warning" not in text_report(sound)
    assert "sandbox_warning" not in gradescope_results(sound)["extra_data"]


def test_as_root_without_namespaces_the_grader_refuses_to_run_student_code_as_root(tmp_path, monkeypatch):
    """As root with no namespaces and a Python that a fresh uid cannot reach, the kernel kept root: a
    background process of the student's rewrote results.json after the grader wrote it, and swapped two
    students' grades in the gradebook (a red team, 2026-12-07).  Now nothing is graded, and the report says why."""
    import dataclasses

    from course_lib.grading import sandbox

    from .helpers import build, grade

    if os.getuid() != 0:  # (test_not_root.py leaves this test out of its rerun as a normal user)
        pytest.skip("only a grader run by root drops the kernel to another uid")
    private = tmp_path / "private"
    (private / "python").mkdir(parents=True)
    private.chmod(0o700)
    monkeypatch.setattr(sandbox, "python_paths", lambda: [str(private / "python")])
    result = grade(build(), limits=dataclasses.replace(FAST, isolate=False))
    assert result.score == 0.0 and "would run as root" in (result.grader_failure or ""), result.grader_failure

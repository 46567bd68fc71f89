"""The sandbox itself: what the student's kernel can and cannot see or do (one kernel, many probes)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from course_lib.grading.sandbox import Sandbox

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
    assert not status["errors"]
    out = run(sandbox, "import os; print(os.getpid(), sorted(p for p in os.listdir('/proc') if p.isdigit())[:3])").stdout
    assert out.startswith("1 ")  # PID 1 of its own namespace: it sees only its own processes


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
    assert result.stdout.strip() == "45.0" and result.error_name == "PermissionError"
    assert os.stat(path).st_uid == os.getuid()


def test_degraded_mode_without_namespaces_still_grades_and_says_so():
    import dataclasses

    from course_lib.grading.report import text_report

    from .helpers import build, grade, messages

    degraded = dataclasses.replace(FAST, isolate=False)
    result = grade(build(replace={"q5": "import torch\ndef softmax(x, axis=-1):\n    return x"}), limits=degraded)
    assert result.isolation["namespaces"] == []
    assert result.score == 0.0 and "must be solved from scratch" in messages(result, "q5")
    assert "sandbox ran without namespaces" in text_report(result)
    assert grade(build(), limits=degraded).score == 10.0

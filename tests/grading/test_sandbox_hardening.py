"""The sandbox against a hostile kernel: forged messages, other Pythons' packages, memory spread over
processes, System V shared memory, messages that would fill the grader's memory, held-out data."""
from __future__ import annotations

import ctypes
import dataclasses
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from course_lib.grading import cgroups as cgroups_module
from course_lib.grading.cgroups import _Cgroup
from course_lib.grading.hidden_folders import dataset_folders, foreign_site_packages
from course_lib.grading.orphans import ROOT_PREFIX, _pid_namespace, sweep_orphaned_cgroups
from course_lib.grading.sandbox import Sandbox
from course_lib.grading.zmtp import MAX_FRAMES, MESSAGE_CAP, READ_BATCH, _Channel, _Codec, _frame, _property

from .helpers import FAST, build, grade

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kernel():
    sandbox = Sandbox(FAST, forbid=["torch", "sklearn", "scipy"])
    sandbox.start()
    yield sandbox
    sandbox.kill()


def run(sandbox, code, timeout=20):
    result = sandbox.execute(code, timeout)
    assert result.status in ("ok", "error"), result
    return result


# ----------------------------------------------------------------------------- 1. forged messages
FORGERIES = '''
k = get_ipython().kernel
parent = k.get_parent()
k.session.send(k.iopub_socket, "stream", content=b'["not", "a", "dict"]', parent=parent)
k.iopub_socket.send_multipart([b"<IDS|MSG>", b"bad-signature", b"{}", b"{}", b"{}", b"{}"])
k.iopub_socket.send_multipart([b"<IDS|MSG>", b"x", b"\\xff\\xfe", b"{}", b"{}", b"{}"])
k.iopub_socket.send_multipart([b"no delimiter"])
k.session.send(k.iopub_socket, "stream", content={"name": "stdout", "text": ["a", "list"]}, parent=parent)
k.session.send(k.iopub_socket, "error", content={"ename": 1, "evalue": None, "traceback": 5}, parent=parent)
k.session.send(k.iopub_socket, "display_data", content={"data": ["x"], "metadata": 3}, parent=parent)
k.session.send(k.iopub_socket, "status", content={"execution_state": ["idle"]}, parent=parent)
k.session.send(k.iopub_socket, "stream", content=b'[' * 100000 + b']' * 100000, parent=parent)
k.session.send(k.shell_stream, "execute_reply", content=b"[1]", parent=parent, ident=k._parent_ident["shell"])
print("still here")
'''


def test_forged_and_malformed_messages_are_ignored(kernel):
    result = run(kernel, FORGERIES)
    assert result.status == "ok" and "still here" in result.stdout, result
    assert result.ignored >= 6, result  # the unparseable ones; the well-formed but odd ones are read safely
    assert "were ignored" in result.stdout
    assert run(kernel, "print(6 * 7)").stdout.strip() == "42"  # the connection still works


def test_forged_messages_do_not_crash_the_grader_and_cost_nothing_else():
    """The audit's two reproductions: the grade command died with a traceback."""
    forged_answer = '''
def softmax(x, axis=-1):
    k = get_ipython().kernel
    k.session.send(k.iopub_socket, "stream", content=b'["not", "a", "dict"]', parent=k.get_parent())
    k.iopub_socket.send_multipart([b"<IDS|MSG>", b"x", b"{}", b"{}", b"{}", b"{}"])
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
'''
    result = grade(build(replace={"q5": forged_answer}, after=[FORGERIES]))
    assert result.score == result.max_score, result.checks


def test_codec_rejects_every_malformed_message():
    codec = _Codec(b"k" * 32, "hmac-sha256")
    good_id, frames = codec.request("execute_request", {"code": "1"})
    assert codec.parse(frames) == {"type": "execute_request", "parent": None, "content": {"code": "1"}}
    header, parent, metadata, content = frames[2:]

    def signed(*parts):
        return [b"topic", codec.DELIMITER, codec.sign(list(parts))] + list(parts)

    malformed = [
        [], [b"<IDS|MSG>"], frames[:4], [codec.DELIMITER, b"bad"] + frames[2:],
        signed(header, parent, metadata, b"[1, 2]"), signed(b"[]", parent, metadata, content),
        signed(header, b'"x"', metadata, content), signed(b'{"msg_type": 5}', parent, metadata, content),
        signed(header, b'{"msg_id": [1]}', metadata, content), signed(header, parent, metadata, b"\xff\xfe\x00"),
        signed(header, parent, metadata, b"[" * 100000 + b"]" * 100000), signed(header, parent, metadata, b"{"),
    ]
    for case in malformed:
        assert codec.parse(case) is None, case
    assert codec.parse(signed(header, b'{"msg_id": "%s"}' % good_id.encode(), metadata, content))["parent"] == good_id


# ----------------------------------------------------------------------------- 2. other Pythons' packages
def test_other_python_installations_are_hidden(kernel):
    foreign = foreign_site_packages()
    probe = "import os\nfor p in %r:\n    print(p, os.path.isdir(p) and len(os.listdir(p)))\n" % (foreign,)
    lines = run(kernel, probe).stdout.split()
    assert all(count in ("False", "0") for count in lines[1::2]), lines
    # the audit's escape: the base Python's site-packages put first on sys.path
    escape = ("import sys, os\nversion = 'python%d.%d' % sys.version_info[:2]\n"
              "sys.path.insert(0, os.path.join(sys.base_prefix, 'lib', version, 'site-packages'))\n"
              "__import__('scipy.special')")
    assert run(kernel, escape).error_name == "ModuleNotFoundError"
    assert run(kernel, "import numpy, IPython; print(numpy.ones(2).sum())").stdout.strip() == "2.0"


def test_the_kernels_own_packages_are_never_counted_as_foreign():
    # where the kernel's numpy and IPython actually live must stay visible
    import IPython

    for package in (np, IPython):
        home = os.path.realpath(os.path.dirname(os.path.dirname(package.__file__)))
        assert not any(home == p or home.startswith(p + "/") for p in foreign_site_packages()), home


# ----------------------------------------------------------------------------- 3. memory and tasks in total
def _cgroup_or_skip(sandbox):
    if not sandbox.isolation.get("cgroup"):
        pytest.skip(f"no cgroup on this machine: {sandbox.isolation.get('errors')}")


def test_memory_spread_over_processes_is_capped_in_total():
    """RLIMIT_AS is per process: three children of 400 MB each fit it, but not a 1 GB cgroup."""
    limits = dataclasses.replace(FAST, memory_bytes=1024**3)
    sandbox = Sandbox(limits)
    try:
        sandbox.start()
        _cgroup_or_skip(sandbox)
        hog = "import time; b = bytearray(b'1') * (400 << 20); time.sleep(2)"
        code = ("import subprocess, sys\n"
                f"children = [subprocess.Popen([sys.executable, '-c', {hog!r}]) for _ in range(3)]\n"
                "print([c.wait() for c in children])")
        group = sandbox.cgroup  # kept: a kernel killed by the OOM killer is cleaned up, cgroup and all
        folders = list(group.dirs)
        result = sandbox.execute(code, 30)
        peak = group.peak_memory_bytes()  # 0 once the cgroup of a killed kernel is gone
        if result.status != "died":  # the OOM killer took children, not the kernel itself
            assert "-9" in result.stdout, result
            assert 0 < peak <= limits.memory_bytes, peak
    finally:
        sandbox.kill()
    assert not any(os.path.exists(folder) for folder in folders)  # removed with the kernel


def test_task_limit_is_per_submission():
    sandbox = Sandbox(dataclasses.replace(FAST, processes=16))
    try:
        sandbox.start()
        _cgroup_or_skip(sandbox)
        limits = [Path(d, "pids.max").read_text().strip() for d in sandbox.cgroup.dirs
                  if os.path.exists(os.path.join(d, "pids.max"))]
        assert limits == ["17"], limits  # the kernel's 16, plus the launcher outside its namespaces
        members = {pid for path in sandbox.cgroup.procs_files() for pid in cgroups_module._listed(path)}
        assert members >= {sandbox.process.pid}
        code = ("import threading, time\nn = 0\ntry:\n    while n < 100:\n"
                "        threading.Thread(target=time.sleep, args=(3,), daemon=True).start(); n += 1\n"
                "except RuntimeError:\n    pass\nprint(n)")
        assert int(run(sandbox, code).stdout) < 16
    finally:
        sandbox.kill()


def test_cgroups_of_a_killed_grader_are_swept():
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    group = _Cgroup(f"{ROOT_PREFIX}{_pid_namespace()}-{dead.pid}-test")
    problems = group.create(256 * 1024**2, 4)
    if not group.dirs:
        pytest.skip(f"no cgroup can be made here: {problems}")
    try:
        assert set(group.dirs) <= set(sweep_orphaned_cgroups())
        assert not any(os.path.exists(d) for d in group.dirs)
    finally:
        group.remove()


# ----------------------------------------------------------------------------- 4. System V shared memory
SHM = '''
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print("host", libc.shmget(HOST_KEY, 0, 0), "own", libc.shmget(OWN_KEY, 1 << 20, 0o1000 | 0o600) >= 0)
'''


def test_shared_memory_segments_are_private_and_die_with_the_kernel(kernel):
    assert "ipc" in kernel.isolation["namespaces"]
    libc = ctypes.CDLL(None, use_errno=True)
    host_key, own_key = 0x5A4E0000 + os.getpid() % 0xFFFF, 0x5A4F0000 + os.getpid() % 0xFFFF
    host_segment = libc.shmget(host_key, 4096, 0o1000 | 0o600)
    assert host_segment >= 0
    try:
        out = run(kernel, SHM.replace("HOST_KEY", str(host_key)).replace("OWN_KEY", str(own_key))).stdout.split()
        assert out == ["host", "-1", "own", "True"], out  # the host's segment is invisible to the kernel
        assert libc.shmget(own_key, 0, 0) == -1  # and the kernel's never reaches the host
    finally:
        libc.shmctl(host_segment, 0, None)  # IPC_RMID


# ----------------------------------------------------------------------------- 5. the grader's memory
def test_oversized_messages_are_thrown_away_and_results_still_come_back(kernel):
    bloat = f'''
k = get_ipython().kernel
chunk = memoryview(bytearray(2 * 1024**2))
for _ in range(3):  # 40 MB each, in 20 parts: libzmq would hold each whole in the grader
    k.session.send(k.iopub_socket, "display_data", content={{"data": {{}}, "metadata": {{}}}},
                   parent=k.get_parent(), buffers=[chunk] * 20)
k.session.send(k.iopub_socket, "stream", content={{"name": "stdout", "text": "y" * {MESSAGE_CAP}}},
               parent=k.get_parent())  # one part, over the cap
from IPython.display import publish_display_data
publish_display_data({{{Sandbox.RESULT_MIME!r}: "z" * (4 * 1024**2)}})  # a large but legitimate result
print("done")
'''
    result = run(kernel, bloat)
    assert result.status == "ok" and result.ignored == 4 and "done" in result.stdout, result
    assert result.payloads == ["z" * (4 * 1024**2)]


def _serve(peer, data):
    try:
        peer.sendall(data)
    except OSError:
        pass
    finally:
        peer.close()


def _channel_fed_with(data):
    """A channel reading what a thread writes on the other end of a socket pair (a fake kernel)."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    channel = _Channel("unused", "SUB")
    channel.sock = ours
    greeting = _Channel.GREETING + _frame(b"\x05READY" + _property(b"Socket-Type", b"PUB"), _Channel.COMMAND)
    threading.Thread(target=_serve, args=(theirs, greeting + data), daemon=True).start()
    return channel


def _message(*frames):
    return b"".join(_frame(f, _Channel.MORE if i < len(frames) - 1 else 0) for i, f in enumerate(frames))


def test_channel_never_holds_more_than_one_capped_message():
    many_parts = _message(*[b"p" * (256 * 1024)] * (MAX_FRAMES + 24))  # 10 MB in 40 parts
    one_huge = _message(b"h" * (MESSAGE_CAP + 1))
    channel = _channel_fed_with(many_parts + one_huge + _message(b"ok", b"fine"))
    received, held, deadline = [], 0, time.monotonic() + 20
    while not channel.failure and time.monotonic() < deadline:
        received += channel.receive()
        held = max(held, len(channel._buffer) + sum(map(len, channel._frames)))
        time.sleep(0.001)
    assert received == [[b"ok", b"fine"]] and channel.ignored == 2, (received, channel.ignored)
    assert held <= MESSAGE_CAP + READ_BATCH, held
    assert channel.failure == _Channel.CLOSED


@pytest.mark.parametrize("garbage", [b"\xff" * 64, b"\x80\x05hello"], ids=["all-flags", "reserved-flag"])
def test_channel_stops_at_bytes_that_are_not_zeromq(garbage):
    channel = _channel_fed_with(_message(b"first") + garbage)
    received, deadline = [], time.monotonic() + 10
    while not channel.failure and time.monotonic() < deadline:
        received += channel.receive()
    assert received == [[b"first"]] and "not ZeroMQ frames" in channel.failure, channel.failure


# ----------------------------------------------------------------------------- 6. held-out data
def test_dataset_folders_are_hidden(monkeypatch):
    """a10's test labels lie where course_lib.data looks: /usr/share/datasets, $COURSE_LIB_DATA, the cache."""
    data = None
    for parent in ("/srv", "/opt", "/var/lib", "/mnt"):  # a folder the sandbox would otherwise show
        try:
            data = tempfile.mkdtemp(prefix="course-data-", dir=parent)
            break
        except OSError:
            continue
    try:
        if data is not None:
            os.makedirs(os.path.join(data, "fashion-mnist"))
            with open(os.path.join(data, "fashion-mnist", "t10k-labels-idx1-ubyte.gz"), "wb") as handle:
                handle.write(b"labels")
            monkeypatch.setenv("COURSE_LIB_DATA", data)
        folders = dataset_folders()
        if not folders:
            pytest.skip("no dataset folder exists on this machine and none could be made")
        assert data is None or os.path.realpath(data) in folders
        sandbox = Sandbox(FAST)
        try:
            sandbox.start()
            code = ("import os\nfor folder in %r:\n    print(folder, os.path.isdir(folder) and len(os.listdir(folder)))"
                    % (folders,))
            counts = run(sandbox, code).stdout.split()[1::2]
            assert all(count in ("False", "0") for count in counts), counts
            labels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"
            if data is not None:
                labels = os.path.join(data, "fashion-mnist", "t10k-labels-idx1-ubyte.gz")
            assert run(sandbox, f"open({labels!r}, 'rb').read()").error_name == "FileNotFoundError"
        finally:
            sandbox.kill()
    finally:
        if data is not None:
            shutil.rmtree(data, ignore_errors=True)


def test_an_oversized_return_value_is_explained_not_called_tampering():
    # a wrong answer of 16 MB (a broadcast (N, N) instead of (N,)) exceeds the message cap
    source = "def softmax(x, axis=-1):\n    return np.zeros((2048, 1024))\n"
    result = grade(build(replace={"q5": source}))
    messages = [c.message for c in result.checks if c.question == "q5"]
    assert any("larger than 8 MB" in m for m in messages), messages
    assert not any("tampered" in m for m in messages), messages
    assert result.questions["q1"]["score"] == 2.0  # the other questions are untouched


def test_cgroup_members_are_killed_and_a_pid_no_longer_listed_is_spared(tmp_path, monkeypatch):
    """remove() signals a PID only if cgroup.procs still lists it after it was pinned (a pidfd):
    a PID that left the list (its process exited, the number reused) is never signalled."""
    member = subprocess.Popen(["sleep", "60"])
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / "cgroup.procs").write_text(f"{member.pid}\n")
        cgroups_module._kill_members(str(tmp_path))
        assert member.wait(timeout=5) == -signal.SIGKILL

        (tmp_path / "cgroup.procs").write_text(f"{bystander.pid}\n")
        reads = iter([[bystander.pid], []])  # listed when read, gone when checked after pinning
        monkeypatch.setattr(cgroups_module, "_listed", lambda path: next(reads))
        cgroups_module._kill_members(str(tmp_path))
        with pytest.raises(subprocess.TimeoutExpired):
            bystander.wait(timeout=0.2)
    finally:
        for process in (member, bystander):
            process.kill()
            process.wait()


def test_without_pidfds_cgroup_members_are_still_killed(tmp_path, monkeypatch):
    """Linux before 5.3 (or a seccomp filter) refuses pidfd_open: the plain kill still runs."""
    member = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / "cgroup.procs").write_text(f"{member.pid}\n")

        def no_pidfds(pid):
            raise OSError(errno.ENOSYS, "Function not implemented")

        monkeypatch.setattr(os, "pidfd_open", no_pidfds)
        cgroups_module._kill_members(str(tmp_path))
        assert member.wait(timeout=5) == -signal.SIGKILL
    finally:
        member.kill()
        member.wait()


# ----------------------------------------------------------------------------- CPU share
CPU_HOG = '''
import os, time
children = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        os.setsid()  # its own session: out of the kernel's autogroup, as an attacker would do
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            pass
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
print("cpu", round(os.times().children_user + os.times().children_system, 2))
'''


def test_a_submission_gets_one_cpu_however_many_processes_it_starts(kernel):
    """Busy processes of one kernel slowed down the kernels grading beside it and cost their students
    points (red team): the submission's cgroup has a quota of ``Limits.cpus`` (1 CPU)."""
    if not (kernel.isolation.get("cgroup") and os.path.isdir("/sys/fs/cgroup/cpu")) or os.cpu_count() < 2:
        pytest.skip("no cpu cgroup (cgroup v1, root) or a single CPU: nothing to share")
    result = run(kernel, CPU_HOG, timeout=30)
    used = float(result.stdout.split("cpu")[-1])
    assert used < 1.5 * 1.3, f"3 busy processes for 1.5 s used {used} CPU seconds; the quota allows about 1.5"

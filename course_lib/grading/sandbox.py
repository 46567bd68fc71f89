"""A student's Jupyter kernel in its own sandboxed process, driven by the grader.

The grader talks to the kernel over Jupyter's messaging protocol on Unix-domain
sockets (``ipc`` transport), because the kernel lives in a network namespace of its
own where TCP to the grader is impossible.  Everything that comes back is
untrusted: this module only moves messages and enforces wall-time limits; it never
interprets what the student's code says about itself (see ``wire.py``).  It speaks
ZeroMQ's wire protocol itself (``zmtp.py``) so that what the kernel sends is
bounded before the grader stores it, and checks every message's signature, shape
and types: a malformed message is ignored, never an exception.  Around the kernel: a
cgroup of its own (``cgroups.py``), folders it must not see (``hidden_folders.py``), and
the clean-up after graders killed before theirs (``orphans.py``).

Isolation is set up by ``_launch.py``; :class:`Sandbox` reports what it achieved in
``isolation`` so a degraded sandbox (no namespaces on this OS) is visible in reports.
"""
from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

from jupyter_client.connect import write_connection_file

from ._launch import mount_table
from .cgroups import _Cgroup
from .hidden_folders import _safe_to_hide, dataset_folders, foreign_site_packages, module_dirs
from .orphans import ROOT_PREFIX, _pid_namespace, sweep_orphaned_cgroups, sweep_orphaned_roots
from .wire import clean_text
from .zmtp import MAX_FRAMES, MESSAGE_CAP, _Channel, _Codec, _wait

LAUNCHER = Path(__file__).with_name("_launch.py")
REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUT_CAP = 64 * 1024  # bytes of stdout/stderr kept per execution, for feedback only


@dataclass
class Limits:
    """Resource limits of one student kernel (see the instructor README)."""

    cell_timeout_s: float = 30.0  # wall time of one notebook cell
    call_timeout_s: float = 20.0  # wall time of one graded call
    question_timeout_s: float = 120.0  # wall time of one question's public calls, and again of its hidden ones
    total_timeout_s: float = 300.0  # wall time of the whole submission
    startup_timeout_s: float = 60.0
    cpu_s: int = 600  # CPU seconds of the kernel process (RLIMIT_CPU)
    memory_bytes: int = 4 * 1024**3  # per process (RLIMIT_AS) and, where cgroups allow, in total
    file_bytes: int = 64 * 1024**2  # largest file the kernel may write (RLIMIT_FSIZE)
    open_files: int = 256
    # tasks (threads count too) of the whole submission: a cgroup's pids.max, and RLIMIT_NPROC of the
    # kernel's uid; a kernel training a torch model uses about 10
    processes: int = 32
    workdir_bytes: int = 256 * 1024**2  # the work folder is a tmpfs of this size
    # CPUs the whole submission may use at once (a cgroup's CPU quota): without it, a kernel that
    # starts dozens of busy processes slows down the kernels grading beside it and costs their
    # students points for time limits (red-team finding); the grader sets one thread per kernel
    cpus: float = 1.0
    isolate: bool = True  # namespaces (False: rlimits only — for testing the degraded mode)


@dataclass
class ExecResult:
    """What happened when a piece of code ran in the kernel (untrusted content)."""

    status: str  # "ok", "error", "timeout", "died"
    stdout: str = ""
    error_name: str = ""
    error_value: str = ""
    traceback: str = ""
    payloads: List[str] = field(default_factory=list)  # our result mime type, raw strings
    seconds: float = 0.0
    ignored: int = 0  # messages from the kernel thrown away: over the caps, unsigned or malformed


_swept = False


def _mounted_read_only(pid: int, path: str) -> bool:
    """Whether ``path`` is a read-only mount point in the mount table of process ``pid``."""
    try:
        options = [opts for point, opts in mount_table(pid) if point == path]
    except OSError:
        return False
    return bool(options) and "ro" in options[-1]  # the last one mounted there is what is seen


def _text(value) -> str:
    """A field the kernel sent, as text whatever its type, safe to print and store (``clean_text``)."""
    if isinstance(value, str):
        return clean_text(value)
    return "" if value is None else clean_text(str(value))


class Sandbox:
    """One sandboxed kernel.  ``start()``, ``execute(code)``, ``kill()``; restartable."""

    RESULT_MIME = "application/vnd.course-grader.result+json"

    def __init__(self, limits: Optional[Limits] = None, forbid=(), hide=(), isolate: Optional[bool] = None):
        self.limits = limits or Limits()
        self.forbid = list(forbid)
        self.extra_hide = [os.path.abspath(p) for p in hide]
        self.isolate = self.limits.isolate if isolate is None else isolate
        self.process: Optional[subprocess.Popen] = None
        self.shell: Optional[_Channel] = None  # the grader's requests and the kernel's replies
        self.iopub: Optional[_Channel] = None  # the kernel's output, errors and results
        self.codec: Optional[_Codec] = None
        self.cgroup: Optional[_Cgroup] = None
        self.isolation: dict = {}
        self.root: Optional[str] = None
        self.sandbox_uid: Optional[int] = None
        self.starts = 0
        self.kernel_peak_kb = 0  # peak resident memory of the kernel process over all starts

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self.kill()
        self.starts += 1
        global _swept
        if not _swept:  # once per grader process
            _swept = True
            sweep_orphaned_roots()
            sweep_orphaned_cgroups()
        self.root = tempfile.mkdtemp(prefix=f"{ROOT_PREFIX}{_pid_namespace()}-{os.getpid()}-")
        os.chmod(self.root, 0o711)  # the kernel may traverse, not list or write
        workdir = os.path.join(self.root, "work")
        os.mkdir(workdir, 0o700)
        sandbox_uid = None
        if os.getuid() == 0:
            sandbox_uid = 3_000_000 + secrets.randbelow(1_000_000)  # owns nothing else on the machine
            self.sandbox_uid = sandbox_uid
            os.chown(workdir, sandbox_uid, sandbox_uid)
        # inputs too large to send inside code: written here by the grader, read-only for the kernel
        self.inbox = os.path.join(self.root, "inbox")
        os.mkdir(self.inbox, 0o755)
        sockets = os.path.join(self.root, "sock")
        os.mkdir(sockets, 0o777)
        if sandbox_uid is not None:
            os.chown(sockets, sandbox_uid, sandbox_uid)
        connection_file = os.path.join(self.root, "kernel.json")
        _, connection = write_connection_file(connection_file, transport="ipc", ip=os.path.join(sockets, "k"),
                                              key=secrets.token_hex(32).encode())
        os.chmod(connection_file, 0o644)

        keep = sorted({os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix), self.root})
        hide = [os.path.realpath(REPO_ROOT), os.path.realpath(os.path.expanduser("~")), os.getcwd()]
        # the held-out data the grader judges with, and the packages of every other Python here
        hide += self.extra_hide + dataset_folders() + foreign_site_packages()
        entries = [{"path": p, "writable": False} for p in hide if _safe_to_hide(p, keep)]
        for name in self.forbid + ["course_lib"]:
            for path in module_dirs([name]):
                if _safe_to_hide(path, keep) and os.path.basename(path) == name:
                    message = f"{name} is not available to this assignment (it must be solved without it)"
                    entries.append({"path": path, "writable": False, "block": message})
        entries += [{"path": p, "writable": True} for p in ("/tmp", "/var/tmp", "/dev/shm")]
        entries = sorted({e["path"]: e for e in entries}.values(), key=lambda e: len(e["path"]))

        processes = self.limits.processes
        if os.getuid() != 0:
            # RLIMIT_NPROC counts all processes of our user, so leave room for those already running
            processes += _count_own_processes()
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": workdir,
            "IPYTHONDIR": os.path.join(workdir, ".ipython"),
            "JUPYTER_RUNTIME_DIR": os.path.join(workdir, ".jupyter"),
            "MPLCONFIGDIR": os.path.join(workdir, ".matplotlib"),
            "MPLBACKEND": "Agg",
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "LANG": "C.UTF-8",
            # a grade must not depend on the grading machine: no GPU, even on a host that has one
            # (CUDA's start-up would also meet the kernel's address-space limit)
            "CUDA_VISIBLE_DEVICES": "",
        }
        cgroup_problems = self._make_cgroup(processes=self.limits.processes + 1)  # + the launcher
        status_read, status_write = os.pipe()
        config = {
            "cgroup_procs": self.cgroup.procs_files() if self.cgroup else [],
            "status_fd": status_write,
            # the kernel dies with this process; not when started from another thread, whose end
            # (not the process's) is what the kernel would die with
            "grader_pid": os.getpid() if threading.current_thread() is threading.main_thread() else None,
            "isolate": self.isolate,
            "hide": entries,
            "keep": keep,
            "workdir": workdir,
            "sockets": sockets,
            "workdir_bytes": self.limits.workdir_bytes,
            "python_paths": python_paths(),
            "sandbox_uid": sandbox_uid,
            "limits": {
                "cpu_s": self.limits.cpu_s,
                "memory_bytes": self.limits.memory_bytes,
                "file_bytes": self.limits.file_bytes,
                "open_files": self.limits.open_files,
                "processes": processes,
            },
            "env": env,
            "argv": [sys.executable, "-I", "-m", "ipykernel_launcher", "-f", connection_file,
                     "--HistoryManager.enabled=False", "--IPKernelApp.capture_fd_output=False"],
        }
        config_path = os.path.join(self.root, "launch.json")
        with open(config_path, "w") as handle:
            json.dump(config, handle)
        os.chmod(config_path, 0o600)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", str(LAUNCHER), config_path],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                pass_fds=(status_write,), start_new_session=True, close_fds=True,
            )
        except OSError:  # EMFILE, ENOMEM…: close both ends, or every failed start would leak two more
            os.close(status_read)
            raise
        finally:
            os.close(status_write)
        self.isolation = _read_status(status_read, self.limits.startup_timeout_s)
        if self.isolation.get("refused"):  # the launcher would not run the student's code (see _launch.py)
            self.kill()
            raise RuntimeError(self.isolation["refused"])
        if self.isolation.get("not_hidden"):  # a secret or a forbidden package would be in reach: do not grade
            problems = "; ".join(self.isolation["not_hidden"][:3])
            self.kill()
            raise RuntimeError(f"the sandbox could not hide {problems}")
        self._note_cgroup(cgroup_problems)
        self._connect(connection, time.monotonic() + self.limits.startup_timeout_s)
        if self.isolation.get("namespaces"):
            self._lock_socket_folder(sockets)

    def _make_cgroup(self, processes: int) -> List[str]:
        """A fresh cgroup capping the submission's total memory and tasks; what went wrong."""
        if not self.isolate:
            return []
        self.cgroup = _Cgroup(os.path.basename(self.root))
        problems = self.cgroup.create(self.limits.memory_bytes, processes, self.limits.cpus)
        if not self.cgroup.dirs:
            self.cgroup = None
        return problems

    def _note_cgroup(self, problems: List[str]) -> None:
        """Say in ``isolation`` whether the kernel runs in its cgroup, or why not (a degraded sandbox)."""
        if not self.isolate:
            return
        errors = self.isolation.setdefault("errors", [])
        joined = self.isolation.get("cgroups_joined", [])
        if self.cgroup is not None and joined and len(joined) == len(self.cgroup.dirs):
            self.isolation["cgroup"] = {"version": self.cgroup.version, "memory_bytes": self.limits.memory_bytes,
                                        "processes": self.cgroup.processes}
        elif joined:  # e.g. memory joined, pids refused
            errors.append(f"the kernel joined only part of its cgroups ({', '.join(joined)}): the limits of the "
                          "others hold per process only")
        else:
            reason = "; ".join(problems) or "the launcher could not join it"
            errors.append(f"no cgroup for the kernel ({reason}): its memory and process limits hold per process only")
            return
        errors.extend(f"cgroup: {problem}" for problem in problems)

    def _connect(self, connection: dict, deadline: float) -> None:
        """Connect to the kernel's shell and iopub sockets (``connection``: what the kernel's
        connection file holds) and wait until it answers on both."""
        self.codec = _Codec(connection["key"].encode(), connection["signature_scheme"])
        endpoint = lambda port: f"{connection['ip']}-{connection[port]}"  # noqa: E731  (Jupyter's ipc naming)
        self.iopub = _Channel(endpoint("iopub_port"), "SUB")
        self.shell = _Channel(endpoint("shell_port"), "DEALER")
        for channel in (self.iopub, self.shell):
            while not channel.connect(deadline):
                self._check_starting(deadline)
                time.sleep(0.05)
        # An iopub message about our request proves the subscription has reached the kernel, so no
        # output of the student's first cell can be lost; ask again until one comes.
        asked: set = set()
        replied = published = False
        while not (replied and published):
            self._check_starting(deadline)
            msg_id, frames = self.codec.request("kernel_info_request", {})
            if not self.shell.send_message(frames, deadline):
                raise RuntimeError(f"the sandboxed kernel did not take a request ({self.shell.failure or 'timed out'})")
            asked.add(msg_id)
            until = min(deadline, time.monotonic() + 1.0)
            while time.monotonic() < until and not (replied and published):
                for channel, message in self._receive(0.05):
                    if message["parent"] in asked:
                        replied |= channel is self.shell and message["type"] == "kernel_info_reply"
                        published |= channel is self.iopub
                broken = self._failure()
                if broken:
                    raise RuntimeError(f"the sandboxed kernel's connection failed while starting: {broken}")

    def _check_starting(self, deadline: float) -> None:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"the sandboxed kernel exited while starting ({self.isolation})")
        if time.monotonic() > deadline:
            raise RuntimeError("the sandboxed kernel did not start in time")

    def _receive(self, timeout: float) -> Iterator[Tuple[_Channel, dict]]:
        """The well-formed messages that arrive within ``timeout`` seconds; malformed ones are counted
        in their channel's ``ignored`` and skipped."""
        channels = [c for c in (self.shell, self.iopub) if c is not None and c.sock is not None and not c.failure]
        if not channels:
            time.sleep(timeout)
            return
        readable = _wait([c.sock for c in channels], select.POLLIN, timeout)
        for channel in channels:
            if channel.sock.fileno() not in readable:
                continue
            for frames in channel.receive():
                message = self.codec.parse(frames)
                if message is None:
                    channel.ignored += 1
                else:
                    yield channel, message

    def _failure(self) -> str:
        """Why a connection to the kernel is unusable ("" if both work)."""
        for channel in (self.shell, self.iopub):
            if channel is not None and channel.failure:
                return channel.failure
        return ""

    def _lock_socket_folder(self, sockets: str) -> None:
        """Have the launcher make the socket folder read-only for the kernel, now that its sockets
        exist (else student code could fill the host's disk there, file by file), and check it
        in the launcher's mount table."""
        os.kill(self.process.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if _mounted_read_only(self.process.pid, sockets):
                self.isolation["sockets_read_only"] = True
                return
            time.sleep(0.01)
        self.isolation.setdefault("errors", []).append("the socket folder stayed writable for the kernel")

    def spill(self, array) -> str:
        """Store a large input array where the kernel can read it (never write it); return its path."""
        import numpy as np

        path = os.path.join(self.inbox, secrets.token_hex(8) + ".npy")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        return path

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """Kill the kernel and everything it started (its PID namespace and process group)."""
        for channel in (self.shell, self.iopub):
            if channel is not None:
                channel.close()
        self.shell = self.iopub = None
        if self.process is not None:
            self.kernel_peak_kb = max(self.kernel_peak_kb, _kernel_peak_kb(self.process.pid))
            # The launcher SIGKILLs the kernel (PID 1 of the namespace, whose death takes every
            # other process of the namespace with it) and reaps it; then the process group goes.
            try:
                self.process.terminate()
                self.process.wait(timeout=3)
            except Exception:
                pass
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.process.kill()
                self.process.wait(timeout=10)
            except Exception:
                pass
            self.process = None
        if self.cgroup is not None:
            self.cgroup.remove()  # kills what is left in it first
            self.cgroup = None
        if self.sandbox_uid is not None:
            _kill_uid(self.sandbox_uid)
            self.sandbox_uid = None
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.kill()

    # ------------------------------------------------------------------ execute
    def execute(self, code: str, timeout: float) -> ExecResult:
        """Run ``code``; wait at most ``timeout`` seconds of wall time, then kill the kernel.

        Never raises over what the kernel sends: a malformed message is ignored (counted in
        ``ignored``), a connection that stops speaking ZeroMQ costs the kernel ("died")."""
        if not self.alive() or self.shell is None or self.iopub is None:
            return ExecResult("died")
        start = time.monotonic()
        deadline = start + timeout
        channels = (self.shell, self.iopub)  # kept: kill() forgets them, their counts still matter
        ignored_before = sum(c.ignored for c in channels)
        msg_id, frames = self.codec.request("execute_request", {
            "code": code, "silent": False, "store_history": False, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True})
        result = ExecResult("timeout")
        output = _Output()
        reply = None
        reply_time = 0.0
        idle = False
        sent = self.shell.send_message(frames, deadline)
        while True:
            now = time.monotonic()
            if reply is not None and (idle or now - reply_time > 1.0):
                break  # do not wait for a background output flood to end
            failure = self._failure()
            dead = not self.alive()
            if not sent or failure or now > deadline or dead:
                if failure or dead:
                    result.status = "died"
                    if failure and failure != _Channel.CLOSED:
                        output.note(f"the kernel was stopped: {failure}")
                self.kill()
                break
            for channel, message in self._receive(0.02):
                if message["parent"] != msg_id:
                    continue
                if channel is self.shell:
                    if message["type"] == "execute_reply" and reply is None:
                        reply, reply_time = message, time.monotonic()
                elif _collect(result, output, message):
                    idle = True
        if reply is not None:
            content = reply["content"]
            result.status = "ok" if content.get("status") == "ok" else "error"
            if result.status == "error" and not result.error_name:
                result.error_name = _text(content.get("ename"))[:200]
                result.error_value = _text(content.get("evalue"))[:2000]
        result.ignored += sum(c.ignored for c in channels) - ignored_before
        if result.ignored:
            output.note(f"{result.ignored} message(s) from the kernel were ignored: over "
                        f"{MESSAGE_CAP // 1024**2} MB or {MAX_FRAMES} parts, or not well-formed Jupyter messages")
        result.stdout = output.text()
        result.seconds = time.monotonic() - start
        return result


class _Output:
    """The kernel's stdout/stderr of one execution, capped (feedback only), plus the grader's notes."""

    def __init__(self):
        self.parts: List[str] = []
        self.size = 0
        self.notes: List[str] = []

    def add(self, text: str) -> None:
        if self.size < OUTPUT_CAP:
            self.parts.append(text[: OUTPUT_CAP - self.size])
        self.size += len(text)

    def note(self, text: str) -> None:
        self.notes.append(f"[{text}]")

    def text(self) -> str:
        text = "".join(self.parts)
        if self.size > OUTPUT_CAP:
            text += f"\n[... {self.size - OUTPUT_CAP} more characters of output dropped]"
        return "\n".join([text] + self.notes) if self.notes else text


def _collect(result: ExecResult, output: _Output, message: dict) -> bool:
    """Take what concerns the grader from an iopub message; True when it says the kernel is idle."""
    kind, content = message["type"], message["content"]
    try:
        if kind == "stream":
            output.add(_text(content.get("text")))
        elif kind == "error":
            result.error_name = _text(content.get("ename"))[:200]
            result.error_value = _text(content.get("evalue"))[:2000]
            lines = content.get("traceback")
            lines = lines if isinstance(lines, list) else [lines]
            result.traceback = "\n".join(_text(line)[:8000] for line in lines[:1000])[:8000]
        elif kind in ("display_data", "execute_result"):
            data = content.get("data")
            if isinstance(data, dict) and isinstance(data.get(Sandbox.RESULT_MIME), str) and not result.payloads:
                result.payloads.append(data[Sandbox.RESULT_MIME])  # the first one counts; no hoarding
        elif kind == "status":
            return content.get("execution_state") == "idle"
    except (RecursionError, MemoryError):  # str() of a pathologically nested value
        result.ignored += 1
    return False


def python_paths() -> List[str]:
    """The Python the kernel runs: without namespaces a dropped uid must reach these (see _launch.py)."""
    return [os.path.realpath(sys.executable), os.path.dirname(os.__file__)]


def _read_status(fd: int, timeout: float) -> dict:
    """Read the launcher's JSON status from the pipe (closed by the launcher before the kernel starts)."""
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    try:
        return json.loads(b"".join(chunks).decode())
    except ValueError:
        return {"errors": ["the sandbox launcher reported nothing"], "namespaces": [], "hidden": [], "limits": {}}


def _kernel_peak_kb(launcher_pid: int) -> int:
    """VmHWM of the kernel: the launcher itself, or its child when it forked into the namespaces."""
    pids = [launcher_pid]
    try:
        with open(f"/proc/{launcher_pid}/task/{launcher_pid}/children") as handle:
            pids += [int(p) for p in handle.read().split()]
    except OSError:
        pass
    peak = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as handle:
                for line in handle:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError):
            pass
    return peak


def _kill_uid(uid: int, wait_s: float = 5.0) -> None:
    """SIGKILL every process of the sandbox's private uid until none is left (belt and braces:
    the PID namespace already dies with its first process, but teardown is asynchronous)."""
    deadline = time.monotonic() + wait_s
    while True:
        left = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat(f"/proc/{entry}").st_uid == uid:
                        left.append(int(entry))
                except OSError:
                    pass
        if not left or time.monotonic() > deadline:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.02)


def _count_own_processes() -> int:
    uid = os.getuid()
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                count += os.stat(f"/proc/{entry}").st_uid == uid
            except OSError:
                pass
    return count

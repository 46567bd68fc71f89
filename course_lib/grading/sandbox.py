"""A student's Jupyter kernel in its own sandboxed process, driven by the grader.

The grader talks to the kernel over Jupyter's messaging protocol on Unix-domain
sockets (``ipc`` transport), because the kernel lives in a network namespace of its
own where TCP to the grader is impossible.  Everything that comes back is
untrusted: this module only moves messages and enforces wall-time limits; it never
interprets what the student's code says about itself (see ``wire.py``).  It speaks
ZeroMQ's wire protocol itself (:class:`_Channel`) so that what the kernel sends is
bounded before the grader stores it, and checks every message's signature, shape
and types (:class:`_Codec`): a malformed message is ignored, never an exception.

Isolation is set up by ``_launch.py``; :class:`Sandbox` reports what it achieved in
``isolation`` so a degraded sandbox (no namespaces on this OS) is visible in reports.
"""
from __future__ import annotations

import errno
import glob
import hashlib
import hmac
import importlib.util
import json
import os
import secrets
import select
import shutil
import signal
import site
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

from jupyter_client.connect import write_connection_file

from ._launch import _inside, _write, mount_table, mountinfo
from .wire import clean_text

LAUNCHER = Path(__file__).with_name("_launch.py")
REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUT_CAP = 64 * 1024  # bytes of stdout/stderr kept per execution, for feedback only
# One message from the kernel, all its frames together; larger ones are read and thrown away
# unstored.  The largest legitimate one is a return value: ~0.5 MB in the course's assignments
# (inputs over 256 KB travel as files, see Sandbox.spill).
MESSAGE_CAP = 8 * 1024 * 1024
MAX_FRAMES = 16  # a Jupyter message has 7 (topic, delimiter, signature, 4 JSON parts) plus buffers
READ_BATCH = 1024 * 1024  # bytes read from one connection before the messages in them are handled


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


def module_dirs(names) -> List[str]:
    """Folders (or files) holding the importable packages ``names`` in this Python."""
    found = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            continue
        if spec.submodule_search_locations:
            found.extend(str(Path(p).resolve()) for p in spec.submodule_search_locations)
        elif spec.origin and spec.origin not in ("built-in", "frozen"):
            found.append(str(Path(spec.origin).resolve().parent))
    return found


_foreign_site_packages: Optional[List[str]] = None


def foreign_site_packages() -> List[str]:
    """Package folders of every other Python installation found here (the base Python of this
    venv, the system's, /usr/local's, /opt's…), which the kernel never imports from.

    Covering only the venv's copy of a forbidden package is not enough: ``sys.path.insert(0,
    sys.base_prefix + "/lib/python3.11/site-packages")`` found scipy in the base Python.  Looked
    up once per grader process (the walk of /usr and /opt takes a fraction of a second).
    """
    global _foreign_site_packages
    if _foreign_site_packages is None:
        own = {os.path.realpath(p) for p in site.getsitepackages()}  # what the kernel's interpreter uses
        found = set()
        prefixes = {sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, os.path.dirname(sys.base_prefix)}
        for prefix in prefixes:
            for pattern in ("lib*/python*/*-packages", "*/lib*/python*/*-packages", "envs/*/lib*/python*/*-packages"):
                found.update(glob.glob(os.path.join(prefix, pattern)))
        for top in ("/usr", "/opt", "/srv"):  # /usr/local is inside /usr
            found.update(_find_package_folders(top, depth=6))
        found = {os.path.realpath(p) for p in found if os.path.basename(p) in ("site-packages", "dist-packages")}
        # never one the kernel needs, nor one holding or inside such a folder
        _foreign_site_packages = sorted(p for p in found if not any(_inside(p, o) or _inside(o, p) for o in own))
    return list(_foreign_site_packages)


def _find_package_folders(top: str, depth: int) -> List[str]:
    """site-packages/dist-packages folders under ``top``, at most ``depth`` levels down."""
    found = []
    try:
        entries = list(os.scandir(top))
    except OSError:
        return found
    for entry in entries:
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
        except OSError:
            continue
        if entry.name in ("site-packages", "dist-packages"):
            found.append(entry.path)
        elif depth > 0 and entry.name not in ("share", "include", "src", "doc", "man", "locale", "node_modules"):
            found += _find_package_folders(entry.path, depth - 1)
    return found


def dataset_folders() -> List[str]:
    """The existing folders the grader reads datasets from, held-out test labels included (the
    folders of ``course_lib.data.store``'s search path): the kernel must not read them."""
    from course_lib.data import registry, store

    parents = {os.path.realpath(folder.parent) for name in registry.DATASETS for folder in store.search_dirs(name)}
    folders = {folder for folder in parents if os.path.isdir(folder)}
    # one of them inside another already listed is covered with it
    return sorted(f for f in folders if not any(f != other and _inside(f, other) for other in folders))


def _safe_to_hide(path: str, keep: List[str]) -> bool:
    """Never cover the root or a folder the Python installation lives in, unless kept inside."""
    path = os.path.abspath(path)
    if path in ("/", "/usr", "/lib", "/lib64", "/bin", "/etc", "/proc", "/dev", "/sys"):
        return False
    for kept in keep:
        if kept == path:
            return False
    return True


ROOT_PREFIX = "course-grader-"
_swept = False


def sweep_orphaned_roots(base: Optional[str] = None) -> List[str]:
    """Remove the sandbox folders of graders that were killed (``kill -9`` skips their clean-up).

    A folder is named after the process that made it (``course-grader-NS-PID-…``, NS naming
    the PID namespace the PID belongs to).  Ours whose process is gone are removed; a live process
    with that PID, even an unrelated one, keeps it, and so does a PID of another namespace (a
    grader in another container sharing this temporary directory).  Returns what was removed.
    """
    removed = []
    for entry in os.scandir(base or tempfile.gettempdir()):
        pid = _orphan_pid(entry.name)
        if pid is None:
            continue
        try:
            ours = entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_uid == os.getuid()
        except OSError:  # vanished meanwhile
            continue
        if ours and _process_gone(pid):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.path)
    return removed


def _mounted_read_only(pid: int, path: str) -> bool:
    """Whether ``path`` is a read-only mount point in the mount table of process ``pid``."""
    try:
        options = [opts for point, opts in mount_table(pid) if point == path]
    except OSError:
        return False
    return bool(options) and "ro" in options[-1]  # the last one mounted there is what is seen


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:  # no /proc here
        return "0"


def _process_gone(pid: int) -> bool:
    """No such process, or a zombie (killed, not yet reaped: it will never clean up)."""
    if not os.path.isdir("/proc/self"):  # no /proc here: ask the kernel (zombies then count as alive)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:  # someone else's process
            pass
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
    except OSError:
        return False


class _ProtocolError(Exception):
    """The kernel's end of a connection sent bytes that are not ZeroMQ's protocol."""


class _Channel:
    """One ZeroMQ connection to the kernel (ZMTP 3.0, NULL mechanism), spoken here by hand.

    libzmq (pyzmq) caps each frame (MAXMSGSIZE) but assembles a whole multipart message, however
    many frames it has, before handing over the first: a kernel sending messages of twenty 30 MB
    frames made the grader hold gigabytes.  Here each frame's size is read before its body, so a
    message over MESSAGE_CAP or MAX_FRAMES is read and thrown away without being stored: the
    grader holds at most one message and READ_BATCH bytes per connection.
    """

    # signature (0xFF, 8 bytes of padding, 0x7F), version 3.0, mechanism NULL, as-server 0, filler
    GREETING = b"\xff" + bytes(8) + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + bytes(32)
    MORE, LONG, COMMAND = 0x01, 0x02, 0x04
    CLOSED = "the kernel closed the connection"  # as it does when it exits

    def __init__(self, path: str, socket_type: str):
        self.path = path
        self.socket_type = socket_type  # what we are to the kernel: SUB (its iopub) or DEALER (its shell)
        self.sock: Optional[socket.socket] = None
        self.failure = ""  # why the connection is unusable ("" while it works)
        self.ignored = 0  # messages thrown away (over a cap, or not a Jupyter message the codec accepts)
        self.ready = False  # the kernel's READY came: the handshake is over
        self._pending: List[List[bytes]] = []  # messages that came with it
        self._buffer = bytearray()
        self._greeted = False
        self._frames: List[bytes] = []
        self._size = 0  # bytes of the current message so far
        self._dropping = False  # the current message is over a cap: its frames are read, not kept
        self._flags: Optional[int] = None  # of the frame being read (None: expecting a frame header)
        self._body = 0  # bytes of that frame still to come
        self._keep = False

    def connect(self, deadline: float) -> bool:
        """Connect and greet; False while the kernel has not created its socket yet."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            sock.connect(self.path)
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            return False
        except OSError as error:
            sock.close()
            raise RuntimeError(f"cannot connect to the kernel's {self.socket_type} socket {self.path}: {error}")
        sock.setblocking(False)
        self.sock = sock
        ready = b"\x05READY" + _property(b"Socket-Type", self.socket_type.encode())
        self.send(self.GREETING + _frame(ready, self.COMMAND), deadline)
        # libzmq takes no message before it has sent its own READY: it would fail the handshake
        while not self.ready and not self.failure and time.monotonic() < deadline:
            _wait([self.sock], select.POLLIN, min(0.05, max(0.0, deadline - time.monotonic())))
            self._pending += self.receive()
        if self.socket_type == "SUB":
            self.send(_frame(b"\x01"), deadline)  # subscribe to every topic (ZMTP 3.0: a message 0x01 + prefix)
        if not self.ready or self.failure:
            raise RuntimeError(f"the kernel did not accept a connection to {self.path}: {self.failure or 'timed out'}")
        return True

    def send_message(self, frames: List[bytes], deadline: float) -> bool:
        data = b"".join(_frame(f, self.MORE if i < len(frames) - 1 else 0) for i, f in enumerate(frames))
        return self.send(data, deadline)

    def send(self, data: bytes, deadline: float) -> bool:
        """Write everything by ``deadline``; False if the kernel does not read it or the connection broke."""
        view = memoryview(data)
        while view:
            if self.failure or self.sock is None:
                return False
            try:
                view = view[self.sock.send(view):]
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                _wait([self.sock], select.POLLOUT, min(remaining, 0.05))
            except OSError as error:
                self.failure = f"sending failed: {error.strerror or error}"
        return True

    def receive(self) -> List[List[bytes]]:
        """The complete messages among what has arrived (at most READ_BATCH bytes read)."""
        messages, self._pending = self._pending, []
        read = 0
        while read < READ_BATCH and not self.failure and self.sock is not None:
            try:
                chunk = self.sock.recv(65536)
            except BlockingIOError:
                break
            except OSError as error:
                self.failure = f"reading failed: {error.strerror or error}"
                break
            if not chunk:
                self.failure = self.CLOSED
                break
            read += len(chunk)
            self._buffer += chunk
            try:
                self._parse(messages)
            except _ProtocolError as error:
                self.failure = f"the kernel sent bytes that are not ZeroMQ frames ({error})"
        return messages

    def _parse(self, messages: List[List[bytes]]) -> None:
        """Append the complete messages in the buffer to ``messages`` (kept there if a later frame is bad)."""
        buffer = self._buffer
        while True:
            if not self._greeted:
                if len(buffer) < len(self.GREETING):
                    return
                if buffer[0] != 0xFF or not buffer[9] & 1 or buffer[10] < 3 or bytes(buffer[12:17]) != b"NULL\x00":
                    got = bytes(buffer[:17])
                    raise _ProtocolError(f"expected a ZMTP 3 greeting with the NULL mechanism, got {got!r}")
                del buffer[:len(self.GREETING)]
                self._greeted = True
            if self._flags is None and not self._start_frame(buffer):
                return
            if self._keep:
                if len(buffer) < self._body:
                    return
                with memoryview(buffer) as view:
                    body = bytes(view[:self._body])
                del buffer[:self._body]
                if not self._flags & self.COMMAND:
                    self._frames.append(body)
            else:  # thrown away as it arrives: never more than one read's worth held
                skipped = min(self._body, len(buffer))
                del buffer[:skipped]
                self._body -= skipped
                if self._body:
                    return
            flags, self._flags = self._flags, None
            if flags & self.COMMAND:  # between messages: READY ends the handshake; PING etc. concern nobody
                self.ready |= self._keep and body.startswith(b"\x05READY")
                continue
            if flags & self.MORE:
                continue  # more frames of this message to come
            if self._dropping:
                self.ignored += 1
            else:
                messages.append(self._frames)
            self._frames, self._size, self._dropping = [], 0, False

    def _start_frame(self, buffer: bytearray) -> bool:
        """Read a frame header and decide whether its body is kept; False until it has all arrived."""
        if len(buffer) < 2:
            return False
        flags = buffer[0]
        if flags & ~(self.MORE | self.LONG | self.COMMAND):
            raise _ProtocolError(f"frame flags {flags:#04x}")
        header = 9 if flags & self.LONG else 2
        if len(buffer) < header:
            return False
        size = int.from_bytes(buffer[1:9], "big") if flags & self.LONG else buffer[1]
        del buffer[:header]
        self._flags, self._body = flags, size
        if flags & self.COMMAND:
            self._keep = size <= 4096  # a READY is kept to be recognised; nothing else in commands matters
            return True
        if len(self._frames) >= MAX_FRAMES or self._size + size > MESSAGE_CAP:
            self._dropping = True
            self._frames = []  # what was kept of this message goes now, not when it ends
        self._keep = not self._dropping
        self._size += size
        return True

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self._buffer = bytearray()
        self._frames = []


def _wait(sockets: List[socket.socket], events: int, timeout: float) -> set:
    """The file descriptors among ``sockets`` that are ready (or closed, or failed) within ``timeout`` s."""
    poller = select.poll()
    for sock in sockets:
        poller.register(sock, events)
    return {fd for fd, _ in poller.poll(max(0, int(timeout * 1000)))}


def _frame(body: bytes, flags: int = 0) -> bytes:
    if len(body) > 255:
        return bytes([flags | _Channel.LONG]) + len(body).to_bytes(8, "big") + body
    return bytes([flags, len(body)]) + body


def _property(name: bytes, value: bytes) -> bytes:
    return bytes([len(name)]) + name + len(value).to_bytes(4, "big") + value


class _Codec:
    """Build and sign the grader's Jupyter messages; check and parse the kernel's.

    The student's code holds the signing key (it runs in the kernel), so a valid signature proves
    nothing about the content: every part is type-checked, and anything malformed is None.
    """

    DELIMITER = b"<IDS|MSG>"
    HEADER_CAP = 64 * 1024  # bytes of a message's header or parent header

    def __init__(self, key: bytes, scheme: str):
        algorithm = scheme.split("-", 1)[-1]
        if not key or scheme.split("-", 1)[0] != "hmac" or algorithm not in hashlib.algorithms_available:
            raise RuntimeError(f"expected an HMAC key and scheme in the connection file, got scheme {scheme!r}")
        self.key = key
        self.algorithm = algorithm
        self.session = uuid.uuid4().hex

    def sign(self, parts: List[bytes]) -> bytes:
        mac = hmac.new(self.key, digestmod=self.algorithm)
        for part in parts:
            mac.update(part)
        return mac.hexdigest().encode()

    def request(self, msg_type: str, content: dict) -> Tuple[str, List[bytes]]:
        """(msg_id, frames) of a request from the grader."""
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": msg_type, "username": "grader", "session": self.session,
                  "date": datetime.now(timezone.utc).isoformat(), "version": "5.3"}
        parts = [json.dumps(part).encode() for part in (header, {}, {}, content)]
        return msg_id, [self.DELIMITER, self.sign(parts)] + parts

    def parse(self, frames: List[bytes]) -> Optional[dict]:
        """{"type", "parent" (the msg_id it answers), "content" (a dict)}; None if malformed."""
        try:
            start = frames.index(self.DELIMITER) + 1
        except ValueError:
            return None
        if len(frames) < start + 5:
            return None
        signature, parts = frames[start], frames[start + 1:start + 5]
        if len(parts[0]) > self.HEADER_CAP or len(parts[1]) > self.HEADER_CAP:
            return None  # a real header is a few hundred bytes: do not parse megabytes of one
        if not hmac.compare_digest(signature, self.sign(parts)):
            return None
        try:
            header, parent, content = (json.loads(parts[i]) for i in (0, 1, 3))
        except (ValueError, RecursionError, MemoryError):  # not JSON, not UTF-8, nested too deep, too big once parsed
            return None
        if not (isinstance(header, dict) and isinstance(parent, dict) and isinstance(content, dict)):
            return None
        kind, parent_id = header.get("msg_type"), parent.get("msg_id")
        if not isinstance(kind, str) or not isinstance(parent_id, (str, type(None))):
            return None
        return {"type": kind, "parent": parent_id, "content": content}


def _text(value) -> str:
    """A field the kernel sent, as text whatever its type, safe to print and store (``clean_text``)."""
    if isinstance(value, str):
        return clean_text(value)
    return "" if value is None else clean_text(str(value))


class _Cgroup:
    """A fresh cgroup for one kernel and every process it starts: RLIMIT_AS and RLIMIT_NPROC hold
    per process (three forked children of 2 GB each used 6 GB under a "4 GB" limit), this caps
    the submission's total memory (tmpfs files and shared memory included) and tasks.

    Made under the grader's own cgroup, in cgroup v1's memory and pids hierarchies or in the
    unified (v2) one; the launcher moves itself in before it starts the kernel, and the kernel,
    in its read-only mount table, cannot move out.
    """

    def __init__(self, name: str):
        self.name = name
        self.dirs: List[str] = []
        self.version = 0
        self.processes = 0  # the task limit it was created with

    def create(self, memory_bytes: int, tasks: int, cpus: float = 1.0) -> List[str]:
        """Make and configure it; return what could not be done (empty: all of it)."""
        self.processes = tasks
        own = _own_cgroups()
        problems = []
        try:
            if "memory" in own:
                self.version = 1
                memory = self._make(own["memory"])
                _write(os.path.join(memory, "memory.limit_in_bytes"), memory_bytes)
                if os.path.exists(os.path.join(memory, "memory.memsw.limit_in_bytes")):
                    # memory plus swap: the overflow may not go to swap either
                    _write(os.path.join(memory, "memory.memsw.limit_in_bytes"), memory_bytes)
                if "pids" in own:
                    _write(os.path.join(self._make(own["pids"]), "pids.max"), tasks)
                else:
                    problems.append("no pids cgroup: the task limit holds per user id only")
                problems += self._limit_cpu(own.get("cpu"), cpus)
            elif "unified" in own:
                self.version = 2
                unified = self._make(own["unified"])
                available = _read_file(os.path.join(unified, "cgroup.controllers")).split()
                if "memory" not in available or "pids" not in available:
                    _write(os.path.join(own["unified"], "cgroup.subtree_control"), "+memory +pids")
                _write(os.path.join(unified, "memory.max"), memory_bytes)
                if os.path.exists(os.path.join(unified, "memory.swap.max")):
                    _write(os.path.join(unified, "memory.swap.max"), 0)
                _write(os.path.join(unified, "pids.max"), tasks)
                problems += self._limit_cpu(None, cpus, unified=(own["unified"], unified))
            else:
                return ["no cgroup hierarchy with a memory controller is mounted"]
        except OSError as error:
            self.remove()
            return [f"{error.filename or 'cgroup'}: {error.strerror}"]
        return problems

    def _limit_cpu(self, parent: Optional[str], cpus: float, unified: Optional[Tuple[str, str]] = None) -> List[str]:
        """A CPU quota of ``cpus`` for the whole submission (cgroup v1's cpu controller, or v2's
        ``cpu.max``).  Best effort: where the controller is missing, say so and go on."""
        period = 100_000
        quota = max(1000, int(cpus * period))
        try:
            if unified is not None:
                own, mine = unified
                if "cpu" not in _read_file(os.path.join(mine, "cgroup.controllers")).split():
                    _write(os.path.join(own, "cgroup.subtree_control"), "+cpu")
                _write(os.path.join(mine, "cpu.max"), f"{quota} {period}")
            elif parent is not None:
                folder = self._make(parent)
                _write(os.path.join(folder, "cpu.cfs_period_us"), period)
                _write(os.path.join(folder, "cpu.cfs_quota_us"), quota)
            else:
                return ["no cpu cgroup: a submission may use every CPU"]
        except OSError as error:
            return [f"no CPU quota ({error.filename or 'cpu cgroup'}: {error.strerror}): a submission may use every CPU"]
        return []

    def _make(self, parent: str) -> str:
        path = os.path.join(parent, self.name)
        os.mkdir(path, 0o755)
        self.dirs.append(path)
        return path

    def procs_files(self) -> List[str]:
        return [os.path.join(d, "cgroup.procs") for d in self.dirs]

    def peak_memory_bytes(self) -> int:
        """The most memory its processes held at once (0 when unknown)."""
        for name in ("memory.max_usage_in_bytes", "memory.peak"):
            for folder in self.dirs:
                try:
                    return int(_read_file(os.path.join(folder, name)))
                except (OSError, ValueError):
                    pass
        return 0

    def remove(self, wait_s: float = 5.0) -> None:
        """Kill whatever is left in it, then remove it (a cgroup with processes cannot be removed)."""
        deadline = time.monotonic() + wait_s
        for folder in reversed(self.dirs):
            while True:
                _kill_members(folder)
                try:
                    os.rmdir(folder)
                    break
                except FileNotFoundError:
                    break
                except OSError as error:
                    if error.errno != errno.EBUSY or time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
        self.dirs = []


def _kill_members(folder: str) -> None:
    """SIGKILL every process of the cgroup ``folder``, and never a process outside it.

    cgroup v2's ``cgroup.kill`` does it atomically.  Otherwise the PIDs come from
    ``cgroup.procs``, and one of them may exit and its number go to an unrelated process
    before the signal is sent.  So each PID is first pinned with a pidfd (which always names
    the process it was opened on), then looked up in ``cgroup.procs`` again, and only a PID
    still listed is signalled, through the pidfd.  Listed after pinning means the pinned process
    is the member (two live processes never share a PID; no process leaves these cgroups: the
    kernel's mount table is read-only); if the pinned one has exited since, the signal goes
    nowhere, and a new member with its number is killed on the next round.
    """
    procs, kill = os.path.join(folder, "cgroup.procs"), os.path.join(folder, "cgroup.kill")
    if os.path.exists(kill):  # not in cgroup v1, nor before Linux 5.14
        try:
            _write(kill, 1)
            return
        except OSError:
            pass
    for pid in _listed(procs):
        try:
            pinned = os.pidfd_open(pid)
        except OSError as error:
            if error.errno != errno.ESRCH:  # not "gone already": no pidfds here (Linux < 5.3, a seccomp filter)
                try:
                    os.kill(pid, signal.SIGKILL)  # the plain way, race and all
                except OSError:
                    pass
            continue
        try:
            if pid in _listed(procs):
                signal.pidfd_send_signal(pinned, signal.SIGKILL)
        except OSError:  # exited meanwhile
            pass
        finally:
            os.close(pinned)


def _listed(procs_file: str) -> List[int]:
    """The PIDs in a ``cgroup.procs`` file (none if it cannot be read)."""
    try:
        return [int(p) for p in _read_file(procs_file).split()]
    except (OSError, ValueError):
        return []


def _own_cgroups() -> Dict[str, str]:
    """{"memory"/"pids"/"cpu" (cgroup v1) or "unified" (v2): the folder of this process's own cgroup}."""
    try:
        with open("/proc/self/cgroup") as handle:
            lines = handle.read().splitlines()
        mounts = mountinfo()
    except OSError:
        return {}
    own = {}
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        for controller in controllers.split(",") if controllers else ["unified"]:
            own[controller] = path
    found = {}
    for root, point, _, fstype, super_options in mounts:
        wanted = [c for c in ("memory", "pids", "cpu") if c in super_options] if fstype == "cgroup" else \
            ["unified"] if fstype == "cgroup2" else []
        for controller in wanted:
            path = own.get(controller)
            if path is None or not _inside(path, root):
                continue  # our cgroup is outside what this mount shows
            relative = os.path.relpath(path, root)
            found[controller] = point if relative == "." else os.path.join(point, relative)
    return found


def _read_file(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def sweep_orphaned_cgroups() -> List[str]:
    """Remove the cgroups of graders that were killed (named like their sandbox folders)."""
    removed = []
    for parent in set(_own_cgroups().values()):
        try:
            entries = list(os.scandir(parent))
        except OSError:
            continue
        for entry in entries:
            pid = _orphan_pid(entry.name)
            if pid is not None and entry.is_dir(follow_symlinks=False) and _process_gone(pid):
                group = _Cgroup(entry.name)
                group.dirs = [entry.path]
                group.remove(wait_s=1.0)
                if not os.path.exists(entry.path):
                    removed.append(entry.path)
    return removed


def _orphan_pid(name: str) -> Optional[int]:
    """The grader PID in a name ``course-grader-NS-PID-…`` of this PID namespace, else None."""
    namespace, pid = (name[len(ROOT_PREFIX):].split("-", 2) + ["", ""])[:2]
    if not name.startswith(ROOT_PREFIX) or namespace != _pid_namespace() or not pid.isdigit():
        return None
    return int(pid)


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
            "python_paths": [os.path.realpath(sys.executable), os.path.dirname(os.__file__)],
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

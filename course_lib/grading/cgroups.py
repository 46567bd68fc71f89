"""A cgroup of its own for every submission: its total memory, tasks and CPU share, and killing
everything in it (see ``sandbox.py``, which creates one per kernel)."""
from __future__ import annotations

import errno
import os
import signal
import time
from typing import Dict, List, Optional, Tuple

from ._launch import _inside, _write, mountinfo


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

"""Clean-up after graders that were killed (``kill -9`` skips their own): their sandbox folders and
cgroups, named after the grader's process, are removed once that process is gone."""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import List, Optional

from .cgroups import _Cgroup, _own_cgroups


ROOT_PREFIX = "course-grader-"


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

"""Writing a file so that a failure leaves the old one: ``write_atomically(path, write)``."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Union


def write_atomically(path: Union[str, os.PathLike], write: Callable[[str], None]) -> Path:
    """Call ``write(temporary_path)`` on a file next to ``path``, then rename it into place.

    A failed or interrupted write leaves an earlier file of the same name as it was (a
    checkpoint cut to a few hundred bytes would no longer load) and no temporary file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(handle)
    try:
        os.chmod(temporary, _mode_of_a_new_file())  # mkstemp's 0600 would hide a shared dataset or checkpoint
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def why_not_writable(path: Union[str, os.PathLike]) -> str:
    """Why a file at ``path`` could not be made ('' when it can): its nearest existing ancestor
    (missing folders are made on writing) is a file, or this user may not write there."""
    target = Path(path)
    existing = target.absolute().parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        return f"no permission to write in {existing}"
    return ""


def _mode_of_a_new_file() -> int:
    """The permissions ``open(path, "w")`` would give a new file: 0666 less the process's umask.

    Linux shows the umask in /proc; elsewhere it can only be read by setting it (and setting it
    back), which another thread creating a file at that instant would see."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            umask = next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        umask = os.umask(0)
        os.umask(umask)
    return 0o666 & ~umask

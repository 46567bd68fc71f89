"""Run a command as an unprivileged user, from root: ``python as_normal_user.py UID HOME PATH... -- COMMAND...``.

The grader takes another path when it is not root (the kernel gets a user namespace that maps
it to the grader's own uid, instead of a fresh uid), and a test suite run by root never takes
it.  This script lets the root run take it: in a private mount table it covers every folder on
the way to each PATH that other users cannot traverse (e.g. ``/root`` above a pyenv Python)
with a tmpfs they can, re-exposing just the PATHs, then drops to UID and runs COMMAND.
"""
from __future__ import annotations

import ctypes
import os
import stat
import sys
from collections import defaultdict

CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18

libc = ctypes.CDLL(None, use_errno=True)


def _mount(source, target, fstype, flags, data=None):
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    if libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"mount {target}: {os.strerror(error)}")


def closed_folders(paths):
    """{folder others cannot traverse: the entries under it that lead to ``paths``}, outermost first."""
    covers = defaultdict(set)
    for path in paths:
        parts = os.path.realpath(path).split("/")
        for depth in range(2, len(parts)):
            folder = "/".join(parts[:depth])
            if not os.stat(folder).st_mode & stat.S_IXOTH:
                covers[folder].add(parts[depth])
    return dict(sorted(covers.items(), key=lambda item: item[0].count("/")))


def main() -> None:
    split = sys.argv.index("--")
    uid, home, paths, command = int(sys.argv[1]), sys.argv[2], sys.argv[3:split], sys.argv[split + 1:]
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    covers = closed_folders(paths)
    # open every entry before the first tmpfs hides it; a closed folder inside a closed folder
    # is covered in turn after it has been re-exposed
    handles = {os.path.join(folder, entry): os.open(os.path.join(folder, entry), os.O_PATH)
               for folder, entries in covers.items() for entry in entries}
    for folder, entries in covers.items():
        _mount("tmpfs", folder, "tmpfs", 0, "mode=755,size=1m")
        for entry in entries:
            target = os.path.join(folder, entry)
            os.mkdir(target)
            _mount(f"/proc/self/fd/{handles.pop(target)}", target, None, MS_BIND | MS_REC)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    os.environ.update(HOME=home, PYTHONDONTWRITEBYTECODE="1")
    os.chdir(home)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()

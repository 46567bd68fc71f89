"""Start a student kernel inside a sandbox (run as a script, before any student code).

This file is executed by path (``python -I _launch.py CONFIG.json``) and imports only
the standard library, so it works whatever the kernel will later be able to import.
It is trusted: it runs before the student's code and replaces itself with the
kernel (``execve``).  Steps, each one best-effort and reported to the grader:

0. Move into the cgroup(s) the grader made for this kernel (when it could): they cap the
   memory and tasks of the kernel and of every process it starts, together.
1. ``unshare`` new mount, PID, network and IPC namespaces (and a user namespace when
   not root, mapping the grader's uid to itself so that the kernel holds no capability
   in it): the kernel sees only a loopback device that is down (no network), can
   neither see nor signal processes outside, gets a private mount table it cannot
   change, and its System V shared memory, semaphores and message queues die with it.
2. ``fork``: the child is PID 1 of the new PID namespace, so killing it kills every
   process the student started (fork bombs, ``setsid`` daemons included).
3. In the private mount table, make every mount read-only (the kernel may run as the
   grader's own user, who owns files it must not touch: the Python installation, the
   inputs), then cover the course repository, solutions, tests, gradebook, submission
   folders and every forbidden package (torch, course_lib…) with empty read-only tmpfs
   mounts; the Python installation stays visible.  Writable: a private ``/tmp``, the
   work folder (a size-capped tmpfs) and, until the kernel has created its sockets
   there, the socket folder.
4. ``setrlimit``: CPU seconds, address space, processes, file size, open files, no core.
5. When root: drop to a fresh unprivileged uid that owns nothing but the work folder (without
   namespaces and with a Python that uid cannot reach, refuse to start rather than keep root).
6. ``execve`` the kernel with a clean environment in the throw-away work folder.

The launcher dies with the grader that started it and the kernel dies with the launcher
(``PR_SET_PDEATHSIG``), so a grader killed with ``kill -9`` leaves no student code running.

The status (what succeeded) goes to the grader on an inherited pipe that is closed
before the kernel starts, so the student can never rewrite it.
"""
import ctypes
import errno
import json
import os
import re
import signal
import sys

try:
    import resource
except ImportError:  # Windows: no launching happens there (``course-lib grade`` needs Linux), but
    resource = None  # ``check()`` in a student's notebook imports the grader's modules, this one too

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME, MS_STRICTATIME = 1024, 2048, 1 << 21, 1 << 24
PR_SET_PDEATHSIG = 1

try:
    libc = ctypes.CDLL(None, use_errno=True)
except (OSError, TypeError):  # Windows (as for resource above)
    libc = None


def _check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None):
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def _write(path, value):
    with open(path, "w") as handle:
        handle.write(str(value))  # a number too (cgroup limits)


def _inside(path, parent):
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _hide(hidden, keep, status):
    """Cover each hidden folder with an empty tmpfs, re-exposing the kept folders inside it.

    Each folder on its own: one that cannot be covered is recorded in ``status["not_hidden"]``
    (the grader then refuses to grade, see ``Sandbox.start``) and the others are still covered.
    """
    for entry in hidden:
        try:
            _hide_one(entry, keep, status)
        except FileNotFoundError:
            continue  # gone since it was listed: nothing left to hide
        except OSError as error:
            status.setdefault("not_hidden", []).append(f"{entry['path']}: {error}")


def _hide_one(entry, keep, status):
    """Cover one folder (``entry``: path, writable, block) and re-expose the kept folders in it."""
    path, writable = entry["path"], entry.get("writable", False)
    if not os.path.isdir(path) or os.path.islink(path):
        return
    kept = [k for k in keep if _inside(k, path) and k != path and os.path.isdir(k)]
    # O_PATH handles keep the kept folders reachable after the tmpfs covers them
    handles = [(k, os.open(k, os.O_PATH | os.O_DIRECTORY)) for k in kept]
    options = "size=64m,mode=1777" if writable else "size=64k,mode=755"
    _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, options)
    for kept_path, handle in handles:
        os.makedirs(kept_path, exist_ok=True)
        _mount(f"/proc/self/fd/{handle}", kept_path, None, MS_BIND | MS_REC)
        os.close(handle)
    if entry.get("block"):
        # an empty folder would import as a namespace package; make the import fail plainly
        _write(os.path.join(path, "__init__.py"), f"raise ModuleNotFoundError({entry['block']!r})\n")
    if not writable:
        # read-only, so the student cannot plant files where anyone looks
        _remount(path, readonly=True)
    status["hidden"].append(path)


def _remount(path, readonly):
    """Make the mount at ``path`` read-only (or writable), keeping its other flags.

    A mount inherited from a more privileged namespace has its nosuid/nodev/noexec/atime
    flags locked, and a remount that omits them is refused, so they are read back first.
    """
    current = os.statvfs(path).f_flag
    flags = MS_REMOUNT | MS_BIND | (MS_RDONLY if readonly else 0)
    for st_flag, ms_flag in ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
                             (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME),
                             (os.ST_RELATIME, MS_RELATIME)):
        if current & st_flag:
            flags |= ms_flag
    if not current & (os.ST_NOATIME | os.ST_RELATIME):
        flags |= MS_STRICTATIME
    _mount(None, path, None, flags)


def mountinfo(pid="self"):
    """[(root, mount point, options, filesystem type, super options)] of a process's mounts, from
    /proc/PID/mountinfo, in mount order (octal escapes such as a space's ``\\040`` decoded)."""
    with open(f"/proc/{pid}/mountinfo") as handle:
        lines = handle.read().splitlines()
    decode = lambda text: re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)  # noqa: E731
    table = []
    for line in lines:
        fields, _, tail = line.partition(" - ")  # optional fields end at " - "
        fields, tail = fields.split(), tail.split()
        if len(fields) > 5:
            table.append((decode(fields[3]), decode(fields[4]), fields[5].split(","),
                          tail[0] if tail else "", tail[2].split(",") if len(tail) > 2 else []))
    return table


def mount_table(pid="self"):
    """[(mount point, options)] of a process's mount table, in mount order.  The grader reads it too."""
    return [(point, options) for _, point, options, _, _ in mountinfo(pid)]


def _read_only_everywhere(status):
    """Remount every inherited mount read-only, in this mount table only.

    When the grader is not root, the kernel runs as the grader's own user (the user
    namespace maps it there), so file permissions alone would let it rewrite whatever
    the grader owns and can reach: its Python installation (code the grader itself
    imports later), the inputs it hands over.  Read-only mounts stop that for root too.
    """
    for path, _ in mount_table():
        try:
            _remount(path, readonly=True)
        except OSError as error:
            if error.errno in (errno.ENOENT, errno.ENOTDIR):  # covered or gone: nothing to reach
                continue
            status["errors"].append(f"read-only {path}: {error.strerror}")


def _lock_sockets(path):
    """Make the socket folder read-only; never raise (in a signal handler that would end this
    process and, with it, the kernel).  The grader checks the result in our mount table."""
    try:
        _remount(path, readonly=True)
    except OSError:
        pass


def _world_reachable(path):
    """True if every folder above ``path`` can be traversed by any user (and ``path`` read)."""
    path = os.path.realpath(path)
    parts = path.split("/")
    for depth in range(2, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        try:
            mode = os.stat(prefix).st_mode
        except OSError:
            return False
        if not mode & 0o001:
            return False
    return True


def _limits(config, status):
    limits = config["limits"]
    table = {
        "cpu_s": resource.RLIMIT_CPU,
        "memory_bytes": resource.RLIMIT_AS,
        "file_bytes": resource.RLIMIT_FSIZE,
        "open_files": resource.RLIMIT_NOFILE,
        "processes": resource.RLIMIT_NPROC,
    }
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for key, which in table.items():
        value = limits.get(key)
        if value:
            resource.setrlimit(which, (int(value), int(value)))
            status["limits"][key] = int(value)


def _join_cgroups(procs_files, status):
    """Move this process into the grader's cgroup(s) for the kernel, before anything is started:
    every process forked later is born there, and the kernel cannot leave (its mounts are read-only)."""
    joined = []
    for path in procs_files:
        try:
            _write(path, os.getpid())
            joined.append(os.path.dirname(path))
        except OSError as error:
            status["errors"].append(f"joining cgroup {os.path.dirname(path)}: {error.strerror}")
    status["cgroups_joined"] = joined


def main():
    config_path = sys.argv[1]
    with open(config_path) as handle:
        config = json.load(handle)
    if config.get("grader_pid"):
        # die with the grader (kill -9, out of memory): the kernel below dies with us, so no
        # student code outlives the process that grades it; if it is already gone, stop here
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != config["grader_pid"]:
            os._exit(1)
    status_fd = config["status_fd"]
    status = {"namespaces": [], "hidden": [], "limits": {}, "uid": os.getuid(), "errors": []}
    _join_cgroups(config.get("cgroup_procs", []), status)
    real_uid, real_gid = os.getuid(), os.getgid()
    namespaces_ok = False
    if config.get("isolate", True):
        flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC
        if real_uid != 0:
            flags |= CLONE_NEWUSER
        unshared = libc.unshare(flags) == 0
        namespaces = ["mount", "pid", "net", "ipc"]
        if not unshared and libc.unshare(flags & ~CLONE_NEWIPC) == 0:  # the others are worth having alone
            unshared = True
            namespaces.remove("ipc")
            status["errors"].append("no IPC namespace: System V shared memory outlives the kernel")
        if unshared:
            namespaces_ok = True
            status["namespaces"] = namespaces + (["user"] if real_uid != 0 else [])
            if real_uid != 0:
                # our uid maps to itself, not to 0: unshare gave this process every capability
                # in the new namespace (it needs them for the mounts below), and the kernel,
                # exec'd as a non-root user of the namespace, loses them all, so it cannot undo
                # those mounts (unmount a cover, remount a folder writable)
                _write("/proc/self/setgroups", "deny")
                _write("/proc/self/uid_map", f"{real_uid} {real_uid} 1")
                _write("/proc/self/gid_map", f"{real_gid} {real_gid} 1")
        else:
            status["errors"].append("unshare failed: " + os.strerror(ctypes.get_errno()))

    if namespaces_ok:
        child = os.fork()
        if child:
            # Outside the namespace: forward termination and mirror the child's exit.
            os.close(status_fd)
            signal.signal(signal.SIGTERM, lambda *_: os.kill(child, signal.SIGKILL))
            # SIGUSR1 from the grader: the kernel has bound its sockets, so their folder (the one
            # inherited folder it could write, on the host's disk) becomes read-only for it too
            signal.signal(signal.SIGUSR1, lambda *_: _lock_sockets(config["sockets"]))
            while True:
                try:
                    _, code = os.waitpid(child, 0)
                    break
                except InterruptedError:
                    continue
            os._exit(os.waitstatus_to_exitcode(code) & 0xFF)
        # From here on we are PID 1 of the new PID namespace.
        try:
            _mount(None, "/", None, MS_REC | MS_PRIVATE)
            _read_only_everywhere(status)
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            _hide(config["hide"], config["keep"], status)
            # the kernel creates its sockets here: the one inherited folder it may write
            _mount(config["sockets"], config["sockets"], None, MS_BIND)
            _remount(config["sockets"], readonly=False)
            # the work folder becomes a size-capped tmpfs: no filling the host's disk
            dropped = real_uid == 0 and config.get("sandbox_uid")
            owner, group = (config["sandbox_uid"],) * 2 if dropped else (real_uid, real_gid)
            _mount("tmpfs", config["workdir"], "tmpfs", MS_NOSUID | MS_NODEV,
                   f"size={int(config.get('workdir_bytes', 256 * 1024 * 1024))},mode=700,uid={owner},gid={group}")
            status["workdir_tmpfs"] = True
        except OSError as error:
            status["errors"].append(str(error))

    try:
        _limits(config, status)
    except (ValueError, OSError) as error:
        status["errors"].append(f"setrlimit: {error}")
    workdir = config["workdir"]
    drop = os.getuid() == 0 and config.get("sandbox_uid") and real_uid == 0
    if drop and not namespaces_ok and not all(_world_reachable(p) for p in config.get("python_paths", [])):
        # without the mount namespace's re-exposed copies, an unprivileged uid cannot reach a Python
        # installed under a private folder (e.g. /root/.pyenv).  Keeping root would run the student's
        # code as root with nothing around it — it could rewrite the results after the grader wrote
        # them: refuse, and let the grader say why.
        status["refused"] = ("the student's code would run as root: this machine has no namespaces for the "
                             "sandbox, and the Python installation is not reachable by other users; install "
                             "Python where every user can read it (/usr, /opt) or grade where namespaces work")
        os.write(status_fd, json.dumps(status).encode())
        os.close(status_fd)
        os._exit(1)
    if drop:
        uid = config["sandbox_uid"]
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        status["uid"] = uid
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after setuid, which clears it
    os.chdir(workdir)
    os.umask(0o077)
    os.write(status_fd, json.dumps(status).encode())
    os.close(status_fd)
    argv = config["argv"]
    os.execve(argv[0], argv, config["env"])


if __name__ == "__main__":
    main()

"""The folders a submission's kernel must not see: other Python installations' packages, forbidden
packages and the grader's datasets (``sandbox.py`` covers them in the kernel's mount namespace)."""
from __future__ import annotations

import glob
import importlib.util
import os
import site
import sys
from pathlib import Path
from typing import List, Optional

from ._launch import _inside


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

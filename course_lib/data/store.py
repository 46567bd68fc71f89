"""Finding, verifying and downloading the real datasets.

Look-up order for a dataset called NAME (first directory holding all its files wins):
  1. the ``root`` argument,
  2. ``$COURSE_LIB_DATA/NAME``,
  3. ``/usr/share/datasets/NAME`` (Debian's ``dataset-fashion-mnist`` puts it there),
  4. ``~/.cache/course_lib/NAME``.
If none has it and downloads are allowed, the files are fetched from the canonical
mirrors into the cache with a progress bar and checked before they are moved into
place.  A file that fails its checksum is never used: the loader raises
``ChecksumError`` naming the file.  ``$COURSE_LIB_OFFLINE=1`` forbids downloads
(the test suite sets it, so tests never touch the network).
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from ..files import write_atomically
from .registry import DATASETS, DatasetSpec, FileSpec

OFFLINE_ENV = "COURSE_LIB_OFFLINE"
DATA_ENV = "COURSE_LIB_DATA"
SYSTEM_DIR = Path("/usr/share/datasets")


class DatasetError(RuntimeError):
    """Base class of dataset problems; the message always says how to fix it."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The dataset is in none of the searched places and could not be downloaded."""


class ChecksumError(DatasetError):
    """A dataset file exists but its contents are not the published ones."""


@dataclass
class Located:
    """Where a dataset was found, and the verified path of each of its files."""

    spec: DatasetSpec
    directory: Path
    paths: Dict[str, Path]


def get_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset '{name}': expected one of {sorted(DATASETS)}") from None


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "course_lib"


def search_dirs(name: str, root: Optional[os.PathLike] = None) -> List[Path]:
    """The directories searched for dataset ``name``, in order.

    ``root/<name>`` comes before ``root`` itself: MNIST and Fashion-MNIST have the same file names,
    so with one dataset's files in ``root`` and the other's in ``root/mnist``, searching ``root``
    first found the wrong files."""
    dirs = []
    if root is not None:
        dirs.append(Path(root).expanduser() / name)
        dirs.append(Path(root).expanduser())
    if os.environ.get(DATA_ENV):
        dirs.append(Path(os.environ[DATA_ENV]).expanduser() / name)
    dirs.append(SYSTEM_DIR / name)
    dirs.append(cache_dir() / name)
    return dirs


def downloads_allowed() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in {"1", "true", "yes", "on"}


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Verification costs ~0.3 s per Fashion-MNIST load; remember verified files by (path, size,
# mtime, the file they were checked against) so a notebook that loads twice pays once.  The
# last part matters: MNIST and Fashion-MNIST share their file names, and a folder of one must
# not pass as the other because it was verified as the other before.
_verified_cache: Dict[tuple, bytes] = {}


def _identify(archive_digest: str, content_digest: str) -> str:
    """' — it is <dataset>'s <file>' when the digests are those of another registered file, else ''."""
    from .registry import DATASETS

    for dataset in DATASETS.values():
        for file in dataset.files.values():
            if (file.archive_sha256 and archive_digest == file.archive_sha256) or \
                    (file.content_sha256 and content_digest == file.content_sha256):
                return f" — it is {dataset.title}'s {file.name}"
    return ""


def read_verified(path: Path, spec: FileSpec, dataset: str = "<dataset>", remember: bool = True,
                  fix: Optional[str] = None) -> bytes:
    """The decompressed IDX bytes of ``path`` after checking its SHA-256.

    Raises ``ChecksumError`` (naming the file and both digests) for a corrupt,
    truncated or unverifiable file; ``fix`` replaces its advice (delete the file and
    download it again).  ``remember=False`` keeps the bytes out of the cache (a download's
    temporary file, which is renamed next).
    """
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, spec)
    if key in _verified_cache:
        return _verified_cache[key]
    fix = fix or f"delete it and run: course-lib data download {dataset}"
    raw = path.read_bytes()
    archive_digest = sha256_of(raw)
    is_gzip = raw[:2] == b"\x1f\x8b"
    published = spec.archive_sha256 is not None and archive_digest == spec.archive_sha256
    # Another archive is decompressed only up to the published content's size (one byte more
    # tells that it is larger): a small file that inflates to gigabytes is refused there.
    limit = -1 if published or not spec.content_size else spec.content_size + 1
    try:
        content = gzip.GzipFile(fileobj=io.BytesIO(raw)).read(limit) if is_gzip else raw
    except (EOFError, OSError, zlib.error) as error:
        raise ChecksumError(
            f"{path} is corrupt or truncated ({len(raw)} bytes; gzip says: {error}); {fix}"
        ) from None
    if is_gzip and limit > 0 and len(content) >= limit:
        raise ChecksumError(f"{path} decompresses to more than the {spec.content_size} bytes of the published "
                            f"{spec.name}: it is not that file; {fix}")
    content_digest = sha256_of(content)
    ok = published or (spec.content_sha256 is not None and content_digest == spec.content_sha256)
    if not ok:
        expected = " or ".join(
            f"{kind} {digest}"
            for kind, digest in (("archive", spec.archive_sha256), ("content", spec.content_sha256))
            if digest
        )
        raise ChecksumError(
            f"checksum mismatch for {path}: expected SHA-256 {expected}, "
            f"got archive {archive_digest} / content {content_digest}{_identify(archive_digest, content_digest)}. "
            f"The file is corrupt, truncated or not the published one; {fix}"
        )
    if remember:
        _verified_cache[key] = content
    return content


def _file_in(directory: Path, spec: FileSpec) -> Optional[Path]:
    for candidate in (directory / spec.name, directory / spec.name[: -len(".gz")]):
        if candidate.is_file():
            return candidate
    return None


def find(name: str, root: Optional[os.PathLike] = None) -> Optional[Located]:
    """The first searched directory that holds every file of ``name`` (not yet verified)."""
    spec = get_spec(name)
    for directory in search_dirs(name, root):
        paths = {role: _file_in(directory, file) for role, file in spec.files.items()}
        if all(paths.values()):
            return Located(spec, directory, paths)  # type: ignore[arg-type]
    return None


def not_found_message(spec: DatasetSpec, root, reason: str) -> str:
    places = "\n".join(f"  - {directory}" for directory in search_dirs(spec.name, root))
    return (
        f"{spec.title} is not available: {reason}.\n"
        f"Searched, in order:\n{places}\n"
        f"Fix: {spec.install_hint}\n"
        f"(or point ${DATA_ENV} at a folder containing {spec.name}/ with the files "
        f"{', '.join(f.name for f in spec.files.values())})"
    )


def download(name: str, directory: Optional[Path] = None, mirrors=None, progress: bool = True) -> Path:
    """Fetch every file of ``name`` into ``directory`` (default: the cache), verifying each.

    A file is written under a temporary name, checked, and only then renamed into
    place, so an interrupted or corrupt download never leaves a file that looks valid.
    """
    spec = get_spec(name)
    target = Path(directory) if directory is not None else cache_dir() / name
    missing = []
    for file in spec.files.values():
        destination = target / file.name
        if destination.is_file():  # a file that fails its check stays until a verified one replaces it
            try:
                read_verified(destination, file, name)
                continue
            except (ChecksumError, OSError):
                pass
        missing.append(file)
    if missing and not downloads_allowed():  # offline, a folder that already holds every file is fine
        names = ", ".join(file.name for file in missing)
        raise DatasetNotFoundError(f"{spec.title}: {names} cannot be downloaded into {target}: {_DISABLED}")
    if missing:
        target.mkdir(parents=True, exist_ok=True)
    errors = []
    for file in missing:
        destination = target / file.name
        for mirror in mirrors or spec.mirrors:
            url = mirror.rstrip("/") + "/" + file.name
            try:
                _fetch_verified(url, destination, file, name, progress)
                break
            # HTTPException: a connection closed early (IncompleteRead) is neither a URLError nor an OSError
            except (urllib.error.URLError, http.client.HTTPException, OSError, ChecksumError) as error:
                errors.append(f"{url}: {type(error).__name__}: {error}")
        else:
            kept = f"\n(the file already at {destination} was left as it was)" if destination.is_file() else ""
            raise DatasetNotFoundError(
                not_found_message(spec, None, "downloading failed") + "\nAttempts:\n  " + "\n  ".join(errors) + kept
            )
    return target


def _fetch_verified(url: str, destination: Path, file: FileSpec, dataset: str, progress: bool) -> None:
    """Download ``url`` to a temporary file, verify it, and only then rename it to ``destination``."""
    from tqdm.auto import tqdm

    def fetch(temporary: str) -> None:
        with open(temporary, "wb") as out, urllib.request.urlopen(url, timeout=30) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=file.name, disable=not progress) as bar:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    bar.update(len(chunk))
        read_verified(Path(temporary), file, dataset, remember=False, fix="the mirror served another file")

    write_atomically(destination, fetch)


_DISABLED = (f"downloads are disabled (${OFFLINE_ENV} is set: unset it to let `course-lib data download` "
             "and the loaders download)")


def locate(name: str, root: Optional[os.PathLike] = None, download_missing: bool = True) -> Located:
    """Find (or download) dataset ``name`` and return its location; errors say how to fix."""
    spec = get_spec(name)
    located = find(name, root)
    if located is not None:
        return located
    if not download_missing or not downloads_allowed():
        reason = f"it is in none of the searched places and {_DISABLED}"
        if not download_missing:
            reason = "it is in none of the searched places"
        raise DatasetNotFoundError(not_found_message(spec, root, reason))
    download(name)
    located = find(name, root)
    assert located is not None  # download() put every file in the cache
    return located


def status(name: str, root: Optional[os.PathLike] = None) -> dict:
    """Where ``name`` was found and whether each file verified (for ``course-lib data``)."""
    spec = get_spec(name)
    located = find(name, root)
    if located is None:
        return {"name": name, "title": spec.title, "location": None, "verified": False,
                "detail": f"not found; fix: {spec.install_hint}"}
    problems = []
    for role, path in located.paths.items():
        try:
            read_verified(path, spec.files[role], name)
        except ChecksumError as error:
            problems.append(str(error))
        except OSError as error:  # unreadable (permissions, a broken disk): a row that says so, not a traceback
            problems.append(f"cannot read {path}: {error.strerror or error}")
    return {"name": name, "title": spec.title, "location": str(located.directory),
            "verified": not problems, "detail": "; ".join(problems) or "all files match their SHA-256"}


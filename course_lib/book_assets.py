"""Vendor the book's JavaScript so the built site needs no internet.

By default a Jupyter Book page loads MathJax and the ipywidgets manager from CDNs;
offline, equations stay raw TeX and widgets stay blank.  ``make book`` runs
``python -m course_lib.book_assets vendor/`` which fetches pinned packages from the
npm registry with ``npm pack`` (cached in ``.cache/npm``) and unpacks what the site
serves into ``vendor/``; ``_config.yml`` points ``html_static_path``,
``mathjax_path`` and ``nb_ipywidgets_js`` at it.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

# package spec -> (path inside the tarball, destination inside vendor/)
PACKAGES = {
    "mathjax@3.2.2": ("package/es5", "mathjax/es5"),
    "@jupyter-widgets/html-manager@1.0.14": ("package/dist", "html-manager"),
    "requirejs@2.3.7": ("package/require.js", "require.js"),
}
CACHE = Path(".cache/npm")


def tarball_name(spec: str) -> str:
    """The file name ``npm pack`` gives ``spec`` (``@scope/name@v`` → ``scope-name-v.tgz``)."""
    name, version = spec.rsplit("@", 1)
    return f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"


def _readable(tarball: Path) -> bool:
    """True if ``tarball`` is a whole gzipped tar file (not one an interrupted download cut short)."""
    try:
        with tarfile.open(tarball) as archive:
            archive.getmembers()
    except (tarfile.TarError, OSError, EOFError):
        return False
    return True


def fetch(spec: str) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    tarball = CACHE / tarball_name(spec)
    if tarball.exists() and not _readable(tarball):
        tarball.unlink()  # cut short by an interrupted or failed npm pack: every later build would fail on it
    if not tarball.exists():
        result = subprocess.run(["npm", "pack", spec, "--silent"], cwd=CACHE, capture_output=True, text=True)
        if result.returncode != 0 or not tarball.exists() or not _readable(tarball):
            tarball.unlink(missing_ok=True)
            raise SystemExit(
                f"could not fetch {spec} from the npm registry (npm pack exited {result.returncode}):\n"
                f"{result.stderr.strip()}\nThe book needs it to typeset maths and show widgets offline."
            )
    return tarball


def extract(tarball: Path, member: str, destination: Path) -> None:
    with tarfile.open(tarball) as archive:
        members = [m for m in archive.getmembers() if m.name == member or m.name.startswith(member + "/")]
        if not members:
            raise SystemExit(f"{tarball} has no {member}")
        for item in members:
            if not (item.isfile() or item.isdir()) or ".." in Path(item.name).parts:
                continue  # never follow links or escape the destination
            relative = Path(item.name).relative_to(member) if item.name != member else Path()
            target = destination / relative if relative.parts else destination
            if item.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.extractfile(item) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)


def vendor(root: Path) -> None:
    stamp = root / ".vendored"
    wanted = repr(sorted(PACKAGES.items()))
    if stamp.exists() and stamp.read_text() == wanted:
        return
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for spec, (member, destination) in PACKAGES.items():
        extract(fetch(spec), member, root / destination)
    stamp.write_text(wanted)
    print(f"vendored {', '.join(PACKAGES)} into {root}/")


if __name__ == "__main__":
    vendor(Path(sys.argv[1] if len(sys.argv) > 1 else "vendor"))

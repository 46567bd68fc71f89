"""course_lib/book_assets.py: the book's JavaScript vendored from npm tarballs into vendor/.

No network: ``npm pack`` is replaced by a stand-in that writes small tarballs laid out like the
pinned packages (the files ``_config.yml`` loads, in the same places), named as npm names them.
"""
from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from course_lib import book_assets

ROOT = Path(__file__).resolve().parents[1]

# what `npm pack SPEC` writes, and a few of the files in it (those the book loads among them)
NPM_FILES = {
    "mathjax@3.2.2": ("mathjax-3.2.2.tgz",
                      ["package/package.json", "package/es5/tex-chtml-full.js",
                       "package/es5/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff"]),
    "@jupyter-widgets/html-manager@1.0.14": ("jupyter-widgets-html-manager-1.0.14.tgz",
                                             ["package/package.json", "package/dist/embed-amd.js",
                                              "package/dist/fonts/fa.woff2"]),
    "requirejs@2.3.7": ("requirejs-2.3.7.tgz", ["package/package.json", "package/require.js", "package/bin/r.js"]),
}


def _tarball(path: Path, files, links=()) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name in files:
            data = f"/* {name} */".encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return path


@pytest.fixture
def npm(monkeypatch, tmp_path):
    """A stand-in for ``npm pack``: writes the spec's tarball into its working directory (as npm
    does) and records the specs; the cache and the working directory are under tmp_path."""
    packed = []

    def run(command, cwd=None, **kwargs):
        assert command[:2] == ["npm", "pack"] and command[2] in NPM_FILES
        spec = command[2]
        packed.append(spec)
        name, files = NPM_FILES[spec]
        _tarball(Path(cwd or ".") / name, files)
        return subprocess.CompletedProcess(command, 0, stdout=name + "\n", stderr="")

    monkeypatch.setattr(book_assets.subprocess, "run", run)
    monkeypatch.setattr(book_assets, "CACHE", tmp_path / "cache" / "npm")
    monkeypatch.chdir(tmp_path)
    return packed


def _config_assets():
    """The files under vendor/ that _config.yml makes every page load."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["sphinx"]["config"]
    assert config["html_static_path"] == ["vendor"]
    return [config["mathjax_path"], *config["nb_ipywidgets_js"]]


def test_tarball_names_are_those_npm_pack_writes():
    """Guards against a scoped package's name keeping its '@' (npm writes scope-name-version.tgz):
    the fetched tarball would never be found."""
    for spec, (name, _) in NPM_FILES.items():
        assert book_assets.tarball_name(spec) == name


def test_every_file_the_book_loads_from_vendor_is_vendored(npm, tmp_path):
    """Guards against a package dropped from PACKAGES or unpacked somewhere other than where
    _config.yml's mathjax_path and nb_ipywidgets_js look: the page would load nothing offline."""
    assert set(book_assets.PACKAGES) == set(NPM_FILES)
    root = tmp_path / "vendor"
    book_assets.vendor(root)
    for asset in _config_assets():
        assert (root / asset).is_file(), f"{asset} is not in vendor/"
    assert (root / "mathjax/es5/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff").is_file()
    assert sorted(npm) == sorted(NPM_FILES)
    assert sorted(path.name for path in book_assets.CACHE.iterdir()) == sorted(name for name, _ in NPM_FILES.values())


def test_vendoring_again_with_the_same_pins_does_nothing(npm, tmp_path, monkeypatch):
    """Guards against a missing stamp: every ``make book`` would wipe and re-vendor."""
    root = tmp_path / "vendor"
    book_assets.vendor(root)
    (root / "marker").write_text("kept")
    monkeypatch.setattr(book_assets, "fetch", lambda spec: pytest.fail(f"fetched {spec} again"))
    book_assets.vendor(root)
    assert (root / "marker").read_text() == "kept"


def test_changed_pins_re_vendor_from_scratch(npm, tmp_path, monkeypatch):
    """Guards against a stamp that is trusted whatever it says (a new version would never be
    vendored) and against files of the old version staying in vendor/."""
    root = tmp_path / "vendor"
    book_assets.vendor(root)
    (root / "html-manager" / "stale.js").write_text("old version")
    monkeypatch.setitem(book_assets.PACKAGES, "requirejs@2.3.7", ("package/require.js", "require-copy.js"))
    book_assets.vendor(root)  # the tarballs are cached now: no npm, but a fresh vendor/
    assert (root / "require-copy.js").is_file() and not (root / "require.js").exists()
    assert not (root / "html-manager" / "stale.js").exists()


def test_a_cached_tarball_is_used_without_npm(tmp_path, monkeypatch):
    """Guards against calling npm (the network) when the tarball is already in the cache."""
    cache = tmp_path / "npm"
    monkeypatch.setattr(book_assets, "CACHE", cache)
    monkeypatch.setattr(book_assets.subprocess, "run", lambda *args, **kwargs: pytest.fail("ran npm"))
    cache.mkdir()
    cached = _tarball(cache / "requirejs-2.3.7.tgz", ["package/require.js"])
    assert book_assets.fetch("requirejs@2.3.7") == cached


@pytest.mark.parametrize("status, left_behind, words", [
    (1, b"partial", "(?s)could not fetch requirejs@2.3.7.*npm ERR! network"),
    (0, b"\x1f\x8b partial", "could not fetch requirejs@2.3.7"),  # exit 0, yet no whole tarball
])
def test_a_failed_npm_pack_stops_the_build_and_leaves_nothing_behind(tmp_path, monkeypatch, status, left_behind, words):
    """Guards against ignoring npm's exit status or a broken file (it would be unpacked, and kept in
    the cache for every later build to fail on)."""
    monkeypatch.setattr(book_assets, "CACHE", tmp_path / "npm")

    def failing(command, cwd=None, **kwargs):
        (Path(cwd) / "requirejs-2.3.7.tgz").write_bytes(left_behind)
        return subprocess.CompletedProcess(command, status, stdout="", stderr="npm ERR! network" if status else "")

    monkeypatch.setattr(book_assets.subprocess, "run", failing)
    with pytest.raises(SystemExit, match=words):
        book_assets.fetch("requirejs@2.3.7")
    assert not (tmp_path / "npm" / "requirejs-2.3.7.tgz").exists()  # the next build fetches it again


def test_a_cut_short_tarball_in_the_cache_is_fetched_again(npm, tmp_path):
    """An interrupted npm pack left part of a tarball in the cache, which fetch trusted: every later
    build then failed on it (tarfile.ReadError) until someone found and deleted the file."""
    name, files = NPM_FILES["requirejs@2.3.7"]
    book_assets.CACHE.mkdir(parents=True)
    whole = _tarball(tmp_path / name, files).read_bytes()
    (book_assets.CACHE / name).write_bytes(whole[: len(whole) // 2])
    fetched = book_assets.fetch("requirejs@2.3.7")
    assert npm == ["requirejs@2.3.7"]
    with tarfile.open(fetched) as archive:
        assert sorted(archive.getnames()) == sorted(files)


def test_extract_takes_exactly_the_member_and_nothing_outside_it(tmp_path):
    """Guards against a member name matching its siblings by prefix (package/dist and
    package/dist-extra), entries with '..' written outside the destination, and links followed."""
    tarball = _tarball(tmp_path / "pkg.tgz",
                       ["package/dist/embed-amd.js", "package/dist/sub/a.js", "package/dist-extra/b.js",
                        "package/dist/../../../escaped.js"],
                       links=[("package/dist/link.js", "/etc/hostname")])
    destination = tmp_path / "out" / "vendor" / "html-manager"
    book_assets.extract(tarball, "package/dist", destination)
    files = sorted(str(path.relative_to(destination)) for path in destination.rglob("*") if not path.is_dir())
    assert files == ["embed-amd.js", "sub/a.js"]
    assert not list(tmp_path.rglob("escaped.js"))
    single = tmp_path / "single"
    book_assets.extract(tarball, "package/dist/embed-amd.js", single / "embed.js")
    assert (single / "embed.js").read_text() == "/* package/dist/embed-amd.js */"


def test_extract_stops_when_the_member_is_missing(tmp_path):
    """Guards against a package whose layout changed vendoring nothing, silently."""
    tarball = _tarball(tmp_path / "pkg.tgz", ["package/lib/index.js"])
    with pytest.raises(SystemExit, match="has no package/dist"):
        book_assets.extract(tarball, "package/dist", tmp_path / "out")

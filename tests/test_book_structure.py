"""Every chapter has the same anatomy, and the library's pointers into the book lead somewhere.

The book and ``course_lib`` refer to each other: chapters import the package, and module
docstrings name the chapter (and section) that derives their mathematics.  Sphinx checks the
book's own cross-references when it builds; this checks the rest, without building.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _toc_files():
    """The book's files in table-of-contents order (``_toc.yml``'s ``file:`` entries)."""
    return re.findall(r"file:\s*(\S+)", (ROOT / "_toc.yml").read_text(encoding="utf-8"))


CHAPTERS = [name for name in _toc_files() if (ROOT / f"{name}.ipynb").exists()]


def _cells(name):
    return json.loads((ROOT / f"{name}.ipynb").read_text(encoding="utf-8"))["cells"]


def _markdown(name) -> str:
    return "\n".join("".join(cell["source"]) for cell in _cells(name) if cell["cell_type"] == "markdown")


def _headings(text: str, level: int):
    return re.findall(rf"^{'#' * level} (.+?)\s*$", text, flags=re.M)


def test_the_chapters_are_the_table_of_contents_notebooks():
    notebooks = {str(path.relative_to(ROOT).with_suffix("")) for path in (ROOT / "book").rglob("*.ipynb")}
    assert notebooks == set(CHAPTERS), "every chapter notebook is in _toc.yml, and every _toc.yml notebook exists"
    assert len(CHAPTERS) >= 25


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_has_the_same_anatomy(name):
    """Title, learning objectives, the body, a summary, questions; a seed in the first code cell; no outputs."""
    cells = _cells(name)
    first = "".join(cells[0]["source"])
    assert first.startswith("# "), f"{name}: the first cell starts with the chapter's title"
    assert ":::{admonition} Learning objectives" in first, f"{name}: learning objectives come first"
    sections = _headings(_markdown(name), 2)
    assert sections[-2:] == ["Summary", "Check your understanding"], f"{name} ends with {sections[-2:]}"
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    assert code and "seed" in "".join(code[0]["source"]), f"{name}: the first code cell sets a seed"
    stored = [cell.get("id") for cell in code if cell["outputs"] or cell["execution_count"] is not None]
    assert not stored, f"{name}: notebooks are kept without outputs, but cells {stored} have some"


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_figure_cell_has_alt_text_and_a_caption(name):
    """A cell that draws a figure (``plt.show()``) describes it for screen readers and captions it for
    everyone.  One figure per cell: myst-nb puts the cell's caption under each of its images, and the
    browser checks fail a page that repeats a caption."""
    for cell in _cells(name):
        settings = cell["metadata"].get("mystnb", {})
        if cell["cell_type"] != "code" or ("plt.show()" not in "".join(cell["source"]) and not settings):
            continue
        alt, caption = settings.get("image", {}).get("alt", ""), settings.get("figure", {}).get("caption", "")
        assert len(alt) > 30 and len(caption) > 30, f"{name}, cell {cell.get('id')}: alt text and caption wanted"


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_widget_says_what_it_shows(name):
    """An ``explore(...)`` widget without ``description=`` shows no caption above its sliders, and its
    pictures' alt text says only "interactive figure: lr = 0.04" (an audit of the built book: six did)."""
    for cell in _cells(name):
        source = "".join(cell["source"])
        for call in re.finditer(r"^explore\(", source, flags=re.M):
            depth, end = 0, call.start()
            for end in range(call.start(), len(source)):
                depth += {"(": 1, ")": -1}.get(source[end], 0)
                if depth == 0 and source[end] == ")":
                    break
            assert "description=" in source[call.start():end], f"{name}, cell {cell.get('id')}: explore without description="


def _book_titles():
    """{chapter title: the titles of its sections and subsections}."""
    titles = {}
    for name in CHAPTERS:
        text = _markdown(name)
        titles[_headings(text, 1)[0]] = set(_headings(text, 2) + _headings(text, 3))
    return titles


# Chapter "X", then one of: , section "Y" · (Y) — a section too · , "Z" — a second chapter
REFERENCE = re.compile(r'Chapter\s+"([^"]+)"(?:,\s*section\s+"([^"]+)"|\s*\(([^)]+)\)|,\s*"([^"]+)")?')


def test_library_docstrings_point_to_real_chapters_and_sections():
    """Every form of pointer the library writes is read (the two later ones were not, and one
    named a chapter that does not exist; an audit)."""
    titles = _book_titles()
    wrong = []
    for path in sorted((ROOT / "course_lib").rglob("*.py")):
        for chapter, section, aside, second_chapter in REFERENCE.findall(path.read_text(encoding="utf-8")):
            where = path.relative_to(ROOT)
            section = section or aside
            for name in filter(None, (chapter, second_chapter)):
                if name not in titles:
                    wrong.append(f'{where}: no chapter "{name}"')
            if chapter in titles and section and section not in titles[chapter]:
                wrong.append(f'{where}: chapter "{chapter}" has no section "{section}"')
    assert not wrong, "\n".join(wrong)


def test_the_pointer_pattern_reads_every_form():
    forms = ['Chapter "A", section "B"', 'Chapter "A" (B)', 'Chapter "A", "C"', 'Chapter "A")']
    assert [REFERENCE.search(text).groups() for text in forms] == [
        ("A", "B", None, None), ("A", None, "B", None), ("A", None, None, "C"), ("A", None, None, None)]


def test_every_bibliography_entry_is_cited():
    """The bibliography page lists every entry of references.bib (``:all:``) as "every work cited"."""
    keys = set(re.findall(r"^@\w+\{([^,\s]+),", (ROOT / "book" / "references.bib").read_text(encoding="utf-8"), re.M))
    sources = [path.read_text(encoding="utf-8") for path in (ROOT / "book").rglob("*") if path.suffix in (".md", ".ipynb")]
    cited = {key.strip() for text in sources for group in re.findall(r"\{cite[:a-z]*\}`([^`]+)`", text)
             for key in group.split(",")}
    assert keys, "no entries found in references.bib"
    assert not keys - cited, f"entries never cited: {sorted(keys - cited)}"
    assert not cited - keys, f"citations without an entry: {sorted(cited - keys)}"

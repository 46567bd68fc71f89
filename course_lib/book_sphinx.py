"""A small Sphinx extension for the book's build (listed in ``_config.yml``).

* Pages list each script once: an inline script registered on both of Jupyter Book's reading
  passes (once with filename None, once with '') was declared twice, and the browser reported a
  SyntaxError for the repeated ``const``.
* ``course-lib-compat.js`` lets the vendored widget manager find its fonts and
  typeset with MathJax 3 (see the file's header); it must load before both.
* Thebe (live code through Binder) is off in ``_config.yml``, yet Jupyter Book always loads
  sphinx-thebe, which put a CDN address (``THEBE_JS_URL``), its script, its stylesheet and a Binder
  configuration into every page.  None of it can work offline, so none of it is written.
* ``course-lib.css`` wraps long printed output lines instead of scrolling them sideways.
* The front page, whose title is the book's, has the book's title once in its ``<title>``, not
  "title — title" (``book_templates/layout.html`` extends the theme's layout).
* Screen readers: Chinese terms (the glossary's, and those beside the English ones in the chapters)
  are marked ``lang="zh-Hans"``, or an English voice reads them; the bibliography's entries are list
  items of their list (docutils writes the deprecated ``doc-biblioentry`` role, which a list may not
  hold).
"""
from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes

STATIC = Path(__file__).with_name("book_static")
TEMPLATES = Path(__file__).with_name("book_templates")


def _is_thebe(asset) -> bool:
    filename = getattr(asset, "filename", asset) or ""
    body = getattr(asset, "attributes", {}).get("body", "")
    return "sphinx-thebe" in filename or "THEBE_JS_URL" in body


def _tidy_page_assets(app, pagename, templatename, context, doctree):
    styles = context.get("css_files")
    if styles:
        styles[:] = [style for style in styles if not _is_thebe(style)]
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        if _is_thebe(script):
            continue
        # the same inline script is registered once with filename None and once with ''
        key = (getattr(script, "filename", script) or "", repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def _drop_thebe_configuration(app, doctree, docname):
    """sphinx-thebe appends its Binder configuration and ``kernelName`` as raw HTML to each page."""
    for node in list(doctree.findall(nodes.raw)):
        if "x-thebe-config" in node.astext() or "kernelName =" in node.astext():
            node.parent.remove(node)


# CJK ideographs, their punctuation and full-width forms: a run of them is one Chinese phrase
CHINESE = re.compile(r"[\u2e80-\u2fdf\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]+")
_NOT_PROSE = (nodes.FixedTextElement, nodes.literal, nodes.raw, nodes.math, nodes.math_block)


def _mark_chinese(app, doctree, docname):
    """Wrap each run of Chinese characters in prose in an inline with class ``language-zh-Hans``,
    which the HTML writer turns into ``<span lang="zh-Hans">``."""
    for text in list(doctree.findall(nodes.Text)):
        parent = text.parent
        if parent is None or isinstance(parent, _NOT_PROSE) or not CHINESE.search(text):
            continue
        if any(isinstance(node, _NOT_PROSE) or "language-zh-Hans" in node.get("classes", [])
               for node in _ancestors(parent)):
            continue
        pieces, position = [], 0
        for run in CHINESE.finditer(text):
            if run.start() > position:
                pieces.append(nodes.Text(text[position:run.start()]))
            pieces.append(nodes.inline(run.group(), run.group(), classes=["language-zh-Hans"]))
            position = run.end()
        if position < len(text):
            pieces.append(nodes.Text(text[position:]))
        parent.replace(text, pieces)


def _ancestors(node):
    while node is not None:
        yield node
        node = node.parent


def _accessible_page(app, pagename, templatename, context, doctree):
    """The bibliography's entries become items of their list (see the module docstring)."""
    body = context.get("body")
    if body:
        context["body"] = body.replace('role="doc-biblioentry"', 'role="listitem"')


def _add_static(app):
    # a new list: where conf.py sets none, the list is Sphinx's default itself, which an append would
    # change for every later build in the process (an audit caught it for templates_path)
    app.config.html_static_path = [*app.config.html_static_path, str(STATIC)]


def _add_templates(app, config):
    """Before the builder makes its template loader (``builder-inited`` comes after); a new list, as above."""
    config.templates_path = [*config.templates_path, str(TEMPLATES)]


def setup(app):
    app.connect("config-inited", _add_templates)
    app.connect("builder-inited", _add_static)
    app.add_js_file("course-lib-compat.js", priority=200)
    app.add_css_file("course-lib.css")
    app.connect("doctree-resolved", _drop_thebe_configuration, priority=900)
    app.connect("html-page-context", _tidy_page_assets, priority=900)
    app.connect("doctree-resolved", _mark_chinese)
    app.connect("html-page-context", _accessible_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

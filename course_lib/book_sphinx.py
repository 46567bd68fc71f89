"""A small Sphinx extension for the book's build (listed in ``_config.yml``).

* sphinx-thebe registers its inline configuration script once per reading pass; when
  Jupyter Book reads twice, every page declares ``const THEBE_JS_URL`` twice and the
  browser reports a SyntaxError.  We drop duplicate script entries before each page
  is written, so pages load with a clean console.
* ``course-lib-compat.js`` lets the vendored widget manager find its fonts and
  typeset with MathJax 3 (see the file's header); it must load before both.
"""
from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).with_name("book_static")


def _deduplicate_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # the same inline script is registered once with filename None and once with ''
        key = (getattr(script, "filename", script) or "", repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def _add_static(app):
    app.config.html_static_path.append(str(STATIC))


def setup(app):
    app.connect("builder-inited", _add_static)
    app.add_js_file("course-lib-compat.js", priority=200)
    app.connect("html-page-context", _deduplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

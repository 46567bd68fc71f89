"""course_lib/book_sphinx.py: the Sphinx extension that tidies each page's scripts and styles.

Its hooks are called directly, with Sphinx's own asset objects and a docutils tree, so no book
is built; ``test_browser.py`` checks the built pages themselves.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from docutils import nodes
from docutils.frontend import get_default_settings
from docutils.parsers.rst import Parser
from docutils.utils import new_document
from sphinx.builders.html._assets import _CascadingStyleSheet as Style
from sphinx.builders.html._assets import _JavaScript as Script

from course_lib import book_sphinx

THEBE_INLINE = "const THEBE_JS_URL = 'https://unpkg.com/thebe@0.8.2/lib/index.js'"


def test_pages_list_each_script_once_and_nothing_of_thebe():
    """Guards against the inline script registered with filename None and again with '' being
    written twice (a SyntaxError for its repeated ``const``), distinct inline scripts being merged,
    the page's own lists not being changed, and any sphinx-thebe script, stylesheet or CDN address
    staying in the page."""
    scripts = [
        Script("_static/jquery.js"),
        Script(None, body="const DOCUMENTATION_OPTIONS = {};"),
        Script("_static/sphinx-thebe.js", **{"async": "async"}),
        Script(None, body=THEBE_INLINE),
        Script("", body="const DOCUMENTATION_OPTIONS = {};"),
        Script("", body="var other = 1;"),
        Script("_static/jquery.js"),
        Script("course-lib-compat.js"),
    ]
    styles = [Style("_static/sphinx-thebe.css"), Style("_static/course-lib.css")]
    context = {"script_files": scripts, "css_files": styles}
    book_sphinx._tidy_page_assets(None, "index", "page.html", context, None)
    assert context["script_files"] is scripts and context["css_files"] is styles  # changed in place
    assert [(script.filename, script.attributes.get("body")) for script in scripts] == [
        ("_static/jquery.js", None),
        (None, "const DOCUMENTATION_OPTIONS = {};"),
        ("", "var other = 1;"),
        ("course-lib-compat.js", None),
    ]
    assert [style.filename for style in styles] == ["_static/course-lib.css"]


def test_a_page_without_scripts_still_loses_thebes_stylesheet():
    """The stylesheet is tidied whether or not the page has scripts (an early return for a page
    without any kept sphinx-thebe.css), and a context without the lists is no error."""
    def styles():
        return [Style("_static/sphinx-thebe.css"), Style("_static/course-lib.css")]

    for context in ({"script_files": [], "css_files": styles()}, {"css_files": styles()}):
        book_sphinx._tidy_page_assets(None, "index", "page.html", context, None)
        assert [style.filename for style in context["css_files"]] == ["_static/course-lib.css"]
        assert context.get("script_files", []) == []
    context = {}
    book_sphinx._tidy_page_assets(None, "index", "page.html", context, None)
    assert context == {}


def test_thebe_configuration_is_dropped_from_the_page_tree():
    """Guards against sphinx-thebe's Binder configuration or its ``kernelName`` line staying in
    the page as raw HTML."""
    document = new_document("index", get_default_settings(Parser))
    section = nodes.section()
    document += section
    section += nodes.paragraph(text="text")
    section += nodes.raw("", '<script type="text/x-thebe-config">{"binderOptions": {}}</script>', format="html")
    section += nodes.raw("", '<script>kernelName = "python3"</script>', format="html")
    section += nodes.raw("", "<div>kept</div>", format="html")
    book_sphinx._drop_thebe_configuration(None, document, "index")
    assert [node.astext() for node in document.findall(nodes.raw)] == ["<div>kept</div>"]
    assert len(list(document.findall(nodes.paragraph))) == 1


def test_setup_serves_the_static_files_and_loads_the_compat_script_first(monkeypatch, tmp_path):
    """Guards against book_static never reaching html_static_path (or reaching it as a path that
    depends on the working directory), and against course-lib-compat.js loading at Sphinx's
    default priority, 500, which MathJax and the widget manager use: it must come before both."""
    monkeypatch.chdir(tmp_path)
    handlers, scripts, styles = [], [], []
    static_default, templates_default = ["vendor"], []  # what Sphinx would hand over: left as they are
    app = SimpleNamespace(
        config=SimpleNamespace(html_static_path=static_default, templates_path=templates_default),
        connect=lambda event, handler, priority=500: handlers.append((event, handler, priority)),
        add_js_file=lambda filename, priority=500, **kwargs: scripts.append((filename, priority)),
        add_css_file=lambda filename, priority=500, **kwargs: styles.append(filename),
    )
    assert book_sphinx.setup(app) == {"parallel_read_safe": True, "parallel_write_safe": True}
    for event, handler, _ in handlers:
        if event == "config-inited":
            handler(app, app.config)
        if event == "builder-inited":
            handler(app)
    # the front page's title (the template is read by a build: tests/test_browser.py checks the result)
    (templates,) = app.config.templates_path
    assert static_default == ["vendor"] and templates_default == []
    assert Path(templates).is_absolute() and "htmltitle" in (Path(templates) / "layout.html").read_text()
    assert app.config.html_static_path[0] == "vendor" and len(app.config.html_static_path) == 2
    static = Path(app.config.html_static_path[1])
    assert static.is_absolute()
    assert (static / "course-lib-compat.js").is_file() and (static / "course-lib.css").is_file()
    ((compat, priority),) = scripts
    assert compat == "course-lib-compat.js" and priority < 500
    assert styles == ["course-lib.css"]
    priorities = {handler.__name__: priority for _, handler, priority in handlers}
    # after thebe's own hooks
    assert priorities["_tidy_page_assets"] > 500 and priorities["_drop_thebe_configuration"] > 500
    connected = {(event, handler.__name__) for event, handler, _ in handlers}
    assert {("doctree-resolved", "_mark_chinese"), ("html-page-context", "_accessible_page")} <= connected


def test_chinese_in_prose_is_marked_for_screen_readers_and_code_is_left_alone():
    """A screen reader read the glossary's Chinese terms with an English voice: no lang anywhere (an audit)."""
    from docutils.core import publish_from_doctree

    document = new_document("glossary", get_default_settings(Parser))
    paragraph = nodes.paragraph()
    paragraph += nodes.Text("An artificial neuron (人工神经元) and a layer (层).")
    document += paragraph
    document += nodes.literal_block("print('人工')", "print('人工')")
    document += nodes.paragraph(text="English only.")
    book_sphinx._mark_chinese(None, document, "glossary")
    marked = [node.astext() for node in document.findall(nodes.inline)]
    assert marked == ["人工神经元", "层"]
    assert paragraph.astext() == "An artificial neuron (人工神经元) and a layer (层)."
    assert document.children[1].astext() == "print('人工')" and not list(document.children[1].findall(nodes.inline))
    book_sphinx._mark_chinese(None, document, "glossary")  # twice: nothing wrapped again
    assert [node.astext() for node in document.findall(nodes.inline)] == ["人工神经元", "层"]
    page = publish_from_doctree(document, writer_name="html5").decode()
    assert '<span lang="zh-Hans">人工神经元</span>' in page


def test_bibliography_entries_are_list_items():
    """axe: docutils' deprecated doc-biblioentry role inside role="list" (critical: a list of no items)."""
    context = {"body": '<div role="list"><div class="citation" role="doc-biblioentry">x</div></div>'}
    book_sphinx._accessible_page(None, "book/appendix/bibliography", "page.html", context, None)
    assert context["body"] == '<div role="list"><div class="citation" role="listitem">x</div></div>'
    empty = {}
    book_sphinx._accessible_page(None, "search", "search.html", empty, None)
    assert empty == {}

"""Open every page of the built book in headless Chromium, offline.

Checks, per page: no failed or external requests, no console errors, every image
loaded, every equation typeset by MathJax (and no raw ``$$`` left), every widget
rendered; on pages with sliders, moving one changes what is shown.  A screenshot of
each page goes to ``_build/screenshots/`` for review.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
BOOK_TITLE = re.search(r'^title: "(.*)"$', (ROOT / "_config.yml").read_text(encoding="utf-8"), re.M).group(1)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _require_browser():
    missing = [what for what, ok in (("Debian's chromium", Path(CHROMIUM).exists()),
                                     ("playwright", _has_playwright())) if not ok]
    if missing:
        message = f"browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("COURSE_LIB_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)


def _has_playwright() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def site_url():
    _require_browser()
    if not (SITE / "index.html").exists():  # build once if nobody did (make test builds first)
        subprocess.run(["make", "html"], cwd=ROOT, check=True)
    handler = functools.partial(QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


def book_pages():
    """Every chapter page of the built book (what the table of contents lists)."""
    if not SITE.exists():
        return []
    return sorted(str(path.relative_to(SITE)) for path in (SITE / "book").rglob("*.html"))


def _pages_or_placeholder():
    pages = book_pages()
    return pages or ["book/intro.html"]


@pytest.mark.parametrize("page_path", _pages_or_placeholder())
def test_page_renders_offline(browser, site_url, page_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = []
    host = urlparse(site_url).netloc

    def guard(route):
        if urlparse(route.request.url).netloc not in (host, ""):
            problems.append(f"external request blocked: {route.request.url}")
            return route.abort()
        return route.continue_()

    page.route("**/*", guard)
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url} ({request.failure})"))
    page.on("response", lambda response: response.status >= 400 and problems.append(
        f"HTTP {response.status}: {response.url}"))
    page.on("console", lambda message: message.type == "error" and problems.append(f"console error: {message.text}"))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    page.goto(f"{site_url}/{page_path}", wait_until="load")
    page.wait_for_load_state("networkidle")

    # The tab's title names the page, then the book, once (the front page is the book: its title alone).
    heading = page.inner_text("article h1").replace("#", "").strip()
    assert page.title() == (BOOK_TITLE if heading == BOOK_TITLE else f"{heading} \u2014 {BOOK_TITLE}"), page.title()

    # Equations: MathJax ran and left no raw TeX delimiters in the visible text.
    has_math = page.evaluate("document.querySelectorAll('.math, span.math, div.math').length") > 0
    if has_math:
        page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20000)
        page.evaluate("MathJax.startup.promise")
        assert page.evaluate("document.querySelectorAll('mjx-container').length") > 0, "MathJax typeset nothing"
        text = page.inner_text("article")
        assert "$$" not in text and "\\begin{" not in text, "raw TeX left on the page"
        # out of the Tab order (_config.yml): a keyboard user reached the first slider after 119 formulas
        focusable = page.evaluate("document.querySelectorAll('mjx-container[tabindex=\"0\"]').length")
        assert focusable == 0, f"{focusable} formulas are Tab stops"

    # Images: every <img> decoded with a real size.
    broken = page.evaluate("""[...document.images].filter(i => !(i.complete && i.naturalWidth > 0))
                              .map(i => i.src.slice(0, 80))""")
    assert not broken, f"images that did not load: {broken}"
    # Alt text: a screen reader announces a figure without it by its file name ("2480c0….png").
    unnamed = page.evaluate("""[...document.querySelectorAll('article img')]
                               .filter(i => !i.alt.trim() || /[.](png|svg|jpe?g|gif)$/i.test(i.alt.trim()))
                               .map(i => i.src.split('/').pop().slice(0, 20))""")
    assert not unnamed, f"images without alt text: {unnamed}"
    # Captions: a cell drawing two figures repeats its one caption under both (split such cells).
    captions = page.evaluate("[...document.querySelectorAll('article figcaption .caption-text')].map(c => c.innerText.trim())")
    repeated = sorted({c[:60] for c in captions if captions.count(c) > 1})
    assert not repeated, f"captions repeated on the page: {repeated}"

    # Numbers: the chapters are numbered (_toc.yml), so a page's figures and equations carry its
    # section's number and count from 1 in order (Fig. 3.2.1, (3.2.1)), not through the whole book.
    section = page.evaluate("(document.querySelector('article h1 .section-number') || {textContent: ''})"
                            ".textContent.trim().replace(/[.]$/, '')")
    figures = page.evaluate("[...document.querySelectorAll('article figcaption .caption-number')]"
                            ".map(c => c.textContent.trim())")
    equations = page.evaluate("[...document.querySelectorAll('article .eqno')]"
                              ".map(e => (e.textContent.match(/[(]([0-9.]+)[)]/) || ['', '?'])[1])")
    if figures or equations:
        assert section, "a page with numbered figures or equations has no section number in its title"
    assert figures == [f"Fig. {section}.{i}" for i in range(1, len(figures) + 1)], figures
    assert equations == [f"{section}.{i}" for i in range(1, len(equations) + 1)], equations

    # Printed output wraps rather than scrolling sideways (course-lib.css).
    scrolling = page.evaluate("""[...document.querySelectorAll('div.cell_output pre')]
                                 .filter(p => p.scrollWidth > p.clientWidth + 1)
                                 .map(p => p.innerText.split('\\n')[0].slice(0, 60))""")
    assert not scrolling, f"output that scrolls sideways: {scrolling}"
    # Nothing names an address outside the site (sphinx-thebe's unpkg.com URL and Binder config).
    html = page.content()
    assert "unpkg.com" not in html and "x-thebe-config" not in html, "a page still carries thebe's CDN set-up"

    # Widgets: every embedded widget view was rendered by the vendored manager.
    views = page.evaluate("document.querySelectorAll('script[type=\"application/vnd.jupyter.widget-view+json\"]').length")
    if views:
        page.wait_for_function(
            f"document.querySelectorAll('.jupyter-widgets.widget-vbox, .widget-vbox').length >= {views}",
            timeout=20000)

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / (page_path.replace("/", "__").replace(".html", ".png"))), full_page=True)
    page.close()
    assert not problems, "\n".join(problems)


def _visible_picture(page) -> str:
    """A fingerprint of what the widgets currently show: every visible pre-rendered picture or table."""
    return page.evaluate("""() => {
        const shown = [...document.querySelectorAll('.widget-vbox .widget-html-content')]
            .filter(element => element.offsetParent !== null && element.innerHTML.length > 0);
        return shown.map(element => element.innerHTML.length + ':' + element.innerHTML.slice(-60)).join('|');
    }""")


def slider_pages():
    return [page for page in book_pages()
            if "widget-view+json" in (SITE / page).read_text(encoding="utf-8", errors="ignore")]


@pytest.mark.parametrize("page_path", slider_pages() or ["book/background/how_to_use.html"])
def test_sliders_change_the_picture_without_a_kernel(browser, site_url, page_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{site_url}/{page_path}", wait_until="networkidle")
    page.wait_for_selector(".widget-slider .ui-slider-handle, .widget-slider .noUi-handle", timeout=20000)
    handle = page.locator(".widget-slider .noUi-handle, .widget-slider .ui-slider-handle").first
    handle.scroll_into_view_if_needed()
    before = _visible_picture(page)
    assert before, "no picture visible under the slider"
    page.wait_for_timeout(500)
    # nothing is read out before anyone moves a slider, and each explorer is a group named by its title
    opened = page.evaluate("""[...document.querySelectorAll('.course-lib-explore')].map(box => ({
        name: box.getAttribute('aria-label'), role: box.getAttribute('role'),
        live: (box.querySelector('.course-lib-live') || {textContent: 'no live region'}).textContent}))""")
    assert opened and all(box["name"] and box["role"] == "group" and box["live"] == "" for box in opened), opened
    handle.focus()
    after = before
    for key in ("ArrowRight", "ArrowLeft", "ArrowLeft"):  # a slider may start at either end
        page.keyboard.press(key)
        page.wait_for_timeout(300)
        after = _visible_picture(page)
        if after != before:
            break
    spoken = page.evaluate("""() => {
        const handle = document.activeElement, slider = handle.closest('.widget-slider');
        const live = handle.closest('.course-lib-explore').querySelector('.course-lib-live');
        const shown = [...handle.closest('.course-lib-explore').querySelectorAll('img')]
            .filter(img => img.offsetParent !== null).map(img => img.alt).join('; ');
        return {name: handle.getAttribute('aria-label'), label: slider.querySelector('.widget-label').textContent.trim(),
                value: handle.getAttribute('aria-valuetext'),
                readout: slider.querySelector('.widget-readout').textContent.trim(),
                live: live && live.textContent, shown: shown};
    }""")
    page.close()
    assert after and after != before, "moving the slider did not change the picture"
    # a screen reader hears the slider's name and the value it shows (not its position), then the new picture
    assert spoken["name"] == spoken["label"] and spoken["value"] == spoken["readout"], spoken
    assert spoken["live"] and spoken["live"] == (spoken["shown"] or spoken["live"]), spoken


def test_chinese_terms_are_marked_for_screen_readers(browser, site_url):
    """The glossary's Chinese terms carry lang="zh-Hans" (book_sphinx._mark_chinese)."""
    glossary = [page for page in book_pages() if "glossary" in page]
    assert glossary, "no glossary page in the built book"
    page = browser.new_page()
    page.goto(f"{site_url}/{glossary[0]}", wait_until="load")
    marked = page.evaluate("document.querySelectorAll('article [lang=\"zh-Hans\"]').length")
    unmarked = page.evaluate(r"""[...document.querySelectorAll('article td, article p')]
        .filter(e => /[\u4e00-\u9fff]/.test(e.textContent) && !e.querySelector('[lang="zh-Hans"]')).length""")
    page.close()
    assert marked > 50 and unmarked == 0, (marked, unmarked)


def test_search_box_finds_a_chapter(browser, site_url):
    """The Sphinx search page works offline: searching a term lists the chapter that defines it."""
    page = browser.new_page()
    page.goto(f"{site_url}/search.html?q=backpropagation", wait_until="networkidle")
    page.wait_for_selector("#search-results li, ul.search li", timeout=20000)
    links = page.eval_on_selector_all("#search-results li a, ul.search li a", "els => els.map(e => e.href)")
    page.close()
    assert any("backprop" in link for link in links), f"search results did not list the backpropagation chapter: {links[:5]}"

"""course_lib.widgets.explore: a kernel-free interactive figure, and clear errors when misused."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course_lib.widgets import explore  # noqa: E402


def draw(w, b=0):
    figure, axis = plt.subplots()
    axis.plot([0, 1], [b, w + b])
    return figure


def test_every_combination_is_pre_rendered_and_the_start_is_picked():
    box = explore(draw, {"w": [-1, 0, 1], "b": [0, 1]}, start={"w": 1})
    sliders = [child for child in box.children if hasattr(child, "options")]
    assert [slider.description for slider in sliders] == ["w", "b"]
    # the whole name ("temperature" was cut to "temperat…") and a tooltip ("null" before: an audit)
    assert all(slider.style.description_width == "initial" and slider.tooltip == slider.description
               for slider in sliders)
    assert sliders[0].value == 2 and sliders[1].value == 1  # w = 1 as asked; b in the middle (index 1 of 2)
    assert not plt.get_fignums()  # every pre-rendered figure was closed


def test_misuse_is_named():
    """Found by an audit: a render without `return fig` failed inside savefig, a start value not on the
    slider with "0.5 is not in list", and a misspelt start name was ignored."""
    with pytest.raises(TypeError, match="return fig"):
        explore(lambda w: None, {"w": [0, 1]})
    with pytest.raises(ValueError, match="start value 0.5 for slider 'w' is not one of its values"):
        explore(draw, {"w": [0, 1]}, start={"w": 0.5})
    with pytest.raises(ValueError, match=r"start names \['W'\]"):
        explore(draw, {"w": [0, 1]}, start={"W": 1})


def test_each_picture_tells_a_screen_reader_what_it_shows():
    box = explore(draw, {"w": [-1, 0.5], "b": [0]}, description="A line <b>y = wx + b</b>")
    stack = box.children[-1]
    alts = [picture.children[0].value.split('alt="')[1].split('"')[0] for picture in stack.children]
    assert alts == ["A line y = wx + b: w = -1, b = 0", "A line y = wx + b: w = 0.5, b = 0"]


def test_the_alt_text_also_says_what_the_pictures_titles_report_and_the_box_is_marked_for_the_page():
    """A screen reader heard only the slider values ("angle = 0"), not the result the picture's title gives
    ("accuracy 1.00"; an audit).  The box's class lets the page's script name it and announce changes."""
    def titled(w):
        figure, (left, right) = plt.subplots(1, 2)
        figure.suptitle("A line")
        left.set_title(f"$w$ = {w}: accuracy {0.5 + w / 4:.2f}")
        right.plot([0, 1], [0, w])
        return figure

    box = explore(titled, {"w": [1, 2]}, description="Lines")
    alts = [picture.value.split('alt="')[1].split('"')[0] for picture in box.children[-1].children]
    assert alts == ["Lines: w = 1 (A line; w = 1: accuracy 0.75)", "Lines: w = 2 (A line; w = 2: accuracy 1.00)"]
    assert "course-lib-explore" in box._dom_classes


def text(**values):
    """A render that returns HTML: no figure to draw, so even a large grid builds in a moment."""
    return " ".join(f"{name}={value}" for name, value in values.items())


def shown(widget):
    """The picture a static page shows before anyone moves a slider: follow each stack's selection."""
    while hasattr(widget, "selected_index"):
        widget = widget.children[widget.selected_index]
    return widget.value


def test_the_picture_shown_first_is_the_one_for_the_sliders_start_values():
    """Every stack opens at its slider's start index: with stacks opening at their first child the
    page showed w = -1 under a slider that read w = 1, until someone moved it."""
    box = explore(text, {"w": [-1, 0, 1], "b": [0, 1, 2, 3]}, start={"w": 1})
    assert shown(box.children[-1]) == "w=1 b=2"  # b: the middle value (index 4 // 2)
    root = box.children[-1]
    for i, w in enumerate([-1, 0, 1]):
        for j, b in enumerate([0, 1, 2, 3]):
            assert root.children[i].children[j].value == f"w={w} b={b}"


def test_each_slider_is_linked_in_the_browser_to_every_stack_of_its_own_level(monkeypatch):
    """Slider k must drive the stacks at nesting depth k (and only those): linked the other way
    round, moving 'w' in the static book changed 'b' and the page showed the wrong picture."""
    import ipywidgets

    links = []
    original = ipywidgets.jslink
    monkeypatch.setattr(ipywidgets, "jslink", lambda source, target: links.append((source, target)) or original(source, target))
    box = explore(text, {"w": [-1, 0, 1], "b": [0, 1]})
    w_slider, b_slider = box.children[:2]
    root = box.children[-1]
    expected = {(id(w_slider), id(root))} | {(id(b_slider), id(inner)) for inner in root.children}
    assert {(id(source[0]), id(target[0])) for source, target in links} == expected
    assert all(source[1] == "index" and target[1] == "selected_index" for source, target in links)


def test_the_picture_budget_allows_exactly_max_pictures():
    """MAX_PICTURES combinations are pre-rendered; one more is refused before anything is drawn."""
    from course_lib import widgets

    assert widgets.MAX_PICTURES == 120
    box = explore(text, {"a": list(range(12)), "b": list(range(10))})  # 120: allowed
    assert len(box.children[-1].children) == 12
    calls = []
    with pytest.raises(ValueError, match="would pre-render 121 pictures"):
        explore(lambda **values: calls.append(values) or "x", {"a": list(range(11)), "b": list(range(11))})
    assert calls == []


def test_no_sliders_or_a_slider_without_values_is_named():
    """Without these checks ``explore({})`` called render() with no arguments and a slider with no
    values built an empty stack: errors far from the mistake."""
    with pytest.raises(ValueError, match="at least one slider"):
        explore(text, {})
    with pytest.raises(ValueError, match="slider 'b' has no values"):
        explore(text, {"w": [0, 1], "b": []})


def test_float_slider_values_are_labelled_as_a_reader_writes_them():
    """0.1 + 0.2 is labelled '0.3' on the slider and in the alt text, not '0.30000000000000004'."""
    box = explore(draw, {"w": [0.1, 0.1 + 0.2]}, start={"w": 0.1 + 0.2})
    slider = box.children[0]
    assert [label for label, _ in slider.options] == ["0.1", "0.3"] and slider.label == "0.3"
    alt = box.children[-1].children[1].value.split('alt="')[1].split('"')[0]
    assert alt == "interactive figure: w = 0.3"


def test_a_description_with_quotes_and_ampersands_cannot_break_the_img_tag():
    """The alt text is an HTML attribute: a '"' in the description ended it early (the rest became
    stray attributes) unless it is escaped."""
    box = explore(draw, {"w": [0]}, description='The "best" fit & its error')
    html_text = box.children[-1].children[0].value
    assert 'alt="The &quot;best&quot; fit &amp; its error: w = 0"' in html_text


def test_a_slider_shows_its_label_or_its_keyword_in_words():
    """The occlusion explorer's slider read "patch_size" on the page and to a screen reader (an audit)."""
    box = explore(lambda patch_size, lr: draw(lr, patch_size), {"patch_size": [2, 4], "lr": [0.1]},
                  labels={"lr": "learning rate"})
    sliders = [child for child in box.children if hasattr(child, "options")]
    assert [slider.description for slider in sliders] == ["patch size", "learning rate"]
    assert [slider.tooltip for slider in sliders] == ["patch size", "learning rate"]
    alt = box.children[-1].children[0].children[0].value.split('alt="')[1].split('"')[0]
    assert alt == "interactive figure: patch size = 2, learning rate = 0.1"
    with pytest.raises(ValueError, match=r"labels names \['learning_rate'\], which are not sliders"):
        explore(draw, {"w": [0, 1]}, labels={"learning_rate": "learning rate"})

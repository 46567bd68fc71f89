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

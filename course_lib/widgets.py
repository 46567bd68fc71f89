"""Interactive figures that still respond in the static HTML book, with no kernel.

A live ipywidgets callback needs a Python kernel, which a static web page does not
have.  ``explore`` therefore renders every combination of the slider values *in
advance* and stacks the pictures in ``ipywidgets.Stack`` containers; each slider is
linked to its stacks with ``jslink``, a link that runs in the browser.  The widget
state embedded in the page (pictures, sliders and links) replays the interaction
without Python: moving a slider only changes which pre-rendered picture is shown.
In Jupyter the same object is live and behaves identically.

Several sliders become nested stacks: slider 1 picks a child of the outer stack,
slider 2 picks a child of each inner stack, and so on, so the cost is the product of
the number of values of each slider — keep the grids small (≲ 60 pictures).
"""
from __future__ import annotations

import base64
import html
import io
import itertools
import re
from typing import Callable, Dict, List, Optional, Sequence

MAX_PICTURES = 120


def figure_to_html(figure, dpi: int = 80, alt: str = "figure") -> str:
    """An ``<img>`` tag holding ``figure`` as an inline PNG, described by ``alt`` for screen
    readers; the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" style="max-width:100%" alt="{html.escape(alt)}"/>'


def _label(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def explore(render: Callable[..., object], sliders: Dict[str, Sequence], start: Dict[str, object] = None,
            dpi: int = 80, description: str = "", labels: Optional[Dict[str, str]] = None):
    """A kernel-free interactive figure.

    ``render(**values)`` draws one matplotlib figure (or returns an HTML string) for one
    combination of slider values; ``sliders`` maps each keyword to the values its slider
    offers, e.g. ``{"w": [-2, -1, 0, 1, 2], "b": [0, 1]}``; ``start`` picks the initial
    values; ``labels`` the words a slider shows and a screen reader says, by keyword
    (``{"lr": "learning rate"}``; by default the keyword, "patch_size" as "patch size").
    Returns an ``ipywidgets.VBox`` (sliders above the picture).
    """
    import ipywidgets as widgets

    if not sliders:
        raise ValueError("explore needs at least one slider, e.g. sliders={'w': [-1, 0, 1]}")
    names = list(sliders)
    values = [list(sliders[name]) for name in names]
    for name, options in zip(names, values):
        if not options:
            raise ValueError(f"slider '{name}' has no values")
    total = 1
    for options in values:
        total *= len(options)
    if total > MAX_PICTURES:
        raise ValueError(f"explore would pre-render {total} pictures (more than {MAX_PICTURES}); use fewer values")
    start = start or {}
    unknown = [name for name in start if name not in sliders]
    if unknown:
        raise ValueError(f"start names {unknown}, which are not sliders; the sliders are {names}")
    labels = labels or {}
    unlabelled = [name for name in labels if name not in sliders]
    if unlabelled:
        raise ValueError(f"labels names {unlabelled}, which are not sliders; the sliders are {names}")
    label = {name: labels.get(name, name.replace("_", " ")) for name in names}
    for name, options in zip(names, values):
        if name in start and start[name] not in options:
            raise ValueError(f"start value {start[name]!r} for slider '{name}' is not one of its values {options}")
    start_index = [options.index(start[name]) if name in start else len(options) // 2
                   for name, options in zip(names, values)]

    pictures = {}
    for combination in itertools.product(*[range(len(options)) for options in values]):
        kwargs = {name: values[k][i] for k, (name, i) in enumerate(zip(names, combination))}
        drawn = render(**kwargs)
        if not isinstance(drawn, str) and not hasattr(drawn, "savefig"):
            raise TypeError(f"render must return a matplotlib figure or an HTML string, got "
                            f"{type(drawn).__name__} for {kwargs} (does it end with `return fig`?)")
        # what a screen reader says for this picture: the figure's description, its slider values and
        # what the picture's titles report (e.g. "accuracy 1.00"), which the page reads out on a change
        alt = f"{re.sub(r'<[^>]+>', '', description) or 'interactive figure'}: " + ", ".join(
            f"{label[name]} = {_label(value)}" for name, value in kwargs.items())
        if not isinstance(drawn, str):
            titles = [text for text in _titles(drawn) if text]
            alt += f" ({'; '.join(titles)})" if titles else ""
        pictures[combination] = widgets.HTML(drawn if isinstance(drawn, str) else figure_to_html(drawn, dpi, alt))

    controls = [
        widgets.SelectionSlider(options=[(_label(v), i) for i, v in enumerate(options)], value=start_index[k],
                                description=label[name], tooltip=label[name], continuous_update=True,
                                style={"description_width": "initial"},  # the whole name, not "temperat…"
                                layout=widgets.Layout(width="420px"))
        for k, (name, options) in enumerate(zip(names, values))
    ]
    stacks_at_depth: List[List[object]] = [[] for _ in names]

    def build(depth: int, prefix: tuple):
        if depth == len(names):
            return pictures[prefix]
        children = [build(depth + 1, prefix + (i,)) for i in range(len(values[depth]))]
        stack = widgets.Stack(children, selected_index=start_index[depth])
        stacks_at_depth[depth].append(stack)
        return stack

    root = build(0, ())
    for control, stacks in zip(controls, stacks_at_depth):
        for stack in stacks:
            widgets.jslink((control, "index"), (stack, "selected_index"))
    header = [widgets.HTML(f"<em>{description}</em>")] if description else []
    # the class lets the book's script name the group and announce each new picture (course-lib-compat.js)
    return widgets.VBox(header + controls + [root]).add_class("course-lib-explore")


def _titles(figure) -> List[str]:
    """The figure's title and its axes' titles, as plain text (TeX's $ and braces dropped)."""
    texts = [figure.get_suptitle()] + [axes.get_title() for axes in figure.axes]
    return [re.sub(r"[${}\\]", "", text).strip() for text in texts]

"""course_lib.plots: each helper on small inputs (Agg backend), checking what was drawn.

Every test inspects the returned Figure — the number of axes, the data inside images and
lines, titles, colours, tick labels, contour levels — not only that the call returned.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_lib import plots  # noqa: E402
from course_lib.training import History  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def image_axes(fig):
    return [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]


# --- decision boundary ----------------------------------------------------------------------------
POINTS = np.array([[-1.0, -1.0], [-0.5, 1.0], [0.5, -0.2], [1.0, 1.0]])
LABELS = np.array([0, 0, 1, 1])


def contour_sets(ax):
    return [artist for artist in ax.collections if isinstance(artist, ContourSet)]


# labels that come back as floats (0.0, 1.0 — e.g. ``(p > 0.5).astype(float)``) are classes too, not scores
@pytest.mark.parametrize("label_type", [int, float])
def test_decision_boundary_with_labels_fills_one_band_per_class_and_scatters_the_data(label_type):
    fig = plots.plot_decision_boundary(lambda grid: (grid[:, 0] > 0).astype(label_type), POINTS, LABELS, resolution=30)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    (filled,) = contour_sets(ax)
    assert filled.filled
    np.testing.assert_allclose(filled.levels, [-0.5, 0.5, 1.5])
    scatters = _scatters(fig)  # one per class, each in its own colour and marker
    np.testing.assert_allclose(np.concatenate([scatter.get_offsets() for scatter in scatters]), POINTS)
    cmap, norm = plt.get_cmap("coolwarm"), plt.Normalize(-0.5, 1.5)
    for position, scatter in enumerate(scatters):
        np.testing.assert_allclose(scatter.get_facecolors()[0], cmap(norm(position)))
    assert ax.get_xlim() == pytest.approx((-1.5, 1.5))


def _scatters(fig):
    fig.canvas.draw()  # colours are mapped from the data when drawn
    return [artist for artist in fig.axes[0].collections if isinstance(artist, PathCollection) and
            not isinstance(artist, ContourSet)]


def _marker_shape(scatter):
    return scatter.get_paths()[0].vertices.round(6).tobytes()


@pytest.mark.parametrize("predict", [lambda grid: (grid[:, 0] > 0).astype(int),
                                     lambda grid: 1 / (1 + np.exp(-grid[:, 0]))], ids=["labels", "probabilities"])
def test_each_class_has_its_own_marker_so_colour_is_not_all_that_tells_them_apart(predict):
    """Coolwarm's blue and red points had the same lightness (1.01:1) and the same marker: one class in
    grey, or to a colour-blind reader (an accessibility audit)."""
    fig = plots.plot_decision_boundary(predict, POINTS, LABELS, resolution=10, class_names=["no", "yes"])
    scatters = _scatters(fig)
    assert len(scatters) == 2 and _marker_shape(scatters[0]) != _marker_shape(scatters[1])
    legend = fig.axes[0].get_legend()
    if legend is not None:  # labels: the legend shows the same markers
        assert [handle.get_marker() for handle in legend.legend_handles] == list(plots.CLASS_MARKERS[:2])


def test_scores_with_string_labels_colour_the_points_by_class():
    """A UFuncTypeError (the labels went to the colour map as numbers) before: an audit."""
    fig = plots.plot_decision_boundary(lambda grid: 1 / (1 + np.exp(-grid[:, 0])), POINTS,
                                       np.array(["cat", "cat", "dog", "dog"]), resolution=10)
    scatters = _scatters(fig)
    assert len(scatters) == 2 and _marker_shape(scatters[0]) != _marker_shape(scatters[1])


def test_optimiser_paths_differ_in_line_style_and_marker_not_only_colour():
    paths = {name: np.column_stack([np.linspace(-1, 0, 5), np.linspace(1, 0, 5) * k])
             for k, name in enumerate(["SGD", "momentum", "Adam"], start=1)}
    fig = plots.plot_loss_contours(lambda a, b: a * a + b * b, (-1, 1), (-3, 3), trajectories=paths)
    lines = [line for line in fig.axes[0].lines if line.get_label() in paths]
    assert len({line.get_linestyle() for line in lines}) == len({line.get_marker() for line in lines}) == 3
    assert [line.get_color() for line in lines] == list(plots.SAFE_COLOURS[:3])


def test_decision_boundary_with_probabilities_draws_the_half_line_where_it_belongs():
    probability = lambda grid: 1 / (1 + np.exp(-5 * (grid[:, 0] - 0.25)))  # boundary at x1 = 0.25
    fig = plots.plot_decision_boundary(probability, POINTS, LABELS, resolution=41)
    line = [cs for cs in contour_sets(fig.axes[0]) if not cs.filled][0]
    np.testing.assert_allclose(line.levels, [0.5])
    vertices = np.concatenate([path.vertices for path in line.get_paths()])
    np.testing.assert_allclose(vertices[:, 0], 0.25, atol=0.02)


def test_decision_boundary_of_models_from_both_sides():
    torch = pytest.importorskip("torch")
    from course_lib.scratch import Linear

    torch_model = torch.nn.Linear(2, 3)
    fig = plots.plot_decision_boundary(torch_model, POINTS.astype(np.float32), LABELS, resolution=20)
    (filled,) = contour_sets(fig.axes[0])
    assert filled.filled and len(filled.levels) >= 2
    scratch_model = Linear(2, 1, dtype=np.float64)  # one logit per point: the boundary line is at 0
    # fixed weights: a random initialisation may give logits that all lie in [0, 1] on this grid, which
    # the plot rightly reads as probabilities (boundary at 0.5)
    scratch_model.weight.data[:] = [[2.0, -1.0]]
    scratch_model.bias.data[:] = [0.1]
    fig = plots.plot_decision_boundary(scratch_model, POINTS, resolution=20)
    line = [cs for cs in contour_sets(fig.axes[0]) if not cs.filled][0]
    np.testing.assert_allclose(line.levels, [0.0])


def test_decision_boundary_errors():
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        plots.plot_decision_boundary(lambda g: g[:, 0], np.zeros((4, 3)))
    with pytest.raises(ValueError, match="4 points but y has 3"):
        plots.plot_decision_boundary(lambda g: g[:, 0] > 0, POINTS, LABELS[:3], resolution=5)


# --- learning curves -------------------------------------------------------------------------------
def make_history():
    history = History()
    for loss, accuracy, val_loss, val_accuracy in ((1.0, 0.5, 1.1, 0.4), (0.6, 0.7, 0.8, 0.6), (0.4, 0.9, 0.9, 0.65)):
        history._append({"loss": loss, "accuracy": accuracy, "val_loss": val_loss, "val_accuracy": val_accuracy}, 0.1)
    history.best_epoch = 2
    return history


def test_learning_curves_one_panel_per_quantity_with_train_and_validation():
    history = make_history()
    fig = history.plot()
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    loss_ax = fig.axes[0]
    train_line, val_line = loss_ax.lines[:2]
    np.testing.assert_allclose(train_line.get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(train_line.get_ydata(), history.train["loss"])
    np.testing.assert_allclose(val_line.get_ydata(), history.val["loss"])
    best = loss_ax.lines[2]
    np.testing.assert_allclose(best.get_xdata(), [2, 2])  # the best-epoch marker
    assert [text.get_text() for text in loss_ax.get_legend().get_texts()] == ["train", "validation", "best epoch"]


def test_learning_curves_from_a_keras_style_dict_and_metric_selection():
    fig = plots.plot_learning_curves({"loss": [3, 2, 1], "val_loss": [3, 3, 2], "f1": [0.1, 0.2, 0.3]},
                                     metrics=["f1", "loss"])
    assert [ax.get_title() for ax in fig.axes] == ["loss", "f1"]
    assert len(fig.axes[1].lines) == 1  # no validation f1 recorded
    # 'val_loss' is the validation curve of 'loss' (a prefix read wrongly made a quantity '_loss')
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), [3, 3, 2])
    assert [text.get_text() for text in fig.axes[0].get_legend().get_texts()] == ["train", "validation"]
    with pytest.raises(ValueError, match="no 'recall'"):
        plots.plot_learning_curves({"loss": [1.0]}, metrics=["recall"])


# --- confusion matrix ------------------------------------------------------------------------------
def test_confusion_matrix_counts_annotations_and_names():
    cm = np.array([[5, 1, 0], [2, 3, 0], [0, 0, 0]])
    fig = plots.plot_confusion_matrix(cm, ["cat", "dog", "emu"])
    ax = image_axes(fig)[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), cm)
    assert [text.get_text() for text in ax.texts] == [str(v) for v in cm.ravel()]
    assert [label.get_text() for label in ax.get_xticklabels()] == ["cat", "dog", "emu"]
    assert [label.get_text() for label in ax.get_yticklabels()] == ["cat", "dog", "emu"]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    assert len(fig.axes) == 2  # the matrix and its colour bar


def test_confusion_matrix_normalized_rows_match_metrics():
    from course_lib.metrics import confusion_matrix

    y_true, y_pred = np.array([0, 0, 1, 1, 1, 2]), np.array([0, 1, 1, 1, 0, 1])
    fig = plots.plot_confusion_matrix(confusion_matrix(y_true, y_pred), normalize="true", colorbar=False)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), confusion_matrix(y_true, y_pred, normalize="true"))
    assert ax.texts[0].get_text() == "0.50"
    with pytest.raises(ValueError, match="must be square"):
        plots.plot_confusion_matrix(np.zeros((2, 3)))


# --- image grid ------------------------------------------------------------------------------------
def test_image_grid_titles_and_misclassified_in_red():
    images = np.random.default_rng(0).random((5, 6, 6))
    fig = plots.plot_image_grid(images, true_labels=[0, 1, 2, 1, 0], pred_labels=[0, 2, 2, 1, 1],
                                class_names=["zero", "one", "two"], ncols=3)
    assert len(fig.axes) == 6  # 2 rows × 3 columns, the last one empty
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 5
    np.testing.assert_allclose(drawn[1].images[0].get_array(), images[1])
    titles = [ax.get_title() for ax in drawn]
    assert titles == ["zero", "two\n(true: one)", "two", "one", "one\n(true: zero)"]
    colours = [matplotlib.colors.to_hex(ax.title.get_color()) for ax in drawn]
    red, black = matplotlib.colors.to_hex("red"), matplotlib.colors.to_hex("black")
    assert colours == [black, red, black, black, red]


def test_image_grid_accepts_channels_first_colour_images():
    images = np.random.default_rng(1).random((2, 3, 4, 5))  # torch layout (N, C, H, W)
    fig = plots.plot_image_grid(images, pred_labels=[3, 4])
    drawn = [ax for ax in fig.axes if ax.images]
    assert drawn[0].images[0].get_array().shape == (4, 5, 3)
    assert [ax.get_title() for ax in drawn] == ["3", "4"]
    with pytest.raises(ValueError, match="images must have shape"):
        plots.plot_image_grid(np.zeros((2, 5)))


# --- attention ---------------------------------------------------------------------------------------
def test_attention_one_panel_per_head_with_token_labels():
    weights = np.random.default_rng(2).dirichlet(np.ones(4), size=(2, 3))  # (heads=2, T_q=3, T_k=4)
    fig = plots.plot_attention(weights, x_tokens=["a", "b", "c", "d"], y_tokens=["x", "y", "z"])
    heads = image_axes(fig)
    assert len(heads) == 2 and len(fig.axes) == 3  # two heads and a shared colour bar
    for head, ax in enumerate(heads):
        np.testing.assert_allclose(ax.images[0].get_array(), weights[head])
        assert ax.get_title() == f"head {head}"
        assert [label.get_text() for label in ax.get_xticklabels()] == ["a", "b", "c", "d"]
        assert [label.get_text() for label in ax.get_yticklabels()] == ["x", "y", "z"]
    with pytest.raises(ValueError, match="x_tokens has 2 tokens"):
        plots.plot_attention(weights[0], x_tokens=["a", "b"])


# --- filters -------------------------------------------------------------------------------------------
def test_filters_rgb_for_three_input_channels():
    weights = np.random.default_rng(3).normal(size=(4, 3, 3, 3))
    fig = plots.plot_filters(weights, ncols=2)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 4
    panel = drawn[2].images[0].get_array()
    assert panel.shape == (3, 3, 3)
    expected = weights[2].transpose(1, 2, 0)
    np.testing.assert_allclose(panel, (expected - expected.min()) / (expected.max() - expected.min()))


def test_filters_one_channel_on_a_shared_symmetric_scale():
    weights = np.random.default_rng(4).normal(size=(6, 2, 3, 3))
    fig = plots.plot_filters(weights, channel=1)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 6
    np.testing.assert_allclose(drawn[5].images[0].get_array(), weights[5, 1])
    limit = np.abs(weights[:, 1]).max()
    assert drawn[0].images[0].get_clim() == pytest.approx((-limit, limit))
    with pytest.raises(ValueError, match="channel 2 out of range"):
        plots.plot_filters(weights, channel=2)


# --- loss contours -------------------------------------------------------------------------------------
def test_loss_contours_with_trajectories():
    path = np.array([[2.0, 1.0], [1.0, 0.5], [0.2, 0.1]])
    fig = plots.plot_loss_contours(lambda a, b: a ** 2 + 10 * b ** 2, (-3, 3), (-2, 2),
                                   trajectories={"SGD": path}, resolution=30, levels=10)
    ax = fig.axes[0]
    assert contour_sets(ax) and not contour_sets(ax)[0].filled
    np.testing.assert_allclose(np.column_stack([ax.lines[0].get_xdata(), ax.lines[0].get_ydata()]), path)
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["SGD"]
    with pytest.raises(ValueError, match="one value per grid point"):
        plots.plot_loss_contours(lambda a, b: 1.0 + 0 * a[0], (0, 1), (0, 1), resolution=5)


def test_attention_without_tokens_and_label_grids_with_one_hot_labels():
    """Found by an audit: plot_attention failed on every call without x_tokens; one-hot labels
    were flattened into wrong titles."""
    figure = plots.plot_attention(np.full((3, 3), 1 / 3))
    assert [label.get_text() for label in figure.axes[0].get_xticklabels()] == ["0", "1", "2"]
    with pytest.raises(ValueError, match="head_names has 1 names for 2 heads"):
        plots.plot_attention(np.full((2, 3, 3), 1 / 3), head_names=["a"])
    with pytest.raises(ValueError, match=r"argmax\(axis=1\)"):
        plots.plot_image_grid(np.zeros((4, 8, 8)), true_labels=np.eye(4))


def test_a_failed_decision_boundary_leaves_no_figure_open():
    before = plt.get_fignums()
    with pytest.raises(ValueError, match="rows for"):
        plots.plot_decision_boundary(lambda grid: np.zeros(3), np.zeros((4, 2)))
    assert plt.get_fignums() == before


# --- audit: rules the tests above did not pin ---------------------------------------------------------
def test_decision_boundary_grid_spans_each_axis_own_range():
    """x1 and x2 each get their own range plus padding: a grid built from x1's range for both axes
    drew data spread along x2 (here 0–100) on the wrong region — invisible with square data."""
    X = np.array([[0.0, 0.0], [1.0, 100.0], [0.5, 50.0]])
    seen = []

    def predict(grid):
        seen.append(grid)
        return (grid[:, 1] > 50).astype(int)

    fig = plots.plot_decision_boundary(predict, X, resolution=7, padding=1.0)
    (grid,) = seen
    assert (grid[:, 0].min(), grid[:, 0].max()) == pytest.approx((-1.0, 2.0))
    assert (grid[:, 1].min(), grid[:, 1].max()) == pytest.approx((-1.0, 101.0))
    assert fig.axes[0].get_ylim() == pytest.approx((-1.0, 101.0))


def test_decision_boundary_legend_uses_the_class_names():
    fig = plots.plot_decision_boundary(lambda grid: (grid[:, 0] > 0).astype(int), POINTS, LABELS, resolution=10,
                                       class_names=["no", "yes"])
    assert [text.get_text() for text in fig.axes[0].get_legend().get_texts()] == ["no", "yes"]


def test_decision_boundary_resolution_below_two_is_refused_before_a_figure_opens():
    before = plt.get_fignums()
    with pytest.raises(ValueError, match="resolution must be at least 2, got 1"):
        plots.plot_decision_boundary(lambda grid: grid[:, 0] > 0, POINTS, resolution=1)
    assert plt.get_fignums() == before


def test_learning_curves_into_given_axes_need_one_per_panel():
    _, axes = plt.subplots(1, 1)
    with pytest.raises(ValueError, match=r"got 1 axes for 2 panels \['loss', 'accuracy'\]"):
        plots.plot_learning_curves(make_history(), axes=axes)
    _, axes = plt.subplots(1, 2)
    fig = plots.plot_learning_curves(make_history(), axes=axes)
    assert fig is axes[0].figure and [ax.get_title() for ax in axes] == ["loss", "accuracy"]


def test_confusion_matrix_normalized_by_column_and_with_an_empty_row():
    """normalize='pred' divides each column by its total; a class with no samples keeps a row of
    zeros (not NaN from 0/0), the rule of ``metrics.confusion_matrix``."""
    cm = np.array([[2, 1, 0], [2, 3, 0], [0, 0, 0]])
    fig = plots.plot_confusion_matrix(cm, normalize="pred", colorbar=False)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), [[0.5, 0.25, 0], [0.5, 0.75, 0], [0, 0, 0]])
    fig = plots.plot_confusion_matrix(cm, normalize="true", colorbar=False)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), [[2 / 3, 1 / 3, 0], [0.4, 0.6, 0], [0, 0, 0]])
    assert [text.get_text() for text in fig.axes[0].texts][-3:] == ["0.00", "0.00", "0.00"]


def test_confusion_matrix_text_is_white_on_dark_cells():
    fig = plots.plot_confusion_matrix(np.array([[9, 1], [0, 5]]), colorbar=False)
    colours = [matplotlib.colors.to_hex(text.get_color()) for text in fig.axes[0].texts]
    white, black = matplotlib.colors.to_hex("white"), matplotlib.colors.to_hex("black")
    assert colours == [white, black, black, white]  # 9 and 5 lie above the middle (4.5), 1 and 0 below


def test_image_grid_draws_at_most_max_images_and_checks_labels_against_class_names():
    images = np.zeros((10, 4, 4))
    fig = plots.plot_image_grid(images, pred_labels=np.arange(10) % 3, max_images=4, ncols=4)
    assert len([ax for ax in fig.axes if ax.images]) == 4
    with pytest.raises(ValueError, match="labels up to 3 but class_names has 3 names"):
        plots.plot_image_grid(images[:4], true_labels=[0, 1, 2, 3], class_names=["a", "b", "c"])


def test_attention_colour_scale_is_zero_to_one_and_heads_take_their_names():
    weights = np.full((2, 2, 2), 0.5)
    weights[1] = [[0.3, 0.7], [0.4, 0.6]]
    fig = plots.plot_attention(weights, head_names=["syntax", "position"])
    heads = image_axes(fig)
    assert [ax.get_title() for ax in heads] == ["syntax", "position"]
    assert all(ax.images[0].get_clim() == (0, 1) for ax in heads)


def test_filters_at_most_max_filters_one_channels_own_scale_and_no_negative_channel():
    """The grey scale is the shown channel's own (a stronger other channel washed it out); at
    most ``max_filters`` panels; channel -1 is out of range, not silently the last channel."""
    weights = np.zeros((10, 2, 3, 3))
    weights[:, 0] = 0.1
    weights[0, 0, 0, 0] = -0.2
    weights[:, 1] = 5.0
    fig = plots.plot_filters(weights, channel=0, max_filters=4)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 4
    assert drawn[0].images[0].get_clim() == pytest.approx((-0.2, 0.2))
    with pytest.raises(ValueError, match="channel -1 out of range"):
        plots.plot_filters(weights, channel=-1)


def test_loss_contours_log_levels_are_geometric():
    fig = plots.plot_loss_contours(lambda a, b: 1 + a ** 2 + b ** 2, (-3, 3), (-3, 3), resolution=20, levels=5,
                                   log_levels=True)
    (contours,) = contour_sets(fig.axes[0])
    levels = np.asarray(contours.levels)
    grid = np.linspace(-3, 3, 20)  # the levels run from the grid's lowest loss to its highest
    assert levels[0] == pytest.approx(1 + 2 * np.min(grid ** 2)) and levels[-1] == pytest.approx(19.0)
    np.testing.assert_allclose(levels[1:] / levels[:-1], (levels[-1] / levels[0]) ** (1 / (len(levels) - 1)))


def test_loss_contours_mark_the_start_with_a_circle_and_the_end_with_a_star():
    path = np.array([[2.0, 1.0], [1.0, 0.5], [0.2, 0.1]])
    fig = plots.plot_loss_contours(lambda a, b: a ** 2 + b ** 2, (-3, 3), (-2, 2), trajectories={"SGD": path},
                                   resolution=10)
    _, start, end = fig.axes[0].lines
    assert start.get_marker() == "o" and (start.get_xdata()[0], start.get_ydata()[0]) == (2.0, 1.0)
    assert end.get_marker() == "*" and (end.get_xdata()[0], end.get_ydata()[0]) == (0.2, 0.1)


# --- found by an audit of the plots (2026-12-06) ------------------------------------------------------
def _face_colours(fig):
    """The colour of each point, in the order of the classes."""
    return np.concatenate([scatter.get_facecolors() for scatter in _scatters(fig)])


def test_a_class_absent_from_y_keeps_names_and_colours_in_step():
    """With y in {0, 2} the legend labelled class 2 "dog" (the second name), and regions were coloured
    on the predicted classes' scale, points on y's: a region of class 2 took class 1's colour."""
    X = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    fig = plots.plot_decision_boundary(lambda grid: np.full(len(grid), 2), X, np.array([0, 2, 2]), resolution=5,
                                       class_names=["cat", "dog", "bird"])
    assert [text.get_text() for text in fig.axes[0].get_legend().get_texts()] == ["cat", "bird"]
    (filled,) = contour_sets(fig.axes[0])
    cmap, norm = plt.get_cmap("coolwarm"), plt.Normalize(-0.5, 1.5)  # classes 0 and 2: positions 0 and 1
    points = _face_colours(fig)
    np.testing.assert_allclose(points[1][:3], cmap(norm(1))[:3])  # a point of class 2 …
    # … and the regions: the same colour map on the same scale (class positions 0 and 1)
    assert (filled.norm.vmin, filled.norm.vmax) == (-0.5, 1.5) and filled.cmap.name == "coolwarm"
    np.testing.assert_allclose(points[0][:3], cmap(norm(0))[:3])


def test_string_labels_are_classes_with_a_legend():
    X = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    fig = plots.plot_decision_boundary(lambda grid: np.where(grid[:, 0] > 0, "dog", "cat"), X,
                                       np.array(["cat", "dog", "bird"]), resolution=5)
    assert [text.get_text() for text in fig.axes[0].get_legend().get_texts()] == ["bird", "cat", "dog"]
    with pytest.raises(ValueError, match="same kind of labels"):
        plots.plot_decision_boundary(lambda grid: (grid[:, 0] > 0).astype(int), X, np.array(["a", "b", "c"]))


@pytest.mark.parametrize("call", [
    lambda: plots.plot_decision_boundary(lambda g: g[:, 0] > 0, np.array([[np.nan, 1.0], [0.0, 1.0]])),
    lambda: plots.plot_decision_boundary(lambda g: (g[:, 0] > 0).astype(int), POINTS, np.array([0, 5, 0, 5]),
                                         class_names=["a", "b"]),
    lambda: plots.plot_loss_contours(lambda a, b: a * a + b * b, (-1, 1), (-1, 1), trajectories={"x": np.zeros((3, 3))}),
    lambda: plots.plot_confusion_matrix(np.zeros((0, 0))),
    lambda: plots.plot_learning_curves({"loss": []}),
    lambda: plots.plot_filters(np.zeros((4, 1, 3, 3)), max_filters=0),
    lambda: plots.plot_image_grid(np.zeros((2, 4, 4), dtype=complex)),
], ids=["nan-points", "names-too-few", "bad-trajectory", "empty-matrix", "no-epochs", "no-filters", "complex-images"])
def test_a_refused_input_leaves_no_figure_open(call):
    before = plt.get_fignums()
    with pytest.raises((ValueError, TypeError)):
        call()
    assert plt.get_fignums() == before


def test_learning_curves_of_a_run_without_validation_data():
    fig = plots.plot_learning_curves({"train": {"loss": [1.0, 0.5]}, "val": None})
    assert len(fig.axes) == 1

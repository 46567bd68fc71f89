"""Plots the book draws again and again, each returning its matplotlib ``Figure``.

- ``plot_decision_boundary``: a classifier's regions on 2-D data (Chapter "The artificial neuron" on).
- ``plot_learning_curves``: training and validation loss/metrics per epoch (``History.plot``).
- ``plot_confusion_matrix``: counts or rates, annotated (Chapter "Frequently asked questions" (How do I evaluate a model?)).
- ``plot_image_grid``: images titled with predicted/true labels, mistakes in red.
- ``plot_attention``: attention weights as a heat map, one panel per head (Chapter "Attention and Transformers").
- ``plot_filters``: the kernels of a convolution layer (Chapter "Convolutional networks").
- ``plot_loss_contours``: contour lines of a two-parameter loss with optimiser paths
  (Chapter "Optimisation").

No function calls ``plt.show()``: figures are created with ``pyplot`` so that they appear in a
notebook (and in a script after ``plt.show()``); keep the returned figure to save it
(``fig.savefig(...)``).  Pass ``ax=`` to draw into an existing axes instead.
Inputs may be NumPy arrays or torch tensors (converted without importing torch).
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

import matplotlib.pyplot as plt
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .checks import host_array

MISCLASSIFIED_COLOR = "red"


def _numpy(value) -> np.ndarray:
    return host_array(value)


def _closes_its_figures_on_error(plot):
    """``plot`` that closes the figures it opened when it raises: a refused input leaves nothing open
    (pyplot keeps every open figure, and a notebook would show the empty one)."""

    @functools.wraps(plot)
    def wrapped(*args, **kwargs):
        before = set(plt.get_fignums())
        try:
            return plot(*args, **kwargs)
        except BaseException:
            for number in set(plt.get_fignums()) - before:
                plt.close(number)
            raise

    return wrapped


def _figure_and_axes(ax, nrows: int = 1, ncols: int = 1, figsize=None, squeeze: bool = True):
    if ax is not None:
        return ax.figure, ax
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=squeeze)
    return fig, axes


# --- decision boundaries --------------------------------------------------------------------------
def _predict_grid(predict_fn, grid: np.ndarray) -> np.ndarray:
    """Call ``predict_fn`` on the grid; a torch or scratch model is run through ``training.predict``."""
    from .scratch.module import Module as ScratchModule
    from .training import predict
    from .training.backends import _is_torch_module

    if isinstance(predict_fn, ScratchModule) or _is_torch_module(predict_fn):

        return predict(predict_fn, grid, batch_size=4096)
    if not callable(predict_fn):
        raise TypeError(f"predict_fn must be a function of an (M, 2) array or a model, got {type(predict_fn).__name__}")
    return _numpy(predict_fn(grid))


# Told apart without colour: a marker per class, a line style per path; and colours that colour-blind
# readers can tell apart (Okabe & Ito's palette, https://jfly.uni-koeln.de/color/)
CLASS_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
PATH_STYLES = ("-", "--", "-.", ":")
SAFE_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442")


@_closes_its_figures_on_error
def plot_decision_boundary(predict_fn, X, y=None, *, ax=None, resolution: int = 200, padding: float = 0.5,
                           cmap: str = "coolwarm", class_names: Optional[Sequence[str]] = None) -> Figure:
    """Colour the plane by the class ``predict_fn`` gives each point, and scatter the data on top.

    ``predict_fn`` maps an (M, 2) float array to labels (M,), to class scores (M, C) (the
    argmax is used), or to one score per point (M,) or (M, 1): then the colour shows the
    score and a black line marks the decision boundary (0.5 if every score lies in [0, 1],
    as for probabilities, else 0, as for logits).  A torch or scratch model may be passed
    directly.  The grid spans the data plus ``padding`` with ``resolution`` points per axis.
    """
    X = _numpy(X)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary needs 2-D points X of shape (N, 2), got {X.shape}")
    if X.dtype.kind not in "biuf" or not np.all(np.isfinite(X)):
        raise ValueError("plot_decision_boundary needs finite numeric points X (no NaN or infinity)")
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    if y is not None:
        y = _numpy(y).reshape(-1)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} points but y has {len(y)} labels")
    (x_min, y_min), (x_max, y_max) = X.min(axis=0) - padding, X.max(axis=0) + padding
    xx, yy = np.meshgrid(np.linspace(x_min, x_max, resolution), np.linspace(y_min, y_max, resolution))
    dtype = X.dtype if X.dtype.kind == "f" else np.float32
    grid = np.column_stack([xx.ravel(), yy.ravel()]).astype(dtype)
    output = _predict_grid(predict_fn, grid)
    if output.shape[0] != grid.shape[0]:
        raise ValueError(f"predict_fn returned {output.shape[0]} rows for {grid.shape[0]} grid points")
    if output.ndim == 2 and output.shape[1] > 1:
        output = output.argmax(axis=1)
    output = output.reshape(xx.shape)
    scores = output.dtype.kind == "f" and not np.all(output == np.round(output))
    classes = None
    if not scores:  # class labels: one colour per class, the same for the regions and the points
        if y is not None and (output.dtype.kind in "USO") != (y.dtype.kind in "USO"):
            raise ValueError(f"predict_fn gives labels of dtype {output.dtype} but y holds {y.dtype}: "
                             "use the same kind of labels (numbers or strings) for both")
        classes = np.unique(output if y is None else np.concatenate([output.ravel(), y]))
        if class_names is not None and classes.dtype.kind in "biu" and (classes.min() < 0 or
                                                                          classes.max() >= len(class_names)):
            raise ValueError(f"class_names has {len(class_names)} names, but the classes are {classes.tolist()}")
    fig, ax = _figure_and_axes(ax, figsize=(5, 4.5))  # only now: a failure above leaves no figure open
    if scores:
        threshold = 0.5 if output.min() >= 0 and output.max() <= 1 else 0.0
        ax.contourf(xx, yy, output, levels=20, cmap=cmap, alpha=0.6)
        ax.contour(xx, yy, output, levels=[threshold], colors="black", linewidths=1.5)
    else:
        # class k (its position in the sorted classes) gets colour norm(k), in the regions and the points
        norm, colormap = Normalize(vmin=-0.5, vmax=len(classes) - 0.5), plt.get_cmap(cmap)
        ax.contourf(xx, yy, np.searchsorted(classes, output), levels=np.arange(len(classes) + 1) - 0.5,
                    cmap=colormap, norm=norm, alpha=0.4)
    if y is None:
        ax.scatter(X[:, 0], X[:, 1], c="k", s=10)
    elif scores:
        # each class its own marker too: two colours of a diverging map can look alike (in grey, or to a
        # colour-blind reader: coolwarm's blue and red have the same lightness)
        values, codes = np.unique(y, return_inverse=True)  # string labels too: coloured by their rank
        for index in range(len(values)):
            chosen = codes == index
            ax.scatter(X[chosen, 0], X[chosen, 1], c=codes[chosen], cmap=cmap, vmin=0, vmax=max(len(values) - 1, 1),
                       marker=CLASS_MARKERS[index % len(CLASS_MARKERS)], edgecolors="k", s=20)
    else:
        for value in np.unique(y):
            position = int(np.searchsorted(classes, value))
            chosen = y == value
            ax.scatter(X[chosen, 0], X[chosen, 1], color=colormap(norm(position)), edgecolors="k", s=20,
                       marker=CLASS_MARKERS[position % len(CLASS_MARKERS)])
        if class_names is not None or classes.dtype.kind in "USO":
            shown = np.unique(y)  # a legend entry per class in y, named by its own value
            names = [class_names[int(value)] if class_names is not None and classes.dtype.kind in "biu" else str(value)
                     for value in shown]
            positions = [int(np.searchsorted(classes, value)) for value in shown]
            handles = [Line2D([], [], marker=CLASS_MARKERS[position % len(CLASS_MARKERS)], linestyle="",
                              markeredgecolor="k", markerfacecolor=colormap(norm(position))) for position in positions]
            ax.legend(handles, names, loc="best", fontsize="small")
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(y_min, y_max)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    return fig


# --- learning curves -----------------------------------------------------------------------------
def _curves(history) -> Tuple[Dict[str, Sequence[float]], Dict[str, Sequence[float]]]:
    """(train, val) dictionaries from a History, a {'train':…, 'val':…} dict or a Keras-style flat dict."""
    if hasattr(history, "train") and hasattr(history, "val"):
        return dict(history.train), dict(history.val)
    if isinstance(history, Mapping):
        if "train" in history and isinstance(history["train"], Mapping):
            return dict(history["train"]), dict(history.get("val") or {})  # "val": None, a run without one
        train = {key: value for key, value in history.items() if not key.startswith("val_")}
        val = {key[4:]: value for key, value in history.items() if key.startswith("val_")}
        return train, val
    raise TypeError(f"expected a History or a dict of per-epoch lists, got {type(history).__name__}")


@_closes_its_figures_on_error
def plot_learning_curves(history, metrics: Optional[Sequence[str]] = None, *, axes=None,
                         figsize=None) -> Figure:
    """One panel per quantity (loss first, then each metric): the training curve and, if
    recorded, the validation curve (dashed) against the epoch number.  A dotted grey vertical line
    marks ``history.best_epoch`` when there is one.  ``metrics`` picks and orders the panels.
    """
    train, val = _curves(history)
    names = list(metrics) if metrics is not None else list(dict.fromkeys(list(train) + list(val)))
    if "loss" in names:
        names.remove("loss")
        names.insert(0, "loss")
    if not names:
        raise ValueError("the history is empty: nothing to plot")
    for name in names:
        if name not in train and name not in val:
            raise ValueError(f"the history has no '{name}'; it has {sorted(set(train) | set(val))}")
        if not any(len(source.get(name) or ()) for source in (train, val)):
            raise ValueError(f"the history's '{name}' has no epochs yet: nothing to plot")
    if axes is None:
        fig, axes = plt.subplots(1, len(names), figsize=figsize or (4.2 * len(names), 3.4), squeeze=False)
        axes = axes[0]
    else:
        axes = np.atleast_1d(axes)
        if len(axes) != len(names):
            raise ValueError(f"got {len(axes)} axes for {len(names)} panels {names}")
        fig = axes[0].figure
    best_epoch = getattr(history, "best_epoch", None)
    for ax, name in zip(axes, names):
        for label, source, style in (("train", train, "-"), ("validation", val, "--")):
            if name in source and len(source[name]):
                epochs = np.arange(1, len(source[name]) + 1)
                ax.plot(epochs, source[name], style, marker="o", markersize=3, label=label)
        if best_epoch is not None:
            ax.axvline(best_epoch, color="gray", linestyle=":", linewidth=1, label="best epoch")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# --- confusion matrix -----------------------------------------------------------------------------
@_closes_its_figures_on_error
def plot_confusion_matrix(cm, class_names: Optional[Sequence[str]] = None, *, normalize: Optional[str] = None,
                          ax=None, cmap: str = "Blues", colorbar: bool = True) -> Figure:
    """Draw a confusion matrix (rows: true class, columns: predicted class), every cell annotated.

    ``cm`` holds counts (e.g. from ``course_lib.metrics.confusion_matrix``); ``normalize``
    ('true', 'pred', 'all') turns them into rates here, rows or columns with no samples
    staying 0 — the same rule as ``metrics.confusion_matrix``.
    """
    cm = _numpy(cm).astype(np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.size == 0:
        raise ValueError(f"a confusion matrix must be square (K, K) with K ≥ 1, got shape {cm.shape}")
    n_classes = cm.shape[0]
    if class_names is None:
        class_names = [str(index) for index in range(n_classes)]
    if len(class_names) != n_classes:
        raise ValueError(f"{len(class_names)} class names for a {n_classes}×{n_classes} matrix")
    if normalize is not None:
        axis = {"true": 1, "pred": 0, "all": None}.get(normalize, "bad")
        if axis == "bad":
            raise ValueError(f"normalize must be None, 'true', 'pred' or 'all', got {normalize!r}")
        totals = cm.sum(axis=axis, keepdims=axis is not None)
        cm = np.divide(cm, totals, out=np.zeros_like(cm), where=np.asarray(totals) != 0)
    fig, ax = _figure_and_axes(ax, figsize=(1.0 + 0.6 * n_classes, 0.6 + 0.6 * n_classes))
    image = ax.imshow(cm, cmap=cmap, vmin=0)
    if colorbar:
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    integer_counts = normalize is None and np.all(cm == np.round(cm))
    middle = (cm.max() + cm.min()) / 2
    for i in range(n_classes):  # K² labels: a loop over cells is the only way to place text
        for j in range(n_classes):
            text = f"{int(cm[i, j])}" if integer_counts else f"{cm[i, j]:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize="small",
                    color="white" if cm[i, j] > middle else "black")
    ax.set_xticks(range(n_classes), labels=list(class_names), rotation=45, ha="right")
    ax.set_yticks(range(n_classes), labels=list(class_names))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    return fig


# --- images -------------------------------------------------------------------------------------
def _as_image_stack(images) -> np.ndarray:
    """(N, H, W), (N, H, W, C) or torch's (N, C, H, W) with C ∈ {1, 3, 4} → (N, H, W[, C])."""
    images = _numpy(images)
    if images.ndim == 4 and images.shape[1] in (1, 3, 4) and images.shape[-1] not in (1, 3, 4):
        images = images.transpose(0, 2, 3, 1)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] not in (3, 4)):
        raise ValueError(f"images must have shape (N, H, W), (N, H, W, C) or (N, C, H, W), got {images.shape}")
    return images


def _name(label, class_names) -> str:
    label = label.item() if hasattr(label, "item") else label
    if class_names is not None and isinstance(label, (int, np.integer)):
        return str(class_names[int(label)])
    return str(label)


@_closes_its_figures_on_error
def plot_image_grid(images, true_labels=None, pred_labels=None, class_names: Optional[Sequence[str]] = None, *,
                    ncols: int = 8, max_images: int = 32, cmap: str = "gray", panel_size: float = 1.4) -> Figure:
    """A grid of images, each titled with its label; misclassified ones in red.

    With both label arrays a title reads "pred" when right and "pred (true: …)" when wrong
    (then in red); with one of them it is that label.  ``class_names`` maps integer labels
    to names.  At most ``max_images`` are drawn, ``ncols`` per row.
    """
    images = _as_image_stack(images)
    n_images = min(len(images), max_images)
    if n_images == 0:
        raise ValueError("plot_image_grid got no images")
    labels = {}
    for name, values in (("true_labels", true_labels), ("pred_labels", pred_labels)):
        if values is not None:
            values = _numpy(values)
            if values.ndim != 1:
                raise ValueError(f"{name} must be a 1-D array of class labels, got shape {values.shape} (one-hot rows "
                                 "or scores? take .argmax(axis=1) first)")
            if class_names is not None and values.size and values.dtype.kind in "iu" and \
                    not 0 <= values[:n_images].min() <= values[:n_images].max() < len(class_names):
                raise ValueError(f"{name} holds labels up to {values[:n_images].max()} but class_names has "
                                 f"{len(class_names)} names")
            if len(values) < n_images:
                raise ValueError(f"{name} has {len(values)} entries for {n_images} images")
            labels[name] = values
    ncols = max(1, min(ncols, n_images))
    nrows = -(-n_images // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols, (panel_size + 0.3) * nrows), squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index >= n_images:
            continue
        ax.imshow(images[index], cmap=cmap if images.ndim == 3 else None)
        true = labels.get("true_labels")
        pred = labels.get("pred_labels")
        if pred is not None and true is not None:
            wrong = pred[index] != true[index]
            title = _name(pred[index], class_names)
            if wrong:
                title += f"\n(true: {_name(true[index], class_names)})"
            ax.set_title(title, fontsize="small", color=MISCLASSIFIED_COLOR if wrong else "black")
        elif pred is not None or true is not None:
            ax.set_title(_name((pred if pred is not None else true)[index], class_names), fontsize="small")
    fig.tight_layout()
    return fig


# --- attention ----------------------------------------------------------------------------------
@_closes_its_figures_on_error
def plot_attention(weights, x_tokens: Optional[Sequence[str]] = None, y_tokens: Optional[Sequence[str]] = None, *,
                   ax=None, cmap: str = "viridis", head_names: Optional[Sequence[str]] = None) -> Figure:
    """Attention weights as a heat map: row i = query ``y_tokens[i]``, column j = key ``x_tokens[j]``.

    ``weights`` is (T_query, T_key) or (heads, T_query, T_key) — one panel per head — e.g. the
    ``average_attn_weights=False`` output of multi-head attention for one sample.
    Each row of a softmax attention map sums to 1, so the colour scale is fixed to [0, 1].
    """
    weights = _numpy(weights).astype(np.float64)
    if weights.ndim == 2:
        weights = weights[None]
    if weights.ndim != 3:
        raise ValueError(f"attention weights must be (T_query, T_key) or (heads, T_query, T_key), got {weights.shape}")
    n_heads, n_queries, n_keys = weights.shape
    for name, tokens, expected in (("x_tokens", x_tokens, n_keys), ("y_tokens", y_tokens, n_queries)):
        if tokens is not None and len(tokens) != expected:
            raise ValueError(f"{name} has {len(tokens)} tokens but the weights have {expected} along that axis")
    if ax is not None and n_heads != 1:
        raise ValueError("pass ax= only for a single head; several heads get a figure of their own")
    if head_names is not None and len(head_names) != n_heads:
        raise ValueError(f"head_names has {len(head_names)} names for {n_heads} heads")
    if ax is None:
        fig, axes = plt.subplots(1, n_heads, figsize=(0.5 * n_keys * n_heads + 2, 0.5 * n_queries + 1.5),
                                 squeeze=False)
        axes = axes[0]
    else:
        fig, axes = ax.figure, [ax]
    for head, ax_head in enumerate(axes):
        image = ax_head.imshow(weights[head], cmap=cmap, vmin=0, vmax=1, aspect="auto")
        ax_head.set_xticks(range(n_keys))  # positions 0, 1, … unless tokens name them
        if x_tokens is not None:
            ax_head.set_xticklabels(list(x_tokens), rotation=90)
        ax_head.set_yticks(range(n_queries))
        if y_tokens is not None:
            ax_head.set_yticklabels(list(y_tokens))
        ax_head.set_xlabel("key")
        if head == 0:
            ax_head.set_ylabel("query")
        if n_heads > 1:
            ax_head.set_title(head_names[head] if head_names is not None else f"head {head}")
    fig.colorbar(image, ax=list(axes), fraction=0.046, pad=0.04)
    return fig


# --- convolution filters ------------------------------------------------------------------------
@_closes_its_figures_on_error
def plot_filters(weights, *, channel: Optional[int] = None, ncols: int = 8, max_filters: int = 64,
                 cmap: str = "gray", panel_size: float = 0.9) -> Figure:
    """The kernels of a convolution layer, one panel per output channel.

    ``weights`` has torch's layout (out_channels, in_channels, kH, kW) (a scratch or torch
    ``Conv2d.weight``); (out_channels, kH, kW) is also accepted.  With three input channels
    and no ``channel`` each filter is shown in colour (scaled to [0, 1] per filter); otherwise
    input channel ``channel`` (default 0) is shown in grey, on one colour scale symmetric
    around 0 for all filters so that their strengths compare.
    """
    if isinstance(max_filters, bool) or not isinstance(max_filters, (int, np.integer)) or max_filters < 1:
        raise ValueError(f"max_filters must be a positive integer, got {max_filters!r}")
    weights = _numpy(weights).astype(np.float64)
    if weights.ndim == 3:
        weights = weights[:, None]
    if weights.ndim != 4:
        raise ValueError(f"filters must have shape (out_channels, in_channels, kH, kW), got {weights.shape}")
    n_filters = min(weights.shape[0], max_filters)
    weights = weights[:n_filters]
    colour = weights.shape[1] == 3 and channel is None
    if colour:
        low = weights.min(axis=(1, 2, 3), keepdims=True)
        span = weights.max(axis=(1, 2, 3), keepdims=True) - low
        panels = ((weights - low) / np.where(span == 0, 1, span)).transpose(0, 2, 3, 1)
    else:
        channel = 0 if channel is None else channel
        if not 0 <= channel < weights.shape[1]:
            raise ValueError(f"channel {channel} out of range for {weights.shape[1]} input channels")
        panels = weights[:, channel]
        limit = np.abs(panels).max() or 1.0
    ncols = max(1, min(ncols, n_filters))
    nrows = -(-n_filters // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols, panel_size * nrows), squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index < n_filters:
            if colour:
                ax.imshow(panels[index])
            else:
                ax.imshow(panels[index], cmap=cmap, vmin=-limit, vmax=limit)
    fig.tight_layout()
    return fig


# --- loss surfaces -------------------------------------------------------------------------------
@_closes_its_figures_on_error
def plot_loss_contours(loss_fn: Callable[[np.ndarray, np.ndarray], np.ndarray], xlim: Tuple[float, float],
                       ylim: Tuple[float, float], *, trajectories: Optional[Mapping[str, Any]] = None,
                       resolution: int = 100, levels: int = 30, log_levels: bool = False, ax=None,
                       cmap: str = "viridis") -> Figure:
    """Contour lines of a loss of two parameters, with optimiser paths drawn on top.

    ``loss_fn(w1, w2)`` must accept grids (arrays of equal shape) and return the loss at every
    point, e.g. ``lambda a, b: a**2 + 10 * b**2``.  ``trajectories`` maps a name (the
    optimiser) to its (T, 2) sequence of parameter values; each is a line from a circle
    (start) to a star (end).  ``log_levels`` spaces the contours logarithmically, which suits
    losses such as Rosenbrock's valley.
    """
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    w1, w2 = np.meshgrid(np.linspace(*xlim, resolution), np.linspace(*ylim, resolution))
    surface = _numpy(loss_fn(w1, w2))
    if surface.shape != w1.shape:
        raise ValueError(f"loss_fn must return one value per grid point, shape {w1.shape}; got {surface.shape}")
    fig, ax = _figure_and_axes(ax, figsize=(5.5, 4.5))
    if log_levels:
        low = max(surface.min(), 1e-12 * max(surface.max(), 1e-12))
        contour_levels = np.geomspace(low, surface.max(), levels) if surface.max() > low else levels
    else:
        contour_levels = levels
    ax.contour(w1, w2, surface, levels=contour_levels, cmap=cmap, linewidths=0.8)
    for index, (name, path) in enumerate((trajectories or {}).items()):
        path = _numpy(path)
        if path.ndim != 2 or path.shape[1] != 2:
            raise ValueError(f"trajectory '{name}' must have shape (T, 2), got {path.shape}")
        # colour, line style and the points' marker all differ, so the paths stay apart in grey and
        # for colour-blind readers (Okabe and Ito's palette)
        (line,) = ax.plot(path[:, 0], path[:, 1], linestyle=PATH_STYLES[index % len(PATH_STYLES)],
                          color=SAFE_COLOURS[index % len(SAFE_COLOURS)], marker=CLASS_MARKERS[index % len(CLASS_MARKERS)],
                          markersize=3, label=name)
        ax.plot(*path[0], "o", color=line.get_color())
        ax.plot(*path[-1], "*", color=line.get_color(), markersize=10)
    if trajectories:
        ax.legend(fontsize="small")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    return fig


__all__ = ["plot_decision_boundary", "plot_learning_curves", "plot_confusion_matrix", "plot_image_grid",
           "plot_attention", "plot_filters", "plot_loss_contours"]

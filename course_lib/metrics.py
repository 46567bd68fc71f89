"""Classification metrics written from scratch in NumPy (Chapter "Frequently asked questions" (How do I evaluate a model?)).

Everything starts from the confusion matrix C, where C[i, j] counts the samples whose
true class is i and whose predicted class is j.  For one class k:

    TP_k = C[k, k]                      (predicted k, truly k)
    FP_k = Σ_i C[i, k] − TP_k           (predicted k, truly something else)
    FN_k = Σ_j C[k, j] − TP_k           (truly k, predicted something else)

    precision_k = TP_k / (TP_k + FP_k)         recall_k = TP_k / (TP_k + FN_k)
    F1_k = 2·precision_k·recall_k / (precision_k + recall_k) = 2·TP_k / (2·TP_k + FP_k + FN_k)

Averages over the classes (``average=``):

- ``'binary'``: only the class ``pos_label`` (two-class problems).
- ``'macro'``: the plain mean of the per-class scores; every class counts the same.
- ``'weighted'``: the mean weighted by each class's support (number of true samples).
- ``'micro'``: pool TP, FP, FN over the classes first, then divide; for single-label
  problems micro precision = micro recall = micro F1 = accuracy.
- ``None``: the per-class scores as an array, in the order of ``labels``.

Undefined ratios.  A class that is never predicted has TP + FP = 0, so its precision
is 0/0; a class that never occurs has TP + FN = 0 and an undefined recall.  These
functions define such a ratio as **0**, which is exactly what scikit-learn returns with
``zero_division=0`` (but no warning is raised).  Averages then include that 0: a macro
average over three classes where one is never predicted is pulled down by it — which is
the point, since the classifier never finds that class.

Labels may be integers, booleans or strings; they are compared as values, never by
position, and the classes are the sorted union of the labels seen in ``y_true`` and
``y_pred`` unless ``labels=`` lists them.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

from .checks import host_array

AVERAGES = ("binary", "micro", "macro", "weighted", None)
NORMALIZE = (None, "true", "pred", "all")

Score = Union[float, np.ndarray]


# --- input checks -------------------------------------------------------------------------
def _as_label_vector(name: str, values) -> np.ndarray:
    """A 1-D array of class labels, or a ValueError that explains what went wrong."""
    array = host_array(values)  # a torch tensor through NumPy, without importing torch
    if array.ndim != 1:
        hint = ""
        if array.ndim == 2:
            hint = (" (a column of labels? flatten it with y.ravel())" if array.shape[1] == 1 else
                    " (these look like scores: take the class with y.argmax(axis=1) first)")
        raise ValueError(f"{name} must be a 1-D array of class labels, got shape {array.shape}{hint}")
    if array.dtype.kind == "O":  # e.g. a pandas column: all strings or all integers, as a plain array
        kinds = {"str" if isinstance(value, str) else "int" if isinstance(value, (int, np.integer)) else
                 type(value).__name__ for value in array}
        if kinds not in ({"str"}, {"int"}):
            raise ValueError(f"{name} must hold class labels of one kind (all strings or all integers), got "
                             f"{', '.join(sorted(kinds))}")
        array = array.astype(str if kinds == {"str"} else np.int64)
    if array.dtype.kind == "f":
        wrong = ~np.isfinite(array) | (array != np.round(array))
        if np.any(wrong):
            raise ValueError(
                f"{name} must hold class labels, got non-integer floats such as {array[wrong][0]:g} "
                "(probabilities or scores? convert them to labels first, e.g. with argmax or a threshold)"
            )
    elif array.dtype.kind not in "biuUS":
        raise ValueError(f"{name} must hold class labels (integers, booleans or strings), got dtype {array.dtype}")
    return array


def _check_pair(y_true, y_pred) -> Tuple[np.ndarray, np.ndarray]:
    y_true = _as_label_vector("y_true", y_true)
    y_pred = _as_label_vector("y_pred", y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"y_true and y_pred must have the same length, got {len(y_true)} and {len(y_pred)} samples"
        )
    if len(y_true) == 0:
        raise ValueError("y_true and y_pred are empty: a metric needs at least one sample")
    is_text = [array.dtype.kind in "US" for array in (y_true, y_pred)]
    if is_text[0] != is_text[1] or (all(is_text) and y_true.dtype.kind != y_pred.dtype.kind):
        raise ValueError(
            f"y_true and y_pred mix label types ({y_true.dtype} and {y_pred.dtype}): "
            "use the same kind of labels (all integers or all strings; bytes such as b'cat' never equal 'cat': "
            "decode them) in both"
        )
    return y_true, y_pred


def _resolve_labels(y_true: np.ndarray, y_pred: np.ndarray, labels) -> np.ndarray:
    """The classes to report on: ``labels`` as given, or the sorted union of what occurs."""
    if labels is None:
        return np.unique(np.concatenate([y_true, y_pred]))
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-D list of classes, got {labels!r}")
    if len(np.unique(labels)) != len(labels):
        raise ValueError(f"labels must not repeat a class, got {labels.tolist()}")
    seen = np.concatenate([y_true, y_pred])
    numeric = set("biuf")
    if len(seen) and labels.dtype.kind != seen.dtype.kind and not {labels.dtype.kind, seen.dtype.kind} <= numeric:
        what = "strings" if labels.dtype.kind == "U" else str(labels.dtype)
        raise ValueError(f"labels ({what}) are not the kind of class labels y_true and y_pred hold ({seen.dtype}): "
                         "labels= lists the class values, such as 0, 1, 2; class names for display go in target_names")
    return labels


def _counts(y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Confusion counts over ``labels`` (in their given order); samples with other labels are dropped.

    Vectorised: each label is replaced by its position in ``labels`` (a sorted lookup),
    then the pair (true, predicted) is turned into one flat index i·K + j and counted
    with ``np.bincount``.
    """
    n_labels = len(labels)
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]

    def positions(values: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        found = np.searchsorted(sorted_labels, values)
        found = np.clip(found, 0, n_labels - 1)
        known = sorted_labels[found] == values
        return order[found], known

    true_index, true_known = positions(y_true)
    pred_index, pred_known = positions(y_pred)
    keep = true_known & pred_known
    flat = true_index[keep] * n_labels + pred_index[keep]
    return np.bincount(flat, minlength=n_labels * n_labels).reshape(n_labels, n_labels)


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator with 0 wherever the denominator is 0 (sklearn's zero_division=0)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    result = np.zeros(np.broadcast(numerator, denominator).shape, dtype=np.float64)
    np.divide(numerator, denominator, out=result, where=denominator != 0)
    return result


# --- the metrics --------------------------------------------------------------------------
def accuracy(y_true, y_pred) -> float:
    """Fraction of samples whose predicted label equals the true label: (1/N) Σ_n [ŷ_n = y_n]."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, *, labels: Optional[Sequence] = None,
                     normalize: Optional[str] = None) -> np.ndarray:
    """The K×K matrix C with C[i, j] = number of samples of true class i predicted as class j.

    Rows and columns follow ``labels`` (default: the sorted union of the labels in
    ``y_true`` and ``y_pred``); samples whose true or predicted label is not in
    ``labels`` are left out, as in scikit-learn.

    ``normalize``: ``None`` returns integer counts; ``'true'`` divides each row by its sum
    (row i then shows where the samples of class i went; the diagonal is the per-class
    recall); ``'pred'`` divides each column by its sum (the diagonal is the per-class
    precision); ``'all'`` divides by the total.  A row or column with no samples stays 0.
    """
    if normalize not in NORMALIZE:
        raise ValueError(f"normalize must be one of {NORMALIZE}, got {normalize!r}")
    y_true, y_pred = _check_pair(y_true, y_pred)
    labels = _resolve_labels(y_true, y_pred, labels)
    counts = _counts(y_true, y_pred, labels)
    if normalize is None:
        return counts.astype(np.int64)
    if normalize == "true":
        return _safe_divide(counts, counts.sum(axis=1, keepdims=True))
    if normalize == "pred":
        return _safe_divide(counts, counts.sum(axis=0, keepdims=True))
    return _safe_divide(counts, counts.sum())


def precision_recall_f1_support(y_true, y_pred, *, average: Optional[str] = None, pos_label=1,
                                labels: Optional[Sequence] = None):
    """Precision, recall, F1 and support in one pass (the quantities of the module docstring).

    Returns ``(precision, recall, f1, support)``.  With ``average=None`` each is an array
    with one entry per class in ``labels`` order; otherwise the first three are floats and
    ``support`` is None (as in scikit-learn's ``precision_recall_fscore_support``).
    Undefined 0/0 ratios are 0 (scikit-learn's ``zero_division=0``), without a warning.

    ``average='binary'`` needs at most two distinct labels in ``y_true`` ∪ ``y_pred`` and
    scores the class ``pos_label`` alone (``labels`` is then ignored).  If two labels
    occur, ``pos_label`` must be one of them.
    """
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
    y_true, y_pred = _check_pair(y_true, y_pred)
    present = np.unique(np.concatenate([y_true, y_pred]))
    if average == "binary":
        if len(present) > 2:
            raise ValueError(
                f"average='binary' needs a two-class problem, but the labels are {present.tolist()}: "
                "choose average='macro', 'micro', 'weighted' or None"
            )
        if len(present) == 2 and pos_label not in present.tolist():
            raise ValueError(f"pos_label={pos_label!r} is not one of the labels {present.tolist()}")
        if pos_label not in present.tolist():  # the positive class never occurs: no true or false positives
            return 0.0, 0.0, 0.0, None
        labels = np.asarray([pos_label])
    labels = _resolve_labels(y_true, y_pred, labels)

    # Counts over every label that occurs *or* is asked for, so that TP/FP/FN of a class
    # see all samples even when ``labels`` lists only some classes.
    all_labels = np.unique(np.concatenate([present, labels]))
    counts = _counts(y_true, y_pred, all_labels)
    wanted = np.searchsorted(all_labels, labels)
    true_positive = np.diag(counts)[wanted]
    predicted = counts.sum(axis=0)[wanted]  # TP + FP
    support = counts.sum(axis=1)[wanted]  # TP + FN

    if average == "micro":
        true_positive, predicted, support_used = true_positive.sum(), predicted.sum(), support.sum()
    else:
        support_used = support
    precision = _safe_divide(true_positive, predicted)
    recall = _safe_divide(true_positive, support_used)
    f1 = _safe_divide(2 * true_positive, predicted + support_used)  # = 2TP / (2TP + FP + FN)

    if average is None:
        return precision, recall, f1, support
    if average == "weighted" and support.sum() > 0:
        weights = support / support.sum()
    else:  # macro, micro (a single pooled value), binary (one class), or no support at all
        weights = np.full(np.size(precision), 1.0 / np.size(precision))
    return (float(np.sum(np.atleast_1d(precision) * weights)),
            float(np.sum(np.atleast_1d(recall) * weights)),
            float(np.sum(np.atleast_1d(f1) * weights)), None)


def precision(y_true, y_pred, *, average: Optional[str] = "binary", pos_label=1,
              labels: Optional[Sequence] = None) -> Score:
    """TP / (TP + FP): of the samples predicted as a class, the fraction that truly are.

    A class that is never predicted has precision 0 (scikit-learn's ``zero_division=0``).
    See :func:`precision_recall_f1_support` for ``average``, ``pos_label`` and ``labels``.
    """
    return precision_recall_f1_support(y_true, y_pred, average=average, pos_label=pos_label, labels=labels)[0]


def recall(y_true, y_pred, *, average: Optional[str] = "binary", pos_label=1,
           labels: Optional[Sequence] = None) -> Score:
    """TP / (TP + FN): of the samples truly in a class, the fraction that were found.

    A class that never occurs in ``y_true`` has recall 0 (scikit-learn's ``zero_division=0``).
    """
    return precision_recall_f1_support(y_true, y_pred, average=average, pos_label=pos_label, labels=labels)[1]


def f1(y_true, y_pred, *, average: Optional[str] = "binary", pos_label=1,
       labels: Optional[Sequence] = None) -> Score:
    """F1 = 2·TP / (2·TP + FP + FN), the harmonic mean of precision and recall.

    0 for a class that is neither predicted nor present (scikit-learn's ``zero_division=0``).
    """
    return precision_recall_f1_support(y_true, y_pred, average=average, pos_label=pos_label, labels=labels)[2]


def classification_report(y_true, y_pred, *, labels: Optional[Sequence] = None,
                          target_names: Optional[Sequence[str]] = None, digits: int = 2,
                          output_dict: bool = False) -> Union[str, Dict[str, object]]:
    """Per-class precision, recall, F1 and support, plus accuracy and the macro/weighted averages.

    Mirrors scikit-learn's ``classification_report`` (with ``zero_division=0``): the result
    (``output_dict=True``) maps each class name to ``{'precision', 'recall', 'f1-score',
    'support'}``, then ``'accuracy'`` (a float) — or ``'micro avg'`` when ``labels`` leaves
    out some classes that occur, because micro-averaging is then no longer accuracy — then
    ``'macro avg'`` and ``'weighted avg'``.  Without ``output_dict`` a formatted table is returned.
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    labels_given = labels is not None
    labels = _resolve_labels(y_true, y_pred, labels)
    if target_names is None:
        target_names = [str(label) for label in labels]
    elif len(target_names) != len(labels):
        raise ValueError(f"target_names has {len(target_names)} names but there are {len(labels)} classes")
    present = np.unique(np.concatenate([y_true, y_pred]))
    micro_is_accuracy = not labels_given or set(present.tolist()) <= set(labels.tolist())

    per_class = precision_recall_f1_support(y_true, y_pred, average=None, labels=labels)
    report: Dict[str, object] = {}
    for index, name in enumerate(target_names):
        report[str(name)] = {"precision": float(per_class[0][index]), "recall": float(per_class[1][index]),
                             "f1-score": float(per_class[2][index]), "support": int(per_class[3][index])}
    total_support = int(per_class[3].sum())
    averages = ["macro", "weighted"] if micro_is_accuracy else ["micro", "macro", "weighted"]
    if micro_is_accuracy:
        report["accuracy"] = float(precision_recall_f1_support(y_true, y_pred, average="micro", labels=labels)[0])
    for average in averages:
        scores = precision_recall_f1_support(y_true, y_pred, average=average, labels=labels)
        report[f"{average} avg"] = {"precision": scores[0], "recall": scores[1], "f1-score": scores[2],
                                    "support": total_support}
    if output_dict:
        return report

    # the same layout as scikit-learn's text report, so the two can be compared line by line
    width = max(max(len(str(name)) for name in target_names), len("weighted avg"), digits)
    columns = ("precision", "recall", "f1-score", "support")
    lines = [f"{'':>{width}s} " + "".join(f" {column:>9}" for column in columns), ""]
    for index, (name, row) in enumerate(report.items()):
        if name == "accuracy":
            lines.append(f"{name:>{width}s} " + f" {'':>9}" * 2 + f" {row:>9.{digits}f} {total_support:>9}")
            continue
        lines.append(f"{name:>{width}s} " + "".join(f" {row[key]:>9.{digits}f}" for key in columns[:3])
                     + f" {row['support']:>9}")
        if index == len(target_names) - 1:
            lines.append("")  # a blank line between the classes and the averages
    return "\n".join(lines) + "\n"


__all__ = ["accuracy", "precision", "recall", "f1", "precision_recall_f1_support", "confusion_matrix",
           "classification_report"]

"""course_lib.metrics against scikit-learn (the oracle), on random label vectors.

scikit-learn is called with ``zero_division=0``; ours must give the same numbers without
any warning.  Hypothesis draws label vectors over up to five classes, with y_pred drawn
from a (possibly smaller) set of classes so that "a class never predicted" and "a class
never present" happen often, plus explicit edge cases.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn import metrics as skm

from course_lib import metrics
from .hypothesis_budget import examples

SETTINGS = settings(max_examples=examples(40), deadline=None)
# scikit-learn (not ours) warns when a confusion matrix sees a single label
pytestmark = pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")


@st.composite
def label_pairs(draw, max_classes: int = 5):
    """(y_true, y_pred, labels) with labels either None or a shuffled list that may add unseen classes."""
    n_classes = draw(st.integers(1, max_classes))
    n = draw(st.integers(1, 30))
    true_classes = draw(st.lists(st.integers(0, n_classes - 1), min_size=1, max_size=n_classes, unique=True))
    pred_classes = draw(st.lists(st.integers(0, n_classes), min_size=1, max_size=n_classes, unique=True))
    y_true = np.array(draw(st.lists(st.sampled_from(true_classes), min_size=n, max_size=n)))
    y_pred = np.array(draw(st.lists(st.sampled_from(pred_classes), min_size=n, max_size=n)))
    labels = None
    if draw(st.booleans()):
        pool = sorted(set(y_true.tolist()) | set(y_pred.tolist()) | {n_classes + 1})
        labels = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool), unique=True))
        # scikit-learn insists that at least one listed class occurs in y_true
        if not set(labels) & set(y_true.tolist()):
            labels.append(int(y_true[0]))
    return y_true, y_pred, labels


def no_warnings(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return function(*args, **kwargs)


@SETTINGS
@given(label_pairs())
def test_accuracy_matches_sklearn(pair):
    y_true, y_pred, _ = pair
    assert no_warnings(metrics.accuracy, y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))


@SETTINGS
@given(label_pairs(), st.sampled_from(["macro", "micro", "weighted", None]))
def test_precision_recall_f1_match_sklearn(pair, average):
    y_true, y_pred, labels = pair
    ours = no_warnings(metrics.precision_recall_f1_support, y_true, y_pred, average=average, labels=labels)
    theirs = skm.precision_recall_fscore_support(y_true, y_pred, average=average, labels=labels, zero_division=0)
    for name, mine, expected in zip(("precision", "recall", "f1"), ours[:3], theirs[:3]):
        np.testing.assert_allclose(mine, expected, rtol=1e-12, atol=1e-12, err_msg=f"{name}, average={average}")
    if average is None:
        np.testing.assert_array_equal(ours[3], theirs[3])
    else:
        assert ours[3] is None
    # the single-metric functions are the same numbers
    np.testing.assert_allclose(metrics.precision(y_true, y_pred, average=average, labels=labels), theirs[0])
    np.testing.assert_allclose(metrics.recall(y_true, y_pred, average=average, labels=labels), theirs[1])
    np.testing.assert_allclose(metrics.f1(y_true, y_pred, average=average, labels=labels), theirs[2])


@SETTINGS
@given(st.lists(st.integers(0, 1), min_size=1, max_size=30), st.data(), st.sampled_from([0, 1]))
def test_binary_average_matches_sklearn(true_list, data, pos_label):
    y_true = np.array(true_list)
    y_pred = np.array(data.draw(st.lists(st.integers(0, 1), min_size=len(y_true), max_size=len(y_true))))
    for ours, theirs in ((metrics.precision, skm.precision_score), (metrics.recall, skm.recall_score),
                         (metrics.f1, skm.f1_score)):
        expected = theirs(y_true, y_pred, average="binary", pos_label=pos_label, zero_division=0)
        assert no_warnings(ours, y_true, y_pred, pos_label=pos_label) == pytest.approx(expected, abs=1e-12)


@SETTINGS
@given(label_pairs(), st.sampled_from([None, "true", "pred", "all"]))
def test_confusion_matrix_matches_sklearn(pair, normalize):
    y_true, y_pred, labels = pair
    ours = no_warnings(metrics.confusion_matrix, y_true, y_pred, labels=labels, normalize=normalize)
    theirs = skm.confusion_matrix(y_true, y_pred, labels=labels, normalize=normalize)
    assert ours.shape == theirs.shape
    if normalize is None:
        assert ours.dtype.kind == "i"
        np.testing.assert_array_equal(ours, theirs)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


@SETTINGS
@given(label_pairs())
def test_classification_report_dict_matches_sklearn(pair):
    y_true, y_pred, labels = pair
    ours = no_warnings(metrics.classification_report, y_true, y_pred, labels=labels, output_dict=True)
    theirs = skm.classification_report(y_true, y_pred, labels=labels, output_dict=True, zero_division=0)
    assert list(ours) == list(theirs)
    for key, expected in theirs.items():
        if isinstance(expected, dict):
            for column, value in expected.items():
                assert ours[key][column] == pytest.approx(value, abs=1e-12), (key, column)
        else:
            assert ours[key] == pytest.approx(expected, abs=1e-12), key
    # the text report is laid out as scikit-learn's (which prints supports as floats such as "1.0"
    # when no prediction at all is right, a quirk of its counting not copied here)
    if np.any(y_true == y_pred):
        text = metrics.classification_report(y_true, y_pred, labels=labels, digits=3)
        assert_same_report_text(text, skm.classification_report(y_true, y_pred, labels=labels, digits=3,
                                                                 zero_division=0), digits=3)


def assert_same_report_text(ours: str, theirs: str, digits: int) -> None:
    """Same lines, same alignment and words; numbers may differ by one in the last digit
    (a weighted mean of 0.1875 may print as 0.187 or 0.188 depending on the last bit)."""
    ours_lines, their_lines = ours.splitlines(), theirs.splitlines()
    assert len(ours_lines) == len(their_lines), (ours, theirs)
    for mine, expected in zip(ours_lines, their_lines):
        assert len(mine) == len(expected), (mine, expected)
        for my_token, their_token in zip(mine.split(), expected.split()):
            try:
                assert abs(float(my_token) - float(their_token)) <= 1.01 * 10.0 ** -digits, (mine, expected)
            except ValueError:
                assert my_token == their_token, (mine, expected)


def test_classification_report_text_with_names_matches_sklearn():
    text = metrics.classification_report([0, 1, 2, 2], [0, 2, 2, 2], target_names=["cat", "dog", "emu"])
    lines = text.splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    for name in ("cat", "dog", "emu", "accuracy", "macro avg", "weighted avg"):
        assert any(line.strip().startswith(name) for line in lines), name
    dog = next(line for line in lines if line.strip().startswith("dog")).split()
    assert dog[1:] == ["0.00", "0.00", "0.00", "1"]  # never predicted: 0, not an error
    assert_same_report_text(text, skm.classification_report([0, 1, 2, 2], [0, 2, 2, 2], zero_division=0,
                                                            target_names=["cat", "dog", "emu"]), digits=2)


def test_class_never_predicted_is_zero_and_pulls_the_macro_average_down():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 1, 1, 1, 1])  # class 2 is never predicted
    per_class = metrics.precision(y_true, y_pred, average=None)
    np.testing.assert_allclose(per_class, [1.0, 0.5, 0.0])
    np.testing.assert_allclose(metrics.recall(y_true, y_pred, average=None), [1.0, 1.0, 0.0])
    assert metrics.f1(y_true, y_pred, average="macro") == pytest.approx((1 + 2 / 3 + 0) / 3)


def test_class_never_present_has_zero_recall_and_zero_support():
    precision, recall, f1, support = metrics.precision_recall_f1_support([0, 0, 1], [0, 2, 1], labels=[0, 1, 2])
    np.testing.assert_allclose(recall, [0.5, 1.0, 0.0])
    np.testing.assert_allclose(precision, [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(support, [2, 1, 0])


def test_single_class():
    y = np.array([3, 3, 3])
    assert metrics.accuracy(y, y) == 1.0
    np.testing.assert_array_equal(metrics.confusion_matrix(y, y), [[3]])
    assert metrics.f1(y, y, average="macro") == 1.0
    # binary scoring of a positive class that never occurs: everything is 0, no error
    assert metrics.precision(y, y, pos_label=1) == skm.precision_score(y, y, pos_label=1, zero_division=0) == 0.0


def test_string_labels():
    y_true = np.array(["cat", "dog", "dog", "emu"])
    y_pred = np.array(["cat", "dog", "cat", "emu"])
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred), skm.confusion_matrix(y_true, y_pred))
    assert metrics.f1(y_true, y_pred, average="weighted") == pytest.approx(
        skm.f1_score(y_true, y_pred, average="weighted"))


@pytest.mark.parametrize("function", [metrics.accuracy, metrics.confusion_matrix, metrics.classification_report,
                                      lambda a, b: metrics.f1(a, b, average="macro")])
def test_empty_input_is_a_clear_error(function):
    with pytest.raises(ValueError, match="at least one sample"):
        function([], [])


@pytest.mark.parametrize("function", [metrics.accuracy, metrics.confusion_matrix,
                                      lambda a, b: metrics.precision(a, b, average="micro")])
def test_mismatched_lengths_are_a_clear_error(function):
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        function([0, 1, 1], [0, 1])


def test_scores_instead_of_labels_are_a_clear_error():
    with pytest.raises(ValueError, match="argmax"):
        metrics.accuracy([0, 1], np.array([[0.9, 0.1], [0.2, 0.8]]))
    with pytest.raises(ValueError, match="non-integer floats"):
        metrics.accuracy([0, 1], [0.9, 0.2])


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="two-class problem"):
        metrics.f1([0, 1, 2], [0, 1, 2])  # default average='binary'
    with pytest.raises(ValueError, match="pos_label=2"):
        metrics.recall([0, 1, 1], [0, 1, 0], pos_label=2)
    with pytest.raises(ValueError, match="average must be one of"):
        metrics.precision([0, 1], [0, 1], average="mean")
    with pytest.raises(ValueError, match="normalize must be one of"):
        metrics.confusion_matrix([0, 1], [0, 1], normalize="rows")
    with pytest.raises(ValueError, match="mix label types"):
        metrics.accuracy(["a", "b"], [0, 1])


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    assert metrics.accuracy(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0])) == pytest.approx(2 / 3)


def test_class_names_given_as_labels_are_a_clear_error_not_zeros():
    """Found by an audit: labels=["a", "b"] (names, not values) gave an all-zero matrix and F1 0."""
    y_true, y_pred = np.array([0, 1, 2, 1]), np.array([0, 2, 2, 1])
    with pytest.raises(ValueError, match="target_names"):
        metrics.confusion_matrix(y_true, y_pred, labels=["a", "b"])
    with pytest.raises(ValueError, match="target_names"):
        metrics.f1(y_true, y_pred, average="macro", labels=["0", "1"])
    assert metrics.confusion_matrix(y_true, y_pred, labels=[2, 1]).tolist() == [[1, 0], [1, 1]]


# --- found by an audit of the metrics (2026-12-06) ------------------------------------------------------
def test_object_dtype_strings_are_labels_like_any_strings():
    """A pandas column of strings is an object array: refused before, as "not the kind of class labels"."""
    y = np.array(["a", "b", "a"], dtype=object)
    np.testing.assert_array_equal(metrics.confusion_matrix(y, y, labels=["a", "b"]), [[2, 0], [0, 1]])
    assert metrics.accuracy(y, np.array(["a", "b", "b"])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="one kind \\(all strings or all integers\\), got int, str"):
        metrics.f1(np.array([1, "a"], dtype=object), np.array([1, "a"], dtype=object))


def test_one_string_class_with_the_default_pos_label_scores_zero_as_scikit_learn():
    assert metrics.f1(["a", "a"], ["a", "a"]) == skm.f1_score(["a", "a"], ["a", "a"], zero_division=0) == 0.0


@pytest.mark.parametrize("y_true, y_pred, message", [
    (np.zeros((3, 1)), np.zeros(3), r"got shape \(3, 1\) \(a column of labels\? flatten it with y.ravel\(\)\)"),
    (np.array([np.inf]), np.array([1.0]), "non-integer floats such as inf"),
    (np.array([b"a"]), np.array(["a"]), "bytes such as b'cat' never equal 'cat'"),
])
def test_labels_that_cannot_be_compared_are_named(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        metrics.accuracy(y_true, y_pred)


def test_a_weighted_average_over_classes_without_support_is_zero_as_scikit_learns():
    y_true, y_pred = [0, 1, 1], [0, 1, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns that the scores are ill-defined
        expected = skm.precision_recall_fscore_support(y_true, y_pred, labels=[2], average="weighted")[:3]
    got = metrics.precision_recall_f1_support(y_true, y_pred, labels=[2], average="weighted")[:3]
    assert tuple(float(value) for value in got) == tuple(float(value) for value in expected) == (0.0, 0.0, 0.0)

"""course_lib.checks: the argument checks every model and training function shares."""
import numpy as np
import pytest

from course_lib.checks import check_probability, check_sizes, positive_int


@pytest.mark.parametrize("value", [True, False, 0, -3, 2.0, "3", None])
def test_positive_int_refuses_bools_zero_and_non_integers(value):
    """``epochs=True`` is a mistake (a flag passed in the wrong place), not one epoch."""
    with pytest.raises(ValueError, match=f"epochs must be a positive integer, got {value!r}"):
        positive_int("epochs", value)


def test_positive_int_returns_a_python_int():
    assert positive_int("n", np.int64(3)) == 3 and type(positive_int("n", np.int64(3))) is int


def test_check_sizes_names_the_model_and_skips_only_none():
    with pytest.raises(ValueError, match=r"^CNN: num_classes must be a positive integer, got 0$"):
        check_sizes("CNN", in_channels=1, num_classes=0, vocab_size=None)
    with pytest.raises(ValueError, match=r"^n_samples must be a positive integer, got 0$"):
        check_sizes(None, n_samples=0)
    check_sizes("RecurrentModel", vocab_size=None, hidden_size=4)


@pytest.mark.parametrize("value", [1, 1.0, -0.1, True, False, "0.5", None])
def test_a_dropout_probability_lies_in_zero_to_one_excluding_one(value):
    """A dropout of 1 zeroes every activation (and divides by 1 - p = 0); a bool is no probability."""
    with pytest.raises(ValueError, match=r"MLP: dropout must be a probability in \[0, 1\)"):
        check_probability("MLP", "dropout", value)


def test_a_dropout_probability_of_zero_or_just_below_one_is_accepted():
    check_probability("MLP", "dropout", 0.0)
    check_probability("MLP", "dropout", 0.999)

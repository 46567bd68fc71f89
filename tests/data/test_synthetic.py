"""The synthetic generators: seeded, correctly shaped, and with the structure their names promise."""
import numpy as np
import pytest

from course_lib import data


GENERATORS = [
    (data.make_xor, {}),
    (data.make_moons, {}),
    (data.make_spirals, {}),
    (data.make_blobs, {}),
    (data.make_sine_sequences, {}),
    (data.make_sequence_classification, {}),
    (data.make_token_task, {"task": "sort"}),
]


@pytest.mark.parametrize("generator, kwargs", GENERATORS)
def test_same_seed_same_data_different_seed_different_data(generator, kwargs):
    first = generator(seed=1, **kwargs)
    again = generator(seed=1, **kwargs)
    other = generator(seed=2, **kwargs)
    for a, b in zip(first, again):
        assert np.array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_regression_recovers_true_coefficients():
    x, y, (w, b) = data.make_regression(n_samples=2000, n_features=3, noise=0.01, seed=0)
    design = np.hstack([x, np.ones((len(x), 1))]).astype(np.float64)
    fitted, *_ = np.linalg.lstsq(design, y.astype(np.float64), rcond=None)
    assert np.allclose(fitted[:3], w, atol=1e-2) and abs(fitted[3] - b) < 1e-2


def test_xor_labels_follow_quadrants():
    x, y = data.make_xor(n_samples=500, noise=0.0, seed=0)
    assert np.array_equal(y, (np.sign(x[:, 0]) != np.sign(x[:, 1])).astype(np.int64))


def test_spirals_and_blobs_class_balance():
    _, y = data.make_spirals(n_per_class=40, n_classes=5, seed=0)
    assert np.array_equal(np.bincount(y), np.full(5, 40))
    x, y = data.make_blobs(n_samples=300, centers=3, std=0.1, seed=0)
    centroids = np.array([x[y == k].mean(axis=0) for k in range(3)])
    spread = max(np.abs(x[y == k] - centroids[k]).max() for k in range(3))
    assert spread < 0.6 and np.min(np.linalg.norm(centroids[:, None] - centroids[None], axis=-1) + np.eye(3) * 99) > 1


def test_sine_targets_are_next_values():
    x, y = data.make_sine_sequences(n_sequences=4, length=20, noise=0.0, seed=0)
    assert x.shape == y.shape == (4, 20, 1)
    assert np.allclose(x[:, 1:], y[:, :-1], atol=1e-6)


def test_sequence_classification_label_depends_on_marked_values():
    x, y = data.make_sequence_classification(n_sequences=100, length=12, seed=0)
    marked_sum = (x[..., 0] * x[..., 1]).sum(axis=1)
    assert np.array_equal(y, (marked_sum > 0).astype(np.int64))
    assert np.all(x[..., 1].sum(axis=1) == 2)


def test_the_second_mark_can_be_the_last_step():
    """The first mark can be step 0 and the second the last step (the upper bounds are exclusive)."""
    x, _ = data.make_sequence_classification(512, 30)
    assert x[:, -1, 1].any() and x[:, 0, 1].any()


def test_moons_arcs_are_where_documented():
    """Class 1's arc must open upwards below y = 0.5, as documented, not be flipped onto class 0's side."""
    x, y = data.make_moons(200, noise=0.0)
    assert x[y == 0, 1].min() >= -1e-6 and x[y == 1, 1].max() <= 0.5 + 1e-6


@pytest.mark.parametrize("task", data.TOKEN_TASKS)
def test_token_tasks(task):
    source, target = data.make_token_task(task, n_sequences=50, length=6, vocab_size=7, seed=0)
    assert source.shape == target.shape == (50, 6) and source.dtype == np.int64
    assert source.min() >= 0 and source.max() < 7
    expected = {"copy": source, "reverse": source[:, ::-1], "sort": np.sort(source, axis=1)}[task]
    assert np.array_equal(target, expected)


def test_bad_arguments_have_clear_errors():
    with pytest.raises(ValueError, match="task must be one of"):
        data.make_token_task("shuffle")
    with pytest.raises(ValueError, match="n_samples must be a positive integer, got 0"):
        data.make_moons(n_samples=0)
    # found by an audit (2026-12-07): a NaN noise gave arrays of NaN, a negative one was taken, a seed of
    # -1 or 1.5 gave NumPy's words without the argument's name, and 5 blobs of 2 samples were 2 classes
    for bad in (float("nan"), -1.0, float("inf")):
        with pytest.raises(ValueError, match="noise must be a finite number ≥ 0"):
            data.make_xor(4, noise=bad)
    with pytest.raises(ValueError, match="std must be a finite number ≥ 0"):
        data.make_blobs(10, std=-1)
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="seed must be a whole number ≥ 0"):
            data.make_moons(seed=bad)
    with pytest.raises(ValueError, match=r"centers \(5\) must not exceed n_samples \(2\)"):
        data.make_blobs(2, centers=5)
    assert data.make_xor(4, noise=0)[0].shape == (4, 2) and data.make_moons(seed=np.uint32(7))[0].shape == (200, 2)
    assert data.make_xor(4, seed=2**63)[0].shape == (4, 2)  # NumPy takes seeds of any size


def test_make_blobs_shuffles_its_samples_and_refuses_more_centres_than_samples():
    """Labels in blocks 0, 1, 2, 0, 1, 2 … would make every mini-batch taken in order the same mix."""
    from course_lib.data.synthetic import make_blobs

    _, labels = make_blobs(60, centers=3, seed=0)
    assert labels.tolist() != (np.arange(60) % 3).tolist() and np.bincount(labels).tolist() == [20, 20, 20]
    with pytest.raises(ValueError, match=r"centers \(3\) must not exceed n_samples \(2\)"):
        make_blobs(2, centers=3)

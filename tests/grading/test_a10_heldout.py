"""a10's held-out test: the images a notebook receives are not the published ones byte for byte,
an implausibly perfect score is flagged for the instructor (see the assignment's docstring), and
PyTorch must be seeded with the `seed` the call gives."""
import numpy as np
import pytest

from course_lib.data import load_fashion_mnist
from course_lib.grading.assignments import a10_pytorch_training as a10

SEEDED = {"seed": 7}  # the call's keyword arguments, for a run that seeded PyTorch with them (torch_seed=7)


@pytest.fixture(scope="module")
def test_set():
    try:
        return load_fashion_mnist("test")
    except Exception as error:  # noqa: BLE001 - the dataset is a system package on CI
        pytest.skip(f"Fashion-MNIST is not installed: {error}")


def test_test_images_carry_noise_and_still_look_the_same(test_set):
    x_test, _ = test_set
    (x_train, y_train, x_sent), kwargs, labels = a10._subset(np.random.default_rng(3), 50, 200)
    published = {image.tobytes(): index for index, image in enumerate(x_test)}
    assert x_sent.dtype == x_test.dtype and x_sent.shape == (200, 28, 28)
    assert not any(image.tobytes() in published for image in x_sent)  # no byte-for-byte lookup
    # each sent image is within the noise of the published image whose label the grader keeps
    # (the same draws as _subset: training rows, then test rows)
    replay = np.random.default_rng(3)
    replay.choice(60000, size=50, replace=False)
    chosen = replay.choice(len(x_test), size=200, replace=False)
    difference = np.abs(x_sent.astype(np.int16) - x_test[chosen].astype(np.int16))
    assert difference.max() <= a10.TEST_NOISE and difference.mean() > 0.5
    # the classes are renamed, one permutation for the training and the held-out labels: a model
    # trained elsewhere that never reads y_train (here: one that knows every published label) is
    # right about a tenth of the time (a red-team audit: an embedded model scored 84 %)
    replay.integers(-a10.TEST_NOISE, a10.TEST_NOISE + 1, size=x_sent.shape)
    relabel = replay.permutation(10)
    assert np.array_equal(labels, relabel[test_set[1][chosen]])
    assert np.mean(labels == test_set[1][chosen]) < a10.TARGET_ACCURACY / 2


def test_judge_flags_an_implausible_accuracy():
    labels = np.arange(100) % 10
    perfect = a10.judge_predictions(labels.copy(), (), SEEDED, labels, torch_seed=7)
    assert perfect[0] and "flagged for the instructor" in perfect[1]
    wrong = labels.copy()
    wrong[:15] = (wrong[:15] + 1) % 10  # 85 %: a believable score
    believable = a10.judge_predictions(wrong, (), SEEDED, labels, torch_seed=7)
    assert believable == (True, "test accuracy 85.0%")
    assert not a10.judge_predictions((labels + 1) % 10, (), SEEDED, labels, torch_seed=7)[0]


def test_judge_wants_the_target_accuracy():
    labels = np.arange(100) % 10

    def judged(correct):  # the first `correct` of 100 predictions right, the rest wrong
        predictions = labels.copy()
        predictions[correct:] = (predictions[correct:] + 1) % 10
        return a10.judge_predictions(predictions, (), SEEDED, labels, torch_seed=7)

    assert a10.TARGET_ACCURACY == 0.80
    passed, message = judged(79)
    assert not passed and message.startswith("test accuracy 79.0%; the target is 80%"), message
    assert judged(80) == (True, "test accuracy 80.0%") and judged(81) == (True, "test accuracy 81.0%")


def test_judge_wants_pytorch_seeded_with_the_seed_it_was_given():
    """The text says "Seed PyTorch with `seed`": an unseeded run, or one seeded with a number of its
    own (the notebook's SEED), grades differently when the grade is reproduced with --seed."""
    labels = np.arange(100) % 10
    good = labels.copy()
    good[:10] = (good[:10] + 1) % 10  # 90 %
    assert a10.judge_predictions(good, (), SEEDED, labels, torch_seed=7) == (True, "test accuracy 90.0%")
    passed, message = a10.judge_predictions(good, (), SEEDED, labels, torch_seed=0)  # the notebook's SEED
    assert not passed and message.startswith("test accuracy 90.0%, but PyTorch's seed after the call is 0, "
                                             "not the `seed` it was given (7): call torch.manual_seed(seed)"), message
    unseeded = 6102635122811307565  # e.g. what an unseeded process reads (torch 2.13 draws it anew in each process)
    passed, message = a10.judge_predictions(good, (), SEEDED, labels, torch_seed=unseeded)
    assert not passed and f"seed after the call is {unseeded}" in message and "draws a seed of its own" in message
    passed, message = a10.judge_predictions(good, (), SEEDED, labels, torch_seed=None)
    assert not passed and "PyTorch was never imported" in message
    passed, message = a10.judge_predictions(good, (), SEEDED, labels, torch_seed="unknown")
    assert not passed and "could not be read" in message
    low = (labels + 1) % 10
    passed, message = a10.judge_predictions(low, (), SEEDED, labels, torch_seed=0)
    assert not passed and message.startswith("test accuracy 0.0%; the target is 80%")
    assert "; also, PyTorch's seed" in message
    assert all(check.torch_seed for check in a10.ASSIGNMENT.question("q2").checks)


def test_check_q2_reads_the_seed_in_the_students_own_process(test_set, capsys):
    """check("q2") runs in the notebook's process: PyTorch's seed there, after the call, is judged."""
    from course_lib.grading import checker

    from .helpers import seeding_training, torch_generator_kept

    with torch_generator_kept():
        check = checker("a10")
        assert not check("q2", {"train_and_predict": seeding_training()})  # a tenth right: the accuracy fails it
        out = capsys.readouterr().out
        assert "the target is 80%" in out and "PyTorch's seed" not in out
        assert not check("q2", {"train_and_predict": seeding_training(fixed_seed=0)})
        out = capsys.readouterr().out
        assert "the target is 80%" in out and "also, PyTorch's seed after the call is 0, not the `seed`" in out

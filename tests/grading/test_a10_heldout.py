"""a10's held-out test: the images a notebook receives are not the published ones byte for byte,
and an implausibly perfect score is flagged for the instructor (see the assignment's docstring)."""
import numpy as np
import pytest

from course_lib.data import load_fashion_mnist
from course_lib.grading.assignments import a10_pytorch_training as a10


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
    assert np.array_equal(labels, test_set[1][chosen].astype(np.int64))


def test_judge_flags_an_implausible_accuracy():
    labels = np.arange(100) % 10
    perfect = a10.judge_predictions(labels.copy(), (), {}, labels)
    assert perfect[0] and "flagged for the instructor" in perfect[1]
    wrong = labels.copy()
    wrong[:15] = (wrong[:15] + 1) % 10  # 85 %: a believable score
    believable = a10.judge_predictions(wrong, (), {}, labels)
    assert believable == (True, "test accuracy 85.0%")
    assert not a10.judge_predictions((labels + 1) % 10, (), {}, labels)[0]


def test_judge_wants_the_target_accuracy():
    labels = np.arange(100) % 10

    def judged(correct):  # the first `correct` of 100 predictions right, the rest wrong
        predictions = labels.copy()
        predictions[correct:] = (predictions[correct:] + 1) % 10
        return a10.judge_predictions(predictions, (), {}, labels)

    assert a10.TARGET_ACCURACY == 0.80
    passed, message = judged(79)
    assert not passed and message.startswith("test accuracy 79.0%; the target is 80%"), message
    assert judged(80) == (True, "test accuracy 80.0%") and judged(81) == (True, "test accuracy 81.0%")

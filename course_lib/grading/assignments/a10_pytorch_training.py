"""Assignment 10 — A PyTorch training loop (Chapter "A multilayer perceptron, from scratch and in PyTorch").

q1 checks one hand-written SGD step in PyTorch against the from-scratch side
(``course_lib.scratch`` Linear + CrossEntropyLoss): the two halves of the course agree.
q2 trains on a Fashion-MNIST subset (``course_lib.data.load_fashion_mnist``) within a
time budget: the grader sends the training images with their labels and the *test
images only*; the test labels never leave the grader, which measures the accuracy.  The
grader also reads PyTorch's seed after the call: an unseeded run (or one seeded with a number
of its own) would grade differently when the grade is reproduced, so it fails with advice.

Fashion-MNIST's test set is public, so a notebook could try to look its labels up instead
of learning them.  Three things stand in the way: the sandbox hides the dataset folders;
every test image the grader sends carries fresh noise of ±``TEST_NOISE`` grey levels (invisible
to a model, 0.8 % of the range, but no image equals a published one byte for byte); and an
accuracy of ``PLAUSIBLE_ACCURACY`` or more — as good as the best published models on this test
set (about 96–97 %), not a network trained for two minutes on a few thousand images — is
flagged for the instructor in the check's message.  A notebook that embeds the whole test set and matches
images by nearest neighbour at a believable accuracy is not caught: grade high-stakes work
on data of your own (``COURSE_LIB_DATA``, see ``course_lib.data``).

A model trained before the deadline and embedded in the notebook is the other shortcut.  Each
check renames the ten classes at random (the same permutation in ``y_train`` and in the held-out
labels), so a model that never looks at ``y_train`` is right about a tenth of the time.  One that
uses ``y_train`` only to learn the renaming (a 10 × 10 table from its own predictions) is not
caught either.
"""
from __future__ import annotations

import numpy as np

from course_lib.data import load_fashion_mnist
from course_lib.scratch import Linear
from course_lib.scratch.losses import CrossEntropyLoss

from ..spec import Assignment, Check, Question, compare
from ._util import args, checks, randn

TARGET_ACCURACY = 0.80
TIME_BUDGET_S = 120.0
TEST_NOISE = 2  # grey levels (of 255) added to or taken from every test pixel, at random
PLAUSIBLE_ACCURACY = 0.97


def torch_sgd_step(weight, bias, x, y, lr):
    layer = Linear(weight.shape[1], weight.shape[0], dtype=weight.dtype)
    layer.load_state_dict({"weight": weight.copy(), "bias": bias.copy()})
    loss_fn = CrossEntropyLoss()
    loss_fn(layer(x), y)
    layer.backward(loss_fn.backward())
    return weight - lr * layer.weight.grad, bias - lr * layer.bias.grad


def _step_args(rng, n=8, features=5, classes=3):
    return args(randn(rng, classes, features, dtype=np.float32, scale=0.5), randn(rng, classes, dtype=np.float32, scale=0.1),
                randn(rng, n, features, dtype=np.float32), rng.integers(0, classes, size=n).astype(np.int64),
                float(rng.uniform(0.05, 0.5)))


_CACHE = {}


def _fashion(split):
    if split not in _CACHE:
        _CACHE[split] = load_fashion_mnist(split)
    return _CACHE[split]


def _subset(rng, n_train, n_test):
    x_train, y_train = _fashion("train")
    x_test, y_test = _fashion("test")
    train = rng.choice(len(x_train), size=n_train, replace=False)
    test = rng.choice(len(x_test), size=n_test, replace=False)
    noise = rng.integers(-TEST_NOISE, TEST_NOISE + 1, size=(n_test, *x_test.shape[1:]))
    x_noisy = np.clip(x_test[test].astype(np.int16) + noise, 0, 255).astype(x_test.dtype)
    # the classes renamed, the same way in the training labels and the held-out ones: a model trained
    # once elsewhere and returned without looking at y_train scored 84 % here (a red-team audit); it
    # now scores about 10 %, one that learns from y_train what it always did
    relabel = rng.permutation(10)
    call = args(x_train[train], relabel[y_train[train]].astype(np.int64), x_noisy, seed=int(rng.integers(0, 2**31)))
    return (*call, relabel[y_test[test]].astype(np.int64))


def seed_problem(torch_seed, seed) -> str:
    """What is wrong with PyTorch's seed after the call (``torch.initial_seed()``), or ''.

    The text asks to seed PyTorch with ``seed``: then the same hidden inputs give the same
    predictions, and a grade reproduced with ``course-lib grade --seed`` is the same grade."""
    advice = "call torch.manual_seed(seed) at the start of train_and_predict, so that the same seed gives the same model"
    if torch_seed == seed:
        return ""
    if torch_seed is None:
        return "PyTorch was never imported, so it was not seeded with `seed` (the question asks for a PyTorch training loop)"
    if torch_seed == "unknown":
        return "PyTorch's seed could not be read after the call (torch.initial_seed() failed)"
    return (f"PyTorch's seed after the call is {torch_seed}, not the `seed` it was given ({seed}): {advice} "
            "(unseeded, PyTorch draws a seed of its own when it starts; a run seeded inside "
            "torch.random.fork_rng() or through a torch.Generator of its own leaves the seed as it was, and the "
            "grader reads it after the call)")


def judge_predictions(value, call_args, call_kwargs, labels, torch_seed=None):
    ok, message = compare(value, labels, path="the predictions", values=False)
    if not ok:
        return False, message
    accuracy = float(np.mean(value == labels))
    unseeded = seed_problem(torch_seed, call_kwargs.get("seed", 0))
    if accuracy < TARGET_ACCURACY:
        return False, (f"test accuracy {accuracy:.1%}; the target is {TARGET_ACCURACY:.0%} "
                       "(train for more epochs, normalise the pixels to [0, 1], or use a wider network)"
                       + (f"; also, {unseeded}" if unseeded else ""))
    if unseeded:
        return False, f"test accuracy {accuracy:.1%}, but {unseeded}"
    if accuracy >= PLAUSIBLE_ACCURACY:
        return True, (f"test accuracy {accuracy:.1%} — flagged for the instructor: {PLAUSIBLE_ACCURACY:.0%} or more is "
                      "as high as the best published results on Fashion-MNIST, from a model trained for two minutes "
                      "on a few thousand images; check that the notebook learns the labels rather than looking them up")
    return True, f"test accuracy {accuracy:.1%}"


ASSIGNMENT = Assignment(
    id="a10",
    title="A PyTorch training loop",
    chapter="A multilayer perceptron, from scratch and in PyTorch",
    notebook="a10_pytorch_training.ipynb",
    call_timeout_s=TIME_BUDGET_S,
    question_timeout_s=2 * TIME_BUDGET_S + 10.0,
    total_timeout_s=2 * TIME_BUDGET_S + 120.0,
    memory_bytes=12 * 1024**3,  # torch reserves a lot of address space
    processes=64,  # torch's thread pools, and DataLoader worker processes if a notebook uses them
    extra={"datasets": ("fashion-mnist",)},  # fetched when Gradescope builds the autograder (gradescope.py)
    questions=[
        Question("q1", "One SGD step with autograd", 3, ["torch_sgd_step"], checks("torch_sgd_step", torch_sgd_step, [
            ("8 samples, 5 features, 3 classes", lambda r: _step_args(r), False, np.float32),
            ("hidden", lambda r: _step_args(r, n=16, features=7, classes=4), True, np.float32),
        ], result_names=("new_weight", "new_bias")), forbid=("sklearn", "tensorflow", "jax")),
        Question("q2", f"Fashion-MNIST to {TARGET_ACCURACY:.0%} within {TIME_BUDGET_S:.0f} s", 7, ["train_and_predict"], [
            # 2000 test images: with 500 the solution's accuracy varied with the draw by 1.5 points and fell
            # below 80 % in 1 draw of 80 (79.0 %, mean 83.8); with 2000, 84.1 ± 0.7, lowest 82.1 in 40
            Check("train_and_predict: 3000 training images, 2000 test images", "train_and_predict",
                  lambda r: _subset(r, 3000, 2000), None, judge=judge_predictions, timeout_s=TIME_BUDGET_S,
                  torch_seed=True),
            Check("train_and_predict: hidden test 1", "train_and_predict",
                  lambda r: _subset(r, 6000, 1000), None, hidden=True, judge=judge_predictions, timeout_s=TIME_BUDGET_S,
                  torch_seed=True),
        ], forbid=("sklearn", "tensorflow", "jax")),
    ],
)

"""Quick mode and seeding."""
import numpy as np
import pytest

import course_lib
from course_lib.scratch import Linear


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("on", True), ("0", False), ("", False)])
def test_quick_mode_switch(monkeypatch, value, expected):
    monkeypatch.setenv("COURSE_LIB_QUICK", value)
    assert course_lib.quick_mode() is expected
    assert course_lib.sized(full=10, quick=2) == (2 if expected else 10)


def test_seed_everything_makes_scratch_and_torch_initialisation_repeatable():
    torch = pytest.importorskip("torch")
    course_lib.seed_everything(7)
    first = (Linear(3, 2).weight.data.copy(), torch.nn.Linear(3, 2).weight.detach().clone(), np.random.rand())
    course_lib.seed_everything(7)
    second = (Linear(3, 2).weight.data.copy(), torch.nn.Linear(3, 2).weight.detach().clone(), np.random.rand())
    assert np.array_equal(first[0], second[0]) and torch.equal(first[1], second[1]) and first[2] == second[2]

"""Quick mode and seeding."""
import os

import numpy as np
import pytest

import course_lib
from course_lib.scratch import Linear


@pytest.fixture(autouse=True)
def _global_state():
    """seed_everything changes process-wide state: the generators of random, NumPy and torch,
    cuDNN's switches, torch's deterministic mode and CUBLAS_WORKSPACE_CONFIG.  Put it all back,
    or the files that run after this one on the same xdist worker inherit it."""
    import random

    import torch

    workspace = os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)  # put back below: seed_everything sets it
    saved = (random.getstate(), np.random.get_state(), torch.random.get_rng_state(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
             torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    yield
    random.setstate(saved[0])
    np.random.set_state(saved[1])
    torch.random.set_rng_state(saved[2])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[3:5]
    torch.use_deterministic_algorithms(saved[5], warn_only=saved[6])
    # (monkeypatch.delenv of an absent variable records nothing, so it left seed_everything's value set)
    if workspace is None:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    else:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = workspace


# 1/true/yes/on switch quick mode on whatever their case and surrounding spaces (a CI file with
# COURSE_LIB_QUICK=Yes ran the full-size book)
@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("on", True), ("0", False), ("", False),
                                             ("yes", True), ("YES", True), (" True ", True), ("On", True),
                                             ("no", False), ("off", False), ("2", False)])
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


def test_seed_everything_asks_torch_for_deterministic_kernels(monkeypatch):
    """On a GPU, cuDNN's autotuned kernels sum in an order that changes between runs; the book's
    numbers must not.  Without a GPU the global switch stays off (it NaN-fills torch.empty)."""
    torch = pytest.importorskip("torch")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
              torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    fused = {name: getattr(torch.backends.cuda, f"{name}_sdp_enabled")() for name in ("flash", "mem_efficient", "cudnn")}
    try:
        for gpu in (False, True):
            torch.use_deterministic_algorithms(False)
            monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
            course_lib.seed_everything(3)
            assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
            assert torch.are_deterministic_algorithms_enabled() is gpu
            assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
            # warning mode leaves the fused attention kernels' backward unordered: the plain one on a GPU
            assert (not any(getattr(torch.backends.cuda, f"{name}_sdp_enabled")() for name in fused)) is gpu
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cuda.math_sdp_enabled()
    finally:
        for name, enabled in fused.items():
            getattr(torch.backends.cuda, f"enable_{name}_sdp")(enabled)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[:2]
        torch.use_deterministic_algorithms(before[2], warn_only=before[3])


@pytest.mark.parametrize("seed", [True, -1, 2**32, 1.0, "0"])
def test_seed_everything_refuses_seeds_outside_numpys_range_and_booleans(seed):
    """A bool (``seed_everything(True)``, meant as ``deterministic=True``) is no seed, and 2**32 is
    one past NumPy's largest: both are named here, not seeded as 1 or refused inside NumPy."""
    with pytest.raises(ValueError, match="needs an integer seed from 0 to 2\\*\\*32 - 1"):
        course_lib.seed_everything(seed)


def test_seed_everything_seeds_pythons_random_and_accepts_the_largest_seed():
    import random

    course_lib.seed_everything(2**32 - 1)
    first = random.random()
    course_lib.seed_everything(2**32 - 1)
    assert random.random() == first


def test_seed_everything_keeps_a_cublas_setting_and_deterministic_false_changes_nothing(monkeypatch):
    """A CUBLAS_WORKSPACE_CONFIG the user chose stays; ``deterministic=False`` leaves PyTorch's
    switches as they were (it neither sets nor undoes them)."""
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    before = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    try:
        course_lib.seed_everything(1)
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
        monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, True
        course_lib.seed_everything(1, deterministic=False)
        assert (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark) == (False, True)
        assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before


def test_seed_everything_takes_numpy_integers():
    """random.seed refuses np.int64 — a TypeError although the check accepted it (an audit, 2026-12-06)."""
    course_lib.seed_everything(np.int64(5))
    first = np.random.rand()
    course_lib.seed_everything(np.uint32(5))
    assert np.random.rand() == first

"""Course-wide switches: quick mode and seeding.

Quick mode (``COURSE_LIB_QUICK=1``) shrinks epochs and dataset sizes so the whole
book runs fast under test.  It changes *sizes only*, never code paths: every
notebook asks ``sized(full=…, quick=…)`` for its numbers and runs the same code.
"""
from __future__ import annotations

import os
import random

import numpy as np

from .checks import is_seed

QUICK_ENV = "COURSE_LIB_QUICK"


def quick_mode() -> bool:
    """True when ``$COURSE_LIB_QUICK`` is set to 1/true/yes/on."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def sized(full, quick):
    """``quick`` in quick mode, ``full`` otherwise (epochs, sample counts, grid sizes…)."""
    return quick if quick_mode() else full


def seed_everything(seed: int = 0, deterministic: bool = True) -> None:
    """Seed Python, NumPy, the scratch initialisers and (if installed) PyTorch.

    With ``deterministic`` (the default) PyTorch is also asked for the same numbers on every run on
    a GPU, where by default cuDNN and cuBLAS pick kernels whose sums may differ in the last bits
    between runs: cuDNN's deterministic algorithms without autotuning, cuBLAS's fixed workspace
    (``CUBLAS_WORKSPACE_CONFIG``, where not set already) and, where PyTorch sees a GPU,
    ``torch.use_deterministic_algorithms`` in its warning mode (an operation with no deterministic
    kernel warns, naming itself, instead of failing) and attention's plain kernel: in that mode the
    fused ones (flash, memory-efficient, cuDNN) keep a backward that adds its parts in any order,
    while the plain one repeats, at a cost in speed and memory (it holds every L × L attention map)
    that the course's short sequences do not feel.
    CUBLAS_WORKSPACE_CONFIG is read once, when cuBLAS starts, so call this before any GPU work.
    On a machine without a GPU the deterministic switch is left alone:
    the CPU kernels the course uses are deterministic already, and the switch would also fill every
    new ``torch.empty`` tensor with NaN, a cost for nothing.  ``deterministic=False`` changes none
    of these settings (it does not undo an earlier call's).
    """
    if not is_seed(seed):
        raise ValueError(f"seed_everything needs an integer seed from 0 to 2**32 - 1, got {seed!r}")
    seed = int(seed)  # random.seed refuses NumPy integers
    random.seed(seed)
    np.random.seed(seed)
    from .scratch import init

    init.manual_seed(seed)
    try:
        import torch
    except ImportError:  # the scratch side works without torch
        return
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        if torch.cuda.is_available():
            torch.use_deterministic_algorithms(True, warn_only=True)
            for fused in ("flash", "mem_efficient", "cudnn"):
                switch = getattr(torch.backends.cuda, f"enable_{fused}_sdp", None)  # cuDNN's: torch ≥ 2.3
                if switch is not None:
                    switch(False)

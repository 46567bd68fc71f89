"""Course-wide switches: quick mode and seeding.

Quick mode (``COURSE_LIB_QUICK=1``) shrinks epochs and dataset sizes so the whole
book runs fast under test.  It changes *sizes only*, never code paths: every
notebook asks ``sized(full=…, quick=…)`` for its numbers and runs the same code.
"""
from __future__ import annotations

import os
import random

import numpy as np

QUICK_ENV = "COURSE_LIB_QUICK"


def quick_mode() -> bool:
    """True when ``$COURSE_LIB_QUICK`` is set to 1/true/yes/on."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def sized(full, quick):
    """``quick`` in quick mode, ``full`` otherwise (epochs, sample counts, grid sizes…)."""
    return quick if quick_mode() else full


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy, the scratch initialisers and (if installed) PyTorch."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed_everything needs an integer seed from 0 to 2**32 - 1, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    from .scratch import init

    init.manual_seed(seed)
    try:
        import torch
    except ImportError:  # the scratch side works without torch
        return
    torch.manual_seed(seed)

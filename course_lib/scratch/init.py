"""Weight initialisers that match PyTorch's defaults.

Why their scale matters: Chapter "Optimisation", section "Initialisation and batch normalisation".

PyTorch initialises ``Linear`` and ``Conv2d`` with Kaiming-uniform (a = √5), which
reduces to U(-1/√fan_in, 1/√fan_in) for weights and biases alike; recurrent layers
use U(-1/√hidden_size, 1/√hidden_size) for every parameter.  The values differ from
torch's (different random streams) but the distributions are the same.
A single module-level generator makes every scratch model reproducible from
``manual_seed``.
"""
from __future__ import annotations

import math
from typing import Tuple

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Reseed the generator used by every scratch initialiser and by ``Dropout``."""
    global _generator
    _generator = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    """The generator scratch modules draw from (see ``manual_seed``)."""
    return _generator


def fan_in_and_fan_out(shape: Tuple[int, ...]) -> Tuple[int, int]:
    """fan_in = in_features × receptive field, fan_out = out_features × receptive field."""
    if len(shape) < 2:
        raise ValueError(f"fan in/out needs a weight with at least 2 dimensions, got shape {shape}")
    receptive_field = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive_field, shape[0] * receptive_field


def uniform(shape: Tuple[int, ...], bound: float, dtype=np.float32) -> np.ndarray:
    """Samples from U(-bound, bound)."""
    return _generator.uniform(-bound, bound, size=shape).astype(dtype)


def normal(shape: Tuple[int, ...], std: float, dtype=np.float32) -> np.ndarray:
    """Samples from N(0, std²)."""
    return (_generator.standard_normal(size=shape) * std).astype(dtype)


def kaiming_uniform(shape: Tuple[int, ...], a: float = math.sqrt(5), dtype=np.float32) -> np.ndarray:
    """He/Kaiming uniform: bound = gain·√(3/fan_in), gain = √(2/(1+a²)); torch's default for weights."""
    fan_in, _ = fan_in_and_fan_out(shape)
    if fan_in == 0:  # e.g. Linear(0, n): a weight with no entries, nothing to draw (as in torch)
        return np.empty(shape, dtype)
    gain = math.sqrt(2.0 / (1 + a * a))
    return uniform(shape, gain * math.sqrt(3.0 / fan_in), dtype)


def kaiming_normal(shape: Tuple[int, ...], dtype=np.float32) -> np.ndarray:
    """He normal for ReLU networks: std = √(2/fan_in)."""
    fan_in, _ = fan_in_and_fan_out(shape)
    if fan_in == 0:
        return np.empty(shape, dtype)
    return normal(shape, math.sqrt(2.0 / fan_in), dtype)


def xavier_uniform(shape: Tuple[int, ...], gain: float = 1.0, dtype=np.float32) -> np.ndarray:
    """Glorot uniform: bound = gain·√(6/(fan_in+fan_out)); used for attention projections."""
    fan_in, fan_out = fan_in_and_fan_out(shape)
    return uniform(shape, gain * math.sqrt(6.0 / (fan_in + fan_out)), dtype)


def bias_uniform(shape: Tuple[int, ...], fan_in: int, dtype=np.float32) -> np.ndarray:
    """torch's default bias: U(-1/√fan_in, 1/√fan_in)."""
    return uniform(shape, 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0, dtype)

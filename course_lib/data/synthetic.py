"""Seeded synthetic datasets used throughout the course.

Every generator takes ``seed`` and returns NumPy arrays (float32 features,
int64 class labels), so the same call always gives the same data.
"""
from __future__ import annotations

import numbers
from typing import Tuple

import numpy as np

from ..checks import check_sizes


def _rng(seed: int, **scales) -> np.random.Generator:
    """The generator of ``seed``, after checking it and the noise scales (``noise=0.1``, ``std=1.0``):
    a NaN or negative scale gave arrays of NaN, or silently the absolute value."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:  # NumPy takes any size
        raise ValueError(f"seed must be a whole number ≥ 0, got {seed!r}")
    for name, value in scales.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number ≥ 0 (a standard deviation), got {value!r}")
    return np.random.default_rng(seed)


def make_regression(n_samples: int = 100, n_features: int = 1, noise: float = 0.1, seed: int = 0):
    """y = X w + b + ε with w ~ N(0, 1), b ~ N(0, 1), ε ~ N(0, noise²).

    Returns ``X (n, d) float32, y (n,) float32, (w, b)`` — the true coefficients,
    so a chapter can compare the fitted line with the truth.
    """
    check_sizes(None, n_samples=n_samples, n_features=n_features)
    rng = _rng(seed, noise=noise)
    x = rng.uniform(-2, 2, size=(n_samples, n_features))
    w = rng.standard_normal(n_features)
    b = float(rng.standard_normal())
    y = x @ w + b + noise * rng.standard_normal(n_samples)
    return x.astype(np.float32), y.astype(np.float32), (w.astype(np.float32), np.float32(b))


def make_xor(n_samples: int = 200, noise: float = 0.1, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Points around the four corners (±1, ±1); label 1 where the signs differ (XOR)."""
    check_sizes(None, n_samples=n_samples)
    rng = _rng(seed, noise=noise)
    corners = rng.integers(0, 2, size=(n_samples, 2)) * 2 - 1
    x = corners + noise * rng.standard_normal((n_samples, 2))
    y = (corners[:, 0] != corners[:, 1]).astype(np.int64)
    return x.astype(np.float32), y


def make_moons(n_samples: int = 200, noise: float = 0.1, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (class 0 on top, class 1 below and shifted)."""
    check_sizes(None, n_samples=n_samples)
    rng = _rng(seed, noise=noise)
    n_top = n_samples // 2
    angles_top = rng.uniform(0, np.pi, n_top)
    angles_bottom = rng.uniform(0, np.pi, n_samples - n_top)
    top = np.stack([np.cos(angles_top), np.sin(angles_top)], axis=1)
    bottom = np.stack([1 - np.cos(angles_bottom), 0.5 - np.sin(angles_bottom)], axis=1)
    x = np.concatenate([top, bottom]) + noise * rng.standard_normal((n_samples, 2))
    y = np.concatenate([np.zeros(n_top), np.ones(n_samples - n_top)]).astype(np.int64)
    order = rng.permutation(n_samples)
    return x[order].astype(np.float32), y[order]


def make_spirals(
    n_per_class: int = 100, n_classes: int = 3, noise: float = 0.2, seed: int = 0
) -> Tuple[np.ndarray, np.ndarray]:
    """k interleaved spiral arms (the cs231n toy problem no linear model can solve)."""
    check_sizes(None, n_per_class=n_per_class, n_classes=n_classes)
    rng = _rng(seed, noise=noise)
    radius = np.tile(np.linspace(0.0, 1.0, n_per_class), n_classes)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    theta = labels * (2 * np.pi / n_classes) + radius * 4 + noise * rng.standard_normal(labels.size)
    x = np.stack([radius * np.sin(theta), radius * np.cos(theta)], axis=1)
    order = rng.permutation(labels.size)
    return x[order].astype(np.float32), labels[order].astype(np.int64)


def make_blobs(
    n_samples: int = 300, centers: int = 3, n_features: int = 2, std: float = 1.0, spread: float = 5.0, seed: int = 0
) -> Tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian clusters with centres drawn uniformly in [-spread, spread]^d."""
    check_sizes(None, n_samples=n_samples, centers=centers, n_features=n_features)
    if centers > n_samples:  # some classes would get no sample: fewer classes than asked for
        raise ValueError(f"make_blobs: centers ({centers}) must not exceed n_samples ({n_samples})")
    rng = _rng(seed, std=std)
    means = rng.uniform(-spread, spread, size=(centers, n_features))
    labels = np.arange(n_samples) % centers
    x = means[labels] + std * rng.standard_normal((n_samples, n_features))
    order = rng.permutation(n_samples)
    return x[order].astype(np.float32), labels[order].astype(np.int64)


def make_sine_sequences(
    n_sequences: int = 256, length: int = 50, noise: float = 0.05, seed: int = 0
) -> Tuple[np.ndarray, np.ndarray]:
    """Next-step prediction on sine waves of random frequency and phase.

    Returns inputs ``(N, L, 1)`` and targets ``(N, L, 1)`` where target[t] = clean signal[t+1]:
    an RNN must infer frequency and phase from what it has seen so far.
    """
    check_sizes(None, n_sequences=n_sequences, length=length)
    rng = _rng(seed, noise=noise)
    frequency = rng.uniform(0.05, 0.25, size=(n_sequences, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n_sequences, 1))
    t = np.arange(length + 1)[None, :]
    clean = np.sin(2 * np.pi * frequency * t + phase)
    inputs = clean[:, :-1] + noise * rng.standard_normal((n_sequences, length))
    return inputs[..., None].astype(np.float32), clean[:, 1:, None].astype(np.float32)


def make_sequence_classification(
    n_sequences: int = 512, length: int = 30, seed: int = 0
) -> Tuple[np.ndarray, np.ndarray]:
    """Label a noise sequence by the sign of the sum of its first two marked values.

    Inputs ``(N, L, 2)``: channel 0 is noise in [-1, 1], channel 1 marks two random
    positions.  The label depends on values far apart in time, the long-range
    dependency that separates an LSTM from a plain RNN (the "adding problem" of
    Hochreiter & Schmidhuber, 1997, turned into classification).
    """
    check_sizes(None, n_sequences=n_sequences, length=length)
    if length < 2:
        raise ValueError(f"length must be at least 2, got {length}")
    rng = _rng(seed)
    values = rng.uniform(-1, 1, size=(n_sequences, length))
    marks = np.zeros((n_sequences, length))
    first = rng.integers(0, length // 2, size=n_sequences)
    second = rng.integers(length // 2, length, size=n_sequences)
    rows = np.arange(n_sequences)
    marks[rows, first] = 1
    marks[rows, second] = 1
    labels = (values[rows, first] + values[rows, second] > 0).astype(np.int64)
    return np.stack([values, marks], axis=-1).astype(np.float32), labels


TOKEN_TASKS = ("copy", "reverse", "sort")


def make_token_task(
    task: str = "reverse", n_sequences: int = 1000, length: int = 8, vocab_size: int = 10, seed: int = 0
) -> Tuple[np.ndarray, np.ndarray]:
    """Sequence-to-sequence token tasks for attention: copy, reverse or sort the input.

    Returns ``source (N, L)`` and ``target (N, L)`` int64 token ids in [0, vocab_size).
    Each output position must attend to a different input position (reverse: L-1-t;
    sort: wherever the t-th smallest token is), which attention maps make visible.
    """
    if task not in TOKEN_TASKS:
        raise ValueError(f"task must be one of {TOKEN_TASKS}, got {task!r}")
    check_sizes(None, n_sequences=n_sequences, length=length, vocab_size=vocab_size)
    rng = _rng(seed)
    source = rng.integers(0, vocab_size, size=(n_sequences, length))
    target = {"copy": source, "reverse": source[:, ::-1], "sort": np.sort(source, axis=1)}[task]
    return source.astype(np.int64), np.ascontiguousarray(target).astype(np.int64)

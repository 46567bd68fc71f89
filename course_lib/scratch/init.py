"""Weight initialisers that match PyTorch's defaults.

Why their scale matters: Chapter "Optimisation", section "Initialisation and batch normalisation".

PyTorch initialises ``Linear`` and ``Conv2d`` with Kaiming-uniform (a = √5), which
reduces to U(-1/√fan_in, 1/√fan_in) for weights and biases alike; recurrent layers
use U(-1/√hidden_size, 1/√hidden_size) for every parameter.  The values differ from
torch's (different random streams) but the distributions are the same.  ``calculate_gain``,
``kaiming_uniform``/``kaiming_normal`` (a, mode, nonlinearity), ``xavier_uniform``/``xavier_normal``
and ``orthogonal`` take torch's ``nn.init`` arguments and return a new array instead of filling a tensor.
A single module-level generator makes every scratch model reproducible from
``manual_seed``.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed) -> None:
    """Reseed the generator used by every scratch initialiser and by ``Dropout`` (``seed``: an int, or
    a ``numpy.random.SeedSequence`` for a stream of its own)."""
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


_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity: str, param: Optional[float] = None) -> float:
    """torch's recommended gain for a layer followed by ``nonlinearity``: 1 for linear layers and the
    sigmoid, 5/3 for tanh, √2 for ReLU, √(2/(1 + a²)) for a leaky ReLU of slope a (``param``,
    default 0.01), 3/4 for SELU — the factor that keeps the signal's variance through the layer."""
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: the leaky ReLU's slope must be a number, got {param!r}")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    known = ", ".join(repr(name) for name in (*_LINEAR, "sigmoid", "tanh", "relu", "leaky_relu", "selu"))
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r} (one of {known})")


def _fan(shape: Tuple[int, ...], mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fan_in_and_fan_out(shape)
    return fan_in if mode == "fan_in" else fan_out


def kaiming_uniform(shape: Tuple[int, ...], a: float = math.sqrt(5), mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", dtype=np.float32) -> np.ndarray:
    """He/Kaiming uniform: bound = gain·√(3/fan), gain = ``calculate_gain(nonlinearity, a)``.

    With the default a = √5 (gain √(1/3)) this is torch's default for ``Linear`` and ``Conv2d``
    weights, U(−1/√fan_in, 1/√fan_in); ``torch.nn.init.kaiming_uniform_`` itself defaults to a = 0.
    ``mode='fan_out'`` keeps the variance of the backward pass instead of the forward's.
    """
    fan = _fan(shape, mode)
    if fan == 0:  # e.g. Linear(0, n): a weight with no entries, nothing to draw (as in torch)
        return np.empty(shape, dtype)
    gain = calculate_gain(nonlinearity, a)
    return uniform(shape, gain * math.sqrt(3.0 / fan), dtype)


def kaiming_normal(shape: Tuple[int, ...], a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                   dtype=np.float32) -> np.ndarray:
    """He normal: std = gain/√fan — for ReLU networks (the defaults) std = √(2/fan_in), as
    ``torch.nn.init.kaiming_normal_``."""
    fan = _fan(shape, mode)
    if fan == 0:
        return np.empty(shape, dtype)
    return normal(shape, calculate_gain(nonlinearity, a) / math.sqrt(fan), dtype)


def xavier_uniform(shape: Tuple[int, ...], gain: float = 1.0, dtype=np.float32) -> np.ndarray:
    """Glorot uniform: bound = gain·√(6/(fan_in+fan_out)); used for attention projections."""
    fan_in, fan_out = fan_in_and_fan_out(shape)
    return uniform(shape, gain * math.sqrt(6.0 / (fan_in + fan_out)), dtype)


def xavier_normal(shape: Tuple[int, ...], gain: float = 1.0, dtype=np.float32) -> np.ndarray:
    """Glorot normal: std = gain·√(2/(fan_in+fan_out)), as ``torch.nn.init.xavier_normal_``."""
    fan_in, fan_out = fan_in_and_fan_out(shape)
    return normal(shape, gain * math.sqrt(2.0 / (fan_in + fan_out)), dtype)


def bias_uniform(shape: Tuple[int, ...], fan_in: int, dtype=np.float32) -> np.ndarray:
    """torch's default bias: U(-1/√fan_in, 1/√fan_in)."""
    return uniform(shape, 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0, dtype)


def orthogonal(shape: Tuple[int, ...], gain: float = 1.0, dtype=np.float32) -> np.ndarray:
    """A (semi-)orthogonal matrix times ``gain``, as ``torch.nn.init.orthogonal_`` (Saxe, McClelland & Ganguli, 2014).

    The weight is seen as a matrix of ``shape[0]`` rows and the product of the other sizes as
    columns; its rows (if fewer) or columns are orthonormal, so W Wᵀ = gain²·I or WᵀW = gain²·I.
    Recurrent weights made so neither grow nor shrink the state's length through the steps
    (Chapter "Recurrent networks": all eigenvalues of an orthogonal W_hh have modulus 1).
    """
    if len(shape) < 2:
        raise ValueError(f"orthogonal needs a weight with at least 2 dimensions, got shape {tuple(shape)}")
    rows = int(shape[0])
    columns = math.prod(shape[1:])
    if rows == 0 or columns == 0:
        return np.empty(shape, dtype)
    return _orthogonalise(_generator.standard_normal((rows, columns)), gain).reshape(shape).astype(dtype)


def _orthogonalise(matrix: np.ndarray, gain: float) -> np.ndarray:
    """torch's construction from a standard normal (rows, columns) matrix: Q of the QR decomposition of
    the matrix (of its transpose when it is wide), each column's sign chosen so that R's diagonal is
    positive — then Q is uniformly distributed over the orthogonal matrices — times ``gain``."""
    wide = matrix.shape[0] < matrix.shape[1]
    q, r = np.linalg.qr(matrix.T if wide else matrix)
    q *= np.sign(np.diagonal(r))
    return gain * (q.T if wide else q)

"""Small builders shared by the assignment modules (trusted, grader side)."""
from __future__ import annotations

from typing import Callable, List, Sequence

import numpy as np

from ..spec import Check, Hint


def randn(rng: np.random.Generator, *shape: int, dtype=np.float64, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(dtype)


def loud_and_quiet(rng: np.random.Generator, *shape: int, scale: float, dtype=np.float64) -> np.ndarray:
    """Values of ±``scale`` or so (where exp overflows) and of a few units, at random places, at least
    one of each.  Stability inputs with every value loud make the soft functions hard steps, and
    answers without any exp or log matched them (a red-team audit)."""
    values = randn(rng, *shape, scale=2.0)
    loud = rng.random(shape) < 0.5
    loud.flat[0], loud.flat[-1] = True, False
    values[loud] *= scale / 2.0
    return values.astype(dtype)


def tolerance(dtype) -> dict:
    """rtol/atol suited to the precision of a check's inputs."""
    return {"rtol": 1e-4, "atol": 1e-6} if np.dtype(dtype) == np.float32 else {"rtol": 1e-6, "atol": 1e-9}


def _arrays(value) -> list:
    return [value] if isinstance(value, np.ndarray) else [a for v in value for a in _arrays(v)] \
        if isinstance(value, (tuple, list)) else []


def _transposed(got, expected, args) -> bool:
    """True if the first array of the result whose shape is wrong has the expected shape reversed."""
    for g, e in zip(_arrays(got), _arrays(expected)):
        if g.shape != e.shape:
            return g.ndim == 2 and g.shape == e.shape[::-1]
    return False


TRANSPOSED = Hint(_transposed, "an array is transposed: rows are the samples of the batch (N, …), and a "
                  "gradient has the shape of what it is the gradient of (∂L/∂W has W's shape, (out, in))",
                  structural=True)


def _float32(value):
    """``value`` with every float64 array and NumPy float64 scalar in it made float32 (a NumPy
    float64 scalar would turn float32 arithmetic into float64; a Python float does not)."""
    if isinstance(value, np.ndarray) and value.dtype == np.float64:
        return value.astype(np.float32)
    if isinstance(value, np.float64):
        return np.float32(value)
    if isinstance(value, (tuple, list)):
        return type(value)(_float32(v) for v in value)
    if isinstance(value, dict):
        return {k: _float32(v) for k, v in value.items()}
    return value


def in_float32(case: tuple) -> tuple:
    """The public case ``case`` again with float32 inputs: the result must stay float32.  (Audits
    found answers that return float64 for float32 inputs scoring full marks where no check used
    float32.)"""
    name, make_args = case[:2]

    def made_float32(rng):
        made = make_args(rng)
        return (_float32(made[0]), _float32(made[1]), *made[2:])

    return (f"{name}, in float32: the result stays float32", made_float32, False, np.float32)


def checks(function: str, reference: Callable, cases: Sequence[tuple], hints: Sequence[Hint] = (),
           float32: bool = False, **options) -> List[Check]:
    """One Check per ``(name, make_args, hidden[, dtype[, overrides]])`` case of ``function``;
    ``overrides`` (a dict) replaces Check options for that case alone (``atol=0.0`` where every
    expected number is smaller than the default absolute tolerance).

    Public cases are named for the student; hidden ones only get a number.  Every check also gets
    the ``TRANSPOSED`` hint, after its own.  ``float32=True`` adds the first case again in float32
    (``in_float32``), right after it.
    """
    hints = tuple(hints) + (TRANSPOSED,)
    if float32:
        assert not cases[0][2], f"{function}: the case made float32 must be a public one"
        cases = [cases[0], in_float32(cases[0]), *cases[1:]]
    made = []
    hidden_count = 0
    for case in cases:
        name, make_args, hidden = case[:3]
        dtype = case[3] if len(case) > 3 else np.float64
        overrides = case[4] if len(case) > 4 else {}
        if hidden:
            hidden_count += 1
            name = f"{function}: hidden test {hidden_count}"
        else:
            name = f"{function}: {name}"
        made.append(Check(name, function, make_args, reference, hidden=hidden, hints=hints,
                          **{**tolerance(dtype), **options, **overrides}))
    return made


def args(*values, **kwargs):
    return tuple(values), dict(kwargs)

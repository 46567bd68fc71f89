"""Small builders shared by the assignment modules (trusted, grader side)."""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence

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


def _in_float32(make_args):
    def made_float32(rng):
        made = make_args(rng)
        return (_float32(made[0]), _float32(made[1]), *made[2:])

    return made_float32


def in_float32(case: tuple) -> tuple:
    """The public case ``case`` again with float32 inputs: the result must stay float32.  (Audits
    found answers that return float64 for float32 inputs scoring full marks where no check used
    float32.)  A twin of ``case`` (``Check.twin``) is made float32 too, and its way of making one
    (``twins``) carried over."""
    name, make_args = case[:2]
    given = case[4] if len(case) > 4 else {}
    overrides = {"twin": _in_float32(given["twin"])} if "twin" in given else \
        {"twins": given["twins"]} if "twins" in given else {}
    return (f"{name}, in float32: the result stays float32", _in_float32(make_args), False, np.float32, overrides)


def is_fixed(make_args) -> bool:
    """Whether ``make_args`` makes the same inputs from any generator (``softmax([1000, 1000])``)."""
    first, second = (make_args(np.random.default_rng(seed)) for seed in (1, 2))
    return same_inputs(first, second)


def same_inputs(a, b) -> bool:
    """Whether two inputs are the same: types, shapes, dtypes and every bit (so NaN equals NaN)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and a.tobytes() == b.tobytes())
    if isinstance(a, (tuple, list)) or isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(same_inputs(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) or isinstance(b, dict):
        return type(a) is type(b) and a.keys() == b.keys() and all(same_inputs(a[k], b[k]) for k in a)
    return type(a) is type(b) and (a == b or (a != a and b != b))


def _vary(value, rng: np.random.Generator, spread: float):
    """``value`` with every float array shuffled along its last axis (each row on its own) and every
    float in it (array entries, NumPy and Python floats, in lists and tuples) times its own factor
    drawn from [1 − spread, 1 / (1 − spread)]; integers and booleans stay."""
    low, high = 1.0 - spread, 1.0 / (1.0 - spread)
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
        shuffled = rng.permuted(value, axis=-1) if value.ndim else value
        return np.asarray(shuffled * rng.uniform(low, high, value.shape)).astype(value.dtype)
    if isinstance(value, (float, np.floating)):
        return type(value)(value * rng.uniform(low, high))
    if isinstance(value, (tuple, list)):
        return type(value)(_vary(item, rng, spread) for item in value)
    return value


def varied(make_args, at: Optional[Sequence[int]] = None, spread: float = 0.1):
    """A twin (``Check.twin``) for a public case with fixed inputs: the same inputs with each float
    array among the positional arguments at positions ``at`` (all by default; keyword arguments stay)
    shuffled along its last axis, and every float there times its own random factor in [0.9, 1/0.9].
    Shapes, dtypes, rows, zeros, signs, integers (class labels, axes) and magnitudes stay — ±1000 still
    overflows e^x — and no value is one a table could hold.  Where the answer is saturated (σ(±1000) is
    0, 0.5 and 1 whatever the factor, which a table ordered like the inputs would know; the grader
    refuses such a twin, ``runner._twin``) or a tie matters (``softmax([1000, 1000])``), the case needs
    a twin of its own (``nearly_tied``, a01's ``_far_and_near``).  Leave out of ``at`` what must keep
    its exact values (0/1 targets)."""
    def twin(rng):
        made = make_args(rng)
        positional = tuple(_vary(value, rng, spread) if at is None or index in at else value
                           for index, value in enumerate(made[0]))
        return (positional, *made[1:])

    return twin


def nearly_tied(make_args, at: Sequence[int] = (0,), spread: float = 0.1):
    """``varied``, then in every row (last axis) of the float arrays at positions ``at`` the second
    largest logit moved to 0.5–3 below the largest.  For softmax cases of large logits: the twin keeps
    their magnitude (e^x still overflows) and a tie the case is about ([1000, 1000]) stays a near tie,
    and its answer is neither [0.5, 0.5] nor one-hot — a scaled copy of [1000, 1000] is [1050, 980],
    whose softmax a naive answer that turns its NaN into a one-hot of the maximum matched (an audit)."""
    shaken = varied(make_args, at=at, spread=spread)

    def twin(rng):
        made = shaken(rng)
        positional = tuple(_nearly_tie(value, rng) if index in at else value for index, value in enumerate(made[0]))
        return (positional, *made[1:])

    return twin


def _nearly_tie(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    order = np.argsort(logits, axis=-1)
    top = np.take_along_axis(logits, order[..., -1:], axis=-1)
    tied = logits.copy()
    np.put_along_axis(tied, order[..., -2:-1], top - rng.uniform(0.5, 3, top.shape), axis=-1)
    return tied.astype(logits.dtype)


def checks(function: str, reference: Callable, cases: Sequence[tuple], hints: Sequence[Hint] = (),
           float32: bool = False, twins: Optional[Callable] = varied, **options) -> List[Check]:
    """One Check per ``(name, make_args, hidden[, dtype[, overrides]])`` case of ``function``;
    ``overrides`` (a dict) replaces Check options for that case alone (``atol=0.0`` where every
    expected number is smaller than the default absolute tolerance; ``twin=`` a twin of its own;
    ``twins=`` the way to make this case's twin from its ``make_args``, ``nearly_tied``).  A public case
    whose inputs are fixed and that has no twin of its own gets ``twins(make_args)`` (``varied`` by
    default; None leaves it without one, which the test suite refuses).

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
        overrides = dict(case[4]) if len(case) > 4 else {}
        maker = overrides.pop("twins", twins)
        if not hidden and "twin" not in overrides and maker is not None and is_fixed(make_args):
            overrides["twin"] = maker(make_args)
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

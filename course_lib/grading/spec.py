"""How an assignment is described to the grader, and how one answer is judged.

An :class:`Assignment` lists :class:`Question` s; a question has points, the
function(s) it grades and :class:`Check` s.  A check makes inputs from a random
generator, computes the expected answer with ``course_lib``'s reference code (in the
grader's process) and compares it with what the student's function returned, in this
order: exact type, shape, dtype kind, finiteness, values.  Every failure explains
itself in words a student can act on; ``Hint`` s add advice for known mistakes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .wire import Foreign

Args = Tuple[tuple, dict]


@dataclass
class Hint:
    """Advice shown when a check fails and ``applies(student_value, expected, args)`` is true.

    A hint is about wrong values unless ``structural``: then it is about a wrong shape (a transposed
    gradient), which the comparison reports before it looks at any value."""

    applies: Callable[[Any, Any, tuple], bool]
    message: str
    structural: bool = False


@dataclass
class Check:
    """One graded call of a student function on grader-made inputs."""

    name: str  # what the student sees, e.g. "softmax of a (4, 5) float64 array"
    function: str
    make_args: Callable[[np.random.Generator], Args]  # (args, kwargs) or (args, kwargs, secret)
    expected: Callable[..., Any]  # reference: expected(*args, **kwargs)
    hidden: bool = False
    rtol: float = 1e-6
    atol: float = 1e-8
    hints: Sequence[Hint] = ()
    # judge(student_value, args, kwargs, secret) -> (passed, message): for answers with no single
    # right value; ``secret`` (held-out data) never leaves the grader
    judge: Optional[Callable[[Any, tuple, dict, Any], Tuple[bool, str]]] = None
    timeout_s: Optional[float] = None
    # run the call under np.errstate(over=, divide=, invalid="raise"): an overflow, a division by
    # zero or an invalid operation (a NumPy warning) makes it fail, for answers that must avoid them
    float_errors: bool = False
    # call the function this many times on fresh copies of the same arguments; with more than one
    # call the judge receives the tuple of results (e.g. two dropout calls must draw different masks)
    calls: int = 1
    # the names of a tuple result's items, as the assignment's text gives them: messages then say
    # "grad_W_hh (item 4 of the result) differs …" instead of a bare position
    result_names: Sequence[str] = ()
    # report PyTorch's seed after the call (``torch.initial_seed()``, None where the notebook never
    # imported torch): the judge then gets it as the keyword ``torch_seed`` — a training run seeded
    # with the ``seed`` it was given grades the same when the grade is reproduced (``--seed``)
    torch_seed: bool = False
    # for a public check whose inputs are fixed (``softmax([1000, 1000])``, the same for everyone and
    # shown by check()): twin(rng) makes inputs of the same kind — what the check tests (overflow, a
    # near tie, an absent class, a remainder) kept, the values new — on which the grader runs it
    # instead, so that answers looked up for the shown inputs earn nothing (``_util.varied``,
    # ``runner._twin``)
    twin: Optional[Callable[[np.random.Generator], Args]] = None


@dataclass
class Question:
    id: str
    title: str
    points: float
    functions: List[str]
    checks: List[Check]
    # every installed package (and the usual others) that implements what a from-scratch question
    # asks for: networks and their gradients (torch, ONNX's reference evaluator and runtime, which
    # have Conv, LSTM, Attention, Softmax and Adam operators), numerics (scipy), symbolic
    # derivatives (sympy), whole learners (sklearn)
    forbid: Sequence[str] = ("torch", "functorch", "sklearn", "scipy", "sympy", "tensorflow", "jax",
                             "onnx", "onnx_ir", "onnxruntime", "onnxscript")
    # what to do about an input changed in place, where the general advice does not fit
    in_place_advice: str = ""


@dataclass
class Assignment:
    id: str  # e.g. "a01"
    title: str
    chapter: str
    notebook: str  # file name in solutions/ and exercises/
    questions: List[Question]
    public_seed: int = 0
    cell_timeout_s: float = 30.0
    call_timeout_s: float = 20.0
    question_timeout_s: float = 120.0
    total_timeout_s: float = 300.0
    memory_bytes: int = 3 * 1024**3
    processes: int = 32  # tasks (threads count) of the whole submission; torch training needs more
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def max_score(self) -> float:
        return float(sum(q.points for q in self.questions))

    def question(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(f"{self.id} has no question {question_id!r}; it has {[q.id for q in self.questions]}")


# ----------------------------------------------------------------------------- comparing answers
def describe_type(value: Any) -> str:
    if isinstance(value, Foreign):
        return f"an object of type {value.type_name}"
    if isinstance(value, np.ndarray):
        return f"{'an' if value.dtype.name.startswith('i') else 'a'} {value.dtype} array of shape {value.shape}"
    if isinstance(value, np.generic):
        return f"a numpy {value.dtype} scalar"
    if isinstance(value, bool):
        return "a bool"
    if value is None:
        return "None"
    return f"a {type(value).__name__}"


def _is_real_scalar(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (float, int, np.floating, np.integer)):
        return True
    return isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iuf"


def _entry(value: Any) -> str:
    """One array entry as a student reads it: ``0.5``, ``3``, ``True``, not ``np.float32(0.5)``."""
    if isinstance(value, np.floating):
        return f"{float(value) + 0.0:.8g}"  # + 0.0: a negative zero reads 0, not -0
    if isinstance(value, (np.integer, np.bool_)):
        return str(value.item())
    return repr(value)


def compare(student: Any, expected: Any, rtol: float = 1e-6, atol: float = 1e-8, path: str = "the result",
            values: bool = True, names: Sequence[str] = ()) -> Tuple[bool, str]:
    """Compare a decoded student value with the expected one.  Returns (passed, message).

    With ``values=False`` only type, shape and dtype are compared (for answers judged otherwise).
    ``names``: the names of a tuple's items, for the messages.
    """
    if isinstance(student, Foreign):
        return False, f"{path} is {describe_type(student)}; expected {describe_type(expected)} (plain data only)"
    if isinstance(expected, np.ndarray):
        if not isinstance(student, np.ndarray):
            return False, f"{path} should be {describe_type(expected)}, but it is {describe_type(student)}"
        if student.shape != expected.shape:
            message = f"{path} has shape {student.shape}; expected shape {expected.shape}"
            if student.size == expected.size:
                message += " (same number of entries: check keepdims, reshape or a missing squeeze)"
            return False, message
        kinds = {"f": "float", "i": "integer", "u": "integer", "b": "bool"}
        if kinds.get(student.dtype.kind) != kinds.get(expected.dtype.kind):
            kind = kinds.get(expected.dtype.kind)
            article = "an" if kind == "integer" else "a"
            return False, f"the dtype of {path} is {student.dtype}; expected {article} {kind} array ({expected.dtype})"
        if expected.dtype.kind == "f" and student.dtype != expected.dtype:
            return False, (f"the dtype of {path} is {student.dtype}; expected {expected.dtype}: keep the input's precision "
                           f"(from integer inputs, float64), avoid silent casts — a new array made without dtype= "
                           f"(np.zeros(shape), np.eye(n), np.where(mask, 1.0, 0.0)) is float64, so pass dtype=x.dtype; "
                           f"and a NumPy scalar turns float32 arrays into float64, a float64 one such as np.sqrt(2.0) "
                           f"or np.float64(t) and an integer one such as np.prod(x.shape) or np.sum(mask) alike: use "
                           f"math.sqrt and Python numbers (x.size, int(np.sum(mask)))")
        if expected.dtype.kind in "iu" and student.dtype != expected.dtype:  # the texts name it: int64 indices, labels
            return False, f"the dtype of {path} is {student.dtype}; expected {expected.dtype} (convert with .astype(np.{expected.dtype}))"
        if not values:
            return True, "correct"
        if expected.dtype.kind == "f":
            bad_student = ~np.isfinite(student)
            if np.any(bad_student & np.isfinite(expected)):
                first = tuple(int(i) for i in np.argwhere(bad_student & np.isfinite(expected))[0])
                return False, f"{path} contains {student[first]} (at index {first}) where a finite number was expected"
            if not np.allclose(student, expected, rtol=rtol, atol=atol, equal_nan=True):
                error = np.abs(student.astype(np.float64) - expected.astype(np.float64))
                error = np.where(np.isfinite(error), error, np.inf)
                first = tuple(int(i) for i in np.unravel_index(int(np.argmax(error)), error.shape))
                return False, (f"{path} differs from the expected values: largest error {float(error[first]):.3g} "
                               f"at index {first} (got {_entry(student[first])}, expected {_entry(expected[first])})")
            return True, "correct"
        if not np.array_equal(student, expected):
            wrong = student != expected
            first = tuple(int(i) for i in np.argwhere(wrong)[0])
            return False, (f"{path} has {int(wrong.sum())} of {expected.size} entries different from the expected "
                           f"values, the first at index {first} (got {_entry(student[first])}, expected {_entry(expected[first])})")
        return True, "correct"
    if isinstance(expected, (bool, np.bool_)):
        if not isinstance(student, (bool, np.bool_)):
            return False, f"{path} should be a bool, but it is {describe_type(student)}"
        if not values:
            return True, "correct"
        return (bool(student) == bool(expected)), ("correct" if bool(student) == bool(expected) else f"{path} is {student}; expected {expected}")
    if isinstance(expected, (int, np.integer)):
        if not isinstance(student, (int, np.integer)) or isinstance(student, (bool, np.bool_)):
            return False, f"{path} should be an integer, but it is {describe_type(student)}"
        if not values:
            return True, "correct"
        return (int(student) == int(expected)), ("correct" if int(student) == int(expected) else f"{path} is {student}; expected {expected}")
    if isinstance(expected, (float, np.floating)):
        if not _is_real_scalar(student):
            return False, f"{path} should be a single number (float), but it is {describe_type(student)}"
        if not values:
            return True, "correct"
        value = float(student)
        if not np.isfinite(value) and np.isfinite(expected):
            return False, f"{path} is {value} where a finite number was expected"
        if not np.isclose(value, float(expected), rtol=rtol, atol=atol):
            return False, f"{path} is {value:.8g}; expected {float(expected):.8g}"
        return True, "correct"
    if isinstance(expected, (tuple, list)):
        # a list for a tuple (or a tuple for a list) holds the same answer: the texts write a pair as
        # (a, b), and `return [p, r, f]` is a right answer written another way
        if not isinstance(student, (tuple, list)):
            return False, f"{path} should be a {type(expected).__name__} of {len(expected)} items, but it is {describe_type(student)}"
        if len(student) != len(expected):
            return False, f"{path} has {len(student)} item{'' if len(student) == 1 else 's'}; expected {len(expected)}"
        for index, (s, e) in enumerate(zip(student, expected)):
            item = f"item {index} of {path}"
            ok, message = compare(s, e, rtol, atol, f"{names[index]} ({item})" if index < len(names) else item, values)
            if not ok:
                return False, message
        return True, "correct"
    if isinstance(expected, dict):
        if not isinstance(student, dict):
            return False, f"{path} should be a dict, but it is {describe_type(student)}"
        if set(student) != set(expected):
            return False, f"{path} has keys {sorted(map(str, student))}; expected {sorted(map(str, expected))}"
        for key in expected:
            ok, message = compare(student[key], expected[key], rtol, atol, f"{path}[{key!r}]", values)
            if not ok:
                return False, message
        return True, "correct"
    if expected is None:
        return (student is None), ("correct" if student is None else f"{path} should be None")
    raise TypeError(f"no comparison rule for expected values of type {type(expected).__name__}")


def matches(got: Any, candidate: Any, rtol: float = 1e-5) -> bool:
    """True if ``got`` equals ``candidate`` (what a known mistake computes) up to rounding: for hints."""
    return compare(got, candidate, rtol=rtol, atol=1e-7)[0]


def has_nonfinite(value: Any) -> bool:
    """True if an array or number (or any item of a tuple) is nan or inf: for hints."""
    if isinstance(value, (tuple, list)):
        return any(has_nonfinite(v) for v in value)
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return not bool(np.all(np.isfinite(value)))
    if isinstance(value, (float, np.floating)):
        return not np.isfinite(value)
    return False

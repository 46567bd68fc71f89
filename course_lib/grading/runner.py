"""Grade one submitted notebook: the grader's side of the trust model.

1. Read the notebook as untrusted JSON (size cap, nbformat 4 only, plain code cells).
2. Scan it statically for imports a question forbids (torch in a from-scratch question).
3. Make every check's inputs here from a fresh per-submission seed (public ones of the kind
   ``check()`` shows, on other values: ``_prepare``), and compute the expected answers here
   with course_lib's reference code — before any student code runs.
4. Start a sandboxed kernel (``sandbox.py``), run the student's cells in it (skipping the
   self-check and demo cells, which need course_lib), then call each graded
   function on the inputs and read back only its return value, as data (``wire.py``).
5. Judge each value here (``spec.compare``).  Timeouts and crashes cost only the
   question they happen in: the kernel is restarted and the cells replayed (up to
   ``MAX_RESTARTS`` times; after that the remaining questions are not graded, and the report says so).
"""
from __future__ import annotations

import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .version import GRADER_VERSION
from .assign import template_parameters
from .calls import written_call
from .notebook import (SKIPPED_ROLES, UNCHECKED, NotebookError, TransformBudget, cell_label, defining_cells,
                       forbidden_imports, imported_modules, note_redefinitions, other_assignment_note, read_cells,
                       restore_roles, run_own_code_in_check_cells)
from .sandbox import ExecResult, Limits, Sandbox
from .spec import Assignment, Check, Question, compare
from .wire import HARNESS, WireError, call_code, clean_text, decode_result
from .zmtp import MESSAGE_CAP

MAX_RESTARTS = 3
NOT_ATTEMPTED = "not attempted"
IN_PLACE_ADVICE = ("return new arrays instead: `x = x - shift` makes a new array, while `x -= shift`, "
                   "`np.exp(x, out=x)` or `x[...] = …` change the caller's — and so does `+=` on a slice such "
                   "as `d = x[t]`, which is a view of x (copy it: `x[t].copy()`)")
COPIES_ADVICE = ("work on copies: NumPy's in-place operations change the caller's array (`rng.shuffle(x)`, "
                 "`x.sort()`, `x -= …`, `np.exp(x, out=x)`), and so does an in-place change of a tensor made "
                 "with torch.from_numpy(array), which shares the array's memory (torch.tensor(array) makes a "
                 "copy)")


def in_place_advice(question: Question) -> str:
    """What to do about an input changed in place: the question's own advice, else where PyTorch is
    allowed to work on copies (NumPy's in-place operations, and the memory torch.from_numpy shares), else
    to return new arrays."""
    if question.in_place_advice:
        return question.in_place_advice
    return COPIES_ADVICE if "torch" not in question.forbid else IN_PLACE_ADVICE


def in_place_message(item, changed: List[str]) -> str:
    """The failure of a right answer that changed its inputs; ``changed`` as the harness names them
    ("argument 3", "argument velocity"), shown with the notebook's parameter names:
    "modified its input `velocity` (argument 3) in place"."""
    names = item.parameters

    def named(label: str) -> str:
        position = label.removeprefix("argument ")
        if not re.fullmatch("[0-9]{1,3}", position):  # str.isdigit is true for '²', which int() refuses
            return f"`{position}`"  # passed by keyword
        if int(position) <= len(names):
            return f"`{names[int(position) - 1]}` ({label})"
        return f"({label})"

    return (f"{item.check.function} returned the right value but modified its input "
            f"{', '.join(named(label) for label in changed)} in place; {in_place_advice(item.question)}")


# The kernel runs isolated (python -I), so its working folder is not on sys.path; Jupyter puts
# the notebook's folder there, and a notebook may import a module it wrote itself (%%writefile).
# Appended, not prepended: a file there cannot shadow an installed module.
# ``check`` stands in for the checker of the skipped set-up cell, with the methods students call
# in their own cells: ``check.inputs`` (which the failure messages of ``check()`` suggest) gives no
# inputs here, and ``check.demo()`` lets a stub's NotImplementedError pass, as it does in Jupyter.
PREAMBLE = """
import numpy as np
get_ipython().automagic = False  # `run helper.py` without its % ran another file's code unseen
__import__("sys").path.append(__import__("os").getcwd())
class _Check:
    def __call__(self, *args, **kwargs):
        print("(self-checks do not run while grading)")
    def inputs(self, *args, **kwargs):
        print("(self-check inputs are not available while grading)")
        return (), {}
    def demo(self):
        return __import__("contextlib").suppress(NotImplementedError)
check = _Check()
del _Check
"""


@dataclass
class CheckResult:
    question: str
    name: str
    hidden: bool
    passed: bool
    score: float
    max_score: float
    message: str
    seconds: float = 0.0


@dataclass
class GradeResult:
    assignment: str
    score: float
    max_score: float
    checks: List[CheckResult]
    questions: Dict[str, dict]
    notes: List[str]
    isolation: dict
    seed: int
    grader_version: str = GRADER_VERSION
    timings: Dict[str, float] = field(default_factory=dict)
    error: Optional[str] = None  # the submission could not be graded at all
    grader_failure: Optional[str] = None  # the grader (not the submission) failed: do not record, retry
    other_assignment: Optional[str] = None  # the note that the notebook names another assignment (also in notes)

    def to_dict(self) -> dict:
        return asdict(self)


# ----------------------------------------------------------------------------- the grading session
@dataclass
class _Prepared:
    question: Question
    check: Check
    args: tuple
    kwargs: dict
    expected: Any
    secret: Any = None  # grader-only data for a judge (e.g. held-out labels); never sent
    parameters: Sequence[str] = ()  # the function's parameter names in the assignment's notebook


def _prepare(assignment: Assignment, seed: int, questions: Optional[Sequence[str]] = None,
             include_hidden: bool = True, fresh_public: bool = False) -> List[_Prepared]:
    """Inputs and expected answers for every check, computed in the grader before any student code runs.

    Each question draws from its own generators (public: the assignment's public seed; hidden: the
    submission's seed; both with the question's position), so ``check("q1")`` can prepare q1's
    public checks alone — the inputs students see — without the data the others need.
    ``fresh_public``: the grader's draw.  The public checks' random inputs then come from the
    submission's seed too (a third stream, apart from the hidden one): students see the public inputs
    (``check.inputs``), and answers looked up from a table of them earned 56–68 % of every assignment.
    A check whose inputs are fixed (``[1000, 1000]``) runs on its twin (``Check.twin``), inputs of
    the same kind drawn from a stream of its own: answers looked up for the fixed ones earned
    46–57 % of a01, a02 and a09 while they ran as shown."""
    prepared = []
    for position, question in enumerate(assignment.questions):
        if questions is not None and question.id not in questions:
            continue
        public = np.random.default_rng([seed, position, 1] if fresh_public else [assignment.public_seed, position])
        hidden = np.random.default_rng([seed, position])
        for index, check in enumerate(question.checks):
            if check.hidden and not include_hidden:
                continue
            rng = hidden if check.hidden else public
            if fresh_public and not check.hidden and check.twin is not None:
                # a stream of its own: however often it is drawn again, the other checks' inputs stay
                args, kwargs, secret, expected = _twin(check, np.random.default_rng([seed, position, 2, index]))
            else:
                args, kwargs, secret, expected = _made(check, check.make_args, rng)
            prepared.append(_Prepared(question, check, args, kwargs, expected, secret,
                                      template_parameters(assignment.notebook).get(check.function, ())))
    return prepared


def _made(check: Check, make, rng: np.random.Generator):
    """``(args, kwargs, secret, expected)``: the inputs ``make(rng)`` makes, and the reference's answer
    (None for a check with a judge)."""
    made = make(rng)
    args, kwargs, secret = made if len(made) == 3 else (*made, None)
    expected = None if check.judge else check.expected(*_copy(args), **_copy(kwargs))
    return args, kwargs, secret, expected


def _twin(check: Check, rng: np.random.Generator, tries: int = 200):
    """``_made`` for the twin of a public check with fixed inputs (``Check.twin``), drawn again while its
    answer holds the same numbers as the shown inputs' answer, in any order — a table of the shown
    answers, reordered as the twin's inputs are ordered or its classes renamed, then passes nothing
    (σ(±1000) is 0, 0.5 and 1 however the inputs are scaled and shuffled) — or is one number throughout
    where the shown answer is not (six wrong predictions: precision and recall all 0, which an answer
    of zeros matches).  The most a twin needs is a09's six pairs of three classes, whose counts repeat
    the shown ones in 56 % of draws (16 draws at most in 3,000 seeds); ``tries`` = 200 leaves a working
    twin a chance of 10⁻⁵⁰ of running out, so one that does is broken: an error, not a check that a
    table passes (the test suite draws every twin for 40 to 100 seeds)."""
    shown = _numbers(_made(check, check.make_args, rng)[3])
    for _ in range(tries):
        made = _made(check, check.twin, rng)
        numbers = _numbers(made[3])
        other = numbers.shape != shown.shape or not np.allclose(numbers, shown, check.rtol, check.atol)
        # one number throughout (all 0) where the shown answer is not: an answer of zeros would pass
        constant = numbers.size > 1 and numbers[0] == numbers[-1] and shown.size > 1 and shown[0] != shown[-1]
        if check.judge or (other and not constant):
            return made
    raise RuntimeError(f"the twin of {check.name!r} gave the numbers of the shown inputs' answer {tries} times")


def _numbers(answer) -> np.ndarray:
    """Every number of an expected answer (an array, a number, tuples and lists of them), sorted."""
    if isinstance(answer, (tuple, list)):
        parts = [_numbers(item) for item in answer]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0)
    return np.sort(np.asarray(answer, dtype=np.float64).ravel())


def _drawn_inputs(item: _Prepared) -> str:
    """For a failed public check: that the grader drew its inputs for this submission (not those check()
    shows, which pass for an answer that only knows them), and the call itself where it is short — the
    submission's own inputs, which tell nothing about another's.  A passed check that ran on a twin says
    it too, since its name quotes the shown inputs."""
    call = written_call(item.check.function, item.args, item.kwargs)
    return f"\n(graded on inputs drawn for this submission, of the kind check() shows{f': {call}' if call else ''})"


def _copy(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, tuple):
        return tuple(_copy(v) for v in value)
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def judge_value(prepared: _Prepared, value: Any, torch_seed: Any = None) -> Tuple[bool, str]:
    """Compare a decoded return value with the expected answer (or the check's judge), with hints.
    ``torch_seed``: PyTorch's seed after the call, for a check that asks for it (``Check.torch_seed``)."""
    check = prepared.check
    if check.judge is not None:
        seen = {"torch_seed": torch_seed} if check.torch_seed else {}
        try:
            passed, message = check.judge(value, _copy(prepared.args), _copy(prepared.kwargs), prepared.secret, **seen)
        except Exception as error:  # noqa: BLE001 - a value the judge did not foresee fails; it never stops grading
            passed, message = False, (f"the result could not be judged ({type(error).__name__}: "
                                      f"{clean_text(str(error))[:200]}); return the plain arrays the question asks for")
    else:
        passed, message = compare(value, prepared.expected, check.rtol, check.atol, names=check.result_names)
    # hints are about values, unless marked structural: a wrong type, shape or dtype is explained by
    # the message itself, except for mistakes with a known shape (a transposed gradient)
    structural = not passed and check.judge is None and not compare(value, prepared.expected, values=False)[0]
    if not passed:
        for hint in (hint for hint in check.hints if hint.structural == structural):
            try:
                applies = hint.applies(value, prepared.expected, prepared.args)
            except Exception:  # noqa: BLE001 - a hint that cannot decide stays silent
                applies = False
            if applies:
                message += f". Hint: {hint.message}"
                break
    return passed, message


def error_message(decoded: dict, function: str, float_errors: bool = False) -> str:
    name, value = decoded.get("ename", ""), decoded.get("evalue", "")
    if name == "NotImplementedError":
        return NOT_ATTEMPTED
    where = decoded.get("where", "").strip()
    message = f"{function} raised {name}: {value}"
    if name == "FloatingPointError" and float_errors:
        message += (" (this check turns NumPy's floating-point warnings into errors: the function must not "
                    "overflow, divide by zero or compute an invalid value such as inf − inf, "
                    "not even in a branch whose result it then discards)")
    if where:
        message += f"\n{where}"
    return message


class _OutOfTime(Exception):
    pass


def _is_text(source: str) -> bool:
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Session:
    def __init__(self, cells, assignment: Assignment, limits: Limits, hide, notes: List[str]):
        forbid = sorted({name for q in assignment.questions for name in q.forbid})
        self.sandbox = Sandbox(limits, forbid=forbid, hide=hide)
        self.cells = cells
        self.limits = limits
        self.notes = notes
        self.bad_cells: set = set()  # cells that timed out or killed the kernel: never replayed
        self.noted: set = set()
        self.failures: Dict[int, str] = {}  # cell index → what went wrong when it ran
        self.start_failure: Optional[str] = None
        self.kernel_seconds = 0.0
        self.setup_seconds = 0.0

    def boot(self, deadline: float) -> bool:
        """(Re)start the kernel and replay the student's cells; False if it cannot be brought up."""
        started = time.monotonic()
        try:
            while True:
                try:
                    self.sandbox.start()
                except (RuntimeError, OSError) as error:  # no kernel (or the host refused: ENOSPC, EMFILE)
                    if self.sandbox.starts == 1:  # the grader's problem; later starts may fail because of the student
                        self.start_failure = str(error)
                    self.notes.append(f"the grader could not start a kernel: {error}")
                    return False
                self._run(PREAMBLE, 30.0)
                if self._replay(deadline):
                    break
                # a cell timed out or killed the kernel: start again without it
            installed = self._run(HARNESS, 30.0)
            return installed.status == "ok"
        except _OutOfTime as error:
            self.notes.append(str(error))
            return False
        finally:
            self.setup_seconds += time.monotonic() - started

    def _replay(self, deadline: float) -> bool:
        for cell in self.cells:
            if cell["role"] in SKIPPED_ROLES or cell["index"] in self.bad_cells:
                continue
            budget = min(self.limits.cell_timeout_s, deadline - time.monotonic())
            if budget <= 0:
                raise _OutOfTime("the time limit for the whole notebook ran out while running its cells")
            if not _is_text(cell["source"]):  # a lone surrogate: the kernel's message could not carry it
                self.bad_cells.add(cell["index"])
                self.failures[cell["index"]] = "is not valid text (it holds a lone surrogate), so it was skipped"
                if cell["index"] not in self.noted:  # the import scan says so first
                    self.noted.add(cell["index"])
                    self.notes.append(f"{cell_label(cell)} is not valid text (it holds a lone surrogate, a half of "
                                      "a character); it was skipped and the other cells were run")
                continue
            result = self._run(cell["source"], budget)
            if result.status == "timeout" and budget < self.limits.cell_timeout_s:
                # the notebook's own limit stopped it, not the cell's: say that, and run nothing more
                raise _OutOfTime(f"the time limit for the whole notebook ({self.limits.total_timeout_s:g} s) ran out "
                                 f"while {cell_label(cell)} ran")
            if result.status in ("timeout", "died"):
                self.bad_cells.add(cell["index"])
                what = "ran longer than its time limit" if result.status == "timeout" else "stopped the kernel"
                self.failures[cell["index"]] = what + ", so it was skipped"
                self.notes.append(f"{cell_label(cell)} {what}; it was skipped and the other cells were run")
                return False
            if result.status == "error":
                self.failures.setdefault(cell["index"], f"raised {result.error_name}: {result.error_value[:300]}")
                if cell["index"] not in self.noted:  # once; a syntax error was noted by the import scan
                    self.noted.add(cell["index"])
                    self.notes.append(f"{cell_label(cell)} raised {result.error_name}: {result.error_value[:300]}")
        return True

    def missing(self, function: str) -> str:
        """Why ``function`` is not defined: a cell that defines it failed, or no cell defines it."""
        failed = [index for index in defining_cells(self.cells, function) if index in self.failures]
        if failed:
            cell = next(cell for cell in self.cells if cell["index"] == failed[-1])
            return f"{function} is not defined: {cell_label(cell)}, which defines it, {self.failures[failed[-1]]}"
        return f"{function} is not defined (did you delete or rename its cell?)"

    def _run(self, code: str, timeout: float) -> ExecResult:
        result = self.sandbox.execute(code, timeout)
        self.kernel_seconds += result.seconds
        return result

    def call(self, prepared: _Prepared, timeout: float) -> Tuple[str, Any]:
        """Call the student's function.  Returns (kind, payload): ok/error/missing/timeout/died/unreadable."""
        code = call_code(prepared.check.function, prepared.args, prepared.kwargs, spill=self.sandbox.spill,
                         float_errors=prepared.check.float_errors, calls=prepared.check.calls,
                         torch_seed=prepared.check.torch_seed)
        result = self._run(code, timeout)
        if result.status in ("timeout", "died"):
            return result.status, None
        if not result.payloads:
            if result.ignored:  # the kernel sent something, but over the size caps (or malformed)
                return "unreadable", (f"the return value did not come back: the kernel's message was larger than "
                                      f"{MESSAGE_CAP // 1024 // 1024} MB or malformed (is the result the expected shape?)")
            return "unreadable", "no return value came back from the kernel (was the grading code tampered with?)"
        try:
            decoded = decode_result(result.payloads[0])
        except WireError as error:
            return "unreadable", f"the return value could not be read back: {error}"
        return decoded["status"], decoded


def _outcome(item: _Prepared, kind: str, payload: Any, timeout: float, budget: Optional[str],
             why_missing) -> Tuple[bool, str]:
    """(passed, message) for what ``_Session.call`` returned; ``budget`` names the question's or
    notebook's time limit when that, not the call's own limit, cut the call short;
    ``why_missing(function)`` explains a function the kernel does not have."""
    function = item.check.function
    calls = item.check.calls
    if kind == "ok" and calls > 1 and not (isinstance(payload["value"], tuple) and len(payload["value"]) == calls):
        # the harness sends one result per call; anything else was changed in the kernel
        return False, f"{function} was called {calls} times, and {calls} results did not come back"
    if kind == "ok":
        passed, message = judge_value(item, payload["value"], payload.get("torch_seed"))
        if passed and payload["mutated"]:
            return False, in_place_message(item, payload["mutated"])
        return passed, message
    if kind == "error":
        return False, error_message(payload, function, item.check.float_errors)
    if kind == "missing":
        return False, why_missing(function)
    if kind == "timeout" and budget:
        return False, f"not graded: {budget} ran out"
    if kind == "timeout":
        return False, f"{function} did not finish within {timeout:.0f} s (an infinite loop?)"
    if kind == "died":
        return False, f"{function} stopped the kernel (os._exit, a crash or a resource limit such as memory)"
    return False, payload  # unreadable: the payload is the message


def grade_cells(cells, assignment: Assignment, seed: Optional[int] = None, limits: Optional[Limits] = None,
                hide=()) -> GradeResult:
    """Grade already-parsed code cells (see :func:`grade_notebook`)."""
    started = time.monotonic()
    seed = secrets.randbits(63) if seed is None else int(seed)
    limits = limits or Limits(cell_timeout_s=assignment.cell_timeout_s, call_timeout_s=assignment.call_timeout_s,
                              question_timeout_s=assignment.question_timeout_s,
                              total_timeout_s=assignment.total_timeout_s, memory_bytes=assignment.memory_bytes,
                              processes=assignment.processes)
    notes: List[str] = []
    cells = restore_roles(cells, assignment, notes)
    cells = run_own_code_in_check_cells(cells, assignment, notes)
    note_redefinitions(cells, assignment, notes)
    prepared = _prepare(assignment, seed, fresh_public=True)
    prepare_seconds = time.monotonic() - started

    imports: Dict[str, List[int]] = {}
    syntax_errors: List[int] = []
    budget = TransformBudget()  # for the whole notebook: the scan must not cost minutes
    for cell in cells:
        if cell["role"] in SKIPPED_ROLES:
            continue
        names, problem = imported_modules(cell["source"], budget)
        if UNCHECKED in names:
            notes.append(f"{cell_label(cell)} could not be checked for imports: {problem}")
        elif problem and problem.startswith("the cell is not valid text"):  # skipped when the cells run
            notes.append(f"{cell_label(cell)}: {problem}; it was skipped and the other cells were run")
            syntax_errors.append(cell["index"])
        elif problem:
            notes.append(f"{cell_label(cell)} has a syntax error ({problem})")
            syntax_errors.append(cell["index"])
        for name in names:
            imports.setdefault(name, []).append(cell["index"])

    session = _Session(cells, assignment, limits, hide, notes)
    session.noted.update(syntax_errors)  # noted above: running the cell would note the same error again
    deadline = started + limits.total_timeout_s
    alive = session.boot(deadline)
    grader_failure = session.start_failure  # only the first start: later ones may fail because of the student
    restarts = 0
    # Every question's public checks run before any hidden one: a function that keeps what it is
    # called with cannot then put a hidden input into a public check's message (which students see
    # before the due date).  Each pass gives a question its own time budget, and a call that stops
    # the kernel voids only the checks after it in the assignment's order — what the grade would
    # have been in one pass; results are reported in that order.
    position = {id(item): index for index, item in enumerate(prepared)}
    state = {}
    for question in assignment.questions:
        forbidden = forbidden_imports(imports, question)
        stop_reason = None
        if forbidden:
            where = ", ".join(f"{'a cell the grader could not read' if name == UNCHECKED else name} "
                              f"(cell {imports[name][0]})" for name in forbidden)
            if not set(forbidden) - {"course_lib"}:
                rule = "no question may use course_lib, which holds the course's own implementations"
            elif "torch" in question.forbid:
                rule = "this question must be solved from scratch"
            else:  # a10's PyTorch questions: other frameworks are what they may not use
                rule = f"this question may not use {', '.join(sorted(question.forbid))}, %run or %load"
            stop_reason = (f"{rule}, but the notebook imports {where}; remove the import (and %run/%load) "
                           "to be graded — an import anywhere in the notebook counts, demo cells of the "
                           "assignment excepted")
        checks = [p for p in prepared if p.question is question]
        state[question.id] = dict(stop_reason=stop_reason, stop_after=-1, share=question.points / len(checks))
    graded = {}
    try:
        for hidden_pass in (False, True):
            for question in assignment.questions:
                own = state[question.id]
                checks = [p for p in prepared if p.question is question and p.check.hidden == hidden_pass]
                if not checks:
                    continue
                question_deadline = min(deadline, time.monotonic() + limits.question_timeout_s)
                # which budget binds: the question's own, or what is left of the whole notebook's
                which_limit = ("the time limit for the whole notebook" if question_deadline == deadline
                               else f"this question's time limit ({limits.question_timeout_s:.0f} s for its "
                                    f"{'hidden' if hidden_pass else 'public'} checks)")
                for item in checks:
                    check_started = time.monotonic()
                    passed, message = False, ""
                    if own["stop_reason"] and position[id(item)] > own["stop_after"]:
                        message = own["stop_reason"]
                    elif time.monotonic() > deadline:
                        message = "not graded: the time limit for the whole notebook ran out"
                    elif not alive:
                        message = "not graded: the kernel could not be (re)started within the limits"
                    elif time.monotonic() > question_deadline:
                        message = f"not graded: {which_limit} ran out"
                    else:
                        call_limit = item.check.timeout_s or limits.call_timeout_s
                        timeout = min(call_limit, question_deadline - time.monotonic())
                        kind, payload = session.call(item, timeout)
                        # a timeout shorter than the call's own limit: the question's (or notebook's) budget ran out
                        try:
                            passed, message = _outcome(item, kind, payload, timeout,
                                                       which_limit if timeout < call_limit else None, session.missing)
                        except Exception as error:  # noqa: BLE001 - what the kernel sent fails this check, no more
                            passed, message = False, (f"the result could not be judged ({type(error).__name__}: "
                                                      f"{clean_text(str(error))[:200]})")
                        if kind in ("timeout", "died"):  # the kernel is gone: restart it for the next question
                            own["stop_reason"] = message + "; the remaining checks of this question were not run"
                            own["stop_after"] = position[id(item)]
                            restarts += 1
                            alive = restarts <= MAX_RESTARTS and session.boot(deadline)
                            if restarts > MAX_RESTARTS:
                                notes.append("the kernel was restarted too often; the remaining questions were not graded")
                        if not passed and not item.check.hidden and kind != "missing" and message != NOT_ATTEMPTED \
                                and not message.startswith("not graded"):  # a call that ran, and ran wrong
                            message += _drawn_inputs(item)
                        elif passed and item.check.twin is not None and not item.check.hidden:
                            # its name quotes the inputs check() shows ("[1000, 1000]"): say on which it passed
                            message = (message + _drawn_inputs(item)).lstrip("\n")
                    share = own["share"]
                    graded[id(item)] = CheckResult(question.id, item.check.name, item.check.hidden, passed,
                                                   share if passed else 0.0, share, message,
                                                   time.monotonic() - check_started)
    finally:
        session.sandbox.kill()
    results: List[CheckResult] = [graded[id(item)] for item in prepared if id(item) in graded]

    questions = {}
    for question in assignment.questions:
        rows = [r for r in results if r.question == question.id]
        attempted = not all(r.message == NOT_ATTEMPTED for r in rows)
        questions[question.id] = {
            "title": question.title,
            "score": round(sum(r.score for r in rows), 6),
            "max_score": question.points,
            "status": "not attempted" if not attempted else "passed" if all(r.passed for r in rows) else "failed",
        }
    score = round(sum(q["score"] for q in questions.values()), 6)
    total = time.monotonic() - started
    timings = {
        "total_s": total,
        "prepare_s": prepare_seconds,
        "kernel_s": session.kernel_seconds,
        "setup_s": session.setup_seconds,
        "overhead_s": max(0.0, total - session.kernel_seconds),
        "kernel_peak_mb": session.sandbox.kernel_peak_kb / 1024,
    }
    return GradeResult(assignment.id, score, assignment.max_score, results, questions, notes,
                       session.sandbox.isolation, seed, timings=timings, grader_failure=grader_failure)


def grade_notebook(data: bytes, assignment: Assignment, seed: Optional[int] = None, limits: Optional[Limits] = None,
                   hide=()) -> GradeResult:
    """Grade a submission given as raw notebook bytes.  Never raises on bad student input."""
    try:
        cells = read_cells(data)
    except NotebookError as error:
        return unreadable_result(assignment, str(error), seed)
    result = grade_cells(cells, assignment, seed, limits, hide)
    note = other_assignment_note(data, assignment)
    if note is not None:
        result.notes.insert(0, note)
        result.other_assignment = note
    return result


def unreadable_result(assignment: Assignment, message: str, seed: Optional[int] = None) -> GradeResult:
    """A zero-score result for a submission that cannot be graded at all (bad file, bad zip...)."""
    results = [CheckResult(q.id, "notebook", False, False, 0.0, q.points, message) for q in assignment.questions]
    questions = {q.id: {"title": q.title, "score": 0.0, "max_score": q.points, "status": "not graded"}
                 for q in assignment.questions}
    return GradeResult(assignment.id, 0.0, assignment.max_score, results, questions, [message], {},
                       seed if seed is not None else 0, error=message)

"""check("qN") in the student's notebook: the public checks, with messages that help."""
import re
import time

import numpy as np
import pytest

from course_lib.grading import checker
from course_lib.grading.report import gradescope_results
from course_lib.grading.runner import CheckResult, GradeResult


def _naive_softmax(x, axis=-1):
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(x)
        return e / e.sum(axis=axis, keepdims=True)


def _stable_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_check_reports_passes_and_helpful_failures(capsys):
    check = checker("a01")
    assert check("q5", {"softmax": _stable_softmax})
    public = sum(not c.hidden for c in check.assignment.question("q5").checks)
    assert f"{public} of {public} public checks passed" in capsys.readouterr().out
    assert not check("q5", {"softmax": _naive_softmax})
    out = capsys.readouterr().out
    assert "✓ softmax: rows of a (2, 3) array" in out
    assert "✗ softmax: large logits [1000, 1000]" in out
    assert "nan" in out and "subtract the maximum" in out


def test_check_on_stub_missing_and_in_place(capsys):
    check = checker("a01")

    def stub(x, axis=-1):
        raise NotImplementedError("q5: softmax is not implemented yet")

    def in_place(x, axis=-1):
        x -= x.max(axis=axis, keepdims=True)
        np.exp(x, out=x)
        x /= x.sum(axis=axis, keepdims=True)
        return x

    assert not check("q5", {"softmax": stub})
    assert "not attempted" in capsys.readouterr().out
    assert not check("q5", {})
    assert "softmax is not defined: run its cell first" in capsys.readouterr().out
    # its cell ran and stopped before the def (a workflow audit: "run its cell first" misled)
    assert not check("q5", {"In": ["", "import nothing_here\n\ndef softmax(x, axis=-1):\n    return x\n"]})
    assert ("softmax is not defined, although a cell that defines it has run: that cell stopped with an error "
            "(shown under it) before defining it" in capsys.readouterr().out)
    assert not check("q5", {"softmax": in_place})
    out = capsys.readouterr().out
    assert "modified its input" in out and "`x -= shift`, `np.exp(x, out=x)`" in out and "momentum" not in out


def test_gradescope_hides_hidden_feedback_until_the_due_date():
    """Gradescope decides when the due date has passed (late due dates, extensions): the feedback of a
    hidden check is always marked after_due_date, whenever the submission was graded."""
    checks = [CheckResult("q1", "f: public", False, False, 0.0, 1.0, "shape (3, 1); expected (3,)"),
              CheckResult("q1", "f: hidden test 1", True, False, 0.0, 1.0, "differs at index 4")]
    result = GradeResult("a01", 0.0, 2.0, checks, {"q1": {"title": "t", "score": 0.0, "max_score": 2.0, "status": "failed"}},
                         [], {"namespaces": ["mount"]}, 1, timings={"total_s": 1.0})
    tests = gradescope_results(result)["tests"]
    public, hidden, feedback = tests
    assert public["output"] == "shape (3, 1); expected (3,)" and public["visibility"] == "visible"
    assert hidden["output"] == "failed" and hidden["visibility"] == "visible"
    assert feedback["output"] == "differs at index 4" and feedback["visibility"] == "after_due_date"
    assert feedback["max_score"] == 0.0


def test_gradescope_test_points_add_up_to_the_score():
    """Three checks of 10/3 points each: rounded one by one they showed 9.999999 points in all.  A
    passed check shows exactly its maximum, a failed one 0, and no question borrows from another."""
    third = 10 / 3
    checks = [CheckResult("q1", f"f: check {i}", False, True, third, third, "correct") for i in range(3)]
    checks += [CheckResult("q2", f"g: check {i}", False, i == 1, third if i == 1 else 0.0, third, "") for i in range(3)]
    checks += [CheckResult("q3", f"h: check {i}", False, True, 1 / 3, 1 / 3, "") for i in range(3)]
    questions = {q: {"title": q, "score": s, "max_score": m, "status": "graded"}
                 for q, s, m in (("q1", 10.0, 10.0), ("q2", round(third, 6), 10.0), ("q3", 1.0, 1.0))}
    result = GradeResult("a01", round(11 + third, 6), 21.0, checks, questions, [], {"namespaces": ["mount"]}, 1,
                         timings={"total_s": 1.0})
    tests = gradescope_results(result)["tests"]
    for question, points in (("q1", 10.0), ("q2", 10.0), ("q3", 1.0)):
        mine = [t for t in tests if t["name"].startswith(question)]
        assert round(sum(t["max_score"] for t in mine), 6) == points
        assert all(t["score"] in (0.0, t["max_score"]) for t in mine)
    assert sorted(t["max_score"] for t in tests if t["name"].startswith("q1")) == [3.333333, 3.333333, 3.333334]
    assert gradescope_results(result)["score"] == result.score
    assert abs(sum(t["score"] for t in tests) - result.score) <= 1e-6


def test_check_warns_about_an_import_that_zeroes_every_question():
    """The grader gives 0 to every question of a notebook that imports course_lib outside its demo cells
    (or torch in a from-scratch assignment); check() says so as soon as such a cell has run (it reads
    IPython's ``In``)."""
    import json
    from pathlib import Path

    check = checker("a03")  # its demo cells import course_lib.data: those are fine
    template = [("".join(c["source"]) if isinstance(c["source"], list) else c["source"])
                for c in json.loads(Path("exercises/a03_backprop.ipynb").read_text())["cells"] if c["cell_type"] == "code"]
    assert any("import" in cell and "course_lib" in cell for cell in template)
    question = check.assignment.question("q1")
    assert check._import_warnings(question, [""] + template) == []
    # the set-up cell without its comment (a code formatter): still the assignment's own lines, no warning
    tidied = [cell for cell in template if "checker(" in cell][0].split("#")[0].replace("\n\n", "\n")
    assert tidied.strip() not in [cell.strip() for cell in template]
    assert check._import_warnings(question, ["", tidied]) == []
    # an edited demo cell: the grader skips it, so its import costs nothing there either (an audit)
    edited = [cell for cell in template if "make_spirals(" in cell][0].replace("epochs=300", "epochs=2000")
    assert edited not in template and check._import_warnings(question, ["", edited]) == []
    # but not a cell of the student's that borrows check.demo(), nor in an assignment without demo cells
    borrowed = "import scipy.special\nwith check.demo():\n    print(scipy.special.expit(0.0))\n"
    assert len(check._import_warnings(question, ["", borrowed])) == 1
    a01 = checker("a01")
    assert len(a01._import_warnings(a01.assignment.question("q1"), ["", borrowed])) == 1
    history = [""] + template + ["from course_lib.scratch.activations import softmax", "import torch\nx = 1"]
    warnings = check._import_warnings(question, history)
    assert len(warnings) == 2 and "imports course_lib" in warnings[0] and "imports torch" in warnings[1]
    # not "this question" alone: the workflow audit's a01 notebook lost all five questions to one import
    assert warnings[1].endswith("the grader gives 0 to this question and to every other that may not use torch")


def test_check_returns_an_outcome_that_displays_nothing(capsys):
    check = checker("a01")
    outcome = check("q5", {"softmax": _stable_softmax})
    public = sum(not c.hidden for c in check.assignment.question("q5").checks)
    assert bool(outcome) and repr(outcome) == f"CheckOutcome(q5: {public} of {public} public checks passed)"
    assert outcome._ipython_display_() is None


def test_check_calls_a_function_several_times_and_sees_a_change_made_by_any_call():
    """``Check.calls`` in ``check()``: fresh copies of the arguments for every call, the tuple of
    results to the judge, and an argument changed in place by the first call only still noticed."""
    from course_lib.grading.runner import _Prepared
    from course_lib.grading.spec import Check, Question
    from course_lib.grading.student import Checker

    check = Check("f: called twice", "f", lambda rng: ((np.array([1.0, 2.0]),), {}), None, calls=2,
                  judge=lambda value, args, kwargs, secret: (value == (5.0, 3.0), f"got {value}"))
    item = _Prepared(Question("q1", "twice", 1, ["f"], [check]), check, (np.array([1.0, 2.0]),), {}, None)
    calls = []

    def changes_its_input_once(x):
        calls.append(x.copy())
        if len(calls) % 2:
            x += 1
        return float(x.sum())

    passed, message = Checker._run_one(item, {"f": changes_its_input_once})
    assert [list(x) for x in calls] == [[1.0, 2.0], [1.0, 2.0]]  # the second call got a fresh copy
    assert not passed and "modified its input (argument 1) in place" in message

    def pure(x):
        calls.append(x.copy())
        return float(x.sum()) + (2.0 if len(calls) % 2 else 0.0)

    calls.clear()
    assert Checker._run_one(item, {"f": pure}) == (True, "got (5.0, 3.0)")


def test_check_fails_a_right_answer_that_the_grader_would_stop_for_time():
    """a10's training function passed check() after 128 s where the grader stops it at 120 s (audit)."""
    import time

    from course_lib.grading.runner import _Prepared
    from course_lib.grading.spec import Check, Question
    from course_lib.grading.student import Checker

    check = Check("f: quick enough", "f", lambda rng: ((), {}), None,
                  judge=lambda value, args, kwargs, secret: (value == 1.0, f"got {value}"))
    item = _Prepared(Question("q1", "timed", 1, ["f"], [check]), check, (), {}, None)

    def slow():
        time.sleep(0.3)
        return 1.0

    # where no timer signal can stop it (not the main thread), the call runs to its end and its time counts
    import threading

    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(Checker._run_one(item, {"f": slow}, time_limit_s=0.1)))
    worker.start()
    worker.join()
    passed, message = outcome[0]
    took = re.search(r"ran ([0-9.]+) s, past the grader's limit of 0\.1 s per call", message)
    assert not passed and took and float(took.group(1)) >= 0.3, message  # 0.301 or 0.4 on a busy machine
    assert Checker._run_one(item, {"f": slow}, time_limit_s=5.0) == (True, "got 1.0")
    # in a notebook's kernel (the main thread) it is stopped at the grader's limit, as the grader stops it
    started = time.monotonic()
    passed, message = Checker._run_one(item, {"f": slow}, time_limit_s=0.1)
    assert not passed and time.monotonic() - started < 0.29
    assert message.startswith("f did not finish within 0.1 s (an infinite loop?), where the grader stops it")


# --- found by an audit of the student's side (2026-12-07) ----------------------------------------------
def _one_check_item(function, make_args, judge=None):
    from course_lib.grading.runner import _Prepared
    from course_lib.grading.spec import Check, Question

    args = make_args()
    check = Check(f"{function}: a check", function, lambda rng: (args, {}), None,
                  judge=judge or (lambda value, args, kwargs, secret: (True, "fine")))
    return _Prepared(Question("q1", "one", 1, [function], [check]), check, args, {}, None)


def test_an_array_changed_inside_a_list_argument_fails_check_as_it_fails_the_grader():
    """a05's penalties take a list of weight arrays: `w **= 2` inside the loop squared the caller's arrays,
    passed check() and lost points at the grader, whose harness looks inside lists."""
    from course_lib.grading.student import Checker

    def squares_in_place(weights, strength):
        total = 0.0
        for w in weights:
            w **= 2
            total += w.sum()
        return float(0.5 * strength * total)

    item = _one_check_item("l2_penalty", lambda: ([np.ones((2, 2)), np.full(3, 2.0)], 0.1))
    passed, message = Checker._run_one(item, {"l2_penalty": squares_in_place})
    assert not passed and "modified its input (argument 1) in place" in message, message
    passed, _ = Checker._run_one(item, {"l2_penalty": lambda weights, strength: 0.5 * strength * sum(
        float((w ** 2).sum()) for w in weights)})
    assert passed


def test_a_tuple_of_tensors_is_named_item_by_item_as_the_grader_names_it():
    """check() called the whole tuple foreign ("an object of type builtins.tuple; expected a tuple"); the
    grader names item 0, a torch.Tensor."""
    import torch

    from course_lib.grading.student import plain
    from course_lib.grading.wire import Foreign

    value = plain((torch.zeros(2), np.ones(2, dtype=np.float32), 3))
    assert isinstance(value, tuple) and isinstance(value[0], Foreign) and "torch.Tensor" in value[0].type_name
    assert value[1].dtype == np.float32 and value[2] == 3


def test_an_endless_answer_is_stopped_and_the_rest_of_the_question_is_not_run(capsys, monkeypatch):
    """`while True: pass` hung check() forever (the grader stops it after its limit)."""
    from course_lib.grading import student

    check = checker("a01")
    monkeypatch.setattr(check.assignment, "call_timeout_s", 0.2)

    def endless(x):
        while True:
            pass

    assert not check("q4", {"tanh_derivative": endless})
    out = capsys.readouterr().out
    assert "tanh_derivative did not finish within 0.2 s (an infinite loop?)" in out
    assert out.count("✗") == 1 and student._NOT_RUN in out


def test_interrupting_a_check_reports_then_goes_on_interrupting(capsys):
    """The report so far, then KeyboardInterrupt again: a notebook's Run All must stop there (an audit: the
    cells queued after the check ran on)."""
    check = checker("a01")

    def interrupted(x):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt, match="interrupted after"):
        check("q4", {"tanh_derivative": interrupted})
    out = capsys.readouterr().out
    assert "✗ tanh_derivative" in out and "the remaining checks were not run" in out


def test_a_pending_alarm_of_the_students_or_of_an_outer_check_is_left_alone():
    """check() cancelled a student's signal.alarm, and a check() called inside a checked function
    disarmed the outer one's limit (audit)."""
    import signal

    from course_lib.grading.student import _time_limit

    fired = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 5.0)
        with _time_limit(0.05):
            time.sleep(0.1)  # no _TimeUp: the student's timer is theirs
        remaining = signal.getitimer(signal.ITIMER_REAL)[0]
        assert 4.0 < remaining <= 5.0 and not fired
        signal.setitimer(signal.ITIMER_REAL, 0)
        with _time_limit(5.0):
            outer = signal.getsignal(signal.SIGALRM)
            with _time_limit(1.0):
                pass
            assert signal.getitimer(signal.ITIMER_REAL)[0] > 4.0 and signal.getsignal(signal.SIGALRM) is outer
        assert signal.getitimer(signal.ITIMER_REAL)[0] == 0
        assert signal.getsignal(signal.SIGALRM) is not outer and not fired  # the student's handler is back
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_students_handler_is_back_even_when_the_limit_strikes_during_the_clean_up():
    """A call ending within microseconds of the limit could leave check's own handler installed (audit:
    55 times in 7977)."""
    import signal

    from course_lib.grading.student import _TimeUp, _time_limit

    def mine(signum, frame):
        raise AssertionError("the student's handler ran for check's timer")

    previous = signal.signal(signal.SIGALRM, mine)
    try:
        for _ in range(1500):
            try:
                with _time_limit(0.0005):
                    end = time.perf_counter() + 0.0005
                    while time.perf_counter() < end:
                        pass
            except _TimeUp:
                pass
            assert signal.getsignal(signal.SIGALRM) is mine
            assert signal.getitimer(signal.ITIMER_REAL)[0] == 0
    finally:
        signal.signal(signal.SIGALRM, previous)


def test_code_that_swallows_the_time_limit_still_fails_and_ends_the_question(capsys, monkeypatch):
    """A bare `except:` caught check's stop; every remaining check then ran to its end (audit)."""
    check = checker("a01")
    monkeypatch.setattr(check.assignment, "call_timeout_s", 0.2)

    def stubborn(x):
        for _ in range(3):
            try:
                time.sleep(0.15)
            except BaseException:  # what a bare except does
                pass
        return 1 - np.tanh(x) ** 2

    assert not check("q4", {"tanh_derivative": stubborn})
    out = capsys.readouterr().out
    assert re.search(r"tanh_derivative ran 0\.[3-9]\d\d s, past the grader's limit of 0\.2 s per call", out), out
    assert out.count("✗") == 1 and "the remaining checks of this question were not run" in out


def test_only_check_itself_ends_a_question_not_an_error_that_says_the_same(capsys, monkeypatch):
    """The stop was decided from the message's last words, which a student's error can end with too
    (where no line of the student's code follows it: an error raised by a built-in)."""
    from course_lib.grading import student

    check = checker("a01")
    monkeypatch.setattr(student, "_where", lambda error: "")

    def says_it(x):
        raise ValueError(student._NOT_RUN)

    assert not check("q4", {"tanh_derivative": says_it})
    out = capsys.readouterr().out
    assert out.count("✗") > 1, out  # every public check of q4 ran and failed


def test_every_line_of_a_failed_checks_message_is_indented_under_it(capsys):
    """The lines of the student's traceback started at the left margin, under the other checks' names."""
    check = checker("a01")

    def fails(x):
        raise ValueError("no")

    check("q4", {"tanh_derivative": fails})
    body = [line for line in capsys.readouterr().out.splitlines()[1:-1] if "✗" not in line]
    assert body and all(line.startswith("      ") for line in body), body


def test_a_result_too_large_to_come_back_and_a_system_exit_are_reported_as_the_grader_does(capsys):
    check = checker("a01")

    def huge(x, axis=-1):
        return np.ones((1500, 1500))

    def leaves(x, axis=-1):
        raise SystemExit("bye")

    assert not check("q5", {"softmax": huge})
    out = capsys.readouterr().out
    assert "holds 17 MB of arrays, more than the grader reads back (6 MB)" in out and "WireError" not in out
    assert not check("q5", {"softmax": leaves})
    assert "softmax raised SystemExit: bye" in capsys.readouterr().out


def test_a_question_id_in_capitals_or_with_spaces_is_found_and_an_unknown_one_is_named(capsys):
    check = checker("a01")
    assert check(" Q5 ", {"softmax": _stable_softmax})
    assert check("q5", {"softmax": _stable_softmax}).total == check("Q5 ", {"softmax": _stable_softmax}).total
    capsys.readouterr()
    assert not check("q55", {})
    assert capsys.readouterr().out.startswith("a01 has no question 'q55'; its questions are q1, q2")
    assert np.array_equal(check.inputs("Q5", 1)[0][0], check.inputs("q5", 1)[0][0])
    with pytest.raises(ValueError, match="a01 has no question 'q9x'"):
        check.inputs("q9x", 1)


def test_an_error_names_the_line_of_the_students_code_that_raised(capsys):
    check = checker("a01")

    def softmax(x, axis=-1):
        shifted = x - x.max(axis=axis, keepdims=True)
        return np.exp(shifted) / shifted.sum(axis=axis, keepdims=True).item()

    assert not check("q5", {"softmax": softmax})
    out = capsys.readouterr().out
    assert "softmax raised ValueError" in out
    assert "in softmax" in out and "shifted.sum(axis=axis, keepdims=True).item()" in out
    assert "student.py" not in out


def test_check_keeps_each_calls_result_as_it_returned():
    """A function that reuses the array it returned: the judge sees each call's own result."""
    from course_lib.grading.runner import _Prepared
    from course_lib.grading.spec import Check, Question
    from course_lib.grading.student import Checker

    check = Check("f: called twice", "f", lambda rng: ((np.array([1.0, 2.0]),), {}), None, calls=2,
                  judge=lambda value, args, kwargs, secret: (value[0].tolist() != value[1].tolist(),
                                                             f"got {[v.tolist() for v in value]}"))
    item = _Prepared(Question("q1", "twice", 1, ["f"], [check]), check, (np.array([1.0, 2.0]),), {}, None)
    buffer, count = np.zeros(2), []

    def reuses_its_output(x):
        count.append(1)
        return np.add(x, len(count), out=buffer)

    assert Checker._run_one(item, {"f": reuses_its_output}) == (True, "got [[2.0, 3.0], [3.0, 4.0]]")


def test_check_reports_a_keyword_argument_changed_in_place_as_the_grader_does():
    from course_lib.grading.runner import _Prepared
    from course_lib.grading.spec import Check, Question
    from course_lib.grading.student import Checker

    check = Check("f: keyword", "f", lambda rng: ((), {"x": np.ones(2)}), None,
                  judge=lambda value, args, kwargs, secret: (True, "correct"))
    item = _Prepared(Question("q1", "keyword", 1, ["f"], [check]), check, (), {"x": np.ones(2)}, None)

    def changes_x(x):
        x += 1
        return 0.0

    passed, message = Checker._run_one(item, {"f": changes_x})
    assert not passed and "modified its input `x` in place" in message


def test_the_in_place_message_names_the_argument_and_gives_advice_that_fits():
    """An audit: "modified its input (argument 3) in place; … perturb an entry and restore it …" for
    `velocity *= momentum` in a04, where the ε advice of a03's gradient check does not apply."""
    from course_lib.grading import assignments
    from course_lib.grading.runner import _prepare
    from course_lib.grading.student import Checker

    def in_place_momentum(param, grad, velocity, lr, momentum):
        velocity *= momentum
        velocity += grad
        return param - lr * velocity, velocity.copy()

    item = next(p for p in _prepare(assignments.get("a04"), seed=0, questions=["q1"], include_hidden=False))
    passed, message = Checker._run_one(item, {"sgd_momentum_step": in_place_momentum})
    assert not passed and "modified its input `velocity` (argument 3) in place" in message
    assert "return new arrays" in message and "ε" not in message and "`v *= momentum`" in message
    a03 = next(p for p in _prepare(assignments.get("a03"), seed=0, questions=["q3"], include_hidden=False))
    assert "save its value and assign it back" in a03.question.in_place_advice


def test_a_failed_check_says_how_to_run_its_call(capsys):
    """A workflow audit: 'got 0.454, expected 0.693' on "one sample, 3 inputs" — the student could not
    reproduce the case.  A short call is written out; a longer one comes from check.inputs."""
    check = checker("a01")

    def naive(x, axis=-1):
        e = np.exp(x)
        return e / e.sum(axis=axis, keepdims=True)

    with np.errstate(all="ignore"):
        check("q5", {"softmax": naive})
    out = capsys.readouterr().out
    assert "to run it yourself: softmax(np.array([1000.0, 1000.0], dtype=np.float64))" in out
    call = re.search(r"to run it yourself: (softmax\(np\.array\(\[\[2000\.0.*\)\))", out).group(1)
    with np.errstate(all="ignore"):
        assert np.isnan(eval(call, {"np": np, "softmax": naive})).any()  # the case, reproduced
    optimisers = checker("a04")
    optimisers("q1", {"sgd_momentum_step": lambda param, grad, velocity, lr, momentum: (param, velocity)})
    out = capsys.readouterr().out
    assert "to run it yourself: args, kwargs = check.inputs('q1', 1); sgd_momentum_step(*args, **kwargs)" in out
    args, kwargs = optimisers.inputs("q1", 1)
    assert [np.shape(a) for a in args] == [(3, 4), (3, 4), (3, 4), (), ()] and kwargs == {}
    with pytest.raises(ValueError, match="q1 has public checks 1 to 2, not 3"):
        optimisers.inputs("q1", 3)
    check("q5", {"softmax": lambda x, axis=-1: (_ for _ in ()).throw(NotImplementedError)})
    assert "to run it yourself" not in capsys.readouterr().out  # nothing to run for a stub


def test_a_failed_check_on_large_inputs_is_not_written_out():
    """a10 sends thousands of images: their text would take seconds to build and flood the cell."""
    from course_lib.grading.runner import _prepare
    from course_lib.grading import assignments
    from course_lib.grading.student import call_text

    item = next(p for p in _prepare(assignments.get("a03"), seed=0, include_hidden=False)
                if sum(np.size(a) for a in p.args if isinstance(a, np.ndarray)) > 40)
    assert call_text(item, "check.inputs('qN', 1)") == (
        f"to run it yourself: args, kwargs = check.inputs('qN', 1); {item.check.function}(*args, **kwargs)")


def test_check_keeps_to_the_questions_time_limit_as_the_grader_does(capsys, monkeypatch):
    """Each call stayed under the per-call limit, so check() passed all of them, while the grader ran out of
    the question's time and failed the last (a red team: 8 of 8 in check(), 1.75 of 3 points graded)."""
    check = checker("a01")
    monkeypatch.setattr(check.assignment, "call_timeout_s", 5.0)
    monkeypatch.setattr(check.assignment, "question_timeout_s", 0.3)

    def slow(x):
        time.sleep(0.2)
        return 1 - np.tanh(x) ** 2

    assert not check("q4", {"tanh_derivative": slow})
    out = capsys.readouterr().out
    assert out.count("✓") == 1 and out.count("✗") == 1, out
    assert "this question's time limit (0.3 s for its public checks) ran out" in out


def test_an_error_whose_message_fails_or_that_is_no_exception_is_reported_not_raised(capsys):
    """check() ended in a traceback where the grader failed the check cleanly (a red team)."""
    check = checker("a01")

    class Sneaky(Exception):
        def __str__(self):
            raise RuntimeError("boom")

    class Odd(BaseException):
        pass

    def sneaky(x):
        raise Sneaky()

    def odd(x):
        raise Odd("odd")

    assert not check("q4", {"tanh_derivative": sneaky})
    assert "raised Sneaky: (its message could not be shown: str() raised RuntimeError)" in capsys.readouterr().out
    assert not check("q4", {"tanh_derivative": odd})
    assert "raised Odd: odd" in capsys.readouterr().out

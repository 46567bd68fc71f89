"""The adversarial suite: hostile or broken submissions, each with its asserted outcome.

Every submission is built from the a01 solution notebook (10 points: q1 neuron 2,
q2 sigmoid 2, q3 relu 2, q4 tanh' 1, q5 softmax 3) by replacing a question's cell or
adding cells.  For each: the grader does not crash, no unearned points are given, the
message says what happened, and the questions the submission did not break are still
graded normally.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from course_lib.grading import assignments, notebook, runner
from course_lib.grading.report import text_report
from course_lib.grading.assignments._util import same_inputs
from course_lib.grading.runner import grade_notebook

from .helpers import FAST, REPO, build, grade, messages, question_score

pytestmark = pytest.mark.slow

FULL_OTHERS = 7.0  # a01 without softmax (q5, 3 points)


def assert_only_q5_lost(result, expect_in_message: str):
    assert question_score(result, "q5") == 0.0
    assert result.score == pytest.approx(FULL_OTHERS), result.checks
    assert expect_in_message in messages(result, "q5")


# ----------------------------------------------------------------------------- baselines
def test_untouched_template_scores_zero_and_says_not_attempted():
    result = grade(build(template=True))
    assert result.score == 0.0
    assert all(q["status"] == "not attempted" for q in result.questions.values())
    assert all(c.message == "not attempted" for c in result.checks)


def test_correct_solution_scores_full_marks():
    result = grade(build())
    assert result.score == result.max_score == 10.0
    assert result.isolation.get("namespaces"), "the sandbox should have its namespaces on Linux"


# ----------------------------------------------------------------------------- lying return values
def test_always_equal_object_earns_nothing():
    source = '''
class AlwaysEqual:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __array__(self, *args, **kwargs): raise RuntimeError("no")
def softmax(x, axis=-1):
    return AlwaysEqual()
'''
    result = grade(build(replace={"q5": source}))
    assert_only_q5_lost(result, "an object of type __main__.AlwaysEqual")


def test_ndarray_subclass_with_lying_eq_earns_nothing():
    source = '''
class Liar(np.ndarray):
    def __eq__(self, other): return np.ones(np.shape(other), bool)
    def __array_finalize__(self, obj): pass
def softmax(x, axis=-1):
    return np.zeros_like(x).view(Liar)
'''
    result = grade(build(replace={"q5": source}))
    # an ndarray subclass crosses as its plain data (a correct np.matrix answer counts), so the
    # lying __eq__ never runs in the grader: the zeros are judged, and lose
    assert_only_q5_lost(result, "differs from the expected values")


def test_patched_numpy_comparisons_change_nothing():
    source = '''
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.isclose = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
def softmax(x, axis=-1):
    return np.zeros_like(x)
'''
    result = grade(build(replace={"q5": source}))
    assert_only_q5_lost(result, "differs from the expected values")


def test_patched_builtins_earn_nothing():
    source = '''
import builtins
builtins.isinstance = lambda *a: True
builtins.len = lambda *a: 0
def softmax(x, axis=-1):
    return np.zeros_like(x)
'''
    result = grade(build(replace={"q5": source}))
    assert question_score(result, "q5") == 0.0
    assert result.score <= FULL_OTHERS


def test_patched_np_save_cannot_forge_an_answer():
    # np.save writes the bytes the grader reads; corrupting it can only break one's own answers
    source = '''
import io
_real_save = np.save
def fake_save(file, arr, allow_pickle=True, **kwargs):
    file.write(b"\\x93NUMPY garbage")
np.save = fake_save
def softmax(x, axis=-1):
    return x
'''
    result = grade(build(after=[source]))
    assert result.score == 0.0
    assert "could not be read" in messages(result, "q5")


def _softmax_checks() -> int:
    """How many checks a01's q5 (3 points) has, public and hidden."""
    return len(assignments.get("a01").question("q5").checks)


def test_fake_harness_via_pre_run_cell_hook_fails_hidden_checks():
    # The hook replaces the grader's call code with one that returns hard-coded public answers.
    source = r'''
import json as _json
from IPython.display import publish_display_data as _pub
def _fake(info):
    def fake_call(name, payload):
        value = {"t": "nd", "npy": __import__("base64").b64encode(__import__("io").BytesIO().getvalue()).decode()}
        import io, base64
        buf = io.BytesIO(); np.save(buf, np.array([0.5, 0.5])); value["npy"] = base64.b64encode(buf.getvalue()).decode()
        _pub({"application/vnd.course-grader.result+json": _json.dumps({"status": "ok", "value": value, "mutated": []})})
    globals()["__course_call__"] = fake_call
get_ipython().events.register("pre_run_cell", _fake)
'''
    result = grade(build(after=[source]))
    # [0.5, 0.5] is the answer to the public softmax([1000, 1000]), which earned that check (3 points
    # shared among q5's checks) until the grader ran fixed public checks on twins of them
    assert result.score == 0.0, [c.name for c in result.checks if c.passed]


def test_input_transformer_rewriting_grader_code_earns_nothing():
    source = '''
def _rewrite(lines):
    return ["print('All tests passed! score: 10/10')\\n"]
get_ipython().input_transformers_cleanup.append(_rewrite)
'''
    result = grade(build(after=[source]))
    assert result.score == 0.0
    assert "no return value came back" in messages(result, "q1")


def test_disabled_tracebacks_still_fail_and_grade_the_rest():
    source = '''
import sys
get_ipython().showtraceback = lambda *a, **k: None
sys.excepthook = lambda *a: None
def softmax(x, axis=-1):
    raise ValueError("hidden failure")
'''
    result = grade(build(replace={"q5": source}))
    assert_only_q5_lost(result, "softmax raised ValueError")


def test_printing_all_tests_passed_and_fake_json_changes_nothing():
    source = '''
import json
print("All tests passed!")
print(json.dumps({"score": 10, "tests": [{"name": "q5", "score": 3, "max_score": 3}]}))
def softmax(x, axis=-1):
    print("All tests passed!", json.dumps({"score": 10}))
    return x
'''
    result = grade(build(replace={"q5": source}))
    assert_only_q5_lost(result, "differs from the expected values")


# ----------------------------------------------------------------------------- files, pickles, results
def _tree_digest(paths):
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def test_overwriting_and_deleting_files_reaches_nothing(tmp_path):
    guarded = [REPO / "course_lib" / "grading" / "spec.py", REPO / "solutions" / "a01_activations.ipynb"]
    results_file = tmp_path / "results.json"
    results_file.write_text('{"score": 0}')
    before = _tree_digest(guarded + [results_file])
    source = f'''
import os, shutil, glob
for target in {[str(p) for p in guarded] + [str(results_file)]!r}:
    try:
        open(target, "w").write("pwned")
    except Exception as error:
        print("blocked:", type(error).__name__)
for folder in ["{REPO}", "{tmp_path}", "/tmp", os.path.expanduser("~")]:
    shutil.rmtree(folder, ignore_errors=True)
'''
    result = grade(build(after=[source]), hide=[str(tmp_path)])
    assert _tree_digest(guarded + [results_file]) == before
    assert result.score == 10.0


def test_writing_a_results_file_does_not_change_the_grade(tmp_path):
    from course_lib.grading.cli import main

    submission = tmp_path / "submission.ipynb"
    results = tmp_path / "out" / "results.json"
    results.parent.mkdir()
    source = f'''
import json, os
fake = json.dumps({{"score": 10, "tests": []}})
for target in ["results.json", "../results.json", "/autograder/results/results.json", "{results}"]:
    try:
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        open(target, "w").write(fake)
    except Exception:
        pass
'''
    submission.write_bytes(build(template=True, after=[source]))
    assert main(["grade", str(submission), "--assignment", "a01", "--json", str(results), "--seed", "1"]) == 0
    written = json.loads(results.read_text())
    assert written["score"] == 0.0
    assert all(test["score"] == 0 for test in written["tests"])


def test_malicious_pickle_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    # 1) an object array (np.save would pickle it); 2) raw pickle bytes in place of the .npy
    source = f'''
import base64, io, json, os, pickle
from IPython.display import publish_display_data
class Evil:
    def __reduce__(self):
        return (os.system, ("touch {marker}",))
def softmax(x, axis=-1):
    return np.array([Evil()], dtype=object)
'''
    forged = f'''
import base64, json, os, pickle
from IPython.display import publish_display_data
class Evil:
    def __reduce__(self):
        return (os.system, ("touch {marker}",))
def _forge(info):
    def fake_call(name, payload):
        raw = base64.b64encode(pickle.dumps(Evil())).decode()
        publish_display_data({{"application/vnd.course-grader.result+json": json.dumps(
            {{"status": "ok", "value": {{"t": "nd", "npy": raw}}, "mutated": []}})}})
    globals()["__course_call__"] = fake_call
if os.environ.get("NEVER") is None:
    get_ipython().events.register("pre_run_cell", _forge)
'''
    result = grade(build(replace={"q5": source}))
    assert question_score(result, "q5") == 0.0
    assert "numpy array of dtype object" in messages(result, "q5")
    forged_result = grade(build(after=[forged]))
    assert forged_result.score == 0.0
    assert "could not be read" in messages(forged_result, "q1")
    assert not marker.exists()


# ----------------------------------------------------------------------------- exits, loops, resources
def test_sys_exit_in_a_cell_and_in_a_function():
    source = '''
import sys
def softmax(x, axis=-1):
    sys.exit(0)
'''
    result = grade(build(replace={"q5": source}, before=["import sys\nsys.exit(0)"]))
    assert_only_q5_lost(result, "SystemExit")


def test_os_exit_kills_only_its_own_question():
    source = '''
import os
def softmax(x, axis=-1):
    os._exit(0)
'''
    result = grade(build(replace={"q5": source}))
    assert_only_q5_lost(result, "stopped the kernel")


def test_os_exit_at_top_level_skips_that_cell_only():
    result = grade(build(before=["import os\nos._exit(0)"]))
    assert result.score == 10.0
    assert any("stopped the kernel" in note for note in result.notes)


def test_infinite_loop_times_out_and_the_rest_is_graded():
    source = 'def softmax(x, axis=-1):\n    while True:\n        pass'
    result = grade(build(replace={"q5": source}))
    assert_only_q5_lost(result, "did not finish within")


def test_infinite_loop_ignoring_sigint_is_killed():
    source = '''
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
def softmax(x, axis=-1):
    while True:
        pass
'''
    result = grade(build(replace={"q5": source}))
    assert_only_q5_lost(result, "did not finish within")


def test_slow_calls_hit_the_question_time_limit():
    import dataclasses

    source = 'import time\ndef softmax(x, axis=-1):\n    time.sleep(1.5)\n    return x'
    result = grade(build(replace={"q5": source}), limits=dataclasses.replace(FAST, question_timeout_s=3.5))
    assert_only_q5_lost(result, "this question's time limit (4 s for its public checks) ran out")


def test_infinite_loop_in_a_top_level_cell_is_skipped():
    result = grade(build(before=["while True:\n    pass"]))
    assert result.score == 10.0
    assert any("ran longer than its time limit" in note for note in result.notes)


def test_memory_bomb_is_contained():
    """3 GiB of untouched address space: more than the sandbox's 2 GiB, far less than this machine's
    memory — so only the limit refuses it, and an answer that would be wrong cannot score if it is
    refused.  (64 GiB failed with MemoryError on this machine without any limit; an audit.)"""
    source = ('def softmax(x, axis=-1):\n    hog = np.empty(3 * 1024**3, np.uint8)\n'
              '    return np.full_like(x, 1.0)')
    assert FAST.memory_bytes < 3 * 1024**3
    result = grade(build(replace={"q5": source}))
    assert_only_q5_lost(result, "MemoryError")


def _processes_of(uid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    found.append(entry)
            except OSError:
                pass
    return found


def _processes_named(name):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as comm:
                    if comm.read().strip() == name:
                        found.append(entry)
            except OSError:
                pass
    return found


def test_fork_bomb_is_contained_and_cleaned_up():
    # The bomb names itself (prctl PR_SET_NAME; every fork inherits the name), so that what it
    # leaves behind can be found whichever user the kernel ran as, the grader's own included.
    marker = f"bomb{os.getpid()}"[:15]
    source = f'''
import ctypes, os
ctypes.CDLL(None).prctl(15, b"{marker}", 0, 0, 0)
def softmax(x, axis=-1):
    while True:
        try:
            if os.fork() == 0:
                os.setsid()
        except OSError:
            pass
'''
    result = grade(build(replace={"q5": source}))
    assert_only_q5_lost(result, "did not finish within")
    assert _processes_named(marker) == []
    uid = result.isolation.get("uid")
    if uid and uid != os.getuid():
        assert _processes_of(uid) == []


def test_output_flood_is_capped():
    source = '''
import sys
for _ in range(4000):
    print("flood " * 200)
def softmax(x, axis=-1):
    sys.stdout.write("x" * 20_000_000)
    return x
'''
    result = grade(build(replace={"q5": source}))
    assert question_score(result, "q5") == 0.0
    assert result.score == pytest.approx(FULL_OTHERS)


def test_network_is_unreachable():
    source = '''
import socket, urllib.request
def softmax(x, axis=-1):
    for host in [("1.1.1.1", 80), ("127.0.0.1", 22), ("localhost", 8888)]:
        try:
            socket.create_connection(host, timeout=1).close()
            return np.full_like(x, 1.0)   # a sentinel: the connection worked
        except OSError:
            pass
    urllib.request.urlopen("http://example.com/answers.npy", timeout=1)
'''
    result = grade(build(replace={"q5": source}))
    assert question_score(result, "q5") == 0.0
    text = messages(result, "q5")
    assert "URLError" in text or "OSError" in text or "gaierror" in text
    assert "differs" not in text  # the sentinel branch (a working connection) never ran


def test_killing_the_grader_or_other_processes_fails():
    source = '''
import os, signal
def softmax(x, axis=-1):
    for pid in range(2, 4096):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass
    return x
'''
    result = grade(build(replace={"q5": source}))
    assert result.score <= FULL_OTHERS
    assert question_score(result, "q1") == 2.0


# ----------------------------------------------------------------------------- cheating on answers
def test_hard_coded_public_answers_fail_the_hidden_checks():
    source = '''
def softmax(x, axis=-1):
    if x.shape == (2,):
        return np.array([0.5, 0.5])
    return np.array([[0.09003057, 0.24472847, 0.66524096], [1 / 3, 1 / 3, 1 / 3]])
'''
    result = grade(build(replace={"q5": source}))
    # the two public checks with fixed inputs earned 2/8 of q5 while the grader ran them as shown; their
    # twins have other values in other places
    assert question_score(result, "q5") == 0.0, [c.name for c in result.checks if c.passed]
    assert result.questions["q5"]["status"] == "failed"
    hidden = [c for c in result.checks if c.question == "q5" and c.hidden]
    assert hidden and not any(c.passed for c in hidden)


def test_answers_looked_up_for_the_public_inputs_pass_check_but_not_the_grader():
    """Students see the public checks' inputs (check.inputs), so a table of their answers passed every
    public check with random inputs, 56-68 % of every assignment (a red team, 2026-12-07): the grader now
    draws those inputs anew for each submission (and runs the fixed ones on twins: test_twins.py)."""
    from course_lib.grading.student import Checker

    table = [(item.args, item.expected) for item in runner._prepare(assignments.get("a01"), seed=0, questions=["q1"],
                                                                     include_hidden=False)]
    assert len(table) == 4

    def neuron(x, w, b):
        for (tx, tw, tb), answer in table:
            if np.array_equal(x, tx) and np.array_equal(w, tw) and b == tb:
                return answer.copy()
        return np.zeros(len(x), dtype=x.dtype)

    assert Checker("a01")("q1", {"neuron": neuron}).passed == 4  # check() uses the inputs it shows
    lookup = ("TABLE = " + repr([([a.tolist() for a in args[:2]] + [float(args[2])], answer.tolist(), str(args[0].dtype))
                                 for args, answer in table]) + "\n"
              "def neuron(x, w, b):\n"
              "    for (tx, tw, tb), answer, dtype in TABLE:\n"
              "        if np.array_equal(x, np.array(tx, dtype)) and np.array_equal(w, np.array(tw, dtype)) and b == tb:\n"
              "            return np.array(answer, dtype)\n"
              "    return np.zeros(len(x), dtype=x.dtype)\n")
    result = grade(build(replace={"q1": lookup}))
    assert question_score(result, "q1") == 0.0, [(c.name, c.passed) for c in result.checks if c.question == "q1"]


def test_the_grader_draws_every_public_input_anew():
    public = [item for item in runner._prepare(assignments.get("a01"), seed=0, include_hidden=False)]
    for seed in (1, 2):
        graded = [item for item in runner._prepare(assignments.get("a01"), seed, fresh_public=True) if not item.check.hidden]
        assert [item.check.name for item in graded] == [item.check.name for item in public]
        # neuron's random batches from another stream; sigmoid's linspace(-2, 2, 5) as its twin (test_twins.py)
        kept = [item.check.name for item, shown in zip(graded, public) if same_inputs(item.args, shown.args)]
        assert not kept


def test_reseeding_or_patching_the_rng_does_not_touch_the_grader_inputs():
    source = '''
import random
np.random.seed(1234)
random.seed(1234)
class FakeGenerator:
    def __getattr__(self, name):
        raise RuntimeError("patched")
np.random.default_rng = lambda *a, **k: FakeGenerator()
np.random.standard_normal = lambda *a, **k: 0.0
'''
    result = grade(build(after=[source]), seed=42)
    again = grade(build(), seed=42)
    assert result.score == again.score == 10.0


@pytest.mark.parametrize("assignment_id", [a.id for a in assignments.all_assignments()])
def test_same_seed_gives_same_hidden_inputs_and_every_hidden_check_changes_with_the_seed(assignment_id):
    """A hidden input that did not depend on the seed could be looked up in the (public) assignment
    module and special-cased; every hidden check must draw its inputs from the seed."""
    from course_lib.grading.runner import _prepare

    assignment = assignments.get(assignment_id)
    first, second, other = _prepare(assignment, 7), _prepare(assignment, 7), _prepare(assignment, 8)
    hidden = [i for i, p in enumerate(first) if p.check.hidden]
    assert hidden
    assert all(same_inputs((first[i].args, first[i].kwargs), (second[i].args, second[i].kwargs)) for i in hidden)
    fixed = [f"{first[i].question.id} {first[i].check.function}" for i in hidden
             if same_inputs((first[i].args, first[i].kwargs), (other[i].args, other[i].kwargs))]
    assert not fixed, f"hidden checks whose inputs do not depend on the seed: {fixed}"


def test_mutating_inputs_in_place_is_reported():
    source = '''
def softmax(x, axis=-1):
    x -= np.max(x, axis=axis, keepdims=True)
    np.exp(x, out=x)
    x /= np.sum(x, axis=axis, keepdims=True)
    return x
'''
    result = grade(build(replace={"q5": source}))
    assert_only_q5_lost(result, "modified its input")


# ----------------------------------------------------------------------------- wrong but honest answers
def test_wrong_shape_n1_instead_of_n():
    source = 'def neuron(x, w, b):\n    return 1 / (1 + np.exp(-(x @ w[:, None] + b)))'
    result = grade(build(replace={"q1": source}))
    assert question_score(result, "q1") == 0.0
    assert "expected shape" in messages(result, "q1") and "keepdims" in messages(result, "q1")
    assert result.score == 8.0


def test_float32_output_for_float64_input():
    source = 'def relu(x):\n    return np.maximum(x, 0).astype(np.float32)\n\ndef relu_derivative(x):\n    return (x > 0).astype(x.dtype)'
    result = grade(build(replace={"q3": source}))
    assert "keep the input's precision" in messages(result, "q3")
    assert question_score(result, "q3") < 2.0


def test_integer_output_is_rejected():
    source = 'def relu(x):\n    return np.maximum(x, 0)\n\ndef relu_derivative(x):\n    return (x > 0).astype(int)'
    result = grade(build(replace={"q3": source}))
    assert "expected a float array" in messages(result, "q3")
    relu_checks = [c.function for c in assignments.get("a01").question("q3").checks]
    # relu's checks pass, relu_derivative's fail: q3's 2 points shared among all of them
    assert question_score(result, "q3") == pytest.approx(2 * relu_checks.count("relu") / len(relu_checks))


def test_nan_from_naive_softmax_gets_the_stability_hint():
    source = 'def softmax(x, axis=-1):\n    e = np.exp(x)\n    return e / e.sum(axis=axis, keepdims=True)'
    result = grade(build(replace={"q5": source}))
    text = messages(result, "q5")
    assert "nan" in text and "subtract the maximum" in text
    assert 0 < question_score(result, "q5") < 3.0  # small logits pass, large ones fail


def test_importing_torch_in_a_from_scratch_question_earns_nothing():
    static = 'import torch\ndef softmax(x, axis=-1):\n    return torch.softmax(torch.from_numpy(x), axis).numpy()'
    result = grade(build(replace={"q5": static}))
    assert question_score(result, "q5") == 0.0
    assert "must be solved from scratch" in messages(result, "q5")
    assert result.score == 0.0  # every a01 question forbids torch, and the import is in the notebook
    dynamic = ('def softmax(x, axis=-1):\n    t = __builtins__.__dict__["__im" + "port__"]("to" + "rch")\n'
               '    return t.softmax(t.from_numpy(x), axis).numpy()')
    result = grade(build(replace={"q5": dynamic}))
    assert_only_q5_lost(result, "not available to this assignment")


def test_a_pytorch_question_names_what_it_forbids_instead_of_asking_for_scratch_code():
    """a10's questions are PyTorch questions: importing scikit-learn voids them, and the message names
    the forbidden packages — it said "this question must be solved from scratch" (audit)."""
    result = grade(build("a10", after=["import sklearn"]), "a10")
    assert result.score == 0.0
    for question in ("q1", "q2"):
        text = messages(result, question)
        assert "may not use jax, sklearn, tensorflow, %run or %load" in text and "from scratch" not in text


def test_onnx_operators_cannot_answer_a_from_scratch_question():
    """ONNX's reference evaluator has Conv, LSTM, Softmax and more, and onnx is installed for the
    deployment chapter: it is forbidden and hidden like torch (found by a red-team run: a06 scored
    8.5 / 10 with every convolution and pooling answer computed by onnx)."""
    static = ("import onnx\ndef softmax(x, axis=-1):\n    e = np.exp(x - x.max(axis, keepdims=True))\n"
              "    return e / e.sum(axis, keepdims=True)")
    result = grade(build(replace={"q5": static}))
    assert result.score == 0.0 and "imports onnx" in messages(result, "q5")
    dynamic = ('def softmax(x, axis=-1):\n    import importlib\n'
               '    importlib.import_module("onnx" + "runtime")\n    return x')
    result = grade(build(replace={"q5": dynamic}))
    assert_only_q5_lost(result, "ModuleNotFoundError")


def test_an_error_message_that_is_not_valid_unicode_is_reported():
    """A lone surrogate in an exception's message crossed the wire and crashed the report's print
    and the gradebook's INSERT (red-team finding); it is shown as U+FFFD."""
    source = 'def softmax(x, axis=-1):\n    raise ValueError("bad \\ud800 value")'
    result = grade(build(replace={"q5": source}))
    assert_only_q5_lost(result, "bad \ufffd value")
    text_report(result, show_hidden=True).encode("utf-8")  # printable, storable


def test_patching_numpy_does_not_hide_an_in_place_modification():
    source = ("np.array_equal = lambda a, b, equal_nan=False: True\n"
              "def softmax(x, axis=-1):\n    x -= x.max(axis, keepdims=True)\n    np.exp(x, out=x)\n"
              "    x /= x.sum(axis, keepdims=True)\n    return x.copy()")
    result = grade(build(replace={"q5": source}))
    assert "modified its input `x` (argument 1) in place" in messages(result, "q5")
    assert question_score(result, "q5") < 3.0


def test_importing_course_lib_or_reading_the_solutions_fails():
    source = f'''
def softmax(x, axis=-1):
    try:
        text = open("{REPO}/solutions/a01_activations.ipynb").read()
        return np.full_like(x, 2.0)
    except OSError:
        pass
    import importlib
    module = importlib.import_module("course" + "_lib.scratch.activations")  # dodges the static scan
    return module.softmax(x, axis)
'''
    result = grade(build(replace={"q5": source}))
    assert_only_q5_lost(result, "ModuleNotFoundError")
    static = "from course_lib.scratch.activations import softmax"
    result = grade(build(replace={"q5": static}))
    assert result.score == 0.0 and "imports course_lib" in messages(result, "q1")


# ----------------------------------------------------------------------------- broken notebooks
def test_invalid_json_notebook():
    result = grade(b'{"cells": [ this is not json')
    assert result.score == 0.0 and "not a valid notebook" in result.error


def test_nbformat_3_notebook():
    result = grade(json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": [{"cells": []}]}).encode())
    assert result.score == 0.0 and "nbformat 3" in result.error


def test_non_notebook_json_and_malformed_cells():
    for data in (b"[]", json.dumps({"nbformat": 4, "cells": "x"}).encode(),
                 json.dumps({"nbformat": 4, "cells": [{"cell_type": "code", "source": 5}]}).encode()):
        result = grade_notebook(data, assignments.get("a01"), limits=FAST)
        assert result.score == 0.0 and result.error


def test_deleted_cell_costs_only_its_question():
    notebook = json.loads(build())
    notebook["cells"] = [c for c in notebook["cells"]
                         if c.get("metadata", {}).get("course", {}).get("question") != "q5"]
    result = grade(json.dumps(notebook).encode())
    assert_only_q5_lost(result, "softmax is not defined")


def test_duplicated_cells_use_the_last_definition():
    notebook = json.loads(build())
    stub = json.loads(build(template=True))
    solved = next(c for c in notebook["cells"] if c.get("metadata", {}).get("course", {}).get("question") == "q5"
                  and c["cell_type"] == "code" and "role" not in c["metadata"]["course"])
    unsolved = next(c for c in stub["cells"] if c.get("metadata", {}).get("course", {}).get("question") == "q5"
                    and c["cell_type"] == "code" and "role" not in c["metadata"]["course"])
    notebook["cells"] += [solved, solved]
    assert grade(json.dumps(notebook).encode()).score == 10.0
    notebook["cells"].append(unsolved)
    assert_only_q5_lost(grade(json.dumps(notebook).encode()), "not attempted")


def test_cells_the_parser_cannot_read_are_refused_without_crashing_the_grader():
    # deep nesting makes Python's parser raise MemoryError or RecursionError (not SyntaxError); a cell
    # over the scan limit is not parsed at all (the parser needs up to ~900 bytes per byte of source)
    for cell in ("y = " + "-" * 30000 + "1", "y = x" + "[0]" * 3000,
                 "a = 1\n" + "a;" * (notebook.MAX_SCANNED_CELL_BYTES // 2 + 1)):
        names, problem = notebook.imported_modules(cell)
        assert names == {notebook.UNCHECKED} and problem
    result = grade(build(after=["y = " + "-" * 30000 + "1"]))
    assert result.score == 0.0  # what that cell imports is unknown: no question can be graded
    assert "could not read" in messages(result, "q5")
    assert any("could not be checked for imports" in note for note in result.notes)


def test_a_notebook_with_megabytes_of_code_is_refused_before_parsing():
    result = grade(build(after=["x = 1\n" * (notebook.MAX_CODE_BYTES // 6 + 1)]))
    assert result.score == 0.0 and "MB of source" in result.error


def test_terminal_escape_codes_in_an_error_message_cannot_rewrite_the_report():
    from course_lib.grading.report import text_report

    fake = "\\x1b[2K\\x1b[1G\\x1b[999A\\x1b[2K\\x1b[1GAssignment a01: 10 / 10 points\\r"
    source = f'def softmax(x, axis=-1):\n    raise ValueError("{fake}")'
    result = grade(build(replace={"q5": source}))
    assert_only_q5_lost(result, "ValueError")
    report = text_report(result)
    assert "\x1b" not in report and "\r" not in report
    assert "\\x1b[999A" in report  # shown, not obeyed
    assert report.splitlines()[0] == "Assignment a01: 7 / 10 points"


def test_a_function_that_keeps_its_inputs_cannot_show_a_hidden_one_in_a_public_message():
    """Every question's public checks run before any hidden check, so what a function was called
    with before a public check fails is public too.  The results stay in the assignment's order."""
    recorder = ("SEEN = []\n\n\ndef neuron(x, w, b):\n    SEEN.append(x.shape)\n"
                "    return 1.0 / (1.0 + np.exp(-(x @ w + b)))\n")
    telltale = ("def sigmoid(x):\n    raise ValueError(f'neuron saw the shapes {SEEN}')\n\n\n"
                "def sigmoid_derivative(x):\n    raise ValueError(f'neuron saw the shapes {SEEN}')\n")
    result = grade(build(replace={"q1": recorder, "q2": telltale}), seed=5)
    public = [c.message for c in result.checks if c.question == "q2" and not c.hidden]
    hidden = [c.message for c in result.checks if c.question == "q2" and c.hidden]
    # what q1's public checks called neuron with, in order, and the first hidden input (seed 5)
    q1 = [item for item in runner._prepare(assignments.get("a01"), seed=5) if item.question.id == "q1"]
    public_shapes = str([item.args[0].shape for item in q1 if not item.check.hidden])
    first_hidden = str(next(item.args[0].shape for item in q1 if item.check.hidden))
    assert public and all(public_shapes in m and first_hidden not in m for m in public), public
    assert hidden and all(first_hidden in m for m in hidden), hidden
    assert question_score(result, "q1") == 2.0
    expected_order = [item.check.name for item in runner._prepare(assignments.get("a01"), seed=5)]
    assert [c.name for c in result.checks] == expected_order


def test_a_kernel_lost_in_a_public_check_voids_only_the_checks_after_it():
    """The two passes grade as one pass in the assignment's order would: a05 q3's dropout kills the
    kernel on its second public input, so its own hidden check is not run, but dropout_forward's
    hidden checks (earlier in the order) are graded as before."""
    crash = ("import os\n\n\ndef dropout_forward(x, p, uniform):\n"
             "    mask = (uniform >= p).astype(x.dtype) / x.dtype.type(1 - p)\n    return x * mask, mask\n\n\n"
             "def dropout(x, p):\n    if x.shape == (100, 50):\n        os._exit(3)\n"
             "    return dropout_forward(x, p, rng.random(x.shape))\n")
    result = grade(build("a05", replace={"q3": crash}), "a05", seed=123)
    rows = {c.name: c for c in result.checks if c.question == "q3"}
    assert all(c.passed for name, c in rows.items() if name.startswith("dropout_forward")), rows
    assert "stopped the kernel" in rows["dropout: three calls on the same (100, 50) input draw three independent masks"].message
    assert "the remaining checks of this question were not run" in rows["dropout: hidden test 1"].message
    passed = [c for c in rows.values() if c.passed]
    assert len(passed) == len(rows) - 2 and question_score(result, "q3") == pytest.approx(3 * len(passed) / len(rows))
    assert result.score == pytest.approx(sum(q["score"] for q in result.questions.values()))


# A cell that rewrites the harness's result messages on their way out (the grader reads them from
# the kernel's display data): what a student can forge about their own answers.
_FORGE = r'''
import IPython.display as _display, json as _json
_original = _display.publish_display_data
def _forged(data, *args, **kwargs):
    kind = "application/vnd.course-grader.result+json"
    if kind in data:
        message = _json.loads(data[kind])
        if message.get("status") == "ok":
            message = FORGE(message)
        data = {kind: _json.dumps(message)}
    return _original(data, *args, **kwargs)
_display.publish_display_data = _forged
'''


def test_a_forged_in_place_label_fails_the_checks_and_never_stops_the_grader():
    """A red-team finding: 'argument ²' (str.isdigit is true for it, int() refuses it) raised in the
    grader, so the notebook could never be graded — the grader's failure, not the student's."""
    forge = _FORGE.replace("FORGE(message)", "dict(message, mutated=['argument \\u00b2'])")
    result = grade(build(after=[forge]))
    assert result.grader_failure is None and result.error is None
    assert result.score == 0.0
    assert all("modified its input `²` in place" in c.message for c in result.checks), [c.message for c in result.checks]


def test_fewer_results_than_calls_fail_the_check_that_needed_them():
    """A red-team finding: a dropout that reseeds on every call draws one mask three times; sending
    back only the first of the three results passed the check that the masks differ."""
    reseeding = ("def dropout_forward(x, p, uniform):\n    mask = (uniform >= p).astype(x.dtype) / x.dtype.type(1 - p)\n"
                 "    return x * mask, mask\n\n\ndef dropout(x, p):\n    generator = np.random.default_rng(0)\n"
                 "    return dropout_forward(x, p, generator.random(x.shape))\n")
    truncate = "dict(message, value=dict(message['value'], v=message['value']['v'][:1])) if message['value'].get('t') == 'tu' and len(message['value'].get('v', [])) == 3 else message"
    forge = _FORGE.replace("FORGE(message)", truncate)
    result = grade(build("a05", replace={"q3": reseeding}, after=[forge]), "a05")
    fresh = [c for c in result.checks if "three calls" in c.name]
    assert fresh and not any(c.passed for c in fresh)
    assert "dropout was called 3 times, and 3 results did not come back" in fresh[0].message
    honest = grade(build("a05", replace={"q3": reseeding}), "a05")  # without the forgery: the judge's own reason
    assert question_score(result, "q3") == question_score(honest, "q3") < 3


def test_a_definition_kept_as_text_is_not_named_as_the_one_graded():
    """A red-team finding: a later cell holding an old draft in a string was named as the definition
    that was graded."""
    draft = '_notes = """\ndef softmax(x, axis=-1):\n    \'\'\'an old draft kept as text\'\'\'\n"""\n'
    result = grade(build(after=[draft]))
    assert result.score == 10.0
    assert not any("softmax is defined in cells" in note for note in result.notes), result.notes


def test_a_cell_that_is_not_valid_text_is_skipped_at_once():
    """A lone surrogate in a cell cost 30 s and a kernel restart, and was reported as "ran longer than its time
    limit" (a red team): it is skipped before it is sent, and said to be what it is."""
    import time as clock

    started = clock.monotonic()
    result = grade(build(after=['text = "\ud800"']))  # the cell's own text holds the lone surrogate
    assert clock.monotonic() - started < 25
    assert result.score == 10.0
    said = [note for note in result.notes if "not valid text" in note]
    assert len(said) == 1 and "syntax error" not in said[0] and "it was skipped" in said[0], result.notes


def test_a_cell_stopped_by_the_notebooks_time_limit_is_not_blamed_on_its_own():
    """With the notebook's budget nearly spent, a cell stopped at that budget was reported as "ran longer than
    its time limit" (a red team: 500,000 empty cells): the note names the notebook's limit."""
    import dataclasses

    limits = dataclasses.replace(FAST, cell_timeout_s=30.0, total_timeout_s=8.0)
    result = grade(build(before=["import time\ntime.sleep(60)"]), limits=limits)
    assert result.score == 0.0
    assert any("the time limit for the whole notebook (8 s) ran out while cell" in note for note in result.notes), \
        result.notes
    assert not any("ran longer than its time limit" in note for note in result.notes)
    assert all(c.message == "not graded: the time limit for the whole notebook ran out" for c in result.checks)


def test_an_error_whose_message_fails_is_reported_as_check_reports_it():
    """The grader said "raised TypeError: while returning the result: …" with no line, where check() named
    the student's error (an audit): both now name it and say that its message could not be shown."""
    source = '''
class ShapeError(Exception):
    def __str__(self):
        raise TypeError("no message")

def softmax(x, axis=-1):
    raise ShapeError()
'''
    result = grade(build(replace={"q5": source}))
    assert "softmax raised ShapeError: (its message could not be shown: str() raised TypeError)" in messages(result, "q5")


def test_run_without_its_percent_sign_runs_nothing():
    """With IPython's automagic on, a cell `run -i helper.py` ran a file the notebook wrote, past the %run
    rule: softmax came from it and earned full marks (an audit).  The grader turns automagic off."""
    writes = ('open("helper.py", "w").write("import numpy as np\\ndef softmax(x, axis=-1):\\n'
              '    e = np.exp(x - x.max(axis=axis, keepdims=True))\\n    return e / e.sum(axis=axis, keepdims=True)\\n")')
    result = grade(build(replace={"q5": writes}, after=["run -i helper.py"]))
    assert question_score(result, "q5") == 0.0
    assert "softmax is not defined" in messages(result, "q5")


def test_answers_looked_up_for_the_fixed_public_inputs_pass_check_but_not_the_grader():
    """A table of the fixed public checks' answers (check.inputs shows them) earned 46 % of a01 while the
    grader ran those checks as shown; the grader now runs them on twins of them (test_twins.py)."""
    from course_lib.grading.student import Checker

    shown = [item for item in runner._prepare(assignments.get("a01"), seed=0, include_hidden=False)
             if item.check.twin is not None]
    table = {}
    for item in shown:
        table.setdefault(item.check.function, []).append((item.args[0], item.kwargs, item.expected))
    source = ["import numpy as _np", "TABLE = {"]
    for function, rows in table.items():
        source.append(f"    {function!r}: [" + ", ".join(
            f"(_np.array({x.tolist()!r}, {str(x.dtype)!r}), {kwargs!r}, _np.array({answer.tolist()!r}, {str(answer.dtype)!r}))"
            for x, kwargs, answer in rows) + "],")
    source.append("}")
    for function in table:
        parameters = "x, axis=-1" if function == "softmax" else "x"
        keywords = "({'axis': axis} if axis != -1 else {})" if function == "softmax" else "{}"
        source += [f"def {function}({parameters}):",
                   f"    for shown, kwargs, answer in TABLE[{function!r}]:",
                   f"        if shown.dtype == x.dtype and shown.shape == x.shape and _np.array_equal(shown, x) and kwargs == {keywords}:",
                   "            return answer.copy()",
                   "    return _np.zeros_like(x)"]
    namespace = {}
    exec("\n".join(source), namespace)  # noqa: S102 - the table notebook's code, run here for check()
    for question in ("q2", "q3", "q4", "q5"):
        outcome = Checker("a01")(question, namespace)
        fixed = sum(item.question.id == question for item in shown)
        assert outcome.passed == fixed  # every check with fixed inputs passes in check(), the others fail
    # the table answers q2 to q5; the solution's own cells for q3 to q5 are emptied
    result = grade(build(replace={"q2": "\n".join(source), "q3": "pass", "q4": "pass", "q5": "pass"}), seed=7)
    earned = [(c.name, c.passed) for c in result.checks if c.passed and c.question in ("q2", "q3", "q4", "q5")]
    assert not earned
    for seed in range(1, 41):  # and on the grader's draws for other seeds (in this process: trusted code)
        for item in runner._prepare(assignments.get("a01"), seed, fresh_public=True):
            if item.check.twin is not None:
                assert not Checker._run_one(item, namespace)[0], f"seed {seed}, {item.check.name}"

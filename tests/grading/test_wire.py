"""What crosses back from the kernel is parsed as data only, and compared strictly."""
import base64
import io
import json
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from course_lib.grading.spec import compare
from course_lib.grading.wire import Foreign, WireError, clean_text, decode_result, encode, kernel_helpers

from ..hypothesis_budget import examples


def _ok(tree):
    return json.dumps({"status": "ok", "value": tree, "mutated": []})


def _npy(array, allow_pickle=False):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return base64.b64encode(buffer.getvalue()).decode()


def test_round_trip_of_plain_values():
    value = (np.arange(6.0).reshape(2, 3), 1.5, 3, True, None, [np.float32(2.0)], {"a": np.int64(4)})
    decoded = decode_result(_ok(encode(value)))["value"]
    assert isinstance(decoded, tuple) and np.array_equal(decoded[0], value[0])
    assert decoded[1:5] == (1.5, 3, True, None)
    assert decoded[5][0].dtype == np.float32 and decoded[6]["a"] == 4


@pytest.mark.parametrize("payload", [
    None, 42, "", "not json", "[]", '{"status": "great"}', _ok({"t": "nd", "npy": "%%%"}),
    _ok({"t": "nd", "npy": base64.b64encode(pickle.dumps([1, 2])).decode()}),
    _ok({"t": "nd", "npy": _npy(np.array([object()], dtype=object), allow_pickle=True)}),
    _ok({"t": "nd", "npy": _npy(np.array(["a", "b"]))}),
    _ok({"t": "nd", "npy": _npy(np.zeros(2, dtype=[("a", "f8")]))}),
    _ok({"t": "i", "v": "1" * 500}), _ok({"t": "f", "v": 1.0}), _ok({"t": "zz"}), _ok({"t": "li", "v": "x"}),
    _ok(json.loads("[" * 1 + "]")), "[" * 100000 + "]" * 100000,
])
def test_malformed_or_hostile_payloads_are_rejected(payload):
    with pytest.raises(WireError):
        decode_result(payload)


# Any JSON a hostile kernel can send, built from the protocol's own keys and kinds so that the
# decoder gets past its first checks: it returns a result or raises WireError, nothing else.
_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
                    st.sampled_from(["nd", "sc", "v", "i", "f", "tu", "li", "di", "other", "ok", "error"]),
                    st.sampled_from([_npy(np.arange(3.0)), _npy(np.array(["a"])), "AAAA", "k05VTVBZ"]))
_TREES = st.recursive(_LEAVES, lambda children: st.one_of(
    st.lists(children, max_size=4),
    st.dictionaries(st.sampled_from(["t", "v", "npy", "type", "status", "value", "mutated", "ename"]), children,
                    max_size=4)), max_leaves=30)


@settings(max_examples=examples(300), deadline=None)
@given(message=st.one_of(_TREES.map(lambda tree: {"status": "ok", "value": tree}), _TREES))
def test_any_json_decodes_or_raises_wire_error(message):
    try:
        assert isinstance(decode_result(json.dumps(message)), dict)
    except WireError:
        pass


@settings(max_examples=examples(200), deadline=None)
@given(seed=st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.none(), st.lists(st.integers(), max_size=2)))
def test_a_torch_seed_from_the_kernel_is_a_number_unknown_or_none_never_a_crash(seed):
    """The kernel reports PyTorch's seed as digits; anything else it sends (other digits such as
    "²", which str.isdigit accepts and int refuses, or a number that is not a string) is "unknown"."""
    decoded = decode_result(json.dumps({"status": "ok", "value": {"t": "v", "v": None}, "torch_seed": seed}))
    digits = isinstance(seed, str) and len(seed) <= 20 and seed != "" and all(c in "0123456789" for c in seed)
    assert decoded["torch_seed"] == (None if seed is None else int(seed) if digits else "unknown")


def test_a_torch_seed_of_digits_is_read_as_the_number():
    ok = {"status": "ok", "value": {"t": "v", "v": None}}
    assert decode_result(json.dumps({**ok, "torch_seed": "6102635122811307565"}))["torch_seed"] == 6102635122811307565
    assert decode_result(json.dumps(ok))["torch_seed"] is None
    for odd in ("²", "-1", "1" * 21, "12 ", 12, "unknown"):
        assert decode_result(json.dumps({**ok, "torch_seed": odd}))["torch_seed"] == "unknown", odd


# a garbled header can look like one written by Python 2, or hold a string escape Python warns about
@pytest.mark.filterwarnings("ignore:Reading `.npy`", "ignore:invalid escape sequence")
def test_garbled_arrays_are_rejected_or_read_never_crash():
    rng = np.random.default_rng(0)
    good = base64.b64decode(_npy(np.arange(12.0).reshape(3, 4)))
    rejected = 0
    for _ in range(2000):
        raw = bytearray(good)
        for _ in range(rng.integers(1, 6)):
            raw[rng.integers(0, len(raw))] = rng.integers(0, 256)
        if rng.random() < 0.3:
            raw = raw[:rng.integers(1, len(raw) + 1)]
        try:
            decode_result(_ok({"t": "nd", "npy": base64.b64encode(bytes(raw)).decode()}))
        except WireError:
            rejected += 1
    assert rejected > 1000  # most garbled headers and truncations are refused, the rest read as numbers


def test_deep_nesting_is_rejected():
    tree = {"t": "v", "v": None}
    for _ in range(50):
        tree = {"t": "li", "v": [tree]}
    with pytest.raises(WireError):
        decode_result(_ok(tree))


def test_foreign_objects_only_carry_their_type_name():
    decoded = decode_result(_ok({"t": "other", "type": "__main__.AlwaysEqual"}))["value"]
    assert decoded == Foreign("__main__.AlwaysEqual")
    ok, message = compare(decoded, np.zeros(3))
    assert not ok and "AlwaysEqual" in message


@pytest.mark.parametrize("student, fragment", [
    (np.zeros((3, 1)), "expected shape (3,)"),
    (np.zeros(3, dtype=np.float32), "keep the input's precision"),
    (np.zeros(3, dtype=np.int64), "expected a float array"),
    (np.array([0.0, np.nan, 0.0]), "nan"),
    ([0.0, 0.0, 0.0], "should be a float64 array"),
    (np.ones(3), "differs from the expected values"),
])
def test_compare_checks_type_shape_dtype_finiteness_then_values(student, fragment):
    ok, message = compare(student, np.zeros(3))
    assert not ok and fragment in message


def test_compare_shows_entries_as_plain_numbers():
    """A student reads "got 1.5", not numpy's repr "got np.float32(1.5)"."""
    _, message = compare(np.array([0.0, 1.5], dtype=np.float32), np.zeros(2, dtype=np.float32))
    assert "got 1.5, expected 0" in message and "np." not in message
    _, message = compare(np.array([1, 7]), np.array([1, 2]))
    assert "got 7, expected 2" in message and "np." not in message
    _, message = compare(np.array([True, False]), np.array([True, True]))
    assert "got False, expected True" in message and "np." not in message


def test_compare_messages_read_as_english_for_any_name(  # an audit of the student's side, 2026-12-07
):
    """"the predictions has dtype int32", "expected a int64 array" and "expected -0" read badly."""
    _, message = compare(np.zeros(3, dtype=np.int32), np.zeros(3, dtype=np.int64), path="the predictions")
    assert message.startswith("the dtype of the predictions is int32; expected int64"), message
    _, message = compare([1, 2], np.zeros(2, dtype=np.int64))
    assert "should be an int64 array of shape (2,)" in message, message
    _, message = compare(np.array([2.5]), np.array([-0.0]))
    assert "got 2.5, expected 0)" in message, message


def test_compare_scalars_and_tuples():
    assert compare(np.float64(1.0), 1.0)[0] and compare(1.0, np.float64(1.0))[0]
    assert not compare(np.array([1.0]), np.float64(1.0))[0]
    assert not compare(True, 1)[0] and not compare(1.0, 1)[0]
    assert compare([1.0], (1.0,))[0] and compare((1.0,), [1.0])[0]  # a list for a pair written (a, b): same answer
    assert not compare(np.array([1.0]), (1.0,))[0] and not compare(1.0, (1.0,))[0]
    assert compare((np.ones(2), 2.0), (np.ones(2), 2.0))[0]


def test_compare_refuses_a_tuple_of_another_length_a_bool_for_a_number_and_a_near_miss():
    """Each of these passed when one comparison was loosened (a mutation audit): a tuple shorter or
    longer than expected, a bool where a number or a number where a bool was expected, and a
    float scalar off by more than the tolerance that arrays are held to."""
    pair = (np.ones(2), np.ones(2))
    shorter, longer = compare(pair[:1], pair), compare(pair + (np.ones(2),), pair)
    assert not shorter[0] and "has 1 item; expected 2" in shorter[1]
    assert not longer[0] and "has 3 items; expected 2" in longer[1]
    assert not compare(True, 1.0)[0] and not compare(np.bool_(False), 0.0)[0]
    assert "should be a single number (float), but it is a bool" in compare(True, 1.0)[1]
    integers = compare(np.array([1, 0]), np.array([True, False]))
    assert not integers[0] and "expected a bool array" in integers[1]
    assert not compare(np.array([True, False]), np.array([1, 0]))[0]
    # a float scalar is held to the same rtol/atol as an array of floats
    for got, expected in ((1.0005, 1.0), (1e-4, 0.0), (1.0 + 1e-5, 1.0)):
        assert not compare(np.array([got]), np.array([expected]))[0]
        assert not compare(got, expected)[0] and not compare(np.float64(got), expected)[0], (got, expected)
    assert compare(1.0 + 1e-7, 1.0)[0] and compare(1.0005, 1.0, rtol=1e-3)[0]


def test_text_that_is_not_valid_unicode_is_made_printable():
    """A lone surrogate (JSON "\\ud800") cannot be printed or stored as UTF-8: it becomes U+FFFD; an
    escaped file-name byte (surrogateescape's "\\udcff") is shown as \\xff."""
    error = decode_result(json.dumps({"status": "error", "ename": "E\ud800", "evalue": "bad \ud800", "where": "\udcff"}))
    assert (error["ename"], error["evalue"], error["where"]) == ("E\ufffd", "bad \ufffd", "\\xff")
    value = {"t": "di", "v": [["k\ud800", {"t": "v", "v": "s\ud800"}]]}
    assert decode_result(json.dumps({"status": "ok", "value": value, "mutated": []}))["value"] == {"k\ufffd": "s\ufffd"}
    assert clean_text("ok é 😀") == "ok é 😀"


def test_arrays_arrive_in_native_byte_order():
    """A big-endian answer passed the comparison but crashed a03's judge, which hands the arrays to the
    reference layers (red-team finding): every decoded array is native."""
    buffer = io.BytesIO()
    np.save(buffer, np.array([1.0, 2.0], dtype=">f8"))
    message = json.dumps({"status": "ok", "value": {"t": "nd", "npy": base64.b64encode(buffer.getvalue()).decode()},
                          "mutated": []})
    value = decode_result(message)["value"]
    assert value.dtype.isnative and value.dtype == np.float64 and value.tolist() == [1.0, 2.0]


def test_a_judge_that_raises_fails_the_check_and_never_the_grader():
    from course_lib.grading.runner import _Prepared, judge_value
    from course_lib.grading.spec import Check, Question

    def judge(value, args, kwargs, secret):
        raise ValueError("dtype must be float32 or float64")

    check = Check("f: judged", "f", lambda rng: ((), {}), None, judge=judge)
    prepared = _Prepared(Question("q1", "t", 1, ["f"], [check]), check, (), {}, None)
    passed, message = judge_value(prepared, np.zeros(2))
    assert not passed and "could not be judged (ValueError: dtype must be float32 or float64)" in message


def test_the_harness_calls_a_function_several_times_on_fresh_copies(monkeypatch):
    """``Check.calls``: the kernel-side harness calls the function that many times, each time on
    new copies of the arguments, and sends back the tuple of results (run here in-process)."""
    import sys

    import IPython.display

    from course_lib.grading.wire import HARNESS, call_code

    sent = []
    monkeypatch.setattr(IPython.display, "publish_display_data", lambda data: sent.append(data))
    namespace = {}
    exec(HARNESS, namespace)
    seen = []

    def draw(x):  # changes its argument: a second call on the same array would see 1 more
        x += 1
        seen.append(x.copy())
        return x.sum(), len(seen)

    monkeypatch.setitem(sys.modules["__main__"].__dict__, "draw", draw)
    for calls, expected in ((1, (5.0, 1)), (2, ((5.0, 2), (5.0, 3)))):
        exec(call_code("draw", (np.array([1.0, 2.0]),), {}, calls=calls), namespace)
        message = decode_result(next(iter(sent.pop().values())))
        assert message["status"] == "ok" and message["value"] == expected
        assert message["mutated"] == ["argument 1"]
    assert [list(x) for x in seen] == [[2.0, 3.0]] * 3

    def first_call_only(x):  # changes its argument on the first of two calls only
        if not seen.pop():
            x += 1
        return x.sum()

    # each result is encoded when its call returns: a later call that reuses the returned array
    # does not change what the first call returned
    buffer = np.zeros(2)

    def reuses_its_output(x):
        np.add(x, len(seen), out=buffer)
        seen.append(x)
        return buffer

    seen.clear()
    monkeypatch.setitem(sys.modules["__main__"].__dict__, "reuses_its_output", reuses_its_output)
    exec(call_code("reuses_its_output", (np.array([1.0, 2.0]),), {}, calls=2), namespace)
    first, second = decode_result(next(iter(sent.pop().values())))["value"]
    assert first.tolist() == [1.0, 2.0] and second.tolist() == [2.0, 3.0]

    seen[:] = [True, False]  # popped from the end: the first call sees False (and changes x), the second True
    monkeypatch.setitem(sys.modules["__main__"].__dict__, "first_call_only", first_call_only)
    exec(call_code("first_call_only", (np.array([1.0, 2.0]),), {}, calls=2), namespace)
    message = decode_result(next(iter(sent.pop().values())))
    assert message["value"] == (5.0, 3.0) and message["mutated"] == ["argument 1"]


def test_a_tuple_result_is_described_by_the_names_the_assignment_gives_its_items():
    expected = (np.zeros(2), np.ones((2, 3)))
    student = (np.zeros(2), np.ones((3, 2)))
    assert compare(student, expected)[1].startswith("item 1 of the result has shape (3, 2)")
    named = compare(student, expected, names=("grad_x", "grad_W"))[1]
    assert named.startswith("grad_W (item 1 of the result) has shape (3, 2); expected shape (2, 3)")
    from course_lib.grading import assignments
    from course_lib.grading.runner import _prepare

    named = 0
    for assignment in (assignments.get(f"a{number:02d}") for number in range(1, 11)):
        with_names = [q.id for q in assignment.questions if any(c.result_names for c in q.checks)]
        for item in _prepare(assignment, seed=0, questions=with_names):
            if item.check.result_names:  # one distinct name per item of the expected tuple
                assert len(set(item.check.result_names)) == len(item.expected), item.check.name
                named += 1
    assert named >= 20


# --- a second mutation audit: judgements that could change unnoticed ---------------------------------
def test_compare_judges_nan_bools_and_dict_keys_as_a_grade_needs():
    from course_lib.grading.spec import compare, has_nonfinite

    assert compare(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]))[0]  # NaN where NaN is expected
    assert not compare(False, True)[0] and compare(True, True)[0]
    assert not compare({"a": 1.0, "b": 2.0}, {"a": 1.0})[0]  # an extra key is a different answer
    assert not compare({"a": 1.0}, {"a": 1.0, "b": 2.0})[0]
    assert has_nonfinite((np.array([np.nan]), np.array([1.0]))) and not has_nonfinite((np.array([1.0]),))


def test_the_in_place_check_sees_a_changed_dtype_dict_entry_or_list_length():
    """The harness's ``same`` (does an argument come back unchanged?) over every kind it compares."""
    _, same, _ = kernel_helpers()
    a = np.zeros(2)
    b = a.copy()
    b.dtype = np.int64  # the same bytes read as another dtype
    assert same(a, a.copy()) and not same(a, b)
    assert same({"w": np.ones(2)}, {"w": np.ones(2)}) and not same({"w": np.ones(2)}, {"w": np.zeros(2)})
    assert same([np.ones(1)], [np.ones(1)]) and not same([np.ones(1)], [np.ones(1), np.ones(1)])

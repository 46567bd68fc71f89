"""What crosses between the grader and the student's kernel: plain data only.

Inputs go to the kernel as a JSON tree whose arrays are ``.npy`` bytes (base64).
Return values come back the same way and are decoded here, in the grader, with
``np.load(allow_pickle=False)``, size caps and a dtype whitelist.  The kernel-side
half (``HARNESS``) is sent as source code and runs in the student's process, so it is
*not* trusted: a hostile kernel may replace it and send any bytes it likes.  That
is fine, because the bytes are only ever parsed as data and compared with answers
computed here; lying about one's own return value earns nothing the true value would not.
"""
from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_PAYLOAD_CHARS = 64 * 1024 * 1024
MAX_NODES = 10_000
MAX_DEPTH = 20
MAX_ARRAY_ELEMENTS = 20_000_000
ALLOWED_KINDS = "biuf"  # bool, int, unsigned, float: never object, void, strings


class WireError(ValueError):
    """A return value that cannot be read back as plain data."""


@dataclass(frozen=True)
class Foreign:
    """A returned object that is not plain data (e.g. a class with ``__eq__``); only its type name crosses."""

    type_name: str


# ----------------------------------------------------------------------------- grader → kernel
SPILL_BYTES = 256 * 1024  # larger input arrays travel as read-only .npy files, not inside the code


def encode(value: Any, spill=None) -> Any:
    """Encode grader-made inputs as a JSON-able tree.

    ``spill(array) -> path`` (optional) stores a large array as a file the kernel can read but
    not change (Sandbox.spill); parsing megabytes of base64 inside a code cell is slow.
    """
    if isinstance(value, np.ndarray) and spill is not None and value.nbytes > SPILL_BYTES:
        return {"t": "ndf", "path": spill(value)}
    if isinstance(value, np.ndarray):
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        return {"t": "nd", "npy": base64.b64encode(buffer.getvalue()).decode()}
    if isinstance(value, np.generic):
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(value), allow_pickle=False)
        return {"t": "sc", "npy": base64.b64encode(buffer.getvalue()).decode()}
    if value is None or isinstance(value, (bool, str)):
        return {"t": "v", "v": value}
    if isinstance(value, int):
        return {"t": "i", "v": str(value)}
    if isinstance(value, float):
        return {"t": "f", "v": repr(value)}
    if isinstance(value, tuple):
        return {"t": "tu", "v": [encode(v, spill) for v in value]}
    if isinstance(value, list):
        return {"t": "li", "v": [encode(v, spill) for v in value]}
    if isinstance(value, dict):
        return {"t": "di", "v": [[k, encode(v, spill)] for k, v in value.items()]}
    raise TypeError(f"cannot send {type(value).__name__} to the kernel")


# ----------------------------------------------------------------------------- kernel → grader
def decode_result(text: Any) -> dict:
    """Parse the kernel's untrusted result message.  Raises ``WireError`` on anything odd.

    Returns ``{"status": "ok", "value": ..., "mutated": [...], "torch_seed": int, "unknown" or None}`` or
    ``{"status": "error", "ename": str, "evalue": str, "where": str}`` or ``{"status": "missing"}``.
    """
    if not isinstance(text, str) or len(text) > MAX_PAYLOAD_CHARS:
        raise WireError("the result message is missing or too large")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise WireError(f"the result message is not valid JSON ({type(error).__name__})") from None
    if not isinstance(message, dict) or message.get("status") not in ("ok", "error", "missing"):
        raise WireError("the result message has no valid status")
    status = message["status"]
    if status == "missing":
        return {"status": "missing"}
    if status == "error":
        return {
            "status": "error",
            "ename": _short(message.get("ename"), 100),
            "evalue": _short(message.get("evalue"), 500),
            "where": _short(message.get("where"), 1500),
        }
    counter = [0]
    value = _decode(message.get("value"), 0, counter)
    mutated = message.get("mutated", [])
    if not isinstance(mutated, list):
        mutated = []
    seed = message.get("torch_seed")
    if seed is not None:  # PyTorch's seed after the call, where asked for: digits, "unknown", or None
        seed = int(seed) if isinstance(seed, str) and re.fullmatch("[0-9]{1,20}", seed) else "unknown"
    return {"status": "ok", "value": value, "mutated": [_short(m, 40) for m in mutated[:20]], "torch_seed": seed}


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` that can be printed, stored and written as UTF-8.

    A kernel can send a lone surrogate (JSON's ``"\\ud800"``, from ``raise ValueError("\\ud800")``),
    and a file name whose bytes are not UTF-8 arrives with them escaped (byte 0xff as ``"\\udcff"``);
    either would make the report's ``print`` or the gradebook's INSERT raise ``UnicodeEncodeError``.
    Escaped bytes are shown as ``\\xff``, other lone surrogates as U+FFFD.
    """
    def readable(match) -> str:
        code = ord(match.group())
        return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else "\ufffd"

    return _SURROGATE.sub(readable, text)


def _short(value: Any, limit: int) -> str:
    return clean_text(value[:limit]) if isinstance(value, str) else ""


def _decode(node: Any, depth: int, counter: list) -> Any:
    counter[0] += 1
    if depth > MAX_DEPTH or counter[0] > MAX_NODES:
        raise WireError("the returned value is nested too deeply or has too many parts")
    if not isinstance(node, dict) or not isinstance(node.get("t"), str):
        raise WireError("the result message is malformed")
    kind = node["t"]
    if kind in ("nd", "sc"):
        array = _load_npy(node.get("npy"))
        return array if kind == "nd" else array[()]
    if kind == "v":
        value = node.get("v")
        if value is None or isinstance(value, (bool, str)):
            return clean_text(value[:10_000]) if isinstance(value, str) else value
        raise WireError("the result message is malformed")
    if kind == "i":
        text = node.get("v")
        if not isinstance(text, str) or len(text) > 100:
            raise WireError("a returned integer is malformed")
        try:
            return int(text)
        except ValueError:
            raise WireError("a returned integer is malformed") from None
    if kind == "f":
        text = node.get("v")
        if not isinstance(text, str) or len(text) > 100:
            raise WireError("a returned float is malformed")
        try:
            return float(text)
        except ValueError:
            raise WireError("a returned float is malformed") from None
    if kind in ("tu", "li"):
        items = node.get("v")
        if not isinstance(items, list):
            raise WireError("the result message is malformed")
        decoded = [_decode(item, depth + 1, counter) for item in items]
        return tuple(decoded) if kind == "tu" else decoded
    if kind == "di":
        items = node.get("v")
        if not isinstance(items, list):
            raise WireError("the result message is malformed")
        result = {}
        for pair in items:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], (str, int))):
                raise WireError("a returned dict is malformed")
            key = clean_text(pair[0]) if isinstance(pair[0], str) else pair[0]
            result[key] = _decode(pair[1], depth + 1, counter)
        return result
    if kind == "other":
        return Foreign(_short(node.get("type"), 200) or "an unknown object")
    raise WireError("the result message is malformed")


def _load_npy(b64: Any) -> np.ndarray:
    if not isinstance(b64, str):
        raise WireError("a returned array is malformed")
    try:
        raw = base64.b64decode(b64, validate=True)
        array = np.load(io.BytesIO(raw), allow_pickle=False)
    except Exception as error:  # noqa: BLE001 - any failure to parse is the student's data being bad
        raise WireError(f"a returned array could not be read ({type(error).__name__})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in ALLOWED_KINDS:
        raise WireError("a returned array has a type that is not a number (object, string or record)")
    if array.size > MAX_ARRAY_ELEMENTS:
        raise WireError("a returned array is too large")
    if not array.dtype.isnative:  # big-endian float64 is float64: every judge and reference sees native order
        array = array.astype(array.dtype.newbyteorder("="))
    return array


# ----------------------------------------------------------------------------- kernel side
# Runs inside the student's kernel.  Written defensively for honest students (a clear
# record of exceptions, in-place mutation, foreign return types); proves nothing.
HARNESS_INSTALLER = r'''
def __course_install__(parts=False):
    import base64 as _b64, io as _io, json as _json, traceback as _tb, sys as _sys
    from contextlib import nullcontext as _nullcontext
    import numpy as _np
    _errstate = _np.errstate

    # Under float_errors, NumPy's overflow, division by zero and invalid results raise.  A function that
    # silenced them itself (`with np.errstate(over="ignore")`, np.seterr, errstate as a decorator or
    # imported by name) passed a check named "no overflow" while it overflowed (an audit).  Every one
    # of those builds its settings with _ufunc_config._make_extobj, so during the call that keeps
    # the three raising; what else they set (under, call) they still set.
    _config = _sys.modules.get("numpy._core._ufunc_config")
    _make_extobj = getattr(_config, "_make_extobj", None)

    def _kept_raising(**settings):
        if "all" in settings:
            everything = settings.pop("all")
            if everything is not None:
                settings.setdefault("under", everything)
        for key in ("over", "divide", "invalid"):
            settings[key] = "raise"
        return _make_extobj(**settings)

    class _strict:
        def __enter__(self):
            self._state = _errstate(over="raise", divide="raise", invalid="raise")
            self._state.__enter__()
            if _make_extobj is not None:
                _config._make_extobj = _kept_raising

        def __exit__(self, *error):
            if _make_extobj is not None:
                _config._make_extobj = _make_extobj
            return self._state.__exit__(*error)

    from IPython.display import publish_display_data as _publish
    _MIME = "application/vnd.course-grader.result+json"

    def _dec(node):
        t = node["t"]
        if t in ("nd", "sc"):
            a = _np.load(_io.BytesIO(_b64.b64decode(node["npy"])), allow_pickle=False)
            return a if t == "nd" else a[()]
        if t == "ndf":
            return _np.load(node["path"], allow_pickle=False)
        if t == "v":
            return node["v"]
        if t == "i":
            return int(node["v"])
        if t == "f":
            return float(node["v"])
        if t == "tu":
            return tuple(_dec(v) for v in node["v"])
        if t == "li":
            return [_dec(v) for v in node["v"]]
        if t == "di":
            return {k: _dec(v) for k, v in node["v"]}
        raise ValueError(t)

    def _npy(a):
        buffer = _io.BytesIO()
        _np.save(buffer, a, allow_pickle=False)
        return _b64.b64encode(buffer.getvalue()).decode()

    def _enc(value, depth=0):
        if depth > 15:
            return {"t": "other", "type": "a deeply nested value"}
        kind = type(value)
        if isinstance(value, _np.ndarray) and kind is not _np.ndarray:
            # a subclass (np.matrix, a masked array): its data, through ndarray's own view method
            value, kind = _np.ndarray.view(value, _np.ndarray), _np.ndarray
        if kind is _np.ndarray:
            if value.dtype.kind not in "biuf":
                return {"t": "other", "type": "numpy array of dtype " + str(value.dtype)}
            return {"t": "nd", "npy": _npy(value)}
        if isinstance(value, _np.generic) and kind.__module__ == "numpy":
            if value.dtype.kind not in "biuf":
                return {"t": "other", "type": "numpy " + kind.__name__}
            return {"t": "sc", "npy": _npy(_np.asarray(value))}
        if value is None or kind is bool or kind is str:
            return {"t": "v", "v": value}
        if kind is int:
            return {"t": "i", "v": str(value)}
        if kind is float:
            return {"t": "f", "v": repr(value)}
        if isinstance(value, tuple):  # a namedtuple is a tuple, as the grader's own encoder says too
            return {"t": "tu", "v": [_enc(v, depth + 1) for v in tuple.__iter__(value)]}
        if isinstance(value, list):
            return {"t": "li", "v": [_enc(v, depth + 1) for v in list.__iter__(value)]}
        if kind is dict and all(type(k) in (str, int) for k in value):
            return {"t": "di", "v": [[k, _enc(v, depth + 1)] for k, v in value.items()]}
        return {"t": "other", "type": getattr(kind, "__module__", "?") + "." + getattr(kind, "__qualname__", "?")}

    def _same(a, b):
        # ndarray's own methods, not numpy functions a notebook could have replaced (np.array_equal):
        # the same shape, dtype and bytes
        if isinstance(a, _np.ndarray):
            return (isinstance(b, _np.ndarray) and a.shape == b.shape and a.dtype == b.dtype
                    and a.tobytes() == b.tobytes())
        if isinstance(a, (list, tuple)):
            return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
        if isinstance(a, dict):
            return all(_same(a[k], b[k]) for k in a)
        return True

    def _torch_seed():
        torch = _sys.modules.get("torch")
        try:
            return None if torch is None else str(int(torch.initial_seed()))
        except BaseException:  # a notebook that broke torch: an unknown seed
            return "unknown"

    def call(name, payload):
        message = None
        try:
            function = _sys.modules["__main__"].__dict__.get(name)
            if not callable(function):
                message = {"status": "missing"}
            else:
                request = _json.loads(payload)
                args, kwargs = _dec(request["args"]), _dec(request["kwargs"])
                pristine_args, pristine_kwargs = _dec(request["args"]), _dec(request["kwargs"])
                calls = int(request.get("calls", 1))
                try:
                    values, mutated = [], []
                    for number in range(calls):
                        if number:  # every call gets fresh copies of the arguments
                            args, kwargs = _dec(request["args"]), _dec(request["kwargs"])
                        with _strict() if request.get("float_errors") else _nullcontext():
                            result = function(*args, **kwargs)
                        values.append(_enc(result))  # now: a later call may reuse the arrays it returned
                        changed = [f"argument {i + 1}" for i, (a, b) in enumerate(zip(args, pristine_args))
                                   if not _same(a, b)]
                        changed += [f"argument {k}" for k in kwargs if not _same(kwargs[k], pristine_kwargs[k])]
                        mutated += [name for name in changed if name not in mutated]
                    value = values[0] if calls == 1 else {"t": "tu", "v": values}
                except BaseException as error:
                    frames = _tb.extract_tb(error.__traceback__)[1:]
                    where = "".join(_tb.format_list(frames[-3:]))
                    try:  # the error's own __str__ is the student's code too
                        text = str(error)
                    except BaseException as inner:
                        text = f"(its message could not be shown: str() raised {type(inner).__name__})"
                    message = {"status": "error", "ename": type(error).__name__, "evalue": text[:500],
                               "where": where[-1500:]}
                else:
                    message = {"status": "ok", "value": value, "mutated": mutated}
                    if request.get("torch_seed"):
                        message["torch_seed"] = _torch_seed()
        except BaseException as error:
            message = {"status": "error", "ename": type(error).__name__, "evalue": "while returning the result: " + str(error)[:300], "where": ""}
        _publish({_MIME: _json.dumps(message)})

    if parts:  # check() in the student's notebook encodes, compares and calls strictly with these same functions
        return _enc, _same, _strict
    return call
'''
# The installer runs in a namespace of its own, with the real builtins: defined in the student's
# namespace, its functions would look up `type`, `range`, `list`, `len`, ... there, and a notebook
# that names a variable `type` or `range` (honestly) would fail every check it passes in check(),
# which runs the same installer apart (``kernel_helpers``).  The lines below look up no name a
# notebook could have rebound: `import` binds the real builtins module, the rest are its attributes.
HARNESS = f'''
import builtins as __course_builtins__
__course_namespace__ = {{"__builtins__": __course_builtins__}}
__course_builtins__.exec({HARNESS_INSTALLER!r}, __course_namespace__)
__course_call__ = __course_namespace__["__course_install__"]()
del __course_builtins__, __course_namespace__
'''


def kernel_helpers():
    """The harness's own encoder, in-place comparison and strict floating-point context,
    ``(encode, same, strict)``, for ``check()``, which runs in the student's kernel: it then judges a
    result and a changed argument, and calls a ``float_errors`` check, as the grader does."""
    namespace: dict = {}
    exec(HARNESS_INSTALLER, namespace)  # noqa: S102 - the course's own source, above
    return namespace["__course_install__"](parts=True)


def call_code(function: str, args: tuple, kwargs: dict, spill=None, float_errors: bool = False,
              calls: int = 1, torch_seed: bool = False) -> str:
    """Source that calls ``function(*args, **kwargs)`` in the kernel through the harness.

    ``float_errors``: NumPy's floating-point warnings (overflow, division by zero, invalid) raise
    ``FloatingPointError`` during the call.  ``calls`` > 1: call it that many times, each on fresh
    copies of the arguments, and return the tuple of results.  ``torch_seed``: report
    ``torch.initial_seed()`` after the call."""
    payload = json.dumps({"args": encode(tuple(args), spill), "kwargs": encode(dict(kwargs), spill),
                          "float_errors": bool(float_errors), "calls": int(calls), "torch_seed": bool(torch_seed)})
    return f"__course_call__({function!r}, {payload!r})"

"""Parameter and Module: the skeleton every scratch layer hangs on (the containers: container.py).

A scratch module mirrors ``torch.nn.Module`` but does backpropagation by hand:
``forward`` computes the output and keeps what the backward pass needs,
``backward(grad_output)`` returns dL/d(input) and *accumulates* dL/d(parameter)
into each ``Parameter.grad`` (Chapter "Backpropagation").
"""
from __future__ import annotations

import functools
import itertools
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

import numpy as np

from ..checks import host_array


def check_dtype(dtype) -> np.dtype:
    """Return ``np.dtype(dtype)`` if it is float32 or float64; raise ValueError for another NumPy
    dtype, TypeError for a torch dtype or something that is no dtype.

    ``None`` means the default, float32, as torch's ``dtype=None`` does (NumPy would read it
    as float64)."""
    if type(dtype).__module__.startswith("torch"):  # torch.float64: the scratch side is NumPy's
        raise TypeError(f"dtype must be a NumPy float type (np.float32 or np.float64), got {dtype}")
    try:
        resolved = np.dtype(np.float32 if dtype is None else dtype)
    except TypeError:  # 'cpu', True: a device, or another argument one place too far
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype!r}; dtype is best passed by "
                        "keyword (dtype=np.float64)") from None
    if resolved not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {resolved}")
    return resolved


def _names_a_dtype(value) -> bool:
    try:
        np.dtype(value)
    except TypeError:
        return False
    return True


def check_device(layer: str, device) -> None:
    """Accept torch's ``device`` argument where it names the CPU: None, 'cpu' or torch.device('cpu').

    The scratch layers hold NumPy arrays, which live in the computer's main memory, so code
    written for ``torch.nn`` (``nn.Linear(4, 3, device=device)``) constructs the scratch twin
    unchanged on a CPU; any other device is refused with a message saying where to go.
    Without importing torch: a torch.device prints as its name.
    """
    from_torch = type(device).__module__.startswith("torch")
    if device is None or (isinstance(device, str) or from_torch) and str(device).split(":")[0] == "cpu":
        return
    if from_torch and type(device).__name__ == "dtype" or not from_torch and _names_a_dtype(device):
        hint = "; this looks like a dtype: dtype comes after device, and is best passed by keyword (dtype=np.float64)"
    elif isinstance(device, str) or from_torch:  # 'cuda', torch.device('mps')
        hint = f"; the scratch layers compute with NumPy on the CPU — for a GPU use the PyTorch twin, torch.nn.{layer}"
    else:
        hint = ""
    raise ValueError(f"{layer}: device must be None or 'cpu', got {device!r}{hint}")


def _typename(value: Any) -> str:
    """'numpy.ndarray', 'int', …: the type's name as torch's error messages write it."""
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _not_a_module(value: Any) -> str:
    """What ``value`` is, for an error where a scratch Module was expected, with the likely fix."""
    if isinstance(value, type) and issubclass(value, Module):
        return f"the class {value.__name__}, not a layer: write {value.__name__}(…) to make one"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__}: pass the layers one by one, Sequential(*layers)"
    if type(value).__module__.startswith("torch"):
        return f"a {_typename(value)}: use the layers of course_lib.scratch"
    return f"{_typename(value)}, not a scratch Module"


_FORWARD_TICKS = itertools.count()


def _noting_forward(forward):
    """``forward`` that notes, once it returns, that a backward may use what it kept (see ``_used_up``)."""

    @functools.wraps(forward)
    def noted(self, *args, **kwargs):
        output = forward(self, *args, **kwargs)
        state = self.__dict__
        state["_used_up"] = False
        state["_forward_tick"] = next(_FORWARD_TICKS)  # when it ran: Sequential.backward goes back in that order
        state.pop("_backward_after", None)  # set again by a Sequential that ran it before a ReLU
        return output

    return noted


def _after_successful_forward(backward):
    """``backward`` that raises while the module's last forward call failed (see ``Module.__call__``),
    or when a backward already used that call up (one backward per forward, as torch frees its graph)."""

    @functools.wraps(backward)
    def guarded(self, *args, **kwargs):
        failure = self.__dict__.get("_failed_forward")
        if failure is not None:
            raise RuntimeError(f"{type(self).__name__}.backward: the last forward call failed ({failure}); "
                               "call forward again before backward")
        if self.__dict__.get("_used_up"):
            raise RuntimeError(_used_up_message(type(self).__name__))
        later = self.__dict__.get("_backward_after")
        if later is not None and not later.__dict__.get("_used_up"):
            raise RuntimeError(
                f"{type(self).__name__}.backward came before {type(later).__name__}.backward, but that "
                f"{type(later).__name__} ran after this {type(self).__name__}: a Sequential runs a ReLU after the "
                "MaxPool2d that follows it (an exact shortcut, see Sequential), so go back through "
                "reversed(seq.execution_order()), or call the Sequential's backward")
        dtype = self.__dict__.get("_output_dtype")
        if dtype is not None:  # torch casts each incoming gradient to its output's dtype; so do we
            args = tuple(_as_output_dtype(arg, dtype) for arg in args)
            kwargs = {name: _as_output_dtype(arg, dtype) for name, arg in kwargs.items()}
        result = backward(self, *args, **kwargs)
        # only once it succeeded (a refused gradient can be given again), and only where a forward noted
        # itself: a module that replaced __call__ or took its forward from a mixin keeps the old freedom
        if "_used_up" in self.__dict__:
            self.__dict__["_used_up"] = True
        return result

    return guarded


def _used_up_message(name: str) -> str:
    return (f"{name}.backward was already called for its last forward call: a module keeps what one backward "
            "needs from its last forward only, and backward uses it up (as torch frees its graph), so a second "
            "backward would give the same gradients again.  Call forward again first.  If this one "
            f"{name} object is used at two places in a forward pass (the same layer twice in a Sequential, a "
            "shared activation, a cell unrolled over time, one loss for two terms), it kept only its last call: give each use a "
            "module of its own — they may share Parameter objects (b.weight = a.weight), whose gradients then "
            "add up — or, for a cell over a sequence, use RNN or LSTM")


def _output_dtype(output: Any) -> Optional[np.dtype]:
    """The floating dtype of a forward call's result: of the array, or of the first array in a
    tuple (the outputs of one module share it: an LSTM's sequence and states, attention's output
    and weights); None when there is none."""
    if isinstance(output, np.ndarray):
        return output.dtype if output.dtype.kind == "f" else None
    if isinstance(output, tuple):
        for item in output:
            dtype = _output_dtype(item)
            if dtype is not None:
                return dtype
    return None


def _as_output_dtype(grad: Any, dtype: np.dtype) -> Any:
    """``grad`` (an array, a NumPy scalar, or a tuple of them) in the output's dtype when it is a
    floating array of another one: a float64 dL/dy given to a float32 layer would otherwise make
    its dL/dx float64 too (NumPy promotes), and the next layer would compute in float64.  Anything
    else is left for ``backward`` to accept or refuse."""
    if isinstance(grad, (np.ndarray, np.generic)) and grad.dtype.kind == "f" and grad.dtype != dtype:
        return grad.astype(dtype)
    if isinstance(grad, tuple):
        return tuple(_as_output_dtype(item, dtype) for item in grad)
    return grad


class Parameter:
    """A trainable array: ``data`` holds the values, ``grad`` the accumulated gradient.

    ``grad`` is always an array (backward methods add into it with ``param.grad += g``), but
    like torch we remember whether a gradient *arrived* since the last
    ``zero_grad(set_to_none=True)``: ``has_grad`` is the scratch version of torch's
    ``param.grad is not None``.  Optimisers skip parameters without one, exactly as torch skips
    a ``.grad`` of None, so a layer that took no part in this step is not moved by momentum,
    Adam's moving averages or weight decay.

    Every use of ``param.grad`` counts as a gradient arriving — ``param.grad += g``,
    ``param.grad[rows] += g`` and ``param.grad[...] = g`` all read the attribute first — so
    no way of writing a gradient is lost; reading ``param.grad`` of an unused parameter
    counts it as a zero gradient (``clip_grad_norm_`` checks ``has_grad`` first).  So torch's
    idiom ``if p.grad is not None:`` does not carry over: a trained parameter's ``grad`` is never
    None, and the read itself makes an optimiser with weight decay or momentum move a parameter
    that took no part in the step — write ``if p.has_grad:`` instead.

    While ``has_grad`` is False the array stands for zeros, whatever it holds:
    ``zero_grad(set_to_none=True)`` does not write them, the first read of ``param.grad`` does,
    and a backward pass that calls ``grad_for_write`` or ``add_to_grad`` overwrites the array
    instead (``Linear``: a matrix product straight into it).  So ``param.grad`` never shows an
    old gradient, training saves a pass over every gradient per step, and — as with torch's
    old ``.grad`` tensor — an array fetched *before* ``zero_grad`` keeps its old values until
    one of those writes it.

    ``requires_grad = False`` (or ``requires_grad_(False)``) freezes the parameter, as in torch:
    backward passes compute no gradient for it, its ``grad`` reads None until one is written, and
    optimisers therefore leave it where it is; the gradient still flows through it to the input.
    """

    requires_grad = True  # also what a Parameter pickled before the attribute existed reads

    def __init__(self, data: np.ndarray, requires_grad: bool = True):
        self.data = np.asarray(data, order="C")  # C-contiguous; unlike ascontiguousarray, a 0-d array stays 0-d
        if requires_grad and self.data.dtype.kind != "f":  # torch too: only floats have gradients
            raise ValueError(f"a Parameter that is trained needs float data (float32 or float64), got dtype "
                             f"{self.data.dtype.name}; convert with .astype(np.float32), or pass requires_grad=False")
        self._grad = np.zeros_like(self.data)
        self._has_grad = False  # a fresh torch parameter's .grad is None too; then _grad stands for zeros
        self.requires_grad = bool(requires_grad)

    def requires_grad_(self, requires_grad: bool = True) -> "Parameter":
        """Freeze (False) or unfreeze the parameter; returns it, like torch's."""
        self.requires_grad = bool(requires_grad)
        return self

    @property
    def grad(self) -> Optional[np.ndarray]:
        if not self.requires_grad and not self._has_grad:  # frozen: no gradient, as torch's None
            return None
        if self._grad is None:  # after `param.grad = None`: backward's `+=` needs an array to add into
            self._grad = np.zeros_like(self.data)
        elif not self._has_grad:  # zeroed lazily (see the class docstring)
            self._grad.fill(0)
        self._has_grad = True
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        # as torch refuses a .grad of another size or type: an optimiser must never find out halfway
        # through its step, with some parameters already moved
        if value is not None and not (isinstance(value, np.ndarray) and value.shape == self.data.shape
                                      and value.dtype == self.data.dtype):
            got = (f"an array of shape {value.shape} and dtype {value.dtype}" if isinstance(value, np.ndarray)
                   else _typename(value))
            raise ValueError(f"a gradient must be an array like its parameter (shape {self.data.shape}, dtype "
                             f"{self.data.dtype}), got {got}")
        self._grad = value
        self._has_grad = value is not None

    def grad_for_write(self) -> Tuple[np.ndarray, bool]:
        """``(array, accumulate)`` for a backward pass: add into ``array`` if ``accumulate``,
        else overwrite all of it (it stands for zeros).  Counts as a gradient arriving."""
        if self._grad is None:
            self._grad = np.empty_like(self.data)
        accumulate = self._has_grad
        self._has_grad = True
        return self._grad, accumulate

    def add_to_grad(self, value: np.ndarray) -> None:
        """``param.grad += value`` without first writing zeros after ``zero_grad``; nothing for a
        frozen parameter (``requires_grad`` False)."""
        if not self.requires_grad:
            return
        grad, accumulate = self.grad_for_write()
        if accumulate:
            grad += value
        else:
            np.copyto(grad, value)

    @property
    def has_grad(self) -> bool:
        """True once a gradient arrived since ``zero_grad(set_to_none=True)`` (torch: ``grad is not None``)."""
        return self._has_grad

    @property
    def shape(self) -> Tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradient, keeping its array.

        ``set_to_none=True`` (torch's default) marks it as "no gradient yet": an optimiser skips
        this parameter until a backward pass writes into it again, and the zeros are written
        lazily (class docstring).  ``set_to_none=False`` zeroes a gradient that exists and keeps
        counting it as one (weight decay and momentum still apply), and leaves a parameter without
        a gradient without one — as torch, which zeroes only the ``.grad`` tensors that are not None.
        """
        if self._grad is None:
            self._grad = np.zeros_like(self.data)
        elif self._has_grad and not set_to_none:  # otherwise the next read of .grad writes the zeros
            self._grad[...] = 0
        if set_to_none:
            self._has_grad = False

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


def _state_array(value: Any) -> np.ndarray:
    """A ``state_dict`` value as an array: a NumPy array or number, a scratch ``Parameter`` (its
    data), or a torch tensor (detached first: a trained ``nn.Parameter`` refuses ``numpy()``; a
    bfloat16 one as float32, see ``host_array``)."""
    if isinstance(value, Parameter):
        return np.asarray(value.data)
    return host_array(value)


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns, like torch's: the keys it lacked and the keys it did not use."""

    missing_keys: List[str]
    unexpected_keys: List[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"


class StateDictKeyError(RuntimeError, KeyError):
    """A strict ``load_state_dict`` whose keys do not match.

    A RuntimeError, as torch raises; also a KeyError, which this library raised before.
    """

    __str__ = RuntimeError.__str__  # KeyError's str() would put the whole message in quotes


def _key_mismatch_message(owner: str, missing: List[str], unexpected: List[str]) -> str:
    """torch's wording, e.g. 'Error(s) in loading state_dict for Linear:\\n\\tMissing key(s) in state_dict: "bias". '."""
    problems = []
    if missing:
        problems.append("Missing key(s) in state_dict: " + ", ".join(f'"{key}"' for key in missing) + ". ")
    if unexpected:
        problems.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{key}"' for key in unexpected) + ". ")
    return f"Error(s) in loading state_dict for {owner}:\n\t" + "\n\t".join(problems)


class Module:
    """Base class of every scratch layer, loss and model.

    Sub-classes implement ``forward(*inputs)`` and ``backward(*grad_outputs)``.
    Attributes that are ``Parameter`` or ``Module`` instances are registered
    automatically (as in torch), so ``parameters()``, ``state_dict()`` and
    ``train()``/``eval()`` walk the tree without extra bookkeeping.
    Buffers (running statistics) are registered with ``register_buffer``.

    Unlike torch's autograd, a scratch module remembers only its *last* forward call: call
    ``backward`` once for each ``forward``, in reverse order through the network.  Backward uses
    the call up, as torch frees its graph: a second ``backward`` raises until forward runs again.
    So a module used twice before backward (a Siamese network, a layer or an activation applied at
    two places, a cell unrolled over time, one loss object for two terms) raises at its second
    backward instead of returning a wrong gradient; build two modules that share the same ``Parameter`` objects instead
    (``b.weight = a.weight``), and their gradients add up in it.

    A forward call that raises (a wrong shape, a bad target) leaves behind what the call before
    it kept; so until a forward call succeeds again, ``backward`` raises instead of returning
    that older call's gradient.
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    # --- registration -------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}.__init__ must call super().__init__() before assigning '{name}'"
            )
        if not isinstance(value, (Parameter, Module)) and name not in self._parameters and name not in self._modules:
            object.__setattr__(self, name, value)  # a plain attribute, or a buffer's new array: nothing to (un)register
            return
        # Re-assigning keeps a name's place in its registry (state_dict order matches torch),
        # and an array assigned to a buffer's name (``self.running_mean += …``) stays a buffer.
        # As in torch, a registered parameter (or submodule) can only be replaced by another one or
        # by None: ``lin.weight = np.ones(…)`` would otherwise quietly drop the weight from
        # parameters() and state_dict(), and the layer would fail later, far from the mistake.
        if isinstance(value, Parameter):
            self._modules.pop(name, None)
            self._buffers.pop(name, None)
            self._parameters[name] = value
        elif name in self._parameters:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as parameter '{name}' (Parameter or None expected); "
                    f"to change its values, write into its array instead: module.{name}.data[...] = new_values"
                )
            self._parameters[name] = None  # as torch: the name keeps its place, absent from parameters()
        elif isinstance(value, Module):
            self._parameters.pop(name, None)
            self._buffers.pop(name, None)
            self._modules[name] = value
        elif value is not None:
            raise TypeError(f"cannot assign '{_typename(value)}' as child module '{name}' (Module or None expected)")
        else:
            self._modules[name] = None  # as torch: the name keeps its place, absent from modules()
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, value: "np.ndarray | None", persistent: bool = True) -> None:
        """Register a non-trainable array (e.g. a running mean) that moves with the module.

        A persistent buffer belongs in ``state_dict``; ``persistent=False`` keeps it out (a table the
        module can rebuild, as torch).  None registers a buffer that is absent for now, also left out of
        ``state_dict``.  A name that is already a parameter, a submodule or an attribute is refused
        (torch's KeyError)."""
        self._check_new_name("buffer", name, self._buffers)
        object.__setattr__(self, name, value)
        self._buffers[name] = bool(persistent)

    def _check_new_name(self, kind: str, name: str, registry: dict) -> None:
        """Refuse, as torch does, a ``kind`` name that is not a plain name, or that something other than
        an entry of ``registry`` (which it may replace) already holds."""
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"{kind} name must be a non-empty string without '.', got {name!r}")
        if name not in registry and (name in self.__dict__ or name in self._parameters or name in self._modules
                                     or hasattr(type(self), name)):
            raise KeyError(f"attribute '{name}' already exists")

    def add_module(self, name: str, module: "Optional[Module]") -> None:
        """Register ``module`` (or None, a place kept empty) under ``name`` (torch's ``add_module``, for
        names made at run time); a name that is already an attribute or a parameter is refused."""
        self._check_new_name("module", name, self._modules)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: '{name}' is {_not_a_module(module)}")
        self._modules[name] = module
        object.__setattr__(self, name, module)

    def apply(self, fn) -> "Module":
        """Call ``fn`` on every submodule, children first, then on this module (as torch: e.g. to
        initialise every Linear's weights); returns the module."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def __delattr__(self, name: str) -> None:
        # as torch: ``del module.bias`` also takes the name out of parameters() and state_dict()
        for registry in ("_parameters", "_modules", "_buffers"):
            table = self.__dict__.get(registry)
            if table is not None and name in table:
                del table[name]
        object.__delattr__(self, name)

    def register_parameter(self, name: str, value: "Parameter | None") -> None:
        """Register ``value`` under ``name``; None (e.g. an absent bias) keeps the name, absent from
        ``parameters()`` and ``state_dict()``, as torch."""
        if value is not None and not isinstance(value, Parameter):
            raise TypeError(f"cannot assign '{_typename(value)}' as parameter '{name}' (Parameter or None expected)")
        self._check_new_name("parameter", name, self._parameters)
        self._parameters[name] = value
        object.__setattr__(self, name, value)

    # --- calling --------------------------------------------------------
    # Every layer defines both; the base versions only say which one is missing.
    def forward(self, *inputs):
        raise TypeError(f"{type(self).__name__} defines no forward(): every scratch Module implements forward and backward")

    def backward(self, *grad_outputs):
        raise TypeError(f"{type(self).__name__} defines no backward(): every scratch Module implements forward and backward")

    def __call__(self, *inputs, **kwargs):
        # A forward call that raises leaves what the previous call kept for backward; a backward
        # after it would silently return the previous call's gradient.  So the failure is noted,
        # and every backward refuses to run until a forward call succeeds (see __init_subclass__).
        object.__setattr__(self, "_failed_forward", None)
        try:
            output = self.forward(*inputs, **kwargs)
        except Exception as error:
            object.__setattr__(self, "_failed_forward", f"{type(error).__name__}: {error}")
            raise
        object.__setattr__(self, "_output_dtype", _output_dtype(output))
        return output

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "forward" in cls.__dict__:  # each class's own forward and backward, once
            cls.forward = _noting_forward(cls.__dict__["forward"])
        if "backward" in cls.__dict__:
            cls.backward = _after_successful_forward(cls.__dict__["backward"])

    # --- traversal ------------------------------------------------------
    def named_modules(self, memo: Optional[set] = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[Tuple[str, "Module"]]:
        """This module and every descendant with its dotted name, as torch: a module reached twice
        (shared, e.g. tied layers) is listed once unless ``remove_duplicate=False``."""
        if remove_duplicate:
            memo = set() if memo is None else memo
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:  # a child set to None is absent, as in torch
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def named_children(self) -> Iterator[Tuple[str, "Module"]]:
        """Each direct submodule once, under its first name (as torch: a child registered twice is one child)."""
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator["Module"]:
        return (module for _, module in self.named_children())

    def modules(self) -> Iterator["Module"]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[Tuple[str, Parameter]]:
        """Every parameter with its dotted name, as torch: a parameter shared by two modules (tied
        weights) once unless ``remove_duplicate=False``; with ``recurse=False`` this module's own only."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> List[Parameter]:
        return [param for _, param in self.named_parameters(recurse=recurse)]

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[Tuple[str, np.ndarray]]:
        """Every buffer (persistent or not) with its dotted name, as ``named_parameters``."""
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> List[np.ndarray]:
        return [buffer for _, buffer in self.named_buffers(recurse=recurse)]

    def _named_members(self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool):
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        seen = set()
        for module_name, module in modules:
            for name in getattr(module, registry):
                value = getattr(module, name)
                if value is None or (remove_duplicate and id(value) in seen):  # None: absent, as in torch
                    continue
                seen.add(id(value))
                yield (f"{module_name}.{name}" if module_name else name), value

    # --- state ------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter and buffer, keyed by torch-style dotted names.

        Order as in torch: each module's parameters, then its buffers, then its children.
        """
        state = OrderedDict()
        for module_name, module in self.named_modules(remove_duplicate=False):  # a shared module under each name
            prefix = f"{module_name}." if module_name else ""
            for name, param in module._parameters.items():
                if param is not None:  # a parameter set to None is absent, as in torch
                    state[prefix + name] = param.data.copy()
            for name, persistent in module._buffers.items():
                value = getattr(module, name)
                if value is not None and persistent:  # so is a buffer set to None, or not persistent
                    state[prefix + name] = np.array(value, copy=True)
        return state

    def load_state_dict(self, state_dict: Dict[str, Any], strict: bool = True) -> "IncompatibleKeys":
        """Copy arrays into this module's parameters and buffers.

        Shapes must match exactly; with ``strict`` the key sets must match too (else a
        ``StateDictKeyError``, worded like torch's RuntimeError).  Values are cast to each
        parameter's dtype.  Returns ``(missing_keys, unexpected_keys)`` as torch does.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict expected a dict of arrays (from state_dict()), got {_typename(state_dict)}")
        state_dict = OrderedDict(state_dict)  # a copy: the hooks below may add keys
        for module_name, module in self.named_modules(remove_duplicate=False):
            module._complete_state_dict(state_dict, f"{module_name}." if module_name else "")
        own = self.state_dict()
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        if strict and (missing or unexpected):
            raise StateDictKeyError(_key_mismatch_message(type(self).__name__, missing, unexpected))
        params, buffer_owners = {}, {}  # under every name: a shared module's arrays are loaded once per name
        for module_name, module in self.named_modules(remove_duplicate=False):
            prefix = f"{module_name}." if module_name else ""
            params.update((prefix + name, param) for name, param in module._parameters.items())
            buffer_owners.update((prefix + name, (module, name)) for name in module._buffers)
        arrays = {key: _state_array(value) for key, value in state_dict.items() if key in own}
        # every value checked and converted before anything is written: a failed load changes nothing
        for key, array in arrays.items():
            if array.shape != own[key].shape:
                raise ValueError(
                    f"load_state_dict: '{key}' expected shape {own[key].shape}, got {array.shape} "
                    "(nothing was loaded)"
                )
            try:
                arrays[key] = array.astype(own[key].dtype, copy=True)
            except (TypeError, ValueError) as error:
                raise ValueError(f"load_state_dict: '{key}' should hold {own[key].dtype} numbers, got "
                                 f"{array.dtype} that do not convert ({error}; nothing was loaded)") from None
        for key, array in arrays.items():
            if key in params:
                params[key].data[...] = array
                continue
            module, name = buffer_owners[key]
            current = getattr(module, name)
            if isinstance(current, np.ndarray) and current.flags.writeable:
                current[...] = array  # in place, as torch: a reference to the buffer sees the loaded values
            else:
                object.__setattr__(module, name, array)
        return IncompatibleKeys(missing, unexpected)

    def _complete_state_dict(self, state_dict: Dict[str, Any], prefix: str) -> None:
        """Hook: add entries an older ``state_dict`` lacks (see BatchNorm); ``prefix`` is this module's."""

    # --- modes and gradients -----------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (see ``Parameter.zero_grad`` for ``set_to_none``)."""
        for param in self.parameters():
            param.zero_grad(set_to_none)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Freeze (False) or unfreeze every parameter of this module and its children, like torch's:
        e.g. a pretrained feature extractor whose weights training must not change."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in self._modules.items():
            child_lines = repr(child).splitlines()  # "(name): None" for a child set to None, as torch
            lines.append(f"  ({name}): " + "\n  ".join(child_lines))
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"

    def extra_repr(self) -> str:
        return ""


def received(x: Any) -> str:
    """What a layer was given, for its error message: the shape of an array, else what it is —
    a torch tensor's shape would look right and hide the real mistake."""
    if isinstance(x, np.ndarray):
        return str(x.shape)
    if type(x).__module__.startswith("torch"):
        return f"a {_typename(x)}, not a NumPy array (scratch layers take arrays: x.detach().cpu().numpy())"
    if isinstance(x, np.generic):  # its name alone ("float64") reads like an array's dtype
        return f"a NumPy scalar {_typename(x)}, not an array (np.asarray(x) makes a 0-d array of it)"
    return f"{_typename(x)}, not a NumPy array"


def expect_float(layer: str, x: np.ndarray, dtype: np.dtype, what: str = "input") -> None:
    """Raise ValueError unless ``x`` (the layer's ``what``) has the layer's floating dtype."""
    if x.dtype != dtype:
        raise ValueError(
            f"{layer} expected {what} of dtype {np.dtype(dtype).name}, got {x.dtype.name} "
            f"(convert with {what if what.isidentifier() else 'x'}.astype(np.{np.dtype(dtype).name}))"
        )


def check_grad_output(layer: str, grad_output, expected_shape: Tuple[int, ...], name: str = "grad_output",
                      what: str = "the output's shape") -> None:
    """Raise a ValueError a student can read unless ``grad_output`` has the forward output's shape.

    dL/dy has one entry per entry of y, so its shape must be y's shape exactly.  Without this
    check NumPy would *broadcast* a (C,) or (1, C) gradient against an (N, C) output and return a
    plausible-looking but wrong dL/dx.  Every ``backward`` calls it first, before it adds anything
    into a ``Parameter.grad``, so a wrong gradient leaves the layer's gradients untouched.
    """
    expected_shape = tuple(expected_shape)
    shape = np.shape(grad_output) if isinstance(grad_output, (np.ndarray, np.generic)) else None
    if shape != expected_shape:
        got = type(grad_output).__name__ if shape is None else shape
        raise ValueError(f"{layer}.backward expected {name} of shape {expected_shape} ({what}), got {got}")
    if grad_output.dtype.kind != "f":  # an integer dL/dy gave integer dL/dx; a complex one kept or lost its i
        raise ValueError(f"{layer}.backward expected {name} as a float array (the output's dtype), "
                         f"got dtype {grad_output.dtype.name}")


# Arrays that a layer returned *and* keeps for its backward pass (Sigmoid, Tanh, Softmax and
# LogSoftmax keep their output: σ' = σ(1 − σ) needs it), or received and keeps (Linear, GELU, the
# RNN and LSTM, MultiheadAttention and a Conv2d without dL/dx keep their input: ∂L/∂W = δᵀx needs
# it).  A layer with ``inplace=True`` right after one of them overwrites it, and that backward
# would then compute a wrong gradient without any error.  torch notices such a write through the
# version counter of every tensor and raises when the backward pass needs the tensor; NumPy arrays
# have none, so in-place layers look the array up here before writing into it and note the write
# (``_OVERWRITTEN``: id → the layer that wrote), and the keeper's backward raises as torch's does.
# A plain write such as x[...] = 0 goes unseen: only in-place layers are watched.  Forward alone
# (inference) is fine.  The registry holds weak references, in a plain dict (a WeakValueDictionary's
# bookkeeping, a callback each time an array dies, cost about 10 µs a step of a small MLP): an
# entry whose array is gone reads as None, so it is never taken for a new array with the same id,
# and such entries are dropped whenever the registry has doubled since they last were.
_KEPT_FOR_BACKWARD: "Dict[int, weakref.ref[np.ndarray]]" = {}
_OVERWRITTEN: Dict[int, str] = {}
_KEPT_LIMIT = 256  # the registry's size at which keep_for_backward drops the entries of dead arrays


def _kept(key: int) -> Optional[np.ndarray]:
    """The kept array with this id, or None (none was kept, or it is gone)."""
    ref = _KEPT_FOR_BACKWARD.get(key)
    return None if ref is None else ref()


def _drop_dead_entries() -> None:
    global _KEPT_LIMIT
    for key in [key for key, ref in _KEPT_FOR_BACKWARD.items() if ref() is None]:
        _KEPT_FOR_BACKWARD.pop(key, None)
    for key in [key for key in _OVERWRITTEN if key not in _KEPT_FOR_BACKWARD]:
        _OVERWRITTEN.pop(key, None)  # their arrays are gone
    _KEPT_LIMIT = max(256, 2 * len(_KEPT_FOR_BACKWARD))  # with many live arrays, not again at once


def keep_for_backward(array: np.ndarray) -> np.ndarray:
    """Record that ``array`` (a layer's output) is needed by its backward pass; returns it."""
    if isinstance(array, np.ndarray):
        if len(_KEPT_FOR_BACKWARD) >= _KEPT_LIMIT:
            _drop_dead_entries()
        _KEPT_FOR_BACKWARD[id(array)] = weakref.ref(array)
        _OVERWRITTEN.pop(id(array), None)  # a new array: an earlier one with this id is gone
    return array


def release_for_backward(layer: str, array, what: str = "output") -> None:
    """``layer``'s backward pass is about to use ``array`` (its forward's ``what``, "output" or
    "input"): raise if an in-place layer wrote into it since forward; otherwise in-place layers may
    overwrite it from now on."""
    if _kept(id(array)) is not array:
        return
    writer = _OVERWRITTEN.get(id(array))
    if writer is not None:
        where = f"after {layer}" if what == "output" else f"on {layer}'s input before its backward pass"
        raise RuntimeError(
            f"{layer}.backward needs the {what} of its forward pass, but {writer}(inplace=True) overwrote it "
            f"since, so the gradient would come out wrong (torch raises 'modified by an inplace operation' "
            f"here). Use {writer}(inplace=False) {where}."
        )
    del _KEPT_FOR_BACKWARD[id(array)]


def before_overwrite(layer: str, x: np.ndarray) -> None:
    """An ``inplace=True`` layer is about to write into ``x``: it must be writeable, and an output
    kept for a backward pass that shares memory with it is noted as overwritten (see above)."""
    if not x.flags.writeable:
        raise ValueError(
            f"{layer}(inplace=True) overwrites its input, but got a read-only array "
            f"(pass a writeable copy, e.g. x.copy(), or use inplace=False)"
        )
    if any(stride == 0 and size > 1 for stride, size in zip(x.strides, x.shape)):
        raise ValueError(
            f"{layer}(inplace=True) overwrites its input, but several elements of this array are one number in "
            f"memory (a zero stride, shape {x.shape}, strides {x.strides}): each write would change all of them "
            f"(torch refuses such a tensor too). Pass x.copy(), or use inplace=False"
        )
    _drop_dead_entries()
    # a view counts too (Sigmoid → Flatten → ReLU(inplace=True) writes through a reshape); the
    # registry now holds the arrays of the last forward calls only, so this loop is short
    for key, ref in list(_KEPT_FOR_BACKWARD.items()):
        kept = ref()
        if kept is not None and np.may_share_memory(x, kept):
            _OVERWRITTEN.setdefault(key, layer)

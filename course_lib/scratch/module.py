"""Parameter, Module and Sequential: the skeleton every scratch layer hangs on.

A scratch module mirrors ``torch.nn.Module`` but does backpropagation by hand:
``forward`` computes the output and keeps what the backward pass needs,
``backward(grad_output)`` returns dL/d(input) and *accumulates* dL/d(parameter)
into each ``Parameter.grad`` (Chapter "Backpropagation").
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, Iterator, List, Tuple

import numpy as np

DTYPES = (np.float32, np.float64)


def check_dtype(dtype) -> np.dtype:
    """Return ``np.dtype(dtype)`` if it is float32 or float64, else raise ValueError."""
    resolved = np.dtype(dtype)
    if resolved not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {resolved}")
    return resolved


class Parameter:
    """A trainable array: ``data`` holds the values, ``grad`` the accumulated gradient."""

    def __init__(self, data: np.ndarray):
        self.data = np.ascontiguousarray(data)
        self.grad = np.zeros_like(self.data)

    @property
    def shape(self) -> Tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def zero_grad(self) -> None:
        self.grad[...] = 0

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class of every scratch layer, loss and model.

    Sub-classes implement ``forward(*inputs)`` and ``backward(*grad_outputs)``.
    Attributes that are ``Parameter`` or ``Module`` instances are registered
    automatically (as in torch), so ``parameters()``, ``state_dict()`` and
    ``train()``/``eval()`` walk the tree without extra bookkeeping.
    Buffers (running statistics) are registered with ``register_buffer``.
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
        # Re-assigning keeps a name's place in its registry (state_dict order matches torch),
        # and an array assigned to a buffer's name (``self.running_mean += …``) stays a buffer.
        if isinstance(value, Parameter):
            self._modules.pop(name, None)
            self._buffers.pop(name, None)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._parameters.pop(name, None)
            self._buffers.pop(name, None)
            self._modules[name] = value
        elif name not in self._buffers:
            self._parameters.pop(name, None)
            self._modules.pop(name, None)
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, value: np.ndarray) -> None:
        """Register a non-trainable array that belongs in ``state_dict`` (e.g. running mean)."""
        object.__setattr__(self, name, value)
        self._buffers[name] = True

    def register_parameter(self, name: str, value: "Parameter | None") -> None:
        """Register ``value`` (or None, e.g. an absent bias) under ``name``."""
        if value is None:
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, value)

    # --- calling --------------------------------------------------------
    # Every layer defines both; the base versions only say which one is missing.
    def forward(self, *inputs):
        raise TypeError(f"{type(self).__name__} defines no forward(): every scratch Module implements forward and backward")

    def backward(self, *grad_outputs):
        raise TypeError(f"{type(self).__name__} defines no backward(): every scratch Module implements forward and backward")

    def __call__(self, *inputs, **kwargs):
        return self.forward(*inputs, **kwargs)

    # --- traversal ------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[Tuple[str, "Module"]]:
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def children(self) -> Iterator["Module"]:
        return iter(self._modules.values())

    def modules(self) -> Iterator["Module"]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "") -> Iterator[Tuple[str, Parameter]]:
        seen = set()
        for module_name, module in self.named_modules(prefix):
            for name, param in module._parameters.items():
                if id(param) in seen:
                    continue
                seen.add(id(param))
                yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self) -> List[Parameter]:
        return [param for _, param in self.named_parameters()]

    def named_buffers(self) -> Iterator[Tuple[str, np.ndarray]]:
        for module_name, module in self.named_modules():
            for name in module._buffers:
                yield (f"{module_name}.{name}" if module_name else name), getattr(module, name)

    # --- state ------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter and buffer, keyed by torch-style dotted names.

        Order as in torch: each module's parameters, then its buffers, then its children.
        """
        state = OrderedDict()
        for module_name, module in self.named_modules():
            prefix = f"{module_name}." if module_name else ""
            for name, param in module._parameters.items():
                state[prefix + name] = param.data.copy()
            for name in module._buffers:
                state[prefix + name] = np.array(getattr(module, name), copy=True)
        return state

    def load_state_dict(self, state_dict: Dict[str, Any], strict: bool = True) -> None:
        """Copy arrays into this module's parameters and buffers.

        Shapes must match exactly; with ``strict`` the key sets must match too.
        Values are cast to each parameter's dtype.
        """
        own = self.state_dict()
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        if strict and (missing or unexpected):
            raise KeyError(
                f"{type(self).__name__}.load_state_dict: missing keys {missing}, unexpected keys {unexpected}"
            )
        params = dict(self.named_parameters())
        buffer_owners = {}
        for module_name, module in self.named_modules():
            for name in module._buffers:
                buffer_owners[f"{module_name}.{name}" if module_name else name] = (module, name)
        for key, value in state_dict.items():
            if key not in own:
                continue
            array = np.asarray(value)
            if array.shape != own[key].shape:
                raise ValueError(
                    f"load_state_dict: '{key}' expected shape {own[key].shape}, got {array.shape}"
                )
            if key in params:
                params[key].data[...] = array
            else:
                module, name = buffer_owners[key]
                current = getattr(module, name)
                object.__setattr__(module, name, array.astype(np.asarray(current).dtype, copy=True))

    # --- modes and gradients -----------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self) -> None:
        for param in self.parameters():
            param.zero_grad()

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in self._modules.items():
            child_lines = repr(child).splitlines()
            lines.append(f"  ({name}): " + "\n  ".join(child_lines))
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"

    def extra_repr(self) -> str:
        return ""


class Sequential(Module):
    """Apply modules in order; ``backward`` runs them in reverse (the chain rule).

    One exact shortcut: a ``ReLU`` directly followed by a ``MaxPool2d`` runs *after* the pool.
    ReLU is non-decreasing, so max(relu(a), relu(b)) = relu(max(a, b)) — the same output, bit
    for bit — and the gradient is the same too: where the window's maximum is positive both
    orders send g to its first occurrence, and where it is ≤ 0 both send nothing.  Pooling first
    leaves ReLU a quarter of the values (2×2 pools), forward and backward.  (A ``ReLU(inplace=True)``
    there overwrites the pool's output, not the pool's input.)
    """

    def __init__(self, *modules: Module):
        super().__init__()
        for index, module in enumerate(modules):
            setattr(self, str(index), module)

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def execution_order(self) -> List[Module]:
        """The modules in the order forward runs them (see the class docstring)."""
        from .activations import ReLU  # those modules import this one
        from .pooling import MaxPool2d

        order = list(self._modules.values())
        for index in range(len(order) - 1):
            first, second = order[index], order[index + 1]
            # exact types: a subclass may change forward; torch's indices would differ in windows ≤ 0
            if type(first) is ReLU and type(second) is MaxPool2d and not second.return_indices:
                order[index], order[index + 1] = second, first
        return order

    def forward(self, x: np.ndarray) -> np.ndarray:
        for module in self.execution_order():
            x = module(x)
        return x

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        for module in reversed(self.execution_order()):
            grad_output = module.backward(grad_output)
        return grad_output


def expect_shape(layer: str, x: np.ndarray, ndims: Tuple[int, ...], description: str) -> None:
    """Raise a ValueError a student can read if ``x.ndim`` is not one of ``ndims``.

    ``description`` is the expected layout, e.g. ``"(N, C=3, H, W)"``.
    """
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{layer} expected a NumPy array of shape {description}, got {type(x).__name__}")
    if x.ndim not in ndims:
        raise ValueError(f"{layer} expected input of shape {description}, got {x.shape}")


def expect_float(layer: str, x: np.ndarray, dtype: np.dtype) -> None:
    """Raise ValueError unless ``x`` has the layer's floating dtype."""
    if x.dtype != dtype:
        raise ValueError(
            f"{layer} expected input of dtype {np.dtype(dtype).name}, got {x.dtype.name} "
            f"(convert with x.astype(np.{np.dtype(dtype).name}))"
        )

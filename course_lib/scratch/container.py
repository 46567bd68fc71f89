"""Sequential and ModuleList: modules in order (``torch.nn``'s containers).

``Sequential`` applies its modules in order and its ``backward`` goes back through them in reverse —
the chain rule of Chapter "Backpropagation" — with one exact shortcut for a ReLU followed by a
max-pool (see ``Sequential``); ``ModuleList`` only registers its modules, for a model's own forward.
"""
from __future__ import annotations

from typing import Iterator, List, Optional, Tuple

import numpy as np

from .activations import ReLU
from .module import Module, _not_a_module
from .pooling import MaxPool2d


class _ModuleSequence(Module):
    """What Sequential and ModuleList share: their modules in order, named by position."""

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module):
        """Add ``module`` at the end (named by its position, as torch); returns the container."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        if isinstance(modules, Module) and not isinstance(modules, _ModuleSequence):
            raise TypeError(f"{type(self).__name__}.extend takes an iterable of modules, got one "
                            f"{type(modules).__name__}: use append")
        for module in modules:
            self.append(module)
        return self

    def _insert(self, index: int, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.insert: the new item is {_not_a_module(module)}")
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._renumber(modules)

    def pop(self, index: int = -1) -> Module:
        """Take the module at ``index`` out and return it; the rest are renumbered (as torch)."""
        module = self[index]
        del self[index]
        return module

    def __delitem__(self, index) -> None:
        """Delete the module at ``index`` (or a slice of them); the rest are renumbered, as torch."""
        modules = list(self._modules.values())
        del modules[index]  # an IndexError as a list's for an index out of range
        self._renumber(modules)

    def _renumber(self, modules: List[Optional[Module]]) -> None:
        """Register ``modules`` under the names 0, 1, 2, … in place of the ones held now (a None too,
        as torch keeps a name set to None)."""
        for name in list(self._modules):
            delattr(self, name)
        for position, module in enumerate(modules):
            self.add_module(str(position), module)

    def __setitem__(self, index: int, module: Optional[Module]) -> None:
        """Replace the module at ``index`` (negative counts from the end), keeping its name; None as torch."""
        name = list(self._modules)[index]  # an IndexError as a list's for an index out of range
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: item {index} would be {_not_a_module(module)}")
        self.add_module(name, module)


class Sequential(_ModuleSequence):
    """Apply modules in order; ``backward`` runs them in reverse (the chain rule).

    One exact shortcut: a ``ReLU`` directly followed by a ``MaxPool2d`` runs *after* the pool.
    ReLU is non-decreasing, so max(relu(a), relu(b)) = relu(max(a, b)) — the same output, bit
    for bit — and the gradient is the same too: where the window's maximum is positive both
    orders send g to its first occurrence, and where it is ≤ 0 both send nothing.  Pooling first
    leaves ReLU a quarter of the values (2×2 pools), forward and backward.  (A ``ReLU(inplace=True)``
    there overwrites the pool's output, not the pool's input.)  ``backward`` goes back in the order
    the modules last ran forward: swapped after this Sequential's forward, as written where the
    caller ran them one by one; a loop of one's own goes back through ``reversed(execution_order())``.
    """

    def __init__(self, *modules: Module):
        super().__init__()
        for index, module in enumerate(modules):
            if not isinstance(module, Module):  # torch refuses too; it would otherwise be skipped silently
                raise TypeError(f"Sequential: item {index} is {_not_a_module(module)}")
            setattr(self, str(index), module)

    def __getitem__(self, index):
        """The module at ``index``, or for a slice a ``Sequential`` of those modules (names kept, as torch)."""
        items = list(self._modules.items())
        if isinstance(index, slice):
            part = Sequential()
            for name, module in items[index]:
                part.add_module(name, module)
            return part
        return items[index][1]

    def insert(self, index: int, module: Module) -> "Sequential":
        """Put ``module`` before position ``index`` and renumber the modules from there; returns the
        Sequential.  As torch's: an index outside −len … len is an IndexError, and the modules must be
        named 0, 1, … (one added under a name of its own, ``add_module("conv", …)``, cannot be renumbered)."""
        n = len(self)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -n <= index <= n:
            raise IndexError(f"Sequential.insert: index out of range: {index!r} (the Sequential holds {n} modules)")
        if list(self._modules) != [str(position) for position in range(n)]:
            raise KeyError(f"Sequential.insert renumbers the modules, which needs the names 0 … {n - 1} (as torch's); "
                           f"this one's are {list(self._modules)}")
        self._insert(int(index), module)
        return self

    def execution_order(self) -> List[Module]:
        """The modules in the order forward runs them (see the class docstring)."""
        return self._order(_pool_first)[0]

    def _order(self, swap) -> Tuple[List[Module], List[Tuple[Module, Module]]]:
        """The modules with each ReLU moved after the MaxPool2d that follows it where ``swap(relu, pool)``,
        and the (pool, ReLU) pairs it moved."""
        order = list(self._modules.values())
        swapped = []
        for index in range(len(order) - 1):
            first, second = order[index], order[index + 1]
            if type(first) is ReLU and type(second) is MaxPool2d and swap(first, second):
                order[index], order[index + 1] = second, first
                swapped.append((second, first))
        return order, swapped

    def forward(self, x: np.ndarray) -> np.ndarray:
        order, swapped = self._order(_pool_first)
        for module in order:
            x = module(x)
        for pool, relu in swapped:  # a backward loop over the written order would meet the pool first
            pool.__dict__["_backward_after"] = relu
        return x

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        for module in reversed(self._last_run_order()):
            grad_output = module.backward(grad_output)
        return grad_output

    def _last_run_order(self) -> List[Module]:
        """The modules in the order their last forward calls ran: ``execution_order`` after this
        Sequential's forward, the written order where the caller ran them one by one."""
        return self._order(_ran_after)[0]


class ModuleList(_ModuleSequence):
    """``torch.nn.ModuleList``: a list of modules that is registered — ``parameters()``, ``state_dict()``
    (keys ``layers.0.weight``, …) and ``train()``/``eval()`` reach its items, which a plain Python list
    of layers hides from them.  A container, not a layer: a model's ``forward`` calls its items and its
    ``backward`` goes back through them in reverse."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def insert(self, index: int, module: Module) -> None:
        """Put ``module`` before position ``index`` (as ``list.insert``); the modules after it are renumbered."""
        self._insert(index, module)

    def __getitem__(self, index):
        """The module at ``index`` (negative counts from the end), or for a slice a ModuleList of them."""
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(modules[index])
        return modules[index]

    def forward(self, *inputs):
        raise TypeError("ModuleList is a container, not a layer: call its modules in your model's forward "
                        "(for layer in self.layers: x = layer(x)) and their backward in reverse")

    def backward(self, *grad_outputs):
        raise TypeError("ModuleList is a container, not a layer: call its modules' backward in your model's "
                        "backward, in reverse (for layer in reversed(self.layers): grad = layer.backward(grad))")


def _pool_first(relu: Module, pool: Module) -> bool:
    """Whether forward runs ``pool`` first (``_order`` has checked the exact types: a subclass may change
    forward); not with return_indices, whose indices would differ from torch's in windows ≤ 0."""
    return not pool.return_indices


def _ran_after(later: Module, earlier: Module) -> bool:
    """Whether ``later``'s last forward call came after ``earlier``'s (both noted, see ``_noting_forward``)."""
    later_tick, earlier_tick = later.__dict__.get("_forward_tick"), earlier.__dict__.get("_forward_tick")
    return later_tick is not None and earlier_tick is not None and later_tick > earlier_tick

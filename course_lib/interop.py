"""Move weights and optimiser states between the scratch side and PyTorch without importing torch.

Both sides use the same parameter names and shapes (``weight``, ``bias``,
``weight_ih_l0``, ``in_proj_weight`` …), so conversion is only a change of array type.
"""
from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any, Dict

import numpy as np

from .checks import host_array
from .scratch.optim import TORCH_ONLY_KEYS


def state_dict_from_torch(torch_state_dict: Dict[str, Any], dtype=None) -> "OrderedDict[str, np.ndarray]":
    """A torch ``state_dict`` (tensors) as NumPy arrays, every key kept.

    ``dtype`` casts the floating-point arrays only: BatchNorm's ``num_batches_tracked`` stays
    an int64 count, as in both libraries.
    """
    if not hasattr(torch_state_dict, "items"):
        raise TypeError(f"state_dict_from_torch takes a state_dict (a mapping of names to tensors), got "
                        f"{type(torch_state_dict).__name__}: pass model.state_dict()")
    converted = OrderedDict()
    for key, tensor in torch_state_dict.items():
        array = host_array(tensor)  # a bfloat16 tensor as float32: NumPy has no bfloat16
        if dtype is not None and np.issubdtype(array.dtype, np.floating):
            converted[key] = array.astype(dtype)
        else:
            converted[key] = array.copy()
    return converted


def state_dict_to_torch(state_dict: Dict[str, np.ndarray], torch_module) -> Dict[str, Any]:
    """Load a scratch ``state_dict`` into ``torch_module`` (strict, shape-checked); return its state.

    A scratch state saved before BatchNorm kept ``num_batches_tracked`` has no such key; the torch
    module then keeps its own count, as torch's BatchNorm does when loading such a checkpoint.
    """
    import torch  # imported lazily: the scratch side never needs it

    if not hasattr(state_dict, "keys"):
        raise TypeError(f"state_dict_to_torch takes a scratch state_dict (a mapping of names to arrays), got "
                        f"{type(state_dict).__name__}: pass model.state_dict()")
    if not isinstance(torch_module, torch.nn.Module):
        raise TypeError(f"state_dict_to_torch loads into a torch.nn.Module, got {type(torch_module).__name__}: "
                        "the arguments are (scratch_model.state_dict(), torch_model)")
    target = torch_module.state_dict()
    converted = {}
    for key, value in target.items():
        if key.endswith("num_batches_tracked") and key not in state_dict:
            converted[key] = value
            continue
        if key not in state_dict:
            raise KeyError(f"state_dict_to_torch: scratch state has no '{key}'")
        array = np.asarray(state_dict[key])
        if tuple(array.shape) != tuple(value.shape):
            raise ValueError(f"state_dict_to_torch: '{key}' expected shape {tuple(value.shape)}, got {array.shape}")
        if not value.is_floating_point() and array.dtype.kind == "f" and not np.array_equal(array, np.trunc(array)):
            raise ValueError(f"state_dict_to_torch: '{key}' is a count ({value.dtype}), got the non-integer "
                             f"{array.ravel()[:3].tolist()}")
        converted[key] = torch.as_tensor(array, dtype=value.dtype)
    extra = set(state_dict) - set(target)
    if extra:
        raise KeyError(f"state_dict_to_torch: keys not in the torch module: {sorted(extra)}")
    torch_module.load_state_dict(converted)
    return converted


# --- optimiser state ---------------------------------------------------------------------------
# group entries that only say how torch runs its update (kernels, graphs), and entries that a scheduler
# or named parameters add to a group; the hyper-parameters are every other entry, the same on both sides
_RUNTIME_KEYS = TORCH_ONLY_KEYS | {"param_names"}
_OPTIONAL_KEYS = frozenset({"initial_lr", "param_names"})


def _as_number(value):
    """A 0-d torch tensor (a learning rate or a step count kept as a tensor) as a Python number."""
    if hasattr(value, "detach") and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


def check_optimizer_state(function: str, state_dict, optimizer, target_groups=None) -> None:
    """Raise if ``optimizer`` (scratch or torch) cannot take ``state_dict``, before anything is loaded:
    an optimiser instead of its state, another kind of optimiser, other groups or other shapes.

    torch's own ``load_state_dict`` checks only the number of parameters: another kind of
    optimiser's state loads, and the first ``step()`` then fails (``KeyError: 'betas'``).
    ``target_groups``: ``optimizer.state_dict()["param_groups"]`` if the caller has it already.
    """
    if target_groups is None:
        target_groups = optimizer.state_dict()["param_groups"]
    target_shapes = [[tuple(getattr(param, "data", param).shape) for param in group["params"]]
                     for group in optimizer.param_groups]
    if hasattr(state_dict, "state_dict") and callable(state_dict.state_dict):
        raise TypeError(f"{function} takes an optimiser's state_dict, got the optimiser "
                        f"{type(state_dict).__name__} itself: pass optimizer.state_dict()")
    if not (hasattr(state_dict, "get") and "state" in state_dict and "param_groups" in state_dict):
        raise TypeError(f"{function} takes an optimiser's state_dict, a mapping with 'state' and 'param_groups', "
                        f"got {type(state_dict).__name__}")
    saved_groups = state_dict["param_groups"]
    if len(saved_groups) != len(target_groups):
        raise ValueError(f"{function}: the optimiser has {len(target_groups)} parameter groups, "
                         f"the state {len(saved_groups)}")
    for number, (saved, group) in enumerate(zip(saved_groups, target_groups)):
        wanted = sorted(set(group) - _RUNTIME_KEYS - _OPTIONAL_KEYS - {"params"})
        missing = [key for key in wanted if key not in saved]
        if missing:
            raise ValueError(f"{function}: the state of group {number} has no {', '.join(map(repr, missing))}: it was "
                             f"saved by another kind of optimiser (this one's groups hold {', '.join(wanted)})")
        if len(saved["params"]) != len(group["params"]):
            raise ValueError(f"{function}: group {number} of the optimiser has {len(group['params'])} parameters, "
                             f"the state's {len(saved['params'])}")
    index_shape = {int(index): shape for saved, shapes in zip(saved_groups, target_shapes)
                   for index, shape in zip(saved["params"], shapes)}
    for index, param_state in state_dict["state"].items():
        index = int(index)
        if index not in index_shape:
            raise ValueError(f"{function}: the state has an entry for parameter {index}, which no group lists")
        for key, value in param_state.items():
            shape = tuple(getattr(value, "shape", ()))
            if key != "step" and value is not None and shape != index_shape[index]:
                raise ValueError(f"{function}: state '{key}' of parameter {index} has shape {shape}, "
                                 f"the parameter {index_shape[index]}")


def _hyper_parameters(saved: Dict[str, Any], group: Dict[str, Any]) -> Dict[str, Any]:
    """The saved group's values of the hyper-parameters the target group has (not its runtime keys)."""
    return {key: copy.deepcopy(_as_number(saved[key])) for key in group
            if key not in _RUNTIME_KEYS and key != "params" and key in saved}


def optimizer_state_to_torch(state_dict: Dict[str, Any], torch_optimizer) -> Dict[str, Any]:
    """Load a scratch optimiser's ``state_dict()`` into ``torch_optimizer``; return what was loaded.

    The same kind of optimiser on both sides (``scratch.optim.Adam`` → ``torch.optim.Adam``) over
    parameters in the same order and shapes, as ``model.parameters()`` gives them on both sides.
    Moving averages, momentum buffers and step counts keep their names (``exp_avg``, ``momentum_buffer``,
    ``step`` …), so training continues in PyTorch exactly where the scratch optimiser stopped.  The
    hyper-parameters (``lr`` as a scheduler left it, ``betas`` …) come from the state, as torch's own
    ``load_state_dict`` takes them; the entries only torch has (``foreach``, ``fused`` …) stay the
    torch optimiser's.  Arrays become tensors of each parameter's dtype and device.
    """
    import torch  # imported lazily: the scratch side never needs it

    function = "optimizer_state_to_torch"
    if not isinstance(torch_optimizer, torch.optim.Optimizer):
        raise TypeError(f"{function} loads into a torch.optim optimiser, got {type(torch_optimizer).__name__}: "
                        "the arguments are (scratch_optimizer.state_dict(), torch_optimizer)")
    target = torch_optimizer.state_dict()
    check_optimizer_state(function, state_dict, torch_optimizer, target["param_groups"])
    groups = []
    for saved, group in zip(state_dict["param_groups"], target["param_groups"]):
        groups.append({**group, **_hyper_parameters(saved, group), "params": list(group["params"])})
    position = {int(index): target_index for saved, group in zip(state_dict["param_groups"], target["param_groups"])
                for index, target_index in zip(saved["params"], group["params"])}
    state = {}
    for index, param_state in state_dict["state"].items():
        converted = {}
        for key, value in param_state.items():
            if key == "step":  # torch keeps step counts as float32 tensors (moved to the device where needed)
                converted[key] = torch.tensor(float(value), dtype=torch.float32)
            elif isinstance(value, np.ndarray):
                converted[key] = torch.tensor(value)  # a copy; load_state_dict casts it to the parameter
            else:
                converted[key] = copy.deepcopy(value)
        state[position[int(index)]] = converted
    loaded = {"state": state, "param_groups": groups}
    torch_optimizer.load_state_dict(loaded)
    return loaded


def optimizer_state_from_torch(torch_state_dict: Dict[str, Any], optimizer) -> Dict[str, Any]:
    """Load a torch optimiser's ``state_dict()`` into the scratch ``optimizer``; return what was loaded.

    The mirror of ``optimizer_state_to_torch``: tensors become arrays of each parameter's dtype,
    step counts integers, and a state torch keeps as None (SGD without momentum) is left out, as a
    fresh scratch state does.  torch's runtime entries (``foreach``, ``fused`` …) are dropped.
    """
    function = "optimizer_state_from_torch"
    if type(optimizer).__module__.startswith("torch"):
        raise TypeError(f"{function} loads into a scratch optimiser (course_lib.scratch.optim), got "
                        f"{type(optimizer).__module__}.{type(optimizer).__name__}: a torch optimiser takes a "
                        "torch state with its own load_state_dict")
    target = optimizer.state_dict()
    check_optimizer_state(function, torch_state_dict, optimizer, target["param_groups"])
    groups = [{**_hyper_parameters(saved, group), "params": list(saved["params"])}
              for saved, group in zip(torch_state_dict["param_groups"], target["param_groups"])]
    state = {}
    for index, param_state in torch_state_dict["state"].items():
        converted = {}
        for key, value in param_state.items():
            if value is None:
                continue
            if key == "step":
                converted[key] = int(round(float(_as_number(value))))
            elif hasattr(value, "detach"):
                converted[key] = host_array(value).copy()
            else:
                converted[key] = copy.deepcopy(value)
        state[int(index)] = converted
    loaded = {"state": state, "param_groups": groups}
    optimizer.load_state_dict(loaded)
    return loaded

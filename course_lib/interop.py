"""Move weights between scratch modules and PyTorch modules without importing torch.

Both sides use the same parameter names and shapes (``weight``, ``bias``,
``weight_ih_l0``, ``in_proj_weight`` …), so conversion is only a change of array type.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict

import numpy as np


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
        array = tensor.detach().cpu().numpy() if hasattr(tensor, "detach") else np.asarray(tensor)
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
        converted[key] = torch.as_tensor(array, dtype=value.dtype)
    extra = set(state_dict) - set(target)
    if extra:
        raise KeyError(f"state_dict_to_torch: keys not in the torch module: {sorted(extra)}")
    torch_module.load_state_dict(converted)
    return converted

"""Move weights between scratch modules and PyTorch modules without importing torch.

Both sides use the same parameter names and shapes (``weight``, ``bias``,
``weight_ih_l0``, ``in_proj_weight`` …), so conversion is only a change of array type.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict

import numpy as np


def state_dict_from_torch(torch_state_dict: Dict[str, Any], dtype=None) -> "OrderedDict[str, np.ndarray]":
    """A torch ``state_dict`` (tensors) as NumPy arrays; ``num_batches_tracked`` is dropped."""
    converted = OrderedDict()
    for key, tensor in torch_state_dict.items():
        if key.endswith("num_batches_tracked"):
            continue
        array = tensor.detach().cpu().numpy() if hasattr(tensor, "detach") else np.asarray(tensor)
        converted[key] = array.astype(dtype) if dtype is not None else array.copy()
    return converted


def state_dict_to_torch(state_dict: Dict[str, np.ndarray], torch_module) -> Dict[str, Any]:
    """Load a scratch ``state_dict`` into ``torch_module`` (strict, shape-checked); return its state."""
    import torch  # imported lazily: the scratch side never needs it

    target = torch_module.state_dict()
    converted = {}
    for key, value in target.items():
        if key.endswith("num_batches_tracked"):
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

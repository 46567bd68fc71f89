"""Choosing where tensors live: ``select_device("auto" | "cpu" | "cuda")`` (Chapter "The Python ecosystem and the two implementations").

``"auto"`` picks the first CUDA GPU when PyTorch sees one and the CPU otherwise, so the
same notebook runs on a laptop and on a GPU machine unchanged.  Asking for ``"cuda"``
on a machine without a GPU is an error with an explanation, not a silent fallback:
a student who believes they train on a GPU should learn at once that they do not.
"""
from __future__ import annotations

from typing import Union

import torch

DeviceLike = Union[str, torch.device, None]


def cuda_available() -> bool:
    """True when PyTorch can use a CUDA GPU on this machine."""
    return torch.cuda.is_available()


def select_device(device: DeviceLike = "auto") -> torch.device:
    """Resolve ``"auto"``, ``"cpu"`` (``"cpu:0"``), ``"cuda"``, ``"cuda:N"`` (or a ``torch.device``) to a ``torch.device``.

    Raises ``ValueError`` for an unknown name and ``RuntimeError`` if CUDA is requested
    but not available.
    """
    if device is None:
        device = "auto"
    if isinstance(device, torch.device):
        name = str(device)
    elif isinstance(device, str):
        name = device.strip().lower()
    else:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or a torch.device, got {device!r}")
    if name == "auto":
        return torch.device("cuda" if cuda_available() else "cpu")
    if name == "cpu" or name.startswith("cpu:"):
        try:
            return torch.device(name)
        except RuntimeError:  # 'cpu:x'
            raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
    if name == "cuda" or name.startswith("cuda:"):
        if not cuda_available():
            raise RuntimeError(
                f"device '{name}' was requested but PyTorch sees no CUDA GPU on this machine "
                f"(torch {torch.__version__}, built {'with' if torch.version.cuda else 'without'} CUDA). "
                "Use device='auto' to fall back to the CPU, or install a CUDA build of PyTorch on a GPU machine."
            )
        resolved = torch.device(name)
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise RuntimeError(
                f"device '{name}' was requested but only {torch.cuda.device_count()} CUDA GPU(s) are visible"
            )
        return resolved
    raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'")

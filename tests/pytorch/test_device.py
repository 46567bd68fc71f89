"""select_device: 'auto' picks CUDA when present, 'cuda' without a GPU is a clear error."""
from __future__ import annotations

import pytest
import torch

from course_lib.pytorch import device as device_module
from course_lib.pytorch.device import select_device

from ..devices import needs_cuda


def test_cpu_is_always_available():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device(torch.device("cpu")) == torch.device("cpu")
    assert select_device(" CPU ") == torch.device("cpu")
    # torch's names for the one CPU, refused as unknown before an audit (2026-12-06)
    assert select_device("cpu:0") == torch.device("cpu", 0)
    assert select_device(torch.device("cpu", 0)) == torch.device("cpu", 0)


def test_auto_follows_cuda_availability(monkeypatch):
    monkeypatch.setattr(device_module, "cuda_available", lambda: False)
    assert select_device("auto") == torch.device("cpu")
    assert select_device(None) == torch.device("cpu")
    monkeypatch.setattr(device_module, "cuda_available", lambda: True)
    assert select_device("auto") == torch.device("cuda")


def test_cuda_without_a_gpu_explains_what_to_do(monkeypatch):
    monkeypatch.setattr(device_module, "cuda_available", lambda: False)
    with pytest.raises(RuntimeError, match="no CUDA GPU.*device='auto'"):
        select_device("cuda")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        select_device("cuda:1")


def test_cuda_index_beyond_the_visible_gpus(monkeypatch):
    """With one GPU visible, cuda:0 is valid and cuda:1 is refused (no off-by-one in the index check)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert select_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(RuntimeError, match="only 1"):
        select_device("cuda:1")


def test_unknown_device_names_are_rejected():
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        select_device("gpu")
    with pytest.raises(ValueError, match="must be 'auto', 'cpu', 'cuda'"):
        select_device(3)
    with pytest.raises(ValueError, match="unknown device 'cpu:x'"):
        select_device("cpu:x")


@needs_cuda
def test_cuda_is_selected_and_usable_when_present():
    device = select_device("cuda")
    assert select_device("auto").type == "cuda"
    assert (torch.ones(2, device=device) * 2).sum().item() == 4
    with pytest.raises(RuntimeError, match="only"):
        select_device(f"cuda:{torch.cuda.device_count()}")

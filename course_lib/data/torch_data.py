"""Thin PyTorch wrappers over the NumPy datasets (the PyTorch side of the course)."""
from __future__ import annotations

import numpy as np


def tensor_dataset(x: np.ndarray, y: np.ndarray):
    """A ``torch.utils.data.TensorDataset`` over ``x`` and ``y`` (no copy where possible)."""
    import torch
    from torch.utils.data import TensorDataset

    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    # torch takes no negative strides (x[:, ::-1], flipped images): those arrays are copied first
    x, y = (np.ascontiguousarray(a) if isinstance(a, np.ndarray) and any(s < 0 for s in a.strides) else a
            for a in (x, y))
    return TensorDataset(torch.as_tensor(x), torch.as_tensor(y))


def fashion_mnist_loaders(batch_size: int = 64, seed: int = 0, train_size=None, test_size=None, root=None):
    """``(train_loader, test_loader)`` over Fashion-MNIST as float32 (N, 1, 28, 28) in [0, 1].

    ``train_size``/``test_size`` take a seeded class-stratified subset (quick mode).
    The training loader shuffles with a generator seeded by ``seed``.
    """
    import torch
    from torch.utils.data import DataLoader

    from .loaders import load_fashion_mnist, subset, to_float_images

    loaders = []
    for split, size in (("train", train_size), ("test", test_size)):
        images, labels = load_fashion_mnist(split, root=root)
        if size is not None:
            images, labels = subset(images, labels, size, seed)
        dataset = tensor_dataset(to_float_images(images), labels.astype(np.int64))
        generator = torch.Generator().manual_seed(seed)
        loaders.append(DataLoader(dataset, batch_size=batch_size, shuffle=split == "train", generator=generator))
    return tuple(loaders)

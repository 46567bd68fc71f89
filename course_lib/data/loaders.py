"""Loading MNIST and Fashion-MNIST as NumPy arrays (Chapter "A multilayer perceptron, from scratch and in PyTorch", "The CNN classifier")."""
from __future__ import annotations

import os
from typing import Optional, Tuple

import numpy as np

from .idx import parse_idx
from .store import locate, read_verified

SPLITS = ("train", "test")


def load_idx_dataset(
    name: str, split: str = "train", root: Optional[os.PathLike] = None, download: bool = True
) -> Tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) uint8 of ``split`` from dataset ``name``.

    Every file is checked against its published SHA-256 before it is decoded.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    located = locate(name, root, download_missing=download)
    arrays = []
    for kind in ("images", "labels"):
        role = f"{split}_{kind}"
        path = located.paths[role]
        arrays.append(parse_idx(read_verified(path, located.spec.files[role]), str(path)))
    images, labels = arrays
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{name} {split}: {images.shape[0]} images but {labels.shape[0]} labels")
    return images, labels


def load_fashion_mnist(split: str = "train", root: Optional[os.PathLike] = None, download: bool = True):
    """Fashion-MNIST ``split`` as ``(images uint8 (N, 28, 28), labels uint8 (N,))``; 60 000 train, 10 000 test."""
    return load_idx_dataset("fashion-mnist", split, root, download)


def load_mnist(split: str = "train", root: Optional[os.PathLike] = None, download: bool = True):
    """MNIST ``split`` as ``(images uint8 (N, 28, 28), labels uint8 (N,))``; 60 000 train, 10 000 test."""
    return load_idx_dataset("mnist", split, root, download)


def to_float_images(images: np.ndarray, dtype=np.float32, channel_axis: bool = True) -> np.ndarray:
    """uint8 images → floats in [0, 1], with a channel axis (N, 1, 28, 28) for convolutional nets."""
    scaled = images.astype(dtype) / np.asarray(255, dtype=dtype)
    return scaled[:, None] if channel_axis else scaled


def subset(images: np.ndarray, labels: np.ndarray, size: int, seed: int = 0):
    """A seeded, class-stratified subset of ``size`` examples (quick mode and exercises use it)."""
    if size >= len(labels):
        return images, labels
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    picks = []
    for rank, cls in enumerate(classes):
        members = np.flatnonzero(labels == cls)
        share = size // len(classes) + (1 if rank < size % len(classes) else 0)
        picks.append(rng.choice(members, size=min(share, len(members)), replace=False))
    index = np.sort(np.concatenate(picks))
    return images[index], labels[index]

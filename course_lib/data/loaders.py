"""Loading MNIST and Fashion-MNIST as NumPy arrays (Chapter "A multilayer perceptron, from scratch and in PyTorch", "The CNN image classifier")."""
from __future__ import annotations

import os
from typing import Optional, Tuple

import numpy as np

from ..checks import positive_int

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
        arrays.append(parse_idx(read_verified(path, located.spec.files[role], name), str(path)))
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
    """uint8 images (N, H, W) → floats in [0, 1], with a channel axis (N, 1, H, W) for convolutional nets.

    Float input is refused (converting twice, e.g. by re-running a cell, would divide by 255 again
    and add a second channel axis), and so is a single image without its batch axis."""
    images = np.asarray(images)
    if images.dtype.kind not in "ui":
        raise TypeError(f"to_float_images expects integer images with values 0–255 (uint8, as loaded), got "
                        f"{images.dtype}: are they converted already?")
    if images.ndim != 3:
        hint = " (one image: add the batch axis, images[None])" if images.ndim == 2 else ""
        raise ValueError(f"to_float_images expects images of shape (N, H, W), got {images.shape}{hint}")
    scaled = images.astype(dtype) / np.asarray(255, dtype=dtype)
    return scaled[:, None] if channel_axis else scaled


def subset(images: np.ndarray, labels: np.ndarray, size: int, seed: int = 0):
    """A seeded, class-stratified subset of ``size`` examples (quick mode and exercises use it).

    Each class gets an equal share; a class with fewer examples than its share gives all it has
    and the others make up the difference, so the subset always has ``size`` examples."""
    if len(images) != len(labels):
        raise ValueError(f"subset: {len(images)} images but {len(labels)} labels; they must match")
    positive_int("subset: size", size)
    if size >= len(labels):
        return images, labels
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    members = [np.flatnonzero(labels == cls) for cls in classes]
    quota, left = [0] * len(classes), size
    while left > 0:  # equal shares, then what a small class cannot take goes to the others
        open_classes = [k for k in range(len(classes)) if quota[k] < len(members[k])]
        share, extra = divmod(left, len(open_classes))
        for rank, k in enumerate(open_classes):
            give = min(share + (1 if rank < extra else 0), len(members[k]) - quota[k])
            quota[k] += give
            left -= give
    picks = [rng.choice(indices, size=count, replace=False) for indices, count in zip(members, quota)]
    index = np.sort(np.concatenate(picks))
    return images[index], labels[index]

"""Datasets of the course: seeded synthetic generators and verified MNIST/Fashion-MNIST loaders."""
from .synthetic import (
    TOKEN_TASKS,
    make_blobs,
    make_moons,
    make_regression,
    make_sequence_classification,
    make_sine_sequences,
    make_spirals,
    make_token_task,
    make_xor,
)
from .loaders import load_fashion_mnist, load_idx_dataset, load_mnist, subset, to_float_images
from .registry import DATASETS, FASHION_MNIST, MNIST
from .store import ChecksumError, DatasetError, DatasetNotFoundError, download, locate, status
from .idx import IDXFormatError, parse_idx
from .torch_data import fashion_mnist_loaders, tensor_dataset

__all__ = [
    "TOKEN_TASKS", "make_blobs", "make_moons", "make_regression", "make_sequence_classification",
    "make_sine_sequences", "make_spirals", "make_token_task", "make_xor",
    "load_fashion_mnist", "load_idx_dataset", "load_mnist", "subset", "to_float_images",
    "DATASETS", "FASHION_MNIST", "MNIST",
    "ChecksumError", "DatasetError", "DatasetNotFoundError", "download", "locate", "status",
    "IDXFormatError", "parse_idx", "fashion_mnist_loaders", "tensor_dataset",
]

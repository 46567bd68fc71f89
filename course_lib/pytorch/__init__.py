"""The PyTorch side of the course: the same algorithms written the idiomatic ``torch`` way.

Mirrors ``course_lib.scratch`` (same class names, constructor arguments and state_dict
names).  ``models``: the book's networks built from config dicts; ``by_hand``: what
``torch.nn`` hides, written with tensor operations and autograd; ``optim_by_hand``: each
optimiser's update rule under ``torch.no_grad()``; ``device``: ``select_device("auto")``.
"""
from . import by_hand
from .device import cuda_available, select_device
from .models import (CNN, MLP, PositionalEncoding, RecurrentModel, TransformerModel, build_model, keras_init_,
                     sinusoidal_table)
from .optim_by_hand import (
    AdagradByHand,
    AdamByHand,
    AdamWByHand,
    RMSpropByHand,
    SGDByHand,
    adagrad,
    adam,
    adamw,
    rmsprop,
    sgd,
)

__all__ = ["sgd", "adagrad", "rmsprop", "adam", "adamw",
           "SGDByHand", "AdagradByHand", "RMSpropByHand", "AdamByHand", "AdamWByHand",
           "by_hand", "select_device", "cuda_available",
           "MLP", "CNN", "RecurrentModel", "TransformerModel", "PositionalEncoding", "build_model", "keras_init_",
           "sinusoidal_table"]

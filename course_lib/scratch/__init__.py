"""From-scratch NumPy implementations of every algorithm in the course.

Mirrors ``torch.nn``: same class names, constructor arguments, parameter names
and shapes.  Never imports torch.  The import order below follows the book:
the module system, layers, losses, then optimisation (whole models: ``course_lib.scratch.models``).
Functional forms (``softmax``, ``conv2d_forward``, …) live in their modules,
e.g. ``course_lib.scratch.activations.softmax``.
"""
from . import allocator
from .module import Module, Parameter
from . import init
from .gradcheck import GradcheckError, gradcheck, numerical_gradient
from .linear import Linear
from .activations import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .dropout import Dropout, Dropout1d, Dropout2d, Dropout3d
from .flatten import Flatten
from .batchnorm import BatchNorm1d, BatchNorm2d
from .embedding import Embedding
from .conv import Conv2d
from .pooling import AvgPool2d, MaxPool2d
from .container import ModuleList, Sequential
from .recurrent import LSTM, RNN, LSTMCell, RNNCell
from .layernorm import LayerNorm
from .attention import MultiheadAttention, scaled_dot_product_attention
from .positional import PositionalEncoding
from .gelu import GELU
from .transformer import TransformerEncoderLayer
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .regularization import L1Penalty, L2Penalty, add_l1_penalty_grad, add_l2_penalty_grad, l1_penalty, l2_penalty
from . import optim, lr_scheduler
from .optim import Optimizer, SGD, Adagrad, RMSprop, Adam, AdamW
from .lr_scheduler import (LambdaLR, InverseSqrtLR, StepLR, MultiStepLR, ConstantLR, LinearLR, ExponentialLR,
                           CosineAnnealingLR, SequentialLR, ChainedScheduler, ReduceLROnPlateau)
from .clip import clip_grad_norm_, clip_grad_value_

allocator.prime()  # freed arrays stay in the process between steps (see allocator.py)

__all__ = [
    "Module", "ModuleList", "Parameter", "Sequential", "init", "GradcheckError", "gradcheck", "numerical_gradient",
    "Linear", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softmax", "LogSoftmax",
    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "Flatten",
    "BatchNorm1d", "BatchNorm2d", "Embedding", "Conv2d", "MaxPool2d", "AvgPool2d",
    "RNN", "LSTM", "RNNCell", "LSTMCell", "LayerNorm", "MultiheadAttention", "scaled_dot_product_attention",
    "PositionalEncoding", "GELU", "TransformerEncoderLayer",
    "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "NLLLoss",
    "L1Penalty", "L2Penalty", "l1_penalty", "l2_penalty", "add_l1_penalty_grad", "add_l2_penalty_grad",
    "optim", "lr_scheduler", "Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW",
    "LambdaLR", "InverseSqrtLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR",
    "CosineAnnealingLR", "SequentialLR", "ChainedScheduler", "ReduceLROnPlateau",
    "clip_grad_norm_", "clip_grad_value_",
]

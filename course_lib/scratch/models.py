"""The book's models built from scratch layers, twins of ``course_lib.pytorch.models``.

Same class names, constructor arguments, config dicts and ``state_dict`` keys and shapes
as the PyTorch versions, so ``course_lib.interop`` moves trained weights either way and a
chapter can train one side and evaluate the other.  Each model's ``backward(grad_output)``
runs the chain rule back through its layers in reverse order (Chapter "Backpropagation")
and returns dL/d(input) (None for token ids, which have no gradient).

- ``MLP``: Linear → activation → … → Linear (Chapter "A multilayer perceptron, from scratch and in PyTorch").
- ``CNN``: Conv(32,3)-MaxPool-Conv(64,3)-MaxPool-Conv(64,3)-Flatten-Dense(64)-Dense(10) (Chapter
  "Convolutional networks").
- ``RecurrentModel``: (Embedding →) RNN/LSTM → Linear on the last step or on every step (Chapter
  "Recurrent networks").
- ``TransformerModel``: Embedding·√d_model + positional encoding → encoder layers → Linear on the
  (masked) mean over positions or on every position (Chapter "Attention and Transformers").

This module never imports torch.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence

import numpy as np

from ..checks import check_probability, check_sizes
from .activations import ReLU, Sigmoid, Tanh
from .conv import Conv2d
from .dropout import Dropout
from .embedding import Embedding
from .flatten import Flatten
from .linear import Linear
from .container import Sequential
from .module import Module, check_dtype
from .pooling import MaxPool2d
from .positional import PositionalEncoding
from .recurrent import LSTM, RNN
from .gelu import GELU
from .transformer import TransformerEncoderLayer

ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "gelu": GELU}


def _activation(name: str) -> Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{name}': choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class MLP(Module):
    """Fully connected network ``sizes = [in, hidden…, out]``; parameters ``layers.{i}.weight/bias``.

    Set ``model.layers[0].requires_input_grad = False`` when training to skip dL/d(input),
    which nobody needs (``backward`` then returns None).
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu", dropout: float = 0.0, dtype=np.float32):
        super().__init__()
        check_sizes("MLP", **{f"sizes[{index}]": size for index, size in enumerate(sizes)})
        check_probability("MLP", "dropout", dropout)
        sizes = [int(size) for size in sizes]
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least [in_features, out_features] in sizes, got {sizes}")
        self.dtype = check_dtype(dtype)
        self.config = {"name": "MLP", "sizes": sizes, "activation": activation, "dropout": float(dropout)}
        layers = []
        for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Linear(fan_in, fan_out, dtype=self.dtype))
            if index < len(sizes) - 2:
                layers.append(_activation(activation))
                if dropout > 0:
                    layers.append(Dropout(dropout))
        self.layers = Sequential(*layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.layers(x)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return self.layers.backward(grad_output)


def cnn_feature_side(image_size: int, kernel_size: int = 3) -> int:
    """Height (= width) of the last feature map: valid convolutions shrink by k−1, pools halve."""
    side = image_size
    for step in ("conv", "pool", "conv", "pool", "conv"):
        side = side - kernel_size + 1 if step == "conv" else side // 2
        if side < 1:
            raise ValueError(f"CNN: image_size={image_size} is too small for kernel_size={kernel_size}")
    return side


class CNN(Module):
    """``features`` [Conv-ReLU-MaxPool-Conv-ReLU-MaxPool-Conv-ReLU-Flatten] then ``classifier`` [Linear-ReLU-Linear].

    Set ``model.features[0].requires_input_grad = False`` when training to skip dL/d(image),
    which nobody needs (``backward`` then returns None).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 channels: Sequence[int] = (32, 64, 64), kernel_size: int = 3, hidden: int = 64, dtype=np.float32):
        super().__init__()
        check_sizes("CNN", in_channels=in_channels, num_classes=num_classes, image_size=image_size,
                    kernel_size=kernel_size, hidden=hidden, **{f"channels[{i}]": c for i, c in enumerate(channels)})
        channels = [int(c) for c in channels]
        if len(channels) != 3:
            raise ValueError(f"CNN expects three convolution widths in channels, got {channels}")
        self.dtype = check_dtype(dtype)
        self.config = {
            "name": "CNN", "in_channels": int(in_channels), "num_classes": int(num_classes),
            "image_size": int(image_size), "channels": channels, "kernel_size": int(kernel_size), "hidden": int(hidden),
        }
        side = cnn_feature_side(image_size, kernel_size)
        c1, c2, c3 = channels
        self.features = Sequential(
            Conv2d(in_channels, c1, kernel_size, dtype=self.dtype), ReLU(), MaxPool2d(2),
            Conv2d(c1, c2, kernel_size, dtype=self.dtype), ReLU(), MaxPool2d(2),
            Conv2d(c2, c3, kernel_size, dtype=self.dtype), ReLU(),
            Flatten(),
        )
        self.classifier = Sequential(
            Linear(c3 * side * side, hidden, dtype=self.dtype), ReLU(), Linear(hidden, num_classes, dtype=self.dtype)
        )

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.classifier(self.features(x))

    def backward(self, grad_output: np.ndarray) -> Optional[np.ndarray]:
        return self.features.backward(self.classifier.backward(grad_output))


class RecurrentModel(Module):
    """(Embedding →) ``RNN``/``LSTM`` (batch_first) → ``Linear`` head; see the PyTorch twin for the layouts."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int, cell: str = "lstm", num_layers: int = 1,
                 task: str = "classify", vocab_size: Optional[int] = None, nonlinearity: str = "tanh",
                 dtype=np.float32):
        super().__init__()
        check_sizes("RecurrentModel", input_size=input_size, hidden_size=hidden_size, output_size=output_size,
                    num_layers=num_layers, vocab_size=vocab_size)
        if cell not in ("lstm", "rnn"):
            raise ValueError(f"cell must be 'lstm' or 'rnn', got '{cell}'")
        if task not in ("classify", "sequence"):
            raise ValueError(f"task must be 'classify' or 'sequence', got '{task}'")
        self.dtype = check_dtype(dtype)
        self.config = {
            "name": "RecurrentModel", "input_size": int(input_size), "hidden_size": int(hidden_size),
            "output_size": int(output_size), "cell": cell, "num_layers": int(num_layers), "task": task,
            "vocab_size": None if vocab_size is None else int(vocab_size), "nonlinearity": nonlinearity,
        }
        self.embedding = None if vocab_size is None else Embedding(vocab_size, input_size, dtype=self.dtype)
        if cell == "lstm":
            self.rnn = LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=True, dtype=self.dtype)
        else:
            self.rnn = RNN(input_size, hidden_size, num_layers=num_layers, nonlinearity=nonlinearity,
                           batch_first=True, dtype=self.dtype)
        self.head = Linear(hidden_size, output_size, dtype=self.dtype)
        self._outputs_shape = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.embedding is not None:
            x = self.embedding(x)
        outputs, _ = self.rnn(x)
        self._outputs_shape = outputs.shape
        if self.config["task"] == "classify":
            return self.head(outputs[:, -1])
        return self.head(outputs)

    def backward(self, grad_output: np.ndarray) -> Optional[np.ndarray]:
        if self._outputs_shape is None:
            raise RuntimeError("RecurrentModel.backward called before forward")
        grad_head = self.head.backward(grad_output)
        if self.config["task"] == "classify":
            # only the last step fed the head: every other step's output gets zero gradient
            grad_outputs = np.zeros(self._outputs_shape, dtype=grad_head.dtype)
            grad_outputs[:, -1] = grad_head
        else:
            grad_outputs = grad_head
        grad_input, _ = self.rnn.backward(grad_outputs)
        if self.embedding is not None:
            return self.embedding.backward(grad_input)
        return grad_input


class TransformerEncoder(Module):
    """``torch.nn.TransformerEncoder`` without a final norm: ``layers.{i}`` applied in order, sharing the masks."""

    def __init__(self, layers: Sequence[TransformerEncoderLayer]):
        super().__init__()
        self.layers = Sequential(*layers)

    def forward(self, src: np.ndarray, mask: Optional[np.ndarray] = None,
                src_key_padding_mask: Optional[np.ndarray] = None) -> np.ndarray:
        for layer in self.layers:
            src = layer(src, src_mask=mask, src_key_padding_mask=src_key_padding_mask)
        return src

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):  # forward ran the layers one by one (the masks), not self.layers
            grad_output = layer.backward(grad_output)
        return grad_output


class TransformerModel(Module):
    """Embedding·√d_model (or a Linear input projection) + positional encoding → encoder → head.

    Same arguments and layouts as the PyTorch twin; ``forward(x, src_key_padding_mask=None)``
    with the mask True at padding positions.
    """

    def __init__(self, d_model: int, nhead: int, num_layers: int, output_size: int, vocab_size: Optional[int] = None,
                 input_size: Optional[int] = None, dim_feedforward: int = 128, max_len: int = 512,
                 dropout: float = 0.0, task: str = "classify", dtype=np.float32):
        super().__init__()
        if (vocab_size is None) == (input_size is None):
            raise ValueError("TransformerModel needs exactly one of vocab_size (token ids) or input_size (features), "
                             f"got vocab_size={vocab_size!r} and input_size={input_size!r}")
        check_sizes("TransformerModel", d_model=d_model, nhead=nhead, num_layers=num_layers, output_size=output_size,
                    vocab_size=vocab_size, input_size=input_size, dim_feedforward=dim_feedforward, max_len=max_len)
        check_probability("TransformerModel", "dropout", dropout)
        if task not in ("classify", "sequence"):
            raise ValueError(f"task must be 'classify' or 'sequence', got '{task}'")
        if d_model % nhead:
            raise ValueError(f"d_model={d_model} must be divisible by nhead={nhead}")
        self.dtype = check_dtype(dtype)
        self.config = {
            "name": "TransformerModel", "d_model": int(d_model), "nhead": int(nhead), "num_layers": int(num_layers),
            "output_size": int(output_size), "vocab_size": None if vocab_size is None else int(vocab_size),
            "input_size": None if input_size is None else int(input_size), "dim_feedforward": int(dim_feedforward),
            "max_len": int(max_len), "dropout": float(dropout), "task": task,
        }
        if vocab_size is not None:
            self.embedding = Embedding(vocab_size, d_model, dtype=self.dtype)
        else:
            self.input_projection = Linear(input_size, d_model, dtype=self.dtype)
        self.positional = PositionalEncoding(d_model, max_len, batch_first=True, dtype=self.dtype)
        self.encoder = TransformerEncoder([
            TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True, dtype=self.dtype)
            for _ in range(num_layers)
        ])
        self.head = Linear(d_model, output_size, dtype=self.dtype)
        self._pool_weights = None

    def forward(self, x: np.ndarray, src_key_padding_mask: Optional[np.ndarray] = None) -> np.ndarray:
        if self.config["vocab_size"] is not None:
            h = self.embedding(x) * np.asarray(math.sqrt(self.config["d_model"]), dtype=self.dtype)
        else:
            h = self.input_projection(x)
        h = self.encoder(self.positional(h), src_key_padding_mask=src_key_padding_mask)
        if self.config["task"] == "sequence":
            return self.head(h)
        # mean over the positions that are not padding: weights keep/count, shape (N, T, 1)
        if src_key_padding_mask is None:
            keep = np.ones(h.shape[:2] + (1,), dtype=self.dtype)
        else:
            keep = (~np.asarray(src_key_padding_mask, dtype=bool)).astype(self.dtype)[..., None]
        self._pool_weights = keep / np.maximum(keep.sum(axis=1, keepdims=True), 1)
        return self.head((h * self._pool_weights).sum(axis=1))

    def backward(self, grad_output: np.ndarray) -> Optional[np.ndarray]:
        grad = self.head.backward(grad_output)
        if self.config["task"] == "classify":
            grad = grad[:, None, :] * self._pool_weights  # d(mean)/dh spreads the gradient over positions
        grad = self.positional.backward(self.encoder.backward(grad))
        if self.config["vocab_size"] is not None:
            return self.embedding.backward(grad * np.asarray(math.sqrt(self.config["d_model"]), dtype=self.dtype))
        return self.input_projection.backward(grad)


MODELS = {"MLP": MLP, "CNN": CNN, "RecurrentModel": RecurrentModel, "TransformerModel": TransformerModel}


def build_model(config: Dict[str, Any], dtype=np.float32) -> Module:
    """Rebuild a scratch model from a config dict (the same dicts as the PyTorch models')."""
    if not isinstance(config, dict) or "name" not in config:
        raise ValueError(f"a model config must be a dict with a 'name' key, got {config!r}")
    name = config["name"]
    if name not in MODELS:
        raise ValueError(f"unknown model '{name}': choose one of {sorted(MODELS)}")
    arguments = {key: value for key, value in config.items() if key != "name"}
    try:
        return MODELS[name](**arguments, dtype=dtype)
    except TypeError as error:
        raise ValueError(f"config does not fit {name}: {error}") from None

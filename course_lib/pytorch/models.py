"""The models the book trains, written the idiomatic PyTorch way with ``torch.nn``.

Every model is built from a plain config dict (``model.config``) and rebuilt from it
by ``build_model(config)``, so a checkpoint (weights + config) can recreate the network
without the code that first created it (Chapter "From notebook to deployment").  The scratch twins in
``course_lib.scratch.models`` have the same class names, constructor arguments and
``state_dict`` names and shapes, so weights move both ways with ``course_lib.interop``.

- ``MLP(sizes, activation)``: Linear → activation → … → Linear (Chapter "A multilayer perceptron, from scratch and in PyTorch").
- ``CNN``: Conv(32,3)-MaxPool-Conv(64,3)-MaxPool-Conv(64,3)-Flatten-Dense(64)-Dense(10) for
  1×28×28 images, ReLU after every convolution and the hidden dense layer (Chapter "Convolutional networks").
- ``RecurrentModel``: (Embedding →) RNN/LSTM → Linear head, classifying a whole sequence from the
  last time step or predicting at every step (Chapter "Recurrent networks").
- ``TransformerModel``: Embedding · √d_model + sinusoidal positional encoding → TransformerEncoder
  layers → Linear head on the mean over positions or at every position (Chapter "Attention and Transformers").
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence

import torch
from torch import nn

from ..checks import check_probability, check_sizes, whole

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{name}': choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class MLP(nn.Module):
    """Fully connected network: ``sizes = [in, hidden…, out]``; no activation after the last layer.

    Parameters are ``layers.{i}.weight`` / ``layers.{i}.bias`` (``i`` counts activations and
    dropouts too, as in ``nn.Sequential``).
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu", dropout: float = 0.0):
        super().__init__()
        check_sizes("MLP", **{f"sizes[{index}]": size for index, size in enumerate(sizes)})
        check_probability("MLP", "dropout", dropout)
        sizes = [int(size) for size in sizes]
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least [in_features, out_features] in sizes, got {sizes}")
        self.config = {"name": "MLP", "sizes": sizes, "activation": activation, "dropout": float(dropout)}
        layers = []
        for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(fan_in, fan_out))
            if index < len(sizes) - 2:
                layers.append(_activation(activation))
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class CNN(nn.Module):
    """The book's convolutional classifier (defaults: the Keras listing of Chapter "The CNN image classifier").

    ``features``: [Conv2d(c_in, c1, k) → ReLU → MaxPool2d(2) → Conv2d(c1, c2, k) → ReLU → MaxPool2d(2)
    → Conv2d(c2, c3, k) → ReLU → Flatten]; ``classifier``: [Linear(·, hidden) → ReLU → Linear(hidden, classes)].
    For 28×28 inputs and k = 3 the spatial size goes 28 → 26 → 13 → 11 → 5 → 3, so the flattened
    feature vector has 64·3·3 = 576 entries.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        image_size: int = 28,
        channels: Sequence[int] = (32, 64, 64),
        kernel_size: int = 3,
        hidden: int = 64,
    ):
        super().__init__()
        check_sizes("CNN", in_channels=in_channels, num_classes=num_classes, image_size=image_size,
                    kernel_size=kernel_size, hidden=hidden, **{f"channels[{i}]": c for i, c in enumerate(channels)})
        channels = [int(c) for c in channels]
        if len(channels) != 3:
            raise ValueError(f"CNN expects three convolution widths in channels, got {channels}")
        self.config = {
            "name": "CNN",
            "in_channels": int(in_channels),
            "num_classes": int(num_classes),
            "image_size": int(image_size),
            "channels": channels,
            "kernel_size": int(kernel_size),
            "hidden": int(hidden),
        }
        side = cnn_feature_side(image_size, kernel_size)
        c1, c2, c3 = channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, kernel_size), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c2, c3, kernel_size), nn.ReLU(),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(nn.Linear(c3 * side * side, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def cnn_feature_side(image_size: int, kernel_size: int = 3) -> int:
    """Height (= width) of the last feature map of ``CNN``: valid convs shrink by k−1, pools halve."""
    side = image_size
    for step in ("conv", "pool", "conv", "pool", "conv"):
        side = side - kernel_size + 1 if step == "conv" else side // 2
        if side < 1:
            raise ValueError(f"CNN: image_size={image_size} is too small for kernel_size={kernel_size}")
    return side


class RecurrentModel(nn.Module):
    """(Embedding →) ``nn.RNN``/``nn.LSTM`` (batch_first) → ``nn.Linear`` head.

    Give ``vocab_size`` for token inputs (N, T) of integer ids — they are embedded into
    ``input_size`` features — or leave it None for real-valued inputs (N, T, input_size).
    ``task="classify"`` maps the top layer's last hidden state to ``output_size`` logits (N, output_size);
    ``task="sequence"`` applies the head at every step (N, T, output_size) for sequence-to-sequence
    labelling or regression.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        cell: str = "lstm",
        num_layers: int = 1,
        task: str = "classify",
        vocab_size: Optional[int] = None,
        nonlinearity: str = "tanh",
    ):
        super().__init__()
        check_sizes("RecurrentModel", input_size=input_size, hidden_size=hidden_size, output_size=output_size,
                    num_layers=num_layers, vocab_size=vocab_size)
        if cell not in ("lstm", "rnn"):
            raise ValueError(f"cell must be 'lstm' or 'rnn', got '{cell}'")
        if task not in ("classify", "sequence"):
            raise ValueError(f"task must be 'classify' or 'sequence', got '{task}'")
        self.config = {
            "name": "RecurrentModel",
            "input_size": int(input_size),
            "hidden_size": int(hidden_size),
            "output_size": int(output_size),
            "cell": cell,
            "num_layers": int(num_layers),
            "task": task,
            "vocab_size": None if vocab_size is None else int(vocab_size),
            "nonlinearity": nonlinearity,
        }
        if vocab_size is not None:
            self.embedding = nn.Embedding(vocab_size, input_size)
        else:
            self.embedding = None
        if cell == "lstm":
            self.rnn = nn.LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        else:
            self.rnn = nn.RNN(input_size, hidden_size, num_layers=num_layers, nonlinearity=nonlinearity, batch_first=True)
        self.head = nn.Linear(hidden_size, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embedding is not None:
            x = self.embedding(x)
        outputs, _ = self.rnn(x)
        if self.config["task"] == "classify":
            return self.head(outputs[:, -1])
        return self.head(outputs)


def sinusoidal_table(max_len: int, d_model: int) -> torch.Tensor:
    """PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(t / 10000^(2i/d)); shape (max_len, d_model),
    in torch's default dtype (the scratch ``sinusoidal_table``'s twin)."""
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(10000.0) / d_model))
    encoding = torch.zeros(max_len, d_model, dtype=torch.float64)
    encoding[:, 0::2] = torch.sin(position * frequency)
    encoding[:, 1::2] = torch.cos(position * frequency)[:, : d_model // 2]
    return encoding.to(torch.get_default_dtype())


class PositionalEncoding(nn.Module):
    """The scratch ``PositionalEncoding``'s twin, with its arguments: y = dropout(x + PE[:L]) for x of
    shape (L, N, d_model), (N, L, d_model) with ``batch_first=True``, or unbatched (L, d_model).

    The table is the buffer ``pe`` (max_len, d_model): part of the state_dict like the scratch
    ``PositionalEncoding``'s, so state dicts match key for key; it moves with ``.to(device)``/``.double()``.
    """

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0, batch_first: bool = False):
        super().__init__()
        self.d_model = whole("PositionalEncoding", "d_model", d_model, 1)
        self.max_len = whole("PositionalEncoding", "max_len", max_len, 1)
        self.batch_first = bool(batch_first)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoidal_table(self.max_len, self.d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layout = "(N, L, d_model)" if self.batch_first else "(L, N, d_model)"
        if x.ndim not in (2, 3) or x.shape[-1] != self.d_model:
            raise ValueError(f"PositionalEncoding expected input of shape "
                             f"{layout.replace('d_model', f'd_model={self.d_model}')} or (L, d_model={self.d_model}), "
                             f"got {tuple(x.shape)}")
        batch_first = self.batch_first and x.ndim == 3
        length = x.shape[1] if batch_first else x.shape[0]
        if length > self.max_len:
            raise ValueError(f"PositionalEncoding was built for sequences of length ≤ max_len={self.max_len}, "
                             f"got length {length}")
        table = self.pe[:length].to(x.dtype)
        if x.ndim == 3:
            table = table[None] if batch_first else table[:, None]
        return self.dropout(x + table)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"


class TransformerModel(nn.Module):
    """Embedding · √d_model + positional encoding → ``nn.TransformerEncoder`` (post-norm, ReLU, batch_first) → head.

    ``vocab_size`` given: inputs are token ids (N, T) and ``embedding`` is an ``nn.Embedding``;
    otherwise inputs are features (N, T, input_size) and ``input_projection`` is an ``nn.Linear``.
    ``task="classify"``: logits (N, output_size) from the mean over the positions that are not
    padding; ``task="sequence"``: (N, T, output_size).  ``src_key_padding_mask`` (N, T), True at
    padding, is passed to every encoder layer and excluded from the mean.
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        num_layers: int,
        output_size: int,
        vocab_size: Optional[int] = None,
        input_size: Optional[int] = None,
        dim_feedforward: int = 128,
        max_len: int = 512,
        dropout: float = 0.0,
        task: str = "classify",
    ):
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
        self.config = {
            "name": "TransformerModel",
            "d_model": int(d_model),
            "nhead": int(nhead),
            "num_layers": int(num_layers),
            "output_size": int(output_size),
            "vocab_size": None if vocab_size is None else int(vocab_size),
            "input_size": None if input_size is None else int(input_size),
            "dim_feedforward": int(dim_feedforward),
            "max_len": int(max_len),
            "dropout": float(dropout),
            "task": task,
        }
        if vocab_size is not None:
            self.embedding = nn.Embedding(vocab_size, d_model)
        else:
            self.input_projection = nn.Linear(input_size, d_model)
        self.positional = PositionalEncoding(d_model, max_len, batch_first=True)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, output_size)

    def forward(self, x: torch.Tensor, src_key_padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.config["vocab_size"] is not None:
            x = self.embedding(x) * math.sqrt(self.config["d_model"])
        else:
            x = self.input_projection(x)
        x = self.positional(x)
        x = self.encoder(x, src_key_padding_mask=src_key_padding_mask)
        if self.config["task"] == "sequence":
            return self.head(x)
        if src_key_padding_mask is None:
            pooled = x.mean(dim=1)
        else:
            keep = (~src_key_padding_mask).to(x.dtype).unsqueeze(-1)
            pooled = (x * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)
        return self.head(pooled)


MODELS = {"MLP": MLP, "CNN": CNN, "RecurrentModel": RecurrentModel, "TransformerModel": TransformerModel}


def keras_init_(model: nn.Module) -> nn.Module:
    """Re-initialise every Linear and Conv2d the way Keras does by default, in place.

    Keras's ``Dense`` and ``Conv2D`` start from Glorot-uniform weights,
    U(−√(6/(fan_in + fan_out)), +√(6/(fan_in + fan_out))), and zero biases; PyTorch's
    default is Kaiming-uniform with a = √5 for both (Chapter "Optimisation", section
    "Initialisation and batch normalisation").
    A reproduction of a Keras listing starts where the listing started.  Draws from
    torch's global generator, so ``torch.manual_seed`` fixes the result — for a model on the
    CPU: on a GPU the draws come from the GPU's generator and differ, so initialise before
    moving the model.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"keras_init_ re-initialises a torch model, got {type(model).__module__}.{type(model).__name__}"
                        " (for a scratch model, initialise the torch twin and copy its state_dict)")
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def build_model(config: Dict[str, Any]) -> nn.Module:
    """Rebuild a model from its ``config`` dict (``{"name": "CNN", ...}``, as in ``model.config``)."""
    if not isinstance(config, dict) or "name" not in config:
        raise ValueError(f"a model config must be a dict with a 'name' key, got {config!r}")
    name = config["name"]
    if name not in MODELS:
        raise ValueError(f"unknown model '{name}': choose one of {sorted(MODELS)}")
    arguments = {key: value for key, value in config.items() if key != "name"}
    try:
        return MODELS[name](**arguments)
    except TypeError as error:
        raise ValueError(f"config does not fit {name}: {error}") from None

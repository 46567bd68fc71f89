"""One training loop for both sides of the course (Chapter "A multilayer perceptron, from scratch and in PyTorch").

``fit`` trains a PyTorch ``nn.Module`` *or* a scratch ``course_lib.scratch.Module`` with the
same call::

    history = fit(model, (x_train, y_train), loss_fn=loss_fn, optimizer=optimizer,
                  epochs=10, batch_size=64, val_data=(x_val, y_val))
    history.plot()

One epoch is one pass over the training set in mini-batches.  For each batch B:

    ŷ = f_θ(x_B)                 forward pass
    L = loss_fn(ŷ, y_B)          mean loss over the batch
    g = ∂L/∂θ                    backward pass (autograd in torch; ``loss_fn.backward()``
                                 then ``model.backward(...)`` on the scratch side)
    θ ← optimizer.step(θ, g)     after zeroing last batch's gradients

The epoch's training loss is the sample-weighted mean of the batch losses (the mean over the
epoch for losses with ``reduction='mean'``); training metrics are computed from the
predictions made *during* the epoch, while the weights change (as Keras does); validation
loss and metrics use the weights at the end of the epoch, in eval mode.

Determinism: the batch order comes from ``np.random.default_rng(seed)``, the same on both
sides, so a scratch model and a torch model that start from the same weights see the same
batches in the same order — which is how the book shows that the two sides agree.
With an integer ``seed`` fit also seeds torch (for a torch model, and for a scratch model
whenever torch is loaded: a DataLoader shuffles with torch's generator) and, for a scratch model,
the scratch initialiser's generator, which dropout draws from, so a run is repeatable on the CPU.  On a GPU, cuDNN picks kernels whose sums (convolutions' backward, recurrent layers)
may differ in the last bits from run to run; ``course_lib.seed_everything`` (which every chapter
calls) switches PyTorch to its deterministic kernels, so runs repeat bit for bit there too.
With ``device="auto"`` a model already on a GPU trains on that GPU.  A run stopped after one of
its checkpoints (``checkpoint=``) goes on with ``fit(..., resume=path)`` to the same numbers.

Torch models run on ``device`` ("auto" = the first CUDA GPU if PyTorch sees one, else the
CPU) and each batch follows them; floating inputs are cast to the model's dtype and integer
targets to int64, so NumPy arrays (float64, uint8 labels …) work unchanged.  ``fit``,
``evaluate`` and ``predict`` borrow the device for the call only: when they return (or raise),
the model, a loss with tensors (class weights) and the optimiser's state are back on the device
they came from, so code that calls ``model(x)`` on CPU tensors between them runs unchanged on a
GPU machine.  Put the model on the GPU yourself to keep it there.
"""
from __future__ import annotations

import copy
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import metrics as metrics_module
from . import training_state as records
from .checks import positive_int
from .files import write_atomically
from .interop import check_optimizer_state
from .scratch.module import Module as ScratchModule

MetricSpec = Union[str, Callable[[np.ndarray, np.ndarray], float]]

#: metric names understood by ``fit``/``evaluate``; multi-class scores are macro averages
NAMED_METRICS: Dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": metrics_module.accuracy,
    "precision": lambda y_true, y_pred: metrics_module.precision(y_true, y_pred, average="macro"),
    "recall": lambda y_true, y_pred: metrics_module.recall(y_true, y_pred, average="macro"),
    "f1": lambda y_true, y_pred: metrics_module.f1(y_true, y_pred, average="macro"),
}


# --- configuration objects ------------------------------------------------------------------
@dataclass
class EarlyStopping:
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    ``monitor``: a history key such as ``'val_loss'``, ``'val_accuracy'``, ``'loss'``; None means
    ``'val_loss'`` when there is validation data, else ``'loss'``.  ``mode``: ``'min'``,
    ``'max'`` or ``'auto'`` (min for names containing "loss", max otherwise).
    With ``restore_best`` the model ends training with the weights of its best epoch
    (whether or not training stopped early).
    """

    patience: int = 5
    min_delta: float = 0.0
    monitor: Optional[str] = None
    mode: str = "auto"
    restore_best: bool = True

    def __post_init__(self) -> None:
        positive_int("early_stopping patience", self.patience)
        if not isinstance(self.min_delta, (int, float, np.floating)) or self.min_delta < 0:
            raise ValueError(f"early_stopping min_delta must be a number >= 0, got {self.min_delta!r}")


@dataclass
class Checkpoint:
    """Save the weights to ``path`` after the best epoch (``save='best'``) or every epoch (``'every'``).

    ``path`` may contain ``{epoch}`` (e.g. ``"ckpt/epoch{epoch:02d}.pt"``) to keep one file per
    epoch.  Torch models are saved with ``torch.save`` (with ``course_lib.deploy.save_checkpoint``
    when the model carries a ``config``, so ``deploy.load_checkpoint`` can rebuild it); scratch
    models as a ``.npz`` archive.  ``load_training_checkpoint`` reads the weights of either back.
    Each file also holds the run's training state (optimiser, scheduler, generators, History so
    far; see ``course_lib.training_state``), so ``fit(..., resume=path)`` can finish an
    interrupted run exactly as the uninterrupted one; a file without ``{epoch}`` is overwritten.
    """

    path: Union[str, Path]
    save: str = "best"
    monitor: Optional[str] = None
    mode: str = "auto"


class History:
    """What ``fit`` records, one entry per epoch.

    ``train['loss']``, ``train['accuracy']`` …, ``val[...]`` (empty without validation data),
    ``epoch_time`` (seconds), ``lr`` (the first parameter group's learning rate during each
    epoch), ``best_epoch`` (1-based, when early stopping or a checkpoint
    monitored something) and ``stopped_epoch`` (the epoch after which early stopping ended
    training, else None).  Keras-style keys work too: ``history['loss']``, ``history['val_accuracy']``.
    """

    def __init__(self) -> None:
        self.train: Dict[str, List[float]] = {}
        self.val: Dict[str, List[float]] = {}
        self.epoch_time: List[float] = []
        self.lr: List[float] = []
        self.best_epoch: Optional[int] = None
        self.stopped_epoch: Optional[int] = None

    @property
    def epochs(self) -> List[int]:
        return list(range(1, len(self.epoch_time) + 1))

    def keys(self) -> List[str]:
        return list(self.train) + [f"val_{name}" for name in self.val]

    def __getitem__(self, key: str) -> List[float]:
        if key.startswith("val_") and key[4:] in self.val:
            return self.val[key[4:]]
        if key in self.train:
            return self.train[key]
        raise KeyError(f"history has no '{key}'; it has {self.keys()}")

    def __contains__(self, key: str) -> bool:
        return key in self.keys()

    def __len__(self) -> int:
        return len(self.epoch_time)

    def _append(self, logs: Dict[str, float], seconds: float) -> None:
        for key, value in logs.items():
            target = self.val if key.startswith("val_") else self.train
            target.setdefault(key[4:] if key.startswith("val_") else key, []).append(float(value))
        self.epoch_time.append(seconds)

    def last(self) -> Dict[str, float]:
        """The logs of the last epoch, Keras-style keys."""
        return {key: self[key][-1] for key in self.keys()}

    def to_dict(self) -> Dict[str, Any]:
        return {"train": copy.deepcopy(self.train), "val": copy.deepcopy(self.val),
                "epoch_time": list(self.epoch_time), "lr": list(self.lr), "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch}

    def plot(self, metrics: Optional[Sequence[str]] = None, **kwargs):
        """Learning curves (train and validation per quantity); returns the matplotlib Figure."""
        from .plots import plot_learning_curves

        return plot_learning_curves(self, metrics=metrics, **kwargs)

    def __repr__(self) -> str:
        last = ", ".join(f"{key}={value:.4g}" for key, value in self.last().items()) if len(self) else ""
        return f"History(epochs={len(self)}{', ' if last else ''}{last})"


# --- the two backends -------------------------------------------------------------------------
def _torch():
    import torch

    return torch


def _is_torch_module(model) -> bool:
    import sys

    if "torch" not in sys.modules:
        return False
    return isinstance(model, sys.modules["torch"].nn.Module)


def _is_tensor(value) -> bool:
    import sys

    return "torch" in sys.modules and isinstance(value, sys.modules["torch"].Tensor)


def _to_numpy(value) -> np.ndarray:
    if _is_tensor(value):
        return value.detach().cpu().numpy()
    return np.asarray(value)


# Each backend answers the same questions — move a batch, take one training step, run a
# forward pass, turn outputs into labels, copy/restore weights — for its side.
# A backend is a context manager: it moves what it needs onto its device on creation and puts
# everything back when the call that created it ends.
class _TorchBackend:
    def __init__(self, model, device, loss_fn=None, optimizer=None):
        from .pytorch.device import select_device

        torch = _torch()
        self.torch = torch
        self.model = model
        self.device = select_device(device)
        home = _home_device(model)
        auto = device is None or (isinstance(device, str) and device.strip().lower() == "auto")
        if auto and self.device.type == "cuda" and home is not None and home.type == "cuda":
            self.device = home  # a model the user put on cuda:1 trains there, not on the current GPU
        # a copy to a GPU may run in the background (the GPU's queue orders it before the kernels
        # that read it); a copy from a GPU to the CPU may not, since the CPU would read it unfinished
        self.non_blocking = self.device.type == "cuda"
        self.homes = [(module, _home_device(module)) for module in (model, loss_fn) if _is_torch_module(module)]
        self.optimizer = optimizer if isinstance(optimizer, torch.optim.Optimizer) else None
        for module, _ in self.homes:
            module.to(self.device)
        _align_optimizer_state(self.optimizer)
        floats = [p.dtype for p in model.parameters() if p.is_floating_point()]
        self.dtype = floats[0] if floats else torch.get_default_dtype()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        for module, home in self.homes:
            if home is not None:
                module.to(home)
        _align_optimizer_state(self.optimizer)

    def as_full(self, array):
        """The whole array as a CPU tensor (shares memory with NumPy where it can)."""
        torch = self.torch
        if _is_tensor(array):
            return array
        array = np.asarray(array)
        if not array.flags.writeable or array.dtype.kind not in "biuf":
            array = np.array(array, copy=True)
        return torch.as_tensor(array)

    def take(self, full, index: np.ndarray):
        return full[self.torch.from_numpy(index)]

    def to_device_x(self, x):
        x = x if _is_tensor(x) else self.as_full(x)
        if x.dtype == self.torch.uint8 and not any(isinstance(m, self.torch.nn.Embedding) for m in self.model.modules()):
            raise TypeError("the inputs are uint8 (raw pixels?); a model takes floats: convert images with "
                            "course_lib.data.to_float_images (or x.astype(np.float32) / 255)")
        config = getattr(self.model, "config", None)
        vocab = config.get("vocab_size") if isinstance(config, dict) else None
        if vocab is not None and (x.is_floating_point() or x.dtype == self.torch.bool):
            raise TypeError(f"this model embeds token ids: its inputs must be integers, got {x.dtype} (a float array of "
                            "ids? convert with x.astype(np.int64))")
        if vocab is not None and x.numel():  # else torch's "index out of range in self"
            low, high = (int(v) for v in self.torch.aminmax(x))  # one pass (and one GPU sync)
            if low < 0 or high >= vocab:
                raise ValueError(f"token ids must lie in [0, {vocab}) (the model's vocab_size), got ids from {low} "
                                 f"to {high}: build the vocabulary from all the data, or give the model a larger one")
        if isinstance(config, dict) and config.get("name") == "CNN" and x.ndim == 3:
            raise ValueError(f"the CNN takes images of shape (N, channels, H, W), got {tuple(x.shape)}: add the "
                             "channel axis, x[:, None] (course_lib.data.to_float_images adds it)")
        if x.is_floating_point():
            return x.to(self.device, dtype=self.dtype, non_blocking=self.non_blocking)
        return x.to(self.device, non_blocking=self.non_blocking)

    def to_device_y(self, y):
        y = y if _is_tensor(y) else self.as_full(y)
        if y.dtype == self.torch.bool:
            return y.to(self.device, dtype=self.dtype)
        if y.is_floating_point():
            return y.to(self.device, dtype=self.dtype, non_blocking=self.non_blocking)
        return y.to(self.device, dtype=self.torch.long, non_blocking=self.non_blocking)

    def train_step(self, x, y, loss_fn, optimizer):
        optimizer.zero_grad()
        output = self.model(x)
        _check_target_shape(loss_fn, output, y)
        _check_class_targets(loss_fn, output, y)
        loss = loss_fn(output, y)
        if not _is_tensor(loss):
            raise TypeError(f"loss_fn returned {type(loss).__name__}, not a tensor: a torch model needs a torch "
                            "loss such as torch.nn.CrossEntropyLoss()")
        loss.backward()
        optimizer.step()
        return output.detach(), loss.detach()

    def forward(self, x):
        with self.torch.no_grad():
            return self.model(x)

    def loss_value(self, loss_fn, output, y):
        _check_target_shape(loss_fn, output, y)
        _check_class_targets(loss_fn, output, y)
        with self.torch.no_grad():
            return loss_fn(output, y)

    @staticmethod
    def item(value) -> float:
        return float(value.item()) if _is_tensor(value) else float(value)

    def labels(self, value, threshold: float):
        return _labels_from_outputs(value, threshold, argmax=lambda v: v.argmax(dim=-1))

    def to_host(self, value) -> np.ndarray:
        return value.detach().cpu().numpy()

    def concat(self, values):
        return self.torch.cat(values) if values else None

    def state(self) -> Dict[str, Any]:
        return {key: value.detach().clone() for key, value in self.model.state_dict().items()}

    def load_state(self, state) -> None:
        self.model.load_state_dict(state)


class _ScratchBackend:
    def __init__(self, model, device):
        if device not in (None, "auto", "cpu"):
            raise ValueError(f"scratch models run on the CPU with NumPy; device must be 'auto' or 'cpu', "
                             f"got {device!r}")
        self.model = model
        self.device = "cpu"
        floats = [p.data.dtype for p in model.parameters() if p.data.dtype.kind == "f"]
        self.dtype = floats[0] if floats else np.dtype(np.float32)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        pass  # nothing was moved

    def as_full(self, array):
        return _to_numpy(array)

    @staticmethod
    def take(full, index: np.ndarray):
        return full[index]

    def to_device_x(self, x):
        x = _to_numpy(x)
        return x.astype(self.dtype, copy=False) if x.dtype.kind == "f" else x

    def to_device_y(self, y):
        y = _to_numpy(y)
        if y.dtype == np.bool_:
            return y.astype(self.dtype)
        return y.astype(self.dtype, copy=False) if y.dtype.kind == "f" else y

    def train_step(self, x, y, loss_fn, optimizer):
        optimizer.zero_grad()
        self.model.zero_grad()  # also clears parameters the optimiser does not own
        output = self.model(x)
        loss = loss_fn(output, y)
        self.model.backward(loss_fn.backward())
        optimizer.step()
        return output, loss

    def forward(self, x):
        return self.model(x)

    @staticmethod
    def loss_value(loss_fn, output, y):
        return loss_fn(output, y)

    @staticmethod
    def item(value) -> float:
        return float(value)

    @staticmethod
    def labels(value, threshold: float):
        return _labels_from_outputs(value, threshold, argmax=lambda v: v.argmax(axis=-1))

    @staticmethod
    def to_host(value) -> np.ndarray:
        return np.asarray(value)

    @staticmethod
    def concat(values):
        return np.concatenate(values) if values else None

    def state(self):
        return self.model.state_dict()

    def load_state(self, state) -> None:
        self.model.load_state_dict(state)


def _labels_from_outputs(value, threshold: float, argmax):
    """Class labels from model outputs (or targets): argmax over the last axis of scores,
    a threshold for a single score per sample, the values themselves for label arrays."""
    floating = value.is_floating_point() if _is_tensor(value) else np.asarray(value).dtype.kind == "f"
    if value.ndim >= 2 and value.shape[-1] > 1 and floating:
        return argmax(value).reshape(-1)
    if floating:
        return (value.reshape(-1) > threshold).long() if _is_tensor(value) else \
            (np.asarray(value).reshape(-1) > threshold).astype(np.int64)
    return value.reshape(-1)


def _home_device(module):
    """The one device a module's tensors live on; None if it has none or spans several
    (a module split over devices stays on the training device after the call)."""
    devices = {tensor.device for tensor in (*module.parameters(), *module.buffers())}
    return devices.pop() if len(devices) == 1 else None


def _align_optimizer_state(optimizer) -> None:
    """Move a torch optimiser's state (momentum, Adam's moments …) to its parameter's device.

    ``Module.to`` moves parameters in place, so the optimiser still holds them, but not its
    state.  ``step`` counters stay where torch keeps them: on the CPU, unless the parameter group
    is ``fused`` or ``capturable``, where torch keeps them on the parameter's device."""
    if optimizer is None:
        return
    on_device = {id(param): bool(group.get("fused") or group.get("capturable"))
                 for group in optimizer.param_groups for param in group["params"]}
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if not _is_tensor(value) or value.device == param.device:
                continue
            if key != "step":
                state[key] = value.to(param.device)
            elif on_device.get(id(param)):
                state[key] = value.to(param.device)


def _backend_for(model, device, loss_fn=None, optimizer=None):
    if _is_torch_module(model):
        return _TorchBackend(model, device, loss_fn, optimizer)
    if isinstance(model, ScratchModule):
        return _ScratchBackend(model, device)
    raise TypeError(f"expected a torch.nn.Module or a course_lib.scratch.Module, got {type(model).__name__}")


# --- data -------------------------------------------------------------------------------------
class _Batches:
    """Mini-batches of ``(x, y)`` arrays/tensors (shuffled by a shared generator) or of a loader."""

    def __init__(self, name: str, data, backend, batch_size: int, passes: int = 1):
        self.name, self.backend, self.batch_size = name, backend, batch_size
        self.loader = None
        if isinstance(data, (tuple, list)) and len(data) == 2 and not _looks_like_batch_list(data):
            x, y = data
            _check_array(f"{name} x", x)
            _check_array(f"{name} y", y)
            if len(x) != len(y):
                raise ValueError(f"{name}: x has {len(x)} samples but y has {len(y)}; they must match")
            if len(x) == 0:
                raise ValueError(f"{name} is empty")
            if not _is_tensor(y) and np.asarray(y).dtype.kind in "USO":
                raise TypeError(f"{name}: the targets are {np.asarray(y).dtype} (class names?); a model needs numbers: "
                                "map the names to 0, 1, … first, e.g. np.unique(y, return_inverse=True)[1]")
            self.x, self.y = backend.as_full(x), backend.as_full(y)
            self.n_samples = len(x)
        elif _is_loader(data):
            if passes > 1 and iter(data) is data:  # a generator or iterator: its batches are gone after one pass
                raise ValueError(f"{name} is a {type(data).__name__}, which can be iterated only once, and it is "
                                 f"needed {passes} times; pass a DataLoader, a list of (x, y) batches or (x, y) arrays")
            self.loader = data
            self.n_samples = len(data.dataset) if hasattr(data, "dataset") and hasattr(data.dataset, "__len__") \
                else None
        else:
            raise TypeError(
                f"{name} must be a tuple (x, y) of arrays/tensors or a DataLoader-like iterable of (x, y) "
                f"batches, got {type(data).__name__}"
            )

    def n_batches(self) -> Optional[int]:
        """Batches per pass, or None for a loader without a length."""
        if self.loader is not None:
            return len(self.loader) if hasattr(self.loader, "__len__") else None
        return -(-self.n_samples // self.batch_size)

    def iterate(self, rng: Optional[np.random.Generator]) -> Iterator[Tuple[Any, Any]]:
        if self.loader is not None:
            for batch in self.loader:
                if not isinstance(batch, (tuple, list)) or len(batch) < 2:
                    raise TypeError(f"{self.name}: each batch must be (x, y), got {type(batch).__name__}")
                yield self.backend.to_device_x(batch[0]), self.backend.to_device_y(batch[1])
            return
        order = rng.permutation(self.n_samples) if rng is not None else np.arange(self.n_samples)
        for start in range(0, self.n_samples, self.batch_size):
            index = order[start:start + self.batch_size]
            yield (self.backend.to_device_x(self.backend.take(self.x, index)),
                   self.backend.to_device_y(self.backend.take(self.y, index)))


def _looks_like_batch_list(data) -> bool:
    """A list of two (x, y) batches is a loader, not (x, y)."""
    return isinstance(data, list) and all(isinstance(item, (tuple, list)) for item in data)


def _is_loader(data) -> bool:
    if isinstance(data, (np.ndarray, str, bytes, dict)) or _is_tensor(data):
        return False
    return hasattr(data, "__iter__")


def _check_array(name: str, value) -> None:
    if not (isinstance(value, np.ndarray) or _is_tensor(value)):
        if isinstance(value, (list, tuple)):
            return  # converted by np.asarray / torch.as_tensor
        raise TypeError(f"{name} must be a NumPy array or a torch tensor, got {type(value).__name__}")


# --- metrics ------------------------------------------------------------------------------------
def _resolve_metrics(metrics, loss_fn=None) -> Dict[str, Callable[[np.ndarray, np.ndarray], float]]:
    if isinstance(metrics, str) and metrics == "auto":  # the default: accuracy, none for a regression loss
        metrics = () if type(loss_fn).__name__ in _REGRESSION_LOSSES else ("accuracy",)
    if metrics is None:
        return {}
    if isinstance(metrics, str) or callable(metrics):
        metrics = (metrics,)
    resolved = {}
    for metric in metrics:
        if isinstance(metric, str):
            if metric not in NAMED_METRICS:
                raise ValueError(f"unknown metric {metric!r}: use one of {sorted(NAMED_METRICS)} or a function "
                                 "f(y_true, y_pred) -> float")
            resolved[metric] = NAMED_METRICS[metric]
        elif callable(metric):
            resolved[getattr(metric, "__name__", type(metric).__name__)] = metric
        else:
            raise TypeError(f"a metric must be a name or a function f(y_true, y_pred), got {metric!r}")
    if "loss" in resolved:
        raise ValueError("'loss' is always recorded; do not list it as a metric")
    return resolved


def _threshold_for(loss_fn, model=None) -> float:
    """Where a single output per sample splits the classes: 0.5 for probabilities (``BCELoss``, or a
    model whose last layer is a ``Sigmoid``), else 0 (logits)."""
    return 0.5 if type(loss_fn).__name__ == "BCELoss" or _ends_with_sigmoid(model) else 0.0


def _ends_with_sigmoid(model) -> bool:
    """Whether the last layer registered in ``model`` (torch or scratch) is a ``Sigmoid``."""
    if model is None or not hasattr(model, "named_modules"):
        return False
    leaves = [module for _, module in model.named_modules() if not list(module.named_children())]
    return bool(leaves) and type(leaves[-1]).__name__ == "Sigmoid"


#: torch's losses that broadcast a target of another shape against the output (with only a warning)
_BROADCASTING_LOSSES = ("MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss")
#: losses of regression, for which the default metrics are none
_REGRESSION_LOSSES = _BROADCASTING_LOSSES + ("GaussianNLLLoss",)


def _check_target_shape(loss_fn, output, y) -> None:
    """A regression target of shape (N,) against an (N, 1) output would be broadcast into an
    (N, N) grid of differences by torch's MSELoss and the like: a wrong loss, with only a warning."""
    if type(loss_fn).__name__ in _BROADCASTING_LOSSES and tuple(output.shape) != tuple(y.shape):
        raise ValueError(
            f"{type(loss_fn).__name__}: the targets have shape {tuple(y.shape)} but the model's outputs "
            f"{tuple(output.shape)}; they would be broadcast against each other instead of compared entry by "
            f"entry — reshape the targets (e.g. y[:, None] or y.reshape(-1, 1)) to the outputs' shape")


def _check_class_targets(loss_fn, output, y) -> None:
    """Class-index targets for CrossEntropyLoss / NLLLoss must be (N,) when the outputs are (N, K)."""
    if type(loss_fn).__name__ in ("CrossEntropyLoss", "NLLLoss") and not y.is_floating_point() \
            and output.ndim == 2 and tuple(y.shape) != (output.shape[0],):
        raise ValueError(f"{type(loss_fn).__name__}: class-index targets must have shape ({output.shape[0]},), one "
                         f"class per sample, got {tuple(y.shape)}" +
                         (" — flatten them, y.reshape(-1)" if y.numel() == output.shape[0] else ""))


def _target_labels(value, backend):
    """Class labels from targets: argmax of one-hot or probability rows, the values of integer
    (or integer-valued float) labels, 0/1 by 0.5 for soft binary targets.  Real-valued targets
    (a regression) have no labels, and the metrics cannot be computed: a clear error."""
    floating = value.is_floating_point() if _is_tensor(value) else np.asarray(value).dtype.kind == "f"
    if not floating:
        return value.reshape(-1)
    if value.ndim >= 2 and value.shape[-1] > 1:
        return value.argmax(-1).reshape(-1) if _is_tensor(value) else np.asarray(value).argmax(-1).reshape(-1)
    flat = backend.to_host(value).reshape(-1) if _is_tensor(value) else np.asarray(value).reshape(-1)
    if np.all(flat == np.round(flat)):
        labels = flat.astype(np.int64)
    elif np.all((flat >= 0) & (flat <= 1)):
        labels = (flat > 0.5).astype(np.int64)
    else:
        example = flat[flat != np.round(flat)][0]  # a value that is no class label
        raise ValueError(f"the metrics need class labels, but the targets hold real values such as {example:g} "
                         "(a regression?): pass metrics=() — or use a regression loss, which records no metrics "
                         "by default")
    return backend.torch.from_numpy(labels).to(value.device) if _is_tensor(value) else labels


class _EpochAccumulator:
    """Sample-weighted loss and the labels needed for metrics, gathered batch by batch."""

    def __init__(self, backend, metric_fns, threshold):
        self.backend, self.metric_fns, self.threshold = backend, metric_fns, threshold
        self.loss_sum, self.count = 0.0, 0
        self.predicted, self.targets = [], []

    def add(self, output, y, loss) -> None:
        n = len(y)
        if loss is not None:
            self.loss_sum = self.loss_sum + loss * n  # stays on the device until read
        self.count += n
        if self.metric_fns:
            self.predicted.append(self.backend.labels(output, self.threshold))
            self.targets.append(_target_labels(y, self.backend))

    def running_loss(self) -> float:
        return self.backend.item(self.loss_sum) / max(self.count, 1)

    def logs(self, prefix: str = "", with_loss: bool = True) -> Dict[str, float]:
        if self.count == 0:
            raise ValueError("the data produced no batches (a generator can be iterated only once: pass a "
                             "DataLoader, a list of batches or (x, y) arrays)")
        logs = {}
        if with_loss:
            logs[prefix + "loss"] = self.running_loss()
        if self.metric_fns:
            predicted = self.backend.to_host(self.backend.concat(self.predicted))
            targets = self.backend.to_host(self.backend.concat(self.targets))
            if predicted.shape != targets.shape:
                raise ValueError(
                    f"cannot compute {list(self.metric_fns)}: the outputs give {predicted.size} predicted labels but "
                    f"the targets give {targets.size}; pass metrics=() for models that are not classifiers"
                )
            for name, fn in self.metric_fns.items():
                logs[prefix + name] = float(fn(targets, predicted))
        return logs


# --- monitors -------------------------------------------------------------------------------------
class _Monitor:
    def __init__(self, what: str, monitor: Optional[str], mode: str, has_val: bool, recorded: Sequence[str],
                 min_delta: float = 0.0):
        monitor = monitor or ("val_loss" if has_val else "loss")
        if monitor.startswith("val_") and not has_val:
            raise ValueError(f"{what} monitors '{monitor}' but fit got no val_data; pass val_data or "
                             f"monitor='{monitor[4:]}'")
        known = list(recorded) + ([f"val_{name}" for name in recorded] if has_val else [])
        if monitor not in known:
            raise ValueError(f"{what} cannot monitor '{monitor}': fit records {known}")
        if mode == "auto":
            mode = "min" if "loss" in monitor else "max"
        if mode not in ("min", "max"):
            raise ValueError(f"{what}: mode must be 'min', 'max' or 'auto', got {mode!r}")
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(float(min_delta))
        self.best: Optional[float] = None

    def value(self, logs: Dict[str, float]) -> float:
        if self.monitor not in logs:
            raise ValueError(f"cannot monitor '{self.monitor}': the epoch logs are {sorted(logs)}")
        return logs[self.monitor]

    def improved(self, logs: Dict[str, float]) -> bool:
        value = self.value(logs)
        if self.best is None:
            better = True
        elif self.mode == "min":
            better = value < self.best - self.min_delta
        else:
            better = value > self.best + self.min_delta
        if better:
            self.best = value
        return better


def _as_config(value, cls, what: str):
    if value is None or value is False:
        return None
    if isinstance(value, cls):
        return value
    if value is True:
        return cls()
    if isinstance(value, dict):
        return cls(**value)
    if cls is Checkpoint and isinstance(value, (str, Path)):
        return Checkpoint(path=value)
    raise TypeError(f"{what} must be None, True, a dict or a {cls.__name__}, got {type(value).__name__}")


# --- checkpoints -------------------------------------------------------------------------------
def save_training_checkpoint(model, path: Union[str, Path], *, epoch: int, logs: Dict[str, float],
                             training_state: Optional[Dict[str, Any]] = None) -> Path:
    """Write the model's weights with the epoch and its logs (see :class:`Checkpoint`).

    ``fit`` also passes its ``training_state`` (``course_lib.training_state``): the optimiser,
    the scheduler, the generators and the History so far, which ``fit(..., resume=path)`` reads.
    """
    logs = {key: float(value) for key, value in logs.items()}
    if _is_torch_module(model):
        torch = _torch()
        if isinstance(getattr(model, "config", None), dict):
            from .deploy import save_checkpoint

            return save_checkpoint(model, path, epoch=int(epoch), logs=logs, training_state=training_state)
        state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
        payload = {"format": "course_lib.training", "state_dict": state, "epoch": int(epoch), "logs": logs}
        if training_state is not None:
            payload["training_state"] = training_state
        return write_atomically(path, lambda temporary: torch.save(payload, temporary))
    arrays = {f"state_dict/{key}": value for key, value in model.state_dict().items()}
    if training_state is not None:
        arrays.update((f"training_state/{key}", value) for key, value in records.pack(training_state).items())

    def write(temporary):
        with open(temporary, "wb") as handle:  # a handle, so np.savez does not append ".npz" to the name
            np.savez(handle, **arrays, epoch=np.array(int(epoch)), logs=np.array(json.dumps(logs)))

    return write_atomically(path, write)


def _read_training_checkpoint(model, path: Union[str, Path]):
    """``(weights, {'epoch', 'logs'}, training state or None)`` of a checkpoint written by ``fit``,
    its weights checked against ``model`` (nothing is loaded here)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    if _is_torch_module(model):
        try:
            payload = _torch().load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - torch's words stay in __cause__
            hint = " (a scratch model's .npz checkpoint? load it into the scratch model)" if path.suffix == ".npz" else ""
            raise ValueError(f"{path} is not a torch checkpoint written by fit{hint}: torch.load cannot read it") \
                from error
        if not isinstance(payload, dict) or "state_dict" not in payload:
            raise ValueError(f"{path} is not a checkpoint written by fit")
        state = payload["state_dict"]
        extra = payload.get("extra", payload)  # deploy.save_checkpoint keeps epoch/logs under 'extra'
        info, record = {"epoch": extra.get("epoch"), "logs": extra.get("logs")}, payload.get("training_state")
    else:
        if not isinstance(model, ScratchModule):
            raise TypeError(f"expected a torch.nn.Module or a course_lib.scratch.Module, got {type(model).__name__}")
        try:
            with np.load(path, allow_pickle=False) as archive:
                state = {key[len("state_dict/"):]: archive[key] for key in archive.files
                         if key.startswith("state_dict/")}
                packed = {key[len("training_state/"):]: archive[key] for key in archive.files
                          if key.startswith("training_state/")}
                info = {"epoch": int(archive["epoch"]), "logs": json.loads(str(archive["logs"]))}
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(f"{path} is not a scratch checkpoint written by fit ({error})") from None
        record = records.unpack(packed) if packed else None
    _check_same_state(model, state, path)
    return state, info, record


def load_training_checkpoint(model, path: Union[str, Path]) -> Dict[str, Any]:
    """Load weights saved by ``fit(..., checkpoint=...)`` into ``model``; return ``{'epoch', 'logs'}``.

    To go on training where the checkpoint left off — optimiser, scheduler, batch order and
    all — pass it to ``fit(..., resume=path)`` instead.
    """
    state, info, _ = _read_training_checkpoint(model, path)
    model.load_state_dict(state)
    return info


def _check_same_state(model, state, path) -> None:
    """Refuse a checkpoint of another model before any weight is written: loading stops at the
    first mismatch only after the layers before it were overwritten."""
    from .deploy import state_dict_mismatches

    problems = state_dict_mismatches(model.state_dict(), state)
    if problems:
        raise ValueError(f"{path} holds the weights of another model; nothing was loaded ({'; '.join(problems)})")


# --- the public API -------------------------------------------------------------------------------
def _check_pairing(model, loss_fn, optimizer) -> None:
    """Catch a torch piece used with a scratch model (or the reverse) before the first batch."""
    torch_model = _is_torch_module(model)
    if optimizer is not None:
        if not (hasattr(optimizer, "step") and hasattr(optimizer, "zero_grad")):
            raise TypeError(f"optimizer must have step() and zero_grad(), got {type(optimizer).__name__}")
        torch_optimizer = "torch" in type(optimizer).__module__
        if torch_model != torch_optimizer:
            side = "torch.optim" if torch_model else "course_lib.scratch.optim"
            raise TypeError(f"{type(model).__name__} needs a {side} optimizer, got {type(optimizer).__module__}."
                            f"{type(optimizer).__name__}")
        owned = {id(p) for p in model.parameters()}
        given = [p for group in getattr(optimizer, "param_groups", []) for p in group["params"]]
        if given and not any(id(p) in owned for p in given):
            raise ValueError("the optimizer does not hold this model's parameters; create it with "
                             "optimizer = ...(model.parameters(), ...)")
    if loss_fn is not None:
        if isinstance(loss_fn, type):
            raise TypeError(f"loss_fn is the class {loss_fn.__name__}; pass an instance: {loss_fn.__name__}()")
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
        if torch_model and isinstance(loss_fn, ScratchModule):
            raise TypeError(f"a torch model needs a torch loss (e.g. torch.nn.CrossEntropyLoss()), got the scratch "
                            f"{type(loss_fn).__name__}")
        if not torch_model and _is_torch_module(loss_fn):
            raise TypeError(f"a scratch model needs a scratch loss (course_lib.scratch.losses), got torch's "
                            f"{type(loss_fn).__name__}")
        if not torch_model and not hasattr(loss_fn, "backward"):
            raise TypeError("a scratch model needs a loss with backward(), e.g. course_lib.scratch.losses."
                            "CrossEntropyLoss()")


def _current_lr(optimizer) -> float:
    groups = getattr(optimizer, "param_groups", None)
    return float(groups[0]["lr"]) if groups else float("nan")


def _seed_everything_for(model, seed: Optional[int]) -> Optional[np.random.Generator]:
    if seed is None:
        return np.random.default_rng()
    if _is_torch_module(model) or "torch" in sys.modules:
        # dropout masks and other torch randomness; for a scratch model, the shuffling of a DataLoader
        # that feeds it (torch 2.13 starts every process from a random seed)
        _torch().manual_seed(seed)
    if not _is_torch_module(model):
        from .scratch import init

        init.manual_seed(seed)  # scratch Dropout draws from this generator
    return np.random.default_rng(seed)


def _progress_bar(progress: bool, total: Optional[int], epochs: int, start: int = 0):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="batch", desc=f"epoch {start + 1}/{epochs}", leave=True, dynamic_ncols=True)


def fit(model, train_data, *, loss_fn, optimizer, epochs: int, batch_size: int = 64, val_data=None,
        metrics: Union[str, Sequence[MetricSpec], None] = "auto", early_stopping=None, checkpoint=None,
        seed: Optional[int] = 0, device: str = "auto", progress: bool = True, shuffle: bool = True,
        scheduler=None, resume=None) -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`.

    - ``train_data`` / ``val_data``: ``(x, y)`` NumPy arrays or torch tensors, or a DataLoader
      (any re-iterable of ``(x, y)`` batches; its own order is used and ``batch_size``/
      ``shuffle`` do not apply).
    - ``loss_fn``, ``optimizer``: from torch for a torch model; from ``course_lib.scratch``
      for a scratch model (``loss_fn(pred, target)`` then ``loss_fn.backward()``).
    - ``metrics``: names from ``NAMED_METRICS`` (``'accuracy'``, macro ``'precision'``,
      ``'recall'``, ``'f1'``) or functions ``f(y_true, y_pred) -> float`` on label arrays;
      outputs become labels by argmax (several scores per sample) or by a threshold (one
      score: 0.5 with ``BCELoss`` or a model ending in ``Sigmoid``, else 0 for logits), targets
      by argmax of one-hot rows or as integer labels.  ``"auto"`` (the default) is accuracy,
      and no metric with a regression loss (``MSELoss``, ``L1Loss``, ``SmoothL1Loss``,
      ``HuberLoss``, ``GaussianNLLLoss``); real-valued targets with a metric are an error.
    - ``early_stopping``: an :class:`EarlyStopping`, a dict of its fields, or True.
    - ``checkpoint``: a path, a dict or a :class:`Checkpoint`.
    - ``seed``: batch order (and torch / scratch random state); None = not reproducible.
    - ``device``: ``"auto"``, ``"cpu"``, ``"cuda"`` (torch models; scratch models use the CPU).
      Training runs there; afterwards the model and the optimiser's state are back where they
      were (see the module's docstring), with the trained weights.
    - ``progress``: a ``tqdm.auto`` bar over all batches, showing the running loss.
    - ``shuffle``: reshuffle the training set every epoch.
    - ``scheduler``: a learning-rate scheduler (torch's or ``course_lib.scratch.lr_scheduler``'s)
      stepped once after every epoch; ``ReduceLROnPlateau`` is given the epoch's ``val_loss``
      (``loss`` without validation data).
    - ``resume``: a checkpoint written by this function (``checkpoint=``; ``save='every'``
      writes one per epoch): the weights, the optimiser's and scheduler's state, the generators of
      the batch order (a DataLoader's own ``generator`` too) and of dropout, the History so far and early stopping's counters are read
      back, and training goes on from the epoch after the checkpoint's to ``epochs`` (counted
      from the start, as Keras's ``initial_epoch``).  The result is the run that never
      stopped: the same weights, and a History of all the epochs.  Pass the same kind of
      optimiser (and scheduler, if the run had one) as the run used; ``seed`` is not used.

    Arguments that cannot work (a validation set the model cannot take, a checkpoint path that
    cannot be written, a generator needed for several passes) fail before the first step.  If
    training itself fails or is interrupted, the History so far is the exception's ``history``
    attribute, and with early stopping's ``restore_best`` the best weights are restored first.
    """
    epochs = positive_int("epochs", epochs)
    batch_size = positive_int("batch_size", batch_size)
    if loss_fn is None or optimizer is None:
        raise TypeError("fit needs both loss_fn and optimizer")
    with _backend_for(model, device, loss_fn, optimizer) as backend:
        _check_pairing(model, loss_fn, optimizer)
        return _fit(backend, train_data, loss_fn=loss_fn, optimizer=optimizer, epochs=epochs, batch_size=batch_size,
                    val_data=val_data, metrics=metrics, early_stopping=early_stopping, checkpoint=checkpoint,
                    seed=seed, progress=progress, shuffle=shuffle, scheduler=scheduler, resume=resume)


def _fit(backend, train_data, *, loss_fn, optimizer, epochs, batch_size, val_data, metrics, early_stopping,
         checkpoint, seed, progress, shuffle, scheduler, resume) -> History:
    """fit's loop, on a backend that already holds the model on its device."""
    model = backend.model
    metric_fns = _resolve_metrics(metrics, loss_fn)
    threshold = _threshold_for(loss_fn, model)
    resumed = _read_resume(model, resume, epochs, scheduler) if resume is not None else None
    start = 0 if resumed is None else resumed[1]["epoch"]
    train_batches = _Batches("train_data", train_data, backend, batch_size, passes=epochs - start)
    # the validation set is read once before training (a check) and after every epoch
    val_batches = _Batches("val_data", val_data, backend, batch_size, passes=epochs - start + 1) \
        if val_data is not None else None
    stopping = _as_config(early_stopping, EarlyStopping, "early_stopping")
    saving = _as_config(checkpoint, Checkpoint, "checkpoint")
    has_val = val_batches is not None
    recorded = ["loss", *metric_fns]
    stop_monitor = (_Monitor("early_stopping", stopping.monitor, stopping.mode, has_val, recorded,
                             stopping.min_delta) if stopping else None)
    if saving and saving.save not in ("best", "every"):
        raise ValueError(f"checkpoint save must be 'best' or 'every', got {saving.save!r}")
    save_monitor = _Monitor("checkpoint", saving.monitor, saving.mode, has_val, recorded) if saving else None
    if saving is not None:
        _check_checkpoint_path(saving.path)
    if scheduler is not None and not callable(getattr(scheduler, "step", None)):
        raise TypeError(f"scheduler must be a learning-rate scheduler with step(), got {type(scheduler).__name__}")
    if val_batches is not None:  # a validation set that does not fit the model fails now, not after an epoch
        _evaluate_batches(backend, val_batches, loss_fn, metric_fns, threshold, "val_", first_only=True)

    rng = _seed_everything_for(model, seed)
    history = History()
    best_state, epochs_without_improvement = None, 0
    if resumed is not None:
        best_state, epochs_without_improvement = _resume(backend, optimizer, scheduler, (rng, train_batches.loader),
                                                         history, resumed, stop_monitor, save_monitor)
    batches_per_epoch = train_batches.n_batches()
    total = None if batches_per_epoch is None else (epochs - start) * batches_per_epoch
    bar = _progress_bar(progress, total, epochs, start)
    refresh = max(1, (batches_per_epoch or 50) // 10)
    try:
        for epoch in range(start + 1, epochs + 1):
            started = time.perf_counter()
            model.train()
            accumulator = _EpochAccumulator(backend, metric_fns, threshold)
            if bar is not None:
                bar.set_description(f"epoch {epoch}/{epochs}")
            for step, (x, y) in enumerate(train_batches.iterate(rng if shuffle else None), start=1):
                output, loss = backend.train_step(x, y, loss_fn, optimizer)
                accumulator.add(output, y, loss)
                if bar is not None:
                    bar.update(1)
                    if step % refresh == 0:
                        bar.set_postfix(loss=f"{accumulator.running_loss():.4f}", refresh=False)
            logs = accumulator.logs()
            if not np.isfinite(logs["loss"]):
                raise FloatingPointError(f"the training loss became {logs['loss']} in epoch {epoch}: lower the "
                                         "learning rate or check the inputs for NaN/inf")
            if val_batches is not None:
                logs.update(_evaluate_batches(backend, val_batches, loss_fn, metric_fns, threshold, "val_"))
            history._append(logs, time.perf_counter() - started)
            history.lr.append(_current_lr(optimizer))
            if scheduler is not None:
                if type(scheduler).__name__ == "ReduceLROnPlateau":
                    scheduler.step(logs["val_loss" if has_val else "loss"])
                else:
                    scheduler.step()
            if bar is not None:
                bar.set_postfix({key: f"{value:.4f}" for key, value in logs.items()}, refresh=True)

            # early stopping's bookkeeping comes first, so that a checkpoint of this epoch holds it
            if stopping is not None:
                if stop_monitor.improved(logs):
                    history.best_epoch = epoch
                    epochs_without_improvement = 0
                    if stopping.restore_best:
                        best_state = backend.state()
                else:
                    epochs_without_improvement += 1
                    if epochs_without_improvement >= stopping.patience:
                        history.stopped_epoch = epoch
            if saving is not None:
                better = save_monitor.improved(logs)
                if better and stopping is None:  # early stopping's monitor wins if both are set
                    history.best_epoch = epoch
                if saving.save == "every" or better:
                    record = _training_record(backend, optimizer, scheduler, (rng, train_batches.loader), history,
                                              epoch, stop_monitor, save_monitor, epochs_without_improvement,
                                              best_state)
                    save_training_checkpoint(model, str(saving.path).format(epoch=epoch), epoch=epoch, logs=logs,
                                             training_state=record)
            if history.stopped_epoch is not None:
                break
    except BaseException as error:  # an error, or an interrupt (Jupyter's stop button): keep what was learnt
        error.history = history
        if best_state is not None:
            backend.load_state(best_state)
            if isinstance(error, Exception) and error.args and isinstance(error.args[0], str):
                error.args = (error.args[0] + f" (the weights of epoch {history.best_epoch}, the best so far, "
                              "were restored)",) + error.args[1:]
        raise
    finally:
        if bar is not None:
            bar.close()
    if best_state is not None:
        backend.load_state(best_state)
    return history


# --- resuming a run --------------------------------------------------------------------------------
def _training_record(backend, optimizer, scheduler, order, history, epoch, stop_monitor, save_monitor,
                     epochs_without_improvement, best_state) -> Dict[str, Any]:
    """Everything besides the weights that the epochs after ``epoch`` depend on (see ``training_state``);
    ``order`` is ``(generator of the batch order, the training DataLoader or None)``."""
    torch_model = _is_torch_module(backend.model)
    if torch_model:  # saved on the CPU, whatever device the run uses
        best = None if best_state is None else {key: value.detach().cpu() for key, value in best_state.items()}
    else:
        best = best_state
    return {
        "version": records.VERSION,
        "epoch": int(epoch),
        "optimizer": records.plain(optimizer.state_dict(), f"the state of {type(optimizer).__name__}"),
        "scheduler": None if scheduler is None else {
            "kind": type(scheduler).__name__,
            "state": records.plain(scheduler.state_dict(), f"the state of {type(scheduler).__name__}")},
        "random": records.random_state(torch_model, *order),
        "history": history.to_dict(),
        "monitors": {"early_stopping": _monitor_state(stop_monitor), "checkpoint": _monitor_state(save_monitor)},
        "epochs_without_improvement": int(epochs_without_improvement),
        "best_state": best,
    }


def _read_resume(model, path, epochs: int, scheduler):
    """The checkpoint's weights and training state, refused before training if the run cannot go on from it."""
    state, _, record = _read_training_checkpoint(model, path)
    record = records.check_record(record, path)
    done = record["epoch"]
    if epochs <= done:
        raise ValueError(f"resume: {path} is the checkpoint of epoch {done}, so epochs={epochs} leaves nothing to "
                         f"train; epochs counts from the start of the run (epochs={done + 1} trains one more)")
    stopped = record["history"].get("stopped_epoch")
    if stopped is not None:
        raise ValueError(f"resume: the run of {path} ended by early stopping at epoch {stopped}; load its "
                         "weights with load_training_checkpoint to train them further")
    saved = record["scheduler"]
    if (saved is None) != (scheduler is None):
        raise ValueError(f"resume: the run of {path} " + (
            f"had no scheduler, but fit got {type(scheduler).__name__}: its position in the run is unknown"
            if saved is None else
            f"used a {saved['kind']} scheduler; pass one of the same kind (scheduler=) to go on with its rates"))
    if saved is not None and saved["kind"] != type(scheduler).__name__:
        raise ValueError(f"resume: the run of {path} used a {saved['kind']} scheduler, fit got "
                         f"{type(scheduler).__name__}")
    return state, record


def _resume(backend, optimizer, scheduler, order, history, resumed, stop_monitor, save_monitor):
    """Load what ``_read_resume`` read into the run; return early stopping's ``(best_state, counter)``.

    The optimiser's state is checked first: it is the part that can still be refused (another kind
    of optimiser, other parameter groups or shapes), and then nothing has been touched yet.
    """
    state, record = resumed
    check_optimizer_state("resume", record["optimizer"], optimizer)  # another kind, other groups or shapes
    optimizer.load_state_dict(record["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(record["scheduler"]["state"])
    backend.load_state(state)
    records.restore_random_state(record["random"], *order)
    saved = record["history"]
    history.train, history.val = copy.deepcopy(saved["train"]), copy.deepcopy(saved["val"])
    history.epoch_time, history.lr = list(saved["epoch_time"]), list(saved["lr"])
    history.best_epoch = saved["best_epoch"]
    same_stopping = _restore_monitor(stop_monitor, record["monitors"]["early_stopping"])
    _restore_monitor(save_monitor, record["monitors"]["checkpoint"])
    if not same_stopping:  # early stopping added, or watching something else: it starts afresh
        return None, 0
    return record["best_state"], record["epochs_without_improvement"]


def _monitor_state(monitor: Optional[_Monitor]) -> Optional[Dict[str, Any]]:
    return None if monitor is None else {"monitor": monitor.monitor, "mode": monitor.mode, "best": monitor.best}


def _restore_monitor(monitor: Optional[_Monitor], saved: Optional[Dict[str, Any]]) -> bool:
    """Take the saved best value if the monitor watches the same quantity the same way; True if it did."""
    if monitor is None or saved is None or (saved["monitor"], saved["mode"]) != (monitor.monitor, monitor.mode):
        return False
    monitor.best = saved["best"]
    return True


def _check_checkpoint_path(path) -> None:
    """A checkpoint path that cannot be written fails before training, not after the first epoch."""
    try:
        first = Path(str(path).format(epoch=1))
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(f"checkpoint path {str(path)!r} can use only {{epoch}} as a field to fill in ({error!r})") from None
    if first.is_dir():
        raise ValueError(f"checkpoint path {str(first)!r} is a folder; give a file name such as "
                         f"{str(first / 'best.pt')!r}")


def _evaluate_batches(backend, batches: _Batches, loss_fn, metric_fns, threshold, prefix: str,
                      first_only: bool = False) -> Dict[str, float]:
    model = backend.model
    was_training = model.training
    model.eval()
    try:
        accumulator = _EpochAccumulator(backend, metric_fns, threshold)
        for x, y in batches.iterate(None):
            output = backend.forward(x)
            loss = backend.loss_value(loss_fn, output, y) if loss_fn is not None else None
            accumulator.add(output, y, loss)
            if first_only:
                break
        return accumulator.logs(prefix, with_loss=loss_fn is not None)
    finally:
        model.train(was_training)


def evaluate(model, data, *, loss_fn=None, metrics: Union[str, Sequence[MetricSpec], None] = "auto",
             batch_size: int = 256, device: str = "auto") -> Dict[str, float]:
    """Loss (if ``loss_fn`` is given) and metrics of ``model`` on ``data``, in eval mode, without gradients.

    ``data`` is ``(x, y)`` or a DataLoader, as in :func:`fit`; returns e.g.
    ``{'loss': 0.31, 'accuracy': 0.89}``.  The model's train/eval mode is restored afterwards.
    """
    batch_size = positive_int("batch_size", batch_size)
    metric_fns = _resolve_metrics(metrics, loss_fn)
    if loss_fn is None and not metric_fns:
        raise ValueError("evaluate needs a loss_fn or at least one metric")
    with _backend_for(model, device, loss_fn) as backend:
        _check_pairing(model, loss_fn, None)
        batches = _Batches("data", data, backend, batch_size)
        return _evaluate_batches(backend, batches, loss_fn, metric_fns, _threshold_for(loss_fn, model), "")


def predict(model, x, *, batch_size: int = 256, device: str = "auto") -> np.ndarray:
    """The model's outputs for every row of ``x`` as one NumPy array (eval mode, no gradients).

    ``x`` is an array, a tensor or a DataLoader (the first element of each batch is used).
    Outputs are raw (logits for classifiers): take ``.argmax(axis=1)`` for classes.
    """
    batch_size = positive_int("batch_size", batch_size)
    if isinstance(x, tuple) and len(x) == 2 and not _looks_like_batch_list(list(x)) and \
            all(isinstance(part, np.ndarray) or _is_tensor(part) for part in x) and len(x[0]) == len(x[1]) > 2:
        raise TypeError("predict takes the inputs x only, got a tuple (x, y); use evaluate(model, (x, y)) for "
                        "the loss and metrics")
    with _backend_for(model, device) as backend:
        was_training = model.training
        model.eval()
        outputs = []
        try:
            if _is_loader(x) and not isinstance(x, (list, tuple)):
                batches: Iterable = (batch[0] if isinstance(batch, (tuple, list)) else batch for batch in x)
            else:
                _check_array("x", x)
                full = backend.as_full(x)
                if len(full) == 0:
                    raise ValueError("predict got an empty x")
                batches = (full[start:start + batch_size] for start in range(0, len(full), batch_size))
            for batch in batches:
                outputs.append(backend.to_host(backend.forward(backend.to_device_x(batch))))
        finally:
            model.train(was_training)
    return np.concatenate(outputs)


__all__ = ["fit", "evaluate", "predict", "History", "EarlyStopping", "Checkpoint", "NAMED_METRICS",
           "save_training_checkpoint", "load_training_checkpoint"]

"""The two sides ``fit`` trains: a PyTorch ``nn.Module`` or a scratch ``course_lib.scratch.Module``.

Torch is imported only when a torch model or tensor is seen, so scratch-only code never loads it.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, Optional

import numpy as np

from ..checks import host_array
from ..scratch.module import Module as ScratchModule


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
    return host_array(value)


# Each backend answers the same questions — move a batch, take one training step, run a
# forward pass, turn outputs into labels, copy/restore weights — for its side.
# A backend is a context manager: it moves what it needs onto its device on creation and puts
# everything back when the call that created it ends.
class _TorchBackend:
    def __init__(self, model, device, loss_fn=None, optimizer=None):
        from ..pytorch.device import select_device

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
        # torch's optimisers, and one of the user's own that keeps torch's layout (param_groups, state)
        self.optimizer = optimizer if _keeps_torch_state(optimizer) else None
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
        output = self._model_on(x)
        _check_target_shape(loss_fn, output, y)
        _check_class_targets(loss_fn, output, y)
        loss = loss_fn(output, y)
        if not _is_tensor(loss):
            raise TypeError(f"loss_fn returned {type(loss).__name__}, not a tensor: a torch model needs a torch "
                            "loss such as torch.nn.CrossEntropyLoss()")
        loss.backward()
        optimizer.step()
        return output.detach(), loss.detach()

    def _model_on(self, x):
        """``model(x)``, where torch's "mat1 and mat2 must have the same dtype" for integer inputs is
        said in the words the scratch side uses."""
        try:
            return self.model(x)
        except RuntimeError as error:
            if x.is_floating_point() or x.dtype == self.torch.bool:
                raise
            raise TypeError(f"the inputs are {x.dtype} and the model could not take them ({error}); a model "
                            "takes floats unless it embeds token ids: convert with x.astype(np.float32)") from error

    def forward(self, x):
        with self.torch.no_grad():
            return self._model_on(x)

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
        return host_array(value)  # a bfloat16 output as float32: NumPy has no bfloat16

    def concat(self, values):
        return self.torch.cat(values) if values else None

    def state(self) -> Dict[str, Any]:
        return {key: value.detach().clone() for key, value in self.model.state_dict().items()}

    def load_state(self, state) -> None:
        self.model.load_state_dict(state)


class _ScratchBackend:
    def __init__(self, model, device):
        text = "auto" if device is None else str(device).strip().lower()  # torch.device("cpu") prints as cpu
        if text != "auto" and text.split(":")[0] != "cpu":
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


def _keeps_torch_state(optimizer) -> bool:
    """Whether ``optimizer`` keeps its state as torch's do: ``param_groups`` of dicts with "params", and
    ``state`` mapping each parameter to a dict of values (a duck-typed optimiser of the user's own may)."""
    groups, state = getattr(optimizer, "param_groups", None), getattr(optimizer, "state", None)
    return (isinstance(state, Mapping) and isinstance(groups, (list, tuple))
            and all(isinstance(group, Mapping) and "params" in group for group in groups))


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
        if not (isinstance(state, Mapping) and _is_tensor(param)):
            continue
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


#: torch's functional losses, as the classes they compute
_FUNCTIONAL_LOSSES = {"mse_loss": "MSELoss", "l1_loss": "L1Loss", "smooth_l1_loss": "SmoothL1Loss",
                      "huber_loss": "HuberLoss", "gaussian_nll_loss": "GaussianNLLLoss",
                      "binary_cross_entropy": "BCELoss", "binary_cross_entropy_with_logits": "BCEWithLogitsLoss",
                      "cross_entropy": "CrossEntropyLoss", "nll_loss": "NLLLoss"}
_LOSS_CLASSES = frozenset(_FUNCTIONAL_LOSSES.values())


def kind_of(obj, names) -> Optional[str]:
    """The first of ``names`` in the class hierarchy of ``obj``: a subclass of torch's (or the scratch)
    ``BCELoss`` is a ``BCELoss`` here too, as is one of ``ReduceLROnPlateau`` (comparing the class's own
    name took such subclasses for something else)."""
    return next((cls.__name__ for cls in type(obj).__mro__ if cls.__name__ in names), None)


def loss_kind(loss_fn) -> Optional[str]:
    """The loss class ``loss_fn`` is, or computes: "BCELoss" for torch's BCELoss, a subclass of it, the
    scratch one, or ``torch.nn.functional.binary_cross_entropy`` (also inside functools.partial)."""
    function = getattr(loss_fn, "func", loss_fn)
    if type(function).__name__ in ("function", "builtin_function_or_method"):
        return _FUNCTIONAL_LOSSES.get(getattr(function, "__name__", ""))
    return kind_of(loss_fn, _LOSS_CLASSES)


# --- checks of the targets against the outputs ----------------------------------------------------
#: torch's losses that broadcast a target of another shape against the output (with only a warning)
_BROADCASTING_LOSSES = ("MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss")


def _check_target_shape(loss_fn, output, y) -> None:
    """A regression target of shape (N,) against an (N, 1) output would be broadcast into an
    (N, N) grid of differences by torch's MSELoss and the like: a wrong loss, with only a warning."""
    kind = loss_kind(loss_fn)
    if kind in _BROADCASTING_LOSSES and tuple(output.shape) != tuple(y.shape):
        raise ValueError(
            f"{kind}: the targets have shape {tuple(y.shape)} but the model's outputs "
            f"{tuple(output.shape)}; they would be broadcast against each other instead of compared entry by "
            f"entry — reshape the targets (e.g. y[:, None] or y.reshape(-1, 1)) to the outputs' shape")


def _check_class_targets(loss_fn, output, y) -> None:
    """Class-index targets for CrossEntropyLoss / NLLLoss must be (N,) when the outputs are (N, K),
    integers, and classes of the outputs (0 … K − 1, or the loss's ignore_index): a float (N,) target is
    neither class indices nor (N, K) probabilities, and an index out of range is torch's IndexError on
    the CPU and, on a GPU, a device-side assert that leaves the GPU unusable.  BCE losses take float
    targets (0/1 labels as integers raised torch's "result type Float can't be cast")."""
    kind = loss_kind(loss_fn)
    if kind in ("BCELoss", "BCEWithLogitsLoss") and not y.is_floating_point():
        raise TypeError(f"{kind}: the targets are {str(y.dtype).replace('torch.', '')}, but a binary cross-entropy "
                        "takes float targets (0.0 and 1.0, or probabilities): convert with y.astype(np.float32)")
    if kind not in ("CrossEntropyLoss", "NLLLoss"):
        return
    if y.is_floating_point() and output.ndim == 2 and tuple(y.shape) == (output.shape[0],):
        raise TypeError(f"{kind}: class-index targets must be integers, got floats (or booleans): "
                        "convert with y.astype(np.int64); float targets are class probabilities of the outputs' "
                        f"shape {tuple(output.shape)}")
    if y.is_floating_point():  # class probabilities: no indices to check
        return
    if output.ndim == 2 and tuple(y.shape) != (output.shape[0],):
        raise ValueError(f"{kind}: class-index targets must have shape ({output.shape[0]},), one "
                         f"class per sample, got {tuple(y.shape)}" +
                         (" — flatten them, y.reshape(-1)" if y.numel() == output.shape[0] else ""))
    if output.ndim >= 2 and y.numel():
        classes = output.shape[1]
        # a loss object's ignore_index, or one given to functools.partial(F.cross_entropy, ignore_index=…)
        ignored = getattr(loss_fn, "ignore_index", None)
        if ignored is None:
            ignored = (getattr(loss_fn, "keywords", None) or {}).get("ignore_index", -100)
        outside = ((y < 0) | (y >= classes)) & (y != ignored)
        if bool(outside.any()):  # one wait for a GPU per batch; the details only for the error
            counted = y[y != ignored]
            low, high = int(counted.min()), int(counted.max())
            raise ValueError(f"{kind}: a target is class {low if low < 0 else high}, but the outputs have {classes} "
                             f"classes (valid indices are 0 … {classes - 1}); are the labels numbered from 1, or is "
                             "the last layer too narrow?")

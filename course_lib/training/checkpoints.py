"""Checkpoint files written by ``fit(..., checkpoint=...)``: the weights, the epoch and its logs, and
the training state that ``fit(..., resume=path)`` reads (see ``state.py``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np

from ..files import why_not_writable, write_atomically
from ..scratch.module import Module as ScratchModule
from . import state as records
from .backends import _is_torch_module, _torch


def save_training_checkpoint(model, path: Union[str, Path], *, epoch: int, logs: Dict[str, float],
                             training_state: Optional[Dict[str, Any]] = None) -> Path:
    """Write the model's weights with the epoch and its logs (see :class:`Checkpoint`).

    ``fit`` also passes its ``training_state`` (``course_lib.training.state``): the optimiser,
    the scheduler, the generators and the History so far, which ``fit(..., resume=path)`` reads.
    """
    logs = {key: float(value) for key, value in logs.items()}
    if _is_torch_module(model):
        torch = _torch()
        if isinstance(getattr(model, "config", None), dict):
            from ..deploy import save_checkpoint

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
        except Exception as error:  # noqa: BLE001 - a cut file (BadZipFile, EOFError), a .npy (TypeError), …
            raise ValueError(f"{path} is not a scratch checkpoint written by fit "
                             f"({type(error).__name__}: {error})") from None
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
    from ..deploy import state_dict_mismatches

    problems = state_dict_mismatches(model.state_dict(), state)
    if problems:
        raise ValueError(f"{path} holds the weights of another model; nothing was loaded ({'; '.join(problems)})")


def _check_checkpoint_path(path) -> None:
    """A checkpoint path that cannot be written fails before training, not after the first epoch."""
    try:
        first = Path(str(path).format(epoch=1))
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(f"checkpoint path {str(path)!r} can use only {{epoch}} as a field to fill in ({error!r})") from None
    if first.is_dir():
        raise ValueError(f"checkpoint path {str(first)!r} is a folder; give a file name such as "
                         f"{str(first / 'best.pt')!r}")
    problem = why_not_writable(first)  # the folder is made on the first save
    if problem:
        raise ValueError(f"checkpoint path {str(first)!r} cannot be written: {problem}")

"""Going on with a run from one of its checkpoints: what ``fit`` saves besides the weights, and how it is
read back and checked before the first step."""
from __future__ import annotations

import copy
from typing import Any, Dict

from ..interop import check_optimizer_state
from . import state as records
from .backends import _is_torch_module
from .callbacks import _monitor_state, _restore_monitor
from .checkpoints import _read_training_checkpoint


def _training_record(backend, optimizer, scheduler, order, history, epoch, stop_monitor, save_monitor,
                     epochs_without_improvement, best_state) -> Dict[str, Any]:
    """Everything besides the weights that the epochs after ``epoch`` depend on (see ``state.py``);
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
    # the best epoch is the resumed run's monitor's; a run that goes on without one has none (as the
    # uninterrupted run without early stopping or a checkpoint would)
    history.best_epoch = saved["best_epoch"] if stop_monitor is not None or save_monitor is not None else None
    same_stopping = _restore_monitor(stop_monitor, record["monitors"]["early_stopping"])
    _restore_monitor(save_monitor, record["monitors"]["checkpoint"])
    if not same_stopping:  # early stopping added, or watching something else: it starts afresh
        return None, 0
    return record["best_state"], record["epochs_without_improvement"]

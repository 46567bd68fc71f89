"""``fit``, ``evaluate`` and ``predict``: the training loop and its two companions (see ``__init__.py``)."""
from __future__ import annotations

import sys
import time
from typing import Dict, Iterable, Optional, Sequence, Union

import numpy as np

from ..checks import is_seed, positive_int
from ..scratch.module import Module as ScratchModule
from .backends import _backend_for, _is_tensor, _is_torch_module, _torch, kind_of
from .batches import _Batches, _check_array, _is_loader, _looks_like_batch_list
from .callbacks import Checkpoint, EarlyStopping, _as_config, _Monitor
from .checkpoints import _check_checkpoint_path, save_training_checkpoint
from .epoch_metrics import MetricSpec, _EpochAccumulator, _resolve_metrics, _threshold_for
from .history import History
from .resume import _read_resume, _resume, _training_record
from .state import loader_generators


def _check_pairing(model, loss_fn, optimizer) -> None:
    """Catch a torch piece used with a scratch model (or the reverse) before the first batch."""
    torch_model = _is_torch_module(model)
    if optimizer is not None:
        if not (hasattr(optimizer, "step") and hasattr(optimizer, "zero_grad")):
            raise TypeError(f"optimizer must have step() and zero_grad(), got {type(optimizer).__name__}")
        if torch_model != _is_torch_optimizer(optimizer):
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


def _is_torch_optimizer(optimizer) -> bool:
    """torch.optim's (a subclass a notebook defines too), else by the parameters it holds, else by its
    module: a student's own optimizer class lives in ``__main__`` (the module name alone refused a
    ``torch.optim.Optimizer`` subclass for a torch model)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(optimizer, torch.optim.Optimizer):
        return True
    from ..scratch.optim import Optimizer as ScratchOptimizer

    if isinstance(optimizer, ScratchOptimizer):
        return False
    held = [p for group in getattr(optimizer, "param_groups", None) or [] for p in group.get("params", [])]
    return _is_tensor(held[0]) if held else "torch" in type(optimizer).__module__


def _modes(model) -> list:
    """Every submodule with its train/eval mode, for ``_restore_modes`` (a BatchNorm a user froze with
    ``.eval()`` inside a model in train mode stays frozen after evaluate and predict)."""
    return [(module, module.training) for module in model.modules()]


def _restore_modes(modes) -> None:
    for module, training in modes:
        object.__setattr__(module, "training", training)


def _current_lr(optimizer) -> float:
    groups = getattr(optimizer, "param_groups", None)
    return float(groups[0]["lr"]) if groups else float("nan")


_DROPOUT_STREAM = 1  # the spawn key of fit's scratch dropout stream (see _seed_everything_for)


def _seed_everything_for(model, seed: Optional[int]) -> Optional[np.random.Generator]:
    if seed is None:
        return np.random.default_rng()
    if _is_torch_module(model) or "torch" in sys.modules:
        # dropout masks and other torch randomness; for a scratch model, the shuffling of a DataLoader
        # that feeds it (torch 2.13 starts every process from a random seed)
        _torch().manual_seed(seed)
    if not _is_torch_module(model):
        from ..scratch import init

        # scratch Dropout draws from this generator, in a stream of its own: seed_everything(seed) made
        # init.manual_seed(seed) draw the initial weights, and the same stream again made the first
        # dropout masks keep exactly the weights that came out positive
        init.manual_seed(np.random.SeedSequence(seed, spawn_key=(_DROPOUT_STREAM,)))
    return np.random.default_rng(seed)


def _progress_bar(progress: bool, total: Optional[int], epochs: int, start: int = 0):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="batch", desc=f"epoch {start + 1}/{epochs}", leave=True, dynamic_ncols=True)


def fit(model, train_data, *, loss_fn, optimizer, epochs: int, batch_size: int = 64, val_data=None,
        metrics: Union[str, Sequence[MetricSpec], None] = "auto", early_stopping=None, checkpoint=None,
        seed: Optional[int] = 0, device: str = "auto", progress: bool = True, shuffle: bool = True,
        scheduler=None, resume=None, drop_last: bool = False) -> History:
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
    - ``seed``: batch order (and torch / scratch random state, a DataLoader's own generator too);
      None = not reproducible.  NumPy's and Python's global generators are not seeded (a dataset
      that draws from them: ``seed_everything`` first); a checkpoint keeps their states, so a
      resumed run goes on with them exactly.  The same seed gives the same numbers bit for bit
      with the same thread count: BLAS and PyTorch split sums across threads, so 1 and 2
      threads round differently in the last bits (the book builds on one thread).
    - ``device``: ``"auto"``, ``"cpu"``, ``"cuda"`` (torch models; scratch models use the CPU).
      Training runs there; afterwards the model and the optimiser's state are back where they
      were (see the module's docstring), with the trained weights.
    - ``progress``: a ``tqdm.auto`` bar over all batches, showing the running loss.
    - ``shuffle``: reshuffle the training set every epoch.
    - The model trains in train mode (dropout active) and is validated in eval mode; a submodule in
      eval mode inside a model in train mode when ``fit`` starts (a BatchNorm frozen for fine-tuning)
      stays in eval mode.
    - ``drop_last``: leave out each epoch's last mini-batch when it is smaller than ``batch_size``
      (torch's ``DataLoader(drop_last=True)``): a last batch of one sample cannot train a model with
      ``BatchNorm1d``, which needs two samples to normalise over.  Not for a DataLoader (its own).
    - ``scheduler``: a learning-rate scheduler (torch's or ``course_lib.scratch.lr_scheduler``'s)
      stepped once after every epoch; ``ReduceLROnPlateau`` is given the epoch's ``val_loss``
      (``loss`` without validation data).
    - ``resume``: a checkpoint written by this function (``checkpoint=``; ``save='every'``
      writes one per epoch): the weights, the optimiser's and scheduler's state, the generators of
      the batch order (a DataLoader's own ``generator`` too) and of dropout, the History so far and early stopping's counters are read
      back, and training goes on from the epoch after the checkpoint's to ``epochs`` (counted
      from the start, as Keras's ``initial_epoch``).  The result is the run that never
      stopped: the same weights, and a History of all the epochs.  Pass the same kind of
      optimiser (and scheduler, if the run had one) as the run used; ``seed`` is not used.  Not
      kept: the random state inside a DataLoader's worker processes, which with
      ``persistent_workers=True`` carries over from epoch to epoch (augmentation that draws
      random numbers there resumes differently; without persistent workers it is exact).

    Arguments that cannot work (a validation set the model cannot take, a checkpoint path that
    cannot be written, a generator needed for several passes) fail before the first step.  If
    training itself fails or is interrupted, the History so far is the exception's ``history``
    attribute, and with early stopping's ``restore_best`` the best weights are restored first.
    """
    epochs = positive_int("epochs", epochs)
    batch_size = positive_int("batch_size", batch_size)
    if seed is not None and not is_seed(seed):  # checked before torch is reseeded
        raise ValueError(f"seed must be None or an integer from 0 to 2**32 - 1, got {seed!r}")
    if loss_fn is None or optimizer is None:
        missing = " and ".join(name for name, value in (("loss_fn", loss_fn), ("optimizer", optimizer)) if value is None)
        raise TypeError(f"fit needs both loss_fn and optimizer; {missing} {'is' if ' and ' not in missing else 'are'} "
                        "missing")
    with _backend_for(model, device, loss_fn, optimizer) as backend:
        _check_pairing(model, loss_fn, optimizer)
        return _fit(backend, train_data, loss_fn=loss_fn, optimizer=optimizer, epochs=epochs, batch_size=batch_size,
                    val_data=val_data, metrics=metrics, early_stopping=early_stopping, checkpoint=checkpoint,
                    seed=seed, progress=progress, shuffle=shuffle, scheduler=scheduler, resume=resume,
                    drop_last=bool(drop_last))


def _fit(backend, train_data, *, loss_fn, optimizer, epochs, batch_size, val_data, metrics, early_stopping,
         checkpoint, seed, progress, shuffle, scheduler, resume, drop_last) -> History:
    """fit's loop, on a backend that already holds the model on its device."""
    model = backend.model
    metric_fns = _resolve_metrics(metrics, loss_fn)
    threshold = _threshold_for(loss_fn, model)
    resumed = _read_resume(model, resume, epochs, scheduler) if resume is not None else None
    start = 0 if resumed is None else resumed[1]["epoch"]
    train_batches = _Batches("train_data", train_data, backend, batch_size, passes=epochs - start,
                             drop_last=drop_last)
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
    # submodules a user put in eval mode inside a model in train mode (a BatchNorm frozen for fine-tuning)
    # stay in eval mode: model.train() each epoch would otherwise update its running statistics
    frozen = [module for module in model.modules() if not module.training] if model.training else []
    if seed is not None:  # a DataLoader with its own generator shuffles by it, not by torch's global one
        for generator in loader_generators(train_batches.loader):
            generator.manual_seed(seed)
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
            for module in frozen:
                module.eval()
            accumulator = _EpochAccumulator(backend, metric_fns, threshold)
            if bar is not None:
                bar.set_description(f"epoch {epoch}/{epochs}")
            for step, (x, y) in enumerate(train_batches.iterate(rng if shuffle else None), start=1):
                try:
                    output, loss = backend.train_step(x, y, loss_fn, optimizer)
                except ValueError as error:
                    _explain_a_batch_of_one(error, len(y), train_batches)
                    raise
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
                if kind_of(scheduler, {"ReduceLROnPlateau"}):
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


def _explain_a_batch_of_one(error: ValueError, size: int, batches: _Batches) -> None:
    """Add to ``error`` (torch's or the scratch BatchNorm's "more than 1 value per channel") that the
    batch was an epoch's last, of one sample, and how to avoid it."""
    if size == 1 and batches.loader is None and batches.batch_size > 1 and error.args \
            and isinstance(error.args[0], str):  # a DataLoader's batches are its own
        error.args = (error.args[0] + f" — this mini-batch held one sample: the last of the epoch, as "
                      f"{batches.n_samples} samples are one more than a multiple of batch_size={batches.batch_size}; "
                      "pass drop_last=True or another batch_size",) + error.args[1:]


def _evaluate_batches(backend, batches: _Batches, loss_fn, metric_fns, threshold, prefix: str,
                      first_only: bool = False) -> Dict[str, float]:
    model = backend.model
    modes = _modes(model)
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
        _restore_modes(modes)


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
        modes = _modes(model)
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
            _restore_modes(modes)
    return np.concatenate(outputs)

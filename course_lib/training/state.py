"""What ``fit`` keeps in a checkpoint besides the weights, so that ``fit(..., resume=path)`` goes on exactly.

A run is more than its weights: the optimiser's state (momentum buffers, Adam's moving averages
and step count), the scheduler's position, the generators that order the batches and draw
dropout masks, the History so far and the counters of early stopping.  ``fit`` writes all of it
into every checkpoint as one *training state* record; resuming from the checkpoint of epoch k
then trains epochs k + 1, k + 2, … on exactly the numbers an uninterrupted run would have had.

Torch checkpoints hold the record as it is (``torch.save`` stores tensors, numbers, strings and
containers, and ``torch.load(weights_only=True)`` reads them back).  Scratch checkpoints are
``.npz`` archives, which hold arrays only: ``pack`` turns the record into a JSON skeleton plus
numbered arrays, and ``unpack`` reverses it (keys stay ints or strings, tuples stay tuples).
"""
from __future__ import annotations

import json
import random
import sys
from collections import Counter
from typing import Any, Dict, List, Optional

import numpy as np

#: the version of the record's layout; a checkpoint with another one is refused, not misread
VERSION = 1
_ARRAY, _TUPLE, _DICT, _COUNTER = "__array__", "__tuple__", "__dict__", "__counter__"


def loader_generators(loader) -> List[Any]:
    """The ``torch.Generator`` objects a DataLoader shuffles with when it was given its own
    (``DataLoader(..., generator=g)``, or a sampler made with one); without one it draws from
    torch's global generator, which ``random_state`` keeps anyway."""
    found: List[Any] = []
    # a stock DataLoader holds it in batch_sampler.sampler (a RandomSampler, given the loader's
    # generator); the other places are where custom loaders and batch samplers keep theirs
    batch_sampler = getattr(loader, "batch_sampler", None)
    for owner in (loader, getattr(loader, "sampler", None), batch_sampler, getattr(batch_sampler, "sampler", None)):
        generator = getattr(owner, "generator", None)
        if callable(getattr(generator, "get_state", None)) and all(generator is not other for other in found):
            found.append(generator)
    return found


def random_state(model_is_torch: bool, batch_order: np.random.Generator, loader=None) -> Dict[str, Any]:
    """The states of every generator a training epoch draws from (``loader``: the training DataLoader).

    torch's generators are kept whenever torch is loaded, for a scratch model too: a DataLoader
    feeding it shuffles with torch's global generator.  Their states are byte tensors, stored as
    arrays in a scratch model's ``.npz`` checkpoint.
    """
    state: Dict[str, Any] = {"batch_order": batch_order.bit_generator.state, "global": _global_states()}
    torch = sys.modules.get("torch")  # never imported here for a scratch model trained on arrays

    def kept(tensor):
        return tensor if model_is_torch else tensor.numpy()

    if torch is not None:
        state["torch"] = kept(torch.get_rng_state())  # dropout on the CPU, DataLoader shuffling
        generators = loader_generators(loader) if loader is not None else []
        if generators:
            state["loader"] = [kept(generator.get_state()) for generator in generators]
        if model_is_torch and torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()  # dropout on GPUs
    if not model_is_torch:
        from ..scratch import init

        state["scratch"] = init.generator().bit_generator.state  # scratch Dropout
    return state


def _global_states() -> Dict[str, Any]:
    """NumPy's and Python's global generators (a dataset may draw from them: ``fit`` does not seed
    them, but a resumed run must go on where they were), as plain numbers and lists."""
    name, keys, position, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {"numpy": [name, keys.tolist(), int(position), int(has_gauss), float(gauss)],
            "python": [int(version), list(internal), gauss_next]}


def restore_random_state(saved: Dict[str, Any], batch_order: np.random.Generator, loader=None) -> None:
    """Put every generator back where ``random_state`` found it."""
    batch_order.bit_generator.state = saved["batch_order"]
    if "global" in saved:  # checkpoints of earlier sessions have none
        name, keys, position, has_gauss, gauss = saved["global"]["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), position, has_gauss, gauss))
        version, internal, gauss_next = saved["global"]["python"]
        random.setstate((version, tuple(internal), gauss_next))
    if "torch" in saved:
        import torch

        torch.set_rng_state(torch.as_tensor(saved["torch"]))
        for generator, state in zip(loader_generators(loader) if loader is not None else [], saved.get("loader", [])):
            generator.set_state(torch.as_tensor(state))
        if "cuda" in saved and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(saved["cuda"][:torch.cuda.device_count()])
    if "scratch" in saved:
        from ..scratch import init

        init.generator().bit_generator.state = saved["scratch"]


def plain(value, where: str = "the training state"):
    """``value`` with NumPy scalars as Python numbers, containers rebuilt, arrays kept and tensors
    on the CPU.

    ``torch.load(weights_only=True)`` reads back tensors, numbers, strings and containers only, so
    a NumPy float left in an optimiser's group (``lr=np.float64(0.1)``) would make the checkpoint
    unreadable, and only when the run is resumed.  Anything else (a function, an object) is
    refused now, naming where it sits.  An optimiser's state on a GPU (Adam's averages) is saved
    from the CPU like the weights, so that a plain ``torch.load`` on a machine without one reads
    the file; ``Optimizer.load_state_dict`` puts it back on each parameter's device.
    """
    if isinstance(value, np.ndarray):
        return value
    if any(kind.__module__.startswith("torch") for kind in type(value).__mro__):  # a tensor (of any subclass),
        return value.detach().cpu() if hasattr(value, "detach") else value      # a torch.dtype, torch.device
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        items = {plain(key, where): plain(item, f"{where}[{key!r}]") for key, item in value.items()}
        # a Counter stays one: torch's MultiStepLR calls its elements() at a SequentialLR's milestone
        return Counter(items) if isinstance(value, Counter) else items
    if isinstance(value, (list, tuple)):
        items = [plain(item, f"{where}[{index}]") for index, item in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    if value is None or type(value) in (bool, int, float, str):
        return value
    raise TypeError(f"fit cannot checkpoint {where}: it holds a {type(value).__name__} ({value!r:.80}), which a "
                    "checkpoint cannot store safely (tensors, arrays, numbers, strings and containers only)")


def pack(record: Dict[str, Any]) -> Dict[str, np.ndarray]:
    """The record as arrays for ``np.savez``: ``skeleton`` (JSON) and ``0``, ``1``, … for its arrays."""
    arrays: List[np.ndarray] = []

    def encode(value):
        if isinstance(value, np.ndarray):
            arrays.append(value)
            return {_ARRAY: len(arrays) - 1}
        if isinstance(value, dict):
            tag = _COUNTER if isinstance(value, Counter) else _DICT
            return {tag: [[encode(key), encode(item)] for key, item in value.items()]}
        if isinstance(value, tuple):
            return {_TUPLE: [encode(item) for item in value]}
        if isinstance(value, list):
            return [encode(item) for item in value]
        if isinstance(value, np.generic):
            return value.item()
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(f"a scratch training state cannot hold a {type(value).__name__} ({value!r})")

    skeleton = json.dumps(encode(record))
    return {"skeleton": np.array(skeleton), **{str(index): array for index, array in enumerate(arrays)}}


def unpack(arrays: Dict[str, np.ndarray]) -> Dict[str, Any]:
    """The record ``pack`` stored (``arrays`` maps the same names to the arrays read back)."""

    def decode(value):
        if isinstance(value, list):
            return [decode(item) for item in value]
        if isinstance(value, dict):
            if _ARRAY in value:
                return arrays[str(value[_ARRAY])]
            if _TUPLE in value:
                return tuple(decode(item) for item in value[_TUPLE])
            if _COUNTER in value:
                return Counter({decode(key): decode(item) for key, item in value[_COUNTER]})
            return {decode(key): decode(item) for key, item in value[_DICT]}
        return value

    return decode(json.loads(str(arrays["skeleton"])))


def check_record(record: Optional[Dict[str, Any]], path) -> Dict[str, Any]:
    """The record, or a clear error for a checkpoint that holds weights only or another layout."""
    if record is None:
        raise ValueError(f"{path} holds weights only, no training state (it was not written by fit's checkpoint, "
                         "or by a course_lib before fit could resume): load the weights with "
                         "load_training_checkpoint and train on with a fresh optimiser")
    if not isinstance(record, dict) or record.get("version") != VERSION:
        version = record.get("version") if isinstance(record, dict) else None
        raise ValueError(f"{path} holds a training state of layout version {version}; this course_lib reads "
                         f"version {VERSION}")
    return record


__all__ = ["VERSION", "loader_generators", "random_state", "restore_random_state", "plain", "pack", "unpack", "check_record"]

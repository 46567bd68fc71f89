"""Timed training in a fresh process: ``python -m bench.training_worker TASK SIDE [--quick] [--serve]``.

Without ``--serve`` it times the whole run at once and prints one JSON line.  With ``--serve``
(what ``bench/training.py`` uses) it sets up, prints ``{"ready": …}`` and then times the
mini-batches it is asked for, one chunk per line ``run START STOP`` on stdin, answering each with
``{"seconds": …}``; ``end`` (or the end of stdin) prints the final record.  So the parent can
alternate chunks of the two sides' runs — each side in its own process, memory measured alike —
and both meet the same stretches of a shared machine's speed.

The final record holds the seconds of the timed steps, and how far the process's resident memory
rose above its level after set-up (the peak is reset through ``/proc/self/clear_refs`` and
read back as ``VmHWM``), which measures NumPy and PyTorch alike — tracemalloc cannot see
torch's allocator.

Set-up ends with one step on a batch of two images: libraries load their kernels and thread
pools, the optimiser creates its state.  What the peak then adds is what training at batch 64
needs (activations, gradients, temporaries).  A full-size warm-up step runs after the reset,
so it counts for memory but not for time; measuring from after it instead would count only
whatever the allocator happens not to reuse (a few MB of noise either way).
"""
from __future__ import annotations

import argparse
import json
import sys
from time import perf_counter

import numpy as np

BATCH = 64


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # reported in kB
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak_rss() -> int:
    """Forget the peak reached during set-up (Linux ≥ 4.0) and return the current RSS."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    return _status_bytes("VmRSS")


def _batches(n_examples: int, n_batches: int, seed: int = 0):
    order = np.random.default_rng(seed).permutation(n_examples)
    for index in range(n_batches):
        start = (index * BATCH) % (n_examples - BATCH)
        yield order[start:start + BATCH]


def _data(task: str, quick: bool):
    from course_lib.data import load_fashion_mnist, to_float_images

    images, labels = load_fashion_mnist("train")
    if quick:
        images, labels = images[:2048], labels[:2048]
    x = to_float_images(images)  # (N, 1, 28, 28) float32 in [0, 1]
    if task == "mlp":
        x = x.reshape(len(x), -1)
    return np.ascontiguousarray(x), labels.astype(np.int64)


def _numpy_step_fn(task: str):
    from course_lib import scratch
    from course_lib.scratch.models import CNN, MLP

    scratch.init.manual_seed(0)
    if task == "mlp":
        model = MLP([784, 128, 10])
        model.layers[0].requires_input_grad = False  # as in torch: the input needs no gradient
        optimizer = scratch.SGD(model.parameters(), lr=0.05, momentum=0.9)
    else:
        model = CNN()
        # torch computes no dL/d(image) for an input that does not require grad; same work here
        model.features[0].requires_input_grad = False
        optimizer = scratch.RMSprop(model.parameters(), lr=1e-3)
    loss_fn = scratch.CrossEntropyLoss()

    def step(x, y):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        model.backward(loss_fn.backward())
        optimizer.step()
        return float(loss)

    return step


def _torch_step_fn(task: str):
    import torch

    from course_lib.pytorch.models import CNN, MLP

    torch.manual_seed(0)
    if task == "mlp":
        model = MLP([784, 128, 10])
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    else:
        model = CNN()
        optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(x, y):
        optimizer.zero_grad()
        loss = loss_fn(model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("task", choices=["mlp", "cnn"])
    parser.add_argument("side", choices=["numpy", "torch"])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", action="store_true", help="time the chunks asked for on stdin")
    args = parser.parse_args()
    if args.side == "torch":
        import os

        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    x, y = _data(args.task, args.quick)
    step = (_numpy_step_fn if args.side == "numpy" else _torch_step_fn)(args.task)
    n_batches = (len(x) // BATCH) if args.task == "mlp" else (20 if args.quick else 200)
    warm = next(_batches(len(x), 1, seed=99))
    step(x[warm[:2]], y[warm[:2]])
    baseline = _reset_peak_rss()
    step(x[warm], y[warm])
    order = list(_batches(len(x), n_batches))
    losses = []

    def timed(start: int, stop: int) -> float:
        begin = perf_counter()
        losses.extend(step(x[index], y[index]) for index in order[start:stop])
        return perf_counter() - begin

    seconds = _serve(timed, n_batches) if args.serve else timed(0, n_batches)
    _say({"seconds": seconds, "peak_growth_bytes": _status_bytes("VmHWM") - baseline,
          "batches": n_batches, "first_loss": losses[0], "last_loss": losses[-1]})


def _serve(timed, n_batches: int) -> float:
    """Answers each ``run START STOP`` on stdin with the seconds ``timed(START, STOP)`` took, until
    ``end``; the chunks must cover the mini-batches 0…n_batches in order.  Returns their sum."""
    _say({"ready": True, "batches": n_batches})
    done, seconds = 0, 0.0
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["end"]:
            break
        if len(words) != 3 or words[0] != "run" or not all(word.isdigit() for word in words[1:]):
            raise SystemExit(f"training_worker: expected 'run START STOP' or 'end', got {line!r}")
        start, stop = int(words[1]), int(words[2])
        if not done == start < stop <= n_batches:
            raise SystemExit(f"training_worker: expected a chunk starting at mini-batch {done} "
                             f"and ending by {n_batches}, got {start}..{stop}")
        chunk = timed(start, stop)
        done, seconds = stop, seconds + chunk
        _say({"seconds": chunk})
    if done != n_batches:
        raise SystemExit(f"training_worker: ended after {done} of {n_batches} mini-batches")
    return seconds


def _say(record: dict) -> None:
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()

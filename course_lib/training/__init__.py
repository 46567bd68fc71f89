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
calls, before any GPU work) switches PyTorch to its deterministic kernels, and attention to its
plain one, so runs repeat bit for bit there too (an operation with no deterministic kernel says
so in a warning).
With ``device="auto"`` a model already on a GPU trains on that GPU.  A run stopped after one of
its checkpoints (``checkpoint=``) goes on with ``fit(..., resume=path)`` to the same numbers.

Torch models run on ``device`` ("auto" = the first CUDA GPU if PyTorch sees one, else the
CPU) and each batch follows them; floating inputs are cast to the model's dtype and integer
targets to int64, so NumPy arrays (float64, uint8 labels …) work unchanged.  ``fit``,
``evaluate`` and ``predict`` borrow the device for the call only: when they return (or raise),
the model, a loss with tensors (class weights) and the optimiser's state are back on the device
they came from, so code that calls ``model(x)`` on CPU tensors between them runs unchanged on a
GPU machine.  Put the model on the GPU yourself to keep it there.

The package, one concern per file; a file imports only files listed above it:

- ``backends.py``: the torch side and the scratch side behind one interface (move a batch, take
  a step, run a forward pass, copy weights);
- ``batches.py``: mini-batches from ``(x, y)`` arrays or a DataLoader;
- ``epoch_metrics.py``: the metrics, and how outputs and targets become class labels;
- ``history.py``: ``History``;  ``callbacks.py``: ``EarlyStopping`` and ``Checkpoint``;
- ``state.py``: what a checkpoint holds besides the weights;  ``checkpoints.py``: checkpoint
  files;  ``resume.py``: going on from one;
- ``loop.py``: ``fit``, ``evaluate`` and ``predict``.
"""
from __future__ import annotations

from .callbacks import Checkpoint, EarlyStopping
from .checkpoints import load_training_checkpoint, save_training_checkpoint
from .epoch_metrics import NAMED_METRICS
from .history import History
from .loop import evaluate, fit, predict

__all__ = ["fit", "evaluate", "predict", "History", "EarlyStopping", "Checkpoint", "NAMED_METRICS",
           "save_training_checkpoint", "load_training_checkpoint"]

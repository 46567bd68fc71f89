"""The loss and metrics of an epoch: which metrics to compute, how outputs and targets become
class labels, and the sample-weighted sums gathered batch by batch."""
from __future__ import annotations

from typing import Callable, Dict, Union

import numpy as np

from .. import metrics as metrics_module
from .backends import _BROADCASTING_LOSSES, _is_tensor, kind_of, loss_kind


MetricSpec = Union[str, Callable[[np.ndarray, np.ndarray], float]]

#: metric names understood by ``fit``/``evaluate``; multi-class scores are macro averages
NAMED_METRICS: Dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": metrics_module.accuracy,
    "precision": lambda y_true, y_pred: metrics_module.precision(y_true, y_pred, average="macro"),
    "recall": lambda y_true, y_pred: metrics_module.recall(y_true, y_pred, average="macro"),
    "f1": lambda y_true, y_pred: metrics_module.f1(y_true, y_pred, average="macro"),
}


def _resolve_metrics(metrics, loss_fn=None) -> Dict[str, Callable[[np.ndarray, np.ndarray], float]]:
    if isinstance(metrics, str) and metrics == "auto":  # the default: accuracy, none for a regression loss
        metrics = () if loss_kind(loss_fn) in _REGRESSION_LOSSES else ("accuracy",)
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
            function = getattr(metric, "func", metric)  # functools.partial(precision, average="micro"): "precision"
            name = getattr(function, "__name__", type(metric).__name__)
            if name in resolved:  # one column of the History would silently hold the other's numbers
                raise ValueError(f"two metrics are both called {name!r}; give each its own name, e.g. "
                                 f"def precision_micro(y_true, y_pred): return precision(y_true, y_pred, "
                                 f"average='micro')")
            resolved[name] = metric
        else:
            raise TypeError(f"a metric must be a name or a function f(y_true, y_pred), got {metric!r}")
    if "loss" in resolved:
        raise ValueError("'loss' is always recorded; do not list it as a metric")
    return resolved


def _threshold_for(loss_fn, model=None) -> float:
    """Where a single output per sample splits the classes: 0.5 for probabilities (``BCELoss``, or a
    model whose last layer is a ``Sigmoid``), else 0 (logits)."""
    return 0.5 if loss_kind(loss_fn) == "BCELoss" or _ends_with_sigmoid(model) else 0.0


def _ends_with_sigmoid(model) -> bool:
    """Whether the last layer registered in ``model`` (torch or scratch) is a ``Sigmoid``."""
    if model is None or not hasattr(model, "named_modules"):
        return False
    leaves = [module for _, module in model.named_modules() if not list(module.named_children())]
    return bool(leaves) and kind_of(leaves[-1], {"Sigmoid"}) is not None


#: losses of regression, for which the default metrics are none
_REGRESSION_LOSSES = _BROADCASTING_LOSSES + ("GaussianNLLLoss",)


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

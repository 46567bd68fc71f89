"""Loss functions and their gradients (Chapter "Loss functions").

Every loss maps (prediction ŷ, target y) to per-element losses ℓ_i and reduces them:
'mean' → (1/n) Σ ℓ_i (or a weighted mean, see below), 'sum' → Σ ℓ_i, 'none' → ℓ.
``loss_fn(prediction, target)`` returns a NumPy scalar (an array for 'none') and
``loss_fn.backward(grad_output=None)`` returns dL/dŷ.

  MSELoss            ℓ = (ŷ − y)²                     dℓ/dŷ = 2(ŷ − y)
  L1Loss             ℓ = |ŷ − y|                      dℓ/dŷ = sign(ŷ − y)
  BCELoss            ℓ = −w[y log ŷ + (1 − y) log(1 − ŷ)]      dℓ/dŷ = w(ŷ − y) / (ŷ(1 − ŷ))
                     (log clamped at −100 and ŷ(1 − ŷ) at 1e-12, as in torch)
  BCEWithLogitsLoss  ℓ = w[(1 − y) z + (1 + (p − 1) y) softplus(−z)]  dℓ/dz = w[(1 + (p − 1)y) σ(z) − p y]
                     with p = pos_weight; reduces to σ(z) − y for p = 1.  softplus(−z) =
                     log(1 + e^{−|z|}) + max(−z, 0) never overflows, so logits of ±1000 are fine.
  NLLLoss            ℓ_n = −w_{y_n} · logp[n, y_n]
  CrossEntropyLoss   NLLLoss(log_softmax(z)), plus label smoothing ε:
                     ℓ_n = (1 − ε)(−w_{y_n} logp[n, y_n]) + (ε/C) Σ_c (−w_c logp[n, c])
                     dℓ/dz = A − softmax(z) Σ_c A_c,  A = dℓ/dlogp   (the log-softmax backward)
                     or, with class probabilities t (a float target shaped like z, smoothed to
                     t' = (1 − ε) t + ε/C):  ℓ_n = −Σ_c w_c t'_{n,c} logp[n, c],
                     dℓ/dz = softmax(z) Σ_c w_c t'_c − w ⊙ t'

For NLLLoss/CrossEntropyLoss 'mean' divides by Σ_n w_{y_n} over the non-ignored
samples (the batch size when there is no class weight), exactly as torch does;
targets equal to ``ignore_index`` contribute nothing.  With class probabilities as target,
'mean' divides by the number of samples whatever the weights, as torch does.  The class axis is axis 1:
logits (N, C) with target (N,), or (N, C, d1, …) with target (N, d1, …).
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional, Tuple

import numpy as np

from .activations import sigmoid_from_exp
from ..checks import whole
from .module import Module, received
from .reductions import row_maxima

REDUCTIONS = ("mean", "sum", "none")


def _expect_prediction(name: str, prediction) -> None:
    if not isinstance(prediction, np.ndarray) or prediction.dtype not in (np.float32, np.float64):
        got = f"dtype {prediction.dtype.name}" if isinstance(prediction, np.ndarray) else received(prediction)
        raise ValueError(f"{name} expected a float32 or float64 NumPy array as prediction, got {got}")


def _float_target_like(name: str, prediction: np.ndarray, target, what: str = "target") -> np.ndarray:
    """The target, checked to be a floating-point array of the prediction's shape (no silent
    broadcasting), in the two arrays' common dtype (``_promoted``)."""
    if not isinstance(target, np.ndarray):
        raise ValueError(f"{name} expected a NumPy array as {what}, got {received(target)}")
    if not np.issubdtype(target.dtype, np.floating):
        raise ValueError(
            f"{name} expected a floating-point {what}, got dtype {target.dtype.name}; "
            f"convert with target.astype(np.{prediction.dtype.name})"
        )
    if target.shape != prediction.shape:
        raise ValueError(
            f"{name} expected {what} of the same shape as the prediction {prediction.shape}, got {target.shape} "
            f"(broadcasting the two would silently compare every prediction with every target)"
        )
    return target.astype(np.result_type(prediction, target), copy=False)


def _promoted(loss: "_Loss", name: str, prediction: np.ndarray, target) -> Tuple[np.ndarray, np.ndarray]:
    """(prediction, target) in their common dtype, as torch promotes them: a float32 prediction and
    a float64 target give a float64 loss, computed in float64.  The gradient goes back in the
    prediction's own dtype (``_Loss._as_prediction``), as torch's autograd casts it."""
    target = _float_target_like(name, prediction, target)
    loss._prediction_dtype = prediction.dtype
    return prediction.astype(target.dtype, copy=False), target


def _broadcast_weight(name: str, what: str, weight: Optional[np.ndarray], prediction: np.ndarray):
    """``weight`` in the prediction's dtype, broadcast to its shape (None stays None)."""
    if weight is None:
        return None
    try:
        fits = np.broadcast_shapes(weight.shape, prediction.shape) == prediction.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{name}: {what} of shape {weight.shape} cannot be broadcast to the prediction's shape {prediction.shape}"
        )
    return np.broadcast_to(weight.astype(prediction.dtype, copy=False), prediction.shape)


class _Loss(Module):
    """Reduction, the call-order check and grad_output handling shared by every loss."""

    _prediction_dtype = None  # the dtype of the prediction forward was given (``_promoted``)

    def __init__(self, *, reduction: str = "mean") -> None:
        # keyword-only: torch's constructors keep the deprecated size_average and reduce in the positional
        # slots, so MSELoss('sum') means something else there; here it is a TypeError
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"{reduction!r} is not a valid value for reduction; use 'mean', 'sum' or 'none'")
        self.reduction = reduction
        self._cache = None
        self._loss_shape = None

    def _register_optional(self, name: str, value) -> None:
        """Class weights are buffers (as in torch), so they travel in ``state_dict``."""
        if value is None:
            object.__setattr__(self, name, None)
        else:
            self.register_buffer(name, np.array(value, dtype=np.float64))

    def _reduce(self, losses: np.ndarray):
        self._loss_shape = losses.shape
        if self.reduction == "none":
            return losses
        return losses.sum() if self.reduction == "sum" else losses.mean()

    def _as_prediction(self, grad: np.ndarray) -> np.ndarray:
        """The gradient in the dtype of the prediction forward was given (see ``_promoted``)."""
        return grad if self._prediction_dtype is None else grad.astype(self._prediction_dtype, copy=False)

    def _check_called(self) -> None:
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")

    def _check_grad_output_type(self, grad_output) -> None:
        if grad_output is not None and not isinstance(grad_output, (np.ndarray, np.generic, int, float)):
            # a list or a string would go through np.asarray (a list silently, like no module's backward)
            raise ValueError(f"{type(self).__name__}.backward expected grad_output as a NumPy array or a number "
                             f"(or None), got {received(grad_output)}")

    def _upstream(self, grad_output, dtype) -> np.ndarray:
        """dL/dℓ_i for every element: grad_output/n for 'mean', grad_output for 'sum' and 'none'."""
        self._check_called()
        self._check_grad_output_type(grad_output)
        if self.reduction == "none":
            if grad_output is None:
                raise ValueError(
                    f"{type(self).__name__}(reduction='none') returns one loss per element; "
                    f"backward needs grad_output of shape {self._loss_shape}"
                )
            grad_output = np.asarray(grad_output, dtype=dtype)
            if grad_output.shape != self._loss_shape:
                raise ValueError(
                    f"{type(self).__name__}.backward expected grad_output of shape {self._loss_shape}, "
                    f"got {grad_output.shape}"
                )
            return grad_output
        grad_output = np.asarray(1.0 if grad_output is None else grad_output, dtype=dtype)
        if grad_output.size != 1:
            raise ValueError(
                f"{type(self).__name__}.backward expected a scalar grad_output, got shape {grad_output.shape}"
            )
        grad_output = grad_output.reshape(())
        if self.reduction == "mean":
            return grad_output / max(math.prod(self._loss_shape), 1)
        return grad_output


class MSELoss(_Loss):
    """``torch.nn.MSELoss(reduction='mean')``: (1/n) Σ (ŷ − y)²."""

    def forward(self, prediction: np.ndarray, target: np.ndarray):
        _expect_prediction("MSELoss", prediction)
        prediction, target = _promoted(self, "MSELoss", prediction, target)
        difference = prediction - target
        self._cache = difference
        return self._reduce(difference * difference)

    def backward(self, grad_output=None) -> np.ndarray:
        self._check_called()
        return self._as_prediction(2 * self._cache * self._upstream(grad_output, self._cache.dtype))


class L1Loss(_Loss):
    """``torch.nn.L1Loss(reduction='mean')``: (1/n) Σ |ŷ − y|; subgradient 0 at ŷ = y, and (like torch's)
    0 where ŷ − y is NaN: the loss itself is NaN there."""

    def forward(self, prediction: np.ndarray, target: np.ndarray):
        _expect_prediction("L1Loss", prediction)
        prediction, target = _promoted(self, "L1Loss", prediction, target)
        difference = prediction - target
        self._cache = difference
        return self._reduce(np.abs(difference))

    def backward(self, grad_output=None) -> np.ndarray:
        self._check_called()
        difference = self._cache
        sign = np.greater(difference, 0).astype(difference.dtype)  # [d > 0] − [d < 0]: np.sign(NaN) is NaN
        sign -= np.less(difference, 0)
        return self._as_prediction(sign * self._upstream(grad_output, difference.dtype))


class BCELoss(_Loss):
    """``torch.nn.BCELoss(weight=None, reduction='mean')`` on probabilities ŷ ∈ [0, 1].

    Prefer ``BCEWithLogitsLoss`` on raw scores: it is exact where this one has to clamp.
    """

    _LOG_CLAMP = -100.0  # torch clamps log(ŷ) and log(1 − ŷ) at −100 so ŷ = 0 or 1 gives a finite loss
    _EPSILON = 1e-12  # and ŷ(1 − ŷ) at 1e-12 in the backward pass

    def __init__(self, weight: Optional[np.ndarray] = None, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self._register_optional("weight", weight)

    def forward(self, prediction: np.ndarray, target: np.ndarray):
        _expect_prediction("BCELoss", prediction)
        prediction, target = _promoted(self, "BCELoss", prediction, target)
        if prediction.size and (prediction.min() < 0 or prediction.max() > 1 or np.isnan(prediction).any()):
            raise ValueError(
                "BCELoss expected probabilities in [0, 1] as prediction (apply a sigmoid first, "
                "or use BCEWithLogitsLoss on the raw scores)"
            )
        if target.size and not (0 <= target.min() and target.max() <= 1):  # NaN fails too; torch raises as well
            got = ("NaN" if np.isnan(target).any()
                   else f"values from {target.min()} to {target.max()} (labels -1/+1 or class numbers? map them to 0 and 1)")
            raise ValueError(f"BCELoss expected targets in [0, 1] (labels 0 and 1, or probabilities), got {got}")
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(prediction), self._LOG_CLAMP)
            log_one_minus_p = np.maximum(np.log1p(-prediction), self._LOG_CLAMP)
        losses = -(target * log_p + (1 - target) * log_one_minus_p)
        weight = _broadcast_weight("BCELoss", "weight", self.weight, prediction)
        if weight is not None:
            losses = losses * weight
        self._cache = (prediction, target, weight)
        return self._reduce(losses)

    def backward(self, grad_output=None) -> np.ndarray:
        self._check_called()
        prediction, target, weight = self._cache
        upstream = self._upstream(grad_output, prediction.dtype)
        denominator = np.maximum(prediction * (1 - prediction), np.asarray(self._EPSILON, prediction.dtype))
        grad = (prediction - target) / denominator * upstream
        return self._as_prediction(grad if weight is None else grad * weight)


class BCEWithLogitsLoss(_Loss):
    """``torch.nn.BCEWithLogitsLoss(weight=None, reduction='mean', pos_weight=None)`` on logits z.

    ``pos_weight`` (broadcast along the last axis, one value per class) multiplies the
    positive term: p > 1 favours recall, p < 1 precision.
    """

    def __init__(
        self, weight: Optional[np.ndarray] = None, *, reduction: str = "mean", pos_weight: Optional[np.ndarray] = None
    ) -> None:
        super().__init__(reduction=reduction)
        self._register_optional("weight", weight)
        self._register_optional("pos_weight", pos_weight)

    def forward(self, prediction: np.ndarray, target: np.ndarray):
        _expect_prediction("BCEWithLogitsLoss", prediction)
        prediction, target = _promoted(self, "BCEWithLogitsLoss", prediction, target)
        # softplus(−z) = log(1 + e^{−z}) = log(1 + e^{−|z|}) + max(−z, 0): e^{…} ≤ 1 never overflows
        exp_neg_abs = np.exp(-np.abs(prediction))
        # log1p(e), as torch (log_sigmoid) does: log(1 + e) rounds 1 + e first, an error of up to half
        # an ulp of 1 — relative to e, 4·10⁻⁴ at a float32 logit of 10 — and loses e entirely below
        # 6·10⁻⁸, where 1 + e rounds to 1
        softplus_neg = np.log1p(exp_neg_abs) + np.maximum(-prediction, 0)
        pos_weight = _broadcast_weight("BCEWithLogitsLoss", "pos_weight", self.pos_weight, prediction)
        if pos_weight is None:
            log_weight = None
            losses = (1 - target) * prediction + softplus_neg
        else:
            log_weight = (pos_weight - 1) * target + 1
            losses = (1 - target) * prediction + log_weight * softplus_neg
        weight = _broadcast_weight("BCEWithLogitsLoss", "weight", self.weight, prediction)
        if weight is not None:
            losses = losses * weight
        self._cache = (prediction, exp_neg_abs, target, log_weight, weight)
        return self._reduce(losses)

    def backward(self, grad_output=None) -> np.ndarray:
        self._check_called()
        prediction, exp_neg_abs, target, log_weight, weight = self._cache
        upstream = self._upstream(grad_output, prediction.dtype)
        probability = sigmoid_from_exp(prediction, exp_neg_abs)  # reuses forward's e^{−|z|}
        if log_weight is None:
            grad = probability - target
        else:
            grad = log_weight * probability - (log_weight - 1 + target)  # = (1+(p−1)y)σ(z) − p·y
        grad = grad * upstream
        return self._as_prediction(grad if weight is None else grad * weight)


# --- classification losses over a class axis -----------------------------------------
def _class_layout(
    name: str, prediction, target, ignore_index: int, weight: Optional[np.ndarray], what: str
) -> Tuple[np.ndarray, np.ndarray, Tuple[int, ...]]:
    """Validate (N, C, d1, …) scores and (N, d1, …) indices; return them as (M, C) and (M,).

    Also returns the per-sample shape the 'none' reduction gives back.
    """
    if not isinstance(prediction, np.ndarray) or prediction.dtype not in (np.float32, np.float64):
        got = f"dtype {prediction.dtype.name}" if isinstance(prediction, np.ndarray) else received(prediction)
        raise ValueError(f"{name} expected {what} as a float32 or float64 NumPy array of shape (N, C), got {got}")
    if prediction.ndim == 0:
        raise ValueError(f"{name} expected {what} of shape (N, C) or (N, C, d1, ...), got shape ()")
    if prediction.ndim == 1:  # a single unbatched sample: (C,) with a 0-d target
        expected_shape, layout = (), "() (one class index for an unbatched (C,) input)"
    else:
        expected_shape = (prediction.shape[0],) + prediction.shape[2:]
        layout = f"{expected_shape}" if prediction.ndim > 2 else f"(N,) = ({prediction.shape[0]},)"
    num_classes = prediction.shape[0] if prediction.ndim == 1 else prediction.shape[1]
    if num_classes == 0:  # torch returns NaN (or fails inside a reduction)
        raise ValueError(f"{name} needs at least one class, got {what} of shape {prediction.shape}")
    is_index_array = isinstance(target, np.ndarray) and np.issubdtype(target.dtype, np.integer)
    if not is_index_array or target.shape != expected_shape:
        if isinstance(target, np.ndarray):
            got = f"a {target.dtype.name} array of shape {target.shape}"
            hint = (
                " (this looks like one-hot targets: pass target.argmax(axis=1), or class probabilities "
                "as a float array to CrossEntropyLoss)"
                if target.shape == prediction.shape
                else ""
            )
        else:
            got, hint = received(target), ""
        raise ValueError(
            f"{name} expects integer class indices as target, of shape {layout} for {what} of shape "
            f"{prediction.shape}; got {got}{hint}"
        )
    in_range = target.size == 0 or (target.min() >= 0 and target.max() < num_classes)  # the usual case, cheaply
    if not in_range:  # out-of-range indices are allowed only where they equal ignore_index
        bad = target[(target != ignore_index) & ((target < 0) | (target >= num_classes))]
        if bad.size:
            raise ValueError(
                f"{name} target contains class index {int(bad[0])}, but there are {num_classes} classes "
                f"(valid indices are 0 … {num_classes - 1}, or ignore_index={ignore_index})"
            )
    if weight is not None and weight.shape != (num_classes,):
        raise ValueError(f"{name} expected weight of shape (C,) = ({num_classes},), got {weight.shape}")
    return _classes_last(prediction), target.reshape(-1), expected_shape


def _classes_last(array: np.ndarray) -> np.ndarray:
    """(C,), (N, C) or (N, C, d1, …) as (M, C): classes last, every other axis flattened into samples."""
    if array.ndim == 1:
        return array.reshape(1, -1)
    if array.ndim == 2:
        return array
    return np.moveaxis(array, 1, -1).reshape(-1, array.shape[1])


def _restore_layout(grad_2d: np.ndarray, prediction_shape: Tuple[int, ...]) -> np.ndarray:
    """Inverse of the (N, C, d1, …) → (M, C) reshaping in ``_class_layout``."""
    if len(prediction_shape) <= 2:
        return grad_2d.reshape(prediction_shape)
    moved = grad_2d.reshape((prediction_shape[0],) + prediction_shape[2:] + (prediction_shape[1],))
    return np.ascontiguousarray(np.moveaxis(moved, -1, 1))


class _ClassLoss(_Loss):
    """What NLLLoss and CrossEntropyLoss share: class-index targets, class weights, ``ignore_index`` and
    the reductions; the backward of −log p[y] given log-probabilities (NLLLoss's).  As in torch, a
    CrossEntropyLoss is not an NLLLoss: they share this base instead."""

    _input_name = "log-probabilities"

    def __init__(self, weight: Optional[np.ndarray] = None, *, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self._register_optional("weight", weight)
        self.ignore_index = whole(type(self).__name__, "ignore_index", ignore_index)
        self.label_smoothing = 0.0

    def _log_probabilities(self, scores: np.ndarray) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """(log-probabilities, probabilities or None); NLLLoss is given log-probabilities."""
        return scores, None

    def forward(self, prediction: np.ndarray, target: np.ndarray):
        name = type(self).__name__
        scores, labels, sample_shape = _class_layout(
            name, prediction, target, self.ignore_index, self.weight, self._input_name
        )
        dtype = scores.dtype
        rows = np.arange(labels.shape[0])
        valid = labels != self.ignore_index
        safe_labels = np.where(valid, labels, 0)  # ignored samples read class 0, then get weight 0
        class_weight = None if self.weight is None else self.weight.astype(dtype)
        sample_weight = valid.astype(dtype) if class_weight is None else class_weight[safe_labels] * valid
        log_probs, probs = self._log_probabilities(scores)
        # an ignored sample's loss is 0, not 0 · log p: that is NaN where its class 0 has p = 0 (a −inf logit)
        with np.errstate(invalid="ignore"):
            losses = np.where(valid, -sample_weight * log_probs[rows, safe_labels], 0).astype(dtype, copy=False)
        smoothing = self.label_smoothing
        if smoothing > 0:
            # Σ_c w_c logp[n, c] as a matrix-vector product: one pass, no (M, C) temporary
            weighted_sum = log_probs.sum(axis=1) if class_weight is None else log_probs @ class_weight
            losses = (1 - smoothing) * losses - (smoothing / scores.shape[1]) * np.where(valid, weighted_sum, 0)
        # torch's weighted mean: divide by the total weight of the non-ignored samples
        denominator = sample_weight.sum()
        self._cache = (log_probs, probs, safe_labels, valid, sample_weight, class_weight, denominator, prediction.shape)
        return self._reduce_samples(losses, sample_shape, denominator)

    def _reduce_samples(self, losses: np.ndarray, sample_shape, denominator):
        """Per-sample losses (M,) reduced; 'mean' divides by ``denominator`` (0 gives nan, as in torch)."""
        self._loss_shape = sample_shape
        if self.reduction == "none":
            return losses.reshape(sample_shape)
        if self.reduction == "sum":
            return losses.sum()
        with np.errstate(invalid="ignore", divide="ignore"):  # every target ignored, or no samples
            return losses.sum() / denominator

    def _coefficients(self, grad_output) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """Per-sample factors of A = dL/dlogp, which is never built densely:

        A[n, c] = −label[n]·[c = y_n] − smooth[n]·w_c,
        label[n] = (1 − ε) w_{y_n} s_n,   smooth[n] = (ε/C) s_n   (None when ε = 0),
        where s_n = dL/dℓ_n (1/denominator for 'mean') and 0 for ignored samples.
        """
        _, _, _, valid, sample_weight, _, denominator, _ = self._cache
        dtype = sample_weight.dtype
        if self.reduction == "none":
            scale = self._upstream(grad_output, dtype).reshape(-1)
        else:
            self._check_grad_output_type(grad_output)
            scale = np.asarray(1.0 if grad_output is None else grad_output, dtype=dtype)
            if scale.size != 1:
                raise ValueError(
                    f"{type(self).__name__}.backward expected a scalar grad_output, got shape {scale.shape}"
                )
            scale = scale.reshape(())
            if self.reduction == "mean":
                with np.errstate(invalid="ignore", divide="ignore"):
                    scale = scale / denominator
            scale = np.full(valid.shape[0], scale, dtype=dtype)
        # ignored samples get exactly 0 (not 0·∞ = nan when every target is ignored), like torch
        scale = np.where(valid, scale, 0).astype(dtype, copy=False)
        smoothing = self.label_smoothing
        label = (1 - smoothing) * sample_weight * scale
        smooth = (smoothing / self._cache[0].shape[1]) * scale if smoothing > 0 else None
        return label, smooth

    def backward(self, grad_output=None) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        log_probs, _, safe_labels, _, _, _, _, prediction_shape = self._cache
        label, _ = self._coefficients(grad_output)  # NLLLoss has no label smoothing
        grad = np.zeros_like(log_probs)
        grad[np.arange(log_probs.shape[0]), safe_labels] = -label
        return _restore_layout(grad, prediction_shape)

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}, reduction={self.reduction!r}"


class NLLLoss(_ClassLoss):
    """``torch.nn.NLLLoss(weight=None, ignore_index=-100, reduction='mean')`` on log-probabilities."""


_NATIVE_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))  # not big-endian ones, which the general path refuses


class _UsualCall(NamedTuple):
    """What CrossEntropyLoss's backward needs after the usual call (see ``_usual_forward``)."""

    exps: np.ndarray  # e^{z − max z}, (N, C)
    totals: np.ndarray  # their row sums, (N, 1)
    rows: np.ndarray  # 0 … N − 1
    labels: np.ndarray  # y, (N,): a copy, as intp


class CrossEntropyLoss(_ClassLoss):
    """``torch.nn.CrossEntropyLoss(weight=None, ignore_index=-100, reduction='mean', label_smoothing=0.0)``.

    Takes raw logits (no softmax before it!) and, as target, either integer class indices
    (N,) or class probabilities: a float array shaped like the logits (N, C), each row a
    distribution over the classes (soft labels, a teacher's outputs in distillation).  As in
    torch, the probabilities are not checked to sum to 1, and ``ignore_index`` does not apply
    to them.  An integer one-hot target is rejected with a hint.
    """

    _input_name = "logits"

    def __init__(
        self,
        weight: Optional[np.ndarray] = None,
        *,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(weight, ignore_index=ignore_index, reduction=reduction)
        if not 0.0 <= float(label_smoothing) <= 1.0:
            raise ValueError(f"label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)
        self._probability_target = False  # which kind of target the cache is for

    def forward(self, prediction: np.ndarray, target: np.ndarray):
        loss = self._usual_forward(prediction, target)
        if loss is not None:
            return loss
        is_probabilities = (isinstance(prediction, np.ndarray) and prediction.ndim >= 1
                            and isinstance(target, np.ndarray) and np.issubdtype(target.dtype, np.floating)
                            and target.shape == prediction.shape)
        self._cache, self._probability_target = None, is_probabilities  # a failed call leaves no stale cache
        if not is_probabilities:
            if isinstance(target, np.ndarray) and np.issubdtype(target.dtype, np.floating):
                shape = getattr(prediction, "shape", type(prediction).__name__)
                raise ValueError(
                    f"CrossEntropyLoss expects as target either integer class indices, of shape (N,) for logits "
                    f"(N, C), or class probabilities, a float array of the logits' shape {shape}; got a "
                    f"{target.dtype.name} array of shape {target.shape}")
            return super().forward(prediction, target)
        if prediction.dtype not in (np.float32, np.float64):
            raise ValueError(f"CrossEntropyLoss expected logits as a float32 or float64 NumPy array, "
                             f"got dtype {prediction.dtype.name}")
        if self.ignore_index >= 0:  # a negative one cannot name a class, so torch (and this) lets it pass
            raise ValueError(f"CrossEntropyLoss: ignore_index={self.ignore_index} applies to class indices; "
                             f"it is not supported with class-probability targets (torch refuses it too)")
        num_classes = prediction.shape[0] if prediction.ndim == 1 else prediction.shape[1]
        if num_classes == 0:  # torch returns NaN
            raise ValueError(f"CrossEntropyLoss needs at least one class, got logits of shape {prediction.shape}")
        if self.weight is not None and self.weight.shape != (num_classes,):
            raise ValueError(f"CrossEntropyLoss expected weight of shape (C,) = ({num_classes},), "
                             f"got {self.weight.shape}")
        scores = _classes_last(prediction)
        # the loss in the promoted dtype, as torch's (float32 logits with a float64 target: a float64
        # loss); the gradient keeps the logits' dtype
        dtype = np.result_type(scores.dtype, target.dtype)
        # t' = (1 − ε) t + ε/C, then each class's weight folded in: w ⊙ t'
        weighted = _classes_last(target).astype(dtype) * (1 - self.label_smoothing)
        weighted += self.label_smoothing / num_classes
        if self.weight is not None:
            weighted *= self.weight.astype(dtype)
        log_probs, probs = self._log_probabilities(scores)
        losses = -np.einsum("mc,mc->m", weighted, log_probs)
        sample_shape = () if prediction.ndim == 1 else (prediction.shape[0],) + prediction.shape[2:]
        self._cache = (probs, weighted, prediction.shape)
        return self._reduce_samples(losses, sample_shape, dtype.type(losses.shape[0]))  # 'mean': per sample

    def _usual_forward(self, prediction, target):
        """The loss of the usual call — logits (N, C), N ≥ 1 class indices all in 0 … C − 1, no class
        weight, no label smoothing — or None for any other call, which the general path then takes
        (and refuses there, with its messages, if it is wrong).

        Same numbers as the general path, bit for bit (a NaN's sign bit aside), on a short one:
        ℓ_n = −((z_{y_n} − m) − log Σ_c e^{z_c − m}) with m = max_c z_c, without the (N, C) log-probabilities.
        It matters inside a training loop, where every distinct call costs more than it does alone (the
        caches hold the model's arrays): the general path's checks and bookkeeping took about 60 µs a step of
        the 784-128-10 MLP at batch 64, this one 10 (medians of in-process alternating runs, 2026-12-07).
        """
        if not (type(prediction) is np.ndarray and type(target) is np.ndarray and prediction.ndim == 2
                and target.ndim == 1 and target.shape[0] == prediction.shape[0] > 0 and target.dtype.kind in "iu"
                and prediction.dtype in _NATIVE_FLOATS and self.weight is None and self.label_smoothing == 0):
            return None
        classes = prediction.shape[1]
        if 0 <= self.ignore_index < classes or not (target.min() >= 0 and target.max() < classes):
            return None
        labels = target.astype(np.intp)  # a copy: a caller reusing its label array cannot change the backward
        shifted = prediction - row_maxima(prediction)
        exps = np.exp(shifted)
        totals = exps.sum(axis=1, keepdims=True)
        rows = np.arange(labels.shape[0])
        losses = shifted[rows, labels]
        losses -= np.log(totals[:, 0])
        np.negative(losses, out=losses)  # −(logp), as the general path: a sure answer's loss is −0.0, like torch's
        self._cache, self._loss_shape, self._probability_target = _UsualCall(exps, totals, rows, labels), losses.shape, False
        if self.reduction == "none":
            return losses
        total = losses.sum()
        return total if self.reduction == "sum" else total / prediction.dtype.type(target.shape[0])

    def _usual_backward(self, grad_output) -> np.ndarray:
        """dℓ_n/dz = softmax(z_n) − onehot(y_n), times s_n = dL/dℓ_n (1/N for 'mean')."""
        exps, totals, rows, labels = self._cache
        if grad_output is None and self.reduction == "mean":  # loss.backward(): 1/N, without _upstream's checks
            scale = np.reshape(exps.dtype.type(1) / exps.dtype.type(rows.shape[0]), (1, 1))
        else:
            scale = self._upstream(grad_output, exps.dtype).reshape(-1, 1)  # (1, 1), or (N, 1) for 'none'
        grad = exps / totals
        grad *= scale
        grad[rows, labels] -= scale[:, 0]
        return grad

    def _log_probabilities(self, scores: np.ndarray) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """Max-shifted log-softmax (logits of ±1000 stay finite), keeping softmax for backward."""
        shifted = scores - row_maxima(scores)
        probs = np.exp(shifted)
        total = probs.sum(axis=1, keepdims=True)
        shifted -= np.log(total)  # now log-probabilities
        probs /= total
        return shifted, probs

    def backward(self, grad_output=None) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError("CrossEntropyLoss.backward called before forward")
        if type(self._cache) is _UsualCall:
            return self._usual_backward(grad_output)
        if self._probability_target:
            return self._backward_probabilities(grad_output)
        _, probs, safe_labels, _, _, class_weight, _, prediction_shape = self._cache
        label, smooth = self._coefficients(grad_output)
        num_classes = probs.shape[1]
        per_class = np.ones(num_classes, probs.dtype) if class_weight is None else class_weight
        # chain rule through log-softmax: dL/dz = A − softmax(z) Σ_c A_c
        minus_sum_a = label if smooth is None else label + smooth * per_class.sum()
        grad = probs * minus_sum_a[:, None]
        if smooth is not None:
            grad -= np.outer(smooth, per_class)
        grad[np.arange(probs.shape[0]), safe_labels] -= label
        return _restore_layout(grad, prediction_shape)

    def _backward_probabilities(self, grad_output) -> np.ndarray:
        """dℓ_n/dz_n = p_n Σ_c (w ⊙ t')_{n,c} − (w ⊙ t')_n, times dL/dℓ_n."""
        probs, weighted, prediction_shape = self._cache
        scale = self._upstream(grad_output, weighted.dtype)  # 'mean': divided by the number of samples
        if self.reduction == "none":
            scale = scale.reshape(-1, 1)
        grad = probs * weighted.sum(axis=1, keepdims=True)
        grad -= weighted
        grad *= scale
        return _restore_layout(grad.astype(probs.dtype, copy=False), prediction_shape)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", label_smoothing={self.label_smoothing}"

"""Learning-rate schedules η_t (Chapter "Optimisation", section on decaying learning rates).

A scheduler rewrites ``optimizer.param_groups[i]['lr']``; call ``scheduler.step()`` once
per epoch (or per iteration) *after* ``optimizer.step()``, exactly as in torch.  The counting
is torch's: the constructor already performs step 0 (``last_epoch = 0``, η₀ = η), and the
k-th call of ``step()`` sets the rate for step t = k.  With η the initial rate:

    StepLR            η_t = η · γ^⌊t / step_size⌋
    MultiStepLR       η_t = η · γ^(number of milestones ≤ t)
    ConstantLR        η_t = η · factor for t < T, then η                 (a constant warm-up)
    LinearLR          η_t = η · (s + (e − s) · min(t, T) / T)            (the linear warm-up)
    ExponentialLR     η_t = η · γ^t
    LambdaLR          η_t = η · f(t)
    InverseSqrtLR     η_t = η / √(1 + δ t)               (the course's "decaying learning rate")
    CosineAnnealingLR η_t = η_min + (η − η_min)(1 + cos(π t / T_max)) / 2

StepLR, MultiStepLR, ConstantLR, LinearLR, ExponentialLR and CosineAnnealingLR are computed
*recursively* from the current ``lr`` (torch's "chainable" form), with the same floating-point
expressions as torch, so the sequences agree to the last bit and several schedulers may be
stacked: ``ChainedScheduler`` steps several at once, ``SequentialLR`` runs one after another
(a warm-up, then a decay).  ``ReduceLROnPlateau`` watches a metric instead of counting steps.
Only ``param_groups`` is needed, so these schedulers also drive a ``torch.optim`` optimiser.

As in torch, every schedule is imported from here (``course_lib.scratch.lr_scheduler.StepLR``).  They
live in three files: ``schedules.py`` (the base class and the schedules that count steps),
``combined.py`` (``SequentialLR`` and ``ChainedScheduler``, built from other schedules) and
``plateau.py`` (``ReduceLROnPlateau``).
"""
from .combined import ChainedScheduler, SequentialLR
from .plateau import ReduceLROnPlateau
from .schedules import (ConstantLR, CosineAnnealingLR, ExponentialLR, InverseSqrtLR, LambdaLR, LinearLR, LRScheduler,
                        MultiStepLR, StepLR)

__all__ = ["LRScheduler", "LambdaLR", "InverseSqrtLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR",
           "ExponentialLR", "CosineAnnealingLR", "SequentialLR", "ChainedScheduler", "ReduceLROnPlateau"]

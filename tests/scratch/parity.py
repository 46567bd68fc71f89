"""Reusable helpers for checking a scratch module against its torch twin.

PyTorch is the oracle (as in micrograd's tests): build the torch module in
float64, copy its weights into the scratch module, run both forward and backward
with the same upstream gradient, and compare output, input gradients and every
parameter gradient by name.

Stable API (other test files import it):

- ``to_numpy(value)``: tensor / array / scalar -> ndarray (nested tuples kept).
- ``assert_close(actual, expected, rtol=1e-6, atol=1e-9, what="")``: shape and values.
- ``copy_weights(torch_module, scratch_module)``: torch state -> scratch (strict keys,
  ``num_batches_tracked`` included).
- ``torch_forward_backward(torch_module, inputs, grad_output=None, **kwargs)``
  -> ``(output, input_grads, param_grads)``.
- ``scratch_forward_backward(scratch_module, inputs, grad_output=None, **kwargs)``
  -> same triple.
- ``assert_parity(torch_module, scratch_module, inputs, grad_output=None, ...)``:
  all of the above in one call; returns the scratch triple.
- ``random_like_output(rng, output)``: a float64 upstream gradient shaped like an output.
- ``assert_uniform_init(array, bound, what)``: values drawn from U(−bound, bound) (within it,
  reaching near it, and spread like it): a narrower range or all zeros fails.
- ``random_mask(rng, shape, kind)``: an attention mask, boolean or float (``kind``), or None;
  key 0 is never masked, so no row is fully masked.
- ``stored_in(array, order)``: the same (N, C, H, W) values with their axes in memory in
  ``order``, e.g. ``MEMORY_ORDERS["NHWC"]``.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from course_lib.interop import state_dict_from_torch


def to_numpy(value: Any):
    """Convert a tensor (or nested tuple/list of tensors) to NumPy; None stays None."""
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        return type(value)(to_numpy(item) for item in value)
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def assert_close(actual, expected, rtol: float = 1e-6, atol: float = 1e-9, what: str = "") -> None:
    """Assert |actual − expected| ≤ atol + rtol·|expected| entrywise, with a readable message.

    Accepts arrays, tensors, scalars, lists (as array-likes), or (nested) tuples of
    them compared item by item (e.g. LSTM's ``(output, (h, c))``); shapes must be equal.
    ``None`` only matches ``None``.
    """
    label = f"{what}: " if what else ""
    if isinstance(expected, tuple) or isinstance(actual, tuple):
        if not (isinstance(expected, (tuple, list)) and isinstance(actual, (tuple, list))):
            raise AssertionError(f"{label}one side is a tuple and the other is not")
        if len(actual) != len(expected):
            raise AssertionError(f"{label}got {len(actual)} items, expected {len(expected)}")
        for index, (act, exp) in enumerate(zip(actual, expected)):
            assert_close(act, exp, rtol=rtol, atol=atol, what=f"{what}[{index}]")
        return
    if expected is None or actual is None:
        if expected is not actual:
            raise AssertionError(f"{label}got {type(actual).__name__}, expected {type(expected).__name__}")
        return
    actual_np = np.asarray(to_numpy(actual), dtype=np.float64)
    expected_np = np.asarray(to_numpy(expected), dtype=np.float64)
    if actual_np.shape != expected_np.shape:
        raise AssertionError(f"{label}shape {actual_np.shape}, expected {expected_np.shape}")
    both_nan = np.isnan(actual_np) & np.isnan(expected_np)
    same_inf = np.isinf(expected_np) & (actual_np == expected_np)
    with np.errstate(invalid="ignore", over="ignore"):  # inf − inf is handled by same_inf
        error = np.abs(actual_np - expected_np) - (atol + rtol * np.abs(expected_np))
        diff = np.abs(actual_np - expected_np)
    both_finite = np.isfinite(actual_np) & np.isfinite(expected_np)
    # finite pairs must be within tolerance; a non-finite entry must be matched exactly (nan↔nan, ±inf↔±inf)
    bad = np.where(both_finite, error > 0, ~(both_nan | same_inf))
    if np.any(bad):
        worst = np.unravel_index(np.argmax(np.where(bad, np.nan_to_num(error, nan=np.inf), -np.inf)), bad.shape)
        worst = tuple(int(i) for i in worst)
        raise AssertionError(
            f"{label}{int(bad.sum())} of {bad.size} entries differ (rtol={rtol}, atol={atol}); "
            f"worst at {worst}: actual {actual_np[worst]!r}, expected {expected_np[worst]!r}; "
            f"max abs diff {np.max(diff[both_finite]) if both_finite.any() else float('nan'):.3g}"
        )


def copy_weights(torch_module: torch.nn.Module, scratch_module) -> None:
    """Load ``torch_module``'s parameters and buffers into ``scratch_module`` (strict).

    Values are cast to each scratch parameter's dtype by ``load_state_dict``.
    """
    scratch_module.load_state_dict(state_dict_from_torch(torch_module.state_dict()))


def _as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _flatten(value) -> list:
    """Flatten nested tuples/lists (e.g. LSTM's ``(output, (h, c))``) into a list of leaves."""
    if isinstance(value, (tuple, list)):
        return [leaf for item in value for leaf in _flatten(item)]
    return [value]


def random_like_output(rng: np.random.Generator, output):
    """Standard-normal float64 arrays shaped like ``output`` (array or nested tuple)."""
    if isinstance(output, (tuple, list)):
        return type(output)(random_like_output(rng, item) for item in output)
    if output is None:
        return None
    return rng.standard_normal(np.shape(output))


def torch_forward_backward(
    torch_module, inputs, grad_output=None, **kwargs
) -> Tuple[Any, tuple, Dict[str, Optional[np.ndarray]]]:
    """Run ``torch_module(*inputs, **kwargs)`` and backpropagate ``grad_output``.

    ``inputs``: one array or a tuple of arrays; floating ones get ``requires_grad``,
    integer/bool ones (indices, masks, targets) do not and get ``None`` as gradient.
    ``grad_output``: array(s) with the output's (nested) structure, ``None`` entries
    allowed; ``None`` as a whole means the output is a scalar loss (``backward()``).
    Returns ``(output, input_grads, param_grads)`` as NumPy: output keeps torch's
    (nested) structure, ``input_grads`` is a tuple, ``param_grads`` maps each
    parameter name to its gradient (zeros if it received none, None if it is frozen).
    """
    tensors = []
    for array in _as_tuple(inputs):
        if array is None:
            tensors.append(None)
            continue
        tensor = torch.as_tensor(np.array(array, copy=True))
        if tensor.is_floating_point():
            tensor.requires_grad_(True)
        tensors.append(tensor)
    for param in torch_module.parameters():
        param.grad = None
    output = torch_module(*tensors, **kwargs)
    leaves = _flatten(output)
    if grad_output is None:
        if len(leaves) != 1 or leaves[0].numel() != 1:
            raise ValueError("grad_output=None needs a scalar output")
        leaves[0].backward()
    else:
        grads = _flatten(grad_output)
        if len(grads) != len(leaves):
            raise ValueError(f"grad_output has {len(grads)} leaves, output has {len(leaves)}")
        pairs = [
            (leaf, torch.as_tensor(np.asarray(grad), dtype=leaf.dtype))
            for leaf, grad in zip(leaves, grads)
            if grad is not None and isinstance(leaf, torch.Tensor) and leaf.requires_grad
        ]
        if pairs:
            torch.autograd.backward([leaf for leaf, _ in pairs], [grad for _, grad in pairs])
    input_grads = tuple(
        None if tensor is None or not tensor.requires_grad or tensor.grad is None else to_numpy(tensor.grad)
        for tensor in tensors
    )
    # an input that got no gradient but required one (unused) gets zeros
    input_grads = tuple(
        np.zeros(tuple(tensor.shape)) if grad is None and tensor is not None and tensor.requires_grad else grad
        for grad, tensor in zip(input_grads, tensors)
    )
    param_grads = {  # a frozen parameter's is None (as the scratch side's)
        name: (None if not param.requires_grad else np.zeros(tuple(param.shape)) if param.grad is None
               else to_numpy(param.grad))
        for name, param in torch_module.named_parameters()
    }
    return to_numpy(output), input_grads, param_grads


def scratch_forward_backward(scratch_module, inputs, grad_output=None, **kwargs):
    """The scratch counterpart of ``torch_forward_backward`` (same return triple).

    Parameter gradients are zeroed first; ``backward`` receives ``grad_output`` as one
    argument, or splatted when it is a tuple (one gradient per output, as the brief says).
    ``grad_output=None`` calls ``backward()`` (losses).
    """
    scratch_module.zero_grad()
    arrays = _as_tuple(inputs)
    output = scratch_module(*arrays, **kwargs)
    if grad_output is None:
        grads_in = scratch_module.backward()
    elif isinstance(grad_output, tuple):
        grads_in = scratch_module.backward(*grad_output)
    else:
        grads_in = scratch_module.backward(grad_output)
    grads_in = _as_tuple(grads_in)
    param_grads = {name: None if param.grad is None else param.grad.copy()
                   for name, param in scratch_module.named_parameters()}
    return output, grads_in, param_grads


def assert_parity(
    torch_module,
    scratch_module,
    inputs,
    grad_output=None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    copy: bool = True,
    check_input_grads: Optional[Sequence[int]] = None,
    compare_buffers: bool = True,
    **kwargs,
):
    """Copy torch's weights into the scratch module, run both, compare everything.

    Compares output, input gradients (all float inputs, or those in
    ``check_input_grads``), every parameter gradient by name, and (with
    ``compare_buffers``) every buffer afterwards (e.g. BatchNorm running stats).
    ``grad_output`` of ``None`` means a scalar output (a loss).  Inputs should be float64
    and the torch module ``.double()`` for the brief's rtol 1e-6.
    Returns the scratch ``(output, input_grads, param_grads)``.
    """
    if copy:
        copy_weights(torch_module, scratch_module)
    expected_out, expected_in, expected_params = torch_forward_backward(torch_module, inputs, grad_output, **kwargs)
    actual_out, actual_in, actual_params = scratch_forward_backward(scratch_module, inputs, grad_output, **kwargs)
    name = type(scratch_module).__name__
    assert_close(actual_out, expected_out, rtol, atol, what=f"{name} output")
    which = range(len(expected_in)) if check_input_grads is None else check_input_grads
    for index in which:
        if expected_in[index] is None:
            continue
        if index >= len(actual_in):
            raise AssertionError(f"{name}.backward returned {len(actual_in)} gradients, expected one for input {index}")
        assert_close(actual_in[index], expected_in[index], rtol, atol, what=f"{name} grad of input {index}")
    if set(actual_params) != set(expected_params):
        raise AssertionError(
            f"{name} parameter names {sorted(actual_params)} differ from torch's {sorted(expected_params)}"
        )
    for param_name, expected in expected_params.items():
        assert_close(actual_params[param_name], expected, rtol, atol, what=f"{name} grad of '{param_name}'")
    if compare_buffers:
        torch_buffers = dict(torch_module.named_buffers())  # num_batches_tracked included
        scratch_buffers = dict(scratch_module.named_buffers())
        for key, value in torch_buffers.items():
            if key not in scratch_buffers:
                raise AssertionError(f"{name} has no buffer '{key}'")
            assert_close(scratch_buffers[key], value, rtol, atol, what=f"{name} buffer '{key}'")
    return actual_out, actual_in, actual_params


# memory order (outermost axis first) of the image layouts the scratch layers must accept
MEMORY_ORDERS = {"NCHW": (0, 1, 2, 3), "NHWC": (0, 2, 3, 1), "pixel-major": (2, 3, 0, 1), "batch-innermost": (1, 2, 3, 0)}


def stored_in(array: np.ndarray, order) -> np.ndarray:
    """The same (N, C, H, W) values with their axes in memory in ``order`` (outermost first)."""
    return np.ascontiguousarray(array.transpose(order)).transpose(np.argsort(order))


def random_mask(rng, shape, kind):
    """A boolean (True = not allowed) or float mask; key 0 is never masked, so no row is fully masked."""
    if kind is None:
        return None
    if kind == "bool":
        mask = rng.random(shape) < 0.3
        mask[..., 0] = False
        return mask
    mask = rng.standard_normal(shape)
    mask[rng.random(shape) < 0.2] = -np.inf
    mask[..., 0] = rng.standard_normal(mask[..., 0].shape)
    return mask


def assert_uniform_init(array, bound: float, what: str = "") -> None:
    """``array`` looks drawn from U(−bound, bound): inside, near both ends, mean |x| ≈ bound / 2."""
    values = np.abs(np.asarray(array, dtype=np.float64)).ravel()
    assert values.size >= 20, f"{what}: too few values to judge a distribution"
    assert values.max() <= bound * (1 + 1e-6), f"{what}: {values.max()} outside ±{bound}"
    assert values.max() > 0.8 * bound, f"{what}: largest |value| {values.max()} is far inside ±{bound}"
    assert abs(values.mean() - bound / 2) < 0.15 * bound, f"{what}: mean |value| {values.mean()}, U(±{bound}) gives {bound / 2}"

"""Recurrent layers as modules (Chapter "Recurrent networks"): ``RNN``, ``LSTM``, ``RNNCell``, ``LSTMCell``.

They mirror ``torch.nn``: the same constructor arguments (``num_layers``, ``bidirectional``,
``batch_first``, ``dropout``, the LSTM's ``proj_size``), parameter names and shapes
(``weight_ih_l0``, ``weight_hh_l0_reverse``, …; the LSTM's gates in torch's order i, f, g, o) and
return values.  Each layer and direction runs the functional forward and backpropagation through
time of ``bptt.py``, whose docstring states the equations; stacked layers feed each layer's output
sequence to the next (with optional dropout in between), and a bidirectional layer runs a second
recurrence from t = L down to 1 and concatenates both outputs along the feature axis.
"""
from __future__ import annotations

import math
import warnings
from typing import Optional, Tuple

import numpy as np

from . import init
from .bptt import lstm_backward, lstm_forward, rnn_backward, rnn_forward
from ..checks import whole
from .module import (Module, Parameter, check_device, check_dtype, expect_float, keep_for_backward, received,
                     release_for_backward)

__all__ = ["RNNCell", "LSTMCell", "RNN", "LSTM"]


def _uniform_parameter(shape, hidden_size, dtype) -> Parameter:
    """torch's recurrent initialisation U(-1/√H, 1/√H), for weights and biases alike."""
    return Parameter(init.uniform(shape, 1.0 / math.sqrt(hidden_size), dtype))


def _check_sizes(layer: str, input_size, hidden_size) -> Tuple[int, int]:
    if whole(layer, "input_size", input_size) < 1 or whole(layer, "hidden_size", hidden_size) < 1:
        raise ValueError(f"{layer} needs input_size ≥ 1 and hidden_size ≥ 1, got {input_size} and {hidden_size}")
    return int(input_size), int(hidden_size)


class _RecurrentBase(Module):
    """Shared machinery of ``RNN`` and ``LSTM``: parameters, shape checks, layers and directions.

    Layer k > 0 reads the output of layer k − 1 (both directions concatenated when
    bidirectional; h_n index = k·num_directions + direction, as in torch).  With
    ``dropout = p > 0`` and in training mode, that output is multiplied by a mask of
    1/(1 − p) (kept, probability 1 − p) or 0 drawn from ``init.generator()``, like
    ``Dropout``; never after the last layer, never in eval mode.
    """

    _gate_count = 1
    _name = "RNN"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=np.float32):
        super().__init__()
        self.input_size, self.hidden_size = _check_sizes(self._name, input_size, hidden_size)
        if isinstance(proj_size, bool) or int(proj_size) != proj_size:  # torch: TypeError for 1.5 or True
            raise TypeError(f"{self._name} proj_size must be an int, got {proj_size!r}")
        if not 0 <= whole(self._name, "proj_size", proj_size) < self.hidden_size:
            raise ValueError(f"{self._name} proj_size must be ≥ 0 and smaller than hidden_size={self.hidden_size}, "
                             f"got {proj_size}")
        self.proj_size = int(proj_size)
        # the width of h (and of the output of each direction): proj_size when projecting
        self.state_size = self.proj_size or self.hidden_size
        if whole(self._name, "num_layers", num_layers) < 1:
            raise ValueError(f"{self._name} needs num_layers ≥ 1, got {num_layers}")
        if not 0 <= float(dropout) <= 1 or isinstance(dropout, bool):
            raise ValueError(f"{self._name} dropout must be a probability in [0, 1], got {dropout}")
        self.num_layers, self.bias, self.batch_first = int(num_layers), bool(bias), bool(batch_first)
        self.dropout, self.bidirectional = float(dropout), bool(bidirectional)
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn(f"{self._name}: dropout acts between layers, so it does nothing with num_layers=1")
        self.dtype = check_dtype(dtype)
        check_device(self._name, device)
        self.num_directions = 2 if self.bidirectional else 1
        rows = self._gate_count * self.hidden_size
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else self.state_size * self.num_directions
            for suffix in ("", "_reverse")[: self.num_directions]:
                name = f"l{layer}{suffix}"
                setattr(self, f"weight_ih_{name}", _uniform_parameter((rows, layer_input), self.hidden_size, self.dtype))
                setattr(self, f"weight_hh_{name}", _uniform_parameter((rows, self.state_size), self.hidden_size, self.dtype))
                for kind in ("ih", "hh"):
                    self.register_parameter(
                        f"bias_{kind}_{name}",
                        _uniform_parameter((rows,), self.hidden_size, self.dtype) if self.bias else None,
                    )
                if self.proj_size:  # torch's order: the projection after the biases
                    setattr(self, f"weight_hr_{name}",
                            _uniform_parameter((self.proj_size, self.hidden_size), self.hidden_size, self.dtype))
        self._state = None
        self._workspaces = {}

    # --- shapes -------------------------------------------------------------
    def _input_description(self) -> str:
        layout = "(N, L, H_in={})" if self.batch_first else "(L, N, H_in={})"
        return (f"{layout.format(self.input_size)} with batch_first={self.batch_first}, "
                f"or unbatched (L, H_in={self.input_size})")

    def _check_input(self, x) -> np.ndarray:
        """Validate x; return it time-major and batched as (L, N, H_in)."""
        shape = received(x)
        if not isinstance(x, np.ndarray) or x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            raise ValueError(f"{self._name} expected input of shape {self._input_description()}, got {shape}")
        expect_float(self._name, x, self.dtype)
        sequence = x[:, None, :] if x.ndim == 2 else (x.transpose(1, 0, 2) if self.batch_first else x)
        if sequence.shape[0] == 0:  # as torch; an empty batch (N = 0) is accepted, as torch does
            raise ValueError(f"{self._name} expected at least one time step, got input of shape {shape}")
        return sequence

    def _width(self, state_index: int) -> int:
        """The features of state 0 (h: ``state_size``) and state 1 (the LSTM's c: ``hidden_size``)."""
        return self.state_size if state_index == 0 else self.hidden_size

    def _check_state(self, state, batched: bool, batch: int, what: str, width: int) -> np.ndarray:
        """h_0 / c_0 are (num_layers·num_directions, N, width) even when batch_first; unbatched (…, width)."""
        layers = self.num_layers * self.num_directions
        expected = (layers, batch, width) if batched else (layers, width)
        if not isinstance(state, np.ndarray) or state.shape != expected:
            shape = received(state)
            raise ValueError(
                f"{self._name} expected {what} of shape {expected} (num_layers·num_directions, "
                f"{'N, ' if batched else ''}{'proj_size' if width != self.hidden_size else 'hidden_size'}), got {shape}"
            )
        expect_float(self._name, state, self.dtype, what)
        return state if batched else state[:, None, :]

    def _parameter_kinds(self):
        return ("weight_ih", "weight_hh", "bias_ih", "bias_hh") + (("weight_hr",) if self.proj_size else ())

    def _weights(self, layer: int, direction: int):
        name = f"l{layer}{'_reverse' if direction else ''}"
        params = [getattr(self, f"{kind}_{name}") for kind in self._parameter_kinds()]
        return [None if p is None else p.data for p in params], params

    # --- the layer stack -------------------------------------------------------
    def _run(self, x, hx):
        """Forward through every layer and direction; ``hx`` is a tuple of states (h0,) or (h0, c0)."""
        sequence = np.ascontiguousarray(self._check_input(x))
        batched = x.ndim == 3
        length, batch, _ = sequence.shape
        given = hx is not None
        if given:
            states = tuple(self._check_state(s, batched, batch, name, self._width(index))
                           for index, (s, name) in enumerate(zip(hx, self._state_names)))
        else:
            states = tuple(np.zeros((self.num_layers * self.num_directions, batch, self._width(index)), self.dtype)
                           for index in range(len(self._state_names)))
        caches, masks = [], []
        finals = [np.empty_like(s) for s in states]
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                weights, _ = self._weights(layer, direction)
                # one workspace per layer and direction: its buffers hold this call's states for backward
                workspace = self._workspaces.setdefault(index, {})
                output, *final, cache = self._step_layer(
                    sequence, [s[index] for s in states], weights, bool(direction), workspace)
                for buffer, value in zip(finals, final):
                    buffer[index] = value
                outputs.append(output)
                caches.append(cache)
            sequence = outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=-1)
            mask = None
            if layer < self.num_layers - 1 and self.training and self.dropout > 0:
                # inverted dropout between layers, drawn from the scratch generator like Dropout
                keep = 1.0 - self.dropout
                mask = init.generator().random(sequence.shape) < keep
                mask = mask.astype(self.dtype) / keep if keep > 0 else np.zeros(sequence.shape, self.dtype)
                sequence = sequence * mask
            masks.append(mask)
        output = sequence
        if not batched:
            output = output[:, 0]
            finals = [s[:, 0] for s in finals]
        elif self.batch_first:
            output = output.transpose(1, 0, 2)
        # the first layer's cache holds the caller's array (not copied when contiguous), which the RNN's
        # weight gradient reads: backward raises if an in-place layer overwrites it
        self._state = dict(input=keep_for_backward(caches[0].x), caches=caches, masks=masks, batched=batched,
                           given=given, batch=batch, output_shape=output.shape,
                           state_shapes=[final.shape for final in finals])
        # a copy: the caller may change it in place without corrupting what backward needs
        return np.array(output, order="C"), finals

    def _backprop(self, grad_output, grad_states):
        """BPTT through the stack, last layer first; returns (grad_input, grad_states or None)."""
        if self._state is None:
            raise RuntimeError(f"{self._name}.backward called before forward")
        release_for_backward(self._name, self._state["input"], "input")
        caches, masks = self._state["caches"], self._state["masks"]
        batched, batch = self._state["batched"], self._state["batch"]
        width, D = self.state_size, self.num_directions  # each direction's output features
        grad_sequence = None
        for name, grad in (("grad_output", grad_output), *zip(("grad_h_n", "grad_c_n"), grad_states)):
            if grad is not None and not isinstance(grad, np.ndarray):  # as every other module's backward
                raise ValueError(f"{self._name}.backward expected {name} as a NumPy array (or None), got {received(grad)}")
        if grad_output is not None:
            grad_output = np.asarray(grad_output, dtype=self.dtype)
            self._check_grad("grad_output", grad_output, self._state["output_shape"], "the output")
            if not batched:
                grad_output = grad_output[:, None, :]
            elif self.batch_first:
                grad_output = grad_output.transpose(1, 0, 2)
            grad_sequence = grad_output
        grad_finals = []
        for grad, name, shape in zip(grad_states, ("grad_h_n", "grad_c_n"), self._state["state_shapes"]):
            if grad is not None:
                grad = np.asarray(grad, dtype=self.dtype)
                self._check_grad(name, grad, shape, name[5:])
                grad = grad if batched else grad[:, None, :]
            grad_finals.append(grad)
        grad_initial = [np.empty((self.num_layers * D, batch, self._width(index)), dtype=self.dtype)
                        for index in range(len(grad_states))]
        for layer in reversed(range(self.num_layers)):
            if masks[layer] is not None and grad_sequence is not None:
                grad_sequence = grad_sequence * masks[layer]
            grad_input = None
            for direction in range(D):
                index = layer * D + direction
                columns = slice(direction * width, (direction + 1) * width)
                grad_out = None if grad_sequence is None else grad_sequence[:, :, columns]
                finals = [None if g is None else g[index] for g in grad_finals]
                _, params = self._weights(layer, direction)
                named = {name: param for name, param in zip(self._parameter_kinds(), params)
                         if param is not None and param.requires_grad}
                grad_x, *grad_init, grads = self._step_back(grad_out, finals, caches[index], frozenset(named))
                for buffer, value in zip(grad_initial, grad_init):
                    buffer[index] = value
                for name, param in named.items():
                    param.add_to_grad(grads[name])
                grad_input = grad_x if grad_input is None else grad_input + grad_x
            grad_sequence = grad_input
        if not batched:
            grad_sequence = grad_sequence[:, 0]
            grad_initial = [g[:, 0] for g in grad_initial]
        elif self.batch_first:
            grad_sequence = grad_sequence.transpose(1, 0, 2)
        grad_input = np.ascontiguousarray(grad_sequence)
        return grad_input, (grad_initial if self._state["given"] else None)

    def _check_grad(self, name, grad, expected, what) -> None:
        if grad.shape != tuple(expected):
            raise ValueError(f"{self._name}.backward expected {name} shaped like {what}, "
                             f"{tuple(expected)}, got {grad.shape}")

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            text += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        return text


class RNN(_RecurrentBase):
    """``torch.nn.RNN``: a stack of Elman RNN layers with tanh or ReLU (see the module docstring).

    Input (L, N, H_in), or (N, L, H_in) with ``batch_first``, or unbatched (L, H_in);
    ``hx`` is (num_layers·num_directions, N, H) in every layout.  ``forward`` returns
    ``(output, h_n)``; ``backward(grad_output, grad_h_n=None)`` runs BPTT, accumulates
    every parameter's gradient and returns ``(grad_input, grad_hx)`` (``grad_hx`` is None
    if no ``hx`` was given).  Parameters: ``weight_ih_l{k}`` (H, in), ``weight_hh_l{k}`` (H, H),
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` (H,), with ``_reverse`` twins when bidirectional.
    """

    _state_names = ("h_0",)
    _name = "RNN"

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=np.float32):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def _step_layer(self, sequence, states, weights, reverse, workspace):
        output, h_n, cache = rnn_forward(sequence, states[0], *weights, nonlinearity=self.nonlinearity,
                                         reverse=reverse, workspace=workspace)
        return output, h_n, cache

    def _step_back(self, grad_out, grad_finals, cache, needed):
        return rnn_backward(grad_out, grad_finals[0], cache, needed)

    def forward(self, input: np.ndarray, hx: Optional[np.ndarray] = None):
        output, (h_n,) = self._run(input, None if hx is None else (hx,))
        return output, h_n

    def backward(self, grad_output: Optional[np.ndarray], grad_h_n: Optional[np.ndarray] = None):
        grad_input, grad_hx = self._backprop(grad_output, (grad_h_n,))
        return grad_input, (None if grad_hx is None else grad_hx[0])

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text + (f", nonlinearity='{self.nonlinearity}'" if self.nonlinearity != "tanh" else "")


class LSTM(_RecurrentBase):
    """``torch.nn.LSTM``: a stack of LSTM layers with fused gates (i, f, g, o), see the module docstring.

    ``forward(input, hx=None)`` with ``hx = (h_0, c_0)`` returns ``(output, (h_n, c_n))``.
    ``backward(grad_output, grad_hc=None)`` takes ``grad_hc = (grad_h_n, grad_c_n)`` (either may
    be None), accumulates every parameter's gradient and returns ``(grad_input, (grad_h_0, grad_c_0))``,
    or ``(grad_input, None)`` if no ``hx`` was given.  Parameters: ``weight_ih_l{k}`` (4H, in),
    ``weight_hh_l{k}`` (4H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (4H,).  With ``proj_size`` = P > 0
    (torch's LSTM with projections), h_t = W_hr (o ⊙ tanh c_t) has P features: ``weight_hr_l{k}``
    (P, H) is added, ``weight_hh_l{k}`` is (4H, P), and h_0, h_n and each direction's output have
    P features while c_0 and c_n keep H.
    """

    _gate_count = 4
    _state_names = ("h_0", "c_0")
    _name = "LSTM"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=np.float32):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device=device, dtype=dtype)

    def _step_layer(self, sequence, states, weights, reverse, workspace):
        output, h_n, c_n, cache = lstm_forward(sequence, states[0], states[1], *weights[:4], reverse=reverse,
                                               workspace=workspace, weight_hr=weights[4] if self.proj_size else None)
        return output, h_n, c_n, cache

    def _step_back(self, grad_out, grad_finals, cache, needed):
        return lstm_backward(grad_out, grad_finals[0], grad_finals[1], cache, needed)

    def forward(self, input: np.ndarray, hx: Optional[Tuple[np.ndarray, np.ndarray]] = None):
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ValueError(f"LSTM expected hx to be a tuple (h_0, c_0), got {type(hx).__name__}")
        output, (h_n, c_n) = self._run(input, None if hx is None else tuple(hx))
        return output, (h_n, c_n)

    def backward(self, grad_output: Optional[np.ndarray], grad_hc=None):
        if grad_hc is not None and (not isinstance(grad_hc, (tuple, list)) or len(grad_hc) != 2):
            raise ValueError("LSTM.backward expected the gradients of the final states as one tuple "
                             f"(grad_h_n, grad_c_n) — either may be None — got {received(grad_hc)}")
        grad_h_n, grad_c_n = (None, None) if grad_hc is None else grad_hc
        grad_input, grad_hx = self._backprop(grad_output, (grad_h_n, grad_c_n))
        return grad_input, (None if grad_hx is None else tuple(grad_hx))


# ---------------------------------------------------------------------------
# Cells: one time step, the building block the chapter starts from
# ---------------------------------------------------------------------------
class _CellBase(Module):
    _gate_count = 1
    _name = "RNNCell"
    _state_names = ("hx",)

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=np.float32):
        super().__init__()
        self.input_size, self.hidden_size = _check_sizes(self._name, input_size, hidden_size)
        self.dtype = check_dtype(dtype)
        check_device(self._name, device)
        rows = self._gate_count * self.hidden_size
        self.weight_ih = _uniform_parameter((rows, self.input_size), self.hidden_size, self.dtype)
        self.weight_hh = _uniform_parameter((rows, self.hidden_size), self.hidden_size, self.dtype)
        for kind in ("ih", "hh"):
            self.register_parameter(
                f"bias_{kind}", _uniform_parameter((rows,), self.hidden_size, self.dtype) if bias else None)
        self._state = None

    def _prepare(self, x, hx):
        """Validate; return x as (1, N, in), the states as (N, H) each, and whether x was batched."""
        shape = received(x)
        if not isinstance(x, np.ndarray) or x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{self._name} expected input of shape (N, input_size={self.input_size}) "
                             f"or unbatched ({self.input_size},), got {shape}")
        expect_float(self._name, x, self.dtype)
        batched = x.ndim == 2
        batch_x = x if batched else x[None]
        batch = batch_x.shape[0]
        expected = (batch, self.hidden_size) if batched else (self.hidden_size,)
        states = []
        for name, state in zip(self._state_names, hx if hx is not None else [None] * len(self._state_names)):
            if state is None:
                states.append(np.zeros((batch, self.hidden_size), dtype=self.dtype))
                continue
            if not isinstance(state, np.ndarray) or state.shape != expected:
                raise ValueError(f"{self._name} expected {name} of shape {expected}, got {received(state)}")
            expect_float(self._name, state, self.dtype, name)
            states.append(state if batched else state[None])
        return np.ascontiguousarray(batch_x)[None], states, batched

    def _weights(self):
        params = [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh]
        return [None if p is None else p.data for p in params], params

    def _needed(self) -> frozenset:
        """The names of the parameters that want a gradient (not frozen)."""
        return frozenset(name for name, param in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), self._weights()[1])
                         if param is not None and param.requires_grad)

    def _accumulate(self, grads):
        for name, grad in grads.items():
            getattr(self, name).add_to_grad(grad)

    def _unbatch(self, array, batched):
        return array if batched else array[0]

    def _batched_grad(self, name, grad, batched, batch):
        """``grad`` as a (N, H) array of the cell's dtype, after checking it is shaped like the output."""
        expected = (batch, self.hidden_size) if batched else (self.hidden_size,)
        if grad is None:  # np.asarray would make it a 0-d array of NaN and the message would say ()
            raise ValueError(f"{self._name}.backward expected {name} of shape {expected}, got None")
        if not isinstance(grad, (np.ndarray, np.generic)) or grad.dtype.kind != "f":  # as every backward refuses
            got = f"dtype {grad.dtype.name}" if isinstance(grad, (np.ndarray, np.generic)) else type(grad).__name__
            raise ValueError(f"{self._name}.backward expected {name} as a float array of shape {expected}, got {got}")
        if grad.shape != expected:
            raise ValueError(f"{self._name}.backward expected {name} of shape {expected}, got {grad.shape}")
        grad = grad.astype(self.dtype, copy=False)
        return grad if batched else grad[None]

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias_ih is not None else ", bias=False")


class RNNCell(_CellBase):
    """``torch.nn.RNNCell``: h' = φ(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh), one step of ``RNN``.

    ``forward(x, hx=None)`` returns h'; ``backward(grad_h)`` returns ``(grad_x, grad_hx)``
    (``grad_hx`` None when ``hx`` was not given) and accumulates the parameter gradients.
    """

    _name = "RNNCell"

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=np.float32):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, x: np.ndarray, hx: Optional[np.ndarray] = None) -> np.ndarray:
        sequence, (h0,), batched = self._prepare(x, None if hx is None else (hx,))
        _, h_new, cache = rnn_forward(sequence, h0, *self._weights()[0], nonlinearity=self.nonlinearity)
        self._state = (cache, batched, hx is not None)
        return self._unbatch(h_new.copy(), batched)

    def backward(self, grad_h: np.ndarray):
        if self._state is None:
            raise RuntimeError("RNNCell.backward called before forward")
        cache, batched, given = self._state
        grad_h = self._batched_grad("grad_h", grad_h, batched, cache.x.shape[1])
        grad_x, grad_h0, grads = rnn_backward(None, grad_h, cache, self._needed())
        self._accumulate(grads)
        return self._unbatch(grad_x[0], batched), (self._unbatch(grad_h0, batched) if given else None)


class LSTMCell(_CellBase):
    """``torch.nn.LSTMCell``: one step of ``LSTM`` with fused gates (i, f, g, o).

    ``forward(x, hx=None)`` with ``hx = (h, c)`` returns ``(h', c')``; ``backward(grad_h, grad_c=None)``
    (either may be None) returns ``(grad_x, (grad_h, grad_c))`` — or ``(grad_x, None)`` when
    ``hx`` was not given — and accumulates the parameter gradients.
    """

    _gate_count = 4
    _name = "LSTMCell"
    _state_names = ("h", "c")

    def forward(self, x: np.ndarray, hx: Optional[Tuple[np.ndarray, np.ndarray]] = None):
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ValueError(f"LSTMCell expected hx to be a tuple (h, c), got {type(hx).__name__}")
        sequence, (h0, c0), batched = self._prepare(x, hx)
        _, h_new, c_new, cache = lstm_forward(sequence, h0, c0, *self._weights()[0])
        self._state = (cache, batched, hx is not None)
        return self._unbatch(h_new.copy(), batched), self._unbatch(c_new.copy(), batched)

    def backward(self, grad_h: Optional[np.ndarray], grad_c: Optional[np.ndarray] = None):
        if self._state is None:
            raise RuntimeError("LSTMCell.backward called before forward")
        cache, batched, given = self._state
        grads_in = [None if grad is None else self._batched_grad(name, grad, batched, cache.x.shape[1])
                    for name, grad in (("grad_h", grad_h), ("grad_c", grad_c))]
        grad_x, grad_h0, grad_c0, grads = lstm_backward(None, *grads_in, cache, self._needed())
        self._accumulate(grads)
        grad_hx = (self._unbatch(grad_h0, batched), self._unbatch(grad_c0, batched)) if given else None
        return self._unbatch(grad_x[0], batched), grad_hx

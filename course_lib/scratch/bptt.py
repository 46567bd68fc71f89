"""Recurrent networks and backpropagation through time (Chapter "Recurrent networks").

Elman RNN, one time step (rows are batch entries, φ = tanh or ReLU):

    h_t = φ(a_t),   a_t = x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh

LSTM, one time step; the four gates are one fused pre-activation of width 4H
(torch's gate order i, f, g, o):

    a_t = x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh = [a^i | a^f | a^g | a^o]
    i = σ(a^i),  f = σ(a^f),  g = tanh(a^g),  o = σ(a^o)
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)                 (with proj_size P > 0: h_t = W_hr (o ⊙ tanh(c_t)), P < H)

Backpropagation through time (BPTT) unrolls the recurrence into a deep
feed-forward network whose layers share W_hh, and runs the chain rule backwards
from t = T to 1 (T, the sequence length, is the L of the array shapes below; L alone is the loss).  The gradient reaching h_t has two sources, the output at time t
and the future:

    δh_t = ∂L/∂y_t + δa_{t+1} W_hh                  (δa_{T+1} W_hh is ∂L/∂h_n)

RNN:   δa_t = δh_t ⊙ φ'(a_t)   (1 − h_t² for tanh, [h_t > 0] for ReLU, 1 at NaN as torch)

LSTM:  the cell state has its own path through time ("the gradient highway"):

    δc_t  = δh_t ⊙ o ⊙ (1 − tanh² c_t) + δc_{t+1} ⊙ f_{t+1}     (δc_{T+1} f_{T+1} is ∂L/∂c_n)
    δa^i = δc_t ⊙ g ⊙ i(1 − i)        δa^f = δc_t ⊙ c_{t-1} ⊙ f(1 − f)
    δa^g = δc_t ⊙ i ⊙ (1 − g²)        δa^o = δh_t ⊙ tanh(c_t) ⊙ o(1 − o)

Both: the shared weights collect one term per time step, which after the loop is
one GEMM over the whole sequence (stack the δa_t as rows of δA):

    ∂L/∂W_ih = δAᵀ X,   ∂L/∂W_hh = δAᵀ H_prev,   ∂L/∂b_ih = ∂L/∂b_hh = Σ_{t,n} δa_t
    ∂L/∂X = δA W_ih,    ∂L/∂h_0 = δa_1 W_hh,     ∂L/∂c_0 = δc_1 ⊙ f_1

Only the h_{t-1} W_hhᵀ term has to wait for the previous step, so the RNN computes the
input projection X W_ihᵀ for all time steps in one call before the loop; the LSTM makes
each step one GEMM over the stacked column [h_{t-1}; x_t; 1] instead (see ``lstm_forward``).
Stacked layers feed each layer's output sequence to the next (with optional
dropout in between); a bidirectional layer runs a second recurrence from t = L
down to 1 and concatenates both outputs along the feature axis.

This file holds the functional forms: ``rnn_forward``/``rnn_backward`` and ``lstm_forward``/
``lstm_backward`` work on one layer and one direction, time-major (L, N, features).  The
modules ``RNNCell``, ``LSTMCell``, ``RNN`` and ``LSTM``, which mirror ``torch.nn`` and stack
layers and directions on top of these, are in ``recurrent.py``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["RecurrentCache", "rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward"]


# ---------------------------------------------------------------------------
# One layer, one direction, time-major: the functional core
# ---------------------------------------------------------------------------
class RecurrentCache:
    """What ``*_forward`` keeps for ``*_backward``: inputs, weights and the states of every step.

    ``hidden`` (and ``cell`` for the LSTM) hold L + 1 states: for the forward direction
    index 0 is h_0 and index t is h_t; for ``reverse`` index L is the initial state and
    index t is the state after reading x_t.  So ``output`` and ``previous`` are
    plain slices of one buffer, in input time order for both directions.
    """

    def __init__(self, x, weight_ih, weight_hh, has_bias, reverse, hidden, workspace, **extra):
        self.x, self.weight_ih, self.weight_hh = x, weight_ih, weight_hh
        self.has_bias, self.reverse, self.hidden, self.workspace = has_bias, reverse, hidden, workspace
        self.__dict__.update(extra)

    def output(self, states: np.ndarray) -> np.ndarray:
        return states[:-1] if self.reverse else states[1:]

    def previous(self, states: np.ndarray) -> np.ndarray:
        return states[1:] if self.reverse else states[:-1]

    def steps(self, length: int):
        return range(length - 1, -1, -1) if self.reverse else range(length)


def _buffer(workspace, name: str, shape, dtype) -> np.ndarray:
    """An uninitialised array, reused from ``workspace`` (a dict) when shape and dtype match.

    Fresh multi-megabyte arrays cost page faults on every call; reusing them keeps the
    time loop's memory warm.  Without a workspace every call allocates.
    """
    if workspace is None:
        return np.empty(shape, dtype)
    buffer = workspace.get(name)
    if buffer is None or buffer.shape != tuple(shape) or buffer.dtype != dtype:
        buffer = workspace[name] = np.empty(shape, dtype)
    return buffer


def _input_projection(x, weight_ih, bias_ih, bias_hh, workspace) -> np.ndarray:
    """x_t W_ihᵀ + b_ih + b_hh for every time step at once: one GEMM of (L·N, in) × (in, G)."""
    length, batch, features = x.shape
    projection = _buffer(workspace, "projection", (length, batch, weight_ih.shape[0]), x.dtype)
    np.matmul(x.reshape(length * batch, features), weight_ih.T, out=projection.reshape(length * batch, weight_ih.shape[0]))
    if bias_ih is not None:
        projection += bias_ih + bias_hh
    return projection


def _weight_gradients(cache, grad_t, previous_hidden, needed):
    """The RNN's whole-sequence GEMMs: ∂L/∂W_ih = δAᵀX, ∂L/∂W_hh = δAᵀH_prev, ∂L/∂b = Σ δA, ∂L/∂X = δA W_ih.

    ``grad_t`` is δAᵀ, one column per (t, n): shape (G, L·N), any strides (a transposed view
    of the (L·N, G) rows); ``previous_hidden`` is H_prev with rows (t, n), (L·N, H).  The LSTM
    does the same with one GEMM over the stacked columns [h_{t-1}; x_t; 1] (``lstm_backward``).
    Only the parameter gradients named in ``needed`` are computed (see ``rnn_backward``).
    """
    length, batch, features = cache.x.shape
    grads = {}
    if "weight_ih" in needed:
        grads["weight_ih"] = grad_t @ cache.x.reshape(length * batch, features)
    if "weight_hh" in needed:
        grads["weight_hh"] = grad_t @ previous_hidden
    if cache.has_bias and needed & {"bias_ih", "bias_hh"}:
        bias = grad_t.sum(axis=1)
        grads.update((name, bias.copy()) for name in ("bias_ih", "bias_hh") if name in needed)
    grad_x = (grad_t.T @ cache.weight_ih).reshape(length, batch, features)
    return grad_x, grads


def rnn_forward(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh", reverse=False,
                workspace=None):
    """One Elman RNN layer over a time-major sequence x of shape (L, N, in); h0 is (N, H).

    Returns ``(output, h_n, cache)`` with output (L, N, H) and h_n (N, H); ``output`` and
    ``h_n`` are views of the cache's state buffer.  ``reverse=True`` reads the sequence
    from t = L down to 1 (the backward half of a bidirectional layer); the output stays
    in input time order.  ``workspace`` (a dict) lends reusable buffers: the cache is
    then valid only until the next call with the same workspace.
    """
    length, batch, _ = x.shape
    hidden_size = weight_hh.shape[1]
    pre = _input_projection(x, weight_ih, bias_ih, bias_hh, workspace)
    hidden = _buffer(workspace, "hidden", (length + 1, batch, hidden_size), x.dtype)
    cache = RecurrentCache(x, weight_ih, weight_hh, bias_ih is not None, reverse, hidden, workspace,
                           nonlinearity=nonlinearity)
    hidden[length if reverse else 0] = h0
    recurrent = _buffer(workspace, "recurrent", (batch, hidden_size), x.dtype)
    weight_hh_t = np.ascontiguousarray(weight_hh.T)  # copied once: OpenBLAS runs h @ Wᵀ about 30 % faster then
    shift = 1 if reverse else -1  # where the previous state of step t lives, relative to its output
    for t in cache.steps(length):
        now = t if reverse else t + 1
        np.matmul(hidden[now + shift], weight_hh_t, out=recurrent)
        h = hidden[now]
        np.add(pre[t], recurrent, out=h)
        if nonlinearity == "tanh":
            np.tanh(h, out=h)
        else:
            np.maximum(h, 0, out=h)
    h_n = hidden[0] if reverse else hidden[length]
    return cache.output(hidden), h_n, cache


_ALL = frozenset(("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"))


def rnn_backward(grad_output, grad_h_n, cache, needed=_ALL):
    """BPTT for ``rnn_forward``: returns ``(grad_x, grad_h0, grads)``, grads keyed like the parameters.

    ``grad_output`` (L, N, H) and ``grad_h_n`` (N, H) may each be None (no gradient).
    ``needed``: the names of the parameters that want a gradient; the others (frozen) get
    none, and their products are not made.
    """
    hidden, workspace = cache.hidden, cache.workspace
    output = cache.output(hidden)
    length, batch, hidden_size = output.shape
    # φ'(a_t) for every step at once, from the stored outputs
    derivative = _buffer(workspace, "derivative", output.shape, output.dtype)
    if cache.nonlinearity == "tanh":
        np.multiply(output, output, out=derivative)
        np.subtract(1, derivative, out=derivative)
    else:  # not h ≤ 0: 1 at NaN too, as torch's ReLU (see activations._relu_mask)
        np.less_equal(output, 0, out=derivative)
        np.subtract(1, derivative, out=derivative)
    grad_pre = _buffer(workspace, "grad_pre", output.shape, output.dtype)
    grad_h = np.zeros((batch, hidden_size), dtype=output.dtype)
    if grad_h_n is not None:
        grad_h += grad_h_n
    weight_hh = cache.weight_hh
    for t in reversed(cache.steps(length)):
        if grad_output is not None:
            grad_h += grad_output[t]
        np.multiply(grad_h, derivative[t], out=grad_pre[t])
        np.matmul(grad_pre[t], weight_hh, out=grad_h)  # δh_{t-1} from the recurrence
    # explicit sizes, not -1: an empty batch (N = 0, which the cells accept, as torch's do) has no size to infer
    grad_x, grads = _weight_gradients(cache, grad_pre.reshape(length * batch, hidden_size).T,
                                      cache.previous(hidden).reshape(length * batch, hidden_size), needed)
    return grad_x, grad_h, grads


_LOG2_E = 1.4426950408889634  # log₂ e: e^{−a} = 2^{−a·log₂ e}


def _gate_order(hidden_size: int) -> np.ndarray:
    """The rows of torch's (i, f, g, o) gate blocks in the order the scratch LSTM stores them,
    (o, i, f, g): the three sigmoid gates are then one block of rows and g the last, and the three
    gates that multiply δc in backpropagation (i, f, g) one block too (see ``lstm_forward``)."""
    H = hidden_size
    return np.concatenate([np.arange(3 * H, 4 * H), np.arange(0, 3 * H)])


def _gate_scale(hidden_size: int, dtype) -> np.ndarray:
    """−log₂ e for the sigmoid gates o, i, f (folded into the weights, see ``lstm_forward``), 1 for g."""
    scale = np.full(4 * hidden_size, -_LOG2_E, dtype=dtype)
    scale[3 * hidden_size:] = 1
    return scale


def lstm_forward(x, h0, c0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, reverse=False, workspace=None,
                 weight_hr=None):
    """One LSTM layer over a time-major sequence x (L, N, in); h0 and c0 are (N, H).

    Returns ``(output, h_n, c_n, cache)``; the arrays are views of the cache's buffers.
    ``reverse`` and ``workspace`` as in ``rnn_forward``.  ``weight_hr`` (P, H), torch's
    ``proj_size`` = P: the state h_t = W_hr (o ⊙ tanh c_t) has P features, so h0 and the
    output have P, W_hh is (4H, P), and each step makes one more product.

    Inside, every step's arrays are stored feature-major, one column per batch entry: the
    gate pre-activations a_tᵀ (4H, N) in one (L, 4H, N) buffer that is overwritten in place by
    the gate values, the states h_tᵀ and c_tᵀ (H, N).  The gate blocks are stored in the order
    (o, i, f, g) (``_gate_order``; the weights' rows are permuted once per call), so that the
    sigmoids are one block of 3H rows and tanh the last H.  Each step is then one GEMM
    [W_hh | W_ih | b] · [h_{t-1}; x_t; 1], a (4H × K)·(K × N) product with K = H + in + 1
    written straight into the gate buffer: the input term, the bias and the recurrence
    in one call, with no separate addition.  The columns [h; x; 1] of all steps live in one
    (L + 1, K, N) buffer ``inputs``: step t writes h_t into the rows of the next slot, beside
    the x that the following step reads.  Feature-major, the product is a tall-by-thin GEMM
    that OpenBLAS runs 1.5–2× as fast as the (N × H)·(H × 4H) product h_{t-1} W_hhᵀ of the
    formulas (measured here at N = 32, H = 128), and each gate is a contiguous block of rows.
    The quantities are those of the formulas, transposed: ``output`` is an (L, N, H) view of
    the (L, H, N) states.
    """
    length, batch, features = x.shape
    H = weight_hh.shape[0] // 4
    P = weight_hh.shape[1]  # the width of h: H, or proj_size with weight_hr
    dtype = x.dtype
    has_bias = bias_ih is not None
    # The three sigmoid gates come out of one σ pass over their 3H rows: those weights are
    # pre-scaled by −log₂ e, so 1 / (1 + 2^{s·a}) gives σ(a).  One pass over 3H rows avoids
    # three per-gate passes.  Base 2 because NumPy's exp2 is twice as fast as its exp in float32
    # (3.7 against 7.8 µs on a (4H, N) = (512, 32) array, numpy 2.4.6, 2026-12-05; 11.7 against
    # 13.6 in float64); the rounding of the scaled weights perturbs each by at most half an ulp,
    # as storing them does.  g = tanh(a^g) is np.tanh of its own H rows: the single-pass form
    # 2σ(2a) − 1 is exact only up to an absolute error of about machine ε, which is a large
    # relative error where |a^g| is small (1.07·10⁻⁶ for tanh(10⁻⁶) in float32; an audit,
    # 2026-12-06), and np.tanh on H rows costs about what the fourth block cost in the σ pass.
    # The other single-pass form, σ(a) = 0.5·tanh(a/2) + 0.5, loses the small values of σ to
    # cancellation — σ(−20) ≈ 2·10⁻⁹ comes out as 0 in float32.
    order, scale = _gate_order(H), _gate_scale(H, dtype)
    blocks = [weight_hh, weight_ih] + ([(bias_ih + bias_hh)[:, None]] if has_bias else [])
    weight = np.concatenate(blocks, axis=1).astype(dtype, copy=False)[order] * scale[:, None]  # (4H, K)
    width = weight.shape[1]
    inputs = _buffer(workspace, "inputs", (length + 1, width, batch), dtype)
    initial = length if reverse else 0
    # x_t sits in the slot of the state that step t reads: slot t going forwards, t + 1 in reverse
    np.copyto((inputs[1:] if reverse else inputs[:-1])[:, P:P + features], x.transpose(0, 2, 1))
    inputs[0 if reverse else length, P:] = 0  # the slot no step reads
    if has_bias:
        inputs[:, P + features] = 1
    hidden = inputs[:, :P]  # (L + 1, P, N): h_tᵀ in the first P rows of every slot
    cell = _buffer(workspace, "cell", (length + 1, H, batch), dtype)
    gates = _buffer(workspace, "gates", (length, 4 * H, batch), dtype)
    tanh_cell = _buffer(workspace, "tanh_cell", (length, H, batch), dtype)
    hidden[initial], cell[initial] = h0.T, c0.T
    input_times_g = _buffer(workspace, "input_times_g", (H, batch), dtype)
    # with a projection, o ⊙ tanh(c_t) (which W_hr's gradient needs) is kept apart from h_t
    unprojected = None if weight_hr is None else _buffer(workspace, "unprojected", (length, H, batch), dtype)
    cache = RecurrentCache(x, weight_ih, weight_hh, has_bias, reverse, hidden, workspace,
                           cell=cell, gates=gates, tanh_cell=tanh_cell, inputs=inputs,
                           weight_hr=weight_hr, unprojected=unprojected)
    shift = 1 if reverse else -1
    # σ = 1 / (1 + e) as a division by an array of ones: NumPy vectorises divide (2.2 µs on a
    # (4H, N) = (512, 32) float32 array) but not reciprocal (3.8 µs).  The scalar constant is a
    # 0-d array, which NumPy takes faster than a Python number (numpy 2.4.6, measured 2026-12-05).
    numerator = _buffer(workspace, "numerator", (3 * H, batch), dtype)
    numerator[:] = 1
    one = np.ones((), dtype)
    with np.errstate(over="ignore", under="ignore"):  # exp(±large) = inf or 0 gives σ = 0 or 1 exactly
        for t in cache.steps(length):
            now = t if reverse else t + 1
            before = now + shift
            a = gates[t]
            np.matmul(weight, inputs[before], out=a)                         # s ⊙ a_t, all terms at once
            sigmoids, g = a[:3 * H], a[3 * H:]
            np.exp2(sigmoids, out=sigmoids)                                  # e^{−a} for o, i, f
            np.add(sigmoids, one, out=sigmoids)
            np.divide(numerator, sigmoids, out=sigmoids)                     # o, i, f
            np.tanh(g, out=g)                                                # g = tanh(a^g)
            c_now = cell[now]
            np.multiply(a[2 * H:3 * H], cell[before], out=c_now)             # f ⊙ c_{t-1}
            np.multiply(a[H:2 * H], g, out=input_times_g)                   # i ⊙ g
            c_now += input_times_g
            np.tanh(c_now, out=tanh_cell[t])
            if weight_hr is None:
                np.multiply(a[:H], tanh_cell[t], out=hidden[now])           # o ⊙ tanh(c_t)
            else:
                np.multiply(a[:H], tanh_cell[t], out=unprojected[t])
                np.matmul(weight_hr, unprojected[t], out=hidden[now])       # W_hr (o ⊙ tanh(c_t))
    final = 0 if reverse else length
    return cache.output(hidden).transpose(0, 2, 1), hidden[final].T, cell[final].T, cache


# time steps per block of the backward pass's precomputed gate derivatives: small enough
# that a block's arrays stay in the L2 cache until the time loop reads them
_BACKWARD_BLOCK = 10


def _gate_derivatives(steps, gate, previous_cell, tanh_cell, factor, through_h, scratch):
    """The parts of δa that do not depend on δh or δc, for the time steps ``steps`` (a slice):

        δa^{i,f,g} = δc_t ⊙ factor^{i,f,g},  δa^o = δh_t ⊙ factor^o,  δc_t += δh_t ⊙ through_h

    ``gate`` is the (L, 4, H, N) view of the gate values, stored in the order (o, i, f, g).  The
    results for step ``steps.start + k`` go into ``factor[k]`` (4, H, N) and ``through_h[k]``
    (H, N): buffers with room for one block of steps (``lstm_backward`` passes the block's own
    slots of δa, which the time loop then multiplies in place); ``scratch`` (same size as
    ``through_h``) is work space.
    """
    count = steps.stop - steps.start
    o, i, f, g = (gate[steps, k] for k in range(4))
    block, through, square = factor[:count], through_h[:count], scratch[:count]
    # σ' = σ(1 − σ) of the sigmoid gates o, i, f (3H rows of each step) in two passes
    sigmoids = gate[steps, :3]
    np.subtract(1, sigmoids, out=block[:, :3])
    block[:, :3] *= sigmoids
    block[:, 0] *= tanh_cell[steps]
    block[:, 1] *= g
    block[:, 2] *= previous_cell[steps]
    np.multiply(g, g, out=square)
    np.subtract(1, square, out=square)                                       # tanh' = 1 − g²
    np.multiply(square, i, out=block[:, 3])
    np.multiply(tanh_cell[steps], tanh_cell[steps], out=through)
    np.subtract(1, through, out=through)
    through *= o


def lstm_backward(grad_output, grad_h_n, grad_c_n, cache, needed=_ALL):
    """BPTT for ``lstm_forward``: returns ``(grad_x, grad_h0, grad_c0, grads)``.

    Any of ``grad_output`` (L, N, P), ``grad_h_n`` (N, P), ``grad_c_n`` (N, H) may be None (P = H
    without a projection, else proj_size).
    ``needed`` as in ``rnn_backward``: a frozen parameter's gradient is not computed.
    Works in ``lstm_forward``'s feature-major layout: δh_{t-1}ᵀ = W_hhᵀ · δa_tᵀ per step.
    """
    gates, tanh_cell, workspace = cache.gates, cache.tanh_cell, cache.workspace
    length, hidden_size, batch = tanh_cell.shape
    width = cache.weight_hh.shape[1]  # of h: hidden_size, or proj_size
    features = cache.x.shape[2]
    weight_hr = cache.weight_hr
    dtype = gates.dtype
    gate = gates.reshape(length, 4, hidden_size, batch)
    previous_cell = cache.previous(cache.cell)
    block_length = max(1, min(length, _BACKWARD_BLOCK))
    through_h = _buffer(workspace, "through_h", (block_length, hidden_size, batch), dtype)
    scratch = _buffer(workspace, "scratch", (block_length, hidden_size, batch), dtype)
    grad_gates = _buffer(workspace, "grad_gates", gate.shape, dtype)
    grad_h = np.zeros((width, batch), dtype=dtype)
    grad_c = np.zeros((hidden_size, batch), dtype=dtype)
    if grad_h_n is not None:
        grad_h += grad_h_n.T
    if grad_c_n is not None:
        grad_c += grad_c_n.T
    grad_out = None if grad_output is None else grad_output.transpose(0, 2, 1)  # (L, H, N) view
    step = np.empty((hidden_size, batch), dtype=dtype)
    gate_order = _gate_order(hidden_size)  # δa is stored in the forward's gate order (o, i, f, g)
    weight_hh_t = np.ascontiguousarray(cache.weight_hh[gate_order].T)  # (H or P, 4H): the left factor of every step
    grad_m = grad_h  # δm_t, of m_t = o ⊙ tanh(c_t): δh_t itself, or W_hrᵀ δh_t with a projection
    keep_grad_hidden = weight_hr is not None and "weight_hr" in needed
    if weight_hr is not None:
        weight_hr_t = np.ascontiguousarray(weight_hr.T)
        grad_m = np.empty((hidden_size, batch), dtype=dtype)
        if keep_grad_hidden:
            grad_hidden = np.empty((length, width, batch), dtype=dtype)  # every δh_t, for ∂L/∂W_hr
    order = list(reversed(cache.steps(length)))  # the order BPTT visits the steps
    for start in range(0, length, block_length):
        visit = order[start:start + block_length]
        first = min(visit)  # the block's derivatives are stored from its earliest step on
        steps = slice(first, max(visit) + 1)
        # the block's factors are written where its δa will be, and multiplied in place by the
        # time loop: each step then rewrites numbers this core has just written (still in its
        # cache) instead of filling cache lines it has not touched: the two products below took
        # 3.8 + 1.8 µs per step so, 11 + 3.6 from a separate factor buffer, and the step's matrix
        # product 29 against 35 µs (H = 128, N = 32, float32, 2026-12-05)
        _gate_derivatives(steps, gate, previous_cell, tanh_cell, grad_gates[steps], through_h, scratch)
        for t in visit:
            k = t - first
            if grad_out is not None:
                grad_h += grad_out[t]
            if weight_hr is not None:
                if keep_grad_hidden:
                    grad_hidden[t] = grad_h
                np.matmul(weight_hr_t, grad_h, out=grad_m)
            np.multiply(grad_m, through_h[k], out=step)
            grad_c += step
            np.multiply(grad_gates[t, 1:], grad_c, out=grad_gates[t, 1:])     # δa^{i,f,g} = factor ⊙ δc_t
            np.multiply(grad_gates[t, 0], grad_m, out=grad_gates[t, 0])       # δa^o = factor ⊙ δm_t
            grad_c *= gate[t, 2]                                             # δc_{t-1} = δc_t ⊙ f_t
            np.matmul(weight_hh_t, grad_gates[t].reshape(4 * hidden_size, batch), out=grad_h)  # δh_{t-1}ᵀ
    # The whole-sequence GEMMs: δAᵀ as one (4H, L·N) matrix and the columns [h_{t-1}; x_t; 1]
    # as one (K, L·N) matrix, each one copy of contiguous N-runs ((L, ·, N) → (·, L, N), about
    # 3× faster than regrouping as (L·N, ·) rows); then one GEMM gives
    # ∂L/∂[W_hh | W_ih | b] = δAᵀ [H_prev | X | 1].
    grad_t = np.empty((4 * hidden_size, length, batch), dtype=dtype)
    np.copyto(grad_t, grad_gates.reshape(length, 4 * hidden_size, batch).transpose(1, 0, 2))
    grad_t = grad_t.reshape(4 * hidden_size, length * batch)
    grads = {}
    parts = {"weight_hh": slice(0, width), "weight_ih": slice(width, width + features)}
    if cache.has_bias:
        parts.update(bias_ih=width + features, bias_hh=width + features)
    if needed & parts.keys():  # not when every gate parameter is frozen
        previous = cache.previous(cache.inputs)
        columns = np.empty((previous.shape[1], length, batch), dtype=dtype)
        np.copyto(columns, previous.transpose(1, 0, 2))
        grad_weight = np.matmul(grad_t, columns.reshape(len(columns), length * batch).T)  # explicit sizes: N may be 0
        torch_rows = np.argsort(gate_order)  # back to torch's gate order (i, f, g, o)
        grads.update((name, grad_weight[torch_rows, part]) for name, part in parts.items() if name in needed)
    if keep_grad_hidden:  # ∂L/∂W_hr = Σ_t δh_t (o ⊙ tanh c_t)ᵀ, one product over (t, n)
        grads["weight_hr"] = np.tensordot(grad_hidden, cache.unprojected, axes=([0, 2], [0, 2]))
    grad_x = np.matmul(grad_t.T, cache.weight_ih[gate_order]).reshape(length, batch, features)
    return grad_x, np.ascontiguousarray(grad_h.T), np.ascontiguousarray(grad_c.T), grads

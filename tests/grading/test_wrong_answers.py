"""Wrong answers that scored full marks, or passed every public check, before the three audits of
2026-12-06 (plausible student code, each the solution with one function rewritten).  Each must now
fail a *public* check, so ``check("qN")`` tells the student before the grader does, with the
words quoted here in the check's name or its message.

Also here: the rule behind most of them — a function whose answer is a float array has a public
float32 check — and the hints that audit found silent or misleading.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from course_lib.grading import assignments
from course_lib.grading.runner import _prepare

from .helpers import solution_functions
from .test_known_mistakes import _folds_extra_at_the_end, _public_failures


def _with(assignment_id: str, source: str) -> dict:
    """The solution's functions, with the ones ``source`` defines replaced (run as the notebook would)."""
    namespace = {**solution_functions(assignment_id), "np": np, "math": math}
    exec(source, namespace)  # noqa: S102 - test code written here
    return namespace


# a03 q4 written to the text's recipe, with one thing changed (see WRONG's a03 q4 entries)
_TRAIN_MLP = '''
def train_mlp(x, y, hidden=64, epochs=2000, lr=1.0, seed=0):
    rng = np.random.default_rng({seed})
    features, classes = x.shape[1], int(y.max()) + 1
    {first} = rng.standard_normal({first_shape}) * np.sqrt(2 / {first_fan_in})
    {second} = rng.standard_normal({second_shape}) * np.sqrt(2 / {second_fan_in})
    b1, b2 = np.zeros({hidden}), np.zeros(classes)
    for _ in range({epochs}):
        _, dW1, db1, dW2, db2 = mlp_loss_and_grads(x, y, W1, b1, W2, b2)
        W1, b1, W2, b2 = W1 - {lr} * dW1, b1 - {lr} * db1, W2 - {lr} * dW2, b2 - {lr} * db2
    return W1, b1, W2, b2
'''


def _train_mlp(seed="seed", hidden="hidden", epochs="epochs", lr="lr", w2_first=False) -> str:
    draws = [("W1", f"({hidden}, features)", "features"), ("W2", f"(classes, {hidden})", hidden)]
    (first, first_shape, first_fan_in), (second, second_shape, second_fan_in) = draws[::-1] if w2_first else draws
    return _TRAIN_MLP.format(seed=seed, hidden=hidden, epochs=epochs, lr=lr, first=first, first_shape=first_shape,
                             first_fan_in=first_fan_in, second=second, second_shape=second_shape,
                             second_fan_in=second_fan_in)


# (assignment, question, what the answer gets wrong, its code, words of the public failure)
WRONG = [
    ('a01', 'q1', 'hard-coded d=3 (public shape)', '''
def neuron(x, w, b):
    z = x[:, 0] * w[0] + x[:, 1] * w[1] + x[:, 2] * w[2] + b
    return 1.0 / (1.0 + np.exp(-z))
''', 'with 5 inputs'),
    ('a01', 'q3', 'float64 result for float32 input (np.where 1.0/0.0)', '''
def relu_derivative(x):
    return np.where(x > 0, 1.0, 0.0)
''', 'in float32'),
    ('a01', 'q4', 'float64 result for float32 input', '''
def tanh_derivative(x):
    t = np.tanh(x.astype(np.float64))
    return 1 - t * t
''', 'in float32'),
    ('a01', 'q5', 'global max (no axis) subtracted', '''
def softmax(x, axis=-1):
    e = np.exp(x - np.max(x))
    return e / np.sum(e, axis=axis, keepdims=True)
''', 'rows on different scales'),
    ('a02', 'q1', 'mean over rows, not entries', '''
def mse_loss(prediction, target):
    return np.sum((prediction - target) ** 2) / len(prediction)
''', 'all 6 entries'),
    ('a02', 'q2', 'mean over rows (len), not over all entries', '''
def bce_with_logits(logits, target):
    losses = np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))
    return np.sum(losses) / len(logits)
''', 'all 4 entries'),
    ('a02', 'q3', 'softmax without max-subtraction', '''
def cross_entropy_grad(logits, labels):
    probs = np.exp(logits)
    probs = probs / np.sum(probs, axis=1, keepdims=True)
    probs[np.arange(len(labels)), labels] -= 1
    return probs / len(labels)
''', '±1000'),
    ('a03', 'q2', 'no max-subtraction in the softmax', '''
def mlp_loss_and_grads(x, y, W1, b1, W2, b2):
    pre = x @ W1.T + b1
    hidden = np.maximum(pre, 0)
    logits = hidden @ W2.T + b2
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    n = len(y)
    loss = -np.mean(np.log(probs[np.arange(n), y]))
    g = probs.copy(); g[np.arange(n), y] -= 1; g /= n
    grad_pre = (g @ W2) * (pre > 0)
    return loss, grad_pre.T @ x, grad_pre.sum(axis=0), g.T @ hidden, g.sum(axis=0)
''', '±1000'),
    ('a05', 'q1', 'float64 result for float32 weights', '''
def l1_penalty_grad(weight, strength):
    return strength * np.sign(weight).astype(np.float64)
''', 'in float32'),
    ('a05', 'q3', 'drops exactly round(p*n) entries (fixed count permutation)', '''
def dropout(x, p):
    n = x.size
    dropped = rng.permutation(n) < int(round(p * n))
    mask = np.where(dropped.reshape(x.shape), 0.0, 1.0 / (1 - p)).astype(x.dtype)
    return x * mask, mask
''', 'varies from call to call'),
    ('a05', 'q3', 'float64 mask for float32 input', '''
def dropout(x, p):
    mask = (rng.random(x.shape) >= p) / (1 - p)
    return (x * mask).astype(x.dtype), mask
''', 'float32 input'),
    ('a06', 'q1', 'square kernel assumed (kh used for both)', '''
def conv2d_forward(x, weight, bias, stride, padding):
    n, c, h, w = x.shape
    out_channels, _, k, _ = weight.shape
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out_h = (h + 2 * padding - k) // stride + 1
    out_w = (w + 2 * padding - k) // stride + 1
    out = np.zeros((n, out_channels, out_h, out_w), dtype=x.dtype)
    for a in range(k):
        for b in range(k):
            patch = padded[:, :, a:a + stride * out_h:stride, b:b + stride * out_w:stride]
            out += np.einsum("nchw,oc->nohw", patch, weight[:, :, a, b])
    return out + bias[None, :, None, None]
''', 'kh ≠ kw'),
    ('a06', 'q2', 'float64 gradients for float32 inputs (np.zeros without dtype)', '''
def conv2d_backward(grad_output, x, weight, stride, padding):
    n, c, h, w = x.shape
    _, _, kh, kw = weight.shape
    out_h, out_w = grad_output.shape[2:]
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    grad_padded = np.zeros(padded.shape)
    grad_weight = np.zeros(weight.shape)
    for a in range(kh):
        for b in range(kw):
            rows = slice(a, a + stride * out_h, stride)
            cols = slice(b, b + stride * out_w, stride)
            grad_weight[:, :, a, b] = np.einsum("nohw,nchw->oc", grad_output, padded[:, :, rows, cols])
            grad_padded[:, :, rows, cols] += np.einsum("nohw,oc->nchw", grad_output, weight[:, :, a, b])
    grad_x = grad_padded[:, :, padding:padding + h, padding:padding + w]
    return grad_x, grad_weight, grad_output.sum(axis=(0, 2, 3)).astype(np.float64)
''', 'in float32'),
    ('a06', 'q2', 'square kernel assumed (kh for both)', '''
def conv2d_backward(grad_output, x, weight, stride, padding):
    n, c, h, w = x.shape
    k = weight.shape[2]
    out_h, out_w = grad_output.shape[2:]
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    grad_padded = np.zeros_like(padded)
    grad_weight = np.zeros_like(weight)
    for a in range(k):
        for b in range(k):
            rows = slice(a, a + stride * out_h, stride)
            cols = slice(b, b + stride * out_w, stride)
            grad_weight[:, :, a, b] = np.einsum("nohw,nchw->oc", grad_output, padded[:, :, rows, cols])
            grad_padded[:, :, rows, cols] += np.einsum("nohw,oc->nchw", grad_output, weight[:, :, a, b])
    grad_x = grad_padded[:, :, padding:padding + h, padding:padding + w]
    return grad_x, grad_weight, grad_output.sum(axis=(0, 2, 3))
''', 'kh ≠ kw'),
    ('a06', 'q3', 'reshape trick (only stride == kernel_size)', '''
def max_pool2d_forward(x, kernel_size, stride):
    n, c, h, w = x.shape
    k = kernel_size
    return x[:, :, :h // k * k, :w // k * k].reshape(n, c, h // k, k, w // k, k).max(axis=(3, 5))
''', 'on an 8×6 image'),
    ('a06', 'q3', 'square input assumed (out_w from h)', '''
def max_pool2d_forward(x, kernel_size, stride):
    n, c, h, w = x.shape
    out_h = (h - kernel_size) // stride + 1
    out_w = out_h
    windows = [x[:, :, a:a + stride * out_h:stride, b:b + stride * out_w:stride]
               for a in range(kernel_size) for b in range(kernel_size)]
    return np.max(np.stack(windows), axis=0)
''', 'on an 8×6 image'),
    ('a06', 'q4', 'gradient to every tied maximum (x == max)', '''
def max_pool2d_backward(grad_output, x, kernel_size, stride):
    n, c, h, w = x.shape
    out_h, out_w = grad_output.shape[2:]
    grad_x = np.zeros_like(x)
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, :, i * stride:i * stride + kernel_size, j * stride:j * stride + kernel_size]
            is_max = window == window.max(axis=(2, 3), keepdims=True)
            grad_x[:, :, i * stride:i * stride + kernel_size, j * stride:j * stride + kernel_size] += \
                is_max * grad_output[:, :, i:i + 1, j:j + 1]
    return grad_x
''', 'ties'),
    ('a06', 'q4', 'last max on ties (argmax over reversed windows)', '''
def max_pool2d_backward(grad_output, x, kernel_size, stride):
    n, c, h, w = x.shape
    out_h, out_w = grad_output.shape[2:]
    offsets = [(a, b) for a in range(kernel_size) for b in range(kernel_size)]
    windows = np.stack([x[:, :, a:a + stride * out_h:stride, b:b + stride * out_w:stride] for a, b in offsets])
    winner = len(offsets) - 1 - np.argmax(windows[::-1], axis=0)
    grad_x = np.zeros_like(x)
    for index, (a, b) in enumerate(offsets):
        grad_x[:, :, a:a + stride * out_h:stride, b:b + stride * out_w:stride] += grad_output * (winner == index)
    return grad_x
''', 'ties'),
    ('a07', 'q2', 'float64 result for float32 inputs (np.float64 zeros state)', '''
def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    a = x.astype(np.float64) @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
    c_new = f * c + i * g
    return o * np.tanh(c_new), c_new
''', 'in float32'),
    ('a08', 'q1', 'softmax without max-subtraction', '''
def attention(query, key, value, mask):
    scores = query @ np.swapaxes(key, -1, -2) / query.shape[-1] ** 0.5
    if mask is not None:
        scores = np.where(mask, -np.inf, scores)
    weights = np.exp(scores)
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights @ value, weights
''', 'thousands'),
    ('a09', 'q1', 'size from the data (max label + 1), ignores num_classes', '''
def confusion_matrix(y_true, y_pred, num_classes):
    size = int(max(y_true.max(), y_pred.max())) + 1
    matrix = np.zeros((size, size), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix
''', 'still 4×4'),
    ('a09', 'q1', 'classes from np.unique of the data', '''
def confusion_matrix(y_true, y_pred, num_classes):
    classes = np.unique(np.concatenate([y_true, y_pred]))
    index = {c: i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        matrix[index[t], index[p]] += 1
    return matrix
''', 'still 4×4'),
    ('a09', 'q2', '0/0 handled for precision and F1 only (recall nan when a class never occurs)', '''
def precision_recall_f1(y_true, y_pred, num_classes):
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(matrix).astype(np.float64)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros(num_classes), where=predicted > 0)
    recall = tp / actual
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros(num_classes), where=total > 0)
    return precision, recall, f1
''', 'never occurs'),
    ('a09', 'q2', 'per-class arrays over np.unique(y_true) classes', '''
def precision_recall_f1(y_true, y_pred, num_classes):
    classes = np.unique(y_true)
    p, r, f = [], [], []
    for c in classes:
        tp = np.sum((y_pred == c) & (y_true == c)); pp = np.sum(y_pred == c); ap = np.sum(y_true == c)
        pc = tp / pp if pp else 0.0; rc = tp / ap if ap else 0.0
        p.append(pc); r.append(rc); f.append(2 * pc * rc / (pc + rc) if pc + rc else 0.0)
    return np.array(p, dtype=np.float64), np.array(r, dtype=np.float64), np.array(f, dtype=np.float64)
''', 'never occurs'),
    ('a09', 'q3', 'int32 indices (spec: int64)', '''
def k_fold_indices(n_samples, k):
    sizes = np.full(k, n_samples // k)
    sizes[: n_samples % k] += 1
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    indices = np.arange(n_samples, dtype=np.int32)
    return [(np.concatenate([indices[:start], indices[stop:]]), indices[start:stop])
            for start, stop in zip(bounds[:-1], bounds[1:])]
''', 'expected int64'),
    ('a09', 'q3', 'fold size ceil(n/k), last fold short', '''
def k_fold_indices(n_samples, k):
    size = -(-n_samples // k)
    indices = np.arange(n_samples, dtype=np.int64)
    out = []
    for i in range(k):
        start, stop = i * size, min((i + 1) * size, n_samples)
        out.append((np.concatenate([indices[:start], indices[stop:]]), indices[start:stop]))
    return out
''', '3, 3, 2 and 2'),
    # the second round of the same day, on the strengthened checks
    ('a01', 'q2', 'naive derivative e^-x/(1+e^-x)^2 (nan at x=-1000)', '''
def sigmoid_derivative(x):
    e = np.exp(-x)
    return e / (1 + e) ** 2
''', 'x = ±1000: no nan'),
    ('a01', 'q5', 'subtracts the mean instead of the max', '''
def softmax(x, axis=-1):
    e = np.exp(x - np.mean(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)
''', 'not its mean'),
    ('a01', 'q5', 'axis handled by transposing 2-D (x.T) for axis=0, else last axis', '''
def softmax(x, axis=-1):
    if axis == 0:
        return softmax(x.T).T
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)
''', 'axis=1: the middle axis'),
    ('a02', 'q3', 'log-sum-exp with the global max (not per row)', '''
def cross_entropy(logits, labels):
    shifted = logits - np.max(logits)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    return -np.mean(log_probs[np.arange(len(labels)), labels])
''', 'rows on different scales'),
    ('a02', 'q3', 'softmax with the global max (not per row)', '''
def cross_entropy_grad(logits, labels):
    probs = np.exp(logits - np.max(logits))
    probs = probs / np.sum(probs, axis=1, keepdims=True)
    probs[np.arange(len(labels)), labels] -= 1
    return probs / len(labels)
''', 'rows on different scales'),
    ('a03', 'q2', 'softmax/log-sum-exp with the global max (not per row)', '''
def mlp_loss_and_grads(x, y, W1, b1, W2, b2):
    pre = x @ W1.T + b1
    hidden = np.maximum(pre, 0)
    logits = hidden @ W2.T + b2
    shifted = logits - logits.max()
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(y)
    loss = -np.mean(log_probs[np.arange(n), y])
    grad_logits = np.exp(log_probs)
    grad_logits[np.arange(n), y] -= 1
    grad_logits /= n
    dW2 = grad_logits.T @ hidden
    db2 = grad_logits.sum(axis=0)
    grad_pre = (grad_logits @ W2) * (pre > 0)
    return loss, grad_pre.T @ x, grad_pre.sum(axis=0), dW2, db2
''', 'logits in the thousands'),
    ('a04', 'q2', 'eps argument ignored (hard-coded 1e-8)', '''
def rmsprop_step(param, grad, square_avg, lr, alpha, eps):
    square_avg = alpha * square_avg + (1 - alpha) * grad * grad
    return param - lr * grad / (np.sqrt(square_avg) + 1e-8), square_avg
''', 'ε = 0.1'),
    ('a04', 'q3', 'beta1, beta2, eps ignored (hard-coded 0.9, 0.999, 1e-8)', '''
def adam_step(param, grad, m, v, t, lr, beta1, beta2, eps):
    m = 0.9 * m + 0.1 * grad
    v = 0.999 * v + 0.001 * grad * grad
    m_hat = m / (1 - 0.9 ** t)
    v_hat = v / (1 - 0.999 ** t)
    return param - lr * m_hat / (np.sqrt(v_hat) + 1e-8), m, v
''', 'use the values you are given'),
    ('a05', 'q3', 'keeps where uniform > p (text: >=)', '''
def dropout_forward(x, p, uniform):
    mask = (uniform > p).astype(x.dtype) / x.dtype.type(1 - p)
    return x * mask, mask
''', 'equal to p'),
    ('a06', 'q3', 'ceil-mode output size, partial windows at the edge', '''
def max_pool2d_forward(x, kernel_size, stride):
    n, c, h, w = x.shape
    k, s = kernel_size, stride
    out_h = -(-(h - k) // s) + 1          # ceil, as PyTorch's ceil_mode=True
    out_w = -(-(w - k) // s) + 1
    padded = np.pad(x, ((0, 0), (0, 0), (0, (out_h - 1) * s + k - h), (0, (out_w - 1) * s + k - w)),
                    constant_values=-np.inf)
    windows = [padded[:, :, a:a + s * out_h:s, b:b + s * out_w:s] for a in range(k) for b in range(k)]
    return np.max(np.stack(windows), axis=0)
''', '(floor)'),
    ('a06', 'q3', 'output size int(round((h - k) / s)) + 1', '''
def max_pool2d_forward(x, kernel_size, stride):
    n, c, h, w = x.shape
    k, s = kernel_size, stride
    out_h = int(round((h - k) / s)) + 1
    out_w = int(round((w - k) / s)) + 1
    padded = np.pad(x, ((0, 0), (0, 0), (0, (out_h - 1) * s + k - h), (0, (out_w - 1) * s + k - w)),
                    constant_values=-np.inf)
    windows = [padded[:, :, a:a + s * out_h:s, b:b + s * out_w:s] for a in range(k) for b in range(k)]
    return np.max(np.stack(windows), axis=0)
''', '(floor)'),
    ('a06', 'q4', 'first maximum in column-major order on ties', '''
def max_pool2d_backward(grad_output, x, kernel_size, stride):
    n, c, h, w = x.shape
    out_h, out_w = grad_output.shape[2:]
    offsets = [(a, b) for b in range(kernel_size) for a in range(kernel_size)]
    windows = np.stack([x[:, :, a:a + stride * out_h:stride, b:b + stride * out_w:stride] for a, b in offsets])
    winner = np.argmax(windows, axis=0)
    grad_x = np.zeros_like(x)
    for index, (a, b) in enumerate(offsets):
        grad_x[:, :, a:a + stride * out_h:stride, b:b + stride * out_w:stride] += grad_output * (winner == index)
    return grad_x
''', 'ties'),
    ('a06', 'q4', 'mask x == max, gradient split equally among ties', '''
def max_pool2d_backward(grad_output, x, kernel_size, stride):
    n, c, h, w = x.shape
    out_h, out_w = grad_output.shape[2:]
    grad_x = np.zeros_like(x)
    for i in range(out_h):
        for j in range(out_w):
            win = x[:, :, i*stride:i*stride+kernel_size, j*stride:j*stride+kernel_size]
            m = (win == win.max(axis=(2, 3), keepdims=True))
            grad_x[:, :, i*stride:i*stride+kernel_size, j*stride:j*stride+kernel_size] += m * grad_output[:, :, i:i+1, j:j+1] / m.sum(axis=(2, 3), keepdims=True)
    return grad_x
''', 'ties'),
    ('a07', 'q4', 'truncated BPTT: gradient carried back at most 8 steps', '''
def rnn_bptt(x, h0, W_ih, W_hh, b_ih, b_hh, grad_output):
    hidden = [h0]
    for t in range(len(x)):
        hidden.append(rnn_step(x[t], hidden[-1], W_ih, W_hh, b_ih, b_hh))
    grad_x = np.zeros_like(x)
    grad_W_ih, grad_W_hh, grad_b = np.zeros_like(W_ih), np.zeros_like(W_hh), np.zeros_like(b_ih)
    grad_h0 = np.zeros_like(h0)
    for s in range(len(x)):              # each output's gradient walks back at most 8 steps
        grad_h = grad_output[s]
        for t in range(s, max(s - 8, -1), -1):
            grad_a = grad_h * (1 - hidden[t + 1] ** 2)
            grad_x[t] += grad_a @ W_ih
            grad_W_ih += grad_a.T @ x[t]
            grad_W_hh += grad_a.T @ hidden[t]
            grad_b += grad_a.sum(axis=0)
            grad_h = grad_a @ W_hh
            if t == 0:
                grad_h0 += grad_h
    return grad_x, grad_h0, grad_W_ih, grad_W_hh, grad_b
''', '12 steps'),
    ('a08', 'q1', 'mask applied by boolean indexing scores[mask] = -inf (no broadcasting)', '''
def attention(query, key, value, mask):
    scores = query @ np.swapaxes(key, -1, -2) / query.shape[-1] ** 0.5
    if mask is not None:
        scores[mask] = -np.inf
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights @ value, weights
''', 'padding mask of shape (N, 1, S)'),
    ('a08', 'q1', 'softmax shifted by the global max (not per row)', '''
def attention(query, key, value, mask):
    scores = query @ np.swapaxes(key, -1, -2) / query.shape[-1] ** 0.5
    if mask is not None:
        scores = np.where(mask, -np.inf, scores)
    weights = np.exp(scores - scores.max())
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights @ value, weights
''', 'one query far larger'),
    ('a08', 'q1', 'mask ignored when it is not 2-D (only the causal case handled)', '''
def attention(query, key, value, mask):
    scores = query @ np.swapaxes(key, -1, -2) / query.shape[-1] ** 0.5
    if mask is not None and mask.ndim == 2:
        scores = np.where(mask, -np.inf, scores)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights @ value, weights
''', 'padding mask of shape (N, 1, S)'),
    ('a08', 'q4', 'cached by max_len only (largest table kept, sliced)', '''
_table = None
def positional_encoding(max_len, d_model):
    global _table
    if _table is None or _table.shape[0] < max_len:
        position = np.arange(max_len)[:, None]
        frequency = 10000.0 ** (-np.arange(0, d_model, 2) / d_model)
        _table = np.zeros((max_len, d_model))
        _table[:, 0::2] = np.sin(position * frequency)
        _table[:, 1::2] = np.cos(position * frequency)
    return _table[:max_len].copy()
''', 'after the call above'),
    ('a09', 'q2', 'counts with np.bincount(minlength=max label + 1)', '''
def precision_recall_f1(y_true, y_pred, num_classes):
    k = max(y_true.max(), y_pred.max()) + 1
    tp = np.bincount(y_true[y_true == y_pred], minlength=k).astype(np.float64)
    predicted = np.bincount(y_pred, minlength=k)
    actual = np.bincount(y_true, minlength=k)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros(k), where=actual > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros(k), where=total > 0)
    return precision, recall, f1
''', 'class 2 occurs nowhere'),
    # the third round: what the checks' inputs held fixed (N == C, 2-D weights only, axis ≥ −1, …)
    ('a01', 'q5', 'negative axis other than -1 mapped to the last axis', '''
def softmax(x, axis=-1):
    ax = axis if axis >= 0 else x.ndim - 1
    e = np.exp(x - np.max(x, axis=ax, keepdims=True))
    return e / np.sum(e, axis=ax, keepdims=True)
''', 'axis=-2'),
    ('a06', 'q3', 'unpacks x.shape as (C, N, H, W): right only when N == C', '''
def max_pool2d_forward(x, kernel_size, stride):
    c, n, h, w = x.shape
    oh, ow = (h - kernel_size) // stride + 1, (w - kernel_size) // stride + 1
    out = np.empty((c, n, oh, ow), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = x[:, :, i*stride:i*stride+kernel_size, j*stride:j*stride+kernel_size].max(axis=(2, 3))
    return out.reshape(x.shape[1], x.shape[0], oh, ow)
''', '3 images of 1 channel'),
    ('a06', 'q4', 'gradient buffer of shape (C, N, H, W): right only when N == C', '''
def max_pool2d_backward(grad_output, x, kernel_size, stride):
    n, c, h, w = x.shape
    gx = np.zeros((c, n, h, w), dtype=x.dtype)
    oh, ow = grad_output.shape[2:]
    for a in range(n):
        for b in range(c):
            for i in range(oh):
                for j in range(ow):
                    win = x[a, b, i*stride:i*stride+kernel_size, j*stride:j*stride+kernel_size]
                    r, s = np.unravel_index(np.argmax(win), win.shape)
                    gx.reshape(n, c, h, w)[a, b, i*stride+r, j*stride+s] += grad_output[a, b, i, j]
    return gx.reshape(c, n, h, w) if n == c else gx
''', '3 images of 1 channel'),
    ('a03', 'q2', 'ReLU mask from pre-activation >= 0 (derivative 1 at exactly 0)', '''
def mlp_loss_and_grads(x, y, W1, b1, W2, b2):
    pre = x @ W1.T + b1
    hdn = np.maximum(pre, 0)
    z = hdn @ W2.T + b2
    z = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
    logp = z - lse
    n = len(y)
    loss = np.float64(-logp[np.arange(n), y].mean())
    g = np.exp(logp); g[np.arange(n), y] -= 1; g /= n
    dW2 = g.T @ hdn; db2 = g.sum(0)
    gh = (g @ W2) * (pre >= 0)
    return loss, gh.T @ x, gh.sum(0), dW2, db2
''', 'exactly 0'),
    ('a08', 'q1', 'leading axes flattened to one batch axis (mask must match the flattened layout)', '''
def attention(query, key, value, mask):
    lead = query.shape[:-2]
    q = query.reshape(-1, *query.shape[-2:]); k = key.reshape(-1, *key.shape[-2:]); v = value.reshape(-1, *value.shape[-2:])
    s = q @ k.transpose(0, 2, 1) / math.sqrt(q.shape[-1])
    if mask is not None:
        m = mask if mask.ndim <= 2 else mask.reshape(-1, *mask.shape[-2:])
        s = np.where(m, -np.inf, s)
    s = s - s.max(axis=-1, keepdims=True)
    e = np.exp(s); wts = e / e.sum(axis=-1, keepdims=True)
    return (wts @ v).reshape(*lead, q.shape[1], v.shape[-1]), wts.reshape(*lead, q.shape[1], k.shape[1])
''', '(2, 1, 1, S)'),
    ('a05', 'q2', 'Frobenius norm per array (2-D weights only; fails on a bias vector)', '''
def l2_penalty(weights, strength):
    return float(0.5 * strength * sum(np.linalg.norm(w, "fro") ** 2 for w in weights))
''', 'bias vector'),
    # found by the review: the maximum taken before masking (it may be a masked key's score)
    ('a08', 'q1', 'maximum subtracted before the mask is applied', '''
def attention(query, key, value, mask):
    scores = query @ np.swapaxes(key, -1, -2) / math.sqrt(query.shape[-1])
    scores = scores - scores.max(axis=-1, keepdims=True)
    if mask is not None:
        scores = np.where(mask, -np.inf, scores)
    weights = np.exp(scores)
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights @ value, weights
''', 'mask first, then max'),
    # found by an audit of the student's side (2026-12-07): the mask right, the softmax over the queries' axis;
    # the hint told the student to mask, which they had done
    ('a08', 'q1', 'softmax over the queries (axis=-2) with a correct mask', '''
def attention(query, key, value, mask):
    scores = query @ np.swapaxes(key, -1, -2) / math.sqrt(query.shape[-1])
    if mask is not None:
        scores = np.where(mask, -np.inf, scores)
    scores = scores - scores.max(axis=-2, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(axis=-2, keepdims=True)
    return weights @ value, weights
''', 'take the softmax\'s maximum and sum over the keys, axis=-1'),
    # a03 q4 was judged on accuracy alone, which an ignored seed, hidden size, step size or epoch
    # count still reaches: its start (epochs=0) and three steps are now checked exactly
    ('a03', 'q4', 'the seed argument ignored (default_rng(0))', _train_mlp(seed="0"), 'weights of seed 0'),
    ('a03', 'q4', 'W2 drawn before W1', _train_mlp(w2_first=True), 'W2 was drawn before W1'),
    ('a03', 'q4', 'hidden hard-coded at 64', _train_mlp(hidden="64"), 'expected shape (16, 2)'),
    ('a03', 'q4', 'lr hard-coded at 1.0', _train_mlp(lr="1.0"), '3 steps of size lr=0.5'),
    ('a03', 'q4', 'epochs hard-coded at 2000', _train_mlp(epochs="2000"), 'epochs=0'),
]


@pytest.mark.parametrize("assignment_id, question, mistake, source, words", WRONG,
                         ids=[f"{w[0]}-{w[1]}-{w[2][:40]}" for w in WRONG])
def test_a_wrong_answer_fails_a_public_check(assignment_id, question, mistake, source, words):
    # the control: the solution passes them (its hidden checks, over many seeds: test_hidden_seeds.py)
    assert _public_failures(assignment_id, question, solution_functions(assignment_id)) == []
    failures = _public_failures(assignment_id, question, _with(assignment_id, source))
    assert failures, f"{mistake}: passes every public check of {assignment_id} {question}"
    assert any(words in name or words in message for name, message in failures), failures


def _float_arrays(value) -> list:
    if isinstance(value, np.ndarray):
        return [value] if value.dtype.kind == "f" else []
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _float_arrays(v)]
    return []


# answers with no float32 counterpart: a finite-difference estimate is a float64 exercise (ε = 1e-6 is
# below float32's resolution), and the training question trains on float64 spirals
FLOAT64_ONLY = {("a03", "numerical_grad_W2"), ("a03", "train_mlp")}


def test_every_function_from_float_arrays_to_float_arrays_has_a_public_float32_check():
    """Eleven functions of six assignments returned float64 for float32 inputs with full marks,
    although the texts ask to keep the input's dtype: no check used float32."""
    missing = []
    for assignment in assignments.all_assignments():
        answers_floats, tried_float32 = set(), set()
        for item in _prepare(assignment, seed=0, include_hidden=False):
            function = (assignment.id, item.check.function)
            inputs = _float_arrays((item.args, list(item.kwargs.values())))
            if inputs and _float_arrays(item.expected):  # float in, float out: the dtype rule applies
                answers_floats.add(function)
            if any(a.dtype == np.float32 for a in inputs):
                tried_float32.add(function)
        missing += sorted(answers_floats - tried_float32 - FLOAT64_ONLY)
    assert not missing, f"no public float32 check: {missing}"


def test_the_remainder_hint_reaches_the_student():
    """It was a value hint on a shape failure, so it never showed."""
    failures = _public_failures("a09", "q3", {**solution_functions("a09"), "k_fold_indices": _folds_extra_at_the_end})
    assert failures and all("the first n % k folds get one extra sample" in message for _, message in failures)


def test_the_dropout_scale_hint_fits_a_scale_of_one_over_p():
    answer = _with("a05", '''
def dropout_forward(x, p, uniform):
    mask = (uniform >= p).astype(x.dtype) / x.dtype.type(p)
    return x * mask, mask
''')
    failures = _public_failures("a05", "q3", answer)
    assert failures and any("one over the probability of keeping an entry" in message for _, message in failures)


def test_the_gradient_overflow_hint_is_about_the_softmax():
    answer = _with("a02", '''
def cross_entropy_grad(logits, labels):
    probs = np.exp(logits)
    probs = probs / np.sum(probs, axis=1, keepdims=True)
    probs[np.arange(len(labels)), labels] -= 1
    return probs / len(labels)
''')
    messages = [message for _, message in _public_failures("a02", "q3", answer)]
    assert messages and all("exp(z − max z)" in m and "log-sum-exp" not in m for m in messages), messages


def test_int32_predictions_are_refused_where_the_text_says_int64():
    from course_lib.grading.assignments.a10_pytorch_training import judge_predictions

    labels = np.arange(10, dtype=np.int64) % 3
    seeded = {"seed": 7}  # and PyTorch seeded with it (torch_seed=7)
    assert judge_predictions(labels.copy(), (), seeded, labels, torch_seed=7)[0]
    passed, message = judge_predictions(labels.astype(np.int32), (), seeded, labels, torch_seed=7)
    assert not passed and "int32" in message and "int64" in message


def test_the_exact_training_checks_accept_other_ways_of_writing_the_recipe():
    """What the text leaves open stays open: normal(0, scale) for standard_normal · scale, the class
    count from np.unique, in-place updates, a while loop."""
    answer = _with("a03", '''
def train_mlp(x, y, hidden=64, epochs=2000, lr=1.0, seed=0):
    rng = np.random.default_rng(seed)
    classes = len(np.unique(y))
    W1 = rng.normal(0.0, math.sqrt(2 / x.shape[1]), size=(hidden, x.shape[1]))
    W2 = rng.normal(0.0, math.sqrt(2 / hidden), size=(classes, hidden))
    b1, b2 = np.zeros(hidden), np.zeros(classes)
    step = 0
    while step < epochs:
        grads = mlp_loss_and_grads(x, y, W1, b1, W2, b2)[1:]
        for weight, grad in zip((W1, b1, W2, b2), grads):
            weight -= lr * grad
        step += 1
    return W1, b1, W2, b2
''')
    assert _public_failures("a03", "q4", answer) == []
    # and the template of WRONG's a03 q4 answers, unchanged, is a right answer: each fails for its one change
    assert _public_failures("a03", "q4", _with("a03", _train_mlp())) == []

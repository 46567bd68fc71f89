"""The by-hand tensor versions equal their torch.nn counterparts, forward and gradients.

Each test builds the torch.nn module in float64, passes its own weight tensors to the
by-hand function, and compares outputs and the gradients autograd computes for the
inputs and every weight (same upstream gradient on both sides).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings, strategies as st
from torch import nn

from course_lib.pytorch import by_hand
from course_lib.pytorch.device import select_device

from ..devices import needs_cuda
from ..hypothesis_budget import examples

RTOL, ATOL = 1e-9, 1e-10
torch.set_num_threads(1)


def grads_of(output, tensors, upstream):
    """d(Σ output·upstream)/d(each tensor), None where a tensor does not take part."""
    return torch.autograd.grad(output, tensors, upstream, allow_unused=True)


def assert_all_close(actual, expected, what):
    assert len(actual) == len(expected)
    for index, (a, e) in enumerate(zip(actual, expected)):
        torch.testing.assert_close(a, e, rtol=RTOL, atol=ATOL, msg=lambda m: f"{what}[{index}]: {m}")


def leaf(tensor):
    return tensor.detach().clone().requires_grad_()


# --- neuron and MLP ------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", [None, torch.tanh, torch.relu])  # None: the default, sigmoid
def test_neuron_equals_linear_with_one_output_then_sigmoid(activation):
    torch.manual_seed(0)
    layer = nn.Linear(5, 1).double()
    x = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    expected = (activation or torch.sigmoid)(layer(x)).squeeze(-1)
    actual = (by_hand.neuron(x, layer.weight[0], layer.bias[0]) if activation is None
              else by_hand.neuron(x, layer.weight[0], layer.bias[0], activation))
    torch.testing.assert_close(actual, expected, rtol=RTOL, atol=ATOL)
    upstream = torch.randn(7, dtype=torch.float64)
    assert_all_close(grads_of(actual, (x, layer.weight, layer.bias), upstream),
                     grads_of(expected, (x, layer.weight, layer.bias), upstream), "neuron grads")


@settings(max_examples=examples(15), deadline=None)
@given(sizes=st.lists(st.integers(1, 6), min_size=2, max_size=4), batch=st.integers(1, 5),
       activation=st.sampled_from(["relu", "tanh", "sigmoid"]))
def test_mlp_by_hand_equals_nn_sequential(sizes, batch, activation):
    from course_lib.pytorch.models import MLP

    torch.manual_seed(1)
    model = MLP(sizes, activation).double()
    linears = [m for m in model.layers if isinstance(m, nn.Linear)]
    weights = [m.weight for m in linears]
    biases = [m.bias for m in linears]
    x = torch.randn(batch, sizes[0], dtype=torch.float64, requires_grad=True)
    phi = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[activation]
    actual = by_hand.mlp(x, weights, biases, phi)
    expected = model(x)
    torch.testing.assert_close(actual, expected, rtol=RTOL, atol=ATOL)
    upstream = torch.randn_like(expected)
    tensors = [x, *weights, *biases]
    assert_all_close(grads_of(actual, tensors, upstream), grads_of(expected, tensors, upstream), "mlp grads")


def test_init_mlp_gives_trainable_weights_of_nn_linear_layout():
    weights, biases = by_hand.init_mlp([3, 4, 2], generator=torch.Generator().manual_seed(0))
    assert [tuple(w.shape) for w in weights] == [(4, 3), (2, 4)]
    assert [tuple(b.shape) for b in biases] == [(4,), (2,)]
    assert all(t.requires_grad and t.is_leaf for t in weights + biases)
    assert float(weights[0].detach().abs().max()) <= 1 / 3 ** 0.5


def test_linear_and_neuron_reject_wrong_widths():
    with pytest.raises(ValueError, match="in_features=3"):
        by_hand.linear(torch.zeros(2, 4), torch.zeros(5, 3))
    with pytest.raises(ValueError, match=r"got x \(2, 4\) and weight \(1, 4\)"):
        by_hand.neuron(torch.zeros(2, 4), torch.zeros(1, 4), torch.zeros(()))


# --- convolution via unfold ------------------------------------------------------------------
@settings(max_examples=examples(20), deadline=None)
@given(
    batch=st.integers(1, 3), in_channels=st.integers(1, 3), out_channels=st.integers(1, 4),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)), stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)), dilation=st.integers(1, 2),
    size=st.tuples(st.integers(5, 9), st.integers(5, 9)), bias=st.booleans(),
)
def test_conv2d_unfold_equals_nn_conv2d(batch, in_channels, out_channels, kernel, stride, padding, dilation, size, bias):
    torch.manual_seed(2)
    conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding, dilation=dilation,
                     bias=bias).double()
    x = torch.randn(batch, in_channels, *size, dtype=torch.float64, requires_grad=True)
    expected = conv(x)
    actual = by_hand.conv2d_unfold(x, conv.weight, conv.bias, stride, padding, dilation)
    torch.testing.assert_close(actual, expected, rtol=RTOL, atol=ATOL)
    upstream = torch.randn_like(expected)
    tensors = [x, conv.weight] + ([conv.bias] if bias else [])
    assert_all_close(grads_of(actual, tensors, upstream), grads_of(expected, tensors, upstream), "conv grads")


@pytest.mark.parametrize("kwargs, message", [
    (dict(padding="same"), "padding must be an int or a pair of ints, each >= 0, got 'same'; write the padding out"),
    (dict(stride=0), "stride must be an int or a pair of ints, each >= 1, got 0"),
    (dict(dilation=(1, 1, 1)), "dilation must be an int or a pair"),
    (dict(padding=-1), "padding must be .* >= 0, got -1"),
])
def test_conv2d_unfold_names_an_option_it_cannot_take(kwargs, message):
    """padding='same' raised "invalid literal for int() with base 10: 's'" and stride=0 a
    ZeroDivisionError (an audit, 2026-12-06)."""
    with pytest.raises(ValueError, match=message):
        by_hand.conv2d_unfold(torch.zeros(1, 1, 5, 5), torch.zeros(2, 1, 3, 3), **kwargs)


def test_multi_head_attention_refuses_an_integer_mask_and_unbatched_input():
    """An integer 0/1 attn_mask was added to the scores, masking nothing (nn.MultiheadAttention refuses
    it); an unbatched (L, E) input failed with "not enough values to unpack" (an audit, 2026-12-06)."""
    x = torch.randn(2, 4, 8)
    weights = (torch.randn(24, 8), torch.zeros(24), torch.randn(8, 8), torch.zeros(8))
    causal = torch.ones(4, 4, dtype=torch.bool).triu(1)
    with pytest.raises(ValueError, match="attn_mask must be boolean .* or floating .*, got torch.int64"):
        by_hand.multi_head_attention(x, x, x, 2, *weights, attn_mask=causal.long())
    with pytest.raises(ValueError, match="key_padding_mask must be boolean"):
        by_hand.multi_head_attention(x, x, x, 2, *weights, key_padding_mask=torch.zeros(2, 4, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"expected batched inputs \(N, L, E\), got query \(4, 8\).*unsqueeze\(0\)"):
        by_hand.multi_head_attention(x[0], x[0], x[0], 2, *weights)


def test_conv2d_unfold_names_expected_channels():
    with pytest.raises(ValueError, match=r"\(N, C=3, H, W\), got \(28, 28\)"):
        by_hand.conv2d_unfold(torch.zeros(28, 28), torch.zeros(4, 3, 3, 3))


# --- recurrent cells ---------------------------------------------------------------------------
@pytest.mark.parametrize("batch,input_size,hidden", [(1, 1, 1), (3, 4, 5), (2, 6, 3)])
def test_lstm_cell_equals_nn_lstmcell(batch, input_size, hidden):
    torch.manual_seed(3)
    cell = nn.LSTMCell(input_size, hidden).double()
    x = torch.randn(batch, input_size, dtype=torch.float64, requires_grad=True)
    h = torch.randn(batch, hidden, dtype=torch.float64, requires_grad=True)
    c = torch.randn(batch, hidden, dtype=torch.float64, requires_grad=True)
    expected = cell(x, (h, c))
    actual = by_hand.lstm_cell(x, (h, c), cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    assert_all_close(actual, expected, "lstm (h, c)")
    upstream = [torch.randn_like(t) for t in expected]
    tensors = [x, h, c, *cell.parameters()]
    assert_all_close(grads_of(actual, tensors, upstream), grads_of(expected, tensors, upstream), "lstm grads")


def test_lstm_cell_unrolled_equals_nn_lstm_over_a_sequence():
    torch.manual_seed(4)
    lstm = nn.LSTM(3, 4, batch_first=True).double()
    x = torch.randn(2, 6, 3, dtype=torch.float64, requires_grad=True)
    expected, (h_n, c_n) = lstm(x)
    h = c = torch.zeros(2, 4, dtype=torch.float64)
    outputs = []
    for t in range(x.shape[1]):
        h, c = by_hand.lstm_cell(x[:, t], (h, c), lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
        outputs.append(h)
    actual = torch.stack(outputs, 1)
    torch.testing.assert_close(actual, expected, rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(c, c_n[0], rtol=RTOL, atol=ATOL)
    # backpropagation through time, the unrolled cells against the fused layer (a coverage audit)
    upstream = torch.randn_like(expected)
    tensors = [x, *lstm.parameters()]
    assert_all_close(grads_of(actual, tensors, upstream), grads_of(expected, tensors, upstream), "BPTT grads")


def test_rnn_cell_equals_nn_rnncell():
    torch.manual_seed(5)
    cell = nn.RNNCell(3, 4).double()
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    expected = cell(x, h)
    actual = by_hand.rnn_cell(x, h, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    torch.testing.assert_close(actual, expected, rtol=RTOL, atol=ATOL)
    upstream = torch.randn_like(expected)
    tensors = [x, h, *cell.parameters()]
    assert_all_close(grads_of(actual, tensors, upstream), grads_of(expected, tensors, upstream), "rnn grads")


# --- attention -----------------------------------------------------------------------------------
@settings(max_examples=examples(20), deadline=None)
@given(batch=st.integers(1, 3), length=st.integers(1, 5), source=st.integers(1, 5), d_k=st.integers(1, 6),
       d_v=st.integers(1, 4), mask=st.sampled_from(["none", "bool", "float", "causal"]), seed=st.integers(0, 100))
# every mask kind at least once, whatever the draws (the 20 fixed draws had no boolean mask; an audit)
@example(batch=2, length=3, source=4, d_k=3, d_v=2, mask="bool", seed=1)
@example(batch=1, length=4, source=4, d_k=2, d_v=3, mask="float", seed=2)
@example(batch=2, length=4, source=4, d_k=2, d_v=2, mask="causal", seed=3)
def test_scaled_dot_product_attention_equals_torch(batch, length, source, d_k, d_v, mask, seed):
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, 2, length, d_k, dtype=torch.float64, generator=generator, requires_grad=True)
    k = torch.randn(batch, 2, source, d_k, dtype=torch.float64, generator=generator, requires_grad=True)
    v = torch.randn(batch, 2, source, d_v, dtype=torch.float64, generator=generator, requires_grad=True)
    kwargs = {}
    if mask == "bool":
        allowed = torch.rand(length, source, generator=generator) < 0.7
        allowed[:, 0] = True  # every query keeps one key: an all-masked row is NaN on both sides
        kwargs["attn_mask"] = allowed
    elif mask == "float":
        kwargs["attn_mask"] = torch.randn(batch, 1, length, source, dtype=torch.float64, generator=generator)
    elif mask == "causal":
        kwargs["is_causal"] = True
    expected = F.scaled_dot_product_attention(q, k, v, **kwargs)
    actual = by_hand.scaled_dot_product_attention(q, k, v, **kwargs)
    torch.testing.assert_close(actual, expected, rtol=RTOL, atol=ATOL)
    upstream = torch.randn_like(expected)
    assert_all_close(grads_of(actual, (q, k, v), upstream), grads_of(expected, (q, k, v), upstream), "sdpa grads")


def test_attention_weights_are_a_distribution_and_causal_is_lower_triangular():
    q = torch.randn(1, 4, 3, dtype=torch.float64)
    _, weights = by_hand.scaled_dot_product_attention(q, q, q, is_causal=True, return_weights=True)
    torch.testing.assert_close(weights.sum(-1), torch.ones(1, 4, dtype=torch.float64))
    assert torch.all(weights[0].triu(1) == 0)


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@settings(max_examples=examples(20), deadline=None)
@given(batch=st.integers(1, 3), length=st.integers(1, 5), source=st.integers(1, 5),
       heads=st.sampled_from([1, 2, 3]), head_dim=st.integers(1, 3), bias=st.booleans(),
       mask=st.sampled_from(["none", "bool", "float"]), padding=st.booleans(), average=st.booleans(),
       need_weights=st.booleans(), seed=st.integers(0, 100))
def test_multi_head_attention_equals_nn_multiheadattention(batch, length, source, heads, head_dim, bias, mask,
                                                           padding, average, need_weights, seed):
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    embed = heads * head_dim
    mha = nn.MultiheadAttention(embed, heads, bias=bias, batch_first=True).double()
    query = torch.randn(batch, length, embed, dtype=torch.float64, generator=generator, requires_grad=True)
    key = torch.randn(batch, source, embed, dtype=torch.float64, generator=generator, requires_grad=True)
    value = torch.randn(batch, source, embed, dtype=torch.float64, generator=generator, requires_grad=True)
    kwargs = {"average_attn_weights": average, "need_weights": need_weights}
    if mask == "bool":
        hidden = torch.rand(length, source, generator=generator) < 0.3  # True = NOT allowed (MHA convention)
        hidden[:, 0] = False
        kwargs["attn_mask"] = hidden
    elif mask == "float":
        kwargs["attn_mask"] = torch.randn(length, source, dtype=torch.float64, generator=generator)
    if padding:
        pad = torch.rand(batch, source, generator=generator) < 0.3
        pad[:, 0] = False
        kwargs["key_padding_mask"] = pad
    expected_out, expected_weights = mha(query, key, value, **kwargs)
    actual_out, actual_weights = by_hand.multi_head_attention(
        query, key, value, heads, mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight, mha.out_proj.bias,
        **kwargs,
    )
    torch.testing.assert_close(actual_out, expected_out, rtol=RTOL, atol=ATOL)
    tensors = [query, key, value] + [p for p in mha.parameters()]
    if not need_weights:  # torch returns no weights then (a coverage audit: this call was never made)
        assert actual_weights is None and expected_weights is None
        upstream = torch.randn_like(expected_out)
        assert_all_close(grads_of(actual_out, tensors, upstream), grads_of(expected_out, tensors, upstream), "mha grads")
        return
    torch.testing.assert_close(actual_weights, expected_weights, rtol=RTOL, atol=ATOL)
    # the gradient through the output and through the returned weights (a coverage audit: only the output's)
    up_out, up_weights = torch.randn_like(expected_out), torch.randn_like(expected_weights)
    actual = (actual_out * up_out).sum() + (actual_weights * up_weights).sum()
    expected = (expected_out * up_out).sum() + (expected_weights * up_weights).sum()
    assert_all_close(grads_of(actual, tensors, torch.ones(())), grads_of(expected, tensors, torch.ones(())), "mha grads")


def test_mha_self_attention_with_3d_mask_matches():
    torch.manual_seed(6)
    mha = nn.MultiheadAttention(4, 2, batch_first=True).double()
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    mask = torch.triu(torch.ones(3, 3, dtype=torch.bool), 1).expand(2 * 2, 3, 3)
    expected, _ = mha(x, x, x, attn_mask=mask)
    actual, _ = by_hand.multi_head_attention(x, x, x, 2, mha.in_proj_weight, mha.in_proj_bias,
                                             mha.out_proj.weight, mha.out_proj.bias, attn_mask=mask)
    torch.testing.assert_close(actual, expected, rtol=RTOL, atol=ATOL)


def test_3d_attn_mask_is_batch_major():
    """A 3-D mask of shape (N·heads, L, L) is ordered batch-major, as torch's is, not head-major."""
    torch.manual_seed(0)
    batch, length, d_model, heads = 2, 4, 8, 2
    mha = nn.MultiheadAttention(d_model, heads, batch_first=True).double()
    x = torch.randn(batch, length, d_model, dtype=torch.float64)
    mask = torch.rand(batch * heads, length, length) > 0.5
    mask[:, torch.arange(length), torch.arange(length)] = False  # each query sees at least itself
    expected, _ = mha(x, x, x, attn_mask=mask)
    actual, _ = by_hand.multi_head_attention(x, x, x, heads, mha.in_proj_weight, mha.in_proj_bias,
                                             mha.out_proj.weight, mha.out_proj.bias, attn_mask=mask)
    torch.testing.assert_close(actual, expected, rtol=RTOL, atol=ATOL)


# --- CUDA: the same functions run unchanged on a GPU ------------------------------------------
def on(device, *tensors):
    return [leaf(t.to(device)) for t in tensors]


def forward_and_grads(function, tensors, upstream):
    """function(*tensors) and the gradient of Σ output·upstream for each tensor."""
    output = function(*tensors)
    return [output, *grads_of(output, tensors, upstream.to(output.device))]


@needs_cuda
def test_every_by_hand_function_runs_on_cuda_and_matches_the_cpu_with_gradients():
    """float64 on both devices: no TF32, so the GPU may differ from the CPU only by rounding."""
    device = select_device("cuda")
    generator = torch.Generator().manual_seed(7)

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    x4, w4, b4 = randn(2, 2, 6, 6), randn(3, 2, 3, 3), randn(3)
    x, h, c = randn(3, 4), randn(3, 5), randn(3, 5)
    q, k, v = randn(2, 6, 8), randn(2, 5, 8), randn(2, 5, 8)
    cases = {
        "neuron": (by_hand.neuron, [x, randn(4), randn(())], randn(3)),
        "mlp": (lambda a, w0, b0, w1, b1: by_hand.mlp(a, [w0, w1], [b0, b1]),
                [x, randn(6, 4), randn(6), randn(2, 6), randn(2)], randn(3, 2)),
        "conv2d_unfold": (lambda a, w, b: by_hand.conv2d_unfold(a, w, b, stride=(2, 1), padding=1, dilation=(1, 2)),
                          [x4, w4, b4], randn(2, 3, 3, 4)),
        "rnn_cell": (by_hand.rnn_cell, [x, h, randn(5, 4), randn(5, 5), randn(5), randn(5)], randn(3, 5)),
        "lstm_cell": (lambda a, h0, c0, *weights: torch.cat(by_hand.lstm_cell(a, (h0, c0), *weights), dim=1),
                      [x, h, c, randn(20, 4), randn(20, 5), randn(20), randn(20)], randn(3, 10)),
        "scaled_dot_product_attention (causal)": (
            lambda a, b, d: by_hand.scaled_dot_product_attention(a, b, d, is_causal=True),
            [q[:, :5], k, v], randn(2, 5, 8)),
        "multi_head_attention (masks)": (
            lambda a, b, d, w_in, b_in, w_out, b_out: by_hand.multi_head_attention(
                a, b, d, 2, w_in, b_in, w_out, b_out,
                key_padding_mask=torch.tensor([[False] * 4 + [True], [False] * 5], device=a.device),
                attn_mask=torch.ones(6, 5, dtype=torch.bool, device=a.device).triu(diagonal=3))[0],
            [q, k, v, randn(24, 8), randn(24), randn(8, 8), randn(8)], randn(2, 6, 8)),
    }
    for name, (function, tensors, upstream) in cases.items():
        expected = forward_and_grads(function, on("cpu", *tensors), upstream)
        actual = forward_and_grads(function, on(device, *tensors), upstream)
        assert all(a is None or a.device.type == "cuda" for a in actual), name
        assert_all_close([a.cpu() for a in actual], expected, f"{name} on CUDA")

    weights, biases = by_hand.init_mlp([4, 6, 2], generator=torch.Generator().manual_seed(0), device=device)
    assert all(t.device.type == "cuda" and t.requires_grad for t in weights + biases)
    reference = by_hand.init_mlp([4, 6, 2], generator=torch.Generator().manual_seed(0))
    for gpu, cpu in zip(weights + biases, reference[0] + reference[1]):
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=0)


def _double(*shape, generator):
    return torch.randn(*shape, dtype=torch.float64, generator=generator, requires_grad=True)


GRADCHECK_CASES = {
    "neuron": lambda g: (lambda x, w, b: by_hand.neuron(x, w, b, torch.tanh), (_double(4, 3, generator=g),
                                                                               _double(3, generator=g), _double((), generator=g))),
    "mlp": lambda g: (lambda x, w1, b1, w2, b2: by_hand.mlp(x, [w1, w2], [b1, b2], activation=F.gelu),
                      (_double(4, 3, generator=g), _double(5, 3, generator=g), _double(5, generator=g),
                       _double(2, 5, generator=g), _double(2, generator=g))),
    "conv2d_unfold": lambda g: (lambda x, w, b: by_hand.conv2d_unfold(x, w, b, stride=2, padding=1, dilation=1),
                                (_double(2, 2, 5, 5, generator=g), _double(3, 2, 3, 3, generator=g), _double(3, generator=g))),
    "rnn_cell": lambda g: (by_hand.rnn_cell, (_double(3, 2, generator=g), _double(3, 4, generator=g), _double(4, 2, generator=g),
                                              _double(4, 4, generator=g), _double(4, generator=g), _double(4, generator=g))),
    "lstm_cell": lambda g: (lambda x, h, c, wi, wh, bi, bh: by_hand.lstm_cell(x, (h, c), wi, wh, bi, bh),
                            (_double(3, 2, generator=g), _double(3, 4, generator=g), _double(3, 4, generator=g),
                             _double(16, 2, generator=g), _double(16, 4, generator=g), _double(16, generator=g),
                             _double(16, generator=g))),
    "scaled_dot_product_attention": lambda g: (
        lambda q, k, v: by_hand.scaled_dot_product_attention(q, k, v, is_causal=True, return_weights=True),
        (_double(2, 4, 3, generator=g), _double(2, 4, 3, generator=g), _double(2, 4, 2, generator=g))),
    "multi_head_attention": lambda g: (
        lambda q, w, b, wo, bo: by_hand.multi_head_attention(q, q, q, 2, w, b, wo, bo, need_weights=True,
                                                             average_attn_weights=False),
        (_double(2, 3, 4, generator=g), _double(12, 4, generator=g), _double(12, generator=g),
         _double(4, 4, generator=g), _double(4, generator=g))),
}


@pytest.mark.parametrize("name", sorted(GRADCHECK_CASES))
def test_every_by_hand_function_passes_a_finite_difference_gradient_check(name):
    """Autograd through the hand-written formulas against central differences, in float64, for every
    input and weight (a coverage audit: the by-hand functions were only compared with torch's modules);
    the attention functions' weights are outputs too."""
    function, inputs = GRADCHECK_CASES[name](torch.Generator().manual_seed(0))
    assert torch.autograd.gradcheck(function, inputs)

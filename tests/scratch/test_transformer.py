"""TransformerEncoderLayer: gradcheck, torch parity (both norm_first, masks, dropout), errors."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from course_lib.scratch import Module, init
from course_lib.scratch.activations import LeakyReLU
from course_lib.scratch.gradcheck import gradcheck
from course_lib.scratch.gelu import GELU
from course_lib.scratch.transformer import TransformerEncoderLayer

from .parity import assert_close, assert_parity, copy_weights, random_mask
from ..hypothesis_budget import examples

pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched")


def make_pair(d_model, nhead, dim_feedforward, seed=0, **kwargs):
    """A float64 torch layer with every parameter randomised, and its scratch copy."""
    torch.manual_seed(seed)
    torch_layer = torch.nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dtype=torch.float64, **kwargs)
    with torch.no_grad():
        for param in torch_layer.parameters():
            param.copy_(torch.randn_like(param) * 0.5)
    layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dtype=np.float64, **kwargs)
    copy_weights(torch_layer, layer)
    return torch_layer, layer


def run_both(torch_layer, layer, src, grad, **kwargs):
    """Forward + backward on both; compares output, dL/dsrc and every parameter gradient by name."""
    torch_kwargs = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    src_t = torch.tensor(src, requires_grad=True)
    torch_layer.zero_grad()
    out_t = torch_layer(src_t, **torch_kwargs)
    out_t.backward(torch.from_numpy(grad))
    layer.zero_grad()
    out = layer(src, **kwargs)
    assert_close(out, out_t, what="output")
    assert_close(layer.backward(grad), src_t.grad, what="grad of src")
    params = dict(layer.named_parameters())
    assert list(params) == [name for name, _ in torch_layer.named_parameters()]
    for name, param in torch_layer.named_parameters():
        assert_close(params[name].grad, param.grad, what=f"grad of {name}")
    return out


@st.composite
def encoder_cases(draw):
    nhead, head_dim = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return dict(
        nhead=nhead, d_model=nhead * head_dim, dim_feedforward=draw(st.integers(1, 6)),
        batch=draw(st.integers(1, 3)), length=draw(st.integers(1, 5)), batched=draw(st.booleans() | st.just(True)),
        batch_first=draw(st.booleans()), norm_first=draw(st.booleans()), bias=draw(st.booleans()),
        activation=draw(st.sampled_from(["relu", "gelu"])), src_mask=draw(st.sampled_from([None, "bool", "float"])),
        mask_3d=draw(st.booleans()), key_padding_mask=draw(st.sampled_from([None, "bool", "float"])),
        layer_norm_eps=draw(st.sampled_from([1e-5, 1e-2])), seed=draw(st.integers(0, 2**16)),
    )


@settings(max_examples=examples(20), deadline=None)
@given(encoder_cases())
def test_parity_with_torch_dropout_zero_train_mode(case):
    rng = np.random.default_rng(case["seed"])
    d_model, nhead, N, S = case["d_model"], case["nhead"], case["batch"], case["length"]
    torch_layer, layer = make_pair(
        d_model, nhead, case["dim_feedforward"], seed=case["seed"], dropout=0.0, activation=case["activation"],
        layer_norm_eps=case["layer_norm_eps"], batch_first=case["batch_first"], norm_first=case["norm_first"],
        bias=case["bias"],
    )
    if not case["batched"]:
        shape = (S, d_model)
    else:
        shape = (N, S, d_model) if case["batch_first"] else (S, N, d_model)
    src = rng.standard_normal(shape) * 2
    lead = (N * nhead,) if case["batched"] else (nhead,)
    masks = dict(
        src_mask=random_mask(rng, lead + (S, S) if case["mask_3d"] else (S, S), case["src_mask"]),
        src_key_padding_mask=random_mask(rng, (N, S) if case["batched"] else (S,), case["key_padding_mask"]),
    )
    run_both(torch_layer, layer, src, rng.standard_normal(shape), **masks)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_dropout_in_eval_mode_matches_torch(norm_first, activation):
    rng = np.random.default_rng(1)
    torch_layer, layer = make_pair(6, 2, 10, dropout=0.3, norm_first=norm_first, activation=activation)
    torch_layer.eval()
    layer.eval()
    src = rng.standard_normal((4, 3, 6))
    run_both(torch_layer, layer, src, rng.standard_normal(src.shape),
             src_key_padding_mask=random_mask(rng, (3, 4), "bool"))


@pytest.mark.parametrize("norm_first", [False, True])
def test_parity_without_masks_uses_shared_helper(norm_first):
    rng = np.random.default_rng(2)
    torch_layer, layer = make_pair(4, 2, 8, dropout=0.0, norm_first=norm_first, batch_first=True)
    src = rng.standard_normal((2, 5, 4))
    assert_parity(torch_layer, layer, src, rng.standard_normal(src.shape))


def test_causal_mask_and_fully_padded_sample_match_torch():
    """is_causal with its mask; a sample whose every key is padding gets zero attention in both."""
    rng = np.random.default_rng(3)
    torch_layer, layer = make_pair(6, 3, 8, dropout=0.0, batch_first=True)
    src = rng.standard_normal((3, 4, 6))
    padding = np.zeros((3, 4), bool)
    padding[2] = True
    causal = np.triu(np.full((4, 4), -np.inf), 1)
    out = run_both(torch_layer, layer, src, rng.standard_normal(src.shape), src_mask=causal,
                   src_key_padding_mask=padding, is_causal=True)
    assert np.all(np.isfinite(out))


class WithMasks(Module):
    """The layer called with fixed masks: a one-input module for ``gradcheck``."""

    def __init__(self, layer, **masks):
        super().__init__()
        self.layer, self.masks = layer, masks

    def forward(self, src):
        return self.layer(src, **self.masks)

    def backward(self, grad):
        return self.layer.backward(grad)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_gradcheck(norm_first, activation):
    rng = np.random.default_rng(4)
    _, layer = make_pair(4, 2, 6, dropout=0.0, norm_first=norm_first, activation=activation)
    mask = random_mask(rng, (3, 3), "float")
    gradcheck(WithMasks(layer, src_mask=mask), rng.standard_normal((3, 2, 4)))


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activations", [(lambda: torch.nn.GELU(approximate="tanh"), lambda: GELU(approximate="tanh")),
                                         (lambda: torch.nn.LeakyReLU(0.2), lambda: LeakyReLU(0.2))], ids=["gelu-tanh", "leaky"])
def test_an_activation_module_matches_torch_and_passes_gradcheck(norm_first, activations):
    """``activation`` may be a module, as in torch (a coverage audit: only "relu" and "gelu" were drawn)."""
    rng = np.random.default_rng(5)
    torch.manual_seed(5)
    torch_layer = torch.nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, activation=activations[0](),
                                                   norm_first=norm_first, dtype=torch.float64)
    with torch.no_grad():
        for param in torch_layer.parameters():
            param.copy_(torch.randn_like(param) * 0.5)
    layer = TransformerEncoderLayer(4, 2, 6, dropout=0.0, activation=activations[1](), norm_first=norm_first,
                                    dtype=np.float64)
    copy_weights(torch_layer, layer)
    src = rng.standard_normal((3, 2, 4))
    run_both(torch_layer, layer, src, rng.standard_normal(src.shape))
    gradcheck(layer, src)


@pytest.mark.parametrize("case", ["no bias, batch_first, padding", "unbatched"])
def test_options_gradcheck(case):
    """Options a coverage audit found no gradient check of (each compared with torch)."""
    rng = np.random.default_rng(6)
    unbatched = case == "unbatched"
    _, layer = make_pair(4, 2, 6, dropout=0.0, bias=unbatched, batch_first=not unbatched, norm_first=unbatched)
    padding = None if unbatched else random_mask(rng, (2, 3), "bool")
    src = rng.standard_normal((3, 4) if unbatched else (2, 3, 4))
    assert gradcheck(WithMasks(layer, src_key_padding_mask=padding), src)


@pytest.mark.parametrize("norm_first", [False, True])
def test_gradcheck_with_dropout_in_train_mode(norm_first):
    """Reseeding before each forward fixes every dropout mask: backward must reuse the same masks."""
    rng = np.random.default_rng(5)
    _, layer = make_pair(4, 2, 6, dropout=0.3, norm_first=norm_first)

    class Reseeded(Module):
        def __init__(self):
            super().__init__()
            self.layer = layer

        def forward(self, src):
            init.manual_seed(9)
            return self.layer(src)

        def backward(self, grad):
            return self.layer.backward(grad)

    gradcheck(Reseeded(), rng.standard_normal((3, 2, 4)))


class _FixedMask(torch.nn.Module):
    """A torch stand-in for a Dropout: multiplies by a given (already scaled) mask."""

    def __init__(self, mask):
        super().__init__()
        self.mask = torch.from_numpy(np.array(mask))  # a copy, in C order

    def forward(self, x):
        return x * self.mask.reshape(x.shape)


@pytest.mark.parametrize("norm_first", [False, True])
def test_feed_forward_dropout_comes_after_the_activation_like_torch(norm_first):
    """FFN(x) = W₂·dropout(act(W₁x + b₁)) + b₂ as in torch; with GELU (unlike ReLU) dropping before
    the activation gives other numbers.  Training, p = 0.5: torch's three dropouts replay the masks
    the scratch layer drew (attention dropout off on both sides); output and gradients are torch's."""
    rng = np.random.default_rng(10)
    torch_layer, layer = make_pair(6, 2, 10, dropout=0.5, activation="gelu", norm_first=norm_first)
    torch_layer.self_attn.dropout = layer.self_attn.dropout = 0.0
    src = rng.standard_normal((4, 3, 6))
    init.manual_seed(16)
    layer(src)
    for name in ("dropout", "dropout1", "dropout2"):
        mask = getattr(layer, name)._mask
        assert 0 < np.mean(mask == 0) < 1
        setattr(torch_layer, name, _FixedMask(mask))
    init.manual_seed(16)  # the scratch layer draws the same masks again
    run_both(torch_layer, layer, src, rng.standard_normal(src.shape))


def test_state_dict_and_submodules_match_torch():
    torch_layer = torch.nn.TransformerEncoderLayer(8, 2, 16)
    layer = TransformerEncoderLayer(8, 2, 16)
    assert list(layer.state_dict()) == list(torch_layer.state_dict())
    for name in ["self_attn", "linear1", "dropout", "linear2", "norm1", "norm2", "dropout1", "dropout2"]:
        assert type(getattr(layer, name)).__name__ == type(getattr(torch_layer, name)).__name__.replace(
            "NonDynamicallyQuantizableLinear", "Linear")
    assert layer.dropout.p == layer.dropout1.p == layer.self_attn.dropout == 0.1  # torch's default
    assert list(TransformerEncoderLayer(8, 2, 16, bias=False).state_dict()) == list(
        torch.nn.TransformerEncoderLayer(8, 2, 16, bias=False).state_dict())


def test_float32_stays_float32():
    init.manual_seed(0)
    layer = TransformerEncoderLayer(8, 2, 16, activation="gelu")
    out = layer(np.random.default_rng(0).standard_normal((3, 2, 8)).astype(np.float32))
    assert out.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32
    assert all(param.grad.dtype == np.float32 for param in layer.parameters())


def test_errors():
    with pytest.raises(ValueError, match="embed_dim divisible by num_heads"):
        TransformerEncoderLayer(6, 4)
    with pytest.raises(ValueError, match="activation should be 'relu', 'gelu'"):
        TransformerEncoderLayer(8, 2, activation="tanh")
    layer = TransformerEncoderLayer(8, 2, 16, batch_first=True)
    with pytest.raises(ValueError, match=r"expected src of shape \(N, S, E=8\) or \(S, E=8\), got \(2, 3, 7\)"):
        layer(np.zeros((2, 3, 7), np.float32))
    with pytest.raises(ValueError, match="dtype float32, got float64"):
        layer(np.zeros((2, 3, 8)))
    with pytest.raises(ValueError, match=r"attn_mask of shape \(L, S\) = \(3, 3\)"):
        layer(np.zeros((2, 3, 8), np.float32), src_mask=np.zeros((3, 4), bool))
    with pytest.raises(RuntimeError, match="before forward"):
        TransformerEncoderLayer(8, 2).backward(np.zeros((3, 2, 8), np.float32))

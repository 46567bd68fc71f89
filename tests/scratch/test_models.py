"""Every model of the book exists twice with identical state_dicts, and both sides compute the same thing.

For each model: weights copied torch → scratch and scratch → torch (``course_lib.interop``) give
the same output, the same input gradient and the same gradient for every parameter after one
backward pass, in float64 (rtol 1e-6 as for the layers).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.interop import state_dict_from_torch, state_dict_to_torch
from course_lib.pytorch import models as torch_models
from course_lib.scratch import gradcheck, init
from course_lib.scratch import models as scratch_models

from .parity import assert_parity, random_like_output

torch.set_num_threads(1)


def cases():
    """name -> (config, inputs builder(rng)); small sizes, every model family and head."""
    def images(rng):
        return rng.standard_normal((2, 1, 28, 28))

    def features(rng, length=5, size=3):
        return rng.standard_normal((3, length, size))

    def tokens(rng, vocab=11, length=6):
        return rng.integers(0, vocab, (3, length))

    def tokens_and_padding(rng):
        ids = tokens(rng)
        padding = np.zeros(ids.shape, dtype=bool)
        padding[0, 4:] = True  # first sequence is 4 long, second 2 long, third full
        padding[1, 2:] = True
        return ids, padding

    return {
        "mlp-relu": ({"name": "MLP", "sizes": [4, 7, 5, 3], "activation": "relu"}, lambda rng: rng.standard_normal((6, 4))),
        "mlp-tanh": ({"name": "MLP", "sizes": [2, 8, 1], "activation": "tanh"}, lambda rng: rng.standard_normal((5, 2))),
        "mlp-sigmoid": ({"name": "MLP", "sizes": [3, 4, 2], "activation": "sigmoid"}, lambda rng: rng.standard_normal((4, 3))),
        "mlp-gelu": ({"name": "MLP", "sizes": [3, 4, 2], "activation": "gelu"}, lambda rng: rng.standard_normal((4, 3))),
        "cnn": ({"name": "CNN", "channels": [3, 4, 5], "hidden": 6}, images),
        "cnn-3-channel-4-classes": ({"name": "CNN", "in_channels": 3, "num_classes": 4, "image_size": 20,
                                     "channels": [2, 3, 2], "hidden": 5},
                                    lambda rng: rng.standard_normal((2, 3, 20, 20))),
        "lstm-classify": ({"name": "RecurrentModel", "input_size": 3, "hidden_size": 4, "output_size": 2,
                           "cell": "lstm", "num_layers": 2}, features),
        "lstm-sequence-tokens": ({"name": "RecurrentModel", "input_size": 5, "hidden_size": 4, "output_size": 3,
                                  "cell": "lstm", "task": "sequence", "vocab_size": 11}, tokens),
        "rnn-sequence-regression": ({"name": "RecurrentModel", "input_size": 1, "hidden_size": 6, "output_size": 1,
                                     "cell": "rnn", "task": "sequence"}, lambda rng: features(rng, 7, 1)),
        "rnn-relu-classify-tokens": ({"name": "RecurrentModel", "input_size": 4, "hidden_size": 5, "output_size": 3,
                                      "cell": "rnn", "nonlinearity": "relu", "vocab_size": 11}, tokens),
        "transformer-classify": ({"name": "TransformerModel", "d_model": 8, "nhead": 2, "num_layers": 2,
                                  "output_size": 3, "vocab_size": 11, "dim_feedforward": 16, "max_len": 32}, tokens),
        "transformer-classify-padding": ({"name": "TransformerModel", "d_model": 8, "nhead": 4, "num_layers": 1,
                                          "output_size": 2, "vocab_size": 11, "dim_feedforward": 12, "max_len": 16},
                                         tokens_and_padding),
        "transformer-sequence-features": ({"name": "TransformerModel", "d_model": 6, "nhead": 3, "num_layers": 2,
                                           "output_size": 1, "input_size": 3, "task": "sequence",
                                           "dim_feedforward": 10, "max_len": 16}, features),
    }


CASES = cases()


def torch_model(config):
    torch.manual_seed(0)
    return torch_models.build_model(config).double()


def scratch_model(config, seed=1):
    init.manual_seed(seed)
    return scratch_models.build_model(config, dtype=np.float64)


@pytest.mark.parametrize("name", list(CASES))
def test_torch_weights_in_the_scratch_model_give_the_same_outputs_and_gradients(name):
    config, make_inputs = CASES[name]
    rng = np.random.default_rng(0)
    inputs = make_inputs(rng)
    torch_net, scratch_net = torch_model(config), scratch_model(config)
    with torch.no_grad():
        probe = torch_net(*(torch.as_tensor(a) for a in (inputs if isinstance(inputs, tuple) else (inputs,))))
    grad_output = random_like_output(rng, probe.numpy())
    assert_parity(torch_net, scratch_net, inputs, grad_output, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", list(CASES))
def test_scratch_weights_in_the_torch_model_give_the_same_outputs_and_gradients(name):
    config, make_inputs = CASES[name]
    rng = np.random.default_rng(1)
    inputs = make_inputs(rng)
    torch_net, scratch_net = torch_model(config), scratch_model(config, seed=2)
    state_dict_to_torch(scratch_net.state_dict(), torch_net)
    for key, value in scratch_net.state_dict().items():  # the scratch weights really arrived
        np.testing.assert_array_equal(torch_net.state_dict()[key].numpy(), value)
    with torch.no_grad():
        probe = torch_net(*(torch.as_tensor(a) for a in (inputs if isinstance(inputs, tuple) else (inputs,))))
    grad_output = random_like_output(rng, probe.numpy())
    assert_parity(torch_net, scratch_net, inputs, grad_output, rtol=1e-6, atol=1e-9, copy=False)


@pytest.mark.parametrize("name", list(CASES))
def test_state_dicts_have_identical_names_shapes_and_configs(name):
    config, _ = CASES[name]
    torch_net, scratch_net = torch_model(config), scratch_model(config)
    torch_shapes = {key: tuple(value.shape) for key, value in torch_net.state_dict().items()}
    scratch_shapes = {key: value.shape for key, value in scratch_net.state_dict().items()}
    assert scratch_shapes == torch_shapes  # same keys (order aside: scratch lists buffers last) and shapes
    assert scratch_net.config == torch_net.config


# the constructors' own defaults and a dropout MLP: built from minimal configs, so a default that
# differs between the two sides, or a layer one side forgets, shows (no parity case reached them; an audit)
MINIMAL = {
    "mlp-dropout": {"name": "MLP", "sizes": [4, 7, 5, 3], "dropout": 0.2},
    "cnn-defaults": {"name": "CNN"},
    "recurrent-defaults": {"name": "RecurrentModel", "input_size": 3, "hidden_size": 4, "output_size": 2},
    "transformer-defaults": {"name": "TransformerModel", "d_model": 8, "nhead": 2, "num_layers": 1,
                             "output_size": 3, "vocab_size": 11},
}


@pytest.mark.parametrize("name", list(MINIMAL))
def test_minimal_configs_give_the_same_state_dicts_and_configs(name):
    config = MINIMAL[name]
    torch_net, scratch_net = torch_model(config), scratch_model(config)
    torch_shapes = {key: tuple(value.shape) for key, value in torch_net.state_dict().items()}
    assert {key: value.shape for key, value in scratch_net.state_dict().items()} == torch_shapes
    assert scratch_net.config == torch_net.config


def test_round_trip_scratch_torch_scratch_is_exact():
    config, _ = CASES["lstm-classify"]
    source, target = scratch_model(config, seed=3), scratch_model(config, seed=4)
    torch_net = torch_model(config)
    state_dict_to_torch(source.state_dict(), torch_net)
    target.load_state_dict(state_dict_from_torch(torch_net.state_dict()))
    for key, value in source.state_dict().items():
        np.testing.assert_array_equal(target.state_dict()[key], value)


def test_the_books_cnn_has_the_keras_listings_shapes_and_93322_parameters():
    model = scratch_models.CNN()
    shapes = {key: value.shape for key, value in model.state_dict().items()}
    assert shapes["features.0.weight"] == (32, 1, 3, 3)
    assert shapes["features.3.weight"] == (64, 32, 3, 3)
    assert shapes["features.6.weight"] == (64, 64, 3, 3)
    assert shapes["classifier.0.weight"] == (64, 576)  # 64 maps of 3×3 after 28→26→13→11→5→3
    assert shapes["classifier.2.weight"] == (10, 64)
    assert sum(int(np.prod(shape)) for shape in shapes.values()) == 93322
    assert sum(p.numel() for p in torch_models.CNN().parameters()) == 93322


def test_float32_is_the_default_and_stays_float32():
    model = scratch_models.CNN(channels=(2, 2, 2), hidden=3)
    out = model(np.zeros((1, 1, 28, 28), dtype=np.float32))
    assert out.dtype == np.float32 and out.shape == (1, 10)
    grad = model.backward(np.ones_like(out))
    assert grad.dtype == np.float32 and all(p.grad.dtype == np.float32 for p in model.parameters())


def test_cnn_can_skip_the_image_gradient_for_training():
    model = scratch_models.CNN(channels=(2, 2, 2), hidden=3)
    model.features[0].requires_input_grad = False
    out = model(np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32))
    assert model.backward(np.ones_like(out)) is None
    assert np.any(model.features[0].weight.grad != 0)


def test_bad_configs_and_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="unknown model 'ResNet'"):
        scratch_models.build_model({"name": "ResNet"})
    with pytest.raises(ValueError, match="config does not fit MLP"):
        scratch_models.build_model({"name": "MLP", "sizes": [2, 2], "width": 3})
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        scratch_models.MLP([2, 3, 1], activation="swish")
    with pytest.raises(ValueError, match=r"exactly one of vocab_size .* got vocab_size=None and input_size=None"):
        scratch_models.TransformerModel(8, 2, 1, 2)
    with pytest.raises(ValueError, match=r"Conv2d expected input of shape \(N, C=1, H, W\), got \(28, 28\)"):
        scratch_models.CNN()(np.zeros((28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match="too small"):
        scratch_models.CNN(image_size=8)


@pytest.mark.parametrize("name", list(CASES))
def test_every_model_passes_a_gradient_check(name):
    """Every parameter and every float input of each whole model against central differences (a
    coverage audit: the models were only compared with torch's twins)."""
    config, make_inputs = CASES[name]
    model = scratch_model(config)
    inputs = make_inputs(np.random.default_rng(3))
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    floats = [index for index, array in enumerate(inputs) if np.issubdtype(array.dtype, np.floating)]
    assert gradcheck(model, *inputs, check_inputs=floats)

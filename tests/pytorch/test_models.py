"""The idiomatic PyTorch models: shapes, configs that rebuild them, masks, and CUDA."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from course_lib.pytorch import models
from course_lib.pytorch.device import select_device
from course_lib.scratch.positional import sinusoidal_table

from ..devices import needs_cuda

torch.set_num_threads(1)

CONFIGS = {
    "mlp": ({"name": "MLP", "sizes": [4, 8, 3], "activation": "tanh", "dropout": 0.1}, lambda: torch.randn(5, 4), (5, 3)),
    "cnn": ({"name": "CNN"}, lambda: torch.rand(2, 1, 28, 28), (2, 10)),
    "lstm-classify": ({"name": "RecurrentModel", "input_size": 3, "hidden_size": 6, "output_size": 4, "num_layers": 2},
                      lambda: torch.randn(2, 7, 3), (2, 4)),
    "rnn-sequence-tokens": ({"name": "RecurrentModel", "input_size": 4, "hidden_size": 5, "output_size": 2,
                             "cell": "rnn", "task": "sequence", "vocab_size": 9},
                            lambda: torch.randint(0, 9, (3, 6)), (3, 6, 2)),
    "transformer-classify": ({"name": "TransformerModel", "d_model": 8, "nhead": 2, "num_layers": 2,
                              "output_size": 3, "vocab_size": 11, "dim_feedforward": 16},
                             lambda: torch.randint(0, 11, (2, 6)), (2, 3)),
    "transformer-sequence": ({"name": "TransformerModel", "d_model": 8, "nhead": 4, "num_layers": 1,
                              "output_size": 1, "input_size": 2, "task": "sequence", "dim_feedforward": 16},
                             lambda: torch.randn(2, 6, 2), (2, 6, 1)),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_build_model_gives_the_output_shape_and_a_json_config_that_rebuilds_it(name):
    config, make_input, shape = CONFIGS[name]
    torch.manual_seed(0)
    model = models.build_model(config)
    assert tuple(model(make_input()).shape) == shape
    stored = json.loads(json.dumps(model.config))  # plain types only: it goes into checkpoints and ONNX metadata
    twin = models.build_model(stored)
    assert twin.config == model.config
    assert {k: v.shape for k, v in twin.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}


def test_the_books_cnn_matches_the_keras_listing():
    model = models.CNN()
    assert sum(p.numel() for p in model.parameters()) == 93322  # Keras' model.summary() total
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["features.0.weight"] == (32, 1, 3, 3) and shapes["classifier.0.weight"] == (64, 576)
    x = torch.rand(1, 1, 28, 28)
    assert tuple(model.features[:3](x).shape) == (1, 32, 13, 13)
    assert models.cnn_feature_side(28) == 3


def test_keras_init_is_glorot_uniform_with_zero_biases_and_seeded():
    torch.manual_seed(3)
    model = models.keras_init_(models.CNN())
    for name, module in model.named_modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(module.weight)
            bound = (6 / (fan_in + fan_out)) ** 0.5
            weight = module.weight.detach()
            assert weight.abs().max() <= bound, name
            assert weight.abs().max() > 0.9 * bound, name  # it fills the whole interval, not a smaller one
            assert torch.count_nonzero(module.bias) == 0, name
    torch.manual_seed(3)
    again = models.keras_init_(models.CNN())
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_mlp_has_no_activation_after_the_last_layer():
    model = models.MLP([2, 3, 4], activation="relu")
    assert [type(m).__name__ for m in model.layers] == ["Linear", "ReLU", "Linear"]
    torch.nn.init.constant_(model.layers[2].bias, -100.0)
    assert torch.all(model(torch.randn(3, 2)) < 0)  # negative logits survive


def test_mlp_dropout_probability():
    """Every Dropout layer of MLP(dropout=p) must drop with probability p itself, not a changed p."""
    probabilities = [m.p for m in models.MLP([2, 8, 8, 3], dropout=0.3).modules() if isinstance(m, torch.nn.Dropout)]
    assert probabilities == [0.3, 0.3]


def test_recurrent_classifier_reads_the_last_time_step():
    torch.manual_seed(1)
    model = models.RecurrentModel(3, 4, 2)
    x = torch.randn(2, 5, 3)
    outputs, _ = model.rnn(x)
    torch.testing.assert_close(model(x), model.head(outputs[:, -1]))


def test_transformer_ignores_padding_in_the_classifier():
    torch.manual_seed(2)
    model = models.TransformerModel(8, 2, 2, 3, vocab_size=11, dim_feedforward=16).eval()
    tokens = torch.randint(1, 11, (1, 4))
    padded = torch.cat([tokens, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    mask = torch.tensor([[False] * 4 + [True] * 3])
    with torch.no_grad():
        alone = model(tokens)
        with_padding = model(padded, src_key_padding_mask=mask)
        unmasked = model(padded)
    torch.testing.assert_close(with_padding, alone, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(unmasked, alone, atol=1e-4)  # without the mask, padding does change the answer


def test_positional_encoding_is_the_sinusoid_table_and_checks_length():
    table = models.sinusoidal_table(50, 6).double()
    # the formula of "Attention is all you need", one entry at a time
    expected = torch.tensor([[math.sin(t / 10000 ** (i / 6)) if i % 2 == 0 else math.cos(t / 10000 ** ((i - 1) / 6))
                              for i in range(6)] for t in range(50)], dtype=torch.float64)
    torch.testing.assert_close(table, expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(table, torch.from_numpy(sinusoidal_table(50, 6, np.float64)), rtol=0, atol=1e-5)
    encoding = models.PositionalEncoding(6, max_len=5)
    with pytest.raises(ValueError, match="length ≤ max_len=5, got length 6"):
        encoding(torch.zeros(6, 1, 6))


def test_bad_configs_are_explained():
    with pytest.raises(ValueError, match="unknown model 'ResNet'"):
        models.build_model({"name": "ResNet"})
    with pytest.raises(ValueError, match="with a 'name' key"):
        models.build_model({"sizes": [2, 2]})
    with pytest.raises(ValueError, match="config does not fit CNN"):
        models.build_model({"name": "CNN", "widths": [1, 2, 3]})
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        models.MLP([2, 2, 2], activation="swish")
    with pytest.raises(ValueError, match="divisible by nhead"):
        models.TransformerModel(10, 3, 1, 2, vocab_size=5)
    with pytest.raises(ValueError, match="cell must be 'lstm' or 'rnn'"):
        models.RecurrentModel(2, 2, 2, cell="gru")
    with pytest.raises(ValueError, match="too small"):
        models.CNN(image_size=10)


@needs_cuda
@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_model_runs_unchanged_on_cuda_and_agrees_with_the_cpu(name):
    config, make_input, shape = CONFIGS[name]
    torch.manual_seed(3)
    model = models.build_model(config).eval()
    x = make_input()
    with torch.no_grad():
        expected = model(x)
        device = select_device("auto")
        actual = model.to(device)(x.to(device))
    assert actual.device.type == "cuda"
    torch.testing.assert_close(actual.cpu(), expected, rtol=1e-3, atol=1e-4)


def test_sizes_of_zero_and_dropout_outside_zero_to_one_are_refused_on_both_sides():
    from course_lib.scratch import models as scratch_models
    from course_lib.pytorch import models as torch_models

    for side in (torch_models, scratch_models):
        for build, words in ((lambda: side.MLP([4, 0, 3]), r"sizes\[1\] must be a positive integer"),
                             (lambda: side.MLP([4, 3], dropout=-0.1), "probability in"),
                             (lambda: side.CNN(num_classes=0), "num_classes"),
                             (lambda: side.RecurrentModel(2, 0, 3), "hidden_size"),
                             (lambda: side.TransformerModel(8, 0, 1, 2, input_size=3), "nhead")):
            with pytest.raises(ValueError, match=words):
                build()
    with pytest.raises(TypeError, match="torch model"):
        torch_models.keras_init_(scratch_models.MLP([4, 3]))

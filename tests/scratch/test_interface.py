"""The scratch classes take torch's constructor arguments, with torch's defaults.

Code written against ``torch.nn`` / ``torch.optim`` (a student's, a tutorial's) should construct
the scratch twin unchanged.  Every argument torch takes must be accepted here, or be listed
below with the reason it is left out; every argument here must exist in torch with the same
default.  A new torch release that adds an argument makes this test name it.
"""
import inspect

import numpy as np
import pytest
import torch

from course_lib import scratch
from course_lib.scratch import lr_scheduler, optim
from course_lib.scratch.gelu import GELU
from course_lib.scratch.transformer import TransformerEncoderLayer

# torch arguments the scratch classes do not take, and why
NOT_TAKEN = {
    "*": {},
    "losses": {"size_average": "deprecated in torch since 0.4 (use reduction)",
               "reduce": "deprecated in torch since 0.4 (use reduction)"},
    "optimizers": {"foreach": "a torch kernel-fusion switch: no effect on the numbers",
                   "fused": "a torch kernel-fusion switch: no effect on the numbers",
                   "capturable": "CUDA-graph capture",
                   "differentiable": "autograd through the optimiser step"},
    "Embedding": {"sparse": "sparse gradients: torch-specific storage", "_weight": "torch-internal",
                  "_freeze": "torch-internal (from_pretrained)"},
}
LOSSES = {"MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "NLLLoss"}
OPTIMIZERS = {"SGD", "Adagrad", "RMSprop", "Adam", "AdamW"}
# deliberate differences in a default, and why
DEFAULTS_DIFFER = {
    ("Softmax", "dim"): "required here: torch's implicit dim=None is deprecated and guesses an axis",
    ("LogSoftmax", "dim"): "required here: torch's implicit dim=None is deprecated and guesses an axis",
    ("TransformerEncoderLayer", "activation"): "'relu' here, torch's default is F.relu: the same function",
}


def _twins():
    classes = {name: getattr(scratch, name) for name in scratch.__all__ if isinstance(getattr(scratch, name), type)}
    for module in (optim, lr_scheduler):
        classes.update({name: getattr(module, name) for name in dir(module)
                        if isinstance(getattr(module, name), type) and getattr(module, name).__module__ == module.__name__})
    classes.update(GELU=GELU, TransformerEncoderLayer=TransformerEncoderLayer)
    for name, cls in sorted(classes.items()):
        twin = getattr(torch.nn, name, None) or getattr(torch.optim, name, None) or getattr(torch.optim.lr_scheduler, name, None)
        if twin is not None and not name.startswith("_") and name not in ("Module", "Parameter", "Sequential", "Optimizer", "LRScheduler"):
            yield name, cls, twin


TWINS = list(_twins())


def _rnn(input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False, dropout=0.0,
         bidirectional=False, device=None, dtype=None):
    """torch.nn.RNN's documented signature."""


def _lstm(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0, bidirectional=False,
          proj_size=0, device=None, dtype=None):
    """torch.nn.LSTM's documented signature."""


_RECURRENT_SIGNATURES = {"RNN": _rnn, "LSTM": _lstm}


def test_the_documented_recurrent_signatures_are_torchs_defaults():
    """The two signatures above are checked against what torch actually builds by default."""
    for name, signature in _RECURRENT_SIGNATURES.items():
        module = getattr(torch.nn, name)(3, 4)
        for argument, parameter in inspect.signature(signature).parameters.items():
            if argument not in ("input_size", "hidden_size", "device", "dtype"):
                assert getattr(module, argument) == parameter.default, (name, argument)


def _parameters(cls):
    signature = inspect.signature(cls if inspect.isfunction(cls) else cls.__init__)
    return {name: p for name, p in signature.parameters.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _not_taken(name):
    allowed = dict(NOT_TAKEN["*"])
    allowed.update(NOT_TAKEN["losses"] if name in LOSSES else {})
    allowed.update(NOT_TAKEN["optimizers"] if name in OPTIMIZERS else {})
    allowed.update(NOT_TAKEN.get(name, {}))
    return allowed


def test_the_twins_cover_the_course():
    names = {name for name, _, _ in TWINS}
    assert {"Linear", "Conv2d", "LSTM", "MultiheadAttention", "TransformerEncoderLayer", "ReLU", "GELU",
            "CrossEntropyLoss", "Adam", "StepLR"} <= names


@pytest.mark.parametrize("name, cls, twin", TWINS, ids=[name for name, _, _ in TWINS])
def test_constructor_takes_torchs_arguments_with_torchs_defaults(name, cls, twin):
    ours, theirs = _parameters(cls), _parameters(twin)
    if not theirs:  # torch's RNN and LSTM take *args, **kwargs: their documented signatures
        theirs = _parameters(_RECURRENT_SIGNATURES[name]) if name in _RECURRENT_SIGNATURES else {}
    missing = sorted(set(theirs) - set(ours) - set(_not_taken(name)))
    assert not missing, f"{name} does not take torch's {missing}: add them or list them in NOT_TAKEN with a reason"
    for argument, parameter in ours.items():
        if argument == "dtype":  # float32 here where torch says None (its default float32)
            continue
        assert argument in theirs, f"{name}({argument}=…) is not a torch argument"
        if argument in theirs and (name, argument) not in DEFAULTS_DIFFER:
            assert parameter.default == theirs[argument].default, (
                f"{name}: default {argument}={parameter.default!r}, torch's is {theirs[argument].default!r}")


# the smallest construction of each twin that takes device (torch's own arguments)
SMALLEST = {"Linear": (4, 3), "Conv2d": (1, 2, 3), "BatchNorm1d": (3,), "BatchNorm2d": (3,), "LayerNorm": (3,),
            "Embedding": (5, 3), "RNN": (3, 4), "LSTM": (3, 4), "RNNCell": (3, 4), "LSTMCell": (3, 4),
            "MultiheadAttention": (4, 2), "TransformerEncoderLayer": (4, 2)}


def test_every_twin_that_takes_device_is_in_smallest():
    takes_device = {name for name, cls, _ in TWINS if "device" in _parameters(cls)}
    assert takes_device == set(SMALLEST)


@pytest.mark.parametrize("name", sorted(SMALLEST))
def test_device_cpu_constructs_the_twin_and_another_device_is_refused(name):
    """Code written for torch with ``device=device`` runs unchanged on a CPU: None, 'cpu' and
    torch.device('cpu') are accepted; a GPU is refused, pointing to the PyTorch twin."""
    cls, sizes = getattr(scratch, name), SMALLEST[name]
    for device in (None, "cpu", torch.device("cpu")):
        layer = cls(*sizes, device=device, dtype=np.float64)
        assert all(p.dtype == np.float64 for p in layer.parameters())
    with pytest.raises(ValueError, match=f"device must be None or 'cpu', got 'cuda'.*torch.nn.{name}"):
        cls(*sizes, device="cuda")
    with pytest.raises(ValueError, match="looks like a dtype: dtype comes after device"):
        cls(*sizes, device=np.float64)


# (scratch, torch) constructions whose reprs must be equal, character for character
SAME_REPR = ["Linear(3, 4)", "Conv2d(3, 4, 3)", "Conv2d(3, 4, 3, padding='valid')", "Conv2d(3, 4, 3, padding='same')",
             "Conv2d(3, 4, (3, 5), stride=2, padding=1, dilation=2, bias=False)",
             "Conv2d(3, 4, 3, padding=1, padding_mode='reflect')", "MaxPool2d(2)",
             "MaxPool2d((2, 3), stride=(1, 2), padding=(1, 1), ceil_mode=True)", "AvgPool2d(3, 2, 1)",
             "BatchNorm1d(4)", "BatchNorm2d(4, affine=False)", "BatchNorm1d(4, bias=False)", "LayerNorm(4)",
             "LayerNorm((2, 4), bias=False)", "LayerNorm(4, elementwise_affine=False)", "Dropout(0.3)", "Flatten()",
             "Embedding(10, 4)", "Embedding(10, 4, padding_idx=0)",
             "Embedding(10, 4, max_norm=1.0, norm_type=1.5, scale_grad_by_freq=True)", "RNN(3, 4)", "LSTM(3, 4, num_layers=2, batch_first=True)",
             "LSTM(3, 4, proj_size=2, bidirectional=True)",
             "RNNCell(3, 4)", "LSTMCell(3, 4)", "ReLU()", "LeakyReLU(0.2)", "Softmax(dim=-1)", "LogSoftmax(dim=1)",
             "Sigmoid()", "Tanh()", "GELU()", "GELU(approximate='tanh')", "MSELoss()", "BCELoss()"]


@pytest.mark.parametrize("construction", SAME_REPR)
def test_repr_is_torchs(construction):
    """A reader who knows torch's printout can read the scratch one.  (The scratch losses with
    arguments, MultiheadAttention, TransformerEncoderLayer and RNN(nonlinearity='relu') print more
    than torch does: their arguments, which torch's reprs leave out.)"""
    namespace = {name: getattr(scratch, name, None) or getattr(torch.nn, name) for name in dir(torch.nn)
                 if getattr(scratch, name, None) is not None}
    namespace["GELU"] = GELU
    assert repr(eval(construction, namespace)) == repr(eval(construction, vars(torch.nn)))

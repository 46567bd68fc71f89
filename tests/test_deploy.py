"""Checkpoints rebuild every model; wrong architectures are named; exports run alone in a fresh process."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from course_lib import deploy
from course_lib.pytorch.models import CNN, MLP, RecurrentModel, TransformerModel, build_model

from .devices import needs_cuda

torch.set_num_threads(1)
# torch ≥ 2.10 marks TorchScript deprecated in favour of torch.export; the course still teaches it.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*is deprecated:DeprecationWarning")

SMALL_CNN = dict(channels=(4, 8, 8), hidden=16)


def model_cases():
    """(model, example input) for every model family of the book, small sizes."""
    torch.manual_seed(0)
    return {
        "mlp": (MLP([4, 8, 3], activation="tanh"), torch.randn(5, 4)),
        "cnn": (CNN(**SMALL_CNN), torch.rand(3, 1, 28, 28)),
        "lstm-classify": (RecurrentModel(3, 6, 4, cell="lstm", num_layers=2), torch.randn(2, 5, 3)),
        "rnn-sequence-tokens": (RecurrentModel(4, 6, 2, cell="rnn", task="sequence", vocab_size=9),
                                torch.randint(0, 9, (2, 5))),
        "transformer": (TransformerModel(8, 2, 2, 3, vocab_size=11, dim_feedforward=16), torch.randint(0, 11, (2, 6))),
        "transformer-sequence": (TransformerModel(8, 2, 1, 1, input_size=2, task="sequence", dim_feedforward=16),
                                 torch.randn(2, 6, 2)),
    }


@pytest.mark.parametrize("name", list(model_cases()))
def test_checkpoint_rebuilds_the_model_from_its_config(tmp_path, name):
    model, x = model_cases()[name]
    model.eval()
    path = deploy.save_checkpoint(model, tmp_path / "model.ckpt", class_names=["a", "b", "c"], epoch=3)
    restored = deploy.load_checkpoint(path)  # no model given: built from the stored config
    assert type(restored) is type(model) and restored.config == model.config
    assert not restored.training
    with torch.no_grad():
        torch.testing.assert_close(restored(x), model(x), rtol=0, atol=0)
    assert restored.checkpoint_info["class_names"] == ["a", "b", "c"]
    assert restored.checkpoint_info["extra"] == {"epoch": 3}


def test_checkpoint_loads_into_a_given_model_of_the_same_architecture(tmp_path):
    torch.manual_seed(1)
    source, target = CNN(**SMALL_CNN), CNN(**SMALL_CNN)
    deploy.save_checkpoint(source, tmp_path / "cnn.ckpt")
    loaded = deploy.load_checkpoint(tmp_path / "cnn.ckpt", model=target)
    assert loaded is target
    for key, value in source.state_dict().items():
        torch.testing.assert_close(target.state_dict()[key], value)


def test_checkpoint_file_stores_format_version_and_config(tmp_path):
    model = MLP([2, 3, 2])
    path = deploy.save_checkpoint(model, tmp_path / "m.ckpt")
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == deploy.FORMAT and payload["format_version"] == deploy.FORMAT_VERSION
    assert payload["config"] == {"name": "MLP", "sizes": [2, 3, 2], "activation": "relu", "dropout": 0.0}


def test_wrong_architecture_names_every_mismatched_shape(tmp_path):
    deploy.save_checkpoint(CNN(**SMALL_CNN), tmp_path / "small.ckpt")
    wider = CNN(channels=(4, 8, 16), hidden=16)
    with pytest.raises(deploy.CheckpointMismatchError) as error:
        deploy.load_checkpoint(tmp_path / "small.ckpt", model=wider)
    message = str(error.value)
    assert "'features.6.weight': the model expects shape (16, 8, 3, 3), the checkpoint has (8, 8, 3, 3)" in message
    assert "'features.6.bias'" in message and "'classifier.0.weight'" in message
    assert "'features.0.weight'" not in message  # keys that fit are not blamed


def test_wrong_model_family_names_missing_and_unexpected_keys(tmp_path):
    deploy.save_checkpoint(MLP([784, 16, 10]), tmp_path / "mlp.ckpt")
    with pytest.raises(deploy.CheckpointMismatchError) as error:
        deploy.load_checkpoint(tmp_path / "mlp.ckpt", model=CNN(**SMALL_CNN))
    message = str(error.value)
    assert "missing from the checkpoint: features.0.weight" in message
    assert "in the checkpoint but not in the model: layers.0.weight" in message
    assert "a MLP" in message


class Custom:
    """Any class: unpickling it would import and run code, which ``weights_only`` refuses."""


def test_unreadable_or_foreign_or_future_checkpoints_are_refused(tmp_path):
    with pytest.raises(deploy.CheckpointError, match="not found"):
        deploy.load_checkpoint(tmp_path / "absent.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(deploy.CheckpointError, match="not a readable checkpoint: torch.load cannot read it"):
        deploy.load_checkpoint(tmp_path / "junk.ckpt")
    torch.save({"format": deploy.FORMAT, "model": Custom()}, tmp_path / "objects.ckpt")
    with pytest.raises(deploy.CheckpointError, match="holds Python objects other than tensors"):
        deploy.load_checkpoint(tmp_path / "objects.ckpt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.ckpt")
    with pytest.raises(deploy.CheckpointError, match="not a course_lib checkpoint"):
        deploy.load_checkpoint(tmp_path / "foreign.ckpt")
    path = deploy.save_checkpoint(MLP([2, 2]), tmp_path / "future.ckpt")
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = deploy.FORMAT_VERSION + 1
    torch.save(payload, path)
    with pytest.raises(deploy.CheckpointError, match="format version 2"):
        deploy.load_checkpoint(path)


@needs_cuda
@pytest.mark.parametrize("name", list(model_cases()))
def test_a_model_on_the_gpu_is_checkpointed_and_exported_for_the_cpu(tmp_path, name):
    model, x = model_cases()[name]
    model = model.cuda().eval()
    path = deploy.save_checkpoint(model, tmp_path / "model.ckpt")
    on_cpu = deploy.load_checkpoint(path)  # the default device: a GPU-trained model serves anywhere
    on_gpu = deploy.load_checkpoint(path, device="cuda")
    assert next(on_cpu.parameters()).device.type == "cpu" and next(on_gpu.parameters()).device.type == "cuda"
    for key, value in model.state_dict().items():
        torch.testing.assert_close(on_cpu.state_dict()[key], value.cpu(), rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(on_gpu(x.cuda()), model(x.cuda()), rtol=0, atol=0)
    # exports trace a CPU copy; verify_export accepts the GPU model and a GPU batch
    exported = deploy.export_torchscript(model, tmp_path / "model.pt", x.cuda())
    assert deploy.verify_export(exported, model, x.cuda()) < 1e-5
    assert next(model.parameters()).device.type == "cuda"  # exporting did not move the original


def test_model_without_config_cannot_be_checkpointed(tmp_path):
    with pytest.raises(deploy.CheckpointError, match="no config dict"):
        deploy.save_checkpoint(torch.nn.Linear(2, 2), tmp_path / "x.ckpt")


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_exported_cnn_matches_the_original_in_a_fresh_process(tmp_path, fmt):
    model, x = model_cases()["cnn"]
    names = [f"class {i}" for i in range(10)]
    if fmt == "torchscript":
        path = deploy.export_torchscript(model, tmp_path / "cnn.pt", x[:1], class_names=names)
    else:
        path = deploy.export_onnx(model, tmp_path / "cnn.onnx", x[:1], class_names=names)
    # a different batch size than the example: the batch dimension is dynamic
    difference = deploy.verify_export(path, model, torch.rand(5, 1, 28, 28))
    assert difference < 1e-5
    exported = deploy.load_exported(path)
    assert exported.class_names == names and exported.metadata["config"] == model.config


def test_onnx_inference_in_a_fresh_process_does_not_import_torch(tmp_path):
    model, x = model_cases()["mlp"]
    path = deploy.export_onnx(model, tmp_path / "mlp.onnx", x)
    np.save(tmp_path / "in.npy", x.numpy())
    completed = subprocess.run(
        [sys.executable, "-m", "course_lib.deploy", "run", str(path), str(tmp_path / "in.npy"), str(tmp_path / "out.npy")],
        capture_output=True, text=True, env=deploy._child_environment(), check=True,
    )
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == {"format": "onnx", "torch_imported": False}
    with torch.no_grad():
        np.testing.assert_allclose(np.load(tmp_path / "out.npy"), model.eval()(x).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["lstm-classify", "transformer"])
def test_sequence_models_export_to_both_formats(tmp_path, name):
    model, x = model_cases()[name]
    for path in (deploy.export_torchscript(model, tmp_path / "m.pt", x), deploy.export_onnx(model, tmp_path / "m.onnx", x)):
        exported = deploy.load_exported(path)
        with torch.no_grad():
            np.testing.assert_allclose(exported.predict(x.numpy()), model.eval()(x).numpy(), rtol=1e-4, atol=1e-5)


def test_verify_export_fails_when_the_file_does_not_reproduce_the_model(tmp_path):
    model, x = model_cases()["mlp"]
    path = deploy.export_onnx(model, tmp_path / "mlp.onnx", x)
    with torch.no_grad():
        model.layers[0].bias.add_(1.0)  # the original drifts away from what was exported
    with pytest.raises(deploy.ExportError, match="differ from the original"):
        deploy.verify_export(path, model, x)


def test_load_exported_rejects_missing_unknown_and_corrupt_files(tmp_path):
    with pytest.raises(deploy.ExportError, match="not found"):
        deploy.load_exported(tmp_path / "absent.onnx")
    (tmp_path / "model.h5").write_bytes(b"x")
    with pytest.raises(deploy.ExportError, match="unknown model format"):
        deploy.load_exported(tmp_path / "model.h5")
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    with pytest.raises(deploy.ExportError, match="not a valid ONNX model"):
        deploy.load_exported(tmp_path / "bad.onnx")
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(deploy.ExportError, match="not a TorchScript model"):
        deploy.load_exported(tmp_path / "bad.pt")


@pytest.mark.slow
def test_dynamo_onnx_exporter_also_gives_a_verified_file(tmp_path):
    pytest.importorskip("onnxscript", reason="the torch.export-based ONNX exporter needs the onnxscript package")
    model, x = model_cases()["mlp"]
    path = deploy.export_onnx(model, tmp_path / "mlp.onnx", x[:1], dynamo=True)
    assert deploy.verify_export(path, model, x) < 1e-5


def test_numpy_values_in_extra_are_saved_plainly_and_objects_are_refused_before_writing(tmp_path):
    """Found by an audit: save_checkpoint(model, path, epoch=np.int64(3)) wrote a file that
    read_checkpoint then refused, over the previous good one."""
    model = build_model({"name": "MLP", "sizes": [4, 8, 3]})
    path = tmp_path / "best.pt"
    deploy.save_checkpoint(model, path, epoch=np.int64(3), loss=np.float32(0.5), history={"loss": [np.float64(1.0)]})
    extra = deploy.read_checkpoint(path)["extra"]
    assert extra == {"epoch": 3, "loss": 0.5, "history": {"loss": [1.0]}} and type(extra["epoch"]) is int
    good = path.read_bytes()
    with pytest.raises(TypeError, match="plain values"):
        deploy.save_checkpoint(model, path, weights=np.zeros(3))
    assert path.read_bytes() == good  # the earlier checkpoint is untouched
    assert not [p for p in tmp_path.iterdir() if p.name != "best.pt"]  # no temporary file left behind


def test_scratch_models_and_unbatched_examples_get_clear_errors(tmp_path):
    from course_lib.scratch.models import build_model as build_scratch

    scratch = build_scratch({"name": "MLP", "sizes": [4, 8, 3]})
    for call in (lambda: deploy.save_checkpoint(scratch, tmp_path / "s.pt"),
                 lambda: deploy.export_onnx(scratch, tmp_path / "s.onnx", np.zeros((2, 4), np.float32)),
                 lambda: deploy.export_torchscript(scratch, tmp_path / "s.ts", np.zeros((2, 4), np.float32))):
        with pytest.raises(TypeError, match="needs a torch model"):
            call()
    model = build_model({"name": "MLP", "sizes": [4, 8, 3]})
    with pytest.raises(ValueError, match=r"batch.*x\[None\]"):
        deploy.export_onnx(model, tmp_path / "m.onnx", np.zeros(4, np.float32))
    assert not (tmp_path / "m.onnx").exists()


def test_a_checkpoint_of_an_older_or_unknown_format_version_is_refused(tmp_path):
    """Only the exact format version is read: a mutant that refused only *newer* versions loaded a
    version-0 file (whose layout this code does not know) and crashed with a TypeError on a file
    without any version, instead of a CheckpointError naming the version."""
    path = deploy.save_checkpoint(MLP([2, 2]), tmp_path / "m.ckpt")
    payload = torch.load(path, weights_only=True)
    for version, words in ((deploy.FORMAT_VERSION - 1, f"format version {deploy.FORMAT_VERSION - 1}"),
                           (None, "format version None")):
        if version is None:
            payload.pop("format_version")
        else:
            payload["format_version"] = version
        torch.save(payload, path)
        with pytest.raises(deploy.CheckpointError, match=words):
            deploy.load_checkpoint(path)


def test_a_mismatch_names_every_missing_and_every_unexpected_key(tmp_path):
    """The error lists *every* missing and unexpected key (torch's own message stops at a few):
    a mutant that named only the first one still passed the one-key checks above."""
    mlp = MLP([784, 16, 10])
    deploy.save_checkpoint(mlp, tmp_path / "mlp.ckpt")
    cnn = CNN(**SMALL_CNN)
    with pytest.raises(deploy.CheckpointMismatchError) as error:
        deploy.load_checkpoint(tmp_path / "mlp.ckpt", model=cnn)
    lines = str(error.value).splitlines()
    missing = next(line for line in lines if "missing from the checkpoint:" in line)
    unexpected = next(line for line in lines if "in the checkpoint but not in the model:" in line)
    assert missing.split(": ", 1)[1].split(", ") == list(cnn.state_dict())
    assert unexpected.split(": ", 1)[1].split(", ") == list(mlp.state_dict())


def test_load_checkpoint_attaches_the_stored_config_too(tmp_path):
    """``model.checkpoint_info`` carries the config the model was rebuilt from, beside the class
    names and extra values (a mutant dropped it: ``checkpoint_info["config"]`` raised KeyError)."""
    model = MLP([3, 5, 2], activation="tanh")
    restored = deploy.load_checkpoint(deploy.save_checkpoint(model, tmp_path / "m.ckpt"))
    assert restored.checkpoint_info["config"] == model.config


class ReshapingMLP(torch.nn.Module):
    """A hand-written model of the kind tutorials show: ``x.reshape(-1, 784)`` turns any input into a batch."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(784, 10)

    def forward(self, x):
        return self.linear(x.reshape(-1, 784))


@pytest.mark.parametrize("export, suffix", [(deploy.export_onnx, ".onnx"), (deploy.export_torchscript, ".pt")])
def test_an_unbatched_example_is_refused_even_when_the_model_reshapes_it_into_a_batch(tmp_path, export, suffix):
    """One (28, 28) image as the example: the model returns a (1, 10) output, so only the
    comparison of the leading axes (28 samples in, 1 out) shows the example is no batch.  Without
    it the export traced a (28, 28) input and refused every real batch (N, 28, 28) later."""
    with pytest.raises(ValueError, match=r"batch.*x\[None\]"):
        export(ReshapingMLP(), tmp_path / f"m{suffix}", np.zeros((28, 28), np.float32))
    assert not (tmp_path / f"m{suffix}").exists()


def test_partial_preprocessing_is_completed_with_the_defaults_when_loaded(tmp_path):
    """An export given only some preprocessing values (``mean``/``std``) still yields every key
    ``course-lib predict`` reads: a mutant that kept only the stored dict lost image_size, channels
    and scale, and prediction failed with a KeyError."""
    model, x = model_cases()["mlp"]
    path = deploy.export_onnx(model, tmp_path / "m.onnx", x, preprocessing={"mean": 0.1307, "std": 0.3081})
    assert deploy.load_exported(path).preprocessing == dict(deploy.DEFAULT_PREPROCESSING, mean=0.1307, std=0.3081)


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_predict_casts_float64_inputs_and_refuses_raw_uint8_pixels(tmp_path, fmt):
    """``ExportedModel.predict`` casts float64 arrays (NumPy's default) to the exported float32 —
    without the cast onnxruntime and TorchScript reject them — and names uint8 pixels as such
    instead of failing inside the runtime with a dtype error."""
    model, x = model_cases()["mlp"]
    export = deploy.export_torchscript if fmt == "torchscript" else deploy.export_onnx
    exported = deploy.load_exported(export(model, tmp_path / ("m.pt" if fmt == "torchscript" else "m.onnx"), x))
    with torch.no_grad():
        expected = model.eval()(x).numpy()
    np.testing.assert_allclose(exported.predict(x.numpy().astype(np.float64)), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="uint8"):
        exported.predict(np.zeros((2, 4), np.uint8))


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_predict_casts_integer_token_ids_to_the_exported_int64(tmp_path, fmt):
    """Token ids as int32 (NumPy's default integer on Windows before NumPy 2): the ONNX file was
    exported with int64 ids and onnxruntime refused int32 ("Unexpected input data type") while the
    TorchScript file accepted them — found by the mutation audit of 2026-12-06."""
    model, x = model_cases()["transformer"]
    export = deploy.export_torchscript if fmt == "torchscript" else deploy.export_onnx
    exported = deploy.load_exported(export(model, tmp_path / ("m.pt" if fmt == "torchscript" else "m.onnx"), x))
    with torch.no_grad():
        expected = model.eval()(x).numpy()
    for dtype in (np.int64, np.int32, np.uint16):
        np.testing.assert_allclose(exported.predict(x.numpy().astype(dtype)), expected, rtol=1e-5, atol=1e-5)


def test_verify_export_names_an_output_shape_that_differs(tmp_path):
    """A file whose outputs have another shape than the model's (here 3 classes against 2) is an
    ExportError that says so — not a NumPy broadcasting error from comparing the two."""
    model, x = model_cases()["mlp"]
    path = deploy.export_onnx(model, tmp_path / "mlp.onnx", x)
    with pytest.raises(deploy.ExportError, match=r"output has shape \(5, 3\), the original \(5, 2\)"):
        deploy.verify_export(path, MLP([4, 8, 2]), x)


@pytest.mark.parametrize("name", ["M.ONNX", "m.pts", "m.torchscript", "M.PT"])
def test_every_documented_suffix_opens_in_any_letter_case(tmp_path, name):
    """``.onnx`` and the TorchScript suffixes ``.pt``, ``.pts`` and ``.torchscript`` open whatever
    their case (a file saved as MODEL.ONNX on Windows was an 'unknown model format')."""
    model, x = model_cases()["mlp"]
    export = deploy.export_onnx if name.lower().endswith(".onnx") else deploy.export_torchscript
    exported = deploy.load_exported(export(model, tmp_path / name, x))
    assert exported.format == ("onnx" if name.lower().endswith(".onnx") else "torchscript")


# --- found by an audit of deploy (2026-12-06) ----------------------------------------------------
def test_numpy_strings_in_the_config_or_extra_make_a_checkpoint_that_loads(tmp_path):
    """np.str_ is a str, so it passed the plain-value check, and torch.load(weights_only=True) then
    refused the whole file as holding Python objects."""
    model = MLP([4, 3, 2], activation=np.array(["relu", "tanh"])[0])
    path = deploy.save_checkpoint(model, tmp_path / "m.pt", tag=np.str_("x"))
    loaded = deploy.load_checkpoint(path)
    assert loaded.config["activation"] == "relu" and type(loaded.config["activation"]) is str
    assert loaded.checkpoint_info["extra"] == {"tag": "x"}


@pytest.mark.parametrize("fmt", ["onnx", "pt"])
def test_a_float64_model_exports_and_predicts_in_float64(tmp_path, fmt):
    """predict cast every float input to float32, so a float64 model's file refused every input."""
    torch.manual_seed(0)
    model = MLP([4, 8, 3]).double()
    x = torch.randn(5, 4, dtype=torch.float64)
    export = deploy.export_onnx if fmt == "onnx" else deploy.export_torchscript
    path = export(model, tmp_path / f"m.{fmt}", x)
    exported = deploy.load_exported(path)
    assert exported.dtype == np.float64
    out = exported.predict(x.numpy())
    assert out.dtype == np.float64
    assert exported.predict(x.numpy().astype(np.float32)).dtype == np.float64  # float32 inputs are cast up
    with torch.no_grad():
        np.testing.assert_allclose(out, model(x).numpy(), rtol=1e-12, atol=1e-12)
    deploy.verify_export(path, model, x.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fmt", ["onnx", "pt"])
def test_a_float64_numpy_example_exports_a_float32_model(tmp_path, fmt):
    """np.random.rand gives float64: export and verify_export raised torch's 'mat1 and mat2 must have
    the same dtype' where predict accepted the same array."""
    torch.manual_seed(0)
    model = MLP([4, 3])
    x = np.random.default_rng(0).random((3, 4))
    export = deploy.export_onnx if fmt == "onnx" else deploy.export_torchscript
    path = export(model, tmp_path / f"m.{fmt}", x)
    assert deploy.load_exported(path).dtype == np.float32
    deploy.verify_export(path, model, x)


def test_a_float64_checkpoint_comes_back_float64(tmp_path):
    torch.manual_seed(0)
    model = MLP([4, 8, 3]).double()
    loaded = deploy.load_checkpoint(deploy.save_checkpoint(model, tmp_path / "m.pt"))
    x = torch.randn(5, 4, dtype=torch.float64)
    assert next(loaded.parameters()).dtype == torch.float64
    with torch.no_grad():
        assert torch.equal(loaded(x), model.eval()(x))


def test_a_checkpoint_without_its_config_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "bare.pt"
    torch.save({"format": deploy.FORMAT, "format_version": deploy.FORMAT_VERSION, "state_dict": {}}, path)
    with pytest.raises(deploy.CheckpointError, match="damaged course_lib checkpoint: it has no 'config'"):
        deploy.load_checkpoint(path)


def test_each_weight_comes_back_in_its_own_dtype_and_a_bad_config_or_class_names_are_named(tmp_path):
    """An audit (2026-12-07): a model with one float64 layer came back all float64; a config naming no
    model raised a plain ValueError that did not name the file; class_names="ab" stored ['a', 'b']."""
    torch.manual_seed(0)
    model = MLP([4, 8, 3])
    model.layers[-1].double()
    path = deploy.save_checkpoint(model, tmp_path / "mixed.pt")
    loaded = deploy.load_checkpoint(path)
    assert [p.dtype for p in loaded.parameters()] == [p.dtype for p in model.parameters()]
    payload = torch.load(path, weights_only=True)
    payload["config"] = {**payload["config"], "name": "no-such-model"}
    torch.save(payload, tmp_path / "renamed.pt")
    with pytest.raises(deploy.CheckpointError, match=r"renamed\.pt: its config .* describes no model"):
        deploy.load_checkpoint(tmp_path / "renamed.pt")
    with pytest.raises(ValueError, match="class_names must be a list of names, one per class, got the string 'ab'"):
        deploy.save_checkpoint(model, tmp_path / "named.pt", class_names="ab")

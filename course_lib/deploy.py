"""From a trained PyTorch model to a deployed one (Chapter "From notebook to deployment").

- ``save_checkpoint`` / ``load_checkpoint``: weights + the config that rebuilds the model
  (``course_lib.pytorch.models.build_model``) + a format version; loading into the wrong
  architecture raises ``CheckpointMismatchError`` naming every missing, unexpected and
  mis-shaped key.
- ``export_torchscript`` / ``export_onnx``: a file that runs without this package's model code
  (TorchScript needs only ``torch``; ONNX needs only ``onnxruntime``).  Class names and the input
  preprocessing travel inside the file (TorchScript extra file, ONNX metadata).
- ``load_exported``: one loader for both formats, used by ``course-lib predict``.
- ``verify_export``: runs the exported file in a *fresh Python process* and checks that it gives
  the original model's outputs — the test that the file really stands on its own.

torch, onnx and onnxruntime are imported inside the functions that need them, so loading an
ONNX file for prediction never imports torch.
"""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from .files import write_atomically

FORMAT = "course_lib.checkpoint"
FORMAT_VERSION = 1
METADATA_KEY = "course_lib"  # name of the TorchScript extra file / ONNX metadata entry
DEFAULT_PREPROCESSING = {"image_size": 28, "channels": 1, "scale": 255.0, "mean": 0.0, "std": 1.0}
PathLike = Union[str, os.PathLike]


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read or is not a course_lib checkpoint."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint whose weights do not fit the model they are loaded into."""


class ExportError(RuntimeError):
    """An export that failed, or an exported file that does not reproduce the original."""


# --- checkpoints -------------------------------------------------------------------------------
def _require_torch_model(model, what: str) -> None:
    import torch

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{what} needs a torch model (course_lib.pytorch.models), got {type(model).__module__}."
                        f"{type(model).__name__}; a scratch model's weights go into its torch twin with "
                        "course_lib.interop.state_dict_to_torch")


def _plain(value, where: str):
    """``value`` as data ``torch.load(weights_only=True)`` reads back: NumPy scalars become Python
    numbers; arrays, objects and the like are refused before anything is written."""
    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0 and np.asarray(value).dtype.kind in "biufU":
        return np.asarray(value).item()  # np.str_ too: a str subclass that torch.load(weights_only=True) refuses
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: _plain(item, f"{where}[{key!r}]") for key, item in value.items()}
    raise TypeError(f"{where} is a {type(value).__name__}; a checkpoint keeps plain values (numbers, strings, "
                    "lists and dicts of them), which it can load without running code — convert it first, "
                    "e.g. float(x) or history.to_dict()")


def _class_name_list(class_names) -> Optional[list]:
    """The class names as a list of strings; a single string is refused (each letter became a class)."""
    if class_names is None:
        return None
    if isinstance(class_names, (str, bytes)):
        raise ValueError(f"class_names must be a list of names, one per class, got the string {class_names!r}")
    return [str(name) for name in class_names]


def save_checkpoint(model, path: PathLike, class_names: Optional[Sequence[str]] = None, *,
                    training_state: Optional[Dict[str, Any]] = None, **extra: Any) -> Path:
    """Write ``{format, format_version, config, state_dict, class_names, extra}`` with ``torch.save``.

    ``model`` must carry a ``config`` dict (every model in ``course_lib.pytorch.models`` does);
    ``extra`` holds plain values (epoch, metrics, …).  Tensors are saved on the CPU.
    ``training_state`` is what ``fit`` adds so that ``fit(..., resume=path)`` can go on (see
    ``course_lib.training.state``); readers that do not resume ignore it.
    """
    import torch

    _require_torch_model(model, "save_checkpoint")
    extra = {key: _plain(value, key) for key, value in extra.items()}
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise CheckpointError(
            f"{type(model).__name__} has no config dict, so a checkpoint could not rebuild it; "
            "use a model from course_lib.pytorch.models or set model.config"
        )
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": _plain(config, "model.config"),
        "state_dict": state,
        "class_names": _class_name_list(class_names),
        "extra": extra,
    }
    if training_state is not None:
        payload["training_state"] = training_state
    return write_atomically(path, lambda temporary: torch.save(payload, temporary))


def read_checkpoint(path: PathLike) -> Dict[str, Any]:
    """The checkpoint dict, checked for format and version (tensors mapped to the CPU)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch's own words stay in __cause__
        # torch.save writes a zip archive; weights_only refuses (never runs) any object in it beyond
        # tensors, numbers, strings and containers
        foreign = isinstance(error, pickle.UnpicklingError) and zipfile.is_zipfile(path)
        reason = ("it holds Python objects other than tensors, numbers, strings and containers, "
                  "which could run code when loaded" if foreign else
                  "torch.load cannot read it as a PyTorch file (a truncated download, or another kind of file)")
        raise CheckpointError(f"{path} is not a readable checkpoint: {reason}") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a course_lib checkpoint (no '{FORMAT}' format marker)")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version}; this course_lib reads version {FORMAT_VERSION}"
        )
    missing = [key for key in ("config", "state_dict", "class_names", "extra") if key not in payload]
    if missing or not isinstance(payload["config"], dict) or not isinstance(payload["state_dict"], dict):
        raise CheckpointError(f"{path} is a damaged course_lib checkpoint: "
                              + (f"it has no {', '.join(map(repr, missing))}" if missing else
                                 "its 'config' or 'state_dict' is not a dict"))
    return payload


def state_dict_mismatches(expected: Dict[str, Any], received: Dict[str, Any]) -> List[str]:
    """Human-readable lines for every missing, unexpected or mis-shaped key (empty if they fit)."""
    problems = []
    missing = [key for key in expected if key not in received]
    unexpected = [key for key in received if key not in expected]
    if missing:
        problems.append("missing from the checkpoint: " + ", ".join(missing))
    if unexpected:
        problems.append("in the checkpoint but not in the model: " + ", ".join(unexpected))
    for key in expected:
        if key in received and tuple(expected[key].shape) != tuple(received[key].shape):
            problems.append(
                f"'{key}': the model expects shape {tuple(expected[key].shape)}, "
                f"the checkpoint has {tuple(received[key].shape)}"
            )
    return problems


def load_checkpoint(path: PathLike, model=None, device: Optional[str] = None):
    """Load a checkpoint; return the model.

    Without ``model`` the architecture is rebuilt from the stored config; with ``model`` its
    keys and shapes are checked first and every difference is listed in a
    ``CheckpointMismatchError``, before any weight is written, with the stored config in the message.
    The model is returned in eval mode on ``device`` ("auto", "cpu", "cuda"); by default a given
    model stays on the device it is on (a model put on a GPU is not moved off it), and a rebuilt
    one comes to the CPU, where a model trained on a GPU serves anywhere.  The checkpoint's
    class names and extra values are attached as ``model.checkpoint_info``.
    """
    from .pytorch.device import select_device

    stays = model is not None and device is None  # loading writes into its tensors where they are
    if model is not None:
        _require_torch_model(model, "load_checkpoint")
    payload = read_checkpoint(path)
    if model is None:
        model = _rebuilt(path, payload)
    problems = state_dict_mismatches(model.state_dict(), payload["state_dict"])
    if problems:
        stored = payload["config"].get("name", "?")
        raise CheckpointMismatchError(
            f"checkpoint {path} (a {stored} with config {payload['config']}) does not fit "
            f"{type(model).__name__}:\n  " + "\n  ".join(problems)
        )
    model.load_state_dict(payload["state_dict"])
    model.checkpoint_info = {"class_names": payload["class_names"], "extra": payload["extra"], "config": payload["config"]}
    return model.eval() if stays else model.to(select_device("cpu" if device is None else device)).eval()


def _rebuilt(path, payload):
    """The model the checkpoint's config describes, each weight in the dtype it was saved in (a .double()
    model comes back float64, and a model with one float64 layer comes back so: making every weight the
    first one's dtype turned it all float64)."""
    from .pytorch.models import build_model

    try:
        model = build_model(payload["config"])
    except (ValueError, TypeError, KeyError) as error:
        raise CheckpointError(f"checkpoint {path}: its config {payload['config']} describes no model this "
                              f"course_lib builds ({error})") from None
    own = dict(model.named_parameters())
    own.update(model.named_buffers())
    for key, saved in payload["state_dict"].items():
        tensor = own.get(key)
        if tensor is not None and saved.is_floating_point() and tensor.is_floating_point():
            tensor.data = tensor.data.to(saved.dtype)
    return model


# --- export ------------------------------------------------------------------------------------------
def _metadata(model, class_names, preprocessing) -> Dict[str, Any]:
    """What a deployed file needs besides its graph: class names, config, input preprocessing.

    Without explicit ``preprocessing`` an image model's size and channels come from its config
    and pixels are scaled by 1/255 (``course_lib.data.to_float_images``).
    """
    config = getattr(model, "config", None)
    merged = dict(DEFAULT_PREPROCESSING)
    if isinstance(config, dict) and "image_size" in config:
        merged.update(image_size=config["image_size"], channels=config.get("in_channels", 1))
    merged.update(preprocessing or {})  # what is given overrides; what is not keeps the config's
    dtype = _float_dtype(model)
    return {
        "class_names": _class_name_list(class_names),
        "config": _plain(config, "model.config"),
        "preprocessing": _plain(merged, "preprocessing"),
        # the float dtype the file computes in: predict casts float inputs to it
        "dtype": "float32" if dtype is None else str(dtype).replace("torch.", ""),
    }


def _float_dtype(module):
    """The dtype of a torch module's first floating-point parameter (None without one)."""
    return next((p.dtype for p in module.parameters() if p.is_floating_point()), None)


def _example_for(module, example_input):
    """``example_input`` as a CPU tensor, floats in the module's dtype (a float64 array for a float32
    model is what NumPy makes by default)."""
    import torch

    example = torch.as_tensor(np.asarray(example_input)) if not torch.is_tensor(example_input) else example_input.cpu()
    dtype = _float_dtype(module)
    if example.is_floating_point() and dtype is not None and example.dtype != dtype:
        example = example.to(dtype)
    return example


def _cpu_eval_copy(model, what: str):
    import copy

    _require_torch_model(model, what)
    return copy.deepcopy(model).cpu().eval()


def _check_batch_axis(module, example, what: str) -> None:
    """The example must be a batch (samples along axis 0): an export traced on one unbatched
    sample would refuse every batch later."""
    import torch

    with torch.no_grad():
        output = module(example)
    if example.ndim < 2 or output.ndim < 2 or output.shape[0] != example.shape[0]:
        raise ValueError(f"{what}: example_input must be a batch with the samples along axis 0, got shape "
                         f"{tuple(example.shape)} (the model's output {tuple(output.shape)}); for one sample "
                         "add the axis, e.g. x[None]")


def export_torchscript(
    model,
    path: PathLike,
    example_input,
    class_names: Optional[Sequence[str]] = None,
    preprocessing: Optional[Dict[str, Any]] = None,
) -> Path:
    """Trace ``model`` (eval mode, CPU) on ``example_input`` and save it with ``torch.jit.save``.

    Tracing records the operations run on the example, so the control flow of our models
    (fixed for a given config) is captured exactly.  Metadata (class names, config,
    preprocessing) is stored as the extra file ``course_lib`` inside the archive.
    """
    import torch

    module = _cpu_eval_copy(model, "export_torchscript")
    example = _example_for(module, example_input)
    _check_batch_axis(module, example, "export_torchscript")
    with torch.no_grad(), warnings.catch_warnings():
        # Tracing warns that shape checks become constants; our models' control flow depends only on
        # the config, so the trace is exact for any batch size.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(module, example)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = {METADATA_KEY: json.dumps(_metadata(model, class_names, preprocessing))}
    torch.jit.save(traced, str(path), _extra_files=extra)
    return path


def export_onnx(
    model,
    path: PathLike,
    example_input,
    class_names: Optional[Sequence[str]] = None,
    preprocessing: Optional[Dict[str, Any]] = None,
    opset_version: int = 18,
    dynamo: bool = False,
) -> Path:
    """Export ``model`` to ONNX with a dynamic batch dimension; metadata goes in ``metadata_props``.

    ``dynamo=False`` (default) uses torch's TorchScript-based exporter: it traces the model like
    ``export_torchscript`` and takes well under a second.  ``dynamo=True`` uses the
    ``torch.export``-based exporter (already the default of ``torch.onnx.export`` itself in the
    pinned torch 2.13; needs the ``onnxscript`` package and takes several seconds).  The input is
    named ``input``, the output ``output``.
    """
    import onnx
    import torch

    module = _cpu_eval_copy(model, "export_onnx")
    example = _example_for(module, example_input)
    _check_batch_axis(module, example, "export_onnx")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if dynamo:
        if example.shape[0] == 1:
            # torch.export specialises sizes 0 and 1, so a batch of one would freeze the batch size.
            example = torch.cat([example, example])
        shapes = {"dynamic_shapes": ({0: torch.export.Dim("batch")},)}
    else:
        shapes = {"dynamic_axes": {"input": {0: "batch"}, "output": {0: "batch"}}}
    try:
        with warnings.catch_warnings():
            # The exporters warn about their own internals (deprecations, tracer notes): noise for a student.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, (example,), str(path), input_names=["input"], output_names=["output"],
                opset_version=opset_version, dynamo=dynamo, verbose=False, **shapes,
            )
    except ImportError as error:
        raise ExportError(f"ONNX export needs a package that is missing: {error} (pip install onnxscript)") from None
    proto = onnx.load(str(path))
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(_metadata(model, class_names, preprocessing))
    onnx.save(proto, str(path))
    for sidecar in path.parent.glob(path.name + ".data"):  # weights are now inside the single file
        sidecar.unlink()
    return path


# --- loading an exported model (no course_lib model code needed) -------------------------------
class ExportedModel:
    """A loaded TorchScript (.pt/.pts) or ONNX (.onnx) file: ``predict(x) -> ndarray``."""

    def __init__(self, path: PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise ExportError(f"model file not found: {self.path}")
        suffix = self.path.suffix.lower()
        if suffix == ".onnx":
            self.format = "onnx"
            metadata = self._open_onnx()
        elif suffix in (".pt", ".pts", ".torchscript"):
            self.format = "torchscript"
            metadata = self._open_torchscript()
        else:
            raise ExportError(f"{self.path}: unknown model format '{suffix}' (expected .onnx or a TorchScript .pt)")
        self.metadata = metadata
        self.class_names = metadata.get("class_names")
        self.preprocessing = dict(DEFAULT_PREPROCESSING, **(metadata.get("preprocessing") or {}))
        self.dtype = np.dtype(metadata.get("dtype", "float32"))  # files from before it was recorded: float32

    def _open_onnx(self) -> Dict[str, Any]:
        import onnxruntime

        try:
            self._session = onnxruntime.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
        except Exception as error:
            raise ExportError(f"{self.path} is not a valid ONNX model ({type(error).__name__}: {error})") from None
        self._input_name = self._session.get_inputs()[0].name
        raw = self._session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        return json.loads(raw) if raw else {}

    def _open_torchscript(self) -> Dict[str, Any]:
        import torch

        extra = {METADATA_KEY: ""}
        try:
            self._module = torch.jit.load(str(self.path), map_location="cpu", _extra_files=extra)
        except Exception as error:
            raise ExportError(f"{self.path} is not a TorchScript model ({type(error).__name__}: {error})") from None
        self._module.eval()
        return json.loads(extra[METADATA_KEY]) if extra[METADATA_KEY] else {}

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Raw model outputs (logits) for a batch ``x``: floats (cast to the exported dtype, float32 unless
        the model was float64) or,
        for a model of token ids, integers (cast to int64, the exported dtype: onnxruntime refuses
        int32 ids, NumPy's default integer on Windows before NumPy 2)."""
        x = np.asarray(x)
        if x.dtype == np.uint8:
            raise TypeError("ExportedModel.predict got uint8 inputs (raw pixels?); scale them to [0, 1] floats "
                            "first: x.astype(np.float32) / 255")
        if x.dtype.kind == "f":
            x = x.astype(self.dtype, copy=False)
        elif x.dtype.kind in "iu":
            x = x.astype(np.int64, copy=False)
        if self.format == "onnx":
            return self._session.run(None, {self._input_name: np.ascontiguousarray(x)})[0]
        import torch

        with torch.no_grad():
            return self._module(torch.from_numpy(np.ascontiguousarray(x))).numpy()


def load_exported(path: PathLike) -> ExportedModel:
    """Open an exported model file (format chosen by its suffix)."""
    return ExportedModel(path)


# --- verification in a fresh process ----------------------------------------------------------------
def verify_export(
    path: PathLike, model, inputs, rtol: float = 1e-4, atol: float = 1e-5, timeout: float = 120.0
) -> float:
    """Run the exported file in a NEW Python process and compare with ``model(inputs)``.

    The child process imports only this module (``python -m course_lib.deploy run``), loads the
    file with ``torch.jit.load`` or ``onnxruntime`` and writes its outputs to disk.  Returns the
    largest absolute difference; raises ``ExportError`` if it exceeds the tolerance or the child fails.
    """
    import torch

    module = _cpu_eval_copy(model, "verify_export")
    inputs = np.ascontiguousarray(_example_for(module, inputs).numpy())
    with torch.no_grad():
        expected = module(torch.from_numpy(inputs)).numpy()
    with tempfile.TemporaryDirectory() as folder:
        input_file, output_file = Path(folder, "inputs.npy"), Path(folder, "outputs.npy")
        np.save(input_file, inputs)
        completed = subprocess.run(
            [sys.executable, "-m", "course_lib.deploy", "run", str(path), str(input_file), str(output_file)],
            capture_output=True, text=True, timeout=timeout, env=_child_environment(),
        )
        if completed.returncode != 0:
            raise ExportError(f"running {path} in a fresh process failed:\n{completed.stderr.strip()}")
        actual = np.load(output_file)
    if actual.shape != expected.shape:
        raise ExportError(f"{path}: fresh-process output has shape {actual.shape}, the original {expected.shape}")
    difference = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
    if not np.allclose(actual, expected, rtol=rtol, atol=atol):
        raise ExportError(f"{path}: fresh-process outputs differ from the original by up to {difference:.3g}")
    return difference


def _child_environment() -> Dict[str, str]:
    """The parent's environment, with this package importable even when it is not installed."""
    environment = dict(os.environ)
    package_root = str(Path(__file__).resolve().parent.parent)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, environment.get("PYTHONPATH")]))
    return environment


def _main(argv: Optional[List[str]] = None) -> int:
    """``python -m course_lib.deploy run MODEL INPUTS.npy OUTPUTS.npy`` (used by ``verify_export``)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 4 or argv[0] != "run":
        print("usage: python -m course_lib.deploy run MODEL_FILE INPUTS.npy OUTPUTS.npy", file=sys.stderr)
        return 2
    _, model_file, input_file, output_file = argv
    try:
        exported = load_exported(model_file)
        outputs = exported.predict(np.load(input_file))
    except ExportError as error:
        print(error, file=sys.stderr)
        return 1
    np.save(output_file, outputs)
    # Report what was imported so a test can check that ONNX inference did not need torch.
    print(json.dumps({"format": exported.format, "torch_imported": "torch" in sys.modules}))
    return 0


if __name__ == "__main__":
    sys.exit(_main())

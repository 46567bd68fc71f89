"""``course-lib predict MODEL_FILE IMAGE...``: top-k classes of an exported classifier (Chapter "From notebook to deployment").

MODEL_FILE is a TorchScript ``.pt`` or an ``.onnx`` file written by ``course_lib.deploy``; the class
names and preprocessing stored inside it are used (or ``--classes names.json|names.txt``).
Inputs are PNG/JPEG images or ``.npy`` arrays:

- an image is converted like Fashion-MNIST: turned upright (its EXIF orientation), grayscale (a
  transparent background as white, 16-bit pixels scaled to 8), fitted into a square on the
  background colour and resized to 28×28, inverted when its background is light (Fashion-MNIST
  shows light objects on black; ``--invert yes|no`` overrides the guess), then scaled to [0, 1];
- a ``.npy`` array of shape (28, 28), (1, 28, 28), (N, 28, 28) or (N, 1, 28, 28): uint8 values are
  scaled by 1/255, float values are taken as already in [0, 1].

Then the preprocessing stored in the model file: pixels divided by ``scale`` (255 unless the model
was exported with another), repeated over ``channels``, and normalised by ``mean`` and ``std`` (one
number, or one per channel).

Bad inputs (missing file, not an image, wrong shape) print one clear line on stderr; the exit
status is 1 if any input failed, 2 if the model itself could not be loaded, 0 otherwise.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


class PredictError(ValueError):
    """An input or model file that cannot be used; the message is shown to the user as is."""


# --- preprocessing -------------------------------------------------------------------------------
def load_image(path: Path, image_size: int = 28, invert: str = "auto") -> np.ndarray:
    """A PNG/JPEG as a float32 (image_size, image_size) array in [0, 1], Fashion-MNIST style."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            pixels = _grayscale(ImageOps.exif_transpose(opened))  # a phone photo's orientation is in EXIF
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise PredictError(f"{path}: not a readable PNG/JPEG image ({error})") from None
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    background = float(np.median(border))
    if invert == "yes" or (invert == "auto" and background > 127):
        pixels, background = 255.0 - pixels, 255.0 - background
    # Pad to a square with the background so the aspect ratio survives the resize.
    height, width = pixels.shape
    side = max(height, width)
    square = np.full((side, side), background, dtype=np.float32)
    top, left = (side - height) // 2, (side - width) // 2
    square[top : top + height, left : left + width] = pixels
    resized = Image.fromarray(square.clip(0, 255).astype(np.uint8)).resize((image_size, image_size), Image.LANCZOS)
    return np.asarray(resized, dtype=np.float32) / 255.0


def _grayscale(image) -> np.ndarray:
    """Gray levels 0–255 (float32) of a PIL image: a transparent background counts as white, and
    16-bit or 32-bit pixels are scaled down (``convert("L")`` would clip them to 255)."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        pixels = np.asarray(image, dtype=np.float32)
        return pixels / 257.0 if image.mode.startswith("I;16") or pixels.max() > 255 else pixels
    if image.mode == "F":
        pixels = np.asarray(image, dtype=np.float32)
        return pixels * 255.0 if pixels.size and pixels.max() <= 1.0 else pixels
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return np.asarray(image.convert("L"), dtype=np.float32)


def load_array(path: Path, image_size: int = 28) -> np.ndarray:
    """A .npy file as float32 images (N, image_size, image_size) in [0, 1]."""
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise PredictError(f"{path}: not a readable .npy array ({error})") from None
    side = image_size
    expected = f"({side}, {side}), (1, {side}, {side}), (N, {side}, {side}) or (N, 1, {side}, {side})"
    original_shape = array.shape
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    elif array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[1:] != (image_size, image_size):
        raise PredictError(f"{path}: expected an array of shape {expected}, got {original_shape}")
    if len(array) == 0:
        raise PredictError(f"{path}: the array holds no images (shape {original_shape})")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if not np.issubdtype(array.dtype, np.floating):
        raise PredictError(f"{path}: expected uint8 or floating-point pixels, got dtype {array.dtype}")
    if not np.all(np.isfinite(array)):
        raise PredictError(f"{path}: the pixels include NaN or infinity")
    if array.size and (array.min() < 0 or array.max() > 1):
        raise PredictError(f"{path}: float pixels must lie in [0, 1] (scaled by 1/255, as to_float_images does), got "
                           f"values from {array.min():g} to {array.max():g}; save uint8 pixels or divide by 255")
    return array.astype(np.float32)


def load_inputs(path: Path, image_size: int = 28, invert: str = "auto") -> np.ndarray:
    """Images (N, image_size, image_size) from one image or .npy file, with clear errors."""
    path = Path(path)
    if not path.is_file():
        raise PredictError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return load_array(path, image_size)
    if suffix in IMAGE_SUFFIXES:
        return load_image(path, image_size, invert)[None]
    raise PredictError(f"{path}: unsupported file type '{suffix}' (expected .png, .jpg, .jpeg or .npy)")


# --- prediction ------------------------------------------------------------------------------------
def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum for stability."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def top_k(probabilities: np.ndarray, class_names: Sequence[str], k: int) -> List[List[Tuple[str, float]]]:
    """For each row, the k most probable (class name, probability) pairs, most probable first; one
    sample's probabilities (a 1-D array) count as one row."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"top_k needs a whole number k of at least 1, got {k!r}")
    probabilities = np.atleast_2d(probabilities)
    k = min(int(k), probabilities.shape[-1])
    order = np.argsort(-probabilities, axis=-1, kind="stable")[:, :k]
    return [[(class_names[i], float(row[i])) for i in indices] for row, indices in zip(probabilities, order)]


def read_class_names(path: Path) -> List[str]:
    """Class names from a JSON list or a text file with one name per line."""
    path = Path(path)
    if not path.is_file():
        raise PredictError(f"{path}: class-names file not found")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            names = json.loads(text)
        except json.JSONDecodeError as error:
            raise PredictError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(names, list):
            raise PredictError(f"{path}: expected a JSON list of class names")
        return [str(name) for name in names]
    return [line.strip() for line in text.splitlines() if line.strip()]


def predict_files(
    model_file: Path, inputs: Sequence[Path], k: int = 3, class_names: Optional[Sequence[str]] = None,
    invert: str = "auto",
) -> Tuple[List[Tuple[str, List[List[Tuple[str, float]]]]], List[str]]:
    """Predict every input; returns ``(results, errors)``: per file its top-k lists, and error lines.

    Raises ``PredictError`` if the model file itself cannot be used.
    """
    from .deploy import ExportError, load_exported

    try:
        model = load_exported(model_file)
    except ExportError as error:
        raise PredictError(str(error)) from None
    names = list(class_names) if class_names is not None else model.class_names
    preprocessing = model.preprocessing
    size, channels = int(preprocessing["image_size"]), int(preprocessing["channels"])
    mean, std = (_per_channel(preprocessing[key], channels, key, model_file) for key in ("mean", "std"))
    pixel_scale = 255.0 / float(preprocessing["scale"])  # the loaders give pixel / 255; the model wants pixel / scale
    config = (getattr(model, "metadata", None) or {}).get("config") or {}
    flat = config.get("name") == "MLP"  # the book's MLP reads each image as one row of size·size pixels
    results, errors = [], []
    for path in inputs:
        try:
            images = load_inputs(Path(path), size, invert) * pixel_scale
            batch = (np.repeat(images[:, None], channels, axis=1) - mean) / std
            logits = model.predict(batch.reshape(len(batch), -1) if flat else batch)
        except PredictError as error:
            errors.append(str(error))
            continue
        except Exception as error:  # the runtime rejected the input: report it, no traceback
            errors.append(f"{path}: the model could not process this input ({type(error).__name__}: {error})")
            continue
        if names is None:
            names = [str(i) for i in range(logits.shape[-1])]
        if len(names) != logits.shape[-1]:
            raise PredictError(
                f"{model_file}: the model has {logits.shape[-1]} outputs but {len(names)} class names were given"
            )
        results.append((str(path), top_k(softmax(logits.astype(np.float64)), names, k)))
    return results, errors


def _per_channel(value, channels: int, name: str, model_file) -> np.ndarray:
    """The preprocessing's ``mean`` or ``std`` (one number or one per channel) shaped (C, 1, 1)."""
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.size not in (1, channels):
        raise PredictError(f"{model_file}: the stored preprocessing's {name} has {array.size} values for a model "
                           f"of {channels} channels (one, or one per channel)")
    return array.reshape(-1, 1, 1)


def format_results(results) -> str:
    """Plain-text report: the file name, then one line per class ``rank. name  probability``."""
    lines = []
    for path, rows in results:
        for index, ranking in enumerate(rows):
            lines.append(path if len(rows) == 1 else f"{path}[{index}]")
            width = max(len(name) for name, _ in ranking)
            for rank, (name, probability) in enumerate(ranking, start=1):
                lines.append(f"  {rank}. {name:<{width}}  {probability:.3f}")
    return "\n".join(lines)


# --- command line ---------------------------------------------------------------------------------------
def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``predict`` on a ``course-lib`` sub-command parser."""
    parser = subparsers.add_parser(
        "predict", help="top classes of an exported model (TorchScript .pt or .onnx) for images or .npy files",
        description=__doc__.splitlines()[0],
    )
    _add_arguments(parser)
    parser.set_defaults(handler=handle)
    return parser


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_file", metavar="MODEL_FILE", type=Path, help="exported model: .pt (TorchScript) or .onnx")
    parser.add_argument("inputs", metavar="IMAGE", type=Path, nargs="+", help="PNG/JPEG image or .npy array")
    parser.add_argument("-k", "--top-k", type=int, default=3, help="how many classes to show (default 3)")
    parser.add_argument("--classes", type=Path, help="class names (.json list or one per line), if not in the model")
    parser.add_argument("--invert", choices=["auto", "yes", "no"], default="auto",
                        help="invert image colours (default: when the background is light)")


def handle(args) -> int:
    """Run the prediction; print results on stdout and one line per problem on stderr."""
    if args.top_k < 1:
        print("--top-k must be at least 1", file=sys.stderr)
        return 2
    try:
        names = read_class_names(args.classes) if args.classes else None
        results, errors = predict_files(args.model_file, args.inputs, args.top_k, names, args.invert)
    except PredictError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if results:
        print(format_results(results))
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    return 1 if errors else 0


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m course_lib.predict MODEL_FILE IMAGE...`` (same as ``course-lib predict``)."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.predict", description=__doc__.splitlines()[0])
    _add_arguments(parser)
    return handle(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

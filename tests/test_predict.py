"""``course-lib predict`` on exported models, run as a fresh process, and its error messages.

A small CNN is trained for a few steps on a synthetic task (which quadrant of a 28×28 image
holds a bright square), exported to TorchScript and ONNX, and then asked about PNG, JPEG and
.npy files.  Its printed probabilities are compared with the original model's softmax.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib import deploy, predict
from course_lib.pytorch.models import CNN

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*is deprecated:DeprecationWarning")
QUADRANTS = ["top-left", "top-right", "bottom-left", "bottom-right"]


def quadrant_image(quadrant: int, rng: np.random.Generator, size: int = 28) -> np.ndarray:
    """A dark float image in [0, 1] with a bright 8×8 square somewhere in ``quadrant``."""
    image = rng.uniform(0, 0.1, (size, size)).astype(np.float32)
    row = rng.integers(1, size // 2 - 9) + (size // 2 if quadrant >= 2 else 0)
    col = rng.integers(1, size // 2 - 9) + (size // 2 if quadrant % 2 else 0)
    image[row : row + 8, col : col + 8] = rng.uniform(0.8, 1.0)
    return image


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(model, folder with model.pt and model.onnx) after a few training steps."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = CNN(num_classes=4, channels=(4, 8, 8), hidden=16)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        labels = rng.integers(0, 4, 32)
        images = np.stack([quadrant_image(int(q), rng) for q in labels])[:, None]
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(images)), torch.from_numpy(labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    folder = tmp_path_factory.mktemp("exported")
    example = torch.zeros(1, 1, 28, 28)
    deploy.export_torchscript(model, folder / "model.pt", example, class_names=QUADRANTS)
    deploy.export_onnx(model, folder / "model.onnx", example, class_names=QUADRANTS)
    return model, folder


def run_cli(*args):
    """``python -m course_lib.predict ARGS`` in a fresh process."""
    return subprocess.run([sys.executable, "-m", "course_lib.predict", *map(str, args)], capture_output=True,
                          text=True, env=deploy._child_environment(), timeout=120)


def parse_output(stdout: str):
    """{'file': [(name, probability), ...]} from the printed report."""
    report, current = {}, None
    for line in stdout.splitlines():
        if not line.startswith("  "):
            current = line
            report[current] = []
        else:
            rank_name, probability = line.strip().rsplit(None, 1)
            report[current].append((rank_name.split(". ", 1)[1].strip(), float(probability)))
    return report


def expected_top(model, image: np.ndarray, k: int):
    with torch.no_grad():
        probabilities = torch.softmax(model(torch.from_numpy(image[None, None])), -1)[0].numpy()
    order = np.argsort(-probabilities)[:k]
    return [(QUADRANTS[i], float(probabilities[i])) for i in order]


def save_png(path, image: np.ndarray, invert: bool = False):
    pixels = (image * 255).round().astype(np.uint8)
    Image.fromarray(255 - pixels if invert else pixels).save(path)
    return path


@pytest.mark.parametrize("model_file", ["model.onnx", "model.pt"])
def test_cli_prints_the_models_top_k_for_png_and_npy(exported, tmp_path, model_file):
    model, folder = exported
    rng = np.random.default_rng(1)
    image = quadrant_image(3, rng)
    png = save_png(tmp_path / "square.png", image)
    batch = np.stack([quadrant_image(0, rng), quadrant_image(1, rng)])
    np.save(tmp_path / "batch.npy", batch)
    completed = run_cli(folder / model_file, png, tmp_path / "batch.npy", "--top-k", 2)
    assert completed.returncode == 0, completed.stderr
    report = parse_output(completed.stdout)
    assert list(report) == [str(png), f"{tmp_path / 'batch.npy'}[0]", f"{tmp_path / 'batch.npy'}[1]"]
    # the PNG went through 8-bit quantisation and a resize to the same size: same pixels up to 1/255
    png_pixels = np.asarray(Image.open(png), dtype=np.float32) / 255
    for (name, probability), (expected_name, expected_probability) in zip(report[str(png)], expected_top(model, png_pixels, 2)):
        assert name == expected_name and probability == pytest.approx(expected_probability, abs=2e-3)
    for index in range(2):
        got = report[f"{tmp_path / 'batch.npy'}[{index}]"]
        expected = expected_top(model, batch[index], 2)
        assert [name for name, _ in got] == [name for name, _ in expected]
        assert [p for _, p in got] == pytest.approx([p for _, p in expected], abs=2e-3)
    assert report[str(png)][0][0] == "bottom-right"  # the few training steps did learn the task


def test_light_background_jpeg_is_inverted_like_fashion_mnist(exported, tmp_path):
    _, folder = exported
    rng = np.random.default_rng(2)
    big = np.kron(quadrant_image(1, rng), np.ones((4, 4), dtype=np.float32))  # 112×112, dark square on white
    path = tmp_path / "photo.jpg"
    Image.fromarray(255 - (big * 255).astype(np.uint8)).save(path, quality=95)
    results, errors = predict.predict_files(folder / "model.onnx", [path], k=1)
    assert errors == []
    assert results[0][1][0][0][0] == "top-right"
    pixels = predict.load_image(path)  # auto: light background detected and inverted
    assert pixels.shape == (28, 28) and pixels.dtype == np.float32
    assert np.median(pixels) < 0.15 and pixels.max() > 0.7
    kept = predict.load_image(path, invert="no")
    assert np.median(kept) > 0.85
    np.testing.assert_allclose(kept, 1 - pixels, atol=1.5 / 255)


def test_probabilities_sum_to_one_over_all_classes(exported, tmp_path):
    _, folder = exported
    np.save(tmp_path / "one.npy", (quadrant_image(2, np.random.default_rng(3)) * 255).astype(np.uint8))
    results, _ = predict.predict_files(folder / "model.onnx", [tmp_path / "one.npy"], k=10)
    ranking = results[0][1][0]
    assert len(ranking) == 4 and sum(p for _, p in ranking) == pytest.approx(1.0)
    assert [p for _, p in ranking] == sorted((p for _, p in ranking), reverse=True)


def test_bad_inputs_give_one_clear_line_each_and_exit_1(exported, tmp_path):
    _, folder = exported
    good = tmp_path / "good.npy"
    np.save(good, np.zeros((28, 28), dtype=np.float32))
    (tmp_path / "notes.png").write_text("this is not an image")
    np.save(tmp_path / "wrong.npy", np.zeros((32, 32), dtype=np.float32))
    (tmp_path / "table.csv").write_text("1,2,3")
    completed = run_cli(folder / "model.onnx", good, tmp_path / "missing.png", tmp_path / "notes.png",
                        tmp_path / "wrong.npy", tmp_path / "table.csv")
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 4
    assert f"{tmp_path / 'missing.png'}: file not found" in lines[0]
    assert "notes.png: not a readable PNG/JPEG image" in lines[1]
    assert "wrong.npy: expected an array of shape (28, 28), (1, 28, 28), (N, 28, 28) or (N, 1, 28, 28), got (32, 32)" in lines[2]
    assert "table.csv: unsupported file type '.csv'" in lines[3]
    assert str(good) in completed.stdout  # the good file is still answered


def test_unusable_model_file_exits_2_without_traceback(tmp_path):
    image = tmp_path / "x.npy"
    np.save(image, np.zeros((28, 28), dtype=np.float32))
    (tmp_path / "broken.onnx").write_bytes(b"garbage")
    for model_file, message in [(tmp_path / "absent.onnx", "model file not found"),
                                (tmp_path / "broken.onnx", "not a valid ONNX model")]:
        completed = run_cli(model_file, image)
        assert completed.returncode == 2 and message in completed.stderr
        assert "Traceback" not in completed.stderr


def test_class_names_file_overrides_and_must_fit(exported, tmp_path):
    _, folder = exported
    image = tmp_path / "x.npy"
    np.save(image, quadrant_image(0, np.random.default_rng(4)))
    names = tmp_path / "names.txt"
    names.write_text("north-west\nnorth-east\nsouth-west\nsouth-east\n")
    results, _ = predict.predict_files(folder / "model.onnx", [image], k=1, class_names=predict.read_class_names(names))
    assert results[0][1][0][0][0] == "north-west"
    (tmp_path / "three.json").write_text(json.dumps(["a", "b", "c"]))
    with pytest.raises(predict.PredictError, match="4 outputs but 3 class names"):
        predict.predict_files(folder / "model.onnx", [image], class_names=predict.read_class_names(tmp_path / "three.json"))


def test_add_parser_registers_predict_with_a_handler(exported, tmp_path, capsys):
    import argparse

    _, folder = exported
    parser = argparse.ArgumentParser(prog="course-lib")
    predict.add_parser(parser.add_subparsers(dest="command"))
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 28, 28), dtype=np.float32))
    args = parser.parse_args(["predict", str(folder / "model.onnx"), str(tmp_path / "x.npy"), "-k", "1"])
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert out.startswith(str(tmp_path / "x.npy")) and out.count("  1. ") == 1


def test_image_size_and_channels_come_from_the_exported_models_config(tmp_path):
    torch.manual_seed(5)
    model = CNN(in_channels=3, num_classes=3, image_size=20, channels=(2, 2, 2), hidden=4)
    path = deploy.export_onnx(model, tmp_path / "rgb.onnx", torch.zeros(1, 3, 20, 20), class_names=["r", "g", "b"])
    assert deploy.load_exported(path).preprocessing["image_size"] == 20
    assert deploy.load_exported(path).preprocessing["channels"] == 3
    gray = np.random.default_rng(5).random((20, 20), dtype=np.float32)
    np.save(tmp_path / "gray.npy", gray)
    results, errors = predict.predict_files(path, [tmp_path / "gray.npy"], k=3)
    assert errors == []
    with torch.no_grad():  # the grey image is repeated over the three input channels
        expected = torch.softmax(model(torch.from_numpy(np.repeat(gray[None, None], 3, axis=1))), -1)[0]
    got = dict(results[0][1][0])
    assert [got[name] for name in "rgb"] == pytest.approx(expected.tolist(), abs=1e-5)
    np.save(tmp_path / "small.npy", np.zeros((28, 28), dtype=np.float32))
    _, errors = predict.predict_files(path, [tmp_path / "small.npy"])
    assert "expected an array of shape (20, 20)" in errors[0]


def test_float_pixels_outside_zero_to_one_or_not_finite_are_refused():
    """Found by an audit: a float .npy of 0–255 values gave confident nonsense, a NaN one 'nan'."""
    for values, words in ((np.full((28, 28), 200.0, np.float32), "must lie in [0, 1]"),
                          (np.full((28, 28), np.nan, np.float32), "NaN")):
        path = Path(tempfile.mkdtemp()) / "x.npy"
        np.save(path, values)
        with pytest.raises(predict.PredictError, match=re.escape(words)):
            predict.load_array(path)


def test_softmax_is_stable_per_row():
    """softmax must subtract each row's own maximum, not one maximum for the whole batch."""
    probabilities = predict.softmax(np.array([[0.0, 1.0], [-1000.0, -999.0]]))
    assert np.all(np.isfinite(probabilities)) and np.allclose(probabilities.sum(axis=1), 1)
    np.testing.assert_allclose(probabilities[0], probabilities[1])


def test_inputs_are_standardised_with_mean_then_std(tmp_path, monkeypatch):
    """Inputs are standardised as (x - mean) / std, not x / std - mean or in another order."""
    seen = []

    class Recorder:
        class_names = ["0", "1", "2"]
        preprocessing = dict(deploy.DEFAULT_PREPROCESSING, mean=0.5, std=0.25)

        def predict(self, batch):
            seen.append(batch)
            return np.zeros((len(batch), 3), dtype=np.float32)

    monkeypatch.setattr(deploy, "load_exported", lambda path: Recorder())
    x = np.random.default_rng(0).random((2, 28, 28)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    predict.predict_files(tmp_path / "m.onnx", [tmp_path / "x.npy"])
    np.testing.assert_allclose(seen[0][:, 0], (x - 0.5) / 0.25, rtol=1e-6)


def test_a_wide_image_is_centred_when_padded(tmp_path):
    """An image padded to a square must have equal padding on both sides, not all on one."""
    pixels = np.zeros((10, 20), dtype=np.uint8)  # wide: padded above and below
    pixels[2:8, 5:15] = 255
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    rows = predict.load_image(tmp_path / "wide.png", invert="no").sum(axis=1)
    centre = (rows * np.arange(28)).sum() / rows.sum()
    assert abs(centre - 13.5) < 0.5


def test_a_batch_with_a_channel_axis_keeps_every_sample(tmp_path):
    """An (N, 1, 28, 28) array is N images, not one image taken from its first sample."""
    np.save(tmp_path / "b.npy", np.zeros((3, 1, 28, 28), dtype=np.float32))
    assert predict.load_array(tmp_path / "b.npy").shape == (3, 28, 28)


# --- found by an audit of deploy and predict (2026-12-06) ------------------------------------------
def _recorder(monkeypatch, **preprocessing):
    seen = []

    class Recorder:
        class_names = ["0", "1", "2"]

        def __init__(self):
            self.preprocessing = dict(deploy.DEFAULT_PREPROCESSING, **preprocessing)

        def predict(self, batch):
            seen.append(batch)
            return np.zeros((len(batch), 3), dtype=np.float32)

    monkeypatch.setattr(deploy, "load_exported", lambda path: Recorder())
    return seen


def test_the_stored_scale_and_per_channel_mean_and_std_are_applied(tmp_path, monkeypatch):
    """scale was stored and never used (pixels were always divided by 255), and a per-channel mean
    failed to broadcast because it was applied before the channels were repeated."""
    x = np.random.default_rng(0).integers(0, 256, (2, 20, 20)).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    seen = _recorder(monkeypatch, image_size=20, channels=3, scale=1.0, mean=[10.0, 20.0, 30.0], std=[2.0, 4.0, 8.0])
    results, errors = predict.predict_files(tmp_path / "m.onnx", [tmp_path / "x.npy"])
    assert errors == []
    for channel, (mean, std) in enumerate(((10, 2), (20, 4), (30, 8))):
        np.testing.assert_allclose(seen[0][:, channel], (x.astype(np.float64) - mean) / std, rtol=1e-6)
    seen = _recorder(monkeypatch, mean=[0.1, 0.2])
    with pytest.raises(predict.PredictError, match="mean has 2 values for a model of 1 channels"):
        predict.predict_files(tmp_path / "m.onnx", [tmp_path / "x.npy"])


def test_partial_preprocessing_keeps_the_image_size_of_the_config(tmp_path):
    torch.manual_seed(5)
    model = CNN(in_channels=1, num_classes=3, image_size=20, channels=(2, 2, 2), hidden=4)
    path = deploy.export_onnx(model, tmp_path / "m.onnx", torch.zeros(1, 1, 20, 20),
                              preprocessing={"mean": 0.5, "std": 0.5})
    stored = deploy.load_exported(path).preprocessing
    assert (stored["image_size"], stored["mean"], stored["std"]) == (20, 0.5, 0.5)


def test_an_empty_array_is_an_error_line():
    path = Path(tempfile.mkdtemp()) / "empty.npy"
    np.save(path, np.zeros((0, 28, 28), np.uint8))
    with pytest.raises(predict.PredictError, match=r"holds no images \(shape \(0, 28, 28\)\)"):
        predict.load_array(path)


def test_sixteen_bit_transparent_and_rotated_images_are_read_as_they_look(tmp_path):
    """convert("L") clipped 16-bit pixels to white, dropped alpha (a black shape on transparent black
    became all black) and ignored the EXIF orientation of phone photos."""
    bar = np.zeros((28, 28), np.uint8)
    bar[4:24, 12:16] = 255  # a vertical bar, light on black
    reference = predict.load_image(_save(tmp_path / "bar.png", Image.fromarray(bar)), invert="no")

    sixteen = Image.fromarray(bar.astype(np.uint16) * 257)  # mode I;16
    np.testing.assert_allclose(predict.load_image(_save(tmp_path / "16.png", sixteen), invert="no"), reference,
                               atol=1 / 255)

    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 3] = 255 - bar  # a black bar on a transparent background: shown on white, then inverted
    transparent = predict.load_image(_save(tmp_path / "t.png", Image.fromarray(rgba, "RGBA")))
    np.testing.assert_allclose(transparent, reference, atol=1 / 255)

    rotated = Image.fromarray(np.ascontiguousarray(bar.T))  # stored horizontal, shown vertical
    exif = rotated.getexif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    rotated.save(tmp_path / "r.jpg", exif=exif, quality=100)
    upright = predict.load_image(tmp_path / "r.jpg", invert="no")
    assert upright[4:24, 12:16].mean() > 0.8 and upright[12:16, 4:24].mean() < 0.6


def _save(path, image):
    image.save(path)
    return path


def test_an_exported_mlp_gets_each_image_as_one_row(tmp_path):
    """The book's MLP reads 784 pixels per image; predict fed it (N, 1, 28, 28) and the runtime refused."""
    from course_lib.pytorch.models import MLP

    torch.manual_seed(0)
    model = MLP([784, 16, 10])
    path = deploy.export_onnx(model, tmp_path / "mlp.onnx", torch.zeros(2, 784))
    image = np.random.default_rng(0).random((28, 28), dtype=np.float32)
    np.save(tmp_path / "x.npy", image)
    results, errors = predict.predict_files(path, [tmp_path / "x.npy"], k=10)
    assert errors == []
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(image.reshape(1, 784))), -1)[0]
    got = dict(results[0][1][0])
    assert [got[str(i)] for i in range(10)] == pytest.approx(expected.tolist(), abs=1e-5)


def test_top_k_takes_one_sample_and_refuses_a_k_below_one():
    """One sample's probabilities raised IndexError, k = -1 returned n − 1 classes and k = 0 empty lists
    that format_results then failed on (an audit, 2026-12-07)."""
    from course_lib.predict import top_k

    probabilities = np.array([0.2, 0.5, 0.3])
    assert top_k(probabilities, ["a", "b", "c"], 2) == [[("b", 0.5), ("c", 0.3)]]
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="top_k needs a whole number k of at least 1"):
            top_k(probabilities, ["a", "b", "c"], bad)

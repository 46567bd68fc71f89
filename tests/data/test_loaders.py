"""Dataset look-up, verification and error messages, on small fake IDX files."""
import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from course_lib.data import idx, loaders, registry, store
from course_lib.data.store import ChecksumError, DatasetNotFoundError


@pytest.fixture
def fake_dataset(tmp_path, monkeypatch):
    """A tiny dataset 'fake' registered with the digests of files we write ourselves."""
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, size=6, dtype=np.uint8),
        "test_images": rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, size=4, dtype=np.uint8),
    }
    names = {
        "train_images": "train-images-idx3-ubyte.gz", "train_labels": "train-labels-idx1-ubyte.gz",
        "test_images": "t10k-images-idx3-ubyte.gz", "test_labels": "t10k-labels-idx1-ubyte.gz",
    }
    source = tmp_path / "mirror"
    source.mkdir()
    files = {}
    for role, array in arrays.items():
        content = idx.encode_idx(array)
        archive = gzip.compress(content, mtime=0)
        (source / names[role]).write_bytes(archive)
        files[role] = registry.FileSpec(names[role], archive_sha256=hashlib.sha256(archive).hexdigest(),
                                        content_sha256=hashlib.sha256(content).hexdigest())
    spec = registry.DatasetSpec("fake", "Fake dataset", files, mirrors=(source.as_uri() + "/",),
                                class_names=tuple("abcdefghij"), install_hint="course-lib data download fake")
    monkeypatch.setitem(registry.DATASETS, "fake", spec)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("COURSE_LIB_DATA", raising=False)
    store._verified_cache.clear()
    return source, arrays, spec


def test_idx_round_trip_and_errors():
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(idx.parse_idx(idx.encode_idx(array)), array)
    payload = idx.encode_idx(array)
    with pytest.raises(idx.IDXFormatError, match="declares shape"):
        idx.parse_idx(payload[:-1], "short.idx")
    with pytest.raises(idx.IDXFormatError, match="not an IDX file"):
        idx.parse_idx(b"\x01\x02\x03\x04" + payload[4:], "bad.idx")


def test_float32_idx_is_big_endian():
    """IDX stores float32 values big-endian, like every other type: not in the machine's byte order."""
    payload = b"\x00\x00\x0d\x01" + struct.pack(">I", 2) + struct.pack(">2f", 1.5, -2.0)
    assert idx.parse_idx(payload).tolist() == [1.5, -2.0]


def test_parsed_arrays_are_native_endian():
    """parse_idx must return arrays in the machine's byte order, not IDX's big-endian dtype."""
    out = idx.parse_idx(idx.encode_idx(np.arange(3, dtype=np.int32)))
    assert out.dtype == np.dtype(np.int32) and out.dtype.isnative


def test_explicit_root_loads_exact_arrays(fake_dataset):
    source, arrays, _ = fake_dataset
    images, labels = loaders.load_idx_dataset("fake", "test", root=source, download=False)
    assert images.dtype == np.uint8 and images.shape == (4, 28, 28)
    assert np.array_equal(images, arrays["test_images"]) and np.array_equal(labels, arrays["test_labels"])


def test_lookup_order_root_env_cache(fake_dataset, tmp_path, monkeypatch):
    source, _, _ = fake_dataset
    env_root = tmp_path / "env"
    (env_root / "fake").mkdir(parents=True)
    for path in source.iterdir():
        (env_root / "fake" / path.name).write_bytes(path.read_bytes())
    monkeypatch.setenv("COURSE_LIB_DATA", str(env_root))
    assert store.find("fake").directory == env_root / "fake"
    assert store.find("fake", root=source).directory == source  # explicit root wins
    dirs = store.search_dirs("fake", root=source)
    assert dirs.index(source) < dirs.index(env_root / "fake") < dirs.index(Path("/usr/share/datasets/fake"))
    assert dirs[-1] == tmp_path / "home" / ".cache" / "course_lib" / "fake"


def test_missing_offline_names_dataset_places_and_fix(fake_dataset, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    with pytest.raises(DatasetNotFoundError) as error:
        loaders.load_idx_dataset("fake", "train")
    message = str(error.value)
    assert "Fake dataset" in message
    assert "/usr/share/datasets/fake" in message and ".cache/course_lib/fake" in message
    assert "course-lib data download fake" in message


def _copy_of(source: Path, folder: Path) -> Path:
    """``folder``, made to hold a copy of every file of ``source``."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def test_truncated_file_is_a_checksum_error_naming_the_file(fake_dataset, tmp_path):
    source, _, _ = fake_dataset
    broken = _copy_of(source, tmp_path / "broken")
    target = broken / "train-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:-50])
    with pytest.raises(ChecksumError, match="train-images-idx3-ubyte.gz.*(corrupt|truncated)"):
        loaders.load_idx_dataset("fake", "train", root=broken, download=False)


def test_wrong_checksum_is_refused(fake_dataset, tmp_path):
    source, arrays, _ = fake_dataset
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    for path in source.iterdir():
        (tampered / path.name).write_bytes(path.read_bytes())
    labels = arrays["test_labels"].copy()
    labels[0] = (labels[0] + 1) % 10  # a well-formed file with one wrong label
    (tampered / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx.encode_idx(labels)))
    with pytest.raises(ChecksumError, match="checksum mismatch for .*t10k-labels-idx1-ubyte.gz"):
        loaders.load_idx_dataset("fake", "test", root=tampered, download=False)


def test_recompressed_file_verifies_by_content(fake_dataset, tmp_path):
    """Debian re-gzips upstream files: the archive digest differs, the content digest matches."""
    source, arrays, _ = fake_dataset
    copy = tmp_path / "regzipped"
    copy.mkdir()
    for path in source.iterdir():
        (copy / path.name).write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1, mtime=1))
    images, _ = loaders.load_idx_dataset("fake", "train", root=copy, download=False)
    assert np.array_equal(images, arrays["train_images"])


def test_download_verifies_and_installs_into_cache(fake_dataset, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "0")
    images, _ = loaders.load_idx_dataset("fake", "train")  # absent everywhere -> downloaded from file:// mirror
    assert images.shape == (6, 28, 28)
    cache = store.cache_dir() / "fake"
    assert sorted(p.name for p in cache.iterdir()) == sorted(f.name for f in registry.DATASETS["fake"].files.values())


def test_corrupt_download_is_never_installed(fake_dataset, tmp_path, monkeypatch):
    source, _, spec = fake_dataset
    bad_mirror = tmp_path / "bad_mirror"
    bad_mirror.mkdir()
    for path in source.iterdir():
        (bad_mirror / path.name).write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "0")
    with pytest.raises(DatasetNotFoundError, match="downloading failed"):
        store.download("fake", mirrors=(bad_mirror.as_uri() + "/",), progress=False)
    cache = store.cache_dir() / "fake"
    assert not any(cache.glob("*.gz")), "an unverified file was left where a loader would find it"


def test_download_refused_offline(fake_dataset, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    with pytest.raises(DatasetNotFoundError, match="downloads are disabled"):
        store.download("fake")


def test_unknown_dataset_and_split():
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        store.get_spec("cifar")
    with pytest.raises(ValueError, match="split must be one of"):
        loaders.load_idx_dataset("fake", "validation")


def test_stratified_subset_is_balanced_and_seeded():
    labels = np.repeat(np.arange(10), 50)
    images = np.arange(500)
    sub_x, sub_y = loaders.subset(images, labels, 100, seed=3)
    assert np.array_equal(np.bincount(sub_y), np.full(10, 10))
    again_x, _ = loaders.subset(images, labels, 100, seed=3)
    assert np.array_equal(sub_x, again_x)


fashion_present = store.find("fashion-mnist") is not None


@pytest.mark.skipif(not fashion_present, reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist_verifies_and_has_published_shape():
    info = store.status("fashion-mnist")
    assert info["verified"], info["detail"]
    images, labels = loaders.load_fashion_mnist("train")
    assert images.shape == (60000, 28, 28) and labels.shape == (60000,)
    assert np.array_equal(np.bincount(labels), np.full(10, 6000))  # Fashion-MNIST is balanced
    test_images, test_labels = loaders.load_fashion_mnist("test")
    assert test_images.shape == (10000, 28, 28) and list(test_labels[:5]) == [9, 2, 1, 1, 6]


def test_a_failed_download_keeps_the_file_that_was_there(fake_dataset, tmp_path, monkeypatch):
    """Found by an audit: download() deleted a file that failed its check before fetching the
    replacement, so a failed download lost it — e.g. another dataset's file in the wrong folder."""
    source, _, _ = fake_dataset
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte.gz").write_bytes((source / "t10k-images-idx3-ubyte.gz").read_bytes())
    before = (folder / "train-images-idx3-ubyte.gz").read_bytes()
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "0")
    with pytest.raises(DatasetNotFoundError, match="was left as it was"):
        store.download("fake", folder, mirrors=((tmp_path / "nowhere").as_uri() + "/",), progress=False)
    assert (folder / "train-images-idx3-ubyte.gz").read_bytes() == before
    with pytest.raises(ChecksumError, match=r"it is Fake dataset's t10k-images-idx3-ubyte.gz.*download fake"):
        store.read_verified(folder / "train-images-idx3-ubyte.gz", registry.DATASETS["fake"].files["train_images"],
                            "fake")


def test_a_file_of_another_registered_dataset_is_named(fake_dataset, tmp_path):
    """A re-gzipped file of another dataset is named by its content digest alone, without its archive digest."""
    source, _, _ = fake_dataset
    path = tmp_path / "a.gz"
    path.write_bytes(gzip.compress(gzip.decompress((source / "t10k-images-idx3-ubyte.gz").read_bytes()), mtime=12345))
    expected = registry.FileSpec("a.gz", archive_sha256="0" * 64, content_sha256="0" * 64)
    with pytest.raises(ChecksumError, match="it is Fake dataset's t10k-images-idx3-ubyte.gz"):
        store.read_verified(path, expected)


def test_only_the_training_loader_shuffles(monkeypatch):
    """fashion_mnist_loaders must keep the test loader in file order and shuffle only the training one."""
    torch = pytest.importorskip("torch")
    from course_lib.data import torch_data

    images = np.arange(20 * 28 * 28, dtype=np.int64).reshape(20, 28, 28).astype(np.uint8)
    monkeypatch.setattr(loaders, "load_fashion_mnist", lambda split, root=None: (images, np.arange(20) % 10))
    train, test = torch_data.fashion_mnist_loaders(batch_size=5)
    assert torch.cat([labels for _, labels in test]).tolist() == (np.arange(20) % 10).tolist()
    assert torch.cat([labels for _, labels in train]).tolist() != (np.arange(20) % 10).tolist()


def test_converting_images_twice_or_one_image_without_its_batch_axis_is_refused():
    images = np.full((2, 28, 28), 255, dtype=np.uint8)
    once = loaders.to_float_images(images)
    assert once.shape == (2, 1, 28, 28) and once.max() == 1
    with pytest.raises(TypeError, match="converted already"):
        loaders.to_float_images(once[:, 0])
    with pytest.raises(ValueError, match=r"images\[None\]"):
        loaders.to_float_images(images[0])


def test_a_subset_of_imbalanced_classes_still_has_the_size_asked_for():
    labels = np.r_[np.zeros(90, int), 1]
    images, chosen = loaders.subset(np.arange(91), labels, 50)
    assert len(images) == 50 and np.bincount(chosen).tolist() == [49, 1]
    with pytest.raises(ValueError, match="50 images but 91 labels"):
        loaders.subset(np.arange(50), labels, 20)


# --- found by an audit of the data store (2026-12-06) ------------------------------------------
def test_a_folder_verified_as_one_dataset_does_not_pass_as_another(fake_dataset, tmp_path, monkeypatch):
    """MNIST and Fashion-MNIST share their file names, and the verification cache was keyed on the
    path alone: once a folder of Fashion-MNIST had loaded, load_mnist(root=it) returned Fashion-MNIST."""
    source, _, spec = fake_dataset
    other = registry.DatasetSpec("other", "Other dataset", {
        role: registry.FileSpec(file.name, content_sha256="1" * 64) for role, file in spec.files.items()
    }, mirrors=(), class_names=spec.class_names, install_hint="course-lib data download other")
    monkeypatch.setitem(registry.DATASETS, "other", other)
    folder = _copy_of(source, tmp_path / "flat")
    loaders.load_idx_dataset("fake", "test", root=folder, download=False)
    with pytest.raises(ChecksumError, match="it is Fake dataset's t10k-images"):
        loaders.load_idx_dataset("other", "test", root=folder, download=False)


def test_a_connection_closed_early_tries_the_next_mirror(fake_dataset, monkeypatch):
    """http.client.IncompleteRead is neither a URLError nor an OSError: it ended the download with a
    traceback instead of trying the second mirror."""
    import http.client
    import urllib.request

    source, arrays, _ = fake_dataset
    real_urlopen = urllib.request.urlopen

    class ClosesEarly:
        def __init__(self, *args, **kwargs):
            self.headers = {"Content-Length": "1000"}

        def read(self, size=-1):
            raise http.client.IncompleteRead(b"partial", 993)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def urlopen(url, *args, **kwargs):
        return ClosesEarly() if url.startswith("http://first.example/") else real_urlopen(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "0")
    target = store.download("fake", mirrors=("http://first.example/", source.as_uri() + "/"), progress=False)
    images, _ = loaders.load_idx_dataset("fake", "test", root=target, download=False)
    assert np.array_equal(images, arrays["test_images"])
    again = target.parent / "again"
    with pytest.raises(DatasetNotFoundError, match="IncompleteRead"):
        store.download("fake", again, mirrors=("http://first.example/",), progress=False)
    assert not any(again.iterdir())


def test_downloads_and_atomic_writes_follow_the_umask(fake_dataset, tmp_path, monkeypatch):
    """mkstemp makes files 0600 and os.replace keeps that: a shared data folder or checkpoint was
    unreadable to everyone else."""
    import os

    from course_lib.files import write_atomically

    source, _, _ = fake_dataset
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "0")
    old = os.umask(0o022)
    try:
        target = store.download("fake", tmp_path / "shared", progress=False)
        written = write_atomically(tmp_path / "checkpoint.pt", lambda path: Path(path).write_bytes(b"x"))
    finally:
        os.umask(old)
    assert {oct(path.stat().st_mode & 0o777) for path in target.iterdir()} == {"0o644"}
    assert oct(written.stat().st_mode & 0o777) == "0o644"


def test_a_download_leaves_no_cache_entry_for_its_temporary_file(fake_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "0")
    store.download("fake", tmp_path / "d", progress=False)
    assert not any(".part" in key[0] for key in store._verified_cache)


def test_an_archive_that_inflates_beyond_the_published_size_is_refused_there(fake_dataset, tmp_path, monkeypatch):
    """Every other archive was decompressed in full before its digest was checked: 400 KB named as
    MNIST's file took 830 MB of memory before it was refused."""
    source, _, spec = fake_dataset
    file = registry.FileSpec("t10k-labels-idx1-ubyte.gz", content_sha256="2" * 64, content_size=1_000)
    bomb = tmp_path / "t10k-labels-idx1-ubyte.gz"
    bomb.write_bytes(gzip.compress(b"\0" * 50_000_000))  # about 50 KB
    with pytest.raises(ChecksumError, match="decompresses to more than the 1000 bytes of the published"):
        store.read_verified(bomb, file, "fake")
    # the published archive itself decompresses in full (its digest is checked first)
    published = registry.FileSpec(spec.files["test_labels"].name, archive_sha256=spec.files["test_labels"].archive_sha256,
                                  content_size=1)
    assert store.read_verified(source / "t10k-labels-idx1-ubyte.gz", published)[:4] == b"\0\0\x08\x01"


def test_the_registered_sizes_are_the_idx_sizes_of_the_published_files():
    for dataset in (registry.FASHION_MNIST, registry.MNIST):
        sizes = {role: file.content_size for role, file in dataset.files.items()}
        assert sizes == {"train_images": 16 + 60_000 * 784, "train_labels": 8 + 60_000,
                         "test_images": 16 + 10_000 * 784, "test_labels": 8 + 10_000}


def test_idx_headers_that_overflow_or_gzip_bytes_are_named():
    header = b"\x00\x00\x08\x04" + struct.pack(">4I", 65536, 65536, 65536, 65536)
    with pytest.raises(idx.IDXFormatError, match=r"huge.idx: header declares shape \(65536, 65536, 65536, 65536\) "
                                                 r"\(18446744073709551616 bytes"):
        idx.parse_idx(header, "huge.idx")
    with pytest.raises(idx.IDXFormatError, match="gzip-compressed bytes: decompress them first"):
        idx.parse_idx(gzip.compress(idx.encode_idx(np.zeros(3, np.uint8))), "a.gz")


def test_a_home_relative_data_folder_is_expanded(fake_dataset, tmp_path, monkeypatch):
    source, arrays, _ = fake_dataset
    monkeypatch.setenv("HOME", str(tmp_path))
    _copy_of(source, tmp_path / "mydata")
    (tmp_path / "envdata").mkdir()
    _copy_of(source, tmp_path / "envdata" / "fake")
    monkeypatch.setenv("COURSE_LIB_DATA", "~/envdata")
    assert store.find("fake", "~/mydata").directory == tmp_path / "mydata"
    assert store.find("fake").directory == tmp_path / "envdata" / "fake"


def test_the_offline_message_names_the_variable_to_unset(fake_dataset, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    with pytest.raises(DatasetNotFoundError, match=r"\$COURSE_LIB_OFFLINE is set: unset it"):
        loaders.load_idx_dataset("fake", "train")


def test_a_datasets_own_folder_under_root_comes_before_root_itself(fake_dataset, tmp_path):
    """MNIST and Fashion-MNIST share their file names: with another dataset's files in root and this
    one's in root/<name>, root was searched first and its files failed their checks (an audit, 2026-12-07)."""
    source, arrays, _ = fake_dataset
    root = tmp_path / "data"
    _copy_of(source, root / "fake")
    for path in source.iterdir():
        (root / path.name).write_bytes(b"another dataset's file of the same name")
    assert store.find("fake", root).directory == root / "fake"
    images, _ = loaders.load_idx_dataset("fake", "test", root=root, download=False)
    assert np.array_equal(images, arrays["test_images"])


def test_download_offline_is_fine_where_every_file_is_already_there(fake_dataset, tmp_path, monkeypatch):
    """`course-lib data download NAME --to FOLDER` offline refused even a folder holding every verified
    file, with a message that did not name the folder (an audit, 2026-12-07)."""
    source, _, _ = fake_dataset
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    assert store.download("fake", source) == source
    empty = tmp_path / "empty"
    with pytest.raises(DatasetNotFoundError, match=r"cannot be downloaded into .*empty: downloads are disabled"):
        store.download("fake", empty)
    assert not empty.exists()


def test_status_names_a_file_it_cannot_read_instead_of_raising(fake_dataset, tmp_path):
    source, _, spec = fake_dataset
    folder = _copy_of(source, tmp_path / "unreadable")
    broken = folder / spec.files["test_labels"].name
    broken.unlink()
    broken.symlink_to("/proc/self/mem")  # reading it fails with EIO, also as root
    store._verified_cache.clear()
    report = store.status("fake", folder)
    assert report["verified"] is False and f"cannot read {broken}" in report["detail"]


def test_a_tensor_dataset_takes_arrays_with_negative_strides():
    from course_lib.data.torch_data import tensor_dataset

    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    dataset = tensor_dataset(x[:, ::-1], np.arange(4)[::-1])
    assert np.array_equal(dataset.tensors[0].numpy(), x[:, ::-1]) and dataset.tensors[1].tolist() == [3, 2, 1, 0]


@pytest.mark.parametrize("value, allowed", [("1", False), ("true", False), (" Yes ", False), ("on", False),
                                            ("0", True), ("", True), ("no", True)])
def test_the_offline_switch_reads_the_usual_spellings_of_yes(monkeypatch, value, allowed):
    monkeypatch.setenv(store.OFFLINE_ENV, value)
    assert store.downloads_allowed() is allowed

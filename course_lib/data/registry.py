"""What the course knows about each real dataset: files, mirrors and checksums.

Each file has up to two SHA-256 digests: ``archive`` of the ``.gz`` file as the
canonical mirror serves it, and ``content`` of the decompressed IDX bytes.  A file
is *verified* when either matches.  The archive digest checks a file before it is
decompressed; the content digest makes a re-compressed or uncompressed copy verifiable
(Debian's ``dataset-fashion-mnist`` re-gzips the upstream files), and a file is never
decompressed beyond ``content_size``, the IDX size of the published file, so a small
archive that inflates to gigabytes is refused at that size.  Fashion-MNIST's files are
listed by content digest; MNIST's by archive digest only (no copy was at hand to take its
content digests from), so only MNIST's ``.gz`` files as its mirrors serve them verify.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple


@dataclass(frozen=True)
class FileSpec:
    name: str  # e.g. "train-images-idx3-ubyte.gz"
    archive_sha256: Optional[str] = None
    content_sha256: Optional[str] = None
    content_size: int = 0  # bytes of the decompressed IDX file (header included)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    files: Dict[str, FileSpec]  # role ("train_images", …) -> file
    mirrors: Tuple[str, ...]
    class_names: Tuple[str, ...]
    install_hint: str  # the command that makes the dataset available offline
    homepage: str = ""
    debian_dir: str = field(default="")


FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    title="Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017)",
    files={
        "train_images": FileSpec(
            "train-images-idx3-ubyte.gz", content_size=47_040_016,
            content_sha256="c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        ),
        "train_labels": FileSpec(
            "train-labels-idx1-ubyte.gz", content_size=60_008,
            content_sha256="bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        ),
        "test_images": FileSpec(
            "t10k-images-idx3-ubyte.gz", content_size=7_840_016,
            content_sha256="5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        ),
        "test_labels": FileSpec(
            "t10k-labels-idx1-ubyte.gz", content_size=10_008,
            content_sha256="0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
    },
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ),
    class_names=(
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
    install_hint="sudo apt-get install dataset-fashion-mnist   (or: course-lib data download fashion-mnist)",
    homepage="https://github.com/zalandoresearch/fashion-mnist",
)

MNIST = DatasetSpec(
    name="mnist",
    title="MNIST (LeCun, Bottou, Bengio & Haffner, 1998)",
    files={
        "train_images": FileSpec(
            "train-images-idx3-ubyte.gz", content_size=47_040_016,
            archive_sha256="440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        "train_labels": FileSpec(
            "train-labels-idx1-ubyte.gz", content_size=60_008,
            archive_sha256="3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
        "test_images": FileSpec(
            "t10k-images-idx3-ubyte.gz", content_size=7_840_016,
            archive_sha256="8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        "test_labels": FileSpec(
            "t10k-labels-idx1-ubyte.gz", content_size=10_008,
            archive_sha256="f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    },
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    class_names=tuple(str(digit) for digit in range(10)),
    install_hint="course-lib data download mnist   (needs internet once)",
    homepage="http://yann.lecun.com/exdb/mnist/",
)

DATASETS: Dict[str, DatasetSpec] = {spec.name: spec for spec in (FASHION_MNIST, MNIST)}

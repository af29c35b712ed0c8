"""MNIST from the official IDX files, with an offline fallback. Taught in chapter 06.

The IDX format (LeCun et al.) is a big-endian header followed by raw bytes:
a 4-byte magic number (2051 for images, 2049 for labels), one 4-byte size per
dimension, then the values as unsigned bytes. We read it with NumPy only, so no
torchvision is needed.

When only the official 10k test files are at hand (offline, as in the course's
shared data folder), :func:`load_mnist` returns the test set with
``train_images=None`` and says so; :func:`training_split` then splits the 10k
file into a seeded, stratified train/test split so a chapter can still run.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hiercourse.csr import position_in_row
from hiercourse.errors import DataError

IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
OFFICIAL_SIZES = {"train": 60_000, "test": 10_000}
# The usual normalisation constants: mean and std of the 60k training pixels scaled to [0, 1].
PIXEL_MEAN = 0.1307
PIXEL_STD = 0.3081


@dataclass
class MNIST:
    """The four MNIST arrays (uint8 images [N, 28, 28], int64 labels [N]) and where they came from.

    ``train_images``/``train_labels`` are ``None`` when the training files could
    not be found; ``source["note"]`` then says what is missing and what to do.
    Taught in chapter 06.
    """

    train_images: np.ndarray | None
    train_labels: np.ndarray | None
    test_images: np.ndarray
    test_labels: np.ndarray
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def has_train(self) -> bool:
        """True when both training arrays were loaded (the official 60k/10k split is available)."""
        return self.train_images is not None and self.train_labels is not None

    def __repr__(self) -> str:
        train = f"{len(self.train_images):,} train" if self.has_train else "no train images"
        note = f"; {self.source['note']}" if self.source.get("note") else ""
        return f"MNIST({train}, {len(self.test_images):,} test, from {self.source.get('folder')}{note})"


@dataclass
class MNISTSplit:
    """Images and labels to train and test on, with a one-line description of how they were made.

    Taught in chapter 06.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    description: str
    official: bool

    def __repr__(self) -> str:
        return f"MNISTSplit({len(self.train_images):,} train / {len(self.test_images):,} test: {self.description})"


def _open_bytes(path: Path) -> bytes:
    """All bytes of an IDX file, gunzipped when it ends in .gz; DataError when it cannot be read."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise DataError(
            f"{path} cannot be read as a gzip IDX file ({exc}); it is probably truncated or "
            "corrupted. Delete it and download it again (load_mnist fetches missing files)."
        ) from exc


def read_idx(path: str | os.PathLike, expected_magic: int) -> np.ndarray:
    """Read one IDX file (``.gz`` or raw) into a uint8 array of the shape its header gives.

    ``expected_magic`` is ``IMAGE_MAGIC`` (2051; images come out [N, 28, 28]) or
    ``LABEL_MAGIC`` (2049; labels come out [N]). Raises DataError when the magic number,
    the header or the number of bytes is wrong.
    Taught in chapter 06.
    """
    path = Path(path)
    raw = _open_bytes(path)
    if len(raw) < 4:
        raise DataError(f"{path} holds {len(raw)} bytes, too few for an IDX header; download it again.")
    (magic,) = struct.unpack(">i", raw[:4])
    if magic != expected_magic:
        kind = {IMAGE_MAGIC: "an image", LABEL_MAGIC: "a label"}.get(expected_magic, "an IDX")
        raise DataError(
            f"{path} starts with magic number {magic}, but {kind} file starts with {expected_magic}; "
            "this is not the MNIST file it is named after (or it is corrupted). Download it again."
        )
    ndim = magic & 0xFF  # the low byte counts the dimensions; byte 3 (0x08) means unsigned bytes
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} ends inside its header ({len(raw)} bytes); download it again.")
    shape = struct.unpack(f">{ndim}i", raw[4:header])
    expected = int(np.prod(shape))
    got = len(raw) - header
    if got != expected:
        raise DataError(
            f"{path}: the header promises shape {shape} ({expected:,} bytes of data) but the file "
            f"holds {got:,}; it is truncated or corrupted. Delete it and download it again."
        )
    # copy: a writable array torch can wrap without warnings
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def _read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path, IMAGE_MAGIC)
    labels = read_idx(labels_path, LABEL_MAGIC)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{images_path} holds images of shape {images.shape[1:]}, not 28x28.")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(
            f"{labels_path} holds {labels.shape} labels for {len(images):,} images in {images_path}; "
            "the two files do not belong together. Download both again."
        )
    if labels.size and labels.max() > 9:
        raise DataError(f"{labels_path} holds label {int(labels.max())}; MNIST labels are 0..9.")
    return images, labels.astype(np.int64)


TEST_FILES = [FILES["test_images"], FILES["test_labels"]]


def load_mnist(root: str | os.PathLike | None = None, download: bool = True) -> MNIST:
    """Load MNIST from its official IDX files (found, checked and if need be downloaded by
    :func:`hiercourse.datasets.fetch.locate`: ``root``, ``$HIERCOURSE_DATA``, the cache, a download).

    When the full set cannot be had (e.g. offline with only the 10k test files)
    the result holds the test set, ``train_images=None``, and ``source["note"]``
    says so; :func:`training_split` then falls back to splitting the test file.
    Taught in chapter 06.
    """
    from hiercourse.datasets.fetch import locate

    try:
        folder = locate("mnist", root, download=download)
        full_error = None
    except DataError as exc:
        full_error = exc
        try:
            folder = locate("mnist", root, download=False, files=TEST_FILES)
        except DataError:
            raise full_error from None  # not even the test set: the full message says where we looked
    paths = {key: folder / name for key, name in FILES.items() if (folder / name).is_file()}
    test_images, test_labels = _read_pair(paths["test_images"], paths["test_labels"])
    source: dict[str, Any] = {
        "folder": str(folder),
        "files": sorted(p.name for p in paths.values()),
        "official_split": full_error is None,
    }
    train_images = train_labels = None
    if full_error is None:
        train_images, train_labels = _read_pair(paths["train_images"], paths["train_labels"])
        _check_count(train_images, "train")
        _check_count(test_images, "test")
    else:
        missing = [name for key, name in FILES.items() if key not in paths]
        why = "downloads are off" if not download else "the download failed (offline?)"
        source["note"] = (
            f"the full training set is not available ({', '.join(missing) or 'see error'} missing in "
            f"{folder}, and {why}); only the 10k test set is loaded. training_split() splits it "
            "instead; go online (or add the files) for the official 60k/10k split."
        )
        source["error"] = str(full_error)
    return MNIST(train_images, train_labels, test_images, test_labels, source)


def _check_count(images: np.ndarray, part: str) -> None:
    if len(images) != OFFICIAL_SIZES[part]:
        raise DataError(
            f"MNIST {part} file holds {len(images):,} images, the official one {OFFICIAL_SIZES[part]:,}; "
            "it is another release or corrupted. Delete it and download it again."
        )


def stratified_split(labels: np.ndarray, n_train: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) with ``n_train`` train rows and each label in both parts in proportion.

    ``labels`` is an int array [N]; returns two int64 index arrays, [n_train] and
    [N - n_train], each shuffled with ``seed``.

    Vectorised: shuffle, stable-sort by label, then take the first share of each label's run.
    Taught in chapter 06.
    """
    labels = np.asarray(labels)
    if not 0 < n_train < len(labels):
        raise DataError(f"n_train={n_train} must lie strictly between 0 and {len(labels)} (the rows available).")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    order = order[np.argsort(labels[order], kind="stable")]
    counts = np.bincount(labels[order])
    rank_in_label = position_in_row(counts)  # rows sorted by label: each label's rows form one run
    quota = np.floor(counts * n_train / len(labels)).astype(np.int64)
    # hand the rounding leftovers to the labels with the largest remainders
    leftover = n_train - quota.sum()
    remainders = counts * n_train / len(labels) - quota
    quota[np.argsort(-remainders, kind="stable")[:leftover]] += 1
    is_train = rank_in_label < np.repeat(quota, counts)
    train, test = order[is_train], order[~is_train]
    return rng.permutation(train), rng.permutation(test)


def training_split(data: MNIST, fallback_train: int = 8_000, seed: int = 0) -> MNISTSplit:
    """The official 60k/10k split when the training files exist, else a seeded stratified
    split of the 10k test file (``fallback_train`` train, the rest test).

    Returns an :class:`MNISTSplit` (uint8 images [N, 28, 28], int64 labels [N]) whose
    ``official`` flag and ``description`` say which of the two it is. Taught in chapter 06.
    """
    if data.has_train:
        return MNISTSplit(
            data.train_images, data.train_labels, data.test_images, data.test_labels,
            description="official MNIST split (60k train / 10k test)", official=True,
        )
    train, test = stratified_split(data.test_labels, fallback_train, seed)
    return MNISTSplit(
        data.test_images[train], data.test_labels[train], data.test_images[test], data.test_labels[test],
        description=(
            f"fallback: stratified split (seed {seed}) of the official 10k test file into "
            f"{len(train):,} train / {len(test):,} test, since the training images are missing"
        ),
        official=False,
    )

"""MNIST (chapter 06): the IDX reader, the offline fallback, the article's and the corrected CNN."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from hiercourse.datasets.mnist import (
    FILES,
    IMAGE_MAGIC,
    LABEL_MAGIC,
    load_mnist,
    read_idx,
    stratified_split,
    training_split,
)
from hiercourse.datasets.schema import DataError
from hiercourse.mnist import (
    ArticleCNN,
    CorrectedCNN,
    confusion_matrix,
    count_parameters,
    evaluate,
    most_confident_mistakes,
    to_model_input,
    trace_shapes,
    train,
)

REPO = Path(__file__).resolve().parents[1]
# Published per-digit counts of the official files.
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def write_idx(path, array: np.ndarray, magic: int, compress: bool = True) -> None:
    header = struct.pack(">i", magic) + struct.pack(f">{array.ndim}i", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)


# ---------------------------------------------------------------- the reader on the real files

def test_real_test_files_have_official_magic_shapes_and_counts(mnist_root):
    folder = mnist_root / "mnist"
    with gzip.open(folder / FILES["test_images"], "rb") as handle:
        assert struct.unpack(">i", handle.read(4))[0] == IMAGE_MAGIC
    images = read_idx(folder / FILES["test_images"], IMAGE_MAGIC)
    labels = read_idx(folder / FILES["test_labels"], LABEL_MAGIC)
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert images.max() == 255 and images.min() == 0
    assert np.bincount(labels, minlength=10).tolist() == TEST_COUNTS


def test_real_train_labels_have_official_counts(mnist_root):
    labels = read_idx(mnist_root / "mnist" / FILES["train_labels"], LABEL_MAGIC)
    assert np.bincount(labels, minlength=10).tolist() == TRAIN_COUNTS


def test_load_mnist_offline_says_when_train_images_are_missing(mnist_root):
    data = load_mnist(mnist_root, download=False)
    assert data.test_images.shape == (10_000, 28, 28)
    assert data.test_labels.dtype == np.int64
    if (mnist_root / "mnist" / FILES["train_images"]).is_file():
        assert data.has_train and data.train_images.shape == (60_000, 28, 28)
        split = training_split(data)
        assert split.official and len(split.train_images) == 60_000
    else:
        assert data.train_images is None and data.train_labels is None
        assert FILES["train_images"] in data.source["note"]
        assert "no train images" in repr(data)
        split = training_split(data, fallback_train=8_000, seed=0)
        assert not split.official and "fallback" in split.description
        assert len(split.train_images) == 8_000 and len(split.test_images) == 2_000


# ---------------------------------------------------------------- the offline split

def test_stratified_split_is_disjoint_proportional_and_seeded():
    labels = np.repeat(np.arange(10), [98, 113, 103, 101, 98, 89, 96, 103, 97, 102])
    train, test = stratified_split(labels, 800, seed=3)
    assert len(train) == 800 and len(test) == len(labels) - 800
    assert np.intersect1d(train, test).size == 0
    assert np.union1d(train, test).size == len(labels)
    expected = np.bincount(labels) * 800 / len(labels)
    assert np.all(np.abs(np.bincount(labels[train], minlength=10) - expected) < 1)
    again, _ = stratified_split(labels, 800, seed=3)
    other, _ = stratified_split(labels, 800, seed=4)
    assert np.array_equal(train, again) and not np.array_equal(train, other)
    with pytest.raises(DataError, match="n_train"):
        stratified_split(labels, len(labels))


# ---------------------------------------------------------------- bad files

@pytest.fixture
def tiny_idx(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28))
    labels = np.array([0, 1, 2, 3, 9])
    write_idx(tmp_path / "images.gz", images, IMAGE_MAGIC)
    write_idx(tmp_path / "labels.gz", labels, LABEL_MAGIC)
    return tmp_path, images, labels


def test_reader_round_trips_gzip_and_raw(tiny_idx, tmp_path):
    folder, images, labels = tiny_idx
    assert np.array_equal(read_idx(folder / "images.gz", IMAGE_MAGIC), images)
    assert np.array_equal(read_idx(folder / "labels.gz", LABEL_MAGIC), labels)
    write_idx(tmp_path / "raw-images", images, IMAGE_MAGIC, compress=False)
    assert np.array_equal(read_idx(tmp_path / "raw-images", IMAGE_MAGIC), images)


def test_truncated_gzip_is_a_data_error(tiny_idx):
    folder, _, _ = tiny_idx
    path = folder / "images.gz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match="truncated or corrupted"):
        read_idx(path, IMAGE_MAGIC)


def test_data_shorter_than_header_promises_is_a_data_error(tmp_path):
    path = tmp_path / "short.gz"
    with gzip.open(path, "wb") as handle:  # a valid gzip whose content stops early
        handle.write(struct.pack(">iiii", IMAGE_MAGIC, 10, 28, 28) + bytes(28 * 28 * 3))
    with pytest.raises(DataError, match=r"promises shape \(10, 28, 28\)"):
        read_idx(path, IMAGE_MAGIC)


def test_wrong_magic_and_non_gzip_are_data_errors(tiny_idx, tmp_path):
    folder, _, _ = tiny_idx
    with pytest.raises(DataError, match="magic number 2049"):
        read_idx(folder / "labels.gz", IMAGE_MAGIC)  # a label file read as images
    junk = tmp_path / "junk.gz"
    junk.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(DataError, match="cannot be read"):
        read_idx(junk, IMAGE_MAGIC)


def test_corrupted_file_in_a_data_folder_is_a_data_error(mnist_root, tmp_path, monkeypatch):
    monkeypatch.delenv("HIERCOURSE_DATA", raising=False)  # a full set there would be used instead
    folder = tmp_path / "mnist"
    folder.mkdir()
    for key in ("test_images", "test_labels"):
        (folder / FILES[key]).write_bytes((mnist_root / "mnist" / FILES[key]).read_bytes())
    damaged = folder / FILES["test_images"]
    damaged.write_bytes(damaged.read_bytes()[:-1000])
    with pytest.raises(DataError):
        load_mnist(tmp_path, download=False)


# ---------------------------------------------------------------- the networks

def test_article_cnn_fails_with_the_shape_error_the_chapter_explains():
    model = ArticleCNN()
    with pytest.raises(RuntimeError, match=r"\[-1, 3136\].*2359296"):
        model(torch.zeros(64, 1, 28, 28))
    table, error = trace_shapes(model, torch.zeros(64, 1, 28, 28))
    assert "2359296" in error
    assert table["output shape"].tolist()[:4] == [(64, 32, 26, 26), (64, 32, 26, 26),
                                                  (64, 64, 24, 24), (64, 64, 24, 24)]
    # 24*24*64 = 36,864 values per image: the flatten only "works" when 49 divides the batch,
    # and then it silently builds 11.76 fake rows per image (576 rows for 49 images).
    assert model(torch.zeros(49, 1, 28, 28)).shape == (576, 10)


def test_corrected_cnn_gives_one_row_of_ten_logits_per_image():
    model = CorrectedCNN().eval()
    for batch in (1, 49, 64):
        assert model(torch.zeros(batch, 1, 28, 28)).shape == (batch, 10)
    table, error = trace_shapes(model, torch.zeros(2, 1, 28, 28))
    assert error is None
    assert (2, 64, 7, 7) in table["output shape"].tolist()
    assert count_parameters(model) == 288 + 64 + 18_432 + 128 + (3136 * 128 + 128) + (128 * 10 + 10)


def test_inputs_are_standardised_with_the_mnist_mean_and_std(mnist_root):
    # by hand: pixel v -> (v / 255 - 0.1307) / 0.3081, the published training-set mean and std
    pixels = np.array([[[0, 255], [128, 51]]], dtype=np.uint8)
    expected = (np.array([[0, 255], [128, 51]]) / 255 - 0.1307) / 0.3081
    np.testing.assert_allclose(to_model_input(pixels)[0, 0].numpy(), expected, rtol=0, atol=1e-6)
    images = load_mnist(mnist_root, download=False).test_images
    x = to_model_input(images)
    assert x.shape == (10_000, 1, 28, 28) and x.dtype == torch.float32
    # on the test file: the moments follow from the file's own pixel moments (float64 numpy reference);
    # they come out near 0 and 1 because the test digits resemble the training digits
    scaled = images.astype(np.float64) / 255
    assert x.mean().item() == pytest.approx((scaled.mean() - 0.1307) / 0.3081, abs=1e-5)
    assert x.double().std().item() == pytest.approx(scaled.std(ddof=1) / 0.3081, abs=1e-5)
    with pytest.raises(TypeError, match="uint8"):
        to_model_input(images.astype(np.float32))


def test_one_epoch_on_2k_images_beats_the_nearest_class_mean(mnist_root):
    data = load_mnist(mnist_root, download=False)
    train_idx, test_idx = stratified_split(data.test_labels, 2_000, seed=0)
    test_idx = test_idx[:1_000]
    torch.manual_seed(0)
    model = CorrectedCNN()
    history = train(model, data.test_images[train_idx], data.test_labels[train_idx], epochs=1,
                    batch_size=32, lr=3e-3, device="cpu", seed=0, progress=False)
    assert len(history.loss) == 1 and len(history.batch_loss) == 63  # ceil(2,000 / 32) batches
    # the last batches' loss is below the first batch's and below a uniform guess over ten digits (ln 10)
    assert np.mean(history.batch_loss[-10:]) < min(np.log(10), history.batch_loss[0])
    result = evaluate(model, data.test_images[test_idx], data.test_labels[test_idx])
    # the reference a one-epoch CNN must beat: nearest class mean of the raw pixels, fitted here on the
    # same 2,000 images (no training loop, no randomness)
    pixels = data.test_images.reshape(len(data.test_images), -1).astype(np.float64)
    train_labels = data.test_labels[train_idx]
    centroids = np.stack([pixels[train_idx][train_labels == digit].mean(0) for digit in range(10)])
    distances = ((pixels[test_idx][:, None, :] - centroids[None]) ** 2).sum(-1)
    centroid_accuracy = float((distances.argmin(1) == data.test_labels[test_idx]).mean())
    assert centroid_accuracy > 0.5  # the reference itself is far above chance (0.1)
    assert result.accuracy > centroid_accuracy
    matrix = confusion_matrix(result.labels, result.predicted)
    assert matrix.sum() == 1_000 and np.trace(matrix) == round(result.accuracy * 1_000)


# ---------------------------------------------------------------- evaluation helpers

def test_confusion_matrix_and_confident_mistakes_on_a_hand_made_case():
    labels = np.array([0, 1, 2, 2, 1])
    probs = np.array([
        [0.9, 0.1, 0.0],   # right
        [0.2, 0.3, 0.5],   # wrong (2), 0.5 sure
        [0.05, 0.9, 0.05],  # wrong (1), 0.9 sure
        [0.0, 0.0, 1.0],   # right
        [0.7, 0.3, 0.0],   # wrong (0), 0.7 sure
    ])
    matrix = confusion_matrix(labels, probs.argmax(1), n_classes=3)
    assert matrix.tolist() == [[1, 0, 0], [1, 0, 1], [0, 1, 1]]
    mistakes = most_confident_mistakes(probs, labels, k=2)
    assert mistakes["index"].tolist() == [2, 4]
    assert mistakes["predicted"].tolist() == [1, 0] and mistakes["true"].tolist() == [2, 1]
    assert mistakes["confidence"].tolist() == [0.9, 0.7]
    assert mistakes["p(true)"].tolist() == [0.05, 0.3]


def test_plots_draw_the_data_they_are_given():
    import matplotlib

    matplotlib.use("Agg")
    from hiercourse.mnist import TrainingHistory
    from hiercourse.plots.mnist import plot_confusion_matrix, plot_learning_curves, plot_mistakes

    batch_loss = list(np.linspace(2, 0.3, 10))
    history = TrainingHistory(epochs=2, batch_size=8, n_train=40, device="cpu", loss=[1.0, 0.5],
                              train_accuracy=[0.6, 0.8], test_accuracy=[0.7, 0.85], batch_loss=batch_loss)
    loss_ax, acc_ax = plot_learning_curves(history, smooth=3, reference=0.985).axes
    raw, smooth = loss_ax.get_lines()
    assert raw.get_ydata().tolist() == batch_loss
    np.testing.assert_allclose(raw.get_xdata(), np.arange(1, 11) / 5)  # 10 batches over 2 epochs
    np.testing.assert_allclose(smooth.get_ydata(), [np.mean(batch_loss[i:i + 3]) for i in range(8)])
    train, test, reference = acc_ax.get_lines()
    assert train.get_ydata().tolist() == [0.6, 0.8] and test.get_ydata().tolist() == [0.7, 0.85]
    assert list(reference.get_ydata()) == [0.985, 0.985]
    matrix = np.array([[5, 1], [0, 4]])
    fig = plot_confusion_matrix(matrix)
    assert len(fig.axes) == 2  # heatmap + colour bar
    assert sorted(t.get_text() for t in fig.axes[0].texts) == ["1", "4", "5"]  # the empty cell stays blank
    shown = np.ma.filled(np.ma.asarray(fig.axes[0].images[0].get_array(), dtype=float), np.nan)
    np.testing.assert_array_equal(shown, [[5, 1], [np.nan, 4]])  # zero cells are not coloured
    row_share = plot_confusion_matrix(matrix, normalise=True).axes[0].images[0].get_array()
    np.testing.assert_allclose(np.ma.filled(row_share[0], np.nan), [5 / 6, 1 / 6])
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    images[1, 0, 0] = 255
    mistakes = most_confident_mistakes(np.array([[0.2, 0.8], [0.9, 0.1], [0.4, 0.6]]), np.array([0, 1, 1]))
    figure = plot_mistakes(images, mistakes, columns=4)
    assert [ax.get_title() for ax in figure.axes[:2]] == ["true 1, pred 0\n90% sure", "true 0, pred 1\n80% sure"]
    assert figure.axes[0].images[0].get_array()[0, 0] == 255  # the first panel shows image 1, the surest mistake
    matplotlib.pyplot.close("all")


# The chapter itself runs in tests/test_notebooks.py (papermill, fast mode), which asserts its records.

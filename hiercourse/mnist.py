"""The article's MNIST network, a corrected one, and the training/evaluation around them.

Taught in chapter 06.

``ArticleCNN`` rebuilds the network of the article's section 5.2 layer for layer
(two unpadded 3x3 convolutions, no pooling, then a flatten to ``64*7*7``), so
the chapter can show that its forward pass fails. ``CorrectedCNN`` keeps the
article's widths (32 and 64 channels, 128 hidden units) and adds what makes
``64*7*7`` true: padding and 2x2 max-pooling after each convolution, plus
batch normalisation and dropout.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from hiercourse.datasets.mnist import PIXEL_MEAN, PIXEL_STD
from hiercourse.device import best_device
from hiercourse.errors import DataError
from hiercourse.models.base import count_parameters  # noqa: F401  (chapter 06 counts its networks' weights with it)
from hiercourse.notebook import progress_bar

N_CLASSES = 10
# Full-mode defaults, shared by chapter 06's parameters cell and scripts/mnist_full.py.
EPOCHS_OFFICIAL = 3  # official 60k training images
EPOCHS_SPLIT = 8  # offline fallback: 8k images from the 10k test file, so more passes
BATCH_SIZE = 128
LEARNING_RATE = 3e-3  # peak of the one-cycle schedule, with Adam


class ArticleCNN(nn.Module):
    """The article's section-5.2 network as printed: its forward pass raises a RuntimeError.

    Two unpadded 3x3 convolutions turn 28x28 into 24x24 (not 7x7), so the
    flatten to ``64*7*7`` features cannot fit. Taught in chapter 06.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, stride=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, stride=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, N_CLASSES)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 1, 28, 28] -> should be logits [B, 10]; raises a RuntimeError unless 49 divides B
        (and then returns 36864 B / 3136 rows instead of B).

        Taught in chapter 06.
        """
        x = self.relu(self.conv1(x))  # [B, 32, 26, 26]
        x = self.relu(self.conv2(x))  # [B, 64, 24, 24]
        x = x.view(-1, 64 * 7 * 7)  # the article's flatten: wrong size, fails for most batch sizes
        x = self.relu(self.fc1(x))
        return self.fc2(x)


class CorrectedCNN(nn.Module):
    """The article's network made to work: padded convolutions, 2x2 max-pooling, BatchNorm, dropout.

    28x28 -> conv(pad 1) -> 28x28 -> pool -> 14x14 -> conv(pad 1) -> 14x14 -> pool -> 7x7,
    so ``64*7*7 = 3136`` features reach the first dense layer, as the article intended.
    Taught in chapter 06.
    """

    def __init__(self, dropout: float = 0.25) -> None:
        super().__init__()
        self.features = nn.Sequential(
            # bias=False: BatchNorm's shift makes a convolution bias redundant
            nn.Conv2d(1, 32, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # [B, 64, 7, 7] -> [B, 3136], keeps the batch dimension whatever B is
            nn.Linear(64 * 7 * 7, 128),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(128, N_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised images [B, 1, 28, 28] (see :func:`to_model_input`) -> logits [B, 10]. Taught in chapter 06."""
        return self.classifier(self.features(x))


def trace_shapes(model: nn.Module, x: torch.Tensor) -> tuple[pd.DataFrame, str | None]:
    """Output shape and parameter count of every leaf layer, in call order, for input ``x``.

    ``x`` is a batch, e.g. [B, 1, 28, 28]. Returns the table (columns ``layer``,
    ``type``, ``output shape``, ``values per image``, ``parameters``) and the error
    message, None when the forward pass runs (when it fails, the table ends at the
    last layer that ran). Taught in chapter 06.
    """
    rows: list[dict] = []
    names = {module: name for name, module in model.named_modules()}

    def hook(module, _inputs, output):
        rows.append({
            "layer": names[module],
            "type": type(module).__name__,
            "output shape": tuple(output.shape),
            "values per image": int(np.prod(output.shape[1:])),
            "parameters": sum(p.numel() for p in module.parameters()),
        })

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    error = None
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    except RuntimeError as exc:
        error = str(exc)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return pd.DataFrame(rows), error


def to_model_input(images, device: torch.device | str | None = None) -> torch.Tensor:
    """uint8 images [N, 28, 28] -> float [N, 1, 28, 28], scaled to [0, 1] then standardised
    with the usual MNIST mean 0.1307 and std 0.3081. Taught in chapter 06."""
    images = torch.as_tensor(images)
    if images.dtype != torch.uint8:
        raise TypeError(f"expected uint8 images (0..255) of shape [N, 28, 28], got {images.dtype}")
    x = images.to(device=device, dtype=torch.float32).unsqueeze(1) / 255.0
    return (x - PIXEL_MEAN) / PIXEL_STD


@dataclass
class TrainingHistory:
    """Per-epoch loss and accuracy (train, and test when given), per-batch loss, wall time.

    Lists have one entry per epoch (``batch_loss``: one per batch); :meth:`table`
    lays them out. Returned by :func:`train`. Taught in chapter 06.
    """

    epochs: int
    batch_size: int
    n_train: int
    device: str
    loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    batch_loss: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    wall_time_s: float = 0.0

    def table(self) -> pd.DataFrame:
        """One row per epoch: epoch, loss, train (and test) accuracy, seconds. Taught in chapter 06."""
        frame = pd.DataFrame({
            "epoch": np.arange(1, len(self.loss) + 1),
            "loss": self.loss,
            "train accuracy": self.train_accuracy,
            "seconds": self.epoch_seconds,
        })
        if self.test_accuracy:
            frame.insert(3, "test accuracy", self.test_accuracy)
        return frame


def train(
    model: nn.Module,
    train_x,
    train_y,
    epochs: int = EPOCHS_OFFICIAL,
    batch_size: int = BATCH_SIZE,
    lr: float = LEARNING_RATE,
    device: torch.device | str | None = None,
    seed: int = 0,
    progress: bool = True,
    optimizer: str = "adam",
    test_x=None,
    test_y=None,
) -> TrainingHistory:
    """Train ``model`` with cross-entropy, a one-cycle learning-rate schedule peaking at ``lr``,
    and Adam (or ``optimizer="sgd"``: SGD with momentum 0.9).

    ``train_x`` are uint8 images [N, 28, 28] (normalised here, batch by batch),
    ``train_y`` labels [N]. With ``test_x``/``test_y`` the test accuracy is measured
    after each epoch (for the learning curves only: nothing is chosen by it).
    Returns a :class:`TrainingHistory`; the model is left trained, in eval mode.
    Taught in chapter 06.
    """
    device = torch.device(device) if device is not None else best_device()
    images = torch.as_tensor(train_x)
    labels = torch.as_tensor(train_y, dtype=torch.int64)
    if len(images) != len(labels):
        raise DataError(f"{len(images)} images but {len(labels)} labels")
    n = len(images)
    steps_per_epoch = (n + batch_size - 1) // batch_size
    model.to(device)
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True)
    else:
        raise DataError(f"optimizer must be 'adam' or 'sgd', not {optimizer!r}")
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    shuffler = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout masks
    history = TrainingHistory(epochs=epochs, batch_size=batch_size, n_train=n, device=str(device))
    bar = progress_bar(total=epochs * steps_per_epoch, disable=not progress, unit="batch")
    start = time.perf_counter()
    for epoch in range(epochs):
        epoch_start = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=shuffler)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        bar.set_description(f"epoch {epoch + 1}/{epochs}")
        batch_losses = []  # kept on the device: one transfer per epoch, not one per batch
        for step in range(steps_per_epoch):
            idx = order[step * batch_size:(step + 1) * batch_size]
            xb = to_model_input(images[idx], device)
            yb = labels[idx].to(device)
            logits = model(xb)
            loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
            detached = loss.detach()
            batch_losses.append(detached)
            loss_sum += detached * len(idx)
            correct += (logits.detach().argmax(1) == yb).sum()
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{detached.item():.3f}")
        history.batch_loss.extend(torch.stack(batch_losses).tolist())
        history.loss.append(float(loss_sum) / n)
        history.train_accuracy.append(float(correct) / n)
        if test_x is not None and test_y is not None:
            history.test_accuracy.append(evaluate(model, test_x, test_y, device=device).accuracy)
            bar.set_postfix(loss=f"{history.loss[-1]:.3f}", test_acc=f"{history.test_accuracy[-1]:.4f}")
        history.epoch_seconds.append(time.perf_counter() - epoch_start)
    bar.close()
    history.wall_time_s = time.perf_counter() - start
    model.eval()
    return history


@dataclass
class Evaluation:
    """Accuracy, predicted labels and class probabilities of a model on labelled images.

    ``accuracy`` (float), ``labels`` and ``predicted`` (int64 [N]), ``probabilities``
    ([N, 10]). Returned by :func:`evaluate`. Taught in chapter 06.
    """

    accuracy: float
    labels: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray

    def __repr__(self) -> str:
        return f"Evaluation(accuracy={self.accuracy:.4f} on {len(self.labels):,} images)"


@torch.no_grad()
def predict_proba(model: nn.Module, images, batch_size: int = 1000, device=None) -> torch.Tensor:
    """Softmax class probabilities [N, 10] (on the CPU) of uint8 ``images`` [N, 28, 28], computed in eval mode.

    Taught in chapter 06.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    images = torch.as_tensor(images)
    out = [
        torch.softmax(model(to_model_input(images[i:i + batch_size], device)), dim=1).cpu()
        for i in range(0, len(images), batch_size)
    ]
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, N_CLASSES)


def evaluate(model: nn.Module, images, labels, batch_size: int = 1000, device=None) -> Evaluation:
    """Accuracy of ``model`` on uint8 ``images`` [N, 28, 28] with ``labels`` [N], as an :class:`Evaluation`.

    Taught in chapter 06.
    """
    probs = predict_proba(model, images, batch_size, device).numpy()
    labels = np.asarray(labels, dtype=np.int64)
    predicted = probs.argmax(1)
    accuracy = float((predicted == labels).mean()) if len(labels) else float("nan")
    return Evaluation(accuracy, labels, predicted, probs)


def confusion_matrix(labels, predicted, n_classes: int = N_CLASSES) -> np.ndarray:
    """Counts [true, predicted] as an n_classes x n_classes int array (one bincount). Taught in chapter 06."""
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    return np.bincount(labels * n_classes + predicted, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def most_confident_mistakes(probabilities, labels, k: int = 16) -> pd.DataFrame:
    """The ``k`` wrong predictions the model was surest of: index, true label, predicted label,
    confidence in the prediction and probability it gave the true label. ``probabilities``
    is [N, n_classes], ``labels`` [N]; returns a DataFrame of at most ``k`` rows
    (columns ``index``, ``true``, ``predicted``, ``confidence``, ``p(true)``). Taught in chapter 06."""
    probs = np.asarray(probabilities)
    labels = np.asarray(labels, dtype=np.int64)
    predicted = probs.argmax(1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probs[wrong, predicted[wrong]]
    top = wrong[np.argsort(-confidence, kind="stable")[:k]]
    return pd.DataFrame({
        "index": top,
        "true": labels[top],
        "predicted": predicted[top],
        "confidence": probs[top, predicted[top]],
        "p(true)": probs[top, labels[top]],
    })

"""Plots for the MNIST chapter: learning curves, confusion matrix, confident mistakes.

Taught in chapter 06. Each function draws into a new figure and returns it, so a
notebook shows it and a script can ``fig.savefig(...)`` it.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def plot_learning_curves(history, smooth: int = 20, reference: float | None = None):
    """Training loss per batch (raw and moving average) and accuracy per epoch (train, test).

    ``history`` is a :class:`hiercourse.mnist.TrainingHistory`; ``reference`` draws a
    horizontal line on the accuracy panel (e.g. the accuracy the source article
    claims, quoted in chapter 06). Returns the Figure. Taught in chapter 06.
    """
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.8))
    batch_loss = np.asarray(history.batch_loss, dtype=float)
    steps_per_epoch = max(1, len(batch_loss) // max(1, len(history.loss)))
    x = np.arange(1, len(batch_loss) + 1) / steps_per_epoch  # in epochs
    ax_loss.plot(x, batch_loss, color="0.75", lw=0.8, label="per batch")
    if len(batch_loss) >= smooth > 1:
        kernel = np.ones(smooth) / smooth
        ax_loss.plot(x[smooth - 1:], np.convolve(batch_loss, kernel, mode="valid"),
                     color="C0", label=f"moving average ({smooth} batches)")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", yscale="log", title="Training loss")
    ax_loss.legend()

    epochs = np.arange(1, len(history.loss) + 1)
    ax_acc.plot(epochs, history.train_accuracy, "o-", label="train (during the epoch)")
    if history.test_accuracy:
        ax_acc.plot(epochs, history.test_accuracy, "s-", label="test (after the epoch)")
    if reference is not None:
        ax_acc.axhline(reference, color="C3", ls="--", lw=1, label=f"reference {reference:.1%}")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy", xticks=epochs)
    ax_acc.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.1%}"))
    ax_acc.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_confusion_matrix(matrix: np.ndarray, normalise: bool = False, title: str = "Confusion matrix"):
    """Heatmap of a confusion matrix (rows: true digit, columns: predicted), counts written in cells.

    With ``normalise`` each row is divided by its total (per-digit recall on the diagonal).
    The colour scale is logarithmic so that the few mistakes stay visible beside the
    large diagonal. ``matrix`` is [n_classes, n_classes] (``mnist.confusion_matrix``).
    Returns the Figure. Taught in chapter 06.
    """
    from matplotlib.colors import LogNorm

    matrix = np.asarray(matrix)
    values = matrix / matrix.sum(1, keepdims=True).clip(min=1) if normalise else matrix
    n = len(matrix)
    fig, ax = plt.subplots(figsize=(6.2, 5.4))
    shown = np.where(values > 0, values, np.nan)  # empty cells stay white
    positive = values[values > 0]
    norm = LogNorm(vmin=positive.min(), vmax=positive.max()) if positive.size else None
    image = ax.imshow(shown, cmap="Blues", norm=norm)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of row" if normalise else "count")
    threshold = np.sqrt(positive.min() * positive.max()) if positive.size else 0
    for i in range(n):
        for j in range(n):
            if values[i, j] > 0:
                text = f"{values[i, j]:.2f}" if normalise else f"{int(values[i, j])}"
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if values[i, j] > threshold else "black")
    ax.set(xticks=range(n), yticks=range(n), xlabel="predicted digit", ylabel="true digit", title=title)
    fig.tight_layout()
    return fig


def plot_mistakes(images: np.ndarray, mistakes: pd.DataFrame, columns: int = 8):
    """Grid of the images listed in ``mistakes`` (from ``most_confident_mistakes``), each titled
    with its true label, the prediction and the model's confidence. ``images`` are [N, 28, 28].
    Returns the Figure. Taught in chapter 06."""
    n = len(mistakes)
    if n == 0:
        fig, ax = plt.subplots(figsize=(4, 1))
        ax.text(0.5, 0.5, "no mistakes", ha="center", va="center")
        ax.axis("off")
        return fig
    rows = int(np.ceil(n / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.5 * columns, 2.1 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, row in zip(axes.ravel(), mistakes.itertuples(index=False)):
        ax.imshow(images[row.index], cmap="gray_r")
        ax.set_title(f"true {row.true}, pred {row.predicted}\n{row.confidence:.0%} sure", fontsize=8)
    fig.suptitle("Most confident mistakes")
    fig.tight_layout(h_pad=1.2)
    return fig


def plot_digits(images: np.ndarray, labels: np.ndarray, n: int = 16, columns: int = 8):
    """The first ``n`` images ([N, 28, 28]) with their labels ([N]) in a grid; returns the Figure.

    Taught in chapter 06.
    """
    rows = int(np.ceil(n / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.5 * rows), squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k < min(n, len(images)):
            ax.imshow(images[k], cmap="gray_r")
            ax.set_title(str(int(labels[k])), fontsize=9)
    fig.tight_layout()
    return fig

"""Plots for the mathematics chapters: images and feature maps, receptive fields, attention.

Taught in chapters 04 and 05.

Every function returns the matplotlib Figure so a notebook can show or save it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def _as_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def show_images(images, titles: Sequence[str] | None = None, ncols: int = 8, symmetric: bool = False,
                suptitle: str | None = None, size: float = 1.6):
    """A grid of 2-D arrays (feature maps, filters, gradients).

    ``symmetric=True`` uses a diverging colour map centred on 0 (filters and gradients,
    where the sign matters); otherwise grey levels. Taught in chapter 04.
    """
    images = [_as_numpy(im) for im in images]
    ncols = min(ncols, len(images))
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for k, (ax, im) in enumerate(zip(axes.flat, images)):
        if symmetric:
            bound = float(np.abs(im).max()) or 1.0
            ax.imshow(im, cmap="RdBu_r", vmin=-bound, vmax=bound)
        else:
            ax.imshow(im, cmap="gray")
        if titles is not None:
            ax.set_title(titles[k], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_receptive_fields(stacks: Mapping[str, Sequence], input_size: int | None = 28):
    """Receptive-field size after each layer, one line per stack of layers.

    ``stacks`` maps a label to the list returned by ``hiercourse.scratch.receptive_fields``.
    A dashed line marks ``input_size`` (e.g. a 28x28 MNIST digit). Taught in chapter 04.
    """
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, fields in stacks.items():
        sizes = [f.size for f in fields]
        ax.plot(range(len(sizes)), sizes, marker="o", label=label)
    if input_size:
        ax.axhline(input_size, color="grey", ls="--", lw=1)
        ax.text(0, input_size, f" whole {input_size}-pixel image", va="bottom", color="grey", fontsize=8)
    ax.set_xlabel("layers stacked")
    ax.set_ylabel("receptive field (pixels per side)")
    ax.set_title("How far one output can see")
    ax.legend()
    fig.tight_layout()
    return fig


def show_matrices(matrices: Mapping[str, object], xlabel: str | Sequence[str] = "key position",
                  ylabel: str | Sequence[str] = "query position",
                  cmap: str = "viridis", vmin: float | None = 0.0, vmax: float | None = None, size: float = 3.0,
                  ticklabels: Sequence[str] | None = None):
    """Heatmaps side by side (masks, attention weights) with axis titles and, optionally, a label per row/column
    (e.g. the tokens of a sequence). ``xlabel``/``ylabel`` may be one label for all panels or one per panel.
    Taught in chapter 05."""
    n = len(matrices)
    xlabels = [xlabel] * n if isinstance(xlabel, str) else list(xlabel)
    ylabels = [ylabel] * n if isinstance(ylabel, str) else list(ylabel)
    fig, axes = plt.subplots(1, n, figsize=(size * n, size), squeeze=False)
    for ax, (title, m), xlabel, ylabel in zip(axes[0], matrices.items(), xlabels, ylabels):
        im = ax.imshow(_as_numpy(m).astype(float), cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if ticklabels is not None:
            ax.set_xticks(range(len(ticklabels)), ticklabels, rotation=90, fontsize=7)
            ax.set_yticks(range(len(ticklabels)), ticklabels, fontsize=7)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def plot_scaling_sweep(table: pd.DataFrame):
    """Softmax saturation against d_k, with and without the 1/sqrt(d_k) scale.

    ``table`` has columns ``d_k``, ``scaled`` (bool) and the measured ``var_qk``,
    ``max_weight``, ``entropy``, ``grad_norm``. Taught in chapter 05.
    """
    panels = [
        ("var_qk", "variance of the score"),
        ("max_weight", "largest attention weight"),
        ("entropy", "entropy of the weights (nats)"),
        ("grad_norm", "gradient norm through softmax"),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.5))
    for ax, (column, title) in zip(axes, panels):
        for scaled, part in table.groupby("scaled"):
            part = part.sort_values("d_k")
            ax.plot(part["d_k"], part[column], marker="o", label="q.k / sqrt(d_k)" if scaled else "q.k (unscaled)")
        ax.set_xscale("log", base=2)
        if column in ("var_qk", "grad_norm"):
            ax.set_yscale("log")
        ax.set_xlabel("d_k")
        ax.set_title(title, fontsize=10)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_cost_vs_length(table: pd.DataFrame):
    """Measured time and peak memory of attention against sequence length (log-log, with an L^2 guide).

    ``table`` has columns ``length``, ``seconds``, ``peak_mib``. Taught in chapter 05.
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    lengths = table["length"].to_numpy(dtype=float)
    for ax, column, label in ((axes[0], "seconds", "time per call (s)"), (axes[1], "peak_mib", "peak memory (MiB)")):
        values = table[column].to_numpy(dtype=float)
        ax.loglog(lengths, values, marker="o", label="measured")
        guide = values[-1] * (lengths / lengths[-1]) ** 2
        ax.loglog(lengths, guide, ls="--", color="grey", label="slope 2 ($L^2$)")
        # one plain tick per measured length: log-scale minor labels (3x10^2, 4x10^2) collide
        ax.set_xticks(lengths, [str(int(length)) for length in lengths])
        ax.minorticks_off()
        ax.set_xlabel("sequence length L")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    fig.suptitle("Self-attention cost grows like $L^2$")
    fig.tight_layout()
    return fig


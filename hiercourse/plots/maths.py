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

    ``table`` has columns ``length``, ``seconds``, ``peak_mib`` and optionally ``wall_seconds``: then
    ``seconds`` is read as CPU time and the wall-clock time is drawn beside it (dotted). Taught in chapter 05.
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    lengths = table["length"].to_numpy(dtype=float)
    has_wall = "wall_seconds" in table
    for ax, column, label in ((axes[0], "seconds", "time per call (s)"), (axes[1], "peak_mib", "peak memory (MiB)")):
        values = table[column].to_numpy(dtype=float)
        cpu = column == "seconds" and has_wall
        ax.loglog(lengths, values, marker="o", label="measured (CPU time)" if cpu else "measured")
        guide = values[-1] * (lengths / lengths[-1]) ** 2
        ax.loglog(lengths, guide, ls="--", color="grey", label="slope 2 ($L^2$)")
        if column == "seconds" and has_wall:
            ax.loglog(lengths, table["wall_seconds"].to_numpy(dtype=float), marker=".", ls=":", color="tab:red",
                      label="wall-clock time")
        # one plain tick per measured length: log-scale minor labels (3x10^2, 4x10^2) collide
        ax.set_xticks(lengths, [str(int(length)) for length in lengths])
        ax.minorticks_off()
        ax.set_xlabel("sequence length L")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    fig.suptitle("Self-attention cost against sequence length (dashed: the $L^2$ of the operation count)")
    fig.tight_layout()
    return fig


def plot_conv_window(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1):
    """One convolution layer on a square grid: the padded input, two windows, the output.

    Left: the ``size`` x ``size`` input framed by ``padding`` zero cells (grey), the taps
    of the window that makes output (0, 0) (blue) and of its right neighbour, output
    (0, 1), one ``stride`` further (orange; cells both use are purple). Right: the output
    grid, ``conv_output_size(size, kernel, stride, padding, dilation)`` per side, with the
    same two outputs coloured. Raises ``DataError`` when the kernel does not fit.
    Returns the Figure (axes 0: input, 1: output). Taught in chapter 04.
    """
    from matplotlib.colors import ListedColormap

    from hiercourse.scratch.shapes import conv_output_size

    out = conv_output_size(size, kernel, stride, padding, dilation)
    full = size + 2 * padding
    # codes: 0 input, 1 zero padding, 2 taps of output (0, 0), 3 taps of output (0, 1), 4 both
    grid = np.ones((full, full), dtype=int)
    grid[padding:padding + size, padding:padding + size] = 0
    taps = dilation * np.arange(kernel)
    first = np.zeros_like(grid, dtype=bool)
    first[np.ix_(taps, taps)] = True
    second = np.zeros_like(grid, dtype=bool)
    if out > 1:
        second[np.ix_(taps, taps + stride)] = True
    grid[first] = 2
    grid[second] = 3
    grid[first & second] = 4
    out_grid = np.zeros((out, out), dtype=int)
    out_grid[0, 0] = 2
    if out > 1:
        out_grid[0, 1] = 3
    cmap = ListedColormap(["#ffffff", "#d0d0d0", "#4c72b0", "#dd8452", "#8c5fa8"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), gridspec_kw={"width_ratios": [max(full, 1), max(out, 1)]})
    for ax, image, title in (
        (axes[0], grid, f"input {size}x{size}, padding {padding} (grey)\nkernel {kernel}, dilation {dilation}, "
                        f"stride {stride}"),
        (axes[1], out_grid, f"output {out}x{out}"),
    ):
        ax.imshow(image, cmap=cmap, vmin=0, vmax=4)
        n = image.shape[0]
        ax.set_xticks(np.arange(-0.5, n, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, n, 1), minor=True)
        ax.grid(which="minor", color="#888888", lw=0.5)
        ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
        ax.set_title(title, fontsize=9)
    fig.suptitle(f"out = floor(({size} + 2*{padding} - {dilation}*({kernel}-1) - 1) / {stride}) + 1 = {out}; "
                 "blue: window of output (0,0), orange: of output (0,1), purple: both", fontsize=9)
    fig.tight_layout()
    return fig


def plot_softmax_spread(weights: Mapping[str, object], d_k: int):
    """How spread out softmax weights are, for scores with and without the ``1/sqrt(d_k)`` scale.

    ``weights`` maps a label (e.g. ``"q.k (unscaled)"``, ``"q.k / sqrt(d_k)"``) to an array
    ``[n_queries, n_keys]`` of softmax weights (rows sum to 1). Left: the first query's
    weights, sorted; right: a histogram of every query's largest weight (1 = one-hot).
    Returns the Figure. Taught in chapter 05.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for offset, (label, w) in enumerate(weights.items()):
        w = _as_numpy(w)
        first = np.sort(w[0])[::-1]
        width = 0.8 / len(weights)
        axes[0].bar(np.arange(len(first)) + offset * width, first, width=width, label=label)
        axes[1].hist(w.max(axis=1), bins=np.linspace(0, 1, 41), alpha=0.6, label=label)
    axes[0].set_xlabel("key, sorted by weight")
    axes[0].set_ylabel("softmax weight")
    axes[0].set_title(f"one query's weights (d_k = {d_k})", fontsize=10)
    axes[0].set_ylim(0, 1)
    axes[1].set_xlabel("largest weight of a query (1 = all attention on one key)")
    axes[1].set_ylabel("queries")
    axes[1].set_title("how saturated the softmax is", fontsize=10)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig

"""Plots of chapter 09: learning curves, benchmark bars, full vs sampled rankings, cost, data hunger.

Every function takes plain results (``TrainResult``, the benchmark's runs frame,
evaluation group frames) and returns the matplotlib ``Figure`` (or draws on ``ax``).
Taught in chapter 09.
"""
from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

__all__ = [
    "reference_line",
    "plot_learning_curves",
    "plot_benchmark",
    "plot_rank_reversal",
    "plot_cost",
    "plot_data_hunger",
    "plot_groups",
]


def _history(result) -> pd.DataFrame:
    return result.history if hasattr(result, "history") else pd.DataFrame(result)


def plot_learning_curves(results: Mapping[str, object] | object, x: str = "epoch", axes=None):
    """Training loss and validation NDCG@10 per epoch (``x="epoch"``) or per second (``x="elapsed"``).

    ``results``: one ``TrainResult`` (or history frame) or a dict name -> result.
    Taught in chapter 09.
    """
    if not isinstance(results, Mapping):
        results = {"model": results}
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    else:
        fig = axes[0].figure
    for name, result in results.items():
        history = _history(result)
        line, = axes[0].plot(history[x], history["train_loss"], marker=".", label=name)
        valid = history.dropna(subset=["valid_ndcg@10"]) if "valid_ndcg@10" in history else history.iloc[:0]
        axes[1].plot(valid[x], valid["valid_ndcg@10"], marker=".", color=line.get_color(), label=name)
        best = getattr(result, "best_epoch", None)
        if best and x == "epoch":
            axes[1].axvline(best, color=line.get_color(), alpha=0.3, linestyle=":")
    xlabel = "epoch" if x == "epoch" else "training time (s)"
    axes[0].set(xlabel=xlabel, ylabel="training loss", title="training loss")
    axes[1].set(xlabel=xlabel, ylabel="NDCG@10 (validation, full ranking)", title="validation NDCG@10")
    if x == "epoch":  # epochs are whole numbers: no 1.5 on the axis
        for ax in axes[:2]:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def reference_line(ax, value: float, label: str, color: str = "grey"):
    """A dashed horizontal line at ``value`` labelled ``label`` (a baseline the other marks are read against).

    The label goes into the axes' legend. Taught in chapter 09.
    """
    return ax.axhline(value, color=color, linestyle="--", linewidth=1.2, label=label, zorder=0)


REFERENCE_LABELS = {"pop": "most popular"}


def plot_benchmark(runs: pd.DataFrame, metrics=("ndcg@10", "sampled_ndcg@10"), axes=None, title: str | None = None,
                   reference: str | None = "pop"):
    """Bars of each metric per model, mean ± std over seeds (error bars), **one panel per metric**.

    Metrics of different scales (full-ranking NDCG@10 about 0.02-0.05, sampled NDCG@10 about 0.4-0.5 on
    MovieLens) never share an axis. ``reference``: a model of ``runs`` (default ``"pop"``, most popular)
    whose mean is drawn as a dashed line on every panel, the baseline the bars are read against
    (``None``: no line; a model not in ``runs``: no line). ``axes``: one matplotlib axes per metric (or
    one axes for a single metric); by default a row of new ones. Taught in chapter 09.
    """
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    grouped = runs.groupby("model", sort=False)
    mean, std = grouped[metrics].mean(), grouped[metrics].std(ddof=0).fillna(0.0)
    if axes is None:
        fig, axes = plt.subplots(1, len(metrics), figsize=(max(6, 0.9 * len(mean)) * (0.75 if len(metrics) > 1 else 1)
                                                            * len(metrics), 3.8), squeeze=False)
        axes = list(axes[0])
    else:
        axes = list(np.atleast_1d(axes))
        fig = axes[0].figure
    if len(axes) != len(metrics):
        raise ValueError(f"{len(metrics)} metrics need {len(metrics)} axes, got {len(axes)}")
    positions = np.arange(len(mean))
    for i, (ax, metric) in enumerate(zip(axes, metrics)):
        ax.bar(positions, mean[metric], 0.7, yerr=std[metric], capsize=3, color=f"C{i}")
        if reference is not None and reference in mean.index:
            reference_line(ax, mean.loc[reference, metric],
                           f"{REFERENCE_LABELS.get(reference, reference)} ({mean.loc[reference, metric]:.3f})")
            ax.legend(fontsize=8, loc="upper left")
        ax.set_xticks(positions, mean.index, rotation=30, ha="right")
        ax.set(ylabel=metric, title=f"{title + ': ' if title else ''}{metric}")
    fig.tight_layout()
    return fig


def plot_rank_reversal(runs: pd.DataFrame, full: str = "ndcg@10", sampled: str = "sampled_ndcg@10", ax=None):
    """Each model's place (1 = best) under the full-ranking metric and under the sampled one.

    Crossing lines are pairs of models whose order the sampled metric reverses
    (Krichene & Rendle, KDD 2020). Taught in chapter 09.
    """
    mean = runs.groupby("model", sort=False)[[full, sampled]].mean()
    places = mean.rank(ascending=False, method="first")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 0.45 * len(mean) + 1.5))
    else:
        fig = ax.figure
    for model, row in places.iterrows():
        ax.plot([0, 1], [row[full], row[sampled]], marker="o")
        ax.text(-0.04, row[full], f"{model} ({mean.loc[model, full]:.3f})", ha="right", va="center", fontsize=8)
        ax.text(1.04, row[sampled], f"{model} ({mean.loc[model, sampled]:.3f})", ha="left", va="center", fontsize=8)
    ax.set_xticks([0, 1], [f"full ranking\n{full}", f"100 sampled negatives\n{sampled}"])
    ax.set_xlim(-0.9, 1.9)
    ax.invert_yaxis()
    ax.set_yticks([])
    ax.set_title("model order: full vs sampled metric")
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


def plot_cost(runs: pd.DataFrame, metric: str = "ndcg@10", ax=None, reference: str | None = "pop"):
    """Training time against quality, point size ~ parameters: what each model costs. Taught in chapter 09.

    ``reference``: a model of ``runs`` (default ``"pop"``) whose ``metric`` is drawn as a dashed line.
    """
    mean = runs.groupby("model", sort=False)[[metric, "train_seconds", "parameters"]].mean()
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 4))
    else:
        fig = ax.figure
    size = 30 + 300 * np.sqrt(mean["parameters"] / max(mean["parameters"].max(), 1))
    ax.scatter(mean["train_seconds"].clip(lower=0.1), mean[metric], s=size, alpha=0.6)
    for model, row in mean.iterrows():
        ax.annotate(f"{model}\n{row['parameters']:,.0f} params", (max(row["train_seconds"], 0.1), row[metric]),
                    fontsize=7, xytext=(4, 4), textcoords="offset points")
    if reference is not None and reference in mean.index:
        reference_line(ax, mean.loc[reference, metric],
                       f"{REFERENCE_LABELS.get(reference, reference)} ({mean.loc[reference, metric]:.3f})")
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xscale("log")
    ax.set(xlabel="training time (s, log scale)", ylabel=f"{metric} (test, full ranking)",
           title="quality vs cost (size ~ parameters)")
    fig.tight_layout()
    return fig


def plot_data_hunger(frame: pd.DataFrame, metric: str = "ndcg@10", ax=None,
                     references: Mapping[str, float] | None = None):
    """``metric`` against the fraction of training data used, one line per model.

    ``frame`` columns: ``model``, ``fraction``, ``metric`` (several seeds: averaged), and optionally
    ``se`` (a standard error, drawn as error bars). ``references``: label -> value, each a dashed
    horizontal line (a baseline that needs no training, e.g. ``{"most popular": 0.018}``).
    Taught in chapter 09.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.8))
    else:
        fig = ax.figure
    for model, part in frame.groupby("model", sort=False):
        curve = part.groupby("fraction")[metric].mean()
        if "se" in part:
            ax.errorbar(curve.index, curve.values, yerr=part.groupby("fraction")["se"].mean().values, marker="o",
                        capsize=3, label=model)
        else:
            ax.plot(curve.index, curve.values, marker="o", label=model)
    for i, (label, value) in enumerate((references or {}).items()):
        reference_line(ax, value, f"{label} ({value:.3f})", color="grey" if i == 0 else f"C{7 + i}")
    ax.set(xlabel="fraction of the training windows kept", ylabel=f"{metric} (test, full ranking)",
           title="data hunger")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_groups(groups: Mapping[str, pd.DataFrame], metric: str = "ndcg@10", ax=None, title: str = ""):
    """``metric`` per user group (activity bucket or head/tail), one bar group per model.

    ``groups``: model name -> the ``by_activity`` / ``by_popularity`` frame of ``evaluate``.
    Taught in chapter 09.
    """
    table = pd.DataFrame({name: frame[metric] for name, frame in groups.items()})
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 3.8))
    else:
        fig = ax.figure
    table.plot.bar(ax=ax, rot=0)
    first = next(iter(groups.values()))
    ax.set_xticks(range(len(table)), [f"{label}\n({int(n)} users)" for label, n in zip(table.index, first["n_users"])])
    ax.set(ylabel=metric, xlabel="", title=title or f"{metric} by group")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig

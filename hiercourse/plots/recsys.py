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

__all__ = [
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
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_benchmark(runs: pd.DataFrame, metrics=("ndcg@10", "sampled_ndcg@10"), ax=None, title: str | None = None):
    """Bars of each metric per model, mean ± std over seeds (error bars). Taught in chapter 09."""
    grouped = runs.groupby("model", sort=False)
    mean, std = grouped[list(metrics)].mean(), grouped[list(metrics)].std(ddof=0).fillna(0.0)
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(mean)), 3.8))
    else:
        fig = ax.figure
    width = 0.8 / len(metrics)
    positions = np.arange(len(mean))
    for i, metric in enumerate(metrics):
        ax.bar(positions + (i - (len(metrics) - 1) / 2) * width, mean[metric], width, yerr=std[metric],
               capsize=3, label=metric)
    ax.set_xticks(positions, mean.index, rotation=30, ha="right")
    ax.set(ylabel="score", title=title or "benchmark (mean ± std over seeds)")
    ax.legend(fontsize=8)
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


def plot_cost(runs: pd.DataFrame, metric: str = "ndcg@10", ax=None):
    """Training time against quality, point size ~ parameters: what each model costs. Taught in chapter 09."""
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
    ax.set_xscale("log")
    ax.set(xlabel="training time (s, log scale)", ylabel=f"{metric} (test, full ranking)",
           title="quality vs cost (size ~ parameters)")
    fig.tight_layout()
    return fig


def plot_data_hunger(frame: pd.DataFrame, metric: str = "ndcg@10", ax=None):
    """``metric`` against the fraction of training data used, one line per model.

    ``frame`` columns: ``model``, ``fraction``, ``metric`` (several seeds: averaged).
    Taught in chapter 09.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.8))
    else:
        fig = ax.figure
    for model, part in frame.groupby("model", sort=False):
        curve = part.groupby("fraction")[metric].mean()
        ax.plot(curve.index, curve.values, marker="o", label=model)
    ax.set(xlabel="fraction of the training users' histories kept", ylabel=f"{metric} (test)",
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

"""Tests for hiercourse.plots.recsys: metrics of different scales on separate axes, baselines as reference lines."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from hiercourse.plots.recsys import plot_benchmark, plot_cost, plot_data_hunger, reference_line


def _runs() -> pd.DataFrame:
    rows = []
    for seed in range(3):
        rows.append({"model": "pop", "seed": seed, "ndcg@10": 0.018, "sampled_ndcg@10": 0.35,
                     "train_seconds": 0.0, "parameters": 100})
        rows.append({"model": "sasrec", "seed": seed, "ndcg@10": 0.047 + 0.001 * seed,
                     "sampled_ndcg@10": 0.49, "train_seconds": 90.0, "parameters": 7000})
    return pd.DataFrame(rows)


def _dashed(ax) -> list:
    return [line for line in ax.get_lines() if line.get_linestyle() == "--"]


def test_reference_line_is_a_labelled_dashed_horizontal_line():
    fig, ax = plt.subplots()
    line = reference_line(ax, 0.25, "baseline")
    assert line.get_linestyle() == "--" and line.get_label() == "baseline"
    assert list(line.get_ydata()) == [0.25, 0.25]
    plt.close(fig)


def test_benchmark_draws_each_metric_on_its_own_axes_with_the_most_popular_line():
    """Full-ranking (~0.02-0.05) and sampled (~0.35-0.5) NDCG never share a linear axis."""
    runs = _runs()
    fig = plot_benchmark(runs)
    axes = fig.axes
    assert len(axes) == 2
    for ax, metric in zip(axes, ("ndcg@10", "sampled_ndcg@10")):
        assert ax.get_ylabel() == metric
        heights = [patch.get_height() for patch in ax.patches]
        assert heights == pytest.approx(runs.groupby("model", sort=False)[metric].mean().tolist())
        (line,) = _dashed(ax)
        assert line.get_ydata()[0] == pytest.approx(runs.loc[runs["model"] == "pop", metric].mean())
        assert "most popular" in line.get_label()
    # the full-ranking panel is scaled to its own values, not to the sampled ones
    assert axes[0].get_ylim()[1] < 0.1
    plt.close(fig)
    fig = plot_benchmark(runs, metrics="ndcg@10", reference=None)
    assert len(fig.axes) == 1 and not _dashed(fig.axes[0])
    plt.close(fig)
    with pytest.raises(ValueError, match="2 metrics need 2 axes"):
        plot_benchmark(runs, axes=plt.subplots()[1])
    plt.close("all")


def test_cost_and_data_hunger_carry_their_baselines():
    fig = plot_cost(_runs())
    (line,) = _dashed(fig.axes[0])
    assert line.get_ydata()[0] == pytest.approx(0.018)
    plt.close(fig)
    frame = pd.DataFrame({"model": ["DNN", "DNN"], "fraction": [0.5, 1.0], "ndcg@10": [0.02, 0.03],
                          "se": [0.004, 0.005]})
    fig = plot_data_hunger(frame, references={"most popular": 0.018})
    ax = fig.axes[0]
    (line,) = _dashed(ax)
    assert line.get_ydata()[0] == pytest.approx(0.018) and line.get_label().startswith("most popular")
    assert "most popular (0.018)" in [text.get_text() for text in ax.get_legend().get_texts()]
    plt.close(fig)


def test_learning_curves_put_only_whole_epochs_on_the_axis():
    from types import SimpleNamespace

    from hiercourse.plots.recsys import plot_learning_curves

    history = pd.DataFrame({"epoch": [1, 2, 3, 4], "train_loss": [4.0, 3.0, 2.5, 2.2],
                            "valid_ndcg@10": [0.01, 0.02, 0.025, 0.03]})
    fig = plot_learning_curves({"model": SimpleNamespace(history=history, best_epoch=4)})
    fig.canvas.draw()
    for ax in fig.axes[:2]:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    plt.close(fig)


def test_slice_bars_keep_each_models_colour_across_panels():
    """plot_slices: one bar per model and slice, at its value; ``colors`` fixes a model's colour whatever the other
    models of the panel (chapter 08 shows different variants per data set)."""
    import matplotlib.colors as mcolors

    from hiercourse.plots.challenges import plot_slices

    table = pd.DataFrame({"sasrec": [0.0, 0.5], "sasrec se": [0.0, 0.01], "hier": [0.3, 0.55], "hier se": [0.02, 0.01],
                          "n_users": [10, 20]}, index=pd.Index(["0 (new)", ">50"], name="count"))
    fig, axes = plt.subplots(1, 2)
    plot_slices(table, ["sasrec", "hier"], ax=axes[0], colors={"hier": "tab:purple"})
    plot_slices(table, ["hier"], ax=axes[1], colors={"hier": "tab:purple"})
    for ax, expected in zip(axes, (4, 2)):
        bars = [p for p in ax.patches]
        assert len(bars) == expected
        hier = bars[-2:]  # the last model's bars
        assert all(mcolors.same_color(b.get_facecolor(), "tab:purple") for b in hier)
        assert [b.get_height() for b in hier] == [0.3, 0.55]
    plt.close(fig)

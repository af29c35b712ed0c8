"""The explorers of chapters 04, 05 and 09: built, driven by setting their controls, and their drawings
checked against the course's own formulas (``hiercourse.scratch``) and ``recommend``.

``interactive=True`` builds the ipywidgets controls without a Jupyter frontend; setting a
control's ``value`` runs the same redraw a learner's slider does.
"""
from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hiercourse import widgets  # noqa: E402
from hiercourse.errors import DataError  # noqa: E402
from hiercourse.scratch import shapes  # noqa: E402
from hiercourse.scratch.attention import causal_mask  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _output_grid(fig) -> np.ndarray:
    """The output-grid image of plot_conv_window (its second axes)."""
    return np.asarray(fig.axes[1].images[0].get_array())


def _input_grid(fig) -> np.ndarray:
    return np.asarray(fig.axes[0].images[0].get_array())


def test_conv_explorer_draws_the_output_size_of_the_shapes_formula(capsys):
    assert not widgets.widgets_available()
    assert widgets.conv_explorer(size=8, interactive=False) is None  # static: drawn, no widget
    assert "output size" in capsys.readouterr().out
    explorer = widgets.conv_explorer(size=12, interactive=True)
    rng = np.random.default_rng(0)
    checked = 0
    while checked < 15:
        size, kernel, stride, padding, dilation = (int(rng.integers(1, 20)), int(rng.integers(1, 6)),
                                                    int(rng.integers(1, 4)), int(rng.integers(0, 3)),
                                                    int(rng.integers(1, 3)))
        for name, value in dict(size=size, kernel=kernel, stride=stride, padding=padding, dilation=dilation).items():
            explorer.controls[name].value = value
        span = dilation * (kernel - 1) + 1
        if size + 2 * padding < span:  # does not fit: a message, no figure
            assert explorer.figure is None and "does not fit" in explorer.error
            continue
        expected = shapes.conv_output_size(size, kernel, stride, padding, dilation)
        assert explorer.error is None
        assert explorer.result["output size"].iloc[0] == expected
        assert _output_grid(explorer.figure).shape == (expected, expected)
        grid = _input_grid(explorer.figure)
        assert grid.shape == (size + 2 * padding,) * 2
        # the first window's taps (codes 2, or 4 where the second window shares them): kernel^2 cells, d apart
        first = np.isin(grid, (2, 4))
        taps = dilation * np.arange(kernel)
        assert first.sum() == kernel ** 2 and first[np.ix_(taps, taps)].all()
        # the second window is the first one moved by the stride, drawn only when there is a second output
        second = np.isin(grid, (3, 4))
        assert second.sum() == (kernel ** 2 if expected > 1 else 0)
        if expected > 1:
            assert second[np.ix_(taps, taps + stride)].all()
        checked += 1


def test_conv_explorer_stacks_layers_with_the_receptive_field_recurrence():
    explorer = widgets.conv_explorer(size=28, interactive=True)
    explorer.controls["layers"].value = 4
    explorer.controls["stride"].value = 2
    explorer.controls["padding"].value = 1
    table = explorer.result
    fields = shapes.receptive_fields([(f"c{i}", 3, 2) for i in range(4)])[1:]
    assert table["receptive field"].tolist() == [f.size for f in fields] == [3, 7, 15, 31]
    sizes = [28]
    for _ in range(4):
        sizes.append(shapes.conv_output_size(sizes[-1], 3, 2, 1))
    assert table["output size"].tolist() == sizes[1:] == [14, 7, 4, 2]
    # a 5x5 kernel stops fitting after two unpadded layers of 12 -> 8 -> 4: the table stops there
    table = widgets.conv_layer_summary(12, 5, 1, 0, 1, layers=4)
    assert table["output size"].tolist() == [8, 4]
    with pytest.raises(DataError, match="does not fit"):
        widgets.conv_layer_summary(3, 5)


def test_softmax_spread_variance_is_d_k_and_scaling_keeps_the_weights_spread():
    explorer = widgets.softmax_explorer(d_k=4, interactive=True)
    stats = {}
    for d_k in (4, 64, 1024):
        explorer.controls["d_k"].value = d_k
        stats[d_k] = explorer.result
        assert len(explorer.figure.axes) == 2
    for d_k, table in stats.items():
        # Var(q.k) = d_k for independent N(0, 1) entries; the scaled scores have variance 1
        assert table.loc["q.k (unscaled)", "score variance"] == pytest.approx(d_k, rel=0.1)
        assert table.loc["q.k / sqrt(d_k)", "score variance"] == pytest.approx(1.0, rel=0.1)
        for label in table.index:
            assert table.loc[label, "mean entropy (nats)"] <= math.log(16) + 1e-6
    unscaled = [stats[d]["mean largest weight"]["q.k (unscaled)"] for d in (4, 64, 1024)]
    scaled = [stats[d]["mean largest weight"]["q.k / sqrt(d_k)"] for d in (4, 64, 1024)]
    assert unscaled == sorted(unscaled) and unscaled[-1] > 0.9  # saturates towards one-hot
    assert max(scaled) - min(scaled) < 0.05  # the same spread at every width
    spread = widgets.softmax_spread(8, n_keys=5, n_queries=7)
    for w in spread["weights"].values():
        assert w.shape == (7, 5) and torch.allclose(w.sum(dim=1), torch.ones(7))


def test_mask_explorer_draws_the_causal_and_padding_mask():
    explorer = widgets.mask_explorer(interactive=True)
    explorer.controls["length"].value = 5
    explorer.controls["lengths"].value = "5, 3"
    fig = explorer.figure
    assert len([ax for ax in fig.axes if ax.images]) == 2
    drawn = np.stack([np.asarray(ax.images[0].get_array()) for ax in fig.axes if ax.images]).astype(bool)
    expected = causal_mask(5)[None].repeat(2, 1, 1)
    expected[1, :, :2] = True  # left padding: the first 5 - 3 keys of sequence 2 are padding
    assert (drawn == expected.numpy()).all()
    assert explorer.result["queries with no visible key"].tolist() == [0, 2]
    explorer.controls["padding_side"].value = "right"
    explorer.controls["causal"].value = False
    mask = widgets.attention_mask(5, "5, 3", causal=False, padding_side="right")
    assert (mask[0] == False).all() and (mask[1, :, 3:]).all() and not mask[1, :, :3].any()  # noqa: E712
    drawn = np.asarray([ax for ax in explorer.figure.axes if ax.images][1].images[0].get_array()).astype(bool)
    assert (drawn == mask[1].numpy()).all()
    explorer.controls["lengths"].value = "7"  # longer than L: a message, not an exception
    assert explorer.figure is None and "does not fit" in explorer.error
    with pytest.raises(DataError, match="whole numbers"):
        widgets.parse_lengths("3, x")


def test_top_k_explorer_shows_each_models_recommend_list(capsys):
    from hiercourse.datasets.schema import InteractionData
    from hiercourse.datasets.shop import make_shop
    from hiercourse.models import build_model
    from hiercourse.preprocessing import collapse_repeats, leave_one_out
    from hiercourse.recommend import recommend

    data = make_shop("tiny", seed=0)
    split = leave_one_out(InteractionData("shop", collapse_repeats(data.interactions), data.items, info=data.info))
    torch.manual_seed(0)
    models = {"popular": build_model("pop", split), "SASRec": build_model("sasrec", split, dim=8, max_len=10)}
    models["popular"].fit(split)
    users = split.idmap.decode_users([0, 3])
    assert widgets.top_k_explorer(models, split, users=users, k=5, max_len=10, interactive=False) is None
    assert "last items before the test item" in capsys.readouterr().out
    explorer = widgets.top_k_explorer(models, split, users=users, k=5, max_len=10, interactive=True)
    explorer.controls["user"].value = int(users[1])
    table = explorer.result
    assert list(table.index) == [1, 2, 3, 4, 5]
    for label, model in models.items():
        expected = recommend(model, split, int(users[1]), k=5, max_len=10)
        assert table[(label, "title")].tolist() == expected["title"].tolist()
        assert table[(label, "hit")].tolist() == expected["hit"].tolist()
    common = set(table[("popular", "title")]) & set(table[("SASRec", "title")])
    assert set(table.loc[table[("SASRec", "in all")], ("SASRec", "title")]) == common
    with pytest.raises(ValueError, match="no models"):
        widgets.compare_top_k({}, split, int(users[0]))

"""User and item features, category shares and encodings: known answers on small frames, sums to 1 on real data."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from hiercourse.datasets import load
from hiercourse.datasets.schema import DataError, InteractionData, tidy_interactions, tidy_items
from hiercourse.datasets.shop import PRESETS, make_shop
from hiercourse.features import (
    category_shares,
    embedding,
    encoding_cost,
    event_counts,
    genre_shares,
    gini,
    item_popularity,
    long_tail_summary,
    memory_bytes,
    multi_hot,
    one_hot,
    recency,
    sessionize,
    share_distance,
    split_level_shares,
    user_features,
)
from hiercourse.preprocessing import collapse_repeats, leave_one_out

DAY = 86_400


@pytest.fixture(scope="module")
def hand():
    """User 1: two sessions on day 0 and one on day 2; user 2: one session."""
    frame = tidy_interactions(pd.DataFrame({
        "user": [1, 1, 1, 1, 1, 2, 2],
        "item": [10, 10, 10, 20, 30, 20, 20],
        "timestamp": [0, 10, 20, 4000, 2 * DAY, 100, 200],
        "event": ["view", "click", "purchase", "view", "view", "view", "cart"],
    }))
    items = tidy_items(pd.DataFrame({
        "item": [10, 20, 30],
        "title": ["x", "y", "z"],
        "category_path": ["Home > Lamps", "Home > Chairs", "Office > Desks"],
        "categories": [("Home", "Sale"), ("Home",), ("Office",)],
    }))
    return InteractionData("hand", frame, items)


def test_sessionize(hand):
    assert sessionize(hand.interactions).tolist() == [0, 0, 0, 1, 2, 3, 3]
    assert sessionize(hand.interactions, gap=10 * DAY).tolist() == [0, 0, 0, 0, 0, 1, 1]
    shuffled = hand.interactions.iloc[::-1]
    with pytest.raises(DataError, match="order"):
        sessionize(shuffled)


def test_user_features_known_answers(hand):
    f = user_features(hand.interactions)
    one, two = f.loc[1], f.loc[2]
    assert one.events == 5 and one.distinct_items == 3 and one.active_days == 2 and one.sessions == 3
    assert one.events_per_active_day == 2.5 and one.tenure_days == 2.0
    assert one.n_view == 3 and one.n_click == 1 and one.n_purchase == 1 and one.n_cart == 0
    assert one.conversion == pytest.approx(1 / 3) and one.purchases_per_session == pytest.approx(1 / 3)
    assert one.recency_s == 0 and two.recency_s == 2 * DAY - 200
    assert two.sessions == 1 and two.n_purchase == 0 and two.conversion == 0
    assert recency(hand.interactions, end=3 * DAY).tolist() == [DAY, 3 * DAY - 200]
    counts = event_counts(hand.interactions)
    assert list(counts.columns) == ["n_view", "n_click", "n_cart", "n_purchase", "n_rating"]
    assert counts.to_numpy().sum() == 7


def test_user_features_recovers_true_sessions():
    shop = make_shop("tiny", seed=2)
    f = user_features(shop.interactions)
    assert (f["sessions"].to_numpy() == shop.truth["n_sessions"]).all()
    assert (f["n_view"] >= f["n_click"]).all() and (f["n_click"] >= f["n_cart"]).all()


def test_item_popularity_and_long_tail(hand):
    pop = item_popularity(hand.interactions)
    assert pop.index.tolist() == [20, 10, 30]  # equal counts: more distinct users first
    assert pop["count"].tolist() == [3, 3, 1] and pop["users"].tolist() == [2, 1, 1]
    assert pop["rank"].tolist() == [1, 2, 3] and pop["share"].sum() == pytest.approx(1)
    # the head is the top ceil(20 % of 3) = 1 item and every item tied with it: 20 and 10 (3 events each)
    assert pop["head"].tolist() == [True, True, False]
    summary = long_tail_summary(hand.interactions)
    assert summary["head_share"] == pytest.approx(6 / 7) and summary["tail_items"] == pytest.approx(1 / 3)
    assert gini([1, 1, 1, 1]) == 0 and gini([0, 0, 0, 10]) == pytest.approx(0.75)
    # the textbook definition: mean absolute difference over all ordered pairs / (2 * mean)
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 50):
        x = rng.pareto(1.5, n) * rng.integers(0, 2, n)
        pairwise = np.abs(x[:, None] - x[None, :]).sum() / (2 * n * n * x.mean()) if x.sum() else 0.0
        assert gini(x) == pytest.approx(pairwise, abs=1e-12)
    with pytest.raises(DataError, match="head_fraction"):
        item_popularity(hand.interactions, head_fraction=1.5)


def test_category_shares_known_answers(hand):
    shares = category_shares(hand.interactions, hand.items, level_names=["department", "category"])
    dept, cat = shares["department"], shares["category"]
    # ordered by full path
    assert list(dept.columns) == ["Home", "Office"] and list(cat.columns) == ["Chairs", "Lamps", "Desks"]
    assert dept.loc[1].tolist() == [0.8, 0.2] and dept.loc[2].tolist() == [1.0, 0.0]
    assert cat.loc[1].tolist() == pytest.approx([0.2, 0.6, 0.2])
    weighted = category_shares(hand.interactions.assign(w=[1, 1, 1, 1, 6, 1, 1]), hand.items, weight="w")
    assert weighted["level 0"].loc[1].tolist() == [0.4, 0.6]


def test_genre_shares_split_multi_label_items(hand):
    shares = genre_shares(hand.interactions, hand.items)
    assert list(shares.columns) == ["Home", "Office", "Sale"]
    # user 1: three events on item 10 (Home, Sale: half each), one on 20 (Home), one on 30 (Office)
    assert shares.loc[1].tolist() == pytest.approx([2.5 / 5, 1 / 5, 1.5 / 5])
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)


def test_shares_sum_to_one_on_shop_and_match_truth():
    shop = make_shop("small", seed=4)
    shares = category_shares(shop.interactions, shop.items, level_names=shop.info["level_names"])
    for table in shares.values():
        np.testing.assert_allclose(table.sum(axis=1), 1.0)
    dept = shares["department"]
    truth = pd.DataFrame(shop.truth["department_weights"], index=shop.truth["user_ids"],
                         columns=shop.truth["department_names"])[dept.columns]
    # each row of shares belongs to its user: nearer (L1) to that user's truth than to anyone else's
    own = np.abs(dept.to_numpy() - truth.to_numpy()).sum(axis=1).mean()
    for shift in range(1, 6):
        assert own < np.abs(dept.to_numpy() - np.roll(truth.to_numpy(), shift, axis=0)).sum(axis=1).mean()
    data = InteractionData("shop", collapse_repeats(shop.interactions), shop.items, info=shop.info)
    split = leave_one_out(data)
    levels = split_level_shares(split)
    _, n_departments, per_department, _, _ = PRESETS["small"]
    assert [t.shape for t in levels] == [(split.n_users, 1 + n_departments),
                                         (split.n_users, 1 + n_departments * per_department)]  # + padding node
    for t in levels:
        assert (t[:, 0] == 0).all()
        np.testing.assert_allclose(t.sum(axis=1), 1.0)


@pytest.mark.realdata
def test_shares_on_movielens(real_data_root):
    data = load("ml-latest-small", real_data_root)
    genres = genre_shares(data.interactions, data.items)
    assert genres.shape == (610, 19)  # "(no genres listed)" is no genre
    np.testing.assert_allclose(genres.sum(axis=1), 1.0, rtol=1e-6)
    first_genre = category_shares(data.interactions, data.items)["level 0"]
    np.testing.assert_allclose(first_genre.sum(axis=1), 1.0)
    f = user_features(data.interactions)
    assert len(f) == 610 and f["events"].sum() == 100_836 and (f["n_rating"] == f["events"]).all()
    assert f["recency_s"].min() == 0 and f["conversion"].isna().all()
    # the long-tail summary against a count made straight from ratings.csv (no pandas, no package code)
    with open(real_data_root / "ml-latest-small" / "ratings.csv") as handle:
        next(handle)
        movie_ids = [int(line.split(",", 2)[1]) for line in handle]
    counts = np.sort(np.unique(movie_ids, return_counts=True)[1])[::-1]
    n_head = int(np.ceil(0.2 * len(counts)))
    head = counts >= counts[n_head - 1]  # the top fifth and every item tied with its last (features.head_items)
    assert head.sum() > n_head  # here the tie rule matters: many movies share the cut-off count
    summary = long_tail_summary(data.interactions)
    assert summary["head_share"] == pytest.approx(counts[head].sum() / counts.sum())
    assert summary["tail_items"] == pytest.approx(np.mean(counts <= 2))
    assert summary["head_share"] >= 0.2  # the top fifth by count holds at least a fifth: holds for any data


def test_one_hot_multi_hot_and_errors():
    assert one_hot([2, 0], 3).tolist() == [[0, 0, 1], [1, 0, 0]]
    with pytest.raises(DataError, match="0..2"):
        one_hot([3], 3)
    hot, vocab = multi_hot([("b", "a"), (), "c"])
    assert vocab == ["a", "b", "c"] and hot.tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 1]]
    hot, vocab = multi_hot([("a",)], vocabulary=["z", "a"])
    assert hot.tolist() == [[0, 1]]
    with pytest.raises(DataError, match="vocabulary"):
        multi_hot([("q",)], vocabulary=["a"])


def test_embedding_equals_one_hot_times_table_and_memory():
    table = embedding(50, 8, seed=1)
    assert torch.equal(table.weight, embedding(50, 8, seed=1).weight)  # seeded
    codes = np.array([3, 7, 0])
    via_one_hot = torch.from_numpy(one_hot(codes, 50)) @ table.weight
    assert torch.allclose(via_one_hot, table(torch.from_numpy(codes)))
    assert table(torch.tensor([0])).abs().sum() == 0  # the padding row is zero
    assert memory_bytes(table) == 50 * 8 * 4
    assert memory_bytes(one_hot(codes, 50)) == 3 * 50 * 4
    assert memory_bytes(torch.zeros(10, dtype=torch.int64)) == 80
    assert memory_bytes(torch.eye(4).to_sparse()) == 4 * 2 * 8 + 4 * 4
    with pytest.raises(DataError, match="size"):
        memory_bytes("text")


def test_encoding_cost_table():
    cost = encoding_cost([20, 100_000], dim=16, n_rows=128)
    assert cost.loc[(20, "one-hot (dense)"), "input_bytes"] == 128 * 20 * 4
    assert cost.loc[(100_000, "embedding"), "input_bytes"] == 128 * 8
    # the weights are the same either way: one-hot x W is an embedding lookup
    weights = cost.loc[100_000, "parameter_bytes"]
    assert weights["embedding"] == weights["one-hot (dense)"]
    assert cost.loc[(100_000, "embedding"), "parameter_bytes"] == 100_000 * 16 * 4
    assert (cost["output_bytes"] == 128 * 16 * 4).all()
    big = cost.xs(100_000)
    # so the totals differ by the inputs alone: 100,000 float32 per row against one int64 index
    assert big.loc["one-hot (dense)", "total_bytes"] - big.loc["embedding", "total_bytes"] == 128 * (100_000 * 4 - 8)
    assert big.loc["one-hot (dense)", "input_bytes"] == 50_000 * big.loc["embedding", "input_bytes"]


def test_full_names_follow_nodes_whatever_the_item_order(hand):
    shuffled = hand.items.iloc[[2, 0, 1]].reset_index(drop=True)
    shares = category_shares(hand.interactions, shuffled, full_names=True)
    assert list(shares["level 1"].columns) == ["Home > Chairs", "Home > Lamps", "Office > Desks"]
    assert shares["level 1"].loc[1].tolist() == pytest.approx([0.2, 0.6, 0.2])


def test_data_plots_draw_the_data_they_are_given(hand):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hiercourse.plots import data as plots

    shop = make_shop("tiny")
    shares = category_shares(shop.interactions, shop.items, full_names=True)["level 1"]
    truth = pd.DataFrame(shop.truth["category_weights"], index=shop.truth["user_ids"],
                         columns=shop.truth["category_names"])

    # long tail: each series is its frame's item counts, most popular first; the band's label states
    # the head share of the first frame (top 20 % of items)
    fig = plots.plot_long_tail({"shop": shop.interactions, "hand": hand.interactions})
    items_ax = fig.axes[0]
    counts = {line.get_label(): line.get_ydata() for line in items_ax.get_lines()}
    assert counts["hand"].tolist() == [3, 3, 1]
    shop_counts = np.sort(shop.interactions["item"].value_counts().to_numpy())[::-1]
    assert counts["shop"].tolist() == shop_counts.tolist()
    head = shop_counts[: int(np.ceil(0.2 * len(shop_counts)))].sum() / shop_counts.sum()
    assert any(f"take {head:.0%} of interactions" in t.get_text() for t in items_ax.texts)
    plt.close(fig)

    # funnel: one bar per step, as tall as that step's count
    fig = plots.plot_event_funnel(shop.interactions)
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    assert heights == [int((shop.interactions["event"] == e).sum()) for e in ("view", "click", "cart", "purchase")]
    plt.close(fig)

    # sequence lengths: every user falls in one bin
    lengths = shop.interactions["user"].value_counts().to_numpy()
    fig = plots.plot_sequence_lengths(lengths, min_events=3)
    assert sum(bar.get_height() for bar in fig.axes[0].patches) == len(lengths)
    assert [line.get_xdata()[0] for line in fig.axes[0].get_lines()] == [3]  # the min_events cut-off
    plt.close(fig)

    # heatmaps: the same users and columns in both panels, cell by cell the tables' values
    fig = plots.plot_share_heatmap({"truth": truth, "observed": shares}, n_users=10)
    heat = fig.axes
    assert [t.get_text() for t in heat[0].get_xticklabels()] == [t.get_text() for t in heat[1].get_xticklabels()]
    users = [int(t.get_text()) for t in heat[0].get_yticklabels()]
    columns = [t.get_text() for t in heat[0].get_xticklabels()]
    np.testing.assert_allclose(heat[0].images[0].get_array(), truth.loc[users, columns].to_numpy())
    np.testing.assert_allclose(heat[1].images[0].get_array(),
                               shares.reindex(columns=columns, fill_value=0.0).loc[users].to_numpy())
    plt.close(fig)

    # sunburst: inner ring = department sums, outer ring = categories, as angles
    weights = truth.iloc[0]
    fig = plots.plot_interest_sunburst(weights)
    wedges = [p for p in fig.axes[0].patches]
    angles = np.array([w.theta2 - w.theta1 for w in wedges]) / 360
    positive = weights[weights > 0].sort_index()
    departments = positive.groupby(positive.index.str.split(" > ").str[0]).sum()
    np.testing.assert_allclose(angles, np.r_[departments.to_numpy(), positive.to_numpy()], atol=1e-6)
    plt.close(fig)

    # encoding cost: one bar per (vocabulary, encoding), as tall as the table says
    cost = encoding_cost([10, 1000], 8)
    fig = plots.plot_encoding_cost(cost)
    by_encoding = {c.get_label(): [bar.get_height() for bar in c] for c in fig.axes[0].containers}
    assert set(by_encoding) == {"one-hot (dense)", "embedding"}
    for encoding, heights in by_encoding.items():
        assert heights == cost["total_bytes"].xs(encoding, level="encoding").tolist()
    plt.close(fig)

    # category popularity: the 5 largest mean shares, smallest at the bottom
    fig = plots.plot_category_popularity(shares, top=5)
    widths = [bar.get_width() for bar in fig.axes[0].patches]
    np.testing.assert_allclose(widths, np.sort(shares.mean(axis=0).to_numpy())[-5:])
    plt.close(fig)


def test_share_distance_known_answers_and_alignment():
    a = pd.DataFrame({"x": [1.0, 0.5, 1.0], "y": [0.0, 0.5, 0.0]}, index=pd.Index([1, 2, 3], name="user"))
    b = pd.DataFrame({"y": [1.0, 0.5], "z": [0.0, 0.5]}, index=pd.Index([2, 1], name="user"))
    d = share_distance(a, b)  # users 1 and 2 only; column z is 0 in a, x is 0 in b
    assert list(d.index) == [1, 2]
    assert d.loc[1] == pytest.approx(1.0)    # disjoint: (1,0,0) vs (0,0.5,0.5) -> 0.5 * 2
    assert d.loc[2] == pytest.approx(0.5)    # (0.5,0.5,0) vs (0,1,0)
    assert share_distance(a, a).eq(0).all()
    arrays = share_distance(np.array([[1.0, 0.0], [0.25, 0.75]]), np.array([[0.0, 1.0], [0.5, 0.5]]))
    np.testing.assert_allclose(arrays, [1.0, 0.25])
    with pytest.raises(DataError, match="same shape"):
        share_distance(np.ones((2, 3)), np.ones((2, 2)))
    with pytest.raises(DataError, match="two DataFrames or two arrays"):
        share_distance(a, a.to_numpy())


def test_share_distance_is_what_the_shop_chapters_compute_by_hand():
    shop = make_shop("tiny", seed=3)
    shares = category_shares(shop.interactions, shop.items, level_names=shop.info["level_names"],
                             full_names=True)["category"]
    truth = pd.DataFrame(shop.truth["category_weights"], columns=shop.truth["category_names"],
                         index=pd.Index(shop.truth["user_ids"], name="user"))
    # the chapters' by-hand formula, on the same users and nodes
    by_hand = 0.5 * (shares.reindex(columns=truth.columns, fill_value=0.0)
                     - truth.reindex(shares.index)).abs().sum(axis=1)
    pd.testing.assert_series_equal(share_distance(shares, truth), by_hand, check_names=False)

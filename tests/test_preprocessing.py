"""Cleaning, id encoding and the leave-one-out split, on hand-made frames with known answers and on MovieLens."""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import torch

from hiercourse.datasets import load
from hiercourse.datasets.schema import DataError, InteractionData, tidy_interactions, tidy_items
from hiercourse.preprocessing import (
    IdMap,
    collapse_repeats,
    deduplicate,
    describe_split,
    k_core,
    leave_one_out,
    pad_sequences,
    remove_outliers,
    to_implicit,
)


def frame(rows, columns=("user", "item", "timestamp")):
    return tidy_interactions(pd.DataFrame(rows, columns=list(columns)))


def small_data() -> InteractionData:
    """Three users; user 30 has too few events. Items carry a two-level path."""
    rows = [
        (10, 100, 1), (10, 200, 2), (10, 300, 3), (10, 100, 4), (10, 400, 5),
        (20, 300, 7), (20, 200, 5), (20, 400, 6),  # written out of time order on purpose
        (30, 100, 1), (30, 200, 2),
    ]
    items = tidy_items(pd.DataFrame({
        "item": [100, 200, 300, 400, 999],
        "title": ["a", "b", "c", "d", "unused"],
        "category_path": ["Home > Lamps", "Home > Chairs", "Office > Lamps", "", "Home > Lamps"],
        "categories": [("Home",), ("Home", "Sale"), ("Office",), (), ("Home",)],
    }))
    return InteractionData("hand", frame(rows), items, info={"level_names": ["department", "category"]})


# ----------------------------------------------------------------- cleaning


def test_deduplicate_exact_and_window():
    f = pd.DataFrame({
        "user": [1, 1, 1, 1, 1, 2],
        "item": [5, 5, 5, 5, 6, 5],
        "timestamp": [0, 0, 3, 100, 1, 2],
        "event": ["click"] * 6,
    })
    f = tidy_interactions(f)
    assert len(deduplicate(f)) == 5  # the exact copy at t=0 goes
    out = deduplicate(f, window=5)  # the repeat at t=3 is a double click; t=100 is a return visit
    assert sorted(zip(out.user, out.item, out.timestamp)) == [(1, 5, 0), (1, 5, 100), (1, 6, 1), (2, 5, 2)]
    assert list(out.user) == [1, 1, 1, 2] and list(out.timestamp) == [0, 1, 100, 2]


def test_deduplicate_keeps_different_events():
    f = tidy_interactions(pd.DataFrame({
        "user": [1, 1], "item": [5, 5], "timestamp": [0, 1], "event": ["view", "click"],
    }))
    assert len(deduplicate(f, window=10)) == 2


def test_k_core_is_iterative():
    # 2-core: item 9 has one row -> removed; then user 3 has one row -> removed; then item 8 has one row.
    rows = [(1, 7, 0), (1, 8, 1), (2, 7, 0), (2, 8, 1), (3, 8, 0), (3, 9, 1), (4, 6, 0)]
    out = k_core(frame(rows), k=2)
    assert sorted(zip(out.user, out.item)) == [(1, 7), (1, 8), (2, 7), (2, 8)]
    counts_user = out.user.value_counts()
    counts_item = out.item.value_counts()
    assert counts_user.min() >= 2 and counts_item.min() >= 2
    with pytest.raises(DataError, match="empty"):
        k_core(frame(rows), k=5)


def test_remove_outliers_reports_bots():
    rng = np.random.default_rng(0)
    humans = pd.DataFrame({
        "user": np.repeat(np.arange(20), 10),
        "item": rng.integers(0, 50, 200),
        "timestamp": np.tile(np.arange(10) * 3600, 20),
    })
    bot = pd.DataFrame({"user": 99, "item": rng.integers(0, 50, 300), "timestamp": np.arange(300)})
    f = tidy_interactions(pd.concat([humans, bot]))
    clean, report = remove_outliers(f, max_events_per_user=100)
    assert 99 not in set(clean.user) and len(clean) == 200
    assert list(report.user) == [99] and report.events[0] == 300 and report.reason[0] == "too many events"
    assert report.attrs["rows_removed"] == 300
    clean, report = remove_outliers(f, quantile=None, max_events_per_minute=20)
    assert list(report.user) == [99] and report.peak_per_minute[0] == 60  # one event a second
    clean, report = remove_outliers(f, quantile=None)
    assert len(clean) == len(f) and len(report) == 0


def test_to_implicit_filters_and_weights():
    f = tidy_interactions(pd.DataFrame({
        "user": [1, 1, 1, 2], "item": [1, 2, 3, 1], "timestamp": [0, 1, 2, 0],
        "rating": [5.0, 2.0, 4.0, 3.5],
    }))
    out = to_implicit(f, min_rating=3.5)
    assert sorted(zip(out.user, out.item)) == [(1, 1), (1, 3), (2, 1)]
    assert (out.weight == 1.0).all()
    shop = tidy_interactions(pd.DataFrame({
        "user": [1, 1, 1, 1], "item": [4, 4, 4, 4], "timestamp": [0, 1, 2, 3],
        "event": ["view", "click", "cart", "purchase"],
    }))
    out = to_implicit(shop, events=["cart", "purchase"])
    assert list(out.event) == ["cart", "purchase"] and list(out.weight) == [3.0, 5.0]
    with pytest.raises(DataError, match="unknown event"):
        to_implicit(shop, events=["like"])
    with pytest.raises(DataError, match="kept no rows"):
        to_implicit(f, min_rating=6)


def test_collapse_repeats_keeps_strongest_event():
    shop = tidy_interactions(pd.DataFrame({
        "user": [1, 1, 1, 1, 1, 2], "item": [4, 4, 4, 5, 4, 4], "timestamp": [0, 1, 2, 3, 4, 0],
        "event": ["view", "click", "cart", "view", "view", "view"],
    }))
    out = collapse_repeats(shop)
    assert list(zip(out.user, out.item, out.timestamp, out.event)) == [
        (1, 4, 0, "cart"), (1, 5, 3, "view"), (1, 4, 4, "view"), (2, 4, 0, "view"),
    ]


def test_empty_frame_is_an_error():
    empty = pd.DataFrame({"user": [], "item": [], "timestamp": []})
    for step in (deduplicate, k_core, to_implicit, collapse_repeats):
        with pytest.raises(DataError, match="empty"):
            step(empty)


# ----------------------------------------------------------------- ids and padding


def test_idmap_round_trip_and_unknown_ids():
    idmap = IdMap.from_frame(pd.DataFrame({"user": [7, 3, 7], "item": [50, 10, 30]}))
    assert idmap.n_users == 2 and idmap.n_items == 3
    codes = idmap.encode_items([10, 30, 50, 30])
    assert codes.tolist() == [1, 2, 3, 2]  # 0 is the padding index
    assert idmap.decode_items(codes).tolist() == [10, 30, 50, 30]
    assert idmap.encode_users([3, 7]).tolist() == [0, 1]
    assert idmap.decode_users(torch.tensor([1, 0])).tolist() == [7, 3]
    with pytest.raises(DataError, match=r"unknown item id\(s\) \[11, 99\]"):
        idmap.encode_items([10, 99, 11])
    with pytest.raises(DataError, match="padding"):
        idmap.decode_items([0])
    with pytest.raises(DataError, match="unknown user"):
        idmap.encode_users([4])


def test_pad_sequences_left_pads_and_truncates():
    out = pad_sequences([[1, 2, 3], [4], [], [5, 6, 7, 8, 9]], max_len=4)
    assert out.dtype == torch.int64
    assert out.tolist() == [[0, 1, 2, 3], [0, 0, 0, 4], [0, 0, 0, 0], [6, 7, 8, 9]]
    assert pad_sequences([[1], [2, 3]]).tolist() == [[0, 1], [2, 3]]


# ----------------------------------------------------------------- the split


def test_leave_one_out_known_answer():
    split = leave_one_out(small_data(), min_events=3)
    assert split.n_users == 2 and split.info["dropped_users"] == 1  # user 30 had 2 events
    assert split.n_items == 4
    enc = split.idmap.encode_items
    # user 10: 100 200 300 100 400 (time order); user 20: 200 400 300 (sorted by time)
    assert split.seq.tolist() == enc([100, 200, 300, 100, 400, 200, 400, 300]).tolist()
    assert split.offsets.tolist() == [0, 5, 8]
    assert split.targets("test").tolist() == enc([400, 300]).tolist()
    assert split.targets("valid").tolist() == enc([100, 400]).tolist()
    assert split.history("valid", 4).tolist() == [[0] + enc([100, 200, 300]).tolist(), [0, 0, 0, enc([200])[0]]]
    assert split.history("test", 3).tolist() == [enc([200, 300, 100]).tolist(), [0] + enc([200, 400]).tolist()]
    assert split.history("all", 2).tolist() == [enc([100, 400]).tolist(), enc([400, 300]).tolist()]
    indptr, indices = split.seen("test")
    assert indptr.tolist() == [0, 3, 5]  # distinct items before the test target
    assert indices[:3].tolist() == sorted(enc([100, 200, 300]).tolist())
    mask = split.seen_mask("valid", [1])
    assert mask.shape == (1, 5) and mask[0].nonzero().flatten().tolist() == enc([200]).tolist()
    inputs, targets = split.train_windows(max_len=3)
    # only user 10 has a train part of >= 2 items: 100 200 300 -> inputs 100 200, targets 200 300
    assert inputs.tolist() == [[0] + enc([100, 200]).tolist()]
    assert targets.tolist() == [[0] + enc([200, 300]).tolist()]
    assert split.train_window_users().tolist() == [0]


def test_split_taxonomy_and_genres():
    split = leave_one_out(small_data())
    assert split.level_names == ["department", "category"]
    # nodes per level, sorted by path: Home, Office | "Home > Chairs", "Home > Lamps", "Office > Lamps"
    assert split.node_names[0] == ["<pad>", "Home", "Office"]
    assert split.node_names[1] == ["<pad>", "Chairs", "Home > Lamps", "Office > Lamps"]
    paths = {int(i): split.item_paths[split.idmap.encode_items([i])[0]].tolist() for i in (100, 200, 300, 400)}
    assert paths == {100: [1, 2], 200: [1, 1], 300: [2, 3], 400: [0, 0]}
    assert split.item_paths[0].tolist() == [0, 0]
    assert split.genre_names == ["Home", "Office", "Sale"]
    assert split.item_genres.shape == (5, 3)
    assert split.item_genres[split.idmap.encode_items([200])[0]].tolist() == [1.0, 0.0, 1.0]
    assert split.item_genres[0].sum() == 0
    assert list(split.items.columns[:2]) == ["item", "idx"] and split.items.idx.tolist() == [1, 2, 3, 4]
    assert 999 not in set(split.items.item)


def test_split_max_len_truncates_sequences():
    split = leave_one_out(small_data(), max_len=4)
    assert split.lengths.tolist() == [4, 3] and split.info["truncated_interactions"] == 1
    assert split.history("test").shape == (2, 4)  # max_len is the default length


def test_split_errors():
    with pytest.raises(DataError, match="no user"):
        leave_one_out(small_data(), min_events=6)
    with pytest.raises(DataError, match="min_events"):
        leave_one_out(small_data(), min_events=2)
    split = leave_one_out(small_data())
    with pytest.raises(DataError, match="stage"):
        split.targets("train")
    with pytest.raises(DataError, match="max_len"):
        split.history("test", 0)
    with pytest.raises(DataError, match="empty"):
        leave_one_out(pd.DataFrame({"user": [], "item": [], "timestamp": []}))


def test_split_from_plain_frame():
    split = leave_one_out(small_data().interactions)
    assert split.n_users == 2 and split.level_names == [] and split.item_paths.shape == (5, 0)


def test_no_leakage_random_data():
    rng = np.random.default_rng(1)
    n = 5000
    f = tidy_interactions(pd.DataFrame({
        "user": rng.integers(0, 300, n), "item": rng.integers(0, 400, n), "timestamp": rng.integers(0, 50, n),
    }))
    split = leave_one_out(f)
    max_len = 8
    inputs, targets = split.train_windows(max_len)
    users = split.train_window_users()
    # position in seq of every target cell: the last cell is the last train position (offsets[u+1] - 3)
    last_train = split.offsets[users + 1] - 3
    pos = last_train[:, None] - (max_len - 1) + np.arange(max_len)[None, :]
    real = targets.numpy() != 0
    assert (pos[real] >= split.offsets[users][:, None].repeat(max_len, 1)[real]).all()
    assert (pos[real] < (split.offsets[users + 1] - 2)[:, None].repeat(max_len, 1)[real]).all()
    assert (targets.numpy()[real] == split.seq[pos[real]]).all()  # targets are the train items themselves
    shifted = targets.numpy()[:, :-1] != 0
    assert (inputs.numpy()[:, 1:][shifted] == targets.numpy()[:, :-1][shifted]).all()  # the shift
    # the test history ends with the validation item, the validation history does not hold it at the end
    assert (split.history("test", 5)[:, -1] == split.targets("valid")).all()
    # histories stop before their target
    valid_hist = split.history("valid", 5).numpy()
    assert (valid_hist[:, -1] == split.seq[split.offsets[1:] - 3]).all()


# ----------------------------------------------------------------- real data


@pytest.mark.realdata
def test_leave_one_out_on_movielens(real_data_root):
    data = load("ml-latest-small", real_data_root)
    split = leave_one_out(data)
    assert split.n_users == 610 and split.n_items == 9724 and len(split.seq) == 100_836
    ratings = data.interactions
    # each user's test target is their chronologically last rating (ties: file order)
    last = ratings.groupby("user").tail(1).set_index("user")["item"]
    second = ratings.groupby("user").nth(-2).set_index("user")["item"]
    users = split.idmap.decode_users(np.arange(split.n_users))
    assert (split.idmap.decode_items(split.targets("test")) == last.loc[users].to_numpy()).all()
    assert (split.idmap.decode_items(split.targets("valid")) == second.loc[users].to_numpy()).all()
    assert len(split.level_names) == 1 and split.item_paths.shape == (9725, 1)
    # item_genres row = the multi-hot of the item's genres (pipe list in movies.csv), row 0 (padding) empty
    genres = split.item_genres.numpy()
    expected = np.zeros_like(genres)
    column = {g: k for k, g in enumerate(split.genre_names)}
    for idx, cats in zip(split.items["idx"], split.items["categories"]):
        expected[idx, [column[c] for c in cats]] = 1.0
    assert np.array_equal(genres, expected) and len(split.genre_names) == 19  # 20 labels minus "(no genres listed)"
    indptr, _ = split.seen("test")
    assert (indptr[1:] - indptr[:-1]).sum() == 100_836 - 610  # no repeats in MovieLens ratings
    summary = describe_split(split)["value"]
    assert summary["n_users"] == 610 and summary["n_interactions"] == 100_836
    assert summary["train_interactions"] == 100_836 - 2 * 610  # two held-out items per user
    assert summary["density"] == pytest.approx(100_836 / (610 * 9_724), abs=5e-4)


def _python_lines(fn) -> int:
    """Python source lines executed by ``fn()`` (sys.settrace "line" events, callees included).

    Work done inside numpy / torch kernels executes no Python lines, so this counts only
    the interpreted part: a loop over users would add lines per user.
    """
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        count += event == "line"
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(previous)
    return count


def _regular_split(n_users: int, per_user: int = 12, n_items: int = 20_000, seed: int = 2):
    """Every user has ``per_user`` events at times 0..per_user-1: the split's answers are known in closed form."""
    rng = np.random.default_rng(seed)
    items = rng.integers(0, n_items, (n_users, per_user))
    f = pd.DataFrame({
        "user": np.repeat(np.arange(n_users), per_user),
        "item": items.ravel(),
        "timestamp": np.tile(np.arange(per_user), n_users),
    })
    data = InteractionData("big", f, tidy_items(pd.DataFrame({"item": np.arange(n_items)})))
    return items, leave_one_out(data)


def test_split_accessors_are_vectorised_over_users():
    """history / seen / train_windows / targets run the same Python lines for 500 users as for 50,000:
    the per-user work happens inside numpy, not in a Python loop (a count, not a timing)."""
    # the counter sees loops
    assert _python_lines(lambda: [x for x in range(100)]) > _python_lines(lambda: [x for x in range(10)])
    (_, small), (items, big) = _regular_split(500), _regular_split(50_000)
    calls = {
        "history": lambda s: s.history("test", 50),
        "seen": lambda s: s.seen("test"),
        "train_windows": lambda s: s.train_windows(50),
        "targets": lambda s: s.targets("valid"),
    }
    for name, call in calls.items():
        call(small), call(big)  # first calls may import or cache
        assert _python_lines(lambda call=call: call(small)) == _python_lines(lambda call=call: call(big)), name
    # and the answers at scale equal the closed form: 11 items before the test target, left-padded to 50
    hist = big.history("test", 50).numpy()
    assert hist.shape == (50_000, 50) and (hist[:, :39] == 0).all()
    assert np.array_equal(hist[:, 39:], big.idmap.encode_items(items[:, :11].ravel()).reshape(50_000, 11))
    assert np.array_equal(big.targets("test").numpy(), big.idmap.encode_items(items[:, 11]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_matches_a_plain_python_reference(seed):
    """The vectorised split against the obvious per-user loop, on random data with time ties."""
    rng = np.random.default_rng(seed)
    n = 800
    f = tidy_interactions(pd.DataFrame({
        "user": rng.integers(0, 60, n), "item": rng.integers(0, 90, n) * 7, "timestamp": rng.integers(0, 30, n),
    }))
    max_len = 6
    split = leave_one_out(f, min_events=4)
    hist_valid, hist_test = split.history("valid", max_len).numpy(), split.history("test", max_len).numpy()
    indptr, indices = (t.numpy() for t in split.seen("test"))
    inputs, targets = (t.numpy() for t in split.train_windows(max_len))
    window_rows = dict(zip(split.train_window_users().tolist(), range(len(inputs))))
    kept = 0
    for user, rows in f.groupby("user", sort=True):  # the reference: a loop a learner would write
        items = rows["item"].tolist()  # tidy frames are in time order, ties in row order
        if len(items) < 4:
            continue
        u = int(split.idmap.encode_users([user])[0])
        kept += 1
        codes = split.idmap.encode_items(items).tolist()
        train, valid, test = codes[:-2], codes[-2], codes[-1]
        assert split.targets("valid")[u] == valid and split.targets("test")[u] == test
        pad = lambda seq: [0] * (max_len - len(seq[-max_len:])) + seq[-max_len:]  # noqa: E731
        assert hist_valid[u].tolist() == pad(train)
        assert hist_test[u].tolist() == pad(train + [valid])
        assert indices[indptr[u]:indptr[u + 1]].tolist() == sorted(set(train + [valid]))
        if len(train) >= 2:
            assert inputs[window_rows[u]].tolist() == pad(train[:-1])
            assert targets[window_rows[u]].tolist() == pad(train[1:])
        else:
            assert u not in window_rows
    assert kept == split.n_users


def test_collapse_repeats_before_the_split_of_the_shop():
    from hiercourse.datasets.shop import PRESETS, make_shop

    shop = make_shop("tiny")
    merged = collapse_repeats(shop.interactions)
    raw = leave_one_out(shop)
    collapsed = leave_one_out(InteractionData("shop", merged, shop.items, info=shop.info))
    assert raw.n_users == shop.interactions["user"].nunique()  # nobody dropped: the counts below compare
    # every row collapse_repeats merges is one "item right after itself" of the raw split, and every click,
    # cart and purchase row repeats the item viewed just before it (the funnel)
    repeats = len(shop.interactions) - len(merged)
    assert raw.summary()["consecutive_repeat_share"] == pytest.approx(repeats / (len(raw.seq) - raw.n_users))
    assert repeats >= (shop.interactions["event"] != "view").sum() > 0
    assert collapsed.summary()["consecutive_repeat_share"] == 0
    assert collapsed.level_names == ["department", "category"]
    _, n_departments, per_department, _, _ = PRESETS["tiny"]
    assert [len(n) - 1 for n in collapsed.node_names] == [n_departments, n_departments * per_department]


def test_sort_by_user_time_is_stable_and_skips_sorted_frames():
    from hiercourse.preprocessing import sort_by_user_time

    frame = pd.DataFrame({"user": [2, 1, 1, 2], "item": [1, 2, 3, 4], "timestamp": [5, 9, 9, 1]},
                         index=[10, 11, 12, 13])
    out = sort_by_user_time(frame)
    assert out["item"].tolist() == [2, 3, 4, 1]  # the tie (user 1, t 9) keeps its order
    assert out.index.tolist() == [0, 1, 2, 3]
    again = sort_by_user_time(out)
    pd.testing.assert_frame_equal(again, out)

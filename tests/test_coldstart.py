"""Cold-start protocols and slices (chapter 12): hand-made splits with known answers."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from hiercourse.coldstart import hold_out_items, new_item_users, truncate_histories
from hiercourse.datasets.schema import InteractionData, tidy_interactions, tidy_items
from hiercourse.errors import DataError
from hiercourse.evaluation import (
    COUNT_SLICES,
    count_slices,
    mean_and_se,
    metrics_by_group,
    per_user_metrics,
    rank_users,
    slice_table,
)
from hiercourse.preprocessing import leave_one_out

ROWS = [  # user -> items in time order: train part, then validation, then test
    (0, [1, 2, 3, 1]),  # train [1, 2], valid 3, test 1
    (1, [2, 3, 4, 5, 6]),  # train [2, 3, 4], valid 5, test 6
    (2, [5, 6, 7, 8, 5, 1]),  # train [5, 6, 7, 8], valid 5, test 1
    (3, [7, 8, 6, 2]),  # train [7, 8], valid 6, test 2
]


def _split():
    frame = pd.DataFrame([(u, i, t) for u, items in ROWS for t, i in enumerate(items)],
                         columns=["user", "item", "timestamp"])
    items = pd.DataFrame({"item": np.arange(1, 9), "title": [f"item {i}" for i in range(1, 9)],
                          "category_path": ["A"] * 4 + ["B"] * 4})
    return leave_one_out(InteractionData("tiny", tidy_interactions(frame), tidy_items(items)))


def _user_items(split, u):
    return split.seq[split.offsets[u]:split.offsets[u + 1]].tolist()


class Fixed:
    def __init__(self, table):
        self.table = torch.as_tensor(table, dtype=torch.float32)

    def scores(self, history, users):
        return self.table[users]


def test_hold_out_every_test_item_removes_exactly_their_training_interactions():
    split = _split()
    new, items = hold_out_items(split, share=1.0, seed=0, pool="test")
    assert items.tolist() == [1, 2, 6]  # the distinct test items
    assert [_user_items(new, u) for u in range(4)] == [[3, 1], [3, 4, 5, 6], [5, 7, 8, 5, 1], [7, 8, 6, 2]]
    assert new.info["removed_interactions"] == 4
    counts = new.item_counts()
    assert counts[[1, 2, 6]].tolist() == [0, 0, 0]
    assert counts[[3, 4, 5, 7, 8]].tolist() == split.item_counts()[[3, 4, 5, 7, 8]].tolist()
    # validation and test targets are untouched, so is the original split
    assert new.targets("test").tolist() == split.targets("test").tolist() == [1, 6, 1, 2]
    assert new.targets("valid").tolist() == split.targets("valid").tolist()
    assert len(split.seq) == sum(len(items) for _, items in ROWS)
    assert new_item_users(new, items).tolist() == [0, 1, 2, 3]
    assert new_item_users(new, [6]).tolist() == [1]


def test_hold_out_is_seeded_and_sized():
    split = _split()
    a, items_a = hold_out_items(split, share=0.5, seed=3, pool="all")
    b, items_b = hold_out_items(split, share=0.5, seed=3, pool="all")
    assert items_a.tolist() == items_b.tolist() and len(items_a) == 4
    assert (a.seq == b.seq).all()
    assert (a.item_counts()[items_a] == 0).all()
    with pytest.raises(DataError):
        hold_out_items(split, share=0.0)
    with pytest.raises(DataError):
        hold_out_items(split, pool="valid")


def test_truncated_histories_keep_the_last_n_behaviours():
    split = _split()
    one = truncate_histories(split, 1)
    assert [_user_items(one, u) for u in range(4)] == [[3, 1], [5, 6], [5, 1], [6, 2]]
    assert one.history("test", 3).tolist() == [[0, 0, 3], [0, 0, 5], [0, 0, 5], [0, 0, 6]]
    three = truncate_histories(split, 3)
    assert [_user_items(three, u) for u in range(4)] == [[1, 2, 3, 1], [3, 4, 5, 6], [7, 8, 5, 1], [7, 8, 6, 2]]
    indptr, indices = three.seen("test")
    assert indices[indptr[2]:indptr[3]].tolist() == [5, 7, 8]  # only what the newcomer did
    with pytest.raises(DataError):
        truncate_histories(split, 0)


def test_count_slices_edges():
    labels = count_slices([0, 1, 5, 6, 50, 51, 1000]).astype(str).tolist()
    names = [name for _, _, name in COUNT_SLICES]
    assert labels == [names[0], names[1], names[1], names[2], names[2], names[3], names[3]]
    with pytest.raises(ValueError):
        count_slices([-1])


def test_mean_and_se_by_hand():
    mean, se = mean_and_se([0.0, 1.0, 1.0, 0.0])
    assert mean == 0.5
    assert se == pytest.approx(math.sqrt(1 / 3) / 2)  # sample std sqrt(1/3), n = 4
    assert math.isnan(mean_and_se([1.0])[1])


def test_slice_table_by_count():
    split = _split()  # test items 1, 6, 1, 2 with training counts 1, 1, 1, 2: all "1-5 (rare)"
    new, _ = hold_out_items(split, share=1.0, pool="test")  # ... and now all "0 (new)"
    table = torch.zeros(4, 9)
    targets = new.targets("test")
    table[torch.arange(4), targets] = torch.tensor([1.0, 1.0, -1.0, -1.0])  # users 0, 1 rank first
    result = rank_users(Fixed(table), new, sampled_negatives=None)
    frame = slice_table({"m": result}, new, by="count", metric="hr@10")
    assert frame.index.tolist() == ["0 (new)", "all"]
    assert frame.loc["0 (new)", "n_users"] == 4 and frame.loc["0 (new)", "m"] == 0.5 + 0.5 * (
        result.ranks[2:] <= 10).float().mean().item()
    per_user = per_user_metrics(result)
    assert per_user["rr"].tolist() == (1.0 / result.ranks.double()).tolist()
    assert metrics_by_group(result, new, "count").index.tolist() == ["0 (new)"]


def test_candidates_restrict_the_ranking():
    split = _split()
    table = torch.arange(9, dtype=torch.float32).repeat(4, 1)  # item 8 scores highest for everyone
    allowed = np.zeros(9, dtype=bool)
    allowed[[2, 6]] = True
    ranks = rank_users(Fixed(table), split, sampled_negatives=None, candidates=allowed).ranks
    # user 0: target 1 vs 2 and 6 (both unseen? 2 is seen) -> 6 only -> rank 2
    # user 1: target 6 vs 2 (seen) -> rank 1; user 2: target 1 vs 6 (seen) and 2 -> 2 beats 1 -> rank 2
    # user 3: target 2 vs 6 (seen) -> rank 1
    assert ranks.tolist() == [2, 1, 2, 1]


def test_random_order_metrics_by_hand():
    from hiercourse.evaluation import random_order_metrics

    assert random_order_metrics([1]) == {"hr@10": 1.0, "ndcg@10": 1.0, "mrr": 1.0}
    two = random_order_metrics([20], k=10)
    assert two["hr@10"] == 0.5
    assert two["ndcg@10"] == pytest.approx(sum(1 / math.log2(r + 1) for r in range(1, 11)) / 20)
    expected_mrr = ((1 + 1 / 2) / 2 + (1 + 1 / 2 + 1 / 3 + 1 / 4) / 4) / 2
    assert random_order_metrics([2, 4], k=1)["mrr"] == pytest.approx(expected_mrr)
    # a random score table ranks like the formula on average
    from hiercourse.evaluation import ranks_from_scores

    scores = torch.rand(20_000, 30, generator=torch.Generator().manual_seed(0))
    ranks = ranks_from_scores(scores, torch.zeros(20_000, dtype=torch.long))
    assert (ranks <= 10).float().mean().item() == pytest.approx(random_order_metrics([30])["hr@10"], abs=0.01)


def test_a_new_item_is_ranked_by_its_category():
    """Issue 10: an item with no training interaction but a known category is rankable: the hierarchical model
    puts a new item of the user's category above new items of other leaves (its vector is its path's: 0.99 of
    the pairs here); SASRec knows the new items only as negatives its softmax pushed away (0.78)."""
    from hiercourse.datasets.shop import make_shop
    from hiercourse.models.registry import build_model
    from hiercourse.training import fit

    data = make_shop("tiny", n_users=600, seed=3)
    split, new = hold_out_items(leave_one_out(data, max_len=30), 0.3, seed=0)
    users = new_item_users(split, new)
    history, targets = split.history("test")[users], split.targets("test")[users]
    leaf = torch.as_tensor(split.item_paths[:, -1])
    new_t = torch.as_tensor(new)
    elsewhere = leaf[new_t][None, :] != leaf[targets][:, None]  # [users, new items]: other leaves
    accuracy = {}
    for name in ("hier-sasrec", "sasrec"):
        torch.manual_seed(0)
        model = build_model(name, split, dim=16, max_len=30)
        fit(model, split, epochs=3, batch_size=64, lr=3e-3, max_len=30, progress=False, patience=None, seed=0)
        with torch.no_grad():
            scores = model.eval().scores(history)
        beats = scores.gather(1, targets[:, None]) > scores[:, new_t]  # the target over each other new item
        accuracy[name] = (beats & elsewhere).sum().item() / elsewhere.sum().item()
    assert len(users) >= 30
    assert accuracy["hier-sasrec"] > 0.9 and accuracy["hier-sasrec"] > accuracy["sasrec"] + 0.1, accuracy

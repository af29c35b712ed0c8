"""The evaluation protocol: ranks, metrics against scikit-learn, masking, sampled negatives, groups."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import ndcg_score

from hiercourse.csr import dense_mask as seen_mask
from hiercourse.datasets.schema import InteractionData, tidy_interactions, tidy_items
from hiercourse.errors import DataError
from hiercourse.evaluation import (
    UserRanks,
    candidate_counts,
    candidate_mask,
    distinct_topics,
    evaluate,
    hit_rate,
    intra_list_diversity,
    mrr,
    ndcg,
    paired_difference,
    pairwise_accuracy,
    rank_users,
    ranks_from_scores,
    sample_negatives,
    scoring,
    standard_error,
    top_topic,
    topic_share,
    within_noise,
)
from hiercourse.preprocessing import leave_one_out


# --------------------------------------------------------------------------- pure functions
def test_ranks_by_hand():
    scores = torch.tensor([[0.0, 0.1, 0.5, 0.3, 0.9], [0.0, 0.8, 0.2, 0.2, 0.1]])
    targets = torch.tensor([3, 2])
    # row 0: 0.5 and 0.9 beat 0.3 -> rank 3; row 1: 0.8 beats, the tie 0.2 counts against -> rank 3
    assert ranks_from_scores(scores, targets).tolist() == [3, 3]
    valid = torch.ones(2, 5, dtype=torch.bool)
    valid[0, 4] = False  # mask the 0.9 of row 0
    valid[1, 1] = False  # mask the 0.8 of row 1
    assert ranks_from_scores(scores, targets, valid).tolist() == [2, 2]


def test_ties_are_pessimistic():
    scores = torch.zeros(3, 7)
    assert ranks_from_scores(scores, torch.tensor([1, 4, 6])).tolist() == [7, 7, 7]


def test_nan_scores_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        ranks_from_scores(torch.tensor([[0.1, math.nan]]), torch.tensor([0]))


def test_metrics_by_hand():
    ranks = torch.tensor([1, 2, 10, 11, 100])
    assert hit_rate(ranks, 10) == pytest.approx(3 / 5)
    assert ndcg(ranks, 10) == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(11)) / 5)
    assert mrr(ranks) == pytest.approx((1 + 1 / 2 + 1 / 10 + 1 / 11 + 1 / 100) / 5)
    assert ndcg(ranks, 10, reduce=False).shape == (5,)


@pytest.mark.parametrize("k", [1, 5, 10, 50])
def test_ndcg_matches_scikit_learn(k):
    generator = torch.Generator().manual_seed(k)
    scores = torch.rand(64, 200, generator=generator, dtype=torch.float64)  # continuous: no ties
    targets = torch.randint(0, 200, (64,), generator=generator)
    relevance = np.zeros((64, 200))
    relevance[np.arange(64), targets.numpy()] = 1.0
    ours = ndcg(ranks_from_scores(scores, targets), k)
    assert ours == pytest.approx(ndcg_score(relevance, scores.numpy(), k=k), abs=1e-6)
    # HR@k is "the target is in the k highest scores"
    top = scores.topk(k, dim=1).indices
    assert hit_rate(ranks_from_scores(scores, targets), k) == pytest.approx(
        float((top == targets[:, None]).any(1).float().mean())
    )


def test_seen_mask_from_csr():
    indptr = np.array([0, 2, 2, 5])
    indices = np.array([1, 3, 2, 4, 5])
    mask = seen_mask(indptr, indices, torch.tensor([2, 0, 1]), 6)
    expected = torch.zeros(3, 6, dtype=torch.bool)
    expected[0, [2, 4, 5]] = True
    expected[1, [1, 3]] = True
    assert torch.equal(mask, expected)


def test_candidate_mask_drops_padding_and_seen_items_but_keeps_the_target():
    indptr = np.array([0, 2, 2, 5])
    indices = np.array([1, 3, 2, 4, 5])
    users = torch.tensor([2, 0, 1])
    plain = candidate_mask(indptr, indices, users, 6)
    assert torch.equal(plain, ~seen_mask(indptr, indices, users, 6) & (torch.arange(6) > 0))
    kept = candidate_mask(indptr, indices, users, 6, torch.tensor([4, 1, 2]))
    assert kept[0, 4] and kept[1, 1] and kept[2, 2]  # seen (or not) before: the target stays
    assert (kept ^ plain).sum() == 2  # only the two seen targets changed


def test_scoring_switches_dropout_off_and_restores_the_mode():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Dropout(0.5)).train()
    with scoring(model):
        assert not model.training and not torch.is_grad_enabled()
    assert model.training and torch.is_grad_enabled()
    with scoring(model.eval()):
        pass
    assert not model.training


def test_sampled_negatives_avoid_seen_items_and_the_target():
    generator = torch.Generator().manual_seed(0)
    valid = torch.rand(50, 300, generator=generator) > 0.4
    valid[:, 0] = False
    targets = torch.randint(1, 300, (50,), generator=generator)
    valid[torch.arange(50), targets] = True
    negatives, drawn = sample_negatives(valid, targets, 100, generator)
    assert drawn.all()
    assert valid.gather(1, negatives).all()  # never a seen item or the padding column
    assert not (negatives == targets[:, None]).any()
    assert all(len(set(row)) == 100 for row in negatives.tolist())  # without replacement


def test_sampled_negatives_when_too_few_candidates():
    valid = torch.zeros(2, 10, dtype=torch.bool)
    valid[0, [1, 2, 3]] = True
    valid[1, 1:] = True
    negatives, drawn = sample_negatives(valid, torch.tensor([1, 1]), 5)
    assert drawn.sum(1).tolist() == [2, 5]
    assert set(negatives[0][drawn[0]].tolist()) == {2, 3}


# --------------------------------------------------------------------------- the protocol on a split
def _tiny_split():
    """4 users, 8 items in two departments; user 0 returns to item 1 as its test item."""
    rows = [
        (0, [1, 2, 3, 1]),
        (1, [2, 3, 4, 5, 6]),
        (2, [5, 6, 7, 8, 5, 1]),
        (3, [7, 8, 6, 2]),
    ]
    frame = pd.DataFrame(
        [(u, item, t) for u, items in rows for t, item in enumerate(items)], columns=["user", "item", "timestamp"]
    )
    items = pd.DataFrame(
        {
            "item": np.arange(1, 9),
            "title": [f"item {i}" for i in range(1, 9)],
            "category_path": ["A > a1", "A > a1", "A > a2", "A > a2", "B > b1", "B > b1", "B > b2", "B > b2"],
        }
    )
    data = InteractionData("tiny", tidy_interactions(frame), tidy_items(items))
    return leave_one_out(data)


class Fixed:
    """A model returning a fixed score table, one row per user."""

    def __init__(self, table):
        self.table = torch.as_tensor(table, dtype=torch.float32)

    def scores(self, history, users):
        return self.table[users]


def test_the_target_is_never_masked_even_when_seen_before():
    split = _tiny_split()
    targets = split.targets("test")
    seen = split.seen_mask("test")
    assert seen[0, targets[0]]  # user 0's test item was seen earlier
    # seen items score highest, then the target: masking must leave the target first
    table = torch.zeros(split.n_users, split.n_items + 1) + seen.float() * 10
    table[torch.arange(split.n_users), targets] = 5.0
    result = evaluate(Fixed(table), split, sampled_negatives=100)
    assert result["hr@10"] == result["ndcg@10"] == result["mrr"] == 1.0
    # user 0: its target scores 5 < 10 of the (masked) other seen items, yet ranks 1
    assert rank_users(Fixed(table), split).ranks.tolist() == [1] * split.n_users
    # sampled ranks are 1 too: no seen item was drawn as a negative
    assert result["sampled_mrr"] == 1.0


def test_full_ranking_counts_every_unseen_item():
    split = _tiny_split()
    targets = split.targets("test")
    table = torch.ones(split.n_users, split.n_items + 1)  # every item ties with the target
    ranks = rank_users(Fixed(table), split).ranks
    n_unseen = (~split.seen_mask("test")[:, 1:]).sum(1)
    target_seen = split.seen_mask("test")[torch.arange(split.n_users), targets]
    assert ranks.tolist() == (n_unseen + target_seen.long()).tolist()  # pessimistic: last of its candidates


def test_category_hit_rate_and_coverage():
    split = _tiny_split()
    targets = split.targets("test")
    paths = torch.as_tensor(split.item_paths)
    same = paths[None, :, :] == paths[targets][:, None, :]  # [user, item, level]
    # 2 = same fine category, 1 = same department only, 0 = elsewhere; the target itself -1
    table = same.float().sum(2)
    table[torch.arange(split.n_users), targets] = -1.0
    result = evaluate(Fixed(table), split, k=1, sampled_negatives=None)
    assert result["hr@1"] == 0.0
    # the top-1 item shares the target's node iff such an unseen item (not the target) exists
    candidate = ~split.seen_mask("test")
    candidate[:, 0] = False
    candidate[torch.arange(split.n_users), targets] = False
    for level, name in enumerate(split.level_names):
        expected = (same[:, :, level] & candidate).any(1).float().mean()
        assert result[f"category_hr@1/{name}"] == pytest.approx(float(expected))
    assert 0 < result[f"category_hr@1/{split.level_names[1]}"] < result[f"category_hr@1/{split.level_names[0]}"]
    top = rank_users(Fixed(table), split, k=1).top_items
    assert result["coverage@1"] == pytest.approx(len(set(top.flatten().tolist())) / split.n_items)


def test_groups_cover_every_user():
    split = _tiny_split()
    table = torch.rand(split.n_users, split.n_items + 1, generator=torch.Generator().manual_seed(0))
    result = evaluate(Fixed(table), split, by=["activity", "popularity"], sampled_negatives=None)
    for key in ("by_activity", "by_popularity"):
        groups = result[key]
        assert isinstance(groups, pd.DataFrame)
        assert groups["n_users"].sum() == split.n_users
        weighted = (groups["hr@10"] * groups["n_users"]).sum() / split.n_users
        assert weighted == pytest.approx(result["hr@10"])
    assert set(result["by_popularity"].index) <= {"head", "tail"}


def test_item_counts_count_train_parts_only():
    split = _tiny_split()
    counts = split.item_counts()
    assert counts[0] == 0
    assert counts.sum() == sum(max(n - 2, 0) for n in np.diff(split.offsets))


def test_sampled_metrics_are_seeded():
    split = _tiny_split()
    table = torch.rand(split.n_users, split.n_items + 1, generator=torch.Generator().manual_seed(1))
    a = evaluate(Fixed(table), split, sampled_negatives=3, seed=7)
    b = evaluate(Fixed(table), split, sampled_negatives=3, seed=7)
    assert a == b
    # the seed moves only the sampled metrics: full ranking draws nothing
    others = [evaluate(Fixed(table), split, sampled_negatives=3, seed=s) for s in range(8)]
    full = [key for key in a if not key.startswith("sampled_")]
    assert all(o[key] == a[key] for o in others for key in full)
    assert len({o["sampled_mrr"] for o in others}) > 1


def test_wrong_score_shape_is_explained():
    split = _tiny_split()
    with pytest.raises(ValueError, match="n_items"):
        evaluate(Fixed(torch.zeros(split.n_users, split.n_items)), split)


@pytest.mark.realdata
def test_most_popular_on_movielens_matches_a_reference_and_the_benchmark(real_data_root):
    from hiercourse.datasets import load
    from hiercourse.models.baselines import MostPopular

    split = leave_one_out(load("ml-latest-small", root=real_data_root, download=False))
    result = evaluate(MostPopular().fit(split), split)
    # a reference in plain numpy: popularity = train-part counts; rank = 1 + the items, other than the target
    # and the user's earlier items, scoring at least as high (ties against the target)
    counts = np.bincount(split.seq[np.concatenate([np.arange(a, b - 2) for a, b in
                                                   zip(split.offsets[:-1], split.offsets[1:])])],
                         minlength=split.n_items + 1).astype(float)
    indptr, indices = (np.asarray(t) for t in split.seen("test"))
    ranks = []
    for u, target in enumerate(split.targets("test").tolist()):
        candidate = np.ones(split.n_items + 1, dtype=bool)
        candidate[0] = False
        candidate[indices[indptr[u]:indptr[u + 1]]] = False
        candidate[target] = False
        ranks.append(1 + int((counts[candidate] >= counts[target]).sum()))
    ranks = np.array(ranks)
    gain = np.where(ranks <= 10, 1 / np.log2(ranks + 1), 0.0)
    assert result["ndcg@10"] == pytest.approx(gain.mean(), abs=1e-9)
    assert result["hr@10"] == pytest.approx((ranks <= 10).mean(), abs=1e-9)
    assert result["mrr"] == pytest.approx((1 / ranks).mean(), abs=1e-9)
    # and the benchmark's pop row (hiercourse/results/benchmark_ml-latest-small.md, 4 decimals; deterministic:
    # most-popular has no seed, the sampled metrics use seed 0 in both)
    assert [round(result[key], 4) for key in ("ndcg@10", "hr@10", "mrr", "sampled_ndcg@10", "sampled_hr@10")] == [
        0.0178, 0.0377, 0.0179, 0.3538, 0.5934]


# --------------------------------------------------------------------------- what the lists hold (chapter 10)
def test_standard_error_by_hand():
    # values 0, 1, 1, 0: mean 1/2, sample variance (4 x 1/4) / 3 = 1/3, SE = sqrt(1/3) / 2
    assert standard_error([0, 1, 1, 0]) == pytest.approx(math.sqrt(1 / 3) / 2)
    assert math.isnan(standard_error([1.0]))


def _user_ranks(ranks, users=(0, 1, 2, 3)) -> UserRanks:
    n = len(ranks)
    return UserRanks(users=np.asarray(users), targets=np.ones(n, dtype=int), ranks=torch.tensor(ranks),
                     sampled_ranks=None, top_items=torch.zeros(n, 10, dtype=torch.long), category_hits=None,
                     level_names=[], history_length=np.ones(n, dtype=int), target_popularity=np.ones(n),
                     n_items=100, k=10)


def test_paired_difference_by_hand():
    # HR@10 per user: a = 1, 1, 1, 0 and b = 0, 1, 0, 0 -> differences 1, 0, 1, 0: mean 1/2, SE sqrt(1/3) / 2
    a, b = _user_ranks([1, 5, 10, 11]), _user_ranks([20, 5, 11, 50])
    out = paired_difference(a, b, "hr@10")
    assert out["mean_a"] == pytest.approx(0.75) and out["mean_b"] == pytest.approx(0.25)
    assert out["difference"] == pytest.approx(0.5) and out["se"] == pytest.approx(math.sqrt(1 / 3) / 2)
    assert out["users"] == 4 and out["noise"] is True  # 0.5 <= 2 x 0.289
    same = paired_difference(a, a)
    assert same["difference"] == 0.0 and same["se"] == 0.0 and same["noise"] is True
    assert paired_difference(a, b, "mrr")["mean_a"] == pytest.approx((1 + 1 / 5 + 1 / 10 + 1 / 11) / 4)
    with pytest.raises(DataError, match="same users"):
        paired_difference(a, _user_ranks([1, 2, 3, 4], users=(0, 1, 2, 9)))
    with pytest.raises(DataError, match="per-user"):
        paired_difference(a, b, "ndcg@5")
    # per-user arrays in the same user order give the same numbers as the rank_users results they come from
    arrays = paired_difference([1, 1, 1, 0], [0, 1, 0, 0], "hr@10")
    assert arrays == out
    with pytest.raises(DataError, match="one length"):
        paired_difference([1, 0, 1], [0, 1])


def test_within_noise_is_two_standard_errors():
    assert within_noise(0.5, 0.25) and within_noise(-0.5, 0.25)  # exactly 2 SE: still noise
    assert not within_noise(0.51, 0.25) and not within_noise(-0.51, 0.25)
    assert within_noise(3.0, math.nan)  # unknown spread (one seed): never a finding
    assert not within_noise(0.001, 0.0)  # deterministic models: any difference is real


# items 1..6; nodes: 1 -> A, 2 -> A, 3 -> B, 4 -> B, 5 -> C, 6 -> none (node 0); row 0 is padding
NODES = np.array([0, 1, 1, 2, 2, 3, 0])
# the same catalogue as a multi-hot with a second topic on item 2 (A and B)
MULTI = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]])


def test_distinct_topics_by_hand():
    lists = torch.tensor([[1, 2, 3, 0], [5, 5, 6, 0], [6, 0, 0, 0]])
    assert distinct_topics(lists, NODES).tolist() == [2, 1, 0]  # padding and node 0 count for nothing
    assert distinct_topics(lists, MULTI).tolist() == [2, 1, 0]
    assert distinct_topics(torch.tensor([[2, 5]]), MULTI).tolist() == [3]  # item 2 brings A and B


def test_intra_list_diversity_by_hand():
    # one topic per item: the share of pairs from different nodes
    # [1, 2, 3]: pairs (1,2) same, (1,3) and (2,3) different -> 2/3; [1, 2]: 0; [1, 3, 5, 0]: 3/3
    lists = torch.tensor([[1, 2, 3, 0], [1, 2, 0, 0], [1, 3, 5, 0], [4, 0, 0, 0]])
    ild = intra_list_diversity(lists, NODES)
    assert ild[:3].tolist() == pytest.approx([2 / 3, 0.0, 1.0])
    assert math.isnan(ild[3])  # one item: no pair
    # multi-hot: item 2 = (A, B)/sqrt 2, so cos(1, 2) = cos(2, 3) = 1/sqrt 2, cos(1, 3) = 0
    # mean over the 3 pairs of 1 - cos: (2 (1 - 1/sqrt 2) + 1) / 3
    expected = (2 * (1 - 1 / math.sqrt(2)) + 1) / 3
    assert intra_list_diversity(torch.tensor([[1, 2, 3]]), MULTI).tolist() == pytest.approx([expected])


def test_top_topic_and_topic_share_by_hand():
    history = torch.tensor([[0, 1, 2, 3], [3, 4, 5, 0]])
    top = top_topic(history, NODES)
    assert top.tolist() == [0, 1]  # user 0: A twice; user 1: B twice (0-based columns A=0, B=1, C=2)
    assert topic_share(history, NODES, top).tolist() == pytest.approx([2 / 3, 2 / 3])
    lists = torch.tensor([[1, 2, 5, 6], [5, 0, 0, 0]])
    # user 0's list: 1, 2 carry A, 5 and 6 do not -> 2/4 (item 6 has no topic but is an item)
    assert topic_share(lists, NODES, top).tolist() == pytest.approx([0.5, 0.0])
    # multi-hot: a film carries every one of its genres (item 2 counts for B)
    assert topic_share(torch.tensor([[2, 3, 1]]), MULTI, torch.tensor([1])).tolist() == pytest.approx([2 / 3])


def test_candidate_counts_and_pairwise_accuracy():
    split = _tiny_split()
    # every item ties with the target: the pessimistic rank is the number of candidates
    table = torch.ones(split.n_users, split.n_items + 1)
    ranks = rank_users(Fixed(table), split).ranks
    counts = candidate_counts(split, "test")
    assert counts.tolist() == ranks.tolist()
    # by hand: 8 items; user 0 saw {1, 2, 3} and its target 1 is among them -> 8 - 3 + 1 = 6
    # user 1 saw {2, 3, 4, 5} -> 4; user 2 saw {5, 6, 7, 8} (5 twice) -> 4; user 3 saw {7, 8, 6} -> 5
    assert counts.tolist() == [6, 4, 4, 5]
    assert candidate_counts(split, "test", users=[3, 0]).tolist() == [5, 6]
    # rank 1 beats every other candidate, the last rank none; rank r of n: (n - r) / (n - 1)
    assert pairwise_accuracy(torch.tensor([1, 4, 3]), [6, 4, 5], reduce=False).tolist() == pytest.approx(
        [1.0, 0.0, 0.5])


def test_pairwise_accuracy_is_the_chance_of_beating_one_random_candidate():
    # check against its definition: the target against every other candidate, one at a time
    generator = torch.Generator().manual_seed(0)
    scores = torch.rand(50, 30, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, 30, (50,), generator=generator)
    ranks = ranks_from_scores(scores, targets)
    beats = (scores < scores.gather(1, targets[:, None])).sum(1).double() / 29
    assert pairwise_accuracy(ranks, np.full(50, 30), reduce=False).tolist() == pytest.approx(beats.tolist())
    # a random scorer gets 1/2 on average: ranks uniform on 1..n give mean (n - (n + 1) / 2) / (n - 1) = 1/2
    assert pairwise_accuracy(torch.arange(1, 31), np.full(30, 30)) == pytest.approx(0.5)

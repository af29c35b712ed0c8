"""Baselines: most popular, item-KNN (against a brute-force cosine), BPR-MF; recommend() lists."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from hiercourse.datasets import make_shop
from hiercourse.datasets.schema import DataError
from hiercourse.evaluation import evaluate
from hiercourse.features import train_matrix
from hiercourse.models.baselines import BPRMF, ItemKNN, MostPopular
from hiercourse.preprocessing import collapse_repeats, leave_one_out
from hiercourse.recommend import recommend
from hiercourse.training import fit


@pytest.fixture(scope="module")
def split():
    data = make_shop("tiny", seed=0)
    data.interactions = collapse_repeats(data.interactions)
    return leave_one_out(data)


def _history_and_users(split, n=8):
    users = torch.arange(min(n, split.n_users))
    return split.history("test", 50)[users], users


def test_most_popular_scores_are_training_counts(split):
    model = MostPopular().fit(split)
    history, users = _history_and_users(split)
    scores = model.scores(history, users)
    assert scores.shape == (len(users), split.n_items + 1)
    _, items = split.train_interactions()
    expected = np.bincount(items, minlength=split.n_items + 1)
    assert torch.equal(scores[0], torch.as_tensor(expected, dtype=torch.float32))
    assert torch.equal(scores[0], scores[-1])  # the same list for everyone


def test_unfitted_baselines_say_so(split):
    history, users = _history_and_users(split)
    for model in (MostPopular(), ItemKNN()):
        with pytest.raises(RuntimeError, match="fit"):
            model.scores(history, users)


def _brute_force_cosine(split) -> torch.Tensor:
    """[n_items + 1, n_items + 1] cosine of the items' binary training user vectors, diagonal zeroed."""
    matrix = torch.as_tensor(train_matrix(split).toarray())
    co = matrix.T @ matrix
    norms = matrix.sum(0).sqrt()
    cosine = co / (norms[:, None] * norms[None, :] + 1e-12)
    return cosine.fill_diagonal_(0.0)


def test_item_knn_equals_brute_force_cosine(split):
    model = ItemKNN(neighbours=split.n_items, shrink=0.0, block=7).fit(split)  # small blocks: exercise the loop
    cosine = _brute_force_cosine(split)
    assert torch.allclose(model.similarity.to_dense(), cosine.float(), atol=1e-5)
    history, users = _history_and_users(split)
    multi_hot = torch.zeros(len(users), split.n_items + 1).scatter_(1, history, 1.0)
    multi_hot[:, 0] = 0
    assert torch.allclose(model.scores(history, users), multi_hot @ cosine.float(), atol=1e-4)


def test_item_knn_keeps_only_the_nearest_neighbours(split):
    model = ItemKNN(neighbours=3, shrink=0.0, block=7).fit(split)
    per_item = torch.bincount(model.similarity.indices()[0], minlength=split.n_items + 1)
    assert int(per_item.max()) <= 3
    kept = model.similarity.to_dense().double()
    cosine = _brute_force_cosine(split).double()
    for item in range(split.n_items + 1):
        # the kept similarities are the item's 3 largest positive cosines (by value: ties may pick either item)
        top = cosine[item].topk(3).values
        top = top[top > 0]
        row = kept[item]
        assert torch.allclose(row[row != 0].sort(descending=True).values, top, atol=1e-6), item
        # and each kept neighbour has its brute-force cosine
        assert torch.allclose(row[row != 0], cosine[item][row != 0], atol=1e-6), item


def _fit_bpr(model, split, **options):
    """BPR through the one trainer, with its own recipe changes (training_defaults) and ``options``."""
    return fit(model, split, **{**BPRMF.training_defaults, "progress": False, **options})


def test_bpr_learns_and_beats_random(split):
    torch.manual_seed(0)
    model = BPRMF.from_split(split, dim=16)
    untrained = copy.deepcopy(model)
    # at the start the vectors are N(0, 0.1^2): a margin p_u . (q_i - q_j) has sd 0.1 * 0.1 * sqrt(2 * 16) = 0.057
    # and mean 0, so the loss -log sigmoid(margin) is ln 2 (sigmoid(0) = 1/2) up to E|margin| / 2 < 0.023
    users, items = (torch.as_tensor(a) for a in split.train_interactions())
    with torch.no_grad():
        assert abs(model.loss(users, items).item() - math.log(2)) < 0.03
    result = _fit_bpr(model, split, epochs=15, lr=0.02, patience=None, seed=0)
    losses = result.history["train_loss"].tolist()
    # the first epoch (two batches of 1,024 pairs) adds at most one Adam step of 0.02 per weight: still near ln 2
    assert abs(losses[0] - math.log(2)) < 0.04
    assert losses[-1] < losses[0] and all(a > b for a, b in zip(losses, losses[1:]))
    history, users = _history_and_users(split)
    assert model.scores(history, users).shape == (len(users), split.n_items + 1)
    trained = evaluate(model, split, sampled_negatives=None)["hr@10"]
    assert trained > evaluate(untrained, split, sampled_negatives=None)["hr@10"]
    # a random ranking hits a user's target with probability 10 / (their candidates); the mean over users
    # plus 5 binomial sigmas bounds what chance could give
    indptr, _ = split.seen("test")
    chance = 10 / (split.n_items - np.diff(np.asarray(indptr)))
    assert trained > chance.mean() + 5 * math.sqrt((chance * (1 - chance)).sum()) / len(chance)


def test_bpr_early_stopping_restores_the_best_epoch(split):
    model = BPRMF.from_split(split, dim=8)
    result = _fit_bpr(model, split, epochs=30, lr=0.05, patience=2, seed=1)
    assert result.stopped == "early stopping" and result.epochs < 30
    best = result.history["valid_ndcg@10"].max()
    assert evaluate(model, split, stage="valid", sampled_negatives=None)["ndcg@10"] == pytest.approx(best)


def test_bpr_loss_is_the_hand_computed_pairwise_loss():
    """-log sigmoid(p_u . (q_i - q_j)) with j the negative drawn under the same seed."""
    model = BPRMF(n_users=3, n_items=5, dim=4)
    users, items = torch.tensor([0, 2]), torch.tensor([1, 4])
    torch.manual_seed(7)
    loss = model.loss(users, items)
    torch.manual_seed(7)
    negative = torch.randint(1, 6, items.shape)
    p, q = model.user_embedding.weight, model.item_embedding.weight
    expected = -torch.nn.functional.logsigmoid((p[users] * (q[items] - q[negative])).sum(-1)).mean()
    assert torch.isclose(loss, expected)


def test_recommend_lists_unseen_items_with_titles(split):
    model = MostPopular().fit(split)
    user_ids = split.idmap.decode_users([0, 1, 2])
    lists = recommend(model, split, list(user_ids), k=5)
    assert list(lists.columns) == ["user", "rank", "item", "title", "category_path", "categories", "score", "hit"]
    assert lists.groupby("user").size().tolist() == [5, 5, 5]
    indptr, indices = (np.asarray(t) for t in split.seen("test"))
    for code, user_id in enumerate(user_ids):
        seen = set(split.idmap.decode_items(indices[indptr[code]:indptr[code + 1]]).tolist())
        listed = lists.loc[lists["user"] == user_id]
        assert not seen & set(listed["item"].tolist())
        assert listed["score"].is_monotonic_decreasing
    titles = split.items.set_index("item")["title"]
    assert (lists["title"].to_numpy() == titles.loc[lists["item"]].to_numpy()).all()
    # every listed item is a real one (never the padding code 0), scored with the model's own score
    codes = split.idmap.encode_items(lists["item"].to_numpy())
    assert (codes >= 1).all()
    assert np.array_equal(lists["score"].to_numpy(), model.counts[torch.as_tensor(codes)].numpy())
    one = recommend(model, split, int(user_ids[0]), k=3, stage="all")
    assert len(one) == 3 and "hit" not in one


def test_recommend_refuses_unknown_users(split):
    with pytest.raises(DataError, match="unknown user"):
        recommend(MostPopular().fit(split), split, [10**9])

"""Chapter-08 hierarchical interest model: pooling, beta, scoring, learned taxonomy, interest recovery."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from hiercourse.datasets.schema import DataError
from hiercourse.datasets.shop import PRESETS
from hiercourse.features import truth_weights
from hiercourse.interests import history_shares, interest_recovery, rowwise_spearman
from hiercourse.models.hierarchical import HierarchicalInterestModel, node_pooling
from hiercourse.models.taxonomy import kmeans, learn_hierarchy, with_taxonomy
from hiercourse.recommend import recommend

N_ITEMS, DIM, LENGTH = 30, 16, 10


def toy_paths() -> np.ndarray:
    paths = np.zeros((N_ITEMS + 1, 2), dtype=np.int64)
    paths[1:, 1] = np.arange(N_ITEMS) % 6 + 1  # 6 fine nodes ...
    paths[1:, 0] = (paths[1:, 1] - 1) // 2 + 1  # ... nested in 3 coarse ones
    return paths


def toy_batch(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    seq = torch.randint(1, N_ITEMS + 1, (4, LENGTH), generator=g)
    seq[0, :4] = 0
    seq[2, :7] = 0
    return seq


def build(encoder: str = "sasrec", **kwargs) -> HierarchicalInterestModel:
    torch.manual_seed(0)
    return HierarchicalInterestModel(N_ITEMS, toy_paths(), encoder=encoder, dim=DIM, max_len=LENGTH, **kwargs).eval()


def test_node_pooling_matches_a_slow_loop():
    torch.manual_seed(0)
    h = torch.randn(3, 6, 4)
    nodes = torch.tensor([[0, 1, 2, 1, 3, 1], [0, 0, 2, 2, 2, 1], [3, 3, 3, 3, 3, 3]])
    weights = torch.rand(3, 6) * (nodes > 0)
    z, mass = node_pooling(h, nodes, weights, n_nodes=3)
    zc, massc = node_pooling(h, nodes, weights, n_nodes=3, causal=True)
    for b in range(3):
        for c in range(1, 4):
            for t in range(6):  # every prefix, for the causal version
                ts = [s for s in range(t + 1) if nodes[b, s] == c]
                m = sum(weights[b, s] for s in ts)
                ref = sum(weights[b, s] * h[b, s] for s in ts) / m if ts else torch.zeros(4)
                assert torch.allclose(zc[b, t, c - 1], ref, atol=1e-5)
                assert torch.isclose(massc[b, t, c - 1], torch.as_tensor(float(m)), atol=1e-6)
            assert torch.allclose(z[b, c - 1], zc[b, -1, c - 1], atol=1e-5)
    assert torch.allclose(mass, massc[:, -1])


def test_scores_match_the_reference_formula():
    """s(u, j) = (h_T + sum_l gate^l z^l_{c_l(j)}) . v_j + sum_l log beta^l_{c_l(j)}, item by item."""
    model = build()
    seq = toy_batch()
    with torch.no_grad():
        scores = model.scores(seq, None)
        vectors = model.item_vectors()
        h_last = model.hidden(seq)[:, -1]
        levels = model.interests(seq)
    paths = torch.as_tensor(toy_paths())
    for b in range(len(seq)):
        for j in range(1, N_ITEMS + 1):
            u = h_last[b].clone()
            prior = 0.0
            for level, out in enumerate(levels):
                c = int(paths[j, level]) - 1
                if out["share"][b, c] > 0:  # a node the history never visited has no interest vector
                    u = u + out["gate"][b, c] * out["z"][b, c]
                prior += torch.log(out["beta"][b, c])
            assert torch.isclose(scores[b, j], u @ vectors[j] + prior, atol=1e-4)


@pytest.mark.parametrize("encoder", ["dnn", "caser", "gru4rec", "sasrec"])
def test_training_path_equals_scoring_path_and_is_causal(encoder):
    model = build(encoder)
    seq = toy_batch()
    with torch.no_grad():
        vectors, h, levels = model._encode(seq, every_position=True)
        assert torch.allclose(model.final_scores(h, vectors, levels), model.scores(seq, None), atol=1e-4)
        early = h[:, :-1] @ vectors.T  # what the loss scores earlier positions with
        changed = seq.clone()
        changed[:, 8:] = torch.randint(1, N_ITEMS + 1, (4, 2))
        _, h_changed, _ = model._encode(changed, every_position=True)
        other = h_changed[:, :-1] @ vectors.T
    assert early.shape == (4, LENGTH - 1, N_ITEMS + 1)
    # the scores after prefix t (t < 8) know nothing of positions 8 and 9
    assert torch.allclose(early[:, :8], other[:, :8], atol=1e-4)
    model.train()
    loss = model.loss(seq, toy_batch(1))
    loss.backward()
    assert torch.isfinite(loss)
    assert model.node_embeddings[1].weight.grad is not None


def test_beta_is_a_distribution_and_padding_is_ignored():
    model = build()
    seq = toy_batch()
    with torch.no_grad():
        levels = model.interests(seq)
        model.item_embedding.weight[0] = torch.randn(DIM) * 10
        again = model.interests(seq)
    for out, out2 in zip(levels, again):
        assert torch.allclose(out["beta"].sum(1), torch.ones(len(seq)), atol=1e-5)
        assert (out["beta"] > 0).all()
        assert torch.allclose(out["beta"], out2["beta"], atol=1e-5)
    shares = history_shares(seq, toy_paths(), 1)
    assert np.allclose(levels[1]["share"].numpy(), shares, atol=1e-6)


def test_interest_tree_is_tidy():
    model = build()
    seq = toy_batch()
    names = [f"item {j}" for j in range(N_ITEMS + 1)]
    tree = model.interest_tree(seq[:2], users=[10, 11], top=2, item_names=names)
    assert len(tree) == 2 * 2 * 2  # users x levels x top
    assert set(tree["user"]) == {10, 11}
    # each row is the node's beta and share from model.interests, the top 2 nodes by beta, best first
    levels = model.interests(seq[:2])
    for (user, level), rows in tree.groupby(["user", "level"], sort=False):
        b = [10, 11].index(user)
        beta, share = levels[level]["beta"][b], levels[level]["share"][b]
        nodes = rows["node"].to_numpy() - 1
        assert np.allclose(rows["beta"], beta[nodes].numpy(), atol=1e-6)
        assert np.allclose(rows["share"], share[nodes].numpy(), atol=1e-6)
        assert rows["beta"].is_monotonic_decreasing
        assert np.allclose(rows["beta"], beta.topk(2).values.numpy(), atol=1e-6)
        assert rows["level_name"].eq(model.level_names[level]).all()
    row = tree.iloc[0]
    behind = [f"item {int(j)}" for j in seq[0] if j > 0 and toy_paths()[j, row["level"]] == row["node"]]
    assert set(row["items"]) <= set(behind) and row["n_behaviours"] == len(behind)


def test_learn_hierarchy_is_nested_and_shaped():
    torch.manual_seed(0)
    emb = torch.randn(201, 8)
    tax = learn_hierarchy(emb, levels=(4, 12), seed=0)
    paths = tax.item_paths
    assert paths.shape == (201, 2) and (paths[0] == 0).all()
    assert paths[1:, 0].min() == 1 and paths[1:, 0].max() == 4
    assert set(np.unique(paths[1:, 1])) == set(range(1, paths[:, 1].max() + 1))
    assert paths[:, 1].max() <= 12  # the fine budget
    parents = pd.DataFrame(paths[1:]).groupby(1)[0].nunique()
    assert (parents == 1).all()  # every fine node lies in one coarse node
    assert len(tax.node_names[1]) == paths[:, 1].max() + 1
    assert np.array_equal(learn_hierarchy(emb, levels=(4, 12), seed=0).item_paths, paths)  # seeded


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_learn_hierarchy_recovers_separable_clusters(seed):
    """Items built in 4 well-separated directions, each split 3 ways: the learned tree is the true one up to
    relabelling (adjusted Rand index 1 at both levels), whatever the order of the items.

    k-means runs from one k-means++ start (no restarts), which may put two centroids in one coarse cluster
    with probability ~ (within-cluster spread / between-cluster distance)^2 per draw: the directions here
    are 100x farther apart (squared, after normalising) than the fine ones inside a coarse cluster."""
    from sklearn.metrics import adjusted_rand_score

    g = torch.Generator().manual_seed(seed)
    fine_true = torch.randperm(240, generator=g) % 12  # 20 items per fine cluster, shuffled
    centres = torch.zeros(12, 8)
    centres[torch.arange(12), torch.arange(12) // 3] = 10.0  # coarse cluster: the main axis
    centres[torch.arange(12), 4 + torch.arange(12) % 3] = 1.0  # fine cluster: a tilt towards one of 3 more
    emb = torch.cat([torch.zeros(1, 8), centres[fine_true] + 0.02 * torch.randn(240, 8, generator=g)])
    paths = learn_hierarchy(emb, levels=(4, 12), seed=seed).item_paths
    assert adjusted_rand_score((fine_true // 3).numpy(), paths[1:, 0]) == 1.0
    assert adjusted_rand_score(fine_true.numpy(), paths[1:, 1]) == 1.0


def test_kmeans_finds_separated_clusters():
    torch.manual_seed(0)
    centres = torch.tensor([[10.0, 0.0], [-10.0, 0.0], [0.0, 10.0]])
    x = torch.cat([c + torch.randn(50, 2) for c in centres])
    labels = kmeans(x, 3, seed=0)
    for block in labels.view(3, 50):
        assert (block == block[0]).all()
    assert len(set(labels.view(3, 50)[:, 0].tolist())) == 3


def test_rowwise_spearman():
    a = np.array([[1, 2, 3, 4], [1, 2, 3, 4], [1, 1, 1, 1]])
    b = np.array([[2, 4, 6, 8], [4, 3, 2, 1], [1, 2, 3, 4]])
    rho = rowwise_spearman(a, b)
    assert np.allclose(rho[:2], [1.0, -1.0]) and np.isnan(rho[2])


def test_rowwise_spearman_equals_scipy_row_by_row():
    """Random rows, many ties (values from 0..4), some constant: scipy.stats.spearmanr on each row."""
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, (200, 7)).astype(float), rng.random((200, 7))
    b[::4] = rng.integers(0, 3, (50, 7))  # ties on both sides
    a[3], b[10] = 2.0, 0.5  # constant rows: no correlation (NaN)
    rho = rowwise_spearman(a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about the constant rows
        expected = np.array([spearmanr(x, y).statistic for x, y in zip(a, b)])
    assert np.array_equal(np.isnan(rho), np.isnan(expected)) and np.isnan(rho[[3, 10]]).all()
    assert np.allclose(rho[~np.isnan(rho)], expected[~np.isnan(expected)], atol=1e-12)


def test_errors_are_clear():
    with pytest.raises(DataError, match="item_paths"):
        HierarchicalInterestModel(N_ITEMS, toy_paths()[:5])
    with pytest.raises(DataError, match="levels"):
        learn_hierarchy(torch.randn(10, 4), levels=(5, 2))


def _tiny_shop_model(dim: int = 16, max_len: int = 20):
    """An untrained hierarchical SASRec on the tiny shop (repeats collapsed), its split and the shop data."""
    from hiercourse.datasets.schema import InteractionData
    from hiercourse.datasets.shop import make_shop
    from hiercourse.preprocessing import collapse_repeats, leave_one_out

    data = make_shop("tiny", seed=0)
    split = leave_one_out(InteractionData("shop", collapse_repeats(data.interactions), data.items, info=data.info))
    torch.manual_seed(0)
    model = HierarchicalInterestModel(split.n_items, split.item_paths, encoder="sasrec", dim=dim, max_len=max_len,
                                      level_names=split.level_names, node_names=split.node_names)
    return model, split, data


def test_quick_training_on_tiny_shop_beats_most_popular_and_recovers_interests():
    from hiercourse.evaluation import evaluate
    from hiercourse.training import fit

    model, split, data = _tiny_shop_model(dim=32, max_len=30)
    fit(model, split, epochs=12, batch_size=16, lr=3e-3, max_len=30, patience=None, eval_every=12, progress=False,
        seed=0)
    ours = evaluate(model, split, "test", max_len=30, sampled_negatives=None)["ndcg@10"]
    # most popular: train-part counts, seen items masked the same way by evaluate
    counts = torch.bincount(torch.as_tensor(split.train_interactions()[1]), minlength=split.n_items + 1).float()

    class MostPopular:
        def scores(self, history, users):
            return counts.expand(len(history), -1)

    popular = evaluate(MostPopular(), split, "test", max_len=30, sampled_negatives=None)["ndcg@10"]
    assert ours > popular
    recovery = interest_recovery(model, split, data.truth, max_len=30)
    assert list(recovery["level_name"]) == ["department", "category"]
    # beta tracks each user's own interests: against another user's truth (users rolled by one) it agrees less
    keys = ("department_weights", "category_weights")
    rolled = interest_recovery(model, split, {**data.truth, **{k: np.roll(data.truth[k], 1, axis=0) for k in keys}},
                               max_len=30)
    assert (recovery["spearman_beta"] > rolled["spearman_beta"]).all()
    assert (recovery["spearman_beta"] > 0).all()
    _, departments, per_department, _, _ = PRESETS["tiny"]
    truth = truth_weights(split, 1, data.truth)
    assert truth.shape == (split.n_users, departments * per_department) and np.allclose(truth.sum(1), 1)
    relabelled = with_taxonomy(split, learn_hierarchy(model.item_embedding.weight, levels=(2, 4), seed=0))
    assert relabelled.item_paths.shape == (split.n_items + 1, 2)


def test_user_report_masks_seen_items_and_keeps_the_model_mode():
    import matplotlib.pyplot as plt

    from hiercourse.widgets import user_report

    model, split, _ = _tiny_shop_model()
    model.train()
    fig, table = user_report(model, split, 0, k=5, max_len=20)
    plt.close(fig)
    assert model.training  # scored in eval mode, then put back
    assert list(table["rank"]) == [1, 2, 3, 4, 5] and table["score"].is_monotonic_decreasing
    seen = split.seen_mask("test", [0])[0]
    target = int(split.targets("test")[0])
    for item in table["item"]:
        assert item > 0 and (item == target or not seen[item])
    assert table["hit"].tolist() == [item == target for item in table["item"]]
    with pytest.raises(ValueError, match="encoded user"):
        user_report(model, split, split.n_users)


def test_interest_explorer_falls_back_to_static_output_without_a_frontend(capsys):
    import matplotlib.pyplot as plt

    from hiercourse.widgets import interest_explorer, widgets_available

    assert not widgets_available()  # plain pytest: no Jupyter kernel
    model, split, _ = _tiny_shop_model()
    n_figures = len(plt.get_fignums())
    assert interest_explorer(model, split, users=[1], k=3, max_len=20) is None
    out = capsys.readouterr().out  # the first user's list was displayed as text
    # it is the user's top 3, in order: the list recommend() makes (seen items masked; this user's next
    # item was not seen before, so masking it or not makes no difference)
    assert not split.seen_mask("test", [1])[0][int(split.targets("test")[1])]
    titles = recommend(model, split, int(split.idmap.decode_users([1])[0]), k=3, max_len=20)["title"]
    found = [re.search(rf"{re.escape(title)}(?!\d)", out) for title in titles]  # "Lamps #1", not "Lamps #10"
    assert all(found) and [m.start() for m in found] == sorted(m.start() for m in found)
    assert len(plt.get_fignums()) == n_figures  # the report's figure was closed after display
    with pytest.raises(ValueError, match="no users"):
        interest_explorer(model, split, users=[])


@pytest.mark.parametrize("encoder", ["dnn", "sasrec"])
def test_sampled_softmax_over_every_item_is_the_full_loss(encoder):
    """Every item drawn once with a uniform q: the sampled loss (last position with the full
    s(u, j), earlier ones with h_t . v_j) equals the full-softmax loss."""
    from hiercourse.models.sequence import Negatives

    model = build(encoder)
    seq, targets = toy_batch(), toy_batch(1)
    targets[1, -1] = 0  # a row without a last target is skipped, not scored against padding
    everything = Negatives(torch.arange(1, N_ITEMS + 1), torch.full((N_ITEMS + 1,), -np.log(N_ITEMS)))
    with torch.no_grad():
        assert torch.isclose(model.loss(seq, targets, negatives=everything), model.loss(seq, targets), atol=1e-5)

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
from hiercourse.models.hierarchical import SHARE_SMOOTHING, HierarchicalInterestModel, node_pooling, prefix_shares
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


def test_prefix_shares_scatter_to_the_counted_shares():
    nodes = torch.tensor([[0, 2, 5, 2, 2, 1], [0, 0, 0, 0, 0, 0], [4, 4, 4, 4, 4, 4]])
    every, last = prefix_shares(nodes, every_position=True), prefix_shares(nodes)
    assert every.shape == (3, 6, 6) and last.shape == (3, 1, 6)
    for b in range(3):
        for t in range(6):
            dense = torch.zeros(6)
            dense.scatter_add_(0, nodes[b], every[b, t])  # column 0 collects padding and must stay 0
            seen = [int(c) for c in nodes[b, :t + 1] if c > 0]
            for c in range(1, 6):
                assert dense[c] == pytest.approx(seen.count(c) / max(len(seen), 1))
            assert dense[0] == 0
        assert torch.allclose(last[b, 0], every[b, -1])
    # each node once per row: the share sits on the node's first behaviour only
    assert every[0, -1].tolist() == pytest.approx([0, 3 / 5, 1 / 5, 0, 0, 1 / 5])


def test_beta_after_every_prefix_is_the_formula_with_counted_shares():
    """logits_c(t) = q(h_t) . g_c + b_c + w log(share_c(t) + s), the shares counted behaviour by behaviour."""
    model = build()
    seq = toy_batch()
    with torch.no_grad():
        model.share_weight.fill_(0.7)
        h = model.hidden(seq)
        for level in range(model.n_levels):
            out = model.level_interests(h, seq, level, every_position=True)
            keys = model.node_embeddings[level].weight[1:]
            for b in range(len(seq)):
                for t in range(LENGTH):
                    seen = [int(toy_paths()[j, level]) for j in seq[b, :t + 1] if j > 0]
                    nodes = range(1, model.n_nodes[level] + 1)
                    share = torch.tensor([seen.count(c) / max(len(seen), 1) for c in nodes])
                    logits = model.node_query[level](h[b, t]) @ keys.T + model.node_bias[level] \
                        + 0.7 * torch.log(share + SHARE_SMOOTHING)
                    assert torch.allclose(out["log_beta"][b, t], torch.log_softmax(logits, -1), atol=1e-5)
                assert torch.allclose(out["share"][b], share, atol=1e-6)  # after the whole history
            assert torch.allclose(out["beta"], out["log_beta"][:, -1].exp())


@pytest.mark.parametrize("options", [{}, {"learned_prior_weight": True, "dense_prior": True}])
def test_levels_computed_at_their_visited_nodes_equal_the_one_hot_form(options, monkeypatch):
    """A level with more nodes than the model's window (max_len) is computed at its visited nodes only
    (SLOTS_ABOVE); scores, losses, gradients and the interest tree are those of the one-hot form."""
    from hiercourse.models import hierarchical
    from hiercourse.models.sequence import Negatives

    seq, targets = toy_batch(), toy_batch(1)
    negatives = Negatives(torch.arange(1, 20), torch.full((N_ITEMS + 1,), -3.0))
    results = {}
    for slots_above in (float("inf"), 0.0):  # every level one-hot; every level at its visited nodes
        monkeypatch.setattr(hierarchical, "SLOTS_ABOVE", slots_above)
        model = build(**options)
        with torch.no_grad():
            model.share_weight.fill_(0.8)  # not 1: the share term's weight must reach both forms
        model.train(False)
        scores, interests = model.scores(seq), model.interests(seq)
        tree = model.interest_tree(seq, top=3)
        model.train()
        torch.manual_seed(1)  # the same dropout masks in both forms
        full = model.loss(seq, targets)
        torch.manual_seed(1)
        sampled = model.loss(seq, targets, negatives)
        (full + sampled).backward()
        grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
        _, _, levels = model._encode(seq, every_position=True)
        results[slots_above] = scores, interests, tree, full, sampled, grads, levels
    one_hot, visited = results[float("inf")], results[0.0]
    assert "slot_interest" in visited[6][1] and "slot_interest" not in one_hot[6][1]
    torch.testing.assert_close(visited[0], one_hot[0], atol=1e-5, rtol=1e-5)
    for a, b in zip(visited[1], one_hot[1]):
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-5)
    pd.testing.assert_frame_equal(visited[2], one_hot[2], atol=1e-5)
    torch.testing.assert_close(visited[3], one_hot[3], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(visited[4], one_hot[4], atol=1e-5, rtol=1e-5)
    assert visited[5].keys() == one_hot[5].keys()
    for name in one_hot[5]:
        torch.testing.assert_close(visited[5][name], one_hot[5][name], atol=1e-5, rtol=1e-4, msg=name)
    for a, b in zip(visited[6], one_hot[6]):  # beta after every prefix, as trained
        torch.testing.assert_close(a["log_beta"], b["log_beta"], atol=1e-5, rtol=1e-5)


def test_visited_node_scores_match_a_slow_loop(monkeypatch):
    """Each (row, item) pair reads the vector at the slot of the item's node in that row's history, or scores 0."""
    from hiercourse.models.hierarchical import node_slots, visited_node_scores

    torch.manual_seed(0)
    nodes = torch.tensor([[0, 0, 3, 1, 3, 5], [2, 2, 2, 2, 2, 2], [4, 1, 0, 0, 1, 4]])  # odd padding on purpose
    _, first = node_slots(nodes)
    vectors = torch.randn(3, 6, 4) * first.unsqueeze(-1)  # a vector at each slot, 0 elsewhere
    candidates = torch.randn(9, 4)
    item_nodes = torch.tensor([0, 1, 2, 3, 4, 5, 6, 1, 3])  # node 0 = none; node 6 never visited
    scores = visited_node_scores(vectors, nodes, first, 6, candidates, item_nodes)
    for b in range(3):
        for k in range(9):
            slots = [s for s in range(6) if first[b, s] and nodes[b, s] == item_nodes[k] > 0]
            assert len(slots) <= 1
            expected = vectors[b, slots[0]] @ candidates[k] if slots else torch.tensor(0.0)
            assert torch.isclose(scores[b, k], expected, atol=1e-6), (b, k)
    from hiercourse.models import hierarchical

    monkeypatch.setattr(hierarchical, "PAIR_CHUNK", 2)  # the pairs taken a few at a time: the same scores
    torch.testing.assert_close(visited_node_scores(vectors, nodes, first, 6, candidates, item_nodes), scores)


def test_beta_at_the_target_prefixes_equals_beta_after_every_prefix(monkeypatch):
    """A level computed at its visited nodes gives beta at the loss's positions only (prefix_logits): the same
    rows as after every prefix, and the whole history's row apart."""
    from hiercourse.models import hierarchical

    monkeypatch.setattr(hierarchical, "SLOTS_ABOVE", 0.0)
    model, seq = build(), toy_batch()
    positions = toy_batch(1) % 3 > 0  # any mask
    with torch.no_grad():
        h = model.hidden(seq)
        for level in range(model.n_levels):
            every = model.level_interests(h, seq, level, every_position=True)
            some = model.level_interests(h, seq, level, every_position=True, positions=positions)
            torch.testing.assert_close(some["prefix_logits"], every["logits"][positions])
            torch.testing.assert_close(some["logits"], every["logits"][:, -1:])
            torch.testing.assert_close(some["log_beta"], every["log_beta"][:, -1:])
            assert "prefix_logits" not in every


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


def test_the_tiefree_ceiling_is_the_best_any_estimate_without_ties_reaches():
    """By hand: truth (0.6, 0.4, 0, 0): its ranks 4, 3, 1.5, 1.5; an estimate without ties ranks 4, 3, then 2, 1 in
    some order. Centred: (1.5, 0.5, -1, -1) and (1.5, 0.5, -0.5, -1.5): covariance 4.5, norms sqrt(4.5) and sqrt(5),
    so rho = 4.5 / sqrt(22.5) = 0.9487, whichever zero comes first; every other order of four values does worse."""
    from itertools import permutations

    from hiercourse.interests import tiefree_ceiling

    truth = np.array([[0.6, 0.4, 0.0, 0.0], [0.1, 0.2, 0.3, 0.4]])
    ceiling = tiefree_ceiling(truth)
    assert ceiling[0] == pytest.approx(4.5 / np.sqrt(22.5)) and ceiling[1] == pytest.approx(1.0)
    others = [rowwise_spearman(np.array([order], dtype=float), truth[:1])[0] for order in permutations(range(4))]
    assert max(others) == pytest.approx(ceiling[0])
    # the counts tie the same zeros as the truth: they can reach 1, beta with its unvisited nodes tied too
    assert rowwise_spearman(np.array([[0.7, 0.3, 0.0, 0.0]]), truth[:1])[0] == pytest.approx(1.0)


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
    # no estimate without ties passes the ceiling; beta read on the visited nodes only is another estimate
    assert (recovery["spearman_beta"] <= recovery["spearman_tiefree_ceiling"] + 1e-12).all()
    level = 1
    beta = torch.cat([model.interests(split.history("test", 30))[level]["beta"]]).detach().numpy()
    naive = history_shares(split.history("test", 30), split.item_paths, level)
    by_hand = np.nanmean(rowwise_spearman(np.where(naive > 0, beta, 0.0), truth_weights(split, level, data.truth)))
    assert recovery.loc[level, "spearman_beta_visited"] == pytest.approx(by_hand)
    _, departments, per_department, _, _ = PRESETS["tiny"]
    truth = truth_weights(split, 1, data.truth)
    assert truth.shape == (split.n_users, departments * per_department) and np.allclose(truth.sum(1), 1)
    relabelled = with_taxonomy(split, learn_hierarchy(model.item_embedding.weight, levels=(2, 4), seed=0))
    assert relabelled.item_paths.shape == (split.n_items + 1, 2)
    with pytest.raises(DataError, match="mix the truth's nodes"):  # a learned node holds several true categories
        truth_weights(relabelled, 1, data.truth)


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


@pytest.mark.parametrize("encoder, options", [("dnn", {}), ("sasrec", {}), ("sasrec", {"dense_prior": True}),
                                              ("sasrec", {"dense_prior": True, "item_labels": "toy"})])
def test_sampled_softmax_over_every_item_is_the_full_loss(encoder, options):
    """Every item drawn once with a uniform q: the sampled loss (last position with the full
    s(u, j), earlier ones with h_t . v_j, plus the prior with ``dense_prior``) equals the full-softmax loss."""
    from hiercourse.models.sequence import Negatives

    if options.get("item_labels") == "toy":
        options = options | {"item_labels": [None, toy_labels()]}
    model = build(encoder, **options)
    seq, targets = toy_batch(), toy_batch(1)
    targets[1, -1] = 0  # a row without a last target is skipped, not scored against padding
    everything = Negatives(torch.arange(1, N_ITEMS + 1), torch.full((N_ITEMS + 1,), -np.log(N_ITEMS)))
    with torch.no_grad():
        assert torch.isclose(model.loss(seq, targets, negatives=everything), model.loss(seq, targets), atol=1e-5)


# ---------------------------------------------------------------- multi-label levels (issue 10)
def toy_labels() -> np.ndarray:
    """The fine level of ``toy_paths`` made multi-label: every third item also sits in the next fine node."""
    paths = toy_paths()
    labels = np.zeros((N_ITEMS + 1, 2), dtype=np.int64)
    labels[:, 0] = paths[:, 1]
    extra = np.arange(1, N_ITEMS + 1) % 3 == 0
    labels[1:, 1] = np.where(extra, paths[1:, 1] % 6 + 1, 0)
    return labels


@pytest.mark.parametrize("grouped", [False, True])
def test_multi_label_scores_equal_a_hand_computation(grouped, monkeypatch):
    """Item j in nodes C_j (weight 1/|C_j| each) at the multi-label level: v_j = e_j + g_coarse + mean_c g_c,
    the interest term sum_c w_c gate_c z_c . v_j, the prior log sum_c w_c beta_c; z_c pools behaviours by
    their weight in c. Both forms of the interest term (one matmul, items grouped by node) give it."""
    from hiercourse.models import hierarchical

    if grouped:
        monkeypatch.setattr(hierarchical, "GROUPED_ABOVE", 0)
    torch.manual_seed(0)
    labels = toy_labels()
    model = HierarchicalInterestModel(N_ITEMS, toy_paths(), encoder="sasrec", dim=DIM, max_len=LENGTH,
                                      item_labels=[None, labels]).eval()
    seq = toy_batch()
    with torch.no_grad():
        scores = model.scores(seq)
        h = model.hidden(seq)
        g0, g1 = model.node_embeddings[0].weight, model.node_embeddings[1].weight
        paths = torch.as_tensor(toy_paths())
        for b in range(len(seq)):
            # the fine level, by hand: membership, attention pooling, gate, beta
            member = torch.zeros(LENGTH, 6)
            for t, item in enumerate(seq[b].tolist()):
                nodes = [c for c in labels[item] if c] if item else []
                for c in nodes:
                    member[t, c - 1] = 1 / len(nodes)
            a = torch.exp(4 * torch.tanh(model.attention[1](h[b]).squeeze(-1))) * (seq[b] > 0)
            mass = (member * a[:, None]).sum(0)
            z = (member * a[:, None]).T @ h[b] / mass.clamp_min(1e-12)[:, None]
            gate = torch.sigmoid(model.gate_state[1](h[b, -1]) + model.gate_interest[1](z).squeeze(-1)) * (mass > 0)
            share = member.sum(0) / member.sum().clamp_min(1)
            beta1 = (model.node_query[1](h[b, -1]) @ g1[1:].T + model.node_bias[1]
                     + model.share_weight[1] * torch.log(share + 0.01)).softmax(-1)
            level0 = model.interests(seq[b:b + 1])[0]
            for j in range(1, N_ITEMS + 1):
                nodes = [c for c in labels[j] if c]
                w = 1 / len(nodes)
                v = model.item_embedding.weight[j] + g0[paths[j, 0]] + w * sum(g1[c] for c in nodes)
                c0 = int(paths[j, 0]) - 1
                u = h[b, -1] + level0["gate"][0, c0] * level0["z"][0, c0]
                u = u + sum(w * gate[c - 1] * z[c - 1] for c in nodes)
                prior = torch.log(level0["beta"][0, c0]) + torch.log(sum(w * beta1[c - 1] for c in nodes))
                assert torch.isclose(scores[b, j], u @ v + prior, atol=1e-4), (b, j)


def test_dense_prior_adds_beta_after_each_prefix_to_the_earlier_positions():
    """``dense_prior``: the loss of position t < L scores item j with h_t . v_j + sum_l log beta^l_t(c_l(j)),
    beta_t being the prior after prefix t (what the last position uses after the whole window)."""
    plain, dense = build(), build(dense_prior=True)
    seq, targets = toy_batch(), toy_batch(1)
    targets[:, -1] = 0  # the earlier positions alone
    with torch.no_grad():
        vectors, h, levels = dense._encode(seq, every_position=True)
        early = h[:, :-1] @ vectors[1:].T
        prior = sum(out["log_beta"][:, :-1][..., torch.as_tensor(toy_paths())[1:, level] - 1]
                    for level, out in enumerate(levels))
        keep = targets[:, :-1] > 0

        def ce(scores):
            return torch.nn.functional.cross_entropy(scores[keep], targets[:, :-1][keep] - 1, reduction="sum")

        aux = dense.loss(seq, targets) - ce(early + prior) / keep.sum()
        assert torch.isclose(plain.loss(seq, targets) - ce(early) / keep.sum(), aux, atol=1e-4)


def test_multi_label_loss_is_the_soft_node_target_and_single_labels_change_nothing():
    torch.manual_seed(0)
    single = build()
    same = HierarchicalInterestModel(N_ITEMS, toy_paths(), encoder="sasrec", dim=DIM, max_len=LENGTH,
                                     item_labels=[toy_paths()[:, :1], None])  # one label each: the plain model
    same.load_state_dict(single.state_dict())
    same.eval()
    seq, targets = toy_batch(), toy_batch(1)
    with torch.no_grad():
        assert torch.allclose(same.scores(seq), single.scores(seq), atol=1e-5)
        torch.manual_seed(1)
        a = single.loss(seq, targets)
        torch.manual_seed(1)
        b = same.loss(seq, targets)
    assert torch.isclose(a, b, atol=1e-5)
    multi = HierarchicalInterestModel(N_ITEMS, toy_paths(), encoder="sasrec", dim=DIM, max_len=LENGTH,
                                      item_labels=[None, toy_labels()], aux_weight=1.0)
    multi.load_state_dict(single.state_dict())
    multi.eval()
    with torch.no_grad():
        _, _, levels = multi._encode(seq, every_position=True)
        base = HierarchicalInterestModel(N_ITEMS, toy_paths(), encoder="sasrec", dim=DIM, max_len=LENGTH,
                                         item_labels=[None, toy_labels()], aux_weight=0.0)
        base.load_state_dict(single.state_dict())
        base.eval()
        node_part = multi.loss(seq, targets) - base.loss(seq, targets)
        keep = targets > 0
        expected = 0.0
        for level, out in enumerate(levels):
            labels = toy_paths()[:, level:level + 1] if level == 0 else toy_labels()
            terms = []
            for b, t in zip(*torch.nonzero(keep, as_tuple=True)):
                nodes = [c for c in labels[int(targets[b, t])] if c]
                terms.append(-sum(out["log_beta"][b, t, c - 1] for c in nodes) / len(nodes))
            expected += torch.stack(terms).mean()
    assert torch.isclose(node_part, expected, atol=1e-4)


def test_genres_become_a_multi_label_level():
    import pandas as pd

    from hiercourse.datasets.schema import InteractionData
    from hiercourse.preprocessing import leave_one_out

    items = pd.DataFrame({"item": [1, 2, 3], "title": ["a", "b", "c"], "category_path": ["Comedy", "Drama", ""],
                          "categories": [("Comedy", "Romance"), ("Drama",), ()]})  # as MovieLens reads them
    extra = pd.DataFrame({"item": [4], "title": ["d"], "category_path": ["Romance"], "categories": [("Romance",)]})
    log = pd.DataFrame({"user": np.repeat([1, 2], 4), "item": [1, 2, 3, 4, 4, 3, 2, 1],
                        "timestamp": np.tile(np.arange(4), 2)})
    data = InteractionData(name="toy", interactions=log, items=pd.concat([items, extra], ignore_index=True),
                           info={"level_names": ["genre"]})
    split = leave_one_out(data)
    taxonomy = split.taxonomy
    assert taxonomy.multi_label
    names = split.node_names[0]
    as_names = [[names[c] for c in row if c] for row in taxonomy.labels(0)]
    assert as_names[1:] == [["Comedy", "Romance"], ["Drama"], [], ["Romance"]]
    assert np.array_equal(taxonomy.labels(0)[:, 0], split.item_paths[:, 0])
    model = HierarchicalInterestModel.from_split(split, dim=8, max_len=4, multi_label=True)
    assert model.multi_label == [True]
    with pytest.raises(DataError, match="multi-label"):
        from hiercourse.retrieval import user_state
        user_state(model, torch.as_tensor(split.history("test")))


def test_future_node_target_is_the_share_of_the_later_items_nodes():
    """``node_target="future"``: beta after prefix t is trained toward the node shares of targets t, t+1, ...
    (by hand, position by position); with one target left it is the next-node cross-entropy."""
    torch.manual_seed(0)
    seq, targets = toy_batch(), toy_batch(1)
    targets[0, :5] = 0
    with torch.no_grad():
        plain, future = build(aux_weight=0.0), build(aux_weight=1.0, node_target="future")
        _, _, levels = future._encode(seq, every_position=True)
        node_part = future.loss(seq, targets) - plain.loss(seq, targets)
    paths = toy_paths()
    expected = 0.0
    for level, out in enumerate(levels):
        terms = []
        for b in range(len(seq)):
            for t in range(LENGTH):
                if targets[b, t] == 0:
                    continue
                later = [int(paths[int(j), level]) for j in targets[b, t:] if j > 0]
                shares = torch.bincount(torch.tensor(later) - 1, minlength=out["log_beta"].shape[-1]).float()
                terms.append(-(shares / shares.sum() * out["log_beta"][b, t]).sum())
        expected += torch.stack(terms).mean()
    assert torch.isclose(node_part, expected, atol=1e-4)
    with pytest.raises(DataError, match="node_target"):
        build(node_target="later")


def test_a_multi_label_model_saves_and_loads(tmp_path):
    from hiercourse.training import load, save

    torch.manual_seed(0)
    model = HierarchicalInterestModel(N_ITEMS, toy_paths(), encoder="sasrec", dim=DIM, max_len=LENGTH,
                                      item_labels=[None, toy_labels()], dense_prior=True).eval()
    again = load(save(model, tmp_path / "multi.pt")).eval()
    assert again.multi_label == [False, True] and again.dense_prior
    with torch.no_grad():
        assert torch.allclose(again.scores(toy_batch()), model.scores(toy_batch()), atol=1e-6)


def test_item_shrinkage_scores_a_never_trained_item_by_its_path_alone():
    """``item_shrinkage`` k: v_j = n_j / (n_j + k) e_j + sum_l g^l; with n_j = 0 the item's own embedding is gone
    (and gets no gradient), so two untrained items of one node score alike for every user."""
    counts = np.arange(N_ITEMS + 1) % 4  # items 4, 8, ... never trained on
    counts[0] = 0
    torch.manual_seed(0)
    model = HierarchicalInterestModel(N_ITEMS, toy_paths(), encoder="sasrec", dim=DIM, max_len=LENGTH,
                                      item_shrinkage=2.0, item_counts=counts).eval()
    with torch.no_grad():
        vectors = model.item_vectors()
        paths = torch.as_tensor(toy_paths())
        path_part = model.node_embeddings[0].weight[paths[:, 0]] + model.node_embeddings[1].weight[paths[:, 1]]
        scale = torch.as_tensor(counts / (counts + 2.0), dtype=torch.float)
        assert torch.allclose(vectors, scale[:, None] * model.item_embedding.weight + path_part, atol=1e-6)
        new = [j for j in range(1, N_ITEMS + 1) if counts[j] == 0]
        same_node = [(a, b) for a in new for b in new if a < b and torch.equal(paths[a], paths[b])]
        assert same_node
        scores = model.scores(toy_batch())
        a, b = same_node[0]
        assert torch.allclose(scores[:, a], scores[:, b], atol=1e-5)
    model.train()
    model.loss(toy_batch(), toy_batch(1)).backward()
    assert model.item_embedding.weight.grad[new].abs().sum() == 0
    with pytest.raises(DataError, match="item_counts"):
        HierarchicalInterestModel(N_ITEMS, toy_paths(), item_shrinkage=1.0)


def test_new_item_mean_gives_an_untrained_item_its_nodes_mean_embedding(tmp_path):
    """``new_item_mean``: an item with n_j = 0 takes as e_j the mean of e over its fine node's trained items (by
    hand); trained items keep their own; a node with no trained item gives 0; the mean gets no gradient through the
    new items, and the option survives save/load."""
    from hiercourse.training import load, save

    counts = np.arange(N_ITEMS + 1) % 4  # items 4, 8, ... never trained on
    counts[0] = 0
    fine = toy_paths()[:, 1]
    counts[fine == 6] = 0  # fine node 6: no trained item at all
    torch.manual_seed(0)
    model = HierarchicalInterestModel(N_ITEMS, toy_paths(), encoder="sasrec", dim=DIM, max_len=LENGTH,
                                      new_item_mean=True, item_counts=counts).eval()
    own = model.item_embedding.weight.detach()
    paths = torch.as_tensor(toy_paths())
    path_part = (model.node_embeddings[0].weight[paths[:, 0]] + model.node_embeddings[1].weight[paths[:, 1]]).detach()
    expected = own.clone()
    for j in range(1, N_ITEMS + 1):
        if counts[j] == 0:
            mates = [k for k in range(1, N_ITEMS + 1) if fine[k] == fine[j] and counts[k] > 0]
            expected[j] = own[mates].mean(0) if mates else 0.0
    assert (fine == 6).sum() > 0 and all(counts[fine == 6] == 0)
    assert torch.allclose(model.item_vectors().detach(), expected + path_part, atol=1e-6)
    assert torch.equal(model.item_vectors()[0].detach(), torch.zeros(DIM))
    # a loss on the new items' vectors alone reaches no item embedding (the mean is not trained through them)
    new = [j for j in range(1, N_ITEMS + 1) if counts[j] == 0]
    model.item_vectors()[new].sum().backward()
    assert model.item_embedding.weight.grad is None or model.item_embedding.weight.grad.abs().sum() == 0
    again = load(save(model, tmp_path / "m.pt"))
    assert torch.allclose(again.item_vectors(), model.item_vectors(), atol=1e-6)
    with pytest.raises(DataError, match="item_counts"):
        HierarchicalInterestModel(N_ITEMS, toy_paths(), new_item_mean=True)


def test_learned_prior_weight_scales_each_levels_log_beta_and_trains(tmp_path):
    """``learned_prior_weight``: s = h . v + interest + sum_l lambda_l log beta^l. With lambda = 1 the scores are
    the plain model's, with lambda = 0 those of the model without its prior; any lambda matches the terms by
    hand; the weights get a gradient from the ranking loss and survive save/load."""
    from hiercourse.explain import score_parts

    torch.manual_seed(0)
    plain = HierarchicalInterestModel(N_ITEMS, toy_paths(), encoder="sasrec", dim=DIM, max_len=LENGTH).eval()
    weighted = HierarchicalInterestModel(N_ITEMS, toy_paths(), encoder="sasrec", dim=DIM, max_len=LENGTH,
                                         learned_prior_weight=True).eval()
    missing = weighted.load_state_dict(plain.state_dict(), strict=False)
    assert missing.missing_keys == ["prior_weights"] and not missing.unexpected_keys
    no_prior = HierarchicalInterestModel(N_ITEMS, toy_paths(), encoder="sasrec", dim=DIM, max_len=LENGTH,
                                         use_prior=False).eval()
    no_prior.load_state_dict(plain.state_dict())
    history = toy_batch()
    with torch.no_grad():
        assert torch.allclose(weighted.scores(history), plain.scores(history), atol=1e-5)
        weighted.prior_weights.zero_()
        assert torch.allclose(weighted.scores(history), no_prior.scores(history), atol=1e-5)
        weighted.prior_weights.copy_(torch.tensor([0.5, 2.0]))
        items = torch.arange(1, N_ITEMS + 1).repeat(len(history), 1)
        levels = [plain.level_interests(plain.hidden(history, plain.item_vectors()), history, l) for l in range(2)]
        by_hand = no_prior.scores(history)[:, 1:] + sum(
            w * levels[l]["log_beta"][:, -1][:, torch.as_tensor(toy_paths())[1:, l] - 1]
            for l, w in enumerate([0.5, 2.0]))
        assert torch.allclose(weighted.scores(history)[:, 1:], by_hand, atol=1e-4)
        parts = score_parts(weighted, history, items)
        assert torch.allclose(parts["total"], parts["score"], atol=1e-4)
        assert torch.allclose(parts["prior"][..., 1], 2.0 * levels[1]["log_beta"][:, -1].gather(
            1, torch.as_tensor(toy_paths())[items, 1] - 1), atol=1e-5)
    weighted.train()
    weighted.loss(toy_batch(), toy_batch(1)).backward()
    assert weighted.prior_weights.grad is not None and weighted.prior_weights.grad.abs().sum() > 0
    from hiercourse.training import load, save

    again = load(save(weighted, tmp_path / "weighted.pt")).eval()
    assert again.learned_prior_weight and torch.equal(again.prior_weights, weighted.prior_weights)


def test_the_evidence_prior_weighs_each_items_prior_by_its_training_count():
    """prior_evidence k: item j's prior weight is lambda_l + (1 - lambda_l) k / (n_j + k), a new item's is 1."""
    from hiercourse.explain import score_parts
    from hiercourse.retrieval import user_state

    counts = np.arange(N_ITEMS + 1) % 4  # items trained on 0 to 3 times
    model = build(learned_prior_weight=True, prior_evidence=2.0, item_counts=counts)
    with torch.no_grad():
        model.prior_weights.copy_(torch.tensor([0.2, -0.5]))
    seq, paths = toy_batch(), toy_paths()
    with torch.no_grad():
        log_betas = [torch.log(out["beta"]) for out in model.interests(seq)]
        prior = model.prior_scores(log_betas)
        items = torch.tensor([1, 4, 8, 30])
        rowwise = model.prior_scores(log_betas, items, rowwise=True)  # row b scores items[b]
    for b in range(len(seq)):
        for j in range(1, N_ITEMS + 1):
            expected = sum((lam + (1 - lam) * 2.0 / (counts[j] + 2.0)) * log_betas[l][b, paths[j, l] - 1]
                           for l, lam in enumerate((0.2, -0.5)))
            assert torch.isclose(prior[b, j], torch.as_tensor(expected), atol=1e-5), (b, j)
    assert torch.allclose(rowwise, prior[torch.arange(4), items], atol=1e-6)  # one item per row: the same terms
    new = int(np.flatnonzero(counts[1:] == 0)[0]) + 1  # a never-trained item keeps the full prior at every level
    assert torch.isclose(prior[0, new], sum(lb[0, paths[new, l] - 1] for l, lb in enumerate(log_betas)), atol=1e-5)
    parts = score_parts(model, seq, torch.arange(1, N_ITEMS + 1).expand(len(seq), -1))
    assert torch.allclose(parts["total"], parts["score"], atol=1e-4)  # the explanation still adds up
    with pytest.raises(DataError, match="score the items exhaustively"):
        user_state(model, seq)
    with pytest.raises(DataError, match="learned_prior_weight"):
        build(prior_evidence=1.0, item_counts=counts)

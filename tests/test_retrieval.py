"""Coarse-to-fine retrieval (hiercourse.retrieval): exact where it must be, batched, and the big shop it runs on."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hiercourse import retrieval as R
from hiercourse.datasets.shop import BIG_PRESETS, make_big_shop
from hiercourse.errors import DataError
from hiercourse.models.hierarchical import HierarchicalInterestModel
from hiercourse.preprocessing import collapse_repeats, leave_one_out


@pytest.fixture(scope="module")
def setup():
    data = make_big_shop("10k", n_users=120, fanout=(3, 4, 5), items_per_leaf=7, events_per_user=40, seed=1)
    data.interactions = collapse_repeats(data.interactions)
    split = leave_one_out(data, max_len=20, all_items=True)
    torch.manual_seed(0)
    model = HierarchicalInterestModel.from_split(split, dim=16, max_len=20).eval()
    users = np.arange(40)
    history = split.history("test")[users]
    return split, model, history, R.padded_seen(split, "test", users)


def test_candidate_scores_are_the_models_scores(setup):
    split, model, history, _ = setup
    state = R.user_state(model, history)
    items = torch.arange(1, model.n_items + 1).expand(len(history), -1)
    with torch.no_grad():
        full = model.scores(history)[:, 1:]
    torch.testing.assert_close(R.candidate_scores(model, state, items), full, atol=1e-4, rtol=1e-5)
    shuffled = items[:, torch.randperm(items.shape[1])]  # an item's score does not depend on its neighbours
    assert torch.equal(R.candidate_scores(model, state, shuffled),
                       R.candidate_scores(model, state, items).gather(1, shuffled - 1))


@pytest.mark.parametrize("how", ["model", "prior"])
def test_a_beam_over_every_node_is_the_exhaustive_top_k(setup, how):
    split, model, history, seen = setup
    state = R.user_state(model, history)
    exact = R.exhaustive_top_k(model, history, 10, seen, state=state, chunk_items=37)
    wide = R.beam_top_k(model, history, 10, beam=[3, 12, 60], exclude=seen, how=how, state=state)
    assert torch.equal(wide["items"], exact["items"]) and torch.equal(wide["scores"], exact["scores"])
    assert (wide["items_scored"] == model.n_items).all() and (wide["nodes_scored"] == 3 + 12 + 60).all()
    assert not (exact["items"].unsqueeze(2) == seen.unsqueeze(1)).any(), "seen items are excluded"
    narrow = R.beam_top_k(model, history, 10, beam=2, exclude=seen, how=how, state=state)
    assert (narrow["items_scored"] == 2 * 7).all() and (narrow["nodes_scored"] == 3 + 2 * 4 + 2 * 5).all()
    # the beam's list is the exhaustive ranking restricted to the items it kept: its scores never beat it
    assert (narrow["scores"] <= exact["scores"] + 0).all()


def test_a_beam_with_fewer_than_k_unseen_items_pads_with_0_never_a_seen_item(setup):
    _, model, history, seen = setup
    out = R.beam_top_k(model, history, 10, beam=1, exclude=seen)  # one leaf of 7 items, some of them seen
    short = torch.isinf(out["scores"])
    assert short.any() and (out["items"][short] == 0).all() and (out["items"][~short] > 0).all()
    returned_seen = (out["items"].unsqueeze(2) == seen.unsqueeze(1)) & (seen > 0).unsqueeze(1)
    assert not returned_seen.any(), "a seen item is never returned"


def test_batching_and_chunking_give_each_users_own_result(setup, monkeypatch):
    _, model, history, seen = setup
    batched = R.beam_top_k(model, history[:6], 5, beam=2, exclude=seen[:6])
    monkeypatch.setattr(R, "CHUNK_ELEMENTS", 64)  # many small chunks of users
    chunked = R.beam_top_k(model, history[:6], 5, beam=2, exclude=seen[:6])
    assert torch.equal(batched["items"], chunked["items"]) and torch.equal(batched["scores"], chunked["scores"])
    for u in range(6):
        alone = R.beam_top_k(model, history[u:u + 1], 5, beam=2, exclude=seen[u:u + 1])
        assert torch.equal(alone["items"][0], batched["items"][u])
        torch.testing.assert_close(alone["scores"][0], batched["scores"][u])


def test_a_narrow_beam_misses_an_item_that_only_the_exhaustive_search_finds():
    """Two departments, one leaf each. The prior prefers department A, but item 3 (in B) scores highest."""
    paths = torch.tensor([[0, 0], [1, 1], [1, 1], [2, 2]])
    model = SimpleNamespace(item_paths=paths, n_items=3)
    state = {
        "h": torch.tensor([[1.0, 0.0]]),
        "log_beta": [torch.tensor([[-0.1, -3.0]]), torch.tensor([[0.0, 0.0]])],
        "interest": [torch.zeros(1, 2, 2), torch.zeros(1, 2, 2)],
        "vectors": torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, 0.0], [10.0, 0.0]]),
        "node_vectors": [torch.zeros(2, 2), torch.zeros(2, 2)],
    }
    history = torch.zeros(1, 1, dtype=torch.long)
    exact = R.exhaustive_top_k(model, history, 1, state=state)
    assert exact["items"].tolist() == [[3]] and exact["scores"].item() == pytest.approx(10 - 3.0)
    narrow = R.beam_top_k(model, history, 1, beam=1, state=state)
    assert narrow["items"].tolist() == [[1]] and narrow["items_scored"].tolist() == [2]
    assert R.beam_top_k(model, history, 1, beam=2, state=state)["items"].tolist() == [[3]]
    seen = torch.tensor([[3]])
    assert R.beam_top_k(model, history, 1, beam=2, exclude=seen, state=state)["items"].tolist() == [[1]]
    with pytest.raises(DataError, match="two parents"):
        R.ItemTree.from_paths(torch.tensor([[0, 0], [1, 1], [2, 1]]))


def test_the_big_shop_has_the_requested_catalogue_and_tree():
    assert {s: int(np.prod(f)) * per for s, (_, f, per, _) in BIG_PRESETS.items()} == \
        {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
    data = make_big_shop("10k", n_users=200)
    assert len(data.items) == 10_000 and data.items["item"].is_unique
    assert data.info["level_names"] == ["department", "category", "subcategory"]
    split = leave_one_out(collapse_repeats(data.interactions).pipe(lambda f: data.__class__(
        "shop", f, data.items, data.users, data.truth, data.info)), all_items=True)
    assert split.n_items == 10_000 and split.item_paths.shape == (10_001, 3)
    assert [int(split.item_paths[:, l].max()) for l in range(3)] == [10, 100, 1_000]
    deep = make_big_shop("10k", n_users=30, fanout=(2, 3, 4, 5), items_per_leaf=2, seed=4)
    assert len(deep.items) == 240 and deep.items["category_path"].str.count(" > ").eq(3).all()
    again = make_big_shop("10k", n_users=30, fanout=(2, 3, 4, 5), items_per_leaf=2, seed=4)
    assert deep.interactions.equals(again.interactions)
    weights = deep.truth["leaf_weights"]
    np.testing.assert_allclose(weights.sum(1), 1.0)
    tree = R.ItemTree.from_paths(leave_one_out(deep, all_items=True).item_paths)
    assert tree.n_nodes == [2, 6, 24, 120] and tree.leaf_items.shape == (120, 2)


def test_faiss_on_the_dot_product_form(setup):
    faiss = pytest.importorskip("faiss")
    _, model, history, seen = setup
    state = R.user_state(model, history)
    items, queries = R.dot_product_form(model, state)
    assert items.shape == (model.n_items, 16 + 3 * 17) and queries.shape == (len(history), items.shape[1])
    # the inner product is the score up to a constant per user, for the items off the history's nodes
    # (histories of one item here, so most items are off them at every level)
    single = torch.zeros_like(history[:5]).index_fill(1, torch.tensor([history.shape[1] - 1]), 0)
    single[:, -1] = history[:5, -1]
    one = R.user_state(model, single)
    _, single_queries = R.dot_product_form(model, one)
    exact = R.candidate_scores(model, one, torch.arange(1, model.n_items + 1).expand(len(single), -1))
    gap = exact.numpy() - single_queries @ items.T
    paths = model.item_paths[1:]
    for u in range(len(single)):
        off = (paths != model.item_paths[single[u, -1]]).all(1).numpy()
        assert off.sum() > 5 and np.ptp(gap[u, off]) < 1e-3
        assert np.ptp(gap[u, ~off]) > 1e-3  # the history's own nodes carry their extra terms
    faiss.omp_set_num_threads(1)
    ivf = R.faiss_index(items, "ivf", nlist=4)
    everything = R.faiss_top_k(model, ivf, state, queries, 10, model.n_items, seen, nprobe=4)
    reference = R.exhaustive_top_k(model, history, 10, seen, state=state)
    assert torch.equal(everything["items"], reference["items"])  # every item a candidate: exact
    hnsw = R.faiss_index(items, "hnsw", hnsw_m=8)
    found = R.faiss_top_k(model, hnsw, state, queries, 10, 50, seen, ef_search=64)
    assert found["items"].shape == (len(history), 10)
    assert R.overlap_at_k(found["items"], reference["items"]).mean() > 0.3


def test_grouping_items_by_node_gives_the_same_scores_and_loss(setup, monkeypatch):
    """Deep trees over big catalogues score the interest term node by node (grouped_node_scores)."""
    from hiercourse.models import hierarchical
    from hiercourse.models.sequence import Negatives

    split, model, history, _ = setup
    inputs, targets = split.train_windows(20)
    negatives = Negatives(torch.arange(1, 60), torch.full((model.n_items + 1,), -5.0))
    with torch.no_grad():
        scores, loss = model.scores(history), model.loss(inputs[:16], targets[:16], negatives)
        monkeypatch.setattr(hierarchical, "GROUPED_ABOVE", 0)
        torch.testing.assert_close(model.scores(history), scores, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(model.loss(inputs[:16], targets[:16], negatives), loss)


def test_recall_cost_plot_reads_the_committed_table():
    """One panel per catalogue, one line per method (FAISS split by its candidates), exhaustive rows left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hiercourse.plots.scale import plot_recall_cost, retrieval_curves
    from hiercourse.results import load_results

    runs = load_results("retrieval_shop")
    curves = retrieval_curves(runs)
    assert {n for n, _ in curves} == set(runs["n_items"])
    assert (10_000, "beam (model)") in curves and (10_000, "faiss ivf-flat, 100 cand.") in curves
    beam = curves[(10_000, "beam (model)")]
    assert beam["items_scored"].is_monotonic_increasing and len(beam) == (runs["method"] == "beam (model)").sum() // 3
    fig = plot_recall_cost(runs)
    assert len(fig.axes) == runs["n_items"].nunique()
    assert all(ax.get_xscale() == "log" for ax in fig.axes)
    plt.close(fig)
    with pytest.raises(ValueError, match="missing"):
        retrieval_curves(runs.drop(columns="recall"))


def test_padded_seen_keeps_a_revisited_target_as_the_protocol_does():
    """``evaluation.candidate_mask`` never masks the target; neither does the retrieval's exclusion."""
    from hiercourse.evaluation import candidate_mask

    data = make_big_shop("10k", n_users=60, fanout=(3, 4, 5), items_per_leaf=7, events_per_user=40, seed=2)
    data.interactions = collapse_repeats(data.interactions)
    split = leave_one_out(data, max_len=20, all_items=True)
    users = np.arange(split.n_users)
    targets = split.targets("test").numpy()
    strict, kept = R.padded_seen(split, "test", users, keep_targets=False), R.padded_seen(split, "test", users)
    revisit = (strict.numpy() == targets[:, None]).any(1)
    assert revisit.any() and not (kept.numpy() == targets[:, None]).any()
    indptr, indices = (t.numpy() for t in split.seen("test"))
    allowed = candidate_mask(indptr, indices, torch.as_tensor(users), split.n_items + 1, torch.as_tensor(targets))
    excluded = torch.zeros_like(allowed).scatter_(1, kept, True)
    excluded[:, 0] = True
    assert torch.equal(~excluded, allowed), "the same items are ranked as in evaluate()"

"""Explanations of the hierarchical model (chapter 11): exact decompositions, attention maps, counterfactuals."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hiercourse.errors import DataError
from hiercourse.explain import (
    attention_maps,
    counterfactual,
    explain_scores,
    faithfulness,
    history_attribution,
    position_contributions,
    random_positions,
    remove_history,
    score_parts,
    top_attributed,
)
from hiercourse.models import build_model
from hiercourse.models.hierarchical import HierarchicalInterestModel


def _random_model(seed: int, encoder: str, n_levels: int, use_interest: bool = True, use_prior: bool = True):
    """A randomly initialised hierarchical model over a random hierarchy (some items without a node)."""
    rng = np.random.default_rng(seed)
    n_items = int(rng.integers(8, 30))
    paths = np.zeros((n_items + 1, n_levels), dtype=np.int64)
    for level in range(n_levels):
        paths[1:, level] = rng.integers(0 if level else 1, 3 + 2 * level, size=n_items)  # 0 = no node
    torch.manual_seed(seed)
    model = HierarchicalInterestModel(n_items, paths, encoder=encoder, dim=8, max_len=12, use_interest=use_interest,
                                      use_prior=use_prior)
    with torch.no_grad():  # untrained gates and attention are near-constant: spread them out
        for module in (*model.attention, *model.gate_state, *model.gate_interest, *model.node_query):
            module.weight.normal_(0, 1.0)
        for bias in model.node_bias:
            bias.normal_(0, 1.0)
    history = torch.as_tensor(rng.integers(0, n_items + 1, size=(5, 12)))
    history[0, :7] = 0  # a short, left-padded history
    return model, history


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("encoder", ["sasrec", "dnn", "gru4rec"])
def test_score_parts_sum_to_the_model_score_on_random_models(seed, encoder):
    n_levels = 1 + seed % 3
    model, history = _random_model(seed, encoder, n_levels, use_interest=seed != 4, use_prior=seed != 5)
    items = torch.randint(1, model.n_items + 1, (len(history), 7), generator=torch.Generator().manual_seed(seed))
    parts = score_parts(model, history, items)
    assert parts["interest"].shape == parts["prior"].shape == (5, 7, n_levels)
    torch.testing.assert_close(parts["total"], parts["score"], atol=1e-4, rtol=0)
    torch.testing.assert_close(parts["total"], parts["state"] + parts["interest"].sum(-1) + parts["prior"].sum(-1))
    assert (parts["prior"] <= 1e-6).all()  # log of a probability
    if not model.use_interest:
        assert (parts["interest"] == 0).all()
    # each interest part splits exactly over the history positions in the item's node
    for k in range(items.shape[1]):
        contrib = position_contributions(model, history, items[:, k])
        torch.testing.assert_close(contrib["contribution"].sum(-1), parts["interest"][:, k], atol=1e-5, rtol=0)
        alpha_mass = contrib["alpha"].sum(-1)
        visited = contrib["in_node"].any(-1)
        torch.testing.assert_close(alpha_mass[visited], torch.ones(int(visited.sum())), atol=1e-5, rtol=0)
        assert (alpha_mass[~visited] == 0).all()


def _hand_model():
    """One level, two nodes: items 1, 2 in node 1, item 3 in node 2; v_j = e_j; constant gates and alpha."""
    model = HierarchicalInterestModel(3, [[0], [1], [1], [2]], encoder="dnn", dim=2, max_len=2,
                                      level_names=["genre"], node_names=[["<pad>", "A", "B"]])
    with torch.no_grad():
        model.item_embedding.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        model.node_embeddings[0].weight.zero_()
        for module in (model.attention[0], model.gate_state[0], model.node_query[0]):
            module.weight.zero_()
            module.bias.zero_()
        model.gate_interest[0].weight.zero_()
        model.node_bias[0].copy_(torch.tensor([math.log(3.0), 0.0]))  # beta = (0.75, 0.25)
        model.share_weight.zero_()
    states = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # h_1, h_2 for the history [1, 2]
    model.hidden = lambda seq, vectors=None: states.expand(len(seq), -1, -1)
    return model


def test_hand_computed_decomposition():
    model = _hand_model()
    history = torch.tensor([1, 2])
    table = explain_scores(model, history, [2, 3], item_names=["<pad>", "x", "y", "z"])
    # item 2, v = (0, 1): state h_2 . v = 2; alpha = (1/2, 1/2), z_A = (1/2, 1), gate 1/2 -> interest 1/2;
    # prior log 0.75. Item 3 (node B, never visited): no interest vector, prior log 0.25.
    expected = {"state": [2.0, 2.0], "interest/genre": [0.5, 0.0], "prior/genre": [math.log(0.75), math.log(0.25)]}
    for column, values in expected.items():
        np.testing.assert_allclose(table[column], values, atol=1e-6)
    np.testing.assert_allclose(table["score"], [2.5 + math.log(0.75), 2.0 + math.log(0.25)], atol=1e-6)
    assert table["title"].tolist() == ["y", "z"] and table["node/genre"].tolist() == ["A", "B"]
    why = history_attribution(model, history, 2, item_names=["<pad>", "x", "y", "z"])
    # contributions gate * alpha_t * h_t . v: 1/2 * 1/2 * 2 for h_2, 1/2 * 1/2 * 0 for h_1
    assert why["title"].tolist() == ["y", "x"] and why["steps_ago"].tolist() == [0, 1]
    np.testing.assert_allclose(why["alpha"], [0.5, 0.5])
    np.testing.assert_allclose(why["contribution"], [0.5, 0.0], atol=1e-6)
    # only positive contributions are named
    assert top_attributed(model, history, torch.tensor([2]), k=2).tolist() == [[False, True]]
    assert not top_attributed(model, history, torch.tensor([3]), k=2).any()
    with pytest.raises(DataError, match="item codes"):
        explain_scores(model, history, [0])


def test_remove_history_by_hand():
    history = torch.tensor([[0, 5, 6, 7], [1, 2, 3, 4]])
    remove = torch.tensor([[False, False, True, False], [True, False, False, True]])
    assert remove_history(history, remove, "pad").tolist() == [[0, 5, 0, 7], [0, 2, 3, 0]]
    assert remove_history(history, remove, "drop").tolist() == [[0, 0, 5, 7], [0, 0, 2, 3]]
    assert torch.equal(remove_history(history, torch.zeros_like(remove), "drop"), history)
    with pytest.raises(DataError, match="mode"):
        remove_history(history, remove, "delete")


def test_random_positions_pick_the_asked_number_of_real_items():
    history = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5], [0, 0, 0, 0, 9]])
    for seed in range(20):
        picked = random_positions(history, torch.tensor([2, 3, 4]), torch.Generator().manual_seed(seed))
        assert picked.sum(1).tolist() == [2, 3, 1]  # the last row has one real item only
        assert not (picked & (history == 0)).any()
    avoid = torch.tensor([[False, False, True, True, False]] * 3)
    for seed in range(20):
        picked = random_positions(history, torch.tensor([1, 3, 1]), torch.Generator().manual_seed(seed), avoid)
        assert picked[0].tolist() == [False, False, False, False, True]  # the one real position not avoided
        assert picked[1, [0, 1, 4]].all() and not picked[1, [2, 3]].any()
        assert picked[2].tolist() == [False, False, False, False, True]


class OneItemModel:
    """Scores depend on one history item only: item ``target`` gets +1 when item ``cause`` is in the history."""

    def __init__(self, n_items: int = 9, cause: int = 4, target: int = 7):
        self.n_items, self.cause, self.target = n_items, cause, target
        self.base = torch.linspace(0.0, 0.9, n_items + 1)

    def scores(self, history, users=None):
        out = self.base.expand(len(history), -1).clone()
        out[:, self.target] += (history == self.cause).any(1).float() * 1.0
        return out


def test_counterfactual_on_a_model_that_depends_on_one_item():
    model = OneItemModel()
    history = torch.tensor([[0, 1, 4, 2, 3], [5, 6, 4, 8, 2]])
    items = torch.tensor([7, 7])
    nothing = counterfactual(model, history, items, torch.zeros_like(history, dtype=torch.bool))
    assert (nothing["score_drop"] == 0).all() and (nothing["rank_before"] == nothing["rank_after"]).all()
    assert nothing["rank_before"].tolist() == [1, 1]
    cause = history == 4
    moved = counterfactual(model, history, items, cause, mode="pad")
    np.testing.assert_allclose(moved["score_drop"], 1.0)
    assert moved["rank_after"].tolist() == [3, 3]  # 7 falls behind items 8 and 9
    others = counterfactual(model, history, items, (history > 0) & ~cause)
    assert (others["score_drop"] == 0).all()
    # seen items excluded from the ranking: 8 and 9 seen by user 1 -> item 7 stays first
    exclude = torch.zeros(2, 10, dtype=torch.bool)
    exclude[1, [8, 9]] = True
    assert counterfactual(model, history, items, cause, exclude=exclude)["rank_after"].tolist() == [3, 1]
    named = faithfulness(model, history, items, cause, n_random=3)
    assert named["faithful"].all() and (named["n_named"] == 1).all()
    wrong = faithfulness(model, history, items, (history == 2), n_random=3)
    assert not wrong["faithful"].any()  # naming an item the score does not depend on
    none = faithfulness(model, history, items, torch.zeros_like(cause), n_random=3)
    assert not none["faithful"].any()


def test_faithfulness_of_top_attributed_items_on_a_hierarchical_model():
    model, history = _random_model(1, "sasrec", 2)
    items = torch.randint(1, model.n_items + 1, (len(history),), generator=torch.Generator().manual_seed(0))
    named = top_attributed(model, history, items, k=2)
    assert (named.sum(1) <= 2).all() and not (named & (history == 0)).any()
    frame = faithfulness(model, history, items, named, n_random=2)
    assert len(frame) == len(history) and frame["n_named"].tolist() == named.sum(1).tolist()
    assert set(frame["faithful"].unique()) <= {True, False}


@pytest.mark.parametrize("name", ["sasrec", "hier-sasrec"])
def test_attention_maps_reproduce_the_hidden_states(name, tiny_split):
    torch.manual_seed(0)
    model = build_model(name, tiny_split, dim=16, max_len=10)
    history = tiny_split.history("test", 10)[:6]
    model.train()  # attention_maps scores in eval mode and restores the mode
    h, weights = attention_maps(model, history)
    assert model.training
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(h, model.hidden(history), atol=1e-5, rtol=1e-5)
    n_layers, n_heads = len(model.encoder.blocks.layers), model.encoder.n_heads
    assert weights.shape == (n_layers, 6, n_heads, 10, 10)
    torch.testing.assert_close(weights.sum(-1), torch.ones(n_layers, 6, n_heads, 10))
    future = torch.ones(10, 10, dtype=torch.bool).triu(1)
    assert (weights[..., future] == 0).all()
    real = history > 0
    keys_blocked = (~real)[None, :, None, None, :] & real[None, :, None, :, None]  # real query, padding key
    assert (weights.masked_select(keys_blocked.expand_as(weights)) == 0).all()
    with pytest.raises(DataError, match="SASRec"):
        attention_maps(build_model("dnn", tiny_split, dim=16, max_len=10), history)


@pytest.fixture(scope="module")
def tiny_split():
    from hiercourse.datasets.schema import InteractionData
    from hiercourse.datasets.shop import make_shop
    from hiercourse.preprocessing import collapse_repeats, leave_one_out

    data = make_shop("tiny", seed=0)
    return leave_one_out(InteractionData("shop", collapse_repeats(data.interactions), data.items, info=data.info))


def test_explanation_widget_follows_the_pickers(tiny_split):
    import matplotlib.pyplot as plt

    from hiercourse.recommend import recommend
    from hiercourse.widgets import explanation_explorer, explanation_widget

    torch.manual_seed(0)
    model = build_model("hier-sasrec", tiny_split, dim=16, max_len=20)
    n_figures = len(plt.get_fignums())
    explorer = explanation_widget(model, tiny_split, users=[0, 1], k=4, max_len=20)
    assert explorer.report["top"]["item"].tolist() == [value for _, value in explorer.item.options]
    explorer.user.value = 1  # a learner picks another user
    user_id = int(tiny_split.idmap.decode_users([1])[0])
    titles = recommend(model, tiny_split, user_id, k=4, max_len=20)["title"].tolist()
    # the list is the user's top 4 (this user's next item was not seen before, so masking agrees)
    assert not tiny_split.seen_mask("test", [1])[0][int(tiny_split.targets("test")[1])]
    assert [label.split(". ", 1)[1] for label, _ in explorer.item.options] == titles
    assert all(title in explorer.ranking.value for title in titles)
    assert explorer.tree.value[:4] == b"\x89PNG"
    assert explorer.item.value == explorer.report["item"] == explorer.item.options[0][1]
    second = explorer.item.options[1][1]
    explorer.item.value = second  # ... then another item of the list
    assert explorer.report["item"] == second
    assert f"Why {titles[1]}" in explorer.why.value
    # the evidence shown is that item's attribution, and the parts in the list sum to the score
    history = tiny_split.history("test", 20)[1]
    expected = history_attribution(model, history, second, top=3)
    assert explorer.report["evidence"]["history_item"].tolist() == expected["history_item"].tolist()
    top = explorer.report["top"]
    parts = top[[c for c in top.columns if c.startswith(("state", "interest/", "prior/"))]].sum(axis=1)
    np.testing.assert_allclose(parts, top["score"], atol=5e-3)  # both rounded to 3 decimals
    assert len(plt.get_fignums()) == n_figures
    assert explanation_explorer(model, tiny_split, users=[1], k=4, max_len=20) is None  # no frontend here
    assert len(plt.get_fignums()) == n_figures

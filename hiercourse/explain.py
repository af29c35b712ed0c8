"""Explaining recommendations: exact score decompositions, history attributions, attention maps, counterfactuals.

The hierarchical interest model (chapter 08) scores item ``j`` for a user as

    s(u, j) = h_T . v_j  +  sum_l gate^l_{c_l(j)} z^l_{c_l(j)} . v_j  +  sum_l log beta^l_{c_l(j)}

(behaviour state, interest vectors, coarse-to-fine prior). The score is a sum, so it splits
*exactly* into those parts (``explain_scores``); and each interest vector is a weighted mean of
history states, ``z^l_c = sum_{t in c} alpha_t h_t``, so its part splits exactly again over the
history items of the node: ``gate * alpha_t * (h_t . v_j)`` (``history_attribution``). The parts
are exact given everything else the model computed; they do not say what would happen if a
history item were absent (the gate, alpha, beta and ``h_T`` all depend on the whole history).
``counterfactual`` and ``faithfulness`` ask that question directly: remove the named history items,
score again, and compare with removing as many random ones.

Taught in chapter 11.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from .errors import DataError
from .evaluation import scoring
from .models.encoders import SASRecEncoder
from .models.sequence import check_sequences

__all__ = [
    "score_parts", "explain_scores", "part_columns", "position_contributions", "history_attribution", "top_attributed",
    "attention_maps", "remove_history", "random_positions", "counterfactual", "faithfulness",
]

REMOVE_MODES = ("drop", "pad")


def _as_batch(history: torch.Tensor) -> torch.Tensor:
    history = torch.as_tensor(history)
    return history.unsqueeze(0) if history.dim() == 1 else history


def _check_hierarchical(model) -> None:
    if not (hasattr(model, "level_interests") and hasattr(model, "item_paths")):
        raise DataError(f"{type(model).__name__} is not a hierarchical interest model: score decompositions need "
                        "HierarchicalInterestModel (build_model('hier-sasrec', split) or chapter 08).")
    if any(getattr(model, "multi_label", ())):
        raise DataError("this model has a multi-label level (an item in several nodes); the score decomposition "
                        "follows one path per item: explain a model built with multi_label=False.")


def _check_items(model, items: torch.Tensor) -> None:
    if items.numel() and (int(items.min()) < 1 or int(items.max()) > model.n_items):
        raise DataError(f"items must be item codes 1..{model.n_items} (0 is padding), got "
                        f"{int(items.min())}..{int(items.max())}.")


def _encoded(model, history: torch.Tensor):
    """Item vectors, behaviour states and every level's interest outputs (eval mode, no gradients)."""
    vectors = model.item_vectors()
    h = model.hidden(history, vectors)
    levels = [model.level_interests(h, history, level) for level in range(model.n_levels)]
    return vectors, h, levels


def score_parts(model, history: torch.Tensor, items: torch.Tensor) -> dict[str, torch.Tensor]:
    """The hierarchical model's score of ``items`` split into its terms, for a batch of users.

    ``history [B, L]`` (left-padded item codes), ``items [B, K]`` (codes 1..n_items). Returns
    ``state [B, K]`` (``h_T . v_j``), ``interest [B, K, n_levels]`` (``gate^l z^l . v_j`` of the
    item's node at each level; 0 where the history never visited it or ``use_interest`` is off),
    ``prior [B, K, n_levels]`` (``log beta^l`` of the item's node times ``model.prior_weight(l, item)``: 0 with
    ``use_prior`` off),
    ``total [B, K]`` (their sum) and ``score [B, K]`` (``model.scores``, computed separately: the
    sum must equal it). Scored in eval mode, without gradients. Taught in chapter 11.
    """
    _check_hierarchical(model)
    history = _as_batch(history)
    check_sequences(history, model.n_items)
    items = torch.as_tensor(items, dtype=torch.long)
    if items.dim() == 1:
        items = items.unsqueeze(0)
    if items.shape[0] != history.shape[0]:
        raise DataError(f"items has {items.shape[0]} rows for {history.shape[0]} histories; one row per user.")
    _check_items(model, items)
    with scoring(model):
        vectors, h, levels = _encoded(model, history)
        v = vectors[items]  # [B, K, d]
        state = torch.einsum("bd,bkd->bk", h[:, -1], v)
        rows = torch.arange(len(items)).unsqueeze(1)
        interest, prior = [], []
        for level, out in enumerate(levels):
            nodes = model.item_paths[items, level]  # [B, K]
            has = (nodes > 0).to(v.dtype)
            index = (nodes - 1).clamp_min(0)
            gate = out["gate"].gather(1, index)
            z = out["z"][rows, index]  # [B, K, d]
            interest.append(gate * (z * v).sum(-1) * has * float(model.use_interest))
            prior.append(out["log_beta"][:, -1].gather(1, index) * has * model.prior_weight(level, items))
        score = model.scores(history).gather(1, items)
    interest_t, prior_t = torch.stack(interest, -1), torch.stack(prior, -1)
    return {"state": state, "interest": interest_t, "prior": prior_t,
            "total": state + interest_t.sum(-1) + prior_t.sum(-1), "score": score}


def explain_scores(model, history: torch.Tensor, items: Sequence[int],
                   item_names: Sequence[str] | None = None) -> pd.DataFrame:
    """"Why this item": one row per item of one user's list, its score split into the model's terms.

    ``history``: one user's left-padded history ``[L]`` (or ``[1, L]``); ``items``: item codes.
    Columns: ``item``, ``title`` (when ``item_names[j]`` names item code j), ``node/<level>`` (the
    item's node at each level), ``state``, ``interest/<level>``, ``prior/<level>``, ``total`` (the
    parts' sum) and ``score`` (``model.scores``; equal to ``total`` up to float rounding).
    Taught in chapter 11.
    """
    history = _as_batch(history)[:1]
    items = torch.as_tensor(np.asarray(items, dtype=np.int64)).reshape(1, -1)
    parts = score_parts(model, history, items)
    codes = items[0].numpy()
    table = pd.DataFrame({"item": codes})
    if item_names is not None:
        table["title"] = [item_names[j] for j in codes]
    paths = model.item_paths.cpu().numpy()[codes]
    for level, name in enumerate(model.level_names):
        table[f"node/{name}"] = [model.node_names[level][c] for c in paths[:, level]]
    table["state"] = parts["state"][0].numpy()
    for level, name in enumerate(model.level_names):
        table[f"interest/{name}"] = parts["interest"][0, :, level].numpy()
    for level, name in enumerate(model.level_names):
        table[f"prior/{name}"] = parts["prior"][0, :, level].numpy()
    table["total"] = parts["total"][0].numpy()
    table["score"] = parts["score"][0].numpy()
    return table


def part_columns(table: pd.DataFrame) -> list[str]:
    """The score-part columns of an ``explain_scores`` table, in order: ``state``, ``interest/<level>``...,
    ``prior/<level>``... Taught in chapter 11."""
    return ["state"] + [c for c in table.columns if c.startswith("interest/")] + \
        [c for c in table.columns if c.startswith("prior/")]


def position_contributions(model, history: torch.Tensor, items: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each history position's share of the interest term of one item per user.

    ``history [B, L]``, ``items [B]``. The interest term of level l is
    ``gate^l * z^l . v_j = sum_{t in c_l(j)} gate^l * alpha_t * (h_t . v_j)``: an exact sum over the
    history positions in the item's node. Returns ``contribution [B, n_levels, L]`` (0 outside the
    item's node), ``alpha [B, n_levels, L]`` (pooling weight within the item's node, sums to 1 over
    it), ``gate [B, n_levels]``, ``dot [B, L]`` (``h_t . v_j``) and ``in_node [B, n_levels, L]``
    (bool). Summed over positions, ``contribution`` is ``score_parts(...)["interest"]``.
    Taught in chapter 11.
    """
    _check_hierarchical(model)
    history = _as_batch(history)
    check_sequences(history, model.n_items)
    items = torch.as_tensor(items, dtype=torch.long).reshape(-1)
    if len(items) != len(history):
        raise DataError(f"got {len(items)} items for {len(history)} histories; one item per user.")
    _check_items(model, items)
    with scoring(model):
        vectors, h, levels = _encoded(model, history)
        dot = torch.einsum("bld,bd->bl", h, vectors[items])
        contributions, alphas, gates, in_nodes = [], [], [], []
        for level, out in enumerate(levels):
            node = model.item_paths[items, level]  # [B]
            index = (node - 1).clamp_min(0).unsqueeze(1)
            in_node = (out["nodes"] == node.unsqueeze(1)) & (node.unsqueeze(1) > 0)
            alpha = out["alpha_weights"] * in_node / out["mass"].gather(1, index).clamp_min(1e-12)
            gate = out["gate"].gather(1, index).squeeze(1) * float(model.use_interest)
            contributions.append(gate.unsqueeze(1) * alpha * dot)
            alphas.append(alpha)
            gates.append(gate)
            in_nodes.append(in_node)
    return {"contribution": torch.stack(contributions, 1), "alpha": torch.stack(alphas, 1),
            "gate": torch.stack(gates, 1), "dot": dot, "in_node": torch.stack(in_nodes, 1)}


def history_attribution(model, history: torch.Tensor, item: int, item_names: Sequence[str] | None = None,
                        top: int | None = None) -> pd.DataFrame:
    """The history items behind one item's interest terms, for one user.

    ``history``: one user's left-padded history ``[L]`` (or ``[1, L]``); ``item``: an item code.
    One row per (level, history position inside the item's node at that level): ``level``,
    ``node``, ``position`` (0 = oldest slot of the window; ``L - 1`` the latest behaviour),
    ``steps_ago`` (0 = the latest behaviour), ``history_item`` (+ ``title`` with ``item_names``),
    ``alpha`` (pooling weight within the node), ``gate``, ``dot`` (``h_t . v_j``) and
    ``contribution`` (``gate * alpha * dot``; per level they sum to ``interest/<level>`` of
    ``explain_scores``). Sorted by level, then contribution (largest first); ``top`` keeps the first
    rows of each level. Taught in chapter 11.
    """
    history = _as_batch(history)[:1]
    parts = position_contributions(model, history, torch.tensor([int(item)]))
    seq = history[0].cpu().numpy()
    length = len(seq)
    frames = []
    for level, name in enumerate(model.level_names):
        t = np.flatnonzero(parts["in_node"][0, level].numpy())
        node = int(model.item_paths[int(item), level])
        frame = pd.DataFrame({
            "level": name, "node": model.node_names[level][node], "position": t, "steps_ago": length - 1 - t,
            "history_item": seq[t],
        })
        if item_names is not None:
            frame["title"] = [item_names[j] for j in seq[t]]
        frame["alpha"] = parts["alpha"][0, level, t].numpy()
        frame["gate"] = float(parts["gate"][0, level])
        frame["dot"] = parts["dot"][0, t].numpy()
        frame["contribution"] = parts["contribution"][0, level, t].numpy()
        frame = frame.sort_values("contribution", ascending=False)
        frames.append(frame.head(top) if top is not None else frame)
    return pd.concat(frames, ignore_index=True)


def top_attributed(model, history: torch.Tensor, items: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Bool ``[B, L]``: the (at most) ``k`` history positions with the largest positive contribution
    (summed over levels) to each user's item ``items [B]``: the history items an explanation names.

    Positions outside the item's nodes contribute nothing and are never named, so a user whose
    history never visited the item's nodes gets no named position. Taught in chapter 11.
    """
    if k < 0:
        raise DataError(f"k must be >= 0, got {k}.")
    total = position_contributions(model, history, items)["contribution"].sum(1)  # [B, L]
    total = total.masked_fill(total <= 0, float("-inf"))
    if k == 0:
        return torch.zeros_like(total, dtype=torch.bool)
    top = total.topk(min(k, total.shape[1]), dim=1)
    named = torch.zeros_like(total, dtype=torch.bool)
    named.scatter_(1, top.indices, torch.isfinite(top.values))
    return named


def attention_maps(model, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-layer, per-head self-attention weights of a SASRec encoder over histories.

    ``model``: a sequence recommender whose encoder is the SASRec encoder (``sasrec`` or
    ``hier-sasrec``); ``history [B, L]`` (or ``[L]``). Returns ``(h [B, L, d], weights [n_layers, B,
    n_heads, L, L])``, computed in eval mode; ``h`` is the model's own ``hidden(history)`` (the
    extraction re-runs the same blocks, see ``SASRecEncoder.attention_maps``). Taught in chapter 11.
    """
    if not isinstance(getattr(model, "encoder", None), SASRecEncoder):
        raise DataError(f"{type(model).__name__} has no SASRec encoder; attention maps need 'sasrec' or "
                        "'hier-sasrec'.")
    history = _as_batch(history)
    check_sequences(history, model.n_items)
    with scoring(model):
        mask = history > 0
        x = model.item_vectors()[history] * mask.unsqueeze(-1)
        return model.encoder.attention_maps(model.input_dropout(x), mask)


def remove_history(history: torch.Tensor, remove: torch.Tensor, mode: str = "drop") -> torch.Tensor:
    """The histories with the ``remove`` positions taken out, ``[B, L]`` -> ``[B, L]``.

    ``mode="pad"`` writes padding (0) in their place: every other item keeps its position.
    ``mode="drop"`` deletes them and left-pads: the remaining items keep their order and the latest
    stays in the last slot, as if the user had never had those behaviours. Taught in chapter 11.
    """
    if mode not in REMOVE_MODES:
        raise DataError(f"mode must be one of {REMOVE_MODES}, got {mode!r}.")
    history = _as_batch(history)
    remove = torch.as_tensor(remove, dtype=torch.bool)
    if remove.shape != history.shape:
        raise DataError(f"remove must have the history's shape {tuple(history.shape)}, got {tuple(remove.shape)}.")
    kept = history.masked_fill(remove, 0)
    if mode == "pad":
        return kept
    order = torch.sort((kept > 0).long(), dim=1, stable=True).indices  # pads first, kept items in order
    return kept.gather(1, order)


def random_positions(history: torch.Tensor, counts: torch.Tensor, generator: torch.Generator | None = None,
                     avoid: torch.Tensor | None = None) -> torch.Tensor:
    """Bool ``[B, L]``: ``counts[b]`` random non-padding positions of each history, outside ``avoid``
    (bool ``[B, L]``) while enough are left, then inside it (all real positions when the history is
    shorter). The baseline an explanation's named items are compared with. Taught in chapter 11.
    """
    history = _as_batch(history)
    keys = torch.rand(history.shape, generator=generator)
    if avoid is not None:
        keys = keys + torch.as_tensor(avoid, dtype=keys.dtype)  # avoided positions come after the others
    keys = keys.masked_fill(history == 0, 3.0)
    rank = keys.argsort(1).argsort(1)
    return (rank < torch.as_tensor(counts).reshape(-1, 1)) & (history > 0)


def _rank(scores: torch.Tensor, items: torch.Tensor, exclude: torch.Tensor | None) -> torch.Tensor:
    """1 + the number of candidate items scored strictly higher than each row's item."""
    candidates = torch.ones_like(scores, dtype=torch.bool)
    candidates[:, 0] = False
    if exclude is not None:
        candidates &= ~exclude
    own = scores.gather(1, items.unsqueeze(1))
    return 1 + ((scores > own) & candidates).sum(1)


def counterfactual(model, history: torch.Tensor, items: torch.Tensor, remove: torch.Tensor, mode: str = "drop",
                   exclude: torch.Tensor | None = None) -> pd.DataFrame:
    """Score each user's item with and without the ``remove`` history positions.

    ``history [B, L]``, ``items [B]``, ``remove [B, L]`` (bool), ``mode`` as in ``remove_history``,
    ``exclude [B, n_items + 1]`` (bool, optional): items that are never candidates when ranking (the
    items seen before; each row's own item always counts). Works for any model with ``scores``.
    Returns one row per user: ``n_removed``, ``score_before``, ``score_after``, ``score_drop``
    (before - after), ``rank_before``, ``rank_after`` (1 = top). Taught in chapter 11.
    """
    history = _as_batch(history)
    items = torch.as_tensor(items, dtype=torch.long).reshape(-1)
    remove = torch.as_tensor(remove, dtype=torch.bool) & (history > 0)
    after_history = remove_history(history, remove, mode)
    with scoring(model):
        before = model.scores(history, None)
        after = model.scores(after_history, None)
    if exclude is not None:
        exclude = torch.as_tensor(exclude, dtype=torch.bool).clone()
        exclude[torch.arange(len(items)), items] = False
    s_before, s_after = before.gather(1, items[:, None])[:, 0], after.gather(1, items[:, None])[:, 0]
    return pd.DataFrame({
        "n_removed": remove.sum(1).numpy(),
        "score_before": s_before.numpy(), "score_after": s_after.numpy(),
        "score_drop": (s_before - s_after).numpy(),
        "rank_before": _rank(before, items, exclude).numpy(), "rank_after": _rank(after, items, exclude).numpy(),
    })


def faithfulness(model, history: torch.Tensor, items: torch.Tensor, named: torch.Tensor, n_random: int = 5,
                 mode: str = "drop", exclude: torch.Tensor | None = None, seed: int = 0,
                 tol: float = 1e-4) -> pd.DataFrame:
    """Does removing the history items an explanation names move the item more than removing random ones?

    ``named [B, L]`` (bool): each user's named history positions (e.g. ``top_attributed``).
    The same number of random *other* positions (not named, while the history has enough) is removed
    ``n_random`` times (seeded) for the baseline.
    Returns one row per user: ``n_named``, ``score_before``, ``drop_named``, ``drop_random`` (mean over
    the draws), ``rank_before``, ``rank_named`` (after removing the named items), ``rank_random``
    (mean), ``faithful``: the named items were some (``n_named > 0``), their removal moved the score
    (``drop_named > tol``) and by more than random removals did (``drop_named > drop_random``). A history
    with no other items than the named ones cannot pass (the baseline removes the same items).
    Taught in chapter 11.
    """
    history = _as_batch(history)
    named = torch.as_tensor(named, dtype=torch.bool) & (history > 0)
    counts = named.sum(1)
    result = counterfactual(model, history, items, named, mode, exclude)
    generator = torch.Generator().manual_seed(seed)
    drops, ranks = [], []
    for _ in range(n_random):
        draw = counterfactual(model, history, items, random_positions(history, counts, generator, avoid=named), mode,
                              exclude)
        drops.append(draw["score_drop"].to_numpy())
        ranks.append(draw["rank_after"].to_numpy())
    frame = pd.DataFrame({
        "n_named": counts.numpy(), "score_before": result["score_before"], "drop_named": result["score_drop"],
        "drop_random": np.mean(drops, 0) if drops else np.nan, "rank_before": result["rank_before"],
        "rank_named": result["rank_after"], "rank_random": np.mean(ranks, 0) if ranks else np.nan,
    })
    moved = (frame["drop_named"] > tol) & (frame["drop_named"] > frame["drop_random"])
    frame["faithful"] = (frame["n_named"] > 0) & moved
    return frame

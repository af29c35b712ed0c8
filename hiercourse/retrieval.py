"""Top-K at scale: coarse-to-fine beam search down the item tree, exhaustive scoring, and FAISS beside them.

The hierarchical model (``hiercourse.models.hierarchical``) scores item j for a user as

    s(u, j) = (h_T + sum_l gate^l_{c_l(j)} z^l_{c_l(j)}) . v_j + sum_l log beta^l_{c_l(j)}

Scoring every item costs ``n_items`` dot products per user. A tree lets the model skip most of
them (Alibaba's TDM): score the level-1 nodes, keep the best ``beam``, score their children,
keep the best ``beam`` again, ..., and score exactly only the items under the surviving leaves.

- ``ItemTree``: children of every node and items of every leaf, padded, from ``item_paths``.
- ``user_state``: what scoring needs about a batch of users (``h_T``, every level's
  ``log beta`` and interest vectors ``gate * z``), computed once by the model.
- ``candidate_scores``: ``s(u, j)`` for a different list of items per user, exactly the
  model's score (``model.scores`` up to float rounding); ``exhaustive_top_k`` runs it over the
  whole catalogue in chunks, ``beam_top_k`` over the items of the surviving leaves only, so the
  beam's ranking is the exhaustive ranking restricted to the items it kept.
- ``node_scores``: the model's own score of a node: ``"model"`` scores the node as an item
  would be scored with only the node's path (``v = sum_{l' <= l} g^{l'}``, its prior and
  interest terms down to level l); ``"prior"`` uses the coarse-to-fine prior alone
  (``sum_{l' <= l} log beta^{l'}``).
- FAISS (``faiss-cpu``, optional): ``dot_product_form`` writes the score as one inner product
  (item side ``[v_j, g^l_{c_l(j)}, b^l_{c_l(j)} per level]``, user side ``[h_T, q^l(h_T), 1 per
  level]``); what it leaves out (the history's share and interest terms, non-zero only for the
  nodes the history visited) is added back when the candidates are rescored exactly
  (``faiss_top_k``).

Everything is batched over users and vectorised (loops run over levels and chunks, never over
users), on the model's device. Taught in chapter 13.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .errors import DataError

#: Elements of the largest ``[users, items, d]`` tensor built at once (64 MB of float32).
CHUNK_ELEMENTS = 2**24


@dataclass
class ItemTree:
    """The item hierarchy as padded index tables, built once from ``item_paths [n_items + 1, n_levels]``.

    ``children[l] [C_l, max children]``: node ids (1-based) of level l + 1 under each node of
    level l (0 = padding); ``leaf_items [C_L, max items]``: the item codes of each leaf (0 =
    padding); ``ancestors[l] [C_l, l + 1]``: the node of each level 0..l above (and at) each
    node of level l. Taught in chapter 13.
    """

    n_nodes: list[int]
    children: list[torch.Tensor]
    leaf_items: torch.Tensor
    ancestors: list[torch.Tensor]

    @classmethod
    def from_paths(cls, item_paths) -> ItemTree:
        """The tree of ``item_paths``; a ``DataError`` if it is no tree (a node with two parents, an
        item without a leaf). Taught in chapter 13."""
        paths = np.asarray(item_paths.cpu() if isinstance(item_paths, torch.Tensor) else item_paths, dtype=np.int64)
        items = paths[1:]
        if items.ndim != 2 or items.shape[1] < 1 or (items <= 0).any():
            raise DataError("beam search needs every item at a node of every level (item_paths > 0 below row 0); "
                            f"got shape {paths.shape} with {int((items <= 0).any(1).sum())} item(s) off the tree.")
        n_levels = items.shape[1]
        n_nodes = [int(items[:, l].max()) for l in range(n_levels)]
        ancestors: list[np.ndarray] = []
        children = []
        for l in range(n_levels):
            table = np.zeros((n_nodes[l] + 1, l + 1), dtype=np.int64)
            table[items[:, l]] = items[:, : l + 1]
            pairs = np.unique(items[:, : l + 1], axis=0)
            if len(pairs) != len(np.unique(pairs[:, -1])):
                raise DataError(f"level {l + 1} of item_paths is no tree: a node sits under two parents.")
            ancestors.append(table[1:])
            if l:
                parent, child = pairs[:, -2], pairs[:, -1]
                children.append(_padded_groups(parent, child, n_nodes[l - 1]))
        leaf_items = _padded_groups(items[:, -1], np.arange(1, len(items) + 1), n_nodes[-1])
        return cls(n_nodes, [torch.from_numpy(c) for c in children], torch.from_numpy(leaf_items),
                   [torch.from_numpy(a) for a in ancestors])

    def to(self, device) -> ItemTree:
        """The same tree with its tables on ``device``. Taught in chapter 13."""
        return ItemTree(self.n_nodes, [c.to(device) for c in self.children], self.leaf_items.to(device),
                        [a.to(device) for a in self.ancestors])


def _padded_groups(group: np.ndarray, member: np.ndarray, n_groups: int) -> np.ndarray:
    """``[n_groups, largest]``: the members of each group (1-based group ids), 0-padded, in ``member`` order."""
    order = np.argsort(group, kind="stable")
    group, member = group[order], member[order]
    counts = np.bincount(group, minlength=n_groups + 1)[1:]
    position = np.arange(len(group)) - (np.cumsum(counts) - counts)[group - 1]
    out = np.zeros((n_groups, max(int(counts.max()), 1)), dtype=np.int64)
    out[group - 1, position] = member
    return out


@torch.no_grad()
def user_state(model, history: torch.Tensor) -> dict:
    """What scoring a batch of users needs, from the model's own parts (one encoder pass).

    Returns ``h [B, d]`` (the state after the last behaviour), ``log_beta``: one ``[B, C_l]``
    per level (times ``model.prior_weight``: 0 when the model's prior is off), ``interest``: one
    ``[B, C_l, d]`` per level (``gate * z``; 0 when the interest level is off), ``vectors [n_items + 1, d]`` and
    ``node_vectors``: one ``[C_l, d]`` per level (the node embeddings ``g^l``).
    Taught in chapter 13.
    """
    if getattr(model, "prior_evidence", 0.0):
        raise DataError("this model weighs each item's prior by the item's own training count (prior_evidence), "
                        "so a node's score is not one number: score the items exhaustively (model.scores).")
    if any(getattr(model, "multi_label", ())):
        raise DataError("coarse-to-fine retrieval descends one path per item; this model has a multi-label level "
                        "(an item in several nodes): build it with multi_label=False.")
    was_training = model.training
    model.eval()
    try:
        vectors, h, levels = model._encode(history)
    finally:
        model.train(was_training)
    return {
        "h": h[:, -1],
        "log_beta": [out["log_beta"][:, -1] * model.prior_weight(level) for level, out in enumerate(levels)],
        "interest": [out["gate"].unsqueeze(-1) * out["z"] * float(model.use_interest) for out in levels],
        "vectors": vectors,
        "node_vectors": [emb.weight[1:] for emb in model.node_embeddings],
    }


def _user_chunks(n_users: int, width: int, dim: int) -> list[slice]:
    step = max(1, CHUNK_ELEMENTS // max(1, width * dim))
    return [slice(i, i + step) for i in range(0, n_users, step)]


def _gather_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table [B, C, d]``, ``index [B, M]`` (0-based) -> ``[B, M, d]``."""
    return table.gather(1, index.unsqueeze(-1).expand(-1, -1, table.shape[-1]))


@torch.no_grad()
def candidate_scores(model, state: dict, items: torch.Tensor) -> torch.Tensor:
    """``[B, M]``: the model's ``s(u, j)`` for each user's own list ``items [B, M]`` (0 = padding: -inf).

    ``(h_T + sum_l gate^l z^l_{c_l(j)}) . v_j + sum_l log beta^l_{c_l(j)}``, every term
    gathered per (user, item); users in chunks so no tensor exceeds ``CHUNK_ELEMENTS``.
    Element-wise work and one reduction over d, so an item's score does not depend on which
    other items share its call. Taught in chapter 13.
    """
    paths = model.item_paths
    out = torch.empty(items.shape, dtype=state["h"].dtype, device=items.device)
    for rows in _user_chunks(len(items), items.shape[1], state["h"].shape[1]):
        cand = items[rows]
        user = state["h"][rows].unsqueeze(1).expand(-1, cand.shape[1], -1)
        prior = 0.0
        for level, (log_beta, interest) in enumerate(zip(state["log_beta"], state["interest"])):
            nodes = (paths[cand, level] - 1).clamp_min(0)  # [b, M], 0-based (the padding item: masked below)
            user = user + _gather_rows(interest[rows], nodes)
            prior = prior + log_beta[rows].gather(1, nodes)
        score = (user * state["vectors"][cand]).sum(-1) + prior
        out[rows] = score.masked_fill(cand == 0, -torch.inf)
    return out


@torch.no_grad()
def node_scores(model, state: dict, tree: ItemTree, level: int, nodes: torch.Tensor, how: str = "model"
                ) -> torch.Tensor:
    """``[B, N]``: the model's score of each user's nodes ``nodes [B, N]`` of ``level`` (0-based; 0 = padding: -inf).

    ``how="prior"``: the coarse-to-fine prior down to the node, ``sum_{l' <= level} log beta^{l'}``.
    ``how="model"``: the model's score of a virtual item that has the node's path and nothing
    below (``v = sum_{l' <= level} g^{l'}``): the prior plus ``(h_T + sum_{l' <= level} gate z) . v``.
    Taught in chapter 13.
    """
    if how not in ("model", "prior"):
        raise ValueError(f"how must be 'model' or 'prior', not {how!r}")
    anc = tree.ancestors[level][(nodes - 1).clamp_min(0)]  # [B, N, level + 1]
    out = torch.empty(nodes.shape, dtype=state["h"].dtype, device=nodes.device)
    for rows in _user_chunks(len(nodes), nodes.shape[1], state["h"].shape[1]):
        prior = 0.0
        user = state["h"][rows].unsqueeze(1).expand(-1, nodes.shape[1], -1)
        vector = 0.0
        for l in range(level + 1):
            index = anc[rows, :, l] - 1
            prior = prior + state["log_beta"][l][rows].gather(1, index)
            if how == "model":
                user = user + _gather_rows(state["interest"][l][rows], index)
                vector = vector + state["node_vectors"][l][index]
        score = prior + ((user * vector).sum(-1) if how == "model" else 0.0)
        out[rows] = score.masked_fill(nodes[rows] == 0, -torch.inf)
    return out


def _exclusion(items: torch.Tensor, exclude: torch.Tensor | None, n_items: int) -> torch.Tensor:
    """``[B, M]`` True where ``items`` is padding or in the user's ``exclude [B, E]`` (0-padded)."""
    bad = items == 0
    if exclude is None:
        return bad
    for rows in _user_chunks(len(items), n_items + 1, 1):
        mask = torch.zeros((len(items[rows]), n_items + 1), dtype=torch.bool, device=items.device)
        mask.scatter_(1, exclude[rows], True)
        mask[:, 0] = True
        bad[rows] |= mask.gather(1, items[rows])
    return bad


def _as_beams(beam: int | Sequence[int], n_levels: int) -> list[int]:
    beams = [int(beam)] * n_levels if isinstance(beam, (int, np.integer)) else [int(b) for b in beam]
    if len(beams) != n_levels or min(beams) < 1:
        raise ValueError(f"beam must be a positive int or one per level ({n_levels}), got {beam!r}")
    return beams


@torch.no_grad()
def beam_top_k(model, history: torch.Tensor, k: int = 10, beam: int | Sequence[int] = 10,
               tree: ItemTree | None = None, exclude: torch.Tensor | None = None, how: str = "model",
               state: dict | None = None) -> dict:
    """Top-``k`` items per user by descending the tree with a beam, scored exactly at the bottom.

    Level 1: score every node (``node_scores(..., how)``), keep the best ``beam``; each later
    level: score the children of the kept nodes, keep the best ``beam`` (an int, or one per
    level); then score with ``candidate_scores`` only the items under the kept leaves, drop
    ``exclude [B, E]`` (e.g. the items each user saw; 0-padded) and take the top ``k``.
    ``history [B, L]`` (or a ready ``state`` of ``user_state``). Returns ``items [B, k]`` (0 and
    ``scores [B, k]`` -inf where fewer than k unseen items survived), ``items_scored [B]`` and
    ``nodes_scored [B]``. Taught in chapter 13.
    """
    tree = (tree or ItemTree.from_paths(model.item_paths)).to(history.device)
    state = state if state is not None else user_state(model, history)
    beams = _as_beams(beam, len(tree.n_nodes))
    n_users = len(state["h"])
    nodes = torch.arange(1, tree.n_nodes[0] + 1, device=history.device).expand(n_users, -1)
    nodes_scored = torch.zeros(n_users, dtype=torch.long, device=history.device)
    for level, width in enumerate(beams):
        scores = node_scores(model, state, tree, level, nodes, how)
        nodes_scored += (nodes > 0).sum(1)
        top = scores.topk(min(width, nodes.shape[1]), dim=1)
        kept = nodes.gather(1, top.indices).masked_fill(torch.isinf(top.values), 0)
        table = tree.children[level] if level + 1 < len(beams) else tree.leaf_items
        nodes = table[(kept - 1).clamp_min(0)].masked_fill((kept == 0).unsqueeze(-1), 0).flatten(1)
    items = nodes  # the items of the kept leaves, [B, beam x largest leaf]
    scores = candidate_scores(model, state, items)
    scores = scores.masked_fill(_exclusion(items, exclude, model.n_items), -torch.inf)
    top = scores.topk(min(k, items.shape[1]), dim=1)
    # fewer than k unseen items under the kept leaves: the rest of the list is padding (0), never a seen item
    return {"items": items.gather(1, top.indices).masked_fill(torch.isinf(top.values), 0), "scores": top.values,
            "items_scored": (items > 0).sum(1), "nodes_scored": nodes_scored}


@torch.no_grad()
def exhaustive_top_k(model, history: torch.Tensor, k: int = 10, exclude: torch.Tensor | None = None,
                     state: dict | None = None, chunk_items: int = 65_536) -> dict:
    """Top-``k`` over every item with ``candidate_scores`` (items in chunks, a running top-k).

    The reference the beam is measured against: the same scores, so with a beam as wide as the
    tree both give the same list. Returns ``items [B, k]``, ``scores [B, k]``. Taught in chapter 13.
    """
    state = state if state is not None else user_state(model, history)
    n_users, device = len(state["h"]), state["h"].device
    best_items = torch.zeros((n_users, 0), dtype=torch.long, device=device)
    best_scores = torch.zeros((n_users, 0), dtype=state["h"].dtype, device=device)
    for begin in range(1, model.n_items + 1, chunk_items):
        items = torch.arange(begin, min(begin + chunk_items, model.n_items + 1), device=device).expand(n_users, -1)
        scores = candidate_scores(model, state, items)
        scores = scores.masked_fill(_exclusion(items, exclude, model.n_items), -torch.inf)
        all_items, all_scores = torch.cat([best_items, items], 1), torch.cat([best_scores, scores], 1)
        top = all_scores.topk(min(k, all_scores.shape[1]), dim=1)
        best_items, best_scores = all_items.gather(1, top.indices), top.values
    return {"items": best_items, "scores": best_scores}


def padded_seen(split, stage: str, users, keep_targets: bool = True) -> torch.Tensor:
    """``[len(users), most seen]``: the items each user saw before ``stage``'s target, 0-padded
    (the ``exclude`` of ``beam_top_k``). With ``keep_targets`` (the default) a re-visited target is
    not excluded: the course's protocol (``evaluation.candidate_mask``) never masks the target.
    Taught in chapter 13."""
    indptr, indices = (t.numpy() for t in split.seen(stage))
    users = np.asarray(users)
    lengths = indptr[users + 1] - indptr[users]
    out = np.zeros((len(users), max(int(lengths.max()), 1) if len(users) else 1), dtype=np.int64)
    rows = np.repeat(np.arange(len(users)), lengths)
    cols = np.arange(len(rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    out[rows, cols] = indices[np.repeat(indptr[users], lengths) + cols]
    if keep_targets:  # the protocol ranks a re-visited target like any unseen item
        out[out == split.targets(stage).numpy()[users][:, None]] = 0
    return torch.from_numpy(out)


def overlap_at_k(found: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``[B]``: the share of each row of ``reference [B, k]`` that ``found [B, k']`` holds (recall of the
    exhaustive top-k). Taught in chapter 13."""
    return (reference.unsqueeze(2) == found.unsqueeze(1)).any(2).float().mean(1)


# --------------------------------------------------------------------------- FAISS beside the tree
@torch.no_grad()
def dot_product_form(model, state: dict | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The model's score as one inner product: ``(items [n_items, D], users [B, D] or None)``, float32.

    Item j: ``[v_j, g^1_{c_1(j)}, b^1_{c_1(j)}, ..., g^L_{c_L(j)}, b^L_{c_L(j)}]``; user:
    ``[h_T, q^1, 1, ..., q^L, 1]`` with ``q^l`` the model's ``node_query`` of ``h_T``, so the
    inner product is ``h_T . v_j + sum_l (q^l . g^l + b^l)``: the model's score up to a
    constant per user, except the terms that depend on the nodes the history visited (the
    share term of ``beta`` and the interest vectors), which are 0 / constant for the others.
    Row j - 1 is item j (``D = d + L (d + 1)``). Taught in chapter 13.
    """
    paths = model.item_paths[1:]
    parts = [model.item_vectors()[1:]]
    for level, emb in enumerate(model.node_embeddings):
        nodes = paths[:, level]
        parts += [emb.weight[nodes], F.pad(model.node_bias[level], (1, 0))[nodes].unsqueeze(1)]
    items = torch.cat(parts, 1).float().cpu().numpy()
    if state is None:
        return np.ascontiguousarray(items), None
    h = state["h"]
    user = [h]
    for level in range(len(model.node_embeddings)):
        user += [model.node_query[level](h), torch.ones_like(h[:, :1])]
    return np.ascontiguousarray(items), np.ascontiguousarray(torch.cat(user, 1).float().cpu().numpy())


def load_faiss():
    """The ``faiss`` module (``faiss-cpu``, the optional extra ``hiercourse[scale]``); an ImportError that says
    how to install it when it is missing. Taught in chapter 13."""
    try:
        import faiss
    except ImportError as exc:
        raise ImportError("FAISS indexes need faiss-cpu: pip install faiss-cpu (or hiercourse[scale])") from exc
    return faiss


def faiss_index(vectors: np.ndarray, kind: str = "ivf", nlist: int = 1024, hnsw_m: int = 32,
                ef_construction: int = 40, train_size: int = 100_000, seed: int = 0):
    """A FAISS inner-product index over ``vectors [n, D]`` (float32): ``"ivf"`` (IndexIVFFlat, ``nlist``
    lists, k-means on a seeded sample of ``train_size`` rows) or ``"hnsw"`` (IndexHNSWFlat, ``hnsw_m``
    links, ``ef_construction``). Needs ``faiss-cpu`` (``pip install hiercourse[scale]``).
    Taught in chapter 13.
    """
    faiss = load_faiss()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    if kind == "ivf":
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, min(nlist, len(vectors)), faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(seed).permutation(len(vectors))[:train_size]
        index.cp.seed = seed
        index.train(vectors[np.sort(sample)])
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
    else:
        raise ValueError(f"kind must be 'ivf' or 'hnsw', not {kind!r}")
    index.add(vectors)
    return index


@torch.no_grad()
def faiss_top_k(model, index, state: dict, queries: np.ndarray, k: int = 10, candidates: int = 100,
                exclude: torch.Tensor | None = None, nprobe: int | None = None, ef_search: int | None = None
                ) -> dict:
    """Top-``k`` per user: ``candidates`` items from the FAISS ``index`` (``queries`` of
    ``dot_product_form``), rescored exactly with ``candidate_scores`` (which adds back the
    history's terms), seen items (``exclude``) dropped. ``nprobe`` (IVF) / ``ef_search`` (HNSW)
    trade recall for time. Returns ``items``, ``scores`` ``[B, k]`` and ``search_ms`` (the FAISS
    part, in all). Taught in chapter 13.
    """
    if nprobe is not None:
        index.nprobe = nprobe
    if ef_search is not None:
        index.hnsw.efSearch = ef_search
    tic = time.perf_counter()
    _, found = index.search(np.ascontiguousarray(queries, dtype=np.float32), candidates)
    search_ms = 1000 * (time.perf_counter() - tic)
    items = torch.from_numpy(found + 1).clamp_min(0).to(state["h"].device)  # -1 (none found) -> 0
    scores = candidate_scores(model, state, items)
    scores = scores.masked_fill(_exclusion(items, exclude, model.n_items), -torch.inf)
    top = scores.topk(min(k, items.shape[1]), dim=1)
    return {"items": items.gather(1, top.indices).masked_fill(torch.isinf(top.values), 0), "scores": top.values,
            "search_ms": search_ms}

"""The hierarchical interest model: behaviours -> per-node interests -> coarse-to-fine scores.

Items carry a path in a hierarchy, coarse to fine (``item_paths[j, l]`` is item
j's node at level l, 1-based per level, 0 = none). For a user's behaviours
``i_1 .. i_T``:

1. Behaviour level: ``h_t = Enc(e_{i_t} + sum_l g^l_{c_l(i_t)} + p_t)``, ``Enc`` one of
   the chapter-07 encoders, by its registered name ("dnn", "caser", "sasrec", "gru4rec"). Items are scored with
   the same path-enriched vectors ``v_j = e_j + sum_l g^l_{c_l(j)}`` (tied), so rare
   items borrow strength from their category.
2. Interest level: for every node ``c`` of level ``l``, attention pooling over the
   behaviours in ``c``: ``z^l_c = sum_{t in c} alpha_t h_t`` (``alpha`` a softmax of
   ``a(h_t)`` within the node), and a distribution ``beta^l`` over the nodes
   (learned from ``h_T``, the node embeddings and the node's share of the history).
   ``beta`` is the user's readable interest tree.
3. User level: for candidate ``j``, ``u(j) = h_T + sum_l gate^l_{c_l(j)} z^l_{c_l(j)}``
   (a sigmoid gate per level and node) and
   ``s(u, j) = u(j) . v_j + sum_l log beta^l_{c_l(j)}``.
4. Loss: next-item cross-entropy over all items (or a sampled softmax) at every position, plus
   ``aux_weight`` x the cross-entropy of the next item's node at each level (beta after
   every prefix). Earlier positions are scored by their behaviour state alone
   (``h_t . v_j``, SASRec's objective on path-enriched vectors); the full score, with
   the interest vectors and the prior, is trained at the last position, where the user
   level lives and where recommendations are made. A training step then costs little
   more than SASRec's (the [B, L, n_items] full softmax dominates both).

Everything is batched. Per-node pooling is a one-hot matmul (``node_pooling``).
Scoring all items never builds a [B, n_items, d] tensor: node vectors are scored
against all items (``[B, n_nodes, n_items]``) and each item gathers its own node; where that tensor
would be big (a deep tree over a large catalogue, chapter 13) the items are grouped by node instead.
The prior is gathered per item and level (no ``[n_items, n_nodes]`` one-hot is stored). A level with
more nodes than the model's window (``max_len``) is computed at the nodes the history visited (``node_slots``):
at most L per user, so its pooling, gates and history shares are ``[B, L, L]`` and ``[B, L, d]`` work instead
of ``[B, L, C]`` and ``[B, C, d]``; its interest term multiplies only the (user, item) pairs whose item sits in a
node the user visited (``visited_node_scores``), and in training its beta is computed after the prefixes with a
next item only (``[N, C]``, N the window's targets; a softmax over all C nodes there, as the node loss needs).

Taught in chapter 08.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DataError
from .sequence import Negatives, SequenceRecommender, check_sequences, sampled_softmax_loss

SHARE_SMOOTHING = 0.01  # keeps log(share) finite for nodes the history never visited
MULTI_LABEL_LIMIT = 2**27  # elements of a multi-label level's dense item-node matrix (512 MB of float32)


# interest_scores groups the items by node (B x K x d work) once [B, C, K] would hold more elements: the one-matmul
# form costs B x C x K x d and wins only on tiny cases (forward + backward, one thread: [32, 6, 1056] 2.1 ms dense,
# 1.8 grouped; [32, 30, 1056] 12.6 vs 3.1; a 1,000-leaf tree trained 10x slower than SASRec dense, 3x grouped)
GROUPED_ABOVE = 2**16

# a single-label level with more nodes than SLOTS_ABOVE x the model's window (max_len) is computed at its visited nodes
# (at most L per user: [B, L, L] and [B, L, d] work) instead of at all C ([B, L, C] and [B, C, d]): with 1,000
# leaves the dense per-node tensors made a training step 3x SASRec's. Smaller levels keep the one-hot form. Measured
# (a one-level tree over the big shop's items, window 50, batch 32, sampled softmax, one thread; visited / one-hot
# step time): 10 nodes 1.06, 25 1.04, 50 1.05, 100 0.96, 200 0.83, 996 0.49: the crossover lies between 50 and 100.
SLOTS_ABOVE = 1.0

# visited_node_scores multiplies its (row, item) pairs this many at a time: scoring a whole catalogue (no gradient)
# holds [PAIR_CHUNK, d] gathered vectors at most, not [pairs, d]
PAIR_CHUNK = 2**16


def grouped_node_scores(node_vectors: torch.Tensor, candidates: torch.Tensor, item_nodes: torch.Tensor) -> torch.Tensor:
    """``[B, K]``: ``node_vectors[b, c(k) - 1] . candidates[k]`` (0 where ``item_nodes[k] == 0``).

    ``node_vectors [B, C, d]``, ``candidates [K, d]``, ``item_nodes [K]`` (1..C, 0 = none). The
    candidates are sorted by node and padded to ``[C, largest node, d]``, so one batched
    matmul scores each node's items against that node's vector only: ``[C, B, largest node]``,
    about ``B x K`` numbers in a balanced tree, instead of ``[B, C, K]``. Taught in chapter 13.
    """
    n_nodes = node_vectors.shape[1]
    order = torch.argsort(item_nodes, stable=True)
    sorted_nodes = item_nodes[order]
    counts = torch.bincount(item_nodes, minlength=n_nodes + 1)
    starts = torch.cumsum(counts, 0) - counts
    position = torch.arange(len(order), device=order.device) - starts[sorted_nodes]
    real = sorted_nodes > 0
    order, node, position = order[real], sorted_nodes[real] - 1, position[real]
    width = int(counts[1:].max()) if len(node) else 0
    padded = candidates.new_zeros((n_nodes, width, candidates.shape[1]))
    padded[node, position] = candidates[order]
    per_node = node_vectors.transpose(0, 1) @ padded.transpose(1, 2)  # [C, B, width]
    out = candidates.new_zeros((node_vectors.shape[0], len(item_nodes)))
    out[:, order] = per_node[node, :, position].T
    return out


def visited_node_scores(slot_vectors: torch.Tensor, nodes: torch.Tensor, first: torch.Tensor, n_nodes: int,
                        candidates: torch.Tensor, item_nodes: torch.Tensor) -> torch.Tensor:
    """``[B, K]``: ``slot_vectors[b, s] . candidates[k]``, s the slot of item k's node in row b's history (0 where
    row b never visited that node or the item has none).

    ``slot_vectors [B, L, d]`` (a visited node's vector at its slot), ``nodes [B, L]`` and ``first [B, L]`` as
    ``node_slots`` gives them, ``candidates [K, d]``, ``item_nodes [K]`` (1..n_nodes, 0 = none). A history visits
    at most L of a big level's nodes, so most (row, item) pairs score 0: a ``[B, n_nodes]`` table maps each
    visited node to its slot, and only the pairs whose item sits in a visited node are multiplied (``P x d``
    work, P the pairs), where ``grouped_node_scores`` fills and multiplies a vector for every node.
    Taught in chapter 08."""
    rows, slots = first.nonzero(as_tuple=True)
    table = nodes.new_full((len(nodes), n_nodes + 1), -1)  # [B, C + 1]: each visited node's slot; column 0: none
    table[rows, nodes[rows, slots]] = slots
    slot_of = table[:, item_nodes]  # [B, K]
    pair_rows, pair_items = (slot_of >= 0).nonzero(as_tuple=True)
    pair_slots = slot_of[pair_rows, pair_items]
    values = [(slot_vectors[pair_rows[i:i + PAIR_CHUNK], pair_slots[i:i + PAIR_CHUNK]]
               * candidates[pair_items[i:i + PAIR_CHUNK]]).sum(-1) for i in range(0, len(pair_rows), PAIR_CHUNK)]
    out = candidates.new_zeros((len(nodes), len(item_nodes)))
    return out.index_put((pair_rows, pair_items), torch.cat(values)) if values else out


def node_slots(nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(same [B, L, L], first [B, L])`` of a history's nodes ``[B, L]`` (0 = padding): ``same[b, s, s']``
    when behaviours s and s' are in the same node (s not padding), ``first[b, s]`` when s is its node's first
    behaviour. The first behaviours are the visited nodes' *slots*: each visited node once per row.
    Taught in chapter 08."""
    present = nodes > 0
    same = (nodes.unsqueeze(2) == nodes.unsqueeze(1)) & present.unsqueeze(2)
    return same, present & ~same.tril(-1).any(2)


def prefix_shares(nodes: torch.Tensor, every_position: bool = False,
                  slots: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Each visited node's share of the history, after every prefix or the whole one, at its slot.

    ``nodes [B, L]`` (1..C, 0 = padding). Returns ``share [B, Q, L]`` (Q = L with ``every_position``, else 1):
    ``share[b, t, s]`` is the share of behaviour s's node among the behaviours up to t (the last for Q = 1),
    kept at the node's slot, its first behaviour s (0 elsewhere, and 0 for s > t), so scattering row
    ``[b, t]`` to the nodes ``nodes[b]`` gives the dense share ``[C]``. The work is ``[B, L, L]``
    comparisons, where counting per node fills ``[B, L, C]`` (mostly zeros on a big level). ``slots``: the
    history's ``node_slots`` when the caller has them already. Taught in chapter 08.
    """
    present = nodes > 0
    same, first = node_slots(nodes) if slots is None else slots
    counts = same.float().cumsum(2) if every_position else same.sum(2, keepdim=True).float()  # [B, s, Q]
    seen = present.float().cumsum(1) if every_position else present.sum(1, keepdim=True).float()  # [B, Q]
    return counts.transpose(1, 2) / seen.clamp_min(1.0).unsqueeze(-1) * first.unsqueeze(1)


def visited_pooling(h: torch.Tensor, nodes: torch.Tensor, weights: torch.Tensor,
                    slots: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``node_pooling`` at the visited nodes only: ``(z [B, L, d], mass [B, L])``, row s holding the pooled
    vector and weight mass of behaviour s's node (its slot is the first of them, ``node_slots``; padding: 0).
    ``[B, L, L] @ [B, L, d]``: the same-node matrix instead of the one-hot. ``slots`` as for
    ``prefix_shares``. Taught in chapter 08."""
    same, _ = node_slots(nodes) if slots is None else slots
    weighted = same.to(h.dtype) * weights.unsqueeze(1)  # [B, s, s']
    mass = weighted.sum(2)
    return weighted @ h / mass.clamp_min(1e-12).unsqueeze(-1), mass


def node_pooling(h: torch.Tensor, nodes: torch.Tensor, weights: torch.Tensor, n_nodes: int,
                 causal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted mean of the behaviours in each node: ``O^T (w * h) / O^T w`` with ``O`` the one-hot nodes.

    ``h [B, L, d]``, ``nodes [B, L]`` (1..n_nodes, 0 = padding) or a membership ``[B, L, n_nodes]``
    (a behaviour's share in each node: a multi-label level splits it among its item's nodes),
    ``weights [B, L]`` (>= 0).
    Returns ``(z, mass)``: ``z [B, n_nodes, d]`` and the weight mass per node ``[B, n_nodes]``
    (0 for nodes absent from the history; their z is 0). With ``causal=True`` the
    pooling is done for every prefix: ``z [B, L, n_nodes, d]``, ``mass [B, L, n_nodes]``
    (cumulative sums along time, for training every position at once). A level with more nodes than
    the model's window pools at its visited nodes only instead (``visited_pooling``).

    Taught in chapter 08.
    """
    onehot = nodes.to(h.dtype) if nodes.dim() == 3 else F.one_hot(nodes, n_nodes + 1)[..., 1:].to(h.dtype)
    weighted = onehot * weights.unsqueeze(-1)  # [B, L, C]; padding -> all zero
    if causal:
        mass = weighted.cumsum(1)
        total = (weighted.unsqueeze(-1) * h.unsqueeze(2)).cumsum(1)  # [B, L, C, d]
        return total / mass.clamp_min(1e-12).unsqueeze(-1), mass
    mass = weighted.sum(1)
    total = weighted.transpose(1, 2) @ h  # [B, C, L] @ [B, L, d]: the one-hot matmul
    return total / mass.clamp_min(1e-12).unsqueeze(-1), mass


class HierarchicalInterestModel(SequenceRecommender):
    """The course's hierarchical interest model (module docstring): any encoder + a hierarchy.

    ``item_paths``: ``[n_items + 1, n_levels]`` node ids (a split's ``item_paths``, or
    ``learn_hierarchy(...).item_paths``). ``item_labels``: per level None or ``[n_items + 1, M]``
    node ids (0-padded, the path's node first; ``Taxonomy.labels``): a multi-label level, where an item
    sits in M nodes with weight 1/M each (its vector adds their mean embedding, a behaviour counts 1/M
    in each node, its prior is ``log sum_c w_c beta_c``, the node loss a soft target). ``item_paths``
    stays the primary path (display, retrieval). ``node_names``/``level_names`` label the
    interest tree. ``use_interest``/``use_prior``/``aux_weight`` switch the parts off
    for ablations. ``dense_prior``: the loss adds the prior (beta after each prefix) to the scores
    of the earlier positions too, so the item vectors learn what the category does not already say
    at every step, as at the last one. ``node_target``: what beta after each prefix is trained to
    predict, the next item's node ("next") or the node shares of all the window's later items
    ("future": the user's interests over a horizon, not the next step only). ``item_shrinkage`` k > 0
    (with ``item_counts``, each item's training interactions) scales an item's own embedding by
    n / (n + k): the item's evidence against its nodes', so an item never trained on is scored by its
    path alone and a rare one leans on it (sharing statistical strength). ``learned_prior_weight``: the
    score adds ``lambda_l log beta^l`` with one learned weight per level (1 at the start) instead of
    ``log beta^l``: the node loss still trains beta to predict the next node, the ranking decides how far
    to trust it (a learned or noisy tree can mislead; ``prior_weight(level)`` reads the weight).
    ``prior_evidence`` k > 0 (with ``learned_prior_weight`` and ``item_counts``) gives item j the weight
    ``lambda_l + (1 - lambda_l) k / (n_j + k)``: an item never trained on keeps the full prior (its path is all the
    model knows of it), a well-known one the learned weight (single-label levels only).
    ``new_item_mean`` (with ``item_counts``): an item with no training interaction takes, as its own embedding, the
    mean of the trained items' own embeddings in its finest node (0 if it has none), the posterior mean of an item
    seen only through its node, instead of its untrained random start; the mean is not trained through it.
    Taught in chapter 08.
    """

    def __init__(
        self,
        n_items: int,
        item_paths,
        encoder: str = "sasrec",
        dim: int = 64,
        max_len: int = 50,
        dropout: float = 0.2,
        aux_weight: float = 0.5,
        use_interest: bool = True,
        use_prior: bool = True,
        dense_prior: bool = False,
        node_target: str = "next",
        item_shrinkage: float = 0.0,
        item_counts=None,
        learned_prior_weight: bool = False,
        prior_evidence: float = 0.0,
        new_item_mean: bool = False,
        level_names: Sequence[str] | None = None,
        node_names: Sequence[Sequence[str]] | None = None,
        item_labels: Sequence | None = None,
        **encoder_kwargs,
    ) -> None:
        paths = torch.as_tensor(np.asarray(item_paths), dtype=torch.long)
        if paths.dim() != 2 or paths.shape[0] != n_items + 1 or paths.shape[1] < 1:
            raise DataError(
                f"item_paths must be [n_items + 1, n_levels] = [{n_items + 1}, >=1], got {tuple(paths.shape)}; "
                "pass split.item_paths (or learn_hierarchy(...).item_paths) of the same split as n_items."
            )
        if int(paths.min()) < 0:
            raise DataError("item_paths holds negative node ids; node ids are 1-based per level, 0 = none.")
        from .registry import get_model  # the registry imports this module

        family = get_model(encoder)
        if not (isinstance(family, type) and issubclass(family, SequenceRecommender)) or family is type(self):
            raise DataError(f"encoder {encoder!r} is not a sequence model; use one of the chapter-07 names "
                            "(dnn, caser, sasrec, gru4rec) or a registered SequenceRecommender")
        super().__init__(n_items, dim, max_len, dropout,
                         encoder=family.make_encoder(dim=dim, max_len=max_len, dropout=dropout, **encoder_kwargs))
        self.encoder_name = encoder
        self.training_defaults = dict(family.training_defaults)  # its encoder's recipe changes (GRU4Rec's lr)
        self.register_buffer("item_paths", paths.clone())
        self.n_levels = paths.shape[1]
        self.n_nodes = [max(1, int(paths[:, l].max())) for l in range(self.n_levels)]
        extra = list(item_labels) if item_labels is not None else [None] * self.n_levels
        if len(extra) != self.n_levels:
            raise DataError(f"item_labels has {len(extra)} levels, item_paths {self.n_levels}; pass one entry per "
                            "level (None for a single-label level), e.g. split.taxonomy.item_labels.")
        self.multi_label = [labels is not None for labels in extra]
        for level, labels in enumerate(extra):  # a multi-label level keeps its labels and item-node weights
            if labels is None:
                continue
            labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
            if labels.dim() != 2 or labels.shape[0] != n_items + 1 or not torch.equal(labels[:, 0], paths[:, level]) \
                    or int(labels.min()) < 0 or int(labels.max()) > self.n_nodes[level]:
                raise DataError(f"item_labels[{level}] must be [n_items + 1, M] node ids of that level with the "
                                "path's node first (Taxonomy.labels); got a different table.")
            if (n_items + 1) * self.n_nodes[level] > MULTI_LABEL_LIMIT:
                raise DataError(f"multi-label level {level} has {self.n_nodes[level]:,} nodes over {n_items:,} "
                                "items, too many for its dense item-node matrix; make that level single-label.")
            present = (labels > 0).float()
            weights = present / present.sum(1, keepdim=True).clamp_min(1.0)
            # as a dense [n_items + 1, C] matrix every use is a matmul; not in the state dict: rebuilt from the
            # config (checkpoints of single-label models load unchanged)
            member = weights.new_zeros((n_items + 1, self.n_nodes[level] + 1)).scatter_add_(1, labels, weights)
            self.register_buffer(f"labels_{level}", labels.clone(), persistent=False)
            self.register_buffer(f"node_weights_{level}", member[:, 1:].contiguous(), persistent=False)
        self.level_names = list(level_names) if level_names else [f"level {l + 1}" for l in range(self.n_levels)]
        self.node_names = [list(n) for n in node_names] if node_names else [
            ["<pad>"] + [f"{self.level_names[l]} {k}" for k in range(1, c + 1)] for l, c in enumerate(self.n_nodes)
        ]
        self.aux_weight = float(aux_weight)
        self.use_interest = bool(use_interest)
        self.use_prior = bool(use_prior)
        self.dense_prior = bool(dense_prior)
        if node_target not in ("next", "future"):
            raise DataError(f"node_target must be 'next' or 'future', not {node_target!r}")
        self.node_target = node_target
        self.item_shrinkage = float(item_shrinkage)
        if self.item_shrinkage:
            if item_counts is None or len(item_counts) != n_items + 1:
                raise DataError("item_shrinkage needs item_counts [n_items + 1], the training interactions per item "
                                "(split.item_counts(); from_split passes them).")
            counts = torch.as_tensor(np.asarray(item_counts), dtype=torch.float)
            # n / (n + k): an item never trained on is its path alone, a frequent one mostly its own vector
            self.register_buffer("item_scale", counts / (counts + self.item_shrinkage), persistent=False)
        self.prior_evidence = float(prior_evidence)
        if self.prior_evidence:
            if not learned_prior_weight or item_counts is None or len(item_counts) != n_items + 1:
                raise DataError("prior_evidence needs learned_prior_weight=True and item_counts [n_items + 1], the "
                                "training interactions per item (split.item_counts(); from_split passes them).")
            if any(self.multi_label):
                raise DataError("prior_evidence weighs each item's prior by its own evidence: single-label levels "
                                "only (build the model with multi_label=False).")
            counts = torch.as_tensor(np.asarray(item_counts), dtype=torch.float)
            # k / (n + k): the share of the full prior an item keeps beyond the learned weight (1 for a new item)
            self.register_buffer("prior_trust", self.prior_evidence / (counts + self.prior_evidence),
                                 persistent=False)
        self.new_item_mean = bool(new_item_mean)
        if self.new_item_mean:
            if item_counts is None or len(item_counts) != n_items + 1:
                raise DataError("new_item_mean needs item_counts [n_items + 1], the training interactions per item "
                                "(split.item_counts(); from_split passes them).")
            if self.multi_label[-1]:
                raise DataError("new_item_mean averages over an item's finest node: the finest level must be "
                                "single-label (build the model with multi_label=False).")
            counts = torch.as_tensor(np.asarray(item_counts))
            untrained = counts == 0
            untrained[0] = False  # the padding row stays 0
            # a node's trained items: the ones whose own embedding the mean reads
            self.register_buffer("untrained", untrained, persistent=False)
            self.register_buffer("trained", (counts > 0) & (paths[:, -1] > 0), persistent=False)
        self.node_embeddings = nn.ModuleList(nn.Embedding(c + 1, dim, padding_idx=0) for c in self.n_nodes)
        for emb in self.node_embeddings:
            nn.init.normal_(emb.weight, std=0.05)
            with torch.no_grad():
                emb.weight[0].zero_()
        self.attention = nn.ModuleList(nn.Linear(dim, 1) for _ in self.n_nodes)  # a(h_t)
        self.gate_state = nn.ModuleList(nn.Linear(dim, 1) for _ in self.n_nodes)  # gate from h_T
        self.gate_interest = nn.ModuleList(nn.Linear(dim, 1, bias=False) for _ in self.n_nodes)  # ... and z_c
        self.node_query = nn.ModuleList(nn.Linear(dim, dim) for _ in self.n_nodes)  # beta from h_T . g_c
        self.node_bias = nn.ParameterList(nn.Parameter(torch.zeros(c)) for c in self.n_nodes)
        self.share_weight = nn.Parameter(torch.ones(self.n_levels))  # weight of log(history share) in beta
        self.learned_prior_weight = bool(learned_prior_weight)
        if self.learned_prior_weight:  # lambda_l: how far the ranking trusts level l's prior
            self.prior_weights = nn.Parameter(torch.ones(self.n_levels))
        self.config = dict(n_items=n_items, item_paths=paths.tolist(), encoder=encoder, dim=dim, max_len=max_len,
                           dropout=dropout, aux_weight=aux_weight, use_interest=use_interest, use_prior=use_prior,
                           dense_prior=dense_prior, node_target=node_target, item_shrinkage=item_shrinkage,
                           item_counts=None if not (item_shrinkage or prior_evidence or new_item_mean)
                           else np.asarray(item_counts).tolist(),
                           learned_prior_weight=self.learned_prior_weight, prior_evidence=self.prior_evidence,
                           new_item_mean=self.new_item_mean,
                           level_names=self.level_names, node_names=self.node_names,
                           item_labels=[None if labels is None else np.asarray(labels).tolist() for labels in extra],
                           **encoder_kwargs)

    @classmethod
    def from_split(cls, split, dim: int = 64, max_len: int = 50, multi_label: bool = False,
                   **kwargs) -> HierarchicalInterestModel:
        """The model over ``split``'s items and hierarchy (``split.taxonomy``); ``multi_label=True`` puts
        items in every node their categories name (``Taxonomy.item_labels``, e.g. all of a movie's genres)."""
        taxonomy = split.taxonomy
        if multi_label and not taxonomy.multi_label:
            raise DataError(f"multi_label=True, but no level of {split.info.get('name', 'this split')}'s hierarchy "
                            "puts an item in several nodes (its items' categories name one node each).")
        if (kwargs.get("item_shrinkage") or kwargs.get("prior_evidence") or kwargs.get("new_item_mean")) \
                and kwargs.get("item_counts") is None:
            kwargs["item_counts"] = split.item_counts()
        return cls(split.n_items, np.asarray(split.item_paths), dim=dim, max_len=max_len,
                   level_names=list(split.level_names), node_names=[list(n) for n in split.node_names],
                   item_labels=taxonomy.item_labels if multi_label else None, **kwargs)

    def labels(self, level: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(labels [n_items + 1, M], weights [n_items + 1, M])`` of ``level``: the nodes each item sits
        in and its weight in each (1/M; M = 1 on a single-label level: the path's column)."""
        if not self.multi_label[level]:
            labels = self.item_paths[:, level:level + 1]
            return labels, (labels > 0).float()
        labels = getattr(self, f"labels_{level}")
        return labels, self.node_weights(level).gather(1, (labels - 1).clamp_min(0)) * (labels > 0)

    def node_weights(self, level: int) -> torch.Tensor:
        """``[n_items + 1, C]``: item j's weight in node c of a multi-label ``level`` (1/M in each of its M
        nodes; row 0 and items without a node: 0)."""
        return getattr(self, f"node_weights_{level}")

    def membership(self, seq: torch.Tensor, level: int) -> torch.Tensor:
        """``[B, L, C]``: each behaviour's weight in each node of ``level`` (one-hot on a single-label
        level; 1/M in each of its item's M nodes on a multi-label one; 0 for padding)."""
        if self.multi_label[level]:
            return self.node_weights(level)[seq]
        return F.one_hot(self.item_paths[seq, level], self.n_nodes[level] + 1)[..., 1:].float()  # padding: all 0

    # ------------------------------------------------------------------ pieces
    def item_vectors(self) -> torch.Tensor:
        """[n_items + 1, d]: ``e_j + sum_l g^l_{c_l(j)}`` (row 0 stays 0; ``e_j`` scaled by n_j / (n_j + k)
        with ``item_shrinkage``; an untrained item's ``e_j`` its finest node's mean with ``new_item_mean``)."""
        vectors = self.item_embedding.weight
        if self.item_shrinkage:
            vectors = vectors * self.item_scale.unsqueeze(1)
        if self.new_item_mean:
            vectors = torch.where(self.untrained.unsqueeze(1), self.node_mean_embeddings(vectors).detach(), vectors)
        for level, emb in enumerate(self.node_embeddings):
            if not self.multi_label[level]:
                vectors = vectors + emb(self.item_paths[:, level])
                continue
            vectors = vectors + self.node_weights(level) @ emb.weight[1:]  # the mean of the item's nodes' embeddings
        return vectors

    def node_mean_embeddings(self, own: torch.Tensor) -> torch.Tensor:
        """[n_items + 1, d]: for every item, the mean of ``own`` (the items' own embeddings) over the trained items
        of its finest node; 0 where that node has none (and for row 0)."""
        leaf = self.item_paths[:, -1]
        sums = own.new_zeros((self.n_nodes[-1] + 1, own.shape[1])).index_add_(0, leaf[self.trained], own[self.trained])
        counts = torch.bincount(leaf[self.trained], minlength=self.n_nodes[-1] + 1).clamp_min(1).unsqueeze(1)
        means = sums / counts
        means[0] = 0.0  # items without a node
        return means[leaf]

    def level_interests(self, h: torch.Tensor, seq: torch.Tensor, level: int, every_position: bool = False,
                        positions: torch.Tensor | None = None) -> dict:
        """Interest-level tensors of one level.

        Returns ``nodes [B, L]``, ``alpha_weights [B, L]`` (unnormalised ``exp(a_t)``),
        ``z [B, C, d]`` and ``mass [B, C]`` (attention pooling over the whole history),
        ``gate [B, C]``, ``share [B, C]`` (the naive frequency) and ``beta [B, C]`` after the whole history,
        and ``logits``, ``log_beta`` ``[B, Q, C]`` with Q = L (``every_position``: after every prefix, for
        training) or 1. A single-label level with more nodes than ``SLOTS_ABOVE`` x the model's ``max_len``
        is computed at its visited nodes (``node_slots``) and adds ``slot_interest [B, L, d]``, ``gate z`` at
        each visited node's slot (0 elsewhere), and ``slots [B, L]`` (True at the slots), both read by the scores
        (``visited_node_scores``); its dense ``z``, ``mass``, ``gate`` and
        ``share`` are built for reading the tree only (not with ``every_position``: training does not need them).
        ``positions [B, L]`` (bool, with ``every_position``): the prefixes whose beta the loss reads (those with a
        target); such a level computes beta there only, ``prefix_logits [N, C]`` (rows in the order of
        ``h[positions]``), and its ``logits``, ``log_beta`` after the whole history (Q = 1): a window's padded
        positions cost no ``[C]`` row.
        """
        n_nodes = self.n_nodes[level]
        nodes = self.item_paths[seq, level]  # [B, L]; padding -> 0 (the primary node: for display)
        present = nodes > 0
        # bounded scores: exp never under/overflows
        weights = torch.exp(4.0 * torch.tanh(self.attention[level](h).squeeze(-1))) * present
        # decided by the model's window, not the batch's width: one model computes one way whatever it is given
        every_node = self.multi_label[level] or n_nodes <= SLOTS_ABOVE * self.max_len
        if every_node:  # one-hot [B, L, C] (a multi-label level: a behaviour counts 1/M in each of its nodes)
            onehot = self.membership(seq, level).to(h.dtype)
            z, mass = node_pooling(h, onehot, weights, n_nodes)
            counts = onehot.cumsum(1) if every_position else onehot.sum(1, keepdim=True)
            shares = counts / counts.sum(-1, keepdim=True).clamp_min(1.0)  # [B, Q, C]
        else:  # the visited nodes only, at their slots: [B, L, d], [B, L], shares [B, Q, L]
            slots = node_slots(nodes)  # once, for the pooling, the shares and the gates
            first = slots[1]
            z, mass = visited_pooling(h, nodes, weights, slots)
            shares = prefix_shares(nodes, every_position, slots).to(h.dtype)
        node_keys = self.node_embeddings[level].weight[1:]  # [C, d]

        def beta_logits(state, shares, index=None):  # [..., d] and the shares after each prefix -> [..., C]
            logits = self.node_query[level](state) @ node_keys.T + self.node_bias[level]
            if every_node:
                return logits + self.share_weight[level] * torch.log(shares + SHARE_SMOOTHING)
            # log(share + s) is log(s) at every node the prefix never visited: that for all, the rest at the slots
            smoothing = math.log(SHARE_SMOOTHING)
            visited = torch.log(shares + SHARE_SMOOTHING) - smoothing
            return (logits + self.share_weight[level] * smoothing).scatter_add(
                -1, index, self.share_weight[level] * visited)

        prefix_logits = None
        if every_node:
            logits = beta_logits(h if every_position else h[:, -1:], shares)
        else:
            index = (nodes - 1).clamp_min(0).unsqueeze(1).expand_as(shares)  # padding adds 0 (its share is 0)
            if every_position and positions is not None:  # the prefixes with a target, and the whole history
                prefix_logits = beta_logits(h[positions], shares[positions], index[positions])  # [N, C]
                logits = beta_logits(h[:, -1:], shares[:, -1:], index[:, -1:])
            else:
                logits = beta_logits(h if every_position else h[:, -1:], shares, index)
        gate = torch.sigmoid(self.gate_state[level](h[:, -1]) + self.gate_interest[level](z).squeeze(-1))
        # a node the history never visited has no interest vector; at the slots: each visited node once
        gate = gate * (mass > 0) if every_node else gate * first
        out = {"nodes": nodes, "alpha_weights": weights, "logits": logits, "log_beta": F.log_softmax(logits, -1),
               "beta": logits[:, -1].softmax(-1)}
        if every_node:
            out.update(z=z, mass=mass, gate=gate, share=shares[:, -1])
            return out
        out.update(slot_interest=gate.unsqueeze(-1) * z, slots=first)
        if prefix_logits is not None:
            out["prefix_logits"] = prefix_logits
        if not every_position:  # the dense forms, for reading the tree (training does not need them)
            def at_nodes(values):  # slot values (0 off the slots) -> [B, C, ...]
                where = nodes.view(*nodes.shape, *[1] * (values.dim() - 2)).expand_as(values)
                return values.new_zeros((len(values), n_nodes + 1, *values.shape[2:])).scatter_add(
                    1, where, values)[:, 1:]
            at_slot = first.to(h.dtype)
            out.update(z=at_nodes(z * at_slot.unsqueeze(-1)), mass=at_nodes(mass * at_slot), gate=at_nodes(gate),
                       share=at_nodes(shares[:, -1]))
        return out

    def interest_scores(self, vectors: torch.Tensor, levels: list[dict],
                        columns: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, K]``: ``sum_l gate^l_{c_l(j)} z^l_{c_l(j)} . v_j`` for every item j (K = n_items + 1),
        or for the items ``columns`` only.

        Node by node first (``[B, C, d] @ V.T`` is ``[B, C, K]``, one matmul), then each item
        picks its own node's column: no ``[B, K, d]`` tensor is ever built. Where that
        ``[B, C, K]`` tensor would be big (a deep tree over a large catalogue), the items
        are grouped by node instead (``grouped_node_scores``): ``[C, B, largest node]``. A level computed at
        its visited nodes scores only the pairs of a user and an item in a node that user visited
        (``visited_node_scores``).
        """
        candidates = vectors if columns is None else vectors[columns]
        paths = self.item_paths if columns is None else self.item_paths[columns]  # the candidates' nodes
        total = 0.0
        for level, out in enumerate(levels):  # a handful of levels, each fully batched
            if "slot_interest" in out:  # a big level: only the items in a node the history visited score
                item_nodes = paths[:, level]
                total = total + visited_node_scores(out["slot_interest"], out["nodes"], out["slots"],
                                                    self.n_nodes[level], candidates, item_nodes)
                continue
            interest = out["gate"].unsqueeze(-1) * out["z"]  # [B, C, d]
            if interest.shape[0] * interest.shape[1] * len(candidates) > GROUPED_ABOVE:
                labels, weights = self.labels(level)  # items grouped by node, label slot by label slot
                if columns is not None:
                    labels, weights = labels[columns], weights[columns]
                for slot in range(labels.shape[1]):
                    total = total + grouped_node_scores(interest, candidates, labels[:, slot]) * weights[:, slot]
                continue
            node_scores = interest @ candidates.T  # [B, C, K]: one matmul, fast for a few nodes
            if self.multi_label[level]:  # weigh every node's column by the item's weight there
                member = self.node_weights(level) if columns is None else self.node_weights(level)[columns]
                total = total + (node_scores * member.T).sum(1)
                continue
            item_nodes = paths[:, level]
            index = (item_nodes - 1).clamp_min(0).expand(len(node_scores), 1, -1)
            total = total + node_scores.gather(1, index).squeeze(1) * (item_nodes > 0)
        return total

    def prior_weight(self, level: int, items: torch.Tensor | None = None):
        """The weight of level ``level``'s ``log beta`` in the score: 1, 0 with ``use_prior`` off, or the
        learned ``lambda_l`` (``learned_prior_weight``; a 0-d tensor that trains). With ``prior_evidence`` and
        ``items`` (item codes, any shape): each item's own weight, ``lambda_l + (1 - lambda_l) k / (n_j + k)``."""
        if not self.use_prior:
            return 0.0
        if not self.learned_prior_weight:
            return 1.0
        weight = self.prior_weights[level]
        if self.prior_evidence and items is not None:
            return weight + (1 - weight) * self.prior_trust[items]
        return weight

    def prior_scores(self, log_betas: list[torch.Tensor], columns: torch.Tensor | None = None,
                     rowwise: bool = False) -> torch.Tensor:
        """``[..., K]``: ``sum_l log beta^l_{c_l(j)}`` for every item j (or the items ``columns``): each
        item gathers its node's term at every level (items with no node at a level get 0 there; the
        padding item gets -1e9: never a candidate). ``log_betas``: one ``[..., C_l]`` tensor per level.
        ``rowwise``: ``log_betas`` are ``[N, C_l]``, ``columns [N]`` one item per row: ``[N]``.
        Each level's term is weighted by ``prior_weight(level)`` (per item with ``prior_evidence``)."""
        paths = self.item_paths if columns is None else self.item_paths[columns]

        total = 0.0
        items = None
        if self.prior_evidence and self.use_prior:  # each item's own weight on its prior
            items = columns if columns is not None else torch.arange(len(paths), device=paths.device)
        for level, lb in enumerate(log_betas):  # column 0 of the padded block = "no node": 0
            if not self.multi_label[level] and items is not None:
                padded = F.pad(lb, (1, 0))
                node_term = (padded.gather(1, paths[:, level:level + 1])[:, 0] if rowwise
                             else padded[..., paths[:, level]])
                total = total + node_term * self.prior_weight(level, items)
                continue
            if not self.multi_label[level]:
                padded = F.pad(lb * self.prior_weight(level), (1, 0))
                total = total + (padded.gather(1, paths[:, level:level + 1])[:, 0] if rowwise
                                 else padded[..., paths[:, level]])
                continue
            member = self.node_weights(level) if columns is None else self.node_weights(level)[columns]  # [K, C]
            beta = (lb * self.prior_weight(level)).exp()  # log sum_c w_c beta_c^lambda over its nodes: a matmul
            mixed = (beta * member).sum(-1) if rowwise else beta @ member.T
            total = total + torch.where(member.sum(1) > 0, mixed.clamp_min(1e-30).log(), torch.zeros_like(mixed))
        padding = (columns if columns is not None else torch.arange(len(paths), device=paths.device)) == 0
        return total.masked_fill(padding, -1e9)

    def final_scores(self, h: torch.Tensor, vectors: torch.Tensor, levels: list[dict],
                     columns: torch.Tensor | None = None) -> torch.Tensor:
        """``s(u, j)`` after the whole history, ``[B, K]``, for all items or the items ``columns``:
        behaviour state . item vector + the coarse-to-fine prior + the interest term.

        The interest and user levels summarise the whole history, so they are added where
        recommendations are made: after the last behaviour.
        """
        candidates = vectors if columns is None else vectors[columns]
        scores = h[:, -1] @ candidates.T + self.prior_scores([out["log_beta"][:, -1] for out in levels], columns)
        if self.use_interest:
            scores = scores + self.interest_scores(vectors, levels, columns)
        return scores

    def _encode(self, seq: torch.Tensor, every_position: bool = False, positions: torch.Tensor | None = None):
        """Item vectors, behaviour states and every level's interest outputs for ``seq``."""
        vectors = self.item_vectors()
        h = self.hidden(seq, vectors)
        levels = [self.level_interests(h, seq, level, every_position, positions) for level in range(self.n_levels)]
        return vectors, h, levels

    # ------------------------------------------------------------------ the model interface
    def scores(self, history: torch.Tensor, users: torch.Tensor | None = None,
               chunk: int = 128) -> torch.Tensor:
        """[B, n_items + 1]: ``s(u, j)`` for every item (users in chunks to bound memory)."""
        check_sequences(history, self.n_items)
        parts = []
        for i in range(0, len(history), chunk):
            vectors, h, levels = self._encode(history[i:i + chunk])
            parts.append(self.final_scores(h, vectors, levels))
        return torch.cat(parts) if parts else history.new_zeros((0, self.n_items + 1), dtype=torch.float)

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor, negatives: Negatives | None = None) -> torch.Tensor:
        """Next-item CE at every position + ``aux_weight`` x per-level node CE.

        The last position is scored with the full ``s(u, j)``; earlier positions with their
        behaviour state alone (``h_t . v_j``: the costly ``[B, L, items]`` work stays SASRec's).
        Over all items, or, with ``negatives``, over the target and the sampled items.
        """
        check_sequences(inputs, self.n_items, "inputs")
        keep = targets > 0
        if not keep.any():
            raise DataError("the batch has no target (all targets are padding); check train_windows.")
        # beta after the prefixes with a target only, where a level is big (the other objectives read every prefix)
        positions = keep if self.node_target == "next" and not self.dense_prior else None
        vectors, h, levels = self._encode(inputs, every_position=True, positions=positions)
        last_targets, early_targets = targets[:, -1], targets[:, :-1]
        if negatives is None:
            # the padding column holds -1e9, so each softmax runs over the real items only
            total = F.cross_entropy(self.final_scores(h, vectors, levels), last_targets, ignore_index=0,
                                    reduction="sum")
            if early_targets.shape[1]:
                early = h[:, :-1] @ vectors[1:].T  # no padding column: item j is column j - 1
                if self.dense_prior:
                    items = torch.arange(1, self.n_items + 1, device=early.device)
                    early = early + self.prior_scores([out["log_beta"][:, :-1] for out in levels], items)
                total = total + F.cross_entropy(early.flatten(0, 1), early_targets.flatten() - 1, ignore_index=-1,
                                                reduction="sum")
        else:
            n_neg = len(negatives.items)
            # one score matrix for the shared negatives and every row's own target: [B, N + B]
            scores = self.final_scores(h, vectors, levels, torch.cat([negatives.items, last_targets]))
            rows = torch.nonzero(last_targets > 0).squeeze(1)
            total = sampled_softmax_loss(scores[rows, n_neg + rows], scores[rows, :n_neg], last_targets[rows],
                                         negatives, reduction="sum") if len(rows) else 0.0
            early_keep = early_targets > 0
            if early_keep.any():
                h_early, target = h[:, :-1][early_keep], early_targets[early_keep]
                positive, negative = (h_early * vectors[target]).sum(-1), h_early @ vectors[negatives.items].T
                if self.dense_prior:
                    log_betas = [out["log_beta"][:, :-1][early_keep] for out in levels]  # [N, C_l]
                    positive = positive + self.prior_scores(log_betas, target, rowwise=True)
                    negative = negative + self.prior_scores(log_betas, negatives.items)
                total = total + sampled_softmax_loss(positive, negative, target, negatives, reduction="sum")
        loss = total / keep.sum()
        if self.aux_weight:
            for level, out in enumerate(levels):
                node_targets = self.item_paths[targets, level]
                has = keep & (node_targets > 0)
                if not has.any():
                    continue
                if self.node_target == "future":  # the node shares of targets t, t+1, ... of the window
                    later = (self.membership(targets, level) * keep.unsqueeze(-1)).flip(1).cumsum(1).flip(1)
                    shares = later / later.sum(-1, keepdim=True).clamp_min(1e-12)
                    loss = loss - self.aux_weight * (shares * out["log_beta"]).sum(-1)[has].mean()
                    continue
                if not self.multi_label[level]:
                    logits = out["prefix_logits"][has[keep]] if "prefix_logits" in out else out["logits"][has]
                    loss = loss + self.aux_weight * F.cross_entropy(logits, node_targets[has] - 1)
                    continue
                soft = self.node_weights(level)[targets[has]]  # soft target: 1/M on each of the next item's nodes
                loss = loss - self.aux_weight * (soft * out["log_beta"][has]).sum(1).mean()
        return loss

    # ------------------------------------------------------------------ reading the interest tree
    @torch.no_grad()
    def interests(self, history: torch.Tensor) -> list[dict]:
        """Per level: ``beta``, ``share``, ``gate`` ``[B, C]`` and ``z [B, C, d]`` for whole histories."""
        check_sequences(history, self.n_items)
        was_training = self.training
        self.eval()
        try:
            h = self.hidden(history)
            out = []
            for level in range(self.n_levels):
                lv = self.level_interests(h, history, level)
                alpha = lv["alpha_weights"] / lv["mass"].gather(1, (lv["nodes"] - 1).clamp_min(0)).clamp_min(1e-12)
                out.append({
                    "beta": lv["beta"], "share": lv["share"], "gate": lv["gate"], "z": lv["z"],
                    "mass": lv["mass"], "nodes": lv["nodes"], "alpha": alpha * (lv["nodes"] > 0),
                })
            return out
        finally:
            self.train(was_training)

    def interest_tree(self, history: torch.Tensor, users=None, top: int = 5,
                      item_names: Sequence[str] | None = None, items_per_node: int = 3) -> pd.DataFrame:
        """A tidy table of each user's interest tree: the ``top`` nodes per level by ``beta``.

        Columns: ``user, level, level_name, node, node_name, beta, share`` (the node's
        share of the history, the naive estimate), ``n_behaviours``, ``items``: the
        history items behind the node, most attended first (names when
        ``item_names[j]`` is given for item code j). Taught in chapter 08.
        """
        if history.dim() == 1:
            history = history.unsqueeze(0)
        users = np.arange(len(history)) if users is None else np.asarray(users).reshape(-1)
        if len(users) != len(history):
            raise DataError(f"got {len(users)} users for {len(history)} histories; pass one user per row.")
        levels = self.interests(history)
        rows = []
        seq = history.cpu().numpy()
        for level, lv in enumerate(levels):
            beta, share = lv["beta"].cpu(), lv["share"].cpu()
            k = min(top, beta.shape[1])
            top_beta, top_nodes = beta.topk(k, dim=1)
            frame = pd.DataFrame({
                "user": np.repeat(users, k),
                "row": np.repeat(np.arange(len(users)), k),
                "level": level,
                "level_name": self.level_names[level],
                "node": (top_nodes + 1).reshape(-1).numpy(),
                "beta": top_beta.reshape(-1).numpy(),
                "share": share.gather(1, top_nodes).reshape(-1).numpy(),
            })
            # the behaviours behind each node: a long table of (row, node, item, alpha)
            nodes, alpha = lv["nodes"].cpu().numpy(), lv["alpha"].cpu().numpy()
            r, t = np.nonzero(nodes > 0)
            behaviours = pd.DataFrame({"row": r, "node": nodes[r, t], "item": seq[r, t], "alpha": alpha[r, t]})
            behaviours = behaviours.sort_values(["row", "node", "alpha"], ascending=[True, True, False])
            named = behaviours["item"].map(lambda j: item_names[j]) if item_names is not None else behaviours["item"]
            behaviours = behaviours.assign(name=named)
            grouped = behaviours.groupby(["row", "node"])
            lists = grouped["name"].apply(lambda s: list(dict.fromkeys(s))[:items_per_node]).rename("items")
            frame = frame.join(grouped.size().rename("n_behaviours"), on=["row", "node"])
            frame = frame.join(lists, on=["row", "node"])
            frame["n_behaviours"] = frame["n_behaviours"].fillna(0).astype(int)
            frame["items"] = [v if isinstance(v, list) else [] for v in frame["items"]]
            frame["node_name"] = [self.node_names[level][n] for n in frame["node"]]
            rows.append(frame)
        tree = pd.concat(rows, ignore_index=True)
        tree = tree.sort_values(["row", "level", "beta"], ascending=[True, True, False]).drop(columns="row")
        return tree[["user", "level", "level_name", "node", "node_name", "beta", "share", "n_behaviours", "items"]]\
            .reset_index(drop=True)

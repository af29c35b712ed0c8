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
The prior is gathered per item and level (no ``[n_items, n_nodes]`` one-hot is stored).

Taught in chapter 08.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DataError
from .sequence import Negatives, SequenceRecommender, check_sequences, sampled_softmax_loss

SHARE_SMOOTHING = 0.01  # keeps log(share) finite for nodes the history never visited


GROUPED_ABOVE = 2**26  # interest_scores groups items by node when [B, C, K] would hold more elements


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


def node_pooling(h: torch.Tensor, nodes: torch.Tensor, weights: torch.Tensor, n_nodes: int,
                 causal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted mean of the behaviours in each node, as a one-hot matmul.

    ``h [B, L, d]``, ``nodes [B, L]`` (1..n_nodes, 0 = padding), ``weights [B, L]`` (>= 0).
    Returns ``(z, mass)``: ``z [B, n_nodes, d]`` and the weight mass per node ``[B, n_nodes]``
    (0 for nodes absent from the history; their z is 0). With ``causal=True`` the
    pooling is done for every prefix: ``z [B, L, n_nodes, d]``, ``mass [B, L, n_nodes]``
    (cumulative sums along time, for training every position at once).

    Taught in chapter 08.
    """
    onehot = F.one_hot(nodes, n_nodes + 1)[..., 1:].to(h.dtype)  # [B, L, C]; padding -> all zero
    weighted = onehot * weights.unsqueeze(-1)
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
    ``learn_hierarchy(...).item_paths``). ``node_names``/``level_names`` label the
    interest tree. ``use_interest``/``use_prior``/``aux_weight`` switch the parts off
    for ablations. Taught in chapter 08.
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
        level_names: Sequence[str] | None = None,
        node_names: Sequence[Sequence[str]] | None = None,
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
        self.level_names = list(level_names) if level_names else [f"level {l + 1}" for l in range(self.n_levels)]
        self.node_names = [list(n) for n in node_names] if node_names else [
            ["<pad>"] + [f"{self.level_names[l]} {k}" for k in range(1, c + 1)] for l, c in enumerate(self.n_nodes)
        ]
        self.aux_weight = float(aux_weight)
        self.use_interest = bool(use_interest)
        self.use_prior = bool(use_prior)
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
        self.config = dict(n_items=n_items, item_paths=paths.tolist(), encoder=encoder, dim=dim, max_len=max_len,
                           dropout=dropout, aux_weight=aux_weight, use_interest=use_interest, use_prior=use_prior,
                           level_names=self.level_names, node_names=self.node_names, **encoder_kwargs)

    @classmethod
    def from_split(cls, split, dim: int = 64, max_len: int = 50, **kwargs) -> HierarchicalInterestModel:
        """The model over ``split``'s items and hierarchy (``split.taxonomy``)."""
        return cls(split.n_items, np.asarray(split.item_paths), dim=dim, max_len=max_len,
                   level_names=list(split.level_names), node_names=[list(n) for n in split.node_names], **kwargs)

    # ------------------------------------------------------------------ pieces
    def item_vectors(self) -> torch.Tensor:
        """[n_items + 1, d]: ``e_j + sum_l g^l_{c_l(j)}`` (row 0 stays 0)."""
        vectors = self.item_embedding.weight
        for level, emb in enumerate(self.node_embeddings):
            vectors = vectors + emb(self.item_paths[:, level])
        return vectors

    def level_interests(self, h: torch.Tensor, seq: torch.Tensor, level: int, every_position: bool = False) -> dict:
        """Interest-level tensors of one level.

        Returns ``nodes [B, L]``, ``alpha_weights [B, L]`` (unnormalised ``exp(a_t)``),
        ``z [B, C, d]`` and ``mass [B, C]`` (attention pooling over the whole history),
        ``gate [B, C]``, and ``share`` (the naive frequency), ``logits``, ``log_beta``, ``beta``
        ``[B, Q, C]`` with Q = L (``every_position``: beta after every prefix, for training) or 1.
        """
        n_nodes = self.n_nodes[level]
        nodes = self.item_paths[seq, level]  # [B, L]; padding -> 0
        present = nodes > 0
        # bounded scores: exp never under/overflows
        weights = torch.exp(4.0 * torch.tanh(self.attention[level](h).squeeze(-1))) * present
        z, mass = node_pooling(h, nodes, weights, n_nodes)
        onehot = F.one_hot(nodes, n_nodes + 1)[..., 1:].to(h.dtype)
        counts = onehot.cumsum(1) if every_position else onehot.sum(1, keepdim=True)
        state = h if every_position else h[:, -1:]
        share = counts / counts.sum(-1, keepdim=True).clamp_min(1.0)
        node_keys = self.node_embeddings[level].weight[1:]  # [C, d]
        logits = (
            self.node_query[level](state) @ node_keys.T
            + self.node_bias[level]
            + self.share_weight[level] * torch.log(share + SHARE_SMOOTHING)
        )
        gate = torch.sigmoid(self.gate_state[level](h[:, -1]) + self.gate_interest[level](z).squeeze(-1))
        gate = gate * (mass > 0)  # a node the history never visited has no interest vector
        return {
            "nodes": nodes, "alpha_weights": weights, "z": z, "mass": mass, "gate": gate, "share": share,
            "logits": logits, "log_beta": F.log_softmax(logits, -1), "beta": logits.softmax(-1),
        }

    def interest_scores(self, vectors: torch.Tensor, levels: list[dict],
                        columns: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, K]``: ``sum_l gate^l_{c_l(j)} z^l_{c_l(j)} . v_j`` for every item j (K = n_items + 1),
        or for the items ``columns`` only.

        Node by node first (``[B, C, d] @ V.T`` is ``[B, C, K]``), then each item
        picks its own node's column: no ``[B, K, d]`` tensor is ever built. Where that
        ``[B, C, K]`` tensor would be big (a deep tree over a large catalogue), the items
        are grouped by node instead (``grouped_node_scores``): ``[C, B, largest node]``.
        """
        candidates = vectors if columns is None else vectors[columns]
        total = 0.0
        for level, out in enumerate(levels):  # a handful of levels, each fully batched
            interest = out["gate"].unsqueeze(-1) * out["z"]  # [B, C, d]
            item_nodes = self.item_paths[:, level] if columns is None else self.item_paths[columns, level]
            if interest.shape[0] * interest.shape[1] * len(candidates) > GROUPED_ABOVE:
                total = total + grouped_node_scores(interest, candidates, item_nodes)
                continue
            node_scores = interest @ candidates.T  # [B, C, K]
            index = (item_nodes - 1).clamp_min(0).expand(len(node_scores), 1, -1)
            total = total + node_scores.gather(1, index).squeeze(1) * (item_nodes > 0)
        return total

    def prior_scores(self, log_betas: list[torch.Tensor], columns: torch.Tensor | None = None) -> torch.Tensor:
        """``[..., K]``: ``sum_l log beta^l_{c_l(j)}`` for every item j (or the items ``columns``): each
        item gathers its node's term at every level (items with no node at a level get 0 there; the
        padding item gets -1e9: never a candidate). ``log_betas``: one ``[..., C_l]`` tensor per level."""
        paths = self.item_paths if columns is None else self.item_paths[columns]
        total = 0.0
        for level, lb in enumerate(log_betas):  # column 0 of the padded block = "no node": 0
            total = total + F.pad(lb * float(self.use_prior), (1, 0))[..., paths[:, level]]
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

    def _encode(self, seq: torch.Tensor, every_position: bool = False):
        """Item vectors, behaviour states and every level's interest outputs for ``seq``."""
        vectors = self.item_vectors()
        h = self.hidden(seq, vectors)
        levels = [self.level_interests(h, seq, level, every_position) for level in range(self.n_levels)]
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
        vectors, h, levels = self._encode(inputs, every_position=True)
        last_targets, early_targets = targets[:, -1], targets[:, :-1]
        if negatives is None:
            # the padding column holds -1e9, so each softmax runs over the real items only
            total = F.cross_entropy(self.final_scores(h, vectors, levels), last_targets, ignore_index=0,
                                    reduction="sum")
            if early_targets.shape[1]:
                early = h[:, :-1] @ vectors[1:].T  # no padding column: item j is column j - 1
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
                total = total + sampled_softmax_loss((h_early * vectors[target]).sum(-1),
                                                     h_early @ vectors[negatives.items].T, target, negatives,
                                                     reduction="sum")
        loss = total / keep.sum()
        if self.aux_weight:
            for level, out in enumerate(levels):
                node_targets = self.item_paths[targets, level]
                has = keep & (node_targets > 0)
                if has.any():
                    loss = loss + self.aux_weight * F.cross_entropy(out["logits"][has], node_targets[has] - 1)
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
                    "beta": lv["beta"][:, 0], "share": lv["share"][:, 0], "gate": lv["gate"], "z": lv["z"],
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

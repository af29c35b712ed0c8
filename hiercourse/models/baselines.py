"""Baselines every deep model must beat: most popular, item-KNN and BPR matrix factorisation.

Taught in chapter 09 (introduced in chapter 01).

All follow the course's model interface (``hiercourse.models.base``):
``scores(history [B, L], users [B]) -> [B, n_items + 1]`` scores every item
(column 0 is padding). Most-popular and item-KNN count (``fit(split)``, one pass
over the training part of a :class:`~hiercourse.preprocessing.SequenceSplit`, with
whole-matrix operations); BPR learns by gradient through the one trainer
(``hiercourse.training.fit``) on (user, item) training pairs.
"""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from hiercourse.errors import DataError
from hiercourse.features import train_matrix, truth_item_rows, truth_weights

from .sequence import Negatives

__all__ = ["MostPopular", "ItemKNN", "BPRMF", "ShopOracle"]


class _Counting:
    """What the counting baselines share: built from a split, learned by ``fit(split)``."""

    training_defaults: ClassVar[dict[str, Any]] = {}

    @classmethod
    def from_split(cls, split, dim: int = 64, max_len: int = 50, **kwargs):
        """A fresh, unfitted model (``dim`` and ``max_len`` do not apply to counting)."""
        return cls(**kwargs)

    def _check_fitted(self, fitted: bool) -> None:
        if not fitted:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call .fit(split) first "
                               "(or hiercourse.training.fit(model, split))")


class MostPopular(_Counting):
    """Score = number of training interactions of the item, the same list for everyone.

    Taught in chapter 09.
    """

    def __init__(self) -> None:
        self.config: dict[str, Any] = {}
        self.counts: torch.Tensor | None = None

    def fit(self, split) -> MostPopular:
        """Count each item's training interactions (``split.item_counts()``)."""
        self.counts = torch.as_tensor(split.item_counts(), dtype=torch.float32)
        self.counts[0] = 0.0  # padding is never recommended
        return self

    def n_parameters(self) -> int:
        """Numbers the model stores: one count per item."""
        return 0 if self.counts is None else int(self.counts.numel() - 1)

    def scores(self, history: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        """``[B, n_items + 1]``: the counts, the same row for every user."""
        self._check_fitted(self.counts is not None)
        return self.counts.expand(len(users), -1).clone()


class ItemKNN(_Counting):
    """Item-based collaborative filtering: score(j) = sum of cos(i, j) over the history items i.

    Cosine similarity between the items' user vectors (who interacted with them in
    training), keeping each item's ``neighbours`` most similar items; ``shrink``
    damps similarities resting on few co-occurrences. Taught in chapter 09.
    """

    def __init__(self, neighbours: int = 100, shrink: float = 10.0, block: int = 1024) -> None:
        self.config: dict[str, Any] = {"neighbours": neighbours, "shrink": shrink, "block": block}
        self.neighbours = neighbours
        self.shrink = shrink
        self.block = block
        self.similarity: torch.Tensor | None = None  # sparse [n_items + 1, n_items + 1]

    def fit(self, split) -> ItemKNN:
        """Cosine similarities of the items' training user vectors, ``neighbours`` kept per item."""
        matrix = train_matrix(split)  # users x items
        by_item = matrix.T.tocsr()  # items x users
        norms = np.sqrt(np.asarray(matrix.sum(0)).ravel())
        n_columns = matrix.shape[1]
        keep = min(self.neighbours, n_columns - 1)
        rows, cols, values = [], [], []
        # a block of items at a time: the full co-occurrence matrix may not fit in memory
        for start in range(0, n_columns, self.block):
            stop = min(start + self.block, n_columns)
            co = torch.as_tensor((by_item[start:stop] @ matrix).toarray())
            denom = torch.as_tensor(np.outer(norms[start:stop], norms)) + self.shrink + 1e-12
            sim = co / denom
            sim[torch.arange(stop - start), torch.arange(start, stop)] = 0.0  # an item is not its own neighbour
            top_values, top_index = sim.topk(keep, dim=1)
            nonzero = top_values > 0
            rows.append((torch.arange(start, stop)[:, None].expand_as(top_index))[nonzero])
            cols.append(top_index[nonzero])
            values.append(top_values[nonzero].float())
        index = torch.stack([torch.cat(rows), torch.cat(cols)])
        self.similarity = torch.sparse_coo_tensor(
            index, torch.cat(values), (n_columns, n_columns), check_invariants=True
        ).coalesce()
        self._similarity_t = self.similarity.t().coalesce()  # transposed once, for scoring
        return self

    def n_parameters(self) -> int:
        """Numbers the model stores: the kept similarities."""
        return 0 if self.similarity is None else int(self.similarity._nnz())

    def scores(self, history: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        """``[B, n_items + 1]``: summed similarities of every item to the history's items."""
        self._check_fitted(self.similarity is not None)
        n_columns = self.similarity.shape[0]
        history = history.cpu()
        multi_hot = torch.zeros(len(history), n_columns)
        multi_hot.scatter_(1, history, 1.0)
        multi_hot[:, 0] = 0.0  # padding
        # scores = multi_hot @ S, computed as (S^T @ multi_hot^T)^T with S^T sparse
        return torch.sparse.mm(self._similarity_t, multi_hot.t()).t()


class BPRMF(nn.Module):
    """Matrix factorisation trained with the BPR loss (Rendle et al., UAI 2009).

    score(u, j) = p_u . q_j; for each training pair (u, i) and a uniformly drawn
    item j, BPR maximises log sigmoid(score(u, i) - score(u, j)). The negative is
    not checked against the user's items (the usual approximation: a random item is
    almost always unseen). Its ``scores`` uses the user index and ignores the history.
    Trained by ``hiercourse.training.fit`` on (user, item) pairs (``trains_on``), with
    the recipe changes in ``training_defaults`` (large batches, its own learning rate,
    a little weight decay, no sampled softmax). Taught in chapter 09.
    """

    trains_on: ClassVar[str] = "interactions"  # batches of (users [B], items [B])
    training_defaults: ClassVar[dict[str, Any]] = {
        "batch_size": 1024, "lr": 5e-3, "weight_decay": 1e-5, "negatives": None, "lr_decay": False,
        "grad_clip": None,
    }

    def __init__(self, n_users: int, n_items: int, dim: int = 64) -> None:
        super().__init__()
        self.config = {"n_users": n_users, "n_items": n_items, "dim": dim}
        self.n_items = int(n_items)
        self.user_embedding = nn.Embedding(n_users, dim)
        self.item_embedding = nn.Embedding(n_items + 1, dim, padding_idx=0)
        nn.init.normal_(self.user_embedding.weight, std=0.1)
        nn.init.normal_(self.item_embedding.weight, std=0.1)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()

    @classmethod
    def from_split(cls, split, dim: int = 64, max_len: int = 50) -> BPRMF:
        """One vector per user and per item of ``split``."""
        return cls(split.n_users, split.n_items, dim)

    def scores(self, history: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        """``[B, n_items + 1]``: ``p_u . q_j`` for every item (the history is not read)."""
        return self.user_embedding(users) @ self.item_embedding.weight.t()

    def loss(self, users: torch.Tensor, items: torch.Tensor, negatives: Negatives | None = None) -> torch.Tensor:
        """BPR loss of a batch of training pairs ``users [B]``, ``items [B]``, one uniform negative each."""
        if negatives is not None:
            raise DataError("BPR draws one uniform negative per pair itself; train it with negatives=None")
        negative = torch.randint(1, self.n_items + 1, items.shape, device=items.device)
        user = self.user_embedding(users)
        margin = (user * (self.item_embedding(items) - self.item_embedding(negative))).sum(-1)
        return -nn.functional.logsigmoid(margin).mean()


class ShopOracle(_Counting):
    """The synthetic shop's own generator used as a recommender: a ceiling to read the models against.

    It knows what no model can: each user's true category weights ``w_u`` (with the
    generator's ``noise`` share of random sessions mixed in; on the big shop, ``make_big_shop``,
    its leaves are the categories) and each item's true popularity inside its category.
    Sessions stay in one category, so the next item is either in the last item's category
    (the session goes on, probability ``p_same``, measured on the training sequences) or
    starts a session in a category drawn from ``w_u``:

    ``score(j) = (p_same * 1[c(j) = c(last)] + (1 - p_same) * w_u(c(j))) * pop(j | c(j))``

    That is the generator's probability of the next item (up to the drift of ``w_u`` over
    time and the session-length details), so no model should beat it by more than noise:
    a model near it has learned what the data can teach. Taught in chapter 09.
    """

    def __init__(self, truth: dict) -> None:
        if not truth or "item_popularity" not in truth:
            raise DataError("the oracle needs the ground truth of make_shop data (data.truth): --dataset shop")
        self.truth = truth
        self.config: dict[str, Any] = {}  # the truth is data, not a setting: rebuild with from_split
        self.p_same: float | None = None

    @classmethod
    def from_split(cls, split, dim: int = 64, max_len: int = 50) -> ShopOracle:
        """The oracle of the shop ``split`` was made from (``split.truth``)."""
        return cls(split.truth)

    def fit(self, split) -> ShopOracle:
        """Align the truth to the split's codes; measure how often a session stays in its category."""
        paths = np.asarray(split.item_paths)
        weights = truth_weights(split, paths.shape[1] - 1, self.truth)  # finest level: categories (big shop: leaves)
        noise = float(self.truth["params"].get("noise", 0.0))
        self.weights = torch.as_tensor((1 - noise) * weights + noise / weights.shape[1], dtype=torch.float32)
        pos = truth_item_rows(split, self.truth)
        self.popularity = torch.as_tensor(np.r_[0.0, self.truth["item_popularity"][pos]], dtype=torch.float32)
        self.category = torch.as_tensor(paths[:, -1])
        # how often the next training item stays in the category of the one before (same session)
        users, items = split.train_interactions()
        cats = paths[items, -1]
        self.p_same = float((cats[1:] == cats[:-1])[users[1:] == users[:-1]].mean())
        return self

    def n_parameters(self) -> int:
        """It learns nothing but ``p_same``: the rest is the generator's truth."""
        return 1

    def scores(self, history: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        """``[B, n_items + 1]``: the generator's probability of each item coming next (up to a constant)."""
        self._check_fitted(self.p_same is not None)
        same = (self.category.unsqueeze(0) == self.category[history[:, -1]].unsqueeze(1)).float()
        taste = self.weights[users][:, (self.category - 1).clamp_min(0)]
        scores = (self.p_same * same + (1 - self.p_same) * taste) * self.popularity
        scores[:, 0] = -1.0  # padding is never recommended
        return scores

"""Baselines every deep model must beat: most popular, item-KNN and BPR matrix factorisation.

Taught in chapter 09 (introduced in chapter 01).

All three follow the course's model interface (docs/design.md):
``fit(split)`` learns from the training part of a
:class:`~hiercourse.preprocessing.SequenceSplit` only, and
``scores(history [B, L], users [B]) -> [B, n_items + 1]`` scores every item
(column 0 is padding). They are fitted with whole-matrix operations, not per-user loops.
"""
from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from hiercourse.evaluation import evaluate, item_popularity

__all__ = ["MostPopular", "ItemKNN", "BPRMF", "ShopOracle", "train_matrix"]


def train_matrix(split) -> sp.csr_matrix:
    """Binary user x item matrix [n_users, n_items + 1] of the training interactions."""
    users, items = split.train_interactions()
    matrix = sp.csr_matrix(
        (np.ones(len(users), dtype=np.float32), (users, items)), shape=(split.n_users, split.n_items + 1)
    )
    matrix.data[:] = 1.0  # repeated interactions count once
    return matrix


class MostPopular:
    """Score = number of training interactions of the item, the same list for everyone.

    Taught in chapter 09.
    """

    def __init__(self) -> None:
        self.counts: torch.Tensor | None = None

    def fit(self, split) -> "MostPopular":
        self.counts = torch.as_tensor(item_popularity(split), dtype=torch.float32)
        self.counts[0] = 0.0  # padding is never recommended
        return self

    def n_parameters(self) -> int:
        """Numbers the model stores: one count per item."""
        return 0 if self.counts is None else int(self.counts.numel() - 1)

    def scores(self, history: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        if self.counts is None:
            raise RuntimeError("MostPopular is not fitted: call .fit(split) first")
        return self.counts.expand(len(users), -1).clone()


class ItemKNN:
    """Item-based collaborative filtering: score(j) = sum of cos(i, j) over the history items i.

    Cosine similarity between the items' user vectors (who interacted with them in
    training), keeping each item's ``neighbours`` most similar items; ``shrink``
    damps similarities resting on few co-occurrences. Taught in chapter 09.
    """

    def __init__(self, neighbours: int = 100, shrink: float = 10.0, block: int = 1024) -> None:
        self.neighbours = neighbours
        self.shrink = shrink
        self.block = block
        self.similarity: torch.Tensor | None = None  # sparse [n_items + 1, n_items + 1]

    def fit(self, split) -> "ItemKNN":
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
        if self.similarity is None:
            raise RuntimeError("ItemKNN is not fitted: call .fit(split) first")
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
    Taught in chapter 09.
    """

    def __init__(self, n_users: int, n_items: int, dim: int = 64) -> None:
        super().__init__()
        self.config = {"n_users": n_users, "n_items": n_items, "dim": dim}
        self.user_embedding = nn.Embedding(n_users, dim)
        self.item_embedding = nn.Embedding(n_items + 1, dim, padding_idx=0)
        nn.init.normal_(self.user_embedding.weight, std=0.1)
        nn.init.normal_(self.item_embedding.weight, std=0.1)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()
        self.history: list[dict] = []

    @classmethod
    def for_split(cls, split, dim: int = 64) -> "BPRMF":
        return cls(split.n_users, split.n_items, dim)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def scores(self, history: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        return self.user_embedding(users) @ self.item_embedding.weight.t()

    def bpr_loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        user = self.user_embedding(users)
        margin = (user * (self.item_embedding(positives) - self.item_embedding(negatives))).sum(-1)
        return -nn.functional.logsigmoid(margin).mean()

    def fit(
        self,
        split,
        epochs: int = 30,
        batch_size: int = 1024,
        lr: float = 5e-3,
        weight_decay: float = 1e-5,
        seed: int = 0,
        patience: int | None = 5,
        time_budget_s: float | None = None,
        progress: bool = False,
    ) -> "BPRMF":
        """Train with Adam on shuffled batches of (user, positive, random negative) triples.

        With ``patience``, stop when validation NDCG@10 has not improved for that
        many epochs and keep the best epoch's weights. ``self.history`` holds one dict per epoch.
        """
        generator = torch.Generator().manual_seed(seed)
        users_np, items_np = split.train_interactions()
        users, items = torch.as_tensor(users_np), torch.as_tensor(items_np)
        device = self.item_embedding.weight.device
        optimiser = torch.optim.Adam(self.parameters(), lr=lr, weight_decay=weight_decay)
        best, best_state, waited, start = -math.inf, None, 0, time.perf_counter()
        self.history = []
        epoch_iter = range(epochs)
        if progress:
            from tqdm.auto import tqdm

            epoch_iter = tqdm(epoch_iter, desc="BPR-MF", leave=False)
        for epoch in epoch_iter:
            self.train()
            tic = time.perf_counter()
            order = torch.randperm(len(users), generator=generator)
            negatives = torch.randint(1, split.n_items + 1, (len(users),), generator=generator)
            total = 0.0
            for begin in range(0, len(order), batch_size):
                idx = order[begin : begin + batch_size]
                loss = self.bpr_loss(users[idx].to(device), items[idx].to(device), negatives[idx].to(device))
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.item() * len(idx)
            row = {"epoch": epoch + 1, "train_loss": total / len(order), "seconds": time.perf_counter() - tic}
            if patience is not None:
                row["valid_ndcg@10"] = evaluate(self, split, stage="valid", sampled_negatives=None)["ndcg@10"]
                if row["valid_ndcg@10"] > best:
                    best, waited = row["valid_ndcg@10"], 0
                    best_state = {k: v.detach().clone() for k, v in self.state_dict().items()}
                else:
                    waited += 1
            self.history.append(row)
            out_of_time = time_budget_s is not None and time.perf_counter() - start > time_budget_s
            if (patience is not None and waited >= patience) or out_of_time:
                break
        if best_state is not None:
            self.load_state_dict(best_state)
        self.eval()
        return self


class ShopOracle:
    """The synthetic shop's own generator used as a recommender: a ceiling to read the models against.

    It knows what no model can: each user's true category weights ``w_u`` (with the
    generator's ``noise`` share of random sessions mixed in) and each item's true
    popularity inside its category. Sessions stay in one category, so the next item is
    either in the last item's category (the session goes on, probability ``p_same``,
    measured on the training sequences) or starts a session in a category drawn from
    ``w_u``:

    ``score(j) = (p_same * 1[c(j) = c(last)] + (1 - p_same) * w_u(c(j))) * pop(j | c(j))``

    That is the generator's probability of the next item (up to the drift of ``w_u`` over
    time and the session-length details), so no model should beat it by more than noise:
    a model near it has learned what the data can teach. Taught in chapter 09.
    """

    def __init__(self, truth: dict) -> None:
        if not truth or "item_popularity" not in truth:
            raise ValueError("ShopOracle needs the ground truth of make_shop data (data.truth)")
        self.truth = truth
        self.p_same: float | None = None

    def fit(self, split) -> "ShopOracle":
        from hiercourse.interests import truth_weights

        paths = np.asarray(split.item_paths)
        weights = truth_weights(split, self.truth, level=paths.shape[1] - 1)  # finest level: categories
        noise = float(self.truth["params"].get("noise", 0.0))
        self.weights = torch.as_tensor((1 - noise) * weights + noise / weights.shape[1], dtype=torch.float32)
        known, ids = np.asarray(self.truth["item_ids"]), np.asarray(split.idmap.item_ids)
        pos = np.searchsorted(known, ids).clip(max=len(known) - 1)
        if not np.array_equal(known[pos], ids):
            raise ValueError("the split's items are not the ground truth's items: build both from the same make_shop data")
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
        if self.p_same is None:
            raise RuntimeError("ShopOracle is not fitted: call .fit(split) first")
        same = (self.category.unsqueeze(0) == self.category[history[:, -1]].unsqueeze(1)).float()
        taste = self.weights[users][:, (self.category - 1).clamp_min(0)]
        scores = (self.p_same * same + (1 - self.p_same) * taste) * self.popularity
        scores[:, 0] = -1.0  # padding is never recommended
        return scores

"""The course's one evaluation protocol: full-ranking metrics beside labelled sampled ones.

Taught in chapter 09 (what the top-K lists hold: diversity, topic shares, pairwise accuracy: chapter 10).

Protocol (COURSE.md): leave-one-out, the model scores *every* item for each user,
the items the user met before the target are removed from the ranking (the
target itself never is), and the target's rank gives HR@K, NDCG@K and MRR.
Sampled metrics (target against 100 random unseen items) are computed beside
them and prefixed ``sampled_``, because they can reorder models
(Krichene & Rendle, "On Sampled Metrics for Item Recommendation", KDD 2020).

Ties are counted **pessimistically**: every candidate whose score is greater than
*or equal to* the target's score is ranked above it. A model that gives many
items the same score (a popularity count, a zero similarity) therefore gains
nothing from the tie, and a constant model ranks every target last.

Everything is vectorised over batches of users: one ``scores`` call per batch,
boolean masks for the seen items, ``topk`` for the lists.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from hiercourse.csr import dense_mask
from hiercourse.errors import DataError
from hiercourse.features import head_items
from hiercourse.preprocessing import check_stage

__all__ = [
    "ranks_from_scores",
    "hit_rate",
    "ndcg",
    "mrr",
    "candidate_mask",
    "scoring",
    "sample_negatives",
    "UserRanks",
    "rank_users",
    "summarise",
    "metrics_by_group",
    "COUNT_SLICES",
    "count_slices",
    "per_user_metrics",
    "mean_and_se",
    "paired_difference",
    "within_noise",
    "slice_table",
    "random_order_metrics",
    "evaluate",
    "model_device",
    "standard_error",
    "distinct_topics",
    "intra_list_diversity",
    "top_topic",
    "topic_share",
    "candidate_counts",
    "pairwise_accuracy",
]


# --------------------------------------------------------------------------- pure metrics
def ranks_from_scores(
    scores: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """1-based rank of each row's target among that row's valid candidates.

    ``scores`` [B, N], ``targets`` [B] (column indices), ``valid`` [B, N] bool
    (``False`` = not a candidate, e.g. an item the user has already seen). Ties
    count against the target (pessimistic). Taught in chapter 09.
    """
    scores = torch.as_tensor(scores)
    if not scores.is_floating_point():
        scores = scores.float()  # keep float64 as it is: rounding could create ties
    targets = torch.as_tensor(targets, dtype=torch.long).reshape(-1)
    if scores.ndim != 2 or scores.shape[0] != targets.shape[0]:
        raise ValueError(
            f"scores must be [B, N] with B = len(targets); got {tuple(scores.shape)} and {tuple(targets.shape)}"
        )
    if torch.isnan(scores).any():
        raise ValueError("scores contain NaN: the model diverged or divided by zero; a NaN cannot be ranked")
    target_scores = scores.gather(1, targets[:, None])
    above = scores >= target_scores  # ">=": a tie is ranked above the target
    if valid is not None:
        above &= torch.as_tensor(valid, dtype=torch.bool)
    above.scatter_(1, targets[:, None], False)  # the target never competes with itself
    return 1 + above.sum(1)


def _reduce(values: torch.Tensor, reduce: bool) -> float | torch.Tensor:
    return float(values.double().mean()) if reduce else values


def hit_rate(ranks: torch.Tensor, k: int = 10, reduce: bool = True) -> float | torch.Tensor:
    """HR@k: share of users whose target is in their top k. Taught in chapter 09."""
    ranks = torch.as_tensor(ranks)
    return _reduce((ranks <= k).float(), reduce)


def ndcg(ranks: torch.Tensor, k: int = 10, reduce: bool = True) -> float | torch.Tensor:
    """NDCG@k with one relevant item: ``1 / log2(rank + 1)`` inside the top k, else 0.

    The ideal DCG is 1 (the target at rank 1), so no division is needed. Taught in chapter 09.
    """
    ranks = torch.as_tensor(ranks).double()
    gains = torch.where(ranks <= k, 1.0 / torch.log2(ranks + 1.0), torch.zeros_like(ranks))
    return _reduce(gains, reduce)


def mrr(ranks: torch.Tensor, reduce: bool = True) -> float | torch.Tensor:
    """Mean reciprocal rank over the full list (no cut-off). Taught in chapter 09."""
    return _reduce(1.0 / torch.as_tensor(ranks).double(), reduce)


# --------------------------------------------------------------------------- split helpers
def candidate_mask(
    indptr: np.ndarray, indices: np.ndarray, users: torch.Tensor, n_columns: int, targets: torch.Tensor | None = None,
    allowed: torch.Tensor | None = None,
) -> torch.Tensor:
    """Bool mask [len(users), n_columns]: True for the items that may be ranked for each user.

    Everything except the padding column 0 and the items the user has seen (and, with
    ``allowed`` [n_columns], the items outside it); the ``targets`` (when given) stay
    candidates even when seen before or not allowed, as the protocol requires. The one home
    of this rule for evaluation, ``recommend`` and the widgets. Taught in chapter 09.
    """
    valid = ~dense_mask(indptr, indices, users, n_columns)
    valid[:, 0] = False  # column 0 is padding, never an item
    if allowed is not None:
        valid &= allowed
    if targets is not None:
        valid[torch.arange(len(valid)), torch.as_tensor(targets, dtype=torch.long)] = True  # never mask the target
    return valid


@contextmanager
def scoring(model):
    """Run a block with ``model`` in eval mode and without gradients, then restore its mode.

    Dropout must be off while scoring; a model that was training goes back to
    training afterwards. Non-neural baselines pass through unchanged.

    Taught in chapter 09.
    """
    was_training = isinstance(model, torch.nn.Module) and model.training
    if isinstance(model, torch.nn.Module):
        model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        if was_training:
            model.train()


def _history_lengths(split, stage: str) -> np.ndarray:
    """Number of interactions before the ``stage`` target, per user."""
    lengths = np.diff(np.asarray(split.offsets))
    return lengths - (2 if stage == "valid" else 1)


def model_device(model) -> torch.device:
    """Where a model's weights live (CPU for the non-neural baselines). Taught in chapter 09."""
    if isinstance(model, torch.nn.Module):
        for tensor in list(model.parameters()) + list(model.buffers()):
            return tensor.device
    return torch.device("cpu")


def sample_negatives(
    valid: torch.Tensor, targets: torch.Tensor, n: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` distinct negatives per row, uniformly among the valid items other than the target.

    Returns ``(negatives [B, n], drawn [B, n])``; ``drawn`` is False in the slots
    left over when a row has fewer than ``n`` candidates. Vectorised: every
    candidate gets a random key in [0, 1), every other column the key 2, and the
    ``n`` smallest keys are kept. Taught in chapter 09.
    """
    candidate = valid.clone()
    candidate[torch.arange(len(targets)), targets] = False
    keys = torch.rand(candidate.shape, generator=generator).masked_fill(~candidate, 2.0)
    drawn_keys, negatives = keys.topk(min(n, keys.shape[1]), dim=1, largest=False)
    return negatives, drawn_keys < 2.0


# --------------------------------------------------------------------------- per-user ranks
@dataclass
class UserRanks:
    """Everything the metrics need, one row per evaluated user. Taught in chapter 09.

    ``ranks``: full-ranking rank of the target; ``sampled_ranks``: its rank among
    the sampled negatives (``None`` when not sampled); ``top_items`` [U, k]: the
    top-k list; ``category_hits`` [U, n_levels]: whether the list holds an item of
    the target's node at each level; ``history_length``, ``target_popularity``.
    """

    users: np.ndarray
    targets: np.ndarray
    ranks: torch.Tensor
    sampled_ranks: torch.Tensor | None
    top_items: torch.Tensor
    category_hits: torch.Tensor | None
    level_names: list[str]
    history_length: np.ndarray
    target_popularity: np.ndarray
    n_items: int
    k: int

    def frame(self) -> pd.DataFrame:
        """One row per user: ids, rank, sampled rank, history length, target popularity."""
        out = pd.DataFrame(
            {
                "user": self.users,
                "target": self.targets,
                "rank": self.ranks.numpy(),
                "history_length": self.history_length,
                "target_popularity": self.target_popularity,
            }
        )
        if self.sampled_ranks is not None:
            out["sampled_rank"] = self.sampled_ranks.numpy()
        return out


def rank_users(
    model,
    split,
    stage: str = "test",
    k: int = 10,
    max_len: int = 50,
    batch_size: int = 256,
    sampled_negatives: int | None = 100,
    seed: int = 0,
    users=None,
    candidates=None,
) -> UserRanks:
    """Score every item for every user (batched), mask the seen ones, rank the targets.

    ``candidates`` (optional bool [n_items + 1]) restricts the ranking to those items
    for every user (e.g. only the new items, chapter 12); the target always stays in.
    Taught in chapter 09.
    """
    check_stage(stage)
    n_columns = split.n_items + 1
    all_users = torch.arange(split.n_users) if users is None else torch.as_tensor(users, dtype=torch.long).reshape(-1)
    if len(all_users) == 0:
        raise DataError("no users to evaluate: pass users=None (all) or some encoded user codes")
    history = split.history(stage, max_len)
    targets = split.targets(stage)
    indptr, indices = (np.asarray(part) for part in split.seen(stage))
    paths = getattr(split, "item_paths", None)
    paths = None if paths is None else torch.as_tensor(np.asarray(paths), dtype=torch.long)
    device = model_device(model)
    allowed = None if candidates is None else torch.as_tensor(np.asarray(candidates), dtype=torch.bool)
    if allowed is not None and allowed.shape != (n_columns,):
        raise ValueError(f"candidates must be a bool array [n_items + 1] = [{n_columns}], got {tuple(allowed.shape)}")
    # one generator for the sampled negatives: the same seed gives every model the same negatives
    generator = torch.Generator().manual_seed(seed)

    ranks, sampled, tops, cat_hits = [], [], [], []
    with scoring(model):
        for start in range(0, len(all_users), batch_size):
            batch = all_users[start : start + batch_size]
            scores = model.scores(history[batch].to(device), batch.to(device)).float().cpu()
            if scores.shape != (len(batch), n_columns):
                raise ValueError(
                    f"{type(model).__name__}.scores returned shape {tuple(scores.shape)}; "
                    f"expected [batch, n_items + 1] = [{len(batch)}, {n_columns}]"
                )
            target = targets[batch]
            valid = candidate_mask(indptr, indices, batch, n_columns, target, allowed)
            ranks.append(ranks_from_scores(scores, target, valid))

            masked = scores.masked_fill(~valid, -math.inf)
            top_values, top = masked.topk(min(k, n_columns), dim=1)
            top = top.masked_fill(top_values == -math.inf, 0)  # fewer than k candidates: 0 = no item
            tops.append(top)
            if paths is not None:
                top_paths, target_paths = paths[top], paths[target][:, None, :]
                cat_hits.append(((top_paths == target_paths) & (target_paths > 0)).any(1))

            if sampled_negatives:
                negatives, drawn = sample_negatives(valid, target, sampled_negatives, generator)
                target_scores = scores.gather(1, target[:, None])
                above = (scores.gather(1, negatives) >= target_scores) & drawn
                sampled.append(1 + above.sum(1))

    users_np = all_users.numpy()
    targets_np = targets[all_users].numpy()
    return UserRanks(
        users=users_np,
        targets=targets_np,
        ranks=torch.cat(ranks),
        sampled_ranks=torch.cat(sampled) if sampled else None,
        top_items=torch.cat(tops),
        category_hits=torch.cat(cat_hits) if cat_hits else None,
        level_names=list(getattr(split, "level_names", [])),
        history_length=_history_lengths(split, stage)[users_np],
        target_popularity=split.item_counts()[targets_np],
        n_items=split.n_items,
        k=k,
    )


# --------------------------------------------------------------------------- aggregation
def summarise(result: UserRanks, mask: np.ndarray | None = None) -> dict[str, float]:
    """Average the per-user metrics (optionally over the users where ``mask`` is True).

    Taught in chapter 09.
    """
    sel = (torch.ones(len(result.users), dtype=torch.bool) if mask is None
           else torch.tensor(np.asarray(mask, dtype=bool)))
    k = result.k
    ranks = result.ranks[sel]
    out: dict[str, float] = {
        f"hr@{k}": hit_rate(ranks, k),
        f"ndcg@{k}": ndcg(ranks, k),
        "mrr": mrr(ranks),
    }
    if result.sampled_ranks is not None:
        sampled = result.sampled_ranks[sel]
        out[f"sampled_hr@{k}"] = hit_rate(sampled, k)
        out[f"sampled_ndcg@{k}"] = ndcg(sampled, k)
        out["sampled_mrr"] = mrr(sampled)
    if result.category_hits is not None:
        level_hits = result.category_hits[sel].float().mean(0)
        for name, value in zip(result.level_names, level_hits.tolist()):
            out[f"category_hr@{k}/{name}"] = value
    listed = result.top_items[sel].unique()
    out[f"coverage@{k}"] = int((listed > 0).sum()) / result.n_items
    out["n_users"] = int(sel.sum())
    return out


def _activity_buckets(history_length: np.ndarray, n_buckets: int = 3) -> pd.Series:
    """Tertiles of history length, labelled by their item range."""
    codes, edges = pd.qcut(history_length, n_buckets, labels=False, retbins=True, duplicates="drop")
    edges = np.floor(edges).astype(int)
    labels = [f"{edges[i] + (1 if i else 0)}-{edges[i + 1]} items" for i in range(len(edges) - 1)]
    return pd.Series(np.asarray(labels, dtype=object)[codes], name="activity")


def _popularity_buckets(result: UserRanks, split) -> pd.Series:
    """'head' when the target is a head item (``features.head_items`` of the training counts), else 'tail'."""
    head = np.r_[False, head_items(split.item_counts()[1:])]
    return pd.Series(np.where(head[result.targets], "head", "tail"), name="popularity")


# the protocol's slices by the test item's training count (COURSE.md): (lowest count, highest count, label)
COUNT_SLICES = ((0, 0, "0 (new)"), (1, 5, "1-5 (rare)"), (6, 50, "6-50"), (51, math.inf, ">50"))


def count_slices(counts) -> pd.Series:
    """The slice label (``COUNT_SLICES``) of each test item's training count; ``counts`` [U] ints.

    Returns a categorical Series [U] whose categories keep the slices' order. Taught in chapter 12.
    """
    counts = np.asarray(counts)
    if (counts < 0).any():
        raise ValueError("training counts cannot be negative")
    labels = [label for _, _, label in COUNT_SLICES]
    uppers = np.array([high for _, high, _ in COUNT_SLICES[:-1]])
    codes = np.searchsorted(uppers, counts, side="left")  # first slice whose upper bound >= count
    return pd.Series(pd.Categorical.from_codes(codes, labels), name="count")


def _groups(result: UserRanks, split, by: str) -> pd.Series:
    if by == "activity":
        return _activity_buckets(result.history_length)
    if by == "popularity":
        return _popularity_buckets(result, split)
    if by == "count":
        return count_slices(result.target_popularity)
    raise ValueError(f"by must be 'activity', 'popularity' or 'count', not {by!r}")


def per_user_metrics(result: UserRanks) -> pd.DataFrame:
    """One row per evaluated user: ``ndcg@k``, ``hr@k`` and ``rr`` (reciprocal rank), floats.

    The protocol's averages are the column means; their spread gives standard errors.
    Taught in chapter 12.
    """
    k = result.k
    return pd.DataFrame({f"ndcg@{k}": ndcg(result.ranks, k, reduce=False).numpy(),
                         f"hr@{k}": hit_rate(result.ranks, k, reduce=False).numpy().astype(float),
                         "rr": mrr(result.ranks, reduce=False).numpy()}, index=result.users)


def mean_and_se(values) -> tuple[float, float]:
    """``(mean, standard error of the mean)`` of per-user values (SE = sample std / sqrt(n); nan for n < 2).

    Taught in chapter 12.
    """
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return math.nan, math.nan
    return float(values.mean()), standard_error(values)


def within_noise(difference: float, se: float) -> bool:
    """The course's reading of a difference between two models: noise when ``|difference| <= 2 se``, or when
    ``se`` is unknown (NaN: one seed, one user). The one home of the rule that ``paired_difference``,
    ``hiercourse.results.compare_runs`` and the chapters apply. Taught in chapter 07.
    """
    return bool(math.isnan(se) or abs(difference) <= 2 * se)


def paired_difference(a, b, metric: str = "ndcg@10") -> dict:
    """Model ``a`` minus model ``b`` on ``metric``, user by user, with its standard error.

    ``a`` and ``b`` are ``rank_users`` results of two models on the same users (same split,
    stage and ``k``), read at ``metric``, a column of :func:`per_user_metrics` (``ndcg@k``,
    ``hr@k``, ``rr``; ``"mrr"`` reads ``rr``); or two arrays of one metric's per-user values
    in the same user order (``metric`` then only labels the result). Both models meet the
    same targets, so the per-user differences are paired: their standard error is much
    smaller than either mean's. Out: ``{"metric", "users", "mean_a", "mean_b", "difference",
    "se", "noise"}``, ``noise`` from :func:`within_noise`. One seed's run: how much a
    retraining moves the numbers is not in this ``se`` (the 3-seed benchmark's
    ``compare_runs`` measures that). Raises ``DataError`` when the users differ or the
    metric is unknown. Taught in chapter 07.
    """
    if isinstance(a, UserRanks) and isinstance(b, UserRanks):
        if not np.array_equal(np.asarray(a.users), np.asarray(b.users)):
            raise DataError("paired_difference needs both models ranked on the same users (rank_users on one "
                            "split and stage, same users=)")
        table_a, table_b = per_user_metrics(a), per_user_metrics(b)
        column = "rr" if metric == "mrr" else metric
        if column not in table_a.columns or column not in table_b.columns:
            raise DataError(f"no per-user {metric!r}; per_user_metrics has {', '.join(table_a.columns)} "
                            "(both results need the same k)")
        values_a, values_b = table_a[column].to_numpy(float), table_b[column].to_numpy(float)
    else:
        values_a, values_b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        if values_a.shape != values_b.shape or values_a.ndim != 1:
            raise DataError(f"paired_difference needs two rank_users results or two per-user arrays of one length "
                            f"(got shapes {values_a.shape} and {values_b.shape})")
    difference = float(values_a.mean() - values_b.mean())
    se = standard_error(values_a - values_b)
    return {"metric": metric, "users": len(values_a), "mean_a": float(values_a.mean()),
            "mean_b": float(values_b.mean()), "difference": difference, "se": se,
            "noise": within_noise(difference, se)}


def slice_table(results: dict, split, by: str = "count", metric: str = "ndcg@10") -> pd.DataFrame:
    """Several models' ``metric`` per slice, each with its standard error over the slice's users.

    ``results`` maps a model label to its ``UserRanks`` (``rank_users`` on the same users
    of ``split``); ``by`` is "count" (the test item's training count: ``COUNT_SLICES``),
    "activity" (tertiles of history length) or "popularity" (head/tail). Returns one row
    per slice (plus "all"): ``n_users``, then ``<label>`` and ``<label> se`` per model.
    Taught in chapter 12.
    """
    rows: dict[str, dict] = {}
    for label, result in results.items():
        values = per_user_metrics(result)[metric if metric != "mrr" else "rr"].to_numpy()
        groups = _groups(result, split, by).astype(str).to_numpy()
        order = list(pd.unique(groups))
        if by == "count":
            order = [name for _, _, name in COUNT_SLICES if name in set(groups)]
        elif by == "activity":
            order = sorted(order, key=lambda s: int(s.split("-")[0]))
        for name, mask in [(g, groups == g) for g in order] + [("all", np.ones(len(values), dtype=bool))]:
            mean, se = mean_and_se(values[mask])
            row = rows.setdefault(name, {"n_users": int(mask.sum())})
            if row["n_users"] != int(mask.sum()):
                raise ValueError(f"the models were evaluated on different users (slice {name!r})")
            row[label], row[f"{label} se"] = mean, se
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = by
    return frame


def random_order_metrics(n_candidates, k: int = 10) -> dict[str, float]:
    """Expected HR@k, NDCG@k and MRR of a model that orders the candidates at random (chance level).

    ``n_candidates`` [U] ints (>= 1): how many items each user's target competes with,
    itself included. With the rank uniform on 1..n: HR@k = min(k, n) / n,
    NDCG@k = (1/n) sum_{r <= min(k, n)} 1 / log2(r + 1), MRR = H_n / n; averaged over users.
    Taught in chapter 12.
    """
    n = np.asarray(n_candidates, dtype=np.int64).reshape(-1)
    if len(n) == 0 or (n < 1).any():
        raise ValueError("every user needs at least one candidate (the target)")
    top = np.minimum(n, k)
    gains = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))  # sum of the first r gains, r = 1..k
    harmonic = np.cumsum(1.0 / np.arange(1, int(n.max()) + 1))
    return {f"hr@{k}": float((top / n).mean()), f"ndcg@{k}": float((gains[top - 1] / n).mean()),
            "mrr": float((harmonic[n - 1] / n).mean())}


def metrics_by_group(result: UserRanks, split, by: str) -> pd.DataFrame:
    """The metrics per user-activity bucket (``by="activity"``), target popularity (``"popularity"``:
    head/tail) or the target's training count (``"count"``: ``COUNT_SLICES``).

    Taught in chapter 09 (the count slices in chapter 12).
    """
    groups = _groups(result, split, by)
    if by == "count":
        groups = groups.astype(str)
    rows = {}
    for label in pd.unique(groups):
        rows[label] = summarise(result, (groups == label).to_numpy())
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = by
    if by == "activity":  # order buckets by their lower edge
        frame = frame.loc[sorted(frame.index, key=lambda s: int(s.split("-")[0]))]
    elif by == "count":
        frame = frame.loc[[label for _, _, label in COUNT_SLICES if label in frame.index]]
    return frame


def evaluate(
    model,
    split,
    stage: str = "test",
    k: int = 10,
    max_len: int = 50,
    batch_size: int = 256,
    sampled_negatives: int | None = 100,
    seed: int = 0,
    by: str | list[str] | None = None,
    users=None,
    candidates=None,
) -> dict:
    """Evaluate ``model`` on ``split`` with the course's protocol (module docstring).

    Returns a dict of floats: ``hr@k``, ``ndcg@k``, ``mrr`` (full ranking),
    ``sampled_hr@k``, ``sampled_ndcg@k``, ``sampled_mrr`` (target vs
    ``sampled_negatives`` random unseen items, seeded by ``seed``; skipped when 0/None),
    ``category_hr@k/<level>`` (the top k holds an item of the target's node at that
    level), ``coverage@k`` (share of the catalogue appearing in any top-k list) and
    ``n_users``. With ``by="activity"``, ``"popularity"`` and/or ``"count"`` the dict also holds
    ``"by_activity"`` / ``"by_popularity"`` / ``"by_count"``: DataFrames of the same metrics per bucket.
    ``users`` restricts evaluation to some encoded users, ``candidates`` (bool [n_items + 1])
    the ranking to some items (``rank_users``). Taught in chapter 09.
    """
    result = rank_users(
        model, split, stage=stage, k=k, max_len=max_len, batch_size=batch_size,
        sampled_negatives=sampled_negatives, seed=seed, users=users, candidates=candidates,
    )
    out: dict = summarise(result)
    for group in [by] if isinstance(by, str) else (by or []):
        out[f"by_{group}"] = metrics_by_group(result, split, group)
    return out


# --------------------------------------------------------------------------- what the lists hold (chapter 10)
def standard_error(values) -> float:
    """Standard error of a mean over users: ``std(values, ddof=1) / sqrt(n)`` (``nan`` for n < 2).

    ``values`` [U]: one number per user (a hit 0/1, an NDCG gain, a diversity...).
    Taught in chapter 10.
    """
    if isinstance(values, torch.Tensor):
        values = values.detach().double().cpu().numpy()
    values = np.asarray(values, dtype=float).ravel()  # a tensor, an array, a list or a pandas Series
    if len(values) < 2:
        return float("nan")
    return float(values.std(ddof=1) / math.sqrt(len(values)))


def _topic_matrix(item_topics) -> torch.Tensor:
    """``[n_items + 1, T]`` float 0/1 topics of every item from node ids ``[n_items + 1]`` (0 = none,
    one-hot over nodes 1..max) or from a multi-hot ``[n_items + 1, T]``."""
    topics = torch.as_tensor(np.asarray(item_topics) if not torch.is_tensor(item_topics) else item_topics)
    if topics.ndim == 1:
        nodes = topics.long()
        one_hot = torch.zeros(len(nodes), int(nodes.max()) + 1)
        one_hot[torch.arange(len(nodes)), nodes] = 1.0
        return one_hot[:, 1:]  # node 0 means "none": no topic
    if topics.ndim != 2:
        raise ValueError(f"item_topics must be node ids [n_items + 1] or a multi-hot [n_items + 1, T], "
                         f"got shape {tuple(topics.shape)}")
    return (topics != 0).float()


def distinct_topics(lists: torch.Tensor, item_topics) -> torch.Tensor:
    """Number of distinct topics (nodes, genres) among the items of each list.

    ``lists`` [U, K] item indices (0 = padding, ignored); ``item_topics``: node ids
    [n_items + 1] (e.g. ``split.item_paths[:, level]``) or a multi-hot [n_items + 1, T]
    (e.g. ``split.item_genres``). Returns a LongTensor [U]. Taught in chapter 10.
    """
    topics = _topic_matrix(item_topics)
    lists = torch.as_tensor(lists, dtype=torch.long)
    present = topics[lists] * (lists > 0)[..., None]  # [U, K, T]
    return (present.sum(1) > 0).sum(1)


def intra_list_diversity(lists: torch.Tensor, item_topics) -> torch.Tensor:
    """Mean dissimilarity ``1 - cos(t_a, t_b)`` over the pairs of items of each list (Ziegler et al. 2005).

    With node ids (one topic per item) it is the share of pairs from *different* nodes:
    0 when the whole list sits in one node, 1 when no two items share one. With a
    multi-hot (several genres per film) pairs sharing some genres count in between.
    ``lists`` [U, K] (0 = padding, its pairs skipped); returns a FloatTensor [U]
    (``nan`` for a list with fewer than two items). Taught in chapter 10.
    """
    topics = _topic_matrix(item_topics)
    unit = topics / topics.norm(dim=1, keepdim=True).clamp_min(1e-12)  # an item with no topic: zero vector
    lists = torch.as_tensor(lists, dtype=torch.long)
    vectors = unit[lists]  # [U, K, T]
    similarity = vectors @ vectors.transpose(1, 2)  # [U, K, K]
    real = (lists > 0).float()
    pair = real[:, :, None] * real[:, None, :] * (1 - torch.eye(lists.shape[1]))[None]
    n_pairs = pair.sum((1, 2))
    dissimilar = ((1 - similarity) * pair).sum((1, 2))
    return torch.where(n_pairs > 0, dissimilar / n_pairs.clamp_min(1), torch.full_like(n_pairs, float("nan")))


def top_topic(lists: torch.Tensor, item_topics) -> torch.Tensor:
    """Each row's most frequent topic: a LongTensor [U] of 0-based topic columns (ties: the lowest column).

    ``lists`` [U, L] item indices (0 = padding, ignored): a history (``split.history``)
    or a top-K list; ``item_topics`` as in ``distinct_topics``. A row with no topic at
    all gets 0. Taught in chapter 10.
    """
    topics = _topic_matrix(item_topics)
    lists = torch.as_tensor(lists, dtype=torch.long)
    counts = (topics[lists] * (lists > 0)[..., None]).sum(1)  # [U, T]
    return counts.argmax(1)


def topic_share(lists: torch.Tensor, item_topics, topic: torch.Tensor) -> torch.Tensor:
    """Share of each row's items that carry that row's ``topic`` (a FloatTensor [U]).

    ``lists`` [U, L] (0 = padding, not counted), ``topic`` [U] 0-based topic columns
    (e.g. ``top_topic(history, ...)``). Comparing the share in a user's top-K list with
    the share in their history measures concentration: a list far more concentrated on
    the user's favourite topic than the history is narrows the feed (a filter-bubble
    signal). A row with no items gets ``nan``. Taught in chapter 10.
    """
    topics = _topic_matrix(item_topics)
    lists = torch.as_tensor(lists, dtype=torch.long)
    topic = torch.as_tensor(topic, dtype=torch.long).reshape(-1)
    real = (lists > 0).float()
    carries = topics[lists, topic[:, None].expand_as(lists)] * real  # [U, L]
    n = real.sum(1)
    return torch.where(n > 0, carries.sum(1) / n.clamp_min(1), torch.full_like(n, float("nan")))


def candidate_counts(split, stage: str = "test", users=None) -> np.ndarray:
    """Number of items each user's target is ranked among: every item, less those seen before the
    target (the target itself always stays). An int array [U] (all users, or ``users``).

    Taught in chapter 10.
    """
    check_stage(stage)
    indptr, indices = (np.asarray(part) for part in split.seen(stage))
    targets = split.targets(stage).numpy()
    all_users = np.arange(split.n_users) if users is None else np.asarray(users, dtype=np.int64).reshape(-1)
    row_of = np.repeat(np.arange(split.n_users), np.diff(indptr))
    keep = indices > 0
    # (user, item) pairs, counted per user: split.seen's rows are already sorted and distinct
    pairs = row_of[keep] * (split.n_items + 1) + indices[keep]
    n_seen = np.bincount(pairs // (split.n_items + 1), minlength=split.n_users)
    target_seen = np.isin(np.arange(split.n_users) * (split.n_items + 1) + targets, pairs, assume_unique=True)
    return (split.n_items - n_seen + target_seen)[all_users].astype(np.int64)


def pairwise_accuracy(ranks: torch.Tensor, n_candidates, reduce: bool = True) -> float | torch.Tensor:
    """The chance that the target outscores one candidate drawn at random from the others (per-user AUC).

    A "binary accuracy" (is this the held-out item or a random one?) averaged over every
    possible random item: ``(n_candidates - rank) / (n_candidates - 1)``, with ``ranks``
    [U] the full-ranking ranks (ties pessimistic, as everywhere) and ``n_candidates`` [U]
    (``candidate_counts``). A random scorer gets 0.5 on average, a perfect one 1.
    Taught in chapter 10.
    """
    ranks = torch.as_tensor(ranks).double()
    n = torch.as_tensor(np.asarray(n_candidates)).double()
    if (n < 2).any():
        raise ValueError("every user needs at least 2 candidates for a pairwise accuracy")
    return _reduce((n - ranks) / (n - 1), reduce)

"""A learned hierarchy: k-means on item embeddings, coarse clusters first, then fine ones inside each.

When a catalogue has no taxonomy (or a poor one), the items' own embeddings
(e.g. from a trained SASRec) can be clustered into a two-level tree. The result
has the same format as a split's ``item_paths``, so the hierarchical model, the
interest tree and the category metrics work unchanged.

Taught in chapter 08.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from ..errors import DataError
from ..features import train_matrix
from ..preprocessing import Taxonomy

__all__ = ["Taxonomy", "kmeans", "learn_hierarchy", "with_taxonomy", "learned_taxonomy"]


def kmeans(x: torch.Tensor, k: int, n_iter: int = 30, seed: int = 0,
           groups: torch.Tensor | None = None, centroid_groups: torch.Tensor | None = None) -> torch.Tensor:
    """Lloyd's k-means (k-means++ seeding), vectorised; returns the cluster of each row of ``x``.

    With ``groups [N]`` and ``centroid_groups [k]`` a point may only join a centroid
    of its own group: this runs k-means inside every coarse cluster at once.
    Empty clusters are reseeded with the point farthest from its centroid.
    Taught in chapter 08.
    """
    n = x.shape[0]
    if n == 0 or k < 1:
        raise DataError(f"k-means needs points and k >= 1 (got {n} points, k={k}).")
    generator = torch.Generator().manual_seed(seed)
    x = x.detach().float().cpu()
    allowed = None
    if groups is not None:
        allowed = groups.view(-1, 1) == centroid_groups.view(1, -1)  # [N, k]
    # k-means++: each next centroid is drawn with probability ~ squared distance (within its group)
    centroids = torch.empty(k, x.shape[1])
    closest = torch.full((n,), float("inf"))
    for c in range(k):  # k draws (a few dozen), each vectorised over the points
        candidates = torch.ones(n, dtype=torch.bool) if allowed is None else allowed[:, c]
        if not candidates.any():
            centroids[c] = x.mean(0)
            continue
        prob = torch.where(candidates, closest, torch.zeros(()))
        prob = torch.where(torch.isinf(prob), torch.ones(()), prob)  # first centroid of a group: uniform
        if prob.sum() <= 0:
            prob = candidates.float()
        pick = torch.multinomial(prob, 1, generator=generator)
        centroids[c] = x[pick]
        # a point's distance counts only to centroids it may join (its own group)
        closest = torch.where(candidates, torch.minimum(closest, ((x - centroids[c]) ** 2).sum(1)), closest)
    labels = torch.zeros(n, dtype=torch.long)
    for _ in range(n_iter):
        dist = torch.cdist(x, centroids) ** 2
        if allowed is not None:
            dist = dist.masked_fill(~allowed, float("inf"))
        new = dist.argmin(1)
        sums = torch.zeros_like(centroids).index_add_(0, new, x)
        counts = torch.bincount(new, minlength=k).float()
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
        if torch.equal(new, labels) and _ > 0:
            break
        labels = new
    return labels


def learn_hierarchy(item_embeddings, levels: Sequence[int] = (8, 32), seed: int = 0, n_iter: int = 30,
                    names: Sequence[str] | None = None) -> Taxonomy:
    """Cluster items into a two-level tree: ``levels[0]`` coarse clusters, then ``levels[1]`` fine ones
    split among them (each coarse cluster gets a share proportional to its size, at least 1).

    ``item_embeddings``: ``[n_items + 1, d]`` (row 0 = padding, ignored), e.g.
    ``model.item_vectors()`` or ``model.item_embedding.weight`` of a trained model.
    Fine nodes are nested: every fine node lies in exactly one coarse node.
    Taught in chapter 08.
    """
    emb = torch.as_tensor(np.asarray(item_embeddings.detach().cpu() if torch.is_tensor(item_embeddings)
                                     else item_embeddings), dtype=torch.float32)
    if emb.dim() != 2 or emb.shape[0] < 2:
        raise DataError(f"item_embeddings must be [n_items + 1, d] with row 0 = padding, got {tuple(emb.shape)}.")
    levels = [int(v) for v in levels]
    if len(levels) != 2 or levels[0] < 1 or levels[1] < levels[0]:
        raise DataError(f"levels must be (n_coarse, n_fine) with 1 <= n_coarse <= n_fine, got {levels}.")
    x = emb[1:]
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)  # cluster directions: dot-product scoring
    n_coarse = min(levels[0], len(x))
    coarse = kmeans(x, n_coarse, n_iter, seed)
    # share the fine budget among coarse clusters by size (largest remainders), at least one each
    sizes = torch.bincount(coarse, minlength=n_coarse).float()
    budget = max(levels[1], n_coarse)
    share = sizes / sizes.sum() * budget
    per = share.floor().clamp_min(1).long()
    per = torch.minimum(per, sizes.long().clamp_min(1))
    while int(per.sum()) < budget and bool((per < sizes.long()).any()):  # a few rounds at most
        room = (per < sizes.long())
        gap = torch.where(room, share - per, torch.full_like(share, -1e9))
        per[int(gap.argmax())] += 1
    centroid_groups = torch.repeat_interleave(torch.arange(n_coarse), per)
    fine_raw = kmeans(x, len(centroid_groups), n_iter, seed + 1, groups=coarse, centroid_groups=centroid_groups)
    # compact ids: coarse 1..K1 by size, fine 1..K2 ordered by coarse node then size
    coarse_order = torch.argsort(-sizes, stable=True)
    coarse_id = torch.empty(n_coarse, dtype=torch.long)
    coarse_id[coarse_order] = torch.arange(1, n_coarse + 1)
    coarse_codes = coarse_id[coarse]
    used, fine_compact = torch.unique(fine_raw, return_inverse=True)
    fine_sizes = torch.bincount(fine_compact).float()
    parent = coarse_id[centroid_groups[used]]
    order = torch.from_numpy(np.lexsort((-fine_sizes.numpy(), parent.numpy())))
    fine_id = torch.empty(len(used), dtype=torch.long)
    fine_id[order] = torch.arange(1, len(used) + 1)
    fine_codes = fine_id[fine_compact]
    paths = np.zeros((emb.shape[0], 2), dtype=np.int64)
    paths[1:, 0] = coarse_codes.numpy()
    paths[1:, 1] = fine_codes.numpy()
    level_names = list(names) if names else ["cluster", "sub-cluster"]
    parents_of_fine = np.zeros(len(used) + 1, dtype=np.int64)
    parents_of_fine[paths[1:, 1]] = paths[1:, 0]
    node_names = [
        ["<pad>"] + [f"C{c}" for c in range(1, n_coarse + 1)],
        ["<pad>"] + [f"C{parents_of_fine[f]}.{f}" for f in range(1, len(used) + 1)],
    ]
    return Taxonomy(paths, level_names, node_names, source="learned (k-means on item vectors)")


def with_taxonomy(split, taxonomy: Taxonomy):
    """A copy of ``split`` whose ``item_paths``/``level_names``/``node_names`` are the given hierarchy.

    Taught in chapter 08.
    """
    if taxonomy.item_paths.shape[0] != split.n_items + 1:
        raise DataError(
            f"the taxonomy covers {taxonomy.item_paths.shape[0] - 1} items but the split has {split.n_items}; "
            "learn it from the item embeddings of a model trained on this split."
        )
    return dataclasses.replace(split, taxonomy=taxonomy)


def learned_taxonomy(split, levels: tuple[int, int] = (8, 32), dim: int = 32, seed: int = 0):
    """``split`` with a two-level hierarchy learned from co-occurrence: k-means on SVD item vectors.

    For a catalogue without categories. The item vectors are the right singular vectors
    of the user x item training matrix (scaled by the square roots of the singular
    values): items met by the same people end up close; ``learn_hierarchy`` clusters
    them, ``levels`` = (coarse, fine) clusters. Taught in chapter 08 (the benchmark uses it).
    """
    from scipy.sparse.linalg import svds

    matrix = train_matrix(split).astype(np.float64)
    rank = max(1, min(dim, min(matrix.shape) - 1))
    _, values, vt = svds(matrix, k=rank, random_state=seed)
    vectors = (vt.T * np.sqrt(values)).astype(np.float32)  # [n_items + 1, rank], row 0 = padding
    n_items = split.n_items
    coarse = max(1, min(levels[0], n_items))
    fine = max(coarse, min(levels[1], n_items))
    tree = learn_hierarchy(vectors, levels=(coarse, fine), seed=seed)
    tree.source = "learned (k-means on item co-occurrence vectors)"
    return with_taxonomy(split, tree)

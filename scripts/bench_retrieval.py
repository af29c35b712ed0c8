"""Coarse-to-fine retrieval at scale: beam search down the tree vs exhaustive scoring vs FAISS.

For each catalogue (``make_big_shop``: 10k, 100k, 1M items, departments > categories >
subcategories), train the hierarchical model briefly (sampled softmax), then for the same
sample of test users measure, against the exhaustive top 10 of the same scores: recall of
that top 10, HR@10 of the test item (and its ratio to the exhaustive HR@10), items scored
per user and milliseconds per user, for several beam widths and FAISS settings (IVF-Flat,
HNSW; inner product on ``hiercourse.retrieval.dot_product_form``, candidates rescored
exactly). Writes ``<out>.csv`` and ``<out>.md`` (provenance + table). Taught in chapter 13.

    nice -n 19 python scripts/bench_retrieval.py --sizes 10k,100k,1m

``--deep`` gives each catalogue a tree that deepens with it (``DEEP_TREES``: about 10 items per
leaf, one level of fanout 10 more per factor 10 of items) instead of the presets' 10 x 10 x 10;
``--tree SIZE=10x10x10x10/100`` sets one catalogue's tree (fanout per level / items per leaf).
With ``--cache``, ``--train-only`` trains and keeps the models (e.g. several catalogues in
parallel processes) and a later run measures them.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hiercourse import retrieval as R
from hiercourse.datasets.shop import BIG_PRESETS, make_big_shop
from hiercourse.device import machine_description, software_stamp
from hiercourse.models.hierarchical import HierarchicalInterestModel
from hiercourse.preprocessing import collapse_repeats, leave_one_out
from hiercourse.results import RESULTS_DIR
from hiercourse.training import fit

GOAL_HR, GOAL_SHARE = 0.95, 0.05
# --deep: a tree that deepens with the catalogue, about 10 items per leaf (fanout per level, items per leaf)
DEEP_TREES: dict[str, tuple[tuple[int, ...], int]] = {
    "10k": ((10, 10, 10), 10),
    "100k": ((10, 10, 10, 10), 10),
    "1m": ((10, 10, 10, 10, 10), 10),
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10k,100k,1m", help="catalogues of make_big_shop (BIG_PRESETS)")
    p.add_argument("--beams", default="1,2,5,10,20,50", help="beam widths (the same at every level)")
    p.add_argument("--nprobes", default="1,4,16,64", help="IVF-Flat lists probed")
    p.add_argument("--efs", default="100,200,400", help="HNSW efSearch")
    p.add_argument("--candidates", default="100,1000", help="FAISS candidates rescored exactly per user")
    p.add_argument("--hnsw-m", type=int, default=16)
    p.add_argument("--users", type=int, default=500, help="test users measured (a seeded sample)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--negatives", type=int, default=1000)
    p.add_argument("--no-faiss", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", default="", help="folder keeping the trained models (reruns skip training)")
    p.add_argument("--out", default=str(RESULTS_DIR / "retrieval_shop"), help="path without extension")
    p.add_argument("--deep", action="store_true", help="a tree that deepens with the catalogue (DEEP_TREES)")
    p.add_argument("--tree", action="append", default=[], metavar="SIZE=FxFx.../ITEMS",
                   help="one catalogue's tree: fanout per level (top first) / items per leaf, e.g. 1m=10x10x10x10/100")
    p.add_argument("--train-only", action="store_true", help="train and keep the models in --cache, measure nothing")
    p.add_argument("--reuse-measured", action="store_true",
                   help="with --cache: read back a catalogue measured before with the same settings instead of "
                        "measuring it again (one table from runs made in parallel)")
    return p


def parse_tree(text: str) -> tuple[str, tuple[tuple[int, ...], int]]:
    """``"1m=10x10x10x10/100"`` -> ``("1m", ((10, 10, 10, 10), 100))``."""
    try:
        size, tree = text.split("=")
        fanout, per_leaf = tree.split("/")
        return size, (tuple(int(f) for f in fanout.lower().split("x")), int(per_leaf))
    except ValueError as exc:
        raise SystemExit(f"--tree wants SIZE=FxFx.../ITEMS (e.g. 1m=10x10x10x10/100), got {text!r}") from exc


def trees_of(args) -> dict[str, tuple[tuple[int, ...], int]]:
    """Each catalogue's tree: the preset's, ``DEEP_TREES`` with ``--deep``, then every ``--tree``."""
    trees = {size: (tuple(fanout), per_leaf) for size, (_, fanout, per_leaf, _) in BIG_PRESETS.items()}
    if args.deep:
        trees |= DEEP_TREES
    return trees | dict(parse_tree(t) for t in args.tree)


def tree_text(fanout: tuple[int, ...], per_leaf: int) -> str:
    shape = " x ".join(map(str, fanout))
    return f"{len(fanout)} levels {shape} = {int(np.prod(fanout)):,} leaves of {per_leaf:,} items"


def _timed(fn, *args, **kwargs):
    tic = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - tic


def _best_of(repeats: int, fn, *args, **kwargs):
    """``fn``'s result and its fastest time of ``repeats`` runs (the machine is shared: the minimum is the
    cost, the rest is waiting)."""
    runs = [_timed(fn, *args, **kwargs) for _ in range(repeats)]
    return runs[0][0], min(seconds for _, seconds in runs)


def run_size(size: str, args, log, tree: tuple[tuple[int, ...], int] | None = None) -> tuple[list[dict], dict]:
    torch.manual_seed(args.seed)
    preset = (tuple(BIG_PRESETS[size][1]), BIG_PRESETS[size][2])
    tree_spec = preset if tree is None else tree
    # a tree other than the preset's gets its own name (the preset's keeps the name of earlier runs)
    shape = "" if tree_spec == preset else f"_{'x'.join(map(str, tree_spec[0]))}_{tree_spec[1]}"
    stem = f"retrieval_{size}{shape}_{args.dim}_{args.epochs}_{args.seed}"
    measured = (Path(args.cache) / f"measured_{stem}_{args.users}u_b{args.beams.replace(',', '-')}"
                f"{'' if args.no_faiss else '_faiss'}.json") if args.cache else None
    if args.reuse_measured and measured is not None and measured.is_file():
        payload = json.loads(measured.read_text())
        log(f"{size}: measured {payload['extra']['measured']}, read back from {measured}")
        return payload["rows"], payload["extra"]
    tic_size = time.perf_counter()
    data, t_data = _timed(lambda: make_big_shop(size, seed=args.seed, fanout=tree_spec[0],
                                                items_per_leaf=tree_spec[1]))
    data.interactions = collapse_repeats(data.interactions)
    split = leave_one_out(data, max_len=50, all_items=True)
    model = HierarchicalInterestModel.from_split(split, dim=args.dim, max_len=50)
    eval_users = np.random.default_rng(args.seed).choice(split.n_users, min(256, split.n_users), replace=False)
    cached = Path(args.cache) / f"{stem}.pt" if args.cache else None
    if cached is not None and cached.is_file():  # a model trained by an earlier run with the same recipe
        payload = torch.load(cached)
        model.load_state_dict(payload["state"])
        t_train, valid_ndcg = payload["t_train"], payload["valid_ndcg"]
    else:
        result, t_train = _timed(lambda: fit(model, split, epochs=args.epochs, eval_every=args.epochs,
                                             patience=None, negatives=args.negatives, lr=3e-3, all_windows=False,
                                             progress=False, eval_users=eval_users, seed=args.seed))
        valid_ndcg = result.best_valid_ndcg
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"state": model.state_dict(), "t_train": t_train, "valid_ndcg": valid_ndcg}, cached)
    model.eval()
    log(f"{size} ({tree_text(*tree_spec)}): {split.n_items:,} items, {split.n_users:,} users; data {t_data:.0f} s, "
        f"train {t_train:.0f} s (valid NDCG@10 {valid_ndcg:.4f})")
    if args.train_only:
        return [], {}
    users = np.sort(np.random.default_rng(args.seed + 1).choice(split.n_users, min(args.users, split.n_users),
                                                                   replace=False))
    history, targets = split.history("test")[users], split.targets("test")[users]
    exclude = R.padded_seen(split, "test", users)
    n = len(users)
    state, t_state = _timed(lambda: R.user_state(model, history))
    tree, t_tree = _timed(lambda: R.ItemTree.from_paths(model.item_paths))
    exact, t_exact = _timed(lambda: R.exhaustive_top_k(model, history, 10, exclude, state=state))
    hr_exact = (exact["items"] == targets[:, None]).any(1).float().mean().item()
    base = dict(size=size, n_items=split.n_items, n_leaves=tree.n_nodes[-1], users=n)
    rows = [base | dict(method="exhaustive", setting="all items", recall=1.0, hr=hr_exact, hr_ratio=1.0,
                        items_scored=float(split.n_items), nodes_scored=0.0, ms_per_user=1000 * t_exact / n)]

    def add(method, setting, found, items_scored, nodes_scored, seconds):
        hr = (found == targets[:, None]).any(1).float().mean().item()
        recall = R.overlap_at_k(found, exact["items"]).mean().item()
        rows.append(base | dict(method=method, setting=setting, recall=recall,
                                hr=hr, hr_ratio=hr / hr_exact if hr_exact else float("nan"),
                                items_scored=float(items_scored), nodes_scored=float(nodes_scored),
                                ms_per_user=1000 * seconds / n))

    def matmul_top_k():  # the model's own scores(): matmuls over every item, then the seen items masked
        scores = torch.cat([model.scores(history[i:i + 64]) for i in range(0, n, 64)])
        scores[:, 0] = -torch.inf
        return scores.scatter_(1, exclude, -torch.inf).topk(10, dim=1).indices

    found, seconds = _timed(torch.no_grad()(matmul_top_k))
    add("exhaustive (model.scores)", "all items, matmuls", found, split.n_items, 0, seconds)
    for how in ("model", "prior"):
        for beam in [int(b) for b in args.beams.split(",")]:
            out, seconds = _best_of(3, R.beam_top_k, model, history, 10, beam, tree, exclude, how, state)
            add(f"beam ({how})", f"B={beam}", out["items"], out["items_scored"].float().mean(),
                out["nodes_scored"].float().mean(), seconds)
    extra = {"t_state_ms": 1000 * t_state / n, "t_tree": t_tree, "t_train": t_train, "t_data": t_data,
             "valid_ndcg": valid_ndcg, "n_interactions": int(split.lengths.sum()), "tree": tree_spec}
    if not args.no_faiss:
        faiss = R.load_faiss()  # optional: hiercourse[scale]
        faiss.omp_set_num_threads(1)
        vectors, queries = R.dot_product_form(model, state)
        nlist = min(1024, int(np.sqrt(split.n_items)))
        index, t_build = _timed(lambda: R.faiss_index(vectors, "ivf", nlist=nlist, train_size=50_000,
                                                      seed=args.seed))
        extra["ivf_build_s"] = t_build
        lists = faiss.extract_index_ivf(index).invlists
        sizes = np.array([lists.list_size(i) for i in range(nlist)])
        for cand in [int(c) for c in args.candidates.split(",")]:
            for nprobe in [int(p) for p in args.nprobes.split(",") if int(p) <= nlist]:
                out, seconds = _best_of(3, R.faiss_top_k, model, index, state, queries, 10, cand, exclude,
                                      nprobe=nprobe)
                # vectors compared: the nlist centroids + (about) nprobe average lists, then the exact rescoring
                compared = nlist + nprobe * sizes.mean() + cand
                add("faiss ivf-flat", f"nlist={nlist}, nprobe={nprobe}, {cand} cand.", out["items"], compared, 0,
                    seconds)
        del index
        index, t_build = _timed(lambda: R.faiss_index(vectors, "hnsw", hnsw_m=args.hnsw_m))
        extra["hnsw_build_s"] = t_build
        for cand in [int(c) for c in args.candidates.split(",")]:
            for ef in [int(e) for e in args.efs.split(",")]:
                faiss.cvar.hnsw_stats.reset()
                out, seconds = _best_of(3, R.faiss_top_k, model, index, state, queries, 10, cand, exclude,
                                      ef_search=ef)
                compared = faiss.cvar.hnsw_stats.ndis / (3 * n) + cand  # three timed runs
                add("faiss hnsw-flat", f"M={args.hnsw_m}, efSearch={ef}, {cand} cand.", out["items"],
                    compared, 0, seconds)
        extra["faiss_dim"] = vectors.shape[1]
    for row in rows:
        row["share_scored"] = row["items_scored"] / row["n_items"]
    log(pd.DataFrame(rows)[["method", "setting", "recall", "hr_ratio", "share_scored", "ms_per_user"]]
        .to_string(index=False))
    extra["wall_s"] = time.perf_counter() - tic_size
    extra["measured"] = (f"{_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M')} UTC by "
                         f"`{getattr(args, 'command', '')}`")
    if measured is not None:
        measured.write_text(json.dumps({"rows": rows, "extra": extra}, default=float))
    return rows, extra


def markdown(runs: pd.DataFrame, extras: dict, args, command: str, wall: float, deep: bool = False) -> str:
    if deep:
        data = ("- data: `make_big_shop(size, fanout=..., items_per_leaf=...)`, a tree that deepens with the "
                "catalogue ("
                + "; ".join(f"{s}: {tree_text(*e['tree'])}" for s, e in extras.items()) + "), ")
    else:
        data = ("- data: `make_big_shop(size)` (departments > categories > subcategories, 10 x 10 x 10 = 1,000 leaves; "
                "items per leaf 10 / 100 / 1,000), ")
    lines = [
        "# Retrieval at scale: shop, a tree that deepens with the catalogue" if deep else "# Retrieval at scale: shop",
        "",
        f"- command: `{command}`",
        f"- date (UTC): {software_stamp()}",
        f"- machine: {machine_description()}, torch threads {torch.get_num_threads()}, "
        + ("CPU" if args.no_faiss else "FAISS threads 1, CPU"),
        data + "back-to-back repeats merged, leave-one-out with the whole catalogue "
        "(`all_items=True`: items nobody bought are candidates too); "
        + "; ".join(f"{s}: {e['n_interactions']:,} interactions, data {e['t_data']:.0f} s, training "
                    f"{e['t_train']:.0f} s, valid NDCG@10 {e['valid_ndcg']:.4f}" for s, e in extras.items()),
        f"- model: hier-sasrec, dim {args.dim}, max_len 50, {args.epochs} epoch(s) on each user's most recent window, "
        f"Adam lr 0.003, sampled softmax over {args.negatives} popularity-drawn items",
        f"- protocol: {args.users} seeded test users per catalogue; their earlier items excluded except a re-visited "
        "test item (the course's protocol, as in `evaluate`: the target is never masked); recall = share of "
        "the exhaustive top 10 (same scores) found; HR@10 of the test item, ratio to the exhaustive HR@10; items "
        "scored = exact model scores per user (FAISS: vectors compared + candidates rescored); ms per user = "
        "retrieval after the user encoding ("
        + ", ".join(f"{s}: encoding {e['t_state_ms']:.2f} ms/user" for s, e in extras.items()) + "), one thread",
        *(["- measured (one table from runs made in parallel, one core each): "
            + "; ".join(f"{s}: {e['measured']}, {e['wall_s'] / 60:.1f} min" for s, e in extras.items())]
          if args.reuse_measured else []),
        (f"- wall time: {wall / 60:.1f} min in all" if not args.reuse_measured else
         "- wall time: that of each measuring run (above; a model found in --cache is read back, not trained)")
        + "".join(f"; {s}: IVF build {e['ivf_build_s']:.0f} s, HNSW build {e['hnsw_build_s']:.0f} s"
                  for s, e in extras.items() if "ivf_build_s" in e),
        "",
        "| catalogue | method | setting | recall of exhaustive top 10 | HR@10 | HR@10 / exhaustive | items scored | "
        "share of catalogue | nodes scored | ms/user |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for _, r in runs.iterrows():
        lines.append(f"| {r['n_items']:,} | {r['method']} | {r['setting']} | {r['recall']:.3f} | {r['hr']:.4f} | "
                     f"{r['hr_ratio']:.3f} | {r['items_scored']:,.0f} | {100 * r['share_scored']:.2f} % | "
                     f"{r['nodes_scored']:,.0f} | {r['ms_per_user']:.2f} |")
    return "\n".join(lines) + "\n"


def goal_line(runs: pd.DataFrame) -> str:
    big = runs[runs["n_items"] == runs["n_items"].max()]
    ok = big[big["method"].str.startswith("beam") & (big["hr_ratio"] >= GOAL_HR) & (big["share_scored"] <= GOAL_SHARE)]
    n_items = int(big["n_items"].iloc[0])
    if len(ok):
        best = ok.sort_values("items_scored").iloc[0]
        return (f"Goal (>= {GOAL_HR:.0%} of exhaustive HR@10 scoring <= {GOAL_SHARE:.0%} of the items at "
                f"{n_items:,} items): **met** by {best['method']} {best['setting']} "
                f"({best['hr_ratio']:.3f} of exhaustive HR@10, {100 * best['share_scored']:.2f} % of the items).")
    return (f"Goal (>= {GOAL_HR:.0%} of exhaustive HR@10 scoring <= {GOAL_SHARE:.0%} of the items at {n_items:,} "
            "items): **not met** by any beam width measured.")


def cheapest_lines(runs: pd.DataFrame, recall: float = 0.95) -> list[str]:
    """Per catalogue and method family, the cheapest setting reaching ``recall`` of the exhaustive top 10."""
    lines = []
    for n_items, part in runs[runs["method"] != "exhaustive"].groupby("n_items"):
        found = []
        for method, rows in part.groupby("method", sort=False):
            ok = rows[rows["recall"] >= recall]
            if len(ok):
                best = ok.sort_values("ms_per_user").iloc[0]
                found.append(f"{method} {best['setting']}: {best['ms_per_user']:.2f} ms/user, "
                             f"{100 * best['share_scored']:.2f} % of the items")
            else:
                found.append(f"{method}: never (best recall {rows['recall'].max():.3f})")
        lines.append(f"- {n_items:,} items, fastest setting with recall >= {recall:.2f}: " + "; ".join(found))
    return lines


def growth_lines(runs: pd.DataFrame) -> list[str]:
    """From the smallest catalogue to the largest, per beam method and width: how the items scored and the
    milliseconds per user grow, beside the catalogue (and exhaustive scoring)."""
    sizes = sorted(runs["n_items"].unique())
    if len(sizes) < 2:
        return []
    small, big = sizes[0], sizes[-1]
    lines = [f"- From {small:,} to {big:,} items (x {big / small:,.0f}):"]

    def ratio(method, setting, column):
        pick = runs[(runs["method"] == method) & (runs["setting"] == setting)].set_index("n_items")[column]
        return pick.get(big, float("nan")) / pick.get(small, float("nan"))

    parts = [f"exhaustive x {ratio('exhaustive', 'all items', 'ms_per_user'):.0f} in ms/user"]
    for method in [m for m in runs["method"].unique() if m.startswith("beam")]:
        for setting in runs.loc[runs["method"] == method, "setting"].unique():
            parts.append(f"{method} {setting}: items scored x {ratio(method, setting, 'items_scored'):.1f}, "
                         f"ms/user x {ratio(method, setting, 'ms_per_user'):.1f}")
    return [lines[0] + " " + "; ".join(parts) + "."]


DEEP_NOTES = """## Notes

- The tree deepens with the catalogue: about 10 items per leaf and one more level of fanout 10 per factor 10 of
  items, so at a fixed beam B the beam scores 10 + B x 10 per further level nodes and B x (items per leaf)
  items: a cost that grows with the depth (the logarithm of the catalogue), not with the catalogue, where the
  companion table `retrieval_shop` (the same 1,000 leaves at every size) grows the leaves and the items scored
  in proportion to the catalogue. The scoring itself is the same code (`beam_top_k`); the timings are those of
  the beam after the user encoding. The encoding (`user_state`, reported above per catalogue) computes every
  level's `log beta` and interest vectors over all the nodes of that level (`[users, nodes, d]`): with 10
  items per leaf its finest level holds a tenth as many nodes as items, a per-user cost that does grow with the
  catalogue (a sparse interest level, over the history's own nodes only, would remove it).
- The encoding is now most of a user's cost: at 1M items `user_state` takes several ms per user where the beam
  takes a fraction of one, and it grows with the finest level's node count (1,000 / 10,000 / 5,000 nodes here).
- A deeper tree costs training memory and time: the model's node levels build `[batch, positions, nodes]`
  tensors (the every-prefix share and the node logits), so the finest level's node count, not the catalogue,
  bounds what trains here (see the data line for the trees measured). At 1M items 5 levels of fanout 10
  (100,000 leaves) would build `[256, 50, 100,000]` tensors (about 5 GB each) in training, beyond this 23 GB
  machine; 4 levels of 10 with leaves of 100 took about 20 s of CPU per training step (about 20 min for the
  epoch); so the 1M row here is 10 x 10 x 10 x 5 with leaves of 200 (trained in about 8 min), and from 10k to
  1M the items scored grow x 20 (leaves of 10 -> 200), not x 1.
- recall, HR@10 and the timing protocol are those of `retrieval_shop` (same users' rule, same exhaustive
  reference, fastest of three runs for the beam, one run for exhaustive scoring).
"""

NOTES = """## Notes

- The score as a dot product: `s(u, j) = (h_T + sum_l gate^l z^l_{c_l(j)}) . v_j + sum_l log beta^l_{c_l(j)}`
  and `log beta^l_c = q^l(h_T) . g^l_c + b^l_c + w_l log(share_c + 0.01) - logsumexp` (a constant per user).
  `hiercourse.retrieval.dot_product_form` concatenates item `[v_j, g^1, b^1, g^2, b^2, g^3, b^3]` and user
  `[h_T, q^1, 1, q^2, 1, q^3, 1]`: the inner product is the score up to a per-user constant for every item
  whose nodes the history never visited (there the share term is the constant `w_l log 0.01` and the interest
  vectors are 0). The history's own nodes get their share and interest terms back when FAISS's candidates are
  rescored exactly (`faiss_top_k`), so FAISS can miss an item that only those terms lift into the top 10.
- The beam scores a node with the model's own parts (`node_scores`): `model` = the score of a virtual item
  carrying the node's path (`v = sum g`, prior and interest terms down to that level); `prior` = the
  coarse-to-fine prior alone. The items under the kept leaves are scored exactly, so the beam's list is the
  exhaustive list restricted to them (equal when the beam keeps every node: tests/test_retrieval.py).
- Timing: one thread on a shared 2-core machine, the fastest of three runs (exhaustive: one run). `exhaustive`
  scores every item with the beam's own per-(user, item) code (so a beam over every node returns the same list);
  `exhaustive (model.scores)` is the model's matmul scoring, user encoding included: the fast way to score
  everything, against which the beam's savings should be read.
- Cost: the beam scores `beam x 10` nodes per level and `beam x items per leaf` items. Every catalogue here has
  the same 1,000 leaves, so at a fixed beam the items scored grow in proportion to the catalogue (leaves of 10,
  100, 1,000 items) and only the node work stays fixed; a tree that deepens with the catalogue keeps the leaves
  small and the cost logarithmic, at the price of more nodes at the model's finest level (its interest level
  costs [users, nodes, d] per level). FAISS needs an index built beforehand (build times above) and one search
  per user; the beam needs no index, only the tree.
- Where each wins: on this model the beam, because the score is not one inner product: the per-user node
  terms (the prior with the history's shares, the interest vectors) decide which subtrees hold the top 10, the
  beam scores them with the model's own parts, and the items it keeps are scored exactly. FAISS's recall stalls
  below that of a narrow beam whatever nprobe or efSearch, because the terms the inner product leaves out lift
  items into the top 10 that the index never returns; more candidates (100 -> 1,000) help at the price of
  rescoring them. FAISS wins for a model whose score is a plain inner product (SASRec's `h . v`), for a
  catalogue with no (or a poor) hierarchy, and in raw search speed per candidate (IVF at small nprobe is the
  cheapest row of each catalogue); HNSW on inner products (not a metric) is its weakest index here.
"""


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command = "python scripts/bench_retrieval.py " + " ".join(sys.argv[1:] if argv is None else argv)
    args.command = command
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    start = time.perf_counter()
    if args.train_only and not args.cache:
        raise SystemExit("--train-only keeps the models in --cache: give one")
    trees = trees_of(args)
    deep = args.deep or bool(args.tree)
    rows, extras = [], {}
    for size in args.sizes.split(","):
        if size not in BIG_PRESETS:
            raise SystemExit(f"unknown size {size!r}; choose from {list(BIG_PRESETS)}")
        size_rows, extras[size] = run_size(size, args, lambda text: print(text, flush=True), trees[size])
        if args.train_only:
            continue
        rows += size_rows
        runs = pd.DataFrame(rows)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        runs.to_csv(out.with_suffix(".csv"), index=False)
        text = markdown(runs, extras, args, command, time.perf_counter() - start, deep)
        summary = "\n".join([goal_line(runs), "", *cheapest_lines(runs), *(growth_lines(runs) if deep else [])])
        out.with_suffix(".md").write_text(text + "\n" + summary + "\n\n" + (DEEP_NOTES if deep else NOTES),
                                          encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

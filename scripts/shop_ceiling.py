"""The big synthetic shop's own generator as a ranker (the oracle), on the benchmark's split of its exported log.

Usage: python scripts/shop_ceiling.py --interactions DIR/interactions.csv --items DIR/items.csv [--size 10k]
       [--seed 0] [--out FILE.md]

The files are those of ``scripts/export_big_shop.py --size SIZE --seed SEED --out-dir DIR``: the benchmark reads
them as a learner's own log (``--interactions ... --items ...``), which carries no ground truth, so this script
splits them the benchmark's way (``bench.load_split``), attaches the truth of the same generator call
(``make_big_shop(SIZE, seed=SEED)``) and evaluates ``ShopOracle`` with the course's protocol, overall and by the
test item's training count. The result is the ceiling the converged tables of that log (issue 10,
``hiercourse/results/converged_*_bigshop10k``) are read against: what the generator's own probabilities score.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hiercourse.bench import BenchConfig, load_split
from hiercourse.datasets.shop import BIG_PRESETS, make_big_shop
from hiercourse.device import machine_description, software_stamp
from hiercourse.evaluation import evaluate
from hiercourse.models.baselines import ShopOracle


def ceiling(interactions: str, items: str, size: str = "10k", seed: int = 0) -> tuple[dict, object, ShopOracle]:
    """``(metrics, split, oracle)``: ``evaluate(ShopOracle, split, by="count")`` (full ranking) on the benchmark's
    split of the exported log, with the generator's truth attached."""
    split = load_split(BenchConfig(dataset=None, interactions=interactions, items=items))
    split.truth = make_big_shop(size, seed=seed).truth  # the exported log's own generator
    oracle = ShopOracle(split.truth).fit(split)
    return evaluate(oracle, split, sampled_negatives=None, by="count"), split, oracle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", required=True)
    parser.add_argument("--items", required=True, help="the catalogue's tree: the oracle's categories are its leaves")
    parser.add_argument("--size", default="10k", choices=list(BIG_PRESETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="also write the table (markdown) here")
    args = parser.parse_args(argv)
    metrics, split, oracle = ceiling(args.interactions, args.items, args.size, args.seed)
    slices = metrics["by_count"]
    lines = [f"# The generator's own ranking (oracle): {args.interactions}", "",
             f"- command: `python scripts/shop_ceiling.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
             f"- date (UTC): {software_stamp()}",
             f"- machine: {machine_description()}",
             f"- data: `make_big_shop({args.size!r}, seed={args.seed})` as written by `scripts/export_big_shop.py`, "
             f"split by the benchmark ({split.n_users:,} users, {split.n_items:,} items); the oracle's p_same (a "
             f"session goes on in its leaf), measured on the training sequences: {oracle.p_same:.3f}",
             "- protocol: the course's (full ranking over all items minus the user's earlier ones, leave-one-out); "
             "deterministic, so one run", "",
             "| model | NDCG@10 | HR@10 | MRR |", "|---|---:|---:|---:|",
             f"| oracle | {metrics['ndcg@10']:.4f} | {metrics['hr@10']:.4f} | {metrics['mrr']:.4f} |", "",
             "| slice (test item's training count) | users | NDCG@10 |", "|---|---:|---:|"]
    lines += [f"| {name} | {int(row['n_users']):,} | {row['ndcg@10']:.4f} |" for name, row in slices.iterrows()]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Write the big synthetic shop as the CSV files a learner's own log would be, for the benchmark's own-log path.

Usage: python scripts/export_big_shop.py --size 10k --out-dir /tmp/bigshop [--seed 0]

Writes ``interactions.csv`` (user, item, timestamp, event; back-to-back repeats merged, as the benchmark does
for behaviour logs) and ``items.csv`` (item, title, category_path). The benchmark then runs on the catalogue's
own tree (``--interactions .../interactions.csv --items .../items.csv``) or, without ``--items``, on a tree it
learns (issue 10's "learned hierarchies": ``hiercourse/results/converged_*_bigshop10k``).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from hiercourse.datasets.shop import BIG_PRESETS, make_big_shop
from hiercourse.preprocessing import collapse_repeats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="10k", choices=list(BIG_PRESETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args(argv)
    folder = Path(args.out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    data = make_big_shop(args.size, seed=args.seed)
    log = collapse_repeats(data.interactions)[["user", "item", "timestamp", "event"]]
    log.to_csv(folder / "interactions.csv", index=False)
    data.items[["item", "title", "category_path"]].to_csv(folder / "items.csv", index=False)
    print(f"{folder}: {len(log):,} interactions of {log['user'].nunique():,} users over "
          f"{log['item'].nunique():,} items; {len(data.items):,} item rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

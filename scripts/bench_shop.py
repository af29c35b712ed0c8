"""Time the synthetic shop and the preprocessing that follows it, at about a million events.

Usage: python scripts/bench_shop.py [--size large] [--repeats 3] [--seed 0]

Prints events generated per second (best of ``--repeats``), then the time of
the steps a chapter runs on that data: collapse_repeats, leave_one_out,
history, train_windows and category_shares.
"""
from __future__ import annotations

import argparse
import time

from hiercourse.datasets.schema import InteractionData
from hiercourse.datasets.shop import PRESETS, make_shop
from hiercourse.features import category_shares, user_features
from hiercourse.preprocessing import collapse_repeats, leave_one_out


def best_time(fn, repeats: int):
    """(best wall time in seconds, last result) over ``repeats`` calls."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="large", choices=list(PRESETS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    seconds, data = best_time(lambda: make_shop(args.size, seed=args.seed), args.repeats)
    n = len(data.interactions)
    print(f"make_shop({args.size!r}): {n:,} events, {data.interactions['user'].nunique():,} users, "
          f"{len(data.items):,} items in {seconds:.2f} s -> {n / seconds:,.0f} events/s")

    steps = {}
    steps["collapse_repeats"], frame = best_time(lambda: collapse_repeats(data.interactions), args.repeats)
    collapsed = InteractionData("shop", frame, data.items, info=data.info)
    steps["leave_one_out"], split = best_time(lambda: leave_one_out(collapsed), args.repeats)
    steps["history(test, 50)"], _ = best_time(lambda: split.history("test", 50), args.repeats)
    steps["train_windows(50)"], _ = best_time(lambda: split.train_windows(50), args.repeats)
    steps["category_shares"], _ = best_time(lambda: category_shares(data.interactions, data.items), args.repeats)
    steps["user_features"], _ = best_time(lambda: user_features(data.interactions), args.repeats)
    print(f"after collapse_repeats: {len(frame):,} rows; split: {split.n_users:,} users, {split.n_items:,} items")
    for name, secs in steps.items():
        print(f"  {name:<20} {secs * 1000:8.1f} ms")


if __name__ == "__main__":
    main()

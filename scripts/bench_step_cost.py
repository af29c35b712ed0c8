"""The CPU cost of one training step of several models, measured side by side (issue 10's cost goal).

Usage: python scripts/bench_step_cost.py --dataset shop --models sasrec,hier-sasrec [--rounds 5] [--steps 15]

Every model trains on the same batches (the benchmark's recipe: its split, windows, batch of 32, sampled
softmax over 1,024 popularity-drawn items), one thread. The models take turns, ``--steps`` steps each per
round, so a busy machine slows them alike; each model's cost is its fastest round in CPU time
(``time.process_time``) per step, and the table gives each as a multiple of the first model's. A time
budget or s/epoch from separate benchmark runs mixes in the machine's load at different moments; this does not.
Optionally ``--out FILE.md`` writes the table with its command and machine.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from hiercourse.bench import BenchConfig, load_split
from hiercourse.device import machine_description, software_stamp
from hiercourse.models.registry import build_model
from hiercourse.training import NegativeSampler, training_windows


def step_costs(split, names, rounds: int = 5, steps: int = 15, config: BenchConfig | None = None,
               seed: int = 0) -> dict[str, float]:
    """``{model: fastest round's CPU milliseconds per training step}``, the models taking turns on the batches of
    the benchmark's recipe (``config``, default ``BenchConfig()``: its windows, batch size, negatives, size)."""
    config = config or BenchConfig()
    inputs, targets = training_windows(split, config.max_len, config.all_windows, config.window_stride)
    sampler = NegativeSampler(targets, split.n_items, config.negatives)
    batch_size = config.batch_size
    models = {}
    for name in names:
        torch.manual_seed(seed)
        model = build_model(name, split, dim=config.dim, max_len=config.max_len).train()
        models[name] = (model, torch.optim.Adam(model.parameters(), config.lr))
    best = dict.fromkeys(names, float("inf"))
    generator = torch.Generator().manual_seed(seed)
    for _ in range(rounds):
        for name, (model, optimiser) in models.items():
            tic = time.process_time()
            for step in range(steps):
                rows = slice(step * batch_size, (step + 1) * batch_size)
                loss = model.loss(inputs[rows], targets[rows], sampler.draw(generator))
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            best[name] = min(best[name], 1000 * (time.process_time() - tic) / steps)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="shop")
    parser.add_argument("--shop-size", default="small")
    parser.add_argument("--interactions", default=None, help="a log of your own instead (as the benchmark's option)")
    parser.add_argument("--items", default=None, help="its item table (without it: a learned hierarchy)")
    parser.add_argument("--models", default="sasrec,hier-sasrec")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--out", default=None, help="also write the table (markdown) here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    config = BenchConfig(dataset=args.dataset, shop_size=args.shop_size, interactions=args.interactions,
                         items=args.items)
    split = load_split(config)
    names = args.models.split(",")
    costs = step_costs(split, names, args.rounds, args.steps, config)
    first = costs[names[0]]
    title = args.interactions or args.dataset + (f" ({args.shop_size})" if args.dataset == "shop" else "")
    lines = [f"# Training step cost: {title}", "",
             f"- command: `python scripts/bench_step_cost.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
             f"- date (UTC): {software_stamp()}",
             f"- machine: {machine_description()}, torch threads 1",
             f"- data: {split.n_items:,} items, {split.n_users:,} users, hierarchy {split.taxonomy.describe()} "
             f"({', '.join(map(str, split.summary()['nodes_per_level']))} nodes per level); recipe: batch "
             f"{config.batch_size}, windows of {config.max_len}, sampled softmax over {config.negatives:,} items; "
             f"fastest of {args.rounds} rounds of {args.steps} steps, CPU time", "",
             f"| model | CPU ms per step | x {names[0]} |", "|---|---:|---:|"]
    lines += [f"| {name} | {ms:.1f} | {ms / first:.2f} |" for name, ms in costs.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

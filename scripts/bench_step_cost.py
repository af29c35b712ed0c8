"""The CPU cost of one training step of several models, measured side by side (issue 10's cost goal).

Usage: python scripts/bench_step_cost.py --dataset shop --models sasrec,hier-sasrec [--rounds 5] [--steps 15]

Every model trains on the same batches (the benchmark's recipe: its split, windows, batch of 32, sampled
softmax over 1,024 popularity-drawn items), one thread. The models take turns, ``--steps`` steps each per
round, so a busy machine slows them alike; each model's cost is its fastest round in CPU time
(``time.process_time``) per step, and the table gives each as a multiple of the first model's. A time
budget or s/epoch from separate benchmark runs mixes in the machine's load at different moments; this does not.
``--memory`` adds the memory each model's training needs: ``--steps`` steps in a fresh process per model (Linux),
the peak resident size minus the size after loading the data. Optionally ``--out FILE.md`` writes the table with
its command and machine.
"""
from __future__ import annotations

import argparse
import subprocess
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
            train_steps(model, optimiser, inputs, targets, sampler, generator, steps, batch_size)
            best[name] = min(best[name], 1000 * (time.process_time() - tic) / steps)
    return best


def train_steps(model, optimiser, inputs, targets, sampler, generator, steps: int, batch_size: int) -> None:
    """``steps`` training steps on the first ``steps`` batches of the windows (the same batches for every model)."""
    for step in range(steps):
        rows = slice(step * batch_size, (step + 1) * batch_size)
        loss = model.loss(inputs[rows], targets[rows], sampler.draw(generator))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()


def resident_mib(field: str = "VmRSS") -> float:
    """This process's resident memory now (``VmRSS``) or at its peak (``VmHWM``), from Linux's /proc/self/status.
    Not ``getrusage``'s ``ru_maxrss``: Linux carries the parent's peak into a child started by ``subprocess``."""
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024  # kB


def training_memory(split, name: str, steps: int = 15, config: BenchConfig | None = None, seed: int = 0) -> float:
    """MiB that ``steps`` training steps of model ``name`` add to this process's peak resident memory, over its
    size once the data is loaded. The peak is the process's: call it once, in a fresh process (``--memory``)."""
    config = config or BenchConfig()
    inputs, targets = training_windows(split, config.max_len, config.all_windows, config.window_stride)
    sampler = NegativeSampler(targets, split.n_items, config.negatives)
    loaded = resident_mib()
    torch.manual_seed(seed)
    model = build_model(name, split, dim=config.dim, max_len=config.max_len).train()
    optimiser = torch.optim.Adam(model.parameters(), config.lr)
    train_steps(model, optimiser, inputs, targets, sampler, torch.Generator().manual_seed(seed), steps,
                config.batch_size)
    return resident_mib("VmHWM") - loaded


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
    parser.add_argument("--memory", action="store_true", help="also each model's training memory (Linux)")
    parser.add_argument("--memory-of", default=None, help=argparse.SUPPRESS)  # the fresh process of --memory
    args = parser.parse_args(argv)
    if (args.memory or args.memory_of) and not Path("/proc/self/status").is_file():
        parser.error("--memory reads the resident size from /proc/self/status: Linux only")
    torch.set_num_threads(1)
    config = BenchConfig(dataset=args.dataset, shop_size=args.shop_size, interactions=args.interactions,
                         items=args.items)
    split = load_split(config)
    if args.memory_of:
        print(f"{training_memory(split, args.memory_of, args.steps, config):.1f}")
        return 0
    names = args.models.split(",")
    costs = step_costs(split, names, args.rounds, args.steps, config)
    memory = {}
    if args.memory:
        data = ["--dataset", args.dataset, "--shop-size", args.shop_size]
        data += ["--interactions", args.interactions] if args.interactions else []
        data += ["--items", args.items] if args.items else []
        for name in names:
            probe = subprocess.run([sys.executable, __file__, *data, "--steps", str(args.steps), "--memory-of", name],
                                   capture_output=True, text=True)
            if probe.returncode:
                raise SystemExit(f"the memory run of {name} failed:\n{probe.stderr[-2000:]}")
            memory[name] = float(probe.stdout.split()[-1])
    first = costs[names[0]]
    title = args.interactions or args.dataset + (f" ({args.shop_size})" if args.dataset == "shop" else "")
    lines = [f"# Training step cost: {title}", "",
             f"- command: `python scripts/bench_step_cost.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
             f"- date (UTC): {software_stamp()}",
             f"- machine: {machine_description()}, torch threads 1",
             f"- data: {split.n_items:,} items, {split.n_users:,} users, hierarchy {split.taxonomy.describe()} "
             f"({', '.join(map(str, split.summary()['nodes_per_level']))} nodes per level); recipe: batch "
             f"{config.batch_size}, windows of {config.max_len}, sampled softmax over {config.negatives:,} items; "
             f"fastest of {args.rounds} rounds of {args.steps} steps, CPU time"
             + ("; memory: peak resident size of the same steps in a fresh process per model, minus its size with "
                "the data loaded" if memory else ""), ""]
    header = ["model", "CPU ms per step", f"x {names[0]}"] + (
        ["training memory (MiB)", f"memory x {names[0]}"] if memory else [])
    lines += ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for name, ms in costs.items():
        cells = [name, f"{ms:.1f}", f"{ms / first:.2f}"]
        cells += [f"{memory[name]:.0f}", f"{memory[name] / memory[names[0]]:.2f}"] if memory else []
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

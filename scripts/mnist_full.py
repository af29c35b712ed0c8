"""Run chapter 06's full mode outside the notebook and print epochs, wall time and accuracy.

Usage: python scripts/mnist_full.py [--root DIR] [--offline] [--threads N] [--epochs N] [--seed 0]

Loads MNIST (the official 60k/10k split when its files are found or can be
downloaded, else the seeded 8k/2k split of the 10k test file), trains
``CorrectedCNN`` with the chapter's settings and prints one line per epoch,
then the test accuracy with a 95 % interval.
"""
from __future__ import annotations

import argparse
import math
import platform
import time

import torch

import hiercourse
from hiercourse.datasets.mnist import load_mnist, training_split
from hiercourse.device import best_device
from hiercourse.mnist import (
    BATCH_SIZE,
    EPOCHS_OFFICIAL,
    EPOCHS_SPLIT,
    LEARNING_RATE,
    CorrectedCNN,
    count_parameters,
    evaluate,
    train,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help="folder holding mnist/ (default: $HIERCOURSE_DATA, cache)")
    parser.add_argument("--offline", action="store_true", help="never download; use the 8k/2k split if needed")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"default {EPOCHS_OFFICIAL} on the official split, {EPOCHS_SPLIT} on the fallback")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the fastest found)")
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = best_device(args.device)
    data = load_mnist(args.root, download=not args.offline)
    split = training_split(data, seed=args.seed)
    epochs = args.epochs or (EPOCHS_OFFICIAL if split.official else EPOCHS_SPLIT)
    print(f"data: {split.description}")
    print(f"device: {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{platform.processor() or platform.machine()}")

    hiercourse.seed_everything(args.seed)
    model = CorrectedCNN()
    print(f"CorrectedCNN: {count_parameters(model):,} parameters; {epochs} epochs, batch {BATCH_SIZE}, "
          f"peak lr {LEARNING_RATE} (Adam, one-cycle), seed {args.seed}")
    start = time.perf_counter()
    history = train(model, split.train_images, split.train_labels, epochs=epochs, batch_size=BATCH_SIZE,
                    lr=LEARNING_RATE, device=device, seed=args.seed, progress=args.progress,
                    test_x=split.test_images, test_y=split.test_labels)
    result = evaluate(model, split.test_images, split.test_labels)
    total = time.perf_counter() - start
    print(history.table().round(4).to_string(index=False))
    se = math.sqrt(result.accuracy * (1 - result.accuracy) / len(result.labels))
    print(f"epochs: {epochs}  train images: {len(split.train_images):,}  test images: {len(result.labels):,}")
    print(f"wall time: {history.wall_time_s:.1f} s training (incl. per-epoch test passes), {total:.1f} s in all")
    print(f"test accuracy: {result.accuracy:.4f} (95% interval {result.accuracy - 1.96 * se:.4f} "
          f"to {result.accuracy + 1.96 * se:.4f})")


if __name__ == "__main__":
    main()

"""Training on several workers: who am I among them, my share of the rows, sums over all of them.

Taught in chapter 13.

``torchrun --nproc-per-node N script.py`` starts N copies of a script and tells each, in
environment variables, its ``RANK`` (0..N-1), ``LOCAL_RANK`` (its GPU on this machine),
``WORLD_SIZE`` (N) and where rank 0 listens (``MASTER_ADDR``, ``MASTER_PORT``).
``init_from_env`` turns those into PyTorch's process group (gloo on CPU, NCCL on GPUs);
``hiercourse.training.fit`` then sees it (``workers()``) and trains under
DistributedDataParallel: every worker takes its share of each global batch
(``shard``), the gradients are averaged, and every worker takes the same optimiser step.
Without a process group (one plain ``python`` process) nothing here does anything:
``workers()`` says rank 0 of 1.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

__all__ = ["Workers", "workers", "launched_by_torchrun", "init_from_env", "shutdown", "shard", "all_reduce",
           "worker_device"]


@dataclass(frozen=True)
class Workers:
    """Where this process stands: ``rank`` of ``world`` workers, ``local_rank`` on its machine. Taught in chapter 13."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """True on rank 0, the worker that evaluates the test set, writes files and logs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when there is more than one worker."""
        return self.world > 1


def workers() -> Workers:
    """This process among the workers of the current process group (rank 0 of 1 without one).

    Taught in chapter 13.
    """
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return Workers()
    return Workers(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def launched_by_torchrun() -> bool:
    """True when the environment variables of ``torchrun`` (``WORLD_SIZE`` > 1, ``RANK``) are set.

    Taught in chapter 13.
    """
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init_from_env(device: str | None = None) -> Workers:
    """Join the workers ``torchrun`` started (its environment variables); NCCL on CUDA, else gloo.

    Does nothing in a single process (no ``torchrun`` variables) or when a process group
    exists already. ``device`` is the torch device the caller trains on (None: CUDA when
    available). Taught in chapter 13.
    """
    dist = torch.distributed
    if not launched_by_torchrun() or (dist.is_available() and dist.is_initialized()):
        return workers()
    cuda = torch.cuda.is_available() and (device is None or str(device).startswith("cuda"))
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    return workers()


def shutdown() -> None:
    """Leave the process group (when there is one). Taught in chapter 13."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def worker_device(device: torch.device) -> torch.device:
    """The device of this worker: on CUDA the GPU of its ``LOCAL_RANK``, else ``device`` unchanged.

    Taught in chapter 13.
    """
    here = workers()
    if device.type == "cuda" and here.distributed and device.index is None:
        return torch.device("cuda", here.local_rank)
    return device


def shard(rows: torch.Tensor, here: Workers | None = None) -> torch.Tensor:
    """This worker's share of ``rows``: every ``world``-th one starting at its ``rank`` (DistributedSampler's rule).

    Every worker holds the same ``rows`` (the same seeded shuffle), so the shares are
    disjoint and together they are all of ``rows``; their sizes differ by at most one.
    Taught in chapter 13.
    """
    here = here or workers()
    return rows[here.rank :: here.world]


def all_reduce(values: list[float], op: str = "sum", device: torch.device | str = "cpu") -> list[float]:
    """The ``op`` ("sum" or "max") of ``values`` over all workers (each passes its own); unchanged in one process.

    Taught in chapter 13.
    """
    if op not in ("sum", "max"):
        raise ValueError(f"op must be 'sum' or 'max', not {op!r}")
    if not workers().distributed:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist = torch.distributed
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
    return tensor.tolist()

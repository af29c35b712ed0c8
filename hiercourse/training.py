"""The one trainer for every neural recommender of the course, plus save/load.

Taught in chapter 09.

``fit`` trains any model with the course interface (``loss(inputs, targets)``
and ``scores(history, users)``, docs/design.md) on next-item windows of the
training part of a split, evaluates validation NDCG@10 under full ranking
(``hiercourse.evaluation``), stops early when it stops improving and restores
the best epoch's weights. The same function trains DNN, Caser, SASRec, GRU4Rec
and the hierarchical model, so their differences come from the models, not from
the training recipe.
"""
from __future__ import annotations

import copy
import importlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from hiercourse.csr import position_in_row
from hiercourse.device import best_device
from hiercourse.distributed import Workers, all_reduce, shard, worker_device, workers
from hiercourse.errors import DataError
from hiercourse.evaluation import evaluate
from hiercourse.models.base import count_parameters
from hiercourse.models.sequence import Negatives

__all__ = ["TrainResult", "fit", "training_windows", "training_data", "NegativeSampler", "make_optimizer",
           "save", "load"]


@dataclass
class TrainResult:
    """What ``fit`` did: one row per epoch in ``history`` and the best validation epoch.

    ``history`` columns: ``epoch``, ``train_loss``, ``seconds`` (training time of the
    epoch), ``elapsed`` (since the start, evaluation included) and, on evaluated
    epochs, ``valid_ndcg@10`` and ``valid_hr@10``. Taught in chapter 09.
    """

    history: pd.DataFrame
    best_epoch: int
    best_valid_ndcg: float
    epochs: int
    train_seconds: float
    stopped: str
    parameters: int
    device: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds_per_epoch(self) -> float:
        """Mean training seconds of one epoch (evaluation excluded)."""
        return float(self.history["seconds"].mean()) if len(self.history) else math.nan

    def __repr__(self) -> str:
        return (
            f"TrainResult(epochs={self.epochs}, best_epoch={self.best_epoch}, "
            f"best_valid_ndcg@10={self.best_valid_ndcg:.4f}, seconds/epoch={self.seconds_per_epoch:.2f}, "
            f"stopped={self.stopped!r})"
        )


def training_windows(split, max_len: int = 50, all_windows: bool = True,
                     stride: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-item training pairs ``(inputs [N, max_len], targets [N, max_len])`` from the train parts.

    ``split.train_windows(max_len)`` gives each user's most recent ``max_len``
    training steps. With ``all_windows`` the older part of a long history is not
    thrown away: it is cut into further windows of ``max_len`` steps, so every
    training interaction is a target once (the first steps of a window see a
    shorter past than the user really had). ``stride`` < ``max_len`` makes the windows
    overlap (each ends ``stride`` steps before the next): targets near a window's start
    are then seen again with a longer past, at the price of a longer epoch.
    Taught in chapter 09.
    """
    inputs, targets = split.train_windows(max_len)
    if not all_windows:
        return inputs, targets
    stride = max_len if stride is None else int(stride)
    if not 1 <= stride <= max_len:
        raise ValueError(f"stride must lie in 1..max_len ({max_len}), got {stride}")
    offsets = np.asarray(split.offsets)
    seq = np.asarray(split.seq)
    n_steps = np.maximum(np.diff(offsets) - 3, 0)  # train part of n items gives n - 1 steps
    extra = np.maximum((n_steps - 1) // stride, 0)  # windows beyond the most recent one
    if extra.sum() == 0:
        return inputs, targets
    users = np.repeat(np.arange(len(extra)), extra)
    # window w (1 = just before the most recent) of a user ends stride * w steps before the last step
    w = position_in_row(extra) + 1
    last_target = offsets[users + 1] - 3  # position of the last training target in seq
    end = last_target - stride * w  # position of this window's last target
    first_target = offsets[users] + 1
    cols = np.arange(max_len)
    target_pos = end[:, None] - (max_len - 1) + cols[None, :]
    inside = target_pos >= first_target[:, None]
    extra_targets = np.where(inside, seq[np.clip(target_pos, 0, None)], 0)
    extra_inputs = np.where(inside, seq[np.clip(target_pos - 1, 0, None)], 0)
    return (
        torch.cat([inputs, torch.as_tensor(extra_inputs)]),
        torch.cat([targets, torch.as_tensor(extra_targets)]),
    )


def training_data(model, split, max_len: int = 50, all_windows: bool = True,
                  stride: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows a model trains on, as two aligned tensors; a batch is a slice of rows of both.

    ``model.trains_on`` says which: "windows" (sequence models: ``training_windows``,
    ``(inputs [N, max_len], targets [N, max_len])``) or "interactions" (BPR: every
    training pair, ``(users [N], items [N])``). Taught in chapter 09.
    """
    kind = getattr(model, "trains_on", "windows")
    if kind == "windows":
        return training_windows(split, max_len, all_windows, stride)
    if kind == "interactions":
        users, items = split.train_interactions()
        return torch.as_tensor(users), torch.as_tensor(items)
    raise ValueError(f"{type(model).__name__}.trains_on must be 'windows' or 'interactions', not {kind!r}")


class NegativeSampler:
    """Draws the shared negatives of a sampled softmax, in proportion to training popularity.

    ``q(j)`` is proportional to ``(count_j + 1) ** alpha``, ``count_j`` = how often item j is a
    training target (validation and test items are not counted: they must not leak
    into training). Popular items are the hard negatives a full ranking puts on top,
    so they are drawn often; ``sampled_softmax_loss`` divides that preference back out
    (``- log q``). Taught in chapter 09.
    """

    def __init__(self, targets: torch.Tensor, n_items: int, n_negatives: int, alpha: float = 1.0,
                 device: torch.device | str = "cpu") -> None:
        if n_negatives < 1:
            raise ValueError(f"n_negatives must be >= 1, got {n_negatives}")
        counts = torch.bincount(targets.reshape(-1), minlength=n_items + 1)[: n_items + 1].double()
        q = (counts[1:] + 1.0) ** alpha
        self.q = (q / q.sum()).float()  # drawn on the CPU: the training generator lives there
        self.log_q = torch.cat([torch.zeros(1), self.q.log()]).to(device)  # index = item code; 0 is padding
        self.n_negatives = int(n_negatives)

    def draw(self, generator: torch.Generator | None = None) -> Negatives:
        """``n_negatives`` item codes (with replacement) and the log-probabilities, on the sampler's device."""
        items = torch.multinomial(self.q, self.n_negatives, replacement=True, generator=generator) + 1
        return Negatives(items.to(self.log_q.device), self.log_q)


def make_optimizer(model: torch.nn.Module, name: str = "adam", lr: float = 1e-3, weight_decay: float = 0.0):
    """Adam (adaptive per-parameter steps) or plain SGD with momentum 0.9. Taught in chapter 09."""
    key = name.lower()
    if key == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    if key == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', not {name!r}")


def fit(
    model: torch.nn.Module,
    split,
    *,
    epochs: int = 50,
    batch_size: int = 256,
    lr: float = 1e-3,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    max_len: int = 50,
    all_windows: bool = True,
    patience: int | None = 5,
    eval_every: int = 1,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    time_budget_s: float | None = None,
    grad_clip: float | None = 5.0,
    train_fraction: float = 1.0,
    eval_users=None,
    negatives: int | None = None,
    window_stride: int | None = None,
    lr_decay: bool = False,
    checkpoint: str | Path | None = None,
) -> TrainResult:
    """Train ``model`` on ``split``; early-stop on validation NDCG@10. The one trainer of every model.

    A model with ``loss`` learns by gradient (below); a counting baseline (``fit(split)``,
    no ``loss``) is fitted in one pass and gets a result with 0 epochs.

    - batches: rows of ``training_data(model, split, ...)``: next-item windows
      (``training_windows(split, max_len, all_windows, window_stride)``) or, for BPR,
      training (user, item) pairs; shuffled each epoch by a generator seeded with ``seed``;
    - every ``eval_every`` epochs: validation NDCG@10 / HR@10 with full ranking; after
      ``patience`` evaluations without improvement training stops (``None``: never);
    - ``time_budget_s``: stop (mid-epoch if needed) once training has used that long;
    - ``train_fraction`` < 1 keeps a seeded random share of the training windows (to
      measure how much data a model needs); validation and test are unchanged;
    - ``eval_users``: evaluate validation on these encoded users only (faster);
    - ``negatives``: a sampled softmax over that many items drawn by popularity
      (``NegativeSampler``) instead of the full softmax over every item (``None``);
      the full softmax's cost grows with the catalogue, the sampled one's does not
      (a catalogue of at most ``negatives`` items gets the full softmax);
    - ``lr_decay``: the learning rate falls linearly from ``lr`` to 5 % of it over the run
      (over ``time_budget_s`` when given, else over ``epochs``): big steps early, small ones
      late, so the weights settle instead of jumping around the optimum;
    - at the end the best evaluated epoch's weights are restored (and, with ``checkpoint``,
      saved there by ``save``);
    - several workers (``torchrun --nproc-per-node N``, a process group from
      ``hiercourse.distributed.init_from_env``): DistributedDataParallel. Every worker draws the
      same seeded shuffle; ``batch_size`` is the global batch, of which each worker takes every
      N-th row (``distributed.shard``) and weights its loss by its share of the batch's targets,
      so the averaged gradient is the one-process gradient of the whole batch. Each worker
      evaluates its share of the users and the sums are combined; rank 0 alone saves the
      checkpoint and shows progress (chapter 13).

    Taught in chapter 09.
    """
    if not hasattr(model, "loss"):
        if not hasattr(model, "fit"):
            raise TypeError(f"{type(model).__name__} has neither loss(...) nor fit(split): see hiercourse.models.base")
        return _fit_counting(model, split)
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    device = best_device(device) if not isinstance(device, torch.device) else device
    here = workers()
    device = worker_device(device)
    progress = progress and here.main
    torch.manual_seed(seed)  # dropout masks and any model-side sampling
    generator = torch.Generator().manual_seed(seed)
    model.to(device)
    inputs, targets = training_data(model, split, max_len, all_windows, window_stride)
    if not 0 < train_fraction <= 1:
        raise ValueError(f"train_fraction must lie in (0, 1], got {train_fraction}")
    if train_fraction < 1:
        keep = torch.randperm(len(inputs), generator=torch.Generator().manual_seed(seed))
        keep = keep[: max(1, math.ceil(train_fraction * len(inputs)))]
        inputs, targets = inputs[keep], targets[keep]
    if len(inputs) == 0:
        raise DataError("the split has no training rows (every train part is shorter than 2 items)")
    opt = make_optimizer(model, optimizer, lr, weight_decay)
    # drawing as many items as the catalogue holds costs more than scoring all of them: full softmax then
    sampler = NegativeSampler(targets, split.n_items, negatives, device=device) \
        if negatives and negatives < split.n_items else None
    learner = _distributed(model, device) if here.distributed else model.loss
    kind = getattr(model, "trains_on", "windows")

    rows: list[dict] = []
    best_ndcg, best_epoch, best_state, waited = -math.inf, 0, None, 0
    stopped = "epochs"
    train_seconds, start = 0.0, time.perf_counter()
    epoch_bar = range(1, epochs + 1)
    if progress:
        from hiercourse.notebook import progress_bar

        epoch_bar = progress_bar(epoch_bar, desc=type(model).__name__, leave=False)

    def used() -> float:  # training seconds so far (of this epoch's tic); under several workers the slowest one's
        seconds = train_seconds + time.perf_counter() - tic
        return all_reduce([seconds], op="max")[0] if here.distributed else seconds

    for epoch in epoch_bar:
        model.train()
        tic = time.perf_counter()
        order = torch.randperm(len(inputs), generator=generator)
        total, seen = 0.0, 0
        out_of_time = False
        for begin in range(0, len(order), batch_size):
            idx = order[begin : begin + batch_size]
            weight = 1.0
            if here.distributed:
                idx, weight = _my_share(idx, targets, kind, here)
            batch = (inputs[idx].to(device), targets[idx].to(device))
            if sampler is None:
                loss = learner(*batch)
            else:
                loss = learner(*batch, negatives=sampler.draw(generator))
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"training loss became {loss.item()} at epoch {epoch}: lower lr (now {lr}) or use Adam"
                )
            if lr_decay:
                done = used() / time_budget_s if time_budget_s else \
                    (epoch - 1 + begin / len(order)) / epochs
                for group in opt.param_groups:
                    group["lr"] = lr * max(0.05, 1.0 - done)
            opt.zero_grad()
            (loss * weight if here.distributed else loss).backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            if weight:  # a worker's stand-in row (weight 0, see _my_share) is no training data
                total += loss.item() * len(idx)
                seen += len(idx)
            if time_budget_s is not None and used() > time_budget_s:
                out_of_time = True
                break
        seconds = time.perf_counter() - tic
        train_seconds += seconds
        if here.distributed:
            total, seen = all_reduce([total, seen])
        row = {"epoch": epoch, "train_loss": total / max(seen, 1), "seconds": seconds}
        if epoch % eval_every == 0 or out_of_time or epoch == epochs:
            if here.distributed:
                metrics = _evaluate_shared(model, split, max_len, eval_users, here)
            else:
                metrics = evaluate(model, split, stage="valid", k=10, max_len=max_len,
                                   sampled_negatives=None, users=eval_users)
            row["valid_ndcg@10"], row["valid_hr@10"] = metrics["ndcg@10"], metrics["hr@10"]
            if metrics["ndcg@10"] > best_ndcg:
                best_ndcg, best_epoch, waited = metrics["ndcg@10"], epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                waited += 1
        row["elapsed"] = time.perf_counter() - start
        rows.append(row)
        if progress:
            epoch_bar.set_postfix(loss=f"{row['train_loss']:.3f}", ndcg=f"{row.get('valid_ndcg@10', math.nan):.4f}")
        if out_of_time:
            stopped = "time budget"
            break
        if patience is not None and waited >= patience:
            stopped = "early stopping"
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    if checkpoint is not None and here.main:
        save(model, checkpoint)
    return TrainResult(
        history=pd.DataFrame(rows),
        best_epoch=best_epoch,
        best_valid_ndcg=best_ndcg,
        epochs=len(rows),
        train_seconds=train_seconds,
        stopped=stopped,
        parameters=count_parameters(model),
        device=str(device),
        extra={"optimizer": optimizer, "lr": lr, "batch_size": batch_size, "max_len": max_len,
               "n_windows": len(inputs), "seed": seed, "train_fraction": train_fraction,
               "negatives": negatives if sampler is not None else None, "window_stride": window_stride,
               "lr_decay": lr_decay, "workers": here.world},
    )


# --------------------------------------------------------------------------- several workers (chapter 13)
class _LossOf(torch.nn.Module):
    """``forward`` = ``model.loss``: DistributedDataParallel averages the gradients of what ``forward`` returns."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *batch, **kwargs):
        return self.model.loss(*batch, **kwargs)


def _distributed(model: torch.nn.Module, device: torch.device):
    """``model.loss`` under DistributedDataParallel (rank 0's weights are broadcast to every worker first)."""
    from torch.nn.parallel import DistributedDataParallel

    # some models leave parameters out of some losses (e.g. the sampled softmax): let DDP look for them
    return DistributedDataParallel(_LossOf(model), device_ids=[device.index] if device.type == "cuda" else None,
                                   find_unused_parameters=True)


def _loss_terms(rows: torch.Tensor, targets: torch.Tensor, kind: str) -> int:
    """How many terms the model's loss averages over for these rows: non-pad targets of windows, else rows."""
    return int((targets[rows] > 0).sum()) if kind == "windows" else len(rows)


def _my_share(idx: torch.Tensor, targets: torch.Tensor, kind: str, here: Workers) -> tuple[torch.Tensor, float]:
    """This worker's rows of the global batch ``idx`` and its loss weight.

    Each worker's loss is a mean over its own terms; weighting it by ``world x (its terms /
    the batch's terms)`` makes DDP's average of the gradients the gradient of the mean over
    the whole batch, as one process would compute it. A worker left without rows (a last
    batch smaller than the number of workers) takes one row at weight 0, so it still joins
    the gradient exchange.
    """
    mine = shard(idx, here)
    if len(mine) == 0:
        return idx[:1], 0.0
    return mine, here.world * _loss_terms(mine, targets, kind) / _loss_terms(idx, targets, kind)


def _evaluate_shared(model, split, max_len: int, eval_users, here: Workers) -> dict:
    """Validation NDCG@10 / HR@10 over all (or ``eval_users``) users, each worker ranking its share."""
    users = np.arange(split.n_users) if eval_users is None else np.asarray(eval_users)
    mine = users[here.rank :: here.world]
    sums = [0.0, 0.0, 0.0]
    if len(mine):
        metrics = evaluate(model, split, stage="valid", k=10, max_len=max_len, sampled_negatives=None, users=mine)
        sums = [metrics["ndcg@10"] * len(mine), metrics["hr@10"] * len(mine), float(len(mine))]
    ndcg_sum, hr_sum, n = all_reduce(sums)
    return {"ndcg@10": ndcg_sum / n, "hr@10": hr_sum / n}


def _fit_counting(model, split) -> TrainResult:
    """A counting baseline: one ``fit(split)`` pass, reported like a training run of 0 epochs."""
    tic = time.perf_counter()
    model.fit(split)
    return TrainResult(
        history=pd.DataFrame(columns=["epoch", "train_loss", "seconds", "elapsed"]),
        best_epoch=0, best_valid_ndcg=math.nan, epochs=0, train_seconds=time.perf_counter() - tic,
        stopped="closed form", parameters=count_parameters(model), device="cpu",
    )


# --------------------------------------------------------------------------- save / load
def save(model: torch.nn.Module, path: str | Path, config: dict | None = None) -> Path:
    """Save weights and how to rebuild the model: its class and constructor keyword arguments.

    ``config`` defaults to ``model.config`` (set by the course's model factories).
    Taught in chapter 09.
    """
    config = config if config is not None else getattr(model, "config", None)
    if config is None:
        raise ValueError(
            f"cannot save {type(model).__name__} without its constructor arguments: pass "
            "config={...} (the keyword arguments it was built with) or set model.config"
        )
    cls = type(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "config": dict(config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    torch.save(payload, path)
    return path


def load(path: str | Path, cls: type | None = None, map_location: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild a model saved by :func:`save` and load its weights (in eval mode).

    The class is imported from the name stored in the file, unless ``cls`` is given
    (needed for a class defined in a notebook). Taught in chapter 09.
    """
    payload = torch.load(Path(path), map_location=map_location, weights_only=True)  # tensors only, no code
    if cls is None:
        module_name, _, qualname = payload["class"].partition(":")
        cls = importlib.import_module(module_name)
        for part in qualname.split("."):
            cls = getattr(cls, part)
    model = cls(**payload["config"])
    model.load_state_dict(payload["state_dict"])
    model.config = dict(payload["config"])
    return model.eval()

"""Training on two workers (gloo, CPU) gives what one process gives (chapter 13).

Two processes are spawned with the environment variables ``torchrun`` would set (a free port
on localhost); each joins the process group with ``hiercourse.distributed.init_from_env`` and
trains with the one trainer, ``hiercourse.training.fit``. Rank 0 writes its parameters and
metrics to a file that the test compares with a single-process run of the same recipe.
"""
from __future__ import annotations

import dataclasses
import os
import socket

import pytest
import torch

from hiercourse.datasets import make_shop
from hiercourse.distributed import Workers, all_reduce, launched_by_torchrun, shard, workers
from hiercourse.models import build_model
from hiercourse.preprocessing import collapse_repeats, leave_one_out
from hiercourse.training import fit

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="this torch has no gloo backend")

# one step: a global batch larger than the data. SGD, not Adam: Adam's first step is lr * g / (|g| + eps),
# which turns the float noise of a gradient that is zero in exact arithmetic (attention's key bias: a shift
# of every logit) into a full-size step, different in every summation order
ONE_STEP = dict(epochs=1, batch_size=100_000, lr=0.5, optimizer="sgd", negatives=32, patience=None,
                progress=False, seed=3)
# a short run: 4 epochs of batches of 64 windows, the course's Adam
SHORT_RUN = dict(epochs=4, batch_size=64, lr=5e-3, patience=None, progress=False, seed=0)


def _split():
    data = make_shop("tiny", n_users=200, seed=1)
    return leave_one_out(dataclasses.replace(data, interactions=collapse_repeats(data.interactions)))


def _one_step_model(split):
    torch.manual_seed(0)
    return build_model("sasrec", split, dim=16, max_len=20, dropout=0.0)


def _short_run_model(split):
    torch.manual_seed(0)
    return build_model("sasrec", split, dim=16, max_len=20)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    from hiercourse.distributed import init_from_env, shutdown

    here = init_from_env(device="cpu")
    assert here == Workers(rank, world, rank) and launched_by_torchrun()
    split = _split()
    model = _one_step_model(split)
    fit(model, split, device="cpu", max_len=20, **ONE_STEP)
    one_step = {k: v.clone() for k, v in model.state_dict().items()}
    short = fit(_short_run_model(split), split, device="cpu", max_len=20, **SHORT_RUN)
    # every worker ended with the same weights
    total = all_reduce([float(one_step["item_embedding.weight"].sum())])[0]
    if here.main:
        torch.save({"one_step": one_step, "short": short.history.to_dict("list"), "total": total,
                    "workers": short.extra["workers"]}, out)
    shutdown()


def test_one_worker_needs_no_process_group():
    assert workers() == Workers(0, 1, 0) and not workers().distributed
    assert all_reduce([1.5, 2.0]) == [1.5, 2.0]
    rows = torch.arange(7)
    shares = [shard(rows, Workers(r, 3)) for r in range(3)]
    assert sorted(torch.cat(shares).tolist()) == rows.tolist() and [len(s) for s in shares] == [3, 2, 2]


def test_two_gloo_workers_match_one_process(tmp_path):
    out = tmp_path / "rank0.pt"
    context = torch.multiprocessing.start_processes(
        _worker, args=(2, _free_port(), str(out)), nprocs=2, join=False, start_method="spawn")
    for _ in range(120):  # at most 120 s, then the workers are stopped
        if context.join(timeout=1):
            break
    else:
        for process in context.processes:
            process.kill()
        pytest.fail("the two workers did not finish within 120 s")
    got = torch.load(out, weights_only=False)
    assert got["workers"] == 2

    split = _split()
    # (a) one optimiser step on the whole global batch: the same parameters as one process
    single = _one_step_model(split)
    start = {k: v.clone() for k, v in single.state_dict().items()}
    fit(single, split, device="cpu", max_len=20, **ONE_STEP)
    assert not torch.equal(single.item_embedding.weight, start["item_embedding.weight"]), "the step moved nothing"
    # float32 sums in another order: all parameters within 1e-6 (relative), each tensor within 1e-5
    both = [(got["one_step"][name].double(), value.double()) for name, value in single.state_dict().items()]
    difference = torch.cat([(two - one).ravel() for two, one in both]).norm()
    assert difference / torch.cat([one.ravel() for _, one in both]).norm() < 1e-6
    for name, (two, one) in zip(single.state_dict(), both):
        assert (two - one).norm() / one.norm().clamp_min(1e-12) < 1e-5, name
    assert got["total"] == pytest.approx(2 * float(got["one_step"]["item_embedding.weight"].sum()), rel=1e-9)

    # (b) a short run (dropout on, so the masks differ): validation metrics within noise
    short = fit(_short_run_model(split), split, device="cpu", max_len=20, **SHORT_RUN)
    ndcg_two, ndcg_one = got["short"]["valid_ndcg@10"][-1], short.history["valid_ndcg@10"].iloc[-1]
    hr_two, hr_one = got["short"]["valid_hr@10"][-1], short.history["valid_hr@10"].iloc[-1]
    assert ndcg_one > 0.05, "the single-process run learned nothing: the comparison would be empty"
    assert abs(ndcg_two - ndcg_one) < 0.05 and abs(hr_two - hr_one) < 0.08, (ndcg_two, ndcg_one, hr_two, hr_one)

"""The one trainer: training windows, early stopping, best-checkpoint restore, budgets, save/load."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from hiercourse.datasets import make_shop
from hiercourse.evaluation import evaluate
from hiercourse.preprocessing import collapse_repeats, leave_one_out
from hiercourse.training import fit, load, make_optimizer, save, training_windows


@pytest.fixture(scope="module")
def split():
    data = make_shop("tiny", seed=0)
    data.interactions = collapse_repeats(data.interactions)
    return leave_one_out(data)


class LastItem(nn.Module):
    """A tiny next-item model: the state after position t is the embedding of item t."""

    def __init__(self, n_items: int, dim: int = 8) -> None:
        super().__init__()
        self.config = {"n_items": n_items, "dim": dim}
        self.embedding = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.out = nn.Linear(dim, n_items + 1)

    def scores(self, history, users=None):
        return self.out(self.embedding(history[:, -1]))

    def loss(self, inputs, targets):
        keep = targets > 0
        return nn.functional.cross_entropy(self.out(self.embedding(inputs[keep])), targets[keep])


def test_training_windows_use_every_training_step_once(split):
    for max_len in (5, 50):
        inputs, targets = training_windows(split, max_len)
        assert inputs.shape == targets.shape and inputs.shape[1] == max_len
        got = sorted(zip(inputs[targets > 0].tolist(), targets[targets > 0].tolist()))
        expected = []
        for u in range(split.n_users):
            train = split.seq[split.offsets[u]:split.offsets[u + 1] - 2]
            expected += list(zip(train[:-1].tolist(), train[1:].tolist()))
        assert got == sorted(expected)
        # inputs are the targets shifted by one inside each window
        assert torch.equal(inputs[:, 1:][targets[:, :-1] > 0], targets[:, :-1][targets[:, :-1] > 0])
    last_only, _ = training_windows(split, 5, all_windows=False)
    assert torch.equal(last_only, split.train_windows(5)[0])


def test_fit_learns_and_restores_the_best_epoch(split):
    torch.manual_seed(0)
    model = LastItem(split.n_items)
    before = evaluate(model, split, stage="valid", sampled_negatives=None)["ndcg@10"]
    result = fit(model, split, epochs=8, lr=0.05, batch_size=32, patience=None, progress=False, seed=0)
    history = result.history
    # without patience every epoch runs and is evaluated (eval_every=1)
    assert history["epoch"].tolist() == list(range(1, 9)) and result.epochs == 8 and result.stopped == "epochs"
    assert history["valid_ndcg@10"].notna().all()
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    assert result.best_valid_ndcg == pytest.approx(history["valid_ndcg@10"].max())
    assert result.best_epoch == int(history.loc[history["valid_ndcg@10"].idxmax(), "epoch"])
    after = evaluate(model, split, stage="valid", sampled_negatives=None)["ndcg@10"]
    assert after == pytest.approx(result.best_valid_ndcg)  # the best checkpoint is back
    assert after > before
    assert result.parameters == sum(p.numel() for p in model.parameters())
    assert not model.training


def test_fit_is_reproducible(split):
    losses = []
    for _ in range(2):
        torch.manual_seed(0)
        model = LastItem(split.n_items)
        losses.append(fit(model, split, epochs=2, batch_size=16, progress=False, seed=3).history["train_loss"].tolist())
    assert losses[0] == losses[1]


def test_patience_stops_training(split):
    torch.manual_seed(0)
    # lr 0 never improves after the first evaluation: stop after `patience` more evaluations
    result = fit(LastItem(split.n_items), split, epochs=20, lr=0.0, patience=2, progress=False)
    assert result.epochs == 3 and result.stopped == "early stopping" and result.best_epoch == 1


def test_time_budget_stops_training(split):
    result = fit(LastItem(split.n_items), split, epochs=1000, time_budget_s=0.0, progress=False)
    assert result.epochs == 1 and result.stopped == "time budget"


def test_eval_every_skips_evaluations(split):
    result = fit(LastItem(split.n_items), split, epochs=4, eval_every=2, patience=None, progress=False)
    assert result.history["valid_ndcg@10"].notna().tolist() == [False, True, False, True]


def _steps(name, n_steps=1, **options):
    """Parameter moves of ``n_steps`` optimiser steps on loss = sum(C * W) + sum(d * b): the gradient is
    (C, d) at every point, known by hand."""
    torch.manual_seed(0)
    layer = nn.Linear(3, 2)
    start = [p.detach().clone() for p in layer.parameters()]
    grads = [torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -0.25]]), torch.tensor([-1.5, 0.125])]
    opt = make_optimizer(layer, name, **options)
    for _ in range(n_steps):
        opt.zero_grad()
        (sum((g * p).sum() for g, p in zip(grads, layer.parameters()))).backward()
        opt.step()
    return [p.detach() - p0 for p, p0 in zip(layer.parameters(), start)], grads, start


def test_optimizers_take_the_hand_computed_steps(split):
    # SGD with momentum 0.9: the first step is -lr * g (the momentum buffer starts at g), the second
    # -lr * (0.9 g + g) for a constant gradient: -lr * 2.9 g in all after two
    moves, grads, _ = _steps("SGD", lr=0.1)
    for move, g in zip(moves, grads):
        torch.testing.assert_close(move, -0.1 * g)
    moves, grads, _ = _steps("sgd", n_steps=2, lr=0.1)
    for move, g in zip(moves, grads):
        torch.testing.assert_close(move, -0.1 * 2.9 * g)
    # weight decay adds wd * w to the gradient
    moves, grads, start = _steps("sgd", lr=0.1, weight_decay=0.5)
    for move, g, w in zip(moves, grads, start):
        torch.testing.assert_close(move, -0.1 * (g + 0.5 * w))
    # Adam's bias-corrected first step: m_hat = g, v_hat = g^2, so each weight moves by lr * g / (|g| + eps):
    # lr against the sign of its gradient, whatever the gradient's size; a zero gradient moves nothing
    moves, grads, _ = _steps("adam", lr=0.01)
    for move, g in zip(moves, grads):
        torch.testing.assert_close(move, -0.01 * g / (g.abs() + 1e-8))
        assert (move[g == 0] == 0).all()
    with pytest.raises(ValueError, match="adam"):
        make_optimizer(nn.Linear(2, 2), "adagrad")
    # the trainer's SGD learns the toy model too
    result = fit(LastItem(split.n_items), split, epochs=2, optimizer="sgd", lr=0.5, progress=False)
    assert result.history["train_loss"].iloc[-1] < result.history["train_loss"].iloc[0]


def test_counting_baselines_go_through_the_same_trainer(split):
    """No branch in the benchmark: fit() fits a counting model in one pass and reports 0 epochs."""
    from hiercourse.models.baselines import MostPopular

    model = MostPopular()
    result = fit(model, split, epochs=5)
    assert result.epochs == 0 and result.stopped == "closed form" and result.parameters == split.n_items
    assert torch.equal(model.counts, torch.as_tensor(split.item_counts(), dtype=torch.float32))

    class Neither:
        def scores(self, history, users):
            return torch.zeros(len(history), split.n_items + 1)

    with pytest.raises(TypeError, match="neither loss"):
        fit(Neither(), split)


def test_save_load_round_trip(split, tmp_path):
    model = LastItem(split.n_items)
    fit(model, split, epochs=1, progress=False)
    path = save(model, tmp_path / "model.pt")
    again = load(path)
    history = split.history("test", 50)[:5]
    assert type(again) is LastItem and again.config == model.config
    assert torch.equal(again.scores(history), model.scores(history))


def test_save_needs_the_constructor_arguments(tmp_path):
    with pytest.raises(ValueError, match="config"):
        save(nn.Linear(2, 2), tmp_path / "x.pt")


def test_course_sasrec_trains_with_the_trainer(split, tmp_path):
    from hiercourse.models.encoders import SASRec

    model = SASRec(split.n_items, dim=16, max_len=20, n_layers=1)
    result = fit(model, split, epochs=2, max_len=20, batch_size=64, progress=False)
    assert result.history["train_loss"].iloc[-1] < result.history["train_loss"].iloc[0]
    # the model carries its own constructor arguments: save needs no config
    assert model.config["n_items"] == split.n_items and model.config["n_layers"] == 1
    again = load(save(model, tmp_path / "sasrec.pt"))
    assert type(again) is SASRec and again.config == model.config
    history = split.history("test", 20)[:4]
    assert torch.allclose(again.scores(history), model.scores(history))


def test_train_fraction_uses_fewer_windows(split):
    full = fit(LastItem(split.n_items), split, epochs=1, progress=False)
    half = fit(LastItem(split.n_items), split, epochs=1, progress=False, train_fraction=0.5)
    assert half.extra["n_windows"] == pytest.approx(full.extra["n_windows"] / 2, abs=1)
    with pytest.raises(ValueError, match="train_fraction"):
        fit(LastItem(split.n_items), split, epochs=1, progress=False, train_fraction=0.0)


def test_negative_sampler_counts_training_targets_only(split):
    from hiercourse.training import NegativeSampler

    _, targets = training_windows(split, 50)
    sampler = NegativeSampler(targets, split.n_items, n_negatives=64)
    counts = torch.bincount(targets[targets > 0], minlength=split.n_items + 1)[1:].double()
    expected = (counts + 1) / (counts + 1).sum()
    assert torch.allclose(sampler.q.double(), expected, atol=1e-6)
    assert sampler.log_q[0] == 0 and torch.allclose(sampler.log_q[1:].exp(), sampler.q)
    drawn = sampler.draw(torch.Generator().manual_seed(0))
    assert drawn.items.shape == (64,) and int(drawn.items.min()) >= 1 and int(drawn.items.max()) <= split.n_items
    assert drawn.log_q is sampler.log_q
    # over many draws each item comes up in proportion to q: its count is Binomial(n, q_j), within 5 sigma
    many = NegativeSampler(targets, split.n_items, n_negatives=20_000)
    generator = torch.Generator().manual_seed(1)
    items = torch.cat([many.draw(generator).items for _ in range(10)])
    n = len(items)
    freq = torch.bincount(items, minlength=split.n_items + 1).double()
    assert freq[0] == 0  # padding is never a negative
    q = many.q.double()
    assert ((freq[1:] - n * q).abs() <= 5 * (n * q * (1 - q)).sqrt()).all()
    with pytest.raises(ValueError, match="n_negatives"):
        NegativeSampler(targets, split.n_items, n_negatives=0)


def test_fit_with_a_sampled_softmax_learns(split):
    from hiercourse.models.encoders import SASRec

    torch.manual_seed(0)
    model = SASRec(split.n_items, dim=16, max_len=20)
    before = evaluate(model, split, stage="valid", sampled_negatives=None, max_len=20)["ndcg@10"]
    drawn = []
    loss = model.loss

    def spy(*batch, negatives=None):  # what the trainer hands the model with every batch
        drawn.append(None if negatives is None else negatives.items)
        return loss(*batch, negatives=negatives)

    model.loss = spy
    result = fit(model, split, epochs=6, lr=5e-3, batch_size=16, max_len=20, patience=None, progress=False,
                 negatives=32)
    assert result.extra["negatives"] == 32
    # every batch got its own 32 items drawn (with replacement) from the catalogue
    assert drawn and all(d is not None and d.shape == (32,) and 1 <= int(d.min()) <= int(d.max()) <= split.n_items
                         for d in drawn)
    assert len({tuple(d.tolist()) for d in drawn}) > 1
    assert result.history["train_loss"].iloc[-1] < result.history["train_loss"].iloc[0]
    assert result.best_valid_ndcg > before


def test_overlapping_windows_cover_every_target_and_add_longer_pasts(split):
    plain_inputs, plain_targets = training_windows(split, 8)
    inputs, targets = training_windows(split, 8, stride=3)
    assert len(inputs) > len(plain_inputs)
    # every training pair is still there, and the overlap only repeats existing pairs
    pairs = set(zip(inputs[targets > 0].tolist(), targets[targets > 0].tolist()))
    assert pairs == set(zip(plain_inputs[plain_targets > 0].tolist(), plain_targets[plain_targets > 0].tolist()))
    assert torch.equal(inputs[:, 1:][targets[:, :-1] > 0], targets[:, :-1][targets[:, :-1] > 0])
    assert torch.equal(training_windows(split, 8, stride=8)[0], plain_inputs)
    with pytest.raises(ValueError, match="stride"):
        training_windows(split, 8, stride=9)


def test_a_catalogue_smaller_than_the_negatives_gets_the_full_softmax(split):
    from hiercourse.models.encoders import DNN

    torch.manual_seed(0)
    result = fit(DNN(split.n_items, dim=8), split, epochs=1, progress=False,
                 negatives=split.n_items + 5)
    assert result.extra["negatives"] is None


def test_lr_decay_follows_the_linear_schedule(split, monkeypatch):
    """With lr_decay (and no time budget) the learning rate of the batch starting at row b of epoch e
    (of E, n rows) is lr * max(0.05, 1 - (e - 1 + b / n) / E): linear in the share of training done,
    floored at 5 %."""
    seen = []
    original = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    torch.manual_seed(0)
    epochs, batch_size = 20, 8  # 20 epochs: the last one runs past 95 % of the training, on the floor
    result = fit(LastItem(split.n_items), split, epochs=epochs, lr=0.05, batch_size=batch_size, patience=None,
                 eval_every=epochs, progress=False, lr_decay=True)
    n = result.extra["n_windows"]
    expected = [0.05 * max(0.05, 1 - (epoch - 1 + begin / n) / epochs)
                for epoch in range(1, epochs + 1) for begin in range(0, n, batch_size)]
    assert seen == pytest.approx(expected, rel=1e-12)
    assert seen[0] == 0.05 and min(seen) == pytest.approx(0.05 * 0.05) and seen[-1] == pytest.approx(0.05 * 0.05)
    assert all(a >= b for a, b in zip(seen, seen[1:]))
    assert result.extra["lr_decay"] is True

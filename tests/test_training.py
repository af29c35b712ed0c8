"""The one trainer: training windows, early stopping, best-checkpoint restore, budgets, save/load."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hiercourse.datasets import make_shop
from hiercourse.evaluation import evaluate
from hiercourse.preprocessing import collapse_repeats, leave_one_out
from hiercourse.training import TrainResult, fit, load, make_optimizer, save, training_windows


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
    assert isinstance(result, TrainResult)
    history = result.history
    assert list(history.columns[:3]) == ["epoch", "train_loss", "seconds"]
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


def test_optimizers(split):
    model = LastItem(split.n_items)
    assert isinstance(make_optimizer(model, "adam"), torch.optim.Adam)
    assert isinstance(make_optimizer(model, "SGD", lr=0.1), torch.optim.SGD)
    with pytest.raises(ValueError, match="adam"):
        make_optimizer(model, "adagrad")
    result = fit(model, split, epochs=2, optimizer="sgd", lr=0.5, progress=False)
    assert np.isfinite(result.history["train_loss"]).all()


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
    config = getattr(model, "config", {"n_items": split.n_items, "dim": 16, "max_len": 20, "n_layers": 1})
    again = load(save(model, tmp_path / "sasrec.pt", config=config))
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
    with pytest.raises(ValueError, match="n_negatives"):
        NegativeSampler(targets, split.n_items, n_negatives=0)


def test_fit_with_a_sampled_softmax_learns(split):
    from hiercourse.models.encoders import SASRec

    torch.manual_seed(0)
    model = SASRec(split.n_items, dim=16, max_len=20)
    before = evaluate(model, split, stage="valid", sampled_negatives=None, max_len=20)["ndcg@10"]
    result = fit(model, split, epochs=6, lr=5e-3, batch_size=16, max_len=20, patience=None, progress=False,
                 negatives=32)
    assert result.extra["negatives"] == 32
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


def test_lr_decay_shrinks_the_steps(split, monkeypatch):
    """With lr_decay the optimiser's learning rate falls linearly over the epochs, to no less than 5 %."""
    seen = []
    original = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    torch.manual_seed(0)
    result = fit(LastItem(split.n_items), split, epochs=4, lr=0.05, batch_size=8, patience=None, progress=False,
                 lr_decay=True)
    assert seen[0] == pytest.approx(0.05) and seen[-1] < 0.05 * 0.35 and min(seen) >= 0.05 * 0.05 - 1e-12
    assert all(a >= b for a, b in zip(seen, seen[1:]))
    assert result.extra["lr_decay"] is True

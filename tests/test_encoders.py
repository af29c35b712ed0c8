"""Chapter-07 encoders: shapes, causality, padding, the shared scoring base."""
from __future__ import annotations

import math

import pytest
import torch

from hiercourse.errors import DataError
from hiercourse.models import MODELS, get_model
from hiercourse.models.encoders import CaserEncoder, SASRec, attention_mask
from hiercourse.models.hierarchical import HierarchicalInterestModel
from hiercourse.models.sequence import SequenceRecommender

N_ITEMS, DIM, LENGTH = 40, 16, 12
# every registered sequence encoder (a new one is tested here the moment it is registered)
SEQUENCE = sorted(name for name, (cls, _) in MODELS.items()
                  if issubclass(cls, SequenceRecommender) and cls is not HierarchicalInterestModel)


def build(name: str, **kwargs):
    torch.manual_seed(0)
    return get_model(name)(N_ITEMS, dim=DIM, max_len=LENGTH, **kwargs).eval()


def test_the_four_encoders_of_chapter_07_are_registered():
    assert {"dnn", "caser", "gru4rec", "sasrec"} <= set(SEQUENCE)


def batch(seed: int = 0, pad: int = 3):
    g = torch.Generator().manual_seed(seed)
    seq = torch.randint(1, N_ITEMS + 1, (5, LENGTH), generator=g)
    seq[:, :pad] = 0
    return seq


@pytest.mark.parametrize("name", SEQUENCE)
def test_shapes_and_finite_loss(name):
    model = build(name)
    seq = batch()
    scores = model.scores(seq, torch.arange(5))
    assert scores.shape == (5, N_ITEMS + 1)
    assert torch.isfinite(scores).all()
    targets = batch(1)
    model.train()
    loss = model.loss(seq, targets)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert model.item_embedding.weight.grad is not None


@pytest.mark.parametrize("name", SEQUENCE)
def test_causal_prefix_states(name):
    """The state at t must not change when items after t change (one pass trains every prefix)."""
    model = build(name)
    seq = batch()
    changed = seq.clone()
    t = 7
    changed[:, t + 1:] = torch.randint(1, N_ITEMS + 1, changed[:, t + 1:].shape)
    with torch.no_grad():
        a, b = model.hidden(seq), model.hidden(changed)
    assert torch.allclose(a[:, : t + 1], b[:, : t + 1], atol=1e-5)
    assert not torch.allclose(a[:, t + 1:], b[:, t + 1:], atol=1e-5)


@pytest.mark.parametrize("name", SEQUENCE)
def test_padding_is_masked(name):
    """Whatever the padding row's embedding holds, real positions see nothing of it."""
    model = build(name)
    seq = batch()
    with torch.no_grad():
        before = model.hidden(seq)
        model.item_embedding.weight[0] = torch.randn(DIM) * 10
        after = model.hidden(seq)
    assert torch.allclose(before[:, 3:], after[:, 3:], atol=1e-5)


def test_loss_ignores_padding_targets():
    model = build("sasrec")
    seq, targets = batch(), batch(1)
    full = model.loss(seq, targets)
    targets_more_pad = targets.clone()
    targets_more_pad[:, :3] = 0  # already pad: no change
    assert torch.isclose(full, model.loss(seq, targets_more_pad))
    # only position -1 kept: equals plain cross-entropy of the last state
    last_only = torch.zeros_like(targets)
    last_only[:, -1] = targets[:, -1]
    logits = model.scores(seq, None)[:, 1:]
    expected = torch.nn.functional.cross_entropy(logits, targets[:, -1] - 1)
    assert torch.isclose(model.loss(seq, last_only), expected, atol=1e-5)


def test_sasrec_attention_mask_blocks_future_and_padding():
    mask = torch.tensor([[False, True, True]])
    blocked = attention_mask(mask, n_heads=1)[0]
    # query 1 may see key 1 (itself) but not key 2 (future) nor key 0 (padding)
    assert blocked[1].tolist() == [True, False, True]
    assert blocked[2].tolist() == [True, False, False]
    assert blocked[0].tolist() == [False, True, True]  # a padding query sees itself only: no NaN


def test_caser_sees_only_its_window():
    torch.manual_seed(0)
    model = build("caser", window=3)
    seq = batch(pad=0)
    changed = seq.clone()
    changed[:, :5] = torch.randint(1, N_ITEMS + 1, (5, 5))  # far from the last 3 positions
    with torch.no_grad():
        assert torch.allclose(model.scores(seq, None), model.scores(changed, None), atol=1e-5)


def test_caser_windows_are_the_last_items():
    enc = CaserEncoder(dim=2, window=3)
    x = torch.arange(1, 5, dtype=torch.float).view(1, 4, 1).repeat(1, 1, 2)
    win = enc.windows(x)[0, :, :, 0]
    assert win.tolist() == [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4]]


def test_clear_errors():
    with pytest.raises(DataError, match="unknown model 'lstm'"):
        get_model("lstm")
    model = build("sasrec")
    with pytest.raises(DataError, match="outside 0.."):
        model.scores(torch.full((1, LENGTH), N_ITEMS + 5), None)
    with pytest.raises(DataError, match="max_len"):
        SASRec(N_ITEMS, dim=DIM, max_len=4).scores(batch(), None)


@pytest.mark.parametrize("name", SEQUENCE)
def test_sampled_softmax_over_every_item_is_the_full_softmax(name):
    """Every item drawn once with a uniform q: the sampled softmax is exactly the full one."""
    from hiercourse.models.sequence import Negatives

    model = build(name)
    seq, targets = batch(), batch(1)
    n_items = model.n_items
    everything = Negatives(torch.arange(1, n_items + 1), torch.full((n_items + 1,), -math.log(n_items)))
    assert torch.isclose(model.loss(seq, targets, negatives=everything), model.loss(seq, targets), atol=1e-5)


def test_sampled_softmax_loss_masks_a_negative_equal_to_the_target():
    from hiercourse.models.sequence import Negatives, sampled_softmax_loss

    positive = torch.tensor([2.0])
    negatives = Negatives(torch.tensor([3, 5]), torch.zeros(6))
    # item 3 is the target: only item 5 competes with it
    loss = sampled_softmax_loss(positive, torch.tensor([[2.0, 0.0]]), torch.tensor([3]), negatives)
    assert torch.isclose(loss, -torch.log_softmax(torch.tensor([2.0, 0.0]), 0)[0])
    # the log q correction: an item drawn ten times as often counts log(10) less
    biased = Negatives(torch.tensor([5]), torch.log(torch.tensor([1, 0.01, 0.01, 0.01, 0.01, 0.1])))
    loss = sampled_softmax_loss(torch.tensor([0.0]), torch.tensor([[0.0]]), torch.tensor([1]), biased)
    expected = -torch.log_softmax(torch.tensor([0.0 - math.log(0.01), 0.0 - math.log(0.1)]), 0)[0]
    assert torch.isclose(loss, expected)

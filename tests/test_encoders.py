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
    grad = model.item_embedding.weight.grad
    # the padding row is read only where the mask zeroes it and never scored: its gradient is exactly zero;
    # the full softmax scores every real item, so each of their rows learns something
    assert torch.equal(grad[0], torch.zeros(DIM))
    assert (grad[1:].abs().sum(1) > 0).all()


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
    # one item changed at t + 1: the states before it stay, the state at t + 1 moves in every row
    one = seq.clone()
    one[:, t + 1] = seq[:, t + 1] % N_ITEMS + 1
    with torch.no_grad():
        c = model.hidden(one)
    assert torch.allclose(a[:, : t + 1], c[:, : t + 1], atol=1e-5)
    assert ((a[:, t + 1] - c[:, t + 1]).abs().amax(1) > 1e-5).all()


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


def _layer_norm(x: torch.Tensor, norm: torch.nn.LayerNorm) -> torch.Tensor:
    mean, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


def test_dnn_state_is_the_mlp_of_the_running_mean():
    """DNN: the state at t is LayerNorm(m_t + W2 relu(W1 m_t + b1) + b2), m_t = the mean of the real items'
    embeddings up to t (zero before the first one), computed here position by position."""
    model = build("dnn")
    seq = batch()
    seq[1, 5] = 0  # a gap inside the history is not counted either
    enc = model.encoder
    first, second = enc.mlp[0], enc.mlp[3]
    with torch.no_grad():
        got = model.hidden(seq)
        emb = model.item_embedding.weight
        for b in range(len(seq)):
            for t in range(LENGTH):
                real = [int(j) for j in seq[b, : t + 1] if j > 0]
                m = emb[real].mean(0) if real else torch.zeros(DIM)
                mlp = second.weight @ torch.relu(first.weight @ m + first.bias) + second.bias
                assert torch.allclose(got[b, t], _layer_norm(m + mlp, enc.norm), atol=1e-5), (b, t)


def test_gru4rec_state_is_the_gru_recurrence():
    """GRU4Rec: h_t = (1 - z) * n + z * h_{t-1} with r = sigmoid(W_ir x + b_ir + W_hr h + b_hr),
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz), n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h_0 = 0,
    x = the item's embedding (zero for padding); the state is then W_p h_t + b_p. Written out by hand."""
    model = build("gru4rec")
    seq = batch()
    gru, project = model.encoder.gru, model.encoder.project
    w_i, w_h = gru.weight_ih_l0.chunk(3), gru.weight_hh_l0.chunk(3)  # (reset, update, new) gates
    b_i, b_h = gru.bias_ih_l0.chunk(3), gru.bias_hh_l0.chunk(3)
    with torch.no_grad():
        got = model.hidden(seq)
        x = model.item_embedding.weight[seq] * (seq > 0).unsqueeze(-1)
        h = torch.zeros(len(seq), DIM)
        for t in range(LENGTH):
            r = torch.sigmoid(x[:, t] @ w_i[0].T + b_i[0] + h @ w_h[0].T + b_h[0])
            z = torch.sigmoid(x[:, t] @ w_i[1].T + b_i[1] + h @ w_h[1].T + b_h[1])
            n = torch.tanh(x[:, t] @ w_i[2].T + b_i[2] + r * (h @ w_h[2].T + b_h[2]))
            h = (1 - z) * n + z * h
            assert torch.allclose(got[:, t], h @ project.weight.T + project.bias, atol=1e-5), t


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

"""Chapter 12's model changes: int8 item tables and Linear layers, title vectors, the text-fused model."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from hiercourse.datasets.schema import InteractionData, tidy_interactions, tidy_items
from hiercourse.features import title_vectors
from hiercourse.models import build_model
from hiercourse.models.compression import (
    Int8ItemTable,
    int8_rows,
    quantize_item_table,
    quantize_linear,
    scoring_ms_per_1000_users,
    state_dict_bytes,
)
from hiercourse.models.encoders import SASRec
from hiercourse.models.multimodal import TextSASRec, forget_new_item_ids
from hiercourse.preprocessing import leave_one_out


def test_int8_rows_by_hand():
    weight = torch.tensor([[1.27, -0.635, 0.0], [0.0, 0.0, 0.0], [-2.54, 0.01, 2.54]])
    q, scale = int8_rows(weight)
    assert q.dtype == torch.int8
    assert scale.tolist() == pytest.approx([0.01, 1.0, 0.02])
    assert q[0].tolist() == [127, -64, 0] and q[1].tolist() == [0, 0, 0] and q[2].tolist() == [-127, 0, 127]
    # every entry is within half a step of the original
    assert ((q.float() * scale[:, None] - weight).abs() <= scale[:, None] / 2 + 1e-7).all()


def test_int8_table_reads_like_the_embedding_and_is_smaller():
    torch.manual_seed(0)
    model = SASRec(500, dim=32, max_len=10).eval()
    small = quantize_item_table(model)
    assert isinstance(small.item_embedding, Int8ItemTable)
    assert isinstance(model.item_embedding, torch.nn.Embedding)  # the original is untouched
    history = torch.randint(1, 501, (6, 10))
    with torch.no_grad():
        a, b = model.scores(history), small.scores(history)
    assert torch.allclose(a, b, atol=0.05)
    table_bytes = 501 * 32 * 4
    saved = state_dict_bytes(model) - state_dict_bytes(small)
    assert 0.7 * table_bytes < saved < 0.8 * table_bytes  # float32 -> int8 + one float scale per row


def test_dynamic_quantisation_keeps_scores_close():
    torch.manual_seed(0)
    model = SASRec(200, dim=32, max_len=10).eval()
    quantized = quantize_linear(model)
    linears = [m for m in quantized.model.modules() if type(m).__name__ == "Linear"]
    assert not [m for m in linears if m.__class__.__module__.startswith("torch.nn.modules")], \
        "every plain nn.Linear was replaced"
    history = torch.randint(1, 201, (4, 10))
    with torch.no_grad():
        a, b = model.scores(history), quantized.scores(history)
    assert torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1] > 0.99
    assert state_dict_bytes(quantized) < state_dict_bytes(model)
    assert torch.backends.mha.get_fastpath_enabled()  # restored after scoring
    assert scoring_ms_per_1000_users(model, history, repeats=1) > 0


def test_title_vectors_put_sequels_together():
    titles = ["Toy Story (1995)", "Toy Story 2 (1999)", "Heat (1995)", "Casino (1995)", "Alien (1979)",
              "Aliens (1986)", "Sabrina (1995)", "Jumanji (1995)"]
    vectors = title_vectors(titles, dim=6, seed=0)
    assert vectors.shape == (8, 6) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1)
    assert sims[0].argmax() == 1 and sims[4].argmax() == 5  # each sequel's nearest title
    assert (title_vectors(titles, dim=6, seed=0) == vectors).all()


def _split():
    rows = [(0, [1, 2, 3, 4]), (1, [2, 3, 4, 5]), (2, [1, 3, 5, 2])]
    frame = pd.DataFrame([(u, i, t) for u, items in rows for t, i in enumerate(items)],
                         columns=["user", "item", "timestamp"])
    items = pd.DataFrame({"item": [1, 2, 3, 4, 5], "category_path": ["A", "A", "B", "B", "B"],
                          "title": ["Red Fox", "Red Fox Returns", "Blue Sea", "Blue Sea II", "Green Hill"]})
    return leave_one_out(InteractionData("t", tidy_interactions(frame), tidy_items(items)))


def test_text_model_vectors_are_id_plus_projected_title_and_survive_save(tmp_path):
    from hiercourse.training import load, save

    split = _split()
    model = build_model("text-sasrec", split, dim=8, max_len=5, text_dim=3)
    assert isinstance(model, TextSASRec)
    expected = model.item_embedding.weight + model.item_text @ model.text_projection.weight.T
    assert torch.allclose(model.item_vectors(), expected)
    assert model.item_text[0].abs().sum() == 0 and model.item_vectors()[0].abs().sum() == 0
    assert model.item_text[1] @ model.item_text[2] > model.item_text[1] @ model.item_text[5]  # "Red Fox ..."
    assert model.scores(split.history("test", 5)).shape == (3, 6)
    path = save(model, tmp_path / "m.pt")
    again = load(path)
    assert torch.equal(again.item_text, model.item_text)
    assert torch.allclose(again.item_vectors(), model.item_vectors())


def test_forget_new_item_ids_zeroes_only_untrained_items():
    split = _split()
    model = build_model("text-sasrec", split, dim=8, max_len=5, text_dim=3)
    counts = split.item_counts()  # train parts: [1, 2], [2, 3], [1, 3] -> item 4 and 5 never trained
    assert counts.tolist() == [0, 2, 2, 2, 0, 0]
    before = model.item_embedding.weight.detach().clone()
    assert forget_new_item_ids(model, counts) == 2
    after = model.item_embedding.weight.detach()
    assert after[[4, 5]].abs().sum() == 0 and torch.equal(after[1:4], before[1:4])
    vectors = model.item_vectors().detach()
    assert torch.allclose(vectors[4], model.text_projection(model.item_text[4]).detach())  # title part only

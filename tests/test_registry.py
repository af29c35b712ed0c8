"""One model interface, one registry: a new encoder is one module + one line, and everything picks it up."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

from hiercourse.bench import BenchConfig, load_split, run
from hiercourse.errors import DataError
from hiercourse.evaluation import evaluate
from hiercourse.models import MODELS, Recommender, build_model, get_model, model_kwargs, register
from hiercourse.models.hierarchical import HierarchicalInterestModel
from hiercourse.models.sequence import SequenceRecommender
from hiercourse.training import fit, load, save


class LastItemEncoder(nn.Module):
    """A toy encoder: the state after t is a linear map of item t alone (causal by construction)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class LastItemRec(SequenceRecommender):
    """The whole "new module": a SequenceRecommender that names its encoder."""

    @classmethod
    def make_encoder(cls, dim: int, max_len: int, dropout: float, **kwargs) -> nn.Module:
        return LastItemEncoder(dim)


@pytest.fixture
def toy_registered():
    register("toy", LastItemRec)  # the one registry line
    register("hier-toy", HierarchicalInterestModel, encoder="toy")
    yield
    MODELS.pop("toy")
    MODELS.pop("hier-toy")


def test_a_new_encoder_runs_through_fit_evaluate_save_and_the_benchmark(toy_registered, tmp_path):
    split = load_split(BenchConfig(dataset="shop", fast=True))
    torch.manual_seed(0)
    model = build_model("toy", split, dim=8, max_len=10)
    assert isinstance(model, LastItemRec) and isinstance(model, Recommender)
    result = fit(model, split, epochs=2, max_len=10, progress=False)
    assert result.epochs == 2 and result.parameters == sum(p.numel() for p in model.parameters())
    metrics = evaluate(model, split, max_len=10)
    assert 0 <= metrics["ndcg@10"] <= metrics["hr@10"] <= 1
    again = load(save(model, tmp_path / "toy.pt"))  # config rebuilds it
    history = split.history("test", 10)[:4]
    assert torch.allclose(again.scores(history, None), model.scores(history, None))
    # the hierarchical model takes the new encoder by its registered name
    hier = build_model("hier-toy", split, dim=8, max_len=10)
    assert isinstance(hier.encoder, LastItemEncoder)
    # ... and the benchmark runs both, one CSV row each
    runs = run(BenchConfig(dataset="shop", fast=True, models=("toy", "hier-toy"), progress=False,
                           out=str(tmp_path / "bench.csv")))
    assert runs["model"].tolist() == ["toy", "hier-toy"]
    assert pd.read_csv(tmp_path / "bench.csv")["ndcg@10"].between(0, 1).all()


def test_names_are_one_vocabulary():
    """The benchmark's names are the registry's, the hierarchical variants name their encoder (and, after it,
    the one option they change: "hier-sasrec-multilabel")."""
    for name, (cls, fixed) in MODELS.items():
        if cls is HierarchicalInterestModel:
            options = {key: value for key, value in fixed.items() if key != "encoder"}
            assert fixed["encoder"] in MODELS and name == "-".join(
                ["hier", fixed["encoder"], *(key.replace("_", "") for key in options)])
    assert get_model("caser").__name__ == "Caser" and model_kwargs("hier-sasrec") == {"encoder": "sasrec"}
    with pytest.raises(DataError, match="unknown model 'cnn'"):
        get_model("cnn")  # the old alias is gone: one name per model
    with pytest.raises(ValueError, match="registered already"):
        register("sasrec", LastItemRec)
    with pytest.raises(TypeError, match="model interface"):
        register("nothing", object)
    with pytest.raises(DataError, match="not a sequence model"):
        HierarchicalInterestModel(4, torch.zeros(5, 1, dtype=torch.long), encoder="pop")


def test_training_defaults_reach_the_benchmark_recipe():
    from hiercourse.bench import training_recipe

    config = BenchConfig(dataset="shop", fast=True)
    split = load_split(config)
    gru = build_model("gru4rec", split, dim=8)
    assert training_recipe(config, gru, "gru4rec", seed=0)["lr"] == 5e-3
    assert training_recipe(config, build_model("hier-gru4rec", split, dim=8), "hier-gru4rec", seed=0)["lr"] == 5e-3
    bpr = training_recipe(config, build_model("bpr", split, dim=8), "bpr", seed=0)
    assert bpr["batch_size"] == 1024 and bpr["negatives"] is None
    overridden = BenchConfig(dataset="shop", fast=True, lr_for={"gru4rec": 1e-3})
    assert training_recipe(overridden, gru, "gru4rec", seed=0)["lr"] == 1e-3

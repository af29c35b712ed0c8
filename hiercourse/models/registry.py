"""The registry: every model name the course uses, mapped to its class. Taught in chapter 09.

See ``hiercourse.models`` for how to add a model (one module + one line at the bottom of this file).
"""
from __future__ import annotations

from typing import Any

from ..errors import DataError
from .baselines import BPRMF, ItemKNN, MostPopular, ShopOracle
from .encoders import DNN, Caser, GRU4Rec, SASRec
from .hierarchical import HierarchicalInterestModel
from .multimodal import TextSASRec

__all__ = ["MODELS", "register", "get_model", "model_kwargs", "build_model"]

MODELS: dict[str, tuple[type, dict[str, Any]]] = {}


def register(name: str, cls: type, **fixed) -> type:
    """Make ``cls`` (with the keyword arguments ``fixed``) buildable as ``name``. Taught in chapter 09."""
    key = name.lower()
    if key in MODELS and MODELS[key] != (cls, fixed):
        raise ValueError(f"a model called {name!r} is registered already ({MODELS[key][0].__name__})")
    if not hasattr(cls, "from_split") or not hasattr(cls, "scores"):
        raise TypeError(f"{cls.__name__} does not follow the model interface (from_split, scores): "
                        "see hiercourse.models.base")
    MODELS[key] = (cls, dict(fixed))
    return cls


def _entry(name: str) -> tuple[type, dict[str, Any]]:
    key = str(name).lower()
    if key not in MODELS:
        raise DataError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[key]


def get_model(name: str) -> type:
    """The class registered as ``name`` (e.g. ``get_model("sasrec") is SASRec``). Taught in chapter 09."""
    return _entry(name)[0]


def model_kwargs(name: str) -> dict[str, Any]:
    """The keyword arguments the name fixes (e.g. ``{"encoder": "sasrec"}`` for "hier-sasrec"). Taught in chapter 09."""
    return dict(_entry(name)[1])


def build_model(name: str, split, dim: int = 64, max_len: int = 50, **kwargs):
    """The model called ``name``, sized for ``split`` (its items, users, hierarchy, ground truth).

    ``kwargs`` go to the model's constructor (e.g. ``window=3`` for Caser). The model's
    ``config`` holds what rebuilds it (``training.save``/``load``). Taught in chapter 09.
    """
    cls, fixed = _entry(name)
    return cls.from_split(split, dim=dim, max_len=max_len, **{**fixed, **kwargs})

# ---- the registry: one line per model (baselines, sequence encoders, hierarchical variants)
register("pop", MostPopular)
register("itemknn", ItemKNN)
register("bpr", BPRMF)
register("dnn", DNN)
register("caser", Caser)
register("gru4rec", GRU4Rec)
register("sasrec", SASRec)
register("hier-dnn", HierarchicalInterestModel, encoder="dnn")
register("hier-caser", HierarchicalInterestModel, encoder="caser")
register("hier-gru4rec", HierarchicalInterestModel, encoder="gru4rec")
register("hier-sasrec", HierarchicalInterestModel, encoder="sasrec")
# every node an item's categories name (a movie's genres: issue 10); needs a multi-label taxonomy
register("hier-sasrec-multilabel", HierarchicalInterestModel, encoder="sasrec", multi_label=True)
# the prior in the loss of every position, not only the last (issue 10)
register("hier-sasrec-denseprior", HierarchicalInterestModel, encoder="sasrec", dense_prior=True)
# an item's own embedding weighted by its evidence, n / (n + 1): a never-trained item is its path (issue 10)
register("hier-sasrec-itemshrinkage", HierarchicalInterestModel, encoder="sasrec", item_shrinkage=1.0)
# lambda_l log beta^l with a learned weight per level: the ranking decides how far to trust the tree (issue 10)
register("hier-sasrec-learnedpriorweight", HierarchicalInterestModel, encoder="sasrec", learned_prior_weight=True)
# ... and an item's prior weighted by its evidence, lambda + (1 - lambda) / (n + 1): a new item keeps the full prior
register("hier-sasrec-learnedpriorweight-priorevidence", HierarchicalInterestModel, encoder="sasrec",
         learned_prior_weight=True, prior_evidence=1.0)
# beta trained for the node shares of the window's later items, not the next item's node: the user's interests over
# a horizon, what the interest tree is read as (issue 10, goal 6)
register("hier-sasrec-nodetarget", HierarchicalInterestModel, encoder="sasrec", node_target="future")
# an item never trained on takes its finest node's mean item embedding, not its random start (issue 10, new items)
register("hier-sasrec-newitemmean", HierarchicalInterestModel, encoder="sasrec", new_item_mean=True)
register("text-sasrec", TextSASRec)  # item vectors = id embedding + projected title vector (chapter 12)
register("oracle", ShopOracle)  # a ceiling, not a recommender: needs the synthetic shop's ground truth

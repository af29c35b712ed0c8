"""Recommendation models and the one registry that names them. Taught in chapters 07-09.

Every model follows the interface of :mod:`hiercourse.models.base`. ``MODELS`` maps
each name the benchmark, the chapters and the tests use to a class and the keyword
arguments that name fixes::

    from hiercourse.models import build_model
    model = build_model("hier-sasrec", split, dim=64, max_len=50)

Adding a sequence encoder takes one module (an encoder and a ``SequenceRecommender``
subclass whose ``make_encoder`` builds it) and one ``register`` line at the bottom of
``hiercourse/models/registry.py``; the
benchmark, ``training.fit``, ``evaluation.evaluate`` and the hierarchical model (as
``HierarchicalInterestModel(encoder="name")``) pick it up.
"""
from __future__ import annotations

from .base import Recommender, count_parameters
from .registry import MODELS, build_model, get_model, model_kwargs, register

__all__ = ["MODELS", "Recommender", "register", "get_model", "model_kwargs", "build_model", "count_parameters"]

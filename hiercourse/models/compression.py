"""Making a trained recommender smaller and faster, and measuring what it costs.

Taught in chapter 12.

- ``state_dict_bytes``: the size of a model as saved (``torch.save`` of its state_dict).
- ``quantize_linear``: post-training dynamic quantisation of the ``nn.Linear`` layers
  (int8 weights, activations quantised on the fly; ``torch.ao.quantization.quantize_dynamic``).
- ``quantize_item_table``: the item embedding table stored as int8 with one float scale
  per item (symmetric, per-row), dequantised when read. In a recommender the item
  table usually holds most of the weights, and the Linear layers few of them.
- ``scoring_ms_per_1000_users``: median time to score every item for 1,000 users on one
  CPU thread (``scratch.measure.median_time``).
"""
from __future__ import annotations

import copy
import io
import warnings
from contextlib import contextmanager

import torch
from torch import nn

from ..errors import DataError
from ..scratch.measure import median_time

__all__ = [
    "state_dict_bytes", "int8_rows", "Int8ItemTable", "quantize_item_table", "QuantizedLinears",
    "quantize_linear", "scoring_ms_per_1000_users",
]


def state_dict_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())``: the model's size on disk. Taught in chapter 12."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def int8_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-row int8 quantisation: ``weight [N, d]`` -> ``(q int8 [N, d], scale float32 [N])``.

    ``scale_r = max_i |w_ri| / 127`` and ``q = round(w / scale)``, so ``q * scale`` is within
    ``scale / 2`` of ``w`` in every entry; an all-zero row keeps scale 1 and q 0.
    Taught in chapter 12.
    """
    weight = weight.detach().float()
    scale = weight.abs().amax(1) / 127.0
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scale


class Int8ItemTable(nn.Module):
    """An item table stored as int8 + per-row scales that reads like an ``nn.Embedding``.

    ``weight`` (a property) is the dequantised ``[N, d]`` float table; ``forward(ids)``
    looks rows up. Only ``q`` and ``scale`` are in the state_dict. Taught in chapter 12.
    """

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        q, scale = int8_rows(weight)
        self.register_buffer("q", q)
        self.register_buffer("scale", scale)

    @property
    def weight(self) -> torch.Tensor:
        return self.q.float() * self.scale[:, None]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.q[ids].float() * self.scale[ids].unsqueeze(-1)


def quantize_item_table(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose ``item_embedding`` is an ``Int8ItemTable`` (the original is untouched).

    Works for every ``SequenceRecommender`` (they read items through ``item_embedding.weight``).
    Taught in chapter 12.
    """
    if not isinstance(getattr(model, "item_embedding", None), nn.Embedding):
        raise DataError(f"{type(model).__name__} has no nn.Embedding called item_embedding to quantise")
    small = copy.deepcopy(model).cpu().eval()
    small.item_embedding = Int8ItemTable(small.item_embedding.weight)
    return small


@contextmanager
def _no_attention_fast_path():
    """PyTorch's fused Transformer fast path reads ``linear.weight`` as a tensor; a quantised
    Linear has none, so the plain (unfused) path must be used while a quantised model runs."""
    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(enabled)


class QuantizedLinears(nn.Module):
    """A model whose ``nn.Linear`` layers are dynamically quantised to int8 (CPU only).

    ``scores(history, users)`` runs the wrapped model with the fused attention fast path
    off (it cannot read quantised weights). ``model`` is the quantised copy; its
    state_dict is this module's. Taught in chapter 12.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def scores(self, history: torch.Tensor, users: torch.Tensor | None = None) -> torch.Tensor:
        with _no_attention_fast_path():
            return self.model.scores(history, users)


def quantize_linear(model: nn.Module) -> QuantizedLinears:
    """Post-training dynamic quantisation of every ``nn.Linear`` of a copy of ``model``.

    Weights become int8 (per-tensor scale), activations are quantised per batch at run
    time; embeddings, layer norms and attention's packed input projection stay float32
    (``nn.MultiheadAttention`` keeps its projections out of dynamic quantisation).
    The original model is untouched. Taught in chapter 12.
    """
    small = copy.deepcopy(model).cpu().eval()
    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor", category=UserWarning)
        quantized = torch.ao.quantization.quantize_dynamic(small, {nn.Linear}, dtype=torch.qint8)
    return QuantizedLinears(quantized)


def scoring_ms_per_1000_users(model, history: torch.Tensor, repeats: int = 5, threads: int = 1) -> float:
    """Median milliseconds to score every item for 1,000 users, on ``threads`` CPU threads.

    ``history`` [U, L] (e.g. ``split.history("test")``); all U rows are scored in one call
    and the time is scaled to 1,000 users. The thread count is restored afterwards.
    Taught in chapter 12.
    """
    if len(history) == 0:
        raise DataError("no histories to score")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            if isinstance(model, nn.Module):
                model.eval()
            seconds = median_time(lambda: model.scores(history, None), repeats=repeats, warmup=1)
    finally:
        torch.set_num_threads(before)
    return 1000.0 * seconds * 1000.0 / len(history)

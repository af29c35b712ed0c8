"""From-scratch building blocks of CNNs (chapter 04) and Transformers (chapter 05).

Plain torch tensor operations only (no ``torch.nn.functional`` layers); every piece is
checked against its torch counterpart in ``tests/test_scratch_cnn.py`` and
``tests/test_scratch_attention.py``.
"""
from hiercourse.scratch.activations import cross_entropy, dropout, gelu, log_softmax, relu, softmax
from hiercourse.scratch.attention import (
    MultiHeadAttention,
    attention_scores,
    causal_mask,
    merge_heads,
    padding_mask,
    scaled_dot_product_attention,
    split_heads,
)
from hiercourse.scratch.backward import ManualAttention, ManualAvgPool2d, ManualConv2d, ManualMaxPool2d
from hiercourse.scratch.blocks import DecoderBlock, EncoderBlock
from hiercourse.scratch.conv import Conv2d, conv2d, convolve2d_true
from hiercourse.scratch.dense import Dense, LayerNorm, dense, layer_norm
from hiercourse.scratch.measure import cpu_cache_bytes, median_time, peak_memory_bytes
from hiercourse.scratch.pooling import avg_pool2d, max_pool2d
from hiercourse.scratch.positions import LearnedPositions, SinusoidalPositions, sinusoidal_positions
from hiercourse.scratch.shapes import (
    ReceptiveField,
    conv2d_param_count,
    conv_output_size,
    dense_param_count,
    pool_output_size,
    receptive_fields,
)

__all__ = [
    "Conv2d", "DecoderBlock", "Dense", "EncoderBlock", "LayerNorm", "LearnedPositions", "ManualAttention",
    "ManualAvgPool2d", "ManualConv2d", "ManualMaxPool2d", "MultiHeadAttention", "ReceptiveField",
    "SinusoidalPositions", "attention_scores", "avg_pool2d", "causal_mask", "conv2d", "conv2d_param_count",
    "conv_output_size", "convolve2d_true", "cpu_cache_bytes", "cross_entropy", "dense", "dense_param_count",
    "dropout", "gelu",
    "layer_norm", "log_softmax", "max_pool2d", "median_time", "merge_heads", "peak_memory_bytes",
    "padding_mask", "pool_output_size",
    "receptive_fields", "relu", "scaled_dot_product_attention", "sinusoidal_positions", "softmax", "split_heads",
]

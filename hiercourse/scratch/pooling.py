"""Max and average pooling over spatial windows, written from scratch. Taught in chapter 04.

Pooling works on each channel separately: the window slides over height and width,
never across channels::

    max:  p[n, c, y, x] = max_{i, j} x_pad[n, c, s*y + i, s*x + j]
    mean: p[n, c, y, x] = (1 / (kh kw)) sum_{i, j} x_pad[n, c, s*y + i, s*x + j]
"""
from __future__ import annotations

import torch

from hiercourse.errors import DataError
from hiercourse.scratch.windows import check_image_batch, pad2d, pair, sliding_windows


def _pool_args(x, kernel, stride, padding):
    check_image_batch(x)
    kernel = pair(kernel, "kernel")
    stride = kernel if stride is None else pair(stride, "stride")
    padding = pair(padding, "padding")
    if padding[0] * 2 > kernel[0] or padding[1] * 2 > kernel[1]:
        raise DataError(f"padding {padding} must be at most half the pooling window {kernel} (as in torch)")
    return kernel, stride, padding


def max_pool2d(
    x: torch.Tensor,
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    return_indices: bool = False,
):
    """Largest value of each window, per channel; padding counts as -inf so it never wins.

    x (N, C, H, W) -> (N, C, H_out, W_out); ``stride`` defaults to the kernel.

    With ``return_indices`` also returns, like torch, the flat index ``row * W + col`` in
    the *unpadded* input of each maximum: the backward pass routes the gradient there.
    Matches ``torch.nn.functional.max_pool2d``. Taught in chapter 04.
    """
    kernel, stride, padding = _pool_args(x, kernel, stride, padding)
    windows = sliding_windows(pad2d(x, padding, float("-inf")), kernel, stride)
    n, c, out_h, out_w, kh, kw = windows.shape
    values, where = windows.reshape(n, c, out_h, out_w, kh * kw).max(dim=-1)
    if not return_indices:
        return values
    # window-local (i, j) -> input coordinates, minus the padding offset
    rows = torch.arange(out_h, device=x.device).view(1, 1, -1, 1) * stride[0] + where // kw - padding[0]
    cols = torch.arange(out_w, device=x.device).view(1, 1, 1, -1) * stride[1] + where % kw - padding[1]
    return values, rows * x.shape[-1] + cols


def avg_pool2d(
    x: torch.Tensor,
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    count_include_pad: bool = True,
) -> torch.Tensor:
    """Mean of each window, per channel. Matches ``torch.nn.functional.avg_pool2d``.

    x (N, C, H, W) -> (N, C, H_out, W_out); ``stride`` defaults to the kernel.

    ``count_include_pad=True`` (torch's default) divides by the full window size, so
    padded zeros pull border averages down; ``False`` divides by the real pixels only.
    Taught in chapter 04.
    """
    kernel, stride, padding = _pool_args(x, kernel, stride, padding)
    sums = sliding_windows(pad2d(x, padding), kernel, stride).sum(dim=(-2, -1))
    if count_include_pad:
        return sums / (kernel[0] * kernel[1])
    ones = pad2d(torch.ones_like(x[:1, :1]), padding)
    counts = sliding_windows(ones, kernel, stride).sum(dim=(-2, -1))
    return sums / counts

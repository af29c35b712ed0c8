"""Sliding windows over images: zero/constant padding, patch extraction and its adjoint (fold).

Convolution and pooling both read an image through the same sliding windows; the
backward passes write gradients back through the adjoint of that read ("fold",
also called col2im). Taught in chapter 04.
"""
from __future__ import annotations

import torch

from hiercourse.errors import DataError


def pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    """``3 -> (3, 3)``; a 2-tuple passes through. Rejects anything else with a DataError naming ``name``.

    Taught in chapter 04.
    """
    if isinstance(value, int):
        return value, value
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    raise DataError(f"{name} must be an int or a pair of ints (height, width), got {value!r}")


def check_image_batch(x: torch.Tensor, name: str = "input") -> None:
    """Raise DataError unless ``x`` is an image batch of shape (N, C, H, W); returns None. Taught in chapter 04."""
    if x.dim() != 4:
        raise DataError(
            f"{name} must have shape (N, C, H, W), got {tuple(x.shape)}; "
            "add a batch axis with x.unsqueeze(0) or a channel axis with x.unsqueeze(1)"
        )


def pad2d(x: torch.Tensor, padding: tuple[int, int], value: float = 0.0) -> torch.Tensor:
    """Surround the last two axes with ``padding`` rows/columns of ``value``: (..., H, W) -> (..., H + 2ph, W + 2pw).

    Written with a fresh tensor and a slice assignment (instead of ``F.pad``) so the
    learner sees what padding is; autograd flows through the assignment. Taught in chapter 04.
    """
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    *lead, h, w = x.shape
    out = x.new_full((*lead, h + 2 * ph, w + 2 * pw), value)
    out[..., ph : ph + h, pw : pw + w] = x
    return out


def sliding_windows(
    x: torch.Tensor,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
) -> torch.Tensor:
    """All windows of an already padded (N, C, H, W) batch: shape (N, C, H_out, W_out, kh, kw).

    ``Tensor.unfold`` takes windows of the dilated span ``d*(k-1)+1`` every ``stride``
    pixels without copying; keeping every ``d``-th element of a span gives the dilated
    kernel's taps. Taught in chapter 04.
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    if x.shape[-2] < span_h or x.shape[-1] < span_w:
        raise DataError(
            f"the (dilated) kernel spans {span_h}x{span_w} pixels but the padded input is only "
            f"{x.shape[-2]}x{x.shape[-1]}; use a smaller kernel or dilation, or more padding"
        )
    windows = x.unfold(2, span_h, sh).unfold(3, span_w, sw)
    return windows[..., ::dh, ::dw]


def fold_windows(
    window_values: torch.Tensor,
    padded_size: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
) -> torch.Tensor:
    """Adjoint of :func:`sliding_windows`: add each window's values back onto the image.

    ``window_values`` has shape (N, C, H_out, W_out, kh, kw); the result has shape
    (N, C, *padded_size). A pixel covered by several windows receives the sum of their
    contributions. One vectorised addition per kernel tap (kh*kw of them), never a loop
    over pixels. Taught in chapter 04.
    """
    n, c, out_h, out_w, kh, kw = window_values.shape
    (sh, sw), (dh, dw) = stride, dilation
    image = window_values.new_zeros((n, c, *padded_size))
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (out_h - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (out_w - 1) + 1, sw)
            image[:, :, rows, cols] += window_values[..., i, j]
    return image


def crop2d(x: torch.Tensor, padding: tuple[int, int]) -> torch.Tensor:
    """Remove ``padding`` rows/columns from each side of the last two axes (inverse of pad2d).

    (..., H, W) -> (..., H - 2ph, W - 2pw). Taught in chapter 04.
    """
    ph, pw = padding
    h, w = x.shape[-2:]
    return x[..., ph : h - ph, pw : w - pw]

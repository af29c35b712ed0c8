"""2-D convolution (really cross-correlation) written from scratch. Taught in chapter 04.

Output at channel ``o`` and position ``(y, x)``::

    out[n, o, y, x] = b[o] + sum_{c, i, j} W[o, c, i, j] * x_pad[n, c, s*y + d*i, s*x + d*j]

The kernel is *not* flipped: deep-learning libraries compute cross-correlation and
call it convolution. With ``groups = G`` the input channels are split into G
blocks and each block of output channels only sees its own block.
"""
from __future__ import annotations

import torch
from torch import nn

from hiercourse.errors import DataError
from hiercourse.scratch.windows import check_image_batch, pad2d, pair, sliding_windows


def _check_conv_args(x: torch.Tensor, weight: torch.Tensor, groups: int) -> None:
    check_image_batch(x)
    if weight.dim() != 4:
        raise DataError(f"weight must have shape (C_out, C_in/groups, kh, kw), got {tuple(weight.shape)}")
    c_in, c_out = x.shape[1], weight.shape[0]
    if groups < 1 or c_in % groups or c_out % groups:
        raise DataError(f"groups={groups} must divide the input channels ({c_in}) and the filters ({c_out})")
    if weight.shape[1] * groups != c_in:
        raise DataError(
            f"the input has {c_in} channels but the weight expects {weight.shape[1]} per group "
            f"x {groups} groups = {weight.shape[1] * groups}; check C_in of the weight"
        )


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> torch.Tensor:
    """Cross-correlate (N, C_in, H, W) with (C_out, C_in/groups, kh, kw) filters -> (N, C_out, H_out, W_out).

    Vectorised: one view of every window (no copy) and one ``einsum``; autograd
    differentiates it. Matches ``torch.nn.functional.conv2d``. Taught in chapter 04.
    """
    _check_conv_args(x, weight, groups)
    stride, padding, dilation = pair(stride, "stride"), pair(padding, "padding"), pair(dilation, "dilation")
    kernel = tuple(weight.shape[-2:])
    windows = sliding_windows(pad2d(x, padding), kernel, stride, dilation)  # N, C, Ho, Wo, kh, kw
    n, c, out_h, out_w, kh, kw = windows.shape
    windows = windows.reshape(n, groups, c // groups, out_h, out_w, kh, kw)
    w = weight.reshape(groups, weight.shape[0] // groups, c // groups, kh, kw)
    out = torch.einsum("ngcyxij,gocij->ngoyx", windows, w).reshape(n, weight.shape[0], out_h, out_w)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


def convolve2d_true(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """The textbook (flipped-kernel) 2-D convolution of one image (H, W) with one kernel (kh, kw), 'valid' size.

    Returns (H - kh + 1, W - kw + 1).

    Equal to cross-correlation with the kernel rotated by 180 degrees; chapter 04 uses
    it to show why libraries skip the flip (learned filters absorb it). Taught in chapter 04.
    """
    flipped = torch.flip(kernel, dims=(-2, -1))
    return conv2d(image[None, None], flipped[None, None])[0, 0]


class Conv2d(nn.Module):
    """A convolution layer holding its filters; parameter names match ``nn.Conv2d`` so weights copy over.

    Initialised like ``nn.Conv2d`` (uniform in +-1/sqrt(fan_in)). Holds ``weight``
    (C_out, C_in/groups, kh, kw) and ``bias`` (C_out,). Taught in chapter 04.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int | tuple[int, int], stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True):
        super().__init__()
        kh, kw = pair(kernel, "kernel")
        if c_in % groups or c_out % groups:
            raise DataError(f"groups={groups} must divide both c_in={c_in} and c_out={c_out}")
        bound = 1.0 / (c_in // groups * kh * kw) ** 0.5
        self.weight = nn.Parameter(torch.empty(c_out, c_in // groups, kh, kw).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(c_out).uniform_(-bound, bound)) if bias else None
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, C_out, H_out, W_out) with :func:`conv2d`. Taught in chapter 04."""
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

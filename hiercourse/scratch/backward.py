"""Hand-written backward passes as ``torch.autograd.Function``s, so ``gradcheck`` can test them.

Taught in chapters 04 and 05.

Each ``forward`` reuses the from-scratch forward; each ``backward`` writes out the
chain rule instead of letting autograd record it:

- convolution: ``dL/db_o = sum dL/dy``; ``dL/dW = sum over positions of dL/dy * input window``;
  ``dL/dx`` = every window's ``dL/dy * W`` added back onto the pixels it read (fold).
- max pooling: the gradient goes only to the argmax of each window (the other pixels
  did not affect the output).
- average pooling: each window's gradient is shared equally by its pixels.
- attention ``O = P V`` with ``P = softmax(S)``, ``S = Q K^T s``:
  ``dV = P^T dO``; ``dP = dO V^T``; ``dS = P * (dP - rowsum(dP * P))``;
  ``dQ = s dS K``; ``dK = s dS^T Q``.
"""
from __future__ import annotations

import math

import torch

from hiercourse.scratch.activations import softmax
from hiercourse.scratch.attention import attention_scores
from hiercourse.scratch.conv import conv2d
from hiercourse.scratch.pooling import _pool_args, avg_pool2d, max_pool2d
from hiercourse.scratch.windows import crop2d, fold_windows, pad2d, pair, sliding_windows


class ManualConv2d(torch.autograd.Function):
    """``ManualConv2d.apply(x, weight, bias, stride, padding, dilation, groups)``: conv2d with a hand-written backward.

    x (N, C_in, H, W), weight (C_out, C_in/groups, kh, kw), bias (C_out,) or None
    -> (N, C_out, H_out, W_out); the backward returns gradients of the same shapes
    as x, weight and bias. Taught in chapter 04.
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        """Same as :func:`hiercourse.scratch.conv2d`; saves x and weight for the backward."""
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        ctx.args = (pair(stride, "stride"), pair(padding, "padding"), pair(dilation, "dilation"), groups)
        return conv2d(x, weight, bias, *ctx.args)

    @staticmethod
    def backward(ctx, grad_out):
        """grad_out (N, C_out, H_out, W_out) -> (dL/dx, dL/dW, dL/db, None, None, None, None)."""
        x, weight = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.args
        n, c = x.shape[:2]
        c_out, _, kh, kw = weight.shape
        out_h, out_w = grad_out.shape[-2:]
        g = grad_out.reshape(n, groups, c_out // groups, out_h, out_w)
        w = weight.reshape(groups, c_out // groups, c // groups, kh, kw)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            padded_size = (x.shape[-2] + 2 * padding[0], x.shape[-1] + 2 * padding[1])
            window_grads = torch.einsum("ngoyx,gocij->ngcyxij", g, w).reshape(n, c, out_h, out_w, kh, kw)
            grad_x = crop2d(fold_windows(window_grads, padded_size, stride, dilation), padding)
        if ctx.needs_input_grad[1]:
            windows = sliding_windows(pad2d(x, padding), (kh, kw), stride, dilation)
            windows = windows.reshape(n, groups, c // groups, out_h, out_w, kh, kw)
            grad_w = torch.einsum("ngoyx,ngcyxij->gocij", g, windows).reshape(weight.shape)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_out.sum(dim=(0, 2, 3))
        return grad_x, grad_w, grad_b, None, None, None, None


class ManualMaxPool2d(torch.autograd.Function):
    """``ManualMaxPool2d.apply(x, kernel, stride, padding)``: max pooling whose gradient is routed
    to each window's argmax.

    x (N, C, H, W) -> (N, C, H_out, W_out); the backward returns dL/dx (N, C, H, W).
    Taught in chapter 04.
    """

    @staticmethod
    def forward(ctx, x, kernel, stride=None, padding=0):
        """Same as :func:`hiercourse.scratch.max_pool2d`; saves the argmax indices for the backward."""
        values, indices = max_pool2d(x, kernel, stride, padding, return_indices=True)
        ctx.save_for_backward(indices)
        ctx.input_shape = x.shape
        ctx.mark_non_differentiable(indices)
        return values

    @staticmethod
    def backward(ctx, grad_out):
        """grad_out (N, C, H_out, W_out) -> (dL/dx (N, C, H, W), None, None, None)."""
        (indices,) = ctx.saved_tensors
        n, c, h, w = ctx.input_shape
        grad_x = grad_out.new_zeros(n, c, h * w)
        # overlapping windows can share an argmax: their gradients add up
        grad_x.scatter_add_(2, indices.flatten(2), grad_out.flatten(2))
        return grad_x.view(n, c, h, w), None, None, None


class ManualAvgPool2d(torch.autograd.Function):
    """``ManualAvgPool2d.apply(x, kernel, stride, padding, count_include_pad)``: average pooling
    with a hand-written backward.

    x (N, C, H, W) -> (N, C, H_out, W_out); the backward returns dL/dx (N, C, H, W).
    Taught in chapter 04.
    """

    @staticmethod
    def forward(ctx, x, kernel, stride=None, padding=0, count_include_pad=True):
        """Same as :func:`hiercourse.scratch.avg_pool2d`; keeps the window settings for the backward."""
        kernel_, stride_, padding_ = _pool_args(x, kernel, stride, padding)
        ctx.args = (kernel_, stride_, padding_, count_include_pad)
        ctx.input_shape = x.shape
        return avg_pool2d(x, kernel, stride, padding, count_include_pad)

    @staticmethod
    def backward(ctx, grad_out):
        """grad_out (N, C, H_out, W_out) -> (dL/dx (N, C, H, W), None, None, None, None)."""
        kernel, stride, padding, count_include_pad = ctx.args
        n, c, h, w = ctx.input_shape
        padded_size = (h + 2 * padding[0], w + 2 * padding[1])
        if count_include_pad:
            share = grad_out / (kernel[0] * kernel[1])
        else:
            ones = pad2d(grad_out.new_ones(1, 1, h, w), padding)
            share = grad_out / sliding_windows(ones, kernel, stride).sum(dim=(-2, -1))
        window_grads = share[..., None, None].expand(*share.shape, *kernel)
        return crop2d(fold_windows(window_grads, padded_size, stride), padding), None, None, None, None


class ManualAttention(torch.autograd.Function):
    """``ManualAttention.apply(q, k, v, blocked=None, scale=None)``: attention with a hand-written backward.

    q (..., L, d_k), k (..., S, d_k), v (..., S, d_v) -> output (..., L, d_v).
    ``blocked`` is a boolean mask broadcastable to (..., L, S), True = blocked;
    ``scale`` defaults to 1/sqrt(d_k). Taught in chapter 05.
    """

    @staticmethod
    def forward(ctx, q, k, v, blocked=None, scale=None):
        """``softmax(q k^T * scale, blocked) v``; saves q, k, v and the weights for the backward."""
        scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
        weights = softmax(attention_scores(q, k, attn_mask=blocked, scale=scale), dim=-1)
        ctx.save_for_backward(q, k, v, weights)
        ctx.scale = scale
        return weights @ v

    @staticmethod
    def backward(ctx, grad_out):
        """grad_out (..., L, d_v) -> (dL/dq, dL/dk, dL/dv, None, None), shaped like q, k and v."""
        q, k, v, weights = ctx.saved_tensors
        grad_v = weights.transpose(-2, -1) @ grad_out
        grad_weights = grad_out @ v.transpose(-2, -1)
        # softmax Jacobian-vector product, row by row; blocked entries have weight 0, so no gradient
        grad_scores = weights * (grad_weights - (grad_weights * weights).sum(dim=-1, keepdim=True))
        grad_q = ctx.scale * grad_scores @ k
        grad_k = ctx.scale * grad_scores.transpose(-2, -1) @ q
        return grad_q, grad_k, grad_v, None, None

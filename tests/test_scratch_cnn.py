"""From-scratch CNN layers (hiercourse.scratch, chapter 04) against torch.

Tolerances: float64 comparisons use atol 1e-10 (rtol 0), float32 ones atol 1e-5;
gradcheck runs in float64 with its defaults (eps 1e-6, atol 1e-5, rtol 1e-3).
Property tests draw only valid combinations (the dilated kernel fits the padded input,
groups divide the channels, pooling padding at most half the window).
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from hiercourse.datasets.schema import DataError
from hiercourse.scratch import (
    Conv2d,
    Dense,
    ManualAvgPool2d,
    ManualConv2d,
    ManualMaxPool2d,
    avg_pool2d,
    conv2d,
    conv2d_param_count,
    conv_output_size,
    convolve2d_true,
    cross_entropy,
    dense,
    dense_param_count,
    log_softmax,
    max_pool2d,
    pool_output_size,
    receptive_fields,
    relu,
    softmax,
)

ATOL64, ATOL32 = 1e-10, 1e-5
SETTINGS = dict(deadline=None, max_examples=40)


@st.composite
def conv_case(draw, max_size=9):
    """A valid conv2d configuration plus its tensors (float64)."""
    groups = draw(st.integers(1, 3))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    span_h, span_w = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    h = draw(st.integers(max(1, span_h - 2 * padding[0]), max(1, span_h - 2 * padding[0]) + max_size))
    w = draw(st.integers(max(1, span_w - 2 * padding[1]), max(1, span_w - 2 * padding[1]) + max_size))
    n = draw(st.integers(1, 3))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    x = torch.randn(n, c_in, h, w, generator=gen, dtype=torch.float64)
    weight = torch.randn(c_out, c_in // groups, kh, kw, generator=gen, dtype=torch.float64)
    bias = torch.randn(c_out, generator=gen, dtype=torch.float64) if draw(st.booleans()) else None
    return x, weight, bias, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


@settings(**SETTINGS)
@given(conv_case())
def test_conv2d_matches_torch_and_output_size_formula(case):
    x, weight, bias, kw = case
    ours, ref = conv2d(x, weight, bias, **kw), F.conv2d(x, weight, bias, **kw)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, atol=ATOL64, rtol=0)
    expected_hw = [
        conv_output_size(x.shape[2 + a], weight.shape[2 + a], kw["stride"][a], kw["padding"][a], kw["dilation"][a])
        for a in range(2)
    ]
    assert list(ours.shape[2:]) == expected_hw


def test_conv2d_float32_tolerance():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 28, 28, generator=gen)
    w, b = torch.randn(8, 3, 3, 3, generator=gen), torch.randn(8, generator=gen)
    torch.testing.assert_close(conv2d(x, w, b, padding=1), F.conv2d(x, w, b, padding=1), atol=ATOL32, rtol=0)


@settings(deadline=None, max_examples=25)
@given(conv_case(max_size=4))
def test_manual_conv_backward_passes_gradcheck(case):
    x, weight, bias, kw = case
    inputs = [x.requires_grad_(), weight.requires_grad_()] + ([bias.requires_grad_()] if bias is not None else [])

    def f(x, weight, *maybe_bias):
        return ManualConv2d.apply(x, weight, maybe_bias[0] if maybe_bias else None,
                                  kw["stride"], kw["padding"], kw["dilation"], kw["groups"])

    assert torch.autograd.gradcheck(f, tuple(inputs))


def test_manual_conv_backward_equals_autograd_of_torch():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 10, 9, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, 2, 3, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, generator=gen, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(2, 6, 5, 5, generator=gen, dtype=torch.float64)
    args = dict(stride=2, padding=1, dilation=(1, 2), groups=2)
    ours = torch.autograd.grad((ManualConv2d.apply(x, w, b, 2, 1, (1, 2), 2) * upstream).sum(), (x, w, b))
    ref = torch.autograd.grad((F.conv2d(x, w, b, **args) * upstream).sum(), (x, w, b))
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r, atol=ATOL64, rtol=0)


def test_conv_layer_loads_torch_weights():
    ref = nn.Conv2d(3, 5, (3, 2), stride=2, padding=1, groups=1)
    ours = Conv2d(3, 5, (3, 2), stride=2, padding=1)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 11, 7)
    torch.testing.assert_close(ours(x), ref(x), atol=ATOL32, rtol=0)
    assert sum(p.numel() for p in ours.parameters()) == conv2d_param_count(3, 5, (3, 2))


@st.composite
def pool_case(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if draw(st.booleans()) else None
    padding = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    h = draw(st.integers(max(1, kh - 2 * padding[0]), 12))
    w = draw(st.integers(max(1, kw - 2 * padding[1]), 12))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    x = torch.randn(draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w, generator=gen, dtype=torch.float64)
    return x, (kh, kw), stride, padding


@settings(**SETTINGS)
@given(pool_case(), st.booleans())
def test_pools_match_torch(case, count_include_pad):
    x, kernel, stride, padding = case
    ours, ours_idx = max_pool2d(x, kernel, stride, padding, return_indices=True)
    ref, ref_idx = F.max_pool2d(x, kernel, stride, padding, return_indices=True)
    torch.testing.assert_close(ours, ref, atol=0, rtol=0)
    assert torch.equal(ours_idx, ref_idx)
    torch.testing.assert_close(
        avg_pool2d(x, kernel, stride, padding, count_include_pad),
        F.avg_pool2d(x, kernel, stride, padding, count_include_pad=count_include_pad),
        atol=ATOL64, rtol=0,
    )
    s = kernel if stride is None else stride
    assert ours.shape[2] == pool_output_size(x.shape[2], kernel[0], s[0], padding[0])


@settings(deadline=None, max_examples=20)
@given(pool_case(), st.booleans())
def test_manual_pool_backwards(case, count_include_pad):
    x, kernel, stride, padding = case
    x.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda t: ManualAvgPool2d.apply(t, kernel, stride, padding, count_include_pad), (x,))
    # random doubles have no ties, so the max-pool gradient is well defined
    assert torch.autograd.gradcheck(lambda t: ManualMaxPool2d.apply(t, kernel, stride, padding), (x,))
    upstream = torch.randn_like(ManualMaxPool2d.apply(x, kernel, stride, padding))
    ours = torch.autograd.grad((ManualMaxPool2d.apply(x, kernel, stride, padding) * upstream).sum(), x)[0]
    ref = torch.autograd.grad((F.max_pool2d(x, kernel, stride, padding) * upstream).sum(), x)[0]
    torch.testing.assert_close(ours, ref, atol=ATOL64, rtol=0)


def test_max_pool_gradient_goes_only_to_the_argmax():
    x = torch.tensor([[[[1.0, 5.0], [2.0, 3.0]]]], requires_grad=True)
    ManualMaxPool2d.apply(x, 2).sum().backward()
    assert torch.equal(x.grad, torch.tensor([[[[0.0, 1.0], [0.0, 0.0]]]]))


def test_pooling_is_per_channel_not_across_channels():
    x = torch.zeros(1, 2, 2, 2)
    x[0, 0] = 1.0
    x[0, 1] = 7.0
    assert max_pool2d(x, 2).flatten().tolist() == [1.0, 7.0]


def test_case_study_positions_after_pooling_is_13():
    after_conv = conv_output_size(28, 3)
    assert after_conv == 26
    assert pool_output_size(after_conv, 2) == 13
    out = max_pool2d(conv2d(torch.randn(1, 1, 28, 28), torch.randn(32, 1, 3, 3)), 2)
    assert out.shape == (1, 32, 13, 13)


@pytest.mark.parametrize(
    "layers",
    [
        [("c1", 3, 1), ("c2", 3, 1), ("p1", 2, 2), ("c3", 3, 1)],
        [("c1", 5, 2), ("c2", 3, 1, 2), ("c3", 3, 2)],
        [("c1", 3, 1, 1), ("c2", 3, 1, 2), ("c3", 3, 1, 4)],
    ],
)
def test_receptive_field_matches_gradient_footprint(layers):
    """The input pixels an output depends on = where its gradient is non-zero (positive weights, no cancellation)."""
    size = 96
    x = torch.ones(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    h = x
    for name, kernel, stride, *rest in layers:
        dilation = rest[0] if rest else 1
        if name.startswith("p"):
            h = avg_pool2d(h, kernel, stride)
        else:
            h = conv2d(h, torch.ones(1, 1, kernel, kernel, dtype=torch.float64), stride=stride, dilation=dilation)
    centre = h.shape[-1] // 2
    h[0, 0, centre, centre].backward()
    rows = torch.nonzero(x.grad[0, 0].sum(dim=1)).flatten()
    assert rows.max() - rows.min() + 1 == receptive_fields(layers)[-1].size


def test_parameter_counts_match_torch():
    assert conv2d_param_count(3, 8, 3, groups=1) == sum(p.numel() for p in nn.Conv2d(3, 8, 3).parameters())
    grouped = nn.Conv2d(4, 8, (3, 1), groups=2, bias=False)
    assert conv2d_param_count(4, 8, (3, 1), groups=2, bias=False) == grouped.weight.numel()
    assert dense_param_count(20, 10) == sum(p.numel() for p in nn.Linear(20, 10).parameters())


def test_cross_correlation_vs_true_convolution():
    image = torch.arange(25, dtype=torch.float64).view(5, 5) ** 1.5
    kernel = torch.tensor([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0], [4.0, 0.0, 0.0]], dtype=torch.float64)
    true_conv = convolve2d_true(image, kernel)
    reference = scipy.signal.convolve2d(image.numpy(), kernel.numpy(), mode="valid")
    np.testing.assert_allclose(true_conv.numpy(), reference, atol=1e-9)
    xcorr = conv2d(image[None, None], kernel[None, None])[0, 0]
    reference = scipy.signal.correlate2d(image.numpy(), kernel.numpy(), mode="valid")
    np.testing.assert_allclose(xcorr.numpy(), reference, atol=1e-9)
    assert not torch.allclose(true_conv, xcorr)


def test_dense_and_dense_layer_match_linear():
    ref = nn.Linear(7, 3)
    ours = Dense(7, 3)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(5, 7)
    torch.testing.assert_close(ours(x), ref(x), atol=ATOL32, rtol=0)
    torch.testing.assert_close(dense(x, ref.weight), F.linear(x, ref.weight), atol=ATOL32, rtol=0)


@settings(**SETTINGS)
@given(st.integers(1, 6), st.integers(2, 12), st.floats(0.1, 500.0), st.integers(0, 2**31 - 1))
def test_activations_and_losses_match_torch(n, k, spread, seed):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, generator=gen, dtype=torch.float64) * spread
    targets = torch.randint(0, k, (n,), generator=gen)
    torch.testing.assert_close(relu(logits), torch.relu(logits), atol=0, rtol=0)
    torch.testing.assert_close(softmax(logits), torch.softmax(logits, -1), atol=ATOL64, rtol=0)
    torch.testing.assert_close(log_softmax(logits), torch.log_softmax(logits, -1), atol=ATOL64, rtol=1e-12)
    for reduction in ("mean", "sum", "none"):
        torch.testing.assert_close(cross_entropy(logits, targets, reduction),
                                   F.cross_entropy(logits, targets, reduction=reduction), atol=ATOL64, rtol=1e-12)


def test_softmax_is_stable_for_huge_logits_and_fully_masked_rows():
    z = torch.tensor([[1000.0, 1001.0, 999.0], [float("-inf")] * 3])
    p = softmax(z)
    assert torch.isfinite(p).all()
    torch.testing.assert_close(p[0], torch.softmax(z[0], -1))
    assert torch.equal(p[1], torch.zeros(3))
    naive = torch.exp(z[0]) / torch.exp(z[0]).sum()
    assert torch.isnan(naive).all()  # what the subtraction of the maximum prevents
    assert torch.isfinite(cross_entropy(torch.tensor([[0.0, 200.0]]), torch.tensor([0])))


def test_clear_errors():
    with pytest.raises(DataError, match="does not fit"):
        conv_output_size(2, 5)
    with pytest.raises(DataError, match=r"\(N, C, H, W\)"):
        conv2d(torch.randn(28, 28), torch.randn(1, 1, 3, 3))
    with pytest.raises(DataError, match="channels"):
        conv2d(torch.randn(1, 3, 8, 8), torch.randn(4, 1, 3, 3))
    with pytest.raises(DataError, match="features"):
        dense(torch.randn(2, 5), torch.randn(3, 4))


def test_cnn_plots_draw_the_data_they_are_given():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hiercourse.plots import maths as maths_plots

    images = [torch.full((3, 3), float(k)) - 2 for k in range(5)]  # constant maps -2, -1, 0, 1, 2
    fig = maths_plots.show_images(images, [f"f{i}" for i in range(5)], ncols=3, symmetric=True)
    assert len(fig.axes) == 6  # 2 rows x 3 columns, the last one blank
    shown = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in shown] == [f"f{i}" for i in range(5)]
    for ax, image in zip(shown, images):
        np.testing.assert_array_equal(ax.images[0].get_array(), image.numpy())
        bound = float(image.abs().max()) or 1.0  # diverging scale centred on 0 (an all-zero map gets +-1)
        assert ax.images[0].get_clim() == (-bound, bound)
    # receptive field of stacked 3x3 stride-1 convolutions: 1 pixel, then 3, then 5 (each adds k - 1 = 2)
    stacks = {"3x3": receptive_fields([("c1", 3, 1), ("c2", 3, 1)])}
    assert maths_plots.plot_receptive_fields(stacks).axes[0].get_lines()[0].get_ydata().tolist() == [1, 3, 5]
    plt.close("all")

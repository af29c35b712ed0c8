"""From-scratch attention and Transformer blocks (hiercourse.scratch, chapter 05) against torch.

Tolerances: float64 comparisons use atol 1e-10 (rtol 0); float32 comparisons with
torch's layers (copied weights, eval mode, dropout 0) use atol 1e-5; gradcheck runs in
float64 with its defaults. Masks follow nn.MultiheadAttention (True = blocked);
F.scaled_dot_product_attention gets the inverted mask (True = allowed). Queries whose
keys are all blocked must give zeros (never NaN); they are compared only on that.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from hiercourse.datasets.schema import DataError
from hiercourse.scratch import (
    DecoderBlock,
    EncoderBlock,
    LayerNorm,
    LearnedPositions,
    ManualAttention,
    MultiHeadAttention,
    SinusoidalPositions,
    causal_mask,
    layer_norm,
    merge_heads,
    padding_mask,
    scaled_dot_product_attention,
    sinusoidal_positions,
    split_heads,
)

ATOL64, ATOL32 = 1e-10, 1e-5
SETTINGS = dict(deadline=None, max_examples=40)


@st.composite
def attention_case(draw):
    """q, k, v (N, H, L|S, d) in float64 and a boolean blocked mask of shape (N, 1|H, L, S) or None."""
    n, h = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    length, mem = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    d_k, d_v = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    q = torch.randn(n, h, length, d_k, generator=gen, dtype=torch.float64)
    k = torch.randn(n, h, mem, d_k, generator=gen, dtype=torch.float64)
    v = torch.randn(n, h, mem, d_v, generator=gen, dtype=torch.float64)
    kind = draw(st.sampled_from(["none", "causal", "random", "padding"]))
    if kind == "none":
        blocked = None
    elif kind == "causal":
        blocked = causal_mask(length, mem).expand(n, 1, length, mem)
    elif kind == "random":
        blocked = torch.rand(n, h, length, mem, generator=gen) < draw(st.floats(0.0, 0.9))
    else:
        lengths = torch.randint(0, mem + 1, (n,), generator=gen)
        blocked = padding_mask(lengths, mem)[:, None, None, :].expand(n, 1, length, mem)
    return q, k, v, blocked


def _allowed_rows(blocked, shape):
    if blocked is None:
        return torch.ones(shape, dtype=torch.bool)
    return (~blocked).any(dim=-1).expand(shape)


@settings(**SETTINGS)
@given(attention_case())
def test_attention_matches_torch_sdpa(case):
    q, k, v, blocked = case
    ours = scaled_dot_product_attention(q, k, v, attn_mask=blocked)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=None if blocked is None else ~blocked)
    rows = _allowed_rows(blocked, ours.shape[:-1])
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours[rows], ref[rows], atol=ATOL64, rtol=0)
    assert torch.equal(ours[~rows], torch.zeros_like(ours[~rows]))


@settings(deadline=None, max_examples=30)
@given(attention_case())
def test_manual_attention_backward_passes_gradcheck(case):
    q, k, v, blocked = case
    inputs = tuple(t.requires_grad_() for t in (q, k, v))
    assert torch.autograd.gradcheck(lambda q, k, v: ManualAttention.apply(q, k, v, blocked), inputs)
    # and it equals autograd through the from-scratch forward, fully masked rows included (no NaN)
    upstream = torch.randn_like(ManualAttention.apply(q, k, v, blocked))
    ours = torch.autograd.grad((ManualAttention.apply(q, k, v, blocked) * upstream).sum(), inputs)
    auto = torch.autograd.grad((scaled_dot_product_attention(q, k, v, attn_mask=blocked) * upstream).sum(), inputs)
    for a, b in zip(ours, auto):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, atol=ATOL64, rtol=0)


def test_is_causal_flag_equals_explicit_mask_and_torch():
    q, k, v = (torch.randn(2, 3, 6, 4, dtype=torch.float64) for _ in range(3))
    ours = scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(ours, scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(6)), atol=0, rtol=0)
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=ATOL64, rtol=0)


def test_float_mask_is_added_to_scores():
    q, k, v = (torch.randn(1, 4, 5, dtype=torch.float64) for _ in range(3))
    bias = torch.randn(4, 4, dtype=torch.float64)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, attn_mask=bias),
                               F.scaled_dot_product_attention(q, k, v, attn_mask=bias), atol=ATOL64, rtol=0)


@st.composite
def mha_case(draw):
    h = draw(st.integers(1, 4))
    e = h * draw(st.integers(1, 4))
    n, length, mem = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    query = torch.randn(n, length, e, generator=gen)
    memory = torch.randn(n, mem, e, generator=gen)
    lengths = torch.randint(1, mem + 1, (n,), generator=gen)  # at least one real key per sequence
    kpm = padding_mask(lengths, mem) if draw(st.booleans()) else None
    mask_kind = draw(st.sampled_from(["none", "bool2d", "bool3d", "float"]))
    attn_mask = {
        "none": None,
        "bool2d": causal_mask(length, mem),
        "bool3d": torch.rand(n * h, length, mem, generator=gen) < 0.3,
        "float": torch.randn(length, mem, generator=gen),
    }[mask_kind]
    return seed, e, h, query, memory, kpm, attn_mask, draw(st.booleans())


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@settings(**SETTINGS)
@given(mha_case())
def test_multi_head_attention_matches_torch(case):
    seed, e, h, query, memory, kpm, attn_mask, average = case
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(e, h, batch_first=True)
    with torch.no_grad():  # non-zero biases, so copying them is tested too
        ref.in_proj_bias.normal_()
        ref.out_proj.bias.normal_()
    ours = MultiHeadAttention(e, h)
    ours.load_state_dict(ref.state_dict())
    ref.eval(), ours.eval()
    out_ref, w_ref = ref(query, memory, memory, key_padding_mask=kpm, attn_mask=attn_mask, average_attn_weights=average)
    out, w = ours(query, memory, memory, key_padding_mask=kpm, attn_mask=attn_mask, average_attn_weights=average)
    finite = torch.isfinite(out_ref).all(dim=-1)  # torch may give NaN where every key is blocked; we give zeros
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[finite], out_ref[finite], atol=ATOL32, rtol=0)
    finite_w = torch.isfinite(w_ref)
    torch.testing.assert_close(w[finite_w], w_ref[finite_w], atol=ATOL32, rtol=0)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_block_matches_torch(norm_first, activation):
    torch.manual_seed(0)
    ref = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, activation=activation, batch_first=True,
                                     norm_first=norm_first)
    ours = EncoderBlock(16, 4, 32, dropout=0.0, activation=activation, norm_first=norm_first)
    ours.load_state_dict(ref.state_dict())
    ref.eval(), ours.eval()
    x = torch.randn(3, 7, 16)
    kpm = padding_mask(torch.tensor([7, 4, 1]), 7)
    for kwargs in ({}, {"src_key_padding_mask": kpm}, {"src_mask": causal_mask(7)}):
        with torch.no_grad():
            torch.testing.assert_close(ours(x, **kwargs), ref(x, **kwargs), atol=ATOL32, rtol=0)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_block_matches_torch(norm_first):
    torch.manual_seed(1)
    ref = nn.TransformerDecoderLayer(16, 2, 24, dropout=0.0, batch_first=True, norm_first=norm_first)
    ours = DecoderBlock(16, 2, 24, dropout=0.0, norm_first=norm_first)
    ours.load_state_dict(ref.state_dict())
    ref.eval(), ours.eval()
    tgt, memory = torch.randn(2, 5, 16), torch.randn(2, 8, 16)
    mem_kpm = padding_mask(torch.tensor([8, 3]), 8)
    tgt_kpm = padding_mask(torch.tensor([5, 4]), 5)
    with torch.no_grad():
        expected = ref(tgt, memory, tgt_mask=causal_mask(5), memory_key_padding_mask=mem_kpm,
                       tgt_key_padding_mask=tgt_kpm)
        got = ours(tgt, memory, tgt_mask=causal_mask(5), memory_key_padding_mask=mem_kpm,
                   tgt_key_padding_mask=tgt_kpm)
        torch.testing.assert_close(got, expected, atol=ATOL32, rtol=0)
        got_flag = ours(tgt, memory, tgt_is_causal=True, memory_key_padding_mask=mem_kpm, tgt_key_padding_mask=tgt_kpm)
        torch.testing.assert_close(got_flag, got, atol=0, rtol=0)


def test_decoder_uses_the_memory_and_is_causal():
    torch.manual_seed(2)
    block = DecoderBlock(8, 2, 16, dropout=0.0).eval()
    tgt, memory = torch.randn(1, 4, 8), torch.randn(1, 6, 8)
    base = block(tgt, memory, tgt_is_causal=True)
    assert not torch.allclose(block(tgt, memory + 1.0, tgt_is_causal=True), base)  # cross-attention reads memory
    changed = tgt.clone()
    changed[0, -1] += 5.0
    torch.testing.assert_close(block(changed, memory, tgt_is_causal=True)[0, :-1], base[0, :-1])  # no peeking ahead


def test_layer_norm_matches_torch():
    x = torch.randn(4, 5, 6, dtype=torch.float64)
    w, b = torch.randn(6, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    torch.testing.assert_close(layer_norm(x, w, b), F.layer_norm(x, (6,), w, b), atol=ATOL64, rtol=0)
    ref = nn.LayerNorm(6)
    ours = LayerNorm(6)
    ours.load_state_dict(ref.state_dict())
    torch.testing.assert_close(ours(x.float()), ref(x.float()), atol=ATOL32, rtol=0)


def test_split_and_merge_heads_are_inverse():
    x = torch.randn(2, 5, 12)
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    torch.testing.assert_close(heads[:, 1], x[..., 4:8])
    assert torch.equal(merge_heads(heads), x)


@settings(deadline=None, max_examples=30)
@given(st.integers(1, 60), st.integers(1, 33))
def test_sinusoidal_positions_formula(length, d_model):
    table = sinusoidal_positions(length, d_model, dtype=torch.float64).numpy()
    t = np.arange(length)[:, None]
    i = np.arange(d_model)[None, :]
    angle = t / 10000.0 ** ((i - i % 2) / d_model)
    np.testing.assert_allclose(table, np.where(i % 2 == 0, np.sin(angle), np.cos(angle)), atol=1e-12)


def test_sinusoidal_shift_is_a_rotation():
    """PE[t + k] = R_k PE[t] with R_k block-diagonal 2x2 rotations that do not depend on t."""
    d, k = 8, 3
    table = sinusoidal_positions(40, d, dtype=torch.float64)
    freq = 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    rotation = torch.zeros(d, d, dtype=torch.float64)
    for j, w in enumerate(freq):
        c, s = math.cos(k * w), math.sin(k * w)
        rotation[2 * j : 2 * j + 2, 2 * j : 2 * j + 2] = torch.tensor([[c, s], [-s, c]], dtype=torch.float64)
    torch.testing.assert_close(table[:-k] @ rotation.T, table[k:], atol=1e-9, rtol=0)


def test_position_modules_add_and_refuse_too_long():
    x = torch.zeros(2, 5, 6)
    torch.testing.assert_close(SinusoidalPositions(6, max_len=10)(x)[0], sinusoidal_positions(5, 6))
    learned = LearnedPositions(5, 6)
    torch.testing.assert_close(learned(x)[1], learned.weight)
    with pytest.raises(DataError, match="max_len"):
        learned(torch.zeros(1, 6, 6))


def test_clear_errors():
    with pytest.raises(DataError, match="divisible"):
        MultiHeadAttention(10, 3)
    with pytest.raises(DataError, match="d_k"):
        scaled_dot_product_attention(torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 4))
    with pytest.raises(DataError, match="key_padding_mask"):
        scaled_dot_product_attention(torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 4),
                                     key_padding_mask=torch.zeros(2, 3, dtype=torch.bool))


def test_median_time_reads_the_clock_around_each_measured_call(monkeypatch):
    """A fake clock: the warm-up call is not measured, the median of the measured durations is returned."""
    from hiercourse.scratch import measure

    durations = iter([100.0, 5.0, 1.0, 3.0, 2.0, 4.0])  # the first belongs to the warm-up call
    now = [0.0]
    calls = []

    def work():
        calls.append(1)
        now[0] += next(durations)

    monkeypatch.setattr(measure.time, "perf_counter", lambda: now[0])
    assert measure.median_time(work, repeats=5, warmup=1) == 3.0
    assert len(calls) == 6



def test_median_time_on_the_cpu_clock_reads_process_time(monkeypatch):
    from hiercourse.scratch import measure

    cpu = [0.0]
    wall = [0.0]

    def work():
        cpu[0] += 1.0   # one CPU second of work ...
        wall[0] += 5.0  # ... that took five seconds on a busy machine

    monkeypatch.setattr(measure.time, "process_time", lambda: cpu[0])
    monkeypatch.setattr(measure.time, "perf_counter", lambda: wall[0])
    assert measure.median_time(work, repeats=3, clock="cpu") == 1.0
    assert measure.median_time(work, repeats=3) == 5.0
    with pytest.raises(ValueError):
        measure.median_time(work, clock="gpu")

def _allocations():
    def one():
        return torch.ones(2000)

    def both_alive():
        return torch.ones(1000), torch.ones(2000)

    def one_at_a_time():
        for _ in range(5):
            torch.ones(2000)  # each freed before the next is made

    return one, both_alive, one_at_a_time


def test_peak_memory_counts_at_least_the_live_tensors():
    from hiercourse.scratch import peak_memory_bytes

    one, both_alive, _ = _allocations()
    assert peak_memory_bytes(one) >= 2000 * 4  # float32 bytes
    assert peak_memory_bytes(both_alive) >= (1000 + 2000) * 4
    assert peak_memory_bytes(both_alive) > peak_memory_bytes(one)


def test_peak_memory_is_the_largest_live_total():
    """By hand: 2,000 float32 = 8,000 bytes; 1,000 + 2,000 alive together = 12,000; five 8,000-byte
    temporaries made one after the other never hold more than 8,000 at once."""
    from hiercourse.scratch import peak_memory_bytes

    one, both_alive, one_at_a_time = _allocations()
    assert peak_memory_bytes(one) == 8_000
    assert peak_memory_bytes(both_alive) == 12_000
    assert peak_memory_bytes(one_at_a_time) == 8_000


def test_attention_peak_memory_grows_with_the_square_of_the_length():
    from hiercourse.scratch import peak_memory_bytes

    def attend(length):
        q = torch.randn(1, 1, length, 8)
        return lambda: scaled_dot_product_attention(q, q, q)

    small, large = peak_memory_bytes(attend(128)), peak_memory_bytes(attend(256))
    assert small >= 128 * 128 * 4  # at least the float32 score matrix
    # bytes = a * L^2 (score and weight matrices) + b * L (q, k, v, output: L x 8 each), a, b >= 0 and the
    # same for both lengths (the same ops run), so doubling L multiplies them by (4a L^2 + 2b L) / (a L^2 + b L):
    # at most 4, and above 3.5 while a L^2 > 3 b L, i.e. while the L x L terms outweigh the L x 8 ones
    # (at L = 128 one score matrix is 16 times one L x 8 tensor)
    assert 3.5 < large / small <= 4.0


def test_attention_plots_draw_the_data_they_are_given():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from hiercourse.plots import maths as maths_plots

    fig = maths_plots.show_matrices({"causal": causal_mask(4)}, ticklabels=list("abcd"))
    assert len(fig.axes) == 2  # heatmap + colour bar
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), causal_mask(4).float().numpy())
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list("abcd")
    sweep = pd.DataFrame([dict(d_k=d, scaled=s, var_qk=1.0 + d + s, max_weight=0.5, entropy=1.0, grad_norm=0.1)
                          for d in (16, 4) for s in (False, True)])
    axes = maths_plots.plot_scaling_sweep(sweep).axes
    assert len(axes) == 4
    unscaled, scaled = axes[0].get_lines()  # one line per setting, sorted by d_k
    assert unscaled.get_xdata().tolist() == [4, 16] and unscaled.get_ydata().tolist() == [5.0, 17.0]
    assert scaled.get_ydata().tolist() == [6.0, 18.0]
    cost = pd.DataFrame(dict(length=[64, 128], seconds=[0.001, 0.004], peak_mib=[0.1, 0.4]))
    time_ax, memory_ax = maths_plots.plot_cost_vs_length(cost).axes
    measured, guide = memory_ax.get_lines()
    assert measured.get_ydata().tolist() == [0.1, 0.4]
    np.testing.assert_allclose(guide.get_ydata(), [0.4 / 4, 0.4])  # the L^2 guide through the last point
    np.testing.assert_allclose(time_ax.get_lines()[1].get_ydata(), [0.004 / 4, 0.004])
    cost["wall_seconds"] = [0.001, 0.02]  # CPU time and wall-clock time side by side
    time_ax = maths_plots.plot_cost_vs_length(cost).axes[0]
    assert time_ax.get_lines()[2].get_ydata().tolist() == [0.001, 0.02]
    plt.close("all")


def test_cpu_cache_bytes_reads_sysfs_and_skips_instruction_caches(tmp_path):
    from hiercourse.scratch import cpu_cache_bytes

    for name, level, kind, size in [("index0", 1, "Data", "48K"), ("index1", 1, "Instruction", "32K"),
                                    ("index2", 2, "Unified", "1024K"), ("index3", 3, "Unified", "32M")]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "level").write_text(f"{level}\n")
        (tmp_path / name / "type").write_text(f"{kind}\n")
        (tmp_path / name / "size").write_text(f"{size}\n")
    assert cpu_cache_bytes(tmp_path) == {"L1d": 48 * 2**10, "L2": 2**20, "L3": 32 * 2**20}
    assert cpu_cache_bytes(tmp_path / "missing") == {}

"""The backbone's rotary positions: attention depends on offsets only; the option is checked."""

import pytest
import torch

from diffusion.backbone import apply_rotary, build_backbone, rotary_tables
from diffusion.config import ModelConfig, preset


def test_rotary_scores_depend_on_the_offset_only():
    cos, sin = rotary_tables(12, 8)
    v = torch.randn(8, generator=torch.Generator().manual_seed(0))
    q = apply_rotary(v.expand(1, 1, 12, 8), cos, sin)[0, 0]  # the same content at every position
    k = apply_rotary(v.expand(1, 1, 12, 8), cos, sin)[0, 0]
    scores = q @ k.T  # (12, 12)
    for offset in (0, 1, 5):
        diag = torch.diagonal(scores, offset)
        assert torch.allclose(diag, diag[0].expand_as(diag), atol=1e-5)
    assert not torch.allclose(torch.diagonal(scores, 1)[0], torch.diagonal(scores, 4)[0])
    assert torch.allclose(apply_rotary(v.expand(1, 1, 12, 8), cos, sin).norm(dim=-1), v.norm().expand(1, 1, 12))


def test_rotary_is_the_rotate_half_rotation():
    """x cos(theta) + (-x2, x1) sin(theta), theta = position / 10000^(2k / Dh), written out by hand."""
    L, Dh = 5, 8
    x = torch.randn(2, 3, L, Dh, generator=torch.Generator().manual_seed(1))
    inv = 1.0 / 10_000 ** (torch.arange(0, Dh, 2, dtype=torch.float32) / Dh)
    theta = torch.arange(L, dtype=torch.float32)[:, None] * inv  # (L, Dh/2)
    x1, x2 = x[..., : Dh // 2], x[..., Dh // 2:]
    by_hand = torch.cat([x1 * theta.cos() - x2 * theta.sin(), x2 * theta.cos() + x1 * theta.sin()], -1)
    assert torch.allclose(apply_rotary(x, *rotary_tables(L, Dh)), by_hand, atol=1e-6)


def test_rotary_backbone_runs_and_is_lean_only():
    mc, _ = preset("tiny", vocab_size=10, seq_len=6, positions="rotary")
    out = build_backbone(mc)(torch.randn(2, 6, mc.d_model))
    assert out.shape == (2, 6, mc.d_model)
    with pytest.raises(ValueError, match="rotary positions are built into the lean backbone only"):
        ModelConfig(backbone="bert", positions="rotary")
    with pytest.raises(ValueError, match="unknown positions 'sinusoidal'"):
        ModelConfig(positions="sinusoidal")

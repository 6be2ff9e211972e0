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


def test_rotary_backbone_runs_and_is_lean_only():
    mc, _ = preset("tiny", vocab_size=10, seq_len=6, positions="rotary")
    out = build_backbone(mc)(torch.randn(2, 6, mc.d_model))
    assert out.shape == (2, 6, mc.d_model)
    with pytest.raises(ValueError, match="rotary positions are built into the lean backbone only"):
        ModelConfig(backbone="bert", positions="rotary")
    with pytest.raises(ValueError, match="unknown positions 'sinusoidal'"):
        ModelConfig(positions="sinusoidal")

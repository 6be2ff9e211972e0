"""One transformer for every family: (B, L, d_model) hidden states plus a (B, d_model) conditioning vector.

It knows nothing about diffusion: the conditioning vector (a time or noise-level embedding) is added to
every position. `lean` is a pre-LN encoder on `scaled_dot_product_attention` with few Python calls
per layer; `bert` is transformers' BertModel built from a BertConfig (no weights), as Diffusion-LM used.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ModelConfig


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """(B,) times in [0, 1] -> (B, dim) sinusoidal features (Vaswani et al. 2017; t scaled by 1000 as DDPM)."""
    args = t.float()[:, None] * _frequencies(dim // 2, max_period).to(t.device)  # (B, half)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


@lru_cache(maxsize=8)
def _frequencies(half: int, max_period: float) -> Tensor:
    """(1, half) 1000 * the sinusoid frequencies: made once, not at every sampling step (never written to)."""
    return 1000.0 * torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)[None]


class TimeEmbedding(nn.Module):
    """Sinusoidal features of t through a small MLP, as DDPM's time embedding."""

    def __init__(self, d_model: int):
        super().__init__()
        self.d_model = d_model
        self.mlp = nn.Sequential(nn.Linear(d_model, d_model), nn.SiLU(), nn.Linear(d_model, d_model))

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(timestep_embedding(t, self.d_model))  # (B, d_model)


def rotary_tables(length: int, head_dim: int, base: float = 10_000.0) -> tuple[Tensor, Tensor]:
    """(L, Dh) cos and signed sin of rotary position embeddings (Su et al. 2021), rotate-half layout: the sin table's
    first half is negated, so `apply_rotary` needs no negation of its own."""
    inv = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # (Dh/2,)
    angles = torch.arange(length, dtype=torch.float32)[:, None] * inv[None]  # (L, Dh/2)
    return torch.cat([angles, angles], dim=-1).cos(), torch.cat([-angles.sin(), angles.sin()], dim=-1)


def apply_rotary(x: Tensor, cos: Tensor, signed_sin: Tensor) -> Tensor:
    """Rotate (..., L, Dh) queries or keys by their position, so attention scores depend on offsets:
    x cos + (-x2, x1) sin for x = (x1, x2), written as x cos + roll(x) * signed_sin (three small ops, not seven)."""
    return torch.addcmul(x * cos, x.roll(x.shape[-1] // 2, -1), signed_sin)


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(approximate="tanh"), nn.Linear(d_ff, d_model))
        self.dropout = dropout

    def forward(self, h: Tensor, causal: bool, rotary: tuple[Tensor, Tensor] | None = None,
                attn_mask: Tensor | None = None) -> Tensor:
        # The submodules' weights through torch.nn.functional, not their __call__: at batch 1 a sampling step is
        # bound by the number of Python calls, and the seven module calls cost about a tenth of a block here.
        B, L, D = h.shape
        ln1, ln2, ff_in, ff_out = self.ln1, self.ln2, self.ff[0], self.ff[2]
        x = F.layer_norm(h, (D,), ln1.weight, ln1.bias, ln1.eps)
        qkv = F.linear(x, self.qkv.weight, self.qkv.bias).view(B, L, 3, self.n_heads, D // self.n_heads)
        qkv = qkv.permute(2, 0, 3, 1, 4)
        qk, v = qkv[:2], qkv[2]  # (2, B, H, L, D/H) and (B, H, L, D/H)
        if rotary is not None:
            qk = apply_rotary(qk, *rotary)  # queries and keys in one call
        p = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(qk[0], qk[1], v, attn_mask=attn_mask, dropout_p=p,
                                           is_causal=causal)  # (B, H, L, D/H)
        a = F.linear(a.transpose(1, 2).reshape(B, L, D), self.proj.weight, self.proj.bias)
        h = h + (F.dropout(a, p, True) if p else a)
        f = F.layer_norm(h, (D,), ln2.weight, ln2.bias, ln2.eps)
        f = F.gelu(F.linear(f, ff_in.weight, ff_in.bias), approximate=self.ff[1].approximate)
        f = F.linear(f, ff_out.weight, ff_out.bias)
        return h + (F.dropout(f, p, True) if p else f)


class LeanBackbone(nn.Module):
    def __init__(self, config: ModelConfig, causal: bool = False):
        super().__init__()
        self.causal = causal
        self.pos = nn.Parameter(torch.zeros(config.seq_len, config.d_model))
        nn.init.normal_(self.pos, std=0.02)
        self.rotary = config.positions == "rotary"
        if self.rotary:  # relative offsets in every attention layer, on top of the learned absolute positions
            cos, sin = rotary_tables(config.seq_len, config.d_model // config.n_heads)
            self.register_buffer("rot_cos", cos, persistent=False)
            self.register_buffer("rot_sin", sin, persistent=False)
        self.blocks = nn.ModuleList(Block(config.d_model, config.n_heads, config.d_ff, config.dropout)
                                    for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model)

    def forward(self, h: Tensor, cond: Tensor | None = None, key_mask: Tensor | None = None) -> Tensor:
        """key_mask (B, L) bool: the positions attention may read (padding outside a sequence is hidden)."""
        assert h.dim() == 3 and h.shape[1] <= self.pos.shape[0], f"expected (B, L<={self.pos.shape[0]}, D), got {tuple(h.shape)}"
        assert key_mask is None or not self.causal, "the causal mask and a key mask are not combined"
        attn_mask = None if key_mask is None else key_mask[:, None, None, :]  # (B, 1, 1, L)
        h = h + self.pos[: h.shape[1]]  # (B, L, D)
        if cond is not None:
            h = h + cond[:, None, :]
        L = h.shape[1]
        rotary = (self.rot_cos[:L], self.rot_sin[:L]) if self.rotary else None
        for block in self.blocks:
            h = block(h, self.causal, rotary, attn_mask)
        return self.ln_f(h)


class BertBackbone(nn.Module):
    """transformers' BertModel from config only (random init, nothing downloaded)."""

    def __init__(self, config: ModelConfig, causal: bool = False):
        super().__init__()
        from transformers import BertConfig, BertModel  # heavy: imported only when this backbone is chosen

        bert_config = BertConfig(
            vocab_size=1, hidden_size=config.d_model, num_hidden_layers=config.n_layers,
            num_attention_heads=config.n_heads, intermediate_size=config.d_ff,
            hidden_dropout_prob=config.dropout, attention_probs_dropout_prob=config.dropout,
            max_position_embeddings=config.seq_len, is_decoder=causal, attn_implementation="sdpa",
        )
        self.bert = BertModel(bert_config, add_pooling_layer=False)

    def forward(self, h: Tensor, cond: Tensor | None = None, key_mask: Tensor | None = None) -> Tensor:
        if cond is not None:
            h = h + cond[:, None, :]
        mask = None if key_mask is None else key_mask.long()  # (B, L) 1 where attention may read
        return self.bert(inputs_embeds=h, attention_mask=mask).last_hidden_state


BACKBONES = {"lean": LeanBackbone, "bert": BertBackbone}


def build_backbone(config: ModelConfig, causal: bool = False) -> nn.Module:
    if config.backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {config.backbone!r}; choose one of {', '.join(BACKBONES)}")
    return BACKBONES[config.backbone](config, causal)

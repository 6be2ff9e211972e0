"""Gaussian diffusion's closed forms on latents, and rounding latents to words: the pure tensor math of the
continuous families (Diffusion-LM and DiffuSeq), tested with hand-built inputs.

A level's value (alpha_bar) is a (B,) tensor, one per row in training, or one Python float for the whole batch in
a sampling step, so a step does its schedule arithmetic in Python rather than as tensor ops.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .corpus.tokenizer import PAD_ID


def per_row(a: Tensor | float, like: Tensor) -> Tensor | float:
    """A level's value for each row, ready to broadcast over `like` (B, ...): a (B,) tensor reshaped, or one float for
    the whole batch as it is, so a sampling step (one time for every row) does its schedule arithmetic in Python."""
    return a.to(like.device, like.dtype).view(-1, *([1] * (like.dim() - 1))) if isinstance(a, Tensor) else float(a)


def q_sample(x0: Tensor, ab: Tensor | float, noise: Tensor) -> Tensor:
    """x_t = sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) eps (Eq. 4 of Ho et al. 2020); ab is (B,) or one float."""
    ab = per_row(ab, x0)
    return ab**0.5 * x0 + (1 - ab) ** 0.5 * noise


def posterior(x0: Tensor, xt: Tensor, ab_t: Tensor | float, ab_s: Tensor | float) -> tuple[Tensor, Tensor | float]:
    """Mean and variance of q(x_s | x_t, x0) for s < t (Eq. 6-7 of Ho et al. 2020, for any pair of levels); the
    variance has the levels' shape, (B, 1, ...) or a float."""
    ab_t, ab_s = per_row(ab_t, x0), per_row(ab_s, x0)
    alpha_ts = ab_t / ab_s
    beta_ts = 1 - alpha_ts
    mean = (ab_s**0.5 * beta_ts / (1 - ab_t)) * x0 + (alpha_ts**0.5 * (1 - ab_s) / (1 - ab_t)) * xt
    var = beta_ts * (1 - ab_s) / (1 - ab_t)
    return mean, var


def ddim_update(x0: Tensor, xt: Tensor, ab_t: Tensor | float, ab_s: Tensor | float) -> Tensor:
    """Deterministic DDIM step (eta = 0, Eq. 12 of Song et al. 2021) from the predicted x0."""
    ab_t, ab_s = per_row(ab_t, x0), per_row(ab_s, x0)
    eps = (xt - ab_t**0.5 * x0) / (1 - ab_t) ** 0.5
    return ab_s**0.5 * x0 + (1 - ab_s) ** 0.5 * eps


def sample_levels(batch_size: int, T: int, mode: str = "uniform", generator: torch.Generator | None = None) -> Tensor:
    """Training levels i in 1..T: uniform, or `high_noise` with t = 1 - (1 - u)^2 (density 1 / (2 sqrt(1 - t))),
    which trains more where the plan of the sentence is decided."""
    u = torch.rand(batch_size, generator=generator, dtype=torch.float64)
    if mode == "high_noise":
        u = 1 - (1 - u) ** 2
    return (u * T).ceil().long().clamp(1, T)


def rounding_logits(x: Tensor, emb: Tensor) -> Tensor:
    """(B, L, D), (V, D) -> (B, L, V) logits -||x - EMB(w)||^2 (the -||x||^2 term is constant over w)."""
    return 2 * x @ emb.T - (emb * emb).sum(-1)


def nearest(x: Tensor, emb: Tensor, logits: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Ids of the nearest embedding (the clamping trick, Sec. 4.2 of Li et al. 2022) and the distance to it."""
    logits = rounding_logits(x, emb) if logits is None else logits
    ids = logits.argmax(-1)  # (B, L)
    dist = (x - emb[ids]).norm(dim=-1)  # (B, L)
    return ids, dist


PAD_INDEX = torch.tensor([PAD_ID])


def ban_pad(logits: Tensor, content: Tensor | None) -> Tensor:
    """(B, L, V) logits with [PAD] impossible, by length (`content` given: where the padding is, it is given, never
    a choice); as given if None."""
    return logits if content is None else logits.index_fill(-1, PAD_INDEX.to(logits.device), -math.inf)

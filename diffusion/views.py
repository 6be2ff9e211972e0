"""What the continuous family's views compute from a model, apart from any page: plain tensors and arrays out.

- `noise_path`: x_t at several times from one shared noise draw, the coupled path of
  x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps (Eq. 4 of Ho et al. 2020), through the process's own
  `add_noise`.
- `forward_frames`: a sentence's embeddings noised to each of many times with one noise draw (a player's frames), on
  any schedule (`with_schedule`), each rounded to its nearest word under the rounding softmax
  p(w | x) ∝ exp(-||x - EMB(w)||^2) (Sec. 4.1 of Li et al. 2022), with the points on the embedding table's PCA plane.
  The projection is affine, so the projected x_t is exactly the same mix of the projected x0 and eps.
- `schedule_curve`: alpha_bar(t) on the model's grid and SNR(t) = alpha_bar / (1 - alpha_bar) (Kingma et al. 2021).
- `latent_paths`: one sample's latents along a reverse chain, on the same plane.
- `nearest_distance`: the mean distance from latents to their nearest word embedding, what the clamping trick
  (Sec. 4.2 of Li et al. 2022) sets to zero.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from . import schedules
from .gaussian import nearest
from .projection import pca_basis, project


def noise_path(process: Any, x0: Tensor, times: list[float], seed: int) -> Tensor:
    """(K, n, d): x_t of x0 (1, n, d) at each time, with a fresh generator of `seed` each time, so every t shares
    one eps."""
    assert x0.dim() == 3 and x0.shape[0] == 1, x0.shape  # (1, n, d)
    return torch.stack([process.add_noise(x0, float(s), torch.Generator().manual_seed(seed))[0] for s in times])


@dataclass(frozen=True)
class NoisingFrames:
    """A sentence noised at each of several times with one noise draw: what each position rounds to at each, and
    the points on the PCA plane."""

    times: list[float]
    rounded: Tensor  # (K, n) ids of the nearest words of x_t at each time
    confidence: Tensor  # (K, n) the rounding softmax's probability of them
    vocab_xy: np.ndarray  # (V, 2) the embedding table on the plane
    xy: np.ndarray  # (n, K, 2) each position's x_t at each time
    top_ids: Tensor  # (K, n, k) the rounding softmax's k likeliest words at each position and time
    top_probs: Tensor  # (K, n, k) their probabilities


def with_schedule(process: Any, schedule: str) -> Any:
    """The same process on another noise schedule (`schedules.SCHEDULES`), for views that compare schedules."""
    if schedule not in schedules.SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(schedules.SCHEDULES)}, got {schedule!r}")
    return replace(process, config=replace(process.config, schedule=schedule))


@torch.no_grad()
def forward_frames(process: Any, model: Any, ids: Tensor, times: list[float], seed: int,
                   top_k: int = 5) -> NoisingFrames:
    """The sentence `ids` (n,) embedded (x0 = EMB(w)) and noised to each of `times` with the noise of `seed`, each
    x_t rounded to its nearest word under the rounding softmax (with its `top_k` likeliest words)."""
    emb = model.embedding.weight.detach().float()  # (V, d)
    xs = noise_path(process, emb[ids][None], times, seed)  # (K, n, d)
    probs = model.round_logits(xs).softmax(-1)  # (K, n, V)
    top_probs, top_ids = probs.topk(min(top_k, probs.shape[-1]), dim=-1)  # (K, n, k) each
    basis = pca_basis(emb.numpy())
    return NoisingFrames(list(times), top_ids[..., 0], top_probs[..., 0], project(emb.numpy(), basis),
                         project(xs.transpose(0, 1).numpy(), basis), top_ids, top_probs)


@dataclass(frozen=True)
class ScheduleCurve:
    times: list[float]
    alpha_bar: list[float]
    snr: list[float]
    current: float  # t on the grid: the level the process rounds t to, over T


def schedule_curve(process: Any, t: float, max_points: int = 500) -> ScheduleCurve:
    """The process's alpha_bar on its grid of T levels, thinned to about `max_points`, keeping the level of t."""
    T = process.T
    level = int(process.index(t))
    keep = sorted(set(range(0, T + 1, max(1, T // max_points))) | {T, level})
    ab = process.alpha_bar.double()[keep]  # (K,)
    return ScheduleCurve([i / T for i in keep], ab.tolist(), schedules.snr(ab).tolist(), level / T)


@dataclass(frozen=True)
class LatentPaths:
    """One sample's latents along a reverse chain, on the PCA plane of the embedding table."""

    vocab_xy: np.ndarray  # (V, 2)
    xy: np.ndarray  # (frames, n, 2)
    extent_points: np.ndarray  # (V + frames * n, 2)

    def until(self, frame: int) -> np.ndarray:
        """(n, frame + 1, 2): each position's path from the prior up to recorded frame `frame`."""
        return self.xy[: frame + 1].transpose(1, 0, 2)


def latent_paths(emb: Tensor, latents: list[Tensor], keep: list[int]) -> LatentPaths:
    """`latents`: one (L, d) latent per recorded step; `keep`: the positions to follow (say, the sentence's)."""
    table = emb.detach().float().numpy()  # (V, d)
    basis = pca_basis(table)
    vocab_xy = project(table, basis)  # (V, 2)
    xy = project(torch.stack(latents)[:, keep].float().numpy(), basis)  # (frames, n, 2)
    return LatentPaths(vocab_xy, xy, np.concatenate([vocab_xy, xy.reshape(-1, 2)]))


def nearest_distance(latent: Tensor, emb: Tensor) -> float:
    """The mean over positions of min_w ||x - EMB(w)|| for latents (B, L, d): 0 exactly on word embeddings."""
    return float(nearest(latent.float(), emb.detach().float())[1].double().mean())


def steps_before_clamping(process: Any, num_steps: int, clamp_from: float) -> int:
    """How many of `num_steps` reverse steps run before clamping starts at t <= clamp_from: the steps whose starting
    time lies above it (the process clamps a step that starts at t <= clamp_from)."""
    starts = process.timesteps(num_steps)[:-1]  # (num_steps,) each step's starting time, 1 -> 0
    return int((starts > clamp_from + 1e-9).sum())

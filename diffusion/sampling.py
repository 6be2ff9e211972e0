"""The generic reverse loop, the same for every family: sample_steps yields Steps; sample collects them."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from .trajectory import Step, Trajectory

TARGET_FRAMES = 50  # the UI redraws about this many times whatever the step count
MAX_TOP_K = 20  # the most likely words a Step may carry per position


def default_every(num_steps: int) -> int:
    return max(1, math.ceil(num_steps / TARGET_FRAMES))


@torch.inference_mode()
def sample_steps(process: Any, model: nn.Module, num_samples: int, num_steps: int, length: int | None = None,
                 generator: torch.Generator | None = None, every: int | None = None, top_k: int = 0) -> Iterator[Step]:
    """Run the reverse chain from the prior; yield the prior, every `every`-th step, and the last, on the CPU. With
    `top_k`, each Step's extras["top_k"] holds (ids, probs), both (B, L, top_k): the network's `top_k` likeliest words
    at each position, from the last step that read that position (probability 0 where none has yet)."""
    if not isinstance(num_samples, int) or num_samples <= 0:
        raise ValueError(f"number of samples must be a positive integer, got {num_samples!r}")
    length = model.config.seq_len if length is None else length
    if not 0 < length <= model.config.seq_len:
        raise ValueError(f"length must be between 1 and the model's length {model.config.seq_len}, got {length}")
    every = default_every(num_steps) if every is None else every
    if every <= 0:
        raise ValueError(f"every must be a positive integer, got {every}")
    if not isinstance(top_k, int) or not 0 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be a whole number from 0 to {MAX_TOP_K}, got {top_k!r}")
    ts = process.timesteps(num_steps).tolist()  # 1 -> 0, num_steps + 1 values
    model.eval()
    x = process.prior(num_samples, length, generator)
    tokens = process.readable(model, x, ts[0])
    yield Step(index=0, t=ts[0], tokens=tokens, pred_tokens=tokens, confidence=torch.zeros(tokens.shape),
               changed=torch.zeros(tokens.shape, dtype=torch.bool),
               latent=_prior_latent(x), extras={})
    previous, calls = tokens, 0
    top = None  # (ids, probs), each (B, L, top_k): what the network last said at each position
    for k in range(1, num_steps + 1):
        out = process.step(model, x, ts[k - 1], ts[k], generator)
        x, calls = out.x, calls + out.calls
        if top_k and out.probs is not None:
            top = _merge_top(top, out.probs, out.fresh, top_k)
        if k % every and k != num_steps:
            continue
        extras = {k_: _cpu(v) for k_, v in out.extras.items()}
        if top is not None:
            extras["top_k"] = (top[0].cpu(), top[1].cpu())
        yield Step(index=k, t=ts[k], tokens=out.tokens.cpu(), pred_tokens=out.pred_tokens.cpu(),
                   confidence=out.confidence.cpu(), changed=(out.tokens != previous).cpu(),
                   latent=_cpu(out.latent), extras=extras, calls=calls)
        previous = out.tokens


def _merge_top(top: tuple[Tensor, Tensor] | None, probs: Tensor, fresh: Tensor | None,
               k: int) -> tuple[Tensor, Tensor]:
    """The top-k of this step's distribution (B, L, V) where it is fresh (B, L), the previous top-k elsewhere."""
    p, ids = probs.float().topk(min(k, probs.shape[-1]), dim=-1)  # (B, L, k)
    if top is None:
        top = (torch.zeros_like(ids), torch.zeros_like(p))
    if fresh is None:
        return ids, p
    keep = fresh[..., None]  # (B, L, 1)
    return torch.where(keep, ids, top[0]), torch.where(keep, p, top[1])


def _prior_latent(x: Any) -> torch.Tensor | None:
    """x_T of a continuous chain (a tensor, or a state holding one as `latent`) on the CPU; None for token chains."""
    latent = x.latent if hasattr(x, "latent") else x
    return latent.detach().cpu() if isinstance(latent, torch.Tensor) and latent.is_floating_point() else None


def _cpu(v: Any) -> Any:
    return v.detach().cpu() if isinstance(v, torch.Tensor) else v


def sample(process: Any, model: nn.Module, num_samples: int, num_steps: int, length: int | None = None,
           generator: torch.Generator | None = None, every: int | None = None,
           settings: dict[str, Any] | None = None) -> Trajectory:
    """The whole trajectory at once: a thin wrapper that consumes `sample_steps`."""
    steps = list(sample_steps(process, model, num_samples, num_steps, length, generator, every))
    return Trajectory(steps, dict(settings or {}, num_steps=num_steps, num_samples=num_samples))

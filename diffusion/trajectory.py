"""Step and Trajectory: the one contract between the samplers and everything that shows them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor


@dataclass(frozen=True)
class Loss:
    """What a process's `loss` returns to the training loop: the scalar to minimise and named parts to log."""

    total: Tensor
    parts: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StepOutput:
    """What a process's reverse `step` returns; the sampler turns it into a `Step`."""

    x: Tensor  # the next state in the process's own space: (B, L, D) latent or (B, L) ids
    tokens: Tensor  # (B, L) readable state
    pred_tokens: Tensor  # (B, L) current guess of x0
    confidence: Tensor  # (B, L) probability of pred_tokens
    latent: Tensor | None = None  # (B, L, D) continuous families only
    extras: dict[str, Any] = field(default_factory=dict)
    calls: int = 1  # network calls the step made: 0 where it could change nothing and skipped the network
    # (B, L, V) the network's distribution over words behind pred_tokens, by reference (the step computed it anyway;
    # may be an expanded view); `fresh` (B, L) marks where it is this step's (elsewhere the last one stands). The
    # sampler reads a top-k of it only when asked, and never keeps it.
    probs: Tensor | None = None
    fresh: Tensor | None = None


@dataclass(frozen=True)
class Step:
    index: int  # 0 is the prior; num_steps is the last reverse update
    t: float  # time after this step: 1 is pure noise, 0 is data
    tokens: Tensor  # (B, L) readable state (mask id where undecided; rounded words for continuous)
    pred_tokens: Tensor  # (B, L) the model's current guess of x0
    confidence: Tensor  # (B, L) probability of pred_tokens
    changed: Tensor  # (B, L) bool: tokens differ from the previous recorded step
    latent: Tensor | None  # (B, L, D) continuous families only
    extras: dict[str, Any]  # family views: clamp distance, reveal order, "top_k" when asked (see sample_steps)
    calls: int = 0  # network calls of the chain so far: what its steps cost (a step may make none)


@dataclass
class Trajectory:
    """The recorded reverse chain: the steps `sample_steps` yielded, the last one holding the samples."""

    steps: list[Step]
    settings: dict[str, Any]  # what made it: family, steps, seed, sampler options

    @property
    def final(self) -> Step:
        return self.steps[-1]

    def __len__(self) -> int:
        return len(self.steps)

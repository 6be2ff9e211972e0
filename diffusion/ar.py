"""The left-to-right reference: a causal transformer on [BOS] + x predicting x + [EOS]; exact likelihood.

Every likelihood and latency figure of the project is compared with it. As a process it fits the same
sampler as the diffusion families: time runs from 1 (nothing written) to 0 (all L positions written), one
position per step; positions not yet written hold the mask id so the UI shows them as undecided.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from .config import ModelConfig
from .corpus.tokenizer import BOS_ID, EOS_ID, MASK_ID, PAD_ID, SEP_ID, UNK_ID
from .discrete import TokenModel, forbid, sample_categorical
from .process import Configurable
from .trajectory import Loss, StepOutput



class ARModel(TokenModel, tags=["autoregressive"]):
    causal = True
    extra_positions = 1  # [BOS] in front
    time_conditioned = False


def inputs_and_targets(ids: Tensor) -> tuple[Tensor, Tensor]:
    """(B, L) padded ids -> inputs [BOS] + x and targets x + [EOS], both (B, L + 1); targets after EOS are PAD."""
    B = ids.shape[0]
    inputs = torch.cat([ids.new_full((B, 1), BOS_ID), ids], dim=1)  # (B, L + 1)
    targets = torch.cat([ids, ids.new_full((B, 1), PAD_ID)], dim=1)  # (B, L + 1)
    length = (ids != PAD_ID).sum(1)  # (B,)
    targets[torch.arange(B, device=ids.device), length] = EOS_ID  # the first padding position ends the sentence
    return inputs, targets


def sequence_log_prob(logits: Tensor, targets: Tensor) -> Tensor:
    """(B, L+1, V), (B, L+1) -> (B,) sum of log p(target) over the positions up to and including EOS."""
    logp = logits.float().log_softmax(-1).gather(-1, targets[..., None])[..., 0]  # (B, L + 1)
    return (logp * (targets != PAD_ID)).sum(1)


@dataclass(frozen=True)
class ARProcess(Configurable):
    """Next-token prediction, exact NLL, and left-to-right sampling with a temperature."""

    config: ModelConfig
    temperature: float = 1.0
    name: str = "ar"
    nll_method: ClassVar[str] = "exact: the sum of next-token log-probabilities, EOS included"

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")

    @property
    def default_steps(self) -> int:
        return self.config.seq_len

    def add_noise(self, x0: Tensor, t: Tensor | float, generator: torch.Generator | None = None) -> Tensor:
        """The 'noising' of a left-to-right model: the last round(t L) positions hidden (mask id)."""
        L = x0.shape[1]
        t = torch.as_tensor(t, dtype=torch.float64).expand(x0.shape[0])
        keep = L - (t * L).round().long()  # (B,) positions still written
        hidden = torch.arange(L)[None, :] >= keep[:, None]
        return x0.masked_fill(hidden, MASK_ID)

    def loss(self, model: ARModel, batch: Tensor, generator: torch.Generator | None = None) -> Loss:
        """Mean cross-entropy per predicted token (words and EOS)."""
        inputs, targets = inputs_and_targets(batch)
        logits = model(inputs)  # (B, L + 1, V)
        ce = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=PAD_ID)
        return Loss(ce, {"total": ce.item(), "nll": ce.item()})

    @torch.no_grad()
    def nll_bound(self, model: ARModel, ids: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """(B,) exact -log p(x) in nats (the EOS decision included)."""
        inputs, targets = inputs_and_targets(ids)
        return -sequence_log_prob(model(inputs), targets).double()

    def prior(self, batch_size: int, length: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.full((batch_size, length), MASK_ID, dtype=torch.long)

    def timesteps(self, num_steps: int) -> Tensor:
        L = self.config.seq_len
        if not isinstance(num_steps, int) or num_steps <= 0:
            raise ValueError(f"steps must be a positive integer, got {num_steps!r}")
        if num_steps != L:
            raise ValueError(f"the ar family writes one token per step: steps must be the model's length {L}, "
                             f"got {num_steps}")
        return torch.linspace(1, 0, L + 1, dtype=torch.float64)

    def readable(self, model: ARModel, x: Tensor, t: float) -> Tensor:
        return x

    @torch.no_grad()
    def step(self, model: ARModel, x: Tensor, t: float, t_next: float,
             generator: torch.Generator | None = None) -> StepOutput:
        """Write position k = round((1 - t) L) from p(x_k | [BOS], x_<k); PAD after the sentence has ended."""
        B, L = x.shape
        k = int(round((1 - t) * L))
        ended = (x[:, :k] == PAD_ID).any(1) if k > 0 else torch.zeros(B, dtype=torch.bool)  # (B,)
        if bool(ended.all()):  # every sentence has ended: padding follows, as it would, without the network
            out = x.clone()
            out[:, k] = PAD_ID
            confidence = (torch.arange(L) <= k).float().repeat(B, 1)  # (B, L)
            return StepOutput(x=out, tokens=out, pred_tokens=out.clone(), confidence=confidence,
                              extras={"position": k}, calls=0)
        inputs = torch.cat([torch.full((B, 1), BOS_ID, dtype=x.dtype), x[:, :k]], dim=1)  # (B, k + 1)
        logits = model(inputs)[:, -1]  # (B, V): causal, so the prefix alone decides position k
        logits = forbid(logits, (PAD_ID, UNK_ID, MASK_ID, SEP_ID, BOS_ID))
        new = sample_categorical(logits, generator, self.temperature)  # (B,)
        probs = logits.float().softmax(-1)
        conf = probs.gather(-1, new[:, None])[:, 0]
        new = torch.where(ended | (new == EOS_ID), torch.full_like(new, PAD_ID), new)
        conf = torch.where(ended, torch.ones_like(conf), conf)
        out = x.clone()
        out[:, k] = new
        pred = out.clone()
        confidence = torch.zeros(B, L)
        confidence[:, :k] = 1.0
        confidence[:, k] = conf
        fresh = torch.zeros(B, L, dtype=torch.bool)
        fresh[:, k] = ~ended  # only position k was predicted, from its prefix
        return StepOutput(x=out, tokens=out, pred_tokens=pred, confidence=confidence,
                          extras={"position": k}, probs=probs[:, None].expand(B, L, probs.shape[-1]), fresh=fresh)

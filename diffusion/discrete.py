"""What the token-level families share: the network from ids to logits, and sampling from logits.

`ar`, `ardm` and `sedd` all read (B, L) token ids and write (B, L, V) logits over the vocabulary; only
the attention mask, the conditioning and what the logits mean differ, and those live in each process.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import ClassVar
from typing import Any

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import Tensor, nn

from .backbone import TimeEmbedding, build_backbone
from .config import ModelConfig
from .process import Configurable
from .corpus.tokenizer import PAD_ID


class TokenModel(nn.Module, PyTorchModelHubMixin, library_name="text-diffusion-lab"):
    """Token and position embeddings -> transformer -> logits. `causal` and `extra_positions` come from the family:
    the left-to-right model reads [BOS] + x, one position more than the sequence."""

    causal: bool = False
    extra_positions: int = 0
    time_conditioned: bool = True

    def __init__(self, config: ModelConfig):
        super().__init__()
        if isinstance(config, dict):  # from_pretrained hands the JSON back as a dict
            config = ModelConfig.from_dict(config)
        self.config = config
        long = replace(config, seq_len=config.seq_len + self.extra_positions)
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        nn.init.normal_(self.embedding.weight, std=0.02)
        self.time = TimeEmbedding(config.d_model) if self.time_conditioned else None
        self.backbone = build_backbone(long, causal=self.causal)
        self.head = nn.Linear(config.d_model, config.vocab_size)
        # length_model "prior": the sequence is the non-[PAD] positions; its length joins the conditioning vector
        # and padding is hidden from attention, so a batch can be cut to its longest row without changing a logit
        self.length = length_embedding(config)

    def forward(self, ids: Tensor, t: Tensor | None = None) -> Tensor:
        """(B, L) ids, optional (B,) time in [0, 1] -> (B, L, V) logits."""
        cond = self.time(t) if self.time is not None and t is not None else None
        key_mask = None
        if self.length is not None:
            key_mask = ids != PAD_ID  # (B, L)
            by_length = self.length(key_mask.sum(1))  # (B, d_model)
            cond = by_length if cond is None else cond + by_length
        return self.head(self.backbone(self.embedding(ids), cond, key_mask))


# ---- the length drawn first (length_model "prior") -------------------------------------------------------------

def length_embedding(config: ModelConfig) -> nn.Embedding | None:
    """By length (length_model "prior"), an embedding of the length L = 0..D added to the conditioning vector, so the
    network knows where the sentence ends although the padding is hidden from it; None otherwise."""
    if config.length_model != "prior":
        return None
    table = nn.Embedding(config.seq_len + 1, config.d_model)
    nn.init.normal_(table.weight, std=0.02)
    return table


NO_LENGTHS = ("this checkpoint has no length distribution in meta.json (training reads it off the training rows "
              "before the first step); train it again")


def length_probs(ids: Tensor, D: int, pad_id: int = PAD_ID) -> list[float]:
    """p(L) for L = 1..D from training rows (B, D), with one extra count per length (Laplace), so a held-out
    sentence of a length training never saw still has a finite NLL."""
    counts = torch.bincount((ids != pad_id).sum(1), minlength=D + 1)[1:D + 1].double() + 1  # (D,)
    return (counts / counts.sum()).tolist()


def spans(words: Tensor) -> Tensor:
    """(B, L) bool -> (B,) one past each row's last True (0 for none): the positions a row needs, only padding after
    them. Equal to the word count when the words come first; seq2seq rows also hold the source's padding in between."""
    return (words * torch.arange(1, words.shape[1] + 1, device=words.device)).amax(1)


def check_length_probs(probs: Any, D: int) -> tuple[float, ...] | None:
    """The setting as a tuple of D probabilities (one per length 1..D), or a ValueError."""
    if probs is None:
        return None
    probs = tuple(float(v) for v in probs)
    if len(probs) != D or min(probs) < 0 or not math.isclose(sum(probs), 1.0, rel_tol=1e-6):
        raise ValueError(f"length_probs must hold {D} probabilities summing to 1, one per length 1..D")
    return probs


def length_nll(probs: tuple[float, ...] | None, lengths: Tensor) -> Tensor:
    """(B,) -log p(L) in nats."""
    if probs is None:
        raise ValueError(NO_LENGTHS)
    return -torch.tensor(probs, dtype=torch.float64, device=lengths.device).log()[lengths - 1]


def draw_lengths(probs: tuple[float, ...] | None, batch_size: int,
                 generator: torch.Generator | None = None) -> Tensor:
    """(B,) lengths L ~ p(L)."""
    if probs is None:
        raise ValueError(NO_LENGTHS)
    return 1 + torch.multinomial(torch.tensor(probs), batch_size, replacement=True, generator=generator)


class LengthDrawnFirst(Configurable):
    """What a process with length_model "prior" shares (continuous, seq2seq, ardm, absorbing sedd): it reads p(L) off
    the training rows, and lets training cut a batch to its longest row, since its network hides padding from
    attention; its NLL adds -log p(L)."""

    config: ModelConfig
    length_probs: tuple[float, ...] | None
    NLL_METHOD: ClassVar[str | None] = None  # how the family's nll_bound measures: on the canvas ...
    NLL_METHOD_BY_LENGTH: ClassVar[str | None] = None  # ... and by length

    @property
    def nll_method(self) -> str | None:
        return self.NLL_METHOD_BY_LENGTH if self.by_length else self.NLL_METHOD

    @property
    def by_length(self) -> bool:
        """Whether the length is drawn first (length_model "prior") rather than written as [PAD]s."""
        return self.config.length_model == "prior"

    @property
    def hides_padding(self) -> bool:
        """Training may cut a batch to its longest row (the padding is hidden from attention by length)."""
        return self.by_length

    def data_settings(self, train: Tensor, pad_id: int = PAD_ID) -> dict:
        """Read off the training rows before training: by length, the length distribution p(L)."""
        return {"length_probs": length_probs(train, self.config.seq_len, pad_id)} if self.by_length else {}


def stratified_uniform(batch_size: int, generator: torch.Generator | None = None,
                       device: torch.device | None = None) -> Tensor:
    """(B,) float64 draws in [0, 1), one in each of B equal strata, shuffled: each is U(0, 1), but a batch
    covers the whole range (the low-discrepancy sampler of Kingma et al. 2021 and MDLM), so the loss,
    which varies a lot with the noise level, has less variance from batch to batch. Drawn by the (CPU) generator,
    then moved to `device`."""
    u = torch.rand(batch_size, generator=generator, dtype=torch.float64)
    strata = torch.randperm(batch_size, generator=generator).double()
    return ((strata + u) / batch_size).to(device)


def sample_weights(probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """(..., V) non-negative weights -> (...) ids, each row normalised."""
    flat = probs.reshape(-1, probs.shape[-1])
    flat = (flat / flat.sum(-1, keepdim=True)).float()  # normalise before leaving float64: tiny weights underflow
    if generator is not None and generator.device != flat.device:
        # training on a GPU draws with the CPU generator: uniforms from it, inverted through the CDF on the device
        u = torch.rand(flat.shape[0], generator=generator).to(flat.device)
        return inverse_cdf(flat, u).view(probs.shape[:-1])
    return torch.multinomial(flat, 1, generator=generator).view(probs.shape[:-1])


def inverse_cdf(probs: Tensor, u: Tensor) -> Tensor:
    """(N, V) normalised rows, (N,) uniforms in [0, 1) -> (N,) the first id whose cumulative probability passes u
    (ids of probability 0 are never drawn; rounding past the last cumulative sum gives the last possible id)."""
    ids = torch.searchsorted(probs.cumsum(-1), u[:, None], right=True)[:, 0]  # how many cumulative sums are <= u
    last = probs.shape[-1] - 1 - (probs.flip(-1) > 0).int().argmax(-1)  # the last id of nonzero probability
    return torch.minimum(ids, last)


def sample_categorical(logits: Tensor, generator: torch.Generator | None = None, temperature: float = 1.0) -> Tensor:
    """(..., V) logits -> (...) ids drawn from softmax(logits / temperature) with the given generator."""
    if temperature <= 0:
        return logits.argmax(-1)
    return sample_weights((logits.float() / temperature).softmax(-1), generator)


def forbid(logits: Tensor, ids: list[int] | tuple[int, ...]) -> Tensor:
    """Logits with the given ids made impossible (special tokens a family never writes)."""
    logits = logits.clone()
    logits[..., list(ids)] = -math.inf
    return logits

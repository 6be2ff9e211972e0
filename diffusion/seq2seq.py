"""DiffuSeq (Gong et al. 2023): Diffusion-LM on the concatenation [source ; SEP ; target], noising only the target.

A row of ids is laid out as positions 0..S-1 the source (padded), S the [SEP], S+1..L-1 the target (padded), with
S = config.source_len. Partial noising: in training the source and [SEP] stay at their clean embeddings in x_t and
are left out of the loss, so the network learns p(target | source) with no classifier. Anchoring: every reverse step
puts the clean source embeddings back, so the chain only ever denoises the target. MBR decoding lives in `mbr.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import ClassVar

import torch
from torch import Tensor

from .config import ModelConfig
from .continuous import ContinuousModel, ContinuousProcess, LatentState
from .corpus.grammar import MR_EXAMPLE, linearise_mr, parse_mr
from .corpus.tokenizer import PAD_ID, SEP_ID, UNK_ID, TextTokenizer
from .discrete import NO_LENGTHS, length_probs
from .limits import MAX_SOURCE_CHARS, check_length
from .trajectory import Loss, Step, StepOutput

_BRACKETS = re.compile(r"[\[\]]")


def source_words(text: str) -> str:
    """The source as the model reads it: an MR `name [zizzi] food [fast food]` without its brackets
    (`name zizzi food fast food`), which saves a third of the source positions and loses nothing."""
    return " ".join(_BRACKETS.sub(" ", text).split())


def held_mask(config: ModelConfig) -> Tensor:
    """(L,) bool: the positions the chain never noises (the source and [SEP])."""
    return torch.arange(config.seq_len) <= config.source_len


def encode_sources(tokenizer: TextTokenizer, config: ModelConfig, sources: list[str], truncate: bool = False) -> Tensor:
    """(N, L) rows holding each source and [SEP], the target part [PAD]; a source too long is a ValueError, or with
    `truncate` cut to the model's source length (`too_long` counts them)."""
    S = config.source_len
    texts = [source_words(s) for s in sources]
    ids = [tokenizer.encode(text) for text in texts]
    for s, row in zip(sources, ids):
        if len(row) > S and not truncate:
            raise ValueError(f"the source has {len(row)} tokens but this model takes at most {S}: {s[:60]!r}")
    rows = torch.full((len(sources), config.seq_len), PAD_ID, dtype=torch.long)
    for i, row in enumerate(ids):
        rows[i, :min(S, len(row))] = torch.tensor(row[:S], dtype=torch.long)
    rows[:, S] = SEP_ID
    return rows


def too_long(tokenizer: TextTokenizer, config: ModelConfig, sources: list[str]) -> int:
    """How many of `sources` are longer than the model's source length (what `truncate` cuts)."""
    return sum(n > config.source_len for n in tokenizer.lengths([source_words(s) for s in sources]))


def check_source(tokenizer: TextTokenizer, config: ModelConfig, text: str, builtin: bool) -> str:
    """A source as a person typed it, checked: on the built-in corpus an MR of the grammar's slots and values (returned
    in the canonical slot order) in at most the model's source length. Any other corpus takes any text: words the
    model never saw are read as [UNK], as in training, and a source too long is cut (`source_notes` says so). A
    one-line ValueError says what is accepted."""
    check_length(text or "", "source", MAX_SOURCE_CHARS)
    if not text or not text.strip():
        example = f", e.g. {MR_EXAMPLE!r}" if builtin else ""
        raise ValueError(f"the source is empty; give the text to condition on{example}")
    if not builtin:
        return " ".join(text.split())
    text = linearise_mr(parse_mr(text))
    unknown = unknown_words(tokenizer, config, text)
    if unknown:
        raise ValueError(f"the source has words this model never saw: {', '.join(unknown[:8])}; use words of its "
                         "training corpus")
    encode_sources(tokenizer, config, [text])  # raises when it is too long
    return text


def unknown_words(tokenizer: TextTokenizer, config: ModelConfig, text: str) -> list[str]:
    """The words of a source that the tokenizer reads as [UNK], sorted."""
    words = source_words(text).split() if config.level == "word" else list(source_words(text))
    return sorted({w for w in words if UNK_ID in tokenizer.encode(w)})


def source_notes(tokenizer: TextTokenizer, config: ModelConfig, text: str) -> list[str]:
    """What a user should know of how the model reads a source: words it reads as [UNK], and a cut."""
    notes = []
    unknown = unknown_words(tokenizer, config, text)
    if unknown:
        notes.append(f"read as [UNK] (not in the training vocabulary): {', '.join(unknown[:8])}")
    n = len(tokenizer.encode(source_words(text)))
    if n > config.source_len:
        notes.append(f"the source has {n} tokens; the model reads its first {config.source_len}")
    return notes


def encode_pairs(tokenizer: TextTokenizer, config: ModelConfig, sources: list[str], targets: list[str]) -> Tensor:
    """(N, L) training rows: source, [SEP], target."""
    rows = encode_sources(tokenizer, config, sources)
    rows[:, config.source_len + 1:] = tokenizer.batch(targets, config.seq_len - config.source_len - 1)
    return rows


def decode_targets(tokenizer: TextTokenizer, config: ModelConfig, ids: Tensor) -> list[str]:
    """The target part of each row of ids (B, L) as text."""
    return [tokenizer.decode(row[config.source_len + 1:]) for row in ids]


def target_length_table(rows: Tensor, config: ModelConfig, pad_id: int = PAD_ID) -> list[list[float]]:
    """p(L | n) from training rows (N, L): row n = 0..S for a source of n words, column L - 1 for a target of L = 1..D
    words. Each source length's counts get one more pseudo-count, spread as the marginal p(L) (itself with one count
    per length), so a source length training never saw falls back on the marginal and no length is impossible."""
    S, D = config.source_len, config.seq_len - config.source_len - 1
    n, length = (rows[:, :S] != pad_id).sum(1), (rows[:, S + 1:] != pad_id).sum(1)  # (N,), (N,)
    keep = length > 0
    marginal = torch.tensor(length_probs(rows[:, S + 1:], D, pad_id), dtype=torch.float64)  # (D,)
    counts = torch.zeros(S + 1, D, dtype=torch.float64)
    counts.index_put_((n[keep], length[keep] - 1), torch.ones(int(keep.sum()), dtype=torch.float64), accumulate=True)
    return ((counts + marginal) / (counts.sum(1, keepdim=True) + 1)).tolist()


def check_length_table(table, config: ModelConfig) -> tuple[tuple[float, ...], ...] | None:
    """The setting as S + 1 rows of D probabilities (p(L | n)), or a ValueError."""
    if table is None:
        return None
    S, D = config.source_len, config.seq_len - config.source_len - 1
    rows = tuple(tuple(float(v) for v in row) for row in table)
    if len(rows) != S + 1 or any(len(r) != D or min(r) < 0 or abs(sum(r) - 1) > 1e-6 for r in rows):
        raise ValueError(f"length_table must hold {S + 1} rows (source lengths 0..{S}) of {D} probabilities summing "
                         f"to 1 (target lengths 1..{D})")
    return rows


class Seq2SeqModel(ContinuousModel, tags=["diffuseq"]):
    """The same network as Diffusion-LM: embeddings, a denoiser on latents, the tied rounding."""


@dataclass(frozen=True)
class Seq2SeqProcess(ContinuousProcess):
    """Diffusion-LM's process with partial noising and anchoring. `source` is a sampling setting: the rows (N, L)
    from `encode_sources`, one per sample or one for all."""

    source: Tensor | None = None
    length_table: tuple[tuple[float, ...], ...] | None = None  # length_model "prior": p(L | n), target_length_table
    name: str = "seq2seq"
    NLL_METHOD: ClassVar[str | None] = None  # the bound is not computed for the conditional model
    NLL_METHOD_BY_LENGTH: ClassVar[str | None] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "length_table", check_length_table(self.length_table, self.config))

    def data_settings(self, train: Tensor, pad_id: int = PAD_ID) -> dict:
        """By length, p(L | n) read off the training pairs before the first step."""
        return {"length_table": target_length_table(train, self.config, pad_id)} if self.by_length else {}

    def prior(self, batch_size: int, length: int, generator: torch.Generator | None = None) -> Tensor | LatentState:
        """x_T ~ N(0, I) (B, L, d); by length also the positions to denoise: the source's words and [SEP], then a
        target of L ~ p(L | n) words for a source of n words."""
        if not self.by_length:
            return super().prior(batch_size, length, generator)
        if length != self.config.seq_len:
            raise ValueError(f"this model draws each target's length; it takes the model's length "
                             f"{self.config.seq_len}, got {length}")
        if self.length_table is None:
            raise ValueError(NO_LENGTHS)
        src, _ = self.held(batch_size)  # (B, S + 1)
        S = self.config.source_len
        noise = torch.randn(batch_size, length, self.config.embed_dim, generator=generator)  # (B, L, d)
        given = torch.tensor(self.length_table)[(src[:, :S] != PAD_ID).sum(1)]  # (B, D) p(L | n) of each row
        lengths = 1 + torch.multinomial(given, 1, generator=generator)[:, 0]  # (B,)
        content = torch.cat([src != PAD_ID, torch.arange(length - S - 1) < lengths[:, None]], 1)  # (B, L)
        return LatentState(noise, torch.zeros_like(noise), content)

    def held(self, batch_size: int) -> tuple[Tensor, Tensor]:
        """(B, S + 1) source ids to hold and the (L,) mask of held positions."""
        if self.source is None:
            raise ValueError("seq2seq samples need a source: configure(source=encode_sources(...))")
        src = self.source[:, : self.config.source_len + 1]
        if src.shape[0] not in (1, batch_size):
            raise ValueError(f"the source has {src.shape[0]} rows; give one, or one per sample ({batch_size})")
        return src.expand(batch_size, -1), held_mask(self.config)

    def loss(self, model: ContinuousModel, batch: Tensor, generator: torch.Generator | None = None) -> Loss:
        """Diffusion-LM's objective on the target positions only, with the source clean in x_t (Eq. 4 of Gong et al.)."""
        held = held_mask(self.config)[: batch.shape[1]].to(batch.device)  # by length a batch is cut after its last word
        return self.denoising_loss(model, batch, held.expand_as(batch), generator)

    def add_noise(self, x0: Tensor, t: Tensor | float, generator: torch.Generator | None = None) -> Tensor:
        """q(x_t | x_0) on the target positions; the source and [SEP] are returned exactly as given."""
        xt = super().add_noise(x0, t, generator)
        return torch.where(held_mask(self.config)[None, : x0.shape[1], None], x0, xt)

    def hold(self, model: ContinuousModel, x: Tensor) -> Tensor:
        """Anchoring: the source and [SEP] positions of the latent (B, L, d) back at their clean embeddings."""
        src, _ = self.held(x.shape[0])
        return torch.cat([model.embedding(src).to(x.dtype), x[:, src.shape[1]:]], dim=1)  # (B, L, d)

    def step(self, model: ContinuousModel, x, t: float, t_next: float,
             generator: torch.Generator | None = None) -> StepOutput:
        """Diffusion-LM's step between two anchorings; at the held positions the guess is the source, for certain."""
        out = super().step(model, x, t, t_next, generator)
        src, _ = self.held(out.tokens.shape[0])
        n = src.shape[1]
        extras = dict(out.extras)
        extras["clamp_distance"] = torch.cat([torch.zeros(src.shape), out.extras["clamp_distance"][:, n:]], 1)
        fresh = torch.ones(out.tokens.shape, dtype=torch.bool) if out.fresh is None else out.fresh.clone()
        fresh[:, :n] = False  # the source is given, not predicted
        return replace(out, pred_tokens=torch.cat([src, out.pred_tokens[:, n:]], 1),
                       confidence=torch.cat([torch.ones(src.shape), out.confidence[:, n:]], 1), extras=extras,
                       fresh=fresh)

    def readable(self, model: ContinuousModel, x: Tensor, t: float) -> Tensor:
        """The target as the latent rounds to it, the source as given (it is never noised)."""
        ids = super().readable(model, x, t)  # (B, L)
        src, _ = self.held(ids.shape[0])
        return torch.cat([src, ids[:, src.shape[1]:]], dim=1)

    def nll_bound(self, model: ContinuousModel, ids: Tensor, generator: torch.Generator | None = None,
                  num_levels: int = 64) -> Tensor:
        raise ValueError("the seq2seq family reports BLEU and slot accuracy, not an NLL bound")


def candidates_steps(process: Seq2SeqProcess, model: ContinuousModel, tokenizer: TextTokenizer, source: str,
                     candidates: int, num_steps: int, generator: torch.Generator | None = None,
                     every: int | None = None, top_k: int = 0) -> Iterator[Step]:
    """The reverse chain of `candidates` targets for one source, drawn together (each from its own noise)."""
    from .sampling import sample_steps  # the generic loop; imported here as it is only needed to sample

    row = encode_sources(tokenizer, model.config, [source], truncate=True)
    yield from sample_steps(process.configure(source=row), model, candidates, num_steps, generator=generator,
                            every=every, top_k=top_k)

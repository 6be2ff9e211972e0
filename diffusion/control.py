"""Plug-and-play control of Diffusion-LM (Sec. 5 of Li et al. 2022): infilling, length, classifier guidance.

A `Control` rides on the continuous process (`process.configure(control=...)`) and touches each reverse step in
three places, so the language model is never retrained:
- an `Anchor` fixes some positions to given words (infilling's template, length control's padding): the x0 estimate
  there is replaced by the words' embeddings before the update, so x_{t-1} ~ q(x_{t-1} | x_t, x0) stays on the
  chain the LM was trained on, and the free positions may not round to [PAD];
- a `Guidance` takes a few Adagrad steps on x_{t-1} of log p(c | x_{t-1}) + lambda log N(x_{t-1}; mu, sigma^2)
  (Eq. 5 of Li et al. 2022: control against fluency), with the classifier of `classifier.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor

from .classifier import SlotClassifier, check_value
from .corpus.tokenizer import PAD_ID, UNK_ID, TextTokenizer
from .limits import MAX_SENTENCE_CHARS, check_length

BLANK = "___"
_BLANK_RE = re.compile(r"_{2,}")  # two or more underscores make a blank


@dataclass(frozen=True)
class Anchor:
    """Positions fixed to given words; the others (the blanks) are generated and never round to [PAD]."""

    ids: Tensor  # (L,) word ids at the known positions (anything at the free ones)
    known: Tensor  # (L,) bool

    def __post_init__(self) -> None:
        assert self.ids.shape == self.known.shape and self.ids.dim() == 1, "ids and known must both be (L,)"

    @property
    def free(self) -> Tensor:
        return ~self.known

    def restrict(self, logits: Tensor) -> Tensor:
        """(B, L, V) rounding logits with [PAD] forbidden at the free positions."""
        ban = torch.zeros(logits.shape[-2:], dtype=torch.bool)  # (L, V)
        ban[self.free, PAD_ID] = True
        return logits.masked_fill(ban, float("-inf"))

    def put(self, tokens: Tensor) -> Tensor:
        """(B, L) ids with the known words put back."""
        return torch.where(self.known, self.ids, tokens)

    def put_embeddings(self, x0: Tensor, embedding: Tensor) -> Tensor:
        """(B, L, d) x0 estimate with the known words' exact embeddings."""
        return torch.where(self.known[:, None], embedding[self.ids], x0)


def infill_anchor(tokenizer: TextTokenizer, template: str, seq_len: int) -> Anchor:
    """The anchor of a template such as `the ___ is a ___ restaurant in the ___ .`: one blank (`___`) is one word;
    positions after the template are fixed to [PAD], so the sentence has exactly the template's length."""
    check_length(template, "template", MAX_SENTENCE_CHARS)
    words = template.split()
    if not words:
        raise ValueError(f"the template is empty; write words with blanks ({BLANK}), e.g. \"zizzi is a {BLANK} "
                         f"{BLANK} in the city centre .\"")
    blanks = [bool(_BLANK_RE.fullmatch(w)) for w in words]
    if not any(blanks):
        raise ValueError(f"the template has no blank; mark each word to generate with {BLANK}, e.g. "
                         f"\"{' '.join([*words[:2], BLANK, *words[3:6]])}\"")
    if len(words) > seq_len:
        raise ValueError(f"the template has {len(words)} words but this model writes at most {seq_len}")
    given = [w for w, b in zip(words, blanks) if not b]
    unknown = sorted({w for w in given if _word_id(tokenizer, w) is None})
    if unknown:
        raise ValueError(f"the template has words this model never saw: {', '.join(unknown[:8])}; use words of its "
                         f"training corpus and {BLANK} for each word to generate")
    ids = torch.full((seq_len,), PAD_ID, dtype=torch.long)
    known = torch.ones(seq_len, dtype=torch.bool)
    for k, (w, b) in enumerate(zip(words, blanks)):
        if b:
            known[k] = False
        else:
            ids[k] = _word_id(tokenizer, w)
    return Anchor(ids, known)


def _word_id(tokenizer: TextTokenizer, word: str) -> int | None:
    ids = tokenizer.encode(word)
    return ids[0] if len(ids) == 1 and ids[0] != UNK_ID else None


def length_anchor(n: int, seq_len: int) -> Anchor:
    """Exactly n words: positions n.. are fixed to [PAD], the first n may not be [PAD]."""
    if not isinstance(n, int) or not 1 <= n <= seq_len:
        raise ValueError(f"length must be a whole number of words from 1 to the model's {seq_len}, got {n!r}")
    known = torch.arange(seq_len) >= n
    return Anchor(torch.full((seq_len,), PAD_ID, dtype=torch.long), known)


def parse_targets(specs: list[str], slots: dict[str, list[str]]) -> dict[str, str]:
    """`["food=italian", "area=city centre"]` -> {slot: value}, checked against the classifier's slots and values."""
    out: dict[str, str] = {}
    for spec in specs:
        slot, sep, value = spec.partition("=")
        slot, value = slot.strip(), " ".join(value.split())
        if not sep or not slot or not value:
            raise ValueError(f"control {spec!r} is not SLOT=VALUE; e.g. food=italian (slots: {', '.join(slots)})")
        if slot in out and out[slot] != value:
            raise ValueError(f"control asks for {slot} twice ({out[slot]} and {value}); give one value per slot")
        out[slot] = check_value(slots, slot, value)
    if not out:
        raise ValueError(f"give at least one SLOT=VALUE, e.g. food=italian (slots: {', '.join(slots)})")
    return out


def guide(x: Tensor, mean: Tensor, var: Tensor, log_prob: Callable[[Tensor], Tensor], weight: float,
          step_size: float, updates: int) -> Tensor:
    """Adagrad ascent on x (B, L, d) of log p(c | x) + weight * log N(x; mean, var I) (Eq. 5 of Li et al. 2022, with
    Adagrad and a few updates per step as their code); var is a scalar or broadcasts to x."""
    # The sampler runs under inference_mode; the gradient needs ordinary tensors, so work on clones made outside it.
    with torch.inference_mode(False), torch.enable_grad():
        x = x.clone().requires_grad_(True)
        mean, var = mean.clone(), torch.as_tensor(var).clone()
        opt = torch.optim.Adagrad([x], lr=step_size)
        for _ in range(updates):
            opt.zero_grad()
            fluency = -((x - mean) ** 2 / (2 * var)).sum((1, 2))  # (B,) Gaussian log-density up to a constant
            objective = log_prob(x) + weight * fluency
            (-objective.sum()).backward()
            opt.step()
        return x.detach()


@dataclass(frozen=True)
class Guidance:
    """Classifier guidance towards slot values; `weight` is lambda (fluency against control)."""

    classifier: SlotClassifier
    targets: dict[str, str]  # slot -> value
    weight: float = 0.01
    step_size: float = 0.1
    updates: int = 3

    def __post_init__(self) -> None:
        if self.weight < 0 or self.step_size < 0:
            raise ValueError(f"guidance weight and step size must be >= 0, got {self.weight} and {self.step_size}")
        if not isinstance(self.updates, int) or self.updates < 0:
            raise ValueError(f"guidance updates must be a whole number >= 0, got {self.updates!r}")
        self.index  # an unknown slot or value fails here, at construction

    @cached_property
    def index(self) -> dict[str, int]:
        """slot -> the class of its asked value in the classifier's head."""
        return {s: self.classifier.target_index(s, v) for s, v in self.targets.items()}

    def log_prob(self, x: Tensor, t: float, content: Tensor | None = None) -> Tensor:
        """(B,) log p(targets | x_t) under the classifier; `content` (B, L) bool: by length, the sentence's positions."""
        tt = torch.full((x.shape[0],), float(t))
        return self.classifier.log_prob(x, tt, self.index, content)

    def apply(self, x: Tensor, mean: Tensor, var: Tensor, t: float,
              content: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Guided x_{t} and the classifier's probability (B,) of the targets there."""
        if self.updates and self.step_size > 0:
            if content is not None:  # made under the sampler's inference_mode: autograd may not save it as it is
                with torch.inference_mode(False):
                    content = content.clone()
            x = guide(x, mean, var, lambda z: self.log_prob(z, t, content), self.weight, self.step_size, self.updates)
        return x, self.probability(x, t, content)

    def probability(self, x: Tensor, t: float, content: Tensor | None = None) -> Tensor:
        """(B,) the classifier's probability of all the targets at x_t."""
        with torch.no_grad():
            return self.log_prob(x, t, content).exp()


@dataclass(frozen=True)
class Control:
    """What the continuous process applies at every reverse step; either part may be absent."""

    anchor: Anchor | None = None
    guidance: Guidance | None = None

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.anchor is not None:
            out["known_positions"] = int(self.anchor.known.sum())
        if self.guidance is not None:
            out.update(targets=self.guidance.targets, weight=self.guidance.weight, step_size=self.guidance.step_size,
                       updates=self.guidance.updates)
        return out

"""The built-in corpus as data: a seeded sampler with exact probabilities, fixed splits, the true entropy."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from .grammar import BUILTIN, Example, Grammar
from .validator import validate

SPLIT_SIZES = {"train": 40_000, "validation": 2_000, "test": 2_000}
SPLIT_SEED = 20_221_121


def sample_examples(seed: int, exact: bool = True, grammar: Grammar = BUILTIN) -> Iterator[Example]:
    """An endless seeded stream of (MR, sentence) pairs with each sentence's exact log-probability.

    With `exact=False` the costly parse is skipped and `log_prob` is NaN (the splits do not need it).
    """
    rng = random.Random(seed)
    while True:
        mr = grammar.sample_mr(rng)
        template = rng.choice(grammar.templates)
        text, _ = grammar.realise(mr, template, rng)
        yield Example(mr, text, template.index, validate(text, grammar).log_prob if exact else math.nan)


@lru_cache(maxsize=1)
def _splits() -> dict[str, tuple[Example, ...]]:
    seen: set[str] = set()
    pool: list[Example] = []
    total = sum(SPLIT_SIZES.values())
    for ex in sample_examples(SPLIT_SEED, exact=False):
        if ex.text not in seen:  # a sentence belongs to exactly one split
            seen.add(ex.text)
            pool.append(ex)
        if len(pool) == total:
            break
    out, start = {}, 0
    for name, size in SPLIT_SIZES.items():
        out[name] = tuple(pool[start:start + size])
        start += size
    return out


def builtin_split(split: str) -> tuple[Example, ...]:
    """The fixed train / validation / test split of the built-in corpus."""
    if split not in SPLIT_SIZES:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_SIZES)}")
    return _splits()[split]


def char_view(text: str) -> list[str]:
    """The character-level view of a sentence: one token per character, spaces included."""
    return list(text)


@dataclass(frozen=True)
class Entropy:
    bits_per_token: float  # E[-log2 p(s)] / E[tokens]: the floor for any model's NLL per token
    bits_per_char: float
    bits_per_sentence: float
    stderr_bits_per_token: float  # Monte-Carlo standard error (the p(s) themselves are exact)
    num_samples: int


@lru_cache(maxsize=4)
def entropy(num_samples: int = 20_000, seed: int = 7) -> Entropy:
    """The corpus's true entropy: a Monte-Carlo mean of exact -log2 p(s) over fresh samples."""
    bits, words, chars = [], [], []
    stream = sample_examples(seed)
    for _ in range(num_samples):
        ex = next(stream)
        bits.append(-ex.log_prob / math.log(2))
        words.append(len(ex.text.split()))
        chars.append(len(ex.text))
    n = num_samples
    mean_bits, mean_words = sum(bits) / n, sum(words) / n
    # Delta-method standard error of the ratio of means.
    ratio = mean_bits / mean_words
    resid = [(b - ratio * w) for b, w in zip(bits, words)]
    se = math.sqrt(sum(r * r for r in resid) / (n - 1) / n) / mean_words
    return Entropy(ratio, mean_bits / (sum(chars) / n), mean_bits, se, n)

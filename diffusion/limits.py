"""Bounds on untrusted input, checked before anything parses or allocates: text lengths, and the largest sizes a
command line or a config.json may ask for. Every check is a one-line ValueError naming what is accepted."""

from __future__ import annotations

import math

# Characters of free text. A source of the built-in grammar is under a fifth of its cap, a real corpus's MRs fit
# too; a sentence or template cannot hold more words than a model's length anyway.
MAX_SOURCE_CHARS = 1000
MAX_SENTENCE_CHARS = 1000
MAX_WORD_CHARS = 100

# Sizes: far beyond anything a shipped recipe or a paper's model uses, and small enough that a typo cannot ask a
# machine for more memory than it has.
MAX_SEQ_LEN = 4096
MAX_VOCAB = 1_000_000
MAX_WIDTH = 16384  # d_model, d_ff, embed_dim
MAX_LAYERS = 128
MAX_TIMESTEPS = 100_000  # T of a training chain
MAX_SAMPLE_STEPS = 10_000  # reverse steps of one sampling run
MAX_SAMPLES = 10_000  # held-out sequences scored by one command (in batches)
MAX_DRAWN = 1000  # sequences drawn by one command (sampled side by side)
MAX_SEED = 2**63 - 1
MAX_BATCH = 65_536
MAX_WEIGHTS = 10**9  # a model's weights, about 4 GB in float32


def check_length(text: str, what: str, limit: int) -> None:
    """A ValueError when `text` is longer than `limit` characters."""
    if len(text) > limit:
        raise ValueError(f"the {what} is {len(text):,} characters long; at most {limit:,} are accepted")


def check_number(value: float, what: str, low: float, high: float, integer: bool = False) -> None:
    """A ValueError unless `value` is a finite number (a whole one with `integer`) from `low` to `high`."""
    kind, fmt = ("a whole number", ",") if integer else ("a number", "g")
    accepted = f"{kind} from {low:{fmt}} to {high:{fmt}}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be {accepted}, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{what} must be {accepted}, got {value} (NaN and infinity are refused)")
    if integer and float(value) != int(value) or not low <= value <= high:
        raise ValueError(f"{what} must be {accepted}, got {value:g}")

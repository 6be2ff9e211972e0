"""Metrics: grammaticality (the built-in validator), distinct-n, BLEU and self-BLEU (sacrebleu), NLL in bits."""

from __future__ import annotations

import math
import time
from typing import Any

import torch
from sacrebleu.metrics import BLEU

from .checkpoint import Checkpoint
from .corpus import entropy, is_grammatical, load_corpus
from .sampling import sample


def grammatical_rate(texts: list[str]) -> float:
    """Fraction of texts that are sentences of the built-in grammar."""
    return sum(map(is_grammatical, texts)) / max(1, len(texts))


def distinct_n(texts: list[str], n: int = 2, level: str = "word") -> float:
    """Distinct n-grams over all n-grams across the texts (Li et al. 2016)."""
    grams, total = set(), 0
    for text in texts:
        toks = text.split() if level == "word" else list(text)
        for i in range(len(toks) - n + 1):
            grams.add(tuple(toks[i:i + n]))
            total += 1
    return len(grams) / total if total else 0.0


def corpus_bleu(hypotheses: list[str], references: list[list[str]]) -> float:
    """sacrebleu corpus BLEU; `references` is a list of reference streams, each as long as `hypotheses`."""
    return BLEU().corpus_score(hypotheses, references).score


def self_bleu(texts: list[str]) -> float:
    """Mean sentence BLEU of each text against all the others: lower means more diverse (Zhu et al. 2018)."""
    if len(texts) < 2:
        return 0.0
    bleu = BLEU(effective_order=True)
    return sum(bleu.sentence_score(t, texts[:i] + texts[i + 1:]).score for i, t in enumerate(texts)) / len(texts)


def nll_bits_per_token(ck: Checkpoint, texts: list[str], batch_size: int = 64, seed: int = 0) -> float:
    """Upper bound on the NLL in bits per (non-padding) token, averaged over `texts`."""
    gen = torch.Generator().manual_seed(seed)
    nats, tokens = 0.0, 0
    for start in range(0, len(texts), batch_size):
        ids = ck.tokenizer.batch(texts[start:start + batch_size], ck.config.seq_len)
        nats += float(ck.process.nll_bound(ck.model, ids, gen).sum())
        tokens += int((ids != ck.tokenizer.pad_id).sum())
    return nats / tokens / math.log(2)


def evaluate(ck: Checkpoint, num_samples: int, steps: int | None = None, seed: int = 0, nll_sequences: int = 256,
             batch_size: int = 100) -> dict[str, Any]:
    """Sample, score, and bound the held-out NLL; one flat dict of figures (steps: the family's default)."""
    steps = ck.process.default_steps if steps is None else steps
    if num_samples <= 0:
        raise ValueError(f"number of samples must be a positive integer, got {num_samples}")
    gen = torch.Generator().manual_seed(seed)
    texts: list[str] = []
    start = time.perf_counter()
    for b in range(0, num_samples, batch_size):
        traj = sample(ck.process, ck.model, min(batch_size, num_samples - b), steps, generator=gen, every=steps)
        texts += [ck.tokenizer.decode(row) for row in traj.final.tokens]
    seconds = time.perf_counter() - start
    corpus_name = ck.meta.get("corpus", "builtin")
    builtin = corpus_name == "builtin"
    held_out: list[str] = []
    if builtin:
        held_out = list(load_corpus("builtin").test[:nll_sequences])
    ent = entropy() if builtin and ck.config.level == "word" else None
    result = {
        "family": ck.config.family,
        "steps": steps,
        "num_samples": num_samples,
        "grammatical_rate": grammatical_rate(texts) if builtin else None,
        "distinct_2": distinct_n(texts, 2, ck.config.level),
        "nll_bits_per_token": nll_bits_per_token(ck, held_out) if held_out else None,
        "nll_num_sequences": len(held_out),
        "nll_method": getattr(ck.process, "nll_method", None),
        "entropy_bits_per_token": ent.bits_per_token if ent else None,
        "sample_seconds_per_sequence": seconds / num_samples,
        "sampler": getattr(ck.process, "sampler", None),
        "clamp": getattr(ck.process, "clamp", None),
        "temperature": getattr(ck.process, "temperature", None),
        "examples": texts[:5],
    }
    if hasattr(ck.process, "nll_by_budget") and held_out:
        result["nll_by_budget"] = nll_by_budget(ck, held_out, seed)
    return result


def nll_by_budget(ck: Checkpoint, texts: list[str], seed: int = 0) -> dict[str, float]:
    """ARDM: bits per token of parallel decoding planned by the DP, for budgets from 1 step to one per position."""
    ids = ck.tokenizer.batch(texts, ck.config.seq_len)
    comps = ck.process.components(ck.model, ids, torch.Generator().manual_seed(seed))
    D = ck.config.seq_len
    budgets = sorted({1, 2, max(1, D // 8), max(1, D // 4), max(1, D // 2), D})
    tokens = float((ids != ck.tokenizer.pad_id).sum()) / ids.shape[0]
    return {str(k): v for k, v in ck.process.nll_by_budget(comps, tokens, budgets).items()}

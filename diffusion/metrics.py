"""Metrics: grammaticality (the built-in validator), well-formedness, distinct-n, BLEU, chrF and self-BLEU (sacrebleu),
NLL in bits; the evaluation pipeline that runs them on a checkpoint is `evaluate.py`."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import torch
from sacrebleu.metrics import BLEU, CHRF

from .plan import FIXED_ORDERS
from .checkpoint import Checkpoint
from . import settings
from .continuous import ContinuousProcess
from .families import ordered
from .process import OrderedLikelihood, Process
from .corpus import builtin_split, is_grammatical, realised_slots, validate
from .corpus.mistakes import KINDS


def mistake_shares(texts: list[str]) -> dict[str, float]:
    """The share of `texts` whose first broken rule is each kind of mistake (the grammar's reasons, in the order
    they are checked); the shares and the grammatical rate sum to 1."""
    counts = Counter(v.mistake.kind for v in map(validate, texts) if v.mistake is not None)
    return {kind: counts[kind] / max(1, len(texts)) for kind in KINDS if counts[kind]}


def grammatical_rate(texts: list[str]) -> float:
    """Fraction of texts that are sentences of the built-in grammar."""
    return sum(map(is_grammatical, texts)) / max(1, len(texts))


def mean_length(texts: list[str], level: str = "word") -> float:
    """Mean length of the texts in tokens of the level (words or characters): a sampler that prefers short,
    common sentences shows here, beside the corpus's own mean."""
    return sum(len(t.split()) if level == "word" else len(t) for t in texts) / max(1, len(texts))


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


def bleu_matrix(candidates: list[str]) -> list[list[float]]:
    """m[i][j]: sentence BLEU of candidate i against candidate j as the reference (the diagonal is 100)."""
    bleu = BLEU(effective_order=True)
    return [[100.0 if i == j else bleu.sentence_score(c, [r]).score for j, r in enumerate(candidates)]
            for i, c in enumerate(candidates)]


def mbr_pick(matrix: list[list[float]]) -> int:
    """Minimum Bayes risk with BLEU as the gain (as DiffuSeq decodes): the candidate whose summed BLEU against all
    the others is highest, i.e. the medoid of the set; the first one on ties."""
    gains = [sum(v for j, v in enumerate(row) if j != i) for i, row in enumerate(matrix)]
    return max(range(len(gains)), key=lambda i: (gains[i], -i))


def _nats(ck: Checkpoint, texts: list[str], nats: Callable[[torch.Tensor], torch.Tensor], batch_size: int = 64,
          progress: Any = None) -> tuple[float, int]:
    """Sum of `nats(ids)` (B,) over `texts` in batches, and the number of (non-padding) tokens."""
    total, tokens = 0.0, 0
    for start in range(0, len(texts), batch_size):
        ids = ck.tokenizer.batch(texts[start:start + batch_size], ck.config.seq_len)
        total += float(nats(ids).sum())
        tokens += int((ids != ck.tokenizer.pad_id).sum())
        if progress is not None:
            progress.update(ids.shape[0])
    return total, tokens


def _bits_per_token(ck: Checkpoint, texts: list[str], nats: Callable[[torch.Tensor], torch.Tensor],
                    batch_size: int = 64) -> float:
    """Sum of `nats(ids)` (B,) over `texts` in batches, in bits per (non-padding) token."""
    total, tokens = _nats(ck, texts, nats, batch_size)
    return total / tokens / math.log(2)


def nll_bits_per_token(ck: Checkpoint, texts: list[str], batch_size: int = 64, seed: int = 0) -> float:
    """Upper bound on the NLL in bits per (non-padding) token, averaged over `texts`."""
    gen = torch.Generator().manual_seed(seed)
    return _bits_per_token(ck, texts, lambda ids: ck.process.nll_bound(ck.model, ids, gen), batch_size)


NLL_UNITS = ("per token: the model's tokens (its tokenizer's, padding left out); per word: the held-out texts' words "
             "(runs of characters between spaces); per character: their characters, spaces included")


def nll_figures(ck: Checkpoint, texts: list[str], seed: int = 0, progress: Any = None) -> dict[str, Any]:
    """The held-out NLL (an upper bound, or exact for `ar`) in bits per token, per word and per character of `texts`;
    where the family reports none, None with `nll_note` saying why."""
    if not texts:
        return {"nll_bits_per_token": None, "nll_note": "no held-out text fits the model's length"}
    if ck.process.nll_method is None:
        return {"nll_bits_per_token": None,
                "nll_note": f"the {ck.config.family} family reports no likelihood (its figures: BLEU and chrF)"}
    gen = torch.Generator().manual_seed(seed)
    variance = 0.0  # of the summed estimate, in nats^2, where the family's estimator reports it

    def nats_of(ids: torch.Tensor) -> torch.Tensor:
        nonlocal variance
        if isinstance(ck.process, ContinuousProcess):  # a sampled bound with its own variance (BoundTerms)
            terms = ck.process.nll_terms(ck.model, ids, gen)
            variance += float(terms.variance.sum())
            return terms.total
        return ck.process.nll_bound(ck.model, ids, gen)

    nats, tokens = _nats(ck, texts, nats_of, progress=progress)
    bits = nats / math.log(2)
    out = {"nll_bits_per_token": bits / tokens,
           "nll_bits_per_word": bits / sum(len(t.split()) for t in texts),
           "nll_bits_per_char": bits / sum(len(t) for t in texts),
           "nll_tokens": tokens, "nll_units": NLL_UNITS}
    if isinstance(ck.process, ContinuousProcess):
        out["nll_standard_error_bits_per_token"] = math.sqrt(variance) / tokens / math.log(2)
    return out


def unknown_rate(tokenizer: Any, texts: list[str]) -> float | None:
    """The share of the texts' tokens that the tokenizer reads as [UNK] (words it never saw, or saw once)."""
    ids = [i for text in texts for i in tokenizer.encode(text)]
    return sum(i == tokenizer.unk_id for i in ids) / len(ids) if ids else None


WELL_FORMED_RULE = ("a sentence is well formed when it starts with a capital letter or a digit, ends with '.', '!' "
                    "or '?', holds no special token ([UNK], [MASK], ...), repeats no word twice in a row, and closes "
                    "every bracket it opens")
_SPECIAL = re.compile(r"\[(PAD|UNK|MASK|SEP|BOS|EOS)\]")


def well_formed(text: str) -> bool:
    """Free-form text's stand-in for the grammar's verdict (WELL_FORMED_RULE)."""
    text = text.strip()
    words = text.lower().split()
    if not text or not (text[0].isupper() or text[0].isdigit()) or text[-1] not in ".!?" or _SPECIAL.search(text):
        return False
    if any(a == b for a, b in zip(words, words[1:])):
        return False
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def well_formed_rate(texts: list[str]) -> float:
    return sum(map(well_formed, texts)) / max(1, len(texts))


@torch.no_grad()
def denoising_accuracy(ck: Checkpoint, texts: list[str], ts: list[float], seed: int = 0) -> dict[str, list[float]]:
    """How well a continuous model's one-shot x0_hat rounds back to the words, as t grows: each sentence is embedded,
    noised to x_t ~ q(x_t | x_0) (the same noise at every t), denoised once (no self-conditioning) and rounded to its
    nearest words. Returns t, the fraction of the sentences' words rounded right, and of whole sentences."""
    from .gaussian import ban_pad, q_sample  # continuous families only

    process, model = ck.process, ck.model
    ids = ck.tokenizer.batch(texts, ck.config.seq_len)
    words = ids != ck.tokenizer.pad_id  # (N, L) accuracy is over the sentences' words
    content = words if process.by_length else None  # by length the network sees the sentence's positions only
    gen = torch.Generator().manual_seed(seed)
    x0 = process.embed(model, ids, gen)
    noise = torch.randn(x0.shape, generator=gen)
    out: dict[str, list[float]] = {"t": [], "words": [], "sentences": []}
    for t in ts:
        i = process.level(t)
        x0_hat = process.predict_x0(model, q_sample(x0, float(process.alpha_bar[i]), noise), i, content=content)
        pred = ban_pad(model.round_logits(x0_hat), content).argmax(-1)
        right = pred == ids
        out["t"].append(float(t))
        out["words"].append(float(right[words].float().mean()))
        out["sentences"].append(float((right | ~words).all(1).float().mean()))
    return out


def realises(text: str, targets: dict[str, str]) -> bool:
    """Whether the validator finds every asked slot value in `text` (read off the parse, or spotted as a phrasing
    when the text is not a sentence of the grammar)."""
    return realised_slots(text, targets) == len(targets)


def prior_rate(targets: dict[str, str]) -> float:
    """How often the training corpus itself realises the targets: what an unguided perfect model would give."""
    train = builtin_split("train")
    return sum(all(ex.mr.get(s) == v for s, v in targets.items()) for ex in train) / len(train)


def control_figures(control: Any, texts: list[str], tokens: torch.Tensor, pad_id: int) -> dict[str, Any]:
    """Figures of a controlled run: control_success (the validator finds the asked values), the same among
    grammatical samples, the corpus's own rate of them; for anchored runs whether every given word was kept and
    whether every sample has exactly the asked number of words."""
    out: dict[str, Any] = {"control": control.describe()}
    if control.guidance is not None:
        targets = control.guidance.targets
        hits = [realises(t, targets) for t in texts]
        good = [is_grammatical(t) for t in texts]
        out.update(control_success=sum(hits) / len(texts),
                   control_success_grammatical=sum(h and g for h, g in zip(hits, good)) / len(texts),
                   control_prior_rate=prior_rate(targets))
    if control.anchor is not None:
        anchor = control.anchor
        kept = (tokens[:, anchor.known] == anchor.ids[anchor.known]).all(1)  # (N,)
        words = (tokens != pad_id).sum(1)  # (N,)
        asked = int((~(anchor.known & (anchor.ids == pad_id))).sum())  # every position not fixed to [PAD]
        out.update(anchor_kept=float(kept.float().mean()), length_exact=float((words == asked).float().mean()))
    return out


def nll_by_order(ck: Checkpoint, texts: list[str], batch_size: int = 64) -> dict[str, float]:
    """ARDM and absorbing SEDD: the exact NLL in bits per token of each fixed order (left-to-right, right-to-left),
    the same held-out texts as their bound over random orders; the `ar` model's exact NLL is the one order trained
    alone."""
    reading = _ordered(ck)
    return {d: _bits_per_token(ck, texts, lambda ids: reading.order_nll(ck.model, ids, d), batch_size)
            for d in FIXED_ORDERS}


def nll_by_budget(ck: Checkpoint, texts: list[str], seed: int = 0) -> dict[str, float]:
    """ARDM (and absorbing SEDD read as one): bits per token of parallel decoding planned by the DP, for budgets from
    1 step to one per position."""
    reading = _ordered(ck)
    ids = ck.tokenizer.batch(texts, ck.config.seq_len)
    comps = reading.components(ck.model, ids, torch.Generator().manual_seed(seed))
    D = ck.config.seq_len
    budgets = sorted({1, 2, max(1, D // 8), max(1, D // 4), max(1, D // 2), D})
    tokens = float((ids != ck.tokenizer.pad_id).sum()) / ids.shape[0]
    return {str(k): v for k, v in reading.nll_by_budget(comps, tokens, budgets).items()}


def recorded_settings(process: Process) -> dict[str, Any]:
    """The sampler settings an evaluation records: every setting's key (None where the family has none), so that
    figures of different families line up, with `clamp` beside `clamp_from` for the continuous families."""
    out: dict[str, Any] = dict.fromkeys(("sampler", "clamp", "noise_scale", "temperature", "order", "remask"))
    out.update(settings.current(process))
    if "clamp_from" in out:
        out["clamp"] = out["clamp_from"] > 0
    return out


def _ordered(ck: Checkpoint) -> OrderedLikelihood:
    reading = ordered(ck.process)
    if reading is None:
        raise ValueError(f"an NLL in a fixed order needs a model that is autoregressive in every order (ardm, "
                         f"absorbing sedd); this one is {ck.config.family}")
    return reading


def reference_streams(references: list[list[str]]) -> list[list[str | None]]:
    """sacrebleu's reference streams for sources with different numbers of references (None where one has fewer)."""
    width = max(map(len, references), default=0)
    return [[refs[j] if j < len(refs) else None for refs in references] for j in range(width)]


def corpus_chrf(hypotheses: list[str], references: list[list[str]]) -> float:
    """sacrebleu corpus chrF; `references` as for `corpus_bleu`."""
    return CHRF().corpus_score(hypotheses, references).score


def mr_slots(source: str) -> dict[str, str]:
    """The `slot[value]` items of a meaning representation (empty for a source in another form); a linear scan."""
    out = {}
    for piece in source.split("]"):
        if "[" in piece:
            key, value = piece.split("[", 1)
            out[key.strip(" ,;").lower()] = value.strip()
    return out


def nearest_source_outputs(train_sources: list[str], train_targets: list[str], sources: list[str]) -> list[str]:
    """The copy-the-nearest-source baseline: for each source, a target of the training source sharing the most words
    with it (Jaccard on lower-case words), with the values of their shared MR slots swapped in where both are MRs."""
    vocab = [set(s.lower().split()) for s in train_sources]
    out = []
    for source in sources:
        words = set(source.lower().split())
        j = max(range(len(vocab)), key=lambda i: (len(words & vocab[i]) / max(1, len(words | vocab[i])), -i))
        text, theirs, ours = train_targets[j], mr_slots(train_sources[j]), mr_slots(source)
        for slot, value in theirs.items():
            if slot in ours and ours[slot] != value and value:
                text = text.replace(value, ours[slot])
        out.append(text)
    return out

"""A corpus's rows as the model reads them: the tokenizer and the model length fitted to the training rows, the rows
that fit encoded and padded, and the endless training batches drawn from them (a share for each rank), or read from
a stream."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch

from .config import FAMILY_FIELDS, ModelConfig
from .corpus.grammar import MAX_MR_WORDS, MAX_WORDS
from .corpus.loaders import Corpus
from .corpus.stream import Stream
from .corpus.tokenizer import BPE_VOCAB, TextTokenizer
from .discrete import spans
from .distributed import Ranks, RankError
from .families import get_family
from .seq2seq import source_words

BUCKET_BATCHES = 8  # batches drawn at once and sorted by length, when a process lets a batch be cut to its longest row
LENGTH_QUANTILE = 0.99  # the model length covers this share of the training rows; longer rows are skipped, counted


def fit_length(lengths: list[int], quantile: float = LENGTH_QUANTILE) -> int:
    """The smallest length that holds `quantile` of `lengths` (one outlier does not set every step's cost)."""
    ordered_ = sorted(lengths)
    return ordered_[max(0, math.ceil(quantile * len(ordered_)) - 1)]


@dataclass(frozen=True)
class TokenizerChoice:
    """Which tokenizer a run trains on its corpus: kind None is whitespace for the built-in grammar, else word."""

    kind: str | None = None
    normalise: str = "nfkc"
    vocab_size: int = BPE_VOCAB


def prepare(model_config: ModelConfig, corpus: Corpus, seq_len_given: bool = False,
            choice: TokenizerChoice = TokenizerChoice()) -> tuple[ModelConfig, TextTokenizer]:
    """Train the tokenizer on the corpus and fit the config to it: the vocabulary, and unless given the length from
    the data (LENGTH_QUANTILE of the training rows; for paired families the source's and the target's apart, then
    source, [SEP], target). Rows longer than the fit are skipped when the rows are encoded (`fitting_rows`)."""
    paired = get_family(model_config.family).paired
    if paired and corpus.sources is None:
        raise ValueError(f"the {model_config.family} family trains on source/target pairs, and {corpus.name!r} has "
                         "none: use --corpus builtin, or a .csv with --columns SOURCE,TARGET")
    sources = [source_words(s) for s in corpus.sources["train"]] if paired else []
    kind = choice.kind or ("char" if model_config.level == "char" else "whitespace" if corpus.builtin else "word")
    tokenizer = TextTokenizer.train([*corpus.train, *sources], kind=kind, normalise=choice.normalise,
                                    vocab_size=choice.vocab_size)
    model_config = replace(model_config, level=tokenizer.level)
    if "round_unknown" in FAMILY_FIELDS[model_config.family] and not corpus.builtin:
        model_config = replace(model_config, round_unknown=True)  # a user corpus's [UNK] is a word to round to
    lengths = tokenizer.lengths(list(corpus.train))
    longest = fit_length(lengths)
    if corpus.builtin and model_config.level == "word":
        longest = max(lengths + [MAX_WORDS])  # any sentence of the grammar
    source_len = 0
    if paired:
        source_lengths = tokenizer.lengths(sources)
        source_len = fit_length(source_lengths)
        if corpus.builtin and model_config.level == "word":
            source_len = max(source_lengths + [MAX_MR_WORDS])  # room for any MR of the grammar
        longest += source_len + 1  # source, [SEP], target
    if seq_len_given:
        if paired and model_config.seq_len < source_len + 2:
            raise ValueError(f"the model length {model_config.seq_len} leaves no room for a target after sources of "
                             f"{source_len} tokens; raise --seq-len above {source_len + 1}")
        seq_len = model_config.seq_len
    else:
        seq_len = max(longest, 2)  # one-word rows: the word, then [PAD]
    return replace(model_config, vocab_size=tokenizer.vocab_size, seq_len=seq_len, source_len=source_len), tokenizer


def split_ids(tokenizer: TextTokenizer, corpus: Corpus, split: str, paired: bool
               ) -> tuple[list[list[int]], list[list[int]] | None]:
    """Each row's token ids (one batched encode), and for paired rows its source's."""
    texts = [enc.ids for enc in tokenizer.tok.encode_batch(list(corpus.split(split)))]
    if not paired:
        return texts, None
    return texts, [enc.ids for enc in tokenizer.tok.encode_batch([source_words(s) for s in corpus.sources[split]])]


def _fits(config: ModelConfig, texts: list[list[int]], sources: list[list[int]] | None,
          where: Iterable[int] | None = None) -> tuple[list[int], list[tuple[int, int]]]:
    where = range(1, len(texts) + 1) if where is None else where
    if sources is not None:
        S, D = config.source_len, config.seq_len - config.source_len - 1
        over = [(n, len(a) if len(a) > S else len(b)) for n, a, b in zip(where, sources, texts)
                if len(a) > S or len(b) > D]
        keep = [i for i, (a, b) in enumerate(zip(sources, texts)) if len(a) <= S and len(b) <= D]
    else:
        over = [(n, len(k)) for n, k in zip(where, texts) if len(k) > config.seq_len]
        keep = [i for i, k in enumerate(texts) if len(k) <= config.seq_len]
    return keep, over


def _lines(corpus: Corpus, split: str) -> tuple[int, ...] | None:
    return corpus.lines[split] if corpus.lines is not None else None


def fitting_rows(config: ModelConfig, tokenizer: TextTokenizer, corpus: Corpus, split: str
                 ) -> tuple[list[int], list[tuple[int, int]]]:
    """The rows of a split that fit the model's length, and (line or row number, tokens) of each row that does not
    (for paired rows the tokens of the part that overflows: its source or its target)."""
    return _fits(config, *split_ids(tokenizer, corpus, split, bool(config.source_len)), _lines(corpus, split))


def length_report(config: ModelConfig, tokenizer: TextTokenizer, corpus: Corpus,
                  ids: tuple[list[list[int]], list[list[int]] | None] | None = None) -> dict[str, Any]:
    """What meta.json records of the lengths: the fit, the longest training row, and the rows skipped as too long
    (`ids`: the training rows' ids from `split_ids`, when the caller has them)."""
    texts, sources = ids or split_ids(tokenizer, corpus, "train", bool(config.source_len))
    keep, over = _fits(config, texts, sources, _lines(corpus, "train"))
    report: dict[str, Any] = {"seq_len": config.seq_len, "quantile": LENGTH_QUANTILE,
                              "longest": max(map(len, texts)), "train_rows": len(keep), "skipped_rows": len(over)}
    if sources is not None:
        report["source_len"] = config.source_len
        report["longest_source"] = max(map(len, sources))
    if over:
        line, tokens = max(over, key=lambda x: x[1])
        report["longest_skipped"] = {"line": line, "tokens": tokens}
    return report


def skipped_note(report: dict[str, Any]) -> str:
    """One line on the rows a run skipped as too long, or "" when it skipped none."""
    n = report.get("skipped_rows", 0)
    if not n:
        return ""
    worst = report["longest_skipped"]
    return (f"skipped {n} training row{'s' if n > 1 else ''} longer than the model's length (the longest: line "
            f"{worst['line']}, {worst['tokens']} tokens)")


def encode_split(config: ModelConfig, tokenizer: TextTokenizer, corpus: Corpus, split: str,
                 ids: tuple[list[list[int]], list[list[int]] | None] | None = None) -> torch.Tensor:
    """(N, L) rows of a split that fit the model: the texts, or source + [SEP] + target for paired families."""
    texts, sources = ids or split_ids(tokenizer, corpus, split, bool(config.source_len))
    keep, _ = _fits(config, texts, sources)
    return _pad(config, tokenizer, texts, sources, keep)


def _pad(config: ModelConfig, tokenizer: TextTokenizer, texts: list[list[int]], sources: list[list[int]] | None,
         keep: list[int]) -> torch.Tensor:
    """(len(keep), L) the kept rows padded to the model's length (paired: source, [SEP], target)."""
    pad, S, L = tokenizer.pad_id, config.source_len, config.seq_len
    if sources is None:
        rows = [texts[i] + [pad] * (L - len(texts[i])) for i in keep]
    else:  # source, padded to S, then [SEP], then the target padded to the end
        rows = [sources[i] + [pad] * (S - len(sources[i])) + [tokenizer.sep_id] + texts[i]
                + [pad] * (L - S - 1 - len(texts[i])) for i in keep]
    return torch.tensor(rows, dtype=torch.long).reshape(len(rows), L)


def draw_batches(data: torch.Tensor, pad_id: int, batch_size: int, gen: torch.Generator,
             by_length: bool, ranks: Ranks = Ranks()) -> Iterator[torch.Tensor]:
    """Endless training batches of random rows, this rank's share of each (every rank draws the same rows from the
    same generator). When the process hides padding from attention, BUCKET_BATCHES batches are drawn at once,
    sorted by length and cut after the last word of their longest row: about half the positions of the built-in
    corpus are padding, so each step then costs about half as much."""
    share = slice(ranks.rank * batch_size // ranks.world, (ranks.rank + 1) * batch_size // ranks.world)
    if not by_length:
        while True:
            yield data[torch.randint(0, data.shape[0], (batch_size,), generator=gen)[share]]
    lengths = spans(data != pad_id)  # (N,) the positions each row needs
    while True:
        idx = torch.randint(0, data.shape[0], (batch_size * BUCKET_BATCHES,), generator=gen)
        chunks = idx[lengths[idx].argsort(stable=True)].split(batch_size)
        for j in torch.randperm(len(chunks), generator=gen).tolist():
            rows = chunks[j][share]
            yield data[rows][:, : int(lengths[rows].max())]


def stream_batches(stream: Stream, config: ModelConfig, tokenizer: TextTokenizer, batch_size: int, seed: int,
                    by_length: bool, ranks: Ranks = Ranks()) -> Iterator[torch.Tensor]:
    """Endless batches of a streamed corpus's training rows, this rank's shard of them, epoch after epoch: rows
    tokenised as read, those that fit the model kept, BUCKET_BATCHES batches at a time shuffled (sorted by length and
    cut after their longest row, as `draw_batches` does, when the process hides padding)."""
    share = batch_size // ranks.world
    gen = torch.Generator().manual_seed(seed)
    paired = bool(config.source_len)
    for epoch in itertools.count():
        rows, found = stream.rows("train", ranks, seed, epoch), False
        while chunk := list(itertools.islice(rows, share * BUCKET_BATCHES)):
            texts = [e.ids for e in tokenizer.tok.encode_batch([r[-1] for r in chunk])]
            sources = [e.ids for e in tokenizer.tok.encode_batch([source_words(r[0]) for r in chunk])] \
                if paired else None
            data = _pad(config, tokenizer, texts, sources, _fits(config, texts, sources)[0])  # (n, L)
            n = data.shape[0] // share * share  # whole batches; the rest of an epoch's last chunk is left
            if not n:
                continue
            found = True
            data = data[torch.randperm(data.shape[0], generator=gen)[:n]]
            if by_length:
                data = data[spans(data != tokenizer.pad_id).argsort(stable=True)]
            chunks = data.split(share)
            for j in torch.randperm(len(chunks), generator=gen).tolist():
                yield chunks[j][:, : int(spans(chunks[j] != tokenizer.pad_id).max())] if by_length else chunks[j]
        if not found:
            raise RankError(f"{ranks.describe()} read no {share} training rows of {stream.spec} that fit the model's "
                            f"length {config.seq_len}")

"""Tokenizers, trained on the corpus with the `tokenizers` library and saved whole as tokenizer.json.

Kinds: `whitespace` (the built-in grammar, already written as space-separated words), `word` (a user corpus: words,
numbers and punctuation apart, "centre." is "centre" + "."; words seen once in training become [UNK], so the model
learns the unknown token it will meet), `bpe` (byte-level BPE: any text is spelled, an unseen name in pieces) and
`char`. `word` and `bpe` split as GPT-2 does and decode back to the exact text (after normalisation).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

Level = Literal["word", "char"]
LEVELS = ("word", "char")
KINDS = ("whitespace", "word", "bpe", "char")
NORMALISE = ("nfkc", "nfkc-lower", "none")  # user corpora: Unicode NFKC (default), also lower case, or neither
BPE_VOCAB = 1000  # byte-level BPE: 256 bytes, the special tokens, and merges up to this size
PAD, UNK, MASK, SEP, BOS, EOS = "[PAD]", "[UNK]", "[MASK]", "[SEP]", "[BOS]", "[EOS]"
SPECIAL_TOKENS = (PAD, UNK, MASK, SEP, BOS, EOS)  # ids 0..5, in this order, for every tokenizer
PAD_ID, UNK_ID, MASK_ID, SEP_ID, BOS_ID, EOS_ID = range(len(SPECIAL_TOKENS))
CONTINUES = "\u00b7"  # shown before a subword piece that continues a word ("Zan", "·zi", "·bar")
SPACE = "\u2423"  # a piece that is only a space


def _normalizer(normalise: str):
    if normalise not in NORMALISE:
        raise ValueError(f"unknown normalisation {normalise!r}; choose one of {', '.join(NORMALISE)}")
    return {"nfkc": normalizers.NFKC(), "none": None,
            "nfkc-lower": normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])}[normalise]


class TextTokenizer:
    """A thin wrapper over a `tokenizers.Tokenizer` with the ids the families need and fixed-length batches. Its kind
    is read off the tokenizer itself, so a tokenizer.json is all a checkpoint needs to record the choice."""

    def __init__(self, tokenizer: Tokenizer, level: Level):
        if level not in LEVELS:
            raise ValueError(f"unknown tokenizer level {level!r}; choose one of {', '.join(LEVELS)}")
        self.tok = tokenizer
        self.level = level
        ids = [tokenizer.token_to_id(t) for t in SPECIAL_TOKENS]
        if ids != list(range(len(SPECIAL_TOKENS))):
            raise ValueError(f"tokenizer must define {', '.join(SPECIAL_TOKENS)} as ids 0-5; got {ids}")
        self.pad_id, self.unk_id, self.mask_id, self.sep_id, self.bos_id, self.eos_id = ids
        self.num_special = len(SPECIAL_TOKENS)
        spec = json.loads(tokenizer.to_str())
        pre = (spec.get("pre_tokenizer") or {}).get("type")
        self.kind = ("char" if level == "char" else "bpe" if spec["model"]["type"] == "BPE"
                     else "word" if pre == "ByteLevel" else "whitespace")
        self.normalise = _normalise_name(spec.get("normalizer"))

    @classmethod
    def train(cls, texts: Iterable[str], level: Level = "word", kind: str | None = None, normalise: str = "nfkc",
              vocab_size: int = BPE_VOCAB) -> TextTokenizer:
        """Train a tokenizer of `kind` (default: whitespace at the word level, char at the character level)."""
        kind = kind or ("char" if level == "char" else "whitespace")
        if kind not in KINDS:
            raise ValueError(f"unknown tokenizer {kind!r}; choose one of {', '.join(KINDS)}")
        level = "char" if kind == "char" else "word"
        specials = list(SPECIAL_TOKENS)
        if kind in ("word", "bpe"):
            tok = Tokenizer(models.WordLevel(unk_token=UNK) if kind == "word" else models.BPE(unk_token=UNK))
            norm = _normalizer(normalise)
            if norm is not None:
                tok.normalizer = norm
            # GPT-2's split: words, numbers, punctuation apart, each word carrying the space before it
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
            tok.decoder = decoders.ByteLevel()
            trainer = (trainers.WordLevelTrainer(special_tokens=specials, min_frequency=2, show_progress=False) if kind == "word" else
                       trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        else:
            tok = Tokenizer(models.WordLevel(unk_token=UNK))
            tok.pre_tokenizer = (pre_tokenizers.WhitespaceSplit() if kind == "whitespace"
                                 else pre_tokenizers.Split(Regex("."), behavior="isolated"))
            trainer = trainers.WordLevelTrainer(special_tokens=specials, show_progress=False)
        tok.train_from_iterator(texts, trainer)
        return cls(tok, level)

    @classmethod
    def load(cls, path: str | Path, level: Level) -> TextTokenizer:
        return cls(Tokenizer.from_file(str(path)), level)

    def save(self, path: str | Path) -> None:
        self.tok.save(str(path))

    def describe(self) -> dict[str, object]:
        """What meta.json records of the tokenizer."""
        return {"kind": self.kind, "normalise": self.normalise, "vocab_size": self.vocab_size}

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    @property
    def subword(self) -> bool:
        """Whether a word may be spelled in several pieces."""
        return self.kind == "bpe"

    def id_to_token(self, i: int) -> str:
        return self.tok.id_to_token(i)

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text).ids

    def lengths(self, texts: list[str]) -> list[int]:
        """The number of tokens of each text (one batched encode)."""
        return [len(enc.ids) for enc in self.tok.encode_batch(texts)]

    def batch(self, texts: list[str], length: int) -> torch.Tensor:
        """(B, L) ids padded with [PAD]; raises when a text is longer than `length` tokens."""
        rows = [enc.ids for enc in self.tok.encode_batch(texts)]
        for i, ids in enumerate(rows):
            if len(ids) > length:
                raise ValueError(f"sequence of {len(ids)} tokens is longer than the model's length {length}: "
                                 f"{texts[i][:60]!r}")
        if not rows:
            return torch.full((0, length), self.pad_id, dtype=torch.long)
        return torch.tensor([ids + [self.pad_id] * (length - len(ids)) for ids in rows], dtype=torch.long)

    def tokens(self, ids: Iterable[int]) -> list[str]:
        """Each id as a person reads it: a word, a punctuation mark, a special token; a subword piece that continues
        a word is marked with a leading middle dot."""
        ids = [int(i) for i in ids]
        if self.kind not in ("word", "bpe"):
            return [self.tok.id_to_token(i) for i in ids]
        out, after_space = [], True
        for i in ids:
            if i < self.num_special:
                out.append(SPECIAL_TOKENS[i])
                after_space = True
                continue
            piece = self.tok.decode([i])
            if not piece.strip():  # a space on its own (BPE before a piece it never merged with)
                out.append(SPACE)
                after_space = True
                continue
            glued = self.subword and not after_space and not piece.startswith(" ") and piece[:1].isalnum()
            out.append(CONTINUES + piece.strip() if glued else piece.strip())
            after_space = False
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Text of a row of ids, with [PAD] dropped and other special tokens shown as they are."""
        ids = [int(i) for i in ids if int(i) != self.pad_id]
        if self.kind in ("word", "bpe"):  # runs of ordinary ids through the tokenizer's decoder, specials as words
            parts, run = [], []
            for i in [*ids, None]:
                if i is not None and i >= self.num_special:
                    run.append(i)
                    continue
                if run:  # byte-level BPE may end a run inside a character: the incomplete bytes are left out
                    parts.append(self.tok.decode(run).replace("\ufffd", ""))
                    run = []
                if i is not None:
                    parts.append(" " + SPECIAL_TOKENS[i])
            return "".join(parts).strip()
        words = self.tokens(ids)
        return (" " if self.level == "word" else "").join(words).strip()


def _normalise_name(spec: dict | None) -> str:
    """The NORMALISE name of a tokenizer.json normalizer."""
    if not spec:
        return "none"
    kinds = [n["type"] for n in spec.get("normalizers", [spec])]
    return "nfkc-lower" if "Lowercase" in kinds else "nfkc" if "NFKC" in kinds else "none"

"""Word- and character-level tokenizers, trained with the `tokenizers` library and saved as tokenizer.json."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import torch
from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

Level = Literal["word", "char"]
LEVELS = ("word", "char")
PAD, UNK, MASK, SEP, BOS, EOS = "[PAD]", "[UNK]", "[MASK]", "[SEP]", "[BOS]", "[EOS]"
SPECIAL_TOKENS = (PAD, UNK, MASK, SEP, BOS, EOS)  # ids 0..5, in this order, for every tokenizer
PAD_ID, UNK_ID, MASK_ID, SEP_ID, BOS_ID, EOS_ID = range(len(SPECIAL_TOKENS))


class TextTokenizer:
    """A thin wrapper over a `tokenizers.Tokenizer` with the ids the families need and fixed-length batches."""

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

    @classmethod
    def train(cls, texts: Iterable[str], level: Level = "word") -> TextTokenizer:
        tok = Tokenizer(models.WordLevel(unk_token=UNK))
        if level == "word":
            tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        elif level == "char":
            tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
        else:
            raise ValueError(f"unknown tokenizer level {level!r}; choose one of {', '.join(LEVELS)}")
        tok.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=list(SPECIAL_TOKENS)))
        return cls(tok, level)

    @classmethod
    def load(cls, path: str | Path, level: Level) -> TextTokenizer:
        return cls(Tokenizer.from_file(str(path)), level)

    def save(self, path: str | Path) -> None:
        self.tok.save(str(path))

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

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
        return [self.tok.id_to_token(int(i)) for i in ids]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of a row of ids, with [PAD] dropped and other special tokens shown as they are."""
        words = [t for t in self.tokens(ids) if t != PAD]
        return (" " if self.level == "word" else "").join(words).strip()

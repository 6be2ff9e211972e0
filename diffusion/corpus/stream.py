"""Corpora larger than memory: JSON Lines or Parquet files, or a Hugging Face dataset by name, read through the
`datasets` library in streaming mode. Training reads its rows on the fly, each process its own shard; the tokenizer,
the length fit and the held-out rows come from a bounded sample at the stream's start."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..distributed import Ranks

HF_PREFIX = "hf:"
FORMATS = {".jsonl": "json", ".parquet": "parquet"}  # file suffix -> the `datasets` builder that streams it
SAMPLE_ROWS = 50_000  # rows read from the stream's start: the tokenizer's sample, the length fit, the held-out rows
HELD_OUT = 50  # one row in HELD_OUT is validation and one is test, by a hash of its key
SHUFFLE_BUFFER = 10_000  # rows the stream is shuffled within, as it is read
MAX_FIELD_CHARS = 100_000  # a longer field is skipped as no sentence (it could not fit any model here)


def split_of(key: str) -> str:
    """A row's split from a hash of its key (its text; for paired rows its source, so that every reference of a
    held-out source is held out with it): the same on every machine, whatever the stream's order."""
    bucket = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") % HELD_OUT
    return "validation" if bucket == 0 else "test" if bucket == 1 else "train"


def _one_line(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class Stream:
    """Where a streamed corpus's rows come from and which columns to read: (text,) or (source, target)."""

    spec: str  # hf:NAME, or the path of a .jsonl or .parquet file (or a folder of them for hf:)
    columns: tuple[str, ...]

    def open(self, split: str = "train"):
        """The `datasets` IterableDataset of the whole stream (the dataset's own train split)."""
        import datasets  # imported here: it is heavy and only streamed corpora need it

        if self.spec.startswith(HF_PREFIX):
            return datasets.load_dataset(self.spec[len(HF_PREFIX):], split=split, streaming=True)
        return datasets.load_dataset(FORMATS[Path(self.spec).suffix.lower()], data_files=self.spec, split=split,
                                     streaming=True)

    def _usable(self, ds) -> Iterator[tuple[int, tuple[str, ...]]]:
        """Each row's number in the stream (1 = the first; a JSON Lines file's line) and its columns' texts (white
        space collapsed); a row with a missing, blank or overlong field is left out."""
        if ds.column_names is not None:  # known up front for Parquet and the Hub's datasets; else from the first row
            self._check_columns(ds.column_names)
        for n, row in enumerate(ds, 1):
            if n == 1 and ds.column_names is None:
                self._check_columns(list(row))
            values = [row.get(c) for c in self.columns]
            if all(isinstance(v, str) and v.strip() and len(v) <= MAX_FIELD_CHARS for v in values):
                yield n, tuple(_one_line(v) for v in values)

    def _check_columns(self, names: list[str]) -> None:
        missing = [c for c in self.columns if c not in names]
        if missing:
            raise ValueError(f"{self.spec} has no column {', '.join(map(repr, missing))}; its columns are "
                             f"{', '.join(map(repr, names)) or 'none'}")

    def rows(self, split: str, ranks: Ranks = Ranks(), seed: int | None = None, epoch: int = 0
             ) -> Iterator[tuple[str, ...]]:
        """The rows of one split. With `seed`, shuffled as read (a buffer of SHUFFLE_BUFFER rows, and the files'
        order; a new order each `epoch`); in a job of several processes each reads its own shard."""
        from datasets.distributed import split_dataset_by_node

        ds = self.open()
        if seed is not None:
            ds = ds.shuffle(seed=seed, buffer_size=SHUFFLE_BUFFER)
            ds.set_epoch(epoch)
        if ranks.world > 1:
            ds = split_dataset_by_node(ds, rank=ranks.rank, world_size=ranks.world)
        return (values for _, values in self._usable(ds) if split_of(values[0]) == split)

    def sample(self, rows: int = SAMPLE_ROWS) -> dict[str, list[tuple[int, tuple[str, ...]]]]:
        """The first `rows` usable rows of the stream (each with its number), in their splits."""
        out: dict[str, list[tuple[int, tuple[str, ...]]]] = {"train": [], "validation": [], "test": []}
        for n, values in itertools.islice(self._usable(self.open()), rows):
            out[split_of(values[0])].append((n, values))
        if not any(out.values()):
            raise ValueError(f"{self.spec} has no row with {', '.join(map(repr, self.columns))} as non-empty text")
        return out

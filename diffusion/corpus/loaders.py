"""Corpora: the built-in grammar, a user's .txt or .csv file, or a Hugging Face dataset by name."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

from .builtin import builtin_split
from .grammar import linearise_mr

SPLITS = ("train", "validation", "test")
HF_PREFIX = "hf:"


@dataclass(frozen=True)
class Corpus:
    """Texts in fixed splits; `sources` is set for source/target corpora (seq2seq)."""

    name: str
    train: tuple[str, ...]
    validation: tuple[str, ...]
    test: tuple[str, ...]
    builtin: bool = False
    sources: dict[str, tuple[str, ...]] | None = None

    def split(self, name: str) -> tuple[str, ...]:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        return getattr(self, name)


def _split_rows(name: str, texts: list[str], sources: list[str] | None, seed: int = 0) -> Corpus:
    """Shuffle once with a fixed seed, then 90 / 5 / 5 (validation and test at least one row each)."""
    if not texts:
        raise ValueError(f"corpus {name!r} is empty: give at least one non-empty line or row")
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    n_held = max(1, len(texts) // 20) if len(texts) >= 3 else 0
    parts = {"validation": order[:n_held], "test": order[n_held:2 * n_held], "train": order[2 * n_held:]}
    if not parts["validation"]:  # tiny corpora: every split is the whole corpus
        parts = {s: order for s in SPLITS}
    pick = {s: tuple(texts[i] for i in idx) for s, idx in parts.items()}
    src = {s: tuple(sources[i] for i in idx) for s, idx in parts.items()} if sources is not None else None
    return Corpus(name, pick["train"], pick["validation"], pick["test"], sources=src)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not UTF-8 text (byte {e.start}); save it as UTF-8") from None


def load_txt(path: str | Path) -> Corpus:
    """One sequence per line; blank lines are skipped."""
    path = Path(path)
    lines = [ln.strip() for ln in _read_text(path).splitlines()]
    return _split_rows(str(path), [ln for ln in lines if ln], None)


def load_csv(path: str | Path, text_column: str | None = None, source_column: str | None = None,
             target_column: str | None = None, paired: bool = False) -> Corpus:
    """A CSV with a header: a `text` column, or `source` and `target` columns (names configurable)."""
    path = Path(path)
    rows = list(csv.DictReader(_read_text(path).splitlines()))
    columns = list(rows[0].keys()) if rows else []
    paired = paired or source_column is not None or target_column is not None
    if paired:
        wanted = [source_column or "source", target_column or "target"]
    else:
        wanted = [text_column or "text"]
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise ValueError(f"{path} has no column {', '.join(map(repr, missing))}; its columns are "
                         f"{', '.join(map(repr, columns)) or 'none'}")
    rows = [r for r in rows if all((r[c] or "").strip() for c in wanted)]
    texts = [r[wanted[-1]].strip() for r in rows]
    sources = [r[wanted[0]].strip() for r in rows] if paired else None
    return _split_rows(str(path), texts, sources)


def load_hf_dataset(name: str, text_column: str = "text", split: str = "train", source_column: str | None = None,
                    target_column: str | None = None, paired: bool = False) -> Corpus:
    """A Hugging Face dataset by name (or a local dataset folder), through `datasets.load_dataset`: a text column,
    or source and target columns."""
    import datasets  # imported here: it is heavy and only this loader needs it

    ds = datasets.load_dataset(name, split=split)
    paired = paired or source_column is not None or target_column is not None
    wanted = [source_column or "source", target_column or "target"] if paired else [text_column]
    missing = [c for c in wanted if c not in ds.column_names]
    if missing:
        raise ValueError(f"dataset {name!r} has no column {', '.join(map(repr, missing))}; its columns are "
                         f"{', '.join(map(repr, ds.column_names))}")
    rows = [r for r in zip(*(ds[c] for c in wanted)) if all(isinstance(v, str) and v.strip() for v in r)]
    texts = [r[-1].strip() for r in rows]
    sources = [r[0].strip() for r in rows] if paired else None
    return _split_rows(f"{HF_PREFIX}{name}", texts, sources)


def load_builtin(paired: bool = False) -> Corpus:
    """The built-in grammar's fixed splits; with `paired`, the linearised MR is each sentence's source."""
    splits = {s: builtin_split(s) for s in SPLITS}
    texts = {s: tuple(ex.text for ex in exs) for s, exs in splits.items()}
    sources = {s: tuple(linearise_mr(ex.mr) for ex in exs) for s, exs in splits.items()} if paired else None
    return Corpus("builtin", texts["train"], texts["validation"], texts["test"], builtin=True, sources=sources)


def load_corpus(spec: str, text_column: str | None = None, source_column: str | None = None,
                target_column: str | None = None, paired: bool = False) -> Corpus:
    """`builtin`, a path to a .txt or .csv file, or `hf:NAME` for a Hugging Face dataset. `paired` (or naming a
    source or target column) asks for source/target pairs, as seq2seq trains on."""
    paired = paired or source_column is not None or target_column is not None
    if spec == "builtin":
        return load_builtin(paired=paired)
    if spec.startswith(HF_PREFIX):
        return load_hf_dataset(spec[len(HF_PREFIX):], text_column or "text", source_column=source_column,
                               target_column=target_column, paired=paired)
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"corpus {spec!r} is neither 'builtin', 'hf:NAME', nor an existing .txt or .csv file")
    if path.suffix.lower() == ".csv":
        return load_csv(path, text_column, source_column, target_column, paired)
    if path.suffix.lower() == ".txt":
        if paired:
            raise ValueError(f"corpus file {spec!r} is a .txt file, which has no sources; source/target pairs come "
                             "from 'builtin' or a .csv with source and target columns")
        return load_txt(path)
    raise ValueError(f"corpus file {spec!r} has suffix {path.suffix!r}; accepted: .txt (one sequence per line), .csv")

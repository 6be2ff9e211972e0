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
    rows: int = 0  # the usable rows given, before the split held some out


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
    return Corpus(name, pick["train"], pick["validation"], pick["test"], sources=src, rows=len(texts))


def _read_text(path: Path, max_rows: int | None = None) -> str:
    """The file as text (UTF-8, a leading byte-order mark dropped, as spreadsheet programs save it); with `max_rows`,
    its lines are counted on the raw bytes first, so a file of too many rows is refused before it is parsed."""
    data = path.read_bytes()
    if max_rows is not None:
        lines = data.count(b"\n") + (not data.endswith(b"\n"))
        if lines > max_rows:
            raise ValueError(f"{path} has {lines:,} lines; at most {max_rows:,} rows are accepted here")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not UTF-8 text (byte {e.start}); save it as UTF-8") from None


def load_txt(path: str | Path, max_rows: int | None = None) -> Corpus:
    """One sequence per line; blank lines are skipped."""
    path = Path(path)
    lines = [ln.strip() for ln in _read_text(path, max_rows).splitlines()]
    return _split_rows(str(path), [ln for ln in lines if ln], None)


def load_csv(path: str | Path, text_column: str | None = None, source_column: str | None = None,
             target_column: str | None = None, paired: bool = False, max_rows: int | None = None) -> Corpus:
    """A CSV with a header: a `text` column, or `source` and `target` columns (names configurable)."""
    path = Path(path)
    reader = csv.DictReader(_read_text(path, max_rows).splitlines())
    try:
        rows = list(reader)
    except csv.Error as e:  # a field past csv's limit (128 kB), a NUL byte
        raise ValueError(f"{path} cannot be read as CSV at line {reader.line_num + 1} ({e}); each field must be text "
                         f"of at most {csv.field_size_limit() // 1024} kB") from None
    columns = [c for c in reader.fieldnames or [] if c is not None]
    if not columns:
        raise ValueError(f"{path} is empty; a CSV needs a header line naming its columns, then one row per line")
    if not rows:
        raise ValueError(f"{path} has a header ({', '.join(map(repr, columns))}) but no rows under it")
    paired = paired or source_column is not None or target_column is not None
    if paired:
        wanted = [source_column or "source", target_column or "target"]
    else:
        wanted = [text_column or "text"]
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise ValueError(f"{path} has no column {', '.join(map(repr, missing))}; its columns are "
                         f"{', '.join(map(repr, columns)) or 'none'}")
    rows = [r for r in rows if all(isinstance(r[c], str) and r[c].strip() for c in wanted)]
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
    return Corpus("builtin", texts["train"], texts["validation"], texts["test"], builtin=True, sources=sources,
                  rows=sum(map(len, texts.values())))


def load_corpus(spec: str, text_column: str | None = None, source_column: str | None = None,
                target_column: str | None = None, paired: bool = False, max_rows: int | None = None) -> Corpus:
    """`builtin`, a path to a .txt or .csv file, or `hf:NAME` for a Hugging Face dataset. `paired` (or naming a
    source or target column) asks for source/target pairs, as seq2seq trains on; `max_rows` bounds a file's lines
    before it is parsed (the app's uploads)."""
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
        return load_csv(path, text_column, source_column, target_column, paired, max_rows)
    if path.suffix.lower() == ".txt":
        if paired:
            raise ValueError(f"corpus file {spec!r} is a .txt file, which has no sources; source/target pairs come "
                             "from 'builtin' or a .csv with source and target columns")
        return load_txt(path, max_rows)
    raise ValueError(f"corpus file {spec!r} has suffix {path.suffix!r}; accepted: .txt (one sequence per line), .csv")

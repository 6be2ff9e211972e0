"""Corpora: the built-in grammar, a user's .txt or .csv file read whole, or a corpus streamed (stream.py): a .jsonl or
.parquet file, or a Hugging Face dataset by name."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
import hashlib
from dataclasses import replace
from pathlib import Path

from .builtin import builtin_split
from .grammar import linearise_mr
from .stream import FORMATS, HF_PREFIX, Stream

SPLITS = ("train", "validation", "test")


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
    sha256: str | None = None  # of the file read, so an evaluation can check it reads the file the model trained on
    columns: tuple[str, ...] | None = None  # the columns read: (text,) or (source, target); None for .txt, builtin
    lines: dict[str, tuple[int, ...]] | None = None  # each row's line in the file (1 = the first), for messages
    # a corpus larger than memory: the splits above are a sample of its start; training reads the rows from here
    stream: Stream | None = None

    def split(self, name: str) -> tuple[str, ...]:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        return getattr(self, name)

    def references(self, split: str) -> list[tuple[str, list[str]]]:
        """Paired corpora: each distinct source of the split with all its targets, in first-seen order."""
        if self.sources is None:
            raise ValueError(f"corpus {self.name!r} has no sources; references group the targets of paired data")
        grouped: dict[str, list[str]] = {}
        for source, target in zip(self.sources[split], self.split(split)):
            grouped.setdefault(source, []).append(target)
        return list(grouped.items())


def _split_rows(name: str, texts: list[str], sources: list[str] | None, lines: list[int] | None = None,
                seed: int = 0) -> Corpus:
    """Shuffle once with a fixed seed, then 90 / 5 / 5 (validation and test at least one row each). Paired rows are
    split by source: every row of one source lands in the same split, so no test source is seen in training (data-to-
    text corpora have several references per source)."""
    if not texts:
        raise ValueError(f"corpus {name!r} is empty: give at least one non-empty line or row")
    keys = sources if sources is not None else list(range(len(texts)))
    groups: dict[object, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    order = list(groups.values())
    random.Random(seed).shuffle(order)
    n_held = max(1, len(order) // 20) if len(order) >= 3 else 0
    parts = {"validation": order[:n_held], "test": order[n_held:2 * n_held], "train": order[2 * n_held:]}
    if not parts["validation"]:  # tiny corpora: every split is the whole corpus
        parts = {s: order for s in SPLITS}
    index = {s: [i for group in groups_ for i in group] for s, groups_ in parts.items()}
    pick = {s: tuple(texts[i] for i in idx) for s, idx in index.items()}
    src = {s: tuple(sources[i] for i in idx) for s, idx in index.items()} if sources is not None else None
    at = {s: tuple(lines[i] for i in idx) for s, idx in index.items()} if lines is not None else None
    return Corpus(name, pick["train"], pick["validation"], pick["test"], sources=src, rows=len(texts), lines=at)


def _one_line(text: str) -> str:
    """A field with its runs of white space (line breaks in a quoted CSV field included) as single spaces."""
    return " ".join(text.split())


def read_columns(path: str | Path, max_bytes: int = 1 << 16) -> list[str]:
    """The column names of a CSV file's header line (read from at most its first `max_bytes`), for a picker."""
    with open(path, "rb") as f:
        head = f.read(max_bytes)
    line = head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").rstrip("\r")
    names = next(csv.reader([line]), [])
    return [n.strip() for n in names if n.strip()]


def _read_text(path: Path, max_rows: int | None = None) -> tuple[str, str]:
    """The file as text (UTF-8, a leading byte-order mark dropped, as spreadsheet programs save it); with `max_rows`,
    its lines are counted on the raw bytes first, so a file of too many rows is refused before it is parsed. Returns
    the text and the bytes' SHA-256."""
    data = path.read_bytes()
    if max_rows is not None:
        lines = data.count(b"\n") + (not data.endswith(b"\n"))
        if lines > max_rows:
            raise ValueError(f"{path} has {lines:,} lines; at most {max_rows:,} rows are accepted here")
    try:
        return data.decode("utf-8-sig"), hashlib.sha256(data).hexdigest()
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not UTF-8 text (byte {e.start}); save it as UTF-8") from None


def read_lines(path: Path, max_rows: int) -> list[str]:
    """The non-blank lines of a UTF-8 text file, each with its white space collapsed; at most `max_rows` lines."""
    if not path.is_file():
        raise ValueError(f"{path} is not a file; give a text file, one entry a line")
    text, _ = _read_text(path, max_rows)
    return [_one_line(ln) for ln in text.splitlines() if ln.strip()]


def load_txt(path: str | Path, max_rows: int | None = None) -> Corpus:
    """One sequence per line; blank lines are skipped."""
    path = Path(path)
    text, sha = _read_text(path, max_rows)
    rows = [(n, ln.strip()) for n, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    return replace(_split_rows(str(path), [r for _, r in rows], None, [n for n, _ in rows]), sha256=sha)


def load_csv(path: str | Path, text_column: str | None = None, source_column: str | None = None,
             target_column: str | None = None, paired: bool = False, max_rows: int | None = None) -> Corpus:
    """A CSV with a header: a `text` column, or `source` and `target` columns (names configurable)."""
    path = Path(path)
    text, sha = _read_text(path, max_rows)
    reader = csv.DictReader(io.StringIO(text, newline=""))  # a quoted field may hold a line break
    if reader.fieldnames:  # header names as a person reads them: "text , label" names `text` and `label`
        reader.fieldnames = [c.strip() if isinstance(c, str) else c for c in reader.fieldnames]
    rows, starts = [], []  # each row, and the line of the file it starts on
    try:
        before = 1  # the header's
        for row in reader:
            rows.append(row)
            starts.append(before + 1)
            before = reader.line_num
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
    kept = [(n, r) for n, r in zip(starts, rows) if all(isinstance(r[c], str) and r[c].strip() for c in wanted)]
    texts = [_one_line(r[wanted[-1]]) for _, r in kept]
    sources = [_one_line(r[wanted[0]]) for _, r in kept] if paired else None
    return replace(_split_rows(str(path), texts, sources, [n for n, _ in kept]), sha256=sha, columns=tuple(wanted))


def load_stream(spec: str, text_column: str | None = None, source_column: str | None = None,
                target_column: str | None = None, paired: bool = False) -> Corpus:
    """A corpus read as a stream (`hf:NAME`, a .jsonl or .parquet file): in memory only the first SAMPLE_ROWS rows,
    in their splits (the tokenizer's sample, the length fit, the held-out rows); training reads `stream`."""
    columns = (source_column or "source", target_column or "target") if paired else (text_column or "text",)
    stream = Stream(spec, columns)
    rows = stream.sample()
    texts = {s: tuple(r[-1] for _, r in rows[s]) for s in SPLITS}
    sources = {s: tuple(r[0] for _, r in rows[s]) for s in SPLITS} if paired else None
    if not texts["train"]:
        raise ValueError(f"{spec}: none of the first {sum(map(len, texts.values())):,} rows is a training row")
    return Corpus(spec, texts["train"], texts["validation"], texts["test"], sources=sources,
                  rows=sum(map(len, texts.values())), columns=columns, stream=stream,
                  lines={s: tuple(n for n, _ in rows[s]) for s in SPLITS})


def load_builtin(paired: bool = False) -> Corpus:
    """The built-in grammar's fixed splits; with `paired`, the linearised MR is each sentence's source."""
    splits = {s: builtin_split(s) for s in SPLITS}
    texts = {s: tuple(ex.text for ex in exs) for s, exs in splits.items()}
    sources = {s: tuple(linearise_mr(ex.mr) for ex in exs) for s, exs in splits.items()} if paired else None
    return Corpus("builtin", texts["train"], texts["validation"], texts["test"], builtin=True, sources=sources,
                  rows=sum(map(len, texts.values())))


def load_corpus(spec: str, text_column: str | None = None, source_column: str | None = None,
                target_column: str | None = None, paired: bool = False, max_rows: int | None = None) -> Corpus:
    """`builtin`, a path to a .txt or .csv file (read whole), a .jsonl or .parquet file or `hf:NAME` for a Hugging Face
    dataset (streamed). `paired` (or naming a source or target column) asks for source/target pairs, as seq2seq
    trains on; `max_rows` bounds a file's lines before it is parsed (the app's uploads)."""
    paired = paired or source_column is not None or target_column is not None
    if spec == "builtin":
        return load_builtin(paired=paired)
    if spec.startswith(HF_PREFIX):
        return load_stream(spec, text_column, source_column, target_column, paired)
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"corpus {spec!r} is neither 'builtin', 'hf:NAME', nor an existing .txt, .csv, .jsonl or "
                         ".parquet file")
    if path.suffix.lower() in FORMATS:
        if max_rows is not None:
            raise ValueError(f"corpus file {spec!r}: a {path.suffix} file is streamed for training from the command "
                             "line; here give a .txt or .csv")
        return load_stream(spec, text_column, source_column, target_column, paired)
    if path.suffix.lower() == ".csv":
        return load_csv(path, text_column, source_column, target_column, paired, max_rows)
    if path.suffix.lower() == ".txt":
        if paired:
            raise ValueError(f"corpus file {spec!r} is a .txt file, which has no sources; source/target pairs come "
                             "from 'builtin' or a .csv with source and target columns")
        return load_txt(path, max_rows)
    raise ValueError(f"corpus file {spec!r} has suffix {path.suffix!r}; accepted: .txt (one sequence per line), .csv, "
                     ".jsonl (one JSON object per line), .parquet")

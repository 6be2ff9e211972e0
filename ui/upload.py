"""The Train tab's upload: a visitor's .txt or .csv, checked before it is read (suffix, size), its columns picked
from its header, read into a corpus with the row count bounded, and the model length fitted to it within what the
tab trains on. Plain functions the tab calls, each failure a one-line UserError that names the file, never its
temporary path."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from diffusion.corpus.loaders import load_builtin, load_corpus, read_columns
from diffusion.families import get_family
from diffusion.seq2seq import source_words
from diffusion.rows import LENGTH_QUANTILE, TokenizerChoice, length_report, skipped_note

from .inputs import UserError

BUILTIN, UPLOAD = "built-in restaurant grammar", "my file (.txt or .csv)"
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_LEN = 64  # tokens per row (source, [SEP] and target for seq2seq): what a small model trains on in minutes
MIN_TARGET = 8  # seq2seq: the target positions a capped length must still leave after the sources
MIN_ROWS = 10
MAX_ROWS = 20_000  # lines of an upload, counted before it is parsed: bounds what the tokenizer and encoder see
LISTED = 20  # column names an error lists before "..."
# an upload's tokenizer: label -> kind (the built-in corpus keeps its own word vocabulary)
TOKENIZERS = {"word": "word", "subword (BPE)": "bpe"}
DEFAULT_TOKENIZER = "word"


def uploaded(choice: str, upload: str | None) -> Path | None:
    """The uploaded file to read (None for the built-in corpus), after the checks that read nothing of it."""
    if choice == BUILTIN:
        return None
    if choice != UPLOAD:
        raise UserError(f"corpus must be {BUILTIN!r} or {UPLOAD!r}, got {choice!r}")
    if not upload or not isinstance(upload, str):
        raise UserError("no file uploaded: add a .txt (one sentence per line) or a .csv with a header line, "
                        "or pick the built-in grammar")
    path = Path(upload)
    if path.suffix.lower() not in (".txt", ".csv"):
        raise UserError(f"{path.name} is not a .txt or .csv file; upload one of those")
    try:
        size = path.stat().st_size
    except OSError:
        raise UserError(f"{path.name} is not an uploaded file; upload the file again") from None
    if size > MAX_UPLOAD_BYTES:
        raise UserError(f"{path.name} is {size / 2**20:.1f} MB; the Train tab takes files up to 2 MB")
    return path


def read_header(upload: Any) -> list[str]:
    """A .csv upload's column names (from its first line, read bounded); none for anything else, or for a file that
    cannot be read (training then says why)."""
    if not upload or not isinstance(upload, str) or Path(upload).suffix.lower() != ".csv":
        return []
    try:
        return read_columns(upload)
    except OSError:
        return []


def preselect(header: list[str]) -> tuple[str | None, str | None, str | None]:
    """The text, source and target columns a picker starts on: those names when the header has them, else the first
    column (text, source) and the next (target)."""
    first = header[0] if header else None
    source = "source" if "source" in header else first
    target = "target" if "target" in header else next((c for c in header if c != source), None)
    return ("text" if "text" in header else first), source, target


def shown_name(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:60]}… ({len(text)} characters)"


def chosen_columns(path: Path | None, family: str, text: Any, source: Any, target: Any) -> dict[str, str]:
    """The columns to read of a .csv upload, checked against its header (a client may send any name); an unsent one
    is the picker's preselection."""
    header = read_header(str(path)) if path is not None else []
    if not header:  # a .txt, the built-in corpus, or a file whose header the loader will name the trouble with
        return {}
    default_text, default_source, default_target = preselect(header)
    if get_family(family).paired:
        chosen = {"source": source or default_source, "target": target or default_target}
    else:
        chosen = {"text": text or default_text}
    listed = ", ".join(map(repr, header[:LISTED])) + (", ..." if len(header) > LISTED else "")
    for what, name in chosen.items():
        if not isinstance(name, str) or name not in header:
            raise UserError(f"{path.name} has no column {shown_name(name)} for the {what}; its columns are {listed}")
    return {f"{what}_column": name for what, name in chosen.items()}


def tokenizer_choice(corpus_choice: str, kind: Any) -> TokenizerChoice:
    """The tokenizer for a fresh run: an upload's chosen kind, or the built-in corpus's own."""
    kind = DEFAULT_TOKENIZER if kind is None else kind
    if kind not in TOKENIZERS.values():
        raise UserError(f"tokenizer must be one of {', '.join(map(repr, TOKENIZERS.values()))}, "
                        f"got {shown_name(kind)}")
    return TokenizerChoice(kind) if corpus_choice == UPLOAD else TokenizerChoice()


def read_corpus(path: Path | None, family: str, columns: dict[str, str] | None = None):
    """The training corpus (rows counted before parsing), or a UserError naming what is wrong with the upload."""
    paired = get_family(family).paired
    if path is None:
        return load_builtin(paired=paired)
    try:
        corpus = load_corpus(str(path), paired=paired, max_rows=MAX_ROWS, **(columns or {}))
    except ValueError as e:  # not UTF-8, missing columns, a .txt for seq2seq: the loader's own words
        raise UserError(str(e).replace(str(path), path.name)) from None
    if corpus.rows < MIN_ROWS:
        raise UserError(f"{path.name} has {corpus.rows} usable row{'s' * (corpus.rows != 1)}; the Train tab needs at "
                        f"least {MIN_ROWS}")
    return corpus


def fit_to_tab(fitted, tokenizer, corpus, name: str):
    """The model config the tab trains: the length fitted to the data, capped at MAX_LEN; rows longer than it are
    skipped by `train` and counted. A seq2seq model keeps its fitted source length (`train` fits it again from the
    data) as long as MIN_TARGET target positions remain; sources longer than that are a UserError naming the
    longest."""
    if fitted.seq_len <= MAX_LEN:
        return fitted
    if fitted.source_len and MAX_LEN - 1 - fitted.source_len < MIN_TARGET:
        lengths = tokenizer.lengths([source_words(s) for s in corpus.sources["train"]])
        tokens, line = max(zip(lengths, corpus.lines["train"]))
        raise UserError(f"the sources of {name} need {fitted.source_len} tokens ({LENGTH_QUANTILE:.0%} of them fit; "
                        f"the longest, line {line}, has {tokens}), which leaves a target fewer than {MIN_TARGET} of "
                        f"the {MAX_LEN} tokens the Train tab trains on: shorten the sources, or train with "
                        f"`python -m diffusion train`")
    return replace(fitted, seq_len=MAX_LEN)


def lengths_note(config, tokenizer, corpus, name: str) -> str:
    """The status line's note on the training rows skipped as too long ("" when none); a UserError naming the longest
    row when none is left."""
    report = length_report(config, tokenizer, corpus)
    if not report["train_rows"]:
        worst = report["longest_skipped"]
        raise UserError(f"no training row of {name} fits the model's length of {config.seq_len} tokens, the most the "
                        f"Train tab trains on: all {report['skipped_rows']} are longer (the longest: line "
                        f"{worst['line']}, {worst['tokens']} tokens); split long lines, or train with "
                        f"`python -m diffusion train`")
    return skipped_note(report)

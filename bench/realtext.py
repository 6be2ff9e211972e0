"""The lab on free-form English: the checkpoints trained by the CLI on the shipped paired corpus
(`assets/corpora/stays.csv`), each scored by `evaluate` on the corpus's own held-out rows.

    python -m bench realtext [--num-samples 100] [--json]   # writes bench/results/realtext-<date>-<machine>.json

Per family: the held-out NLL (bits per token, word and character), sample quality (the stated well-formedness rule
and distinct-2); for seq2seq BLEU and chrF against every reference of each held-out source, beside the
copy-the-nearest-source baseline that `evaluate` computes on the same sources.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from typing import Any

from diffusion import checkpoint, shipped
from diffusion.evaluate import evaluate

from .common import machine, report

KEPT = ("family", "tokenizer", "steps", "num_samples", "nll_bits_per_token", "nll_bits_per_word", "nll_bits_per_char",
        "nll_note", "nll_standard_error_bits_per_token", "nll_num_sequences", "nll_skipped_too_long", "nll_method",
        "unknown_token_rate", "well_formed_rate", "distinct_2",
        "mean_length", "corpus_mean_length", "bleu", "chrf", "baseline_bleu", "baseline_chrf",
        "references_per_source", "sources_truncated", "mbr_candidates", "sample_seconds_per_sequence", "examples")


def run(num_samples: int, log) -> list[dict[str, Any]]:
    """Every real-text checkpoint through `evaluate`, with its training record."""
    rows = []
    for name, entry in shipped.REAL_TEXT.items():
        ck = checkpoint.load(entry.folder)
        log(f"{name}: evaluating")
        start = time.perf_counter()
        result = evaluate(ck, num_samples)
        rows.append({"name": name, **{k: result[k] for k in KEPT if k in result},
                     "well_formed_rule": result.get("well_formed_rule"), "nll_units": result.get("nll_units"),
                     "baseline": result.get("baseline"), "command": ck.meta["command"],
                     "train_steps": ck.meta["steps"], "train_minutes": round(ck.meta["seconds"] / 60, 1),
                     "lengths": ck.meta.get("lengths"), "vocab_size": ck.tokenizer.vocab_size,
                     "evaluate_seconds": round(time.perf_counter() - start, 1)})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench realtext", description=__doc__.split("\n\n")[0])
    p.add_argument("--num-samples", type=int, default=100, help="samples (seq2seq: held-out sources) per checkpoint")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    p.add_argument("--no-write", action="store_true", help="do not write bench/results/")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if args.num_samples <= 0:
        print("error: --num-samples must be a positive whole number", file=sys.stderr)
        return 1
    start = time.perf_counter()
    result = {"date": datetime.date.today().isoformat(), "machine": machine(),
              "command": "python -m bench realtext" + (f" --num-samples {args.num_samples}"
                                                        if args.num_samples != 100 else ""),
              "corpus": str(shipped.REAL_TEXT_CORPUS.relative_to(shipped.ROOT.parents[1])),
              "checkpoints": run(args.num_samples, lambda s: print(s, file=sys.stderr))}
    result["seconds"] = round(time.perf_counter() - start, 1)
    report(result, "realtext-", not args.no_write, args.json)
    return 0

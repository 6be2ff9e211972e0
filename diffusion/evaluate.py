"""The evaluation pipeline: a checkpoint's samples and its held-out NLL, scored on its own corpus (read again, its
bytes checked), for `python -m diffusion evaluate`, the benchmarks and the app's recorded figures."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from .checkpoint import Checkpoint
from .continuous import ContinuousProcess
from .corpus import entropy, is_grammatical, load_corpus, parse_mr, realised_slots
from .corpus.loaders import Corpus
from .families import ordered
from .metrics import (WELL_FORMED_RULE, bleu_matrix, control_figures, corpus_bleu, corpus_chrf, distinct_n,
                      grammatical_rate, mbr_pick, mean_length, mistake_shares, nearest_source_outputs, nll_by_budget,
                      nll_by_order, nll_figures, realises, recorded_settings, reference_streams, self_bleu,
                      unknown_rate, well_formed_rate)
from .sampling import sample
from .rows import fitting_rows


def corpus_of(ck: Checkpoint, path: str | None = None) -> Corpus:
    """The corpus a checkpoint trained on, read again with the same columns and split: from `path` when given (the
    same file moved), else from the name meta.json records. A file whose bytes differ from the one trained on is
    refused, since its held-out rows would not be held out."""
    name = ck.meta.get("corpus", "builtin")
    paired = bool(ck.config.source_len)
    if name == "builtin" and path is None:
        return load_corpus("builtin", paired=paired)
    columns = ck.meta.get("columns") or []
    text, source, target = (None, *columns) if paired and len(columns) == 2 else (
        (columns[0] if columns else None), None, None)
    spec = path or name
    if not spec.startswith("hf:") and not Path(spec).is_file():
        raise ValueError(f"this checkpoint was trained on {name!r}, which is not a file from here; give --corpus "
                         "with the path of that file")
    corpus = load_corpus(spec, text, source, target, paired=paired)
    recorded = ck.meta.get("corpus_sha256")
    if recorded and corpus.sha256 != recorded:
        raise ValueError(f"{spec!r} is not the file this checkpoint trained on (its SHA-256 differs from the one in "
                         "meta.json), so its held-out rows would not be held out; give the file it trained on")
    return corpus


def held_out(ck: Checkpoint, corpus: Corpus, split: str, limit: int) -> tuple[list[str], int]:
    """Up to `limit` texts of a split that fit the model's length, and how many of those considered did not."""
    if corpus.builtin:
        return list(corpus.split(split)[:limit]), 0
    keep, over = fitting_rows(ck.config, ck.tokenizer, corpus, split)
    texts = [corpus.split(split)[i] for i in keep]
    return texts[:limit], len(over)


def _bar(total: int, what: str, progress: bool):
    """A progress bar on stderr (none when `progress` is off)."""
    return tqdm(total=total, desc=what, unit="seq", file=sys.stderr, disable=not progress, dynamic_ncols=True,
                leave=False)


def evaluate(ck: Checkpoint, num_samples: int, steps: int | None = None, seed: int = 0, nll_sequences: int = 256,
             batch_size: int = 100, candidates: int = 5, nll_split: str = "test", corpus: Corpus | None = None,
             progress: bool = False) -> dict[str, Any]:
    """Sample, score, and bound the held-out NLL on the corpus's own `nll_split` (default test); one flat dict of
    figures (steps: the family's default). "train" instead bounds the NLL on training rows: the gap to "test" is what
    the model memorised. A seq2seq checkpoint is scored on held-out sources instead (`evaluate_seq2seq`)."""
    steps = ck.process.default_steps if steps is None else steps
    if num_samples <= 0:
        raise ValueError(f"number of samples must be a positive integer, got {num_samples}")
    corpus = corpus_of(ck) if corpus is None else corpus
    if ck.config.source_len:
        return evaluate_seq2seq(ck, num_samples, steps, seed, candidates, batch_size, corpus, nll_split, progress)
    gen = torch.Generator().manual_seed(seed)
    texts: list[str] = []
    rows: list[torch.Tensor] = []
    start = time.perf_counter()
    with _bar(num_samples, f"sampling ({steps} steps)", progress) as bar:
        for b in range(0, num_samples, batch_size):
            traj = sample(ck.process, ck.model, min(batch_size, num_samples - b), steps, generator=gen, every=steps)
            texts += [ck.tokenizer.decode(row) for row in traj.final.tokens]
            rows.append(traj.final.tokens)
            bar.update(traj.final.tokens.shape[0])
    seconds = time.perf_counter() - start
    builtin = corpus.builtin
    texts_held, skipped = held_out(ck, corpus, nll_split, nll_sequences)
    ent = entropy() if builtin and ck.config.level == "word" else None
    with _bar(len(texts_held), "held-out NLL", progress) as bar:
        nll = nll_figures(ck, texts_held, seed, bar)
    result = {
        "family": ck.config.family,
        "steps": steps,
        "num_samples": num_samples,
        "corpus": corpus.name,
        "tokenizer": ck.tokenizer.kind,
        "grammatical_rate": grammatical_rate(texts) if builtin else None,
        "mistakes": mistake_shares(texts) if builtin else None,
        "well_formed_rate": None if builtin else well_formed_rate(texts),
        "well_formed_rule": None if builtin else WELL_FORMED_RULE,
        "distinct_2": distinct_n(texts, 2, ck.config.level),
        "mean_length": mean_length(texts, ck.config.level),
        "corpus_mean_length": mean_length(list(corpus.test), ck.config.level),
        **nll,
        "nll_num_sequences": len(texts_held),
        "unknown_token_rate": unknown_rate(ck.tokenizer, texts_held),
        "nll_skipped_too_long": skipped,
        "nll_split": nll_split,
        "nll_method": ck.process.nll_method,
        "entropy_bits_per_token": ent.bits_per_token if ent else None,
        "sample_seconds_per_sequence": seconds / num_samples,
        **recorded_settings(ck.process),
        "examples": texts[:5],
    }
    if ordered(ck.process) is not None and texts_held:  # ARDM, and absorbing SEDD read as one
        result["nll_by_budget"] = nll_by_budget(ck, texts_held, seed)
        result["nll_by_order"] = nll_by_order(ck, texts_held)
    control = ck.process.control if isinstance(ck.process, ContinuousProcess) else None
    if control is not None:
        result.update(control_figures(control, texts, torch.cat(rows), ck.tokenizer.pad_id))
    return result


def evaluate_seq2seq(ck: Checkpoint, num_sources: int, steps: int, seed: int = 0, candidates: int = 5,
                     batch_size: int = 100, corpus: Corpus | None = None, split: str = "test",
                     progress: bool = False) -> dict[str, Any]:
    """DiffuSeq's evaluation: for each of `num_sources` held-out sources (every distinct source of the split, with
    all its references) draw `candidates` targets, keep the MBR pick, and score the picks against the references
    (BLEU and chrF, sacrebleu), beside the copy-the-nearest-source baseline on the same sources; on the built-in
    corpus also against the MR (slot accuracy) and the grammar."""
    from .seq2seq import decode_targets, encode_sources, too_long

    if candidates <= 0:
        raise ValueError(f"candidates must be a positive integer, got {candidates}")
    corpus = corpus_of(ck) if corpus is None else corpus
    groups = corpus.references(split)[:num_sources]
    sources, references = [s for s, _ in groups], [r for _, r in groups]
    gen = torch.Generator().manual_seed(seed)
    per_batch = max(1, batch_size // candidates)  # sources per sampling batch
    picks: list[str] = []
    self_bleus: list[float] = []
    start = time.perf_counter()
    with _bar(len(sources), f"sampling {candidates} candidates a source ({steps} steps)", progress) as bar:
        for b in range(0, len(sources), per_batch):
            chunk = sources[b:b + per_batch]
            rows = encode_sources(ck.tokenizer, ck.config, chunk, truncate=True).repeat_interleave(candidates, 0)
            traj = sample(ck.process.configure(source=rows), ck.model, rows.shape[0], steps, generator=gen,
                          every=steps)
            texts = decode_targets(ck.tokenizer, ck.config, traj.final.tokens)
            for j in range(len(chunk)):
                cands = texts[j * candidates:(j + 1) * candidates]
                picks.append(cands[mbr_pick(bleu_matrix(cands))])
                self_bleus.append(self_bleu(cands))
            bar.update(len(chunk))
    seconds = time.perf_counter() - start
    streams = reference_streams(references)
    baseline = nearest_source_outputs(list(corpus.sources["train"]), list(corpus.train), sources)
    result: dict[str, Any] = {
        "family": ck.config.family,
        "steps": steps,
        "num_samples": len(sources),
        "corpus": corpus.name,
        "tokenizer": ck.tokenizer.kind,
        "split": split,
        "references_per_source": sum(map(len, references)) / max(1, len(references)),
        "sources_truncated": too_long(ck.tokenizer, ck.config, sources),
        "mbr_candidates": candidates,
        "bleu": corpus_bleu(picks, streams),
        "chrf": corpus_chrf(picks, streams),
        "baseline": "copy the target of the training source sharing the most words, its MR values swapped in",
        "baseline_bleu": corpus_bleu(baseline, streams),
        "baseline_chrf": corpus_chrf(baseline, streams),
    }
    if corpus.builtin:
        mrs = [parse_mr(s) for s in sources]
        result.update(slot_accuracy=sum(realised_slots(p, mr) for p, mr in zip(picks, mrs)) / sum(map(len, mrs)),
                      grammatical_rate=grammatical_rate(picks), mistakes=mistake_shares(picks))
    else:
        result.update(well_formed_rate=well_formed_rate(picks), well_formed_rule=WELL_FORMED_RULE)
    result.update({
        "self_bleu": sum(self_bleus) / len(self_bleus),
        "distinct_2": distinct_n(picks, 2, ck.config.level),
        "mean_length": mean_length(picks, ck.config.level),
        "corpus_mean_length": mean_length([r for refs in references for r in refs], ck.config.level),
        "nll_bits_per_token": None,
        "nll_note": f"the {ck.config.family} family reports no likelihood (its figures: BLEU and chrF)",
        "sample_seconds_per_sequence": seconds / (len(sources) * candidates),
        **recorded_settings(ck.process),
        "examples": [f"{s} -> {p}" for s, p in zip(sources[:5], picks[:5])],
    })
    return result


def evaluate_seeds(ck: Checkpoint, seeds: int, num_samples: int, steps: int | None = None,
                   source: str | None = None) -> dict[str, Any]:
    """The draw a tab makes with each seed s = 0..seeds-1 (a generator seeded with s, `num_samples` sequences drawn
    together), scored per seed: how many samples the grammar accepts, for a controlled run how many of them also
    realise the targets, for seq2seq (`num_samples` candidates for `source`, default the tab's MR) whether the MBR
    pick is a sentence of the grammar. "samples" holds each seed's texts (not recorded)."""
    from .corpus import MR_EXAMPLE
    from .seq2seq import candidates_steps, check_source, decode_targets

    steps = ck.process.default_steps if steps is None else steps
    if not isinstance(seeds, int) or seeds <= 0:
        raise ValueError(f"seeds must be a positive whole number, got {seeds!r}")
    if ck.meta.get("corpus", "builtin") != "builtin":
        raise ValueError(f"--seeds scores samples with the built-in grammar; this checkpoint was trained on "
                         f"{ck.meta.get('corpus')!r}")
    paired = bool(ck.config.source_len)
    if paired:
        source = check_source(ck.tokenizer, ck.config, MR_EXAMPLE if source is None else source, True)
    elif source is not None:
        raise ValueError(f"a source applies to the seq2seq family only; this checkpoint is {ck.config.family}")
    control = ck.process.control if isinstance(ck.process, ContinuousProcess) else None
    targets = control.guidance.targets if control is not None and control.guidance is not None else None
    per_seed: list[dict[str, Any]] = []
    samples: list[list[str]] = []
    for s in range(seeds):
        gen = torch.Generator().manual_seed(s)  # as every tab seeds its run
        if paired:
            last = list(candidates_steps(ck.process, ck.model, ck.tokenizer, source, num_samples, steps, gen,
                                         every=steps))[-1]
            texts = decode_targets(ck.tokenizer, ck.config, last.tokens)
        else:
            traj = sample(ck.process, ck.model, num_samples, steps, generator=gen, every=steps)
            texts = [ck.tokenizer.decode(row) for row in traj.final.tokens]
        good = [is_grammatical(t) for t in texts]
        row: dict[str, Any] = {"seed": s, "grammatical": sum(good)}
        if targets is not None:
            row["on_target"] = sum(g and realises(t, targets) for g, t in zip(good, texts))
        if paired:
            row["pick_grammatical"] = good[mbr_pick(bleu_matrix(texts))]
        per_seed.append(row)
        samples.append(texts)
    result: dict[str, Any] = {
        "family": ck.config.family,
        "steps": steps,
        "num_samples": num_samples,
        "seeds": seeds,
        **recorded_settings(ck.process),
        "all_grammatical": sum(r["grammatical"] == num_samples for r in per_seed),
        "grammatical_samples": sum(r["grammatical"] for r in per_seed),
    }
    if control is not None:
        result["control"] = control.describe()
    if targets is not None:
        result["all_on_target"] = sum(r["on_target"] == num_samples for r in per_seed)
        result["any_on_target"] = sum(r["on_target"] > 0 for r in per_seed)
    if paired:
        result.update(source=source, mbr_candidates=num_samples,
                      pick_grammatical=sum(r["pick_grammatical"] for r in per_seed))
    result.update(per_seed=per_seed, samples=samples)
    return result

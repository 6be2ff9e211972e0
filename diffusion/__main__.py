"""Command line: python -m diffusion {train,train-classifier,sample,evaluate}."""

from __future__ import annotations

import argparse
import itertools
import json
import math
import shlex
import sys
from dataclasses import replace
from pathlib import Path

import torch

from .plan import ORDERS
from .config import GRAPHS, PARAMETERISATIONS, PRECISIONS, PRESETS, preset
from .corpus.tokenizer import BPE_VOCAB, KINDS, NORMALISE
from .families import FAMILIES, configure, get_family, sampler_settings
from .settings import BY_SEED, FLAGS, seeds_key
from .limits import MAX_BATCH, MAX_DRAWN, MAX_SAMPLE_STEPS, MAX_SEED, MAX_SEQ_LEN


def _number(kind: type, low: float, high: float, low_open: bool = False):
    """An argparse type: a finite number of `kind` in [low, high] ((low, high] with `low_open`), with an error naming
    what is accepted; NaN and infinity are refused by name, before any work starts."""
    what, fmt = ("a whole number", ",") if kind is int else ("a number", "g")
    accepted = (f"{what} {'above' if low_open else 'from'} {low:{fmt}} {'and at most' if low_open else 'to'} "
                f"{high:{fmt}}")

    def parse(s: str):
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {accepted}, got {s!r}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"expected {accepted}, got {s!r} (NaN and infinity are refused)")
        if v > high or v < low or (low_open and v == low):
            raise argparse.ArgumentTypeError(f"expected {accepted}, got {s}")
        return v

    return parse


_seed = _number(int, 0, MAX_SEED)
MAX_SEEDS = 1000  # evaluate --seeds: one draw per seed
_fraction = _number(float, 0, 1)
_minutes = _number(float, 0, 7 * 24 * 60, low_open=True)  # at most a week


def _add_sampler_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=_number(int, 1, MAX_SAMPLE_STEPS),
                   help="reverse steps (ardm: the step budget); default: the family's "
                   "own (continuous 200, ar and ardm one per position)")
    p.add_argument("--sampler", choices=("ddpm", "ddim", "euler", "tweedie", "any-order"),
                   help="reverse update: continuous ddpm (default) or ddim; sedd tweedie (default), euler, or "
                   "any-order (absorbing: the network read as an autoregressive model, one word a step, in --order)")
    p.add_argument("--clamp-from", type=_fraction,
                   help="continuous families: the clamping trick at every step that starts at a time t <= this "
                   "(default 1 = every step; 0 = never)")
    p.add_argument("--noise-scale", type=_fraction, help="continuous families, DDPM: scale of each step's fresh noise, "
                   "from 0 to 1 (default 1 = the posterior's own; lower is more fluent and less varied)")
    p.add_argument("--remask", type=_fraction, help="sedd, absorbing graph, tweedie: ReMDM's eta, the most a step may "
                   "mask a written word again, from 0 to 1 (default 0 = never)")
    p.add_argument("--temperature", type=_number(float, 0, 100),
                   help="ar and ardm: sampling temperature (default 1.0; 0 = greedy)")
    p.add_argument("--order", choices=ORDERS,
                   help="ardm, and sedd's any-order sampler: which positions each step writes: the next of a random "
                   "order (default; draws exactly from the model), of one fixed order (also exact), or the masked "
                   "ones the model is surest of")
    c = p.add_argument_group("control (continuous family; Li et al. 2022 Sec. 5)")
    c.add_argument("--control", action="append", metavar="SLOT=VALUE",
                   help="classifier guidance towards a slot value, e.g. food=italian (repeat for several); needs "
                        "the classifier from train-classifier")
    c.add_argument("--infill", metavar="TEMPLATE", help="fill the blanks of a template, one ___ per word, e.g. "
                   "\"zizzi is a ___ ___ in the city centre .\" (blanks only: a sentence of exactly that many words)")
    c.add_argument("--guidance-weight", type=_number(float, 0, 1e6),
                   help="with --control, lambda: the weight of fluency against control (default 0.01)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m diffusion", description="Train, sample and evaluate text diffusion models.")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model (resumes when --out already holds a checkpoint)")
    t.add_argument("--family", required=True, choices=sorted(FAMILIES))
    t.add_argument("--corpus", default="builtin", help="builtin, a .txt (one sequence per line) or .csv file (read "
                   "whole), or streamed as it trains: a .jsonl or .parquet file, or hf:NAME (a Hugging Face dataset)")
    t.add_argument("--out", required=True, help="run folder: the checkpoint and TensorBoard logs go here")
    t.add_argument("--minutes", type=_minutes, help="wall-clock budget")
    t.add_argument("--steps", type=_number(int, 1, 10**9), help="optimiser-step budget (total, across resumes)")
    t.add_argument("--preset", default="small", choices=sorted(PRESETS),
                   help="model and optimiser size: tiny (seconds, tests), small (the shipped checkpoints), base (BERT-base's "
                   "size, the papers' scale: for GPUs)")
    t.add_argument("--seed", type=_seed, default=0)
    t.add_argument("--seq-len", type=_number(int, 2, MAX_SEQ_LEN),
                   help="model length (default: from the data, the length that holds 99%% of the training rows; "
                   "longer rows are skipped and counted)")
    t.add_argument("--columns", metavar="TEXT | SOURCE,TARGET",
                   help="CSV or dataset columns to read: the text's (default text), or for seq2seq the source's "
                   "and the target's (default source,target)")
    t.add_argument("--batch-size", type=_number(int, 1, MAX_BATCH),
                   help="sequences per optimiser step (default: the preset's)")
    t.add_argument("--device", default="auto", help="where the training steps run: auto (default: a CUDA GPU when "
                   "torch sees one, else the CPU), cpu, cuda or cuda:N; the checkpoint samples on the CPU either way. "
                   "Under torchrun each process takes its local rank's GPU")
    t.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="bf16: the loss under bfloat16 autocast, on CUDA GPUs that have it (weights stay fp32); the "
                   "CPU trains in fp32")
    t.add_argument("--parameterisation", choices=PARAMETERISATIONS,
                   help="continuous families: the network predicts x0 (default) or the noise eps")
    t.add_argument("--graph", choices=GRAPHS, help="sedd: the forward chain, absorb (default; to [MASK]) or uniform "
                   "(to any word; with SEDD's geometric noise)")
    k_ = t.add_argument_group("tokenizer (trained on the corpus, saved in the checkpoint)")
    k_.add_argument("--tokenizer", choices=KINDS, help="word: words, numbers and punctuation apart, words seen once "
                    f"read as [UNK] (default for a file); bpe: byte-level BPE of {BPE_VOCAB} tokens, an unseen name "
                    "spelled in pieces; char; "
                    "whitespace: split at spaces only (default for builtin)")
    k_.add_argument("--normalise", choices=NORMALISE, default="nfkc",
                    help="word and bpe: Unicode NFKC (default), NFKC and lower case, or none")

    k = sub.add_parser("train-classifier", help="train the slot classifier on noisy latents that --control uses, "
                       "saved into the checkpoint folder")
    k.add_argument("--checkpoint", required=True, help="a continuous checkpoint trained on the built-in corpus")
    k.add_argument("--minutes", type=_minutes, help="wall-clock budget (default 3 when no --steps)")
    k.add_argument("--steps", type=_number(int, 1, 10**9), help="optimiser-step budget")

    s = sub.add_parser("sample", help="print samples from a checkpoint, one a line")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--num-samples", type=_number(int, 1, MAX_DRAWN), default=8,
                   help="sequences to draw (seq2seq: candidate targets for --source)")
    s.add_argument("--seed", type=_seed, default=0)
    s.add_argument("--source", help="seq2seq: the source to condition on, e.g. \"name [zizzi] food [french]\"; "
                   "the samples are then candidate targets for it, and MBR picks one")
    s.add_argument("--source-file", help="seq2seq: a text file of sources, one a line; prints (or writes) one "
                   "output a line, the MBR pick of --num-samples candidates for each")
    s.add_argument("--output", help="write the samples (or outputs) to this file, one a line, instead of stdout")
    s.add_argument("--json", action="store_true", help="print one JSON object instead of lines of text")
    _add_sampler_options(s)

    e = sub.add_parser("evaluate", help="sample and score a checkpoint: one JSON object on stdout")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--num-samples", type=_number(int, 1, MAX_DRAWN),
                   help="samples to score (default 100; seq2seq: test sources); with --seeds, samples per seed "
                   "(default 1; seq2seq: candidates)")
    e.add_argument("--seed", type=_seed, default=0)
    e.add_argument("--seeds", type=_number(int, 1, MAX_SEEDS), metavar="N",
                   help="instead: draw as the app's tabs do once per seed 0..N-1 (--num-samples together, seq2seq "
                   "the candidates for the Seq2seq tab's MR) and count per seed the samples the grammar accepts "
                   "(with --control: and that say the value; seq2seq: whether the MBR pick is grammatical); "
                   f"--record stores them under meta.json's {BY_SEED!r}")
    e.add_argument("--record", action="store_true", help="also store the figures in the checkpoint's meta.json")
    e.add_argument("--corpus", help="the file the checkpoint trained on, when the path meta.json records is not "
                   "found from here (its bytes are checked against the recorded SHA-256)")
    e.add_argument("--split", choices=("test", "validation", "train"), default="test",
                   help="the corpus's split to score: the held-out NLL and the seq2seq sources (default test; train "
                   "measures what the model memorised)")
    _add_sampler_options(e)

    return parser


def _configure(ck, args):
    """Apply the sampler options given; one that the checkpoint's family does not have is an error."""
    accepted = set(sampler_settings(ck.process))
    given = {k: getattr(args, k) for k in FLAGS if getattr(args, k) is not None}
    for k in given:
        if k not in accepted:
            options = ", ".join(flag for name, flag in FLAGS.items() if name in accepted) or "none"
            raise ValueError(f"{FLAGS[k]} does not apply to the {ck.config.family} family "
                             f"(its sampler options: {options})")
    if given.get("clamp_from") == 0:  # clamping at no step: the trick off
        given["clamp"] = False
    ck.process = configure(ck.process, **given)
    _configure_control(ck, args)
    paired = get_family(ck.config.family).paired
    if getattr(args, "source", None) is not None and not paired:
        raise ValueError(f"--source applies to the seq2seq family only; this checkpoint is {ck.config.family}")
    return ck


def _configure_control(ck, args) -> None:
    """Build the Control that --control / --infill ask for and put it on the process."""
    wanted = [f for f, v in (("--control", args.control), ("--infill", args.infill)) if v is not None]
    if not wanted:
        if args.guidance_weight is not None:
            raise ValueError("--guidance-weight weighs the guidance of --control; give --control too")
        return
    if ck.config.family != "continuous":
        raise ValueError(f"{wanted[0]} applies to the continuous family only; this checkpoint is {ck.config.family}")
    from .classifier import load_classifier
    from .control import Control, Guidance, infill_anchor, parse_targets

    anchor = None if args.infill is None else infill_anchor(ck.tokenizer, args.infill, ck.config.seq_len)
    guidance = None
    if args.control is not None:
        classifier, _ = load_classifier(ck.path)
        weight = {} if args.guidance_weight is None else {"weight": args.guidance_weight}
        guidance = Guidance(classifier, parse_targets(args.control, classifier.config.slots), **weight)
    elif args.guidance_weight is not None:
        raise ValueError("--guidance-weight weighs the guidance of --control; give --control too")
    ck.process = ck.process.configure(control=Control(anchor, guidance))


def cmd_train_classifier(args: argparse.Namespace) -> None:
    from . import checkpoint
    from .classifier import CONFIG
    from .classifier_training import train_classifier

    ck = checkpoint.load(args.checkpoint)
    minutes = 3.0 if args.minutes is None and args.steps is None else args.minutes
    command = "python -m diffusion " + " ".join(shlex.quote(a) for a in args.argv)
    logs = train_classifier(ck, minutes=minutes, steps=args.steps, command=command)
    bar, by_time = _progress(argparse.Namespace(steps=args.steps, minutes=minutes))  # the classifier's own clock
    with bar:
        for log in logs:
            bar.update(min(bar.total, round(log.seconds) if by_time else log.step) - bar.n)
            if log.loss == log.loss:  # the last log carries no loss (NaN)
                bar.set_postfix(step=log.step, loss=f"{log.loss:.3f}")
    meta = json.loads((ck.path / CONFIG).read_text())["meta"]
    accuracy = ", ".join(f"t={t}: {a:.2f}" for t, a in meta["accuracy_by_t"].items())
    print(f"trained the classifier {meta['steps']} steps in {meta['seconds'] / 60:.1f} min; slot accuracy on "
          f"held-out sentences by noise level: {accuracy}; saved in {ck.path / CONFIG}")


def _progress(args: argparse.Namespace):
    """The training bar on stderr: over steps when --steps is the budget (a total across resumes), else over this
    run's --minutes in seconds, so it has a total and an ETA either way."""
    from tqdm import tqdm

    if args.steps is not None:
        return tqdm(total=args.steps, unit="step", dynamic_ncols=True, file=sys.stderr), False
    return tqdm(total=round(args.minutes * 60), unit="s", dynamic_ncols=True, file=sys.stderr,
                bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}{postfix}]"), True


def cmd_train(args: argparse.Namespace) -> None:
    """One process, or one of a torchrun job's (each runs this same command): joins the job's process group first."""
    from . import distributed
    from .training import resolve_device

    ranks = distributed.from_environment()
    if ranks.world == 1:
        return _train(args, ranks)
    distributed.start(ranks, resolve_device(args.device, ranks))
    _train(args, ranks)
    distributed.end()  # after a failure the process exits instead: a group with a rank gone may not end cleanly


def _train(args: argparse.Namespace, ranks) -> None:
    from .corpus.loaders import load_corpus
    from .rows import TokenizerChoice, skipped_note
    from .training import train

    if args.minutes is None and args.steps is None:
        raise ValueError("give a budget: --minutes, --steps, or both")
    overrides = {k: v for k, v in dict(family=args.family, seq_len=args.seq_len,
                                       parameterisation=args.parameterisation, graph=args.graph).items()
                 if v is not None}
    if args.tokenizer == "char":
        overrides["level"] = "char"
    model_config, train_config = preset(args.preset, **overrides)
    train_config = replace(train_config, seed=args.seed, minutes=args.minutes, steps=args.steps, device=args.device,
                           precision=args.precision,
                           **({} if args.batch_size is None else {"batch_size": args.batch_size}))
    paired = get_family(args.family).paired
    columns = [None, None, None]  # text, source, target
    if args.columns is not None:
        names = [c.strip() for c in args.columns.split(",")]
        if len(names) != (2 if paired else 1) or not all(names):
            raise ValueError(f"--columns takes {'SOURCE,TARGET (two names)' if paired else 'one column name'} for "
                             f"the {args.family} family, got {args.columns!r}")
        columns = [None, *names] if paired else [names[0], None, None]
    corpus = load_corpus(args.corpus, *columns, paired=paired)
    command = "python -m diffusion " + " ".join(shlex.quote(a) for a in args.argv)
    choice = TokenizerChoice(args.tokenizer, args.normalise)
    from . import checkpoint
    from .files import read_json

    before = read_json(Path(args.out) / "meta.json")["seconds"] if checkpoint.has_checkpoint(args.out) else 0.0
    logs = train(model_config, train_config, corpus, args.out, command, seq_len_given=args.seq_len is not None,
                 tokenizer_choice=choice)
    last = next(logs)  # bad input surfaces here, before a progress bar is drawn
    if not ranks.main:  # rank 0 reports and draws the bar; the others train
        for _ in logs:
            pass
        return
    if before:
        print(f"resuming {args.out}, trained {before / 60:.1f} min so far", file=sys.stderr)
    bar, by_time = _progress(args)
    with bar:
        for log in itertools.chain([last], logs):
            if log.phase == "calibrating":
                bar.set_description("calibrating on held-out sentences")
            bar.update(min(bar.total, round(log.seconds - before) if by_time else log.step) - bar.n)
            bar.set_postfix(step=log.step, loss=f"{log.loss:.3f}")
            last = log
    if args.family in ("continuous", "seq2seq"):  # the Embeddings tab's map, cached
        from .projection import save_projection

        ck = checkpoint.load(args.out)
        save_projection(args.out, ck.model.embedding.weight.detach(), seed=args.seed)
    meta = checkpoint.load(args.out).meta
    lengths, tok = meta.get("lengths", {}), meta.get("tokenizer", {})
    print(f"trained {last.step} steps in {last.seconds / 60:.1f} min"
          + (f", {ranks.world} processes data-parallel" if ranks.world > 1 else ""))
    if tok:
        print(f"tokenizer: {tok['kind']} ({tok['normalise']}), {tok['vocab_size']:,} tokens")
    if lengths:
        fit = (f"source {lengths['source_len']} + [SEP] + target {lengths['seq_len'] - lengths['source_len'] - 1}"
               if "source_len" in lengths else str(lengths["seq_len"]))
        print(f"model length: {fit} tokens (holds {lengths['quantile']:.0%} of the training rows; the longest has "
              f"{lengths['longest']})")
        if skipped_note(lengths):
            print(skipped_note(lengths))
    print(f"wrote the checkpoint to {args.out} (config.json, model.safetensors, tokenizer.json, meta.json) and "
          f"TensorBoard logs to {Path(args.out) / 'logs'}")


def _write_lines(path: str | None, lines: list[str]) -> None:
    """Lines to stdout, or to a file written whole (atomically); the CLI says where."""
    if path is None:
        print("\n".join(lines))
        return
    from .files import atomic_write_bytes

    atomic_write_bytes(Path(path), "".join(line + "\n" for line in lines).encode())
    print(f"wrote {len(lines)} line{'s' if len(lines) != 1 else ''} to {path}", file=sys.stderr)


def _steps_bar(steps: int, what: str):
    from tqdm import tqdm

    return tqdm(total=steps, desc=what, unit="step", file=sys.stderr, dynamic_ncols=True, leave=False)


def _last_step(chain, steps: int, what: str):
    """The last Step of a reverse chain, with a progress bar on stderr as it runs."""
    last = None
    with _steps_bar(steps, what) as bar:
        for step in chain:
            bar.update(step.index - bar.n)
            last = step
    return last


def cmd_sample(args: argparse.Namespace) -> None:
    from . import checkpoint
    from .sampling import default_every, sample_steps

    ck = _configure(checkpoint.load(args.checkpoint), args)
    gen = torch.Generator().manual_seed(args.seed)
    steps = ck.process.default_steps if args.steps is None else args.steps
    if get_family(ck.config.family).paired:
        return _sample_seq2seq(ck, args, steps, gen)
    if args.source_file is not None:
        raise ValueError(f"--source-file applies to the seq2seq family only; this checkpoint is {ck.config.family}")
    chain = sample_steps(ck.process, ck.model, args.num_samples, steps, generator=gen, every=default_every(steps))
    last = _last_step(chain, steps, f"sampling {args.num_samples}")
    texts = [ck.tokenizer.decode(row) for row in last.tokens]
    if args.json:
        out = {"family": ck.config.family, "steps": steps, "seed": args.seed, "samples": texts}
        control = getattr(ck.process, "control", None)
        if control is not None:
            out["control"] = control.describe()
        _write_lines(args.output, [json.dumps(out)])
    else:
        _write_lines(args.output, texts)


def _sample_seq2seq(ck, args: argparse.Namespace, steps: int, gen: torch.Generator) -> None:
    """Candidate targets for one source (--num-samples of them), each on a line, and the one MBR picks; or, for a
    file of sources, the MBR pick of each, one a line."""
    from .metrics import bleu_matrix, mbr_pick
    from .sampling import default_every
    from .seq2seq import candidates_steps, check_source, decode_targets, source_notes

    if (args.source is None) == (args.source_file is None):
        raise ValueError("the seq2seq family needs one of --source (e.g. --source \"name [zizzi] food [french]\") "
                         "or --source-file (one source a line)")
    builtin = ck.meta.get("corpus") == "builtin"
    if args.source_file is not None:
        from .limits import MAX_DRAWN

        sources = [check_source(ck.tokenizer, ck.config, s, builtin)
                   for s in _source_lines(args.source_file, MAX_DRAWN)]
    else:
        sources = [check_source(ck.tokenizer, ck.config, args.source, builtin)]
    k = args.num_samples
    results = []
    for n, source in enumerate(sources, 1):
        for note in source_notes(ck.tokenizer, ck.config, source):
            print(f"note: source {n}: {note}", file=sys.stderr)
        chain = candidates_steps(ck.process, ck.model, ck.tokenizer, source, k, steps, gen, every=default_every(steps))
        last = _last_step(chain, steps, f"source {n} of {len(sources)}")
        texts = decode_targets(ck.tokenizer, ck.config, last.tokens)
        results.append((source, texts, mbr_pick(bleu_matrix(texts))))
    if args.json:
        _write_lines(args.output, [json.dumps({"family": ck.config.family, "steps": steps, "seed": args.seed,
                                               "source": s, "candidates": t, "mbr_pick": p, "output": t[p]})
                                   for s, t, p in results])
    elif args.source_file is not None or k == 1:
        _write_lines(args.output, [t[p] for _, t, p in results])
    else:
        _, texts, pick = results[0]
        _write_lines(args.output, [f"{'*' if i == pick else ' '} {i + 1}. {t}" for i, t in enumerate(texts)]
                     + [f"MBR pick: {texts[pick]}"])


def _source_lines(path: str, limit: int) -> list[str]:
    """The non-blank lines of a UTF-8 file of sources (at most `limit`, counted before it is parsed)."""
    from .corpus.loaders import read_lines

    lines = read_lines(Path(path), limit)
    if not lines:
        raise ValueError(f"{path} holds no source; give one a line")
    return lines


def cmd_evaluate(args: argparse.Namespace) -> None:
    from . import checkpoint
    from .evaluate import corpus_of, evaluate, evaluate_seeds

    ck = _configure(checkpoint.load(args.checkpoint), args)
    if args.seeds is not None:
        if args.seed:
            raise ValueError("--seeds draws with every seed from 0 to N-1; leave out --seed")
        result = evaluate_seeds(ck, args.seeds, 1 if args.num_samples is None else args.num_samples, args.steps)
        if args.record:
            _record_by_seed(args.checkpoint, result)
        print(json.dumps(result))
        return
    corpus = corpus_of(ck, args.corpus)
    result = evaluate(ck, 100 if args.num_samples is None else args.num_samples, args.steps, seed=args.seed,
                      nll_split=args.split, corpus=corpus, progress=True)
    if args.record:
        checkpoint.record_evaluation(args.checkpoint, result)
        print(f"recorded the figures in {Path(args.checkpoint) / 'meta.json'}", file=sys.stderr)
    print(json.dumps(result))


def _record_by_seed(path: str, result: dict) -> None:
    """Merge an evaluation over seeds into meta.json's BY_SEED (atomically), keyed by its settings; the samples
    themselves are not kept."""
    from pathlib import Path

    from .files import atomic_write_json, read_json

    meta = read_json(Path(path) / "meta.json")
    meta.setdefault(BY_SEED, {})[seeds_key(result)] = {k: v for k, v in result.items() if k != "samples"}
    atomic_write_json(Path(path) / "meta.json", meta)


COMMANDS = {"train": cmd_train, "train-classifier": cmd_train_classifier,
            "sample": cmd_sample, "evaluate": cmd_evaluate}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded in meta.json as the command that made a checkpoint
    if args.command == "train":
        return _in_job(args)
    return _run(args)


def _run(args: argparse.Namespace, ranks=None) -> int:
    """Run a command; its errors as one line on stderr and exit status 1. In a job of several processes a rank's own
    problem is reported by that rank, the run's (the same on every rank) by rank 0 alone."""
    from .distributed import RankError

    speaks = ranks is None or ranks.main
    try:
        COMMANDS[args.command](args)
    except RankError as e:
        print(f"error: {ranks.describe() + ': ' if ranks is not None else ''}{e}", file=sys.stderr)
        return 1
    except ValueError as e:
        if speaks:
            print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a disk that fills or turns read-only mid-run, a folder removed under it
        where = f" {e.filename}" if e.filename else ""
        print(f"error: cannot read or write{where}: {e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: the last checkpoint written is complete", file=sys.stderr)
        return 130
    return 0


def _stop_job(ranks, out: str) -> None:
    """Another process of the job has ended: rank 0 says so in one line, naming the checkpoint left."""
    from . import checkpoint, distributed
    from .files import read_json

    message = None
    if ranks.main:
        kept = (f"the last complete checkpoint in {out} is kept (step {read_json(Path(out) / 'meta.json')['steps']})"
                if checkpoint.has_checkpoint(out) else f"no checkpoint was written to {out}")
        # on a line of its own: the progress bar may be mid-line
        message = f"\nerror: another process of this {ranks.world}-process job ended, so the job stopped; {kept}"
    distributed.end_process(message)


def _in_job(args: argparse.Namespace) -> int:
    """`train`, alone or as one process of a torchrun job. When another process of the job ends (killed, out of
    memory), the collectives fail or torchrun stops the others: rank 0 says so in one line (`_stop_job`)."""
    from . import distributed

    try:
        ranks = distributed.from_environment()
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if ranks.world == 1:
        return _run(args)
    distributed.watch_for_stop(lambda: _stop_job(ranks, args.out))
    try:
        return _run(args, ranks)
    except torch.cuda.OutOfMemoryError:
        distributed.end_process(f"error: {ranks.describe()}: the GPU ran out of memory; give a smaller --batch-size "
                                "(each process takes its share of it) or --precision bf16")
    except RuntimeError as e:
        if not distributed.peer_failure(e):
            raise
        _stop_job(ranks, args.out)
    return 1


if __name__ == "__main__":
    sys.exit(main())

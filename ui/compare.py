"""The Compare tab: every family on the same seed and step budget, side by side, beside their recorded figures."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import torch

from diffusion import settings, shipped
from diffusion.config import ModelConfig
from diffusion.corpus import MR_EXAMPLE, entropy
from diffusion.corpus.mistakes import KINDS
from diffusion.corpus.validator import validate
from diffusion.families import FAMILIES
from diffusion.limits import MAX_SOURCE_CHARS
from diffusion.metrics import recorded_settings
from diffusion.sampling import sample_steps
from diffusion.seq2seq import candidates_steps, check_source, decode_targets
from visualize.compare import (cards_html, nll_kind, quality_speed_figure, records_table_html, result_card,
                                scaling_figure, summary_table_html)
from visualize.mistakes import mistake_profile_figure

from .cache import RUNS, cached
from .common import CHECKPOINTS, MAX_SEED, checkpoint_path, explain, model_radio, pick_checkpoint
from .glossary import TIME
from .inputs import CheckboxGroup, Number, Slider, UserError, check_work, text_input, whole
from .run import reason, written_at

# shipped checkpoints with a row in the table but no card: the continuous recipe trained to predict the noise
RECORDED_ONLY = tuple(name for name, entry in shipped.SHIPPED.items() if entry.variant == "eps")
# label -> (family, shipped folder), for every other shipped checkpoint; the order of the cards
ENTRIES: dict[str, tuple[str, str]] = {name: (entry.family, name) for name, entry in shipped.SHIPPED.items()
                                       if name not in RECORDED_ONLY}
MIN_BUDGET, MAX_BUDGET, DEFAULT_BUDGET = 1, 1000, 64
BENCH_RESULTS = CHECKPOINTS.parents[1] / "bench" / "results"

MISTAKES_NOTE = """**What goes wrong.** Each model's samples, split by the first rule of the grammar they break. Models that
write several words at once (the diffusion families) tend to say a fact twice or leave one out, because positions
decided in the same step do not see each other's choice; the left-to-right model sees every word before it.
"""

INTRO = r"""
**Compare**: every family writes one sentence from the same seed in at most $k$ steps and counts its {{network calls|network call}}.
Below, what was measured offline: {{NLL}} in {{bits per token}} against the corpus's true {{entropy}}, and quality
against speed.
"""

DETAILS = r"""
**The one equation.** Every family is scored by how well it predicts held-out sentences, in bits per token:
$$\mathrm{NLL} = -\frac{1}{\mathbb E|s|}\; \mathbb E_s\, \log_2 p_\theta(s) \;\ge\; H = -\frac{1}{\mathbb E|s|}\;
\mathbb E_s\, \log_2 p(s).$$
- $s$: a held-out sentence; $|s|$: its number of tokens;
- $p_\theta(s)$: the probability the model gives it; $p(s)$: its true probability under the built-in grammar;
- $H$: the corpus's entropy per token, the floor no model can go below. Lower NLL is better.
""" + TIME + r"""
**What the step budget means for each family.**
- **continuous** ({{Diffusion-LM}}) and **seq2seq** ({{DiffuSeq}}): $k$ reverse steps, spread evenly over the
  model's {{training grid}} (at most that many), {{DDPM}} with {{clamping}}.
- **sedd-absorb / sedd-uniform** ({{SEDD}}): $k$ reverse steps: $k - 1$ {{Tweedie}} τ-leaps from $t = 1$ to a small
  $\epsilon$, then the denoising step to $t = 0$.
- **ardm** (order-agnostic {{ARDM}}): a budget of $k$ parallel steps; its {{plan}} decides how many positions each
  step writes (see *Order-agnostic*). At most one step per position.
- **ar** (left to right): always one step per token, whatever $k$: it cannot write two tokens at once. It is the
  reference for likelihood and speed.

**seq2seq** is conditional: it writes a sentence for the meaning representation given below (the box), shown hatched
before the arrow. The others write unconditionally, so their sentences say different things.

**From the papers: exact NLL or a bound.** **Exact** for the left-to-right model (the sum of next-token
log-probabilities); **{{ELBO}}** for ARDM (Eq. 6 of Hoogeboom et al. 2022; with fewer steps than positions, the
expected NLL of the planned parallel decoding); **{{bound}}** for the diffusion models (Diffusion-LM's variational
bound with rounding, SEDD's DWDSE bound). All are upper bounds on the true NLL except the exact one, so none can go
below the corpus's entropy. seq2seq reports no NLL ({{BLEU}} and slot accuracy instead; see its tab).

**Reading the view.**
- *A card*: the final tokens shaded by the model's {{confidence}} (dark: sure), whether the built-in grammar accepts
  the sentence, how many times the steps ran the network, and the wall-clock seconds of sampling one sequence on
  this machine (the model's loading excluded). Steps and network calls differ where a step can change nothing: an
  absorbing SEDD step that unmasks no word, an ARDM step whose plan writes none in a short sentence, a left-to-right
  step after the sentence has ended; those skip the network. One sample says little: the tables give rates over
  many samples.
- *The tables*: figures recorded with `python -m diffusion evaluate --record` in each shipped checkpoint's
  `meta.json`. The first gives each checkpoint's default sampler (its own settings at its default number of steps,
  what `python -m diffusion sample` runs with no flags) beside its best recorded one (the highest
  {{grammatical rate}}). *All recorded figures* lists every recorded setting and, if present, the newest benchmark
  run in `bench/results/` (older runs are named under it; in the chart, hollow markers). Seconds per sequence there
  were measured in large batches on the training machine, so they are lower than a card's.
- *Quality against training sentences*: each shipped checkpoint was trained briefly on a CPU (its `meta.json` says
  how long). The last chart asks what more training buys: `python -m bench scaling` trained the same recipes on a
  GPU on several times more sentences (in larger batches, about as many steps) and scored them on the CPU; the stars
  are the shipped checkpoints.
"""


# ---- the run ------------------------------------------------------------------------------------------------------

def _diffusion_steps(ck, budget: int) -> tuple[int, str]:
    top = ck.process.T
    if budget > top:
        return top, f"capped at the model's {top} training timesteps"
    return budget, "reverse steps"


def _sedd_steps(ck, budget: int) -> tuple[int, str]:
    return budget, f"{ck.process.sampler} steps, the last one to t = 0"


def _ardm_steps(ck, budget: int) -> tuple[int, str]:
    D = ck.config.seq_len
    if budget >= D:
        return D, f"one position per step (its length {D}); a larger budget changes nothing"
    return budget, "parallel steps planned by dynamic programming"


def _ar_steps(ck, budget: int) -> tuple[int, str]:
    L = ck.config.seq_len
    return L, f"always one step per token ({L}), whatever the budget"


STEPS: dict[str, Callable[[Any, int], tuple[int, str]]] = {
    "continuous": _diffusion_steps, "seq2seq": _diffusion_steps, "sedd": _sedd_steps, "ardm": _ardm_steps,
    "ar": _ar_steps,
}


def _load(label: str, choice: str | None, models: dict[str, str] | None):
    """The checkpoint a card runs, or a gr.Error saying why it cannot."""
    family, folder = ENTRIES[label]
    how = f" --graph {folder.split('-')[1]}" if family == "sedd" else (" --corpus builtin" if family == "seq2seq" else "")
    ck = pick_checkpoint(family, choice, models, name=folder, how=how)
    wanted = folder.split("-")[1] if family == "sedd" else None
    if wanted and ck.config.graph != wanted:  # a model trained here has one graph: shown on that graph's card only
        raise UserError(f"this sedd model uses the {ck.config.graph} graph, not {wanted}: "
                       f"see the sedd-{ck.config.graph} card")
    return ck


def _sample(label: str, ck, steps: int, seed: int, source: str | None) -> dict[str, Any]:
    """One sequence from the seed: its tokens (with confidences), text, grammar verdict and sampling seconds."""
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    if ck.config.source_len:
        chain = candidates_steps(ck.process, ck.model, ck.tokenizer, source, 1, steps, generator, every=steps)
    else:
        # token families: every step, to see which wrote each word (the continuous ones, only the last)
        every = 1 if ck.config.family in TOKEN_FAMILIES else steps
        chain = sample_steps(ck.process, ck.model, 1, steps, generator=generator, every=every)
    final, kept = None, []
    for final in chain:
        kept.append((final.index, final.tokens[0]))
    seconds = time.perf_counter() - start
    if ck.config.source_len:
        text = decode_targets(ck.tokenizer, ck.config, final.tokens)[0]
        held = ck.config.source_len + 1
    else:
        text, held = ck.tokenizer.decode(final.tokens[0]), 0
    tokens = ck.tokenizer.tokens(final.tokens[0])
    commit = None
    if ck.config.family in TOKEN_FAMILIES:  # the order words were written in, as in the token tabs' last frame
        commit = written_at([{"index": i, "tokens": [ck.tokenizer.tokens(row)]} for i, row in kept])[0]
    check = validate(text)
    return dict(tokens=tokens, confidence=final.confidence[0].tolist(), held=held, text=text,
                grammatical=check.grammatical, reason=reason(check), seconds=seconds, steps=steps, calls=final.calls,
                written=commit)


TOKEN_FAMILIES = ("sedd", "ardm", "ar")  # words are written once, at a step (the continuous families move them all)


def compare_run(seed: float | None, budget: float, families: list[str] | None, source: str | None,
                choice: str | None, models: dict[str, str] | None) -> Iterator[str]:
    """Run each chosen family on the same seed and budget, one after the other; yield the cards after each change."""
    seed = whole(seed, "seed", 0, MAX_SEED, "2^63 - 1")
    budget = whole(budget, "step budget", MIN_BUDGET, MAX_BUDGET)
    source = text_input(source, "source", MAX_SOURCE_CHARS)
    if (not families or not isinstance(families, (list, tuple))
            or any(not isinstance(f, str) or f not in ENTRIES for f in families)):
        raise UserError(f"families must be one or more of {', '.join(ENTRIES)}, got {families!r}")
    labels = [label for label in ENTRIES if label in families]
    cards: dict[str, str] = {}
    plans: dict[str, tuple[Any, int, str]] = {}
    for label in labels:
        try:
            ck = _load(label, choice, models)
        except gr.Error as e:
            cards[label] = result_card(label, "skipped", message=e.message)
            continue
        steps, note = STEPS[ck.config.family](ck, budget)
        plans[label] = (ck, steps, note)
        cards[label] = result_card(label, "waiting", steps=steps, note=note)
    check_work(sum(steps for _, steps, _ in plans.values()), 1, "this comparison (the families' steps together)")
    if "seq2seq" in plans:  # check the source before anything runs: a bad MR is the visitor's to fix
        ck = plans["seq2seq"][0]
        try:
            source = check_source(ck.tokenizer, ck.config, source, ck.meta.get("corpus") == "builtin")
        except ValueError as e:
            raise UserError(f"seq2seq source: {e}") from None
    footer = f"seed {seed} · step budget {budget}"
    yield cards_html([cards[label] for label in labels], footer)
    for label, (ck, steps, note) in plans.items():
        cards[label] = result_card(label, "running", steps=steps, note=note)
        yield cards_html([cards[k] for k in labels], footer)
        try:
            out = _sample(label, ck, steps, seed, source)
        except ValueError as e:
            raise UserError(f"{label}: {e}") from None
        cards[label] = result_card(label, "done", note=note, **out)
        yield cards_html([cards[k] for k in labels], footer)


# ---- the recorded figures -----------------------------------------------------------------------------------------

def _row(entry: dict[str, Any], name: str, family: str | None, minutes: float | None, source: str,
         length: int | None) -> dict[str, Any]:
    """One table row from a recorded evaluation (a dict as `evaluate` writes it)."""
    steps = entry.get("steps")
    detail = entry.get("nll_method")
    if detail is None and entry.get("nll_bits_per_token") is not None and family in FAMILIES:
        detail = getattr(FAMILIES[family].process_cls, "nll_method", None)  # recorded before the method was named
    nll = entry.get("nll_bits_per_token")
    by_budget = entry.get("nll_by_budget") or {}
    planned = entry.get("sampler") in (None, "any-order")  # ARDM, or SEDD's network read as one (not SEDD's chain)
    if planned and steps is not None and length is not None and steps < length and str(steps) in by_budget:
        # fewer steps than positions: the expected NLL of the planned parallel decoding at this budget
        nll, detail = by_budget[str(steps)], f"{detail or 'ELBO'}; planned parallel decoding in {steps} steps"
    by_order = entry.get("nll_by_order") or {}
    if entry.get("order") in by_order:  # ARDM drawn in one fixed order: the exact NLL of that order
        nll, detail = by_order[entry["order"]], f"exact in the {entry['order']} order, one network call per position"
    seconds = entry.get("sample_seconds_per_sequence", entry.get("seconds_per_sequence"))
    return dict(name=name, family=family, steps=steps, sampler=settings.label(entry), nll=nll,
                nll_method=nll_kind(detail) if nll is not None else None, nll_detail=detail,
                grammatical_rate=entry.get("grammatical_rate"), mistakes=entry.get("mistakes"),
                seconds_per_sequence=seconds,
                train_minutes=minutes, source=source)


def _key(entry: dict[str, Any]) -> str:
    """An evaluation's settings and steps as meta.json keys them, the number of MBR candidates left out (seq2seq's
    evaluation always draws the same number; the sampler has no say in it)."""
    return settings.evaluation_key({k: v for k, v in entry.items() if k != "mbr_candidates"})


def _default_key(config: dict[str, Any], meta: dict[str, Any]) -> str | None:
    """The key of the evaluation a checkpoint records with its own sampler settings at its default steps (what
    `python -m diffusion sample` runs with no sampler flags), read from its config and meta.json without loading its
    weights; None where they do not make a process."""
    try:
        model_config = ModelConfig.from_dict(config)
        process = FAMILIES[model_config.family].process_cls(model_config)
        if meta.get("process"):
            process = process.configure(**meta["process"])
    except (KeyError, TypeError, ValueError):
        return None
    return _key({"steps": process.default_steps, **recorded_settings(process)})


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def recorded_rows(bench_dir: Path | None = None) -> tuple[list[dict[str, Any]], float | None, list[str]]:
    """(rows, true entropy in bits per word, notes): every evaluation recorded in the shipped checkpoints' meta.json
    (or the checkpoint an environment variable names), then the newest benchmark run in `bench_dir` (by its `date`,
    then file name), if any; the notes name unreadable files and the older runs left out."""
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    floor: float | None = None
    for folder in dict.fromkeys([*(folder for _, folder in ENTRIES.values()), *RECORDED_ONLY]):
        path = Path(checkpoint_path(folder))
        try:
            meta = _read_json(path / "meta.json")
            raw = _read_json(path / "config.json")
        except (OSError, ValueError):
            notes.append(f"{folder}: no readable checkpoint at {path}")
            continue
        config = raw.get("config", raw) if isinstance(raw, dict) else {}
        minutes = meta.get("seconds") / 60 if isinstance(meta.get("seconds"), (int, float)) else None
        evaluations = meta.get("evaluation") or {}
        default = _default_key(config, meta)
        for entry in sorted(evaluations.values(), key=lambda e: (e.get("steps") or 0, str(e.get("sampler")))):
            rows.append(_row(entry, folder, meta.get("family", config.get("family")), minutes, "meta.json",
                             config.get("seq_len")))
            rows[-1]["default"] = default is not None and _key(entry) == default
            if floor is None and entry.get("entropy_bits_per_token") is not None:
                floor = float(entry["entropy_bits_per_token"])
    bench_dir = BENCH_RESULTS if bench_dir is None else bench_dir
    runs: list[tuple[str, str, list[dict[str, Any]]]] = []  # (date, file name, entries) of each readable run
    for path in sorted(bench_dir.glob("*.json")) if bench_dir.is_dir() else []:
        try:
            data = _read_json(path)
        except (OSError, ValueError) as e:
            notes.append(f"{path.name}: not readable JSON ({e})")
            continue
        entries = data.get("results", [data]) if isinstance(data, dict) else data
        if not isinstance(entries, list):
            notes.append(f"{path.name}: expected an object, a list of objects or {{'results': [...]}}")
            continue
        entries = [e for e in entries if isinstance(e, dict) and (e.get("checkpoint") or e.get("family"))]
        if entries:
            date = str(data.get("date") or "") if isinstance(data, dict) else ""
            runs.append((date, path.name, entries))
    if runs:
        # The newest run only: each full run measures every checkpoint again, so older runs would repeat its rows.
        date, file_name, entries = max(runs)
        for entry in entries:
            name = Path(str(entry.get("checkpoint") or entry["family"])).name
            rows.append(_row(entry, name, entry.get("family"), None, f"bench/{file_name}", None))
        older = sorted((name for _, name, _ in runs if name != file_name), reverse=True)
        if older:
            notes.append(f"benchmark rows from the newest run, {file_name}; older runs in bench/results/ not shown: "
                         f"{', '.join(older)}")
    if floor is None:
        floor = entropy().bits_per_token  # nothing recorded it: a few seconds of exact probabilities, cached
    return rows, floor, notes


def scaling_report(bench_dir: Path | None = None) -> tuple[dict[str, Any] | None, str]:
    """The newest readable `bench/scaling.py` report in `bench_dir` (`scaling-*.json`, by file name) and its name."""
    bench_dir = BENCH_RESULTS if bench_dir is None else bench_dir
    for path in sorted(bench_dir.glob("scaling-*.json"), reverse=True) if bench_dir.is_dir() else []:
        try:
            data = _read_json(path)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("jobs"), list):
            return data, path.name
    return None, ""


def shipped_rates(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Each shipped checkpoint's grammatical rate in its own sampler as recorded in meta.json: the plain entry (no
    fixed order, remasking, noise scale or Euler) with the most steps."""
    best: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["source"] != "meta.json" or r["grammatical_rate"] is None:
            continue
        if any(word in r["sampler"] for word in ("order", "remask", "noise x", "euler")):
            continue
        if r["name"] not in best or (r["steps"] or 0) > (best[r["name"]]["steps"] or 0):
            best[r["name"]] = r
    return {name: float(r["grammatical_rate"]) for name, r in best.items()}


def summary_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per shipped checkpoint, in the index's order: its `default` row (its own sampler at its default
    steps) and its `best` (the highest grammatical rate, the faster on a tie), from meta.json; None where none was
    recorded."""
    out = []
    for name in shipped.SHIPPED:
        own = [r for r in rows if r["name"] == name and r["source"] == "meta.json"]
        rated = [r for r in own if r["grammatical_rate"] is not None]
        best = max(rated, key=lambda r: (r["grammatical_rate"], -(r["seconds_per_sequence"] or 0)), default=None)
        default = next((r for r in own if r.get("default")), None)
        if best is not None and default is not None and best["grammatical_rate"] == default["grammatical_rate"]:
            best = default  # a tie with the default: the default is the best
        out.append(dict(name=name, default=default, best=best))
    return out


def mistake_profiles(entries: list[dict[str, Any]]) -> list[tuple[str, float, dict[str, float]]]:
    """(checkpoint, grammatical rate, {mistake kind: share}) of each shipped checkpoint's default evaluation that
    recorded its mistakes (`summary_rows`' entries)."""
    out = []
    for e in entries:
        row = e["default"]
        if row and row.get("grammatical_rate") is not None and isinstance(row.get("mistakes"), dict):
            out.append((e["name"], float(row["grammatical_rate"]), row["mistakes"]))
    return out


# ---- the tab ------------------------------------------------------------------------------------------------------

def tab(models: gr.State) -> None:
    """The Compare tab: run the families on one seed and budget; read their recorded figures."""
    explain(INTRO, DETAILS)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            seed = Number(value=0, label="seed", minimum=0, step=1, elem_id="cmp-seed")
            budget = Slider(MIN_BUDGET, MAX_BUDGET, value=DEFAULT_BUDGET, step=1, label="step budget",
                               info="reverse steps; ardm: planned steps; ar: always one per token",
                               elem_id="cmp-budget")
            families = CheckboxGroup(list(ENTRIES), value=list(ENTRIES), label="families", elem_id="cmp-families")
            source = gr.Textbox(MR_EXAMPLE, label="seq2seq source (slot [value] ...)", lines=2, elem_id="cmp-source",
                                max_length=MAX_SOURCE_CHARS)
            choice = model_radio("cmp-model")
            run = gr.Button("Run", variant="primary", elem_id="cmp-run")
        with gr.Column(scale=3):
            results = gr.HTML("<i>Press Run: one sentence per family, filled in as each finishes.</i>",
                              elem_id="cmp-results", min_height=160)
    rows, floor, notes = recorded_rows()
    gr.Markdown("### Recorded figures")
    summary = summary_rows(rows)
    gr.HTML(summary_table_html(summary, floor), elem_id="cmp-summary")
    profiles = mistake_profiles(summary)
    if profiles:
        gr.Markdown(MISTAKES_NOTE)
        gr.Plot(mistake_profile_figure(profiles, KINDS), label="what goes wrong, by model", elem_id="cmp-mistakes")
    with gr.Accordion(f"All recorded figures ({len(rows)} rows)", open=False, elem_id="cmp-all"):
        gr.HTML(records_table_html(rows, floor, notes), elem_id="cmp-table")
    gr.Plot(quality_speed_figure(rows), label="grammatical rate against speed", elem_id="cmp-chart")
    report, report_name = scaling_report()
    gr.Plot(scaling_figure(report, shipped_rates(rows), report_name), label="grammatical rate against training sentences",
            elem_id="cmp-scaling")
    run.click(cached(compare_run), [seed, budget, families, source, choice, models], results,
              show_progress="minimal", **RUNS)

"""docs/benchmarks.md and the recipe tables of docs/experiments.md, generated from the files that hold the figures.

    python -m bench report            # rewrite both from bench/results/*.json and assets/checkpoints/*/meta.json
    python -m bench report --check    # exit 1 if either differs from what would be written
    python -m bench report FILE.json  # print one suite results file's tables

The pages' prose is fixed text here; every figure comes from the JSON: for each kind of results file (the suite's
`<date>-<machine>.json`, `app-*`, `load-*`, `scaling-*`) the newest, by the date in its name.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

from .common import GENERATED, RESULTS, ROOT, markdown_table as _table, read_json as _read
from .recipes import CHECKPOINTS, RECIPES_END, render_experiments

__all__ = ["GENERATED", "RECIPES_END", "main", "render_benchmarks", "render_experiments"]

DOCS = ROOT / "docs"


# ---- the suite: python -m bench ----------------------------------------------------------------------------------

def _s(x: dict[str, Any], unit: str = "s", digits: int = 3) -> str:
    return f"{x['median']:.{digits}f} {unit} ({x['min']:.{digits}f} - {x['max']:.{digits}f})"


def _met(value: float | None, target: float, at_most: bool) -> str:
    if value is None:
        return "not reached"
    return "met" if (value <= target if at_most else value >= target) else "NOT met"


def _target(r: dict[str, Any], key: str, at_most: bool, unit: str = "") -> str:
    """'<= 0.4 s: met', or '' when the run set no target for `key`."""
    t = r.get("targets", {}).get(key)
    if t is None or key not in r:
        return ""
    shown = f"{t:.0%}" if unit == "%" else f"{t:g}{unit}"
    return f"{'<=' if at_most else '>='} {shown}: {_met(r[key], t, at_most)}"


Row = tuple[str, str, str]


def headline(r: dict[str, Any]) -> str:
    """The suite's speed and app rows; a measure the run did not take has no row."""
    rows: list[Row] = []
    if "continuous_200_steps" in r:
        rows.append(("`continuous_200_steps_seconds`: 200 Diffusion-LM steps, one sequence",
                     _s(r["continuous_200_steps"]), _target(r, "continuous_200_steps_seconds", True, " s")))
    if "lean_vs_bert" in r:
        lvb = r["lean_vs_bert"]
        rows.append((f"`lean_vs_bert_speedup`: the same model ({lvb['parameters']['lean'] / 1e3:.0f}k parameters) on "
                     "transformers' `BertModel`", f"{lvb['speedup']} (lean {lvb['lean_seconds']['median']:.3f} s, "
                     f"bert {lvb['bert_seconds']['median']:.3f} s)", _target(r, "lean_vs_bert_speedup", False)))
        rows += _ceiling_row(lvb)
    if "step_profile" in r:
        prof = r["step_profile"]
        rows.append(("one continuous step: all / the network / the step's own math",
                     f"{prof['step_seconds']['median'] * 1e3:.2f} / {prof['network_seconds']['median'] * 1e3:.2f} / "
                     f"{prof['step_math_seconds'] * 1e3:.2f} ms", ""))
    if "compiled_vs_eager" in r:
        comp = r["compiled_vs_eager"]
        rows.append(("the same 200 steps through `torch.compile` (backbone)",
                     f"{comp['speedup']}x eager ({comp['compiled_seconds']['median']:.3f} s against "
                     f"{comp['eager_seconds']['median']:.3f} s; compiling took {comp['compile_and_first_run_seconds']} s)",
                     ""))
    rows += _threads_row(r.get("threads"))
    if "matmul_peak" in r:
        peak = r["matmul_peak"]
        rows.append((f"matmul peak ({peak['n']} x {peak['n']} fp32)", _s(peak["gflops"], "GFLOP/s", 0), ""))
    if "training" in r:
        train = r["training"]
        cells = "; ".join(f"{name} {v['tokens_per_second'] / 1e3:.1f}k tokens/s, {v['fraction_of_peak']:.1%} of peak"
                          for name, v in train.items() if isinstance(v, dict))
        rows.append((f"training the default model (`small`, batch {train['batch_size']} x {train['seq_len']} tokens)",
                     cells, _target(r, "training_fraction_of_peak", False, "%")))
    if "compute_floor" in r:
        rows.append(("a sampling step against its FLOP floor, one sequence / 16",
                     "; ".join(f"{name} {v['batch_1']['times_floor']}x / {v['batch_16']['times_floor']}x"
                               for name, v in r["compute_floor"].items()), ""))
    if r.get("time_to_quality"):
        ttq = r["time_to_quality"]
        goal = next(iter(ttq.values()))["target"]
        cells = "; ".join(f"{name} {v['minutes_to_target']} min" if v["minutes_to_target"] is not None
                          else f"{name} not reached ({v['best_grammatical_rate']:.2f} at {v['budget_minutes']:g} min)"
                          for name, v in ttq.items())
        t = r.get("targets", {}).get("time_to_quality_minutes")
        rows.append((f"time to quality (grammatical >= {goal:g}) from scratch", cells,
                     "" if t is None else f"<= {t:g} min"))
    if "embedding_map" in r:
        emb = r["embedding_map"]
        t = r.get("targets", {}).get("embedding_map_cached_seconds")
        cached = emb["cached_map_seconds"]["median"]
        rows.append(("embedding map: UMAP fitted cold / the cached map drawn",
                     f"{emb['umap_cold_seconds']['median']:.1f} s / {cached:.3f} s",
                     "" if t is None else f"cached <= {t:g} s: {_met(cached, t, True)}"))
    if "app" in r:
        app = r["app"]
        rows.append(("app: start to serving, memory after every tab",
                     f"{app['start_to_serving_seconds']['median']:.1f} s; {app['rss_mb_after_every_tab']:.0f} MB", ""))
    return _table(("measure", "result", "target"), rows)


def _ceiling_row(lvb: dict[str, Any]) -> list[Row]:
    """Where lean against bert comes from, for results files that timed the networks alone."""
    if "network_speedup" not in lvb:
        return []
    net = {name: v["median"] * 1e3 for name, v in lvb["network_seconds"].items()}
    return [("lean against bert, the networks alone on one sentence / the lean network's "
             f"{lvb['linear_layers']} linear layers alone",
             f"{lvb['network_speedup']}x (lean {net['lean_network']:.2f} ms, bert {net['bert_network']:.2f} ms) / "
             f"{lvb['matmul_only_speedup']}x (linears {net['lean_linears']:.2f} ms)", "")]


def _threads_row(th: dict[str, Any] | None) -> list[Row]:
    """The one-thread row, for results files that measured it."""
    if not th or "batch_1" not in th:
        return []
    cells = "; ".join(f"{key.split('_')[1]}: {v['one_thread_speedup']}x ({v['one_thread_seconds']['median']:.3f} s "
                      f"against {v['default_threads_seconds']['median']:.3f} s)"
                      for key, v in th.items() if key.startswith("batch_"))
    return [(f"{th['steps']} continuous steps on one thread against {th['default_threads']}, by batch", cells, "")]


def quality(r: dict[str, Any]) -> str:
    """The `results` list: each checkpoint's grammatical rate by steps, its NLL, its sampling time."""
    by: dict[str, list[dict[str, Any]]] = {}
    for e in r["results"]:  # a checkpoint run with another sampler than its own has a row of its own
        other = " --sampler any-order" if e.get("sampler") == "any-order" else ""
        by.setdefault(e["checkpoint"] + other, []).append(e)
    batch = {e.get("num_samples") for e in r["results"]}
    at = f" (batch {batch.pop()})" if len(batch) == 1 and None not in batch else ""
    rows = []
    for name, entries in by.items():
        rates = ", ".join(f"{e['steps']}: {e['grammatical_rate']:.2f}" for e in entries)
        nll = entries[0].get("nll_bits_per_token")
        last = max(entries, key=lambda e: e["steps"])
        rows.append((f"`{name}`", rates, "" if nll is None else f"{nll:.3f}",
                     f"{last['sample_seconds_per_sequence']:.4f}"))
    return _table(("checkpoint", "steps: grammatical rate", "NLL bits per token",
                   f"seconds per sequence at the most steps{at}"), rows)


def _machine(m: dict[str, Any]) -> str:
    return f"{m['cpu']}, {m['cores']} cores, torch {m['torch']}, {m['threads']} threads"


def suite_tables(path: Path, r: dict[str, Any]) -> str:
    """One suite results file: where it ran, its headline rows and its quality rows."""
    repeats = r.get("continuous_200_steps", {}).get("repeats")
    took = f"; the run took {r['seconds'] / 60:.0f} min" + (f", {repeats} repeats a timing" if repeats else "")
    return (f"`{_rel(path)}`: {_machine(r['machine'])}{took}.\n\n" + headline(r) + "\n\n" + quality(r))


# ---- the app: python -m bench latency, python -m bench load ------------------------------------------------------

def app_tables(path: Path, r: dict[str, Any]) -> str:
    t = r.get("targets", {})

    def target(key: str, unit: str) -> str:
        return "" if key not in t else (f"{t[key] / 1024:g} GB" if unit == "MB" and t[key] >= 1024 else
                                        f"{t[key]:g} {unit}")

    rows = [("`python app.py` to serving", _s(r["start_to_serving_seconds"], "s", 2),
             target("start_to_serving_seconds", "s")),
            ("first streamed frame of a 200-step denoise (2 samples)", _s(r["denoise_200_steps_first_frame_seconds"],
                                                                          "s", 2),
             target("denoise_200_steps_first_frame_seconds", "s")),
            ("whole 200-step denoise", _s(r["denoise_200_steps_total_seconds"], "s", 2), ""),
            ("resident memory after every tab has run (at start)",
             f"{r['rss_mb_after_every_tab']:.0f} MB ({r['rss_mb_at_start']:.0f} MB)",
             target("rss_mb_after_every_tab", "MB"))]
    handlers = r.get("handlers", {})
    sized = any("player_kib" in h for h in handlers.values())  # recorded since the player runs in the browser
    tabs = [(f"{name} (`{h['api']}`)", _s(h["first_output_seconds"], "s", 2), _s(h["total_seconds"], "s", 2),
             *([f"{h['player_kib']:.0f} KiB" if "player_kib" in h else "—"] if sized else []))
            for name, h in handlers.items()]
    head = ("tab's handler (its API)", "first output, median (min - max)", "whole run",
            *(["the run the player receives"] if sized else []))
    return (f"`{_rel(path)}`: {_machine(r['machine'])}; {_recorded(r)}.\n\n"
            + _table(("measure", "median (min - max)", "target"), rows) + "\n\n" + _table(head, tabs))


def _p95(x: dict[str, Any] | None) -> str:
    return "—" if not x else f"{x['median']:.1f} ({x['p95']:.1f})"


def load_tables(path: Path, r: dict[str, Any]) -> str:
    lim = r.get("limits", {})
    limits = (f"each visitor starts requests for {lim['seconds']:g} s (at most {lim['max_requests_per_client']}), "
              f"each cancelled after {lim['request_timeout_seconds']:g} s" if lim else "")
    endpoints = ", ".join(f"`{e}`" for e in r.get("endpoints", []))
    head = (f"`{_rel(path)}`: {_machine(r['machine'])}; {_recorded(r)}. The app served "
            f"{r['start_to_serving_seconds']:g} s after its start, at {r['rss_mb_at_start']:.0f} MB; the visitors "
            f"press Run on {endpoints}" + (f"; {limits}" if limits else "") + ".")
    memory = [f"{b['rss_mb_before']:.0f} / {b['rss_mb_peak']:.0f} / {b['rss_mb_after_settle']:.0f}"
              for b in r["bursts"]]
    if not all("per_kind" in b for b in r["bursts"]):  # recorded before default and fresh runs were told apart
        rows = [(str(b["clients"]), f"{b['completed']} of {b['requests']}", str(b["errors"]),
                 _p95(b["first_frame_seconds"]), _p95(b["end_seconds"]), f"{b['throughput_per_second']:.2f}", mem)
                for b, mem in zip(r["bursts"], memory)]
        return head + "\n\n" + _table(("visitors", "requests completed", "errors",
                                        "to the first frame, s: median (p95)", "to the end, s: median (p95)",
                                        "runs a second", "memory MB: before / peak / settled"), rows)
    mix, t = r.get("mix", {}), r.get("targets", {})
    fresh = (f"Every {mix['fresh_every']}th run of a visitor is fresh (the same tab's run with a seed no one asked "
             "for: computed, waiting for one of the app's sampling slots); the others are the tabs' defaults "
             "(computed once, then replayed at the pace they were recorded)" if mix.get("fresh_every") else
             "Every run is a tab's default (computed once, then replayed at the pace it was recorded)")
    think = (f"; after each run a visitor pauses {mix['think_seconds']:g} s on average" if mix.get("think_seconds")
             else "")
    target = (f" Target: to the first frame, p95 at most {t['default_first_frame_p95_seconds']:g} s for a default "
              f"run and {t['fresh_first_frame_p95_seconds']:g} s for a fresh one, with no error." if t else "")
    rows = [(str(b["clients"]), f"{b['completed']} of {b['requests']}", str(b["errors"]),
             *(f"{_p95(b['per_kind'][kind]['first_frame_seconds'])} / {_p95(b['per_kind'][kind]['end_seconds'])}"
               for kind in ("default", "fresh")),
             f"{b['throughput_per_second']:.2f}", mem, *(["met" if b["targets_met"] else "not met"] if t else []))
            for b, mem in zip(r["bursts"], memory)]
    return (head + f" {fresh}{think}.{target}\n\n"
            + _table(("visitors", "requests completed", "errors", "default runs, s: first frame / end, median (p95)",
                      "fresh runs, s: first frame / end, median (p95)", "runs a second",
                      "memory MB: before / peak / settled", *(["target"] if t else [])), rows))


# ---- quality against training compute: python -m bench scaling ---------------------------------------------------

def scaling_tables(path: Path, r: dict[str, Any]) -> str:
    jobs = r["jobs"]
    machines = sorted({j["machine"] for j in jobs if "machine" in j})
    seeds = max((len(j.get("grammatical_rate_by_seed", [])) for j in jobs), default=0)
    per_seed = f", {r['samples'] // seeds} samples from each of {seeds} seeds" if seeds else ""
    rows = []
    for j in jobs:
        if "error" in j:
            rows.append((f"`{j['recipe']}`", str(j["batch_size"]), f"failed: {j['error']}", "", "", ""))
            continue
        steps = str(j["steps"]) if j["steps"] >= j["steps_asked"] else (
            f"{j['steps']} of {j['steps_asked']} (stopped at {j['seconds']:.0f} s)")
        rows.append((f"`{j['recipe']}`", str(j["batch_size"]), steps,
                     f"{j['sentences'] / 1e6:.2f} M ({j['times_shipped_sentences']:g}x)",
                     " / ".join(f"{g:g}" for g in j["grammatical_rate_by_seed"]), f"{j['nll_bits_per_token']:.3f}"))
    smoke = " A smoke run: the plumbing only, not figures." if r.get("smoke") else ""
    return (f"`{_rel(path)}`: {'; '.join(machines)}; {r['parallel']} jobs side by side, {r['threads_per_job']} CPU "
            f"threads each, {r['train_wall_seconds'] / 60:.1f} min of training in all{per_seed}.{smoke}\n\n"
            + _table(("recipe", "batch", "steps", "sentences (x the shipped run's)", "grammatical, by seed",
                      "NLL bits per word"), rows))


def _num(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def realtext_tables(path: Path, r: dict[str, Any]) -> str:
    rows = []
    for c in r["checkpoints"]:
        nll = (f"{c['nll_bits_per_token']:.2f} / {c['nll_bits_per_word']:.2f} / {c['nll_bits_per_char']:.3f}"
               if c.get("nll_bits_per_token") is not None else f"none: {c.get('nll_note', '')}")
        if c.get("nll_standard_error_bits_per_token") is not None:
            nll += f" (± {c['nll_standard_error_bits_per_token']:.2f} per token)"
        bleu = (f"{c['bleu']:.1f} / {c['chrf']:.1f} (baseline {c['baseline_bleu']:.1f} / {c['baseline_chrf']:.1f})"
                if "bleu" in c else "")
        rows.append((f"`{c['name']}`", c["tokenizer"], f"{c['train_minutes']:.1f} min, {c['train_steps']} steps",
                     nll, f"{c['well_formed_rate']:.0%}", _num(c["distinct_2"]), bleu))
    first = r["checkpoints"][0] if r["checkpoints"] else {}
    commands = "\n".join(f"- `{c['name']}`: `{c['command']}`" for c in r["checkpoints"])
    return (f"`{_rel(path)}`: {_machine(r['machine'])}; {_recorded(r)}, {r['seconds'] / 60:.1f} min. Corpus "
            f"`{r['corpus']}`. Well formed: {first.get('well_formed_rule', '')}. Units of the NLL: "
            f"{first.get('nll_units', '')}.\n\n"
            + _table(("checkpoint", "tokenizer", "trained", "held-out NLL, bits per token / word / character",
                      "well formed", "distinct-2", "BLEU / chrF, all references"), rows)
            + "\n\nEach checkpoint's training command:\n\n" + commands)


# ---- what a step costs, on one device and data-parallel: python -m bench scaling --throughput -------------------

def throughput_tables(path: Path, r: dict[str, Any]) -> str:
    m = r["machine"]
    where = (f"{m['gpus']} x {m['gpu']}" if "gpu" in m else
             f"{_machine(m)}; presets with {r['preset_threads']} threads, data-parallel runs one thread a process")
    presets = [(f"`{p['preset']}`", f"`{p['family']}`", p.get("precision", ""),
                f"{p['weights'] / 1e6:.1f} M" if "weights" in p else "", str(p.get("batch_size", "")),
                str(p.get("steps", "")),
                f"{p['seconds_per_step']:.3f}" if "seconds_per_step" in p else f"failed: {p['error']}",
                f"{p['tokens_per_second']:,.0f}" if "tokens_per_second" in p else "")
               for p in r["presets"]]
    scaling = [(str(s["processes"]), s.get("precision", ""),
                f"{s['tokens_per_second']:,.0f}" if "tokens_per_second" in s else f"failed: {s['error']}",
                f"{s['tokens_per_second_per_device']:,.0f}" if "tokens_per_second_per_device" in s else "",
                f"{s['efficiency']:.2f}" if "efficiency" in s else "") for s in r["scaling"]]
    return (f"`{_rel(path)}`: {where}; {_recorded(r)}, {r['seconds'] / 60:.1f} min.\n\n"
            + _table(("preset", "family", "precision", "weights", "batch", "steps timed", "seconds per step",
                      "tokens per second"), presets)
            + f"\n\n`{r['scaling_recipe']}` data-parallel, the same batch split over the processes:\n\n"
            + _table(("processes", "precision", "tokens per second", "per device", "scaling efficiency"), scaling))


# ---- the page -----------------------------------------------------------------------------------------------------

KINDS = ("suite", "app", "load", "scaling", "throughput", "throughput_gpu", "realtext")

INTRO = """\
# Benchmarks

{generated}

What is measured, by which command, on which machine. Each section shows the newest results file of its kind in
`bench/results/` (by the date in its name); the older ones stay there, and in git history. The machines are shared
and their speed for small, latency-bound work drifts within minutes, so a time is a median over repeats with its
min and max, and only ratios taken side by side in one run compare across runs. `python -m bench report` writes
this page from the JSON; `python -m bench report --check` fails when the page is stale."""

SUITE = """\
## The package: `python -m bench`

`python -m bench` measures speed, memory and quality of the shipped checkpoints side by side in one run and writes
`bench/results/<date>-<machine>.json`. FLOPs are counted by `torch.utils.flop_counter` (matmuls and attention); a
fraction of peak is the matmul work done against the machine's own matmul rate, measured in the same run."""

# how to read a measure, shown when the newest suite file holds it
SUITE_NOTES = {
    "step_profile": "One continuous step is timed whole and its network alone, alternately; the difference is the "
                    "step's own math.",
    "compute_floor": "A step's FLOP floor is its FLOPs at the matmul peak. `sedd-absorb` runs the network only on the "
                     "steps that unmask a word, so its FLOPs averaged over all its steps are small and its time is "
                     "the step loop's.",
    "lean_vs_bert": "Lean against bert runs the same model on transformers' `BertModel`, which calls the same kernels "
                    "with more Python per layer; the networks alone, and the lean network's linear layers alone, "
                    "bound what trimming Python can gain.",
    "compiled_vs_eager": "`torch.compile` of the backbone stays out of the app, where a first click would wait for "
                         "the compile.",
    "training": "Training throughput times the default model's training step with a fused AdamW on every backbone, "
                "so that they compare on one optimiser; a fraction of peak carries the drift of both its measures.",
    "time_to_quality": "Time to quality trains each family's shipped recipe from scratch, snapshots it about every "
                       "minute and scores each snapshot outside the training clock; the curves are in the JSON.",
    "results": "The quality rows (the JSON's `results`, which the Compare tab draws beside each checkpoint's "
               "`meta.json`) are the shipped checkpoints at a few step counts; `sedd-absorb --sampler any-order` is "
               "the same network read as ARDM's and planned by ARDM's programme.",
}


def suite_section(path: Path, r: dict[str, Any]) -> str:
    """The notes for the measures this run took, then its tables."""
    notes = "\n".join(_wrap("- " + text, "  ") for key, text in SUITE_NOTES.items() if key in r)
    return (notes + "\n\n" if notes else "") + suite_tables(path, r)


def _wrap(text: str, indent: str) -> str:
    return textwrap.fill(text, width=116, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False)


APP = """\
## The app: `python -m bench latency`

Starts the real app (`python app.py`) in a subprocess and drives it over HTTP with `gradio_client`, as a browser
would; writes `bench/results/app-<date>-<machine>.json`. Resident memory is the server's after every tab has run, a
short training included. A streamed frame costs tens of milliseconds on its way to the page whatever it holds, so a
tab's whole run is longer than its sampling."""

LOAD = """\
## The app under load: `python -m bench load`

Starts the app once and runs N concurrent visitors, each its own `gradio_client` session, pressing Run on the
sampling tabs' default runs in turn; writes `bench/results/load-<date>-<machine>.json`. Times run from a request to
its first streamed frame and to its end, most of it waiting for a sampling slot; memory is the app's process tree
(API sessions send no heartbeat, so their state lives until it expires)."""

SCALING = """\
## Quality against training compute: `python -m bench scaling` (on a GPU)

How far are the 10-minute checkpoints from grammatical samples? `python -m bench scaling --device cuda --out DIR`
trains the shipped recipes (each checkpoint's own `train` command) at larger batches, so on k times the sentences
its 10 CPU minutes saw, side by side on one GPU, then scores each with `evaluate` on the CPU (random order for
`ardm`, the default steps); it writes `DIR/scaling.json`, kept as `bench/results/scaling-<date>-<machine>.json`.
The `ardm` job at batch 64 is the shipped command itself, a check that the device changes the speed, not the result.
A small model's step is bound by kernel launches and Python, not by the GPU's arithmetic, so a larger batch costs
almost nothing. The NLL is each family's own: `ardm`'s ELBO, SEDD's DWDSE bound, `continuous`'s variational bound
with rounding, each with the length's -log p(L)."""

THROUGHPUT = """\
## What a step costs, on one device and on several: `python -m bench scaling --throughput`

Each preset trains a few steps on the built-in corpus (`python -m diffusion train --steps N`) and its seconds per
step and tokens (non-padding positions) per second are read from `meta.json`; `ar` stands for the token families
(`sedd` and `ardm` run the same backbone). Then the small `sedd` recipe trains on 1, 2, 4 ... N processes through
`torchrun`, the same batch split over them, and the scaling efficiency is the tokens per second at N over N times
one process's. On a CPU one step of `base` takes about a minute, so only one step of `ar` is timed there; and a
device is one core (one thread a process), so two processes on a 2-core machine measure the cost of averaging the
gradients more than a speed-up. Writes `bench/results/throughput-<date>-<machine>.json`."""

THROUGHPUT_GPU = """\
### On GPUs: `python -m bench scaling --throughput --device cuda`

The same measurements on every GPU torch sees, in fp32 and in bf16 (`--precision bf16`)."""

NO_GPU = ("No GPU results yet: no GPU was available to the sessions that built this. Run the command above on a "
          "GPU machine and commit its file.")

REALTEXT = """\
## Free-form English: `python -m bench realtext`

The lab on a researcher's kind of data: `assets/corpora/stays.csv`, a paired corpus written for the project
(meaning representations of places to stay and their descriptions, several per MR, split by MR so that no held-out
MR is seen in training). One checkpoint per family is trained by the CLI on it (`assets/realtext/`); the benchmark
runs `evaluate` on each and writes `bench/results/realtext-<date>-<machine>.json`. NLLs compare across families per
word and per character (the tokenizers differ); the baseline copies the description of the training MR that shares
the most words with the held-out one, its slot values swapped in."""

SECTIONS = {"suite": (SUITE, suite_section), "app": (APP, app_tables), "load": (LOAD, load_tables),
            "scaling": (SCALING, scaling_tables), "throughput": (THROUGHPUT, throughput_tables),
            "throughput_gpu": (THROUGHPUT_GPU, throughput_tables), "realtext": (REALTEXT, realtext_tables)}
MISSING = "No results file of this kind in `bench/results/` yet."


def kind_of(path: Path) -> tuple[str, str] | None:
    """('app' | 'load' | 'scaling' | 'throughput' | 'throughput_gpu' | 'realtext' | 'suite', the date and machine)
    from a results file's name; None for others."""
    m = re.fullmatch(r"(?:(app|load|scaling|throughput|realtext)-)?(\d{4}-\d\d-\d\d-.+)\.json", path.name)
    if not m:
        return None
    kind = m.group(1) or "suite"
    return ("throughput_gpu" if kind == "throughput" and path.name.endswith("gpus.json") else kind), m.group(2)


def newest(results: Path) -> dict[str, Path]:
    """The newest results file of each kind, by the date in its name (then by the machine's)."""
    out: dict[str, tuple[str, Path]] = {}
    for path in results.glob("*.json"):
        if (found := kind_of(path)) and (found[0] not in out or found[1] > out[found[0]][0]):
            out[found[0]] = (found[1], path)
    return {kind: path for kind, (_, path) in out.items()}


def render_benchmarks(results: Path = RESULTS) -> str:
    """docs/benchmarks.md, whole."""
    files = newest(results)
    parts = [INTRO.format(generated=GENERATED.format(source="bench/results/*.json"))]
    for kind in KINDS:
        text, tables = SECTIONS[kind]
        path = files.get(kind)
        parts += [text, tables(path, _read(path)) if path else NO_GPU if kind == "throughput_gpu" else MISSING]
    return "\n\n".join(parts) + "\n"


# ---- helpers and the command ----------------------------------------------------------------------------------

def _rel(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return f"bench/results/{path.name}"


def _recorded(r: dict[str, Any]) -> str:
    return f"recorded command `{r['command']}`" if r.get("command") else "no command recorded"


def print_one(path: Path) -> int:
    """The tables of one suite results file, printed."""
    try:
        print(suite_tables(path, _read(path)))
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {path} is not a full results file of `python -m bench` ({e!r})", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench report", description="rewrite docs/benchmarks.md from "
                                "bench/results/ and docs/experiments.md's recipe tables from assets/checkpoints/")
    p.add_argument("file", nargs="?", help="print this one suite results file's tables instead")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a page differs from its source")
    p.add_argument("--results", type=Path, default=RESULTS, help="the results folder (default bench/results)")
    p.add_argument("--checkpoints", type=Path, default=CHECKPOINTS, help="default assets/checkpoints")
    p.add_argument("--docs", type=Path, default=DOCS, help="the folder of benchmarks.md and experiments.md")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if args.file:
        return print_one(Path(args.file))
    bench_page, exp_page = args.docs / "benchmarks.md", args.docs / "experiments.md"
    try:
        current = {bench_page: bench_page.read_text(encoding="utf-8") if bench_page.exists() else None,
                   exp_page: exp_page.read_text(encoding="utf-8")}
        wanted = {bench_page: render_benchmarks(args.results),
                  exp_page: render_experiments(current[exp_page], args.checkpoints)}
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e!r}", file=sys.stderr)
        return 1
    stale = [path for path, text in wanted.items() if current[path] != text]
    if args.check:
        if stale:
            print(f"stale: {', '.join(path.name for path in stale)} differ from their sources; run "
                  "`python -m bench report`")
            return 1
        return 0
    for path in stale:
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

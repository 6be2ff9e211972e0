"""The benchmark suite, `python -m bench`: speed (bench/speed.py), quality and the app's side of the shipped
checkpoints, measured side by side in one run on this machine.

    python -m bench --quick --json      # at most a minute: the two headline ratios
    python -m bench --json              # everything; writes bench/results/<date>-<machine>.json

Every time is a median over repeats with its min and max (`bench.common.spread`); a "fraction of peak" is the matmul
work done against the machine's own matmul rate measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from diffusion import checkpoint

from .common import machine, report, spread, timed
from .speed import (compiled_vs_eager, compute_floor, continuous_200_steps, lean_vs_bert, load, matmul_peak,
                    sampling_latency, step_profile, threads_vs_latency, training_throughput)

# what a teacher shows: quality at a few step counts per family (ardm: planned budgets; ar: one step per position);
# "NAME SAMPLER" runs that checkpoint with another sampler (sedd-absorb's network read as ARDM's, planned)
QUALITY_STEPS: dict[str, tuple[int | None, ...]] = {
    "continuous": (20, 50, 200, 1000), "sedd-absorb": (8, 16, 32, 64, 256, 1024),
    "sedd-absorb any-order": (5, 10, 20, 40), "sedd-uniform": (8, 16, 32, 64), "ardm": (5, 10, 20, 40), "ar": (None,),
}
# time to quality: the shipped recipe of each family, from scratch, the budget set by the benchmark
TTQ_RECIPES: dict[str, dict[str, Any]] = {
    "continuous": dict(family="continuous"), "sedd-absorb": dict(family="sedd", graph="absorb"),
    "ardm": dict(family="ardm"),
}
TARGETS = {"continuous_200_steps_seconds": 0.4, "lean_vs_bert_speedup": 3.0, "training_fraction_of_peak": 0.4,
           "time_to_quality_minutes": 5.0, "embedding_map_cached_seconds": 1.0}


# ---- quality -------------------------------------------------------------------------------------------------

def quality_vs_steps(num_samples: int, nll_sequences: int, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Grammatical rate (and the NLL bound, once per family) at several step counts: entries the Compare tab reads."""
    from diffusion.families import configure
    from diffusion.evaluate import evaluate

    entries = []
    for key, step_counts in QUALITY_STEPS.items():
        name, _, sampler = key.partition(" ")
        ck = load(name)
        if sampler:
            ck.process = configure(ck.process, sampler=sampler)
        for k, steps in enumerate(step_counts):
            result = evaluate(ck, num_samples, steps, seed=0, nll_sequences=nll_sequences if k == 0 else 0)
            entry = {"checkpoint": name, **{key: v for key, v in result.items() if key != "examples"}}
            if k and entries:  # the NLL does not depend on the sampler's steps: carry it over
                entry["nll_bits_per_token"] = entries[-1]["nll_bits_per_token"]
            entries.append(entry)
            log(f"{key} at {entry['steps']} steps: grammatical {entry['grammatical_rate']}, "
                f"{entry['sample_seconds_per_sequence']:.4f} s/sequence")
    return entries


def time_to_quality(minutes: float, num_samples: int, log: Callable[[str], None], target: float = 0.95,
                    snapshot_seconds: float = 60.0, preset_name: str = "small") -> dict[str, Any]:
    """Train each family's shipped recipe from scratch for `minutes`, snapshotting the checkpoint about every
    `snapshot_seconds` of training; then score every snapshot (outside the training clock). The answer is the
    training time of the first snapshot at or above `target`, or None with the best rate seen."""
    from diffusion.config import preset
    from diffusion.corpus import load_corpus
    from diffusion.evaluate import evaluate
    from diffusion.training import train

    corpus = load_corpus("builtin")
    out = {}
    with tempfile.TemporaryDirectory(prefix="ttq-") as tmp:
        for name, recipe in TTQ_RECIPES.items():
            model_config, train_config = preset(preset_name, **recipe)
            train_config = replace(train_config, minutes=minutes, checkpoint_every_seconds=snapshot_seconds / 4)
            run_dir, snapshots = Path(tmp) / name, []
            next_snapshot = snapshot_seconds
            for entry in train(model_config, train_config, corpus, run_dir):
                if entry.phase == "training" and entry.seconds >= next_snapshot and checkpoint.has_checkpoint(run_dir):
                    snap = Path(tmp) / f"{name}-{len(snapshots)}"
                    shutil.copytree(run_dir, snap, ignore=shutil.ignore_patterns("logs", "training_state*"))
                    snapshots.append(snap)
                    next_snapshot += snapshot_seconds
            if not snapshots or checkpoint.load(snapshots[-1]).meta["seconds"] != checkpoint.load(run_dir).meta["seconds"]:
                snapshots.append(run_dir)  # the final save, unless the last snapshot already is it
            curve = []
            for snap in snapshots:
                ck = checkpoint.load(snap)
                rate = evaluate(ck, num_samples, None, seed=0, nll_sequences=0)["grammatical_rate"]
                curve.append({"minutes": round(ck.meta["seconds"] / 60, 2), "grammatical_rate": rate})
            reached = next((c["minutes"] for c in curve if c["grammatical_rate"] >= target), None)
            out[name] = {"minutes_to_target": reached, "budget_minutes": minutes, "target": target,
                         "best_grammatical_rate": max(c["grammatical_rate"] for c in curve), "curve": curve}
            log(f"time to quality, {name}: {reached} min (best {out[name]['best_grammatical_rate']})")
    return out


# ---- the app's side: the embedding map, start-up, memory -----------------------------------------------------

def embedding_map_seconds(repeats: int) -> dict[str, Any]:
    """UMAP of the shipped continuous embeddings fitted cold, and the cached map read and drawn as the app does."""
    from diffusion.projection import load_projection, umap_2d

    ck = load("continuous")
    emb = ck.model.embedding.weight.detach().numpy()
    cold = timed(lambda: umap_2d(emb, seed=0), max(1, repeats // 2), warmup=0)
    import ui.embeddings as tab  # gradio and plotly: imported only here

    cached = timed(lambda: list(tab.embedding_map("continuous", "UMAP", None, "shipped", {})), repeats, warmup=1)
    return {"umap_cold_seconds": spread(cold), "cached_map_seconds": spread(cached),
            "cached_projection_present": load_projection(ck.path) is not None}


def app_start_and_memory(log: Callable[[str], None]) -> dict[str, Any]:
    """The app benchmark (bench/latency.py) with one repeat: start-up to serving, resident memory after every tab."""
    from .latency import run as run_app

    result = run_app(1, log)
    keep = ("start_to_serving_seconds", "rss_mb_at_start", "rss_mb_after_every_tab",
            "denoise_200_steps_first_frame_seconds", "handlers")
    return {k: result[k] for k in keep}


# ---- the run ---------------------------------------------------------------------------------------------------

def run(quick: bool = False, repeats: int = 5, quality_samples: int = 100, ttq_minutes: float = 5.0,
        log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """The whole suite (or, with `quick`, the two headline figures in well under a minute) as one flat-ish dict."""
    started = time.perf_counter()
    result: dict[str, Any] = {"benchmark": "suite", "quick": quick, "date": datetime.date.today().isoformat(),
                              "machine": machine(), "targets": TARGETS}
    repeats = min(repeats, 3) if quick else repeats
    c200 = continuous_200_steps(repeats)
    result["continuous_200_steps_seconds"] = c200["median"]
    result["continuous_200_steps"] = c200
    log(f"continuous, 200 steps, one sequence: {c200['median']:.3f} s")
    lvb = lean_vs_bert(repeats)
    result["lean_vs_bert_speedup"] = lvb["speedup"]
    result["lean_vs_bert"] = lvb
    log(f"lean vs bert: {lvb['speedup']}x")
    if not quick:
        peak = matmul_peak(repeats)
        result["matmul_peak"] = peak
        log(f"matmul peak: {peak['gflops']['median']} GFLOP/s")
        result["training"] = training_throughput(repeats, peak["gflops"]["median"])
        result["training_fraction_of_peak"] = result["training"]["lean"]["fraction_of_peak"]
        log(f"training: {result['training_fraction_of_peak']:.0%} of peak (lean)")
        result["step_profile"] = step_profile(repeats)
        result["compiled_vs_eager"] = compiled_vs_eager(repeats)
        log(f"torch.compile: {result['compiled_vs_eager']['speedup']}x over eager")
        result["threads"] = threads_vs_latency(repeats)
        latency = sampling_latency(repeats)
        result["sampling_latency"] = latency
        result["compute_floor"] = compute_floor(peak["gflops"]["median"], latency)
        result["embedding_map"] = embedding_map_seconds(repeats)
        result["results"] = quality_vs_steps(quality_samples, 256, log)  # the key the Compare tab reads
        if ttq_minutes > 0:
            result["time_to_quality"] = time_to_quality(ttq_minutes, quality_samples, log)
        result["app"] = app_start_and_memory(log)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(prog="python -m bench", description="speed, memory and quality of the shipped "
                                "checkpoints, measured side by side; the full run writes bench/results/<date>-<machine>.json")
    p.add_argument("--quick", action="store_true", help="at most a minute: continuous_200_steps_seconds and "
                   "lean_vs_bert_speedup, nothing written")
    p.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    p.add_argument("--repeats", type=int, default=5, help="repeats per timing (median reported)")
    p.add_argument("--quality-samples", type=int, default=100, help="samples per quality figure")
    p.add_argument("--ttq-minutes", type=float, default=5.0, help="time-to-quality training budget per family (0: skip)")
    p.add_argument("--no-write", action="store_true", help="do not write bench/results/")
    args = p.parse_args(argv)
    if args.repeats < 1 or args.quality_samples < 1 or not args.ttq_minutes >= 0:
        p.error("--repeats and --quality-samples must be at least 1, --ttq-minutes at least 0")
    result = run(quick=args.quick, repeats=args.repeats, quality_samples=args.quality_samples,
                 ttq_minutes=args.ttq_minutes, log=lambda line: print(line, file=sys.stderr))
    result["command"] = " ".join(["python -m bench", *map(shlex.quote, argv)])
    report(result, "", not args.quick and not args.no_write, args.json)
    return 0

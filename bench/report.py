"""The benchmark tables of docs/benchmarks.md, rendered from a results file of `python -m diffusion bench`.

    python bench/report.py bench/results/<date>-<machine>.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _s(x: dict[str, Any], unit: str = "s", digits: int = 3) -> str:
    return f"{x['median']:.{digits}f} {unit} ({x['min']:.{digits}f} - {x['max']:.{digits}f})"


def _met(value: float | None, target: float, at_most: bool) -> str:
    if value is None:
        return "not reached"
    return "met" if (value <= target if at_most else value >= target) else "NOT met"


def headline(r: dict[str, Any]) -> str:
    t = r["targets"]
    lvb, train, emb, app = r["lean_vs_bert"], r["training"], r["embedding_map"], r["app"]
    ttq = r.get("time_to_quality", {})
    ttq_text = "; ".join(f"{name} {v['minutes_to_target']} min" if v["minutes_to_target"] is not None
                         else f"{name} not reached ({v['best_grammatical_rate']:.2f} at {v['budget_minutes']:g} min)"
                         for name, v in ttq.items()) or "skipped"
    floor = r["compute_floor"]
    prof = r["step_profile"]
    comp = r["compiled_vs_eager"]
    rows = [
        ("`continuous_200_steps_seconds`: 200 Diffusion-LM steps, one sequence", _s(r["continuous_200_steps"]),
         f"<= {t['continuous_200_steps_seconds']} s: {_met(r['continuous_200_steps_seconds'], t['continuous_200_steps_seconds'], True)}"),
        (f"`lean_vs_bert_speedup`: the same model ({lvb['parameters']['lean'] / 1e3:.0f}k parameters) on transformers' "
         "`BertModel`", f"{lvb['speedup']} (lean {lvb['lean_seconds']['median']:.3f} s, bert "
         f"{lvb['bert_seconds']['median']:.3f} s)",
         f">= {t['lean_vs_bert_speedup']:g}: {_met(r['lean_vs_bert_speedup'], t['lean_vs_bert_speedup'], False)}"),
        *_ceiling_row(lvb),
        ("one continuous step: all / the network / the step's own math",
         f"{prof['step_seconds']['median'] * 1e3:.2f} / {prof['network_seconds']['median'] * 1e3:.2f} / "
         f"{prof['step_math_seconds'] * 1e3:.2f} ms", ""),
        ("the same 200 steps through `torch.compile` (backbone)",
         f"{comp['speedup']}x eager ({comp['compiled_seconds']['median']:.3f} s against "
         f"{comp['eager_seconds']['median']:.3f} s; compiling took {comp['compile_and_first_run_seconds']} s)", ""),
        *_threads_row(r.get("threads")),
        (f"matmul peak ({r['matmul_peak']['n']} x {r['matmul_peak']['n']} fp32)",
         _s(r["matmul_peak"]["gflops"], "GFLOP/s", 0), ""),
        (f"training the default model (`small`, batch {train['batch_size']} x {train['seq_len']} tokens)",
         f"lean {train['lean']['tokens_per_second'] / 1e3:.1f}k tokens/s, {train['lean']['fraction_of_peak']:.1%} of "
         f"peak; bert {train['bert']['tokens_per_second'] / 1e3:.1f}k tokens/s, {train['bert']['fraction_of_peak']:.1%}",
         f">= {t['training_fraction_of_peak']:.0%}: {_met(r['training_fraction_of_peak'], t['training_fraction_of_peak'], False)}"),
        ("a sampling step against its FLOP floor, one sequence / 16",
         "; ".join(f"{name} {v['batch_1']['times_floor']}x / {v['batch_16']['times_floor']}x" for name, v in floor.items()),
         ""),
        ("time to quality (grammatical >= 0.95) from scratch", ttq_text, f"<= {t['time_to_quality_minutes']:g} min"),
        ("embedding map: UMAP fitted cold / the cached map drawn",
         f"{emb['umap_cold_seconds']['median']:.1f} s / {emb['cached_map_seconds']['median']:.3f} s",
         f"cached <= {t['embedding_map_cached_seconds']:g} s: "
         f"{_met(emb['cached_map_seconds']['median'], t['embedding_map_cached_seconds'], True)}"),
        ("app: start to serving, memory after every tab",
         f"{app['start_to_serving_seconds']['median']:.1f} s; {app['rss_mb_after_every_tab']:.0f} MB", ""),
    ]
    lines = ["| measure | result | target |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def _ceiling_row(lvb: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Where lean against bert comes from, for results files that measured the networks alone (from 2026-12-04 on)."""
    if "network_speedup" not in lvb:
        return []
    net = {name: v["median"] * 1e3 for name, v in lvb["network_seconds"].items()}
    return [("lean against bert, the networks alone on one sentence / the lean network's "
             f"{lvb['linear_layers']} linear layers alone",
             f"{lvb['network_speedup']}x (lean {net['lean_network']:.2f} ms, bert {net['bert_network']:.2f} ms) / "
             f"{lvb['matmul_only_speedup']}x (linears {net['lean_linears']:.2f} ms)", "")]


def _threads_row(th: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """The one-thread row, for results files that measured it (from 2026-12-03 on)."""
    if not th or "batch_1" not in th:
        return []
    cells = "; ".join(f"{key.split('_')[1]}: {v['one_thread_speedup']}x ({v['one_thread_seconds']['median']:.3f} s "
                      f"against {v['default_threads_seconds']['median']:.3f} s)"
                      for key, v in th.items() if key.startswith("batch_"))
    return [(f"{th['steps']} continuous steps on one thread against {th['default_threads']}, by batch", cells, "")]


def quality(r: dict[str, Any]) -> str:
    by: dict[str, list[dict[str, Any]]] = {}
    for e in r.get("results", []):  # a checkpoint run with another sampler than its own has a row of its own
        other = " --sampler any-order" if e.get("sampler") == "any-order" else ""
        by.setdefault(e["checkpoint"] + other, []).append(e)
    lines = ["| checkpoint | steps: grammatical rate | NLL bits per token | seconds per sequence at the most steps "
             "(batch 100) |", "| --- | --- | --- | --- |"]
    for name, entries in by.items():
        rates = ", ".join(f"{e['steps']}: {e['grammatical_rate']:.2f}" for e in entries)
        nll = entries[0].get("nll_bits_per_token")
        last = max(entries, key=lambda e: e["steps"])
        lines.append(f"| `{name}` | {rates} | {nll:.3f} | {last['sample_seconds_per_sequence']:.4f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python bench/report.py bench/results/<date>-<machine>.json", file=sys.stderr)
        return 2
    try:
        result = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
        print(f"`{argv[0]}` ({result['machine']['cpu']}, {result['machine']['cores']} cores, torch "
              f"{result['machine']['torch']}, {result['machine']['threads']} threads; {result['seconds'] / 60:.0f} min):\n")
        print(headline(result) + "\n\n" + quality(result))
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {argv[0]} is not a full results file of `python -m diffusion bench` ({e!r})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

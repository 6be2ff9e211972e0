"""The benchmark suite (bench/suite.py and bench/speed.py, `python -m bench`): its arithmetic, its quick run,
the results the Compare tab reads, and time to quality on a tiny budget."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench import speed, suite
from bench.common import results_path, spread
from conftest import ROOT
from diffusion import checkpoint


def test_flops_of_a_matmul_are_counted():
    a, b = torch.randn(8, 16), torch.randn(16, 4)
    assert speed.count_flops(lambda: a @ b) == 2 * 8 * 16 * 4


def test_results_path_names_date_cpu_and_cores():
    path = results_path("", {"cpu": "AMD EPYC 7B13 (x2)", "cores": 2}, "2026-11-23")
    assert path.name == "2026-11-23-amd-epyc-7b13-x2-2cores.json" and path.parent.name == "results"


def test_spread_reports_median_and_range():
    assert spread([0.3, 0.1, 0.2]) == {"median": 0.2, "min": 0.1, "max": 0.3, "repeats": 3}


def bench_cli(*args: str) -> subprocess.CompletedProcess:
    """`python -m bench ARGS` from the repository root, as a person runs it."""
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_quick_bench_prints_the_two_headline_figures():
    out = bench_cli("--quick", "--json", "--repeats", "2")
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["quick"] is True and result["machine"]["torch"].startswith("2.13")
    assert 0 < result["continuous_200_steps_seconds"] < 60
    assert result["lean_vs_bert_speedup"] == pytest.approx(
        result["lean_vs_bert"]["bert_seconds"]["median"] / result["lean_vs_bert"]["lean_seconds"]["median"], rel=1e-2)
    assert result["continuous_200_steps"]["repeats"] == 2 and "training" not in result
    lvb = result["lean_vs_bert"]
    alone = {name: lvb["network_seconds"][name]["median"] for name in ("lean_network", "bert_network", "lean_linears")}
    # the ratios are what they say: bert's network over the lean network, and over the lean network's linears alone
    assert lvb["network_speedup"] == pytest.approx(alone["bert_network"] / alone["lean_network"], rel=1e-2)
    assert lvb["matmul_only_speedup"] == pytest.approx(alone["bert_network"] / alone["lean_linears"], rel=1e-2)
    # the continuous model: 4 blocks of 4, the time MLP's 2, the input and output projections
    assert lvb["linear_layers"] == 20 and lvb["network_seconds"]["lean_network"]["repeats"] == 2


def test_bench_rejects_a_negative_budget():
    out = bench_cli("suite", "--ttq-minutes", "-1")
    assert out.returncode == 2 and "--ttq-minutes" in out.stderr.splitlines()[-1]


def test_quality_entries_are_what_the_compare_tab_reads(tiny_checkpoint: Path, tmp_path: Path, monkeypatch):
    from ui.compare import recorded_rows

    monkeypatch.setattr(suite, "QUALITY_STEPS", {"continuous": (2, 4)})
    monkeypatch.setattr(suite, "load", lambda name: checkpoint.load(tiny_checkpoint))
    entries = suite.quality_vs_steps(3, 4, lambda s: None)
    assert [e["steps"] for e in entries] == [2, 4]
    assert entries[0]["nll_bits_per_token"] == entries[1]["nll_bits_per_token"] is not None
    (tmp_path / "suite.json").write_text(json.dumps({"benchmark": "suite", "results": entries}))
    rows, _, notes = recorded_rows(tmp_path)
    bench_rows = [r for r in rows if r["source"] == "bench/suite.json"]
    assert [r["steps"] for r in bench_rows] == [2, 4] and not notes


def test_a_quality_key_may_name_another_sampler_and_the_report_gives_it_a_row(tiny_sedd: Path, monkeypatch):
    from bench.report import quality

    monkeypatch.setattr(suite, "QUALITY_STEPS", {"sedd-absorb": (4,), "sedd-absorb any-order": (2, 3)})
    monkeypatch.setattr(suite, "load", lambda name: checkpoint.load(tiny_sedd))
    entries = suite.quality_vs_steps(2, 4, lambda s: None)
    assert [(e["sampler"], e["steps"]) for e in entries] == [("tweedie", 4), ("any-order", 2), ("any-order", 3)]
    table = quality({"results": entries})
    assert "| `sedd-absorb` | 4: " in table and "| `sedd-absorb --sampler any-order` | 2: " in table


def test_time_to_quality_scores_snapshots_outside_the_training_clock(monkeypatch):
    monkeypatch.setattr(suite, "TTQ_RECIPES", {"continuous": dict(family="continuous")})
    out = suite.time_to_quality(0.1, 2, lambda s: None, snapshot_seconds=2, preset_name="tiny")["continuous"]
    minutes = [c["minutes"] for c in out["curve"]]
    assert len(minutes) >= 2 and minutes == sorted(minutes) and minutes[-1] <= 0.1 + 0.05
    assert out["budget_minutes"] == 0.1 and out["target"] == 0.95
    assert out["minutes_to_target"] is None or out["minutes_to_target"] in minutes


def test_step_profile_splits_a_step_into_network_and_math():
    prof = speed.step_profile(1, top=5, n=10)
    # both timed, each once: which is larger is a measurement on a shared machine, not something to assert
    assert prof["step_seconds"]["median"] > 0 and prof["network_seconds"]["median"] > 0
    assert prof["step_math_seconds"] == pytest.approx(prof["step_seconds"]["median"] - prof["network_seconds"]["median"],
                                                      abs=1e-6)
    names = [op["name"] for op in prof["top_operators"]]
    assert len(names) == 5 and "aten::addmm" in names  # the network's linear layers lead


def test_threads_are_timed_both_ways_and_restored():
    outer = torch.get_num_threads()  # one under pytest-xdist (conftest.py): two here, as the benchmark's machine has
    torch.set_num_threads(2)
    try:
        out = speed.threads_vs_latency(1, batches=(1, 2), steps=3)
        assert torch.get_num_threads() == 2 and out["default_threads"] == 2
    finally:
        torch.set_num_threads(outer)
    for b in (1, 2):
        v = out[f"batch_{b}"]
        assert v["one_thread_seconds"]["median"] > 0 and v["default_threads_seconds"]["median"] > 0
        assert v["one_thread_speedup"] == pytest.approx(
            v["default_threads_seconds"]["median"] / v["one_thread_seconds"]["median"], rel=1e-2)


def test_report_renders_the_committed_results(capsys):
    from bench import report
    from bench.common import RESULTS

    files = sorted(p for p in RESULTS.glob("20*.json"))
    if not files:
        pytest.skip("no full results committed")
    assert report.main([str(files[-1])]) == 0
    out = capsys.readouterr().out
    assert "`continuous_200_steps_seconds`" in out and "| `ar` | 40: " in out


def test_report_refuses_a_file_that_is_not_a_full_run(tmp_path, capsys):
    from bench import report

    bad = tmp_path / "quick.json"
    bad.write_text(json.dumps({"quick": True}))
    assert report.main([str(bad)]) == 1
    assert "not a full results file" in capsys.readouterr().err

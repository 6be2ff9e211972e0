"""The load benchmark end to end on the real app: two visitors for a few seconds, a report of what they saw, no file;
default runs (replayed) and fresh ones (a new seed, computed) told apart."""

import json

import pytest

from bench import load
from bench.common import RESULTS


def _results() -> dict[str, float]:
    return {p.name: p.stat().st_mtime for p in RESULTS.iterdir()} if RESULTS.exists() else {}


def test_two_visitors_get_every_run_without_errors(capsys):
    before = _results()
    assert load.main(["--clients", "2", "--seconds", "3", "--max-requests", "3", "--timeout", "60", "--settle", "0",
                      "--fresh-every", "2", "--think", "0", "--no-warmup", "--no-write", "--json"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out.strip().splitlines()[-1])
    assert _results() == before and "wrote" not in err

    assert report["benchmark"] == "load" and report["machine"]["cores"] >= 1
    assert report["command"].startswith("python -m bench load --clients 2 --seconds 3")
    assert report["endpoints"] == ["/denoise", "/clamp_compare", "/sedd_denoise", "/order_agnostic", "/seq2seq_run"]
    (burst,) = report["bursts"]
    assert burst["clients"] == 2 and burst["errors"] == 0 and burst["error_messages"] == {}
    assert 2 <= burst["completed"] == burst["requests"] <= 6  # at least one run each, at most --max-requests each
    assert 0 < burst["first_frame_seconds"]["median"] <= burst["end_seconds"]["median"]
    assert burst["first_frame_seconds"]["median"] <= burst["first_frame_seconds"]["p95"]
    assert burst["end_seconds"]["median"] <= burst["end_seconds"]["p95"] < 60
    assert burst["throughput_per_second"] == pytest.approx(burst["completed"] / burst["wall_seconds"], rel=0.01)
    assert sum(e["completed"] for e in burst["per_endpoint"].values()) == burst["completed"]
    assert min(report["rss_mb_at_start"], burst["rss_mb_before"], burst["rss_mb_after_settle"]) > 50
    assert burst["rss_mb_before"] <= burst["rss_mb_peak"]
    assert "2 clients: " in err and " completed, 0 errors" in err

    # client 0 starts with a default run, client 1 with a fresh one
    assert report["mix"] == {"fresh_every": 2, "think_seconds": 0.0} and "--fresh-every 2 --think 0" in report["command"]
    kinds = burst["per_kind"]
    assert set(kinds) == {"default", "fresh"} and all(kinds[k]["completed"] >= 1 for k in kinds)
    assert sum(k["completed"] for k in kinds.values()) == burst["completed"]
    assert all(0 < k["first_frame_seconds"]["median"] <= k["end_seconds"]["median"] for k in kinds.values())
    assert isinstance(burst["targets_met"], bool) and report["targets"]["errors"] == 0


def test_a_fresh_run_is_the_default_with_a_seed_no_one_asked_for():
    seeds = load.Seeds()
    plans = [load.planned(i, k, 4, seeds) for i in range(3) for k in range(8)]
    fresh = [p for p in plans if p[1] == "fresh"]
    assert len(fresh) == 6 and len({p[2] for p in fresh}) == 6  # one in four, each with its own seed
    defaults = dict(load.RUNS)
    for api, kind, args in plans:
        at = load.SEED_AT[api]
        assert args[:at] + args[at + 1:] == defaults[api][:at] + defaults[api][at + 1:]
        assert (args[at] == defaults[api][at]) == (kind == "default")
    assert all(kind == "default" for _, kind, _ in (load.planned(0, k, 0, seeds) for k in range(8)))

    def kinds(first_p95: float, fresh_p95: float | None) -> dict:
        return {"default": {"first_frame_seconds": {"median": 0.1, "p95": first_p95}},
                "fresh": {"first_frame_seconds": None if fresh_p95 is None else {"median": 1.0, "p95": fresh_p95}}}
    assert load.targets_met(kinds(0.9, 4.9), 0) and load.targets_met(kinds(0.9, None), 0)
    assert not load.targets_met(kinds(1.1, 4.9), 0) and not load.targets_met(kinds(0.9, 5.1), 0)
    assert not load.targets_met(kinds(0.9, 4.9), 1)

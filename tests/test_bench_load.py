"""The load benchmark end to end on the real app: two visitors for a few seconds, a report of what they saw, no file."""

import json

import pytest

from bench import load
from bench.common import RESULTS


def _results() -> dict[str, float]:
    return {p.name: p.stat().st_mtime for p in RESULTS.iterdir()} if RESULTS.exists() else {}


def test_two_visitors_get_every_run_without_errors(capsys):
    before = _results()
    assert load.main(["--clients", "2", "--seconds", "3", "--max-requests", "3", "--timeout", "60", "--settle", "0",
                      "--no-warmup", "--no-write", "--json"]) == 0
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

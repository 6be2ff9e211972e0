"""`python -m bench scaling --throughput`: each preset's cost per step and the data-parallel scaling, here with tiny
settings end to end (a real torchrun of two processes), written where the report reads it."""

import json

from bench import common, report, scaling


def test_throughput_measures_presets_and_processes_and_the_report_shows_them(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(scaling, "PRESET_STEPS", {"tiny": 3})
    monkeypatch.setattr(scaling, "PRESET_FAMILIES", ("ar",))
    monkeypatch.setattr(scaling, "SCALING_RECIPE", ["--family", "ar", "--preset", "tiny"])
    monkeypatch.setattr(scaling, "SCALING_STEPS", 4)
    assert scaling.main(["--throughput", "--device", "cpu", "--processes", "2", "--out", str(tmp_path)]) == 0
    [path] = (tmp_path / "results").glob("throughput-*.json")
    r = json.loads(path.read_text())
    [tiny] = r["presets"]
    assert tiny["preset"] == "tiny" and tiny["steps"] == 3 and tiny["seconds_per_step"] > 0
    assert tiny["tokens"] > 3 * 32 * 3 and tiny["weights"] > 10_000
    one, two = r["scaling"]
    assert (one["processes"], two["processes"]) == (1, 2) and one["efficiency"] == 1.0
    assert two["tokens"] == one["tokens"]  # the same batches, split over two processes
    assert two["efficiency"] == round(two["tokens_per_second"] / (2 * one["tokens_per_second"]), 3)
    assert "2 processes" in two["machine"]
    assert [p.name for p in tmp_path.iterdir()] == ["results"]  # the runs' folder is gone
    assert report.kind_of(path)[0] == "throughput"
    page = report.throughput_tables(path, r)
    assert "| `tiny` | `ar` | fp32 |" in page and "| 2 | fp32 |" in page

"""bench/report.py: docs/benchmarks.md and docs/experiments.md's recipe tables are generated, never typed."""

import json
import re
from pathlib import Path

import pytest

from bench import report

MACHINE = {"cpu": "Testium 9", "cores": 3, "torch": "9.9.9+cpu", "threads": 3, "python": "3.11.7"}


def spread(median: float, lo: float, hi: float) -> dict:
    return {"median": median, "min": lo, "max": hi, "repeats": 3}


def suite(date: str, c200: float, rate: float) -> dict:
    """A suite results file with only a few of its measures: the others have no row."""
    return {"benchmark": "suite", "date": date, "machine": MACHINE, "seconds": 1234.0,
            "targets": {"continuous_200_steps_seconds": 0.4},
            "continuous_200_steps_seconds": c200, "continuous_200_steps": spread(c200, 0.301, 0.377),
            "results": [{"checkpoint": "ardm", "steps": 10, "grammatical_rate": rate, "nll_bits_per_token": 1.7891,
                         "sample_seconds_per_sequence": 0.0123, "num_samples": 50}]}


def app() -> dict:
    return {"benchmark": "app", "date": "2030-01-02", "machine": MACHINE, "command": "python -m bench latency",
            "start_to_serving_seconds": spread(4.56, 4.5, 4.7),
            "denoise_200_steps_first_frame_seconds": spread(0.123, 0.11, 0.13),
            "denoise_200_steps_total_seconds": spread(0.987, 0.9, 1.1), "rss_mb_at_start": 321.0,
            "rss_mb_after_every_tab": 654.0, "targets": {"start_to_serving_seconds": 15},
            "handlers": {"Denoise": {"api": "/denoise", "first_output_seconds": spread(0.123, 0.11, 0.13),
                                     "total_seconds": spread(0.987, 0.9, 1.1)}}}


def load() -> dict:
    burst = {"clients": 7, "requests": 41, "completed": 40, "errors": 1, "first_frame_seconds": {"median": 12.34,
             "p95": 23.45}, "end_seconds": {"median": 13.5, "p95": 24.5}, "throughput_per_second": 0.66,
             "rss_mb_before": 500.0, "rss_mb_peak": 777.0, "rss_mb_after_settle": 766.0}
    return {"benchmark": "load", "date": "2030-01-03", "machine": MACHINE, "endpoints": ["/denoise"],
            "start_to_serving_seconds": 5.5, "rss_mb_at_start": 400.0, "bursts": [burst]}


def load_by_kind() -> dict:
    """A load file that tells default runs (replayed) from fresh ones (computed), against the targets."""
    r = load()
    kinds = {"default": {"first_frame_seconds": {"median": 0.04, "p95": 0.31}, "end_seconds": {"median": 1.26,
                                                                                                 "p95": 2.04}},
             "fresh": {"first_frame_seconds": {"median": 2.11, "p95": 4.44}, "end_seconds": None}}
    r["bursts"][0].update(per_kind=kinds, targets_met=True)
    r.update(mix={"fresh_every": 4, "think_seconds": 2.0},
             targets={"default_first_frame_p95_seconds": 1.0, "fresh_first_frame_p95_seconds": 5.0, "errors": 0})
    return r


def scaling() -> dict:
    job = {"job": "ardm-b128-s100", "recipe": "ardm", "batch_size": 128, "steps_asked": 100, "steps": 80,
           "seconds": 360.0, "sentences": 10240, "machine": "Testium 9 with a GPU", "times_shipped_sentences": 2.5,
           "grammatical_rate_by_seed": [0.555, 0.444], "nll_bits_per_token": 1.8765}
    return {"device": "cuda", "train_wall_seconds": 400.0, "parallel": 1, "threads_per_job": 2, "samples": 20,
            "smoke": False, "jobs": [job, {"job": "sedd-absorb-b64-s9", "recipe": "sedd-absorb", "batch_size": 64,
                                           "steps_asked": 9, "error": "train exited 1"}]}


def realtext() -> dict:
    common = {"nll_units": "per token: ...", "well_formed_rule": "starts with a capital letter ...",
              "train_minutes": 10.0, "command": "python -m diffusion train --family ar --corpus c.csv"}
    ar = {**common, "name": "ar", "tokenizer": "word", "train_steps": 1234, "nll_bits_per_token": 3.456,
          "nll_bits_per_word": 4.321, "nll_bits_per_char": 0.9876, "well_formed_rate": 0.93, "distinct_2": 0.61}
    s2s = {**common, "name": "seq2seq", "tokenizer": "bpe", "train_steps": 567, "nll_bits_per_token": None,
           "nll_note": "the seq2seq family reports no likelihood", "well_formed_rate": 0.2, "distinct_2": 0.4,
           "bleu": 12.34, "chrf": 34.56, "baseline_bleu": 45.67, "baseline_chrf": 67.89}
    continuous = {**ar, "name": "continuous", "nll_standard_error_bits_per_token": 0.0712}
    return {"date": "2030-01-05", "machine": MACHINE, "command": "python -m bench realtext", "seconds": 600.0,
            "corpus": "assets/corpora/stays.csv", "checkpoints": [ar, continuous, s2s]}


def meta() -> dict:
    entry = {"grammatical_rate": 0.87, "steps": 40, "nll_bits_per_token": 1.7654, "sample_seconds_per_sequence": 0.021,
             "num_samples": 100, "entropy_bits_per_token": 1.6662, "nll_method": "ELBO over the words plus -log p(L)"}
    return {"command": "python -m diffusion train --family ardm --minutes 3", "machine": "Testium 9, 3 cores",
            "seconds": 180.0, "steps": 4321,
            "evaluation": {"steps=40,order=random": entry, "steps=10,order=random": {**entry, "steps": 10,
                                                                                      "grammatical_rate": 0.31}}}


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    results, checkpoints, docs = tmp_path / "results", tmp_path / "checkpoints" / "tiny", tmp_path / "docs"
    for path in (results, checkpoints, docs):
        path.mkdir(parents=True)
    files = {"2029-12-31-testium-3cores.json": suite("2029-12-31", 0.888, 0.05),  # older: not shown
             "2030-01-01-testium-3cores.json": suite("2030-01-01", 0.321, 0.77),
             "app-2030-01-02-testium-3cores.json": app(), "load-2030-01-03-testium-3cores.json": load(),
             "scaling-2030-01-04-gpu.json": scaling(), "realtext-2030-01-05-testium-3cores.json": realtext(),
             "notes.json": {"not": "a results file"}}
    for name, data in files.items():
        (results / name).write_text(json.dumps(data))
    (checkpoints / "meta.json").write_text(json.dumps(meta()))
    start = report.GENERATED.format(source="assets/checkpoints/*/meta.json")
    (docs / "experiments.md").write_text(f"# Experiments\n\n{start}\n\nold table\n\n{report.RECIPES_END}\n\n## Tried\n")
    return {"--results": results, "--checkpoints": checkpoints.parent, "--docs": docs}


def args(folders: dict[str, Path], *more: str) -> list[str]:
    return [*more, *(x for key, path in folders.items() for x in (key, str(path)))]


def test_the_committed_pages_are_what_the_generator_writes(capsys):
    assert report.render_benchmarks() == (report.DOCS / "benchmarks.md").read_text(encoding="utf-8")
    experiments = (report.DOCS / "experiments.md").read_text(encoding="utf-8")
    assert report.render_experiments(experiments) == experiments
    assert report.main(["--check"]) == 0 and capsys.readouterr().out == ""


def test_the_pages_show_the_newest_file_of_each_kind_with_the_numbers_it_holds(folders):
    assert report.main(args(folders)) == 0
    page = (folders["--docs"] / "benchmarks.md").read_text()
    assert "`bench/results/2030-01-01-testium-3cores.json`: Testium 9, 3 cores, torch 9.9.9+cpu, 3 threads" in page
    assert "0.321 s (0.301 - 0.377) | <= 0.4 s: met" in page and "| `ardm` | 10: 0.77 | 1.789 | 0.0123 |" in page
    assert "(batch 50)" in page and "the run took 21 min, 3 repeats a timing" in page
    assert "0.888" not in page and "10: 0.05" not in page  # the older suite file
    # measures the run did not take have no row and no note
    assert "lean_vs_bert" not in page and "| matmul peak" not in page and "BertModel" not in page
    assert "- The quality rows" in page
    assert "| `python app.py` to serving | 4.56 s (4.50 - 4.70) | 15 s |" in page
    assert "| Denoise (`/denoise`) | 0.12 s (0.11 - 0.13) | 0.99 s (0.90 - 1.10) |" in page
    assert "654 MB (321 MB)" in page and "recorded command `python -m bench latency`" in page
    assert "| 7 | 40 of 41 | 1 | 12.3 (23.4) | 13.5 (24.5) | 0.66 | 500 / 777 / 766 |" in page
    assert "Testium 9 with a GPU; 1 jobs side by side" in page and "10 samples from each of 2 seeds" in page
    assert "| `ardm` | 128 | 80 of 100 (stopped at 360 s) | 0.01 M (2.5x) | 0.555 / 0.444 | 1.877 |" in page
    assert "| `sedd-absorb` | 64 | failed: train exited 1 |" in page
    assert "| `ar` | word | 10.0 min, 1234 steps | 3.46 / 4.32 / 0.988 | 93% | 0.61 |  |" in page
    assert "3.46 / 4.32 / 0.988 (± 0.07 per token)" in page  # the continuous bound with its standard error
    assert ("| `seq2seq` | bpe | 10.0 min, 567 steps | none: the seq2seq family reports no likelihood | 20% | 0.40 | "
            "12.3 / 34.6 (baseline 45.7 / 67.9) |") in page
    for command in re.findall(r"`python -m bench ?([a-z]*)", page):  # every command the page names exists
        assert command in ("", "latency", "load", "scaling", "realtext", "report")

    experiments = (folders["--docs"] / "experiments.md").read_text()
    assert experiments.startswith("# Experiments\n") and experiments.endswith(f"{report.RECIPES_END}\n\n## Tried\n")
    assert "old table" not in experiments
    assert ("| `tiny` | `python -m diffusion train --family ardm --minutes 3` | Testium 9, 3 cores | 3.0 min, 4321 steps "
            "| 1.765 (ELBO + length) |") in experiments
    assert "| `tiny` | order=random | 10: 0.31, 40: 0.87 | 0.021 |" in experiments
    assert "1.666 bits per word" in experiments


def test_the_load_section_tells_default_runs_from_fresh_ones(folders):
    (folders["--results"] / "load-2030-01-05-testium-3cores.json").write_text(json.dumps(load_by_kind()))
    assert report.main(args(folders)) == 0
    page = (folders["--docs"] / "benchmarks.md").read_text()
    assert "| 7 | 40 of 41 | 1 | 0.0 (0.3) / 1.3 (2.0) | 2.1 (4.4) / — | 0.66 | 500 / 777 / 766 | met |" in page
    assert "Every 4th run of a visitor is fresh" in page and "pauses 2 s on average" in page
    assert "p95 at most 1 s for a default run and 5 s for a fresh one" in page
    assert "12.3 (23.4)" not in page  # the older load file


def test_check_fails_in_one_line_when_a_page_is_stale(folders, capsys):
    assert report.main(args(folders)) == 0
    assert report.main(args(folders, "--check")) == 0
    page = folders["--docs"] / "benchmarks.md"
    page.write_text(page.read_text().replace("4.56 s", "4.00 s"))
    capsys.readouterr()
    assert report.main(args(folders, "--check")) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "benchmarks.md" in out and "python -m bench report" in out
    assert "4.00 s" in page.read_text()  # --check writes nothing


def test_a_page_without_its_markers_is_refused(folders, capsys):
    (folders["--docs"] / "experiments.md").write_text("# Experiments, typed by hand\n")
    assert report.main(args(folders)) == 1
    assert "lacks the lines" in capsys.readouterr().err
    assert not (folders["--docs"] / "benchmarks.md").exists()  # nothing written when one page cannot be


def test_the_commands_the_page_names_are_benchmarks_that_exist():
    main = pytest.importorskip("bench.__main__")
    page = report.render_benchmarks()
    named = set(re.findall(r"`python -m bench ([a-z]+)", page))
    assert named and named <= set(main.COMMANDS)

"""The Compare tab: figure builders and tables, handlers on tiny checkpoints, and the tab in Chromium (the Clamping
trick tab is in test_app_clamp.py)."""

import json
import re
from pathlib import Path

import gradio as gr
import pytest

import app
from conftest import shot, train_tiny
from diffusion.corpus import MR_EXAMPLE
from diffusion.shipped import SHIPPED as SHIPPED_INDEX
from test_app import open_in_chromium
from ui import compare as compare_ui
from ui.common import SHIPPED, TRAINED, env_name
from visualize.compare import (cards_html, nll_kind, quality_speed_figure, records_table_html, result_card,
                                scaling_figure)

@pytest.fixture(scope="session")
def tiny_ar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory, "ar")


@pytest.fixture
def compare_app(tiny_checkpoint, tiny_seq2seq, tiny_sedd, tiny_ardm, tiny_ar, monkeypatch: pytest.MonkeyPatch):
    """Every card on a tiny model; sedd-uniform pointed at the (absorbing) tiny sedd, which its card must refuse."""
    for name, path in (("continuous", tiny_checkpoint), ("seq2seq", tiny_seq2seq), ("sedd-absorb", tiny_sedd),
                       ("sedd-uniform", tiny_sedd), ("ardm", tiny_ardm), ("ar", tiny_ar)):
        monkeypatch.setenv(env_name(name), str(path))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    app._load.cache_clear()
    yield compare_ui
    app._load.cache_clear()


def _statuses(page_html: str) -> dict[str, str]:
    return dict(re.findall(r'data-family="([^"]+)" data-status="(\w+)"', page_html))


def _texts(page_html: str) -> dict[str, str]:
    names = re.findall(r'data-family="([^"]+)" data-status="done"', page_html)
    return dict(zip(names, re.findall(r'class="card-text"[^>]*>([^<]*)<', page_html)))


# ---- figures and tables -------------------------------------------------------------------------------------------

def test_result_card_states():
    done = result_card("ar", "done", tokens=["a", "pub", "[PAD]"], confidence=[0.5, 0.9, 0.0], text="a pub",
                       grammatical=True, seconds=0.25, steps=40, note="one step per token")
    assert 'data-status="done"' in done and "grammatical ✓" in done and "0.25 s" in done and "40 steps" in done
    assert "[PAD]" not in done and "network call" not in done
    counted = result_card("ar", "done", tokens=["a"], text="a", grammatical=False, seconds=0.1, steps=40, calls=3)
    assert "40 steps" in counted and "3 network calls" in counted
    assert "1 network call ·" in result_card("ar", "done", tokens=["a"], text="a", grammatical=False, seconds=0.1,
                                             calls=1)
    assert "skipped: no model" in result_card("ardm", "skipped", message="no model")
    assert "waiting" in result_card("ardm", "waiting") and "running" in result_card("ardm", "running")
    with pytest.raises(ValueError, match="status must be one of"):
        result_card("ar", "finished")
    with pytest.raises(ValueError, match="needs tokens"):
        result_card("ar", "done", text="a pub")
    assert cards_html([done, done], "seed 3").count('class="family-card"') == 2


def test_nll_kind_reads_the_recorded_method():
    assert nll_kind("exact: the sum of next-token log-probabilities") == "exact"
    assert nll_kind("ELBO (Eq. 6) summed over every t") == "ELBO"
    assert nll_kind("DWDSE bound: 32 stratified times") == "bound"
    assert nll_kind(None) is None


ROWS = [
    dict(name="ar", family="ar", steps=40, sampler="", nll=1.678, nll_method="exact", nll_detail="exact: ...",
         grammatical_rate=0.99, seconds_per_sequence=0.012, train_minutes=10.0, source="meta.json"),
    dict(name="sedd-absorb", family="sedd", steps=16, sampler="euler", nll=1.803, nll_method="bound",
         nll_detail="DWDSE", grammatical_rate=0.17, seconds_per_sequence=0.018, train_minutes=10.0, source="meta.json"),
    dict(name="sedd-absorb", family="sedd", steps=64, sampler="euler", nll=1.803, nll_method="bound",
         nll_detail="DWDSE", grammatical_rate=0.37, seconds_per_sequence=0.07, train_minutes=10.0, source="meta.json"),
    dict(name="seq2seq", family="seq2seq", steps=200, sampler="ddpm", nll=None, nll_method=None, nll_detail=None,
         grammatical_rate=0.35, seconds_per_sequence=0.24, train_minutes=15.0, source="meta.json"),
]


def test_records_table_lists_every_row_and_the_entropy_floor():
    out = records_table_html(ROWS, 1.6662, ["bench.json: not readable JSON"])
    assert out.count("<tr>") == 1 + len(ROWS)
    assert "1.678 <span" in out and "(exact)" in out and "(bound)" in out
    assert "1.666 bits per word" in out and "not readable JSON" in out
    assert "no recorded evaluations" in records_table_html([], None)


def test_quality_speed_figure_has_a_point_per_entry():
    fig = quality_speed_figure(ROWS)
    assert [t.name for t in fig.data] == ["seq2seq", "sedd-absorb", "ar"]  # in the palette's order of kinds
    sedd = fig.data[1]
    assert list(sedd.x) == [0.018, 0.07] and list(sedd.y) == [0.17, 0.37] and list(sedd.text) == ["16", "64"]
    assert len({t.marker.symbol for t in fig.data}) == 3  # told apart by shape, not colour alone
    assert len({t.marker.color for t in fig.data}) == 3
    assert fig.layout.xaxis.type == "log"
    assert list(fig.layout.xaxis.tickvals) == [0.01, 0.02, 0.05, 0.1, 0.2, 0.5]  # 1-2-5 ticks around 0.012..0.24 s


# ---- Compare handlers ---------------------------------------------------------------------------------------------

def test_compare_streams_one_result_per_family(compare_app):
    families = list(compare_app.ENTRIES)
    outputs = list(compare_app.compare_run(0, 6, families, MR_EXAMPLE, SHIPPED, {}))
    first, last = _statuses(outputs[0]), _statuses(outputs[-1])
    assert list(first) == families  # every card from the start, in order
    assert first["sedd-uniform"] == last["sedd-uniform"] == "skipped"  # an absorbing model on the uniform card
    assert "uses the absorb graph, not uniform" in outputs[-1]
    ran = [f for f in families if f != "sedd-uniform"]
    assert all(last[f] == "done" for f in ran)
    assert len(outputs) == 1 + 2 * len(ran)  # all waiting, then running and done for each in turn
    done = [sum(s == "done" for s in _statuses(o).values()) for o in outputs]
    assert done == sorted(done) and done[-1] == len(ran) and all(b - a <= 1 for a, b in zip(done, done[1:]))
    assert len(re.findall(r"\d+\.\d\d s<", outputs[-1])) == len(ran)  # the seconds of each finished card
    assert outputs[-1].count("grammatical ✓") + outputs[-1].count("not grammatical ✗") == len(ran)
    # The budget per family: ar writes one token per step whatever the budget; the others take the budget.
    L = app.get_checkpoint("ar").config.seq_len
    assert f"always one step per token ({L})" in outputs[-1] and "6 steps" in outputs[-1]
    assert "held" in outputs[-1]  # the seq2seq card shows its fixed source
    # Network calls: one a step for the Gaussian families; at most one a step for the others (ar stops once its
    # sentence has ended, which the tiny model may not do before its L steps)
    cards = outputs[-1].split('class="family-card"')[1:]
    calls = {re.search(r'data-family="([^"]+)"', c).group(1): int(m.group(1))
             for c in cards if (m := re.search(r"(\d+) network calls?", c))}
    assert set(calls) == set(ran) and calls["continuous"] == calls["seq2seq"] == 6
    assert 0 < calls["sedd-absorb"] <= 6 and 0 < calls["ardm"] <= 6 and 0 < calls["ar"] <= L
    # A token family's card colours its words by the step that wrote them: ar one word a step, in order
    by_family = {re.search(r'data-family="([^"]+)"', c).group(1): c for c in cards}
    written = {f: [int(s) for s in re.findall(r'class="commit" data-step="(\d+)"', by_family[f])] for f in ran}
    assert written["continuous"] == written["seq2seq"] == []  # the Gaussian families move every word every step
    assert written["ar"] == list(range(1, len(written["ar"]) + 1)) and written["ar"]
    assert written["ardm"] and all(1 <= s <= 6 for s in written["ardm"] + written["sedd-absorb"])


def test_compare_is_deterministic_per_seed(compare_app):
    families = ["continuous", "sedd-absorb", "ardm", "ar"]
    first = _texts(list(compare_app.compare_run(3, 8, families, "", SHIPPED, {}))[-1])
    again = _texts(list(compare_app.compare_run(3, 8, families, "", SHIPPED, {}))[-1])
    other = _texts(list(compare_app.compare_run(4, 8, families, "", SHIPPED, {}))[-1])
    assert list(first) == families and first == again and first != other


def test_compare_caps_the_budget_where_a_family_cannot_use_it(compare_app):
    T = app.get_checkpoint().process.T
    D = app.get_checkpoint("ardm").config.seq_len
    out = list(compare_app.compare_run(0, T + 10, ["continuous", "ardm"], "", SHIPPED, {}))
    assert len(out) == 5
    assert f"{T} steps" in out[0] and f"capped at the model's {T} training timesteps" in out[0]
    assert f"{D} steps" in out[0] and f"one position per step (its length {D})" in out[0]


def test_compare_with_models_trained_here(compare_app, tiny_ardm):
    out = list(compare_app.compare_run(0, 4, ["ardm", "ar"], "", TRAINED, {"ardm": str(tiny_ardm)}))[-1]
    assert _statuses(out) == {"ardm": "done", "ar": "skipped"}
    assert "you have not trained a ar model" in out


@pytest.mark.parametrize("args, message", [
    ((-1, 10, ["ar"], "", SHIPPED, {}), "seed must be a whole number from 0 to 2^63 - 1"),
    ((0, 0, ["ar"], "", SHIPPED, {}), "step budget must be a whole number from 1 to 1000"),
    ((0, 1001, ["ar"], "", SHIPPED, {}), "step budget must be a whole number from 1 to 1000"),
    ((0, 10, [], "", SHIPPED, {}), "families must be one or more of continuous, seq2seq, sedd-absorb"),
    ((0, 10, ["gpt"], "", SHIPPED, {}), "families must be one or more of"),
    ((0, 10, ["seq2seq"], "name [nowhere]", SHIPPED, {}), "seq2seq source:"),
    ((0, 10, ["seq2seq"], "", SHIPPED, {}), "seq2seq source: the source is empty"),
])
def test_compare_bad_input_raises_gr_error(compare_app, args, message):
    with pytest.raises(gr.Error, match=re.escape(message)):
        list(compare_app.compare_run(*args))


def test_recorded_rows_read_meta_json_and_bench_results(tiny_sedd, monkeypatch, tmp_path):
    monkeypatch.setenv(env_name("sedd-absorb"), str(tiny_sedd))
    recorded = json.loads((tiny_sedd / "meta.json").read_text())["evaluation"]
    (entry,) = recorded.values()
    bench = tmp_path / "results"
    bench.mkdir()
    (bench / "speed.json").write_text(json.dumps({"results": [
        {"family": "ar", "checkpoint": "assets/checkpoints/ar", "steps": 40, "grammatical_rate": 0.5,
         "seconds_per_sequence": 0.02, "nll_bits_per_token": 1.7, "nll_method": "exact: sum"}]}))
    (bench / "broken.json").write_text("{not json")
    rows, floor, notes = compare_ui.recorded_rows(bench)
    sedd = [r for r in rows if r["name"] == "sedd-absorb"]
    assert len(sedd) == 1 and sedd[0]["steps"] == entry["steps"] and sedd[0]["source"] == "meta.json"
    assert sedd[0]["nll"] == entry["nll_bits_per_token"] and sedd[0]["nll_method"] == "bound"
    assert sedd[0]["grammatical_rate"] == entry["grammatical_rate"]
    assert sedd[0]["seconds_per_sequence"] == entry["sample_seconds_per_sequence"]
    assert sedd[0]["train_minutes"] == pytest.approx(json.loads((tiny_sedd / "meta.json").read_text())["seconds"] / 60)
    (b,) = [r for r in rows if r["source"] == "bench/speed.json"]
    assert (b["name"], b["nll_method"], b["grammatical_rate"]) == ("ar", "exact", 0.5)
    assert any("broken.json" in n for n in notes)
    assert floor == pytest.approx(entry["entropy_bits_per_token"])
    # no bench folder at all is fine
    assert compare_ui.recorded_rows(tmp_path / "none")[0] == [r for r in rows if r["source"] == "meta.json"]


def test_recorded_rows_show_the_newest_bench_run_only(tmp_path):
    """Each full bench run measures every checkpoint again: the table shows the newest (by its date, then file name)
    and names the others, so three runs do not triple the rows."""
    bench = tmp_path / "results"
    bench.mkdir()

    def run(name: str, date: str | None, rate: float) -> None:
        data = {"results": [{"family": "ar", "checkpoint": "assets/checkpoints/ar", "steps": 40,
                             "grammatical_rate": rate, "seconds_per_sequence": 0.01}]}
        (bench / name).write_text(json.dumps(dict(data, date=date) if date else data))

    run("2026-12-03-amd.json", "2026-12-03", 0.9)
    run("2026-11-23-amd.json", "2026-11-23", 0.7)
    run("zz-no-date.json", None, 0.1)  # no date sorts before any dated run, whatever its name
    rows, _, notes = compare_ui.recorded_rows(bench)
    bench_rows = [r for r in rows if r["source"].startswith("bench/")]
    assert [(r["source"], r["grammatical_rate"]) for r in bench_rows] == [("bench/2026-12-03-amd.json", 0.9)]
    (note,) = [n for n in notes if "older runs" in n]
    assert "2026-11-23-amd.json" in note and "zz-no-date.json" in note and "2026-12-03-amd.json, " not in note
    # a file with no rows (a speed-only report) is not a run, so it never hides the newest one
    (bench / "2027-01-01-speed.json").write_text(json.dumps({"date": "2027-01-01", "continuous_200_steps": 0.3}))
    assert [r["source"] for r in compare_ui.recorded_rows(bench)[0] if r["source"].startswith("bench/")] == \
        ["bench/2026-12-03-amd.json"]


@pytest.mark.skipif(not (app.CHECKPOINTS / "ardm").is_dir(), reason="no shipped checkpoints")
def test_summary_has_each_checkpoints_default_and_best(monkeypatch, tmp_path):
    """One entry per shipped checkpoint: the evaluation made with its own sampler at its default steps (read from
    its process, not typed here), and its best recorded one, from its meta.json."""
    for name in compare_ui.ENTRIES:
        monkeypatch.delenv(env_name(name), raising=False)
    rows, _, _ = compare_ui.recorded_rows(tmp_path)
    summary = compare_ui.summary_rows(rows)
    assert [e["name"] for e in summary] == list(SHIPPED_INDEX)
    for e in summary:
        evaluations = json.loads((app.CHECKPOINTS / e["name"] / "meta.json").read_text())["evaluation"].values()
        rates = [v["grammatical_rate"] for v in evaluations if v.get("grammatical_rate") is not None]
        assert e["best"]["grammatical_rate"] == max(rates) and e["best"]["source"] == "meta.json"
        assert e["default"]["default"] and e["default"]["name"] == e["name"]
    assert sum(r.get("default", False) for r in rows) == len(SHIPPED_INDEX)  # one default each
    by = {e["name"]: e for e in summary}
    assert by["ar"]["best"] is by["ar"]["default"]  # one recorded setting: the default is the best
    # the default is the family's own sampler at its default steps: no fixed order, no remasking, no other sampler
    for name, family in (("ardm", "ardm"), ("sedd-absorb", "sedd")):
        process = app.get_checkpoint(family, name).process
        assert by[name]["default"]["steps"] == process.default_steps
        assert "order" not in by[name]["default"]["sampler"] and "remask" not in by[name]["default"]["sampler"]
    assert by["ardm"]["best"]["sampler"].endswith("confident order")  # its best: another sampler than its default
    assert by["sedd-absorb"]["default"]["sampler"] == app.get_checkpoint("sedd", "sedd-absorb").process.sampler


@pytest.mark.skipif(not (app.CHECKPOINTS / "ardm").is_dir(), reason="no shipped checkpoints")
def test_recorded_rows_of_the_shipped_checkpoints(monkeypatch, tmp_path):
    for name in compare_ui.ENTRIES:
        monkeypatch.delenv(env_name(name), raising=False)
    rows, floor, _ = compare_ui.recorded_rows(tmp_path)
    by = {(r["name"], r["steps"], r["sampler"]): r for r in rows}
    assert {r["name"] for r in rows} == {*compare_ui.ENTRIES, *compare_ui.RECORDED_ONLY}
    assert by[("continuous-eps", 200, "ddpm · clamp")]["nll_method"] == "bound"  # the eps twin: a row, no card
    assert by[("ar", 40, "temperature 1.0")]["nll_method"] == "exact"
    # ARDM at 10 of its 40 positions: the planned parallel decoding's NLL, not the full ELBO
    ardm = json.loads((app.CHECKPOINTS / "ardm" / "meta.json").read_text())["evaluation"]
    assert by[("ardm", 10, "temperature 1.0")]["nll"] == ardm["steps=10,temperature=1.0"]["nll_by_budget"]["10"]
    assert by[("ardm", 10, "temperature 1.0")]["nll_method"] == "ELBO"
    fixed = by[("ardm", 40, "temperature 1.0 · left-to-right order")]  # one fixed order: its exact NLL
    assert fixed["nll"] == ardm["steps=40,temperature=1.0,order=left-to-right"]["nll_by_order"]["left-to-right"]
    assert fixed["nll_method"] == "exact" and by[("ardm", 40, "temperature 1.0")]["nll_method"] == "ELBO"
    assert by[("continuous", 200, "ddpm · clamp")]["nll_method"] == "bound"  # recorded before methods were named
    assert by[("seq2seq", 200, "ddpm · clamp · MBR over 5")]["nll"] is None
    sedd = json.loads((app.CHECKPOINTS / "sedd-absorb" / "meta.json").read_text())["evaluation"]
    remasked = by[("sedd-absorb", 1024, "tweedie · remask 0.02")]  # its own row, not a second plain tweedie one
    assert remasked["grammatical_rate"] == sedd["steps=1024,sampler=tweedie,remask=0.02"]["grammatical_rate"]
    plain = by[("sedd-absorb", 1024, "tweedie")]
    assert plain["grammatical_rate"] == sedd["steps=1024,sampler=tweedie"]["grammatical_rate"]
    assert floor == pytest.approx(1.666, abs=1e-3)


def test_scaling_chart_reads_the_newest_report_and_the_shipped_rates(tmp_path):
    """The quality-against-sentences chart: the newest readable scaling-*.json, one line per recipe in order of
    sentences, a star per shipped checkpoint at its own count; nothing recorded is an empty chart that says so."""
    jobs = [{"recipe": "ardm", "batch_size": 1024, "steps": 10, "sentences": 4_000_000, "grammatical_rate": 0.8,
             "times_shipped_sentences": 4.0, "nll_bits_per_token": 1.7},
            {"recipe": "ardm", "batch_size": 64, "steps": 10, "sentences": 1_000_000, "grammatical_rate": 0.6},
            {"recipe": "ardm", "error": "train exited 1"}]
    (tmp_path / "scaling-2026-01-01-x.json").write_text(json.dumps({"jobs": jobs, "device": "cuda",
                                                                    "shipped_sentences": {"ardm": 1_000_000}}))
    (tmp_path / "scaling-2026-02-01-x.json").write_text("{not json")  # newer but unreadable: skipped
    (tmp_path / "2026-03-01-x.json").write_text(json.dumps({"results": []}))  # a bench run, not a scaling report
    report, name = compare_ui.scaling_report(tmp_path)
    assert name == "scaling-2026-01-01-x.json" and len(report["jobs"]) == 3
    rows = [dict(name="ardm", source="meta.json", sampler="temperature 1.0", steps=40, grammatical_rate=0.68),
            dict(name="ardm", source="meta.json", sampler="temperature 1.0 · confident order", steps=40,
                 grammatical_rate=0.95),
            dict(name="ardm", source="bench/x.json", sampler="", steps=40, grammatical_rate=0.1),
            dict(name="sedd-absorb", source="meta.json", sampler="euler", steps=1024, grammatical_rate=0.6),
            dict(name="sedd-absorb", source="meta.json", sampler="tweedie", steps=64, grammatical_rate=0.49),
            dict(name="sedd-absorb", source="meta.json", sampler="tweedie", steps=1024, grammatical_rate=0.61)]
    assert compare_ui.shipped_rates(rows) == {"ardm": 0.68, "sedd-absorb": 0.61}
    fig = scaling_figure(report, {"ardm": 0.68}, name)
    line, link, star = fig.data
    assert list(line.x) == [1.0, 4.0] and list(line.y) == [0.6, 0.8]  # sorted by sentences, the failed job left out
    assert list(link.x) == [1.0, 1.0] and list(link.y) == [0.68, 0.6] and not link.showlegend
    assert list(star.x) == [1.0] and list(star.y) == [0.68] and star.marker.symbol == "star"
    assert any(s.y0 == 0.95 for s in fig.layout.shapes) and name in fig.layout.title.text
    empty = scaling_figure(None)
    assert not empty.data and "no quality-against-compute results" in empty.layout.annotations[0].text
    assert compare_ui.scaling_report(tmp_path / "missing") == (None, "")


# ---- browser ------------------------------------------------------------------------------------------------------

def use_shipped(monkeypatch):
    for name in compare_ui.ENTRIES:
        monkeypatch.delenv(env_name(name), raising=False)
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    app._load.cache_clear()


@pytest.mark.skipif(not (app.CHECKPOINTS / "ar").is_dir(), reason="no shipped checkpoints")
def test_compare_tab_in_browser(monkeypatch):
    """The shipped models in Chromium: every family fills its card; the table and the chart are shown."""
    from playwright.sync_api import expect

    use_shipped(monkeypatch)
    screenshot = shot("screenshot-compare.png")
    try:
        with open_in_chromium(app) as page:
            page.get_by_role("tab", name="Compare").click()
            summary = page.locator("#cmp-summary")
            # one row per shipped checkpoint; every recorded row waits behind a closed accordion
            expect(summary.locator("tr[data-checkpoint]")).to_have_count(len(SHIPPED_INDEX), timeout=30_000)
            expect(summary.locator('tr[data-checkpoint="ardm"] [data-col="best-setting"]')).to_contain_text(
                "confident order")
            expect(summary).to_contain_text("1.666 bits per word")
            table = page.locator("#cmp-table")
            expect(table).to_be_hidden()
            # set the budget once the page's load events have run (in one CI run a budget typed before them was
            # lost, and the run went at the default 64)
            box = page.locator("#cmp-budget input[type=number]")
            box.fill("20")
            box.press("Enter")
            expect(page.locator("#cmp-budget input[type=range]")).to_have_value("20")  # the slider took it
            page.locator("#cmp-all").get_by_text("All recorded figures").click()
            expect(table.locator("td", has_text="sedd-uniform").first).to_be_visible()
            expect(table).to_contain_text("(exact)")
            expect(page.locator("#cmp-chart .js-plotly-plot svg.main-svg").first).to_be_visible()
            scaling = page.locator("#cmp-scaling")
            expect(scaling.locator(".js-plotly-plot svg.main-svg").first).to_be_visible()
            expect(scaling).to_contain_text("ardm: shipped (CPU, 10 min)")  # the legend: the shipped star
            expect(scaling).to_contain_text("target 0.95")
            page.locator("#cmp-run").click()
            results = page.locator("#cmp-results")
            expect(results.locator('.family-card[data-status="done"]')).to_have_count(len(compare_ui.ENTRIES),
                                                                                      timeout=120_000)
            expect(results).to_contain_text("always one step per token")
            expect(results).to_contain_text("seed 0 · step budget 20")
            page.screenshot(path=str(screenshot), full_page=True)
    finally:
        app._load.cache_clear()
    assert screenshot.stat().st_size > 10_000

"""The Clamping trick and Compare tabs: figure builders, handlers on tiny checkpoints, and both tabs in Chromium."""

import json
import re
from pathlib import Path

import gradio as gr
import pytest

import app
from conftest import train_tiny
from diffusion.corpus import MR_EXAMPLE
from test_app import ROOT, open_in_chromium
from ui import clamp as clamp_ui
from ui import compare as compare_ui
from ui.common import SHIPPED, TRAINED, env_name
from visualize.clamp import clamp_distances_figure, disagreement_figure, disagreements, verdict_html
from visualize.compare import cards_html, nll_kind, quality_speed_figure, records_table_html, result_card


@pytest.fixture(scope="session")
def tiny_ar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory, "ar")


@pytest.fixture(scope="session")
def tiny_eps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory, "continuous", "--no-projection", "--parameterisation", "eps")


@pytest.fixture
def clamp_app(tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(app.CHECKPOINT_ENV, str(tiny_checkpoint))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    app._load.cache_clear()
    yield clamp_ui
    app._load.cache_clear()


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

def test_disagreements_counts_positions_per_sample():
    assert disagreements([[1, 2, 3], [1, 2, 3]], [[1, 0, 3], [0, 0, 0]]) == 2.0  # (1 + 3) / 2 samples
    assert disagreements([4, 5], [4, 5]) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        disagreements([[1, 2]], [[1, 2, 3]])


def test_clamp_figures_draw_both_runs_and_mark_the_step():
    fig = clamp_distances_figure([1, 2, 3], [[[2.0, 4.0]], 1.0, 0.5], [3.0, 2.5, 2.0], current=2, num_steps=3,
                                 clamp_start=1)
    names = [t.name for t in fig.data]
    assert names[:2] == ["with clamping", "without clamping"] and "step 2" in names
    assert list(fig.data[0].y) == [3.0, 1.0, 0.5] and list(fig.data[-1].y) == [1.0, 2.5]
    assert fig.layout.shapes  # the current-step line and the not-yet-clamped band
    counts = disagreement_figure([1, 2], [5, 0], [6, 4], length=8, current=None)
    assert [list(t.y) for t in counts.data] == [[5, 0], [6, 4]] and "of 8" in counts.layout.yaxis.title.text
    with pytest.raises(ValueError, match="one value per step"):
        disagreement_figure([1, 2], [5], [6, 4], length=8)


def test_verdict_html_escapes_and_says_the_grammar():
    out = verdict_html("<b>pub</b>", False, 0.0)
    assert "not grammatical" in out and "&lt;b&gt;" in out and "0.000 from the nearest words" in out
    assert "grammatical ✓" in verdict_html("a pub .", True)


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
    assert [t.name for t in fig.data] == ["ar", "sedd-absorb", "seq2seq"]
    sedd = fig.data[1]
    assert list(sedd.x) == [0.018, 0.07] and list(sedd.y) == [0.17, 0.37] and list(sedd.text) == ["16", "64"]
    assert len({t.marker.symbol for t in fig.data}) == 3  # told apart by shape, not colour alone
    assert fig.layout.xaxis.type == "log"
    assert list(fig.layout.xaxis.tickvals) == [0.01, 0.02, 0.05, 0.1, 0.2, 0.5]  # 1-2-5 ticks around 0.012..0.24 s


# ---- Clamping trick handlers --------------------------------------------------------------------------------------

def test_clamp_compare_streams_both_runs_then_reveals_the_scrubber(clamp_app):
    outputs = list(clamp_app.clamp_compare(0, 20, "ddpm", 0, SHIPPED, {}))
    assert "step 0 / 20" in outputs[0][0] and "step 0 / 20" in outputs[0][1]
    assert outputs[0][-3:-1] == outputs[-1][-3:-1] == ("**With clamping**", "**Without clamping**")  # headings
    on, off, verdict_on, verdict_off, record, slider, distance, disagree, *_ = outputs[-1]
    assert "step 20 / 20" in on and "x̂₀ clamped" in on and "not clamped" in off
    assert "grammatical" in verdict_on and "grammatical" in verdict_off
    assert len(record["frame_steps"]) == len(outputs) - 1 == 21  # the prior, 20 steps, then the reveal
    assert slider.visible is True and slider.maximum == 20
    assert distance.visible is True and disagree.visible is True
    assert record["clamped"]["on"] == [True] * 20 and record["clamped"]["off"] == [False] * 20
    # A clamped last step hands back x0_hat snapped to words: the chain ends exactly on embeddings; unclamped, not.
    assert record["final_distance"]["on"] == pytest.approx(0.0, abs=1e-5)
    assert record["final_distance"]["off"] > 1e-3
    # The last step's x_0 rounds to x0_hat's words in both runs (clamped: it *is* their embeddings).
    assert record["disagree"]["on"][-1] == 0.0 and record["disagree"]["off"][-1] == 0.0
    assert record["distance"]["on"] != record["distance"]["off"]
    html_on, html_off, fig_d, fig_c = clamp_app.clamp_scrub(0, record)
    assert "step 0 / 20" in html_on and "step 0 / 20" in html_off
    assert [t.name for t in fig_d.data][:2] == ["with clamping", "without clamping"]
    assert fig_c.data[0].y is not None and len(fig_c.data[0].y) == 20


def test_clamp_compare_is_deterministic_per_seed(clamp_app):
    first = list(clamp_app.clamp_compare(5, 12, "ddim", 3, SHIPPED, {}))[-1][4]
    again = list(clamp_app.clamp_compare(5, 12, "ddim", 3, SHIPPED, {}))[-1][4]
    other = list(clamp_app.clamp_compare(6, 12, "ddim", 3, SHIPPED, {}))[-1][4]
    assert first["frames"] == again["frames"] and first["distance"] == again["distance"]
    assert first["frames"] != other["frames"]


@pytest.mark.parametrize("start", [4, 11])
def test_clamping_starts_exactly_after_the_chosen_step(clamp_app, start):
    record = list(clamp_app.clamp_compare(2, 15, "ddpm", start, SHIPPED, {}))[-1][4]
    assert record["indices"] == list(range(1, 16))
    assert record["clamped"]["on"] == [i > start for i in record["indices"]]
    on, off = record["frames"]["on"], record["frames"]["off"]
    # Up to the start the two runs are the same computation from the same noise: identical frames and distances.
    assert on[:start + 1] == off[:start + 1]
    # Step start + 1 measures x0_hat before snapping it, so its distance still agrees; from then on the runs part.
    assert record["distance"]["on"][:start + 1] == record["distance"]["off"][:start + 1]
    assert record["distance"]["on"][start + 1:] != record["distance"]["off"][start + 1:]
    assert on[start + 1] != off[start + 1]


def test_clamping_from_the_last_step_never_clamps(clamp_app):
    out = list(clamp_app.clamp_compare(1, 10, "ddim", 10, SHIPPED, {}))[-1]
    record = out[4]
    assert not any(record["clamped"]["on"])
    assert out[0] == out[1] and record["final_distance"]["on"] == record["final_distance"]["off"] > 0


def test_clamp_compare_runs_the_model_trained_in_this_session(tiny_checkpoint, monkeypatch, tmp_path):
    monkeypatch.setenv(app.CHECKPOINT_ENV, str(tmp_path / "nowhere"))  # the shipped one is not used
    app._load.cache_clear()
    try:
        out = list(clamp_ui.clamp_compare(0, 10, "ddpm", 0, TRAINED, {"continuous": str(tiny_checkpoint)}))[-1]
        assert "step 10 / 10" in out[0]
        with pytest.raises(gr.Error, match=app.CHECKPOINT_ENV):
            list(clamp_ui.clamp_compare(0, 10, "ddpm", 0, SHIPPED, {}))
    finally:
        app._load.cache_clear()


@pytest.fixture
def x0_eps_app(tiny_checkpoint: Path, tiny_eps: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(app.CHECKPOINT_ENV, str(tiny_checkpoint))
    monkeypatch.setenv(env_name(clamp_ui.EPS_FOLDER), str(tiny_eps))
    app._load.cache_clear()
    yield clamp_ui
    app._load.cache_clear()


def test_x0_beside_eps_runs_both_models_on_the_same_noise(x0_eps_app, tiny_checkpoint, tiny_eps):
    outputs = list(x0_eps_app.clamp_compare(3, 12, "ddpm", 0, SHIPPED, {}, "prediction"))
    first, last = outputs[0], outputs[-1]
    assert first[-3].startswith("**Predicts x₀") and first[-2].startswith("**Predicts ε")
    record = last[4]
    assert record["compare"] == "prediction"
    assert record["clamped"]["on"] == record["clamped"]["off"] == [True] * 12  # the same sampler for both models
    assert record["final_distance"]["on"] == pytest.approx(0.0, abs=1e-5)  # both end clamped on words
    assert record["final_distance"]["off"] == pytest.approx(0.0, abs=1e-5)
    assert record["distance"]["on"] != record["distance"]["off"]  # two networks, two predictions
    # each column is its own model: the same as running that checkpoint alone with the same seed
    import torch

    from diffusion import checkpoint
    from diffusion.sampling import sample
    eps = checkpoint.load(tiny_eps)
    alone = sample(eps.process.configure(sampler="ddpm", clamp=True, clamp_from=1.0), eps.model, 1, 12,
                   generator=torch.Generator().manual_seed(3), every=12)
    assert record["texts"]["off"] == eps.tokenizer.decode(alone.steps[-1].tokens[0])
    accuracy = last[-1]  # the one-shot x0_hat of held-out sentences, both models, against t
    assert accuracy.visible is True
    names = [t["name"] for t in json.loads(accuracy.value["plot"])["data"]]
    assert names == ["predicts x₀: words", "predicts x₀: sentences", "predicts ε: words", "predicts ε: sentences"]
    fig_d, fig_c = x0_eps_app.clamp_scrub(5, record)[2:]
    assert [t.name for t in fig_d.data][:2] == ["predicts x₀", "predicts ε"]
    assert [t.name for t in fig_c.data][:2] == ["predicts x₀", "predicts ε"]


def test_x0_beside_eps_refuses_what_it_cannot_compare(x0_eps_app, tiny_checkpoint, monkeypatch, tmp_path):
    with pytest.raises(gr.Error, match="compares the two shipped models; pick the shipped model"):
        list(x0_eps_app.clamp_compare(0, 10, "ddpm", 0, TRAINED, {"continuous": str(tiny_checkpoint)}, "prediction"))
    with pytest.raises(gr.Error, match=re.escape("compare must be one of clamping, prediction, got 'both'")):
        list(x0_eps_app.clamp_compare(0, 10, "ddpm", 0, SHIPPED, {}, "both"))
    monkeypatch.setenv(env_name(clamp_ui.EPS_FOLDER), str(tiny_checkpoint))  # an x0 model where the eps one goes
    app._load.cache_clear()
    with pytest.raises(gr.Error, match="needs an x0 and an eps model, got x0 and x0"):
        list(x0_eps_app.clamp_compare(0, 10, "ddpm", 0, SHIPPED, {}, "prediction"))
    monkeypatch.setenv(env_name(clamp_ui.EPS_FOLDER), str(tmp_path / "nowhere"))
    app._load.cache_clear()
    with pytest.raises(gr.Error, match="DIFFUSION_CHECKPOINT_CONTINUOUS_EPS .*--parameterisation eps"):
        list(x0_eps_app.clamp_compare(0, 10, "ddpm", 0, SHIPPED, {}, "prediction"))
    # the clamping comparison does not need the eps model at all, and hides the x0 / eps accuracy plot
    last = list(x0_eps_app.clamp_compare(0, 10, "ddpm", 0, SHIPPED, {}, "clamping"))[-1]
    assert "step 10 / 10" in last[0] and last[-1].visible is False


@pytest.mark.parametrize("args, message", [
    ((1.5, 20, "ddpm", 0, SHIPPED, {}), "seed must be a whole number from 0 to 2^63 - 1"),
    ((None, 20, "ddpm", 0, SHIPPED, {}), "seed must be a whole number"),
    ((0, 5000, "ddpm", 0, SHIPPED, {}), "steps must be a whole number from 10 to 200"),
    ((0, 20, "ddpm", 21, SHIPPED, {}), "clamping start step must be a whole number from 0 to 20"),
    ((0, 20, "euler", 0, SHIPPED, {}), "sampler must be one of ddpm, ddim"),
    ((0, 20, "ddpm", 0, TRAINED, {}), "you have not trained a continuous model"),
    ((0, 20, "ddpm", 0, "mine", {}), "model must be one of 'shipped', 'trained here'"),
])
def test_clamp_bad_input_raises_gr_error(clamp_app, args, message):
    with pytest.raises(gr.Error, match=re.escape(message)):
        list(clamp_app.clamp_compare(*args))


def test_clamp_scrub_without_a_run_changes_nothing(clamp_app):
    assert all(isinstance(v, type(gr.skip())) for v in clamp_app.clamp_scrub(3, None))


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
    assert by[("continuous", 200, "ddpm · clamp")]["nll_method"] == "bound"  # recorded before methods were named
    assert by[("seq2seq", 200, "ddpm · clamp · MBR over 5")]["nll"] is None
    sedd = json.loads((app.CHECKPOINTS / "sedd-absorb" / "meta.json").read_text())["evaluation"]
    remasked = by[("sedd-absorb", 1024, "tweedie · remask 0.02")]  # its own row, not a second plain tweedie one
    assert remasked["grammatical_rate"] == sedd["steps=1024,sampler=tweedie,remask=0.02"]["grammatical_rate"]
    plain = by[("sedd-absorb", 1024, "tweedie")]
    assert plain["grammatical_rate"] == sedd["steps=1024,sampler=tweedie"]["grammatical_rate"]
    assert floor == pytest.approx(1.666, abs=1e-3)


# ---- browser ------------------------------------------------------------------------------------------------------

def _shipped(monkeypatch):
    for name in compare_ui.ENTRIES:
        monkeypatch.delenv(env_name(name), raising=False)
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    app._load.cache_clear()


@pytest.mark.skipif(not app.DEFAULT_CHECKPOINT.is_dir(), reason="no shipped continuous checkpoint")
def test_clamp_tab_in_browser(monkeypatch):
    """The shipped model in Chromium: run both chains, scrub both to the start and back; the README's screenshot."""
    from playwright.sync_api import expect

    _shipped(monkeypatch)
    steps, screenshot = 20, ROOT / "assets" / "screenshot-clamp.png"
    try:
        with open_in_chromium(app) as page:
            page.get_by_role("tab", name="Clamping trick").click()
            box = page.locator("#ct-steps input[type=number]")
            box.fill(str(steps))
            box.press("Enter")
            # the steps' change re-ranges the start slider; set the start only once that has landed
            expect(page.locator("#ct-start input[type=range]")).to_have_attribute("max", str(steps), timeout=30_000)
            start = page.locator("#ct-start input[type=number]")
            start.fill("5")
            start.press("Enter")
            expect(start).to_have_value("5")
            page.locator("#ct-run").click()
            on, off = page.locator("#ct-view-on"), page.locator("#ct-view-off")
            scrub = page.locator("#ct-scrub input[type=range]")
            expect(scrub).to_be_visible(timeout=120_000)
            expect(on).to_contain_text(f"step {steps} / {steps}")
            expect(off).to_contain_text(f"step {steps} / {steps}")
            expect(page.locator("#ct-verdict-on")).to_contain_text("grammatical")
            expect(page.locator("#ct-verdict-off")).to_contain_text("grammatical")
            for plot in ("#ct-distance", "#ct-disagree"):
                expect(page.locator(f"{plot} .js-plotly-plot svg.main-svg").first).to_be_visible()
                expect(page.locator(f"{plot} .scatterlayer .trace").first).to_be_attached()
            scrub.focus()
            scrub.press("Home")  # keyboard moves fire the slider's input event, as a drag does
            expect(on).to_contain_text(f"step 0 / {steps}")
            expect(off).to_contain_text(f"step 0 / {steps}")
            scrub.press("End")
            expect(on).to_contain_text(f"step {steps} / {steps}")
            for _ in range(8):
                scrub.press("ArrowLeft")
            expect(on).to_contain_text(f"step {steps - 8} / {steps}")
            expect(off).to_contain_text(f"step {steps - 8} / {steps}")
            expect(page.locator("#ct-distance")).to_contain_text(f"step {steps - 8}")  # the marker's legend entry
            expect(page.locator("#ct-distance")).to_contain_text("not clamped yet")  # steps 1..5 shaded
            for _ in range(steps - 8 - 5):
                scrub.press("ArrowLeft")
            expect(on).to_contain_text("step 5 / 20 · t = 0.750 · not clamped")  # the start: not clamped yet
            expect(off).to_contain_text("step 5 / 20")
            assert on.inner_text() == off.inner_text()  # identical up to the start: same seed, same noise
            scrub.press("ArrowRight")
            expect(on).to_contain_text("step 6 / 20 · t = 0.700 · x̂₀ clamped")
            for _ in range(6):
                scrub.press("ArrowRight")
            expect(on).to_contain_text("step 12 / 20")  # mid-way: the screenshot shows the two runs apart
            page.screenshot(path=str(screenshot), full_page=True)
    finally:
        app._load.cache_clear()
    assert screenshot.stat().st_size > 10_000


@pytest.mark.skipif(not (app.CHECKPOINTS / clamp_ui.EPS_FOLDER).is_dir(), reason="no shipped eps checkpoint")
def test_x0_beside_eps_in_browser(monkeypatch):
    """The shipped x0 and eps models in Chromium: the columns' headings follow the comparison, both chains run to the
    end clamped, and the distance plot names the two models; the README's screenshot."""
    from playwright.sync_api import expect

    _shipped(monkeypatch)
    monkeypatch.delenv(env_name(clamp_ui.EPS_FOLDER), raising=False)
    screenshot = ROOT / "assets" / "screenshot-clamp-eps.png"
    try:
        with open_in_chromium(app) as page:
            page.get_by_role("tab", name="Clamping trick").click()
            expect(page.locator("#ct-heading-on")).to_contain_text("With clamping")
            page.locator("#ct-compare").get_by_text("x₀ or ε prediction").click()
            page.locator("#ct-run").click()
            scrub = page.locator("#ct-scrub input[type=range]")
            expect(scrub).to_be_visible(timeout=120_000)
            expect(page.locator("#ct-heading-on")).to_contain_text("Predicts x₀")
            expect(page.locator("#ct-heading-off")).to_contain_text("Predicts ε")
            for side in ("on", "off"):
                view = page.locator(f"#ct-view-{side}")
                expect(view).to_contain_text("step 200 / 200 · t = 0.000 · x̂₀ clamped")
                expect(page.locator(f"#ct-verdict-{side}")).to_contain_text("grammatical")
            expect(page.locator("#ct-distance")).to_contain_text("predicts ε")
            expect(page.locator("#ct-accuracy")).to_contain_text("predicts ε: words")
            scrub.focus()
            for _ in range(25):
                scrub.press("ArrowLeft")  # half-way: x̂₀ still far from words under ε, settled under x₀
            expect(page.locator("#ct-view-on")).to_contain_text("step 100 / 200")
            page.screenshot(path=str(screenshot), full_page=True)
    finally:
        app._load.cache_clear()
    assert screenshot.stat().st_size > 10_000


@pytest.mark.skipif(not (app.CHECKPOINTS / "ar").is_dir(), reason="no shipped checkpoints")
def test_compare_tab_in_browser(monkeypatch):
    """The shipped models in Chromium: every family fills its card; the table and the chart are shown."""
    from playwright.sync_api import expect

    _shipped(monkeypatch)
    screenshot = ROOT / "assets" / "screenshot-compare.png"
    try:
        with open_in_chromium(app) as page:
            page.get_by_role("tab", name="Compare").click()
            table = page.locator("#cmp-table")
            expect(table.locator("td", has_text="sedd-uniform").first).to_be_visible(timeout=30_000)
            # set the budget once the page's load events have run (in one CI run a budget typed before them was
            # lost, and the run went at the default 64)
            box = page.locator("#cmp-budget input[type=number]")
            box.fill("20")
            box.press("Enter")
            expect(page.locator("#cmp-budget input[type=range]")).to_have_value("20")  # the slider took it
            expect(table).to_contain_text("1.666 bits per word")
            expect(table).to_contain_text("(exact)")
            expect(page.locator("#cmp-chart .js-plotly-plot svg.main-svg").first).to_be_visible()
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

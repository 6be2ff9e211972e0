"""The family tabs (Order-agnostic, Discrete diffusion): handlers stream, validate input, and work in Chromium."""

import json
import re
from pathlib import Path

import gradio as gr
import pytest

import app
from conftest import shot
from test_app import open_in_chromium
from ui import order as order_tab
from ui.common import env_name
from visualize.order import nll_budget_figure, plan_figure, step_of_position


@pytest.fixture
def sedd_app(tiny_sedd: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(env_name("sedd-absorb"), str(tiny_sedd))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    app._load.cache_clear()
    yield app
    app._load.cache_clear()


@pytest.fixture
def ardm_app(tiny_ardm: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(env_name("ardm"), str(tiny_ardm))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    app._load.cache_clear()
    yield app
    app._load.cache_clear()


def frame(value: dict, index: int = -1, chain: int = 0) -> str:
    """One view of a player value: frame `index`'s HTML for `chain` (default the last frame, the only chain)."""
    return value["frames"][index][chain]


def wait_for_run(page, elem_id: str, steps: int, timeout: float = 120_000) -> None:
    """Wait until the player `elem_id` holds a whole recorded run of `steps` steps: no longer streaming, with every
    frame (two at least) and showing the last one, as a finished run opens."""
    page.wait_for_function(
        """([id, title]) => { const r = document.querySelector(`#${id} .tdl-player`);
        return r !== null && !r.classList.contains("tdl-live") && Number(r.dataset.frames) >= 2
            && r.dataset.frame === String(Number(r.dataset.frames) - 1)
            && r.querySelector(".tdl-stage").textContent.includes(title); }""",
        arg=[elem_id, f"step {steps} of {steps}"], timeout=timeout)


def test_the_forward_example_is_in_the_grammar():
    from diffusion.corpus.validator import is_grammatical
    from ui.discrete import EXAMPLE

    assert is_grammatical(EXAMPLE)


def test_step_of_position_follows_the_order_and_plan():
    assert step_of_position([2, 0, 1, 5, 4, 3], [1, 2, 3]) == [2, 1, 2, 3, 3, 3]


def test_plan_figure_has_one_cell_per_position():
    fig = plan_figure([1, 2, 2], ["a", "pub", "[PAD]"], 2, current=2)
    z = fig.data[0].z
    assert sum(v == v for row in z for v in row) == 3  # NaN elsewhere
    with pytest.raises(ValueError, match="one entry per position"):
        plan_figure([1, 2], ["a"], 2)
    with pytest.raises(ValueError, match="1..2"):
        plan_figure([3], ["a"], 2)


def test_nll_budget_figure_draws_references():
    fig = nll_budget_figure([1, 2, 4], [3.0, 2.0, 1.8], {"true entropy": 1.66}, current=2)
    assert any("true entropy" in (a.text or "") for a in fig.layout.annotations)
    assert fig.data[-1].name.startswith("2 steps")


def test_nll_budget_figure_draws_each_fixed_order_at_the_largest_budget():
    fig = nll_budget_figure([1, 2, 4], [3.0, 2.0, 1.8], {}, fixed_orders={"left to right": 1.9, "right to left": 1.95})
    points = [d for d in fig.data if d.name and "exact" in d.name]
    assert [(d.name, list(d.x), list(d.y)) for d in points] == [("left to right, exact: 1.900", [4], [1.9]),
                                                                ("right to left, exact: 1.950", [4], [1.95])]


def test_order_agnostic_streams_then_shows_the_plan(ardm_app):
    ck = ardm_app.get_checkpoint("ardm")
    D = ck.config.seq_len
    outputs = list(ardm_app.order_agnostic(0, 5, 1.0, 2))
    assert len(outputs) == 5 + 2  # the prior, five steps, then the final reveal
    value, run, plan, curve = outputs[-1]
    html = frame(value)
    words = run.last[0].tokens != ck.tokenizer.pad_id  # (2, D): each sample's drawn length, padding after
    streamed = [out[0] for out in outputs[:-1]]  # while it runs: the newest frame alone, live
    assert all(v["live"] and len(v["frames"]) == 1 for v in streamed) and value["live"] is False
    assert "step 0 of 5" in frame(streamed[0]) and frame(streamed[0]).count("not yet written") == int(words.sum())
    assert "step 5 of 5" in html and "not yet written" not in html
    assert html.count('class="grammar-note"') == 2 and 'class="grammar-note"' not in frame(streamed[-1])
    assert len(run.verdicts[0]) == 2 and len(run.result["order"]) == 2 and run.indices == list(range(6))
    written = run.extra["written"]
    assert sorted(set(written)) == sorted(set(range(1, 6)) & set(written))
    assert len(written) == int(words[0].sum()) <= D and curve is not None and plan is not None
    # the whole run goes to the player once, opening at its last frame; the plan's outline follows it
    assert value["frames"] == [list(views) for views in run.frames] and value["start"] is None
    assert "step 0 of 5" in frame(value, 0) and value["linked"] == ["order-plan"]
    assert len(plan.layout.meta["player"]) == len(run)


def test_order_agnostic_confident_order_writes_the_planned_counts(ardm_app):
    *_, (value, run, plan, curve) = list(ardm_app.order_agnostic(0, 5, 1.0, 1, "shipped", None, "confident"))
    assert "step 5 of 5" in frame(value) and "not yet written" not in frame(value)
    assert run.settings["order"] == "confident"
    assert sorted(run.result["order"][0]) == list(range(ardm_app.get_checkpoint("ardm").config.seq_len))


@pytest.mark.parametrize("direction", ["left-to-right", "right-to-left"])
def test_order_agnostic_fixed_order_writes_the_sentence_in_that_order(ardm_app, direction):
    *_, (value, run, plan, curve) = list(ardm_app.order_agnostic(0, 5, 1.0, 1, "shipped", None, direction))
    assert "step 5 of 5" in frame(value) and run.settings["order"] == direction
    steps = run.extra["written"]  # the step that wrote each of the first sample's positions
    assert steps == sorted(steps, reverse=direction == "right-to-left") and len(set(steps)) > 1


def test_the_planner_runs_on_an_absorbing_sedd_network(sedd_app):
    """network sedd-absorb: the tiny absorbing SEDD (calibrated by training) read as ARDM, planned in 5 steps; its
    temperature stays 1; the other network's orders are drawn beside, and the export names the CLI's sampler."""
    from ui import order as order_tab

    value, run, plan, curve = list(sedd_app.order_agnostic(0, 5, 1.0, 2, network="sedd-absorb"))[-1]
    written = run.extra["written"]
    assert "step 5 of 5" in frame(value) and sorted(set(written)) == list(range(1, max(written) + 1))
    assert curve is not None and curve.data[0].name == "SEDD read as ARDM, planned"
    settings = run.settings
    assert settings["network"] == "sedd-absorb" and settings["family"] == "sedd"
    with pytest.raises(gr.Error, match="temperature applies to ARDM's network"):
        list(sedd_app.order_agnostic(0, 5, 0.5, 1, network="sedd-absorb"))
    with pytest.raises(gr.Error, match="network must be one of ardm, sedd-absorb"):
        list(sedd_app.order_agnostic(0, 5, 1.0, 1, network="bert"))
    assert order_tab.network_temperature("sedd-absorb").value == 1.0
    assert order_tab.network_temperature("ardm").interactive is True


def test_fixed_orders_are_read_from_the_recorded_evaluation():
    meta = {"evaluation": {"steps=40": {"grammatical_rate": 0.6},
                           "steps=10": {"nll_by_order": {"left-to-right": 1.74, "right-to-left": 1.75}}}}
    assert order_tab._fixed_orders(meta) == {"this model, left to right": 1.74, "this model, right to left": 1.75}
    assert order_tab._fixed_orders(meta, "sedd-absorb") == {"sedd-absorb, left to right": 1.74,
                                                             "sedd-absorb, right to left": 1.75}
    assert order_tab._fixed_orders({}) == {}


def test_nll_budget_figure_draws_a_related_model_hollow_beside_this_one():
    fig = nll_budget_figure([1, 2, 4], [3.0, 2.0, 1.8], {}, fixed_orders={"this model, left to right": 1.9},
                            related={"sedd-absorb, left to right": 1.92})
    this, other = (d for d in fig.data if d.name and "exact" in d.name)
    assert other.name == "sedd-absorb, left to right, exact: 1.920" and list(other.x) == [4]
    assert other.marker.symbol.endswith("-open") and not this.marker.symbol.endswith("-open")


@pytest.mark.parametrize("args, message", [
    ((0, 5, 1.0, 1, "shipped", None, "greedy"),  # the package's words
     "unknown order 'greedy'; choose one of random, left-to-right, right-to-left, confident"),
    ((0, 0, 1.0, 1), "steps must be a whole number from 1 to"),
    ((0, 500, 1.0, 1), "steps must be a whole number from 1 to"),
    ((0, 5, -1.0, 1), "temperature must be a number from 0 to 2"),
    ((0.5, 5, 1.0, 1), "seed must be a whole number"),
])
def test_order_agnostic_bad_input(ardm_app, args, message):
    with pytest.raises(gr.Error, match=re.escape(message)):
        list(ardm_app.order_agnostic(*args))


def _order_flow(module, screenshot: Path, budget: int, order: str | None = None,
                curve_text: tuple[str, ...] = ()) -> None:
    """In Chromium: open the tab, set the budget (and the order), run, wait for the plan and the curve, then scrub and
    step the player."""
    from playwright.sync_api import expect

    with open_in_chromium(module) as page:
        page.get_by_role("tab", name="Order-agnostic").click()
        box = page.locator("#budget input[type=number]")
        box.fill(str(budget))
        box.press("Enter")
        if order is not None:
            page.locator("#order-order").get_by_label(order, exact=True).check()
        page.locator("#order-run").click()
        text = page.locator("#order-text")
        wait_for_run(page, "order-text", budget)
        expect(page.locator("#order-plan .js-plotly-plot")).to_be_visible(timeout=60_000)
        expect(page.locator("#order-curve .js-plotly-plot")).to_be_visible()
        for words in curve_text:
            expect(page.locator("#order-curve")).to_contain_text(words)
        root = text.locator(".tdl-player")
        expect(root).to_have_attribute("data-frames", str(budget + 1))  # the prior and every step
        root.locator(".tdl-scrub").fill("0")
        expect(text).to_contain_text(f"step 0 of {budget}")
        root.locator(".tdl-fwd").click()
        expect(text).to_contain_text(f"step 1 of {budget}")
        root.locator(".tdl-scrub").fill(str(budget))
        expect(text).to_contain_text(f"step {budget} of {budget}")
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000


def test_order_tab_in_browser(ardm_app, tmp_path):
    _order_flow(ardm_app, tmp_path / "order.png", 4, order="left to right")


@pytest.mark.skipif(not (app.CHECKPOINTS / "ardm").is_dir(), reason="no shipped ardm checkpoint")
def test_shipped_ardm_in_browser(monkeypatch):
    """What a visitor sees with the shipped model; this is the README's screenshot of the tab. Then the same planner
    on the shipped absorbing SEDD."""
    from playwright.sync_api import expect

    monkeypatch.delenv(env_name("ardm"), raising=False)
    monkeypatch.delenv(env_name("sedd-absorb"), raising=False)
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    app._load.cache_clear()
    try:
        _order_flow(app, shot("screenshot-order.png"), 10,
                    curve_text=("this model, left to right, exact", "sedd-absorb, left to right, exact"))
        with open_in_chromium(app) as page:  # the same planner on SEDD's absorbing network
            page.get_by_role("tab", name="Order-agnostic").click()
            page.locator("#order-network").get_by_label("SEDD absorbing, read as ARDM").check()
            page.locator("#budget input[type=number]").fill("10")
            page.locator("#budget input[type=number]").press("Enter")
            page.locator("#order-run").click()
            wait_for_run(page, "order-text", 10)
            # the figure comes with the run's last update; on a loaded machine it draws a little after the player
            expect(page.locator("#order-curve")).to_contain_text("SEDD read as ARDM, planned", timeout=30_000)
            expect(page.locator("#order-curve")).to_contain_text("ardm, left to right, exact")
    finally:
        app._load.cache_clear()


# ---- Discrete diffusion -------------------------------------------------------------------------------------------

def test_forward_view_hits_more_tokens_as_t_grows(sedd_app):
    """One frame per t from 0 to 1 by 0.02, the same seed hitting the same tokens at every t; the player opens at the
    frame nearest the t asked, and the schedule's cursor follows it."""
    sentence = "the mill is a pub near the bakery ."
    value, fig = sedd_app.forward_view("absorb", sentence, 0.3, 3)
    assert len(value["frames"]) == len(value["labels"]) == 51 and value["labels"][15] == "t = 0.30"
    assert value["start"] == 15 and "t = 0.30" in frame(value, value["start"]) and value["live"] is False
    counts = [int(re.search(r"(\d+) of \d+ (?:word )?positions hit", frame(value, k)).group(1)) for k in range(51)]
    assert counts[0] == 0 and counts == sorted(counts) and counts[-1] > counts[15]
    assert value["linked"] == ["sedd-schedule"] and len(fig.layout.meta["player"]) == 51
    assert sedd_app.forward_view("absorb", sentence, 0.9, 3)[0]["start"] == 45
    assert sedd_app.forward_view("absorb", sentence, 0.7, 3)[0]["frames"] == value["frames"]  # t only picks a frame
    assert "not yet written" in frame(value, 45)  # masked tokens shown empty


@pytest.mark.skipif(not (app.CHECKPOINTS / "sedd-absorb").is_dir(), reason="no shipped sedd-absorb checkpoint")
def test_shipped_sedd_draws_the_length_first_and_never_noises_padding(monkeypatch):
    monkeypatch.delenv(env_name("sedd-absorb"), raising=False)
    app._load.cache_clear()
    try:
        value, _ = app.forward_view("absorb", "the mill is a pub near the bakery .", 1.0, 3)
    finally:
        app._load.cache_clear()
    assert "9 of 9 word positions hit (padding is never noised)" in frame(value, value["start"])


def test_sedd_denoise_streams_then_sends_the_whole_run(sedd_app):
    outputs = list(sedd_app.sedd_denoise("absorb", 0, 6, "euler", 2))
    value, run, quality = outputs[-1]
    html = frame(value)
    assert all(out[0]["live"] and len(out[0]["frames"]) == 1 for out in outputs[:-1])  # streamed: one frame each
    assert "step 6 of 6" in html and "not yet written" not in html
    assert html.count('class="grammar-note"') == 2 and len(run.export()["result"]["grammatical"]) == 2
    assert value["live"] is False and len(value["frames"]) == len(run) >= 2 and value["start"] is None
    assert quality.visible and json.loads(quality.value["plot"])["data"]  # the recorded evaluation is drawn
    assert "step 0 of 6" in frame(value, 0)


def test_sedd_denoise_with_remasking_masks_written_words_again(sedd_app):
    """eta = 0.1 on 40 steps: some step turns a written word back into [MASK]; the chain still ends with every word
    written, and the export names the setting and the command that redraws it."""
    outputs = list(sedd_app.sedd_denoise("absorb", 3, 40, "tweedie", 4, remask=0.1))
    value, run, quality = outputs[-1]
    assert "step 40 of 40" in frame(value) and "not yet written" not in frame(value)
    masked = [sum(token == "[MASK]" for row in step["tokens"] for token in row) for step in run.records[0]]
    assert any(later > earlier for earlier, later in zip(masked, masked[1:])) and masked[-1] == 0
    assert run.settings["remask"] == 0.1


@pytest.mark.parametrize("call, message", [
    (lambda a: a.forward_view("absorb", "", 0.5, 0), "type a sentence"),
    (lambda a: a.forward_view("absorb", "a b", 1.5, 0), "t must be a number from 0 to 1"),
    (lambda a: a.forward_view("absorb", "word " * 150, 0.5, 0), "longer than the model's length"),
    (lambda a: a.forward_view("absorb", "word " * 500, 0.5, 0), "the sentence is 2,500 characters long; at most 1,000"),
    (lambda a: list(a.sedd_denoise("absorb", 0, 0, "euler", 1)), "steps must be a whole number from 1 to 1024"),
    (lambda a: list(a.sedd_denoise("absorb", 0, 5, "ddpm", 1)), "unknown sampler 'ddpm' for sedd; choose one of"),
    (lambda a: list(a.sedd_denoise("gaussian", 0, 5, "euler", 1)), "graph must be one of absorb, uniform"),
    (lambda a: list(a.sedd_denoise("absorb", 0, 5, "euler", 1, remask=0.02)), "use the tweedie sampler"),
    (lambda a: list(a.sedd_denoise("absorb", 0, 5, "tweedie", 1, remask=0.5)), "remasking eta must be a number from 0"),
])
def test_discrete_tab_bad_input(sedd_app, call, message):
    with pytest.raises(gr.Error, match=re.escape(message)):
        call(sedd_app)


def test_each_graph_starts_at_its_own_default_steps():
    from diffusion.config import ModelConfig
    from diffusion.sedd import SEDDProcess
    from ui import discrete

    for graph in discrete.GRAPHS:
        config = ModelConfig(family="sedd", graph=graph, vocab_size=10)
        steps, remask, sampler = discrete.graph_steps(graph)
        if graph == "absorb":  # its default sampler: the network read as ARDM, one word a step
            assert sampler.value == "any-order" and steps.value == discrete.DEFAULT_STEPS["any-order"]
            assert isinstance(remask, dict)  # left as it was
        else:  # the uniform graph's own chain, at its default steps, without remasking
            assert sampler.value == "tweedie" and remask.value == 0
            assert steps.value == discrete.DEFAULT_STEPS[graph] == SEDDProcess(config).default_steps
    remask, steps, order = discrete.sampler_changed("euler", "absorb")
    assert remask.value == 0 and steps.value == 1024 and order.visible is False
    remask, steps, order = discrete.sampler_changed("tweedie", "uniform")
    assert isinstance(remask, dict) and steps.value == 64 and order.visible is False
    assert discrete.DEFAULT_STEPS["absorb"] <= discrete.MAX_STEPS


def test_the_any_order_sampler_writes_a_word_a_step_in_the_order_asked(sedd_app):
    from ui import discrete

    length = sedd_app.get_checkpoint("sedd", "sedd-absorb").config.seq_len
    _, steps, order = discrete.sampler_changed("any-order", "absorb")
    assert steps.value == length and order.visible is True  # one word a step, and the order to pick
    value, run, quality = list(sedd_app.sedd_denoise("absorb", 0, length, "any-order", 2, order="confident"))[-1]
    assert f"step {length} of {length}" in frame(value) and "not yet written" not in frame(value)
    masked = [sum(token == "[MASK]" for row in step["tokens"] for token in row) for step in run.records[0]]
    assert all(0 <= a - b <= 2 for a, b in zip(masked, masked[1:])) and masked[-1] == 0  # at most a word a row
    settings = run.settings
    assert settings["order"] == "confident" and settings["sampler"] == "any-order"
    with pytest.raises(gr.Error, match=f"steps must be from 1 to the model's length {length}"):
        list(sedd_app.sedd_denoise("absorb", 0, length + 1, "any-order", 1))
    with pytest.raises(gr.Error, match="unknown order 'sideways'; choose one of random, left-to-right"):
        list(sedd_app.sedd_denoise("absorb", 0, 4, "any-order", 1, order="sideways"))


def test_discrete_tab_refuses_a_checkpoint_of_another_family(sedd_app, tiny_ardm, monkeypatch):
    monkeypatch.setenv(env_name("sedd-absorb"), str(tiny_ardm))
    app._load.cache_clear()
    with pytest.raises(gr.Error, match="is of family 'ardm', not 'sedd'"):
        list(sedd_app.sedd_denoise("absorb", 0, 4, "euler", 1))


def test_discrete_tab_says_which_checkpoint_is_missing(sedd_app, monkeypatch, tmp_path):
    monkeypatch.setenv(env_name("sedd-uniform"), str(tmp_path / "none"))
    with pytest.raises(gr.Error, match="DIFFUSION_CHECKPOINT_SEDD_UNIFORM"):
        list(sedd_app.sedd_denoise("uniform", 0, 4, "euler", 1))


def _discrete_flow(module, screenshot: Path, steps: int) -> None:
    """In Chromium: the forward view on load, each graph's defaults, the forward player scrubbed to t = 1 and played
    from there, then paused; then a reverse run, scrubbed, while the paused forward view stays where it was."""
    from playwright.sync_api import expect

    with open_in_chromium(module) as page:
        page.get_by_role("tab", name="Discrete diffusion").click()
        forward = page.locator("#sedd-forward")
        expect(forward).to_contain_text("positions hit", timeout=60_000)  # drawn on page load
        box = page.locator("#sedd-steps input[type=number]")
        # the default: the absorbing network read as an autoregressive model, most probable first, one word a step
        expect(page.locator("#sedd-order")).to_be_visible()
        page.locator("#sedd-sampler").get_by_label("tweedie").check()  # the exact chain, one click away
        expect(box).to_have_value("1024")  # the absorbing graph's default for its chain
        expect(page.locator("#sedd-order")).to_be_hidden()
        remask = page.locator("#sedd-remask input[type=number]")
        remask.fill("0.02")
        remask.press("Enter")
        schedule = page.locator("#sedd-schedule")
        page.locator("#sedd-graph").get_by_label("uniform").check()
        expect(box).to_have_value("64")  # each uniform step is a network call
        expect(remask).to_have_value("0")  # the uniform graph has no remasking
        expect(schedule).to_contain_text("P(token replaced", timeout=30_000)  # the uniform model's view, drawn
        expect(forward).to_contain_text("positions hit (")  # the uniform model's fixed canvas
        page.locator("#sedd-graph").get_by_label("absorb").check()  # back to the absorbing graph's default sampler
        expect(page.locator("#sedd-order")).to_be_visible()
        expect(schedule).to_contain_text("P(token masked)", timeout=30_000)  # and the absorbing one's again
        page.locator("#sedd-sampler").get_by_label("tweedie").check()
        expect(box).to_have_value("1024")
        # the forward player: every t from 0 to 1 is on the page, opening at t = 0.5
        player = forward.locator(".tdl-player")
        stage = forward.locator(".tdl-stage")
        expect(player).to_have_attribute("data-frames", "51")
        expect(player).to_have_attribute("data-frame", "25")
        expect(stage).to_contain_text("t = 0.50")
        player.locator(".tdl-scrub").fill("50")
        expect(stage).to_contain_text("t = 1.00")
        player.locator(".tdl-play").click()  # from t = 1 play starts again at 0 and t climbs
        page.wait_for_function(
            """() => { const r = document.querySelector("#sedd-forward .tdl-player");
            return r.dataset.playing === "true" && Number(r.dataset.frame) > 0 && Number(r.dataset.frame) < 50; }""",
            timeout=30_000)
        player.locator(".tdl-play").click()  # pause
        expect(player).to_have_attribute("data-playing", "false")
        expect(player.locator(".tdl-play")).to_have_text("▶ Play")
        paused = int(player.get_attribute("data-frame"))
        assert 0 < paused < 50
        expect(stage).to_contain_text(f"t = {paused / 50:.2f}")
        box.fill(str(steps))
        box.press("Enter")
        page.locator("#sedd-run").click()
        text = page.locator("#sedd-text")
        wait_for_run(page, "sedd-text", steps)
        expect(player).to_have_attribute("data-frame", str(paused))  # paused all through the run
        # two samples of at most 40 words: the absorbing chain calls the network at most once a word, whatever the steps
        calls = int(re.search(r"(\d+) network calls?", text.locator(".step-title").inner_text()).group(1))
        assert 0 < calls <= min(steps, 2 * 40)
        root = text.locator(".tdl-player")
        root.locator(".tdl-scrub").fill("0")
        expect(text).to_contain_text(f"step 0 of {steps}")
        root.locator(".tdl-scrub").fill(str(int(root.get_attribute("data-frames")) - 1))
        expect(text).to_contain_text(f"step {steps} of {steps}")
        expect(page.locator("#sedd-quality .js-plotly-plot")).to_be_visible()
        player.locator(".tdl-scrub").fill("25")  # the forward view for the screenshot: half the sentence masked
        expect(stage).to_contain_text("t = 0.50")
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
        # the network read as an autoregressive model: one word a step, the surest first
        expect(page.locator("#sedd-order")).to_be_hidden()
        page.locator("#sedd-sampler").get_by_label("any-order").check()
        expect(box).to_have_value("40")  # the model's length: one word a step
        page.locator("#sedd-order").get_by_label("most probable first (as MaskGIT, LLaDA)").check()
        page.locator("#sedd-run").click()
        wait_for_run(page, "sedd-text", 40)
    assert screenshot.stat().st_size > 10_000


def test_discrete_tab_in_browser(sedd_app, tmp_path):
    _discrete_flow(sedd_app, tmp_path / "discrete.png", 8)


@pytest.mark.skipif(not (app.CHECKPOINTS / "sedd-absorb").is_dir(), reason="no shipped sedd-absorb checkpoint")
def test_shipped_sedd_in_browser(monkeypatch):
    monkeypatch.delenv(env_name("sedd-absorb"), raising=False)
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    app._load.cache_clear()
    try:
        _discrete_flow(app, shot("screenshot-discrete.png"), 1024)
    finally:
        app._load.cache_clear()

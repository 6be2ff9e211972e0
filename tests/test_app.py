"""The Gradio app: it builds, its handlers stream and validate, and it works in a real browser (Chromium)."""

import contextlib
import html as html_lib
import os
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

import app
from ui import denoise as denoise_tab
from diffusion.corpus import is_grammatical
from conftest import chromium, serve_app, shot
from visualize.plots import clamp_distance_figure
from visualize.tokens import confidence_colour, grammar_note, render_commit, render_step, render_tokens

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SCREENSHOT = shot("screenshot-denoise.png")


@pytest.fixture
def tiny_app(tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch):
    """The app module pointed at the tiny checkpoint, with a fresh checkpoint cache and no analytics calls."""
    monkeypatch.setenv(app.CHECKPOINT_ENV, str(tiny_checkpoint))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    app._load.cache_clear()
    yield app
    app._load.cache_clear()


def _final(outputs: list[tuple]) -> tuple:
    return outputs[-1]


# ---- views ------------------------------------------------------------------------------------------------------

def test_confidence_colour_is_single_hue_with_readable_text():
    light, dark_text = confidence_colour(0.0)
    deep, light_text = confidence_colour(1.0)
    assert (light, dark_text) == ("#f7fbff", "#111111")
    assert (deep, light_text) == ("#08306b", "#ffffff")
    assert confidence_colour(float("nan")) == confidence_colour(0.0)


def test_render_tokens_escapes_marks_changes_and_compacts_padding():
    out = render_tokens(["<b>", "pub", "[PAD]", "[PAD]", "[PAD]"], [0.5, 0.9, 0.0, 0.0, 0.0],
                        [False, True, False, False, False])
    assert "&lt;b&gt;" in out and "<b>" not in out
    assert len(re.findall(r'class="tok c\d+ chg"', out)) == 1  # only the changed token
    assert out.count('<span class="pad-run"') == 1 and "[PAD] ×3" in out  # one marker with its count
    assert out.count('class="pad-one"') == 3  # every position, shown on demand
    assert "[PAD]" not in render_tokens(["pub", "[PAD]"], [0.9, 0.0], pad="hide")
    with pytest.raises(ValueError, match="one entry per token"):
        render_tokens(["a", "b"], [0.1])


def test_render_tokens_shows_guesses_and_the_likeliest_words():
    out = render_tokens(["a", "[MASK]", "[MASK]"], [1.0, 0.4, 0.1], guesses=["a", "pub", None],
                        top=[None, [("pub", 0.4), ("inn", 0.3)], [("<x>", 0.1)]])
    assert out.count('class="mask"') == 2 and ">pub</span>" in out and ">?</span>" in out  # a guess, greyed; none
    tops = [json.loads(html_lib.unescape(m)) for m in re.findall(r"data-top='([^']*)'", out)]
    assert tops == [[["pub", 0.4], ["inn", 0.3]], [["<x>", 0.1]]]  # the data the player's bar chart reads
    assert "<x>" not in out  # escaped inside the attribute


def test_commit_order_colours_words_by_the_step_that_wrote_them():
    out = render_commit(["a", "pub", "[PAD]"], [3, 1, None], 3)
    assert re.findall(r'data-step="(\d+)"', out) == ["3", "1"]
    first, last = (re.search(rf'data-step="{s}"[^>]*background:(#[0-9a-f]+)', out).group(1) for s in (1, 3))
    assert first == "#440154" and last == "#fde725"  # viridis from the first step to the last


def test_render_step_has_title_and_one_row_per_sample():
    out = render_step([["a", "pub"], ["an", "inn"]], [[0.1, 0.2], [0.3, 0.4]], index=3, t=0.85, num_steps=20,
                      clamped=True)
    assert "step 3 of 20 · t = 0.850" in out
    assert out.count('sample-row"') == 2
    with_preds = render_step([["a", "pub"]], [[0.1, 0.2]], index=3, t=0.5, num_steps=20, preds=[["an", "inn"]],
                             distances=[0.25])
    assert with_preds.count('pred-row"') == 1 and ">inn</span>" in with_preds and "0.25 from words" in with_preds


def test_render_step_draws_one_note_under_each_sample():
    out = render_step([["a", "pub"], ["an", "inn"]], [[0.1, 0.2], [0.3, 0.4]], index=3, t=0.0,
                      notes=[grammar_note(True, "name [zizzi] eatType [pub]"), grammar_note(False)])
    assert out.count('class="sample-note"') == 2
    first, second = out.split('class="sample"')[1:]
    assert "✓ a sentence of" in first and "says name [zizzi] eatType [pub]" in first and "✗" not in first
    assert "✗ not a sentence of" in second and "✓" not in second
    with pytest.raises(ValueError, match="one entry per sample"):
        render_step([["a"]], [[0.5]], index=0, t=1.0, notes=[])


def test_grammar_checks_ask_the_grammar_only_for_the_builtin_corpus():
    from types import SimpleNamespace

    from diffusion.corpus import builtin_split, linearise_mr
    from ui.run import grammar_checks, grammar_notes, samples_result

    example = builtin_split("test")[0]
    broken = f"{example.text.split()[0]} {example.text}"  # the first word doubled
    checks = grammar_checks(SimpleNamespace(meta={"corpus": "builtin"}), [example.text, broken])
    assert [v.grammatical for v in checks] == [True, False]
    good, bad = grammar_notes(checks)
    assert checks[0].mr["name"] == example.mr["name"] and f"says {linearise_mr(checks[0].mr)}</span>" in good
    assert "not a sentence" in bad
    assert checks[1].mistake.kind == "repeated_slot"  # the name said twice, and the note says so
    assert 'data-mistake="repeated_slot"' in bad and html_lib.escape(checks[1].mistake.message) in bad
    assert samples_result([example.text, broken], checks) == {"samples": [example.text, broken],
                                                              "grammatical": [True, False]}
    assert grammar_checks(SimpleNamespace(meta={"corpus": "mine.txt"}), [example.text]) is None
    assert grammar_notes(None) is None and samples_result(["x"], None) == {"samples": ["x"]}


def test_clamp_distance_figure_marks_current_step_and_follows_the_player():
    fig = clamp_distance_figure([1, 2, 3], [[[1.0, 3.0]], 1.5, [[1.0]]], current=2, clamped=[False, True, True],
                                frames=[0, 1, 2, 3])
    names = [trace.name for trace in fig.data]
    assert "clamped step" in names and "unclamped step" in names
    assert list(fig.data[0].y) == [2.0, 1.5, 1.0]
    cursor = {trace.meta: trace for trace in fig.data if trace.meta}
    assert list(cursor["now"].x) == [2, 2] and list(cursor["now-point"].y) == [1.5]  # at step 2, on the curve
    moves = fig.layout.meta["player"]  # per frame, where the player moves the cursor
    assert [m["now"]["x"] for m in moves] == [[0, 0], [1, 1], [2, 2], [3, 3]]
    assert [m["now-point"]["y"] for m in moves] == [[2.0], [2.0], [1.5], [1.0]]  # the nearest recorded step


def test_figures_are_sent_on_plotly_white():
    """visualize sets plotly_white as plotly's default once (naming it per figure cost 11 ms a figure): what Gradio
    sends, `to_json()`, is what naming it in the layout gave."""
    import json

    import plotly.graph_objects as go

    from visualize.train import loss_curve_figure

    for fig in (clamp_distance_figure([1, 2], [0.5, 0.2], current=2, clamped=[False, True]),
                loss_curve_figure([1, 5], [3.0, 1.0], seconds=5, cap_seconds=60, family="ar")):
        sent = json.loads(fig.to_json())
        assert sent["layout"]["template"]["layout"]["plot_bgcolor"] == "white"  # plotly's own default is blue-grey
        assert sent == json.loads(go.Figure(fig).update_layout(template="plotly_white").to_json())


# ---- app ----------------------------------------------------------------------------------------------------------

def test_build_demo_builds_blocks_without_loading_a_model():
    app._load.cache_clear()
    demo = app.build_demo()
    assert isinstance(demo, gr.Blocks)
    assert app._load.cache_info().currsize == 0  # the checkpoint loads lazily, on the first run


def test_denoise_streams_frames_then_sends_the_whole_run(tiny_app):
    outputs = list(tiny_app.denoise(0, 20, "ddpm", True, 0.75, 2))
    assert len(outputs) >= 3
    first = outputs[0][0]
    assert first["live"] is True and len(first["frames"]) == 1 and "step 0 of 20" in first["frames"][0][0]
    value, run, plot, latent_map, follow = _final(outputs)
    assert value["live"] is False and len(value["frames"]) == len(run) == len(outputs) - 1  # every frame, once
    assert value["start"] is None and set(value["linked"]) == {"clamp-plot", "latent-map"}
    html = value["frames"][-1][0]
    assert "step 20 of 20" in html and html.count('sample-row"') == html.count('pred-row"') == 2  # x̂0 under x_t
    # The final frame says what the grammar makes of each sample; the streamed frames do not.
    assert html.count('class="grammar-note"') == 2 and 'class="grammar-note"' not in outputs[-2][0]["frames"][0][0]
    verdicts = [v.grammatical for v in run.verdicts[0]]
    assert verdicts == [is_grammatical(text) for text in run.samples[0]] == run.export()["result"]["grammatical"]
    assert html.count("✓ a sentence of the grammar") == sum(verdicts) and run.frames[-1] == (html,)
    assert plot.visible is True
    # steps 1..5 start at t = 1 ... 0.8 and run unclamped; from t = 0.75 on they are clamped
    indices, clamped = run.series("clamped")
    assert indices == run.indices[1:] and clamped == [i > 5 for i in indices]
    # The plot's cursor follows the player: one position per frame, at each frame's step.
    frames = plot.constructor_args["value"].layout.meta["player"]
    assert [f["now"]["x"][0] for f in frames] == run.indices
    # The latent map: sample 1's words (not its padding), one point per recorded step; the points follow the player.
    final_tokens = run.records[0][-1]["tokens"][0]
    keep = [k for k, w in enumerate(final_tokens) if w != "[PAD]"]
    paths = run.extra["paths"]
    mapped = latent_map.constructor_args["value"]
    assert latent_map.visible is True and paths["paths"].xy.shape[:2] == (len(run), len(keep))
    assert paths["rounded"][-1] == [final_tokens[k] for k in keep]
    moves = mapped.layout.meta["player"]
    first_tokens = run.records[0][0]["tokens"][0]
    followed = follow.constructor_args["value"]  # "k: word", one of sample 1's words, its path drawn strong
    n = int(followed.split(":")[0]) - 1
    assert follow.visible is True and len(follow.constructor_args["choices"]) == len(keep) + 1
    assert len(moves) == len(run) and moves[0]["now-xy"]["hovertext"] == [
        f"position {n + 1}: rounds to <b>{first_tokens[keep[n]]}</b>"]  # at frame 0: the prior, labelled
    every = denoise_tab.follow_word("every position", run)  # or every path, and its points
    assert len(every.layout.meta["player"][0]["now-xy"]["x"]) == len(keep)
    with pytest.raises(gr.Error, match="follow must be"):
        denoise_tab.follow_word("99: nonsense", run)


def test_denoise_is_deterministic_per_seed(tiny_app):
    first = _final(list(tiny_app.denoise(7, 10, "ddim", False, 1.0, 1)))[0]["frames"]
    again = _final(list(tiny_app.denoise(7, 10, "ddim", False, 1.0, 1)))[0]["frames"]
    other = _final(list(tiny_app.denoise(8, 10, "ddim", False, 1.0, 1)))[0]["frames"]
    assert first == again
    assert first != other


@pytest.mark.parametrize("args, message", [
    ((0, 5000, "ddpm", True, 0, 1), "steps must be a whole number from 10 to 200"),
    ((1.5, 20, "ddpm", True, 0, 1), "seed must be a whole number"),
    ((None, 20, "ddpm", True, 0, 1), "seed must be a whole number"),
    ((0, 20, "ddpm", True, 1.5, 1), "clamp_from must be a time in [0, 1], got 1.5"),
    ((0, 20, "ddpm", True, 1.0, 5), "number of samples must be a whole number from 1 to 4"),
    ((0, 20, "euler", True, 1.0, 1), "unknown sampler 'euler'; choose one of ddpm, ddim"),  # the package's words
    ((0, 20, "ddpm", True, 1.0, 1, "shipped", None, 1.5), "noise_scale must be from 0 to 1"),
    ((0, 20, "ddim", True, 1.0, 1, "shipped", None, 0.5), "noise scale applies to the ddpm sampler only"),
])
def test_bad_input_raises_gr_error(tiny_app, args, message):
    with pytest.raises(gr.Error, match=re.escape(message)):
        list(tiny_app.denoise(*args))


def test_missing_checkpoint_is_a_gr_error(tmp_path, monkeypatch):
    monkeypatch.setenv(app.CHECKPOINT_ENV, str(tmp_path / "nowhere"))
    app._load.cache_clear()
    with pytest.raises(gr.Error, match=app.CHECKPOINT_ENV):
        list(app.denoise(0, 20, "ddpm", True, 1.0, 1))
    app._load.cache_clear()


def test_checkpoint_loads_once(tiny_app):
    assert tiny_app.get_checkpoint() is tiny_app.get_checkpoint()


@pytest.mark.skipif(not app.DEFAULT_CHECKPOINT.is_dir(),
                    reason="no shipped checkpoint in assets/checkpoints/continuous")
def test_shipped_checkpoint_loads(monkeypatch):
    monkeypatch.delenv(app.CHECKPOINT_ENV, raising=False)
    app._load.cache_clear()
    try:
        ck = app.get_checkpoint()
        assert ck.config.family == "continuous"
        assert ck.process.T >= app.DEFAULT_STEPS  # the default step count must be valid for the shipped model
        html = _final(list(app.denoise(0, app.MIN_STEPS, "ddim", True, 1.0, 1)))[0]["frames"][-1][0]
        assert f"step {app.MIN_STEPS} of {app.MIN_STEPS}" in html
    finally:
        app._load.cache_clear()


# ---- browser ------------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def open_in_chromium(module) -> Iterator[Any]:
    """The app of `module` served on a free port and opened in Debian's Chromium; skips where it is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (CI installs Debian's chromium)")
    with serve_app(module.build_demo()) as url:
        base = url.rstrip("/")
        # the session's one browser, a fresh context (cookies, storage, Gradio session) for this test
        context = chromium(CHROMIUM, CHROMIUM_ARGS).new_context(viewport={"width": 1280, "height": 720})
        try:
            if os.environ.get("SCREENSHOTS") == "1":  # the README's full-page pictures: no button sticks to the window
                context.add_init_script("addEventListener('DOMContentLoaded', () => "
                                        "document.documentElement.classList.add('tdl-capture'))")
            page = context.new_page()
            # No network in tests: anything not served by the app (web fonts, CDNs) is refused at once.
            page.route(lambda url: not url.startswith(base), lambda route: route.abort())
            page.goto(base, wait_until="domcontentloaded")
            yield page
        finally:
            context.close()


def dismiss_error(page, message: str) -> None:
    """Wait for the error toast saying `message`, then close it as a visitor would (and keep it out of screenshots).
    Reloading instead held the next run of that page back for one heartbeat, about 15 s, after an error."""
    from playwright.sync_api import expect

    toast = page.locator(".toast-body").filter(has_text=message)
    expect(toast).to_be_visible(timeout=60_000)
    toast.locator(".toast-close").click()
    expect(toast).to_have_count(0)


def _browser_run(module, steps: int, screenshot: Path, max_steps: int) -> None:
    """Open the app in Chromium: a bad step count errors, then a run streams, the slider scrubs, the plot shows."""
    from playwright.sync_api import expect

    with open_in_chromium(module) as page:
        denoise_tab = page.get_by_role("tab", name="Denoise", exact=True)
        denoise_tab.click()
        steps_box = page.locator("#steps input[type=number]")
        if max_steps < module.MAX_STEPS:
            # Bad input first: more steps than the model has is a one-line error, and the app goes on.
            steps_box.fill(str(max_steps + 1))
            steps_box.press("Enter")
            page.locator("#run").click()
            dismiss_error(page, f"steps must be a whole number from 10 to {max_steps}")  # the same page goes on
        steps_box.fill(str(steps))
        steps_box.press("Enter")
        expect(page.locator("#clamp-from input[type=number]")).to_have_value("1")
        page.locator("#run").click()

        text = page.locator("#denoise-text")
        root = text.locator(".tdl-player")
        scrub = root.locator(".tdl-scrub")
        page.wait_for_function("() => { const r = document.querySelector('#denoise-text .tdl-player'); "
                               "return Number(r.dataset.frames) > 1 && !r.classList.contains('tdl-live'); }",
                               timeout=120_000)  # the whole run, not a streamed frame
        expect(scrub).to_be_visible()
        expect(text.locator(".tdl-stage")).to_contain_text(f"step {steps} of {steps}")
        words = text.locator(".sample-row").first.inner_text()
        assert re.search(r"\b[a-z]{2,}\b", words.replace("sample", "")), words
        final = text.locator(".tdl-stage").inner_text()

        scrub.focus()
        scrub.press("Home")  # keyboard moves fire the slider's input event, as a drag does
        expect(text.locator(".tdl-stage")).to_contain_text(f"step 0 of {steps}")
        assert text.locator(".tdl-stage").inner_text() != final
        scrub.press("End")
        expect(text.locator(".tdl-stage")).to_contain_text(f"step {steps} of {steps}")
        # Play from the last frame starts again at the prior and steps forward; Pause holds the frame.
        root.locator(".tdl-play").click()
        expect(root.locator(".tdl-play")).to_have_text("❚❚ Pause")
        expect(text.locator(".tdl-stage")).not_to_contain_text(f"step 0 of {steps}")
        root.locator(".tdl-play").click()
        expect(root).to_have_attribute("data-playing", "false")
        held = root.get_attribute("data-frame")
        assert held is not None and int(held) < int(root.locator(".tdl-scrub").get_attribute("max"))  # held short
        scrub.focus()
        scrub.press("End")
        expect(text.locator(".tdl-stage")).to_contain_text(f"step {steps} of {steps}")
        expect(page.locator("#clamp-plot")).to_be_visible()
        expect(page.locator("#clamp-plot .js-plotly-plot")).to_be_visible()
        expect(page.locator("#latent-map .js-plotly-plot")).to_be_visible()
        assert page.locator("#latent-map .scatterlayer .trace").count() >= 4  # vocabulary, paths, prior, now
        expect(page.locator("#denoise-json")).to_be_visible()
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000


def test_denoise_in_browser(tiny_app, tmp_path):
    """The whole flow on the tiny model (200 timesteps, so 500 steps is rejected)."""
    _browser_run(tiny_app, 20, tmp_path / "tiny.png", max_steps=200)


@pytest.mark.skipif(not app.DEFAULT_CHECKPOINT.is_dir(),
                    reason="no shipped checkpoint in assets/checkpoints/continuous")
def test_shipped_model_in_browser(monkeypatch):
    """What a visitor sees: the shipped model at its default 200 steps; this is the README's screenshot."""
    monkeypatch.delenv(app.CHECKPOINT_ENV, raising=False)
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    app._load.cache_clear()
    try:
        _browser_run(app, app.DEFAULT_STEPS, SCREENSHOT, max_steps=min(app.MAX_STEPS, app.get_checkpoint().process.T))
    finally:
        app._load.cache_clear()


TABS = [name for name, _ in app.TABS]
RUN_BUTTONS = {"Denoise": "#run", "Clamping trick": "#ct-run", "Discrete diffusion": "#sedd-run",
               "Order-agnostic": "#order-run", "Seq2seq": "#s2s-run", "Control": "#control-run", "Compare": "#cmp-run",
               "Train": "#train-run"}
RESULTS = {"Denoise": "#denoise-text", "Clamping trick": "#ct-view", "Discrete diffusion": "#sedd-text",
           "Order-agnostic": "#order-text", "Seq2seq": "#s2s-text", "Control": "#control-text",
           "Compare": "#cmp-results", "Train": "#train-status"}


def test_every_tab_fits_a_phone_and_a_projector(tmp_path):
    """At a phone's width (390 px) every tab opens (the rest behind Gradio's 'More tabs' menu), draws its controls,
    and nothing runs off the side of the page; at a projector's 1280x720 every tab shows its controls and its first
    result (the player, or the tab's first output) side by side with no horizontal scrolling."""
    from playwright.sync_api import expect

    app._load.cache_clear()
    with open_in_chromium(app) as page:
        page.wait_for_selector("#tabs")
        page.evaluate("document.documentElement.classList.remove('tdl-capture')")  # the page as a visitor has it
        page.set_viewport_size({"width": 390, "height": 844})
        more = page.get_by_role("button", name="More tabs").first  # the app's tab bar (the lesson's has its own)
        expect(more).to_be_visible()  # the tab bar has folded
        for name in TABS:
            tab = page.get_by_role("tab", name=name, exact=True)
            if not tab.is_visible():
                more.click()
                tab = page.locator(".overflow-dropdown button", has_text=name)
            tab.click()
            panel = page.locator("[role=tabpanel]:visible")
            expect(panel.locator("button:visible").first).to_be_visible()
            width, viewport = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert width <= viewport, f"{name}: the page is {width} px wide on a {viewport} px screen"
        page.screenshot(path=str(tmp_path / "phone-train.png"))
        expect(page.locator("#train-run")).to_be_visible()

        page.set_viewport_size({"width": 1280, "height": 720})
        for name in TABS:
            page.get_by_role("tab", name=name, exact=True).click()
            panel = page.locator("[role=tabpanel]:visible")
            expect(panel.locator("button:visible").first).to_be_visible()
            width, viewport = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert width <= viewport, f"{name}: the page is {width} px wide on a {viewport} px projector"
            for player in panel.locator(".tdl-player:visible").all():
                box = player.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= viewport, name
            if name in RUN_BUTTONS:  # Run is in view without scrolling, as is the view it fills
                for selector in (RUN_BUTTONS[name], RESULTS[name]):
                    box = page.locator(selector).bounding_box()
                    assert box is not None and box["y"] + min(box["height"], 40) <= 720, (name, selector, box)


def test_element_ids_are_unique():
    """Browser tests and CSS find controls by elem_id: no two components may share one."""
    config = app.build_demo().get_config_file()
    ids = [c["props"].get("elem_id") for c in config["components"] if c.get("props", {}).get("elem_id")]
    assert ids and len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})

"""The Clamping trick tab: its figure builders, handlers on tiny checkpoints (x0 beside eps included), and the tab
in Chromium."""

import json
import re
from pathlib import Path

import gradio as gr
import pytest

import app
from conftest import shot, train_tiny
from diffusion.corpus import is_grammatical
from test_app import open_in_chromium
from test_app_compare import use_shipped
from test_app_families import wait_for_run
from ui import clamp as clamp_ui
from ui.common import SHIPPED, TRAINED, env_name
from visualize.clamp import clamp_distances_figure, disagreement_figure, disagreements, verdict_html


@pytest.fixture(scope="session")
def tiny_eps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory, "continuous", "--parameterisation", "eps")


@pytest.fixture
def clamp_app(tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(app.CHECKPOINT_ENV, str(tiny_checkpoint))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    app._load.cache_clear()
    yield clamp_ui
    app._load.cache_clear()


# ---- figures and tables -------------------------------------------------------------------------------------------

def test_disagreements_counts_positions_per_sample():
    assert disagreements([[1, 2, 3], [1, 2, 3]], [[1, 0, 3], [0, 0, 0]]) == 2.0  # (1 + 3) / 2 samples
    assert disagreements([4, 5], [4, 5]) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        disagreements([[1, 2]], [[1, 2, 3]])


def test_clamp_figures_draw_both_runs_and_mark_the_step():
    fig = clamp_distances_figure([1, 2, 3], [[[2.0, 4.0]], 1.0, 0.5], [3.0, 2.5, 2.0], current=2, num_steps=3,
                                 clamp_start=1, frames=[0, 1, 2, 3])
    names = [t.name for t in fig.data]
    assert names[:2] == ["with clamping", "without clamping"]
    assert list(fig.data[0].y) == [3.0, 1.0, 0.5]
    now = next(t for t in fig.data if t.meta == "now")  # the current step's line, which the player moves
    assert list(now.x) == [2, 2]
    assert [frame["now"]["x"] for frame in fig.layout.meta["player"]] == [[x, x] for x in (0, 1, 2, 3)]
    assert fig.layout.shapes  # the not-yet-clamped band
    counts = disagreement_figure([1, 2], [5, 0], [6, 4], length=8, current=None)
    assert [list(t.y) for t in counts.data] == [[5, 0], [6, 4]] and "of 8" in counts.layout.yaxis.title.text
    with pytest.raises(ValueError, match="one value per step"):
        disagreement_figure([1, 2], [5], [6, 4], length=8)


def test_verdict_html_escapes_and_says_the_grammar():
    out = verdict_html("<b>pub</b>", False, 0.0)
    assert "not grammatical" in out and "&lt;b&gt;" in out and "0.000 from the nearest words" in out
    assert "grammatical ✓" in verdict_html("a pub .", True)


# ---- Clamping trick handlers --------------------------------------------------------------------------------------
ON, OFF = 0, 1  # the Run's two chains: the left column (with clamping; x0) and the right (without; eps)


def series(run, key: str, chain: int) -> list:
    """What the Run kept as `key` for one chain, over the steps that have it."""
    return run.series(key, chain)[1]


def views(value: dict, frame: int = -1) -> list[str]:
    """One frame of a player value: its HTML view per chain (the left column first)."""
    return value["frames"][frame]


def plotted(update) -> dict:
    """The plotly figure a gr.Plot update carries, as JSON."""
    return json.loads(update.value["plot"])


def test_clamp_compare_streams_both_runs_then_sends_the_whole_run_to_the_player(clamp_app):
    outputs = list(clamp_app.clamp_compare(0, 20, "ddpm", 1.0, SHIPPED, {}))
    first = outputs[0][0]  # streamed: the newest frame alone, both columns, still live
    assert first["live"] is True and len(first["frames"]) == 1
    assert all("step 0 of 20" in view for view in views(first))
    assert first["heads"] == outputs[-1][0]["heads"] == ["With clamping", "Without clamping"]  # the columns' heads
    value, verdict_on, verdict_off, run, distance, disagree, *_ = outputs[-1]
    on, off = views(value)
    assert "step 20 of 20" in on and "x̂₀ clamped" in on and "not clamped" in off
    assert "grammatical" in verdict_on and "grammatical" in verdict_off
    assert len(run) == len(outputs) - 1 == 21  # one Run of two columns: the prior, 20 steps, then the reveal
    assert run.frames[-1] == (on, off) and run.indices == list(range(21))
    # the whole run goes to the player once: every frame, two columns each, opening at the last
    assert value["live"] is False and value["start"] is None and value["frames"] == [list(f) for f in run.frames]
    assert value["linked"] == ["ct-distance", "ct-disagree"]
    assert distance.visible is True and disagree.visible is True
    assert series(run, "clamped", ON) == [True] * 20 and series(run, "clamped", OFF) == [False] * 20
    # A clamped last step hands back x0_hat snapped to words: the chain ends exactly on embeddings; unclamped, not.
    assert run.extra["final_distance"][ON] == pytest.approx(0.0, abs=1e-5)
    assert run.extra["final_distance"][OFF] > 1e-3
    # The last step's x_0 rounds to x0_hat's words in both runs (clamped: it *is* their embeddings).
    assert series(run, "disagree", ON)[-1] == 0.0 and series(run, "disagree", OFF)[-1] == 0.0
    assert series(run, "distance", ON) != series(run, "distance", OFF)
    assert [[v.grammatical for v in checks] for checks in run.verdicts] == [[is_grammatical(t)] for t, in run.samples]
    assert all("step 0 of 20" in view for view in views(value, 0))  # the player's first frame: both at the prior
    fig_d, fig_c = plotted(distance), plotted(disagree)
    assert [t.get("name") for t in fig_d["data"]][:2] == ["with clamping", "without clamping"]
    assert fig_c["data"][0]["y"] is not None and len(fig_c["data"][0]["y"]) == 20
    for fig in (fig_d, fig_c):  # both figures' cursors follow the player, one position per frame
        assert [frame["now"]["x"] for frame in fig["layout"]["meta"]["player"]] == [[i, i] for i in range(21)]


def test_clamp_compare_is_deterministic_per_seed(clamp_app):
    def last(seed):  # (player value, Run) of the finished run
        value, _, _, run, *_ = list(clamp_app.clamp_compare(seed, 12, "ddim", 0.75, SHIPPED, {}))[-1]
        return value, run

    (first, run), (again, run_again), (other, _) = last(5), last(5), last(6)
    assert first == again and run.views == run_again.views
    assert first["frames"] != other["frames"]


@pytest.mark.parametrize("start", [4, 11])
def test_clamping_starts_exactly_after_the_chosen_step(clamp_app, start):
    """Clamping from the time step `start` ends at: the steps after it are clamped, the ones before are not."""
    clamp_from = float(clamp_app.get_checkpoint("continuous").process.timesteps(15)[start])
    run = list(clamp_app.clamp_compare(2, 15, "ddpm", clamp_from, SHIPPED, {}))[-1][3]
    indices, clamped = run.series("clamped", ON)
    assert indices == list(range(1, 16))
    assert clamped == [i > start for i in indices]
    on, off = ([views[chain] for views in run.frames] for chain in (ON, OFF))
    # Up to the start the two runs are the same computation from the same noise: identical frames and distances.
    assert on[:start + 1] == off[:start + 1]
    # Step start + 1 measures x0_hat before snapping it, so its distance still agrees; from then on the runs part.
    assert series(run, "distance", ON)[:start + 1] == series(run, "distance", OFF)[:start + 1]
    assert series(run, "distance", ON)[start + 1:] != series(run, "distance", OFF)[start + 1:]
    assert on[start + 1] != off[start + 1]


def test_clamping_from_the_last_step_never_clamps(clamp_app):
    value, _, _, run, *_ = list(clamp_app.clamp_compare(1, 10, "ddim", 0.0, SHIPPED, {}))[-1]
    assert not any(series(run, "clamped", ON))
    on, off = views(value)
    assert on == off and run.extra["final_distance"][ON] == run.extra["final_distance"][OFF] > 0


def test_clamp_compare_runs_the_model_trained_in_this_session(tiny_checkpoint, monkeypatch, tmp_path):
    monkeypatch.setenv(app.CHECKPOINT_ENV, str(tmp_path / "nowhere"))  # the shipped one is not used
    app._load.cache_clear()
    try:
        out = list(clamp_ui.clamp_compare(0, 10, "ddpm", 1.0, TRAINED, {"continuous": str(tiny_checkpoint)}))[-1]
        assert all("step 10 of 10" in view for view in views(out[0]))
        with pytest.raises(gr.Error, match=app.CHECKPOINT_ENV):
            list(clamp_ui.clamp_compare(0, 10, "ddpm", 1.0, SHIPPED, {}))
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
    outputs = list(x0_eps_app.clamp_compare(3, 12, "ddpm", 1.0, SHIPPED, {}, "prediction"))
    first, last = outputs[0], outputs[-1]
    heads = first[0]["heads"]  # over the player's two columns, from the first streamed frame on
    assert heads[0].startswith("Predicts x₀") and heads[1].startswith("Predicts ε") and last[0]["heads"] == heads
    run = last[3]
    assert run.extra["compare"] == "prediction"
    assert series(run, "clamped", ON) == series(run, "clamped", OFF) == [True] * 12  # the same sampler for both
    assert run.extra["final_distance"][ON] == pytest.approx(0.0, abs=1e-5)  # both end clamped on words
    assert run.extra["final_distance"][OFF] == pytest.approx(0.0, abs=1e-5)
    assert series(run, "distance", ON) != series(run, "distance", OFF)  # two networks, two predictions
    # each column is its own model: the same as running that checkpoint alone with the same seed
    import torch

    from diffusion import checkpoint
    from diffusion.sampling import sample
    eps = checkpoint.load(tiny_eps)
    alone = sample(eps.process.configure(sampler="ddpm", clamp=True, clamp_from=1.0), eps.model, 1, 12,
                   generator=torch.Generator().manual_seed(3), every=12)
    assert run.samples[OFF] == [eps.tokenizer.decode(alone.steps[-1].tokens[0])]
    accuracy = last[-1]  # the one-shot x0_hat of held-out sentences, both models, against t
    assert accuracy.visible is True
    names = [t["name"] for t in json.loads(accuracy.value["plot"])["data"]]
    assert names == ["predicts x₀: words", "predicts x₀: sentences", "predicts ε: words", "predicts ε: sentences"]
    fig_d, fig_c = (plotted(update) for update in last[4:6])
    assert [t.get("name") for t in fig_d["data"]][:2] == ["predicts x₀", "predicts ε"]
    assert [t.get("name") for t in fig_c["data"]][:2] == ["predicts x₀", "predicts ε"]


def test_x0_beside_eps_refuses_what_it_cannot_compare(x0_eps_app, tiny_checkpoint, monkeypatch, tmp_path):
    with pytest.raises(gr.Error, match="compares the two shipped models; pick the shipped model"):
        list(x0_eps_app.clamp_compare(0, 10, "ddpm", 1.0, TRAINED, {"continuous": str(tiny_checkpoint)}, "prediction"))
    with pytest.raises(gr.Error, match=re.escape("compare must be one of clamping, prediction, got 'both'")):
        list(x0_eps_app.clamp_compare(0, 10, "ddpm", 1.0, SHIPPED, {}, "both"))
    monkeypatch.setenv(env_name(clamp_ui.EPS_FOLDER), str(tiny_checkpoint))  # an x0 model where the eps one goes
    app._load.cache_clear()
    with pytest.raises(gr.Error, match="needs an x0 and an eps model, got x0 and x0"):
        list(x0_eps_app.clamp_compare(0, 10, "ddpm", 1.0, SHIPPED, {}, "prediction"))
    monkeypatch.setenv(env_name(clamp_ui.EPS_FOLDER), str(tmp_path / "nowhere"))
    app._load.cache_clear()
    with pytest.raises(gr.Error, match="DIFFUSION_CHECKPOINT_CONTINUOUS_EPS .*--parameterisation eps"):
        list(x0_eps_app.clamp_compare(0, 10, "ddpm", 1.0, SHIPPED, {}, "prediction"))
    # the clamping comparison does not need the eps model at all, and hides the x0 / eps accuracy plot
    last = list(x0_eps_app.clamp_compare(0, 10, "ddpm", 0, SHIPPED, {}, "clamping"))[-1]
    assert all("step 10 of 10" in view for view in views(last[0])) and last[-1].visible is False


@pytest.mark.parametrize("args, message", [
    ((1.5, 20, "ddpm", 1.0, SHIPPED, {}), "seed must be a whole number from 0 to 2^63 - 1"),
    ((None, 20, "ddpm", 1.0, SHIPPED, {}), "seed must be a whole number"),
    ((0, 5000, "ddpm", 1.0, SHIPPED, {}), "steps must be a whole number from 10 to 200"),
    ((0, 20, "ddpm", 21, SHIPPED, {}), "clamp_from must be a time in [0, 1], got 21"),
    ((0, 20, "euler", 0, SHIPPED, {}), "unknown sampler 'euler'; choose one of ddpm, ddim"),  # the package's
    ((0, 20, "ddpm", 0, TRAINED, {}), "you have not trained a continuous model"),
    ((0, 20, "ddpm", 0, "mine", {}), "model must be one of 'shipped', 'free-form English', 'trained here'"),
])
def test_clamp_bad_input_raises_gr_error(clamp_app, args, message):
    with pytest.raises(gr.Error, match=re.escape(message)):
        list(clamp_app.clamp_compare(*args))


# ---- browser ------------------------------------------------------------------------------------------------------

def _cursor(page, plot: str) -> list:
    """Where a figure linked to the player draws the current step now: its `now` line's x."""
    return page.locator(f"#{plot} .js-plotly-plot").evaluate("gd => gd.data.find(d => d.meta === 'now').x")


@pytest.mark.skipif(not app.DEFAULT_CHECKPOINT.is_dir(), reason="no shipped continuous checkpoint")
def test_clamp_tab_in_browser(monkeypatch):
    """The shipped model in Chromium: run both chains, step both back to the start and forward in the one player, the
    plots' cursors following; the README's screenshot."""
    from playwright.sync_api import expect

    use_shipped(monkeypatch)
    steps, screenshot = 20, shot("screenshot-clamp.png")
    try:
        with open_in_chromium(app) as page:
            page.get_by_role("tab", name="Clamping trick").click()
            root = page.locator("#ct-view .tdl-player")
            # before a run there is nothing to play: the player says what to do and offers no controls
            expect(root.locator(".tdl-stage")).to_contain_text("Press Run both")
            expect(root.locator(".tdl-play")).to_be_hidden()
            expect(root.locator(".tdl-scrub")).to_be_hidden()
            box = page.locator("#ct-steps input[type=number]")
            box.fill(str(steps))
            box.press("Enter")
            start = page.locator("#ct-start input[type=number]")  # clamping from t = 0.75: after step 5 of 20
            start.fill("0.75")
            start.press("Enter")
            expect(start).to_have_value("0.75")
            page.locator("#ct-run").click()
            wait_for_run(page, "ct-view", steps)
            expect(root).to_have_attribute("data-frames", str(steps + 1))
            # the two chains side by side in the one player, each under its heading
            chains = root.locator(".tdl-chain")
            expect(chains).to_have_count(2)
            on, off = chains.nth(0), chains.nth(1)
            expect(on.locator(".tdl-head")).to_have_text("With clamping")
            expect(off.locator(".tdl-head")).to_have_text("Without clamping")
            expect(on).to_contain_text(f"step {steps} of {steps}")
            expect(off).to_contain_text(f"step {steps} of {steps}")
            expect(page.locator("#ct-verdict-on")).to_contain_text("grammatical")
            expect(page.locator("#ct-verdict-off")).to_contain_text("grammatical")
            for plot in ("#ct-distance", "#ct-disagree"):
                expect(page.locator(f"{plot} .js-plotly-plot svg.main-svg").first).to_be_visible()
                expect(page.locator(f"{plot} .scatterlayer .trace").first).to_be_attached()
            scrub, back, fwd = (root.locator(f".tdl-{name}") for name in ("scrub", "back", "fwd"))
            scrub.fill("0")  # as a drag to the start does
            expect(on).to_contain_text(f"step 0 of {steps}")
            expect(off).to_contain_text(f"step 0 of {steps}")
            scrub.fill(str(steps))
            expect(on).to_contain_text(f"step {steps} of {steps}")
            for _ in range(8):
                back.click()
            expect(root).to_have_attribute("data-frame", str(steps - 8))
            expect(on).to_contain_text(f"step {steps - 8} of {steps}")
            expect(off).to_contain_text(f"step {steps - 8} of {steps}")
            for plot in ("ct-distance", "ct-disagree"):  # both plots' cursors at the frame's step
                assert _cursor(page, plot) == [steps - 8] * 2, plot
            expect(page.locator("#ct-distance")).to_contain_text("not clamped yet")  # steps 1..5 shaded
            for _ in range(steps - 8 - 5):
                back.click()
            expect(on).to_contain_text("step 5 of 20 · t = 0.750 · not clamped")  # the start: not clamped yet
            expect(off).to_contain_text("step 5 of 20")
            # identical up to the start: same seed, same noise (the columns' views, under their different heads)
            assert on.locator(".denoise-frame").inner_text() == off.locator(".denoise-frame").inner_text()
            fwd.click()
            expect(on).to_contain_text("step 6 of 20 · t = 0.700 · x̂₀ clamped")
            expect(off).to_contain_text("step 6 of 20 · t = 0.700 · not clamped")
            for _ in range(6):
                fwd.click()
            expect(on).to_contain_text("step 12 of 20")  # mid-way: the screenshot shows the two runs apart
            assert _cursor(page, "ct-distance") == [12, 12]
            page.screenshot(path=str(screenshot), full_page=True)
    finally:
        app._load.cache_clear()
    assert screenshot.stat().st_size > 10_000


@pytest.mark.skipif(not (app.CHECKPOINTS / clamp_ui.EPS_FOLDER).is_dir(), reason="no shipped eps checkpoint")
def test_x0_beside_eps_in_browser(monkeypatch):
    """The shipped x0 and eps models in Chromium: the columns' headings follow the comparison, both chains run to the
    end clamped, and the distance plot names the two models; the README's screenshot."""
    from playwright.sync_api import expect

    use_shipped(monkeypatch)
    monkeypatch.delenv(env_name(clamp_ui.EPS_FOLDER), raising=False)
    screenshot = shot("screenshot-clamp-eps.png")
    try:
        with open_in_chromium(app) as page:
            page.get_by_role("tab", name="Clamping trick").click()
            root = page.locator("#ct-view .tdl-player")
            # before a run the player says what the columns will compare: clamping on and off, by default
            expect(root.locator(".tdl-stage")).to_contain_text("the chain with clamping and the one without")
            page.locator("#ct-compare").get_by_text("x₀ or ε prediction").click()
            page.locator("#ct-run").click()
            heads = root.locator(".tdl-chain .tdl-head")
            expect(heads.first).to_contain_text("Predicts x₀", timeout=120_000)  # from the first streamed frame
            expect(heads.nth(1)).to_contain_text("Predicts ε")
            wait_for_run(page, "ct-view", 200, timeout=240_000)
            expect(heads.first).to_contain_text("Predicts x₀")
            for side, chain in (("on", root.locator(".tdl-chain").first), ("off", root.locator(".tdl-chain").nth(1))):
                expect(chain).to_contain_text("step 200 of 200 · t = 0.000 · x̂₀ clamped")
                expect(page.locator(f"#ct-verdict-{side}")).to_contain_text("grammatical")
            expect(page.locator("#ct-distance")).to_contain_text("predicts ε")
            expect(page.locator("#ct-accuracy")).to_contain_text("predicts ε: words")
            frames = int(root.get_attribute("data-frames"))
            root.locator(".tdl-scrub").fill(str((frames - 1) // 2))  # half-way: x̂₀ still far from words under ε
            expect(root.locator(".tdl-chain").first).to_contain_text("step 100 of 200")
            page.screenshot(path=str(screenshot), full_page=True)
    finally:
        app._load.cache_clear()
    assert screenshot.stat().st_size > 10_000

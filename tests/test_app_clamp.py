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


# ---- Clamping trick handlers --------------------------------------------------------------------------------------
ON, OFF = 0, 1  # the Run's two chains: the left column (with clamping; x0) and the right (without; eps)


def series(run, key: str, chain: int) -> list:
    """What the Run kept as `key` for one chain, over the steps that have it."""
    return run.series(key, chain)[1]


def test_clamp_compare_streams_both_runs_then_reveals_the_scrubber(clamp_app):
    outputs = list(clamp_app.clamp_compare(0, 20, "ddpm", 1.0, SHIPPED, {}))
    assert "step 0 / 20" in outputs[0][0] and "step 0 / 20" in outputs[0][1]
    assert outputs[0][-3:-1] == outputs[-1][-3:-1] == ("**With clamping**", "**Without clamping**")  # headings
    on, off, verdict_on, verdict_off, run, slider, distance, disagree, *_ = outputs[-1]
    assert "step 20 / 20" in on and "x̂₀ clamped" in on and "not clamped" in off
    assert "grammatical" in verdict_on and "grammatical" in verdict_off
    assert len(run) == len(outputs) - 1 == 21  # one Run of two columns: the prior, 20 steps, then the reveal
    assert run.frames[-1] == (on, off) and run.indices == list(range(21))
    assert slider.visible is True and slider.maximum == 20
    assert distance.visible is True and disagree.visible is True
    assert series(run, "clamped", ON) == [True] * 20 and series(run, "clamped", OFF) == [False] * 20
    # A clamped last step hands back x0_hat snapped to words: the chain ends exactly on embeddings; unclamped, not.
    assert run.extra["final_distance"][ON] == pytest.approx(0.0, abs=1e-5)
    assert run.extra["final_distance"][OFF] > 1e-3
    # The last step's x_0 rounds to x0_hat's words in both runs (clamped: it *is* their embeddings).
    assert series(run, "disagree", ON)[-1] == 0.0 and series(run, "disagree", OFF)[-1] == 0.0
    assert series(run, "distance", ON) != series(run, "distance", OFF)
    assert [[v.grammatical for v in checks] for checks in run.verdicts] == [[is_grammatical(t)] for t, in run.samples]
    html_on, html_off, fig_d, fig_c = clamp_app.clamp_scrub(0, run)
    assert "step 0 / 20" in html_on and "step 0 / 20" in html_off
    assert [t.name for t in fig_d.data][:2] == ["with clamping", "without clamping"]
    assert fig_c.data[0].y is not None and len(fig_c.data[0].y) == 20


def test_clamp_compare_is_deterministic_per_seed(clamp_app):
    first = list(clamp_app.clamp_compare(5, 12, "ddim", 0.75, SHIPPED, {}))[-1][4]
    again = list(clamp_app.clamp_compare(5, 12, "ddim", 0.75, SHIPPED, {}))[-1][4]
    other = list(clamp_app.clamp_compare(6, 12, "ddim", 0.75, SHIPPED, {}))[-1][4]
    assert first.frames == again.frames and first.views == again.views
    assert first.frames != other.frames


@pytest.mark.parametrize("start", [4, 11])
def test_clamping_starts_exactly_after_the_chosen_step(clamp_app, start):
    """Clamping from the time step `start` ends at: the steps after it are clamped, the ones before are not."""
    clamp_from = float(clamp_app.get_checkpoint("continuous").process.timesteps(15)[start])
    run = list(clamp_app.clamp_compare(2, 15, "ddpm", clamp_from, SHIPPED, {}))[-1][4]
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
    out = list(clamp_app.clamp_compare(1, 10, "ddim", 0.0, SHIPPED, {}))[-1]
    run = out[4]
    assert not any(series(run, "clamped", ON))
    assert out[0] == out[1] and run.extra["final_distance"][ON] == run.extra["final_distance"][OFF] > 0


def test_clamp_compare_runs_the_model_trained_in_this_session(tiny_checkpoint, monkeypatch, tmp_path):
    monkeypatch.setenv(app.CHECKPOINT_ENV, str(tmp_path / "nowhere"))  # the shipped one is not used
    app._load.cache_clear()
    try:
        out = list(clamp_ui.clamp_compare(0, 10, "ddpm", 1.0, TRAINED, {"continuous": str(tiny_checkpoint)}))[-1]
        assert "step 10 / 10" in out[0]
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
    assert first[-3].startswith("**Predicts x₀") and first[-2].startswith("**Predicts ε")
    run = last[4]
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
    fig_d, fig_c = x0_eps_app.clamp_scrub(5, run)[2:]
    assert [t.name for t in fig_d.data][:2] == ["predicts x₀", "predicts ε"]
    assert [t.name for t in fig_c.data][:2] == ["predicts x₀", "predicts ε"]


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
    assert "step 10 / 10" in last[0] and last[-1].visible is False


@pytest.mark.parametrize("args, message", [
    ((1.5, 20, "ddpm", 1.0, SHIPPED, {}), "seed must be a whole number from 0 to 2^63 - 1"),
    ((None, 20, "ddpm", 1.0, SHIPPED, {}), "seed must be a whole number"),
    ((0, 5000, "ddpm", 1.0, SHIPPED, {}), "steps must be a whole number from 10 to 200"),
    ((0, 20, "ddpm", 21, SHIPPED, {}), "clamp_from must be a time in [0, 1], got 21"),
    ((0, 20, "euler", 0, SHIPPED, {}), "unknown sampler 'euler'; choose one of ddpm, ddim"),  # the package's
    ((0, 20, "ddpm", 0, TRAINED, {}), "you have not trained a continuous model"),
    ((0, 20, "ddpm", 0, "mine", {}), "model must be one of 'shipped', 'trained here'"),
])
def test_clamp_bad_input_raises_gr_error(clamp_app, args, message):
    with pytest.raises(gr.Error, match=re.escape(message)):
        list(clamp_app.clamp_compare(*args))


def test_clamp_scrub_without_a_run_changes_nothing(clamp_app):
    assert all(isinstance(v, type(gr.skip())) for v in clamp_app.clamp_scrub(3, None))


# ---- browser ------------------------------------------------------------------------------------------------------

@pytest.mark.skipif(not app.DEFAULT_CHECKPOINT.is_dir(), reason="no shipped continuous checkpoint")
def test_clamp_tab_in_browser(monkeypatch):
    """The shipped model in Chromium: run both chains, scrub both to the start and back; the README's screenshot."""
    from playwright.sync_api import expect

    use_shipped(monkeypatch)
    steps, screenshot = 20, shot("screenshot-clamp.png")
    try:
        with open_in_chromium(app) as page:
            page.get_by_role("tab", name="Clamping trick").click()
            box = page.locator("#ct-steps input[type=number]")
            box.fill(str(steps))
            box.press("Enter")
            start = page.locator("#ct-start input[type=number]")  # clamping from t = 0.75: after step 5 of 20
            start.fill("0.75")
            start.press("Enter")
            expect(start).to_have_value("0.75")
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

    use_shipped(monkeypatch)
    monkeypatch.delenv(env_name(clamp_ui.EPS_FOLDER), raising=False)
    screenshot = shot("screenshot-clamp-eps.png")
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

"""The player of every tab plays in the browser (Chromium, the shipped checkpoints, one app server for the file): once
a run is on the page, Play reaches the last frame with no request to the server, and the figures linked to the player
follow it; step, scrub, the network's likeliest words on pointing, the x̂₀ row and the order words were written in."""

import os
import time
from dataclasses import dataclass

import pytest

import app
from test_app import open_in_chromium

RUN_TIMEOUT = 240_000  # ms: a default run on a busy 2-core machine (the Control tab's guidance is the slowest)


@dataclass(frozen=True)
class Player:
    tab: str  # the tab's name
    view: str  # the player's elem_id
    run: str | None = None  # the Run button's elem_id (none: the player is filled on page load)
    plots: tuple[str, ...] = ()  # elem_ids of the figures that follow the player
    done: str | None = None  # what shows once the run's last event (the export files) has ended
    steps: str | None = None  # the elem_id of the tab's steps box, set to STEPS: the same frames, less to compute


STEPS = 50  # every chain still records about fifty frames


PLAYERS = [
    Player("Forward noising", "fwd-tokens", plots=("fwd-map", "fwd-schedule")),
    Player("Denoise", "denoise-text", "run", ("clamp-plot", "latent-map"), "denoise-json", "steps"),
    Player("Clamping trick", "ct-view", "ct-run", ("ct-distance", "ct-disagree"), steps="ct-steps"),
    Player("Discrete diffusion", "sedd-forward", plots=("sedd-schedule",)),
    Player("Discrete diffusion", "sedd-text", "sedd-run", done="sedd-json"),  # its default: 40 steps, a word each
    Player("Order-agnostic", "order-text", "order-run", ("order-plan",), "order-json"),
    Player("Seq2seq", "s2s-text", "s2s-run", done="s2s-json", steps="s2s-steps"),
    Player("Control", "control-text", "control-run", ("control-plot",), "control-json", "control-steps"),
]


@pytest.fixture(scope="module")
def page():
    """The app on the shipped checkpoints, opened once for every test of the file."""
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith(app.CHECKPOINT_ENV)]:
            mp.delenv(name)
        mp.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        app._load.cache_clear()
        try:
            with open_in_chromium(app) as page:
                yield page
        finally:
            app._load.cache_clear()


def _root(player: Player) -> str:
    return f"#{player.view} .tdl-player"


def _state(page, player: Player) -> dict:
    return page.locator(_root(player)).evaluate(
        "r => ({frame: Number(r.dataset.frame), frames: Number(r.dataset.frames), playing: r.dataset.playing, "
        "live: r.classList.contains('tdl-live')})")


def _recorded(page, player: Player) -> None:
    """Run the tab's default, unless a run is on show already (or wait for the page-load frames), until the whole run
    is in the player and the run's last event (the export files) has ended."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name=player.tab, exact=True).click()
    if player.run and page.locator(_root(player)).evaluate("r => Number(r.dataset.frames) === 0"):
        if player.steps:
            box = page.locator(f"#{player.steps} input[type=number]")
            box.fill(str(STEPS))
            box.press("Enter")
        page.locator(f"#{player.run}").click()  # a run recorded by an earlier test of the file serves again
    page.wait_for_function(
        f"() => {{ const r = document.querySelector('{_root(player)}'); return r && Number(r.dataset.frames) >= 3 "
        f"&& !r.classList.contains('tdl-live') && r.dataset.frame === String(Number(r.dataset.frames) - 1) }}",
        timeout=RUN_TIMEOUT) if player.run else page.wait_for_function(
        f"() => {{ const r = document.querySelector('{_root(player)}'); return r && Number(r.dataset.frames) >= 3 }}",
        timeout=RUN_TIMEOUT)
    if player.done:
        expect(page.locator(f"#{player.done}")).to_be_visible(timeout=RUN_TIMEOUT)


def _cursor(page, plot: str):
    """Where a linked figure's moving trace is now (the first trace with a player meta name)."""
    return page.locator(f"#{plot} .js-plotly-plot").evaluate(
        "gd => { const t = gd.data.find(d => typeof d.meta === 'string' && d.meta.startsWith('now')); "
        "return t ? JSON.stringify([t.x, t.y]) : null; }")


@pytest.mark.skipif(not app.DEFAULT_CHECKPOINT.is_dir(), reason="no shipped checkpoints")
@pytest.mark.parametrize("player", PLAYERS, ids=[p.view for p in PLAYERS])
def test_play_reaches_the_last_frame_without_a_request(page, player):
    _recorded(page, player)
    root = page.locator(_root(player))
    state = _state(page, player)
    for plot in player.plots:
        page.locator(f"#{plot} .js-plotly-plot").wait_for(timeout=60_000)
    root.locator(".tdl-scrub").focus()
    root.locator(".tdl-scrub").press("End")  # the last frame (a forward view opens elsewhere)
    root.locator(".tdl-back").click()  # one frame back: the figures follow
    before = {plot: _cursor(page, plot) for plot in player.plots}
    root.locator(".tdl-fwd").click()
    requests = []

    def count(request) -> None:
        requests.append(request)

    page.on("request", count)
    root.locator(".tdl-speed").select_option("4")  # the fastest: the same frames, a quarter of the wait
    root.evaluate("r => { window.__frames = []; window.__watch = new MutationObserver(() => "
                  "window.__frames.push(Number(r.dataset.frame))); "
                  "window.__watch.observe(r, {attributes: true, attributeFilter: ['data-frame']}); }")
    try:
        started = time.monotonic()
        root.locator(".tdl-play").click()  # from the last frame Play starts again at the first
        page.wait_for_function(
            f"() => {{ const r = document.querySelector('{_root(player)}'); "
            "return r.dataset.frame === String(Number(r.dataset.frames) - 1) && r.dataset.playing === 'false' }",
            timeout=120_000)
        took = time.monotonic() - started
    finally:
        page.remove_listener("request", count)
    assert requests == [], [r.url for r in requests]  # the whole playback ran in the browser
    seen = page.evaluate("() => { window.__watch.disconnect(); return window.__frames; }")
    assert seen == list(range(state["frames"])), seen  # every frame shown, in order, from the first to the last
    fps = 4 * float(root.evaluate("r => r.dataset.fps"))
    assert took < 3 * (state["frames"] - 1) / fps + 10  # the set time (frames / fps), with room for a loaded CPU
    root.locator(".tdl-speed").select_option("1")
    after = {plot: _cursor(page, plot) for plot in player.plots}
    for plot in player.plots:  # the last frame's cursor differs from the frame before it
        assert after[plot] is not None and after[plot] != before[plot] or state["frames"] < 2, plot


@pytest.mark.skipif(not app.DEFAULT_CHECKPOINT.is_dir(), reason="no shipped checkpoints")
def test_scrub_step_and_the_likeliest_words(page):
    """On the Denoise run: scrub and step move the frame in the browser; each sample has its x̂₀ row; pointing at
    a predicted word shows the network's likeliest words as bars whose probabilities fall and sum to at most 1."""
    from playwright.sync_api import expect

    player = PLAYERS[1]
    _recorded(page, player)
    root = page.locator(_root(player))
    requests = []

    def seen(request) -> None:
        requests.append(request)

    page.on("request", seen)
    try:
        root.locator(".tdl-scrub").fill("10")
        assert _state(page, player)["frame"] == 10
        root.locator(".tdl-back").click()
        assert _state(page, player)["frame"] == 9
        label = root.locator(".tdl-label").inner_text()
        assert "frame 10 of" in label and "step" in label
        assert root.locator(".pred-row").count() == root.locator(".sample-row").count() >= 1  # x̂₀ under x_t
        chip = root.locator(".pred-row [data-top]").first
        chip.hover()
        rows = root.locator(".tdl-detail .tdl-top-row")
        expect(rows.first).to_be_visible()
        probs = [float(p) for p in root.locator(".tdl-detail .tdl-top-p").all_inner_texts()]
        assert 1 <= len(probs) <= 5 and probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 0.03
        assert root.locator(".tdl-detail .tdl-top-title").inner_text().startswith("position ")
    finally:
        page.remove_listener("request", seen)
    assert requests == []


@pytest.mark.skipif(not app.DEFAULT_CHECKPOINT.is_dir(), reason="no shipped checkpoints")
def test_order_run_ends_coloured_by_when_each_word_was_written(page):
    """The order-agnostic run's last frame colours its sentence by the step that wrote each word, with a key; a
    frame in the middle shows the network's guesses in the slots not yet written."""
    player = PLAYERS[5]
    _recorded(page, player)
    root = page.locator(_root(player))
    steps = [int(s) for s in root.locator(".commit-row .commit").evaluate_all("e => e.map(x => x.dataset.step)")]
    budget = int(page.locator("#budget input[type=number]").input_value())
    assert steps and all(1 <= s <= budget for s in steps) and len(set(steps)) > 1
    assert root.locator(".commit-legend").count() == 1
    root.locator(".tdl-scrub").fill("1")
    guesses = root.locator(".mask").all_inner_texts()
    assert guesses and any(g != "?" for g in guesses)  # the network's guess, greyed, in unwritten slots

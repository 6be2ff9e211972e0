"""Play works in every tab that has it: the default run, then Play steps the frame slider past frame 1 (Chromium, the
shipped checkpoints, one app server for the file)."""

import os
from dataclasses import dataclass

import pytest

import app
from test_app import open_in_chromium
from ui.forward import TICK_DT

RUN_TIMEOUT = 240_000  # ms: a default run on a busy 2-core machine (the Control tab's guidance is the slowest)
PLAY_TIMEOUT = 30_000  # ms: a few of the player's ticks


@dataclass(frozen=True)
class Player:
    tab: str  # the tab's name
    play: str  # the Play button's elem_id
    frame: str  # the elem_id of the slider Play moves
    view: str  # the elem_id of what the frame shows
    run: str | None = None  # the Run button's elem_id (none: the view is drawn on page load)
    done: str | None = None  # an element that shows once the run is recorded
    tick: float = 1  # how far one tick of the player moves the slider: a frame, or forward.TICK_DT in t


PLAYERS = [
    Player("Forward noising", "fwd-play", "fwd-t", "fwd-tokens", tick=TICK_DT),
    Player("Denoise", "denoise-play", "scrub", "denoise-text", "run", "denoise-json"),
    Player("Clamping trick", "ct-play", "ct-scrub", "ct-view-on", "ct-run", "ct-verdict-on"),
    Player("Discrete diffusion", "sedd-fwd-play", "sedd-t", "sedd-forward", tick=TICK_DT),
    Player("Discrete diffusion", "sedd-play", "sedd-scrub", "sedd-text", "sedd-run", "sedd-json"),
    Player("Order-agnostic", "order-play", "order-scrub", "order-text", "order-run", "order-json"),
    Player("Seq2seq", "s2s-play", "s2s-scrub", "s2s-text", "s2s-run", "s2s-json"),
    Player("Control", "control-play", "control-scrub", "control-text", "control-run", "control-json"),
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


def _value(page, elem_id: str) -> float:
    return float(page.locator(f"#{elem_id} input[type=range]").input_value())


def _wait(page, elem_id: str, condition: str, timeout: float = PLAY_TIMEOUT) -> None:
    """Wait until `condition` holds of the slider's range input `r` (JavaScript), as the server moves it."""
    page.wait_for_function(f"(() => {{ const r = document.querySelector('#{elem_id} input[type=range]'); "
                           f"return r !== null && ({condition}); }})()", timeout=timeout)


@pytest.mark.skipif(not app.DEFAULT_CHECKPOINT.is_dir(), reason="no shipped checkpoints")
@pytest.mark.parametrize("player", PLAYERS, ids=[p.play for p in PLAYERS])
def test_play_advances_past_the_first_frame(page, player):
    from playwright.sync_api import expect

    page.get_by_role("tab", name=player.tab, exact=True).click()
    view = page.locator(f"#{player.view}")
    if player.run:
        page.locator(f"#{player.run}").click()
        expect(page.locator(f"#{player.done}")).to_be_visible(timeout=RUN_TIMEOUT)
        # the recorded run shows its last frame, with at least three to play
        _wait(page, player.frame, "r.valueAsNumber === Number(r.max) && Number(r.max) >= 2", RUN_TIMEOUT)
        start = 0.0  # Play from the last frame starts again at the first
    else:
        expect(view).not_to_be_empty(timeout=RUN_TIMEOUT)  # drawn on page load
        start = _value(page, player.frame)
    before = view.inner_text()
    page.locator(f"#{player.play}").click()
    if player.run:
        _wait(page, player.frame, f"r.valueAsNumber < {2 * player.tick}")
    _wait(page, player.frame, f"r.valueAsNumber >= {start + 2 * player.tick - 1e-9}")  # past frame 1
    page.locator(f"#{player.play.replace('play', 'pause')}").click()
    assert _value(page, player.frame) >= start + 2 * player.tick - 1e-9
    expect(view).not_to_have_text(before)  # the view follows the frame

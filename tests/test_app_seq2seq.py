"""The Seq2seq tab: the MR builder, the streamed candidates beside the fixed source, MBR and the BLEU heatmap, bad
input, and the whole flow in Chromium."""

import re
from pathlib import Path

import gradio as gr
import pytest

import app
from conftest import shot
from test_app import dismiss_error, open_in_chromium
from test_app_families import frame, wait_for_run
from ui.common import env_name
from visualize.plots import bleu_heatmap_figure
from visualize.tokens import render_tokens


@pytest.fixture
def s2s_app(tiny_seq2seq: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(env_name("seq2seq"), str(tiny_seq2seq))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    app._load.cache_clear()
    yield app
    app._load.cache_clear()


def test_compose_mr_from_the_dropdowns():
    values = ["zizzi", "(none)", "fast food", "(none)", "(none)", "city centre", "(none)", "(none)"]
    assert app.compose_mr(*values) == "name [zizzi] food [fast food] area [city centre]"


def test_held_source_is_drawn_apart_from_the_target():
    html = render_tokens(["name", "zizzi", "[PAD]", "[SEP]", "zizzi", "is"], [1, 1, 1, 1, 0.5, 0.2], held=4)
    assert html.count('class="held"') == 2 and "→" in html and "[SEP]" not in html
    assert html.count("confidence 0.50") == 1


def test_bleu_heatmap_outlines_the_pick():
    fig = bleu_heatmap_figure([[100, 50, 10], [40, 100, 20], [5, 15, 100]], pick=0)
    z = fig.data[0].z
    assert z[0][0] != z[0][0] and z[0][1] == 50  # the diagonal is blank (NaN)
    assert len(fig.layout.shapes) == 1 and fig.layout.shapes[0].y0 == -0.5
    assert [a.text for a in fig.layout.annotations] == ["Σ 60", "Σ 60", "Σ 20"]
    with pytest.raises(ValueError, match="square"):
        bleu_heatmap_figure([[1, 2]])
    with pytest.raises(ValueError, match="from 0 to 2"):
        bleu_heatmap_figure([[100, 1, 1], [1, 100, 1], [1, 1, 100]], pick=3)


def test_run_streams_candidates_beside_the_fixed_source(s2s_app):
    outputs = list(s2s_app.seq2seq_run("food [thai] name [zizzi]", 3, 10, 3))
    assert "step 0 of 10" in frame(outputs[0][0]) and outputs[0][0]["live"] is True
    value, run, candidates, heatmap = outputs[-1]
    html = frame(value)
    assert "step 10 of 10" in html and html.count("candidate ") >= 3
    # the source is fixed in every recorded step: its words come first in each candidate's row
    for step in run.records[0]:
        assert all(row[:4] == ["name", "zizzi", "food", "thai"] for row in step["tokens"])
    assert all('class="held"' in views[0] for views in run.frames)  # and drawn as the held source
    assert run.extra["source"] == "name [zizzi] food [thai]" and len(run.samples[0]) == 3
    assert run.result["candidates"] == run.samples[0] and run.result["output"] == run.samples[0][run.result["mbr_pick"]]
    assert candidates.count("MBR pick") == 1 and "slot values" in candidates
    assert heatmap.visible is True
    # the whole run goes to the player once, opening at the last frame; its first frame is the prior
    assert value["live"] is False and value["frames"] == [list(views) for views in run.frames] and len(run) >= 2
    assert value["start"] is None and "step 0 of 10" in frame(value, 0)
    again = list(s2s_app.seq2seq_run("name [zizzi] food [thai]", 3, 10, 3))[-1][1]
    assert again.samples == run.samples  # same seed, same candidates


@pytest.mark.parametrize("args, message", [
    (("", 0, 10, 3), "the source is empty"),
    (("name [zizzi] colour [red]", 0, 10, 3), "unknown slot 'colour'; accepted slots: name"),
    (("name [zizzi] food [martian]", 0, 10, 3), "unknown food value 'martian'; accepted: italian"),
    (("food [thai]", 0, 10, 3), "no name slot"),
    (("name [zizzi]", 0, 5, 3), "steps must be a whole number from 10 to 200"),
    (("name [zizzi]", 0, 10, 9), "number of candidates must be a whole number from 1 to 8"),
    (("name [zizzi]", -1, 10, 3), "seed must be a whole number"),
])
def test_seq2seq_bad_input(s2s_app, args, message):
    with pytest.raises(gr.Error, match=re.escape(message)):
        list(s2s_app.seq2seq_run(*args))


def test_seq2seq_tab_refuses_another_family(s2s_app, monkeypatch):
    monkeypatch.setenv(env_name("seq2seq"), str(app.CHECKPOINTS / "continuous"))
    app._load.cache_clear()
    with pytest.raises(gr.Error, match="is of family 'continuous', not 'seq2seq'"):
        list(s2s_app.seq2seq_run("name [zizzi]", 0, 10, 2))


def _seq2seq_flow(module, screenshot: Path, steps: int) -> None:
    """In Chromium: build an MR with the dropdowns, run, see the candidates, the pick and the heatmap, scrub and step
    the player."""
    from playwright.sync_api import expect

    with open_in_chromium(module) as page:
        page.get_by_role("tab", name="Seq2seq").click()
        source = page.locator("#s2s-source textarea")
        expect(source).to_have_value("name [zizzi] food [french] area [riverside]", timeout=30_000)
        food = page.locator("#mr-food input")
        food.click()
        page.get_by_role("option", name="italian", exact=True).click()
        expect(source).to_have_value("name [zizzi] food [italian] area [riverside]", timeout=30_000)
        first = steps + 1  # the run after the error below uses `steps`: its frames cannot be mistaken for these
        box = page.locator("#s2s-steps input[type=number]")
        box.fill(str(first))
        box.press("Enter")
        page.locator("#s2s-run").click()
        text = page.locator("#s2s-text")
        wait_for_run(page, "s2s-text", first)
        expect(page.locator("#s2s-candidates-out .mbr-pick")).to_have_count(1, timeout=30_000)
        expect(page.locator("#s2s-bleu .js-plotly-plot")).to_be_visible(timeout=30_000)
        expect(text.locator(".held").first).to_have_text("name")
        root = text.locator(".tdl-player")
        scrub = root.locator(".tdl-scrub")
        scrub.fill("0")
        expect(text).to_contain_text(f"step 0 of {first}")
        expect(text.locator(".held").nth(3)).to_have_text("italian")  # the source is there from the start
        root.locator(".tdl-fwd").click()
        expect(root).to_have_attribute("data-frame", "1")
        expect(text).not_to_contain_text(f"step 0 of {first}")
        expect(text.locator(".held").nth(3)).to_have_text("italian")  # and stays, every step
        scrub.fill(str(int(root.get_attribute("data-frames")) - 1))
        expect(text).to_contain_text(f"step {first} of {first}")
        # bad input: a typed MR with an unknown value is a one-line error, and the tab keeps working
        source.fill("name [zizzi] food [martian]")
        page.locator("#s2s-run").click()
        dismiss_error(page, "unknown food value 'martian'")
        # markup in what a visitor typed is shown as text in the popup, never as an element
        source.fill("name [<img src=x onerror=alert(1)>]")
        page.locator("#s2s-run").click()
        toast = page.locator(".toast-body").filter(has_text="unknown name value '<img src=x onerror=alert(1)>'")
        expect(toast).to_be_visible(timeout=60_000)
        assert toast.locator("img").count() == 0
        dismiss_error(page, "unknown name value")
        source.fill("name [zizzi] food [italian] area [riverside]")  # the same page, fixed input: it runs again
        box.fill(str(steps))
        box.press("Enter")
        page.locator("#s2s-run").click()
        wait_for_run(page, "s2s-text", steps)
        expect(page.locator("#s2s-candidates-out .mbr-pick")).to_have_count(1, timeout=120_000)
        expect(page.locator("#s2s-bleu .js-plotly-plot")).to_be_visible(timeout=30_000)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000


def test_seq2seq_tab_in_browser(s2s_app, tmp_path):
    _seq2seq_flow(s2s_app, tmp_path / "seq2seq.png", 10)


@pytest.mark.skipif(not (app.CHECKPOINTS / "seq2seq").is_dir(), reason="no shipped seq2seq checkpoint")
def test_shipped_seq2seq_in_browser(monkeypatch):
    """What a visitor sees with the shipped model; this is the README's screenshot of the tab."""
    monkeypatch.delenv(env_name("seq2seq"), raising=False)
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    app._load.cache_clear()
    try:
        _seq2seq_flow(app, shot("screenshot-seq2seq.png"), 200)
    finally:
        app._load.cache_clear()

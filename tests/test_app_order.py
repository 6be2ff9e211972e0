"""The Order-agnostic tab: its handler streams ARDM's planned decoding, validates input, and works in Chromium."""

import re
import subprocess
import sys
from pathlib import Path

import gradio as gr
import pytest

import app
from test_app import CHROMIUM, CHROMIUM_ARGS, ROOT, _free_port
from visualize.order import nll_budget_figure, plan_figure, step_of_position


@pytest.fixture(scope="session")
def tiny_ardm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("checkpoints") / "ardm"
    cmd = [sys.executable, "-m", "diffusion", "train", "--family", "ardm", "--preset", "tiny", "--steps", "20",
           "--out", str(out)]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return out


@pytest.fixture
def ardm_app(tiny_ardm: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(app._env("ardm"), str(tiny_ardm))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    app._load.cache_clear()
    yield app
    app._load.cache_clear()


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


def test_order_agnostic_streams_then_shows_the_plan(ardm_app):
    ck = ardm_app.get_checkpoint("ardm")
    D = ck.config.seq_len
    outputs = list(ardm_app.order_agnostic(0, 5, 1.0, 2))
    assert len(outputs) == 5 + 2  # the prior, five steps, then the final reveal
    assert "step 0 / 5" in outputs[0][0] and outputs[0][0].count("not yet written") == 2 * D
    html, record, plan, curve = outputs[-1]
    assert "step 5 / 5" in html and "not yet written" not in html
    assert sorted(set(record["written"])) == sorted(set(range(1, 6)) & set(record["written"]))
    assert len(record["written"]) == D and curve is not None and plan is not None
    frame, figure = ardm_app.order_scrub(0, record)
    assert "step 0 / 5" in frame


@pytest.mark.parametrize("args, message", [
    ((0, 0, 1.0, 1), "steps must be a whole number from 1 to"),
    ((0, 500, 1.0, 1), "steps must be a whole number from 1 to"),
    ((0, 5, -1.0, 1), "temperature must be a number from 0 to 2"),
    ((0.5, 5, 1.0, 1), "seed must be a whole number"),
])
def test_order_agnostic_bad_input(ardm_app, args, message):
    with pytest.raises(gr.Error, match=re.escape(message)):
        list(ardm_app.order_agnostic(*args))


def test_order_tab_in_browser(ardm_app, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (CI installs Debian's chromium)")
    from playwright.sync_api import expect, sync_playwright

    demo = ardm_app.build_demo()
    port = _free_port()
    demo.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    base = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.route(lambda url: not url.startswith(base), lambda route: route.abort())
                page.goto(base, wait_until="domcontentloaded")
                page.get_by_role("tab", name="Order-agnostic").click()
                budget = page.locator("#budget input[type=number]")
                budget.fill("4")
                budget.press("Enter")
                page.locator("#order-run").click()
                text = page.locator("#order-text")
                expect(text).to_contain_text("step 4 / 4", timeout=120_000)
                expect(page.locator("#order-plan .js-plotly-plot")).to_be_visible(timeout=60_000)
                expect(page.locator("#order-curve .js-plotly-plot")).to_be_visible()
                scrub = page.locator("#order-scrub input[type=range]")
                expect(scrub).to_have_attribute("max", "4", timeout=30_000)
                scrub.focus()
                scrub.press("Home")
                expect(text).to_contain_text("step 0 / 4")
                page.screenshot(path=str(tmp_path / "order.png"), full_page=True)
            finally:
                browser.close()
    finally:
        demo.close()

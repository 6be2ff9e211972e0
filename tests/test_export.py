"""Exported trajectories: the JSON carries every step and the settings, its command reproduces the run with the CLI,
and the animated HTML page plays on its own in a browser."""

import json
import shlex
from pathlib import Path

import pytest

import app
from conftest import cli
from test_app import open_in_chromium
from ui import common
from visualize.export import FORMAT, animated_html, step_record, trajectory_json


def _path(button) -> Path:
    value = button.value
    return Path(value["path"] if isinstance(value, dict) else value)


def test_step_record_is_plain_json():
    rec = step_record(3, 0.25, [["a", "pub"]], [[0.123456, float("nan")]], [[True, False]])
    assert rec == {"index": 3, "t": 0.25, "tokens": [["a", "pub"]], "confidence": [[0.1235, 0.0]],
                   "changed": [[True, False]]}
    assert step_record(3, 0.25, [["a"]], [[1.0]], [[True]], calls=7)["network_calls"] == 7
    doc = json.loads(trajectory_json({"seed": 1}, [rec], {"samples": ["a pub"]}))
    assert doc["format"] == FORMAT and doc["num_frames"] == 1 and doc["result"]["samples"] == ["a pub"]
    with pytest.raises(ValueError, match="at least one step"):
        trajectory_json({}, [])


def test_animated_html_is_self_contained_and_cannot_be_broken_by_its_frames():
    page = animated_html("t <1>", {"seed": 7, "note": "<b>"}, ["<span>one</span>", "two </script><script>x()"],
                         labels=["step 0", "step 1"])
    assert "<title>t &lt;1&gt;</title>" in page and "<td>&lt;b&gt;</td>" in page
    assert page.count("</script>") == 1  # the frame's own '</script>' is escaped inside the data
    assert 'class="tdl-player' in page and "function showTop" in page  # the app's own player, inlined
    assert "http" not in page.replace("http-equiv", "")  # nothing fetched from anywhere
    with pytest.raises(ValueError, match="one entry per frame"):
        animated_html("t", {}, ["a"], labels=[])


def test_no_run_no_buttons():
    json_button, html_button = common.export_files(None)
    assert json_button.visible is False and html_button.visible is False


RUNS = {
    "denoise": lambda: app.denoise(3, 30, "ddpm", True, 0.7, 2, "shipped", None, 0.8),  # --clamp-from, --noise-scale in it
    "sedd": lambda: app.sedd_denoise("absorb", 1, 16, "euler", 2),
    "ardm": lambda: app.order_agnostic(2, 10, 0.8, 2, "shipped", None, "confident"),  # --order in the command too
    "seq2seq": lambda: app.seq2seq_run("name [zizzi] food [french]", 4, 20, 3),
}


@pytest.mark.parametrize("tab", RUNS)
def test_exported_command_reproduces_the_run(tab):
    """On the shipped checkpoints: the command in the JSON, run by the CLI, prints the same final text."""
    app._load.cache_clear()
    outputs = list(RUNS[tab]())
    json_button, html_button = common.export_files(outputs[-1][1])
    doc = json.loads(_path(json_button).read_text(encoding="utf-8"))
    assert doc["num_frames"] == len(doc["steps"]) == len(outputs[-1][1])  # the Run: one frame per step
    assert doc["steps"][-1]["tokens"] and doc["settings"]["seed"] in (1, 2, 3, 4)
    calls = [s["network_calls"] for s in doc["steps"]]  # the chain's cost so far, never falling
    assert calls[0] == 0 and calls == sorted(calls) and 0 < calls[-1] <= doc["steps"][-1]["index"]
    result = cli(*shlex.split(doc["settings"]["command"])[3:], "--json")
    assert result.returncode == 0, result.stderr[-1000:]
    printed = json.loads(result.stdout)
    key = "candidates" if tab == "seq2seq" else "samples"
    assert printed[key] == doc["result"][key]
    page = _path(html_button).read_text(encoding="utf-8")
    assert page.count('<option value="1" selected>') == 1 and doc["settings"]["command"].split()[0] in page


def test_exported_animation_plays_in_chromium(tmp_path: Path):
    """Download both files from the Denoise tab, then open the HTML page on its own and press Play."""
    from playwright.sync_api import expect

    app._load.cache_clear()
    with open_in_chromium(app) as page:
        page.get_by_role("tab", name="Denoise", exact=True).click()
        steps = page.locator("#steps input[type=number]")
        steps.fill("20")
        steps.press("Enter")
        page.locator("#run").click()
        expect(page.locator("#denoise-html")).to_be_visible(timeout=60_000)
        with page.expect_download() as info:
            page.locator("#denoise-json").click()
        saved = tmp_path / info.value.suggested_filename
        info.value.save_as(saved)
        assert json.loads(saved.read_text(encoding="utf-8"))["settings"]["steps"] == 20
        with page.expect_download() as info:
            page.locator("#denoise-html").click()
        html_file = tmp_path / info.value.suggested_filename
        info.value.save_as(html_file)
        assert html_file.suffix == ".html"

        page.set_content(html_file.read_text(encoding="utf-8"))
        root = page.locator("#player .tdl-player")
        expect(root.locator(".tdl-label")).to_contain_text("step 20 of 20")
        assert root.locator(".tdl-stage .tok").count() > 0  # the last frame's tokens
        expect(root.locator(".tdl-stage .pred-row").first).to_be_visible()  # with x̂0's words, as in the app
        root.locator(".tdl-play").click()  # from the end, play starts over at the prior
        expect(root.locator(".tdl-play")).to_have_text("❚❚ Pause")
        expect(root.locator(".tdl-label")).not_to_contain_text("step 20 of 20", timeout=2_000)
        root.locator(".tdl-play").click()
        expect(root.locator(".tdl-play")).to_have_text("▶ Play")
        root.locator(".tdl-scrub").focus()
        root.locator(".tdl-scrub").press("End")
        root.locator(".tdl-stage .pred-row [data-top]").first.hover()  # the likeliest words, as in the app
        expect(root.locator(".tdl-detail .tdl-top-row").first).to_be_visible()

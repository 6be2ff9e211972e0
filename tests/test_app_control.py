"""The Control tab: infilling, length and classifier guidance stream, score their samples, refuse bad input, and work
in Chromium."""

import re
from pathlib import Path

import gradio as gr
import pytest

import app
from conftest import shot
from diffusion.corpus.validator import is_grammatical
from test_app import open_in_chromium
from test_app_families import frame, wait_for_run
from ui.control import TEMPLATES, control_run, verdicts_html
from visualize.control import control_probability_figure


@pytest.fixture
def control_app(tiny_with_classifier: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(app.CHECKPOINT_ENV, str(tiny_with_classifier))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    app._load.cache_clear()
    yield app
    app._load.cache_clear()


def _run(mode="Classifier guidance", template=TEMPLATES[0], length=9, slot="food", value="italian", weight=0.01,
         step_size=0.1, updates=3, seed=0, steps=10, num_samples=2):
    return list(control_run(mode, template, length, slot, value, weight, step_size, updates, seed, steps, num_samples))


def test_every_template_has_a_completion_in_the_grammar():
    """Each example template is a test sentence with its slot values blanked: some filling is grammatical."""
    from diffusion.corpus import builtin_split

    sentences = [ex.text for ex in builtin_split("test")]
    for t in TEMPLATES:
        pattern = t.split()
        assert any(len(s.split()) == len(pattern) and all(p == "___" or p == w for p, w in zip(pattern, s.split()))
                   and is_grammatical(s) for s in sentences), t


def test_guidance_streams_then_plots_the_classifier_probability(control_app):
    outs = _run()
    assert len(outs) > 2
    assert all(out[0]["live"] and len(out[0]["frames"]) == 1 for out in outs[:-1])  # streamed: the newest frame
    value, run, plot, verdicts = outs[-1]
    assert "step 10 of 10" in frame(value) and "step 0 of 10" in frame(value, 0)
    assert value["live"] is False and value["frames"] == [list(views) for views in run.frames] and len(run) >= 2
    assert plot.visible is True and value["linked"] == ["control-plot"]
    indices, probs = run.series("prob")
    assert run.extra["label"] == "food=italian" and len(probs) == len(indices) >= 2
    assert all(0.0 <= p <= 1.0 for row in probs for p in row)
    assert verdicts.count("<tr>") == 3 and "food=italian" in verdicts  # a header and a row per sample
    assert run.settings["targets"] == {"food": "italian"}


def test_infilling_keeps_the_template(control_app):
    template = TEMPLATES[1]
    value, run, plot, verdicts = _run(mode="Infilling", template=template)[-1]
    assert plot.visible is False  # no classifier in infilling
    for row in run.samples[0]:
        words = row.split()
        assert len(words) == len(template.split())
        assert all(t == "___" or t == w for t, w in zip(template.split(), words)), row


def test_length_mode_gives_that_many_words(control_app):
    run = _run(mode="Length", length=7)[-1][1]
    assert all(len(s.split()) == 7 for s in run.samples[0])


@pytest.mark.parametrize("kwargs, message", [
    (dict(mode="Infilling", template="zizzi is a pub ."), "the template has no blank"),
    (dict(mode="Infilling", template="zizzi is a ___ qwerty ."), "never saw: qwerty"),
    (dict(mode="Length", length=500), "length must be a whole number from 1 to"),
    (dict(value="martian"), "unknown value 'martian' for food; accepted: italian"),
    (dict(slot="colour"), "unknown slot 'colour'"),
    (dict(weight=-1), "λ (fluency weight) must be a number from 0.0 to 1.0"),
    (dict(mode="Telepathy"), "mode must be one of Infilling, Length, Classifier guidance"),
    (dict(steps=0), "steps must be a whole number from 10"),
])
def test_bad_input_is_a_gr_error(control_app, kwargs, message):
    with pytest.raises(gr.Error, match=message.replace("(", r"\(").replace(")", r"\)")):
        _run(**kwargs)


def test_guidance_without_a_classifier_says_how_to_train_one(tiny_checkpoint: Path, monkeypatch):
    monkeypatch.setenv(app.CHECKPOINT_ENV, str(tiny_checkpoint))
    app._load.cache_clear()
    try:
        with pytest.raises(gr.Error, match="train-classifier --checkpoint"):
            _run()
        assert _run(mode="Length", length=5)  # the other modes need no classifier
    finally:
        app._load.cache_clear()


def test_verdicts_mark_grammar_and_value():
    html = verdicts_html(["zizzi is an italian restaurant .", "zizzi zizzi ."], {"food": "italian"})
    assert html.count("grammatical ✓") == 1 and html.count("not grammatical ✗") == 1
    assert html.count('data-mistake="repeated_slot"') == 1  # "zizzi zizzi": the name said twice, and why
    assert html.count("✓ food=italian") == 1 and html.count("✗ food=italian") == 1
    assert "control-disagree" not in html  # no classifier probabilities: nothing to explain


def test_verdicts_say_when_the_classifier_and_the_sentence_disagree():
    texts = ["zizzi is an italian restaurant .", "zizzi is a pub ."]
    html = verdicts_html(texts, {"food": "italian"}, [0.2, 0.9])  # the last guided step's p, per sample
    notes = re.findall(r'<p class="control-disagree"[^>]*>(.*?)</p>', html)
    assert len(notes) == 2
    assert notes[0].startswith("Sample 1:") and "p = 0.20" in notes[0] and "after guidance had stopped" in notes[0]
    assert notes[1].startswith("Sample 2:") and "p = 0.90" in notes[1] and "the classifier was fooled" in notes[1]
    assert "control-disagree" not in verdicts_html(texts, {"food": "italian"}, [0.9, 0.1])  # they agree


def test_probability_figure_has_one_line_per_sample():
    fig = control_probability_figure([0, 5, 10], [[0.1, 0.2], [0.5, 0.4], [0.9, 0.8]], "food=thai", current=5,
                                     num_steps=10, final=[True, False], frames=[0, 5, 10])
    lines = [tr for tr in fig.data if tr.meta is None and tr.mode == "lines"]
    assert [tr.name for tr in lines] == ["sample 1", "sample 2"]
    assert list(lines[1].y) == [0.2, 0.4, 0.8]
    # what each final sentence says, at the last step: a mark at 1 (it says the value) or at 0 (it does not)
    marks = [(tr.name, list(tr.x), list(tr.y)) for tr in fig.data if tr.meta is None and tr.mode == "markers"]
    assert marks == [("sample 1's sentence: says it", [10], [1.0]),
                     ("sample 2's sentence: does not say it", [10], [0.0])]
    now = next(tr for tr in fig.data if tr.meta == "now")  # the step on show, following the player
    assert list(now.x) == [5, 5] and [f["now"]["x"] for f in fig.layout.meta["player"]] == [[0, 0], [5, 5], [10, 10]]
    with pytest.raises(ValueError, match="same length"):
        control_probability_figure([0, 1], [[0.1]], "food=thai")


def _control_flow(module, steps: int, guidance_shot: Path, infill_shot: Path) -> None:
    """Guidance by default: run, see the verdicts and the probability plot; then Infilling keeps the template."""
    from playwright.sync_api import expect

    with open_in_chromium(module) as page:
        page.get_by_role("tab", name="Control", exact=True).click()
        box = page.locator("#control-steps input[type=number]")
        box.fill(str(steps))
        box.press("Enter")
        page.locator("#control-value input").click()
        page.get_by_role("option", name="thai", exact=True).click()
        page.locator("#control-run").click()
        wait_for_run(page, "control-text", steps)
        root = page.locator("#control-text .tdl-player")
        root.locator(".tdl-back").click()  # the player steps back through the recorded run
        expect(root).to_have_attribute("data-frame", str(int(root.get_attribute("data-frames")) - 2))
        expect(page.locator("#control-text .tdl-stage")).not_to_contain_text(f"step {steps} of {steps}")
        root.locator(".tdl-fwd").click()
        expect(page.locator("#control-text")).to_contain_text(f"step {steps} of {steps}")
        expect(page.locator("#control-plot .js-plotly-plot")).to_be_visible()
        expect(page.locator("#control-verdicts")).to_contain_text("food=thai")
        guidance_shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(guidance_shot), full_page=True)

        page.get_by_label("Infilling").check()
        expect(page.locator("#control-template textarea")).to_be_visible()
        page.locator("#control-template textarea").fill("zizzi is a ___ near the ___ .")
        page.locator("#control-run").click()
        expect(page.locator("#control-plot")).to_be_hidden(timeout=120_000)
        expect(page.locator("#control-verdicts tr")).to_have_count(5, timeout=120_000)  # a header, four samples (the default)
        for row in page.locator("#control-verdicts tr").all_inner_texts()[1:]:
            assert "zizzi is a " in row and " near the " in row, row
        page.screenshot(path=str(infill_shot), full_page=True)
    assert guidance_shot.stat().st_size > 10_000


def test_control_tab_in_browser(control_app, tmp_path):
    _control_flow(control_app, 12, tmp_path / "control-guidance.png", tmp_path / "control-infill.png")


@pytest.mark.skipif(not (app.DEFAULT_CHECKPOINT / "classifier.json").is_file(),
                    reason="the shipped continuous checkpoint has no control classifier")
def test_shipped_control_in_browser(monkeypatch, tmp_path):
    """What a visitor sees with the shipped model and its classifier at 200 steps: the README's screenshot."""
    monkeypatch.delenv(app.CHECKPOINT_ENV, raising=False)
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    app._load.cache_clear()
    try:
        _control_flow(app, 200, shot("screenshot-control.png"), tmp_path / "control-infill.png")
    finally:
        app._load.cache_clear()


needs_classifier = pytest.mark.skipif(not (app.DEFAULT_CHECKPOINT / "classifier.json").is_file(),
                                      reason="the shipped continuous checkpoint has no control classifier")


@pytest.fixture
def shipped_app(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(app.CHECKPOINT_ENV, raising=False)
    app._load.cache_clear()
    yield app
    app._load.cache_clear()


@needs_classifier
@pytest.mark.parametrize("kwargs", [dict(mode="Infilling", template=TEMPLATES[2]), dict(mode="Length", length=8),
                                    dict(mode="Classifier guidance", weight=0.02)], ids=["infill", "length", "guidance"])
def test_the_exported_command_draws_the_same_samples(shipped_app, kwargs):
    """On the shipped model: the run's command, run by the CLI, prints the run's final samples."""
    import json
    import shlex

    from conftest import cli

    run = _run(**kwargs, steps=10, seed=3)[-1][1]
    result = cli(*shlex.split(run.settings["command"])[3:], "--json")
    assert result.returncode == 0, result.stderr[-1000:]
    assert json.loads(result.stdout)["samples"] == run.samples[0]


@needs_classifier
def test_guidance_the_command_line_cannot_say_has_no_command(shipped_app):
    """The command line guides with its own step size and updates: another step size gives no command."""
    settings = _run(step_size=0.2, steps=10)[-1][1].settings
    assert "command" not in settings and settings["step_size"] == 0.2

"""The Control tab: Diffusion-LM's plug-and-play control (infilling, length, classifier guidance) on a frozen LM."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import torch

from diffusion.classifier import load_classifier
from diffusion.control import BLANK, Control, Guidance, infill_anchor, length_anchor, parse_targets
from diffusion.corpus import SLOTS, VALUES
from diffusion.corpus.validator import validate
from diffusion.limits import MAX_SENTENCE_CHARS
from diffusion.metrics import realises
from diffusion.sampling import sample_steps
from visualize.control import control_probability_figure
from visualize.tokens import verdict_mark

from .cache import RUNS, cached
from .common import (MAX_SEED, SESSION_TTL_SECONDS, explain, export_buttons, model_length, model_radio,
                     pick_checkpoint, wire_export)
from .glossary import TIME
from .inputs import Dropdown, Number, Slider, UserError, check_work, text_input, whole
from . import rates
from .player import player
from .run import TOP_K, Run, describe, grammar_checks, padding, reason, stream

MODES = ("Infilling", "Length", "Classifier guidance")
MIN_STEPS, MAX_STEPS, DEFAULT_STEPS = 10, 1000, 200
MAX_SAMPLES = 4
TEMPLATES = tuple(t.replace("___", BLANK) for t in (  # test sentences with their slot values blanked
    "___ is a place in the city centre that serves ___ food .",
    "___ is a kid friendly ___ that is close to the ___ .",
    "there is a ___ named ___ , which gets ___ ratings .",
    "if you want ___ food , ___ is a place near the ___ .",
    "in the ___ area , ___ is a place that is pricey .",
))
WEIGHT_RANGE, DEFAULT_WEIGHT = (0.0, 1.0), 0.001
STEP_RANGE, DEFAULT_STEP = (0.0, 1.0), 0.1

INTRO = r"""
**Control**: steer a frozen model while it samples ({{plug-and-play}}). Fix some words and fill the blanks, fix the
length, or nudge every step towards a wanted attribute with a classifier's gradient, $x_s \leftarrow x_s +
\eta\, \nabla \log p(c \mid x_s)$.
"""

DETAILS = r"""
**The one equation.** {{Classifier guidance|classifier guidance}} (Li et al. 2022, Sec. 5). After each reverse step,
a few gradient updates move the new latent $x_s$ (at the next, smaller time $s$) to raise
$$\log p(c \mid x_s) \;+\; \lambda\, \log \mathcal N\big(x_s;\ \mu_\theta(x_t, t),\ \sigma_{t,s}^2 I\big).$$
- {{$x_s$|latent}}: the latent after the step from $t$ to $s$, the thing being moved; $c$: the wanted attribute (a
  slot value, such as `food = italian`);
- $p(c \mid x_s)$: a small classifier's belief in $c$, read from the noisy latent;
- $\mu_\theta, \sigma_{t,s}$: where the language model's own step put the latent, and its spread: the second term is
  fluency, how likely the moved latent is under the model;
- $\lambda$: the fluency weight. Small $\lambda$: strong control, at the cost of fluency; large: the latent stays
  where the model put it. The updates use {{Adagrad}} with the step size $\eta$.
""" + TIME + r"""
**From the paper.**
- *The model stays frozen.* All three controls act on the latent during sampling; nothing is retrained. The
  classifier is trained apart, on sentences of the built-in corpus noised by this model's own embeddings and
  {{schedule}}; it predicts each slot of the meaning representation (or "absent") and reads only the sentence's
  positions (this model draws the length first, and the padding after it is not the sentence's to change). The
  paper used Adagrad with 3 updates per step.
- *{{Infilling|infilling}}.* Write a sentence with a blank (`___`) for each word to generate. At every step the
  network's guess {{$\hat x_0$|x̂₀}} is overwritten at the known positions by their words' embeddings (the
  {{anchoring}} Seq2seq uses for its source), so the step treats them as certain and the blanks are drawn around
  them. The known words never change, the blanks may not become padding, and the positions after the template are
  padding, so the sentence keeps the template's length. No classifier is involved.
- *Length.* The same anchoring with the template "n blanks, then padding": exactly $n$ words. A model that draws its
  length first (the shipped one) takes the template's length, or $n$, as that length: the network sees just those
  positions, as in training, and plans the full stop at the end.
- The command line combines guidance with `--length` or `--infill`.

**Reading the view.**
- *The frames*: each sample as in *Denoise*, shaded by {{confidence}}, orange where a word changed.
- *Classifier probability*: the classifier's probability of the asked value at every step.
- *Under the run*: every sample checked by the grammar's validator: is it a sentence of the grammar, and does it
  say the asked value?
"""


_classifiers: dict[str, Any] = {}


def _classifier(path: Path) -> Any:
    key = str(Path(path).resolve())
    if key not in _classifiers:
        _classifiers[key] = load_classifier(path)[0]
    return _classifiers[key]


def build_control(ck: Any, mode: str, template: str, length: float, slot: str, value: str, weight: float,
                  step_size: float, updates: float) -> tuple[Control, dict[str, Any] | None]:
    """The Control a mode asks for, and what the command line's `sample` is given to draw the same run (None where
    it cannot say it: guidance with another step size or number of updates than its own); a UserError, or the
    package's ValueError, naming what is accepted."""
    if mode not in MODES:
        raise UserError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    template = text_input(template, "template", MAX_SENTENCE_CHARS)
    if mode == "Infilling":
        template = " ".join((template or "").split())
        return Control(anchor=infill_anchor(ck.tokenizer, template, ck.config.seq_len)), {"infill": template}
    n = whole(length, "length", 1, ck.config.seq_len)
    if mode == "Length":  # n blanks and nothing else: the same anchor as a template of n blanks
        return Control(anchor=length_anchor(n, ck.config.seq_len)), {"infill": " ".join([BLANK] * n)}
    weight = _number(weight, "λ (fluency weight)", *WEIGHT_RANGE)
    step_size = _number(step_size, "step size", *STEP_RANGE)
    updates = whole(updates, "updates per step", 0, 10)
    classifier = _classifier(ck.path)
    targets = parse_targets([f"{slot}={value}"], classifier.config.slots)
    guidance = Guidance(classifier, targets, weight, step_size, updates)
    own = Guidance(classifier, targets, weight)  # the command line's step size and updates
    said = (guidance.step_size, guidance.updates) == (own.step_size, own.updates)
    return Control(guidance=guidance), {"control": [f"{slot}={value}"], "guidance_weight": weight} if said else None


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise UserError(f"{name} must be a number from {low} to {high}, got {value!r}")
    return float(value)


def control_run(mode: str, template: str, length: float, slot: str, value: str, weight: float, step_size: float,
                updates: float, seed: float | None, steps: float, num_samples: float, choice: str | None = None,
                models: dict[str, str] | None = None) -> Iterator[tuple[Any, ...]]:
    """Stream a controlled reverse chain; at the end the verdicts, the probability plot and the scrub slider."""
    seed = whole(seed, "seed", 0, MAX_SEED, "2^63 - 1")
    ck = pick_checkpoint("continuous", choice, models)
    steps = whole(steps, "steps", MIN_STEPS, min(MAX_STEPS, ck.process.T))
    num_samples = whole(num_samples, "number of samples", 1, MAX_SAMPLES)
    run = Run("control", f"Diffusion-LM control: {str(mode).lower()}", steps, style=dict(preds=True, pad=padding(ck)),
              linked=("control-plot",))

    def start() -> Any:
        control, conditioning = build_control(ck, mode, template, length, slot, value, weight, step_size, updates)
        guided = control.guidance.updates if control.guidance is not None else 0  # each update is a network call
        check_work(steps * (1 + guided), num_samples, "this run")
        run.extra["targets"] = control.guidance.targets if control.guidance is not None else None
        process = ck.process.configure(control=control)
        redraw = None if conditioning is None else dict(process=process, steps=steps, seed=seed,
                                                        num_samples=num_samples, **conditioning)
        run.settings = describe(ck, redraw, seed=seed, steps=steps, num_samples=num_samples, mode=mode,
                                **control.describe())
        return sample_steps(process, ck.model, num_samples, steps, generator=torch.Generator().manual_seed(seed),
                            top_k=TOP_K)

    yield from stream(run, start, ck.tokenizer, keep=_keep, hide=(gr.skip(), gr.Plot(visible=False), ""))
    texts = [ck.tokenizer.decode(row) for row in run.last[0].tokens]
    checks = grammar_checks(ck, texts)
    run.finish([texts], None if checks is None else [checks])
    targets = run.extra["targets"]
    run.extra["label"] = ", ".join(f"{s}={v}" for s, v in targets.items()) if targets else ""
    probs = run.series("prob")[1]
    yield (run.value(), run, gr.Plot(value=_figure(run, texts), visible=bool(probs)),
           verdicts_html(texts, targets, probs[-2] if len(probs) > 1 else None))  # the last guided step's


def _keep(step: Any) -> dict[str, Any]:
    """The classifier's probability of the asked value, on the steps that were guided."""
    return {"prob": step.extras["control_prob"].tolist()} if "control_prob" in step.extras else {}


def verdicts_html(texts: list[str], targets: dict[str, str] | None, probs: list[float] | None = None) -> str:
    """One line per final sample: the text, whether the grammar accepts it, and whether it realises the targets; with
    the classifier's probabilities at the last guided step (`probs`, one per sample), a line on each sample where the
    classifier and the sentence disagree, saying why."""
    head = "<th>#</th><th>final sample</th><th>grammar</th>" + ("<th>asked value</th>" if targets else "")
    rows = [f"<tr>{head}</tr>"]
    notes = []
    asked = ", ".join(f"{s}={v}" for s, v in (targets or {}).items())
    for k, text in enumerate(texts):
        check = validate(text)
        cells = [f"<td>{k + 1}</td><td>{html.escape(text)}</td>",
                 f"<td>{verdict_mark(check.grammatical, reason(check))}</td>"]
        if targets:
            hit = realises(text, targets)
            cells.append(f"<td>{'✓' if hit else '✗'} {html.escape(asked)}</td>")
            p = probs[k] if probs is not None and k < len(probs) else None
            if p is not None and (p >= 0.5) != hit:
                notes.append(_disagreement(k, p, hit, asked))
        rows.append(f"<tr>{''.join(cells)}</tr>")
    why = "".join(f'<p class="control-disagree" style="margin:0.3em 0">{n}</p>' for n in notes)
    return f'<table class="control-verdicts" style="width:100%">{"".join(rows)}</table>{why}'


def _disagreement(k: int, p: float, hit: bool, asked: str) -> str:
    """Why the classifier's last probability and the final sentence can disagree, in one line."""
    if not hit:
        return (f"Sample {k + 1}: the classifier gave p = {p:.2f} at the last guided step, yet the sentence does not "
                f"say {html.escape(asked)}, and at the end, on the clean words, the classifier agrees. The guidance "
                "pushed x_t to where the classifier, trained on noisy latents, answers yes, without the words for "
                "it: the classifier was fooled, not the sentence controlled.")
    return (f"Sample {k + 1}: the sentence says {html.escape(asked)} although the classifier gave only p = {p:.2f} "
            "at the last guided step: the value was written in the final steps, after guidance had stopped.")


def _figure(run: Run, texts: list[str]) -> Any:
    indices, probs = run.series("prob")
    if not indices:
        return None
    targets = run.extra["targets"]
    final = [realises(text, targets) for text in texts] if targets else None
    return control_probability_figure(indices, probs, run.extra["label"], current=run.indices[-1],
                                      num_steps=run.num_steps, final=final, frames=run.indices)


def _mode_visibility(mode: str) -> tuple[Any, Any, Any]:
    return (gr.Column(visible=mode == "Infilling"), gr.Column(visible=mode == "Length"),
            gr.Column(visible=mode == "Classifier guidance"))


def _values(slot: str) -> Any:
    values = list(VALUES.get(slot, ()))
    return gr.Dropdown(choices=values, value=values[0] if values else None)


def tab(models: gr.State) -> None:
    """The Control tab."""
    explain(INTRO, DETAILS)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            choice = model_radio("control-model")
            mode = gr.Radio(list(MODES), value="Classifier guidance", label="control", elem_id="control-mode")
            with gr.Column(visible=False) as infill_box:
                template = gr.Textbox(TEMPLATES[0], label="template", elem_id="control-template",
                                      max_length=MAX_SENTENCE_CHARS,
                                      info="three underscores for each word to generate; the other words stay as they are")
                gr.Examples([[t] for t in TEMPLATES], [template], label="templates")
            with gr.Column(visible=False) as length_box:
                length = Slider(1, model_length("continuous", 40), value=14, step=1, label="length (words)",
                                   elem_id="control-length", info="exactly this many words")
            with gr.Column(visible=True) as guidance_box:
                slot = Dropdown(list(SLOTS), value="food", label="slot", elem_id="control-slot")
                value = Dropdown(list(VALUES["food"]), value="italian", label="value", elem_id="control-value")
                weight = Slider(*WEIGHT_RANGE, value=DEFAULT_WEIGHT, step=0.001, label="λ: fluency weight",
                                   info="small: strong control; large: stays close to the LM's own step",
                                   elem_id="control-weight")
                step_size = Slider(*STEP_RANGE, value=DEFAULT_STEP, step=0.01, label="step size (Adagrad)",
                                      elem_id="control-step")
                updates = Slider(0, 10, value=3, step=1, label="updates per step", elem_id="control-updates")
            seed = Number(value=0, label="seed", minimum=0, step=1, elem_id="control-seed")
            steps = Slider(MIN_STEPS, MAX_STEPS, value=DEFAULT_STEPS, step=1, label="steps",
                              elem_id="control-steps")
            num_samples = Slider(1, MAX_SAMPLES, value=MAX_SAMPLES, step=1, label="number of samples",
                                    elem_id="control-samples")
            run = gr.Button("Run", variant="primary", elem_id="control-run")
            rates.rate_line(rates.control, [mode, slot, value, weight, step_size, updates, steps, num_samples, choice],
                            "control-rate")
        with gr.Column(scale=3):
            text = player("control-text", "<i>Press Run; the text appears here step by step.</i>", 160)
            verdicts = gr.HTML("", elem_id="control-verdicts")
            buttons = export_buttons("control")
            plot = gr.Plot(label="classifier probability", visible=False, elem_id="control-plot")
    record = gr.State(None, time_to_live=SESSION_TTL_SECONDS)
    mode.change(_mode_visibility, mode, [infill_box, length_box, guidance_box], api_visibility="private",
                show_progress="hidden")
    slot.change(_values, slot, value, api_visibility="private", show_progress="hidden")
    event = run.click(cached(control_run), [mode, template, length, slot, value, weight, step_size, updates, seed,
                                            steps, num_samples, choice, models], [text, record, plot, verdicts],
                      show_progress="minimal", **RUNS)
    wire_export(event, record, buttons)

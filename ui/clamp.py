"""The Clamping trick tab: one seed through Diffusion-LM's reverse chain twice, side by side: with clamping and without,
or the x0-parameterised model beside the same recipe trained to predict the noise (eps)."""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from typing import Any

import gradio as gr
import torch

from diffusion import shipped
from diffusion.corpus import builtin_split, validate
from diffusion.metrics import denoising_accuracy
from diffusion.sampling import sample_steps
from diffusion.views import nearest_distance, steps_before_clamping
from visualize.clamp import (clamp_distances_figure, denoising_accuracy_figure, disagreement_figure, disagreements,
                             verdict_html)
from visualize.plots import mean_distance
from visualize.tokens import legend_html

from .cache import RUNS, cached
from .common import (MAX_SEED, SESSION_TTL_SECONDS, SHIPPED, checkpoint_path, explain, get_checkpoint,
                     model_radio, pick_checkpoint)
from .glossary import TIME
from .inputs import Number, Slider, UserError, whole
from .recorded import paragraph, recorded, sentence
from . import rates
from .player import player
from .run import TOP_K, Run, padding, reason, stream

MIN_STEPS, MAX_STEPS, DEFAULT_STEPS = 10, 1000, 200
SAMPLERS = ("ddpm", "ddim")  # the radio's choices; the package names what it accepts
# the shipped model trained by the continuous recipe with --parameterisation eps
EPS_FOLDER = next(name for name in shipped.names("continuous") if shipped.SHIPPED[name].variant == "eps")
# what the two columns compare: (label on the radio, value) and each value's column headings
COMPARE_CHOICES = [("clamping on / off", "clamping"), ("x₀ or ε prediction", "prediction")]
HEADINGS = {"clamping": ("With clamping", "Without clamping"),
            "prediction": ("Predicts x₀ (the shipped model)", "Predicts ε (its recipe, --parameterisation eps)")}
LEGENDS = {"clamping": ("with clamping", "without clamping"), "prediction": ("predicts x₀", "predicts ε")}

INTRO = r"""
**Clamping trick**: one seed through the same model twice, with and without {{clamping}}: snapping the network's
guess {{$\hat x_0$|x̂₀}} to the nearest real words before each step. Or compare a model that predicts $x_0$ with
one that predicts the noise $\varepsilon$.
"""

DETAILS = r"""
**The one equation.** Before each reverse step, replace the guess by the {{embedding}} of its nearest word (Sec. 4.2
of Li et al. 2022):
$$\hat x_0 \;\leftarrow\; \mathrm{EMB}\big(\arg\min_w \lVert \hat x_0 - \mathrm{EMB}(w) \rVert\big).$$
- {{$\hat x_0$|x̂₀}}: the network's guess of the clean sentence at this step, one vector per position;
- $\mathrm{EMB}(w)$: the vector of word $w$; $\arg\min_w$ picks the nearest one: the same {{rounding}} as in
  *Forward noising*, applied to the guess rather than to $x_t$.

The step then runs as in *Denoise*, aiming at real words instead of at a point between them.
""" + TIME + r"""
**From the paper.**
- *Why it helps.* Without clamping, $\hat x_0$ can sit *between* words, and the update pulls $x_t$ towards a point
  that is no word at all; the chain wavers and can end between words, rounding to repeated or mixed-up words. With
  clamping every update aims at real words, so the chain commits early and its next guess is sharper.
- *What runs.* Both columns start from the same Gaussian noise and draw the same fresh noise at every step (the same
  {{seed}} feeds two identical random generators). The left column clamps from the step chosen below on; the right
  one never does. Up to that step the two columns are identical.
- *Predicting $x_0$ or $\varepsilon$.* {{DDPM}}'s image networks predict the noise ({{ε-prediction}}); Diffusion-LM's
  predicts $x_0$ ({{x₀-parameterisation}}). From a noise prediction the guess is
  $\hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\,\hat\varepsilon) / \sqrt{\bar\alpha_t}$, which multiplies the
  network's error by $\sqrt{(1 - \bar\alpha_t) / \bar\alpha_t}$: large wherever the noise is. With "x₀ or ε
  prediction" the left column runs the shipped model and the right one the same recipe trained with
  `--parameterisation eps` (`assets/checkpoints/continuous-eps`), with the sampler and clamping chosen here. The
  $\varepsilon$ model's likelihood {{bound}} can be the better one while its samples are the worse: the bound is
  dominated by the lowest noise levels, where predicting $\varepsilon$ is easy.
- *Measure it yourself.* `python -m diffusion evaluate --checkpoint assets/checkpoints/continuous --clamp-from T
  --record` scores the samples of a chain clamped from time T on (T = 1: every step; T = 0: never) and records the
  share the grammar accepts (the {{grammatical rate}}) in the checkpoint's `meta.json`; the figures recorded there
  are listed at the end.

**Reading the view.**
- *The columns*: each token is the word the current latent rounds to, shaded by the model's {{confidence}}; orange
  bars mark words that changed since the previous frame. Under each column, once the run is done: the final
  sample, whether the built-in grammar accepts it, and how far its final latent lies from the nearest word
  embeddings (exactly 0 when the last step was clamped).
- *Top plot, distance to the nearest word*: at each step, the mean over positions of
  $\min_w \lVert \hat x_0 - \mathrm{EMB}(w) \rVert$ for the network's own guess, before any snapping. It falls
  faster with clamping: the latent the network sees has stayed near words. An $\varepsilon$ model's guess may lie
  nearer to *a* word when its embeddings are packed closer together, and still be the wrong word.
- *Bottom plot, words that round differently*: at each step, how many positions (padding included) have a guess
  $\hat x_0$ that rounds to another word than the new latent $x_s / \sqrt{\bar\alpha_s}$ does: where the chain
  still disagrees with what the model predicts. With clamping it drops to zero early; without, words keep flipping
  until the last steps.
- *Accuracy plot* ("x₀ or ε"): held-out sentences noised to each $t$; each model guesses $\hat x_0$ once, and the
  plot counts the words that round back right.
"""


def details() -> str:
    """The tab's "More" text, with the figures both checkpoints recorded (ui/recorded.py)."""
    at_200 = dict(steps=200, sampler="ddpm", clamp=True, noise_scale=1.0)
    figures = {name: (recorded(folder, **at_200), recorded(folder, "nll_bits_per_token", **at_200))
               for name, folder in (("x0", "continuous"), ("eps", EPS_FOLDER))}
    return DETAILS + paragraph(
        "Measured on the shipped checkpoints (200 DDPM steps, clamping at every step)",
        sentence("The x₀ model: {rate:.0%} of its samples are sentences of the grammar; its likelihood bound is "
                 "{nll:.1f} bits per word.", rate=figures["x0"][0], nll=figures["x0"][1]),
        sentence("The ε model: {rate:.0%}; bound {nll:.1f} bits per word.", rate=figures["eps"][0],
                 nll=figures["eps"][1]))


ACCURACY_SENTENCES = 256  # held-out sentences behind the x0 / eps accuracy plot
ACCURACY_TIMES = tuple(k / 10 for k in range(11))


@functools.lru_cache(maxsize=4)
def _accuracy_curves(x0_path: str, eps_path: str) -> dict[str, dict[str, list[float]]]:
    """The one-shot x0_hat accuracy of both shipped models on the same held-out sentences and noise (a second or two,
    once per process: the models are shared and fixed)."""
    texts = [ex.text for ex in builtin_split("validation")[:ACCURACY_SENTENCES]]
    return {name: denoising_accuracy(get_checkpoint("continuous", folder), texts, list(ACCURACY_TIMES))
            for name, folder in zip(LEGENDS["prediction"], ("continuous", EPS_FOLDER))}


def _runs(compare: str, steps: float, choice: str | None,
          models: dict[str, str] | None) -> tuple[tuple[Any, Any], int]:
    """The two columns' checkpoints, and the checked steps."""
    if compare not in HEADINGS:
        raise UserError(f"compare must be one of {', '.join(HEADINGS)}, got {compare!r}")
    if compare == "clamping":
        left = right = pick_checkpoint("continuous", choice, models)
    else:
        if choice not in (None, SHIPPED):
            raise UserError("x₀ or ε prediction compares the two shipped models; pick the shipped model (a model "
                           "trained here can be compared with and without clamping)")
        left = get_checkpoint("continuous")
        right = get_checkpoint("continuous", EPS_FOLDER, " --corpus builtin --parameterisation eps")
        kinds = (left.config.parameterisation, right.config.parameterisation)
        if kinds != ("x0", "eps"):
            raise UserError(f"x₀ or ε prediction needs an x0 and an eps model, got {kinds[0]} and {kinds[1]}")
    steps = whole(steps, "steps", MIN_STEPS, min(MAX_STEPS, left.process.T, right.process.T))
    return (left, right), steps


def clamp_compare(seed: float | None, steps: float, sampler: str, clamp_from: float, choice: str | None,
                  models: dict[str, str] | None, compare: str = "clamping") -> Iterator[tuple[Any, ...]]:
    """Stream both chains step by step (same seed), as one Run of two columns; at the end the verdicts, the
    scrubber and both plots."""
    seed = whole(seed, "seed", 0, MAX_SEED, "2^63 - 1")
    cks, steps = _runs(compare, steps, choice, models)
    clamp_start = steps_before_clamping(cks[0].process, steps, clamp_from)  # what the plots shade as not clamped
    on = dict(sampler=sampler, clamp=True, clamp_from=clamp_from)
    off = dict(sampler=sampler, clamp=False) if compare == "clamping" else on  # x0 and eps: the same sampler
    run = Run("clamp", "The clamping trick", steps, marks=("clamped",), style=dict(legend=False, preds=True, pad=padding(cks[0])),
              heads=tuple(HEADINGS[compare]), linked=("ct-distance", "ct-disagree"),
              extra=dict(compare=compare, names=LEGENDS[compare], clamp_start=clamp_start))

    def start() -> Any:  # the same seed in two generators: the same length, x_T and fresh noise z in both columns
        return [sample_steps(ck.process.configure(**settings), ck.model, 1, steps,
                             generator=torch.Generator().manual_seed(seed), top_k=TOP_K)
                for ck, settings in zip(cks, (on, off))]

    yield from stream(run, start, [ck.tokenizer for ck in cks], keep=_keep,
                      hide=("", "", None, gr.Plot(visible=False), gr.Plot(visible=False), gr.Plot(visible=False)))
    texts = [ck.tokenizer.decode(step.tokens[0]) for ck, step in zip(cks, run.last)]
    run.finish([[text] for text in texts], [[validate(text)] for text in texts])
    run.extra["length"] = int(run.last[0].tokens.shape[1])
    # Where each chain ends: a clamped last step returns x0_hat snapped to words, so its x_0 is exactly embeddings.
    run.extra["final_distance"] = [nearest_distance(step.latent, ck.model.embedding.weight)
                                   for ck, step in zip(cks, run.last)]
    verdicts = tuple(verdict_html(text, checks[0].grammatical, distance, reason(checks[0]))
                     for text, checks, distance in zip(texts, run.verdicts, run.extra["final_distance"]))
    yield (run.value(), *verdicts, run, *(gr.Plot(value=fig, visible=True) for fig in _figures(run)),
           _accuracy_plot(compare))


def _keep(step: Any) -> dict[str, Any]:
    """Per step but the prior: the distance from x0_hat to its nearest word, the words the chain and its
    prediction disagree on, and whether the step clamped."""
    if "clamp_distance" not in step.extras:
        return {}
    return dict(distance=mean_distance(step.extras["clamp_distance"]),
                disagree=disagreements(step.pred_tokens, step.tokens), clamped=bool(step.extras.get("clamped")))


def _accuracy_plot(compare: str) -> Any:
    """x0 / eps: how often each model's one-shot x0_hat rounds back to the right words; nothing for clamping."""
    if compare != "prediction":
        return gr.Plot(visible=False)
    curves = _accuracy_curves(checkpoint_path("continuous"), checkpoint_path(EPS_FOLDER))
    return gr.Plot(value=denoising_accuracy_figure(curves, ACCURACY_SENTENCES), visible=True)


def _figures(run: Run) -> tuple[Any, Any]:
    common = dict(current=run.indices[-1], num_steps=run.num_steps, clamp_start=run.extra["clamp_start"],
                  names=tuple(run.extra["names"]), frames=run.indices)
    indices, distance = zip(*(run.series("distance", chain) for chain in range(2)))
    disagree = [run.series("disagree", chain)[1] for chain in range(2)]
    return (clamp_distances_figure(indices[0], *distance, **common),
            disagreement_figure(indices[0], *disagree, run.extra["length"], **common))


def _new_seed() -> int:
    return random.randrange(2**31)


def tab(models: gr.State) -> None:
    """The Clamping trick tab: the same seed with and without clamping, side by side, then scrubbed."""
    explain(INTRO, details())
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            with gr.Row():
                seed = Number(value=0, label="seed", minimum=0, step=1, elem_id="ct-seed", min_width=140,
                                 info="the same seed gives the same two runs")
                new_seed = gr.Button("new seed", size="sm", elem_id="ct-new-seed", min_width=80)
            compare = gr.Radio(COMPARE_CHOICES, value="clamping", label="compare", elem_id="ct-compare",
                               info="x₀ or ε: the shipped model beside the same recipe trained to predict the noise")
            steps = Slider(MIN_STEPS, MAX_STEPS, value=DEFAULT_STEPS, step=1, label="steps",
                              info="at most the model's training timesteps", elem_id="ct-steps")
            sampler = gr.Radio(list(SAMPLERS), value="ddpm", label="sampler", elem_id="ct-sampler")
            clamp_from = Slider(0, 1, value=1.0, step=0.05, label="clamp from t",
                                info="clamping at every step that starts at t ≤ this: the left column's (both, for "
                                "x₀ or ε); 1 every step", elem_id="ct-start")
            choice = model_radio("ct-model")
            run = gr.Button("Run both", variant="primary", elem_id="ct-run")
            rates.rate_line(rates.clamp, [steps, sampler, clamp_from, choice, compare], "ct-rate")
        with gr.Column(scale=3):
            view = player("ct-view", "<i>Press Run both: the chain with clamping and the one without appear here "
                          "side by side, from the same noise.</i>")
            with gr.Row():
                verdict_on = gr.HTML(elem_id="ct-verdict-on")
                verdict_off = gr.HTML(elem_id="ct-verdict-off")
            gr.HTML(legend_html(padding=False))  # the shipped models draw their length first: no padding shown
            with gr.Row():
                distance = gr.Plot(label="distance to the nearest word", visible=False, elem_id="ct-distance",
                                   min_width=300)
                disagree = gr.Plot(label="words that round differently", visible=False, elem_id="ct-disagree",
                                   min_width=300)
            accuracy = gr.Plot(label="one-shot x̂₀ rounded back right (x₀ or ε)", visible=False,
                               elem_id="ct-accuracy")
    record = gr.State(None, time_to_live=SESSION_TTL_SECONDS)
    new_seed.click(_new_seed, None, seed, api_visibility="private", show_progress="hidden")
    run.click(cached(clamp_compare), [seed, steps, sampler, clamp_from, choice, models, compare],
              [view, verdict_on, verdict_off, record, distance, disagree, accuracy],
              show_progress="minimal", **RUNS)

"""The Denoise tab: Diffusion-LM's reverse chain, streamed, then scrubbed, beside the clamp distance."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradio as gr
import torch

from diffusion.corpus.tokenizer import PAD
from diffusion.sampling import sample_steps
from diffusion.views import latent_paths, steps_before_clamping
from visualize.paths import denoising_map_figure, finite_extent
from visualize.plots import clamp_distance_figure

from .cache import RUNS, cached
from .common import (MAX_SEED, SESSION_TTL_SECONDS, SHIPPED, explain, export_buttons, model_radio,
                     pick_checkpoint, wire_export)
from .glossary import TIME
from .inputs import Checkbox, Dropdown, Number, Slider, UserError, whole
from .recorded import configured, paragraph, recorded, sentence
from . import rates
from .player import player
from .run import TOP_K, Run, describe, grammar_checks, padding, stream

MIN_STEPS, MAX_STEPS, DEFAULT_STEPS = 10, 1000, 200
DEFAULT_NOISE_SCALE = 0.7  # chosen by its rate over seeds 0-19 (recorded in meta.json, shown under Run)
MAX_SAMPLES = 4
SAMPLERS = ("ddpm", "ddim")  # the radio's choices; the package names what it accepts

DENOISE_INTRO = r"""
**Denoise**: start from pure noise at $t = 1$; at every {{step}} the network guesses the clean sentence,
{{$\hat x_0$|x̂₀}} $= f_\theta(x_t, t)$, and the chain moves a little towards that guess. {{Clamping|clamping}} first
snaps the guess to the nearest real words.
"""

DENOISE_DETAILS = r"""
**The one equation.** One {{DDPM}} step of the {{reverse chain}}, from time $t$ down to the next time $s$, with the
network's guess standing in for the clean sentence:
$$x_s = a_{t,s}\, \hat x_0 + b_{t,s}\, x_t + \sigma_{t,s}\, z, \qquad \hat x_0 = f_\theta(x_t, t).$$
- {{$x_t$|xₜ}}: the current noisy vectors, one per position (the {{latent}});
- {{$\hat x_0$|x̂₀}}: the network's guess of the clean sentence, made afresh at every step;
- $z$: fresh Gaussian noise, fixed by the {{seed}};
- $a, b, \sigma$: weights set by the {{schedule}} $\bar\alpha$ alone: they make $x_s$ a draw from the
  {{posterior}} $q(x_s \mid x_t, x_0)$, the step you would take if the guess were the truth.
""" + TIME + r"""
**Steps and the training grid.** The "steps" control is $T$, the number of sampling steps of a run. The model
itself learnt to denoise on a fixed {{training grid}} of noise levels{grid}; a run with fewer steps than that skips
through the grid evenly, so each step is a bigger move. More steps: smaller moves and a slower run.

**From the paper.**
- *Forward process* (Li et al. 2022, on Ho et al. 2020): words are embedded,
  $x_0 \sim \mathcal N(\mathrm{EMB}(w), \sigma_0^2 I)$, and noised as
  $q(x_t \mid x_0) = \mathcal N(\sqrt{\bar\alpha_t}\, x_0, (1 - \bar\alpha_t) I)$: the noising you watched in
  *Forward noising*.
- *The weights*: with $\alpha_{t\to s} = \bar\alpha_t / \bar\alpha_s$ and $\beta_{t\to s} = 1 - \alpha_{t\to s}$,
  $a_{t,s} = \sqrt{\bar\alpha_s}\,\beta_{t\to s} / (1 - \bar\alpha_t)$ and
  $b_{t,s} = \sqrt{\alpha_{t\to s}}\,(1 - \bar\alpha_s) / (1 - \bar\alpha_t)$.
- *Predicting $x_0$* ({{x₀-parameterisation}}): DDPM's image networks predict the noise $\epsilon$; Diffusion-LM's
  predicts $\hat x_0$, because what a text model must get right is the word each position rounds to. The
  *Clamping trick* tab runs both side by side.
- *{{DDIM}}* (Song et al. 2021) drops the noise $z$ and moves deterministically along the predicted direction, so
  fewer steps still land on words.
- *{{Clamping|clamping}}* (Sec. 4.2) replaces $\hat x_0$ by the embedding of its nearest word before the update:
  the same {{rounding}} as in *Forward noising*. Without it the chain can drift between words and round to
  nonsense. "Clamp from t" lets the first steps run unclamped while the guess is still vague: a step is clamped
  once its $t$ is at most that (1: every step; the command line's `--clamp-from`).
- *{{Noise scale|noise scale}}* multiplies the fresh noise $\sigma z$ of each DDPM step: below 1 the chain runs
  colder and fewer formed words are knocked off course, the trade {{temperature}} makes for the token families.
- *{{The length first|length first}}*: the shipped model draws each sentence's length $L$ from the training
  sentences' lengths before the first step. The network sees only those $L$ positions; the {{padding|[PAD]}} after
  them is hidden from attention and stays padding in every frame. Diffusion-LM itself writes padding as a word on a
  fixed canvas, and must learn where each sentence ends as well as what it says. The recipe also trains more at
  high noise, where the sentence's plan is decided; its full command is in the checkpoint's `meta.json`.

**Reading the view.**
- *Each sample's first row*: the word the current latent $x_t$ rounds to at each position, shaded by the model's
  {{confidence}} (the rounding softmax $p(w \mid \hat x_0) \propto \exp(-\lVert \hat x_0 - \mathrm{EMB}(w)
  \rVert^2)$); an orange bar marks a word that changed since the previous frame.
- *Second row*: the words the guess $\hat x_0$ rounds to: vague and changing at first, settling as $t$ falls.
  Point at a word for the network's {{top-k}} words there.
- *Clamp distance plot*: the mean distance from $\hat x_0$ to its nearest word embedding; it falls as the guess
  settles on words.
- *Map*: the latent paths of sample 1 on the same {{PCA}} plane as *Forward noising*, now run backwards.
"""


def details() -> str:
    """The tab's "More" text: the training grid's size and the figures the checkpoint recorded, read from its files
    (ui/recorded.py)."""
    grid = configured("continuous", "num_timesteps")
    rate = recorded("continuous", steps=200, sampler="ddpm", clamp=True, noise_scale=1.0)
    colder = recorded("continuous", steps=200, sampler="ddpm", clamp=True, noise_scale=0.7)
    return DENOISE_DETAILS.replace("{grid}", sentence(" ({grid} of them for the shipped model)", grid=grid)) + paragraph(
        "Measured on the shipped checkpoint",
        sentence("At 200 DDPM steps with clamping, {rate:.0%} of its samples are sentences of the grammar (its "
                 "grammatical rate).", rate=rate),
        sentence("With noise scale 0.7: {colder:.0%}.", colder=colder))


def denoise(seed: float | None, steps: float, sampler: str, clamp: bool, clamp_from: float,
            num_samples: float, choice: str = SHIPPED, models: dict[str, str] | None = None,
            noise_scale: float = 1.0) -> Iterator[tuple[Any, Any, Any, Any, Any]]:
    """Stream the reverse chain frame by frame; at the end keep the Run and reveal the scrub slider and plots."""
    seed = whole(seed, "seed", 0, MAX_SEED, "2^63 - 1")
    ck = pick_checkpoint("continuous", choice, models)
    steps = whole(steps, "steps", MIN_STEPS, min(MAX_STEPS, ck.process.T))
    num_samples = whole(num_samples, "number of samples", 1, MAX_SAMPLES)
    if sampler == "ddim" and noise_scale != 1.0:  # the package refuses it too; this says what to do on the page
        raise UserError("noise scale applies to the ddpm sampler only (ddim adds no noise): set it to 1 or pick ddpm")
    clamp_start = steps_before_clamping(ck.process, steps, clamp_from)  # what the plot shades as not yet clamped
    run = Run("denoise", "Diffusion-LM denoising", steps, marks=("clamped",), style=dict(preds=True, pad=padding(ck)),
              linked=("clamp-plot", "latent-map"))

    def start() -> Any:
        process = ck.process.configure(sampler=sampler, clamp=bool(clamp), clamp_from=clamp_from,
                                       noise_scale=noise_scale)
        run.settings = describe(ck, dict(process=process, steps=steps, seed=seed, num_samples=num_samples),
                                seed=seed, steps=steps, sampler=sampler, clamp=bool(clamp),
                                clamp_from=clamp_from, clamp_start_step=clamp_start, noise_scale=noise_scale,
                                num_samples=num_samples)
        return sample_steps(process, ck.model, num_samples, steps, generator=torch.Generator().manual_seed(seed),
                            top_k=TOP_K)

    yield from stream(run, start, ck.tokenizer, keep=_keep,
                      hide=(None, gr.Plot(visible=False), gr.Plot(visible=False), gr.Dropdown(visible=False)))
    texts = [ck.tokenizer.decode(row) for row in run.last[0].tokens]
    checks = grammar_checks(ck, texts)
    run.finish([texts], None if checks is None else [checks], note=True)
    run.extra["paths"] = _paths(ck, run)
    words = _followed(run)
    pick = max(range(len(words)), key=lambda k: len(words[k].split(": ", 1)[1]), default=None)  # a content word
    yield (run.value(), run, gr.Plot(value=_figure(run), visible=True),
           gr.Plot(value=_map(run, None if pick is None else [pick]), visible=True),
           gr.Dropdown(choices=[EVERY, *words], value=EVERY if pick is None else words[pick], visible=bool(words)))


EVERY = "every position"


def _followed(run: Run) -> list[str]:
    """The follow menu's words: sample 1's final words by position (what the map's paths are of)."""
    paths = run.extra.get("paths")
    return [f"{k + 1}: {w}" for k, w in enumerate(paths["rounded"][-1])] if paths else []


def follow_word(choice: str | None, run: Run | None) -> Any:
    """Redraw the map with one position's path strong and the rest faded (or every path)."""
    if not run or not run.extra.get("paths"):
        return gr.skip()
    words = _followed(run)
    if choice != EVERY and choice not in words:
        raise UserError(f"follow must be {EVERY!r} or one of the sample's positions, e.g. {words[0]!r}")
    return _map(run, None if choice == EVERY else [words.index(choice)])


def _keep(step: Any) -> dict[str, Any]:
    """What the views need of a step: the first sample's latent (the map), the clamp distance and whether the step
    clamped (the plot; every step but the prior)."""
    kept = {} if step.latent is None else {"latent": step.latent[0]}
    if "clamp_distance" in step.extras:
        kept.update(distance=step.extras["clamp_distance"], clamped=bool(step.extras.get("clamped")))
    return kept


def _paths(ck: Any, run: Run) -> dict[str, Any] | None:
    """The first sample's latents on the PCA plane of the embedding table, for its words (not its padding)."""
    _, latents = run.series("latent")
    if not latents:
        return None
    final = run.records[0][-1]["tokens"][0]
    keep = [k for k, w in enumerate(final) if w != PAD] or list(range(len(final)))
    paths = latent_paths(ck.model.embedding.weight, latents, keep)
    return dict(paths=paths, words=ck.tokenizer.tokens(range(len(paths.vocab_xy))),
                rounded=[[r["tokens"][0][k] for k in keep] for r in run.records[0]],
                extent=finite_extent(paths.extent_points))


def _map(run: Run, highlight: list[int] | None = None) -> Any:
    """Sample 1's latent paths on the PCA plane (the `highlight`ed positions strong), the points at the last frame;
    the player moves them."""
    paths = run.extra.get("paths")
    if not paths:
        return None
    return denoising_map_figure(paths["paths"].vocab_xy, paths["words"], paths["paths"].xy.transpose(1, 0, 2),
                                paths["rounded"], f"sample 1's latent paths on the PCA plane · {run.num_steps} steps",
                                paths["extent"], highlight=highlight)


def _figure(run: Run) -> Any:
    indices, distances = run.series("distance")
    return clamp_distance_figure(indices, distances, current=run.indices[-1], clamped=run.series("clamped")[1],
                                 num_steps=run.num_steps, frames=run.indices)


def tab(models: gr.State) -> None:
    """The Denoise tab: sample from the shipped continuous model and watch each step."""
    explain(DENOISE_INTRO, details())
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            choice = model_radio("denoise-model", "continuous")
            seed = Number(value=0, label="seed", minimum=0, step=1, elem_id="seed")
            steps = Slider(MIN_STEPS, MAX_STEPS, value=DEFAULT_STEPS, step=1, label="steps",
                              info="at most the model's training timesteps", elem_id="steps")
            sampler = gr.Radio(list(SAMPLERS), value="ddpm", label="sampler", elem_id="sampler")
            clamp = Checkbox(value=True, label="clamping", elem_id="clamp")
            clamp_from = Slider(0, 1, value=1.0, step=0.05, label="clamp from t",
                                info="clamping at every step that starts at t ≤ this: 1 every step, 0 none",
                                elem_id="clamp-from")
            noise_scale = Slider(0, 1, value=DEFAULT_NOISE_SCALE, step=0.05, label="noise scale (ddpm)",
                                    info="each step's fresh noise times this; lower: more fluent, less varied",
                                    elem_id="noise-scale")
            num_samples = Slider(1, MAX_SAMPLES, value=2, step=1, label="number of samples", elem_id="samples")
            run = gr.Button("Run", variant="primary", elem_id="run")
            rates.rate_line(rates.denoise, [steps, sampler, clamp, clamp_from, num_samples, choice, noise_scale],
                            "denoise-rate")
        with gr.Column(scale=3):
            text = player("denoise-text", "<i>Press Run to sample; the text appears here step by step.</i>", 160)
            buttons = export_buttons("denoise")
            plot = gr.Plot(label="clamp distance", visible=False, elem_id="clamp-plot")
            follow = Dropdown([EVERY], value=EVERY, label="follow a word's path on the map", visible=False,
                                 elem_id="follow-word")
            latent_map = gr.Plot(label="latent paths on the embedding map", visible=False, elem_id="latent-map")
    record = gr.State(None, time_to_live=SESSION_TTL_SECONDS)
    event = run.click(cached(denoise),
                      [seed, steps, sampler, clamp, clamp_from, num_samples, choice, models, noise_scale],
                      [text, record, plot, latent_map, follow], show_progress="minimal", **RUNS)
    wire_export(event, record, buttons)
    follow.input(follow_word, [follow, record], latent_map, show_progress="hidden")
    # DDIM adds no noise to scale: picking it sets the scale to 1 (as the sampler requires), picking DDPM back
    sampler.input(lambda s: 1.0 if s == "ddim" else DEFAULT_NOISE_SCALE, sampler, noise_scale,
                  api_visibility="private", show_progress="hidden", queue=False)

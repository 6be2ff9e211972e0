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
from diffusion.gaussian import nearest
from diffusion.corpus import builtin_split
from diffusion.corpus.validator import is_grammatical
from diffusion.metrics import denoising_accuracy
from diffusion.sampling import sample_steps
from visualize.clamp import (clamp_distances_figure, denoising_accuracy_figure, disagreement_figure, disagreements,
                             verdict_html)
from visualize.plots import mean_distance
from visualize.tokens import legend_html, render_step

from .common import (MAX_SEED, SAMPLING, SESSION_TTL_SECONDS, SHIPPED, checkpoint_path, explain, get_checkpoint,
                     model_radio, pick_checkpoint, player_buttons, wire_player)
from .inputs import Number, Slider, UserError, as_user_error, frame_index, whole

MIN_STEPS, MAX_STEPS, DEFAULT_STEPS = 10, 1000, 200
SAMPLERS = ("ddpm", "ddim")
RUNS = ("on", "off")  # the left column and the right: with clamping and without, or x0 and eps
# the shipped model trained by the continuous recipe with --parameterisation eps
EPS_FOLDER = next(name for name in shipped.names("continuous") if shipped.SHIPPED[name].variant == "eps")
# what the two columns compare: (label on the radio, value) and each value's column headings
COMPARE_CHOICES = [("clamping on / off", "clamping"), ("x₀ or ε prediction", "prediction")]
HEADINGS = {"clamping": ("With clamping", "Without clamping"),
            "prediction": ("Predicts x₀ (the shipped model)", "Predicts ε (its recipe, --parameterisation eps)")}
LEGENDS = {"clamping": ("with clamping", "without clamping"), "prediction": ("predicts x₀", "predicts ε")}

INTRO = r"""
**The clamping trick** (Li et al. 2022, Sec. 4.2): before each reverse step, snap the predicted clean sentence to
its nearest word embeddings, $\hat x_0 \leftarrow \mathrm{EMB}\big(\arg\min_w \lVert \hat x_0 - \mathrm{EMB}(w)
\rVert\big)$. Same seed, same noise, same model: only the clamping differs between the two columns. Or compare what
the network predicts: $x_0$ itself (Diffusion-LM's choice) or the noise $\epsilon$, from which
$\hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\,\hat\epsilon) / \sqrt{\bar\alpha_t}$.
"""

DETAILS = r"""
**What runs.** Both columns start from the same Gaussian noise $x_T$ and draw the same noise $z$ at every step
(the same seed feeds two identical random generators). Each step the network predicts $\hat x_0 = f_\theta(x_t, t)$
and the sampler moves to $x_s \sim q(x_s \mid x_t, \hat x_0)$ (DDPM) or along the predicted direction (DDIM).
On the left, from the step chosen below on, $\hat x_0$ is replaced by the embedding of its nearest word before the
update; on the right it never is. Up to that step the two columns are identical.

**Why it helps.** Without clamping, $\hat x_0$ can sit *between* words, and the update pulls $x_t$ towards a point
that is no word at all; the chain wavers and can end between words, rounding to repeated or mixed-up words. With
clamping, every update aims at real words, so the chain commits early and the prediction it sees next is sharper.

**Measured on the shipped model** (100 samples of 200 DDPM steps each, seeds 0 and 1; `python -m diffusion
evaluate --checkpoint assets/checkpoints/continuous --num-samples 100 --steps 200 --seed S [--no-clamp |
--clamp-from T] --json`): clamping at every step, 44% and 35% of the samples are sentences of the grammar; clamping
only from t = 0.5 on, 38% and 30%; from t = 0.2 on, 31% and 31%; never, 27% and 31%. Clamping from the first step
is the best of these on both seeds.

**Top plot: distance to the nearest word.** For each step, the mean over positions of
$\min_w \lVert \hat x_0 - \mathrm{EMB}(w) \rVert$ for the network's own prediction, *before* any snapping. (The
$\hat x_0$ the clamped run then uses is an embedding, at distance 0.) It falls faster with clamping: the latent the
network sees has stayed near words.

**Bottom plot: words that round differently.** For each step from $x_t$ to $x_s$, the number of positions $i$
(padding included) where the word $\hat x_0$ rounds to differs from the word the new latent rounds to,
$$\#\big\{ i : \arg\min_w \lVert \hat x_{0,i} - \mathrm{EMB}(w) \rVert \ne
\arg\min_w \lVert x_{s,i}/\sqrt{\bar\alpha_s} - \mathrm{EMB}(w) \rVert \big\},$$
i.e. where the chain (the words shown in each column) still disagrees with what the model predicts. With clamping it
drops to zero early: the chain follows its own predictions. Without, words keep flipping until the last steps.

**x₀ or ε.** DDPM's network predicts the noise $\epsilon$; Diffusion-LM's predicts $x_0$ (Sec. 4.2 of Li et al.
2022), because what a text model must get right is the word each position rounds to, and a prediction of $\epsilon$
reaches $x_0$ only through $\hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\,\hat\epsilon) / \sqrt{\bar\alpha_t}$, which
multiplies the network's error by $\sqrt{(1 - \bar\alpha_t) / \bar\alpha_t}$: large wherever the noise is. With
"x₀ or ε prediction" the left column runs the shipped model and the right one the same recipe trained with
`--parameterisation eps` for the same 5996 steps (`assets/checkpoints/continuous-eps`), both with the sampler and
clamping chosen here, from the same seed. The plot at the bottom noises 256 held-out sentences to each $t$, lets each
model predict $\hat x_0$ once and counts the words it rounds back right: the $x_0$ model 100%, 95%, 88%, 76% and 46%
at $t$ = 0.1, 0.3, 0.5, 0.7, 0.9; the $\epsilon$ model 97%, 90%, 82%, 68% and 36%. Sampled (100 sentences of 200
steps, seeds 0 and 1), the $\epsilon$ model writes 38% and 33% grammatical sentences against the $x_0$ model's 56%
and 56% (35% and 39% unclamped), although its likelihood bound is far better (10.6 bits per word against 24.1: the
bound is dominated by the lowest noise levels, where predicting $\epsilon$ is easy). Its $\hat x_0$ does lie
nearer to *a* word in the distance plot, but its embeddings are also packed closer (the median distance from a
word to the next is 2.74 against the $x_0$ model's 3.60), and, as the bottom plot shows, it is more often the wrong
word.

**Reading the columns.** Each token is the word the current latent rounds to, shaded by the model's confidence;
orange bars mark words that changed since the previous frame. Under each column, once the run is done: the final
sample, whether the built-in grammar accepts it, and how far the final latent $x_0$ lies from the nearest word
embeddings: exactly 0 when the last step was clamped.
"""


def _frame(ck, step, steps: int) -> str:
    return render_step([ck.tokenizer.tokens(row) for row in step.tokens], step.confidence, step.changed,
                       index=step.index, t=step.t, num_steps=steps, clamped=step.extras.get("clamped"), legend=False)


ACCURACY_SENTENCES = 256  # held-out sentences behind the x0 / eps accuracy plot
ACCURACY_TIMES = tuple(k / 10 for k in range(11))


@functools.lru_cache(maxsize=4)
def _accuracy_curves(x0_path: str, eps_path: str) -> dict[str, dict[str, list[float]]]:
    """The one-shot x0_hat accuracy of both shipped models on the same held-out sentences and noise (a second or two,
    once per process: the models are shared and fixed)."""
    texts = [ex.text for ex in builtin_split("validation")[:ACCURACY_SENTENCES]]
    return {name: denoising_accuracy(get_checkpoint("continuous", folder), texts, list(ACCURACY_TIMES))
            for name, folder in zip(LEGENDS["prediction"], ("continuous", EPS_FOLDER))}


def _runs(compare: str, steps: float, sampler: str, clamp_start: float, choice: str | None,
          models: dict[str, str] | None) -> tuple[dict[str, tuple[Any, Any]], int, int]:
    """The two columns' (checkpoint, configured process), and the checked steps and clamping start."""
    if compare not in HEADINGS:
        raise UserError(f"compare must be one of {', '.join(HEADINGS)}, got {compare!r}")
    if sampler not in SAMPLERS:
        raise UserError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
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
    clamp_start = whole(clamp_start, "clamping start step", 0, steps)
    # Clamp every step that starts at or after grid time ts[clamp_start]: exactly the steps after it (as Denoise).
    clamp_from = float(left.process.timesteps(steps)[clamp_start])
    on = dict(sampler=sampler, clamp=True, clamp_from=clamp_from)
    off = dict(sampler=sampler, clamp=False) if compare == "clamping" else on  # x0 and eps: the same sampler
    return {"on": (left, left.process.configure(**on)), "off": (right, right.process.configure(**off))}, steps, \
        clamp_start


def clamp_compare(seed: float | None, steps: float, sampler: str, clamp_start: float, choice: str | None,
                  models: dict[str, str] | None, compare: str = "clamping") -> Iterator[tuple[Any, ...]]:
    """Stream both chains step by step (same seed); at the end the verdicts, the scrubber and both plots."""
    seed = whole(seed, "seed", 0, MAX_SEED, "2^63 - 1")
    runs, steps, clamp_start = _runs(compare, steps, sampler, clamp_start, choice, models)
    # The same seed in two generators: the same length, x_T and fresh noise z in both columns.
    chains = [sample_steps(runs[run][1], runs[run][0].model, 1, steps, generator=torch.Generator().manual_seed(seed))
              for run in RUNS]
    record: dict[str, Any] = dict(frames={run: [] for run in RUNS}, frame_steps=[], indices=[],
                                  distance={run: [] for run in RUNS}, disagree={run: [] for run in RUNS},
                                  clamped={run: [] for run in RUNS}, num_steps=steps, clamp_start=clamp_start,
                                  seed=seed, sampler=sampler, length=None, texts={}, compare=compare,
                                  names=LEGENDS[compare])
    last: dict[str, Any] = {}
    try:
        for pair in zip(*chains):
            record["frame_steps"].append(pair[0].index)
            if "clamp_distance" in pair[0].extras:  # every step but the prior
                record["indices"].append(pair[0].index)
            for run, step in zip(RUNS, pair):
                record["frames"][run].append(_frame(runs[run][0], step, steps))
                if "clamp_distance" in step.extras:
                    record["distance"][run].append(mean_distance(step.extras["clamp_distance"]))
                    record["disagree"][run].append(disagreements(step.pred_tokens, step.tokens))
                    record["clamped"][run].append(bool(step.extras.get("clamped")))
                last[run] = step
            views = tuple(record["frames"][run][-1] for run in RUNS)
            if len(record["frame_steps"]) == 1:  # hide the previous run's results while this one streams
                yield (*views, "", "", None, Slider(visible=False), gr.Plot(visible=False), gr.Plot(visible=False),
                       *(f"**{h}**" for h in HEADINGS[compare]), gr.Plot(visible=False))
            else:
                yield (*views, *[gr.skip()] * 9)
    except ValueError as e:
        raise as_user_error(e) from None
    record["length"] = int(last["on"].tokens.shape[1])
    record["texts"] = {run: runs[run][0].tokenizer.decode(last[run].tokens[0]) for run in RUNS}
    # Where each chain ends: a clamped last step returns x0_hat snapped to words, so its x_0 is exactly embeddings.
    record["final_distance"] = {run: mean_distance(nearest(last[run].latent,
                                                           runs[run][0].model.embedding.weight.detach())[1])
                                for run in RUNS}
    verdicts = tuple(verdict_html(record["texts"][run], is_grammatical(record["texts"][run]),
                                  record["final_distance"][run]) for run in RUNS)
    n = len(record["frame_steps"]) - 1
    yield (*(record["frames"][run][-1] for run in RUNS), *verdicts, record,
           Slider(minimum=0, maximum=n, value=n, step=1, visible=True, interactive=True),
           *(gr.Plot(value=fig, visible=True) for fig in _figures(record, n)), *(f"**{h}**" for h in HEADINGS[compare]),
           _accuracy_plot(compare))


def _accuracy_plot(compare: str) -> Any:
    """x0 / eps: how often each model's one-shot x0_hat rounds back to the right words; nothing for clamping."""
    if compare != "prediction":
        return gr.Plot(visible=False)
    curves = _accuracy_curves(checkpoint_path("continuous"), checkpoint_path(EPS_FOLDER))
    return gr.Plot(value=denoising_accuracy_figure(curves, ACCURACY_SENTENCES), visible=True)


def _figures(record: dict[str, Any], frame: int) -> tuple[Any, Any]:
    current = record["frame_steps"][frame]
    common = dict(current=current, num_steps=record["num_steps"], clamp_start=record["clamp_start"],
                  names=tuple(record.get("names", LEGENDS["clamping"])))
    return (clamp_distances_figure(record["indices"], record["distance"]["on"], record["distance"]["off"], **common),
            disagreement_figure(record["indices"], record["disagree"]["on"], record["disagree"]["off"],
                                record["length"], **common))


def clamp_scrub(frame: float, record: dict[str, Any] | None) -> tuple[Any, Any, Any, Any]:
    """Both columns at a recorded step, and that step marked on both plots."""
    if not record:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    i = frame_index(frame, len(record["frame_steps"]))
    return (*(record["frames"][run][i] for run in RUNS), *_figures(record, i))


def _clamp_start_range(steps: float, clamp_start: float) -> Any:
    """Keep the clamping start within 0..steps as the step count moves."""
    return Slider(maximum=int(steps), value=min(int(clamp_start), int(steps)))


def _new_seed() -> int:
    return random.randrange(2**31)


def tab(models: gr.State) -> None:
    """The Clamping trick tab: the same seed with and without clamping, side by side, then scrubbed."""
    explain(INTRO, DETAILS)
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
            clamp_start = Slider(0, DEFAULT_STEPS, value=0, step=1, label="clamping starts at step",
                                    info="steps after this one are clamped: the left column's (both, for x₀ or ε)",
                                    elem_id="ct-start")
            choice = model_radio("ct-model")
            run = gr.Button("Run both", variant="primary", elem_id="ct-run")
        with gr.Column(scale=3):
            with gr.Row():
                with gr.Column(min_width=260):
                    heading_on = gr.Markdown(f"**{HEADINGS['clamping'][0]}**", elem_id="ct-heading-on")
                    view_on = gr.HTML("<i>Press Run both: the clamped chain appears here.</i>", elem_id="ct-view-on",
                                      min_height=120)
                    verdict_on = gr.HTML(elem_id="ct-verdict-on")
                with gr.Column(min_width=260):
                    heading_off = gr.Markdown(f"**{HEADINGS['clamping'][1]}**", elem_id="ct-heading-off")
                    view_off = gr.HTML("<i>… and the unclamped one here, from the same noise.</i>",
                                       elem_id="ct-view-off", min_height=120)
                    verdict_off = gr.HTML(elem_id="ct-verdict-off")
            gr.HTML(legend_html())
            frame = Slider(0, 1, value=0, step=1, label="scrub through the recorded steps (moves both)",
                              visible=False, interactive=False, elem_id="ct-scrub")
            player = player_buttons("ct")
            with gr.Row():
                distance = gr.Plot(label="distance to the nearest word", visible=False, elem_id="ct-distance",
                                   min_width=300)
                disagree = gr.Plot(label="words that round differently", visible=False, elem_id="ct-disagree",
                                   min_width=300)
            accuracy = gr.Plot(label="one-shot x̂₀ rounded back right (x₀ or ε)", visible=False,
                               elem_id="ct-accuracy")
    record = gr.State(None, time_to_live=SESSION_TTL_SECONDS)
    new_seed.click(_new_seed, None, seed, api_visibility="private", show_progress="hidden")
    steps.change(_clamp_start_range, [steps, clamp_start], clamp_start, api_visibility="private",
                 show_progress="hidden")
    run.click(clamp_compare, [seed, steps, sampler, clamp_start, choice, models, compare],
              [view_on, view_off, verdict_on, verdict_off, record, frame, distance, disagree, heading_on, heading_off,
               accuracy],
              show_progress="minimal", **SAMPLING)
    frame.input(clamp_scrub, [frame, record], [view_on, view_off, distance, disagree], trigger_mode="always_last",
                show_progress="hidden")
    wire_player(player, frame, record, [view_on, view_off, distance, disagree], clamp_scrub)

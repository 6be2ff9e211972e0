"""The Denoise tab: Diffusion-LM's reverse chain, streamed, then scrubbed, beside the clamp distance."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradio as gr
import numpy as np
import torch

from diffusion.corpus.tokenizer import PAD
from diffusion.sampling import sample_steps
from visualize.plots import clamp_distance_figure
from visualize.tokens import render_step

from diffusion.projection import pca_basis, project
from visualize.embeddings import denoising_map_figure, finite_extent
from visualize.export import step_record

from .common import (MAX_SEED, SAMPLING, SESSION_TTL_SECONDS, SHIPPED, explain, export_buttons, grammar_checks,
                     grammar_notes, model_radio, pick_checkpoint, player_buttons, run_settings, samples_result,
                     wire_export, wire_player)
from .inputs import Checkbox, Number, Slider, UserError, as_user_error, frame_index, whole

MIN_STEPS, MAX_STEPS, DEFAULT_STEPS = 10, 1000, 200
MAX_SAMPLES = 4
SAMPLERS = ("ddpm", "ddim")

DENOISE_INTRO = r"""
**Diffusion-LM** starts from Gaussian noise in word-embedding space; every step the network predicts the
clean sentence $\hat x_0 = f_\theta(x_t, t)$ and the sampler draws $x_{t-1} \sim q(x_{t-1} \mid x_t, \hat x_0)$.
With **clamping**, $\hat x_0$ is first snapped to its nearest word embedding,
$\hat x_0 \leftarrow \mathrm{EMB}\big(\arg\min_w \lVert \hat x_0 - \mathrm{EMB}(w) \rVert\big)$.
"""

DENOISE_DETAILS = r"""
**Forward process.** Words $w$ are embedded, $x_0 \sim \mathcal N(\mathrm{EMB}(w), \sigma_0^2 I)$, and noised as
$q(x_t \mid x_0) = \mathcal N(\sqrt{\bar\alpha_t}\, x_0, (1 - \bar\alpha_t) I)$; at $t = 1$ nothing of the sentence is left.

**Reverse step, $x_0$-parameterised** (Li et al. 2022, on Ho et al. 2020). The network predicts $\hat x_0$ and the
sampler uses the Gaussian posterior as if $\hat x_0$ were the truth:

$$x_{s} = \frac{\sqrt{\bar\alpha_s}\,\beta_{t\to s}}{1 - \bar\alpha_t}\,\hat x_0
 + \frac{\sqrt{\alpha_{t\to s}}\,(1 - \bar\alpha_s)}{1 - \bar\alpha_t}\,x_t + \sigma_{t\to s}\, z,
 \qquad \alpha_{t\to s} = \bar\alpha_t / \bar\alpha_s,\ \beta_{t\to s} = 1 - \alpha_{t\to s}.$$

Predicting $x_0$ rather than the noise $\epsilon$ is Diffusion-LM's choice: the Clamping trick tab runs this model
beside the same recipe trained to predict $\epsilon$, and shows how much more often the $x_0$ model's one-shot
prediction rounds back to the right words.

**DDIM** (Song et al. 2021) drops the noise $z$ and moves deterministically along the predicted direction, so
fewer steps still land on words. With fewer steps than the model was trained with, the steps are spread evenly
over the training grid.

**Clamping** (Sec. 4.2 of Li et al. 2022) replaces $\hat x_0$ by the embedding of its nearest word before the
update. Without it the chain can drift between words and round to nonsense; with it every step commits to real
words. "Clamping starts at step" lets the first steps run unclamped, when the prediction is still vague.

**Noise scale** multiplies the fresh noise $\sigma z$ of each DDPM step: below 1 the chain runs colder, and fewer
words are knocked off course after they have formed: a sampler's trade, as temperature is for the token families.
On the model shipped before, which wrote its length as padding, 0.7 raised the grammatical rate from 0.25 to 0.30
with sentences a word shorter; on the shipped one, whose length is drawn first, it changes little (0.57 and 0.59
against 0.56 and 0.56, 100 samples each from seeds 0 and 1).

**The length first.** The shipped model draws each sentence's length $L$ from the training sentences' lengths
before the first step (`--length-model prior`). The network sees only those $L$ positions (the padding is hidden
from attention), never rounds them to padding, and the padding after them is padding in every frame; its latent
follows [PAD]'s own noisy path, as an anchored word's does. Diffusion-LM itself writes padding as a word on a
fixed canvas: the model shipped before did, and its sentences came out about three words short of the corpus's 18,
20-31% grammatical (100 samples from each of seeds 0-3). Drawing the length first (with rotary positions, as
the token families have), 10 minutes of training give
sentences of the corpus's length, 36-39% grammatical (seeds 0-2); training more on high noise levels, where the
sentence's plan is decided (`--time-sampling high_noise`), 35-48%. Both were trained with AdamW; the shipped
model is the second recipe trained with Muon (`--optimizer muon`) for the same 10 minutes: 52-56%.

**Reading the view.** Each token is the word the current latent $x_t$ rounds to. Its shade is the model's
confidence: the probability of its predicted word under the rounding softmax
$p(w \mid \hat x_0) \propto \exp(-\lVert \hat x_0 - \mathrm{EMB}(w) \rVert^2)$. An orange bar marks a word that
changed since the previous frame; faint boxes are padding. The plot shows the mean distance from $\hat x_0$ to its
nearest embedding: it falls as the prediction settles on words.
"""



def denoise(seed: float | None, steps: float, sampler: str, clamp: bool, clamp_start: float,
            num_samples: float, choice: str = SHIPPED, models: dict[str, str] | None = None,
            noise_scale: float = 1.0) -> Iterator[tuple[Any, Any, Any, Any, Any]]:
    """Stream the reverse chain frame by frame; at the end keep the frames and reveal the scrub slider and plot."""
    seed = whole(seed, "seed", 0, MAX_SEED, "2^63 - 1")
    ck = pick_checkpoint("continuous", choice, models)
    max_steps = min(MAX_STEPS, ck.process.T)
    steps = whole(steps, "steps", MIN_STEPS, max_steps)
    clamp_start = whole(clamp_start, "clamping start step", 0, steps)
    num_samples = whole(num_samples, "number of samples", 1, MAX_SAMPLES)
    if sampler not in SAMPLERS:
        raise UserError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    # Clamp every step that starts at or after grid time ts[start]: exactly the steps after `clamp_start`,
    # even where respacing rounds 1 - start/steps onto the training grid.
    clamp_from = float(ck.process.timesteps(steps)[clamp_start])
    if isinstance(noise_scale, bool) or not isinstance(noise_scale, (int, float)) or not 0 <= noise_scale <= 1:
        raise UserError(f"noise scale must be a number from 0 to 1, got {noise_scale!r}")
    noise_scale = float(noise_scale)
    if sampler == "ddim" and noise_scale != 1.0:
        raise UserError("noise scale applies to the ddpm sampler only (ddim adds no noise): set it to 1 or pick ddpm")
    process = ck.process.configure(sampler=sampler, clamp=bool(clamp), clamp_from=clamp_from, noise_scale=noise_scale)
    generator = torch.Generator().manual_seed(seed)

    def draw(step: Any, words: list[list[str]], notes: list[str] | None = None) -> str:
        return render_step(words, step.confidence, step.changed, index=step.index, t=step.t, num_steps=steps,
                           clamped=step.extras.get("clamped"), notes=notes)

    frames: list[str] = []
    indices: list[int] = []
    distances: list[Any] = []
    clamped: list[bool] = []
    frame_steps: list[int] = []
    recorded: list[dict[str, Any]] = []
    latents: list[Any] = []  # the first sample's latent at each recorded step, for the map
    try:
        for step in sample_steps(process, ck.model, num_samples, steps, generator=generator):
            words = [ck.tokenizer.tokens(row) for row in step.tokens]
            recorded.append(step_record(step.index, step.t, words, step.confidence, step.changed, step.calls))
            if step.latent is not None:
                latents.append(step.latent[0])
            frame = draw(step, words)
            frames.append(frame)
            frame_steps.append(step.index)
            if "clamp_distance" in step.extras:
                indices.append(step.index)
                distances.append(step.extras["clamp_distance"])
                clamped.append(bool(step.extras.get("clamped")))
            if len(frames) == 1:  # hide the previous run's scrubber and plots while this one streams
                yield frame, None, Slider(visible=False), gr.Plot(visible=False), gr.Plot(visible=False)
            else:
                yield frame, gr.skip(), gr.skip(), gr.skip(), gr.skip()
    except ValueError as e:
        raise as_user_error(e) from None
    cli = (f"--seed {seed} --steps {steps} --num {num_samples} --sampler {sampler}"
           + (f" --clamp-from {clamp_from!r}" if clamp else " --no-clamp")
           + (f" --noise-scale {noise_scale!r}" if noise_scale != 1.0 else ""))
    settings = run_settings(ck, cli, seed=seed, steps=steps, sampler=sampler, clamp=bool(clamp),
                            clamp_start_step=clamp_start, noise_scale=noise_scale, num_samples=num_samples)
    texts = [ck.tokenizer.decode(row) for row in step.tokens]
    checks = grammar_checks(ck, texts)
    frames[-1] = draw(step, words, grammar_notes(checks))  # the last frame says what the grammar makes of each sample
    paths = _paths(ck, latents, recorded)
    record = dict(paths=paths, frames=frames, frame_steps=frame_steps, indices=indices, distances=distances,
                  clamped=clamped, num_steps=steps,
                  export=dict(slug="denoise", title="Diffusion-LM denoising", settings=settings, steps=recorded,
                              labels=[f"step {i} of {steps}" for i in frame_steps],
                              result=samples_result(texts, checks)))
    last = len(frames) - 1
    yield (frames[-1], record,
           Slider(minimum=0, maximum=last, value=last, step=1, visible=True, interactive=True),
           gr.Plot(value=_figure(record, last), visible=True), gr.Plot(value=_map(record, last), visible=True))


def _paths(ck: Any, latents: list[Any], recorded: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first sample's latents projected on the PCA plane of the embedding table, for its words (not padding)."""
    if not latents:
        return None
    emb = ck.model.embedding.weight.detach().float().numpy()
    basis = pca_basis(emb)
    keep = [k for k, w in enumerate(recorded[-1]["tokens"][0]) if w != PAD] or list(range(len(latents[0])))
    xy = project(torch.stack(latents)[:, keep].float().numpy(), basis)  # (frames, n, 2)
    vocab = project(emb, basis)
    return dict(vocab=vocab.tolist(), words=ck.tokenizer.tokens(range(len(emb))), xy=xy.tolist(),
                rounded=[[r["tokens"][0][k] for k in keep] for r in recorded],
                extent=finite_extent(np.concatenate([vocab, xy.reshape(-1, 2)])))


def _map(record: dict[str, Any], frame: int) -> Any:
    paths = record.get("paths")
    if not paths:
        return None
    xy = np.asarray(paths["xy"])[: frame + 1].transpose(1, 0, 2)  # (n, frames so far, 2)
    title = f"sample 1's latent paths on the PCA plane · step {record['frame_steps'][frame]} of {record['num_steps']}"
    return denoising_map_figure(paths["vocab"], paths["words"], xy, paths["rounded"][frame], title, paths["extent"])


def _figure(record: dict[str, Any], frame: int) -> Any:
    return clamp_distance_figure(record["indices"], record["distances"], current=record["frame_steps"][frame],
                                 clamped=record["clamped"], num_steps=record["num_steps"])


def scrub(frame: float, record: dict[str, Any] | None) -> tuple[Any, Any, Any]:
    """Show a recorded frame, mark its step on the clamp-distance plot and draw the latent paths up to it."""
    if not record:
        return gr.skip(), gr.skip(), gr.skip()
    i = frame_index(frame, len(record["frames"]))
    return record["frames"][i], _figure(record, i), _map(record, i)


def _clamp_start_range(steps: float, clamp_start: float) -> Any:
    """Keep the clamping start within 0..steps as the step count moves."""
    return Slider(maximum=int(steps), value=min(int(clamp_start), int(steps)))


def tab(models: gr.State) -> None:
    """The Denoise tab: sample from the shipped continuous model and watch each step."""
    explain(DENOISE_INTRO, DENOISE_DETAILS)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            choice = model_radio("denoise-model")
            seed = Number(value=0, label="seed", minimum=0, step=1, elem_id="seed")
            steps = Slider(MIN_STEPS, MAX_STEPS, value=DEFAULT_STEPS, step=1, label="steps",
                              info="at most the model's training timesteps", elem_id="steps")
            sampler = gr.Radio(list(SAMPLERS), value="ddpm", label="sampler", elem_id="sampler")
            clamp = Checkbox(value=True, label="clamping", elem_id="clamp")
            clamp_start = Slider(0, DEFAULT_STEPS, value=0, step=1, label="clamping starts at step",
                                    info="steps after this one are clamped", elem_id="clamp-start")
            noise_scale = Slider(0, 1, value=1.0, step=0.05, label="noise scale (ddpm)",
                                    info="each step's fresh noise times this; lower: more fluent, less varied",
                                    elem_id="noise-scale")
            num_samples = Slider(1, MAX_SAMPLES, value=2, step=1, label="number of samples", elem_id="samples")
            run = gr.Button("Run", variant="primary", elem_id="run")
        with gr.Column(scale=3):
            text = gr.HTML("<i>Press Run to sample; the text appears here step by step.</i>", elem_id="denoise-text",
                           min_height=160)
            buttons = export_buttons("denoise")
            frame = Slider(0, 1, value=0, step=1, label="scrub through the recorded steps", visible=False,
                              interactive=False, elem_id="scrub")
            player = player_buttons("denoise")
            plot = gr.Plot(label="clamp distance", visible=False, elem_id="clamp-plot")
            latent_map = gr.Plot(label="latent paths on the embedding map", visible=False, elem_id="latent-map")
    record = gr.State(None, time_to_live=SESSION_TTL_SECONDS)
    steps.change(_clamp_start_range, [steps, clamp_start], clamp_start, api_visibility="private",
                 show_progress="hidden")
    event = run.click(denoise, [seed, steps, sampler, clamp, clamp_start, num_samples, choice, models, noise_scale],
                      [text, record, frame, plot, latent_map], show_progress="minimal", **SAMPLING)
    wire_export(event, record, buttons)
    frame.input(scrub, [frame, record], [text, plot, latent_map], trigger_mode="always_last", show_progress="hidden")
    wire_player(player, frame, record, [text, plot, latent_map], scrub)

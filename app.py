"""Gradio app: watch Diffusion-LM denoise text. Gradio only; the math is in `diffusion/`, the views in `visualize/`.

Run `python app.py`; the shipped checkpoint is `assets/checkpoints/continuous/` unless the environment
variable DIFFUSION_CHECKPOINT names another checkpoint folder.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import torch

from diffusion import checkpoint
from diffusion.ardm import costs_by_budget
from diffusion.sampling import sample_steps
from visualize.order import nll_budget_figure, plan_figure, step_of_position
from visualize.plots import clamp_distance_figure
from visualize.tokens import render_step

CHECKPOINT_ENV = "DIFFUSION_CHECKPOINT"  # the continuous model; other families: DIFFUSION_CHECKPOINT_<FAMILY>
CHECKPOINTS = Path(__file__).resolve().parent / "assets" / "checkpoints"
DEFAULT_CHECKPOINT = CHECKPOINTS / "continuous"
MIN_STEPS, MAX_STEPS, DEFAULT_STEPS = 10, 1000, 200
MAX_SAMPLES = 4
SAMPLERS = ("ddpm", "ddim")
MAX_SEED = 2**63 - 1
# Two runs at once keep a 2-vCPU Space responsive; every sampling handler shares this id and limit.
SAMPLING = dict(concurrency_limit=2, concurrency_id="sampling")
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]

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

**DDIM** (Song et al. 2021) drops the noise $z$ and moves deterministically along the predicted direction, so
fewer steps still land on words. With fewer steps than the model was trained with, the steps are spread evenly
over the training grid.

**Clamping** (Sec. 4.2 of Li et al. 2022) replaces $\hat x_0$ by the embedding of its nearest word before the
update. Without it the chain can drift between words and round to nonsense; with it every step commits to real
words. "Clamping starts at step" lets the first steps run unclamped, when the prediction is still vague.

**Reading the view.** Each token is the word the current latent $x_t$ rounds to. Its shade is the model's
confidence: the probability of its predicted word under the rounding softmax
$p(w \mid \hat x_0) \propto \exp(-\lVert \hat x_0 - \mathrm{EMB}(w) \rVert^2)$. An orange bar marks a word that
changed since the previous frame; faint boxes are padding. The plot shows the mean distance from $\hat x_0$ to its
nearest embedding: it falls as the prediction settles on words.
"""


@functools.lru_cache(maxsize=8)
def _load(path: str, family: str = "continuous") -> checkpoint.Checkpoint:
    """Load a checkpoint once per path; the model is shared read-only by every session."""
    return checkpoint.load(path, family=family)


def _env(family: str) -> str:
    return CHECKPOINT_ENV if family == "continuous" else f"{CHECKPOINT_ENV}_{family.upper()}"


def checkpoint_path(family: str = "continuous") -> str:
    return os.environ.get(_env(family)) or str(CHECKPOINTS / family)


def get_checkpoint(family: str = "continuous") -> checkpoint.Checkpoint:
    """The shipped (or environment-named) checkpoint of a family; a gr.Error saying how to make one if absent."""
    try:
        return _load(checkpoint_path(family), family)
    except ValueError as e:
        raise gr.Error(f"{e}. Set {_env(family)} to a folder made by "
                       f"`python -m diffusion train --family {family}`.") from None


def _whole(value: Any, name: str, low: int, high: int, high_text: str | None = None) -> int:
    """An integer in [low, high] from a UI number, or a gr.Error naming what is accepted."""
    message = f"{name} must be a whole number from {low} to {high_text or high}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise gr.Error(message)
    if isinstance(value, float) and not value.is_integer():
        raise gr.Error(message)
    if not low <= value <= high:
        raise gr.Error(message)
    return int(value)


def denoise(seed: float | None, steps: float, sampler: str, clamp: bool, clamp_start: float,
            num_samples: float) -> Iterator[tuple[Any, Any, Any, Any]]:
    """Stream the reverse chain frame by frame; at the end keep the frames and reveal the scrub slider and plot."""
    seed = _whole(seed, "seed", 0, MAX_SEED, "2^63 - 1")
    ck = get_checkpoint()
    max_steps = min(MAX_STEPS, ck.process.T)
    steps = _whole(steps, "steps", MIN_STEPS, max_steps)
    clamp_start = _whole(clamp_start, "clamping start step", 0, steps)
    num_samples = _whole(num_samples, "number of samples", 1, MAX_SAMPLES)
    if sampler not in SAMPLERS:
        raise gr.Error(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    # Clamp every step that starts at or after grid time ts[start]: exactly the steps after `clamp_start`,
    # even where respacing rounds 1 - start/steps onto the training grid.
    clamp_from = float(ck.process.timesteps(steps)[clamp_start])
    process = ck.process.configure(sampler=sampler, clamp=bool(clamp), clamp_from=clamp_from)
    generator = torch.Generator().manual_seed(seed)
    frames: list[str] = []
    indices: list[int] = []
    distances: list[Any] = []
    clamped: list[bool] = []
    frame_steps: list[int] = []
    try:
        for step in sample_steps(process, ck.model, num_samples, steps, generator=generator):
            frame = render_step([ck.tokenizer.tokens(row) for row in step.tokens], step.confidence, step.changed,
                                index=step.index, t=step.t, num_steps=steps, clamped=step.extras.get("clamped"))
            frames.append(frame)
            frame_steps.append(step.index)
            if "clamp_distance" in step.extras:
                indices.append(step.index)
                distances.append(step.extras["clamp_distance"])
                clamped.append(bool(step.extras.get("clamped")))
            if len(frames) == 1:  # hide the previous run's scrubber and plot while this one streams
                yield frame, None, gr.Slider(visible=False), gr.Plot(visible=False)
            else:
                yield frame, gr.skip(), gr.skip(), gr.skip()
    except ValueError as e:
        raise gr.Error(str(e)) from None
    record = dict(frames=frames, frame_steps=frame_steps, indices=indices, distances=distances, clamped=clamped,
                  num_steps=steps)
    last = len(frames) - 1
    yield (frames[-1], record,
           gr.Slider(minimum=0, maximum=last, value=last, step=1, visible=True, interactive=True),
           gr.Plot(value=_figure(record, last), visible=True))


def _figure(record: dict[str, Any], frame: int) -> Any:
    return clamp_distance_figure(record["indices"], record["distances"], current=record["frame_steps"][frame],
                                 clamped=record["clamped"], num_steps=record["num_steps"])


def scrub(frame: float, record: dict[str, Any] | None) -> tuple[Any, Any]:
    """Show a recorded frame and mark its step on the clamp-distance plot."""
    if not record:
        return gr.skip(), gr.skip()
    i = min(max(int(frame), 0), len(record["frames"]) - 1)
    return record["frames"][i], _figure(record, i)


def _clamp_start_range(steps: float, clamp_start: float) -> Any:
    """Keep the clamping start within 0..steps as the step count moves."""
    return gr.Slider(maximum=int(steps), value=min(int(clamp_start), int(steps)))


def _denoise_tab() -> None:
    """The Denoise tab: sample from the shipped continuous model and watch each step."""
    gr.Markdown(DENOISE_INTRO, latex_delimiters=LATEX)
    with gr.Accordion("How it works", open=False):
        gr.Markdown(DENOISE_DETAILS, latex_delimiters=LATEX)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            seed = gr.Number(value=0, label="seed", minimum=0, step=1, elem_id="seed")
            steps = gr.Slider(MIN_STEPS, MAX_STEPS, value=DEFAULT_STEPS, step=1, label="steps",
                              info="at most the model's training timesteps", elem_id="steps")
            sampler = gr.Radio(list(SAMPLERS), value="ddpm", label="sampler", elem_id="sampler")
            clamp = gr.Checkbox(value=True, label="clamping", elem_id="clamp")
            clamp_start = gr.Slider(0, DEFAULT_STEPS, value=0, step=1, label="clamping starts at step",
                                    info="steps after this one are clamped", elem_id="clamp-start")
            num_samples = gr.Slider(1, MAX_SAMPLES, value=2, step=1, label="number of samples", elem_id="samples")
            run = gr.Button("Run", variant="primary", elem_id="run")
        with gr.Column(scale=3):
            text = gr.HTML("<i>Press Run to sample; the text appears here step by step.</i>", elem_id="denoise-text",
                           min_height=160)
            frame = gr.Slider(0, 1, value=0, step=1, label="scrub through the recorded steps", visible=False,
                              interactive=False, elem_id="scrub")
            plot = gr.Plot(label="clamp distance", visible=False, elem_id="clamp-plot")
    record = gr.State(None)
    steps.change(_clamp_start_range, [steps, clamp_start], clamp_start, api_visibility="private",
                 show_progress="hidden")
    run.click(denoise, [seed, steps, sampler, clamp, clamp_start, num_samples], [text, record, frame, plot],
              show_progress="minimal", **SAMPLING)
    frame.input(scrub, [frame, record], [text, plot], trigger_mode="always_last", show_progress="hidden")


ORDER_INTRO = r"""
**Order-agnostic ARDM** writes the positions in a random order $\sigma$, each from
$p(x_{\sigma(t)} \mid x_{\sigma(<t)})$; with a budget of $k < D$ steps, a dynamic programme chooses which
consecutive runs of the order to write **together**, minimising the expected NLL $\sum_{\text{groups}} (t - s)\, L_s$.
"""

ORDER_DETAILS = r"""
**Training** (Hoogeboom et al. 2022, Eq. 6). Draw $t \sim \mathcal U\{1..D\}$ and an order $\sigma$; show the
network the first $t - 1$ positions of $\sigma$, mask the rest, and score them all at once:
$$\log p(x) \ge D\; \mathbb E_{t}\Big[\tfrac{1}{D - t + 1} \sum_{k \notin \sigma(<t)} \log p(x_k \mid x_{\sigma(<t)})\Big].$$

**The plan.** $L_t$ is the expected NLL of one position written when $t - 1$ are known, measured on held-out
text after training. Writing steps $s, \dots, t-1$ of the order in one network call costs $(t - s) L_s$ (they are
all predicted from what was known at $s$). Among all ways to split the $D$ steps into $k$ groups, the dynamic
programme finds the cheapest in $O(k D^2)$. The curve shows that cost, in bits per token, for every budget;
flat lines are the left-to-right model's exact NLL and the corpus's true entropy.

**Reading the view.** Dotted boxes are positions not yet written; words are shaded by the model's
probability of them; orange marks what the last step wrote. The grid shows which positions each step wrote.
"""
MAX_ORDER_SAMPLES = 4


def _references() -> dict[str, float]:
    """Flat lines for the NLL curve: the ar model's recorded NLL and the corpus's true entropy, when known."""
    out: dict[str, float] = {}
    for family, key, name in (("ar", "nll_bits_per_token", "left-to-right (exact)"),
                              ("ardm", "entropy_bits_per_token", "true entropy")):
        try:
            meta = _load(checkpoint_path(family), family).meta
        except ValueError:
            continue
        for entry in meta.get("evaluation", {}).values():
            if entry.get(key) is not None:
                out[name] = float(entry[key])
                break
    return out


def order_agnostic(seed: float | None, budget: float, temperature: float,
                   num_samples: float) -> Iterator[tuple[Any, Any, Any, Any]]:
    """Stream ARDM's planned parallel decoding; then the plan grid, the NLL curve and the scrubber."""
    seed = _whole(seed, "seed", 0, MAX_SEED, "2^63 - 1")
    ck = get_checkpoint("ardm")
    D = ck.config.seq_len
    budget = _whole(budget, "steps", 1, D)
    num_samples = _whole(num_samples, "number of samples", 1, MAX_ORDER_SAMPLES)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
        raise gr.Error(f"temperature must be a number from 0 to 2, got {temperature!r}")
    process = ck.process.configure(temperature=float(temperature))
    sizes = process.plan(budget)
    generator = torch.Generator().manual_seed(seed)
    frames: list[str] = []
    last = None
    for step in sample_steps(process, ck.model, num_samples, budget, generator=generator, every=1):
        frame = render_step([ck.tokenizer.tokens(row) for row in step.tokens], step.confidence, step.changed,
                            index=step.index, t=step.t, num_steps=budget)
        frames.append(frame)
        last = step
        yield frame, gr.skip(), gr.skip(), gr.skip()
    tokens = ck.tokenizer.tokens(last.tokens[0])
    written = step_of_position(last.extras["order"][0], sizes)
    plan = plan_figure(written, tokens, budget)
    curve = None
    if process.loss_components is not None:
        tokens_per_sequence = ck.meta.get("calibration", {}).get("tokens_per_sequence", D)
        bits = costs_by_budget(process.loss_components) / math.log(2) / tokens_per_sequence
        curve = nll_budget_figure(list(range(1, D + 1)), bits.tolist(), _references(), current=budget)
    record = dict(frames=frames, written=written, tokens=tokens, num_steps=budget)
    yield (frames[-1], record, plan, curve if curve is not None else gr.skip())


def order_scrub(frame: float, record: dict[str, Any] | None) -> tuple[Any, Any]:
    if not record:
        return gr.skip(), gr.skip()
    i = min(max(int(frame), 0), len(record["frames"]) - 1)
    return record["frames"][i], plan_figure(record["written"], record["tokens"], record["num_steps"], current=i or None)


def _length(family: str, default: int = 64) -> int:
    """The model length of a family's checkpoint from its config.json alone (sliders' ranges), without loading it."""
    try:
        raw = json.loads((Path(checkpoint_path(family)) / "config.json").read_text(encoding="utf-8"))
        return int(raw.get("config", raw)["seq_len"])
    except (OSError, ValueError, KeyError, TypeError):
        return default  # no usable checkpoint yet: the handler will say so when run


def _order_tab() -> None:
    """The Order-agnostic tab: ARDM's reveal order, its planned steps and NLL against budget."""
    D = _length("ardm")
    gr.Markdown(ORDER_INTRO, latex_delimiters=LATEX)
    with gr.Accordion("How it works", open=False):
        gr.Markdown(ORDER_DETAILS, latex_delimiters=LATEX)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            seed = gr.Number(value=0, label="seed", minimum=0, step=1, elem_id="order-seed")
            budget = gr.Slider(1, D, value=max(1, D // 4), step=1, label="steps (budget)",
                               info="1 = everything at once; the length = one position per step", elem_id="budget")
            temperature = gr.Slider(0, 2, value=1.0, step=0.05, label="temperature", elem_id="order-temperature")
            num_samples = gr.Slider(1, MAX_ORDER_SAMPLES, value=1, step=1, label="number of samples",
                                    elem_id="order-samples")
            run = gr.Button("Run", variant="primary", elem_id="order-run")
        with gr.Column(scale=3):
            text = gr.HTML("<i>Press Run to watch the positions being written.</i>", elem_id="order-text",
                           min_height=120)
            frame = gr.Slider(0, D, value=0, step=1, label="scrub through the steps", elem_id="order-scrub")
            plan = gr.Plot(label="planned steps", elem_id="order-plan")
            curve = gr.Plot(label="NLL against budget", elem_id="order-curve")
    record = gr.State(None)
    run.click(order_agnostic, [seed, budget, temperature, num_samples], [text, record, plan, curve],
              show_progress="minimal", **SAMPLING).then(
        lambda r: gr.Slider(maximum=len(r["frames"]) - 1 if r else 1, value=len(r["frames"]) - 1 if r else 0),
        record, frame, api_visibility="private", show_progress="hidden")
    frame.input(order_scrub, [frame, record], [text, plan], trigger_mode="always_last", show_progress="hidden")


def build_demo() -> gr.Blocks:
    """The whole app; one function per tab so more tabs slot in beside Denoise."""
    with gr.Blocks(title="Text diffusion lab") as demo:
        gr.Markdown("# Text diffusion lab")
        with gr.Tabs():
            with gr.Tab("Denoise"):
                _denoise_tab()
            with gr.Tab("Order-agnostic"):
                _order_tab()
    return demo


if __name__ == "__main__":
    build_demo().queue().launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))

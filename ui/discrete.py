"""The Discrete diffusion tab (SEDD): tokens masked or replaced as t grows, and the reverse chain token by token."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import gradio as gr
import torch

from diffusion import schedules, shipped
from diffusion.families import configure
from diffusion.limits import MAX_SENTENCE_CHARS
from diffusion.sampling import sample_steps
from visualize.plots import discrete_schedule_figure, quality_vs_steps_figure
from visualize.player import empty_value, player_value
from visualize.tokens import render_tokens

from .cache import RUNS, cached
from .common import (MAX_SEED, SESSION_TTL_SECONDS, SHIPPED, explain, export_buttons, model_radio,
                     pick_checkpoint, wire_export)
from .glossary import TIME
from .inputs import Number, Slider, UserError, as_user_error, text_input, whole
from .order import ORDER_CHOICES
from .recorded import paragraph, recorded, sentence
from . import rates
from .player import player
from .run import TOP_K, Run, describe, grammar_checks, padding, stream

GRAPHS = {shipped.SHIPPED[name].variant: name for name in shipped.names("sedd")}  # graph -> shipped checkpoint
SAMPLERS = ("tweedie", "euler", "any-order")
MAX_STEPS, MAX_SAMPLES = 1024, 4
DEFAULT_STEPS = {"absorb": 1024, "uniform": 64, "any-order": 40}  # SEDDProcess.default_steps (any-order: the length)
MAX_REMASK = 0.1  # ReMDM's eta on the slider; past it the chain spends its steps rewriting
# A sentence of the built-in grammar (the tests check it parses).
EXAMPLE = "punter is a cafe in the riverside area not far from the lighthouse that is inexpensive and is adults only ."

INTRO = r"""
**Discrete diffusion**: corrupt the tokens instead of the embeddings. Each word becomes {{[MASK]}} with a probability
that grows with $t$ (about $t$ itself here), or, with {{uniform noise}}, a random word; the network learns to put the
words back.
"""

DETAILS = r"""
**From images to text.** In {{DDPM}} every pixel gets a little Gaussian noise. A {{token}} has no "slightly noisy"
version, so discrete diffusion uses a {{categorical corruption}}: at time $t$ each token is kept, or swapped for
another, with probabilities set by a {{transition matrix}}:
$$q(x_t^i = y \mid x_0^i) = \big[\exp\big(\bar\sigma(t)\, Q\big)\big]_{x_0^i,\; y}.$$
- $Q$: how fast each token turns into each other one; $\bar\sigma(t)$: the total noise by time $t$, set by the
  {{schedule}}, as $\bar\alpha$ is for images.
- *Absorbing* $Q$ (the shipped *absorb* model): a token can only turn into `[MASK]`, an {{absorbing state}}; it is
  masked by time $t$ with probability $m(t) = 1 - e^{-\bar\sigma(t)}$, about $t$ with this model's schedule.
- *Uniform* $Q$: a token can turn into any token, each as likely.

**The one equation (absorbing).** With `[MASK]` as the absorbing state, the likelihood bound becomes a weighted
{{masked LM}} {{cross-entropy}}: mask each word with probability $m(t)$, ask the network for the hidden words, and
weight by how fast the masking grows:
$$\mathcal L = \mathbb E_{t \sim \mathcal U(0, 1)}\Big[\frac{m'(t)}{m(t)} \sum_{i:\ x_t^i = \texttt{[MASK]}}
-\log p_\theta\big(x_0^i \mid x_t\big)\Big].$$
- {{$x_0^i$|x₀}}: the clean word at position $i$; {{$x_t$|xₜ}}: the sentence with some words masked;
- $p_\theta(\cdot \mid x_t)$: the network's softmax over words at a masked position;
- $m'(t)/m(t)$: the weight, about $1/t$ here: when few words are masked, each counts more.

This is the loss {{MDLM}} (Sahoo et al. 2024) and {{LLaDA}} (Nie et al. 2025) train. The shipped model is {{SEDD}}:
it trains the same network by score entropy (below), whose best answer is the same one (Ou et al. 2024).
""" + TIME + r"""
**From the paper: SEDD** (Lou, Meng & Ermon 2024).
- *The concrete score.* In image diffusion the {{score}} is the direction in which the data gets likelier. Text has
  no directions, so the network predicts the {{concrete score}} instead: for each position and each word $y$, how
  much likelier the sentence would be with $y$ there, $s_\theta(x_t)_y \approx p_t(y) / p_t(x_t)$. The forward
  process is a continuous-time {{Markov chain}} with rates $\sigma(t)\,Q$; the reverse chain moves a token to $y$ at
  rate $\sigma(t)\, Q(y, x)\, s_\theta(x)_y$.
- *{{Score entropy|score entropy}}* (Eq. 9). For every position and every state $y \ne x_t$ that feeds $x_t$,
  $$\ell = \sum_{y \ne x_t} Q(y, x_t)\Big[s_y - r_y \log s_y + r_y(\log r_y - 1)\Big],\qquad
  r_y = \frac{p_t(y \mid x_0)}{p_t(x_t \mid x_0)},$$
  which is $\ge 0$ and $0$ exactly at $s = r$. Weighted by $\sigma(t)$ and integrated over $t$ it bounds the
  {{NLL}} $-\log p(x_0)$. With absorbing noise the true ratio at a masked position is
  $p(x_0^i = y \mid x_t) / (e^{\bar\sigma(t)} - 1)$: the scores are a masked LM's softmax, scaled.
- *Sampling.* An {{Euler step}} moves a token to $y$ with probability $\Delta t\,\sigma(t)\,Q(y, x)\,s_y$.
  *{{Tweedie}} τ-leaping* takes the exact reverse of a step of size $\Delta\bar\sigma$ given the scores,
  $p(x_s = y \mid x_t) = \big[e^{-\Delta\bar\sigma Q^\top} s\big]_y\, e^{\Delta\bar\sigma Q}(y, x_t)$, and needs
  fewer steps. A run of $T$ steps takes $T - 1$ of them from $t = 1$ down to a small $\epsilon$, then a last
  denoising step to $t = 0$ that forbids `[MASK]`.
- *Why Euler and Tweedie agree here.* With the absorbing graph and the log-linear schedule,
  $e^{\bar\sigma(t)} - 1 = ct/(1-ct)$ and $\sigma(t) = c/(1-ct)$ ($c = 1 - 10^{-3}$), so both samplers unmask a
  position between $t$ and $s$ with probability $(t - s)/t$ and draw its word from the same distribution: the same
  {{seed}} gives the same sentences. With the uniform graph they differ.
- *Steps that write nothing are free.* On the absorbing graph, whether a masked position is unmasked between $t$
  and $s$ does not depend on the network (the chance is $(t - s)/t$ here); only which word it becomes does. So the
  sampler draws the unmasking first and makes a {{network call}} only for the sentences that unmask something. With
  many more steps than words (the default), most steps unmask nothing: a run costs about one call per word, and two
  words seldom share a step, which the grammatical rate rewards. The uniform graph moves every token at every step,
  so each step is a call: any token may be wrong at any time, and every step must find the wrong ones as well as
  what replaces them.
- *{{The length first|length first}}.* The shipped absorbing model draws a sentence's length from the training
  sentences' lengths, and runs the chain on those positions only: padding is never noised and is hidden from
  attention, and $-\log p(L)$ joins the bound. On a fixed canvas with {{`[PAD]`|[PAD]}} a word like any other (as
  the uniform model is trained) half of every batch is padding.
- *{{Remasking|remasking}}* (ReMDM, Wang et al. 2025). An absorbing chain never takes a word back: one written early,
  from a nearly all-masked sentence, stays even when the words around it later disagree. With remasking
  $\eta > 0$ each step may mask a written word again, with probability $\min(\eta, (1 - \alpha_s)/\alpha_t)$
  ($\alpha$ the share of written tokens), and unmasks a little more to keep that share on schedule; the network
  writes it again with the context it has now. Words are now written several times over, so a remasking chain makes
  more network calls.
- *Any order* (Ou et al. 2024). Since the network's softmax at a masked position is the clean word's distribution
  given the words shown, which is what an {{order-agnostic}} model predicts, the same network can write one word a
  step in any order, as the *Order-agnostic* tab does, asked at the time whose masking probability is the share still
  masked. In a random order that is the chain with infinitely many steps. With *{{most probable first}}* (MaskGIT's
  rule) it writes one word a step where the network is surest, a little less varied. With fewer steps than words it
  writes a planned number of words a step (ARDM's {{plan}} on this network).

**Reading the view.**
- *Forward*: the sentence noised at each $t$ (Play moves $t$ from 0 to 1); the same seed hits the same positions at
  every $t$. The plot beside it is the chance that a token has been hit by time $t$.
- *Reverse*: dotted boxes are masked tokens; a word's shade is the probability the scores give it (its
  {{confidence}}); orange marks the tokens the last step changed; the frame title counts the network calls so far.
- *Right-hand plot*: recorded evaluations of the shipped model: the {{grammatical rate}} against the number of
  steps, one line per sampler.
"""


def details() -> str:
    """The tab's "More" text, with the figures the shipped checkpoints recorded (ui/recorded.py)."""
    absorb, uniform = GRAPHS["absorb"], GRAPHS["uniform"]
    nll = "nll_bits_per_token"
    exact = recorded(absorb, "nll_by_order") or {}
    return DETAILS + paragraph(
        "Measured on the shipped checkpoints",
        sentence("Absorbing, Tweedie at 1024 steps: {plain:.0%} of the samples are sentences of the grammar; with "
                 "remasking η = 0.02, {remask:.0%}.",
                 plain=recorded(absorb, steps=1024, sampler="tweedie", remask=0),
                 remask=recorded(absorb, steps=1024, sampler="tweedie", remask=0.02)),
        sentence("Any order, 40 steps: {random:.0%} in a random order, {confident:.0%} most probable first.",
                 random=recorded(absorb, steps=40, sampler="any-order", order=None),
                 confident=recorded(absorb, steps=40, sampler="any-order", order="confident")),
        sentence("Uniform, Tweedie at 64 steps: {rate:.0%}.", rate=recorded(uniform, steps=64, sampler="tweedie")),
        sentence("Bounds: absorbing {a:.3f} bits per word, uniform {u:.3f}.", a=recorded(absorb, nll),
                 u=recorded(uniform, nll)),
        sentence("The absorbing network read in a fixed order, exactly: {ltr:.3f} left to right, {rtl:.3f} right to "
                 "left.", ltr=exact.get("left-to-right"), rtl=exact.get("right-to-left")))


def _checkpoint(graph: str, choice: str = SHIPPED, models: dict[str, str] | None = None):
    """The shipped model of `graph`, or the session's own sedd model (whose graph is its own)."""
    if graph not in GRAPHS:
        raise UserError(f"graph must be one of {', '.join(GRAPHS)}, got {graph!r}")
    return pick_checkpoint("sedd", choice, models, GRAPHS[graph], how=f" --graph {graph}")


FORWARD_TIMES = [k / 50 for k in range(51)]  # the forward player's frames: t = 0, 0.02, ..., 1


def forward_view(graph: str, sentence: str, t: float, seed: float | None, choice: str = SHIPPED,
                 models: dict[str, str] | None = None) -> tuple[dict[str, Any], Any]:
    """The sentence noised at every t of FORWARD_TIMES (the same seed hits the same tokens at every t), for the
    player, opening at the frame nearest `t`; and the schedule, whose cursor follows the player."""
    seed = whole(seed, "seed", 0, MAX_SEED, "2^63 - 1")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 1:
        raise UserError(f"t must be a number from 0 to 1, got {t!r}")
    ck = _checkpoint(graph, choice, models)
    text = text_input(sentence, "sentence", MAX_SENTENCE_CHARS).strip()
    if not text:
        raise UserError("type a sentence to noise (words of the built-in corpus; others show as [UNK])")
    try:
        ids = ck.tokenizer.batch([text], ck.config.seq_len)  # (1, L)
    except ValueError as e:
        raise as_user_error(e) from None
    words = int((ids != ck.tokenizer.pad_id).sum())
    by_length = getattr(ck.process, "by_length", False)  # the length is drawn first: padding is never noised
    frames = []
    for s_ in FORWARD_TIMES:
        noisy = ck.process.add_noise(ids, float(s_), torch.Generator().manual_seed(seed))
        tokens = ck.tokenizer.tokens(noisy[0])
        changed = (noisy != ids)[0]
        hit = int(changed.sum())
        count = (f"{hit} of {words} word positions hit (padding is never noised)" if by_length
                 else f"{hit} of {ids.shape[1]} positions hit ({words} words)")
        frames.append([f'<div style="font-weight:600;margin-bottom:0.4em">t = {s_:.2f} · {count}</div>'
                       + render_tokens(tokens, [1.0] * len(tokens), changed.tolist(),
                                       pad="hide" if by_length else "compact")])
    start = min(range(len(FORWARD_TIMES)), key=lambda k: abs(FORWARD_TIMES[k] - float(t)))
    value = player_value(frames, [f"t = {s_:.2f}" for s_ in FORWARD_TIMES], start=start, linked=("sedd-schedule",),
                         fps=FORWARD_FPS, padding=not by_length)
    curves = schedules.discrete_curves(ck.config.noise)
    return value, discrete_schedule_figure(curves, FORWARD_TIMES[start], ck.config.graph, frames=FORWARD_TIMES)


FORWARD_FPS = 4.0  # t from 0 to 1 in about 12 s


def _quality(ck) -> Any:
    rows = [dict(entry) for entry in ck.meta.get("evaluation", {}).values() if entry.get("sampler") in SAMPLERS]
    for row in rows:  # a remasking chain, or another order, is a sampler of its own on the plot
        if row.get("remask"):
            row["sampler"] = f"{row['sampler']} + remask {row['remask']:g}"
        if row.get("order") not in (None, "random"):
            row["sampler"] = f"{row['sampler']}, {row['order']}"
    return quality_vs_steps_figure(rows)


def sedd_denoise(graph: str, seed: float | None, steps: float, sampler: str,
                 num_samples: float, choice: str = SHIPPED,
                 models: dict[str, str] | None = None, remask: float = 0.0,
                 order: str = "random") -> Iterator[tuple[Any, Any, Any, Any]]:
    """Stream SEDD's reverse chain (or, any-order, the network read as an autoregressive model, one word a step, in
    `order`); at the end keep the Run for the scrubber and draw quality against steps."""
    seed = whole(seed, "seed", 0, MAX_SEED, "2^63 - 1")
    steps = whole(steps, "steps", 1, MAX_STEPS)
    num_samples = whole(num_samples, "number of samples", 1, MAX_SAMPLES)
    if isinstance(remask, bool) or not isinstance(remask, (int, float)) or not 0 <= remask <= MAX_REMASK:
        raise UserError(f"remasking eta must be a number from 0 to {MAX_REMASK}, got {remask!r}")
    ck = _checkpoint(graph, choice, models)
    if sampler == "any-order" and steps > ck.config.seq_len:
        raise UserError(f"the any-order sampler writes at least one position a step: steps must be from 1 to the "
                       f"model's length {ck.config.seq_len}, got {steps}")
    any_order = sampler == "any-order"
    run = Run(f"sedd-{ck.config.graph}", f"SEDD ({ck.config.graph}) denoising", steps, marks=("calls",),
              style=dict(guesses=True, commit=True, pad=padding(ck)))

    def start() -> Any:
        # the order is the any-order sampler's; the package names the orders it accepts
        process = configure(ck.process, sampler=sampler, remask=float(remask), order=order if any_order else None)
        run.settings = describe(ck, dict(process=process, steps=steps, seed=seed, num_samples=num_samples),
                                graph=ck.config.graph, seed=seed, steps=steps, sampler=sampler, remask=float(remask),
                                num_samples=num_samples, **({"order": order} if any_order else {}))
        return sample_steps(process, ck.model, num_samples, steps, generator=torch.Generator().manual_seed(seed),
                            top_k=TOP_K)

    yield from stream(run, start, ck.tokenizer, hide=(None, gr.skip()))
    texts = [ck.tokenizer.decode(row) for row in run.last[0].tokens]
    checks = grammar_checks(ck, texts)
    run.finish([texts], None if checks is None else [checks], note=True)
    yield run.value(), run, gr.Plot(value=_quality(ck), visible=True)


def sampler_changed(sampler: str, graph: str, choice: str = SHIPPED,
                    models: dict[str, str] | None = None) -> tuple[Any, Any, Any]:
    """Remasking back to 0 unless Tweedie is picked (remasking follows the exact posterior, as Tweedie does); the
    order shown for the any-order sampler only, with the steps at one word a step (the model's length); the graph's
    default steps when leaving it."""
    remask = gr.skip() if sampler == "tweedie" else Slider(value=0)
    if sampler == "any-order":
        try:
            length = _checkpoint(graph, choice, models).config.seq_len
        except gr.Error:
            length = DEFAULT_STEPS["any-order"]
        return remask, Slider(value=length), gr.Radio(visible=True)
    return remask, Slider(value=DEFAULT_STEPS.get(graph, DEFAULT_STEPS["uniform"])), gr.Radio(visible=False)


def graph_steps(graph: str) -> tuple[Any, Any, Any]:
    """The steps slider at the picked graph's default, remasking back to 0 where the graph has none, and the sampler
    back to one the graph runs (the any-order reading is the absorbing graph's alone)."""
    if graph == "absorb":
        return Slider(value=DEFAULT_STEPS["any-order"]), gr.skip(), gr.Radio(value="any-order")
    return Slider(value=DEFAULT_STEPS.get(graph, DEFAULT_STEPS["uniform"])), Slider(value=0), gr.Radio(value="tweedie")


def _first_view(graph: str, sentence: str, t: float, seed: float | None, choice: str = SHIPPED,
                models: dict[str, str] | None = None) -> tuple[Any, Any]:
    """The forward view on page load; without a checkpoint a note instead of an error toast."""
    try:
        return forward_view(graph, sentence, t, seed, choice, models)
    except gr.Error as e:
        return empty_value(f"<i>{html.escape(e.message)}</i>"), None


def tab(models: gr.State) -> dict[str, Any]:
    """Build the tab; returns the page-load event (fn, inputs, outputs) that draws the forward view."""
    explain(INTRO, details())
    with gr.Row():
        graph = gr.Radio(list(GRAPHS), value="absorb", label="graph", elem_id="sedd-graph",
                         info="absorbing: tokens become [MASK]; uniform: tokens become any token "
                              "(a model trained here keeps its own graph)")
        choice = model_radio("sedd-model", "sedd")
    gr.Markdown("### Reverse: writing a sentence, starting from every word masked")
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            seed = Number(value=0, label="seed", minimum=0, step=1, elem_id="sedd-seed")
            steps = Slider(1, MAX_STEPS, value=DEFAULT_STEPS["any-order"], step=1, label="steps", elem_id="sedd-steps",
                              info="absorbing: steps that unmask nothing cost nothing")
            sampler = gr.Radio(list(SAMPLERS), value="any-order", label="sampler", elem_id="sedd-sampler",
                               info="any-order (absorbing): the network read as an autoregressive model, one word a "
                                    "step, as ARDM writes")
            order = gr.Radio(list(ORDER_CHOICES), value="confident", label="order (any-order sampler)", visible=True,
                             elem_id="sedd-order", info="most probable first writes where the network is surest, "
                             "as MaskGIT and LLaDA decode: more grammatical, less varied; random is the exact "
                             "ancestral sampler: it draws from the model itself")
            remask = Slider(0, MAX_REMASK, value=0, step=0.005, label="remasking η (absorbing, tweedie)",
                               info="ReMDM: the most a step may mask a written word again; 0.02 rewrites the "
                                    "words written early (more network calls)", elem_id="sedd-remask")
            num_samples = Slider(1, MAX_SAMPLES, value=2, step=1, label="number of samples", elem_id="sedd-samples")
            run = gr.Button("Run", variant="primary", elem_id="sedd-run")
            rates.rate_line(rates.discrete, [graph, steps, sampler, num_samples, choice, remask, order], "sedd-rate")
        with gr.Column(scale=3):
            text = player("sedd-text", "<i>Press Run to watch the tokens being written.</i>")
            buttons = export_buttons("sedd")
            quality = gr.Plot(label="grammatical rate against steps", elem_id="sedd-quality", visible=False)
    gr.Markdown("### Forward: corrupting a sentence, as training does")
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            sentence = gr.Textbox(EXAMPLE, label="sentence", lines=2, elem_id="sedd-sentence",
                                  max_length=MAX_SENTENCE_CHARS)
            noise_seed = Number(value=0, label="seed", minimum=0, step=1, elem_id="sedd-noise-seed")
            t = gr.Number(0.5, visible=False)  # the frame the forward player opens at
        with gr.Column(scale=3):
            noised = player("sedd-forward", "<i>Loading the sentence…</i>", 90)
            schedule = gr.Plot(label="schedule", elem_id="sedd-schedule")
    record = gr.State(None, time_to_live=SESSION_TTL_SECONDS)
    forward_inputs = [graph, sentence, t, noise_seed, choice, models]
    gr.on([sentence.submit, noise_seed.submit, graph.change, choice.change], forward_view, forward_inputs,
          [noised, schedule], trigger_mode="always_last", show_progress="hidden", api_name="sedd_forward")
    graph.change(graph_steps, graph, [steps, remask, sampler], api_visibility="private", show_progress="hidden")
    sampler.change(sampler_changed, [sampler, graph, choice, models], [remask, steps, order], api_visibility="private",
                   show_progress="hidden")
    event = run.click(cached(sedd_denoise), [graph, seed, steps, sampler, num_samples, choice, models, remask, order],
                      [text, record, quality], show_progress="minimal", **RUNS)
    wire_export(event, record, buttons)
    return dict(fn=cached(_first_view), inputs=forward_inputs, outputs=[noised, schedule], **RUNS)

"""The Order-agnostic tab: ARDM's reveal order, the planned parallel steps, and NLL against the step budget."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import gradio as gr
import torch

from diffusion.anyorder import AnyOrderProcess, AnyOrderView
from diffusion.families import configure
from diffusion.plan import ORDERS
from diffusion.sampling import sample_steps
from visualize.order import nll_budget_figure, plan_figure, step_of_position
from visualize.player import row_band

from .cache import RUNS, cached
from .common import (MAX_SEED, SESSION_TTL_SECONDS, SHIPPED, checkpoint_path, explain, export_buttons, load,
                     model_length, model_radio, pick_checkpoint, wire_export)
from .glossary import TIME
from .inputs import Number, Slider, UserError, whole
from .recorded import paragraph, recorded, sentence
from . import rates
from .player import player
from .run import TOP_K, Run, describe, grammar_checks, padding, stream

ORDER_INTRO = r"""
**Order-agnostic**: write the sentence one position at a time, in a random order, each word drawn given the words
already written ({{ARDM}}). With fewer steps than words, a {{plan}} decides how many words each step writes together.
"""

ORDER_DETAILS = r"""
**The one equation.** An {{order-agnostic}} model is trained to fill any position given any set of written ones
(Hoogeboom et al. 2022, Eq. 6): pick a random order $\sigma$ and a point $j$ in it, show the first $j - 1$ positions
of $\sigma$, and score every hidden one at once,
$$\log p(x) \;\ge\; D\; \mathbb E_{j}\Big[\tfrac{1}{D - j + 1} \sum_{k \notin \sigma(<j)} \log p\big(x_k \mid
x_{\sigma(<j)}\big)\Big].$$
- $D$: the number of positions; $\sigma$: a random order of them; $\sigma(<j)$: the first $j - 1$ positions of the
  order, already written;
- $p(x_k \mid x_{\sigma(<j)})$: the network's softmax at a hidden position $k$, given the written words;
- the right side is an {{ELBO}}: it is never above $\log p(x)$. It is the masked-LM loss of the *Discrete
  diffusion* tab, with one position's worth of masking per step.
""" + TIME + r"""
Here $t$ is the share of positions not yet written, $t = 1 - (j - 1)/D$, so a step that writes many words jumps
further.

**From the paper.**
- *The plan.* $L_j$ is the expected {{NLL}} of one position written when $j - 1$ are known, measured on held-out
  text after training. Writing positions $i, \dots, j - 1$ of the order in one network call costs $(j - i)\, L_i$
  (all are predicted from what was known at $i$). Among all ways to split the $D$ positions into $k$ groups, a dynamic
  programme finds the cheapest, in $O(k D^2)$.
- *{{The length first|length first}}.* The shipped model draws a sentence's length $L$ first, from the training
  sentences' lengths, then writes only those $L$ positions; padding is hidden from attention and never predicted,
  so $-\log p(L)$ joins the bound. The plan works on the share of the sentence written, so a budget of $k$ steps
  writes each sentence in $k$ steps whatever its length; with more steps than words, some steps write nothing (and,
  after the first, make no {{network call}}).
- *The order.* The paper writes positions in a uniformly random order, which draws exactly from the model. With
  *{{most probable first}}* (MaskGIT's rule, Chang et al. 2022), every hidden position gets a draw and a step keeps
  those the network gave the highest probability: unlikely words wait for more context. One position a step, that
  raises the {{grammatical rate}}; it is a different sampler, not a better model, and a little less varied. With
  several positions a step it can do worse than the random order: neighbours are each sure of the same word, and
  drawn together they repeat it.
- *A fixed order.* An order-agnostic model is an {{autoregressive}} model in every order at once, so it can write
  *left to right* or *right to left* and then draws exactly from the model in that order. In one order the
  likelihood is exact, one network call per position (the points on the curve, where recorded), beside the ELBO
  averaged over random orders, and the `ar` model's NLL in the one order it learnt.
- *Another network.* *SEDD absorbing, read as ARDM* runs the same planner and orders on the shipped SEDD network:
  at a masked position its softmax is the clean word's distribution given the words shown (Ou et al. 2024), so it
  too is an autoregressive model in every order. The hollow points on the curve are that network.

**Reading the view.**
- *The frames*: dotted boxes are positions not yet written; words are shaded by the model's probability of them
  (their {{confidence}}); orange marks what the last step wrote.
- *Planned steps*: which positions each step wrote.
- *NLL against budget*: the plan's cost in {{bits per token}} for every step budget; flat lines are the
  left-to-right model's exact NLL and the corpus's true {{entropy}}.
"""
MAX_ORDER_SAMPLES = 4
# (label, value) of the networks the tab runs: ARDM's, or an absorbing SEDD's read as one (diffusion/anyorder.py)
NETWORKS = (("ARDM (trained for any order)", "ardm"), ("SEDD absorbing, read as ARDM", "sedd-absorb"))
# (label, value) of each order, for the radios that pick one (here and the Discrete diffusion tab's any-order sampler)
ORDER_CHOICES = (("random (the model's own distribution)", "random"), ("left to right", "left-to-right"),
                 ("right to left", "right-to-left"), ("most probable first (as MaskGIT, LLaDA)", "confident"))


def details() -> str:
    """The tab's "More" text, with the figures the shipped checkpoints recorded (ui/recorded.py)."""
    nll = "nll_bits_per_token"
    at_40 = {order: recorded("ardm", steps=40, temperature=1.0, order=order) for order in ORDERS}
    return ORDER_DETAILS + paragraph(
        "Measured on the shipped checkpoints",
        sentence("ARDM's bound: {ardm:.3f} bits per word, against the left-to-right model's exact {ar:.3f}.",
                 ardm=recorded("ardm", nll), ar=recorded("ar", nll)),
        sentence("Grammatical samples at 40 steps: {random:.0%} in a random order, {confident:.0%} most probable "
                 "first, {ltr:.0%} left to right, {rtl:.0%} right to left.", random=at_40["random"],
                 confident=at_40["confident"], ltr=at_40["left-to-right"], rtl=at_40["right-to-left"]),
        sentence("At 10 steps, planned: ARDM {ardm:.0%}, SEDD read as ARDM {sedd:.0%}.",
                 ardm=recorded("ardm", steps=10, temperature=1.0, order="random"),
                 sedd=recorded("sedd-absorb", steps=10, sampler="any-order", order=None)))


def _references() -> dict[str, float]:
    """Flat lines for the NLL curve: the ar model's recorded NLL and the corpus's true entropy, when known."""
    out: dict[str, float] = {}
    for family, key, name in (("ar", "nll_bits_per_token", "ar, left to right (exact)"),
                              ("ardm", "entropy_bits_per_token", "true entropy")):
        try:
            meta = load(checkpoint_path(family), family).meta
        except ValueError:
            continue
        for entry in meta.get("evaluation", {}).values():
            if entry.get(key) is not None:
                out[name] = float(entry[key])
                break
    return out


def _fixed_orders(meta: dict[str, Any], who: str = "this model") -> dict[str, float]:
    """A model's exact NLL in each fixed order, as `evaluate` recorded it (none for a model trained here)."""
    for entry in meta.get("evaluation", {}).values():
        if entry.get("nll_by_order"):
            return {f"{who}, {name.replace('-', ' ')}": float(v) for name, v in entry["nll_by_order"].items()}
    return {}


def _shipped_orders(network: str) -> dict[str, float]:
    """The other shipped network's exact NLL in each fixed order (ARDM's beside SEDD's, SEDD's beside ARDM's): the
    same kind of network (the words shown, the rest masked), trained by another loss."""
    family = "sedd" if network == "sedd-absorb" else "ardm"
    try:
        meta = load(checkpoint_path(network), family).meta
    except ValueError:
        return {}
    return _fixed_orders(meta, network)


def _network(network: str, choice: str, models: dict[str, str] | None) -> tuple[Any, Any, Any]:
    """(checkpoint, ARDM process, model) of the network the tab runs: ARDM's own, or an absorbing SEDD's read as one."""
    if network == "ardm":
        ck = pick_checkpoint("ardm", choice, models)
        return ck, ck.process, ck.model
    ck = pick_checkpoint("sedd", choice, models, "sedd-absorb", how=" --graph absorb")
    if not ck.process.orders_exact:
        raise UserError("this SEDD model uses the uniform graph, whose scores are no conditionals of the clean words; "
                       "only an absorbing one reads as ARDM (train one with graph absorb)")
    process, model = AnyOrderProcess(ck.process).ardm, AnyOrderView(ck.process, ck.model)
    return ck, process, model


def order_agnostic(seed: float | None, budget: float, temperature: float,
                   num_samples: float, choice: str = SHIPPED,
                   models: dict[str, str] | None = None, order: str = "random",
                   network: str = "ardm") -> Iterator[tuple[Any, Any, Any, Any]]:
    """Stream ARDM's planned parallel decoding (on ARDM's network, or an absorbing SEDD's read as one); then the plan
    grid, the NLL curve and the scrubber."""
    seed = whole(seed, "seed", 0, MAX_SEED, "2^63 - 1")
    if network not in dict(NETWORKS).values():
        raise UserError(f"network must be one of {', '.join(dict(NETWORKS).values())}, got {network!r}")
    ck, process, model = _network(network, choice, models)
    D = ck.config.seq_len
    budget = whole(budget, "steps", 1, D)
    num_samples = whole(num_samples, "number of samples", 1, MAX_ORDER_SAMPLES)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
        raise UserError(f"temperature must be a number from 0 to 2, got {temperature!r}")
    if network != "ardm" and temperature != 1:
        raise UserError("the temperature applies to ARDM's network; SEDD's any-order sampler draws at temperature 1")
    run = Run(network, "ARDM planned parallel decoding" if network == "ardm" else
              "SEDD (absorbing) read as ARDM: planned parallel decoding", budget, marks=("calls",),
              style=dict(guesses=True, commit=True, pad=padding(ck)), linked=("order-plan",))

    redraw: dict[str, Any] = dict(steps=budget, seed=seed, num_samples=num_samples)  # the command line's run

    def start() -> Any:  # the package names the orders it accepts
        configured = process.configure(temperature=float(temperature), order=order)
        redraw["process"] = configured if network == "ardm" else configure(ck.process, sampler="any-order",
                                                                            order=order)
        return sample_steps(configured, model, num_samples, budget, generator=torch.Generator().manual_seed(seed),
                            every=1, top_k=TOP_K)

    yield from stream(run, start, ck.tokenizer, hide=(gr.skip(),) * 3)
    last = run.last[0]
    texts = [ck.tokenizer.decode(row) for row in last.tokens]
    checks = grammar_checks(ck, texts)
    run.finish([texts], None if checks is None else [checks], note=True)
    n = int(process.lengths(last.tokens[:1])[0])  # the first sample's positions: by length, its words only
    sizes = process.row_plan(budget, n)
    run.extra.update(tokens=ck.tokenizer.tokens(last.tokens[0, :n]),
                     written=step_of_position(last.extras["order"][0, :n], sizes))
    run.result["order"] = last.extras["order"].tolist()
    curve = None
    if process.loss_components is not None:
        tokens_per_sequence = ck.meta.get("calibration", {}).get("tokens_per_sequence", D)
        bits = process.planned_costs(process.loss_components) / math.log(2) / tokens_per_sequence
        other = "sedd-absorb" if network == "ardm" else "ardm"
        curve = nll_budget_figure(list(range(1, D + 1)), bits.tolist(), _references(), current=budget,
                                  fixed_orders=_fixed_orders(ck.meta), related=_shipped_orders(other),
                                  name="ARDM, planned" if network == "ardm" else "SEDD read as ARDM, planned")
    run.settings = describe(ck, redraw, seed=seed, steps=budget, temperature=float(temperature), order=order,
                            num_samples=num_samples, tokens_per_step=list(sizes), network=network)
    yield (run.value(), run, _plan(run), curve if curve is not None else gr.skip())


def _plan(run: Run) -> Any:
    """The grid of which step wrote each of the first sample's positions; the step of the player's frame outlined."""
    fig = plan_figure(run.extra["written"], run.extra["tokens"], run.num_steps)
    return row_band(fig, [i or None for i in run.indices], len(run.extra["tokens"]))


def network_temperature(network: str) -> Any:
    """The temperature is ARDM's: SEDD's any-order sampler draws at 1, so the slider goes back there and rests."""
    return Slider(interactive=True) if network == "ardm" else Slider(value=1.0, interactive=False)


def tab(models: gr.State) -> None:
    """The Order-agnostic tab: ARDM's reveal order, its planned steps and NLL against budget."""
    D = model_length("ardm")
    explain(ORDER_INTRO, details())
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            choice = model_radio("order-model", "ardm")
            network = gr.Radio(list(NETWORKS), value="ardm", label="network", elem_id="order-network",
                               info="the same planner on SEDD's absorbing network (its softmax at a masked position "
                                    "is the clean word's conditional, as ARDM's)")
            seed = Number(value=0, label="seed", minimum=0, step=1, elem_id="order-seed")
            budget = Slider(1, D, value=D, step=1, label="steps (budget)",
                               info="1 = everything at once; the length = one position per step", elem_id="budget")
            temperature = Slider(0, 2, value=1.0, step=0.05, label="temperature", elem_id="order-temperature")
            order = gr.Radio(list(ORDER_CHOICES), value="confident", label="order",
                             info="a fixed order draws from the model too; most probable first is adaptive: one "
                                  "position per step, more grammatical and a little less varied; several, repeats",
                             elem_id="order-order")
            num_samples = Slider(1, MAX_ORDER_SAMPLES, value=1, step=1, label="number of samples",
                                    elem_id="order-samples")
            run = gr.Button("Run", variant="primary", elem_id="order-run")
            rates.rate_line(rates.order, [budget, temperature, num_samples, choice, order, network], "order-rate")
        with gr.Column(scale=3):
            text = player("order-text", "<i>Press Run to watch the positions being written.</i>")
            buttons = export_buttons("order")
            plan = gr.Plot(label="planned steps", elem_id="order-plan")
            curve = gr.Plot(label="NLL against budget", elem_id="order-curve")
    record = gr.State(None, time_to_live=SESSION_TTL_SECONDS)
    event = run.click(cached(order_agnostic), [seed, budget, temperature, num_samples, choice, models, order, network],
                      [text, record, plan, curve], show_progress="minimal", **RUNS)
    network.change(network_temperature, network, temperature, api_visibility="private", show_progress="hidden")
    wire_export(event, record, buttons)

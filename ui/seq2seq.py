"""The Seq2seq tab (DiffuSeq): build a meaning representation, watch k targets denoise beside the fixed source, and
see which one MBR picks from the pairwise BLEU between them."""

from __future__ import annotations

import functools
import html
from collections.abc import Iterator
from typing import Any

import gradio as gr
import torch

from diffusion import shipped
from diffusion.corpus import MR_EXAMPLE, SLOTS, VALUES, Validation, linearise_mr, parse_mr, realised_slots
from diffusion.corpus.loaders import load_corpus
from diffusion.limits import MAX_SOURCE_CHARS
from diffusion.metrics import bleu_matrix, mbr_pick
from diffusion.seq2seq import candidates_steps, check_source, decode_targets
from visualize.plots import bleu_heatmap_figure
from visualize.tokens import verdict_mark

from .cache import RUNS, cached
from .common import (FREE_FORM, MAX_SEED, SESSION_TTL_SECONDS, SHIPPED, explain, export_buttons, model_radio,
                     pick_checkpoint, wire_export)
from .glossary import TIME
from .inputs import Dropdown, Number, Slider, check_work, text_input, whole
from .recorded import paragraph, recorded, sentence
from . import rates
from .player import player
from .run import TOP_K, Run, describe, grammar_checks, padding, reason, stream

MIN_STEPS, MAX_STEPS, DEFAULT_STEPS = 10, 1000, 200
MAX_CANDIDATES, DEFAULT_CANDIDATES = 8, 5
ABSENT = "(none)"
HOW = " --corpus builtin"

INTRO = r"""
**Seq2seq** ({{DiffuSeq}}): the denoising of *Denoise*, on a {{source}} and a {{target}} side by side, $z_t = [x ; y_t]$:
only the target is noised, and the clean source is put back after every step. Several candidates are drawn and
{{MBR}} picks one.
"""

DETAILS = r"""
**The one equation.** Partial noising (Gong et al. 2023): embed the source $x$ and the target $y$ together, and noise
only the target,
$$z_t = \big[\,\mathrm{EMB}(x)\ ;\ y_t\,\big], \qquad y_t = \sqrt{\bar\alpha_t}\, y_0 + \sqrt{1 - \bar\alpha_t}\,
\varepsilon.$$
- $x$: the source, a {{meaning representation}} such as `name [mill] food [italian]`; it is never noised;
- $y_0$: the target sentence's {{embeddings|embedding}}; $y_t$: the same at time $t$, noised as in *Forward noising*;
- $[\,\cdot\ ;\ \cdot\,]$: the two written one after the other in a single sequence, which one transformer reads.

No separate encoder and no classifier: the transformer attends across both halves, so the source steers every
guess of the target.
""" + TIME + r"""
**From the paper.**
- *Training.* Draw $t$, noise the target half of $z_0$, leave the source clean; the loss is Diffusion-LM's
  $\lVert f_\theta(z_t, t) - y_0 \rVert^2$ plus the {{rounding}} term, on the target positions only.
- *{{Anchoring|anchoring}}.* Sampling starts from pure noise beside the clean source, and after every step puts
  $\mathrm{EMB}(x)$ back into the source positions. {{Clamping|clamping}} works on the target as in *Denoise*.
- *MBR decoding.* Each run is random, so DiffuSeq draws $k$ candidates with different noise and returns the one with
  the highest summed {{BLEU}} against the others, $\hat y = \arg\max_i \sum_{j \ne i} \mathrm{BLEU}(y_i, y_j)$: the
  candidate the others agree with most.
- *{{The length first|length first}}.* The shipped model draws each candidate's length $L$ before the first step,
  from the training pairs whose source has the same number of words (more slots, longer sentences). Only those $L$
  target positions are denoised; the padding after them, and the source's own, is hidden from attention and stays
  padding in every frame, so candidates of one source can differ in length. DiffuSeq itself writes padding as a
  word on a fixed canvas.

**Reading the view.**
- *The frames*: the source, drawn hatched (it never changes), then each candidate as in *Denoise*: shaded by
  {{confidence}}, orange where a word changed since the previous frame.
- *Under each candidate*: whether the built-in grammar accepts it, and how many of the source's slot values it
  says; the pick is marked.
- *Pairwise BLEU*: every pair of candidates; the pick's row is outlined.

**Free-form English.** The model choice *free-form English* runs the same family trained by the command line on
`assets/corpora/stays.csv`: descriptions of places to stay, written in plain English with punctuation and prices, a
few per MR. Its words are {{BPE}} pieces, so a name it never saw is spelled in pieces (a piece that continues a word
shows a leading `·`); the example MR is one it was never trained on. There is no grammar to check its candidates;
`python -m diffusion evaluate` scores it with BLEU and chrF against every description of the held-out MRs.
"""


def details() -> str:
    """The tab's "More" text, with the figures the checkpoint recorded (ui/recorded.py)."""
    at_200 = dict(steps=200, sampler="ddpm", clamp=True, mbr_candidates=DEFAULT_CANDIDATES, noise_scale=1.0)
    return DETAILS + paragraph(
        "Measured on the shipped checkpoint",
        sentence("At 200 steps with MBR over {k} candidates, the pick is a sentence of the grammar for {rate:.0%} of "
                 "test MRs, with a BLEU of {bleu:.1f} against their reference "
                 "sentences.", k=DEFAULT_CANDIDATES,
                 rate=recorded("seq2seq", **at_200), bleu=recorded("seq2seq", "bleu", **at_200)))


def compose_mr(*values: str | None) -> str:
    """The linearised MR of the slot dropdowns (one value per slot in SLOTS order; ABSENT leaves a slot out)."""
    mr = {slot: v for slot, v in zip(SLOTS, values) if v and v != ABSENT}
    return linearise_mr(mr)


@functools.cache
def free_form_example() -> str:
    """An MR of the free-form corpus's held-out split: a place the free-form model never saw."""
    corpus = load_corpus(str(shipped.REAL_TEXT_CORPUS), source_column="mr", target_column="description")
    return corpus.sources["test"][0]


def example_source(choice: str) -> str:
    """The source box's example for a model choice: an MR of the model's own corpus."""
    return free_form_example() if choice == FREE_FORM else MR_EXAMPLE


def _checkpoint(choice: str = SHIPPED, models: dict[str, str] | None = None):
    return pick_checkpoint("seq2seq", choice, models, how=HOW)


def _candidates_html(texts: list[str], pick: int, mr: dict[str, str] | None,
                     checks: list[Validation] | None) -> str:
    """The k final candidates: the MBR pick marked, each with the grammar's verdict and the slot values it says."""
    rows = []
    for i, text in enumerate(texts):
        chosen = i == pick
        notes = []
        if mr is not None and checks is not None:
            notes.append(verdict_mark(checks[i].grammatical, reason(checks[i])))
            notes.append(f"{realised_slots(text, mr)} of {len(mr)} slot values")
        style = "border:2px solid #252525;background:#f7fbff" if chosen else "border:1px solid #c6dbef"
        head = ['<span style="opacity:0.7">candidate ' + str(i + 1) + '</span>', *(["<b>MBR pick</b>"] if chosen else []),
                *([f'<span style="font-size:0.85em;opacity:0.8">{" · ".join(notes)}</span>'] if notes else [])]
        rows.append(f'<div class="candidate{" mbr-pick" if chosen else ""}" style="{style};border-radius:6px;'
                    f'padding:0.35em 0.6em;margin:0.3em 0">{" · ".join(head)}'
                    f'<div style="margin-top:0.2em">{html.escape(text) or "<i>(empty)</i>"}</div></div>')
    return "".join(rows)


def seq2seq_run(source: str, seed: float | None, steps: float,
                candidates: float, choice: str = SHIPPED,
                models: dict[str, str] | None = None) -> Iterator[tuple[Any, Any, Any, Any, Any]]:
    """Stream k candidates denoising beside the fixed source; at the end the candidates, the MBR pick and the BLEU
    heatmap, and the scrubber."""
    seed = whole(seed, "seed", 0, MAX_SEED, "2^63 - 1")
    k = whole(candidates, "number of candidates", 1, MAX_CANDIDATES)
    source = text_input(source, "source", MAX_SOURCE_CHARS)
    ck = _checkpoint(choice, models)
    steps = whole(steps, "steps", MIN_STEPS, min(MAX_STEPS, ck.process.T))
    check_work(steps, k, "this run")
    builtin = ck.meta.get("corpus") == "builtin"
    run = Run("seq2seq", "DiffuSeq: target denoised beside a fixed source", steps, marks=("clamped",),
              style=dict(held=ck.config.source_len + 1, row_label="candidate", preds=True, pad=padding(ck)))

    def start() -> Any:  # the package checks the source and names what it accepts
        run.extra["source"] = checked = check_source(ck.tokenizer, ck.config, source, builtin)
        run.settings = describe(ck, dict(process=ck.process, steps=steps, seed=seed, num_samples=k, source=checked),
                                seed=seed, steps=steps, source=checked, candidates=k)
        return candidates_steps(ck.process, ck.model, ck.tokenizer, run.extra["source"], k, steps,
                                torch.Generator().manual_seed(seed), top_k=TOP_K)

    yield from stream(run, start, ck.tokenizer, hide=(None, "", gr.Plot(visible=False)))
    source = run.extra["source"]
    texts = decode_targets(ck.tokenizer, ck.config, run.last[0].tokens)
    matrix = bleu_matrix(texts)
    pick = mbr_pick(matrix)
    checks = grammar_checks(ck, texts)
    run.finish([texts], None if checks is None else [checks])
    run.result.update(candidates=texts, mbr_pick=pick, output=texts[pick])
    mr = parse_mr(source) if builtin else None
    yield (run.value(), run, _candidates_html(texts, pick, mr, checks),
           gr.Plot(value=bleu_heatmap_figure(matrix, pick), visible=True))


def tab(models: gr.State) -> None:
    explain(INTRO, details())
    example = parse_mr(MR_EXAMPLE)
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            gr.Markdown("**Meaning representation**: pick a value per slot, or type one below")
            slots = []
            for slot in SLOTS:
                choices = list(VALUES[slot]) if slot == SLOTS[0] else [ABSENT, *VALUES[slot]]
                slots.append(Dropdown(choices, value=example.get(slot, ABSENT), label=slot,
                                         elem_id=f"mr-{slot}", min_width=120))
            source = gr.Textbox(MR_EXAMPLE, label="source (slot [value] ...)", lines=2, elem_id="s2s-source",
                                max_length=MAX_SOURCE_CHARS)
            choice = model_radio("s2s-model", "seq2seq")
            seed = Number(value=0, label="seed", minimum=0, step=1, elem_id="s2s-seed")
            steps = Slider(MIN_STEPS, MAX_STEPS, value=DEFAULT_STEPS, step=1, label="steps", elem_id="s2s-steps")
            candidates = Slider(1, MAX_CANDIDATES, value=MAX_CANDIDATES, step=1,
                                   label="candidates (k, for MBR)", elem_id="s2s-candidates")
            run = gr.Button("Run", variant="primary", elem_id="s2s-run")
            rates.rate_line(rates.seq2seq, [source, steps, candidates, choice], "s2s-rate")
        with gr.Column(scale=3):
            text = player("s2s-text", "<i>Press Run: the source stays fixed while the candidates denoise beside "
                                      "it.</i>", 160)
            picked = gr.HTML(elem_id="s2s-candidates-out")
            buttons = export_buttons("s2s")
            heatmap = gr.Plot(label="pairwise BLEU", visible=False, elem_id="s2s-bleu")
    record = gr.State(None, time_to_live=SESSION_TTL_SECONDS)
    choice.input(example_source, choice, source, show_progress="hidden", api_visibility="private")
    for dropdown in slots:
        dropdown.input(compose_mr, slots, source, show_progress="hidden", api_visibility="private")
    event = run.click(cached(seq2seq_run), [source, seed, steps, candidates, choice, models],
                      [text, record, picked, heatmap], show_progress="minimal", **RUNS)
    wire_export(event, record, buttons)

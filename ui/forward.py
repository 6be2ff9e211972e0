"""The Forward noising tab: a sentence's word embeddings drifting into Gaussian noise as t grows, on a 2-D map."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr
import torch
from torch import Tensor

from diffusion.corpus.tokenizer import SPECIAL_TOKENS
from diffusion.limits import MAX_SENTENCE_CHARS
from diffusion.views import forward_noising, schedule_curve
from visualize.embeddings import finite_extent, gaussian_schedule_figure, noising_map_figure
from visualize.tokens import CHANGED, render_tokens

from .common import MAX_SEED, explain, model_radio, pick_checkpoint
from .inputs import Number, Slider, UserError, text_input, whole

EXAMPLES = (  # sentences of the built-in grammar (the tests check each one parses)
    "mill is a family friendly italian restaurant by the riverside .",
    "there is a pricey thai place called marrakech in the city centre .",
    "kettle is an adults only pub and provides greek food .",
    "havana is pricey , is family friendly and is close to the yippee .",
)
PATH_POINTS = 101  # the path is drawn through x_t at t = 0, 0.01, ..., 1 (and the current t)
TICK_SECONDS, TICK_DT = 0.3, 0.02  # play: t grows by 0.02 every 0.3 s, from 0 to 1 in 15 s
HOW = " --corpus builtin"

INTRO = r"""
**Forward noising** in Diffusion-LM: each word's embedding $x_0 = \mathrm{EMB}(w)$ is mixed with Gaussian noise,
$x_t = \sqrt{\bar\alpha(t)}\, x_0 + \sqrt{1 - \bar\alpha(t)}\, \varepsilon$, $\varepsilon \sim \mathcal N(0, I)$.
Move $t$ (or press Play) to watch the sentence dissolve; each point is labelled with the word it would round to.
Discrete families mask or replace tokens instead: see the *Discrete diffusion* tab.
"""

DETAILS = r"""
**One noise draw, every t.** The seed fixes $\varepsilon$, and the same $\varepsilon$ is used at every $t$, so as
$t$ moves each token follows one continuous path from its word's embedding ($t = 0$) towards the pure-noise point
$\varepsilon$ ($t = 1$, where $\bar\alpha \approx 0$). Because $\sqrt{\bar\alpha}^2 + \sqrt{1-\bar\alpha}^2 = 1$,
the path is a quarter ellipse in the plane of $x_0$ and $\varepsilon$, not a straight line. The noising is the
model's own `add_noise` with its own schedule ($\bar\alpha$ on its grid of $T$ training steps); here $x_0$ is the
embedding itself (training adds a little more noise, $\sigma_0$, on top).

**The map is exact.** The plane is spanned by the first two principal components of the embedding table. A PCA
projection $P(x) = V^\top (x - \mu)$ is affine, so $P(x_t) = \sqrt{\bar\alpha}\, P(x_0) + \sqrt{1-\bar\alpha}\,
P(\varepsilon) + (\sqrt{\bar\alpha} + \sqrt{1 - \bar\alpha} - 1)\, V^\top \mu$ holds exactly: what you see is the
true $x_t$ seen from one angle (a UMAP map, being non-linear, could not show it). The rounding, though, happens in
the full space: two points can look close here and be far apart there.

**Rounding.** A point is labelled with its nearest word embedding, $\arg\min_w \lVert x_t - \mathrm{EMB}(w)
\rVert$, the rule the model uses to read latents (special tokens other than `[PAD]` are never a target). Blue:
still the sentence's word; vermillion: it now rounds to another word. In the token row the shade is the rounding
softmax $p(w \mid x_t) \propto \exp(-\lVert x_t - \mathrm{EMB}(w)\rVert^2)$ of that word.

**The schedule.** $\bar\alpha(t)$ is the share of signal variance left; the signal-to-noise ratio
$\mathrm{SNR}(t) = \bar\alpha / (1 - \bar\alpha)$ (log scale) falls from $\infty$ at $t = 0$. The shipped
model uses Diffusion-LM's *sqrt* schedule, $\bar\alpha(t) = 1 - \sqrt{t + s}$ (Sec. 4.2 of Li et al. 2022), whose
noise rises fast at the start: with a linear or cosine schedule many steps would sit at noise so low that rounding
alone recovers every word, and teach the denoiser nothing.
"""


def encode_sentence(ck: Any, sentence: str | None) -> Tensor:
    """(n,) ids of a typed sentence; a gr.Error naming what is wrong: empty, unknown words, or too long."""
    text = " ".join(text_input(sentence, "sentence", MAX_SENTENCE_CHARS).split())
    if not text:
        raise UserError(f"the sentence is empty; type one in words of the model's corpus, e.g. {EXAMPLES[0]!r}")
    tok = ck.tokenizer
    pieces = text.split() if tok.level == "word" else list(text)
    unknown = sorted({p for p in pieces if p in SPECIAL_TOKENS or tok.encode(p) == [tok.unk_id]})
    if unknown:
        hint = (" (the built-in corpus is lower case, with '.' and ',' as separate words)"
                if ck.meta.get("corpus") == "builtin" else "")
        raise UserError(f"the sentence has words this model never saw: {', '.join(unknown[:8])}; use words of its "
                       f"training corpus{hint}")
    ids = tok.encode(text)
    if len(ids) > ck.config.seq_len:
        raise UserError(f"the sentence has {len(ids)} tokens but this model takes at most {ck.config.seq_len}; "
                       "shorten it")
    return torch.tensor(ids, dtype=torch.long)


def _time(t: Any) -> float:
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 1:
        raise UserError(f"t must be a number from 0 to 1, got {t!r}")
    return float(t)


def _schedule(process: Any, t: float) -> Any:
    """The model's own alpha_bar on its grid (thinned, keeping the current level) and its SNR."""
    curve = schedule_curve(process, t)
    return gaussian_schedule_figure(curve.times, curve.alpha_bar, curve.snr, current=curve.current)


def _tokens_html(words: list[str], rounded: list[str], confidence: list[float], t: float) -> str:
    changed = [a != b for a, b in zip(words, rounded)]
    title = (f'<div style="font-weight:600;margin-bottom:0.4em">t = {t:.2f} · {sum(changed)} of {len(words)} words '
             f'now round to another word</div>')
    row = ('<div style="display:flex;gap:0.6em;align-items:baseline;margin:0.2em 0"><span style="min-width:6.5em;'
           'font-size:0.85em;opacity:0.7">{}</span><div style="line-height:1.9">{}</div></div>')
    sentence = " ".join(html.escape(w) for w in words)
    key = (f'<div style="font-size:0.85em;opacity:0.9;margin-top:0.4em">shade: rounding confidence p(w | x_t); '
           f'<span style="box-shadow:inset 0 -3px 0 {CHANGED};padding:0 4px">underlined</span>: no longer the '
           'sentence\'s word</div>')
    return (f'<div class="forward-tokens">{title}{row.format("sentence", sentence)}'
            f'{row.format("x_t rounds to", render_tokens(rounded, confidence, changed))}{key}</div>')


def forward_view(sentence: str | None, t: float, seed: float | None, choice: str | None,
                 models: dict[str, str] | None) -> tuple[str, Any, Any]:
    """The sentence at time t: tokens rounded from x_t, the paths on the PCA plane, and the schedule."""
    seed = whole(seed, "seed", 0, MAX_SEED, "2^63 - 1")
    t = _time(t)
    ck = pick_checkpoint("continuous", choice, models, how=HOW)
    ids = encode_sentence(ck, sentence)  # (n,)
    view = forward_noising(ck.process, ck.model, ids, t, seed, PATH_POINTS)
    words, labels = ck.tokenizer.tokens(ids), ck.tokenizer.tokens(view.rounded)
    figure = noising_map_figure(view.vocab_xy, ck.tokenizer.tokens(range(len(view.vocab_xy))), view.paths, words,
                                labels, t, extent=finite_extent(view.extent_points))
    return _tokens_html(words, labels, view.confidence.tolist(), t), figure, _schedule(ck.process, t)


def play(t: float) -> tuple[Any, Any]:
    """Start the timer; from the end (t = 1) start again at 0."""
    return (0.0 if t is None or t >= 1 else gr.skip()), gr.Timer(active=True)


def pause() -> Any:
    return gr.Timer(active=False)


def advance(t: float) -> tuple[Any, Any]:
    """One tick: t grows by TICK_DT; the timer stops at t = 1. It never switches the timer on, so a tick still in
    flight when Pause is pressed cannot undo the pause."""
    nxt = min(1.0, round(float(t or 0) + TICK_DT, 2))
    return nxt, (gr.Timer(active=False) if nxt >= 1.0 else gr.skip())


def tab(models: gr.State) -> None:
    """The Forward noising tab; drawn on page load, redrawn on any change of its inputs."""
    explain(INTRO, DETAILS)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            choice = model_radio("fwd-model")
            sentence = gr.Dropdown(list(EXAMPLES), value=EXAMPLES[0], allow_custom_value=True, label="sentence",
                                   info="pick an example or type your own (press Enter)", elem_id="fwd-sentence")
            t = Slider(0, 1, value=0.0, step=0.01, label="t (0 = data, 1 = noise)", elem_id="fwd-t")
            with gr.Row():
                play_button = gr.Button("▶ Play", variant="primary", min_width=80, elem_id="fwd-play")
                pause_button = gr.Button("❚❚ Pause", min_width=80, elem_id="fwd-pause")
            seed = Number(value=0, label="seed (fixes ε: the same noise at every t)", minimum=0, step=1,
                             elem_id="fwd-seed")
        with gr.Column(scale=3, min_width=300):
            tokens = gr.HTML(elem_id="fwd-tokens", min_height=90)
            with gr.Row():
                with gr.Column(scale=3, min_width=300):
                    figure = gr.Plot(label="embedding map", show_label=False, elem_id="fwd-map")
                with gr.Column(scale=2, min_width=280):
                    schedule = gr.Plot(label="schedule", show_label=False, elem_id="fwd-schedule")
    timer = gr.Timer(TICK_SECONDS, active=False)
    # triggers=None: on page load and whenever an input changes, the timer's steps of t included.
    gr.on(None, forward_view, [sentence, t, seed, choice, models], [tokens, figure, schedule],
          trigger_mode="always_last", show_progress="hidden")
    play_button.click(play, t, [t, timer], api_visibility="private", show_progress="hidden")
    pause_button.click(pause, None, timer, api_visibility="private", show_progress="hidden")
    timer.tick(advance, t, [t, timer], api_visibility="private", show_progress="hidden")

"""The Forward noising tab: a sentence's word embeddings drifting into Gaussian noise as t grows, on a 2-D map."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr
import numpy as np
import torch
from torch import Tensor

from diffusion.corpus.tokenizer import SPECIAL_TOKENS
from diffusion.limits import MAX_SENTENCE_CHARS
from diffusion.schedules import SCHEDULES
from diffusion.views import forward_frames, schedule_curve, with_schedule
from visualize.paths import finite_extent, noising_frames_figure
from visualize.player import player_value
from visualize.plots import schedules_figure
from visualize.tokens import render_tokens

from .cache import RUNS, cached
from .common import MAX_SEED, explain, model_radio, model_setting, pick_checkpoint
from .inputs import Dropdown, Number, UserError, text_input, whole
from .player import player

EXAMPLES = (  # sentences of the built-in grammar (the tests check each one parses)
    "mill is a family friendly italian restaurant by the riverside .",
    "there is a pricey thai place called marrakech in the city centre .",
    "kettle is an adults only pub and provides greek food .",
    "havana is pricey , is family friendly and is close to the yippee .",
)
TIMES = [k / 50 for k in range(51)]  # the player's frames: t = 0, 0.02, ..., 1
FPS = 4.0  # t from 0 to 1 in about 12 s at 1x
HOW = " --corpus builtin"

INTRO = r"""
**Forward noising** in Diffusion-LM: each word's embedding $x_0 = \mathrm{EMB}(w)$ is mixed with Gaussian noise,
$x_t = \sqrt{\bar\alpha(t)}\, x_0 + \sqrt{1 - \bar\alpha(t)}\, \varepsilon$, $\varepsilon \sim \mathcal N(0, I)$.
Press Play (or drag the slider) to watch the sentence dissolve as $t$ goes from 0 to 1; each point is labelled
with the word it would round to. The rows compare noise schedules $\bar\alpha(t)$ on the same sentence and noise.
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
alone recovers every word, and teach the denoiser nothing. The token rows show it on one sentence: with the same
noise, at the same t, count the words each schedule has already lost; pick a schedule to watch it on the map (the
paths are the same quarter ellipses under every schedule: only how fast x_t moves along them differs).
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


def _schedule_choice(schedule: Any, model: str) -> str:
    if schedule in (None, ""):
        return model
    if schedule not in SCHEDULES:
        raise UserError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    return schedule


def _frame_html(words: list[str], rows: dict[str, tuple[list[str], list[float]]], t: float, chosen: str,
                top: list[list[tuple[str, float]]] | None = None) -> str:
    """One frame: the sentence, then what x_t rounds to under each schedule at this t (the chosen one first, with
    `top`, the rounding softmax's likeliest words at each position, for the player to show on pointing)."""
    kept = rows[chosen][0]
    moved = sum(a != b for a, b in zip(words, kept))
    title = (f'<div style="font-weight:600;margin-bottom:0.4em">t = {t:.2f} · {chosen}: {moved} of {len(words)} '
             'words now round to another word</div>')
    lines = [f'<div class="sample-line"><span class="line-label">sentence</span><div class="line-body">'
             f'{" ".join(html.escape(w) for w in words)}</div></div>']
    for name, (rounded, confidence) in rows.items():
        changed = [a != b for a, b in zip(words, rounded)]
        chips = render_tokens(rounded, confidence, changed, top=top if name == chosen else None)
        lines.append(f'<div class="sample-line"><span class="line-label">x_t rounds to<br><b>{html.escape(name)}</b>'
                     f'</span><div class="line-body">{chips}</div></div>')
    key = ('<div class="token-legend">shade: rounding confidence p(w | x_t); <span><span class="key-chip chg">word'
           '</span> no longer the sentence\'s word</span><span>point at a word: the rounding\'s likeliest words there'
           '</span></div>')
    return f'<div class="forward-tokens">{title}{"".join(lines)}{key}</div>'


def forward_view(sentence: str | None, t: float, seed: float | None, choice: str | None,
                 models: dict[str, str] | None, schedule: str | None = None) -> tuple[Any, Any, Any]:
    """The sentence noised at every t of TIMES with one noise draw, for the player (opening at the frame nearest
    `t`): per frame the words x_t rounds to under each schedule, the points on the PCA plane under the chosen
    schedule (default the model's own), and the schedules' curves."""
    seed = whole(seed, "seed", 0, MAX_SEED, "2^63 - 1")
    t = _time(t)
    ck = pick_checkpoint("continuous", choice, models, how=HOW)
    model = ck.config.schedule
    chosen = _schedule_choice(schedule, model)
    ids = encode_sentence(ck, sentence)  # (n,)
    order = [chosen, *[name for name in (model, *SCHEDULES) if name != chosen]]
    order = list(dict.fromkeys(order))
    frames = {name: forward_frames(with_schedule(ck.process, name), ck.model, ids, TIMES, seed) for name in order}
    words = ck.tokenizer.tokens(ids)
    rounded = {name: [ck.tokenizer.tokens(row) for row in f.rounded] for name, f in frames.items()}
    main = frames[chosen]
    tops = [[list(zip(ck.tokenizer.tokens(i), p)) for i, p in zip(ids_k.tolist(), probs_k.tolist())]
            for ids_k, probs_k in zip(main.top_ids, main.top_probs)]  # per frame and position: (word, p)
    views = [[_frame_html(words, {name: (rounded[name][k], frames[name].confidence[k].tolist()) for name in order},
                          s_, chosen, tops[k])] for k, s_ in enumerate(TIMES)]
    start = min(range(len(TIMES)), key=lambda k: abs(TIMES[k] - t))
    value = player_value(views, [f"t = {s_:.2f}" for s_ in TIMES], start=start, fps=FPS,
                         linked=("fwd-map", "fwd-schedule"))
    extent = finite_extent(np.concatenate([main.vocab_xy, main.xy.reshape(-1, 2)]))
    figure = noising_frames_figure(main.vocab_xy, ck.tokenizer.tokens(range(len(main.vocab_xy))), main.xy, words,
                                   rounded[chosen], TIMES, start, extent=extent)
    curves = {}
    for name in (model, *[n for n in SCHEDULES if n != model]):
        curve = schedule_curve(with_schedule(ck.process, name), 0.0)
        curves[name] = (curve.times, curve.alpha_bar)
    return value, figure, schedules_figure(curves, chosen, model, TIMES[start], TIMES)


def tab(models: gr.State) -> None:
    """The Forward noising tab; drawn on page load and on any change of its inputs, then played in the browser."""
    explain(INTRO, DETAILS)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            choice = model_radio("fwd-model")
            sentence = Dropdown(list(EXAMPLES), value=EXAMPLES[0], allow_custom_value=True, label="sentence",
                                   info="pick an example or type your own (press Enter)", elem_id="fwd-sentence")
            schedule = gr.Radio(list(SCHEDULES), value=model_setting("continuous", "schedule", None),
                                label="schedule on the map", elem_id="fwd-schedule-choice",
                                info="every schedule's rounding is shown; the map follows this one (at first the "
                                     "model's own)")
            seed = Number(value=0, label="seed (fixes ε: the same noise at every t)", minimum=0, step=1,
                          elem_id="fwd-seed")
            t = gr.Number(0.0, visible=False)  # the frame the player opens at
        with gr.Column(scale=3, min_width=300):
            tokens = player("fwd-tokens", "<i>Loading the sentence…</i>", 90)
            with gr.Row():
                with gr.Column(scale=3, min_width=300):
                    figure = gr.Plot(label="embedding map", show_label=False, elem_id="fwd-map")
                with gr.Column(scale=2, min_width=280):
                    curves = gr.Plot(label="schedule", show_label=False, elem_id="fwd-schedule")
    # triggers=None: on page load and whenever an input changes.
    # A class opening the page at once computes the default view once (ui/cache.py).
    gr.on(None, cached(forward_view), [sentence, t, seed, choice, models, schedule], [tokens, figure, curves],
          trigger_mode="always_last", show_progress="hidden", **RUNS)

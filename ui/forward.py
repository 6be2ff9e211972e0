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
from .glossary import TIME
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
**Forward noising**: each word is a learned vector (its {{embedding}}), and noise is mixed in as $t$ goes from 0 to
1, $x_t = \sqrt{\bar\alpha(t)}\,x_0 + \sqrt{1 - \bar\alpha(t)}\,\varepsilon$. Press Play to watch the sentence
dissolve; each point shows the word it {{rounds to|rounding}}.
"""

DETAILS = r"""
**The one equation.** {{DDPM}}'s {{forward process}}, run on word embeddings instead of pixels
({{Diffusion-LM}}, Li et al. 2022):
$$x_t = \sqrt{\bar\alpha(t)}\, x_0 + \sqrt{1 - \bar\alpha(t)}\, \varepsilon, \qquad \varepsilon \sim \mathcal N(0, I).$$
- {{$x_0$|x₀}}: the sentence, one vector per word, $x_0 = \mathrm{EMB}(w)$ (the {{embeddings|embedding}});
- {{$\varepsilon$|ε}}: Gaussian noise of the same shape, fixed by the {{seed}};
- {{$\bar\alpha(t)$|ᾱ}}: the share of signal left at time $t$, from 1 at $t = 0$ to about 0 at $t = 1$; the curve
  is the {{schedule}};
- {{$x_t$|xₜ}}: the noisy sentence, what the denoiser is shown during training.
""" + TIME + r"""
**From the paper.** Sec. 4.2 of Li et al. 2022 picks the *sqrt* schedule, $\bar\alpha(t) = 1 - \sqrt{t + s}$,
because its noise rises fast at the start: with a linear or cosine schedule many training steps sit at noise so low
that {{rounding}} alone recovers every word, and teach the denoiser nothing. Here $x_0$ is the embedding itself;
training adds a little more noise, $\sigma_0$, on top. Discrete families corrupt the tokens instead of the
vectors: see the *Discrete diffusion* tab. The *Denoise* tab runs this process backwards.

**Reading the view.**
- *Token rows*: what $x_t$ rounds to (the nearest word embedding) at this $t$, one row per schedule, on the same
  sentence and the same noise. Blue: still the sentence's word; vermillion: it now rounds to another word. The shade
  is the {{confidence}}: that word's probability under the rounding softmax
  $p(w \mid x_t) \propto \exp(-\lVert x_t - \mathrm{EMB}(w)\rVert^2)$. Point at a word for its {{top-k}} words.
- *Map*: the first two {{PCA}} directions of the embedding table. PCA is a linear projection, so each dot is the
  true $x_t$ seen from one angle; rounding happens in the full space, though, so two dots can look close here and
  be far apart there. One noise draw serves every $t$, so each dot follows one path from its word ($t = 0$) to pure
  noise ($t = 1$): a quarter ellipse, since $\sqrt{\bar\alpha}^2 + \sqrt{1 - \bar\alpha}^2 = 1$.
- *Schedule plot*: $\bar\alpha(t)$ and the {{SNR}}, $\bar\alpha / (1 - \bar\alpha)$ on a log scale, for each
  schedule; the cursor follows the player.
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

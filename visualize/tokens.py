"""Token views: one sequence (or a batch of them) as HTML spans shaded by the model's confidence.

Plain data in (lists of token strings; confidences and change flags as nested lists or anything with
`.tolist()`), an HTML string out. Styles are inline so the view looks the same in any host page.
"""

from __future__ import annotations

import functools
import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

PAD = "[PAD]"
MASK = "[MASK]"
SEP = "[SEP]"
# ColorBrewer "Blues": a single-hue sequential scale, readable with every common colour-vision deficiency
# and in greyscale, because it varies in lightness only.
BLUES = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b")
CHANGED = "#e66100"  # orange: the hue furthest from blue for every colour-vision type
# the grammar's verdict: blue against orange-brown, always beside a mark and words that carry it alone
GRAMMATICAL, UNGRAMMATICAL = "#08519c", "#a63603"
DARK_TEXT, LIGHT_TEXT = "#111111", "#ffffff"

PadMode = Literal["compact", "hide"]
# The order words were written in (commit order): early to late on "viridis", a sequential scale that stays ordered
# for every common colour-vision type and in greyscale.
VIRIDIS = ("#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b",
           "#fde725")
GUESS = "#737373"  # the network's guess at a position not yet written: grey, italic


def _hex_to_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour (channels 0..255)."""
    lin = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(l1: float, l2: float) -> float:
    hi, lo = max(l1, l2), min(l1, l2)
    return (hi + 0.05) / (lo + 0.05)


def _ramp(stops: Sequence[str], value: float) -> tuple[str, str]:
    """(background, text) at `value` in [0, 1] along `stops`; the text near-black or white, whichever has the
    higher WCAG contrast on the background."""
    c = 0.0 if math.isnan(value) else min(max(float(value), 0.0), 1.0)
    pos = c * (len(stops) - 1)
    i = min(int(pos), len(stops) - 2)
    frac = pos - i
    a, b = _hex_to_rgb(stops[i]), _hex_to_rgb(stops[i + 1])
    rgb = tuple(round(x + (y - x) * frac) for x, y in zip(a, b))
    lum = _luminance(rgb)
    text = DARK_TEXT if _contrast(lum, _luminance(_hex_to_rgb(DARK_TEXT))) >= _contrast(lum, 1.0) else LIGHT_TEXT
    return "#{:02x}{:02x}{:02x}".format(*rgb), text


def confidence_colour(confidence: float) -> tuple[str, str]:
    """(background, text) colours for a confidence in [0, 1]: light blue (unsure) to dark blue (sure)."""
    return _ramp(BLUES, confidence)


def _as_list(x: Any) -> list:
    """Nested lists from lists, tuples, numpy arrays or CPU tensors (anything with `.tolist()`)."""
    return x.tolist() if hasattr(x, "tolist") else [list(r) if isinstance(r, (list, tuple)) else r for r in x]


def _display(token: str) -> str:
    # Character-level models emit whitespace tokens; show them so the span is not an empty box.
    return "\u2423" if token.isspace() else token


CSS_FILE = Path(__file__).with_name("tokens.css")
Top = Sequence[tuple[str, float]]  # a position's likeliest words with their probabilities


SHADES = 10  # confidence is shown in SHADES + 1 steps of the ramp, each a class (c0 ... c10): a frame stays small


def shade(confidence: float) -> int:
    """The class step of a confidence in [0, 1] (NaN as 0)."""
    c = 0.0 if math.isnan(confidence) else min(max(float(confidence), 0.0), 1.0)
    return round(c * SHADES)


@functools.cache
def css() -> str:
    """The token views' classes (chips and their shades, masked slots, the held source, padding, the legend): the
    app's page and an exported page both carry it."""
    shades = "\n".join(".tok.c{0} {{ background: {1}; color: {2}; }}".format(k, *confidence_colour(k / SHADES))
                        for k in range(SHADES + 1))
    return CSS_FILE.read_text(encoding="utf-8") + shades + "\n"


def _attr(value: str) -> str:
    """A value for a single-quoted attribute: JSON keeps its double quotes, which keeps the data small."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#x27;")


SURE = 0.995  # a position this sure of its word has nothing else worth a bar: its top word alone is kept


def _top_attrs(top: Top | None, k: int) -> str:
    """The data the player shows as a bar chart when a position is pointed at: its likeliest words."""
    if not top:
        return ""
    top = list(top)[:1] if float(top[0][1]) >= SURE else top
    data = json.dumps([[str(w), round(float(p), 2)] for w, p in top], ensure_ascii=False, separators=(",", ":"))
    return f" data-top='{_attr(data)}' data-k='{k + 1}'"


def _pad_run(count: int, pad_token: str) -> str:
    """A run of padding: one compact marker with its count; every position of it hidden until the player's
    "every position" shows them."""
    text = html.escape(pad_token)
    return f'<span class="pad-run" title="{count} positions of padding">{text} ×{count}</span>' + \
        f'<span class="pad-one">{text}</span>' * count


def render_tokens(tokens: Sequence[str], confidence: Any, changed: Any | None = None, *, pad: PadMode = "compact",
                  pad_token: str = PAD, held: int = 0, guesses: Sequence[str | None] | None = None,
                  top: Sequence[Top | None] | None = None, titles: bool = True) -> str:
    """One sequence as spans: shaded by confidence, changed tokens underlined in orange, each run of padding one
    compact marker with its count (or hidden). The first `held` tokens are a conditioning source the chain never
    changes (seq2seq): grey and hatched. `guesses`: per position the network's current guess, shown grey in the
    slot of a position not yet written; `top`: per position its likeliest words, shown by the player on pointing;
    `titles`: each word's confidence as its tooltip. Styled by the classes of `css()`."""
    if pad not in ("compact", "hide"):
        raise ValueError(f"pad must be 'compact' or 'hide', got {pad!r}")
    conf = _as_list(confidence)
    flags = _as_list(changed) if changed is not None else [False] * len(tokens)
    if not len(tokens) == len(conf) == len(flags):
        raise ValueError(f"tokens, confidence and changed must have one entry per token; got lengths "
                         f"{len(tokens)}, {len(conf)}, {len(flags)}")
    for name, extra in (("guesses", guesses), ("top", top)):
        if extra is not None and len(extra) != len(tokens):
            raise ValueError(f"{name} must have one entry per token; got {len(extra)} for {len(tokens)} tokens")
    spans: list[str] = []
    padding = 0
    for k, (token, c, moved) in enumerate(zip(tokens, conf, flags)):
        if token == pad_token and k >= held:
            padding += 1
            continue
        if padding:
            spans.append("" if pad == "hide" else _pad_run(padding, pad_token))
            padding = 0
        text = html.escape(_display(token))
        if k < held:
            if token not in (pad_token, SEP):  # the source's padding is not shown; the arrow stands for [SEP]
                spans.append(f'<span class="held">{text}</span>')  # the legend says what the hatching means
            if k == held - 1:
                spans.append('<span style="margin:0 0.5em;color:#737373">→</span>')
            continue
        attrs = _top_attrs(top[k] if top is not None else None, k)
        if token == MASK:  # not yet written (discrete families): an empty slot, or the network's guess in grey
            guess = guesses[k] if guesses is not None else None
            shown = html.escape(_display(guess)) if guess and guess not in (MASK, pad_token) else "?"
            tip = "not yet written" + (f"; the network's guess: {guess}" if shown != "?" else "")
            spans.append(f'<span class="mask" title="{html.escape(tip, quote=True)}"{attrs}>{shown}</span>')
            continue
        tip = "" if attrs or not titles else f' title="{html.escape(f"{token} · confidence {float(c):.2f}", quote=True)}"'
        spans.append(f'<span class="tok c{shade(c)}{" chg" if moved else ""}"{tip}{attrs}>{text}</span>')
    if padding and pad != "hide":
        spans.append(_pad_run(padding, pad_token))
    return "".join(spans)


def render_commit(tokens: Sequence[str], written: Sequence[int | None], num_steps: int, *, held: int = 0,
                  pad_token: str = PAD) -> str:
    """A final sentence coloured by the step at which each word was written (early dark, late yellow); padding and a
    held source left out."""
    spans = []
    for k, (token, step) in enumerate(zip(tokens, written)):
        if k < held or token in (pad_token, MASK) or step is None:
            continue
        background, colour = _ramp(VIRIDIS, (step - 1) / max(num_steps - 1, 1))
        tip = html.escape(f"{token} · written at step {step} of {num_steps}", quote=True)
        spans.append(f'<span class="commit" data-step="{int(step)}" title="{tip}" '
                     f'style="background:{background};color:{colour}">{html.escape(_display(token))}</span>')
    return "".join(spans)


def commit_legend(num_steps: int) -> str:
    """The key of `render_commit`: the ramp from step 1 to the last."""
    stops = ", ".join(VIRIDIS)
    return (f'<div class="token-legend commit-legend">written at step 1 <span class="ramp" '
            f'style="background:linear-gradient(to right, {stops})"></span> {num_steps}</div>')


def legend_html(held: bool = False, guesses: bool = False, padding: bool = True) -> str:
    """A one-line key: the confidence ramp, the changed mark and the padding marker (and the fixed source, the
    network's greyed guesses), and that pointing at a word shows the network's likeliest words."""
    stops = ", ".join(BLUES)
    source = '<span><span class="held">source</span> fixed: never noised, put back every step</span>' if held else ""
    guess = ('<span><span class="mask">word</span> still masked: the network\'s guess</span>' if guesses else "")
    pad = f'<span><span class="key-chip pad-key">{PAD} ×n</span> padding</span>' if padding else ""
    return (f'<div class="token-legend"><span>confidence 0 <span class="ramp" '
            f'style="background:linear-gradient(to right, {stops})"></span> 1</span>'
            f'<span><span class="key-chip chg">word</span> changed since the previous frame</span>{guess}'
            f'{pad}{source}'
            f'<span>point at a word: the network\'s likeliest words there</span></div>')


def calls_note(calls: int | None) -> str:
    """' · N network calls' (what a chain's steps cost), or nothing when not counted."""
    return "" if calls is None else f" · {calls} network call{'s' if calls != 1 else ''}"


def _line(label: str, body: str, kind: str) -> str:
    return (f'<div class="sample-line {kind}"><span class="line-label">{label}</span>'
            f'<div class="line-body">{body}</div></div>')


def render_step(tokens: Sequence[Sequence[str]], confidence: Any, changed: Any | None = None, *, index: int,
                t: float, num_steps: int | None = None, clamped: bool | None = None, pad: PadMode = "compact",
                legend: bool = True, held: int = 0, row_label: str = "sample", calls: int | None = None,
                notes: Sequence[str] | None = None, preds: Sequence[Sequence[str]] | None = None,
                distances: Sequence[float] | None = None, guesses: Sequence[Sequence[str]] | None = None,
                tops: Sequence[Sequence[Top | None]] | None = None,
                commit: Sequence[Sequence[int | None]] | None = None) -> str:
    """A frame of the reverse chain: a title line (step index, t, and the network calls so far when given), then per
    sample its shaded row (the first `held` tokens drawn as a fixed source) and, when given: `preds`, the words the
    network's x̂₀ rounds to, on a line under it (with the sample's mean distance from x̂₀ to its nearest words,
    `distances`); `guesses`, the network's guess greyed in each slot not yet written; `tops`, each position's
    likeliest words for the player to show; `commit`, the step each word was written at, drawn as the sentence
    coloured by it; `notes` (HTML, such as `grammar_note`'s verdict) last."""
    conf = _as_list(confidence)
    flags = _as_list(changed) if changed is not None else [None] * len(tokens)
    if not len(tokens) == len(conf) == len(flags):
        raise ValueError(f"tokens, confidence and changed must have one row per sample; got {len(tokens)}, "
                         f"{len(conf)}, {len(flags)} rows")
    for name, extra in (("notes", notes), ("preds", preds), ("distances", distances), ("guesses", guesses),
                        ("tops", tops), ("commit", commit)):
        if extra is not None and len(extra) != len(tokens):
            raise ValueError(f"{name} must have one entry per sample; got {len(extra)} for {len(tokens)} rows")
    of = f" of {num_steps}" if num_steps is not None else ""
    note = "" if clamped is None else (" · x̂₀ clamped" if clamped else " · not clamped")
    note += calls_note(calls)
    title = (f'<div class="step-title" style="font-weight:600;margin-bottom:0.4em">step {index}{of} · '
             f't = {t:.3f}{note}</div>')
    rows = []
    for b, (row, c, f) in enumerate(zip(tokens, conf, flags)):
        label = f"{row_label} {b + 1}"
        main = render_tokens(row, c, f, pad=pad, held=held, guesses=guesses[b] if guesses is not None else None,
                             top=tops[b] if tops is not None and preds is None else None,
                             titles=preds is None)  # under x_t, x̂₀'s row carries what the network says
        lines = [_line(f"{label}<br>x_t rounds to" if preds is not None else label, main, "sample-row")]
        if preds is not None:
            near = f"<br>{distances[b]:.2f} from words" if distances is not None else ""
            # the held source is the same in both rows: x̂₀'s row shows the generated part only
            pred = render_tokens(preds[b][held:], c[held:], None, pad=pad,
                                 top=tops[b][held:] if tops is not None else None)
            lines.append(_line(f"x̂₀ rounds to{near}", pred, "pred-row"))
        if commit is not None and num_steps:
            lines.append(_line("order written", render_commit(row, commit[b], num_steps, held=held), "commit-row"))
        if notes is not None:
            lines.append(f'<div class="sample-note" style="line-height:1.4;margin:0.1em 0 0 6.1em">{notes[b]}</div>')
        rows.append(f'<div class="sample" style="margin:0.25em 0 0.5em">{"".join(lines)}</div>')
    key = ""
    if legend:
        key = legend_html(held > 0, guesses is not None, pad != "hide")
        if commit is not None and num_steps:
            key += commit_legend(num_steps)
    return f'<div class="denoise-frame">{title}{"".join(rows)}{key}</div>'


# What "the grammar" is, on hover over any verdict: the one place a verdict's reader meets the term.
GRAMMAR_TITLE = ("The built-in grammar: the rules that wrote every training sentence (sentence patterns that say a "
                 "restaurant's facts). Because it is known exactly, any sample can be checked: it is a sentence of "
                 "the grammar or it breaks a rule, and the verdict says which.")
Reason = tuple[str, str]  # (kind, plain words): why the grammar rejects a sample (diffusion/corpus/mistakes.py)


def _why(reason: Reason | None) -> str:
    if reason is None:
        return ""
    return f'<span class="verdict-why" data-mistake="{html.escape(reason[0])}">: {html.escape(reason[1])}</span>'


def verdict_mark(grammatical: bool, reason: Reason | None = None) -> str:
    """The grammar's verdict as a bold mark (the Clamping trick's final lines, the Compare cards), with the rule a
    rejected sample breaks."""
    if grammatical:
        return f'<b style="color:{GRAMMATICAL}" title="{GRAMMAR_TITLE}">grammatical ✓</b>'
    return f'<b style="color:{UNGRAMMATICAL}" title="{GRAMMAR_TITLE}">not grammatical ✗</b>{_why(reason)}'


def grammar_note(grammatical: bool, mr: str | None = None, reason: Reason | None = None) -> str:
    """One sample's verdict from the built-in grammar: accepted, with the linearised MR it realises, or not, with
    the rule it breaks. The mark and the words carry the verdict; the colour (blue against orange-brown) only
    repeats it."""
    style = f"color:{GRAMMATICAL if grammatical else UNGRAMMATICAL};font-size:0.85em"
    term = f'<span title="{GRAMMAR_TITLE}" style="text-decoration:underline dotted">the grammar</span>'
    if grammatical:
        said = f": says {html.escape(mr)}" if mr else ""
        return f'<span class="grammar-note" style="{style}">✓ a sentence of {term}{said}</span>'
    return f'<span class="grammar-note" style="{style}">✗ not a sentence of {term}{_why(reason)}</span>'

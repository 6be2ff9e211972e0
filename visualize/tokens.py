"""Token views: one sequence (or a batch of them) as HTML spans shaded by the model's confidence.

Plain data in (lists of token strings; confidences and change flags as nested lists or anything with
`.tolist()`), an HTML string out. Styles are inline so the view looks the same in any host page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
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

PadMode = Literal["faint", "hide"]


def _hex_to_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour (channels 0..255)."""
    lin = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(l1: float, l2: float) -> float:
    hi, lo = max(l1, l2), min(l1, l2)
    return (hi + 0.05) / (lo + 0.05)


def confidence_colour(confidence: float) -> tuple[str, str]:
    """(background, text) colours for a confidence in [0, 1]: light blue (unsure) to dark blue (sure).

    The text colour is whichever of near-black and white has the higher WCAG contrast on the background.
    """
    c = 0.0 if math.isnan(confidence) else min(max(float(confidence), 0.0), 1.0)
    pos = c * (len(BLUES) - 1)
    i = min(int(pos), len(BLUES) - 2)
    frac = pos - i
    a, b = _hex_to_rgb(BLUES[i]), _hex_to_rgb(BLUES[i + 1])
    rgb = tuple(round(x + (y - x) * frac) for x, y in zip(a, b))
    lum = _luminance(rgb)
    text = DARK_TEXT if _contrast(lum, _luminance(_hex_to_rgb(DARK_TEXT))) >= _contrast(lum, 1.0) else LIGHT_TEXT
    return "#{:02x}{:02x}{:02x}".format(*rgb), text


def _as_list(x: Any) -> list:
    """Nested lists from lists, tuples, numpy arrays or CPU tensors (anything with `.tolist()`)."""
    return x.tolist() if hasattr(x, "tolist") else [list(r) if isinstance(r, (list, tuple)) else r for r in x]


def _display(token: str) -> str:
    # Character-level models emit whitespace tokens; show them so the span is not an empty box.
    return "\u2423" if token.isspace() else token


HELD_STYLE = ("display:inline-block;padding:1px 5px;margin:2px 1px;border:1px solid #969696;border-radius:4px;"
              "background:repeating-linear-gradient(135deg,#f0f0f0 0 4px,#e0e0e0 4px 8px);color:#111111")


def render_tokens(tokens: Sequence[str], confidence: Any, changed: Any | None = None, *, pad: PadMode = "faint",
                  pad_token: str = PAD, held: int = 0) -> str:
    """One sequence as spans: shaded by confidence, changed tokens underlined in orange, padding faint or hidden.
    The first `held` tokens are a conditioning source the chain never changes (seq2seq): grey and hatched."""
    if pad not in ("faint", "hide"):
        raise ValueError(f"pad must be 'faint' or 'hide', got {pad!r}")
    conf = _as_list(confidence)
    flags = _as_list(changed) if changed is not None else [False] * len(tokens)
    if not len(tokens) == len(conf) == len(flags):
        raise ValueError(f"tokens, confidence and changed must have one entry per token; got lengths "
                         f"{len(tokens)}, {len(conf)}, {len(flags)}")
    spans = []
    for k, (token, c, moved) in enumerate(zip(tokens, conf, flags)):
        text = html.escape(_display(token))
        if k < held:
            if token not in (pad_token, SEP):  # the source's padding is not shown; the arrow stands for [SEP]
                spans.append(f'<span class="held" title="source: fixed, never noised" style="{HELD_STYLE}">{text}</span>')
            if k == held - 1:
                spans.append('<span style="display:inline-block;margin:0 0.5em;color:#737373">→</span>')
            continue
        if token == pad_token:
            if pad == "hide":
                continue
            spans.append(f'<span title="padding" style="display:inline-block;padding:1px 4px;margin:2px 1px;'
                         f'border:1px dashed #9ecae1;border-radius:4px;opacity:0.35;font-size:0.8em">{text}</span>')
            continue
        if token == MASK:  # not yet written (discrete families): an empty slot, not a word
            spans.append('<span title="not yet written" style="display:inline-block;min-width:1.6em;padding:1px 5px;'
                         'margin:2px 1px;border:1px dotted #6baed6;border-radius:4px;color:#6baed6;'
                         'text-align:center">?</span>')
            continue
        background, colour = confidence_colour(c)
        # An inset bar rather than text-decoration: it stays visible on every shade and for short tokens.
        mark = f"box-shadow:inset 0 -3px 0 {CHANGED};" if moved else ""
        tip = html.escape(f"{token} · confidence {float(c):.2f}" + (" · changed" if moved else ""), quote=True)
        spans.append(f'<span title="{tip}" style="display:inline-block;padding:1px 5px;margin:2px 1px;'
                     f'border:1px solid #c6dbef;border-radius:4px;background:{background};color:{colour};{mark}">'
                     f'{text}</span>')
    return "".join(spans)


def legend_html(held: bool = False) -> str:
    """A one-line key: the confidence ramp, the changed mark and the padding style (and the fixed source)."""
    stops = ", ".join(BLUES)
    source = (f'<span><span style="{HELD_STYLE}">source</span> fixed: never noised, put back every step</span>'
              if held else "")
    return (f'<div style="display:flex;flex-wrap:wrap;gap:1.2em;align-items:center;font-size:0.85em;opacity:0.9;'
            f'margin-top:0.4em">'
            f'<span>confidence 0 <span style="display:inline-block;width:8em;height:0.8em;vertical-align:middle;'
            f'border:1px solid #c6dbef;background:linear-gradient(to right, {stops})"></span> 1</span>'
            f'<span><span style="display:inline-block;padding:0 5px;border:1px solid #c6dbef;border-radius:4px;'
            f'box-shadow:inset 0 -3px 0 {CHANGED};background:#ffffff;color:#111111">word</span> changed since the '
            f'previous frame</span>'
            f'<span><span style="display:inline-block;padding:0 4px;border:1px dashed #9ecae1;border-radius:4px;'
            f'opacity:0.35">{PAD}</span> padding</span>{source}</div>')


def calls_note(calls: int | None) -> str:
    """' · N network calls' (what a chain's steps cost), or nothing when not counted."""
    return "" if calls is None else f" · {calls} network call{'s' if calls != 1 else ''}"


def render_step(tokens: Sequence[Sequence[str]], confidence: Any, changed: Any | None = None, *, index: int,
                t: float, num_steps: int | None = None, clamped: bool | None = None, pad: PadMode = "faint",
                legend: bool = True, held: int = 0, row_label: str = "sample", calls: int | None = None,
                notes: Sequence[str] | None = None) -> str:
    """A frame of the reverse chain: a title line (step index, t, and the network calls so far when given), then one
    shaded row per sample (the first `held` tokens of each row drawn as a fixed source), each with its line of
    `notes` (HTML, such as `grammar_note`'s verdict) under it when given."""
    conf = _as_list(confidence)
    flags = _as_list(changed) if changed is not None else [None] * len(tokens)
    if not len(tokens) == len(conf) == len(flags):
        raise ValueError(f"tokens, confidence and changed must have one row per sample; got {len(tokens)}, "
                         f"{len(conf)}, {len(flags)} rows")
    if notes is not None and len(notes) != len(tokens):
        raise ValueError(f"notes must have one entry per sample; got {len(notes)} for {len(tokens)} rows")
    of = f" / {num_steps}" if num_steps is not None else ""
    note = "" if clamped is None else (" · x̂₀ clamped" if clamped else " · not clamped")
    note += calls_note(calls)
    title = (f'<div class="step-title" style="font-weight:600;margin-bottom:0.4em">step {index}{of} · '
             f't = {t:.3f}{note}</div>')
    rows = []
    for b, (row, c, f) in enumerate(zip(tokens, conf, flags)):
        body = render_tokens(row, c, f, pad=pad, held=held)
        if notes is not None:
            body += f'<div class="sample-note" style="line-height:1.4;margin-top:0.1em">{notes[b]}</div>'
        rows.append(f'<div class="sample-row" style="display:flex;gap:0.6em;align-items:baseline;margin:0.2em 0">'
                    f'<span style="min-width:4.5em;font-size:0.85em;opacity:0.7">{row_label} {b + 1}</span>'
                    f'<div style="line-height:1.9">{body}</div></div>')
    return f'<div class="denoise-frame">{title}{"".join(rows)}{legend_html(held > 0) if legend else ""}</div>'


def verdict_mark(grammatical: bool) -> str:
    """The grammar's verdict as a bold mark (the Clamping trick's final lines, the Compare cards)."""
    return (f'<b style="color:{GRAMMATICAL}">grammatical ✓</b>' if grammatical
            else f'<b style="color:{UNGRAMMATICAL}">not grammatical ✗</b>')


def grammar_note(grammatical: bool, mr: str | None = None) -> str:
    """One sample's verdict from the built-in grammar: accepted, with the linearised MR it realises, or not. The
    mark and the words carry the verdict; the colour (blue against orange-brown) only repeats it."""
    style = f"color:{GRAMMATICAL if grammatical else UNGRAMMATICAL};font-size:0.85em"
    if grammatical:
        said = f": says {html.escape(mr)}" if mr else ""
        return f'<span class="grammar-note" style="{style}">✓ a sentence of the grammar{said}</span>'
    return f'<span class="grammar-note" style="{style}">✗ not a sentence of the grammar</span>'

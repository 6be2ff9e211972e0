"""One colour and one marker per kind of model, for every figure and card: told apart by colour and by shape.

The colours are Okabe and Ito's (2008) colour-blind-safe set, with its grey and without its yellow (too faint on a
white page under a projector); each kind also has a plotly marker symbol, drawn the same in HTML by `marker_svg`, so
no reading depends on colour alone. Plain constants and functions: reading a colour needs no plotly.

A kind is a shipped checkpoint's name (`diffusion/shipped.py`), plus `sedd-any-order`, absorbing SEDD's network read
as ARDM (the `any-order` sampler). `style` finds the kind in a family's name, a checkpoint's, or a figure's wording
of one ("ar, left to right (exact)", "SEDD read as ARDM, planned").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Style:
    colour: str  # CSS hex colour
    symbol: str  # plotly marker symbol, one of SHAPES


# Okabe-Ito, by name
BLACK, ORANGE, SKY_BLUE, GREEN = "#000000", "#E69F00", "#56B4E9", "#009E73"
BLUE, VERMILLION, PURPLE, GREY = "#0072B2", "#D55E00", "#CC79A7", "#999999"

# The families' relatives share a hue family (the two continuous recipes blue, the two SEDD graphs orange-red, ARDM
# and SEDD read as ARDM triangles) so a chart reads as families first, checkpoints second.
STYLES: dict[str, Style] = {
    "continuous": Style(BLUE, "circle"),
    "continuous-eps": Style(GREY, "hexagon"),
    "seq2seq": Style(GREEN, "square"),
    "sedd-absorb": Style(VERMILLION, "diamond"),
    "sedd-uniform": Style(ORANGE, "pentagon"),
    "sedd-any-order": Style(SKY_BLUE, "triangle-down"),
    "ardm": Style(PURPLE, "triangle-up"),
    "ar": Style(BLACK, "cross"),
}
# anything else (a model trained here under another name): dark grey, a shape no kind uses
OTHER = Style("#525252", "x")
# a family's name alone means its shipped checkpoint (sedd: the absorbing graph, the family's default)
FAMILY_KINDS = {"continuous": "continuous", "seq2seq": "seq2seq", "sedd": "sedd-absorb", "ardm": "ardm", "ar": "ar"}

# Sizes for a figure projected at 1280x720: no text under 12 px
FONT_SIZE = 14
SMALL_FONT_SIZE = 13
TITLE_FONT_SIZE = 16
MIN_FONT_SIZE = 12


def kind(name: str, sampler: str | None = None) -> str | None:
    """The kind `name` (a checkpoint, a family, or a label starting with one) names, or None; `sampler` starting
    with "any-order" makes absorbing SEDD its any-order reading."""
    text = name.strip().lower()
    found = None
    if text in STYLES:
        found = text
    else:
        # the longest kind or family `text` starts with, followed by a separator (so "ardm" is not "ar")
        for key in sorted([*STYLES, *FAMILY_KINDS], key=len, reverse=True):
            if text.startswith(key) and (len(text) == len(key) or not (text[len(key)].isalnum()
                                                                       or text[len(key)] == "-")):
                found = key if key in STYLES else FAMILY_KINDS[key]
                break
    read_as_ardm = (sampler or "").startswith("any-order") or "read as ardm" in text or "any-order" in text
    if found == "sedd-absorb" and read_as_ardm:
        return "sedd-any-order"
    return found


def style(name: str, sampler: str | None = None) -> Style:
    """The colour, marker and glyph of the kind `name` names (see `kind`); `OTHER` for a name of no kind."""
    found = kind(name, sampler)
    return STYLES[found] if found else OTHER


# Each marker symbol as an SVG outline in a 10 x 10 box (plotly's shapes), so HTML shows the charts' markers exactly
# rather than a character some fonts lack.
SHAPES = {
    "circle": '<circle cx="5" cy="5" r="4.5"/>',
    "square": '<rect x="1" y="1" width="8" height="8"/>',
    "diamond": '<polygon points="5,0 10,5 5,10 0,5"/>',
    "triangle-up": '<polygon points="5,0.5 9.8,9 0.2,9"/>',
    "triangle-down": '<polygon points="0.2,1 9.8,1 5,9.5"/>',
    "pentagon": '<polygon points="5,0.5 9.6,3.8 7.8,9.2 2.2,9.2 0.4,3.8"/>',
    "hexagon": '<polygon points="5,0.3 9.1,2.7 9.1,7.3 5,9.7 0.9,7.3 0.9,2.7"/>',
    "cross": '<polygon points="3.5,0 6.5,0 6.5,3.5 10,3.5 10,6.5 6.5,6.5 6.5,10 3.5,10 3.5,6.5 0,6.5 0,3.5 3.5,3.5"/>',
    "x": '<polygon transform="rotate(45 5 5)" points="3.8,0 6.2,0 6.2,3.8 10,3.8 10,6.2 6.2,6.2 6.2,10 3.8,10 3.8,6.2 '
         '0,6.2 0,3.8 3.8,3.8"/>',
}


def marker_svg(name: str, size: int = 14, sampler: str | None = None) -> str:
    """The marker of the kind `name` names, as an inline SVG of `size` px in its colour (for cards and tables)."""
    s = style(name, sampler)
    return (f'<svg class="kind-marker" data-kind="{kind(name, sampler) or "other"}" width="{size}" height="{size}" '
            f'viewBox="-0.5 -0.5 11 11" style="display:inline-block;vertical-align:-0.1em;margin:0" role="img" '
            f'aria-hidden="true">'
            f'<g fill="{s.colour}" stroke="#ffffff" stroke-width="0.6">{SHAPES[s.symbol]}</g></svg>')

"""The run player, one for every tab and the exported page: its HTML, CSS and script, the value it plays, and the
per-frame changes a linked plotly figure carries so that it follows the player in the browser.

The value is plain JSON: each recorded frame's HTML (one view per chain drawn side by side), a label per frame, and
how to play them. Once it is on the page the browser plays it alone: no request per frame. A figure linked to the
player holds, in `layout.meta.player`, what changes at each frame (a marker's position, a trace's points), keyed by
the `meta` name of the trace to change; `player.js` applies them with `Plotly.restyle`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

HERE = Path(__file__).parent
DEFAULT_FPS = 6.0  # recorded frames a second at 1x: a 50-frame run plays in about 8 s
SPEEDS = (0.5, 1, 2, 4)
NOW = "#252525"  # the current step's marker in every figure: near-black, never a colour that means something else

SKELETON = """<div class="tdl-player tdl-empty">
<div class="tdl-bar" role="group" aria-label="player">
<button type="button" class="tdl-back" title="one frame back" aria-label="one frame back">◀</button>
<button type="button" class="tdl-play">▶ Play</button>
<button type="button" class="tdl-fwd" title="one frame forward" aria-label="one frame forward">▶|</button>
<input class="tdl-scrub" type="range" min="0" max="0" value="0" step="1" aria-label="frame">
<span class="tdl-label" aria-live="polite"></span>
<label>speed <select class="tdl-speed">{speeds}</select></label>
<label class="tdl-pad-toggle"><input type="checkbox" class="tdl-pad"> every position</label>
</div>
<div class="tdl-stage"></div>
<div class="tdl-detail"></div>
</div>""".format(speeds="".join(f'<option value="{s}"{" selected" if s == 1 else ""}>{s}×</option>' for s in SPEEDS))


@functools.cache
def script() -> str:
    """The player's script: the body of a gr.HTML js_on_load (it uses `element`, `props` and `watch`)."""
    return (HERE / "player.js").read_text(encoding="utf-8")


@functools.cache
def css() -> str:
    return (HERE / "player.css").read_text(encoding="utf-8")


def player_value(frames: Sequence[Sequence[str]], labels: Sequence[str], *, heads: Sequence[str] = (),
                 start: int | None = None, live: bool = False, fps: float = DEFAULT_FPS,
                 linked: Sequence[str] = (), padding: bool = False) -> dict[str, Any]:
    """What the player shows: per frame one HTML view per chain (`heads`: a title over each chain's column), a label
    per frame, the frame to open at (default the last), whether the run is still being computed (`live`: no
    controls yet), the frames a second at 1x, the elem_ids of the gr.Plot figures that follow it, and whether the
    views hold a padding marker (then "every position" is offered)."""
    if len(labels) != len(frames):
        raise ValueError(f"labels must have one entry per frame, got {len(labels)} for {len(frames)} frames")
    return {"frames": [list(views) for views in frames], "labels": list(labels), "heads": list(heads),
            "start": start, "live": live, "fps": fps, "linked": list(linked), "padding": padding}


def empty_value(message: str) -> dict[str, Any]:
    """The player before any run: one line of HTML saying what to do."""
    return {"frames": [], "empty": message}


def has_padding(views: Sequence[str]) -> bool:
    """Whether token views hold a compact padding marker (visualize/tokens.py draws it as `pad-run`)."""
    return any('<span class="pad-run"' in view for view in views)


# ---- figures that follow the player ---------------------------------------------------------------------------------
def follow(fig: go.Figure, frames: Sequence[dict[str, dict[str, Any]]]) -> go.Figure:
    """Attach per-frame changes to `fig`: frames[i] = {trace meta name: {attribute: new value}}. The figure itself
    shows whichever frame it was drawn at; the player moves it."""
    meta = dict(fig.layout.meta) if isinstance(fig.layout.meta, dict) else {}
    meta["player"] = [{name: {k: _plain(v) for k, v in change.items()} for name, change in frame.items()}
                      for frame in frames]
    fig.update_layout(meta=meta)
    return fig


def now_line(fig: go.Figure, x: float, y: tuple[float, float], *, name: str = "now", yaxis: str = "y",
             label: str = "this frame") -> go.Figure:
    """A vertical line at `x` from y[0] to y[1], as a trace the player can move (a layout shape cannot be named)."""
    fig.add_trace(go.Scatter(x=[x, x], y=list(y), mode="lines", meta=name, name=label, showlegend=False,
                             hoverinfo="skip", yaxis=yaxis, line=dict(color=NOW, width=2, dash="dot")))
    return fig


def now_point(fig: go.Figure, x: float, y: float, *, name: str = "now-point", yaxis: str = "y",
              symbol: str = "diamond") -> go.Figure:
    """A marker at (x, y) the player can move."""
    fig.add_trace(go.Scatter(x=[x], y=[y], mode="markers", meta=name, showlegend=False, hoverinfo="skip", yaxis=yaxis,
                             marker=dict(color=NOW, size=11, symbol=symbol, line=dict(color="#ffffff", width=1))))
    return fig


def step_cursor(fig: go.Figure, xs: Sequence[float], ys: Sequence[float] | None, current: float | None,
                frames: Sequence[float] | None = None, span: tuple[float, float] | None = None,
                yaxis: str = "y") -> go.Figure:
    """The current step on a curve against steps: a dotted line at x = `current` (from span[0] to span[1], default
    the curve's range from 0) and, with `ys`, a diamond on the curve there. `frames`: the step of each of the
    player's frames, so the cursor follows the player."""
    if current is None:
        return fig
    top = max([float(y) for y in (ys or []) if y == y] or [1.0])
    low, high = span if span is not None else (min(0.0, *[float(y) for y in (ys or [0.0]) if y == y]), 1.05 * top)
    now_line(fig, current, (low, high), yaxis=yaxis)

    def at(x: float) -> float | None:
        if not ys or not len(xs):
            return None
        k = min(range(len(xs)), key=lambda j: abs(float(xs[j]) - float(x)))
        return float(ys[k])

    if ys:
        now_point(fig, current, at(current), yaxis=yaxis)
    if frames is not None:
        follow(fig, [{"now": {"x": [float(x), float(x)]},
                      **({"now-point": {"x": [float(x)], "y": [at(x)]}} if ys else {})} for x in frames])
    return fig


def row_band(fig: go.Figure, rows: Sequence[int | None], width: int, *, name: str = "now-row") -> go.Figure:
    """An outline around one row of a grid with rows on the y axis (cells at x = 0..width-1), at rows[-1], following
    the player through `rows` (each frame's row; None: no row outlined)."""
    def box(row: int | None) -> dict[str, list[float | None]]:
        if row is None:
            return {"x": [None], "y": [None]}
        x0, x1, y0, y1 = -0.5, width - 0.5, row - 0.5, row + 0.5
        return {"x": [x0, x1, x1, x0, x0], "y": [y0, y0, y1, y1, y0]}

    last = box(rows[-1] if rows else None)
    fig.add_trace(go.Scatter(x=last["x"], y=last["y"], mode="lines", meta=name, showlegend=False, hoverinfo="skip",
                             line=dict(color=NOW, width=3)))
    return follow(fig, [{name: box(row)} for row in rows])


def _plain(value: Any) -> Any:
    """Lists of plain numbers and strings (numpy arrays and scalars become JSON's own)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value

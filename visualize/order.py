"""Figures for order-agnostic decoding (ARDM): which positions each planned step writes, and NLL against budget."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .palette import FONT_SIZE, SMALL_FONT_SIZE, TITLE_FONT_SIZE, kind, style
from .player import NOW
from .tokens import BLUES

GREY = "#969696"


def plan_figure(step_of_position: Sequence[int], tokens: Sequence[str], num_steps: int,
                current: int | None = None) -> go.Figure:
    """A grid of steps (rows) by positions (columns): a cell is filled when that step writes that position. The
    sentence runs along the bottom, one word under its column (turned when the columns are narrow), so every label
    keeps a readable size however long the sentence. `step_of_position[i]` is the 1-based step that wrote position
    i."""
    steps = np.asarray(step_of_position, dtype=np.int64)
    if len(steps) != len(tokens):
        raise ValueError(f"step_of_position and tokens must have one entry per position, got {len(steps)} and "
                         f"{len(tokens)}")
    if num_steps < 1 or (len(steps) and (steps.min() < 1 or steps.max() > num_steps)):
        raise ValueError(f"every step must lie in 1..{num_steps}")
    L = len(steps)
    z = np.full((num_steps, L), np.nan)
    text = np.full((num_steps, L), "", dtype=object)
    for i, (s, tok) in enumerate(zip(steps, tokens)):
        z[s - 1, i] = s
        text[s - 1, i] = tok
    sizes = np.bincount(steps - 1, minlength=num_steps) if L else np.zeros(num_steps, dtype=int)
    fig = go.Figure(go.Heatmap(
        z=z, text=text, showscale=False, xgap=2, ygap=2,
        colorscale=[[0.0, BLUES[3]], [1.0, BLUES[7]]], zmin=1, zmax=max(num_steps, 2),
        y=list(range(1, num_steps + 1)), x=list(range(L)),
        customdata=np.repeat(sizes[:, None], L, axis=1),
        hovertemplate="step %{y} writes position %{x}: %{text}<br>%{customdata} positions in this step<extra></extra>",
    ))
    if current is not None and 1 <= current <= num_steps:
        fig.add_hrect(y0=current - 0.5, y1=current + 0.5, line=dict(color=NOW, width=3))
    rows = min(max(22 * num_steps, 90), 560)  # rows tall enough for their labels; a long plan's labels thin out
    words = max((len(t) for t in tokens), default=1)
    fig.update_layout(
        title=dict(text=f"Planned steps: {num_steps} steps for {L} positions", font=dict(size=TITLE_FONT_SIZE)),
        font=dict(size=FONT_SIZE),
        xaxis=dict(title=dict(text="the sentence, one word per position", font=dict(size=FONT_SIZE)),
                   tickmode="array", tickvals=list(range(L)), ticktext=[html.escape(t) for t in tokens],
                   tickfont=dict(size=SMALL_FONT_SIZE), autotickangles=[0, -45, -90], showgrid=False),
        yaxis=dict(title=dict(text="step", font=dict(size=FONT_SIZE)), autorange="reversed",
                   tickfont=dict(size=SMALL_FONT_SIZE)),
        # room under the plot for the words turned upright, so the grid keeps its rows' height
        height=60 + rows + 60 + int(0.62 * SMALL_FONT_SIZE * words), margin=dict(l=70, r=20, t=60, b=50),
    )
    return fig


def nll_budget_figure(budgets: Sequence[int], bits: Sequence[float], references: dict[str, float] | None = None,
                      current: int | None = None, fixed_orders: dict[str, float] | None = None,
                      related: dict[str, float] | None = None, name: str = "ARDM, planned") -> go.Figure:
    """NLL in bits per token of planned parallel decoding against the step budget, with reference lines
    (the left-to-right model, the corpus's true entropy) drawn flat, the same model's exact NLL in each fixed
    order (one position a step: at the largest budget) as points, and `related` models' exact NLL in fixed orders
    (absorbing SEDD read as an autoregressive model) as hollow points beside them.

    Where the curve falls from far above to hug its floor, a small panel shows every budget and a large one zooms
    on the floor (the curve's tail, the references and the points), where the differences worth reading are."""
    if len(budgets) != len(bits):
        raise ValueError(f"budgets and bits must have the same length, got {len(budgets)} and {len(bits)}")
    budgets, bits = list(budgets), [float(b) for b in bits]
    refs = {k: float(v) for k, v in (references or {}).items() if v is not None}
    fixed, near = dict(fixed_orders or {}), dict(related or {})
    window = _floor_window(budgets, bits, refs, [*fixed.values(), *near.values()])
    look = style(name)
    fig = go.Figure()
    # the axes the floor's figures go on: the zoomed panel's where there is one, else the one panel's
    xa, ya = ("x2", "y2") if window else ("x", "y")
    curve = dict(x=budgets, y=bits, mode="lines+markers", name=name, legendgroup="curve",
                 line=dict(color=look.colour, width=2.5), marker=dict(size=6, color=look.colour))
    fig.add_trace(go.Scatter(**curve, xaxis=xa, yaxis=ya))
    if window:
        fig.add_trace(go.Scatter(**curve, xaxis="x", yaxis="y", showlegend=False))
    dashes = ("dash", "dot", "dashdot")
    for k, (label, value) in enumerate(sorted(refs.items(), key=lambda kv: -kv[1])):
        colour = style(label).colour if kind(label) else GREY
        for axis in ({xa, "x"} if window else {xa}):
            fig.add_shape(type="line", xref=f"{axis} domain", yref=axis.replace("x", "y"), x0=0, x1=1, y0=value,
                          y1=value, line=dict(color=colour, dash=dashes[k % len(dashes)], width=1.5))
    for note in _reference_labels(refs, (window[0], window[1]) if window else None, xa):
        fig.add_annotation(note)
    symbols = ("triangle-right", "triangle-left", "square")
    for k, (label, value) in enumerate(fixed.items()):
        fig.add_trace(go.Scatter(x=[max(budgets)], y=[value], mode="markers", name=f"{label}, exact: {value:.3f}",
                                 xaxis=xa, yaxis=ya, cliponaxis=False,
                                 marker=dict(color=look.colour, size=15, symbol=symbols[k % len(symbols)],
                                             line=dict(color="#ffffff", width=1))))
    for k, (label, value) in enumerate(near.items()):
        # smaller than this model's, drawn over them, so both read where the values coincide; a fixed order reads the
        # other network as ARDM does: its any-order kind's colour
        colour = style(label, "any-order").colour
        fig.add_trace(go.Scatter(x=[max(budgets)], y=[value], mode="markers", name=f"{label}, exact: {value:.3f}",
                                 xaxis=xa, yaxis=ya, cliponaxis=False,
                                 marker=dict(color=colour, size=10, symbol=f"{symbols[k % len(symbols)]}-open",
                                             line=dict(width=2.5))))
    if current is not None and current in budgets:
        y = bits[budgets.index(current)]
        mark = dict(x=[current], y=[y], mode="markers", name=f"{current} steps: {y:.3f}",
                    marker=dict(color=NOW, size=13, symbol="diamond", line=dict(color="#ffffff", width=1)))
        in_window = window is not None and window[0] <= y <= window[1] and current >= window[2]
        if window:  # every budget's panel shows it too; the legend's is the last trace, where the tests look
            fig.add_trace(go.Scatter(**mark, xaxis="x", yaxis="y", showlegend=not in_window))
        if in_window or not window:
            fig.add_trace(go.Scatter(**mark, xaxis=xa, yaxis=ya))
    title = "NLL against the number of steps"
    log = dict(type="log", tickvals=_log_ticks(budgets), tickfont=dict(size=SMALL_FONT_SIZE))
    axis_title = dict(text="steps (budget)", font=dict(size=FONT_SIZE))
    layout: dict[str, Any] = dict(
        title=dict(text=title, font=dict(size=TITLE_FONT_SIZE)), font=dict(size=FONT_SIZE), height=430,
        margin=dict(l=70, r=20, t=60, b=20),
        # below everything (the container's bottom): never over a panel or an axis title
        legend=dict(orientation="h", yref="container", y=0.0, yanchor="bottom", x=0.0, xanchor="left",
                    font=dict(size=SMALL_FONT_SIZE)),
    )
    if window:
        low, high, start = window
        layout.update(
            xaxis=dict(**log, domain=[0.0, 0.26], title=dict(text="steps", font=dict(size=FONT_SIZE))),
            yaxis=dict(title=dict(text="bits per token", font=dict(size=FONT_SIZE)),
                       tickfont=dict(size=SMALL_FONT_SIZE)),
            xaxis2=dict(**{**log, "tickvals": [t for t in _log_ticks(budgets) if t >= start]}, domain=[0.36, 1.0],
                        anchor="y2", title=axis_title,
                        range=[math.log10(start), math.log10(max(budgets)) + 0.06]),
            yaxis2=dict(anchor="x2", range=[low, high], tickfont=dict(size=SMALL_FONT_SIZE),
                        title=dict(text="bits per token (zoomed)", font=dict(size=FONT_SIZE))),
        )
        # the zoomed window, shaded on the every-budget panel
        fig.add_shape(type="rect", xref="x", yref="y", x0=start, x1=max(budgets), y0=low, y1=high,
                      line=dict(color="#525252", width=1.5), fillcolor="rgba(150,150,150,0.25)", layer="below")
    else:
        layout.update(xaxis=dict(**log, title=axis_title),
                      yaxis=dict(title=dict(text="bits per token", font=dict(size=FONT_SIZE)),
                                 tickfont=dict(size=SMALL_FONT_SIZE)))
    fig.update_layout(**layout)
    return fig


def _floor_window(budgets: list[int], bits: list[float], refs: dict[str, float],
                  points: list[float]) -> tuple[float, float, int] | None:
    """(low, high, first budget) of a zoom on the curve's floor: from the lowest of the curve, the references and
    the points to as far above the highest of the curve's minimum and the points again, and from the last budget
    whose cost is above that (so the curve enters the zoom from its top edge); None where the whole curve already
    reads in that room."""
    if not bits:
        return None
    floor = min(bits)
    low = min([floor, *refs.values(), *points])
    top = max([floor, *points])
    span = max(top - low, 0.01)
    low, high = low - 0.15 * span, top + span
    if max(bits) - low < 5 * (high - low):
        return None
    above = [b for b, v in zip(budgets, bits) if v > high]
    return low, high, max(above) if above else min(budgets)


def _reference_labels(refs: dict[str, float], window: tuple[float, float] | None, axis: str) -> list[dict[str, Any]]:
    """Each reference line's label at the left of its panel, above its line, or below it where the label above
    would run into the one of the line just over it, or at the right where neither fits."""
    values = sorted(refs.values())
    low, high = window if window else ((values[0], values[-1]) if values else (0.0, 1.0))
    high = max(high, low + 1e-9)
    height, room = 250, SMALL_FONT_SIZE + 8  # a panel's height in pixels, about; a label's with its gap
    notes, bottom = [], -math.inf  # the lowest edge (pixels from the top) the labels placed so far reach
    for label, value in sorted(refs.items(), key=lambda kv: -kv[1]):
        y = (high - value) / (high - low) * height
        colour = style(label).colour if kind(label) else "#525252"
        place = dict(x=0.01, xanchor="left")
        if y - room >= bottom:
            place.update(yanchor="bottom")
            bottom = y
        elif y >= bottom:
            place.update(yanchor="top")
            bottom = y + room
        else:
            place = dict(x=0.99, xanchor="right", yanchor="bottom")
        notes.append(dict(text=f"{label}: {value:.3f}", xref=f"{axis} domain", yref=axis.replace("x", "y"), y=value,
                          showarrow=False, font=dict(size=SMALL_FONT_SIZE, color=colour),
                          bgcolor="rgba(255,255,255,0.7)", **place))
    return notes


def _log_ticks(values: Sequence[int]) -> list[int]:
    """1, 2, 5, 10, 20, 50... up to the largest value, and the largest itself."""
    top = max(values) if len(values) else 1
    ticks = [m * 10**e for e in range(0, 6) for m in (1, 2, 5) if m * 10**e <= top]
    return sorted(set(ticks + [int(top)]))


def step_of_position(order: Any, sizes: Sequence[int]) -> list[int]:
    """The 1-based step that writes each position, from its rank in the order and the planned group sizes."""
    bounds = np.cumsum([0, *sizes])
    ranks = np.asarray(order.tolist() if hasattr(order, "tolist") else order)
    return (np.searchsorted(bounds, ranks, side="right")).tolist()

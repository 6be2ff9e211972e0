"""Figures for order-agnostic decoding (ARDM): which positions each planned step writes, and NLL against budget."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .tokens import BLUES, CHANGED

GREY = "#969696"


def plan_figure(step_of_position: Sequence[int], tokens: Sequence[str], num_steps: int,
                current: int | None = None) -> go.Figure:
    """A grid of steps (rows) by positions (columns): a cell is filled when that step writes that position,
    labelled with the word written. `step_of_position[i]` is the 1-based step that wrote position i."""
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
        z=z, text=text, texttemplate="%{text}", textfont=dict(size=9), showscale=False, xgap=1, ygap=1,
        colorscale=[[0.0, BLUES[3]], [1.0, BLUES[7]]], zmin=1, zmax=max(num_steps, 2),
        y=list(range(1, num_steps + 1)), x=list(range(L)),
        customdata=np.repeat(sizes[:, None], L, axis=1),
        hovertemplate="step %{y} writes position %{x}: %{text}<br>%{customdata} positions in this step<extra></extra>",
    ))
    if current is not None and 1 <= current <= num_steps:
        fig.add_hrect(y0=current - 0.5, y1=current + 0.5, line=dict(color=CHANGED, width=2))
    fig.update_layout(
        title=dict(text=f"Planned steps: {num_steps} steps for {L} positions", font=dict(size=14)),
        xaxis=dict(title="position", dtick=5), yaxis=dict(title="step", autorange="reversed"),
        height=min(700, 160 + 16 * num_steps), margin=dict(l=60, r=20, t=50, b=50),
    )
    return fig


def nll_budget_figure(budgets: Sequence[int], bits: Sequence[float], references: dict[str, float] | None = None,
                      current: int | None = None, fixed_orders: dict[str, float] | None = None,
                      related: dict[str, float] | None = None, name: str = "ARDM, planned") -> go.Figure:
    """NLL in bits per token of planned parallel decoding against the step budget, with reference lines
    (the left-to-right model, the corpus's true entropy) drawn flat, the same model's exact NLL in each fixed
    order (one position a step: at the largest budget) as points, and `related` models' exact NLL in fixed orders
    (absorbing SEDD read as an autoregressive model) as hollow points beside them."""
    if len(budgets) != len(bits):
        raise ValueError(f"budgets and bits must have the same length, got {len(budgets)} and {len(bits)}")
    fig = go.Figure(go.Scatter(x=list(budgets), y=list(bits), mode="lines+markers", name=name,
                               line=dict(color=BLUES[6]), marker=dict(size=5)))
    dashes = ("dash", "dot", "dashdot")
    # on the left, where the curve is far above the floors it falls towards; lines close together keep their labels
    # apart (one above its line, one below)
    places = ("top left", "bottom left", "top right")
    for k, (name, value) in enumerate((references or {}).items()):
        if value is None:
            continue
        fig.add_hline(y=value, line=dict(color=GREY, dash=dashes[k % len(dashes)], width=1),
                      annotation_text=f"{name}: {value:.3f}", annotation_position=places[k % len(places)])
    symbols = ("triangle-right", "triangle-left", "square")
    for k, (name, value) in enumerate((fixed_orders or {}).items()):
        fig.add_trace(go.Scatter(x=[max(budgets)], y=[value], mode="markers", name=f"{name}, exact: {value:.3f}",
                                 marker=dict(color=BLUES[8], size=10, symbol=symbols[k % len(symbols)])))
    for k, (name, value) in enumerate((related or {}).items()):
        fig.add_trace(go.Scatter(x=[max(budgets)], y=[value], mode="markers", name=f"{name}, exact: {value:.3f}",
                                 marker=dict(color=BLUES[5], size=10, symbol=f"{symbols[k % len(symbols)]}-open",
                                             line=dict(width=2))))
    if current is not None and current in list(budgets):
        y = list(bits)[list(budgets).index(current)]
        fig.add_trace(go.Scatter(x=[current], y=[y], mode="markers", name=f"{current} steps: {y:.3f}",
                                 marker=dict(color=CHANGED, size=11, symbol="diamond")))
    fig.update_layout(
        title=dict(text="NLL against the number of steps", font=dict(size=14)),
        xaxis=dict(title="steps (budget)", type="log", tickvals=_log_ticks(budgets)), yaxis=dict(title="bits per token"),
        height=340, margin=dict(l=60, r=20, t=50, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
    )
    return fig


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

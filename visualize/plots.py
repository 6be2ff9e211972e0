"""Plotly figure builders: plain data in, go.Figure out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .tokens import BLUES, CHANGED

LINE = BLUES[6]


def mean_distance(distance: Any) -> float:
    """Mean of one step's distances (a number, nested lists, an array or a CPU tensor of shape (B, L))."""
    return float(np.asarray(distance, dtype=np.float64).mean())


def clamp_distance_figure(indices: Sequence[int], distances: Sequence[Any], current: int | None = None,
                          clamped: Sequence[bool] | None = None, num_steps: int | None = None) -> go.Figure:
    """Per-step mean distance from the predicted x0 to its nearest word embedding (Sec. 4.2 of Li et al. 2022).

    `distances[k]` is step `indices[k]`'s distance: a number or a (B, L) array, averaged over every token
    of every sample. Clamped steps are filled markers, unclamped ones hollow; `current` (a step index)
    gets a vertical line and an orange marker.
    """
    if len(indices) != len(distances):
        raise ValueError(f"indices and distances must have the same length, got {len(indices)} and {len(distances)}")
    if clamped is not None and len(clamped) != len(indices):
        raise ValueError(f"clamped must have one flag per step, got {len(clamped)} for {len(indices)} steps")
    xs = [int(i) for i in indices]
    ys = [mean_distance(d) for d in distances]
    fig = go.Figure()
    if clamped is None:
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name="mean distance",
                                 line=dict(color=LINE), marker=dict(size=5)))
    else:
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=LINE), showlegend=False,
                                 hoverinfo="skip"))
        for flag, name, symbol in ((True, "clamped step", "circle"), (False, "unclamped step", "circle-open")):
            pts = [(x, y) for x, y, c in zip(xs, ys, clamped) if bool(c) == flag]
            if pts:
                fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="markers", name=name,
                                         marker=dict(color=LINE, size=6, symbol=symbol)))
    if current is not None:
        fig.add_vline(x=current, line=dict(color=CHANGED, width=1, dash="dot"))
        if current in xs:
            k = xs.index(current)
            fig.add_trace(go.Scatter(x=[current], y=[ys[k]], mode="markers", name=f"step {current}",
                                     marker=dict(color=CHANGED, size=11, symbol="diamond")))
    if not xs:
        fig.add_annotation(text="no clamp distances recorded", showarrow=False, xref="paper", yref="paper",
                           x=0.5, y=0.5)
    x_max = num_steps if num_steps is not None else (max(xs) if xs else 1)
    fig.update_layout(
        title=dict(text="Distance from predicted x̂₀ to the nearest word embedding", font=dict(size=14)),
        xaxis=dict(title="step (0 = pure noise)", range=[-0.02 * x_max, 1.02 * x_max]),
        yaxis=dict(title="mean ‖x̂₀ − EMB(w)‖", rangemode="tozero"),
        template="plotly_white", height=320, margin=dict(l=60, r=20, t=50, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
    )
    return fig

"""The Train tab's live loss curve: plain numbers in, go.Figure out."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from .player import NOW
from .tokens import BLUES


def loss_curve_figure(steps: Sequence[int], losses: Sequence[float], seconds: float | None = None,
                      cap_seconds: float | None = None, family: str = "") -> go.Figure:
    """Training loss against step, on a log axis (losses fall by orders of magnitude early on); the title says how
    much of the time cap is used. The newest point is marked."""
    if len(steps) != len(losses):
        raise ValueError(f"steps and losses must have the same length, got {len(steps)} and {len(losses)}")
    fig = go.Figure()
    xs, ys = [int(s) for s in steps], [float(v) for v in losses]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="training loss", line=dict(color=BLUES[6], width=2)))
    if xs:
        fig.add_trace(go.Scatter(x=xs[-1:], y=ys[-1:], mode="markers", name=f"step {xs[-1]}: {ys[-1]:.3f}",
                                 marker=dict(color=NOW, size=9, symbol="diamond")))
    else:
        fig.add_annotation(text="the curve appears after the first steps", showarrow=False, xref="paper",
                           yref="paper", x=0.5, y=0.5)
    title = f"{family} training loss" if family else "training loss"
    if seconds is not None and cap_seconds:
        title += f" · {seconds:.0f} s of {cap_seconds:.0f} s"
    positive = [v for v in ys if v > 0]
    fig.update_layout(
        title=dict(text=title, font=dict(size=14)),
        xaxis=dict(title="step", rangemode="tozero"),
        yaxis=dict(title="loss (log scale)", type="log" if positive and len(positive) == len(ys) else "linear"),
        margin=dict(l=60, r=20, t=50, b=50), height=320,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
    )
    return fig

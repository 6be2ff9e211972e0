"""Figures of plug-and-play control: the classifier's probability of the asked value along the reverse chain."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .player import step_cursor
from .tokens import BLUES

SAMPLE_COLOURS = (BLUES[7], "#009E73", "#CC79A7", "#E69F00")  # Okabe-Ito beside the app's blue


def control_probability_figure(indices: Sequence[int], probs: Sequence[Sequence[float]], label: str,
                               current: int | None = None, num_steps: int | None = None,
                               final: Sequence[bool] | None = None,
                               frames: Sequence[int] | None = None) -> go.Figure:
    """One line per sample: p(label | x_t) under the classifier at each recorded step (`probs[k][b]` is sample b's at
    step `indices[k]`); `current` marks the step on show (following the player through `frames`). `final`: per
    sample, whether its final sentence really says the label (the grammar's reading), drawn at the last step as a
    filled mark at 1 (it does) or a cross at 0 (it does not), so that a classifier fooled by the guidance shows as
    a line ending high beside a cross."""
    if len(indices) != len(probs):
        raise ValueError(f"indices and probs must have the same length, got {len(indices)} and {len(probs)}")
    xs = [int(i) for i in indices]
    p = np.asarray(probs, dtype=np.float64).reshape(len(xs), -1) if xs else np.zeros((0, 0))  # (steps, B)
    fig = go.Figure()
    for b in range(p.shape[1]):
        fig.add_trace(go.Scatter(x=xs, y=p[:, b], mode="lines", name=f"sample {b + 1}",
                                 line=dict(color=SAMPLE_COLOURS[b % len(SAMPLE_COLOURS)], width=2),
                                 hovertemplate="step %{x}: p = %{y:.3f}<extra>sample " + str(b + 1) + "</extra>"))
    x_max = num_steps if num_steps is not None else (max(xs) if xs else 1)
    for b, says in enumerate(final or []):
        colour = SAMPLE_COLOURS[b % len(SAMPLE_COLOURS)]
        fig.add_trace(go.Scatter(
            x=[x_max], y=[1.0 if says else 0.0], mode="markers", name=f"sample {b + 1}'s sentence: "
            + ("says it" if says else "does not say it"),
            marker=dict(color=colour, size=14, symbol="circle" if says else "x-thin-open",
                        line=dict(color=colour, width=3)),
            hovertemplate=f"sample {b + 1}'s final sentence " + ("says" if says else "does not say")
            + f" {label}<extra></extra>"))
    step_cursor(fig, xs, None, current, frames, span=(0.0, 1.0))
    if not xs:
        fig.add_annotation(text="no classifier probabilities recorded", showarrow=False, xref="paper",
                           yref="paper", x=0.5, y=0.5)
    fig.update_layout(
        title=dict(text=f"Classifier's p({label} | x_t) along the chain, and what the final sentences say",
                   font=dict(size=14)),
        xaxis=dict(title="step (0 = pure noise)", range=[-0.02 * x_max, 1.04 * x_max]),
        yaxis=dict(title="probability", range=[-0.06, 1.06]),
        height=340, margin=dict(l=60, r=20, t=50, b=90),
        legend=dict(orientation="h", yanchor="top", y=-0.3, xanchor="left", x=0, font=dict(size=12)),
    )
    return fig

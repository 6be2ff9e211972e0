"""Figures of plug-and-play control: the classifier's probability of the asked value along the reverse chain."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .tokens import BLUES, CHANGED

SAMPLE_COLOURS = (BLUES[7], "#009E73", "#CC79A7", "#E69F00")  # Okabe-Ito beside the app's blue


def control_probability_figure(indices: Sequence[int], probs: Sequence[Sequence[float]], label: str,
                               current: int | None = None, num_steps: int | None = None) -> go.Figure:
    """One line per sample: p(label | x_t) under the classifier at each recorded step (`probs[k][b]` is sample b's at
    step `indices[k]`); `current` marks the step on show."""
    if len(indices) != len(probs):
        raise ValueError(f"indices and probs must have the same length, got {len(indices)} and {len(probs)}")
    xs = [int(i) for i in indices]
    p = np.asarray(probs, dtype=np.float64).reshape(len(xs), -1) if xs else np.zeros((0, 0))  # (steps, B)
    fig = go.Figure()
    for b in range(p.shape[1]):
        fig.add_trace(go.Scatter(x=xs, y=p[:, b], mode="lines", name=f"sample {b + 1}",
                                 line=dict(color=SAMPLE_COLOURS[b % len(SAMPLE_COLOURS)], width=2),
                                 hovertemplate="step %{x}: p = %{y:.3f}<extra>sample " + str(b + 1) + "</extra>"))
    if current is not None:
        fig.add_vline(x=current, line=dict(color=CHANGED, width=1, dash="dot"))
    if not xs:
        fig.add_annotation(text="no classifier probabilities recorded", showarrow=False, xref="paper",
                           yref="paper", x=0.5, y=0.5)
    x_max = num_steps if num_steps is not None else (max(xs) if xs else 1)
    fig.update_layout(
        title=dict(text=f"Classifier's p({label} | x_t) along the chain", font=dict(size=14)),
        xaxis=dict(title="step (0 = pure noise)", range=[-0.02 * x_max, 1.02 * x_max]),
        yaxis=dict(title="probability", range=[-0.02, 1.02]),
        height=280, margin=dict(l=50, r=20, t=40, b=40), legend=dict(orientation="h", y=-0.3),
    )
    return fig

"""Plotly figure builders: plain data in, go.Figure out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .player import NOW, step_cursor
from .tokens import BLUES

LINE = BLUES[6]


def mean_distance(distance: Any) -> float:
    """Mean of one step's distances (a number, nested lists, an array or a CPU tensor of shape (B, L))."""
    return float(np.asarray(distance, dtype=np.float64).mean())


def clamp_distance_figure(indices: Sequence[int], distances: Sequence[Any], current: int | None = None,
                          clamped: Sequence[bool] | None = None, num_steps: int | None = None,
                          frames: Sequence[int] | None = None) -> go.Figure:
    """Per-step mean distance from the predicted x0 to its nearest word embedding (Sec. 4.2 of Li et al. 2022).

    `distances[k]` is step `indices[k]`'s distance: a number or a (B, L) array, averaged over every token
    of every sample. Clamped steps are filled markers, unclamped ones hollow; `current` (a step index)
    gets a dotted line and a marker, which follow the player through `frames` (each frame's step) when given.
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
    step_cursor(fig, xs, ys, current, frames)
    if not xs:
        fig.add_annotation(text="no clamp distances recorded", showarrow=False, xref="paper", yref="paper",
                           x=0.5, y=0.5)
    x_max = num_steps if num_steps is not None else (max(xs) if xs else 1)
    fig.update_layout(
        title=dict(text="Distance from predicted x̂₀ to the nearest word embedding", font=dict(size=14)),
        xaxis=dict(title="step (0 = pure noise)", range=[-0.02 * x_max, 1.02 * x_max]),
        yaxis=dict(title="mean ‖x̂₀ − EMB(w)‖", rangemode="tozero"),
        height=320, margin=dict(l=60, r=20, t=50, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
    )
    return fig


def discrete_schedule_figure(curves: dict[str, list[float]], t: float | None = None,
                             graph: str = "absorb", frames: Sequence[float] | None = None) -> go.Figure:
    """The discrete schedule: probability a token has been hit by t (masked or replaced) and the total noise
    sigma_bar(t) on a second axis; `t` gets a dotted line and a marker, which follow the player through `frames`
    (each frame's t) when given."""
    hit = "masked" if graph == "absorb" else "replaced (may land on itself)"
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=curves["t"], y=curves["hit_probability"], mode="lines", name=f"P(token {hit})",
                             line=dict(color=LINE)))
    fig.add_trace(go.Scatter(x=curves["t"], y=curves["sigma_bar"], mode="lines", name="σ̄(t)", yaxis="y2",
                             line=dict(color="#969696", dash="dash")))
    step_cursor(fig, curves["t"], curves["hit_probability"], t, frames, span=(0.0, 1.0))
    fig.update_layout(
        title=dict(text="Noise schedule", font=dict(size=14)),
        xaxis=dict(title="t", range=[0, 1]), yaxis=dict(title="probability", range=[0, 1.02]),
        yaxis2=dict(title="σ̄(t)", overlaying="y", side="right", type="log", showgrid=False,
                    dtick=1),  # a label per decade: the 2s and 5s between them crowd a 300-pixel axis
        height=300, margin=dict(l=60, r=60, t=50, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
    )
    return fig


def quality_vs_steps_figure(rows: Sequence[dict[str, Any]], key: str = "grammatical_rate",
                            current: int | None = None) -> go.Figure:
    """One line per sampler: a quality figure (grammatical rate by default) against the number of steps, from
    recorded evaluations (`rows` of dicts with steps, sampler and the key)."""
    fig = go.Figure()
    samplers = sorted({str(r.get("sampler")) for r in rows})
    for k, sampler in enumerate(samplers):
        pts = sorted((int(r["steps"]), float(r[key])) for r in rows
                     if str(r.get("sampler")) == sampler and r.get(key) is not None)
        # lightness and dash tell the lines apart (a third light blue line was hard to see on white)
        fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers", name=sampler,
                                 line=dict(color=BLUES[8 - 2 * (k % 3)], dash=("solid", "dash", "dot")[k % 3]),
                                 marker=dict(size=7, symbol=("circle", "square", "diamond", "triangle-up",
                                                             "x")[k % 5])))
    if current is not None:
        fig.add_vline(x=current, line=dict(color=NOW, width=1, dash="dot"))
    if not rows:
        fig.add_annotation(text="no recorded evaluations (python -m diffusion evaluate --record)", showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_layout(
        title=dict(text=f"{key.replace('_', ' ')} against steps", font=dict(size=14)),
        xaxis=dict(title="steps", type="log", tickvals=sorted({int(r["steps"]) for r in rows})),
        yaxis=dict(title=key.replace("_", " "), range=[0, 1.02]),
        height=300, margin=dict(l=60, r=20, t=50, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
    )
    return fig


def bleu_heatmap_figure(matrix: Sequence[Sequence[float]], pick: int | None = None) -> go.Figure:
    """Pairwise sentence BLEU between MBR candidates (row i scored against row j as the reference), with each row's
    summed gain; the MBR pick (the row with the highest gain) is outlined in orange."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"matrix must be square (candidates x candidates), got shape {m.shape}")
    k = m.shape[0]
    if pick is not None and not 0 <= pick < k:
        raise ValueError(f"pick must be a candidate index from 0 to {k - 1}, got {pick}")
    labels = [f"#{i + 1}" for i in range(k)]  # not bare numbers: plotly would read them as a numeric axis
    shown = m.copy()
    np.fill_diagonal(shown, np.nan)  # a candidate against itself says nothing
    gains = np.nansum(shown, axis=1)
    text = [["" if i == j else f"{m[i, j]:.0f}" for j in range(k)] for i in range(k)]
    fig = go.Figure(go.Heatmap(
        z=shown, x=labels, y=labels, text=text, texttemplate="%{text}", colorscale=[[0, BLUES[0]], [1, BLUES[7]]],
        zmin=0, zmax=100, colorbar=dict(title="BLEU", x=1.16, thickness=14),
        hovertemplate="candidate %{y} against %{x}: BLEU %{z:.1f}<extra></extra>"))
    for i, g in enumerate(gains):
        fig.add_annotation(x=1.0, y=labels[i], xref="paper", xanchor="left", text=f"Σ {g:.0f}", showarrow=False,
                           font=dict(color=NOW if i == pick else "#525252", size=12))
    if pick is not None:
        fig.add_shape(type="rect", x0=-0.5, x1=k - 0.5, y0=pick - 0.5, y1=pick + 0.5,
                      line=dict(color=NOW, width=3))
    fig.update_layout(
        title=dict(text="Pairwise BLEU between candidates (MBR picks the highest row sum)", font=dict(size=14)),
        xaxis=dict(title="reference candidate", type="category"),
        yaxis=dict(title="candidate", type="category", autorange="reversed"),
        height=320, margin=dict(l=70, r=120, t=50, b=50),
    )
    return fig


SCHEDULE_STYLES = {"sqrt": dict(color="#0072B2", dash="solid"), "cosine": dict(color="#009E73", dash="dash"),
                   "linear": dict(color="#CC79A7", dash="dot")}  # Okabe-Ito, told apart by dash too


def schedules_figure(curves: dict[str, tuple[Sequence[float], Sequence[float]]], chosen: str, model: str,
                     current: float | None = None, frames: Sequence[float] | None = None) -> go.Figure:
    """alpha_bar(t) of several noise schedules (`curves`: name -> (t, alpha_bar)), the `chosen` one thick, the
    `model`'s own named; `current` gets a cursor on the chosen curve, which follows the player through `frames`."""
    fig = go.Figure()
    for name, (ts, ab) in curves.items():
        style = SCHEDULE_STYLES.get(name, dict(color="#525252", dash="solid"))
        label = f"{name} (this model's)" if name == model else name
        fig.add_trace(go.Scatter(x=list(ts), y=list(ab), mode="lines", name=label,
                                 line=dict(color=style["color"], dash=style["dash"], width=4 if name == chosen else 2)))
    if chosen in curves:
        step_cursor(fig, list(curves[chosen][0]), list(curves[chosen][1]), current, frames, span=(0.0, 1.0))
    fig.update_layout(
        title=dict(text="Signal left: ᾱ(t) of each schedule", font=dict(size=14)),
        xaxis=dict(title="t", range=[0, 1]), yaxis=dict(title="ᾱ(t)", range=[0, 1.02]),
        height=360, margin=dict(l=60, r=20, t=50, b=50), font=dict(size=13),
        legend=dict(orientation="h", yanchor="top", y=-0.2, xanchor="left", x=0),
    )
    return fig

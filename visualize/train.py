"""The Train tab's live loss curve and its progression of samples: plain numbers and strings in, go.Figure or HTML
out."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

from .player import NOW
from .tokens import BLUES, GRAMMATICAL


@dataclass(frozen=True)
class Reference:
    """A recorded loss curve drawn behind the live one for contrast (the left-to-right model's)."""

    steps: Sequence[int]
    losses: Sequence[float]
    name: str


@dataclass(frozen=True)
class Snapshot:
    """What the model wrote after `step` steps; `grammatical` per text, None where there is no grammar to ask."""

    step: int
    texts: Sequence[str]
    grammatical: Sequence[bool] | None = None
    note: str = ""


def loss_curve_figure(steps: Sequence[int], losses: Sequence[float], seconds: float | None = None,
                      cap_seconds: float | None = None, family: str = "",
                      reference: Reference | None = None) -> go.Figure:
    """Training loss against step, on a log axis (losses fall by orders of magnitude early on); the title says how
    much of the time cap is used. The newest point is marked; a recorded `reference` curve is drawn dashed behind."""
    if len(steps) != len(losses):
        raise ValueError(f"steps and losses must have the same length, got {len(steps)} and {len(losses)}")
    fig = go.Figure()
    xs, ys = [int(s) for s in steps], [float(v) for v in losses]
    ref_ys: list[float] = []
    if reference is not None:
        if len(reference.steps) != len(reference.losses):
            raise ValueError(f"the reference's steps and losses must have the same length, got "
                             f"{len(reference.steps)} and {len(reference.losses)}")
        ref_ys = [float(v) for v in reference.losses]
        fig.add_trace(go.Scatter(x=[int(s) for s in reference.steps], y=ref_ys, mode="lines", name=reference.name,
                                 line=dict(color=BLUES[4], width=1.5, dash="dash")))
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
    every = ys + ref_ys
    log_axis = bool(every) and all(v > 0 for v in every)
    fig.update_layout(
        title=dict(text=title, font=dict(size=14)),
        xaxis=dict(title="step", rangemode="tozero"),
        yaxis=dict(title=f"loss{' (log scale)' if log_axis else ''}", type="log" if log_axis else "linear"),
        margin=dict(l=60, r=20, t=50, b=50), height=320,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
    )
    return fig


def progression_html(snapshots: Sequence[Snapshot], intro: str = "") -> str:
    """A timeline of samples drawn as training went on, one row per snapshot ("after N steps: ..."), the same noise
    each time so the rows differ only by what the model has learned; grammatical samples carry a mark."""
    rows = []
    for snap in snapshots:
        marks = snap.grammatical if snap.grammatical is not None else [None] * len(snap.texts)
        if len(marks) != len(snap.texts):
            raise ValueError(f"a snapshot needs one verdict per text, got {len(marks)} for {len(snap.texts)}")
        texts = "".join(
            f"<li><code>{html.escape(t)}</code>"
            + (f" <span style='color:{GRAMMATICAL}' title='a sentence of the grammar'>✓</span>" if ok else "")
            + "</li>" for t, ok in zip(snap.texts, marks))
        note = f" ({html.escape(snap.note)})" if snap.note else ""
        rows.append(f"<li class='train-snapshot' data-step='{int(snap.step)}'><b>after {int(snap.step)} "
                    f"step{'s' * (snap.step != 1)}</b>{note}:<ul>{texts}</ul></li>")
    head = f"<p>{html.escape(intro)}</p>" if intro else ""
    return f"<div id='train-timeline'>{head}<ol style='list-style:none;padding-left:0'>{''.join(rows)}</ol></div>"

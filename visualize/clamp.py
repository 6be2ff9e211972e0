"""Figures for the clamping trick (Sec. 4.2 of Li et al. 2022): one seed run with and without clamping, step by step.

Plain data in (step indices, per-step numbers or (B, L) arrays), plotly figures and HTML strings out.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .plots import mean_distance
from .player import step_cursor
from .tokens import BLUES, verdict_mark

# Two blues far apart in lightness, and a dash, so the runs differ in more than colour (and in greyscale): the first
# run (with clamping; the x0-parameterised model) dark and solid, the second light and dashed.
RUN_STYLES = (dict(color=BLUES[7], dash="solid", symbol="circle"),
              dict(color=BLUES[4], dash="dash", symbol="square-open"))
CLAMP_RUNS = ("with clamping", "without clamping")


def disagreements(pred_tokens: Any, tokens: Any) -> float:
    """Positions where the word x̂₀ rounds to differs from the word the new latent rounds to, per sample (the mean
    over the batch): (B, L) ids of each, as nested lists, arrays or CPU tensors."""
    pred = np.asarray(pred_tokens.tolist() if hasattr(pred_tokens, "tolist") else pred_tokens)
    now = np.asarray(tokens.tolist() if hasattr(tokens, "tolist") else tokens)
    if pred.shape != now.shape:
        raise ValueError(f"pred_tokens and tokens must have the same shape, got {pred.shape} and {now.shape}")
    if pred.ndim == 1:
        pred, now = pred[None], now[None]
    return float((pred != now).sum(-1).mean()) if pred.size else 0.0


def _runs_figure(indices: Sequence[int], runs: dict[str, Sequence[float]], current: int | None, num_steps: int | None,
                 title: str, y_title: str, y_max: float | None = None,
                 clamp_start: int | None = None, frames: Sequence[int] | None = None) -> go.Figure:
    xs = [int(i) for i in indices]
    fig = go.Figure()
    for k, (name, ys) in enumerate(runs.items()):
        if len(ys) != len(xs):
            raise ValueError(f"{name!r} must have one value per step, got {len(ys)} for {len(xs)} steps")
        style = RUN_STYLES[k % len(RUN_STYLES)]
        fig.add_trace(go.Scatter(x=xs, y=list(ys), mode="lines+markers", name=name,
                                 line=dict(color=style["color"], dash=style["dash"], width=2),
                                 marker=dict(color=style["color"], symbol=style["symbol"], size=5)))
    if clamp_start is not None and clamp_start > 0:
        fig.add_vrect(x0=0, x1=clamp_start, fillcolor=BLUES[1], opacity=0.6, line_width=0, layer="below",
                      annotation_text="not clamped yet", annotation_position="bottom left",
                      annotation_font=dict(size=11, color="#525252"))
    top = max([float(v) for ys in runs.values() for v in ys] or [1.0])
    step_cursor(fig, xs, None, current, frames, span=(0.0, y_max if y_max is not None else 1.05 * top))
    if not xs:
        fig.add_annotation(text="no steps recorded yet", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    x_max = num_steps if num_steps is not None else (max(xs) if xs else 1)
    fig.update_layout(
        title=dict(text=title, font=dict(size=14)),
        xaxis=dict(title="step (0 = pure noise)", range=[-0.02 * x_max, 1.02 * x_max]),
        yaxis=dict(title=y_title, rangemode="tozero", range=None if y_max is None else [0, y_max]),
        # the legend under the axis: on a phone's width it would otherwise run over the title
        height=340, margin=dict(l=60, r=20, t=50, b=95),
        legend=dict(orientation="h", yanchor="top", y=-0.3, xanchor="left", x=0.0),
    )
    return fig


def clamp_distances_figure(indices: Sequence[int], with_clamping: Sequence[Any], without_clamping: Sequence[Any],
                           current: int | None = None, num_steps: int | None = None,
                           clamp_start: int | None = None, names: tuple[str, str] = CLAMP_RUNS,
                           frames: Sequence[int] | None = None) -> go.Figure:
    """Per step, the mean distance from the network's x̂₀ (before any snapping) to its nearest word embedding, for
    the run with clamping and the run without (or any two runs, `names` their legend): two lines, `current` marked in
    a dotted line (following the player through `frames`), steps up to `clamp_start` (unclamped in both) shaded. Each distance is a number or a (B, L) array,
    averaged over every token."""
    runs = {names[0]: [mean_distance(d) for d in with_clamping], names[1]: [mean_distance(d) for d in without_clamping]}
    return _runs_figure(indices, runs, current, num_steps, "Distance of x̂₀ to the nearest word",
                        "mean ‖x̂₀ − EMB(w)‖", clamp_start=clamp_start, frames=frames)


def disagreement_figure(indices: Sequence[int], with_clamping: Sequence[float], without_clamping: Sequence[float],
                        length: int, current: int | None = None, num_steps: int | None = None,
                        clamp_start: int | None = None, names: tuple[str, str] = CLAMP_RUNS,
                        frames: Sequence[int] | None = None) -> go.Figure:
    """Per step, how many of the `length` positions round differently in x̂₀ and in the new latent x_t (the words the
    model predicts against the words the chain shows), for both runs."""
    runs = {names[0]: list(with_clamping), names[1]: list(without_clamping)}
    return _runs_figure(indices, runs, current, num_steps, "Words where x̂₀ and x_t round differently",
                        f"positions (of {length})", y_max=length * 1.04, clamp_start=clamp_start, frames=frames)


def verdict_html(text: str, grammatical: bool, final_distance: float | None = None,
                 reason: tuple[str, str] | None = None) -> str:
    """The final line under a run: the decoded sample, whether the built-in grammar accepts it, and the mean distance
    from the final latent x_0 to its nearest word embeddings; `reason`: the rule a rejected sample breaks."""
    mark = verdict_mark(grammatical, reason)
    body = html.escape(text) if text.strip() else "<i>(empty)</i>"
    where = "" if final_distance is None else f" · x₀ lies {final_distance:.3f} from the nearest words"
    return (f'<div class="verdict" style="border-top:1px solid #c6dbef;margin-top:0.4em;padding-top:0.4em">'
            f'final sample: {mark}<span style="font-size:0.85em;opacity:0.8">{where}</span>'
            f'<div style="margin-top:0.2em">{body}</div></div>')


def denoising_accuracy_figure(curves: dict[str, dict[str, Sequence[float]]], count: int) -> go.Figure:
    """Per model (`curves`: name -> {"t", "words", "sentences"} as `diffusion.metrics.denoising_accuracy` returns),
    the fraction of held-out words (solid) and whole sentences (dotted) that the one-shot x̂₀ at t rounds back to,
    against t; `count` sentences were noised."""
    fig = go.Figure()
    for k, (name, c) in enumerate(curves.items()):
        style = RUN_STYLES[k % len(RUN_STYLES)]
        fig.add_trace(go.Scatter(x=list(c["t"]), y=list(c["words"]), mode="lines+markers", name=f"{name}: words",
                                 line=dict(color=style["color"], dash=style["dash"], width=2),
                                 marker=dict(color=style["color"], symbol=style["symbol"], size=6)))
        fig.add_trace(go.Scatter(x=list(c["t"]), y=list(c["sentences"]), mode="lines", name=f"{name}: sentences",
                                 line=dict(color=style["color"], dash="dot", width=1.5)))
    fig.update_layout(
        title=dict(text=f"One-shot x̂₀ of {count} held-out sentences noised to t: rounded back right",
                   font=dict(size=14)),
        xaxis=dict(title="t (0 = clean, 1 = pure noise)", range=[0, 1]),
        yaxis=dict(title="fraction right", range=[0, 1.04]),
        height=340, margin=dict(l=60, r=20, t=50, b=95),
        legend=dict(orientation="h", yanchor="top", y=-0.3, xanchor="left", x=0.0),
    )
    return fig

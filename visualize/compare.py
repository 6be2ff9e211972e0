"""Views for comparing families: one result card per family, the table of recorded figures, quality against speed.

Plain data in (token strings, numbers, rows as dicts), HTML strings and plotly figures out.

A row of recorded figures is a dict with keys `name` (checkpoint), `family`, `steps`, `sampler` (a short text),
`nll` (bits per token or None), `nll_method` ("exact", "ELBO", "bound" or None), `nll_detail` (the full method),
`grammatical_rate`, `seconds_per_sequence`, `train_minutes` (None where unknown) and `source` (where it was read).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any, Literal

import plotly.graph_objects as go

from .tokens import BLUES, calls_note, render_tokens, verdict_mark

Status = Literal["waiting", "running", "done", "skipped"]
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "star", "hexagon", "x")
SHADES = (BLUES[8], BLUES[6], BLUES[4], BLUES[7], BLUES[5], BLUES[8], BLUES[6], BLUES[4])
METHODS = ("exact", "ELBO", "bound")


def nll_kind(method: str | None) -> str | None:
    """The kind of an NLL figure from a recorded method text: exact, ELBO (a variational lower bound on log p,
    reported as an upper bound on the NLL) or another bound."""
    if not method:
        return None
    low = method.lower()
    if low.startswith("exact"):
        return "exact"
    if low.startswith("elbo"):
        return "ELBO"
    return "bound"


def _fmt(value: Any, spec: str, missing: str = "—") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    return format(value, spec)


def result_card(name: str, status: Status, *, tokens: Sequence[str] | None = None, confidence: Any = None,
                held: int = 0, text: str | None = None, grammatical: bool | None = None,
                seconds: float | None = None, steps: int | None = None, note: str = "", message: str = "",
                calls: int | None = None) -> str:
    """One family's card: its name, the steps it took and why, then (when done) the final tokens shaded by confidence,
    the grammar's verdict, the network calls the steps made and the wall-clock seconds; otherwise what it is waiting
    for or why it was skipped."""
    if status not in ("waiting", "running", "done", "skipped"):
        raise ValueError(f"status must be one of waiting, running, done, skipped; got {status!r}")
    head = f'<b>{html.escape(name)}</b>'
    if steps is not None:
        head += f' <span style="opacity:0.75">· {steps} step{"s" if steps != 1 else ""}</span>'
    if note:
        head += f'<div style="font-size:0.8em;opacity:0.75">{html.escape(note, quote=False)}</div>'
    if status == "done":
        if tokens is None or text is None or grammatical is None or seconds is None:
            raise ValueError("a finished card needs tokens, text, grammatical and seconds")
        conf = confidence if confidence is not None else [1.0] * len(tokens)
        words = render_tokens(list(tokens), conf, pad="hide", held=held)
        verdict = verdict_mark(grammatical)
        body = (f'<div style="line-height:1.9;margin:0.3em 0">{words}</div>'
                f'<div class="card-line" style="font-size:0.9em">{verdict}{calls_note(calls)} · {seconds:.2f} s</div>'
                f'<div class="card-text" style="font-size:0.8em;opacity:0.7;margin-top:0.2em">'
                f'{html.escape(text) or "<i>(empty)</i>"}</div>')
        border = f"1px solid {BLUES[3]}"
    elif status == "skipped":
        body = f'<div style="margin-top:0.3em;color:#a63603">skipped: {html.escape(message, quote=False)}</div>'
        border = "1px dashed #969696"
    else:
        body = f'<div style="margin-top:0.3em;opacity:0.7"><i>{"running…" if status == "running" else "waiting"}</i></div>'
        border = f"1px dotted {BLUES[4]}"
    return (f'<div class="family-card" data-family="{html.escape(name, quote=True)}" data-status="{status}" '
            f'style="flex:1 1 300px;min-width:260px;max-width:100%;border:{border};border-radius:8px;'
            f'padding:0.5em 0.7em">{head}{body}</div>')


def cards_html(cards: Sequence[str], footer: str = "") -> str:
    """The cards in a wrapping grid: side by side on a wide screen, one under the other on a phone."""
    foot = f'<div style="font-size:0.85em;opacity:0.8;margin-top:0.4em">{html.escape(footer)}</div>' if footer else ""
    return f'<div class="family-cards" style="display:flex;flex-wrap:wrap;gap:0.6em">{"".join(cards)}</div>{foot}'


def records_table_html(rows: Sequence[dict[str, Any]], entropy: float | None = None,
                       notes: Sequence[str] = ()) -> str:
    """The recorded figures, one row per (checkpoint, settings), with the corpus's true entropy as the NLL floor."""
    head = ("checkpoint", "steps", "sampler", "NLL bits/token", "grammatical", "s / sequence", "training min",
            "source")
    # border:none first: host pages (Gradio's prose) draw a grid around every cell; one rule per row reads easier
    cell = "padding:0.25em 0.6em;border:none;border-bottom:1px solid #deebf7;text-align:left;white-space:nowrap"
    lines = []
    for r in rows:
        nll = r.get("nll")
        kind = r.get("nll_method")
        detail = html.escape(r.get("nll_detail") or "", quote=True)
        nll_text = "—" if nll is None else f"{nll:.3f} <span style=\"opacity:0.7\">({html.escape(kind or '?')})</span>"
        rate = r.get("grammatical_rate")
        values = (
            f"<b>{html.escape(str(r.get('name', '?')))}</b>", _fmt(r.get("steps"), "d"),
            html.escape(r.get("sampler") or "—"), f'<span title="{detail}">{nll_text}</span>',
            "—" if rate is None else f"{rate:.2f}", _fmt(r.get("seconds_per_sequence"), ".3f"),
            _fmt(r.get("train_minutes"), ".0f"), html.escape(r.get("source") or ""),
        )
        lines.append("<tr>" + "".join(f'<td style="{cell}">{v}</td>' for v in values) + "</tr>")
    if not rows:
        lines.append(f'<tr><td colspan="{len(head)}" style="{cell}"><i>no recorded evaluations '
                     f'(python -m diffusion evaluate --record)</i></td></tr>')
    header = "".join(f'<th style="{cell};border-bottom:2px solid {BLUES[4]}">{h}</th>' for h in head)
    floor = ("" if entropy is None else
             f'<div class="entropy-floor" style="margin-top:0.4em">The corpus\'s true entropy is '
             f'<b>{entropy:.3f} bits per word</b>: the floor for every NLL above (no model can go below it).</div>')
    extra = "".join(f'<div style="font-size:0.85em;opacity:0.8">{html.escape(n)}</div>' for n in notes)
    return (f'<div class="records" style="overflow-x:auto"><table style="border-collapse:collapse;font-size:0.9em">'
            f'<thead><tr>{header}</tr></thead><tbody>{"".join(lines)}</tbody></table></div>{floor}{extra}')


def quality_speed_figure(rows: Sequence[dict[str, Any]]) -> go.Figure:
    """Grammatical rate against seconds per sequence (log scale), one point per recorded (checkpoint, steps) entry,
    a marker shape per checkpoint, each point labelled with its steps; up and to the left is better."""
    names: list[str] = []
    for r in rows:
        if r.get("name") not in names:
            names.append(r.get("name"))
    fig = go.Figure()
    for k, name in enumerate(names):
        pts = [r for r in rows if r.get("name") == name and r.get("grammatical_rate") is not None
               and r.get("seconds_per_sequence")]
        if not pts:
            continue
        pts.sort(key=lambda r: r["seconds_per_sequence"])
        fig.add_trace(go.Scatter(
            x=[r["seconds_per_sequence"] for r in pts], y=[r["grammatical_rate"] for r in pts],
            mode="markers+text", name=str(name), text=[f"{r.get('steps', '?')}" for r in pts],
            textposition="top center", textfont=dict(size=10, color="#525252"),
            customdata=[[r.get("steps"), r.get("sampler") or "", r.get("source") or ""] for r in pts],
            hovertemplate=(f"<b>{html.escape(str(name))}</b> · %{{customdata[0]}} steps %{{customdata[1]}}<br>"
                           "%{x:.3f} s per sequence · grammatical %{y:.2f}<br>%{customdata[2]}<extra></extra>"),
            marker=dict(symbol=SYMBOLS[k % len(SYMBOLS)], size=11, color=SHADES[k % len(SHADES)],
                        line=dict(color="#ffffff", width=1))))
    seconds = [float(r["seconds_per_sequence"]) for r in rows if r.get("seconds_per_sequence")]
    if not fig.data:
        fig.add_annotation(text="no recorded evaluations with a grammatical rate and a time", showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_layout(
        title=dict(text="Quality against speed (labels: steps)", font=dict(size=14)),
        xaxis=dict(title="seconds per sequence (log)", type="log", tickvals=_ticks(seconds) or None),
        yaxis=dict(title="grammatical rate", range=[-0.05, 1.15]),  # room for the labels above a rate of 1
        height=380, margin=dict(l=60, r=20, t=50, b=50),
        legend=dict(orientation="h", yanchor="top", y=-0.18, xanchor="left", x=0.0),
    )
    return fig


def _ticks(values: Sequence[float]) -> list[float]:
    """1-2-5 ticks spanning the values (a log axis otherwise labels every minor tick and they collide)."""
    positive = [v for v in values if v > 0]
    if not positive:
        return []
    low, high = min(positive), max(positive)
    ticks = [m * 10.0**e for e in range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1)
             for m in (1, 2, 5)]
    below = [t for t in ticks if t <= low]
    above = [t for t in ticks if t >= high]
    return [t for t in ticks if (below[-1] if below else low) <= t <= (above[0] if above else high)]


def scaling_figure(report: dict[str, Any] | None, shipped: dict[str, float] | None = None,
                   source: str = "") -> go.Figure:
    """Grammatical rate against the sentences a recipe trained on (log scale), one line per recipe from a
    `bench/scaling.py` report, each shipped checkpoint (10 CPU minutes) a star at its own count, and the 0.95 target."""
    fig = go.Figure()
    by_recipe: dict[str, list[dict[str, Any]]] = {}
    for job in (report or {}).get("jobs", []):
        if isinstance(job, dict) and job.get("grammatical_rate") is not None and job.get("sentences"):
            by_recipe.setdefault(str(job.get("recipe")), []).append(job)
    counts = (report or {}).get("shipped_sentences") or {}
    device = html.escape(str((report or {}).get("device", "")))
    for k, (recipe, jobs) in enumerate(by_recipe.items()):
        jobs.sort(key=lambda j: j["sentences"])
        colour, symbol = SHADES[k % len(SHADES)], SYMBOLS[k % len(SYMBOLS)]
        fig.add_trace(go.Scatter(
            x=[j["sentences"] / 1e6 for j in jobs], y=[j["grammatical_rate"] for j in jobs], mode="lines+markers",
            name=f"{recipe} (more sentences, {device})",
            customdata=[[j.get("batch_size"), j.get("steps"), j.get("times_shipped_sentences"),
                         _fmt(j.get("nll_bits_per_token"), ".3f")] for j in jobs],
            hovertemplate=(f"<b>{html.escape(recipe)}</b> · batch %{{customdata[0]}}, %{{customdata[1]}} steps<br>"
                           "%{x:.2f} M sentences (%{customdata[2]}x the shipped run's)<br>"
                           "grammatical %{y:.3f} · NLL %{customdata[3]} bits per word<extra></extra>"),
            line=dict(color=colour), marker=dict(symbol=symbol, size=10, color=colour)))
        if shipped and recipe in shipped and counts.get(recipe):
            # a dotted link from the shipped checkpoint to the recipe's runs on more sentences
            fig.add_trace(go.Scatter(x=[counts[recipe] / 1e6, jobs[0]["sentences"] / 1e6],
                                     y=[shipped[recipe], jobs[0]["grammatical_rate"]], mode="lines",
                                     line=dict(color=colour, dash="dot"), showlegend=False, hoverinfo="skip"))
            fig.add_trace(go.Scatter(
                x=[counts[recipe] / 1e6], y=[shipped[recipe]], mode="markers", name=f"{recipe}: shipped (CPU, 10 min)",
                hovertemplate=(f"<b>{html.escape(recipe)}</b> as shipped: 10 minutes on this project's CPU<br>"
                               "%{x:.2f} M sentences · grammatical %{y:.2f}<extra></extra>"),
                marker=dict(symbol="star", size=15, color=colour, line=dict(color="#000000", width=1))))
    if not fig.data:
        fig.add_annotation(text="no quality-against-compute results (bench/scaling.py) in bench/results/",
                           showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.add_hline(y=0.95, line=dict(color="#737373", dash="dash"), annotation_text="target 0.95",
                  annotation_position="bottom right")
    sentences = [j["sentences"] / 1e6 for jobs in by_recipe.values() for j in jobs]
    fig.update_layout(
        title=dict(text=f"Quality against training sentences{f' ({html.escape(source)})' if source else ''}",
                   font=dict(size=14)),
        xaxis=dict(title="sentences seen in training, millions (log)", type="log", tickvals=_ticks(sentences) or None),
        yaxis=dict(title="grammatical rate", range=[0, 1.05]),
        height=380, margin=dict(l=60, r=20, t=50, b=50),
        legend=dict(orientation="h", yanchor="top", y=-0.18, xanchor="left", x=0.0),
    )
    return fig

"""Views for comparing families: one result card per family, the tables of recorded figures, quality against speed
and against training sentences. Every family keeps its colour and marker from `palette`.

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

from .palette import FONT_SIZE, SMALL_FONT_SIZE, STYLES, TITLE_FONT_SIZE, kind, marker_svg, style
from .tokens import BLUES, calls_note, commit_legend, render_commit, render_tokens, verdict_mark

Status = Literal["waiting", "running", "done", "skipped"]
METHODS = ("exact", "ELBO", "bound")
MARKER_SIZE = 13


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
                calls: int | None = None, written: Sequence[int | None] | None = None,
                reason: tuple[str, str] | None = None) -> str:
    """One family's card: its name, the steps it took and why, then (when done) the final tokens shaded by confidence
    (or, for a token family, `written`: coloured by the step that wrote each), the grammar's verdict, the network
    calls the steps made and the wall-clock seconds (`reason`: the rule a rejected sample breaks); otherwise what it is waiting for or why it was skipped."""
    if status not in ("waiting", "running", "done", "skipped"):
        raise ValueError(f"status must be one of waiting, running, done, skipped; got {status!r}")
    head = f'{marker_svg(name)} <b>{html.escape(name)}</b>'
    if steps is not None:
        head += f' <span style="opacity:0.75">· {steps} step{"s" if steps != 1 else ""}</span>'
    if note:
        head += f'<div style="font-size:0.9em;opacity:0.8">{html.escape(note, quote=False)}</div>'
    if status == "done":
        if tokens is None or text is None or grammatical is None or seconds is None:
            raise ValueError("a finished card needs tokens, text, grammatical and seconds")
        conf = confidence if confidence is not None else [1.0] * len(tokens)
        if written is not None and steps:  # a token family's words are sure once written: show when instead
            words = render_commit(list(tokens), list(written), steps, held=held) + commit_legend(steps)
        else:
            words = render_tokens(list(tokens), conf, pad="hide", held=held)
        verdict = verdict_mark(grammatical, reason)
        body = (f'<div style="line-height:1.9;margin:0.3em 0">{words}</div>'
                f'<div class="card-line" style="font-size:0.9em">{verdict}{calls_note(calls)} · {seconds:.2f} s</div>'
                f'<div class="card-text" style="font-size:0.9em;opacity:0.75;margin-top:0.2em">'
                f'{html.escape(text) or "<i>(empty)</i>"}</div>')
        border = f"1px solid {BLUES[3]}"
    elif status == "skipped":
        body = f'<div style="margin-top:0.3em;color:#a63603">skipped: {html.escape(message, quote=False)}</div>'
        border = "1px dashed #969696"
    else:
        body = f'<div style="margin-top:0.3em;opacity:0.7"><i>{"running…" if status == "running" else "waiting"}</i></div>'
        border = f"1px dotted {BLUES[4]}"
    return (f'<div class="family-card" data-family="{html.escape(name, quote=True)}" data-status="{status}" '
            f'style="flex:1 1 300px;min-width:260px;max-width:100%;border:{border};'
            f'border-left:5px solid {style(name).colour};border-radius:8px;padding:0.5em 0.7em">{head}{body}</div>')


def cards_html(cards: Sequence[str], footer: str = "") -> str:
    """The cards in a wrapping grid: side by side on a wide screen, one under the other on a phone."""
    foot = f'<div style="font-size:0.9em;opacity:0.8;margin-top:0.4em">{html.escape(footer)}</div>' if footer else ""
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
        rate = r.get("grammatical_rate")
        values = (
            _checkpoint_cell(r), _fmt(r.get("steps"), "d"), html.escape(r.get("sampler") or "—"), _nll_text(r),
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
    extra = "".join(f'<div style="font-size:0.9em;opacity:0.8">{html.escape(n)}</div>' for n in notes)
    return (f'<div class="records" style="overflow-x:auto"><table style="border-collapse:collapse;font-size:0.9em">'
            f'<thead><tr>{header}</tr></thead><tbody>{"".join(lines)}</tbody></table></div>{floor}{extra}')


def _checkpoint_cell(row: dict[str, Any]) -> str:
    name = str(row.get("name", "?"))
    return f"{marker_svg(name, 12, row.get('sampler'))} <b>{html.escape(name)}</b>"


def _nll_text(row: dict[str, Any]) -> str:
    nll, kind_ = row.get("nll"), row.get("nll_method")
    if nll is None:
        return "—"
    detail = html.escape(row.get("nll_detail") or "", quote=True)
    return f'<span title="{detail}">{nll:.3f} <span style="opacity:0.7">({html.escape(kind_ or "?")})</span></span>'


def summary_table_html(entries: Sequence[dict[str, Any]], entropy: float | None = None) -> str:
    """One row per checkpoint: the sampler setting it samples with by default and its best recorded one (the highest
    grammatical rate), each with its rate, NLL and seconds per sequence as recorded. An entry is a dict with keys
    `name`, `default` and `best` (a row of recorded figures, or None where none was recorded)."""
    cell = "padding:0.3em 0.6em;border:none;border-bottom:1px solid #deebf7;text-align:left;vertical-align:top"
    number = f"{cell};white-space:nowrap"
    setting = f"{cell};min-width:9em;max-width:18em"  # long sampler labels wrap instead of widening the table

    def figures(row: dict[str, Any] | None, which: str) -> str:
        if row is None:
            return f'<td colspan="4" style="{cell};opacity:0.7" data-col="{which}"><i>not recorded</i></td>'
        rate = row.get("grammatical_rate")
        said = html.escape(" · ".join(p for p in (f"{row.get('steps', '?')} steps", row.get("sampler") or "") if p))
        return (f'<td style="{setting}" data-col="{which}-setting">{said}</td>'
                f'<td style="{number}" data-col="{which}-rate">{"—" if rate is None else f"{rate:.2f}"}</td>'
                f'<td style="{number}" data-col="{which}-nll">{_nll_text(row)}</td>'
                f'<td style="{number}" data-col="{which}-seconds">{_fmt(row.get("seconds_per_sequence"), ".3f")}</td>')

    lines = []
    for e in entries:
        default, best = e.get("default"), e.get("best")
        if best is not None and best is default:
            best_cells = (f'<td colspan="4" style="{cell};opacity:0.8" data-col="best">'
                          f'<i>its default is its best</i></td>')
        else:
            best_cells = figures(best, "best")
        lines.append(f'<tr data-checkpoint="{html.escape(str(e.get("name")), quote=True)}">'
                     f'<td style="{number}">{_checkpoint_cell(e)}</td>{figures(default, "default")}{best_cells}</tr>')
    if not entries:
        lines.append(f'<tr><td colspan="9" style="{cell}"><i>no shipped checkpoints</i></td></tr>')
    head = f"{cell};border-bottom:2px solid {BLUES[4]}"
    group = f"{cell};text-align:center;border-bottom:1px solid {BLUES[4]}"
    subheads = "".join(f'<th style="{head}">{h}</th>' for h in ("setting", "grammatical", "NLL bits/token",
                                                                  "s / sequence"))
    header = (f'<tr><th style="{cell}"></th><th colspan="4" style="{group}">its default sampler</th>'
              f'<th colspan="4" style="{group}">its best recorded sampler</th></tr>'
              f'<tr><th style="{head}">checkpoint</th>{subheads}{subheads}</tr>')
    floor = ("" if entropy is None else
             f'<div class="entropy-floor" style="margin-top:0.4em">The corpus\'s true entropy is '
             f'<b>{entropy:.3f} bits per word</b>: the floor for every NLL (no model can go below it).</div>')
    return (f'<div class="summary" style="overflow-x:auto">'
            f'<table style="border-collapse:collapse;border:none;font-size:0.95em"><thead>{header}</thead>'
            f'<tbody>{"".join(lines)}</tbody></table></div>{floor}')


def _legend() -> dict[str, Any]:
    """A legend right of the plot area, top-aligned: never over a trace, an axis or its title."""
    return dict(orientation="v", x=1.02, xanchor="left", y=1.0, yanchor="top", font=dict(size=SMALL_FONT_SIZE))


def _axis(title: str, **more: Any) -> dict[str, Any]:
    return dict(title=dict(text=title, font=dict(size=FONT_SIZE)), tickfont=dict(size=SMALL_FONT_SIZE), **more)


# Step labels are placed for a plot area at most this many pixels wide and tall (the Compare tab's chart at
# 1280 x 720 is wider, and its height is FIGURE_HEIGHT less the margins and the legend's row); a larger chart only
# spreads the points further apart.
PLOT_WIDTH, PLOT_HEIGHT = 760, 290
FIGURE_HEIGHT = 460


def quality_speed_figure(rows: Sequence[dict[str, Any]]) -> go.Figure:
    """Grammatical rate against seconds per sequence (log scale), one point per recorded (checkpoint, steps) entry,
    a line through each checkpoint's entries of one sampler setting in order of steps, each kind in its colour and
    marker, benchmark runs hollow; step counts label the points where a label fits. Up and to the left is better."""
    groups: dict[tuple[str, str], dict[tuple[str, str], list[dict[str, Any]]]] = {}
    for r in rows:
        if r.get("grammatical_rate") is None or not r.get("seconds_per_sequence"):
            continue
        name, sampler = str(r.get("name")), r.get("sampler") or ""
        # absorbing SEDD's any-order sampler is ARDM's reading of its network: its own kind and legend entry
        label = f"{name}, any-order" if kind(name) != kind(name, sampler) else name
        groups.setdefault((label, name), {}).setdefault((sampler, r.get("source") or ""), []).append(r)
    fig = go.Figure()
    benches: set[str] = set()
    order = list(STYLES)  # the legend in the palette's order, kinds of families together; other names last
    ranked = sorted(groups.items(), key=lambda g: order.index(k) if (k := kind(g[0][0])) in order else len(order))
    for (label, name), series in ranked:
        shown = False
        only_bench = all(source != "meta.json" for _, source in series)  # then a benchmark line names it
        for (sampler, source), pts in series.items():
            pts.sort(key=lambda r: (r.get("steps") or 0, r["seconds_per_sequence"]))
            look = style(name, sampler)
            bench = source != "meta.json"
            if bench:
                benches.add(source)
            fig.add_trace(go.Scatter(
                x=[r["seconds_per_sequence"] for r in pts], y=[r["grammatical_rate"] for r in pts],
                mode="lines+markers", name=label, legendgroup=label,
                showlegend=not shown and (not bench or only_bench),
                text=[f"{r.get('steps', '?')}" for r in pts],
                customdata=[[r.get("steps"), r.get("sampler") or "", r.get("source") or ""] for r in pts],
                hovertemplate=(f"<b>{html.escape(label)}</b> · %{{customdata[0]}} steps %{{customdata[1]}}<br>"
                               "%{x:.3f} s per sequence · grammatical %{y:.2f}<br>%{customdata[2]}<extra></extra>"),
                line=dict(color=look.colour, width=1.5, dash="dot" if bench else "solid"),
                marker=dict(symbol=f"{look.symbol}-open" if bench else look.symbol, size=MARKER_SIZE,
                            color=look.colour, line=dict(color=look.colour if bench else "#ffffff",
                                                          width=2 if bench else 1))))
            shown = shown or not bench or only_bench
    if benches:  # one legend entry says what the hollow markers are (the hover names the file)
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines+markers", name="hollow: benchmark run",
                                 line=dict(color="#525252", width=1.5, dash="dot"),
                                 marker=dict(symbol="circle-open", size=MARKER_SIZE, color="#525252",
                                             line=dict(width=2))))
    seconds = [float(r["seconds_per_sequence"]) for r in rows
               if r.get("seconds_per_sequence") and r.get("grammatical_rate") is not None]
    x_range = y_range = None
    if seconds:
        low, high = math.log10(min(seconds)), math.log10(max(seconds))
        pad = max(0.08 * (high - low), 0.1)
        x_range, y_range = [low - pad, high + pad], [-0.06, 1.1]
        for note in _step_labels(fig, x_range, y_range):
            fig.add_annotation(note)
    else:
        fig.add_annotation(text="no recorded evaluations with a grammatical rate and a time", showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_layout(
        title=dict(text="Quality against speed (labels: steps; up and to the left is better)",
                   font=dict(size=TITLE_FONT_SIZE)),
        font=dict(size=FONT_SIZE),
        xaxis=_axis("seconds per sequence (log)", type="log", tickvals=_ticks(seconds) or None, range=x_range),
        yaxis=_axis("grammatical rate", range=y_range or [-0.06, 1.1]),
        height=FIGURE_HEIGHT, margin=dict(l=70, r=20, t=60, b=70), legend=_legend(),
    )
    return fig


def _step_labels(fig: go.Figure, x_range: list[float], y_range: list[float]) -> list[dict[str, Any]]:
    """Annotations labelling points with their steps, each put beside its point where it covers no marker, line or
    other label in a plot area of PLOT_WIDTH x PLOT_HEIGHT; a point with no free place keeps its label in the hover.
    Every line's ends are labelled first, then points inside."""
    def px(x: float, y: float) -> tuple[float, float]:
        return ((math.log10(x) - x_range[0]) / (x_range[1] - x_range[0]) * PLOT_WIDTH,
                (y_range[1] - y) / (y_range[1] - y_range[0]) * PLOT_HEIGHT)

    half = MARKER_SIZE / 2 + 1
    taken: list[tuple[float, float, float, float]] = []  # boxes (x0, y0, x1, y1), y downwards
    segments: list[tuple[float, float, float, float]] = []
    wanted: list[tuple[int, float, float, str, int]] = []  # (priority, x, y, text, trace)
    for k, trace in enumerate(fig.data):
        points = [px(x, y) for x, y in zip(trace.x, trace.y) if x is not None]
        for i, (x, y) in enumerate(points):
            taken.append((x - half, y - half, x + half, y + half))
            wanted.append((0 if i in (0, len(points) - 1) else 1, x, y, trace.text[i], k))
        segments += [(*a, *b) for a, b in zip(points, points[1:])]
    wanted.sort(key=lambda w: w[0])
    notes = []
    labelled: list[tuple[float, float, str]] = []
    for _, x, y, text, k in wanted:
        w, h = 0.62 * SMALL_FONT_SIZE * len(text) + 4, SMALL_FONT_SIZE + 4
        if any(t == text and abs(x - a) < w + 2 * half and abs(y - b) < 2 * (h + half) for a, b, t in labelled):
            continue  # a point close to one already labelled the same: one label says it for both (hover has each)
        gap_x, gap_y = half + 1 + w / 2, half + 1 + h / 2
        for dx, dy in ((0, -gap_y), (gap_x, 0), (-gap_x, 0), (0, gap_y), (gap_x, -gap_y), (-gap_x, -gap_y),
                       (gap_x, gap_y), (-gap_x, gap_y)):
            box = (x + dx - w / 2, y + dy - h / 2, x + dx + w / 2, y + dy + h / 2)
            inside = box[0] >= 0 and box[1] >= 0 and box[2] <= PLOT_WIDTH and box[3] <= PLOT_HEIGHT
            if inside and not any(_overlap(box, t) for t in taken) and not any(_crosses(box, s) for s in segments):
                taken.append(box)
                labelled.append((x, y, text))
                notes.append(dict(
                    x=x_range[0] + x / PLOT_WIDTH * (x_range[1] - x_range[0]),  # a log axis places by log10
                    y=y_range[1] - y / PLOT_HEIGHT * (y_range[1] - y_range[0]), xshift=dx, yshift=-dy, text=text,
                    showarrow=False, font=dict(size=SMALL_FONT_SIZE, color="#262626"), name=f"steps {k}"))
                break
    return notes


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _crosses(box: tuple[float, ...], seg: tuple[float, ...]) -> bool:
    """Whether the segment enters the box (Liang-Barsky clipping)."""
    x0, y0, x1, y1 = seg
    dx, dy = x1 - x0, y1 - y0
    low, high = 0.0, 1.0
    for p, q in ((-dx, x0 - box[0]), (dx, box[2] - x0), (-dy, y0 - box[1]), (dy, box[3] - y0)):
        if p == 0:
            if q < 0:
                return False
        else:
            r = q / p
            if p < 0:
                low = max(low, r)
            else:
                high = min(high, r)
            if low > high:
                return False
    return True


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
    `bench/scaling.py` report in its kind's colour and marker, each shipped checkpoint (10 CPU minutes) a star at its
    own count, and the 0.95 target."""
    fig = go.Figure()
    by_recipe: dict[str, list[dict[str, Any]]] = {}
    for job in (report or {}).get("jobs", []):
        if isinstance(job, dict) and job.get("grammatical_rate") is not None and job.get("sentences"):
            by_recipe.setdefault(str(job.get("recipe")), []).append(job)
    counts = (report or {}).get("shipped_sentences") or {}
    device = html.escape(str((report or {}).get("device", "")))
    for recipe, jobs in by_recipe.items():
        jobs.sort(key=lambda j: j["sentences"])
        look = style(recipe)
        fig.add_trace(go.Scatter(
            x=[j["sentences"] / 1e6 for j in jobs], y=[j["grammatical_rate"] for j in jobs], mode="lines+markers",
            name=f"{recipe} (more sentences, {device})", legendgroup=recipe,
            customdata=[[j.get("batch_size"), j.get("steps"), j.get("times_shipped_sentences"),
                         _fmt(j.get("nll_bits_per_token"), ".3f")] for j in jobs],
            hovertemplate=(f"<b>{html.escape(recipe)}</b> · batch %{{customdata[0]}}, %{{customdata[1]}} steps<br>"
                           "%{x:.2f} M sentences (%{customdata[2]}x the shipped run's)<br>"
                           "grammatical %{y:.3f} · NLL %{customdata[3]} bits per word<extra></extra>"),
            line=dict(color=look.colour, width=2.5),
            marker=dict(symbol=look.symbol, size=MARKER_SIZE, color=look.colour, line=dict(color="#ffffff", width=1))))
        if shipped and recipe in shipped and counts.get(recipe):
            # a dotted link from the shipped checkpoint to the recipe's runs on more sentences
            fig.add_trace(go.Scatter(x=[counts[recipe] / 1e6, jobs[0]["sentences"] / 1e6],
                                     y=[shipped[recipe], jobs[0]["grammatical_rate"]], mode="lines",
                                     line=dict(color=look.colour, dash="dot", width=2), showlegend=False,
                                     legendgroup=recipe, hoverinfo="skip"))
            fig.add_trace(go.Scatter(
                x=[counts[recipe] / 1e6], y=[shipped[recipe]], mode="markers", name=f"{recipe}: shipped (CPU, 10 min)",
                legendgroup=recipe,
                hovertemplate=(f"<b>{html.escape(recipe)}</b> as shipped: 10 minutes on this project's CPU<br>"
                               "%{x:.2f} M sentences · grammatical %{y:.2f}<extra></extra>"),
                marker=dict(symbol="star", size=MARKER_SIZE + 5, color=look.colour,
                            line=dict(color="#000000", width=1))))
    if not fig.data:
        fig.add_annotation(text="no quality-against-compute results (bench/scaling.py) in bench/results/",
                           showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.add_hline(y=0.95, line=dict(color="#737373", dash="dash"), annotation_text="target 0.95",
                  annotation_position="bottom right", annotation_font=dict(size=SMALL_FONT_SIZE))
    sentences = [j["sentences"] / 1e6 for jobs in by_recipe.values() for j in jobs]
    sentences += [counts[r] / 1e6 for r in by_recipe if shipped and r in shipped and counts.get(r)]
    fig.update_layout(
        title=dict(text=f"Quality against training sentences{f' ({html.escape(source)})' if source else ''}",
                   font=dict(size=TITLE_FONT_SIZE)),
        font=dict(size=FONT_SIZE),
        xaxis=_axis("sentences seen in training, millions (log)", type="log", tickvals=_ticks(sentences) or None),
        yaxis=_axis("grammatical rate", range=[0, 1.05]),
        height=400, margin=dict(l=70, r=20, t=60, b=70), legend=_legend(),
    )
    return fig

"""The word map: the 2-D map of the embedding space coloured by class, labelled where labels fit, searched. The
latents' paths on it are visualize/paths.py.

Plain data in (map coordinates as NumPy arrays or nested lists, lists of words and class names), go.Figure out; the
projections themselves (PCA basis, UMAP, nearest neighbours) come from diffusion.projection.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go


# Okabe & Ito (2008): eight colours told apart with every common colour-vision deficiency.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000")
# Classes past the eighth are greys told apart by marker shape, not hue.
GREY_STYLES = (("#8c8c8c", "diamond"), ("#5f5f5f", "triangle-up"), ("#8c8c8c", "square"), ("#b3b3b3", "x"),
               ("#8c8c8c", "circle-open"))
OUTLINE = "#4d4d4d"  # a thin dark edge keeps light markers (yellow, sky blue) visible on white
VOCAB = "#c7c7c7"


def class_styles(class_order: Sequence[str]) -> dict[str, tuple[str, str]]:
    """{class: (colour, marker symbol)}: Okabe-Ito circles for the first eight classes, then greys by shape."""
    styles = {}
    for k, name in enumerate(class_order):
        if k < len(OKABE_ITO):
            styles[name] = (OKABE_ITO[k], "circle")
        else:
            styles[name] = GREY_STYLES[(k - len(OKABE_ITO)) % len(GREY_STYLES)]
    return styles


def _xy(points: Any, name: str) -> np.ndarray:
    a = np.asarray(points, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(f"{name} must be an (N, 2) array of map coordinates, got shape {a.shape}")
    return a


# The map as a projector shows it: the plot area it is drawn for (pixels, a little under what a 1280-wide window
# gives it, so that labels placed for it do not collide on a larger screen), label and marker sizes.
MAP_AREA_PX = (600, 400)
LABEL_FONT_PX = 12
LABEL_CHAR_PX = 7.0  # a generous average width of a character at LABEL_FONT_PX
LABEL_LINE_PX = 15.0
SPECIAL = "special token"  # the class diffusion.corpus.classes gives [PAD], [MASK]...: drawn apart
SPECIAL_STYLE = ("#333333", "x-thin-open")  # a marker no word class uses
FADED = 0.18  # opacity of the points a search left out


# Where a label may sit beside its point, as plotly names it, with the direction it moves the label; and the
# directions of a label set further off with a leader line, when none of those is free.
BESIDE = (("middle right", 1, 0), ("middle left", -1, 0), ("top center", 0, 1), ("bottom center", 0, -1),
          ("top right", 1, 1), ("top left", -1, 1), ("bottom right", 1, -1), ("bottom left", -1, -1))
CALLOUT_DIRECTIONS = tuple((np.cos(a), np.sin(a)) for a in np.deg2rad([0, 180, 90, 270, 45, 135, 315, 225]))
CALLOUT_PX = (34.0, 56.0, 80.0)  # leader lengths tried, shortest first


def _fit_labels(px: np.ndarray, labels: Sequence[str], order: Sequence[int], area: tuple[float, float],
                radius_px: np.ndarray, char_px: np.ndarray, over_points: Sequence[int] = (),
                line_px: float = LABEL_LINE_PX) -> dict[int, str | tuple[float, float]]:
    """Where each label that fits goes, taken greedily in `order`: a plotly textposition, the first place beside
    its point (right, left, above, below, then the corners) whose box stays inside the plot and clear of the labels
    placed before it and of every marker; a label with no such place is left out. The labels of `over_points` (the
    words a reader asked for) may cover other markers, never another label nor the marker of another of them, and
    when nothing beside their point is free they go further off: (dx, dy), the pixel offset of a label drawn with
    a leader line that crosses no label and no other asked-for marker. `px`: (N, 2) points in pixels, y up, on a
    plot of `area` pixels; `radius_px` and `char_px` (a character's width) per point; boxes are marked on a grid of
    2-pixel cells."""
    cell = 2.0
    width, height = area
    shape = (int(height // cell) + 1, int(width // cell) + 1)
    markers = np.zeros(shape, dtype=bool)
    asked_markers = np.zeros(shape, dtype=bool)
    placed = np.zeros(shape, dtype=bool)
    asked = set(over_points)

    def cells(cx: float, cy: float, w: float, h: float) -> tuple[slice, slice] | None:
        """The grid cells of a box centred on (cx, cy), or None when it leaves the plot."""
        x0, x1, y0, y1 = cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            return None
        return slice(int(y0 // cell), int(np.ceil(y1 / cell))), slice(int(x0 // cell), int(np.ceil(x1 / cell)))

    for k, ((x, y), r) in enumerate(zip(px, radius_px)):
        x, y = min(max(x, r), width - r), min(max(y, r), height - r)
        markers[cells(x, y, 2 * r, 2 * r)] = True
        if k in asked:
            asked_markers[cells(x, y, 2 * r, 2 * r)] = True
    def clear_line(i: int, ux: float, uy: float, d: float, h: float) -> bool:
        """Whether a leader from point i's marker towards a label centred d pixels off crosses nothing."""
        x, y = px[i]
        for t in np.arange(radius_px[i] * np.sqrt(2) + cell, d - h / 2, cell):  # from past its own marker's box
            row, col = int((y + uy * t) // cell), int((x + ux * t) // cell)
            if 0 <= row < shape[0] and 0 <= col < shape[1] and (asked_markers[row, col] or placed[row, col]):
                return False
        return True

    out: dict[int, str | tuple[float, float]] = {}
    for i in order:
        if not labels[i]:
            continue
        x, y = px[i]
        w, h, gap = len(labels[i]) * char_px[i] + 4, line_px, radius_px[i] + 2
        beside = [(name, cells(x + dx * (w / 2 + gap), y + dy * (h / 2 + gap), w, h)) for name, dx, dy in BESIDE]
        tries = [(beside, markers | placed)]
        if i in asked:
            off = [((ux * d, uy * d), cells(x + ux * d, y + uy * d, w, h) if clear_line(i, ux, uy, d, h) else None)
                   for d in CALLOUT_PX for ux, uy in CALLOUT_DIRECTIONS]
            tries += [(beside, asked_markers | placed), (off, markers | placed), (off, asked_markers | placed)]
        for places, grid in tries:
            free = next(((where, box) for where, box in places if box is not None and not grid[box].any()), None)
            if free is not None:
                placed[free[1]] = True
                out[i] = free[0]
                break
    return out


def embedding_map_figure(coords: Any, words: Sequence[str], classes: Sequence[str], neighbours: Any,
                         class_order: Sequence[str], method: str = "UMAP", highlight: str | None = None,
                         matches: Sequence[int] | None = None, query: str = "",
                         area_px: tuple[float, float] = MAP_AREA_PX) -> go.Figure:
    """The vocabulary on a 2-D map, one trace (legend entry) per word class, labelled wherever a label fits without
    covering another label or point; hover shows the word nearest the cursor, its class and its nearest neighbours
    in the full embedding space (`neighbours`: (V, k) ids). A search (`matches`: the ids `query` found, possibly
    none) fades every other point and labels the matches; `highlight` rings one word and its neighbours, labelled,
    with a dotted line to each. Special tokens get a marker of their own. Words are escaped for plotly's HTML."""
    xy = _xy(coords, "coords")
    nn = np.asarray(neighbours, dtype=np.int64)
    if not len(xy) == len(words) == len(classes) == len(nn):
        raise ValueError(f"coords, words, classes and neighbours need one row per word; got {len(xy)}, {len(words)}, "
                         f"{len(classes)}, {len(nn)}")
    unknown = sorted(set(classes) - set(class_order))
    if unknown:
        raise ValueError(f"classes {unknown} are not in class_order {list(class_order)}")
    if highlight is not None and highlight not in words:
        raise ValueError(f"highlight {highlight!r} is not one of the words")
    found = None if matches is None else [int(i) for i in matches]
    if found is not None and any(not 0 <= i < len(words) for i in found):
        raise ValueError(f"matches must be ids of the {len(words)} words")
    text = [html.escape(w, quote=False) for w in words]  # plotly reads text as HTML
    styles = {**class_styles(class_order), SPECIAL: SPECIAL_STYLE}

    # The view is fixed, so that label boxes estimated in pixels are the ones drawn; its margins leave room for a
    # label beside the outermost points.
    lo, hi = (xy.min(0), xy.max(0)) if len(xy) else (np.zeros(2), np.ones(2))
    margin = np.array([40.0, 12.0])  # pixels
    pad = np.maximum(hi - lo, 1e-9) * margin / (np.asarray(area_px) - 2 * margin)
    lo, hi = lo - pad, hi + pad
    px = (xy - lo) / (hi - lo) * np.asarray(area_px)  # (V, 2) pixels, y up

    # Who is drawn how: the highlighted word and its neighbours on top, then the matches, then the rest; a search
    # that found nothing leaves the map as it is.
    isolate = bool(found)
    chosen = list(words).index(highlight) if highlight is not None else None
    near = [int(j) for j in nn[chosen]] if chosen is not None else []
    ringed = set(near) | ({chosen} if chosen is not None else set())
    radius = np.full(len(xy), 5.0)  # plotly sets text 1 px past 1.25 times a marker's radius
    chars = np.full(len(xy), LABEL_CHAR_PX)
    if isolate:
        radius[found] = 7.0
    radius[near] = 9.5
    if chosen is not None:
        radius[chosen] = 13.5
        chars[chosen] = LABEL_CHAR_PX * 1.35  # bold and larger
    other_matches = [i for i in found if i not in ringed] if isolate else []
    asked = ([chosen] if chosen is not None else []) + near + other_matches
    rank = {name: k for k, name in enumerate(class_order)}
    rest = sorted(set(range(len(words))) - set(asked), key=lambda i: (rank[classes[i]], i))  # slots first
    # Words asked for that sit on one spot share one label ("korean / english"), so neither is lost.
    label = list(text)
    for group in (near, other_matches):
        if group:
            for i, merged in zip(group, _merge_labels(px[group], [text[i] for i in group], float(max(area_px)))):
                label[i] = merged
    placed = _fit_labels(px, label, asked + ([] if isolate else rest), area_px, radius, chars, over_points=asked)
    where = {i: p for i, p in placed.items() if isinstance(p, str)}  # beside the point, drawn by its trace
    callouts = {i: p for i, p in placed.items() if not isinstance(p, str)}  # further off, with a leader line

    fig = go.Figure()
    for name in class_order:
        idx = [i for i, c in enumerate(classes) if c == name]
        if not idx:
            continue
        colour, symbol = styles[name]
        hover = [f"<b>{text[i]}</b><br>{name}<br>nearest: {', '.join(text[j] for j in nn[i])}" for i in idx]
        fig.add_trace(go.Scatter(
            x=xy[idx, 0], y=xy[idx, 1], mode="markers+text", name=f"{name} ({len(idx)})", hovertext=hover,
            hoverinfo="text", text=[label[i] if i in where and i not in asked else "" for i in idx],
            textposition=[where.get(i, "top center") for i in idx], cliponaxis=False,
            textfont=dict(size=LABEL_FONT_PX, color="#333333"),
            marker=dict(color=colour, symbol=symbol, size=8, opacity=FADED if isolate else 0.9,
                        line=dict(color=OUTLINE if "open" not in symbol else colour,
                                  width=0.6 if "open" not in symbol else 1.5))))
    title = f"{method} of the {len(words)} word embeddings"
    shown_query = html.escape(query, quote=False)
    if isolate:
        fig.add_trace(go.Scatter(
            x=xy[found, 0], y=xy[found, 1], mode="markers+text", name=f"matches of '{shown_query}' ({len(found)})",
            text=[label[i] if i in where and i not in ringed else "" for i in found],
            textposition=[where.get(i, "top center") for i in found], cliponaxis=False,
            textfont=dict(size=LABEL_FONT_PX, color="#000000"), hoverinfo="text",
            hovertext=[f"<b>{text[i]}</b><br>{classes[i]}<br>nearest: {', '.join(text[j] for j in nn[i])}"
                       for i in found],
            marker=dict(color=[styles[classes[i]][0] for i in found], symbol=[styles[classes[i]][1] for i in found],
                        size=11, opacity=1.0, line=dict(color="#000000", width=1))))
        title += f" · {len(found)} matching '{shown_query}'"
    elif found is not None:
        title += f" · nothing matches '{shown_query}'"
    if chosen is not None:
        lx: list[float | None] = []
        ly: list[float | None] = []
        for j in near:
            lx += [xy[chosen, 0], xy[j, 0], None]
            ly += [xy[chosen, 1], xy[j, 1], None]
        fig.add_trace(go.Scatter(x=lx, y=ly, mode="lines", line=dict(color="#333333", width=1, dash="dot"),
                                 hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(
            x=xy[near, 0], y=xy[near, 1], mode="markers+text", name="nearest in the full space",
            text=[label[j] if j in where else "" for j in near],
            textposition=[where.get(j, "top center") for j in near],
            textfont=dict(size=LABEL_FONT_PX, color="#000000"), cliponaxis=False, hoverinfo="skip",
            marker=dict(size=14, symbol="circle-open", color="#222222", line=dict(width=1.5))))
        fig.add_trace(go.Scatter(
            x=[xy[chosen, 0]], y=[xy[chosen, 1]], mode="markers+text", name=f"'{text[chosen]}'",
            text=[f"<b>{text[chosen]}</b>" if chosen in where else ""], textposition=where.get(chosen, "top center"),
            cliponaxis=False,
            textfont=dict(size=LABEL_FONT_PX + 3, color="#000000"), hoverinfo="skip",
            marker=dict(size=20, symbol="circle-open", color="#000000", line=dict(width=3))))
        title += f" · '{text[chosen]}' and its {len(near)} nearest"
    for i, (dx, dy) in callouts.items():
        fig.add_annotation(
            x=xy[i, 0], y=xy[i, 1], ax=dx, ay=-dy, text=f"<b>{label[i]}</b>" if i == chosen else label[i],
            showarrow=True, arrowhead=0, arrowwidth=1, arrowcolor="#555555", standoff=radius[i] - 3,
            font=dict(size=LABEL_FONT_PX + 3 * (i == chosen), color="#000000"), bgcolor="rgba(255, 255, 255, 0.8)")
    axis = dict(showticklabels=method != "UMAP", zeroline=False, showgrid=method != "UMAP")
    fig.update_layout(
        title=dict(text=title, font=dict(size=14)),
        xaxis=dict(title="PC 1" if method == "PCA" else "", range=[lo[0], hi[0]], **axis),
        yaxis=dict(title="PC 2" if method == "PCA" else "", range=[lo[1], hi[1]], **axis),
        height=520, margin=dict(l=50, r=10, t=50, b=40), hovermode="closest", hoverdistance=-1,
        hoverlabel=dict(font=dict(size=13)),
        # Beside the plot, where it can cover neither the points nor an axis title.
        legend=dict(orientation="v", yanchor="top", y=1, xanchor="left", x=1.02, font=dict(size=12)),
    )
    return fig


def _merge_labels(points: np.ndarray, labels: Sequence[str], scale: float) -> list[str]:
    """One label per cluster of points closer than 2% of the view (a repeated word at t = 0 sits on one spot):
    the first point of a cluster carries the cluster's words ("the ×2", "a / an"), the others none."""
    text: list[str] = []
    owners: list[tuple[np.ndarray, list[str], int]] = []
    for k, (p, label) in enumerate(zip(points, labels)):
        for q, names, _ in owners:
            if np.linalg.norm(p - q) < 0.02 * scale:
                names.append(label)
                text.append("")
                break
        else:
            owners.append((p, [label], k))
            text.append(label)
    for _, names, owner in owners:
        counts = {n: names.count(n) for n in dict.fromkeys(names)}
        text[owner] = " / ".join(n if c == 1 else f"{n} ×{c}" for n, c in counts.items())
    return text


# Where a label may sit around its point, as plotly names it, with the direction it moves the label.

"""Figures of the embedding space: the 2-D word map coloured by class, and latents drifting into Gaussian noise
and back.

Plain data in (map coordinates as NumPy arrays or nested lists, lists of words and class names), go.Figure out; the
projections themselves (PCA basis, UMAP, nearest neighbours) come from diffusion.projection.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .player import follow

# Okabe & Ito (2008): eight colours told apart with every common colour-vision deficiency.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000")
# Classes past the eighth are greys told apart by marker shape, not hue.
GREY_STYLES = (("#8c8c8c", "diamond"), ("#5f5f5f", "triangle-up"), ("#8c8c8c", "square"), ("#b3b3b3", "x"),
               ("#8c8c8c", "circle-open"))
OUTLINE = "#4d4d4d"  # a thin dark edge keeps light markers (yellow, sky blue) visible on white
VOCAB = "#c7c7c7"
PATH, KEPT, MOVED = "#0072B2", "#0072B2", "#D55E00"  # Okabe-Ito blue and vermillion
NOW_TEXT = "#252525"  # the latents at the player's frame: the colour of "now" in every figure (visualize/player.py)


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
PLACES = (("top center", 0, 1), ("bottom center", 0, -1), ("middle right", 1, 0), ("middle left", -1, 0),
          ("top right", 1, 1), ("top left", -1, 1), ("bottom right", 1, -1), ("bottom left", -1, -1))


def place_labels(points: Any, labels: Sequence[str], extent: Any, size_px: tuple[float, float] = (480, 380),
                 char_px: float | Sequence[float] = 7.0, radius_px: float | Sequence[float] = 5.0,
                 line_px: float = 16.0) -> list[str]:
    """A plotly textposition for each label, chosen greedily in order: of the eight places around its point, the one
    whose box overlaps the labels placed before it and the other points least. Boxes are estimated in pixels: a plot
    of about `size_px`, `char_px` per character, markers of radius `radius_px` (plotly sets text beside the marker's
    edge); both may be given per label. Points without a label keep "top center"."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    n = len(pts)
    chars = np.broadcast_to(np.asarray(char_px, dtype=np.float64), (n,))
    radii = np.broadcast_to(np.asarray(radius_px, dtype=np.float64), (n,))
    ext = np.asarray(extent, dtype=np.float64)
    ux = max(ext[0, 1] - ext[0, 0], 1e-9) / size_px[0]  # data units per pixel
    uy = max(ext[1, 1] - ext[1, 0], 1e-9) / size_px[1]
    marker = [(x - r * ux, x + r * ux, y - r * uy, y + r * uy) for (x, y), r in zip(pts, radii)]
    placed: list[tuple[float, float, float, float]] = []
    out = []

    def overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
        return max(0.0, min(a[1], b[1]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[2], b[2]))

    for k, ((x, y), label) in enumerate(zip(pts, labels)):
        if not label:
            out.append("top center")
            continue
        w, h, gap = (len(label) * chars[k] + 4) * ux, line_px * uy, radii[k] + 2
        best: tuple[float, str, tuple[float, float, float, float]] | None = None
        for name, dx, dy in PLACES:
            cx = x + dx * (w / 2 + gap * ux)
            cy = y + dy * (h / 2 + gap * uy)
            box = (cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2)
            cost = sum(overlap(box, b) for b in placed) + sum(overlap(box, m) for j, m in enumerate(marker) if j != k)
            if best is None or cost < best[0] - 1e-15:
                best = (cost, name, box)
        placed.append(best[2])
        out.append(best[1])
    return out


def _vocabulary_and_paths(vxy: np.ndarray, vocab_words: Sequence[str], paths: np.ndarray, name: str) -> go.Figure:
    """A new figure with the vocabulary faint in the background and one thin line per token's path."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=vxy[:, 0], y=vxy[:, 1], mode="markers", name="vocabulary", hovertext=list(vocab_words),
                             hoverinfo="text", marker=dict(color=VOCAB, size=6, opacity=0.6)))
    lx: list[float | None] = []
    ly: list[float | None] = []
    for path in paths:
        lx += [*path[:, 0], None]
        ly += [*path[:, 1], None]
    fig.add_trace(go.Scatter(x=lx, y=ly, mode="lines", name=name, hoverinfo="skip",
                             line=dict(color=PATH, width=1.2), opacity=0.45))
    return fig


def noising_frames_figure(vocab_xy: Any, vocab_words: Sequence[str], paths: Any, words: Sequence[str],
                          rounded: Sequence[Sequence[str]], times: Sequence[float], start: int,
                          extent: Any | None = None) -> go.Figure:
    """A sentence drifting into noise on the PCA plane, frame by frame for the player: the vocabulary faint behind,
    each token's whole path from its embedding (t = 0, hollow) towards its noise, and x_t at the frame's time
    (`times[k]`; `paths`: (n, K, 2)) labelled with the word it rounds to (`rounded[k]`): blue where that is still the
    token's own word, vermillion where it has become another. Drawn at frame `start`; the player moves the points."""
    vxy = _xy(vocab_xy, "vocab_xy")
    p = np.asarray(paths, dtype=np.float64)
    if p.ndim != 3 or p.shape[2] != 2 or p.shape[1] != len(times) or len(p) != len(words):
        raise ValueError(f"paths must be an (n, K, 2) array for {len(words)} tokens and {len(times)} times; got shape "
                         f"{p.shape}")
    if len(rounded) != len(times) or any(len(r) != len(words) for r in rounded):
        raise ValueError("rounded needs one list of words per time, one word per token")
    fig = _vocabulary_and_paths(vxy, vocab_words, p, "path from t = 0 to 1")
    fig.add_trace(go.Scatter(x=p[:, 0, 0], y=p[:, 0, 1], mode="markers", name="x₀ = EMB(w)",
                             hovertext=[f"position {k + 1}: {html.escape(w)} (t = 0)" for k, w in enumerate(words)],
                             hoverinfo="text", marker=dict(color=PATH, size=8, symbol="circle-open",
                                                           line=dict(width=1.5))))
    if extent is None:
        extent = finite_extent(np.concatenate([vxy, p.reshape(-1, 2)]))
    ext = np.asarray(extent, dtype=np.float64)
    scale = float(max(ext[0, 1] - ext[0, 0], ext[1, 1] - ext[1, 0], 1e-9))

    def points(k: int) -> dict[str, Any]:
        now = p[:, k]
        moved = [r != w for r, w in zip(rounded[k], words)]
        text = _merge_labels(now, list(rounded[k]), scale)
        colours = [MOVED if m else KEPT for m in moved]
        return {"x": now[:, 0].tolist(), "y": now[:, 1].tolist(), "text": text,
                "textposition": place_labels(now, text, ext), "marker.color": colours, "textfont.color": colours,
                "hovertext": [f"position {j + 1}: {html.escape(words[j])} → rounds to <b>{html.escape(r)}</b>"
                              for j, r in enumerate(rounded[k])]}

    first = points(start)
    fig.add_trace(go.Scatter(
        x=first["x"], y=first["y"], mode="markers+text", name="x_t, labelled with the word it rounds to",
        meta="now-xy", text=first["text"], textposition=first["textposition"],
        textfont=dict(size=13, color=first["textfont.color"]), cliponaxis=False, hovertext=first["hovertext"],
        hoverinfo="text", marker=dict(color=first["marker.color"], size=10, line=dict(color="#ffffff", width=1))))
    for name, colour in (("still its own word", KEPT), ("now another word", MOVED)):  # the colours' key
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, marker=dict(color=colour, size=10)))
    follow(fig, [{"now-xy": points(k)} for k in range(len(times))])
    pad = 0.06 * scale
    fig.update_layout(
        title=dict(text="x_t on the PCA plane of the embeddings", font=dict(size=14)),
        xaxis=dict(title="PC 1", range=[ext[0, 0] - pad, ext[0, 1] + pad], zeroline=False),
        yaxis=dict(title="PC 2", range=[ext[1, 0] - pad, ext[1, 1] + pad], zeroline=False),
        height=500, margin=dict(l=50, r=20, t=50, b=40), hovermode="closest",
        legend=dict(orientation="h", yanchor="top", y=-0.12, xanchor="left", x=0, font=dict(size=12)),
    )
    return fig


def finite_extent(points: Any) -> list[list[float]]:
    """[[x_min, x_max], [y_min, y_max]] of (..., 2) points: the fixed view of an animation."""
    a = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    a = a[np.isfinite(a).all(1)]
    if not len(a):
        return [[-1.0, 1.0], [-1.0, 1.0]]
    return [[float(a[:, 0].min()), float(a[:, 0].max())], [float(a[:, 1].min()), float(a[:, 1].max())]]



def denoising_map_figure(vocab_xy: Any, vocab_words: Sequence[str], paths: Any, rounded: Sequence[Sequence[str]],
                         title: str, extent: Any | None = None, highlight: Sequence[int] | None = None) -> go.Figure:
    """The reverse chain on the PCA plane: each token's latent path from the Gaussian prior (hollow) to the last
    recorded step (filled, labelled with the word it rounds to); the vocabulary faint behind. `paths`: (n, K, 2)
    over K recorded frames; `rounded`: per frame the n words. The `highlight`ed positions' paths are drawn strong and
    the rest faded (default: all strong). The points and labels follow the player frame by frame."""
    vxy = _xy(vocab_xy, "vocab_xy")
    p = np.asarray(paths, dtype=np.float64)
    if p.ndim != 3 or p.shape[2] != 2 or p.shape[1] < 1:
        raise ValueError(f"paths must be an (n, K, 2) array, one path of K points per token; got shape {p.shape}")
    if len(rounded) != p.shape[1] or any(len(r) != len(p) for r in rounded):
        raise ValueError(f"rounded needs one list of {len(p)} words per recorded frame ({p.shape[1]}); got "
                         f"{[len(r) for r in rounded]}")
    if len(vxy) != len(vocab_words):
        raise ValueError(f"vocab_xy and vocab_words differ in length: {len(vxy)} and {len(vocab_words)}")
    strong = list(range(len(p))) if not highlight else [k for k in highlight if 0 <= k < len(p)]
    faint = [k for k in range(len(p)) if k not in strong]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=vxy[:, 0], y=vxy[:, 1], mode="markers", name="vocabulary", hovertext=list(vocab_words),
                             hoverinfo="text", marker=dict(color=VOCAB, size=6, opacity=0.6)))
    for keep, name, style in ((faint, "other positions' paths", dict(color="#bdbdbd", width=1)),
                              (strong, "latent path", dict(color=PATH, width=2))):
        if not keep:
            continue
        lx: list[float | None] = []
        ly: list[float | None] = []
        for k in keep:
            lx += [*p[k, :, 0], None]
            ly += [*p[k, :, 1], None]
        fig.add_trace(go.Scatter(x=lx, y=ly, mode="lines", name=name, hoverinfo="skip", line=style,
                                 opacity=0.5 if keep is faint else 0.8))
    fig.add_trace(go.Scatter(x=p[strong, 0, 0], y=p[strong, 0, 1], mode="markers", name="x_T ~ N(0, I)",
                             hovertext=[f"position {k + 1}: the prior" for k in strong], hoverinfo="text",
                             marker=dict(color=PATH, size=8, symbol="circle-open", line=dict(width=1.5))))
    if extent is None:
        extent = finite_extent(np.concatenate([vxy, p.reshape(-1, 2)]))
    ext = np.asarray(extent, dtype=np.float64)
    scale = float(max(ext[0, 1] - ext[0, 0], ext[1, 1] - ext[1, 0], 1e-9))

    def points(frame: int) -> dict[str, Any]:
        now = p[strong, frame]
        text = _merge_labels(now, [rounded[frame][k] for k in strong], scale)
        return {"x": now[:, 0].tolist(), "y": now[:, 1].tolist(), "text": text,
                "textposition": place_labels(now, text, ext),
                "hovertext": [f"position {k + 1}: rounds to <b>{html.escape(rounded[frame][k])}</b>" for k in strong]}

    last = points(p.shape[1] - 1)
    fig.add_trace(go.Scatter(
        x=last["x"], y=last["y"], mode="markers+text", name="x_t at this frame, labelled with its rounding",
        meta="now-xy", text=last["text"], textposition=last["textposition"], textfont=dict(size=13, color=NOW_TEXT),
        cliponaxis=False, hovertext=last["hovertext"], hoverinfo="text",
        marker=dict(color=NOW_TEXT, size=10, line=dict(color="#ffffff", width=1))))
    follow(fig, [{"now-xy": points(f)} for f in range(p.shape[1])])
    pad = 0.06 * scale
    fig.update_layout(
        title=dict(text=title, font=dict(size=14)),
        xaxis=dict(title="PC 1", range=[ext[0, 0] - pad, ext[0, 1] + pad], zeroline=False),
        yaxis=dict(title="PC 2", range=[ext[1, 0] - pad, ext[1, 1] + pad], zeroline=False),
        height=480, margin=dict(l=50, r=20, t=50, b=40), hovermode="closest",
        legend=dict(orientation="h", yanchor="top", y=-0.12, xanchor="left", x=0, font=dict(size=12)),
    )
    return fig

"""Latents on the PCA plane of the embedding table: a sentence drifting into Gaussian noise (Forward noising) and a
reverse chain's paths back to words (Denoise), each point labelled with the word it rounds to; the points follow
the player frame by frame.

Plain data in (the plane's coordinates as NumPy arrays or nested lists, words), go.Figure out; the projection itself
comes from diffusion.views.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .embeddings import VOCAB, _merge_labels, _xy
from .player import NOW, follow

PATH, KEPT, MOVED = "#0072B2", "#0072B2", "#D55E00"  # Okabe-Ito blue and vermillion


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
        meta="now-xy", text=last["text"], textposition=last["textposition"], textfont=dict(size=13, color=NOW),
        cliponaxis=False, hovertext=last["hovertext"], hoverinfo="text",
        marker=dict(color=NOW, size=10, line=dict(color="#ffffff", width=1))))
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

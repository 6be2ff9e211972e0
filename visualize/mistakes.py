"""What goes wrong, by model: each model's samples split into grammatical and each kind of mistake the grammar names
(diffusion/corpus/mistakes.py), one horizontal bar per model, as its evaluation recorded them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from .palette import FONT_SIZE, SMALL_FONT_SIZE, TITLE_FONT_SIZE
from .tokens import GRAMMATICAL

# A warm ramp for the mistakes of parallel decoding (the lesson's kinds, darkest first), cool greys for the rest; the
# grammatical share in the verdicts' blue. Each bar segment is labelled with its share, so no reading rests on colour.
KIND_COLOURS = {"repeated_slot": "#a63603", "missing_slot": "#e6550d", "connector": "#fd8d3c",
                "broken_phrase": "#fdbe85", "article": "#8c6d31", "order": "#756bb1", "ending": "#9e9ac8",
                "unknown_word": "#636363", "empty": "#bdbdbd"}


def mistake_profile_figure(profiles: Sequence[tuple[str, float, Mapping[str, float]]],
                           labels: Mapping[str, str]) -> go.Figure:
    """`profiles`: (model, grammatical rate, {kind: share of samples}) in reading order, top to bottom; `labels`:
    each kind's short name, in the order the grammar checks them. Shares of 3% or more are printed on the bar."""
    names = [name for name, _, _ in profiles][::-1]  # plotly draws the first category at the bottom
    fig = go.Figure()

    def bar(label: str, shares: list[float], colour: str) -> None:
        text = [f"{s:.0%}" if s >= 0.03 else "" for s in shares]
        fig.add_bar(y=names, x=shares, orientation="h", name=label, marker=dict(color=colour, line=dict(width=0)),
                    text=text, textposition="inside", insidetextanchor="middle",
                    textfont=dict(size=SMALL_FONT_SIZE), hovertemplate=f"%{{y}}: %{{x:.0%}} {label}<extra></extra>")

    bar("grammatical", [rate for _, rate, _ in profiles][::-1], GRAMMATICAL)
    for kind, label in labels.items():
        shares = [float(mistakes.get(kind, 0.0)) for _, _, mistakes in profiles][::-1]
        if any(shares):
            bar(label, shares, KIND_COLOURS.get(kind, "#525252"))
    fig.update_layout(
        barmode="stack", height=170 + 40 * max(1, len(profiles)), margin=dict(l=10, r=10, t=50, b=110),
        title=dict(text="What the samples get wrong, by model", font=dict(size=TITLE_FONT_SIZE)),
        xaxis=dict(range=[0, 1], tickformat=".0%", title=dict(text="share of samples", font=dict(size=FONT_SIZE)),
                   tickfont=dict(size=SMALL_FONT_SIZE)),
        yaxis=dict(tickfont=dict(size=FONT_SIZE), automargin=True),
        legend=dict(orientation="h", y=-0.2, yanchor="top", x=0, font=dict(size=SMALL_FONT_SIZE), traceorder="normal"),
        uniformtext=dict(minsize=SMALL_FONT_SIZE - 1, mode="hide"))
    return fig

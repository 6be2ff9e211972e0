"""Pure view builders: plain data in, HTML strings or plotly figures out. No model, no gradio."""

import plotly.io as pio

# Every figure here is drawn on plotly_white, set once as plotly's default: plotly applies it when a figure is
# serialised. Naming it in each layout copied the whole template into every figure as it was built (a small figure
# took 19.6 ms to build and serialise that way, 4.9 ms this way, the same JSON).
pio.templates.default = "plotly_white"

from .plots import bleu_heatmap_figure, clamp_distance_figure, mean_distance
from .tokens import confidence_colour, legend_html, render_step, render_tokens

__all__ = ["bleu_heatmap_figure", "clamp_distance_figure", "confidence_colour", "legend_html", "mean_distance", "render_step",
           "render_tokens"]

"""Pure view builders: plain data in, HTML strings or plotly figures out. No model, no gradio."""

from .plots import bleu_heatmap_figure, clamp_distance_figure, mean_distance
from .tokens import confidence_colour, legend_html, render_step, render_tokens

__all__ = ["bleu_heatmap_figure", "clamp_distance_figure", "confidence_colour", "legend_html", "mean_distance", "render_step",
           "render_tokens"]

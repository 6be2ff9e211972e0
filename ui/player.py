"""The one run player of every tab: a gr.HTML that holds a recorded run's frames and plays them in the browser
(visualize/player.py and player.js), with no request to the server per frame. While a run is computed the tab's
handler streams its newest frame into the same component (`live`); the finished run arrives once, whole."""

from __future__ import annotations

import gradio as gr

from visualize.player import SKELETON, css, empty_value, script


def player(elem_id: str, empty: str, min_height: int = 120) -> gr.HTML:
    """The player component, showing `empty` (HTML) until a run arrives."""
    return gr.HTML(value=empty_value(empty), html_template=SKELETON, css_template=css(), js_on_load=script(),
                   elem_id=elem_id, min_height=min_height, padding=False)

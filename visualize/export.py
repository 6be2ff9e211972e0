"""Trajectories out of the app: a JSON document of every recorded step and a self-contained animated HTML page.

Both carry the settings that made the run (family, checkpoint, seed, steps, sampler options), so a reader can
reproduce it with the CLI. Pure functions: plain data in, text out.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from .player import DEFAULT_FPS, SKELETON, css as player_css, has_padding, player_value, script
from .tokens import css as tokens_css

FORMAT = "text-diffusion-lab trajectory, version 1"


def step_record(index: int, t: float, tokens: Sequence[Sequence[str]], confidence: Any, changed: Any,
                calls: int | None = None) -> dict[str, Any]:
    """One recorded step as plain JSON data: tokens per sample, confidence to 4 decimals, changed flags, and the
    network calls the chain had made by then (when given)."""
    conf = np.asarray(confidence, dtype=np.float64).round(4)
    record = {"index": int(index), "t": round(float(t), 6), "tokens": [list(map(str, row)) for row in tokens],
              "confidence": np.nan_to_num(conf).tolist(), "changed": np.asarray(changed, dtype=bool).tolist()}
    if calls is not None:
        record["network_calls"] = int(calls)
    return record


def trajectory_json(settings: dict[str, Any], steps: Sequence[dict[str, Any]], result: dict[str, Any] | None = None) -> str:
    """The JSON document: format, settings, the steps (as `step_record` makes them) and any final result."""
    if not steps:
        raise ValueError("a trajectory needs at least one step")
    doc = {"format": FORMAT, "settings": settings, "num_frames": len(steps), "steps": list(steps)}
    if result:
        doc["result"] = result
    return json.dumps(doc, ensure_ascii=False, indent=1)


def _script_json(value: Any) -> str:
    """JSON safe inside <script>: no '</' can close the tag early."""
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


def animated_html(title: str, settings: dict[str, Any], frames: Sequence[str | Sequence[str]],
                  labels: Sequence[str] | None = None, heads: Sequence[str] = (), fps: float = DEFAULT_FPS) -> str:
    """One HTML file that plays the recorded frames (HTML fragments; per frame one, or one per chain side by side
    under `heads`) with the app's own player: play / pause, step, a slider, speed, the network's likeliest words on
    pointing; no network, no external script. The settings are listed above the player."""
    if not frames:
        raise ValueError("an animation needs at least one frame")
    labels = list(labels) if labels is not None else [f"frame {i}" for i in range(len(frames))]
    views = [[f] if isinstance(f, str) else list(f) for f in frames]
    value = player_value(views, labels, heads=heads, fps=fps, padding=any(has_padding(v) for v in views))
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in settings.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:1.5rem auto;max-width:72rem;padding:0 1rem;color:#111}}
table{{border-collapse:collapse;margin:.5rem 0 1rem}}th,td{{text-align:left;padding:2px 10px;border-bottom:1px solid #ddd;font-size:.9rem}}
{tokens_css()}
{player_css()}
</style></head><body>
<h1>{html.escape(title)}</h1>
<table>{rows}</table>
<div id="player">{SKELETON}</div>
<p style="color:#666;font-size:.8rem">Made by Text diffusion lab; {len(views)} frames.</p>
<script>
(function (element, props, watch) {{
{script()}
}})(document.getElementById("player"), {{value: {_script_json(value)}}}, function () {{}});
</script></body></html>
"""

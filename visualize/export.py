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


def animated_html(title: str, settings: dict[str, Any], frames: Sequence[str], labels: Sequence[str] | None = None,
                  fps: float = 8.0) -> str:
    """One HTML file that plays the recorded frames (HTML fragments with inline styles) with play / pause, a
    slider and a speed choice; no network, no external script. The settings are listed above the player."""
    if not frames:
        raise ValueError("an animation needs at least one frame")
    if labels is not None and len(labels) != len(frames):
        raise ValueError(f"labels must have one entry per frame, got {len(labels)} for {len(frames)} frames")
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in settings.items())
    n = len(frames)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:1.5rem auto;max-width:60rem;padding:0 1rem;color:#111}}
table{{border-collapse:collapse;margin:.5rem 0 1rem}}th,td{{text-align:left;padding:2px 10px;border-bottom:1px solid #ddd;font-size:.9rem}}
#controls{{display:flex;gap:.75rem;align-items:center;flex-wrap:wrap;margin:.5rem 0}}
#frame{{flex:1;min-width:12rem}}button{{font-size:1rem;padding:.3rem 1rem}}
#view{{border:1px solid #ddd;border-radius:6px;padding:.75rem;min-height:4rem}}
</style></head><body>
<h1>{html.escape(title)}</h1>
<table>{rows}</table>
<div id="controls"><button id="play" type="button">Play</button>
<input id="frame" type="range" min="0" max="{n - 1}" value="{n - 1}" aria-label="frame">
<span id="label"></span>
<label>speed <select id="speed"><option value="0.5">0.5×</option><option value="1" selected>1×</option>
<option value="2">2×</option><option value="4">4×</option></select></label></div>
<div id="view"></div>
<p style="color:#666;font-size:.8rem">Made by Text diffusion lab; {n} frames.</p>
<script>
const FRAMES = {_script_json(list(frames))};
const LABELS = {_script_json(list(labels) if labels is not None else [f"frame {i}" for i in range(n)])};
const FPS = {float(fps)};
const slider = document.getElementById("frame"), view = document.getElementById("view"),
      label = document.getElementById("label"), play = document.getElementById("play"),
      speed = document.getElementById("speed");
let timer = null;
function show(i) {{ slider.value = i; view.innerHTML = FRAMES[i]; label.textContent = LABELS[i]; }}
function stop() {{ clearInterval(timer); timer = null; play.textContent = "Play"; }}
function start() {{
  if (+slider.value >= FRAMES.length - 1) show(0);
  play.textContent = "Pause";
  timer = setInterval(() => {{
    const i = +slider.value + 1;
    if (i >= FRAMES.length) {{ stop(); return; }}
    show(i);
  }}, 1000 / (FPS * +speed.value));
}}
play.addEventListener("click", () => timer ? stop() : start());
slider.addEventListener("input", () => {{ stop(); show(+slider.value); }});
speed.addEventListener("change", () => {{ if (timer) {{ stop(); start(); }} }});
show(FRAMES.length - 1);
</script></body></html>
"""

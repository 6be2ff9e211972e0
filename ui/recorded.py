"""Figures the tabs' texts quote, read when the page is built from each checkpoint's meta.json (the evaluations
`python -m diffusion evaluate --record` wrote there), never typed into UI text: a retrained checkpoint brings its own,
and a figure it never recorded leaves its sentence out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .common import checkpoint_path, model_setting


def meta(name: str) -> dict[str, Any]:
    """The meta.json of the checkpoint `name` (shipped, or the one its environment variable names); empty where it
    has none readable."""
    try:
        data = json.loads((Path(checkpoint_path(name)) / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def evaluations(name: str) -> list[dict[str, Any]]:
    """The recorded evaluations of the checkpoint `name`; none where it has no readable meta.json."""
    recorded_meta = meta(name)
    entries = recorded_meta.get("evaluation") or recorded_meta.get("evaluations") or {}
    entries = entries.values() if isinstance(entries, dict) else entries
    return [entry for entry in entries if isinstance(entry, dict)]


def recorded(name: str, key: str = "grammatical_rate", **settings: Any) -> Any:
    """`key` of the first recorded evaluation of `name` made with `settings` (a setting given as None or 0 matches
    one left out, None or 0), or None when there is none."""
    for entry in evaluations(name):
        if all(entry.get(k) == v or (not v and not entry.get(k)) for k, v in settings.items()):
            if entry.get(key) is not None:
                return entry[key]
    return None


def configured(name: str, key: str) -> Any:
    """`key` of the checkpoint `name`'s recipe (its config.json: the training grid's size, say), or None."""
    return model_setting(name, key, None)


def sentence(template: str, **figures: Any) -> str:
    """`template` with the figures filled in, or "" where one was never recorded."""
    if any(value is None for value in figures.values()):
        return ""
    return template.format(**figures)


def paragraph(title: str, *sentences: str) -> str:
    """A bold-titled paragraph of the sentences that could be filled in; "" when none could."""
    said = " ".join(s for s in sentences if s)
    return f"\n\n**{title}.** {said}\n" if said else ""

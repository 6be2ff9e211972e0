"""What every tab shares: the shipped checkpoints (loaded once, read-only), input checks, LaTeX, concurrency."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import gradio as gr

from diffusion import checkpoint

CHECKPOINT_ENV = "DIFFUSION_CHECKPOINT"  # the continuous model; other families: DIFFUSION_CHECKPOINT_<FAMILY>
CHECKPOINTS = Path(__file__).resolve().parents[1] / "assets" / "checkpoints"
DEFAULT_CHECKPOINT = CHECKPOINTS / "continuous"
MAX_SEED = 2**63 - 1
# Two runs at once keep a 2-vCPU Space responsive; every sampling handler shares this id and limit.
SAMPLING = dict(concurrency_limit=2, concurrency_id="sampling")
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


@functools.lru_cache(maxsize=8)
def load(path: str, family: str = "continuous") -> checkpoint.Checkpoint:
    """Load a checkpoint once per path; the model is shared read-only by every session."""
    return checkpoint.load(path, family=family)


def env_name(name: str) -> str:
    """The environment variable naming another checkpoint for a shipped folder name (`sedd-absorb` ->
    DIFFUSION_CHECKPOINT_SEDD_ABSORB); the continuous model keeps the plain DIFFUSION_CHECKPOINT."""
    return CHECKPOINT_ENV if name == "continuous" else f"{CHECKPOINT_ENV}_{name.upper().replace('-', '_')}"


def checkpoint_path(name: str = "continuous") -> str:
    return os.environ.get(env_name(name)) or str(CHECKPOINTS / name)


def get_checkpoint(family: str = "continuous", name: str | None = None, how: str = "") -> checkpoint.Checkpoint:
    """The shipped (or environment-named) checkpoint `name` (default: the family's own folder); a gr.Error saying
    how to make one if it is absent or of another family."""
    name = name or family
    try:
        return load(checkpoint_path(name), family)
    except ValueError as e:
        raise gr.Error(f"{e}. Set {env_name(name)} to a folder made by "
                       f"`python -m diffusion train --family {family}{how}`.") from None


def whole(value: Any, name: str, low: int, high: int, high_text: str | None = None) -> int:
    """An integer in [low, high] from a UI number, or a gr.Error naming what is accepted."""
    message = f"{name} must be a whole number from {low} to {high_text or high}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise gr.Error(message)
    if isinstance(value, float) and not value.is_integer():
        raise gr.Error(message)
    if not low <= value <= high:
        raise gr.Error(message)
    return int(value)



def model_length(family: str, default: int = 64) -> int:
    """The model length of a family's checkpoint from its config.json alone (sliders' ranges), without loading it."""
    try:
        raw = json.loads((Path(checkpoint_path(family)) / "config.json").read_text(encoding="utf-8"))
        return int(raw.get("config", raw)["seq_len"])
    except (OSError, ValueError, KeyError, TypeError):
        return default  # no usable checkpoint yet: the handler will say so when run

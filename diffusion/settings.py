"""Sampler settings in one vocabulary: what a process samples with, as the command line's flags, as the key an
evaluation is recorded under in meta.json, as the command that redraws a run (the app's "reproduce this"), and as
the few words the Compare tab labels a recorded figure with.

The command line parses its flags through `FLAGS`, and every command the package or the app prints is written by
`flags` / `sample_command` from the same table, so a printed command always parses back to the same settings.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from typing import Any

from .anyorder import AnyOrderProcess
from .families import sampler_settings
from .process import Process
from .sedd import SEDDProcess

# the sampler settings `configure` takes, and their flags (clamping off is --clamp-from 0)
FLAGS = {"sampler": "--sampler", "clamp_from": "--clamp-from", "noise_scale": "--noise-scale", "remask": "--remask",
         "temperature": "--temperature", "order": "--order"}
# what a run is conditioned on, and its flags (`sample` only takes --source; --control repeats per target)
CONDITIONING = {"source": "--source", "control": "--control", "infill": "--infill",
                "guidance_weight": "--guidance-weight"}


def current(process: Process) -> dict[str, Any]:
    """The sampler settings `process` runs with, by name (only its family's; clamping off reads as clamp_from 0)."""
    base = process.sedd if isinstance(process, AnyOrderProcess) else process
    out: dict[str, Any] = {}
    for name in sampler_settings(process):
        if name == "sampler" and isinstance(process, AnyOrderProcess):
            out[name] = "any-order"
        elif name == "order" and isinstance(base, SEDDProcess):
            out[name] = process.order if isinstance(process, AnyOrderProcess) else "random"
        elif name == "clamp":
            continue
        elif name == "clamp_from":
            out[name] = float(base.clamp_from) if base.clamp else 0.0
        else:
            out[name] = getattr(base, name)
    return out


def defaults(process: Process) -> dict[str, Any]:
    """The settings `process`'s family samples with when none are given."""
    base = process.sedd if isinstance(process, AnyOrderProcess) else process
    fresh = {f.name: f.default for f in dataclasses.fields(base) if f.name in FLAGS or f.name == "clamp"}
    out = {}
    for name in sampler_settings(process):
        if name == "clamp_from":
            out[name] = float(fresh["clamp_from"]) if fresh.get("clamp", True) else 0.0
        elif name == "order":
            out[name] = "random"
        elif name != "clamp":
            out[name] = fresh[name]
    return out


def flags(process: Process) -> list[str]:
    """The command line's flags for the settings `process` runs with that differ from its family's defaults."""
    given, default = current(process), defaults(process)
    out: list[str] = []
    for name, value in given.items():
        if value != default.get(name):
            out += [FLAGS[name], _text(value)]
    return out


def sample_command(checkpoint: str, process: Process, steps: int, seed: int, num_samples: int,
                   **conditioning: Any) -> str:
    """`python -m diffusion sample ...` that draws the same final samples: the settings' flags, and what the run is
    conditioned on (`source`, `infill`, `control`: a list of SLOT=VALUE, `guidance_weight`), None left out."""
    unknown = sorted(set(conditioning) - set(CONDITIONING))
    if unknown:
        raise ValueError(f"unknown conditioning {', '.join(unknown)}; the command line takes {', '.join(CONDITIONING)}")
    words = ["python", "-m", "diffusion", "sample", "--checkpoint", checkpoint, "--seed", str(seed),
             "--steps", str(steps), "--num-samples", str(num_samples), *flags(process)]
    for name, value in conditioning.items():
        if value is None:
            continue
        for one in value if isinstance(value, (list, tuple)) else [value]:
            words += [CONDITIONING[name], _text(one)]
    return " ".join(shlex.quote(w) for w in words)


def evaluation_key(result: dict[str, Any]) -> str:
    """The key an evaluation is recorded under in meta.json: its steps and settings, those at their defaults left out
    (so keys recorded before a setting existed stay the same), a control last."""
    key = ",".join(f"{k}={result[k]}" for k in ("steps", "sampler", "clamp", "temperature", "mbr_candidates")
                   if result.get(k) is not None)
    if result.get("clamp_from") not in (None, 1.0, 0.0):
        key += f",clamp_from={result['clamp_from']}"
    if result.get("noise_scale") not in (None, 1.0):
        key += f",noise_scale={result['noise_scale']}"
    if result.get("order") not in (None, "random"):
        key += f",order={result['order']}"
    if result.get("remask"):
        key += f",remask={result['remask']}"
    if result.get("control"):  # a controlled run never overwrites the unconditional figures
        key += ",control=" + json.dumps(result["control"], sort_keys=True)
    return key


def label(result: dict[str, Any]) -> str:
    """A recorded evaluation's settings in a few words, as the Compare tab's table names them ("ddpm · clamp")."""
    parts = []
    if result.get("sampler"):
        parts.append(str(result["sampler"]))
    if result.get("clamp") is not None:
        parts.append("clamp" if result["clamp"] else "no clamp")
    if result.get("clamp_from") not in (None, 1.0, 0.0):
        parts.append(f"from t = {result['clamp_from']:g}")
    if result.get("noise_scale") not in (None, 1.0):
        parts.append(f"noise x{result['noise_scale']}")
    if result.get("mbr_candidates"):
        parts.append(f"MBR over {result['mbr_candidates']}")
    if result.get("temperature") is not None:
        parts.append(f"temperature {result['temperature']}")
    if result.get("order") not in (None, "random"):
        parts.append(f"{result['order']} order")
    if result.get("remask"):
        parts.append(f"remask {result['remask']:g}")
    return " · ".join(parts)


def _text(value: Any) -> str:
    """A value as the command line takes it: numbers as Python writes them (a float's repr reads back the same)."""
    return value if isinstance(value, str) else repr(value)


BY_SEED = "by_seed"  # meta.json's key for the evaluations over seeds (`evaluate --seeds`), apart from "evaluation"


def seeds_key(result: dict[str, Any]) -> str:
    """The key an evaluation over seeds is recorded under in meta.json's BY_SEED: its settings as `evaluation_key`
    says them, then the samples per seed, the number of seeds and, for seq2seq, the source."""
    key = f"{evaluation_key(result)},num_samples={result['num_samples']},seeds={result['seeds']}"
    return key + (f",source={result['source']}" if result.get("source") else "")

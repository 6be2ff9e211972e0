"""How often a tab's current settings show what the tab is about, over seeds 0..N-1, as `python -m diffusion evaluate
--seeds N --record` measured it into a checkpoint's meta.json: read when the page is built and whenever a setting
changes, never typed into UI text; settings nobody measured say so."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr

from diffusion import shipped
from diffusion.corpus import linearise_mr, parse_mr
from diffusion.settings import BY_SEED

from .common import SHIPPED
from .recorded import meta

# the shipped eps model (the Clamping trick's right column), and the shipped SEDD model of each graph
EPS_FOLDER = next(name for name in shipped.names("continuous") if shipped.SHIPPED[name].variant == "eps")
GRAPHS = {shipped.SHIPPED[name].variant: name for name in shipped.names("sedd")}
NOT_MEASURED = "<span style='opacity:0.6'>Not measured for these settings.</span>"


def by_seed(name: str) -> list[dict[str, Any]]:
    """The evaluations over seeds recorded for the checkpoint `name` (shipped, or the one its environment variable
    names); none where it has no readable meta.json."""
    entries = meta(name).get(BY_SEED)
    return [e for e in entries.values() if isinstance(e, dict)] if isinstance(entries, dict) else []


def _same(recorded: Any, wanted: Any) -> bool:
    """Whether a recorded setting is the one wanted (numbers as numbers; None and 0 alike, as ui/recorded.py has it)."""
    if wanted in (None, 0) and recorded in (None, 0):
        return True
    if isinstance(wanted, bool) or isinstance(recorded, bool) or not isinstance(wanted, (int, float)):
        return recorded == wanted
    return isinstance(recorded, (int, float)) and math.isclose(recorded, wanted, abs_tol=1e-9)


def measured(name: str, **settings: Any) -> dict[str, Any] | None:
    """The evaluation over seeds of `name` made with exactly `settings` (the one over the most seeds), or None."""
    hits = [e for e in by_seed(name) if all(_same(e.get(k), v) for k, v in settings.items())]
    return max(hits, key=lambda e: e.get("seeds") or 0, default=None)


def _seeds(entry: dict[str, Any]) -> str:
    return f"of {entry['seeds']} seeds (0–{entry['seeds'] - 1})"


def _samples(n: int) -> str:
    return "the sample" if n == 1 else "both samples" if n == 2 else f"all {n} samples"


def _line(text: str) -> str:
    return f"<span class='rate-line'><b>Measured with these settings:</b> {text}.</span>"


def _continuous(steps: Any, sampler: Any, clamp_from: Any, num_samples: Any, noise_scale: Any = 1.0,
                clamp: Any = True, control: dict[str, Any] | None = None) -> dict[str, Any]:
    """A continuous run's settings as `evaluate` records them (clamping off reads as clamp_from 0)."""
    return dict(steps=steps, sampler=sampler, num_samples=num_samples, noise_scale=noise_scale,
                clamp_from=float(clamp_from) if clamp else 0.0, control=control)


def denoise(steps: Any, sampler: Any, clamp: Any, clamp_from: Any, num_samples: Any, choice: Any = SHIPPED,
            noise_scale: Any = 1.0) -> str:
    """The Denoise tab: how often every sample is grammatical."""
    if choice not in (None, SHIPPED):
        return ""
    entry = measured("continuous", **_continuous(steps, sampler, clamp_from, num_samples, noise_scale, bool(clamp)))
    if entry is None:
        return NOT_MEASURED
    return _line(f"{_samples(entry['num_samples'])} grammatical in {entry['all_grammatical']} {_seeds(entry)}")


def clamp(steps: Any, sampler: Any, clamp_from: Any, choice: Any = SHIPPED, compare: Any = "clamping") -> str:
    """The Clamping trick tab: how often each column's sample is grammatical, seed by seed."""
    if choice not in (None, SHIPPED):
        return ""
    on = _continuous(steps, sampler, clamp_from, 1)
    if compare == "clamping":
        columns = (("with clamping", "continuous", on), ("without", "continuous", _continuous(steps, sampler, 0, 1)))
    else:
        columns = (("predicting x₀", "continuous", on), ("predicting ε", EPS_FOLDER, on))
    entries = [measured(name, **settings) for _, name, settings in columns]
    if None in entries or entries[0]["seeds"] != entries[1]["seeds"]:
        return NOT_MEASURED
    said = ", ".join(f"{label} in {e['all_grammatical']}" for (label, _, _), e in zip(columns, entries))
    return _line(f"the sample is grammatical {said} {_seeds(entries[0])}")


def discrete(graph: Any, steps: Any, sampler: Any, num_samples: Any, choice: Any = SHIPPED, remask: Any = 0.0,
             order: Any = "random") -> str:
    """The Discrete diffusion tab: how often every sample is grammatical."""
    if choice not in (None, SHIPPED) or graph not in GRAPHS:
        return ""
    settings = dict(steps=steps, sampler=sampler, num_samples=num_samples, remask=remask)
    if sampler == "any-order":
        settings["order"] = order
    entry = measured(GRAPHS[graph], **settings)
    if entry is None:
        return NOT_MEASURED
    return _line(f"{_samples(entry['num_samples'])} grammatical in {entry['all_grammatical']} {_seeds(entry)}")


def order(budget: Any, temperature: Any, num_samples: Any, choice: Any = SHIPPED, order: Any = "random",
          network: Any = "ardm") -> str:
    """The Order-agnostic tab: how often every sample is grammatical."""
    if choice not in (None, SHIPPED):
        return ""
    if network == "ardm":
        entry = measured("ardm", steps=budget, temperature=temperature, order=order, num_samples=num_samples)
    else:
        entry = measured("sedd-absorb", steps=budget, sampler="any-order", order=order, num_samples=num_samples,
                         remask=0) if temperature == 1 else None
    if entry is None:
        return NOT_MEASURED
    return _line(f"{_samples(entry['num_samples'])} grammatical in {entry['all_grammatical']} {_seeds(entry)}")


def seq2seq(source: Any, steps: Any, candidates: Any, choice: Any = SHIPPED) -> str:
    """The Seq2seq tab: how often the MBR pick is grammatical, for the MR it was measured on."""
    if choice not in (None, SHIPPED):
        return ""
    try:
        source = linearise_mr(parse_mr(str(source or "")))
    except ValueError:
        return NOT_MEASURED
    entry = measured("seq2seq", steps=steps, mbr_candidates=candidates, num_samples=candidates, source=source)
    if entry is None:
        return NOT_MEASURED
    return _line(f"the MBR pick over {entry['mbr_candidates']} candidates for this MR is grammatical in "
                 f"{entry['pick_grammatical']} {_seeds(entry)}")


def control(mode: Any, slot: Any, value: Any, weight: Any, step_size: Any, updates: Any, steps: Any,
            num_samples: Any, choice: Any = SHIPPED) -> str:
    """The Control tab, classifier guidance: how often every sample is grammatical and says the asked value."""
    if choice not in (None, SHIPPED) or mode != "Classifier guidance":
        return ""
    asked = dict(targets={slot: value}, weight=weight, step_size=step_size, updates=updates)
    plain = dict(steps=steps, num_samples=num_samples, sampler="ddpm", clamp_from=1.0, noise_scale=1.0)
    entries = sorted(by_seed("continuous"), key=lambda e: -(e.get("seeds") or 0))
    entry = next((e for e in entries if _asked(e, asked) and all(_same(e.get(k), v) for k, v in plain.items())),
                 None)
    if entry is None or "all_on_target" not in entry:
        return NOT_MEASURED
    said = f"grammatical and saying {slot} = {value}"
    n = entry["num_samples"]
    if n == 1 or "any_on_target" not in entry:
        return _line(f"{_samples(n)} {said} in {entry['all_on_target']} {_seeds(entry)}")
    return _line(f"at least one of the {n} samples {said} in {entry['any_on_target']} {_seeds(entry)}")


def _asked(entry: dict[str, Any], asked: dict[str, Any]) -> bool:
    """Whether a recorded control is the guidance asked for (its targets, weight, step size and updates)."""
    control = entry.get("control")
    if not isinstance(control, dict) or "known_positions" in control:
        return False
    return all(_same(control.get(k), v) for k, v in asked.items())


def rate_line(fn: Callable[..., str], inputs: Sequence[Any], elem_id: str) -> gr.HTML:
    """The line under a tab's Run button that says how often its settings showed the tab's idea over seeds 0..N-1
    (`fn` of the inputs' values), redrawn whenever one of them changes."""
    line = gr.HTML(fn(*(c.value for c in inputs)), elem_id=elem_id)
    # its own api name, so that the tab's run keeps the handler's (/denoise, not /denoise_1); a read of meta.json
    # needs no queue
    gr.on([c.change for c in inputs], fn, list(inputs), line, api_name=f"rate_{fn.__name__}",
          api_visibility="private", show_progress="hidden", trigger_mode="always_last", queue=False)
    return line

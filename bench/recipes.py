"""docs/experiments.md's recipe tables, generated from the shipped checkpoints' meta.json (`python -m bench report`
writes them, with docs/benchmarks.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from diffusion import shipped

from .common import GENERATED, markdown_table as _table, read_json as _read

CHECKPOINTS = shipped.ROOT
RECIPES_END = "<!-- end of the generated recipes -->"


def _nll_kind(method: str) -> str:
    """'ELBO (Eq. 6) over the L words plus -log p(L) ...' -> 'ELBO (Eq. 6) + length'."""
    kind = re.split(r":| over ", method, maxsplit=1)[0].strip()
    return kind + (" + length" if "-log p(L)" in method else "")


def recipes(checkpoints: Path = CHECKPOINTS) -> str:
    """Each shipped checkpoint's command, machine, training time and NLL, then its recorded evaluations."""
    metas = {p.parent.name: _read(p) for p in sorted(checkpoints.glob("*/meta.json"))}
    train_rows, eval_rows, floor = [], [], None
    for name, meta in metas.items():
        evals = meta.get("evaluation", {})
        first = next(iter(evals.values()), {})
        floor = floor or first.get("entropy_bits_per_token")
        nll = ""
        if first.get("nll_bits_per_token") is not None:
            nll = f"{first['nll_bits_per_token']:.3f} ({_nll_kind(first.get('nll_method', ''))})"
            by_order = next((e["nll_by_order"] for e in evals.values() if e.get("nll_by_order")), None)
            if by_order:
                nll += "; exact " + " / ".join(f"{o} {v:.3f}" for o, v in by_order.items())
        train_rows.append((f"`{name}`", f"`{meta['command']}`", meta["machine"],
                           f"{meta['seconds'] / 60:.1f} min, {meta['steps']} steps", nll))
        groups: dict[str, list[dict[str, Any]]] = {}
        for key, e in evals.items():
            settings = ", ".join(part for part in key.split(",") if not part.startswith("steps="))
            groups.setdefault(settings, []).append(e)
        for settings, entries in sorted(groups.items()):
            entries.sort(key=lambda e: e["steps"])
            also = "; ".join(f"{label} {entries[-1][key]:{fmt}}" for key, label, fmt in
                             (("slot_accuracy", "slot accuracy", ".3f"), ("bleu", "BLEU", ".1f"),
                              ("self_bleu", "self-BLEU", ".1f")) if key in entries[-1])
            eval_rows.append((f"`{name}`", settings, ", ".join(f"{e['steps']}: {e['grammatical_rate']:.2f}"
                                                                for e in entries),
                              f"{entries[-1]['sample_seconds_per_sequence']:.3f}", also))
    counts = sorted({e.get("num_samples") for m in metas.values() for e in m.get("evaluation", {}).values()} - {None})
    floor_text = (f" The corpus's entropy, the floor of every NLL, is {floor:.3f} bits per word "
                  "(`entropy_bits_per_token`)." if floor else "")
    return ("How each checkpoint in `assets/checkpoints/` was trained, read from its `meta.json` (`command`, "
            "`machine`, `seconds`, `steps`), with its NLL in bits per word. The commands are recorded as they were "
            "run; the options they set that the command line no longer has are now each family's defaults "
            "(docs/cli.md), so `train --family F` (with `--parameterisation eps` or `--graph uniform` for the two "
            "variants) trains the same recipe, except `ar`'s: it was trained with AdamW and learned positions only (its "
            "`train_config` names no optimiser, its `config.json` its positions), where the small preset now trains "
            "with Muon and rotary positions.\n\n"
            + _table(("checkpoint", "command", "machine", "training", "NLL bits per word"), train_rows) + "\n\n"
            + "The evaluations each `meta.json` records under `evaluation` (by `python -m diffusion evaluate`, "
            f"{' or '.join(map(str, counts))} samples each), grouped by their key's settings but the steps; seconds "
            f"per sequence at the most steps.{floor_text}\n\n"
            + _table(("checkpoint", "settings", "steps: grammatical rate", "seconds per sequence", "also"),
                     eval_rows))


def render_experiments(current: str, checkpoints: Path = CHECKPOINTS) -> str:
    """docs/experiments.md with the text between its generated marker and RECIPES_END replaced."""
    start = GENERATED.format(source="assets/checkpoints/*/meta.json")
    if start not in current or RECIPES_END not in current:
        raise ValueError(f"docs/experiments.md lacks the lines {start!r} and {RECIPES_END!r}")
    head, rest = current.split(start, 1)
    tail = rest.split(RECIPES_END, 1)[1]
    return f"{head}{start}\n\n{recipes(checkpoints)}\n\n{RECIPES_END}{tail}"

"""What every benchmark shares: the spread of repeats, the machine it ran on, resident memory, where results go."""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def spread(values: list[float], digits: int = 4) -> dict[str, float]:
    """Median with min and max of repeated measurements (the machines are shared: medians, never means)."""
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits), "repeats": len(values)}


def timed(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of `repeats` calls of fn, after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB (0 when there is no such process)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue  # ended while we counted
    return round(total / 2**20, 1)


def machine() -> dict[str, Any]:
    import torch

    from diffusion.training import cpu_name

    return {"cpu": cpu_name(), "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "python": platform.python_version()}


def results_path(prefix: str, info: dict[str, Any], date: str | None = None) -> Path:
    """bench/results/<prefix><date>-<cpu>-<cores>cores.json"""
    slug = re.sub(r"[^a-z0-9]+", "-", info["cpu"].lower()).strip("-")[:40]
    return RESULTS / f"{prefix}{date or datetime.date.today().isoformat()}-{slug}-{info['cores']}cores.json"


def report(result: dict[str, Any], prefix: str, write: bool, as_json: bool) -> None:
    """Write `result` to bench/results/<prefix><date>-<machine>.json (unless not `write`), saying where on stderr, and
    print it: one JSON line with `as_json`, else indented."""
    if write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = results_path(prefix, result["machine"], result["date"])
        path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
    print(json.dumps(result) if as_json else json.dumps(result, indent=1))

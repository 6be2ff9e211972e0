"""The app's own benchmark: start-up, the first frame of a 200-step denoise, every tab's main handler (and the size
of the run its player receives), memory.

Runs the real app (`python app.py`) in a subprocess and drives it over HTTP with gradio_client, as a browser
would. Figures are medians over repeats with their min and max; resident memory is the server process's VmRSS
after every tab has run (psutil).

    python -m bench latency [--repeats 3] [--json]      # writes bench/results/app-<date>-<machine>.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


from bench.common import free_port, machine, report, rss_mb, spread

MR = "name [zizzi] food [french] area [riverside]"
SENTENCE = "punter is a cafe in the riverside area not far from the lighthouse that is inexpensive and is adults only ."

# Each tab's main action as a visitor runs it: (tab, api name, arguments). Shipped checkpoints, default settings.
CALLS: list[tuple[str, str, tuple]] = [
    ("Forward noising", "/forward_view", (SENTENCE, 0.5, 0, "shipped")),
    ("Denoise", "/denoise", (0, 200, "ddpm", True, 1.0, 2, "shipped")),
    ("Embeddings", "/embedding_map", ("continuous", "UMAP", "shipped")),
    ("Clamping trick", "/clamp_compare", (0, 200, "ddpm", 1.0, "shipped")),
    ("Discrete diffusion (forward)", "/sedd_forward", ("absorb", SENTENCE, 0.5, 0, "shipped")),
    ("Discrete diffusion", "/sedd_denoise", ("absorb", 0, 1024, "tweedie", 2, "shipped")),
    ("Order-agnostic", "/order_agnostic", (0, 10, 1.0, 1, "shipped")),
    ("Seq2seq", "/seq2seq_run", (MR, 0, 200, 5, "shipped")),
    ("Control (guidance)", "/control_run", ("Classifier guidance", "", 14, "food", "italian", 0.01, 0.1, 3, 0, 200, 2,
                                            "shipped")),
    ("Compare", "/compare_run", None),  # arguments read from the endpoint's defaults (see _compare_args)
    ("Train (5 s, tiny)", "/train_model", ("continuous (Diffusion-LM)", "built-in restaurant grammar", None, 5, "tiny", 0)),
]


def start_app(port: int) -> tuple[subprocess.Popen, float]:
    """`python app.py` until its page answers; the seconds that took."""
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    while time.perf_counter() - start < 120:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return proc, time.perf_counter() - start
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("app.py did not serve within 120 s")


def timed(client: Any, api: str, args: tuple) -> tuple[float, float, Any]:
    """(seconds to the first streamed output, seconds to the last, the last output) of one call."""
    start = time.perf_counter()
    job = client.submit(*args, api_name=api)
    first = None
    for _ in job:  # a generator's outputs arrive one by one
        if first is None:
            first = time.perf_counter() - start
    result = job.result()
    total = time.perf_counter() - start
    return (first if first is not None else total), total, result


def player_kb(result: Any) -> float | None:
    """The size of a tab's player value, the whole recorded run the page receives once, in KiB of JSON; None for a
    tab without a player."""
    value = result[0] if isinstance(result, (list, tuple)) and result else result
    if not isinstance(value, dict) or "frames" not in value:
        return None
    return round(len(json.dumps(value, ensure_ascii=False).encode("utf-8")) / 1024, 1)


def _compare_args(client: Any) -> tuple:
    """The Compare tab's run with its own default inputs, whatever they are."""
    info = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/compare_run"]
    return tuple(p.get("parameter_default") for p in info["parameters"])


def run(repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    from gradio_client import Client

    starts = []
    for _ in range(repeats - 1):  # cold starts; the last one stays up for the calls
        proc, seconds = start_app(free_port())
        starts.append(seconds)
        proc.kill()
        proc.wait()
    port = free_port()
    proc, seconds = start_app(port)
    starts.append(seconds)
    log(f"start to serving: {starts}")
    try:
        rss_start = rss_mb(proc.pid)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        handlers: dict[str, Any] = {}
        for tab, api, args in CALLS:
            args = _compare_args(client) if args is None else args
            firsts, totals = [], []
            for _ in range(repeats):
                first, total, result = timed(client, api, args)
                firsts.append(first)
                totals.append(total)
            handlers[tab] = {"api": api, "first_output_seconds": spread(firsts), "total_seconds": spread(totals)}
            if (size := player_kb(result)) is not None:
                handlers[tab]["player_kib"] = size
            log(f"{tab}: first {statistics.median(firsts):.3f} s, total {statistics.median(totals):.3f} s")
        rss_after = rss_mb(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    denoise = handlers["Denoise"]
    return {
        "benchmark": "app",
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "command": "python -m bench latency --repeats %d" % repeats,
        "start_to_serving_seconds": spread(starts),
        "denoise_200_steps_first_frame_seconds": denoise["first_output_seconds"],
        "denoise_200_steps_total_seconds": denoise["total_seconds"],
        "rss_mb_at_start": rss_start,
        "rss_mb_after_every_tab": rss_after,
        "handlers": handlers,
        "targets": {"start_to_serving_seconds": 15, "rss_mb_after_every_tab": 1536,
                    "denoise_200_steps_first_frame_seconds": 0.3},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line at the end")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    result = run(args.repeats, lambda s: print(s, file=sys.stderr))
    report(result, "app-", not args.no_write, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

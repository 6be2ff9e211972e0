"""Load: N visitors pressing Run on the sampling tabs at once, for a bounded time; latency, errors, throughput, memory.

Starts the real app once (`python app.py` on a free port of 127.0.0.1) and, for each N in --clients, runs N threads,
each its own gradio_client session, each looping over the sampling tabs' runs (bench/latency.py's CALLS for Denoise,
Discrete diffusion, Order-agnostic, Seq2seq and Clamping trick; round-robin, offset by the client's index). Most of a
client's runs are the tabs' defaults, which the app computes once and replays (ui/cache.py); every --fresh-every'th
(offset by the client's index, so that the visitors do not all ask at once) is "fresh": the same run with a seed no
one has asked for, which the app must compute. After each run a client pauses for a random time of mean --think
seconds (reading what it got), as a class does. A client stops starting requests after --seconds or --max-requests,
whichever comes first; every request is cancelled after --timeout. Per N: requests completed, errors (count and
distinct messages), median and p95 seconds to the first streamed frame and to the end, for all runs and for default
and fresh runs apart, throughput, and the resident memory of the app's process tree before the burst, at its peak
and after it settles. Times include the client's own polling of its event stream (tens of ms).

    python -m bench load [--clients 16 32] [--seconds 60] [--fresh-every 4] [--think 2] [--json] [--no-write]
                                                     # writes bench/results/load-<date>-<machine>.json
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import random
import shlex
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from bench.latency import CALLS, start_app
from bench.common import free_port, machine, report, rss_mb

SAMPLING_APIS = ("/denoise", "/sedd_denoise", "/order_agnostic", "/seq2seq_run", "/clamp_compare")
RUNS: list[tuple[str, tuple]] = [(api, args) for _, api, args in CALLS if api in SAMPLING_APIS]
SEED_AT = {"/denoise": 0, "/sedd_denoise": 1, "/order_agnostic": 0, "/seq2seq_run": 1, "/clamp_compare": 0}
KINDS = ("default", "fresh")
# What a class is promised (issue 34): a default run's first frame within 1 s, a fresh one's within 5 s, at p95.
TARGETS = {"default_first_frame_p95_seconds": 1.0, "fresh_first_frame_p95_seconds": 5.0, "errors": 0}
POLL_SECONDS = 0.01


@dataclass
class Outcome:
    """One request: its endpoint, default or fresh, seconds to the first frame and to the end, or the error that ended
    it."""

    api: str
    kind: str = "default"
    first: float | None = None
    total: float | None = None
    error: str | None = None


def summary(values: list[float]) -> dict[str, float] | None:
    """Median and p95 in seconds, or None when nothing was measured."""
    if not values:
        return None
    median, p95 = np.percentile(values, [50, 95])
    return {"median": round(float(median), 4), "p95": round(float(p95), 4)}


def request(client: Any, api: str, args: tuple, timeout: float, kind: str = "default") -> Outcome:
    """Submit one run and watch its stream: seconds to the first output and to the job's end, or its error."""
    start = time.perf_counter()
    job = client.submit(*args, api_name=api)
    out = Outcome(api, kind)
    while not job.done():
        elapsed = time.perf_counter() - start
        if out.first is None and job.outputs():
            out.first = elapsed
        if elapsed > timeout:
            job.cancel()
            out.error = f"timeout: no end within {timeout:g} s"
            return out
        time.sleep(POLL_SECONDS)
    try:
        job.result()
    except Exception as e:  # what the visitor would see: gr.Error, queue full, a dropped connection
        out.error = f"{type(e).__name__}: {e}".strip()[:300]
        return out
    out.total = time.perf_counter() - start
    out.first = out.total if out.first is None else out.first
    return out


class Seeds:
    """Seeds no run has asked for yet, across every burst (a fresh run must not be a replay of an earlier one)."""

    def __init__(self) -> None:
        self._count = itertools.count(1)
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            return next(self._count)


def planned(index: int, k: int, fresh_every: int, seeds: Seeds) -> tuple[str, str, tuple]:
    """The k-th run of client `index`: (endpoint, kind, arguments): the endpoint's default run, or every
    `fresh_every`'th (0: never) the same with a new seed."""
    api, args = RUNS[(index + k) % len(RUNS)]
    if fresh_every and (index + k) % fresh_every == fresh_every - 1:
        at = SEED_AT[api]
        return api, "fresh", (*args[:at], seeds.next(), *args[at + 1:])
    return api, "default", args


def visitor(client: Any, index: int, deadline: float, max_requests: int, timeout: float,
            outcomes: list[Outcome], fresh_every: int = 0, think: float = 0.0, seeds: Seeds | None = None) -> None:
    """One client's loop: the sampling runs round-robin from its own offset, a pause of mean `think` seconds after
    each, until the deadline or the count."""
    seeds = seeds or Seeds()
    pauses = random.Random(index)
    for k in range(max_requests):
        if time.perf_counter() >= deadline:
            return
        api, kind, args = planned(index, k, fresh_every, seeds)
        try:
            outcomes.append(request(client, api, args, timeout, kind))
        except Exception as e:  # submit itself failed (connection refused, endpoint gone): still a visitor's error
            outcomes.append(Outcome(api, kind, error=f"{type(e).__name__}: {e}".strip()[:300]))
        if think > 0:
            time.sleep(min(pauses.uniform(0, 2 * think), max(0.0, deadline - time.perf_counter())))


def sample_rss(pid: int, stop: threading.Event, peak: list[float]) -> None:
    """Keep the highest resident memory of the app's tree seen until `stop` is set."""
    while not stop.wait(0.5):
        peak[0] = max(peak[0], rss_mb(pid))


def connect(url: str, n: int) -> list[Any]:
    """N gradio_client sessions of the app."""
    from gradio_client import Client

    return [Client(url, verbose=False, download_files=False, analytics_enabled=False) for _ in range(n)]


def burst(url: str, pid: int, n: int, seconds: float, max_requests: int, timeout: float,
          settle: float, fresh_every: int = 0, think: float = 0.0, seeds: Seeds | None = None) -> dict[str, Any]:
    """N concurrent visitors for `seconds`; what they saw and what the app's memory did."""
    seeds = seeds or Seeds()
    clients = connect(url, n)
    outcomes: list[list[Outcome]] = [[] for _ in range(n)]
    rss_before = rss_mb(pid)
    peak, stop = [rss_before], threading.Event()
    sampler = threading.Thread(target=sample_rss, args=(pid, stop, peak), daemon=True)
    sampler.start()
    start = time.perf_counter()
    threads = [threading.Thread(target=visitor, args=(c, i, start + seconds, max_requests, timeout, outcomes[i],
                                                      fresh_every, think, seeds), daemon=True)
               for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    stop.set()
    sampler.join()
    for c in clients:
        c.close()
    time.sleep(settle)
    done = [o for per_client in outcomes for o in per_client]
    return {"clients": n, "wall_seconds": round(wall, 2), **tally(done, wall),
            "rss_mb_before": rss_before, "rss_mb_peak": peak[0], "rss_mb_after_settle": rss_mb(pid)}


def tally(outcomes: list[Outcome], wall: float) -> dict[str, Any]:
    """Counts, distinct errors, latency summaries and throughput of a burst's requests, overall and per endpoint."""
    ok = [o for o in outcomes if o.error is None]
    errors: dict[str, int] = {}
    for o in outcomes:
        if o.error is not None:
            errors[o.error] = errors.get(o.error, 0) + 1
    per_api = {api: {"completed": len([o for o in ok if o.api == api]),
                     "errors": len([o for o in outcomes if o.api == api and o.error is not None]),
                     "end_seconds": summary([o.total for o in ok if o.api == api])} for api, _ in RUNS}
    per_kind = {kind: {"requests": len([o for o in outcomes if o.kind == kind]),
                       "completed": len([o for o in ok if o.kind == kind]),
                       "errors": len([o for o in outcomes if o.kind == kind and o.error is not None]),
                       "first_frame_seconds": summary([o.first for o in ok if o.kind == kind]),
                       "end_seconds": summary([o.total for o in ok if o.kind == kind])} for kind in KINDS}
    return {"requests": len(outcomes), "completed": len(ok), "errors": len(outcomes) - len(ok),
            "error_messages": errors, "first_frame_seconds": summary([o.first for o in ok]),
            "end_seconds": summary([o.total for o in ok]),
            "throughput_per_second": round(len(ok) / wall, 3) if wall > 0 else 0.0, "per_kind": per_kind,
            "targets_met": targets_met(per_kind, len(outcomes) - len(ok)), "per_endpoint": per_api}


def targets_met(per_kind: dict[str, dict[str, Any]], errors: int) -> bool:
    """Whether a burst kept TARGETS: no error, and each kind's first-frame p95 within its bound (a kind not run
    counts as kept)."""
    for kind in KINDS:
        first = per_kind[kind]["first_frame_seconds"]
        if first is not None and first["p95"] > TARGETS[f"{kind}_first_frame_p95_seconds"]:
            return False
    return errors <= TARGETS["errors"]


def warm_up(url: str, timeout: float) -> dict[str, Any]:
    """Every sampling run once, in one session, so the bursts do not time the checkpoints' first load."""
    (client,) = connect(url, 1)
    try:
        outcomes = [request(client, api, args, timeout) for api, args in RUNS]
    finally:
        client.close()
    return {o.api: o.error or round(o.total, 3) for o in outcomes}


def run(clients: list[int], seconds: float, log: Callable[[str], None], max_requests: int = 200,
        timeout: float = 120.0, settle: float = 5.0, warmup: bool = True, fresh_every: int = 4,
        think: float = 2.0) -> dict[str, Any]:
    """Start the app once and run one burst per entry of `clients`; the report."""
    seeds = Seeds()
    port = free_port()
    proc, start_seconds = start_app(port)
    url = f"http://127.0.0.1:{port}/"
    try:
        rss_start = rss_mb(proc.pid)
        log(f"app serving after {start_seconds:.1f} s, {rss_start} MB")
        warm = warm_up(url, timeout) if warmup else {}
        if warm:
            log(f"warm-up (seconds per run): {warm}")
        bursts = []
        for n in clients:
            result = burst(url, proc.pid, n, seconds, max_requests, timeout, settle, fresh_every, think, seeds)
            if proc.poll() is not None:
                result["app_exit_code"] = proc.returncode
            log(describe(result))
            bursts.append(result)
    finally:
        proc.kill()
        proc.wait()
    return {
        "benchmark": "load",
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "command": command_line(clients, seconds, max_requests, timeout, settle, warmup, fresh_every, think),
        "endpoints": [api for api, _ in RUNS],
        "limits": {"seconds": seconds, "max_requests_per_client": max_requests, "request_timeout_seconds": timeout,
                   "settle_seconds": settle},
        "mix": {"fresh_every": fresh_every, "think_seconds": think},
        "targets": TARGETS,
        "start_to_serving_seconds": round(start_seconds, 2),
        "rss_mb_at_start": rss_start,
        "warm_up": warm,
        "bursts": bursts,
    }


def describe(b: dict[str, Any]) -> str:
    """One burst as a line for the terminal."""
    errors = f" ({'; '.join(f'{k} x{v}' for k, v in b['error_messages'].items())})" if b["errors"] else ""
    kinds = []
    for kind, k in b["per_kind"].items():
        first, end = k["first_frame_seconds"] or {}, k["end_seconds"] or {}
        kinds.append(f"{kind} ({k['completed']}): first frame median {first.get('median')} p95 {first.get('p95')} "
                     f"s, end median {end.get('median')} p95 {end.get('p95')} s")
    return (f"{b['clients']} clients: {b['completed']} completed, {b['errors']} errors{errors}; {'; '.join(kinds)}; "
            f"{b['throughput_per_second']} runs/s; RSS {b['rss_mb_before']} -> peak {b['rss_mb_peak']} -> "
            f"{b['rss_mb_after_settle']} MB; targets {'met' if b['targets_met'] else 'NOT met'}")


def command_line(clients: list[int], seconds: float, max_requests: int, timeout: float, settle: float,
                 warmup: bool, fresh_every: int = 4, think: float = 2.0) -> str:
    """The command that reproduces this run."""
    parts = ["python", "-m", "bench", "load", "--clients", *map(str, clients), "--seconds", f"{seconds:g}",
             "--max-requests", str(max_requests), "--timeout", f"{timeout:g}", "--settle", f"{settle:g}",
             "--fresh-every", str(fresh_every), "--think", f"{think:g}"]
    return shlex.join(parts + ([] if warmup else ["--no-warmup"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 32], help="concurrent visitors, one burst each")
    parser.add_argument("--seconds", type=float, default=60.0, help="no new request after this long per burst")
    parser.add_argument("--max-requests", type=int, default=200, help="at most this many requests per client")
    parser.add_argument("--timeout", type=float, default=120.0, help="a request still running after this is an error")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to wait before reading memory after")
    parser.add_argument("--fresh-every", type=int, default=4,
                        help="every this many runs of a client is a fresh seed, not the default (0: never)")
    parser.add_argument("--think", type=float, default=2.0, help="mean seconds a client pauses after each run")
    parser.add_argument("--no-warmup", action="store_true", help="do not run every endpoint once before the bursts")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line at the end")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    if (min(args.clients) < 1 or args.seconds <= 0 or args.max_requests < 1 or args.timeout <= 0 or args.settle < 0
            or args.fresh_every < 0 or args.think < 0):
        parser.error("--clients, --max-requests must be at least 1; --seconds, --timeout positive; --settle, "
                     "--fresh-every, --think >= 0")
    result = run(args.clients, args.seconds, lambda s: print(s, file=sys.stderr), args.max_requests, args.timeout,
                 args.settle, not args.no_warmup, args.fresh_every, args.think)
    report(result, "load-", not args.no_write, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

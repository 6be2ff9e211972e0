"""Load: N visitors pressing Run on the sampling tabs at once, for a bounded time; latency, errors, throughput, memory.

Starts the real app once (`python app.py` on a free port of 127.0.0.1) and, for each N in --clients, runs N threads,
each its own gradio_client session, each looping over the sampling tabs' default runs (bench/latency.py's CALLS for
Denoise, Discrete diffusion, Order-agnostic, Seq2seq and Clamping trick; round-robin, offset by the client's index).
A client stops starting requests after --seconds or --max-requests, whichever comes first; every request is
cancelled after --timeout. Per N: requests completed, errors (count and distinct messages), median and p95 seconds to
the first streamed frame and to the end, throughput, and the resident memory of the app's process tree before the
burst, at its peak and after it settles. Times include the client's own polling of its event stream (tens of ms).

    python -m bench load [--clients 16 32] [--seconds 60] [--json] [--no-write]
                                                     # writes bench/results/load-<date>-<machine>.json
"""

from __future__ import annotations

import argparse
import datetime
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
POLL_SECONDS = 0.01


@dataclass
class Outcome:
    """One request: its endpoint, seconds to the first frame and to the end, or the error that ended it."""

    api: str
    first: float | None = None
    total: float | None = None
    error: str | None = None


def summary(values: list[float]) -> dict[str, float] | None:
    """Median and p95 in seconds, or None when nothing was measured."""
    if not values:
        return None
    median, p95 = np.percentile(values, [50, 95])
    return {"median": round(float(median), 4), "p95": round(float(p95), 4)}


def request(client: Any, api: str, args: tuple, timeout: float) -> Outcome:
    """Submit one run and watch its stream: seconds to the first output and to the job's end, or its error."""
    start = time.perf_counter()
    job = client.submit(*args, api_name=api)
    out = Outcome(api)
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


def visitor(client: Any, index: int, deadline: float, max_requests: int, timeout: float,
            outcomes: list[Outcome]) -> None:
    """One client's loop: the sampling runs round-robin from its own offset until the deadline or the count."""
    for k in range(max_requests):
        if time.perf_counter() >= deadline:
            return
        api, args = RUNS[(index + k) % len(RUNS)]
        try:
            outcomes.append(request(client, api, args, timeout))
        except Exception as e:  # submit itself failed (connection refused, endpoint gone): still a visitor's error
            outcomes.append(Outcome(api, error=f"{type(e).__name__}: {e}".strip()[:300]))


def sample_rss(pid: int, stop: threading.Event, peak: list[float]) -> None:
    """Keep the highest resident memory of the app's tree seen until `stop` is set."""
    while not stop.wait(0.5):
        peak[0] = max(peak[0], rss_mb(pid))


def connect(url: str, n: int) -> list[Any]:
    """N gradio_client sessions of the app."""
    from gradio_client import Client

    return [Client(url, verbose=False, download_files=False, analytics_enabled=False) for _ in range(n)]


def burst(url: str, pid: int, n: int, seconds: float, max_requests: int, timeout: float,
          settle: float) -> dict[str, Any]:
    """N concurrent visitors for `seconds`; what they saw and what the app's memory did."""
    clients = connect(url, n)
    outcomes: list[list[Outcome]] = [[] for _ in range(n)]
    rss_before = rss_mb(pid)
    peak, stop = [rss_before], threading.Event()
    sampler = threading.Thread(target=sample_rss, args=(pid, stop, peak), daemon=True)
    sampler.start()
    start = time.perf_counter()
    threads = [threading.Thread(target=visitor, args=(c, i, start + seconds, max_requests, timeout, outcomes[i]),
                                daemon=True) for i, c in enumerate(clients)]
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
    return {"requests": len(outcomes), "completed": len(ok), "errors": len(outcomes) - len(ok),
            "error_messages": errors, "first_frame_seconds": summary([o.first for o in ok]),
            "end_seconds": summary([o.total for o in ok]),
            "throughput_per_second": round(len(ok) / wall, 3) if wall > 0 else 0.0, "per_endpoint": per_api}


def warm_up(url: str, timeout: float) -> dict[str, Any]:
    """Every sampling run once, in one session, so the bursts do not time the checkpoints' first load."""
    (client,) = connect(url, 1)
    try:
        outcomes = [request(client, api, args, timeout) for api, args in RUNS]
    finally:
        client.close()
    return {o.api: o.error or round(o.total, 3) for o in outcomes}


def run(clients: list[int], seconds: float, log: Callable[[str], None], max_requests: int = 200,
        timeout: float = 120.0, settle: float = 5.0, warmup: bool = True) -> dict[str, Any]:
    """Start the app once and run one burst per entry of `clients`; the report."""
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
            result = burst(url, proc.pid, n, seconds, max_requests, timeout, settle)
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
        "command": command_line(clients, seconds, max_requests, timeout, settle, warmup),
        "endpoints": [api for api, _ in RUNS],
        "limits": {"seconds": seconds, "max_requests_per_client": max_requests, "request_timeout_seconds": timeout,
                   "settle_seconds": settle},
        "start_to_serving_seconds": round(start_seconds, 2),
        "rss_mb_at_start": rss_start,
        "warm_up": warm,
        "bursts": bursts,
    }


def describe(b: dict[str, Any]) -> str:
    """One burst as a line for the terminal."""
    first, end = b["first_frame_seconds"] or {}, b["end_seconds"] or {}
    errors = f" ({'; '.join(f'{k} x{v}' for k, v in b['error_messages'].items())})" if b["errors"] else ""
    return (f"{b['clients']} clients: {b['completed']} completed, {b['errors']} errors{errors}; "
            f"first frame median {first.get('median')} p95 {first.get('p95')} s; end median {end.get('median')} "
            f"p95 {end.get('p95')} s; {b['throughput_per_second']} runs/s; RSS {b['rss_mb_before']} -> peak "
            f"{b['rss_mb_peak']} -> {b['rss_mb_after_settle']} MB")


def command_line(clients: list[int], seconds: float, max_requests: int, timeout: float, settle: float,
                 warmup: bool) -> str:
    """The command that reproduces this run."""
    parts = ["python", "-m", "bench", "load", "--clients", *map(str, clients), "--seconds", f"{seconds:g}",
             "--max-requests", str(max_requests), "--timeout", f"{timeout:g}", "--settle", f"{settle:g}"]
    return shlex.join(parts + ([] if warmup else ["--no-warmup"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 32], help="concurrent visitors, one burst each")
    parser.add_argument("--seconds", type=float, default=60.0, help="no new request after this long per burst")
    parser.add_argument("--max-requests", type=int, default=200, help="at most this many requests per client")
    parser.add_argument("--timeout", type=float, default=120.0, help="a request still running after this is an error")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to wait before reading memory after")
    parser.add_argument("--no-warmup", action="store_true", help="do not run every endpoint once before the bursts")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line at the end")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    if min(args.clients) < 1 or args.seconds <= 0 or args.max_requests < 1 or args.timeout <= 0 or args.settle < 0:
        parser.error("--clients, --max-requests must be at least 1; --seconds, --timeout positive; --settle >= 0")
    result = run(args.clients, args.seconds, lambda s: print(s, file=sys.stderr), args.max_requests, args.timeout,
                 args.settle, not args.no_warmup)
    report(result, "load-", not args.no_write, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

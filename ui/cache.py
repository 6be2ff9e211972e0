"""Runs of the shipped models, computed once and replayed: a class pressing Run on the same settings shares one run.

A run of a shipped checkpoint is a pure function of its inputs (its seed among them), so `cached(handler)` keys it by
the handler and its inputs and records every update the handler yields, with when it came. The first request for a key
starts the computation, in a thread of its own once one of COMPUTE_LIMIT slots is free; every request for that key
while it runs follows the same computation from its first update, at the pace it is produced; a request for a key
already recorded replays it at the pace it was recorded, and waits for no slot. No request is sent more than one
update per MIN_GAP: an update that the next one replaces whole (the player's live frame) is dropped when both are
due. What is kept is bounded by count and
by an estimate of its size, the least recently used going first. A run of a model trained in the session is never
kept nor shared: it takes a slot, for its own request alone. An error is never kept: each request following that
computation gets it, and the next request computes again.

What a replay hands out is shared by every session that asks for the same run: the tabs' handlers only read the Run
they keep in their gr.State, and each request gets its own copy of the Run object and of each update dict (Gradio
pops keys from those).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import functools
import inspect
import os
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any

from gradio.blocks import Block

from .common import CHECKPOINT_ENV, COMPUTE_LIMIT, SHIPPED
from .inputs import UserError
from .run import Run

MAX_RUNS = 64  # recorded runs kept at once
MAX_BYTES = 256 * 2**20  # and their estimated size together
MAX_PAUSE = 0.1  # seconds: the longest pause a replay keeps between two updates (a run recorded on a busy machine)
# Seconds at least between two updates sent to one request: a frame that a later one replaces before then is not
# sent (Gradio's work per update, times a class of replays, would otherwise fill the CPU the computations need).
MIN_GAP = 0.05
# Computations waiting for a slot at once: past it a new one is refused with a message (Gradio's queue, which no longer
# holds these events, did the same with MAX_QUEUE); a replay is never refused.
MAX_WAITING = 32
# A cached handler's event: Gradio's own limit would queue replays behind computations; the slots here hold the limit.
RUNS: dict[str, Any] = dict(concurrency_limit=None)


class Flight:
    """One computation of a handler: the updates it yielded so far, each with its time after the first, and how it
    ended. Written by its thread, read by any number of requests."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.updates: list[tuple[float, Any]] = []
        self.done = False
        self.error: BaseException | None = None
        self.followers = 0  # requests reading it now
        self.abandoned = False  # every follower left before the end: stop computing
        self.size = 0
        self._clock = clock
        self._last: float | None = None
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def add(self, update: Any) -> None:
        now = self._clock()
        offset = 0.0 if self._last is None else self.updates[-1][0] + min(now - self._last, MAX_PAUSE)
        self._last = now
        with self._lock:
            self.updates.append((offset, update))
        self._wake()

    def end(self, error: BaseException | None = None) -> None:
        with self._lock:
            self.error, self.done = error, True
        self._wake()

    def _wake(self) -> None:
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that request's loop has closed: no one is waiting there any more
                pass

    async def wait(self, n: int) -> None:
        """Until update `n` exists or the computation has ended."""
        while True:
            with self._lock:
                if len(self.updates) > n or self.done:
                    return
                event = asyncio.Event()
                self._waiters.append((asyncio.get_running_loop(), event))
            await event.wait()


class RunCache:
    """The recorded runs (least recently used first) and the computations under way, by key; `limit` computations at
    once."""

    def __init__(self, max_runs: int = MAX_RUNS, max_bytes: int = MAX_BYTES, limit: int = COMPUTE_LIMIT,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.max_runs, self.max_bytes = max_runs, max_bytes
        self.runs: OrderedDict[Hashable, Flight] = OrderedDict()
        self.flights: dict[Hashable, Flight] = {}
        self.bytes = 0
        self.computed = 0  # computations started (a test's witness of single flight)
        self.waiting = 0  # computations started and not yet holding a slot
        self.clock, self.sleep = clock, sleep
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self.runs.clear()
            self.bytes = 0

    def join(self, key: Hashable | None, compute: Callable[[], Any]) -> Flight:
        """The recorded run of `key`, or the computation of it under way, or a new one (`key` None: always a new
        one, never shared); the caller follows it and must `leave` it."""
        with self._lock:
            if key is not None and key in self.runs:
                self.runs.move_to_end(key)
                return self.runs[key]
            flight = self.flights.get(key) if key is not None else None
            if flight is None:
                if self.waiting >= MAX_WAITING:
                    raise UserError(f"the Space is busy: {self.waiting} runs are waiting to be computed; try again in "
                                    "a minute (runs on a tab's default settings are replayed at once)")
                self.waiting += 1
                flight = Flight(self.clock)
                self.computed += 1
                if key is not None:
                    self.flights[key] = flight
                threading.Thread(target=self._compute, args=(key, flight, compute), daemon=True,
                                 name="cached-run").start()
            flight.followers += 1
            return flight

    def leave(self, key: Hashable | None, flight: Flight) -> None:
        """A request stops following `flight`; with no one left before its end, the computation stops."""
        with self._lock:
            if flight.done or flight.followers == 0:
                return
            flight.followers -= 1
            if flight.followers == 0:
                flight.abandoned = True
                if key is not None and self.flights.get(key) is flight:
                    del self.flights[key]

    def _compute(self, key: Hashable | None, flight: Flight, compute: Callable[[], Any]) -> None:
        error = None
        with self._slots:
            with self._lock:
                self.waiting -= 1
            try:
                if not flight.abandoned:
                    result = compute()
                    if inspect.isgenerator(result):
                        for update in result:
                            flight.add(update)
                            if flight.abandoned:
                                result.close()
                                break
                    else:
                        flight.add(result)
            except Exception as e:  # the handler's own error (a UserError, a bug): every follower raises it
                error = e
        if error is None and not flight.abandoned and key is not None:
            flight.size = estimate(flight.updates)
        with self._lock:
            if key is not None and self.flights.get(key) is flight:
                del self.flights[key]
            if error is None and not flight.abandoned and key is not None and flight.size <= self.max_bytes:
                self.runs[key] = flight
                self.bytes += flight.size
                while len(self.runs) > self.max_runs or self.bytes > self.max_bytes:
                    _, old = self.runs.popitem(last=False)
                    self.bytes -= old.size
        flight.end(error)

    async def follow(self, key: Hashable | None, compute: Callable[[], Any]) -> AsyncIterator[Any]:
        """The updates of the run of `key`, at the pace it was produced (from this request's first update on), at
        most one per MIN_GAP."""
        flight = self.join(key, compute)
        try:
            start: float | None = None
            sent: float | None = None
            n = 0
            while True:
                await flight.wait(n)
                updates = flight.updates  # only ever appended to
                if n >= len(updates):
                    if flight.error is not None:
                        raise flight.error
                    return
                now = self.clock()
                start = now - updates[n][0] if start is None else start
                due = max(start + updates[n][0], now if sent is None else sent + MIN_GAP)
                if due > now:
                    await self.sleep(due - now)
                now = self.clock()
                while n + 1 < len(updates) and start + updates[n + 1][0] <= now and replaces(updates[n + 1][1],
                                                                                          updates[n][1]):
                    n += 1
                sent = now
                yield _own(updates[n][1])
                n += 1
        finally:
            self.leave(key, flight)


STORE = RunCache()


def cached(handler: Callable[..., Any], store: RunCache | None = None) -> Callable[..., Any]:
    """`handler` (a generator of a tab's updates, or a plain function) as Gradio's function of an event carrying
    RUNS: its shipped-model runs computed once per inputs and replayed; its other runs computed for their request.
    The handler names its model choice `choice` and the session's models `models`."""
    signature = inspect.signature(handler)
    if "choice" not in signature.parameters:
        raise TypeError(f"{handler.__qualname__} has no `choice` parameter: cannot tell a shipped run from another")
    name = f"{handler.__module__}.{handler.__qualname__}"

    def key_and_compute(args: tuple, kwargs: dict) -> tuple[Hashable | None, Callable[[], Any]]:
        return run_key(name, signature, args, kwargs), functools.partial(handler, *args, **kwargs)

    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        async def stream(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            key, compute = key_and_compute(args, kwargs)
            async for update in (store or STORE).follow(key, compute):
                yield update
        return stream

    @functools.wraps(handler)
    async def call(*args: Any, **kwargs: Any) -> Any:
        key, compute = key_and_compute(args, kwargs)
        result = None
        async for result in (store or STORE).follow(key, compute):  # to its end, so that it is kept
            pass
        return result
    return call


def run_key(name: str, signature: inspect.Signature, args: tuple, kwargs: dict) -> Hashable | None:
    """What a run is a function of: the handler, its inputs but the session's models, and the checkpoints the
    environment names; None for a run to compute for its request alone (a model trained in the session, inputs that
    are not plain values)."""
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return None  # the handler itself will say what is wrong
    bound.apply_defaults()
    if bound.arguments.get("choice") not in (None, SHIPPED):
        return None
    try:
        inputs = tuple((k, _plain(v)) for k, v in bound.arguments.items() if k != "models")
    except TypeError:
        return None
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(CHECKPOINT_ENV)))
    return name, inputs, env


def _plain(value: Any) -> Hashable:
    """A hashable stand-in for an input that tells its type too (True, 1 and 1.0 are one dict key in Python)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return type(value).__name__, value
    if isinstance(value, (list, tuple)):
        return type(value).__name__, tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return "dict", tuple(sorted((str(k), _plain(v)) for k, v in value.items()))
    raise TypeError(f"not a plain input: {type(value).__name__}")


def replaces(later: Any, earlier: Any) -> bool:
    """Whether sending `later` alone leaves the page as sending `earlier` then `later` would: every output `earlier`
    sets, `later` sets again to a whole value (not a partial update of a component's properties)."""
    if not isinstance(earlier, tuple) or not isinstance(later, tuple):
        return not (_is_update(earlier) or _is_update(later))
    return len(earlier) == len(later) and all(
        _is_skip(e) or not (_is_update(e) or _is_update(x)) for e, x in zip(earlier, later))


def _is_update(value: Any) -> bool:
    return isinstance(value, Block) or isinstance(value, dict) and value.get("__type__") == "update"


def _is_skip(value: Any) -> bool:
    return isinstance(value, dict) and value == {"__type__": "update"}


def _own(update: Any) -> Any:
    """A request's own copy of the shells Gradio or a later handler might change: update dicts and the Run."""
    if isinstance(update, tuple):
        return tuple(_own(x) for x in update)
    if isinstance(update, dict):
        return dict(update)
    if isinstance(update, Run):
        return copy.copy(update)
    return update


def estimate(value: Any, seen: set[int] | None = None) -> int:
    """Roughly how many bytes `value` holds: text, numbers and arrays, through containers, dataclasses, components'
    values and figures (their JSON); what several parts share is counted once."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, (str, bytes)):
        return len(value)
    if value is None or isinstance(value, (bool, int, float)):
        return 8
    if isinstance(value, dict):
        return sum(estimate(k, seen) + estimate(v, seen) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return 8 * len(value) + sum(estimate(v, seen) for v in value)
    if hasattr(value, "nbytes"):  # a tensor, an array
        return int(value.nbytes)
    if hasattr(value, "to_plotly_json"):
        return len(value.to_json())
    if dataclasses.is_dataclass(value):
        return sum(estimate(getattr(value, f.name), seen) for f in dataclasses.fields(value) if f.repr)
    if hasattr(value, "model_dump"):  # a pydantic value (a postprocessed plot)
        return estimate(value.model_dump(), seen)
    if hasattr(value, "get_config") and hasattr(value, "value"):  # a gradio component as an update
        return estimate(value.value, seen)
    return 64

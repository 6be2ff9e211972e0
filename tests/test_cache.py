"""ui/cache.py: a shipped-model run is computed once per inputs, followed by every request that asks for it meanwhile,
replayed afterwards; a session's own model and errors are never kept; the store is bounded; computations share the
slots."""

import asyncio
import inspect
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator
from typing import Any

import gradio as gr
import pytest

from ui import cache
from ui.common import SHIPPED, TRAINED
from ui.inputs import UserError
from ui.run import Run


class Fake:
    """A tab's handler: a few updates, then the whole run; counts its calls; can hold its first update until
    released, and say how many of its runs are computing at once."""

    def __init__(self) -> None:
        self.calls = 0
        self.running = 0
        self.most_at_once = 0
        self.release = threading.Event()
        self.release.set()
        self.started = threading.Event()
        self._lock = threading.Lock()

    def handler(self):
        def fake_run(seed: float, steps: float, choice: str = SHIPPED,
                     models: dict[str, str] | None = None) -> Iterator[tuple[Any, ...]]:
            with self._lock:
                self.calls += 1
                self.running += 1
                self.most_at_once = max(self.most_at_once, self.running)
            try:
                if steps < 1:
                    raise UserError(f"steps must be at least 1, got {steps}")
                self.started.set()
                self.release.wait(30)
                run = Run("fake", "fake", int(steps))
                for i in range(int(steps)):
                    run.frames.append((f"seed {seed} step {i}",))
                    yield {"live": i}, None if i == 0 else gr.skip()
                run.samples = [[f"sample of {seed}"]]
                yield {"frames": list(run.frames)}, run
            finally:
                with self._lock:
                    self.running -= 1
        return fake_run


def run_async(coroutine) -> Any:
    """Run a coroutine to its end on a loop of its own thread: the browser tests' Playwright keeps an event loop
    running in this worker's main thread, where asyncio.run refuses to start another."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def collect(fn, *args) -> list[Any]:
    async def go() -> list[Any]:
        return [update async for update in fn(*args)]
    return run_async(go())


def together(fn, calls: list[tuple]) -> list[Any]:
    """Every call at once on one event loop; each one's updates, or the error it raised."""
    async def one(args: tuple) -> Any:
        try:
            return [update async for update in fn(*args)]
        except Exception as e:
            return e

    async def go() -> list[Any]:
        return await asyncio.gather(*(one(args) for args in calls))
    return run_async(go())


def plain(updates: list[Any]) -> list[Any]:
    """Updates with the Run reduced to what it recorded, to compare two requests' outputs."""
    def one(x: Any) -> Any:
        return (x.frames, x.samples) if isinstance(x, Run) else x
    return [tuple(one(x) for x in u) for u in updates]


def same_run(a: list[Any], b: list[Any], steps: int) -> bool:
    """Two requests saw the same run: the same first update (which hides the last run's results) and the same whole
    run at the end; between them live frames in order (a frame the next one replaces may have been dropped)."""
    a, b = plain(a), plain(b)
    lives = [u[0]["live"] for u in a[1:-1]]
    return (a[0] == b[0] == ({"live": 0}, None) and a[-1] == b[-1] and len(a[-1][0]["frames"]) == steps
            and lives == sorted(set(lives)) and all(0 < k < steps for k in lives))


@pytest.fixture
def store() -> cache.RunCache:
    return cache.RunCache(max_runs=8, max_bytes=2**20, limit=2)


def test_a_replay_gives_what_the_fresh_run_gave_without_computing_again(store):
    fake = Fake()
    fn = cache.cached(fake.handler(), store)
    assert fn.__name__ == "fake_run"  # Gradio names the API endpoint after it
    first = collect(fn, 3, 4)
    again = collect(fn, 3, 4)
    assert fake.calls == 1 and same_run(first, again, 4) and same_run(again, first, 4)
    assert isinstance(again[-1][1], Run) and again[-1][1] is not first[-1][1]  # each request its own Run object
    assert again[0][0] is not first[0][0]  # and its own update dicts
    # another seed, or the same number with another type, is another run
    collect(fn, 4, 4)
    collect(fn, 3.0, 4)
    assert fake.calls == 3


def test_requests_for_one_run_at_once_share_one_computation(store):
    fake = Fake()
    fake.release.clear()
    fn = cache.cached(fake.handler(), store)

    async def go() -> list[list[Any]]:
        async def one() -> list[Any]:
            return [u async for u in fn(7, 3)]
        tasks = [asyncio.create_task(one()) for _ in range(5)]
        await asyncio.to_thread(fake.started.wait, 30)
        while sum(f.followers for f in store.flights.values()) < 5:  # every request has joined the computation
            await asyncio.sleep(0)
        fake.release.set()
        return await asyncio.gather(*tasks)

    results = run_async(go())
    assert fake.calls == 1 and store.computed == 1
    assert all(same_run(r, results[0], 3) for r in results)


def test_computations_never_exceed_the_limit_and_replays_take_no_slot():
    fake = Fake()
    store = cache.RunCache(limit=2)
    fn = cache.cached(fake.handler(), store)
    together(fn, [(seed, 3) for seed in range(6)])
    assert fake.calls == 6 and fake.most_at_once <= 2
    fake.release.clear()  # a computation would now block: replays must not need one
    results = together(fn, [(seed, 3) for seed in range(6)])
    assert fake.calls == 6 and all(plain(r)[-1][0]["frames"][0] == (f"seed {seed} step 0",)
                                   for seed, r in enumerate(results))


def test_a_model_trained_in_the_session_is_computed_for_each_request_and_never_kept(store):
    fake = Fake()
    fn = cache.cached(fake.handler(), store)
    models = {"continuous": "/somewhere/of/this/session"}
    a = collect(fn, 1, 2, TRAINED, models)
    b = collect(fn, 1, 2, TRAINED, models)
    assert fake.calls == 2 and not store.runs and not store.flights
    assert same_run(a, b, 2)
    # the shipped model's run does not depend on the session's models
    collect(fn, 1, 2, SHIPPED, models)
    collect(fn, 1, 2, SHIPPED, {})
    assert fake.calls == 3


def test_errors_are_raised_to_every_follower_and_never_kept(store):
    fake = Fake()
    fn = cache.cached(fake.handler(), store)
    results = together(fn, [(1, 0), (1, 0)])
    assert all(isinstance(r, UserError) and "steps must be at least 1" in str(r) for r in results)
    with pytest.raises(UserError):
        collect(fn, 1, 0)
    assert fake.calls >= 2 and not store.runs  # the second request computed again


def test_the_store_is_bounded_by_count_and_by_size():
    fake = Fake()
    store = cache.RunCache(max_runs=2)
    fn = cache.cached(fake.handler(), store)
    for seed in (1, 2, 3):
        collect(fn, seed, 2)
    assert len(store.runs) == 2 and fake.calls == 3
    collect(fn, 3, 2)  # kept
    collect(fn, 1, 2)  # the oldest went first
    assert fake.calls == 4

    one = store.runs[next(reversed(store.runs))].size
    assert one > 0 and store.bytes == sum(f.size for f in store.runs.values())
    small = cache.RunCache(max_bytes=int(one * 1.5))
    fn = cache.cached(fake.handler(), small)
    collect(fn, 1, 2)
    collect(fn, 2, 2)
    assert len(small.runs) == 1 and small.bytes <= small.max_bytes
    too_big = cache.RunCache(max_bytes=one // 2)
    collect(cache.cached(fake.handler(), too_big), 1, 2)
    assert not too_big.runs and too_big.bytes == 0


def test_a_replay_keeps_the_recorded_pace():
    clock = [0.0]
    waits: list[float] = []
    replaying = [False]  # while the run is computed the handler alone moves the clock

    async def sleep(seconds: float) -> None:
        if replaying[0]:
            waits.append(round(seconds, 6))
            clock[0] += seconds

    def ticking() -> Iterator[str]:
        for k in range(3):
            clock[0] += 0.07 if k else 5.0  # the start (a model's load) is not part of the pace
            yield f"frame {k}"
        clock[0] += 60.0  # a stall longer than MAX_PAUSE is shortened
        yield "end"

    def handler(choice: str = SHIPPED) -> Iterator[str]:
        yield from ticking()

    store = cache.RunCache(clock=lambda: clock[0], sleep=sleep)
    fn = cache.cached(handler, store)
    assert collect(fn)[-1] == "end"  # computed: what was due at once may have been sent as its last alone
    offsets = [offset for offset, _ in store.runs[next(iter(store.runs))].updates]
    assert offsets == pytest.approx([0, 0.07, 0.14, 0.14 + cache.MAX_PAUSE])
    replaying[0] = True
    assert collect(fn) == ["frame 0", "frame 1", "frame 2", "end"]
    assert waits == pytest.approx([0.07, 0.07, cache.MAX_PAUSE])


def test_a_plain_function_is_cached_too_and_a_handler_must_name_its_choice(store):
    calls = []

    def view(sentence: str, choice: str | None = SHIPPED, models: dict | None = None) -> tuple[str, str]:
        calls.append(sentence)
        return sentence.upper(), "figure"

    fn = cache.cached(view, store)

    async def go() -> list[Any]:
        return [await fn("a cafe"), await fn("a cafe"), await fn("a pub")]

    assert run_async(go()) == [("A CAFE", "figure"), ("A CAFE", "figure"), ("A PUB", "figure")]
    assert calls == ["a cafe", "a pub"]
    with pytest.raises(TypeError, match="choice"):
        cache.cached(lambda seed: seed)


def test_the_key_is_the_handler_and_plain_inputs_with_the_checkpoints_the_environment_names(monkeypatch):
    def handler(seed, families, choice=SHIPPED, models=None):
        yield seed

    sig = inspect.signature(handler)
    key = cache.run_key("h", sig, (1, ["ar", "sedd"]), {})
    assert key == cache.run_key("h", sig, (1, ["ar", "sedd"], SHIPPED, {"x": "y"}), {})
    assert key != cache.run_key("h", sig, (True, ["ar", "sedd"]), {})
    assert key != cache.run_key("g", sig, (1, ["ar", "sedd"]), {})
    assert cache.run_key("h", sig, (1, [object()]), {}) is None  # not a plain input: computed, not kept
    assert cache.run_key("h", sig, (1, [], "trained here"), {}) is None
    monkeypatch.setenv("DIFFUSION_CHECKPOINT", "/another/model")
    assert cache.run_key("h", sig, (1, ["ar", "sedd"]), {}) != key


def test_a_late_request_skips_only_frames_a_later_update_replaces():
    clock = [0.0]

    async def late(seconds: float) -> None:  # every wake-up comes long after it was due
        clock[0] += 10 * seconds

    def handler(choice: str = SHIPPED) -> Iterator[tuple[Any, ...]]:
        yield {"live": 0}, None, gr.Plot(visible=False)  # hides the previous run's results: always sent
        for k in range(1, 20):
            clock[0] += 0.03
            yield {"live": k}, gr.skip(), gr.skip()
        clock[0] += 0.03
        yield {"whole": True}, "the run", gr.Plot(visible=True)

    store = cache.RunCache(clock=lambda: clock[0], sleep=late)
    fn = cache.cached(handler, store)
    collect(fn)
    replay = collect(fn)
    assert replay[0][0] == {"live": 0} and isinstance(replay[0][2], gr.Plot)
    assert replay[-1][:2] == ({"whole": True}, "the run")
    lives = [u[0]["live"] for u in replay[1:-1]]
    assert lives == sorted(lives) and len(lives) < 19  # some frames were dropped, in order
    assert all(u[1:] == (gr.skip(), gr.skip()) for u in replay[1:-1])


def test_what_replaces_an_update():
    live = ({"live": 1}, gr.skip())
    assert cache.replaces(({"live": 2}, gr.skip()), live)
    assert cache.replaces(({"whole": 1}, "run"), live)
    assert not cache.replaces(({"live": 2}, gr.skip()), ({"live": 1}, None))  # None clears an output: keep it
    assert not cache.replaces(({"live": 2}, gr.Plot(visible=True)), ({"live": 1}, gr.Plot(visible=False)))
    assert cache.replaces("cards 2", "cards 1") and not cache.replaces(gr.skip(), "cards 1")

"""Speed for `python -m bench`: sampling latency of the shipped checkpoints, the lean backbone against
transformers' BERT (and where their ratio comes from), the matmul peak, training throughput as a fraction of it, the
FLOP floor of a sampling step, a step's profile, torch.compile against eager, one thread against the default.

Every time is a median over repeats with its min and max (`bench.common.spread`); what is compared is timed
alternately, so both sides see the same machine. FLOPs are counted by `torch.utils.flop_counter.FlopCounterMode`
(matmuls and attention; elementwise work is not counted).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from diffusion import checkpoint, shipped
from diffusion.sampling import sample

from .common import spread, timed

SHIPPED = tuple(name for name in shipped.names() if name != "continuous-eps")  # one checkpoint a family and graph
SEQ2SEQ_SOURCE = "name [zizzi] eatType [pub] food [french] area [riverside]"


def load(name: str) -> checkpoint.Checkpoint:
    return checkpoint.load(shipped.folder(name))


def _sampler(ck: checkpoint.Checkpoint, batch: int, steps: int, model: torch.nn.Module | None = None
             ) -> Callable[[], Any]:
    """A call that draws `batch` sequences with `steps` steps (seq2seq: for one fixed source)."""
    process = ck.process
    if ck.config.source_len:
        from diffusion.seq2seq import encode_sources

        process = process.configure(source=encode_sources(ck.tokenizer, ck.config, [SEQ2SEQ_SOURCE] * batch))
    model = ck.model if model is None else model
    return lambda: sample(process, model, batch, steps, generator=torch.Generator().manual_seed(0), every=steps)


# ---- speed ---------------------------------------------------------------------------------------------------

def continuous_200_steps(repeats: int) -> dict[str, Any]:
    """200 Diffusion-LM steps for one sequence with the shipped model (DDPM, clamping)."""
    return spread(timed(_sampler(load("continuous"), 1, 200), repeats))


def lean_vs_bert(repeats: int, n: int = 50) -> dict[str, Any]:
    """The shipped continuous model's size with each backbone (random weights: speed does not depend on them),
    200 steps for one sequence, timed alternately so both see the same machine. Where the ratio comes from: each
    network alone on one sentence (`n` calls at a time, alternately), and the lean network's linear layers alone,
    so `network_speedup` is the ratio if the step's own math (the same for both) cost nothing, and
    `matmul_only_speedup` the ratio if, besides, every other operation of the lean network cost nothing."""
    ck = load("continuous")
    models = {}
    for backbone in ("lean", "bert"):
        config = replace(ck.config, backbone=backbone, positions=ck.config.positions if backbone == "lean" else "learned")
        torch.manual_seed(0)
        models[backbone] = type(ck.model)(config).eval()
    calls = {name: _sampler(ck, 1, 200, m) for name, m in models.items()}
    _, args = _one_sequence(ck)
    linears = [(m, torch.randn(*args[0].shape[:2], m.in_features)) for m in models["lean"].modules()
               if isinstance(m, torch.nn.Linear)]
    parts = {**{f"{name}_network": (lambda m=m: [m(*args) for _ in range(n)]) for name, m in models.items()},
             "lean_linears": lambda: [[torch.nn.functional.linear(x, m.weight, m.bias) for m, x in linears]
                                      for _ in range(n)]}
    times: dict[str, list[float]] = {name: [] for name in [*calls, *parts]}
    with torch.inference_mode():
        for call in [*calls.values(), *parts.values()]:
            call()  # warm-up
        for _ in range(repeats):
            for name, call in calls.items():
                times[name] += timed(call, 1, warmup=0)
            for name, call in parts.items():
                times[name] += [s / n for s in timed(call, 1, warmup=0)]
    lean, bert = spread(times["lean"]), spread(times["bert"])
    alone = {name: spread(times[name], 6) for name in parts}
    bert_net = alone["bert_network"]["median"]
    return {"lean_seconds": lean, "bert_seconds": bert, "speedup": round(bert["median"] / lean["median"], 3),
            "parameters": {n: sum(p.numel() for p in m.parameters()) for n, m in models.items()},
            "network_seconds": alone, "linear_layers": len(linears),
            "network_speedup": round(bert_net / alone["lean_network"]["median"], 3),
            "matmul_only_speedup": round(bert_net / alone["lean_linears"]["median"], 3)}


def _one_sequence(ck: checkpoint.Checkpoint) -> tuple[Any, tuple]:
    """A continuous sampler's state for one sequence at the prior, and what a step hands the network from it: x_t,
    t, the self-conditioning x0 and, by length, the sentence's positions only (the step cuts the canvas to them)."""
    from diffusion.continuous import LatentState
    from diffusion.discrete import spans

    state = ck.process.prior(1, ck.config.seq_len, torch.Generator().manual_seed(0))
    if not isinstance(state, LatentState):
        state = LatentState(state, state.clone())
    x, content = (state.latent, state.content) if isinstance(state, LatentState) else (state, None)
    if content is not None:
        words = int(spans(content).max())
        x, content = x[:, :words], content[:, :words]
    return state, (x, torch.tensor([0.5]), x, content)


def threads_vs_latency(repeats: int, batches: tuple[int, ...] = (1, 16), steps: int = 200) -> dict[str, Any]:
    """`steps` continuous steps with one intra-op thread and with torch's default count, timed alternately: at one
    sequence most ops are too small to split, and waking a second thread for each can cost more than it saves."""
    ck = load("continuous")
    default = torch.get_num_threads()
    out: dict[str, Any] = {"default_threads": default, "steps": steps}
    if default == 1:
        return out
    try:
        for b in batches:
            call = _sampler(ck, b, steps)
            call()  # warm-up
            times: dict[int, list[float]] = {1: [], default: []}
            for _ in range(repeats):
                for n in times:
                    torch.set_num_threads(n)
                    times[n] += timed(call, 1, warmup=0)
            one, many = spread(times[1]), spread(times[default])
            out[f"batch_{b}"] = {"one_thread_seconds": one, "default_threads_seconds": many,
                                 "one_thread_speedup": round(many["median"] / one["median"], 3)}
    finally:
        torch.set_num_threads(default)
    return out


def sampling_latency(repeats: int, batches: tuple[int, ...] = (1, 16)) -> dict[str, Any]:
    """Every shipped checkpoint at its default steps: seconds for one sequence and for 16."""
    out = {}
    for name in SHIPPED:
        ck = load(name)
        steps = ck.process.default_steps
        out[name] = {"steps": steps, **{f"batch_{b}_seconds": spread(timed(_sampler(ck, b, steps), repeats))
                                        for b in batches}}
    return out


def matmul_peak(repeats: int, n: int = 1024) -> dict[str, Any]:
    """The machine's fp32 matmul rate on all torch threads: GFLOP/s of an n x n by n x n product."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    seconds = timed(lambda: a @ b, max(repeats, 5) * 4, warmup=3)
    rates = [2 * n**3 / s / 1e9 for s in seconds]
    return {"gflops": spread(rates, 2), "n": n}


def count_flops(fn: Callable[[], Any]) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops()


def training_throughput(repeats: int, peak_gflops: float, batch_size: int = 64) -> dict[str, Any]:
    """The default model (the `small` preset, as the shipped continuous checkpoint) trained on real batches: tokens
    per second and matmul FLOPs per second as a fraction of the measured peak, for each backbone."""
    from diffusion.config import preset
    from diffusion.families import get_family

    ck = load("continuous")
    ids = ck.tokenizer.batch([ex.text for ex in _train_examples(batch_size)], ck.config.seq_len)  # (B, L)
    out = {}
    for backbone in ("lean", "bert"):
        model_config, train_config = preset("small", vocab_size=ck.config.vocab_size, seq_len=ck.config.seq_len,
                                            backbone=backbone, **({"positions": "learned"} if backbone == "bert" else {}))
        torch.manual_seed(0)
        model, process = get_family("continuous").build(model_config)
        opt = torch.optim.AdamW(model.parameters(), lr=train_config.lr, fused=True)  # as training's (Optimizers)
        gen = torch.Generator().manual_seed(0)

        def step() -> None:
            loss = process.loss(model, ids, gen)
            opt.zero_grad(set_to_none=True)
            loss.total.backward()
            opt.step()

        model.train()
        flops = count_flops(step)
        seconds = spread(timed(step, repeats * 4, warmup=3))
        tokens = ids.numel()
        out[backbone] = {"step_seconds": seconds, "tokens_per_second": round(tokens / seconds["median"]),
                         "gflop_per_step": round(flops / 1e9, 3),
                         "fraction_of_peak": round(flops / seconds["median"] / 1e9 / peak_gflops, 3)}
    return {"batch_size": batch_size, "seq_len": ck.config.seq_len, **out}


def _train_examples(n: int) -> tuple:
    from diffusion.corpus import builtin_split

    return builtin_split("train")[:n]


def compute_floor(peak_gflops: float, latency: dict[str, Any]) -> dict[str, Any]:
    """FLOPs of a sampling step (counted over a whole draw at the default steps) over the measured peak: the least
    time a step could take here; and how many times that each family's measured sampling takes."""
    out = {}
    for name in SHIPPED:
        ck = load(name)
        steps = latency[name]["steps"]
        row = {}
        for b in (1, 16):
            flops = count_flops(_sampler(ck, b, steps)) / steps  # every step of a whole draw, averaged
            floor = flops / 1e9 / peak_gflops
            measured = latency[name][f"batch_{b}_seconds"]["median"] / steps
            row[f"batch_{b}"] = {"mflop_per_step": round(flops / 1e6, 2), "floor_seconds_per_step": round(floor, 6),
                                 "measured_seconds_per_step": round(measured, 6),
                                 "times_floor": round(measured / floor, 1) if floor else None}
        out[name] = row
    return out


def step_profile(repeats: int, top: int = 10, n: int = 100) -> dict[str, Any]:
    """Where one continuous sampling step (one sequence) spends its time: the network against the step's own tensor
    math, timed over `n` steps at a time, and the operators torch.profiler finds, per step."""
    from torch.profiler import ProfilerActivity, profile

    ck = load("continuous")
    process, model = ck.process, ck.model
    state, args = _one_sequence(ck)  # the network timed on the positions the step gives it
    calls = {"step": lambda: [process.step(model, state, 0.5, 0.495) for _ in range(n)],
             "network": lambda: [model(*args) for _ in range(n)]}
    times: dict[str, list[float]] = {name: [] for name in calls}
    with torch.inference_mode():
        for call in calls.values():
            call()  # warm-up
        for _ in range(repeats):  # alternately, so both see the same machine (its speed drifts within minutes)
            for name, call in calls.items():
                times[name] += [s / n for s in timed(call, 1, warmup=0)]
        step, network = spread(times["step"], 6), spread(times["network"], 6)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(n):
                process.step(model, state, 0.5, 0.495)
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return {"step_seconds": step, "network_seconds": network,
            "step_math_seconds": round(step["median"] - network["median"], 6),
            "top_operators": [{"name": e.key, "calls_per_step": e.count / n,
                               "self_microseconds_per_step": round(e.self_cpu_time_total / n, 1)} for e in ops]}


def compiled_vs_eager(repeats: int) -> dict[str, Any]:
    """200 continuous steps for one sequence with the lean backbone as is and through torch.compile (timed side by
    side after the compile, whose own time is reported)."""
    ck = load("continuous")
    eager_call = _sampler(ck, 1, 200)
    compiled = type(ck.model)(ck.config).eval()
    compiled.load_state_dict(ck.model.state_dict())
    start = time.perf_counter()
    compiled.backbone = torch.compile(compiled.backbone, dynamic=False)
    compiled_call = _sampler(ck, 1, 200, compiled)
    compiled_call()
    compile_seconds = time.perf_counter() - start
    eager_call()
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(repeats):
        times["eager"] += timed(eager_call, 1, warmup=0)
        times["compiled"] += timed(compiled_call, 1, warmup=0)
    eager, comp = spread(times["eager"]), spread(times["compiled"])
    return {"eager_seconds": eager, "compiled_seconds": comp, "compile_and_first_run_seconds": round(compile_seconds, 1),
            "speedup": round(eager["median"] / comp["median"], 3)}

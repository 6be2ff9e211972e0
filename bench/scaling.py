"""Training at scale: quality against training compute, and what a step costs on one device and on several.

Quality: each job is a shipped checkpoint's own `train` command with a larger batch (or more steps), run as
`python -m diffusion train ... --device DEVICE`; then each checkpoint is scored by `python -m diffusion evaluate` on
the CPU (where the app samples). It answers the question the 10-minute checkpoints leave open: how many more
sentences does a recipe need before its samples are grammatical? With one device the jobs run side by side; with
several (`--processes N`, by default every GPU torch sees) each job runs data-parallel over all of them, through
torchrun, one job at a time.

    python -m bench scaling --device cuda --out runs/scaling          # the jobs below, on GPUs
    python -m bench scaling --device cpu --smoke --out /tmp/scaling   # every job for a few steps, end to end

Prints one JSON object on its last line and writes it to OUT/scaling.json.

Throughput (`--throughput`): seconds per step of each preset on one device, and tokens per second per device from
1 to N processes training the small recipe data-parallel, with the scaling efficiency (tokens per second at N over
N times one process's). On the CPU a device is one core: each process gets one thread.

    python -m bench scaling --throughput --device cpu --processes 2   # this machine: bench/results/throughput-...
    python -m bench scaling --throughput --device cuda                 # every GPU torch sees, in bf16 and fp32
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from diffusion import shipped

from .common import machine, report

ROOT = Path(__file__).resolve().parent.parent
TORCHRUN = ["-m", "torch.distributed.run", "--standalone"]

# the shipped checkpoints' recipes: each family's defaults on the small preset (assets/checkpoints/NAME/meta.json)
RECIPES = {"ardm": ["--family", "ardm"], "sedd-absorb": ["--family", "sedd"], "continuous": ["--family", "continuous"]}
# (recipe, batch size, steps): the steps the shipped checkpoint made in its 10 minutes at batch 64, so a batch of
# 64 k is k times the sentences it saw
JOBS = [
    ("ardm", 64, 6258), ("ardm", 256, 6258), ("ardm", 1024, 6258), ("ardm", 4096, 6258),
    ("sedd-absorb", 1024, 6546), ("continuous", 1024, 5996),
]


def _shipped_sentences(name: str) -> int:
    meta = json.loads((shipped.folder(name) / "meta.json").read_text())
    return int(meta["steps"]) * int(meta["train_config"]["batch_size"])


def _job_name(recipe: str, batch: int, steps: int) -> str:
    return f"{recipe}-b{batch}-s{steps}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", help="where the training steps run (train's --device)")
    p.add_argument("--out", help="folder for the runs, their logs and scaling.json (throughput: a temporary one)")
    p.add_argument("--processes", type=int, help="processes per training, one a device (default: every CUDA GPU "
                   "torch sees with --device cuda or auto, else 1); throughput measures 1, 2, 4 ... up to this")
    p.add_argument("--throughput", action="store_true", help="measure step costs and data-parallel scaling instead")
    p.add_argument("--jobs", nargs="*", help="RECIPE:BATCH:STEPS, e.g. ardm:1024:6258 (default: the list above)")
    p.add_argument("--parallel", type=int, default=len(JOBS), help="jobs training at once")
    p.add_argument("--threads", type=int, default=2, help="CPU threads per job")
    p.add_argument("--minutes", type=float, default=30.0, help="wall-clock cap per job (it stops and saves)")
    p.add_argument("--num-samples", type=int, default=200, help="samples per seed for the grammatical rate")
    p.add_argument("--seeds", type=int, default=2, help="evaluation seeds (each --num-samples samples)")
    p.add_argument("--smoke", action="store_true", help="every job for 30 steps and 10 samples: the plumbing only")
    args = p.parse_args(argv)
    processes = args.processes or _devices(args.device)
    if args.throughput:
        return throughput(args.device, processes, args.out)
    if args.out is None:
        p.error("the quality study needs --out, a folder for its runs")

    jobs = [(r, int(b), int(s)) for r, b, s in (j.split(":") for j in args.jobs)] if args.jobs else list(JOBS)
    for recipe, _, _ in jobs:
        if recipe not in RECIPES:
            p.error(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    if args.smoke:
        jobs = [(r, b, 30) for r, b, _ in jobs]
        args.num_samples, args.seeds = 10, 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONUNBUFFERED": "1"}

    if processes > 1:  # each job takes every device: one at a time
        args.parallel = 1

    def launch(cmd: list[str], log: Path) -> subprocess.Popen:
        dp = [*TORCHRUN, "--nproc_per_node", str(processes)] if processes > 1 and cmd[0] == "train" else []
        return subprocess.Popen([sys.executable, *dp, "-m", "diffusion", *cmd], cwd=ROOT, env=env,
                                stdout=log.open("w"), stderr=subprocess.STDOUT)

    # train, at most --parallel at once
    start = time.perf_counter()
    pending, running, failed = list(jobs), {}, {}
    while pending or running:
        while pending and len(running) < args.parallel:
            recipe, batch, steps = pending.pop(0)
            name = _job_name(recipe, batch, steps)
            cmd = ["train", "--corpus", "builtin", "--out", str(out / name), *RECIPES[recipe],
                   "--batch-size", str(batch), "--steps", str(steps), "--minutes", str(args.minutes),
                   "--device", args.device]
            running[name] = launch(cmd, out / f"{name}.train.log")
        time.sleep(2)
        for name, proc in list(running.items()):
            if proc.poll() is not None:
                del running[name]
                if proc.returncode:
                    failed[name] = f"train exited {proc.returncode}; see {name}.train.log"
    train_seconds = time.perf_counter() - start

    # score each checkpoint on the CPU, every job and seed at once
    evals = {}
    for recipe, batch, steps in jobs:
        name = _job_name(recipe, batch, steps)
        if name in failed:
            continue
        for seed in range(args.seeds):
            cmd = ["evaluate", "--checkpoint", str(out / name), "--num-samples", str(args.num_samples),
                   "--seed", str(seed)]
            evals[(name, seed)] = launch(cmd, out / f"{name}.eval{seed}.log")
    results = []
    for recipe, batch, steps in jobs:
        name = _job_name(recipe, batch, steps)
        row: dict = {"job": name, "recipe": recipe, "batch_size": batch, "steps_asked": steps}
        if name in failed:
            results.append({**row, "error": failed[name]})
            continue
        meta = json.loads((out / name / "meta.json").read_text())
        row.update(steps=meta["steps"], seconds=meta["seconds"], sentences=meta["steps"] * batch,
                   machine=meta["machine"], device=meta["train_config"]["device"])
        row["times_shipped_sentences"] = round(row["sentences"] / _shipped_sentences(recipe), 2)
        rates, nlls = [], []
        for seed in range(args.seeds):
            proc = evals[(name, seed)]
            proc.wait()
            lines = (out / f"{name}.eval{seed}.log").read_text().strip().splitlines()
            if proc.returncode or not lines:
                row["error"] = f"evaluate exited {proc.returncode}; see {name}.eval{seed}.log"
                break
            ev = json.loads(lines[-1])
            rates.append(ev["grammatical_rate"])
            nlls.append(ev["nll_bits_per_token"])
        row.update(grammatical_rate_by_seed=rates, nll_bits_per_token=nlls[0] if nlls else None)
        if rates:
            row["grammatical_rate"] = round(sum(rates) / len(rates), 4)
        results.append(row)
    result = {"device": args.device, "processes": processes, "train_wall_seconds": round(train_seconds, 1),
              "parallel": args.parallel,
              "threads_per_job": args.threads, "samples": args.num_samples * args.seeds, "smoke": args.smoke,
              "shipped_sentences": {r: _shipped_sentences(r) for r in RECIPES}, "jobs": results}
    (out / "scaling.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    return 1 if failed or any("error" in r for r in results) else 0


def _devices(device: str) -> int:
    """The devices a training can spread over: every CUDA GPU for cuda or auto, else one."""
    import torch

    return torch.cuda.device_count() if device in ("cuda", "auto") and torch.cuda.is_available() else 1


# presets measured for their cost per step: ar stands for the token families (sedd and ardm run the same backbone,
# then spend minutes measuring their plan on held-out rows, which is no step), continuous for the latent ones
PRESET_FAMILIES = ("ar", "continuous")
# steps timed per preset: seconds on a GPU. A CPU takes minutes for one step of base: there one step, of ar alone.
PRESET_STEPS = {"tiny": 60, "small": 40, "base": 3}
CPU_BASE = ("ar", 1)
SCALING_RECIPE = ["--family", "sedd", "--preset", "small"]  # the shipped sedd recipe
SCALING_STEPS = 60


def _run(out: Path, args: list[str], steps: int, processes: int, device: str, threads: int) -> dict:
    """One `train` of `steps` steps (through torchrun for several processes); its cost from meta.json."""
    from diffusion import checkpoint

    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    dp = [*TORCHRUN, "--nproc_per_node", str(processes)] if processes > 1 else []
    cmd = [sys.executable, *dp, "-m", "diffusion", "train", *args, "--steps", str(steps), "--device", device,
           "--out", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    meta = json.loads((out / "meta.json").read_text())
    seconds = checkpoint.load_training_state(out)[1]["seconds"]  # unrounded: meta.json keeps tenths
    ck = checkpoint.load(out)
    row = {"steps": meta["steps"], "seconds": round(seconds, 3), "tokens": meta["tokens"],
           "seconds_per_step": round(seconds / meta["steps"], 4),
           "tokens_per_second": round(meta["tokens"] / seconds, 1),
           "batch_size": meta["train_config"]["batch_size"], "precision": meta["train_config"]["precision"],
           "weights": sum(p.numel() for p in ck.model.parameters()), "machine": meta["machine"]}
    return row


def throughput(device: str, processes: int, out: str | None) -> int:
    """Seconds per step of every preset on one device, then tokens per second from 1 to `processes` processes."""
    import datetime
    import tempfile

    import torch

    cuda = device != "cpu" and torch.cuda.is_available()
    # a preset's cost with the whole machine, as one trains on it; in the scaling runs a CPU device is one core
    whole, threads = os.cpu_count() or 1, 1 if not cuda else int(os.environ.get("OMP_NUM_THREADS", "4"))
    precisions = ["fp32", "bf16"] if cuda else ["fp32"]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        presets = []
        for name, steps in PRESET_STEPS.items():
            families = PRESET_FAMILIES
            if name == "base" and not cuda:
                families, steps = CPU_BASE[:1], CPU_BASE[1]
            for family in families:
                for precision in precisions:
                    row = _run(Path(tmp) / f"{name}-{family}-{precision}", ["--family", family, "--preset", name,
                                                                            "--precision", precision],
                               steps, 1, device, whole if not cuda else threads)
                    presets.append({"preset": name, "family": family, **row})
        counts = sorted({1, *[2**k for k in range(1, 8) if 2**k <= processes], processes})
        scaling = []
        for precision in precisions:
            for n in counts:
                row = _run(Path(tmp) / f"dp{n}-{precision}", [*SCALING_RECIPE, "--precision", precision],
                           SCALING_STEPS, n, device, threads)
                if "tokens_per_second" in row:
                    row["tokens_per_second_per_device"] = round(row["tokens_per_second"] / n, 1)
                scaling.append({"processes": n, **row})
        for row in scaling:
            one = next((r for r in scaling if r["processes"] == 1 and r.get("precision") == row.get("precision")), {})
            if "tokens_per_second" in row and "tokens_per_second" in one:
                row["efficiency"] = round(row["tokens_per_second"] / (row["processes"] * one["tokens_per_second"]), 3)
    info = machine()
    if cuda:
        import torch

        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpus"] = torch.cuda.device_count()
    result = {"date": datetime.date.today().isoformat(), "machine": info, "device": "cuda" if cuda else "cpu",
              "threads_per_process": threads, "preset_threads": whole if not cuda else threads, "command": "python -m bench scaling --throughput --device "
              f"{device} --processes {processes}", "seconds": round(time.perf_counter() - start, 1),
              "scaling_recipe": " ".join(SCALING_RECIPE), "presets": presets, "scaling": scaling}
    report(result, "throughput-", True, False)
    return 1 if any("error" in r for r in presets + scaling) else 0


if __name__ == "__main__":
    raise SystemExit(main())

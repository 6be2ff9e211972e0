"""Quality against training compute: the shipped recipes trained on more sentences than the 10 CPU minutes allow.

Each job is a shipped checkpoint's own `train` command with a larger batch (or more steps), run as
`python -m diffusion train ... --device DEVICE`; the jobs run side by side, then each checkpoint is scored by
`python -m diffusion evaluate` on the CPU (where the app samples). It answers the question the 10-minute
checkpoints leave open: how many more sentences does a recipe need before its samples are grammatical?

    python -m bench scaling --device cuda --out runs/scaling          # the jobs below, on a GPU
    python -m bench scaling --device cpu --smoke --out /tmp/scaling   # every job for a few steps, end to end

Prints one JSON object on its last line and writes it to OUT/scaling.json.
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

ROOT = Path(__file__).resolve().parent.parent

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
    p.add_argument("--out", required=True, help="folder for the runs, their logs and scaling.json")
    p.add_argument("--jobs", nargs="*", help="RECIPE:BATCH:STEPS, e.g. ardm:1024:6258 (default: the list above)")
    p.add_argument("--parallel", type=int, default=len(JOBS), help="jobs training at once")
    p.add_argument("--threads", type=int, default=2, help="CPU threads per job")
    p.add_argument("--minutes", type=float, default=30.0, help="wall-clock cap per job (it stops and saves)")
    p.add_argument("--num-samples", type=int, default=200, help="samples per seed for the grammatical rate")
    p.add_argument("--seeds", type=int, default=2, help="evaluation seeds (each --num-samples samples)")
    p.add_argument("--smoke", action="store_true", help="every job for 30 steps and 10 samples: the plumbing only")
    args = p.parse_args(argv)

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

    def launch(cmd: list[str], log: Path) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "diffusion", *cmd], cwd=ROOT, env=env,
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
    report = {"device": args.device, "train_wall_seconds": round(train_seconds, 1), "parallel": args.parallel,
              "threads_per_job": args.threads, "samples": args.num_samples * args.seeds, "smoke": args.smoke,
              "shipped_sentences": {r: _shipped_sentences(r) for r in RECIPES}, "jobs": results}
    (out / "scaling.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report))
    return 1 if failed or any("error" in r for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())

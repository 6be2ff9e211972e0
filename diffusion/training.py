"""The training loop, one for every family: a generator of TrainLog that the CLI and the app both consume."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import math
import os
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel

from . import checkpoint, distributed
from .config import ModelConfig, TrainConfig
from .corpus.loaders import Corpus
from .corpus.stream import HELD_OUT, SHUFFLE_BUFFER
from .corpus.tokenizer import TextTokenizer
from .distributed import Ranks, RankError
from .families import get_family, ordered
from .process import Calibrated, ReadsTrainingRows
from .rows import (TokenizerChoice, draw_batches, encode_split, length_report, prepare, skipped_note, split_ids,
                   stream_batches)


@dataclass(frozen=True)
class TrainLog:
    step: int
    loss: float
    seconds: float  # wall-clock seconds of training so far (across resumes)
    lr: float
    parts: dict[str, float] = field(default_factory=dict)
    done: bool = False
    # "training", or "calibrating": the steps are done and the process measures what sampling needs on held-out
    # data (ARDM's L_t, seconds for a small model), so a progress display can say why it waits
    phase: str = "training"
    # the process and the averaged weights as they are at this step, for a caller that samples mid-run (the Train
    # tab's progression); valid until the loop resumes, and on the training device
    process: Any = field(default=None, repr=False, compare=False)
    model: torch.nn.Module | None = field(default=None, repr=False, compare=False)


def _lr(step: int, progress: float, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to a tenth over the budget (`progress` in [0, 1], steps or time)."""
    warm = min(1.0, (step + 1) / max(1, cfg.warmup_steps))
    return cfg.lr * warm * (0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, progress))))


def _ema(decay: float):
    """EMA with the usual warm-up (decay (1 + n) / (10 + n) early on), so short runs are not stuck at init."""

    def update(ema_params: list[torch.Tensor], params: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        n = float(num_averaged)
        torch._foreach_lerp_(ema_params, params, 1 - min(decay, (1 + n) / (10 + n)))

    return update


class Optimizers:
    """AdamW alone, or Muon on the backbone's weight matrices with AdamW on the rest (embeddings, heads, biases,
    norms), as Muon's authors use it: one object with the optimiser's `param_groups`, `zero_grad` and `step`."""

    def __init__(self, model: torch.nn.Module, cfg: TrainConfig) -> None:
        matrices = [m.weight for m in _backbone(model).modules() if isinstance(m, torch.nn.Linear)] \
            if cfg.optimizer == "muon" else []
        chosen = {id(p) for p in matrices}
        rest = [p for p in model.parameters() if id(p) not in chosen]
        # fused: one kernel for every parameter's update (0.4 ms against 2.2 for the small model's on this CPU)
        self.parts: dict[str, torch.optim.Optimizer] = {
            "optimizer": torch.optim.AdamW(rest, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)}
        if matrices:
            # "match_rms_adamw" scales each update to AdamW's size, so the two share one learning rate (Moonshot)
            self.parts["muon"] = torch.optim.Muon(matrices, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                                  adjust_lr_fn="match_rms_adamw")
        self.param_groups = [g for opt in self.parts.values() for g in opt.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.parts.values():
            opt.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for opt in self.parts.values():
            opt.step()

    def flatten(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The state as flat tensors (for safetensors) plus JSON (param groups, scalar fields): AdamW's under the
        keys a checkpoint has always had ("optimizer."), Muon's under "muon."."""
        tensors: dict[str, torch.Tensor] = {}
        js: dict[str, Any] = {}
        for name, opt in self.parts.items():
            sd = opt.state_dict()
            scalars = {}
            for pid, state in sd["state"].items():
                for k, v in state.items():
                    if isinstance(v, torch.Tensor):
                        tensors[f"{name}.{pid}.{k}"] = v
                    else:
                        scalars[f"{pid}.{k}"] = v
            part = {"param_groups": sd["param_groups"], "scalars": scalars}
            if name == "optimizer":
                js.update(part)
            else:
                js.setdefault("parts", {})[name] = part
        return tensors, js

    def load(self, tensors: dict[str, torch.Tensor], js: dict[str, Any]) -> None:
        saved = {"optimizer": js, **js.get("parts", {})}
        if set(saved) != set(self.parts):
            used = "muon" if "muon" in saved else "adamw"
            raise ValueError(f"the checkpoint was trained with the {used} optimiser; resume it with the "
                             "--preset it was trained with (meta.json records its command)")
        for name, opt in self.parts.items():
            state: dict[int, dict[str, Any]] = {}
            for key, v in tensors.items():
                if key.startswith(name + "."):
                    _, pid, k = key.split(".", 2)
                    state.setdefault(int(pid), {})[k] = v
            for key, v in saved[name].get("scalars", {}).items():
                pid, k = key.split(".", 1)
                state.setdefault(int(pid), {})[k] = v
            opt.load_state_dict({"state": state, "param_groups": saved[name]["param_groups"]})


def resolve_device(name: str, ranks: Ranks = Ranks()) -> torch.device:
    """The device training runs on: "auto" is a CUDA GPU when torch sees one, else the CPU; asking for a GPU that
    is not there is a clear error. In a job of several processes each takes the GPU of its local rank."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and ranks.world > 1:
        if device.index is not None:
            raise RankError(f"device {name!r}: in a job of {ranks.world} processes each takes the GPU of its "
                            "local rank; give --device cuda (or auto)")
        device = torch.device("cuda", ranks.local_rank)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RankError(f"device {name!r}: torch {torch.__version__} sees no CUDA GPU on this machine; "
                            "use --device cpu (or auto)")
        if (device.index or 0) >= torch.cuda.device_count():
            raise RankError(f"device {str(device)!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                            f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return device


def autocast(device: torch.device, precision: str):
    """The context the loss runs in: bf16 autocast on a GPU that has it (matrix products in bfloat16, reductions
    and the weights in float32), else nothing."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if device.type != "cuda":
        raise ValueError(f"--precision {precision} is for CUDA GPUs; on the {device.type} training runs in fp32")
    if not torch.cuda.is_bf16_supported():
        raise RankError(f"--precision bf16: {torch.cuda.get_device_name(device)} has no bfloat16; use fp32")
    return torch.autocast("cuda", dtype=torch.bfloat16)


class Objective(torch.nn.Module):
    """A process's training loss as one module's forward, so that DistributedDataParallel sees every use of every
    weight (some losses read the embedding table outside the network's own forward)."""

    def __init__(self, process: Any, model: torch.nn.Module) -> None:
        super().__init__()
        self.process, self.model = process, model
        self.parts: dict[str, float] = {}

    def forward(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        loss = self.process.loss(self.model, batch, generator)
        self.parts = loss.parts
        return loss.total


def noise_generator(seed: int, step: int, rank: int) -> torch.Generator:
    """The generator of one process's noise draws: independent for each rank, the same for a given seed, step
    (where a run resumes) and rank."""
    state = np.random.SeedSequence([seed, step], spawn_key=(rank + 1,)).generate_state(2, np.uint64)
    return torch.Generator().manual_seed(int(state[0]) >> 1)


def _backbone(model: torch.nn.Module) -> torch.nn.Module:
    backbone = getattr(model, "backbone", None)
    if not isinstance(backbone, torch.nn.Module):
        raise ValueError(f"the muon optimiser needs a model with a backbone; {type(model).__name__} has none")
    return backbone


def train(model_config: ModelConfig, train_config: TrainConfig, corpus: Corpus, out_dir: str | Path,
          command: str = "", seq_len_given: bool = False,
          should_stop: Callable[[], bool] | None = None,
          tokenizer_choice: TokenizerChoice = TokenizerChoice()) -> Iterator[TrainLog]:
    """Train (or resume, when out_dir holds a checkpoint) until `steps` or `minutes` runs out, or until
    `should_stop()` says so (a Stop button): every ending saves the checkpoint the same way. In a torchrun job (a
    process group already joined) every process runs this with the same arguments: each takes its share of every
    batch, DistributedDataParallel averages the gradients, and rank 0 alone writes the logs and the checkpoint."""
    cfg = train_config
    if cfg.steps is None and cfg.minutes is None:
        raise ValueError("give a budget: steps, minutes, or both")
    ranks = distributed.current()
    if cfg.batch_size % ranks.world:
        raise ValueError(f"a batch of {cfg.batch_size} sequences does not split evenly over {ranks.world} processes; "
                         f"give a --batch-size that is a multiple of {ranks.world}")
    out_dir = Path(out_dir)
    device = resolve_device(cfg.device, ranks)
    cfg = replace(cfg, device="cuda" if device.type == "cuda" and ranks.world > 1 else str(device))
    amp = autocast(device, cfg.precision)
    torch.manual_seed(cfg.seed)
    # on the CPU whatever the device: one seed, the same draws. Every rank draws the same rows for the whole batch
    # and takes its share of them; the noise each rank's loss draws is its own.
    gen = torch.Generator().manual_seed(cfg.seed)
    step, seconds_before, tokens_before = 0, 0.0, 0
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{str(out_dir)!r} is a file; give a folder (a new one, or a run folder to resume)")
    if checkpoint.has_checkpoint(out_dir):
        if not (out_dir / checkpoint.TRAINING_STATE).is_file():
            raise ValueError(f"{str(out_dir)!r} holds a checkpoint without its training state (a copy made for "
                             "sharing), which cannot be resumed; train into another folder")
        ck = checkpoint.load(out_dir)
        if ck.config.family != model_config.family:
            raise ValueError(f"{out_dir} holds a {ck.config.family!r} checkpoint; cannot resume it as "
                             f"{model_config.family!r} (use another --out)")
        model_config, tokenizer, model, process = ck.config, ck.tokenizer, ck.model, ck.process
        meta, resumed = ck.meta, True
        ids = split_ids(tokenizer, corpus, "train", bool(model_config.source_len))
    else:
        resumed = False
        model_config, tokenizer = prepare(model_config, corpus, seq_len_given, tokenizer_choice)
        model, process = get_family(model_config.family).build(model_config)
        ids = split_ids(tokenizer, corpus, "train", bool(model_config.source_len))  # encoded once, used twice
        meta = {"tokenizer": tokenizer.describe(), "lengths": length_report(model_config, tokenizer, corpus, ids),
                # what `evaluate` checks before it reads the corpus's held-out rows again
                **({"corpus_sha256": corpus.sha256} if corpus.sha256 else {}),
                **({"columns": list(corpus.columns)} if corpus.columns else {})}
        if corpus.stream is not None:  # what of the stream the tokenizer and the length fit saw
            meta["stream"] = {"sample_rows": corpus.rows, "tokenizer_rows": len(corpus.train),
                              "held_out": f"1 row in {HELD_OUT} to validation and 1 to test, by a hash of its "
                                          f"{'source' if model_config.source_len else 'text'}",
                              "shuffle_buffer": SHUFFLE_BUFFER}
        if not meta["lengths"]["train_rows"]:
            raise ValueError(f"no training row of {corpus.name!r} fits the model's length {model_config.seq_len}: "
                             f"{skipped_note(meta['lengths'])}")
    if ranks.main:
        # the raw and averaged weights, AdamW's two moments, and the same again while a save replaces them, slack
        checkpoint.check_writable(out_dir, 32 * sum(p.numel() for p in model.parameters()) + 2**24)
    model.to(device)
    ema = AveragedModel(model, multi_avg_fn=_ema(cfg.ema_decay))  # a copy: the checkpoint's EMA weights on resume
    opt = Optimizers(model, cfg)
    if resumed:
        tensors, js = checkpoint.load_training_state(out_dir)
        model.load_state_dict({k[len("raw."):]: v for k, v in tensors.items() if k.startswith("raw.")})
        opt.load(tensors, js)
        step, seconds_before, tokens_before = js["step"], js["seconds"], js.get("tokens")
        # the EMA goes on where it stopped (its warm-up reads the update count), not from the raw weights
        ema.n_averaged.fill_(js.get("ema_updates", step))
        gen.manual_seed(cfg.seed + step)  # a resumed run draws fresh batches
    _check_same_run(ranks, device, step, tokenizer, out_dir)
    noise = noise_generator(cfg.seed, step, ranks.rank) if ranks.world > 1 else gen
    data = encode_split(model_config, tokenizer, corpus, "train", ids)  # (N, L)
    if isinstance(process, ReadsTrainingRows) and not resumed:
        # Settings some processes read off the training rows before the first step (the length distribution
        # when it is drawn first): in meta.json from the first save, so every checkpoint of the run can sample.
        settings = process.data_settings(data, tokenizer.pad_id)
        process = process.configure(**settings)
        meta["process"] = settings
    by_length = isinstance(process, ReadsTrainingRows) and process.hides_padding
    if corpus.stream is not None:  # read as it trains, each rank its shard; reshuffled where a run resumes
        batches = stream_batches(corpus.stream, model_config, tokenizer, cfg.batch_size, cfg.seed + step,
                                  by_length, ranks)
    else:
        batches = draw_batches(data, tokenizer.pad_id, cfg.batch_size, gen, by_length, ranks)
    objective = Objective(process, model)
    # DDP averages the gradients over the processes as backward makes them (and starts them from rank 0's weights)
    forward = objective if ranks.world == 1 else DistributedDataParallel(
        objective, device_ids=[device.index] if device.type == "cuda" else None)
    writer = _summary_writer(out_dir / "logs") if ranks.main else None
    tokens = 0  # this process's non-padding tokens trained on in this run

    def tokens_seen() -> int:
        """This run's tokens over every rank (a collective: every rank calls it)."""
        return round(distributed.mean([float(tokens)], device)[0] * ranks.world)

    def save(seconds: float, seen: int) -> None:
        """Rank 0 writes; the others have taken part in counting `seen`."""
        if not ranks.main:
            return
        ema_model = ema.module if device.type == "cpu" else copy.deepcopy(ema.module).cpu()
        tensors, js = opt.flatten()
        tensors.update({f"raw.{k}": v for k, v in model.state_dict().items()})
        tensors = {k: v.cpu() for k, v in tensors.items()}
        total_tokens = None if tokens_before is None else tokens_before + seen  # None: resumed from before counts
        js.update(step=step, seconds=seconds, ema_updates=int(ema.n_averaged),
                  **({} if total_tokens is None else {"tokens": total_tokens}))
        info = dict(meta, family=model_config.family, command=command or meta.get("command", ""),
                    steps=step, seconds=round(seconds, 1), corpus=corpus.name,
                    train_config=asdict(cfg), processes=ranks.world, torch=torch.__version__,
                    machine=_machine(device, ranks.world), **({} if total_tokens is None else {"tokens": total_tokens}))
        checkpoint.save(out_dir, ema_model, tokenizer, info, tensors, js)
        meta.update(info)

    model.train()
    last_loss, lr = float("nan"), cfg.lr
    start = time.perf_counter()
    last_save = start
    budget_s = cfg.minutes * 60 if cfg.minutes is not None else float("inf")
    budget_steps = cfg.steps if cfg.steps is not None else float("inf")
    while True:
        elapsed = time.perf_counter() - start
        stop = step >= budget_steps or elapsed >= budget_s or (should_stop is not None and should_stop())
        due = time.perf_counter() - last_save > cfg.checkpoint_every_seconds
        if ranks.world > 1:  # rank 0's clock decides for every rank, so all take the same steps
            stop, due, elapsed = distributed.from_main([stop, due, elapsed], device)
        if stop:
            break
        if due:
            save(seconds_before + elapsed, tokens_seen())
            last_save = time.perf_counter()
        lr = _lr(step, max(step / budget_steps, elapsed / budget_s), cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        batch = next(batches)
        tokens += int((batch != tokenizer.pad_id).sum())
        with amp:
            total = forward(batch.to(device, non_blocking=True), noise)
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        ema.update_parameters(model)
        step += 1
        parts = objective.parts
        last_loss = parts.get("total", float(total.detach()))
        if step % cfg.log_every == 0 or step == 1:
            if ranks.world > 1:  # the combined batch's loss: the mean of the ranks' shares
                parts = dict(zip(parts, distributed.mean(list(parts.values()), device)))
                last_loss = parts.get("total", last_loss)
            if writer is not None:
                for k, v in parts.items():
                    writer.add_scalar(f"loss/{k}", v, step)
                writer.add_scalar("lr", lr, step)
            yield TrainLog(step, last_loss, seconds_before + elapsed, lr, parts, process=process,
                           model=ema.module)
    total_s = seconds_before + time.perf_counter() - start
    if ranks.world > 1:
        total_s = distributed.from_main([total_s], device)[0]
    seen = tokens_seen()  # the last collective: the other ranks do not wait on rank 0's calibration below
    reading = ordered(process)
    if isinstance(reading, Calibrated) and corpus.validation and ranks.main:
        # Some processes measure what sampling needs on held-out data once trained (ARDM's L_t for its plan).
        yield TrainLog(step, last_loss, total_s, lr, phase="calibrating")
        ema.module.eval()
        held_out = encode_split(model_config, tokenizer, corpus, "validation")[:cfg.calibration_sequences]
        if not held_out.shape[0]:  # no validation row fits the model: measure on training rows rather than none
            held_out = data[:cfg.calibration_sequences]
        measured, meta["calibration"] = reading.calibrate(ema.module.cpu(), held_out,  # where it will sample
                                                          torch.Generator().manual_seed(cfg.seed))
        meta["process"] = {**meta.get("process", {}), **measured}
    save(total_s, seen)
    if writer is not None:
        writer.close()
    yield TrainLog(step, last_loss, total_s, lr, done=True)


def _check_same_run(ranks: Ranks, device: torch.device, step: int, tokenizer: TextTokenizer, out_dir: Path) -> None:
    """Every rank must start from the same step with the same tokenizer: on several machines the run folder must be
    one shared folder, and the corpus the same file."""
    if ranks.world == 1:
        return
    mine = [float(step), float(int(hashlib.sha256(tokenizer.tok.to_str().encode()).hexdigest()[:12], 16))]
    main = distributed.from_main(mine, device)
    if main[0] != mine[0]:
        raise RankError(f"{ranks.describe()} sees {out_dir} at step {step}, process 0 at step {int(main[0])}: on "
                        "several machines --out must be one folder they all share")
    if main[1] != mine[1]:
        raise RankError(f"{ranks.describe()} trained another tokenizer than process 0: every process must read the "
                        "same corpus")


def _summary_writer(path: Path):
    from torch.utils.tensorboard import SummaryWriter  # imported late: tensorboard is slow to import

    return SummaryWriter(str(path))


def cpu_name() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else the platform's own name."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux
    return platform.processor() or platform.machine()


def _machine(device: torch.device | None = None, processes: int = 1) -> str:
    where = f"{cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    if device is not None and device.type == "cuda":
        where += f"; trained on {torch.cuda.get_device_name(device)}"
        where += f" ({processes} processes, one GPU each)" if processes > 1 else ""
    elif processes > 1:
        where += f" per process; {processes} processes"
    return where

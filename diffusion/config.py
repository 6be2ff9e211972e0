"""Dataclass configs and named presets. A ModelConfig holds every field needed to rebuild a model."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from .limits import (MAX_BATCH, MAX_LAYERS, MAX_SAMPLES, MAX_SEQ_LEN, MAX_TIMESTEPS, MAX_VOCAB, MAX_WEIGHTS,
                     MAX_WIDTH, check_number)

BACKBONES = ("lean", "bert")
SCHEDULES = ("linear", "cosine", "sqrt")
PARAMETERISATIONS = ("x0", "eps", "softmax")
GRAPHS = ("absorb", "uniform")
NOISES = ("loglinear", "geometric")
LENGTH_MODELS = ("pad", "prior")
OPTIMIZERS = ("adamw", "muon")


def _check(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(str, choices))}")


@dataclass
class ModelConfig:
    family: str = "continuous"
    vocab_size: int = 0  # set from the tokenizer when a run starts
    seq_len: int = 40
    source_len: int = 0  # seq2seq: positions 0..source_len-1 hold the source, then [SEP], then the target
    level: Literal["word", "char"] = "word"
    # backbone
    backbone: Literal["lean", "bert"] = "lean"
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 512
    dropout: float = 0.0
    positions: Literal["learned", "rotary"] = "learned"  # lean backbone: learned absolute only, or plus rotary
    # continuous (Diffusion-LM)
    embed_dim: int = 16
    num_timesteps: int = 2000  # T of the training chain; sampling may use fewer, respaced steps
    schedule: Literal["linear", "cosine", "sqrt"] = "sqrt"
    # what the denoiser outputs: x0 directly, the noise eps, or a distribution over words whose expected embedding
    # is x0_hat (CDCD's score interpolation, Dieleman et al. 2022): still an x0 prediction, on the words' hull
    parameterisation: Literal["x0", "eps", "softmax"] = "x0"
    x0_rounding_weight: float = 1.0  # weight of the rounding loss on the predicted x0 (0 = paper's loss)
    preconditioning: bool = True  # EDM-style skip connection around the network (Karras et al. 2022)
    self_condition: bool = True  # feed the previous x0 estimate back in (Chen et al. 2022)
    time_sampling: Literal["uniform", "high_noise"] = "uniform"  # t ~ U(0,1), or 1 - (1 - u)^2 (ardm: u^2 shown)
    # sedd
    graph: Literal["absorb", "uniform"] = "absorb"  # the forward CTMC: to a mask token, or to any token
    noise: Literal["loglinear", "geometric"] = "loglinear"  # sigma_bar(t); SEDD pairs uniform with geometric
    # ardm and absorbing sedd: "pad" writes all seq_len positions, [PAD] a word like any other that ends the
    # sentence (the papers' fixed-length canvas); "prior" draws the length first from the training set's lengths
    # and writes only that many positions, padding hidden from attention (as length-predicting models do)
    length_model: Literal["pad", "prior"] = "pad"

    def __post_init__(self) -> None:
        _check("backbone", self.backbone, BACKBONES)
        _check("schedule", self.schedule, SCHEDULES)
        _check("parameterisation", self.parameterisation, PARAMETERISATIONS)
        _check("level", self.level, ("word", "char"))
        _check("time_sampling", self.time_sampling, ("uniform", "high_noise"))
        _check("positions", self.positions, ("learned", "rotary"))
        _check("graph", self.graph, GRAPHS)
        _check("noise", self.noise, NOISES)
        _check("length_model", self.length_model, LENGTH_MODELS)
        if self.length_model == "prior" and not (self.family in ("ardm", "continuous", "seq2seq")
                                                 or (self.family == "sedd" and self.graph == "absorb")):
            raise ValueError(f"length_model 'prior' is built for continuous, seq2seq, ardm and absorbing sedd; "
                             f"{self.family}{' (uniform)' if self.family == 'sedd' else ''} uses 'pad'")
        if self.time_sampling != "uniform" and self.family not in ("continuous", "seq2seq", "ardm"):
            raise ValueError(f"time_sampling {self.time_sampling!r} is built for continuous, seq2seq and ardm; "
                             f"{self.family} draws its training times uniformly")
        for name, high in (("seq_len", MAX_SEQ_LEN), ("d_model", MAX_WIDTH), ("n_layers", MAX_LAYERS),
                           ("n_heads", self.d_model), ("d_ff", MAX_WIDTH), ("embed_dim", MAX_WIDTH),
                           ("num_timesteps", MAX_TIMESTEPS), ("vocab_size", MAX_VOCAB)):
            check_number(getattr(self, name), name, 0 if name == "vocab_size" else 1, high, integer=True)
        check_number(self.dropout, "dropout", 0, 0.99)
        check_number(self.x0_rounding_weight, "x0_rounding_weight", 0, 1e3)
        weights = self.vocab_size * (self.d_model + self.embed_dim) + self.n_layers * self.d_model * (
            4 * self.d_model + 2 * self.d_ff)
        if weights > MAX_WEIGHTS:
            raise ValueError(f"this config makes a model of about {weights:.2g} weights; at most {MAX_WEIGHTS:.0g} are "
                             "accepted (vocab_size, d_model, d_ff, n_layers)")
        if not 0 <= self.source_len <= self.seq_len - 2:
            raise ValueError(f"source_len must be from 0 to seq_len - 2 ({self.seq_len - 2}), got {self.source_len}")
        if self.positions == "rotary" and self.backbone != "lean":
            raise ValueError("rotary positions are built into the lean backbone only; use --positions learned with bert")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown model config field(s) {', '.join(unknown)}; accepted: {', '.join(sorted(known))}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainConfig:
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adamw"  # or "muon": Muon on the backbone's weight matrices, AdamW on the rest
    warmup_steps: int = 200
    steps: int | None = None  # stop after this many optimiser steps...
    minutes: float | None = None  # ...or after this much wall-clock time, whichever comes first
    seed: int = 0
    grad_clip: float = 1.0
    ema_decay: float = 0.999  # sampling uses the EMA weights, as DDPM does
    log_every: int = 50
    checkpoint_every_seconds: float = 60.0
    # held-out sentences a process measures after training, where it has something to measure (ARDM's L_t)
    calibration_sequences: int = 512
    # where the training steps run: "cpu", "cuda" (or "cuda:N"), or "auto" (a CUDA GPU when torch sees one).
    # Checkpoints are written from the CPU and sample there, whatever trained them.
    device: str = "cpu"

    def __post_init__(self) -> None:
        _check("optimizer", self.optimizer, OPTIMIZERS)
        check_number(self.batch_size, "batch_size", 1, MAX_BATCH, integer=True)
        check_number(self.calibration_sequences, "calibration_sequences", 1, MAX_SAMPLES, integer=True)
        if self.steps is not None:
            check_number(self.steps, "steps", 1, 10**9, integer=True)
        if self.minutes is not None:
            check_number(self.minutes, "minutes", 1e-6, 7 * 24 * 60)
        for name in ("lr", "weight_decay", "grad_clip", "ema_decay", "checkpoint_every_seconds"):
            check_number(getattr(self, name), name, 0, 1e9)
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise ValueError(f"unknown device {self.device!r}; choose auto, cpu, cuda or cuda:N")


@dataclass(frozen=True)
class Preset:
    model: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    # seconds on a laptop: tests and the app's Train tab
    "tiny": Preset(model=dict(d_model=64, n_layers=2, n_heads=2, d_ff=128, num_timesteps=200, positions="rotary"),
                   train=dict(batch_size=32, warmup_steps=20, log_every=10, calibration_sequences=128)),
    # minutes on a 2-core CPU: the shipped checkpoints
    # (Muon: better checkpoints in the same training time, though each step costs more; see docs/experiments.md)
    "small": Preset(model=dict(d_model=128, n_layers=4, n_heads=4, d_ff=256, positions="rotary"),
                    train=dict(lr=3e-3, optimizer="muon")),
    # the size Diffusion-LM's ablations call small; wants a GPU
    "base": Preset(model=dict(d_model=256, n_layers=8, n_heads=8, d_ff=1024, positions="rotary"),
                   train=dict(batch_size=128)),
}


def preset(name: str, **model_overrides: Any) -> tuple[ModelConfig, TrainConfig]:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    p = PRESETS[name]
    model = dict(p.model)
    if model_overrides.get("backbone", model.get("backbone")) == "bert":
        model.pop("positions", None)  # BERT brings its own absolute positions
    return replace(ModelConfig(**model), **model_overrides), TrainConfig(**p.train)

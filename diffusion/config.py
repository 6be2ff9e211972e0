"""Dataclass configs and named presets. A ModelConfig holds every field needed to rebuild a model."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from .limits import (MAX_BATCH, MAX_LAYERS, MAX_SAMPLES, MAX_SEQ_LEN, MAX_TIMESTEPS, MAX_VOCAB, MAX_WEIGHTS,
                     MAX_WIDTH, check_number)

BACKBONES = ("lean", "bert")
SCHEDULES = ("linear", "cosine", "sqrt")
PARAMETERISATIONS = ("x0", "eps")
GRAPHS = ("absorb", "uniform")
NOISES = ("loglinear", "geometric")
LENGTH_MODELS = ("pad", "prior")
OPTIMIZERS = ("adamw", "muon")
PRECISIONS = ("fp32", "bf16")

# config.json is split in three: what every model has, the backbone's part, and the family's own part, so a
# checkpoint records only what its family uses. In memory the three read as one flat ModelConfig.
COMMON = ("family", "vocab_size", "seq_len", "level")
BACKBONE = ("backbone", "d_model", "n_layers", "n_heads", "d_ff", "dropout", "positions")
_LATENT = ("embed_dim", "num_timesteps", "schedule", "parameterisation", "time_sampling", "length_model",
           "round_unknown")
FAMILY_FIELDS: dict[str, tuple[str, ...]] = {
    "continuous": _LATENT,
    "seq2seq": (*_LATENT, "source_len"),
    "sedd": ("graph", "noise", "length_model"),
    "ardm": ("time_sampling", "length_model"),
    "ar": (),
    "classifier": (),  # the control classifier's backbone (classifier.py)
}


def _check(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(str, choices))}")


@dataclass
class ModelConfig:
    family: str = "continuous"
    vocab_size: int = 0  # set from the tokenizer when a run starts
    seq_len: int = 40
    level: Literal["word", "char"] = "word"
    # backbone
    backbone: Literal["lean", "bert"] = "lean"  # bert: transformers' BertModel, for the speed benchmark
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 512
    dropout: float = 0.0
    positions: Literal["learned", "rotary"] = "rotary"  # lean: learned absolute positions, plus rotary ones
    # continuous (Diffusion-LM) and seq2seq
    embed_dim: int = 16
    num_timesteps: int = 2000  # T of the training chain; sampling may use fewer, respaced steps
    schedule: Literal["linear", "cosine", "sqrt"] = "sqrt"
    parameterisation: Literal["x0", "eps"] = "x0"  # what the denoiser outputs: x0 directly, or the noise eps
    source_len: int = 0  # seq2seq: positions 0..source_len-1 hold the source, then [SEP], then the target
    # continuous families: [UNK] is a rounding target (a user corpus: its rare words are [UNK] in training, and a
    # held-out sentence's unseen words are [UNK] too); the built-in grammar has none, so it never rounds to one
    round_unknown: bool = False
    # how training draws t: uniformly, or 1 - (1 - u)^2, more of the noisiest levels (ardm: of the first steps);
    # default: high_noise for the continuous families, uniform for ardm
    time_sampling: Literal["uniform", "high_noise"] | None = None
    # sedd
    graph: Literal["absorb", "uniform"] = "absorb"  # the forward CTMC: to a mask token, or to any token
    noise: Literal["loglinear", "geometric"] | None = None  # sigma_bar(t); default loglinear, geometric for uniform
    # "prior" draws each sentence's length first from the training set's lengths and writes only those positions,
    # padding hidden from attention (as length-predicting models do); "pad" writes all seq_len positions, [PAD] a
    # word like any other (the papers' fixed canvas). Default: prior where the family has it, else pad.
    length_model: Literal["pad", "prior"] | None = None

    def __post_init__(self) -> None:
        _check("family", self.family, tuple(FAMILY_FIELDS))
        own = FAMILY_FIELDS[self.family]
        defaults = ModelConfig.__dataclass_fields__
        for name in (*_LATENT, "source_len", "graph", "noise"):
            if name not in own and getattr(self, name) != defaults[name].default and name not in (
                    "time_sampling", "length_model", "noise"):
                users = ", ".join(f for f, names in FAMILY_FIELDS.items() if name in names)
                raise ValueError(f"{name} applies to {users} only; this model is {self.family}")
        if self.time_sampling is None:
            self.time_sampling = "high_noise" if self.family in ("continuous", "seq2seq") else "uniform"
        if self.noise is None:
            self.noise = "geometric" if self.graph == "uniform" else "loglinear"
        has_prior = self.family in ("ardm", "continuous", "seq2seq") or (self.family == "sedd"
                                                                          and self.graph == "absorb")
        if self.length_model is None:
            self.length_model = "prior" if has_prior else "pad"
        _check("backbone", self.backbone, BACKBONES)
        _check("schedule", self.schedule, SCHEDULES)
        _check("parameterisation", self.parameterisation, PARAMETERISATIONS)
        _check("level", self.level, ("word", "char"))
        _check("time_sampling", self.time_sampling, ("uniform", "high_noise"))
        _check("positions", self.positions, ("learned", "rotary"))
        _check("graph", self.graph, GRAPHS)
        _check("noise", self.noise, NOISES)
        _check("length_model", self.length_model, LENGTH_MODELS)
        if self.length_model == "prior" and not has_prior:
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
        weights = self.vocab_size * (self.d_model + self.embed_dim) + self.n_layers * self.d_model * (
            4 * self.d_model + 2 * self.d_ff)
        if weights > MAX_WEIGHTS:
            raise ValueError(f"this config makes a model of about {weights:.2g} weights; at most {MAX_WEIGHTS:.0g} are "
                             "accepted (vocab_size, d_model, d_ff, n_layers)")
        if not 0 <= self.source_len <= self.seq_len - 2:
            raise ValueError(f"source_len must be from 0 to seq_len - 2 ({self.seq_len - 2}), got {self.source_len}")
        if self.positions == "rotary" and self.backbone != "lean":
            raise ValueError("rotary positions are built into the lean backbone only; bert brings learned ones")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """From config.json's three parts: the common fields, "backbone" and the family's own (named by family)."""
        if not isinstance(d, dict) or not isinstance(d.get("family"), str) or d["family"] not in FAMILY_FIELDS:
            raise ValueError(f"a model config needs a family, one of {', '.join(FAMILY_FIELDS)}")
        family = d["family"]
        allowed = {*COMMON, "backbone", family}
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise ValueError(f"unknown model config field(s) {', '.join(unknown)}; accepted: {', '.join(sorted(allowed))}")
        flat = {k: d[k] for k in COMMON if k in d}
        for part, names in (("backbone", BACKBONE), (family, FAMILY_FIELDS[family])):
            given = d.get(part, {})
            if not isinstance(given, dict):
                raise ValueError(f"model config part {part!r} must be a JSON object")
            extra = sorted(set(given) - set(names))
            if extra:
                raise ValueError(f"unknown {part} field(s) {', '.join(extra)}; accepted: {', '.join(names) or 'none'}")
            flat.update(given)
        return cls(**flat)

    def to_dict(self) -> dict[str, Any]:
        """What config.json holds: the common fields, the backbone's part, and the family's own part only."""
        flat = asdict(self)
        out = {k: flat[k] for k in COMMON}
        out["backbone"] = {k: flat[k] for k in BACKBONE}
        if FAMILY_FIELDS[self.family]:
            out[self.family] = {k: flat[k] for k in FAMILY_FIELDS[self.family]}
        return out


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
    # "bf16": the loss runs under bfloat16 autocast (CUDA GPUs that have it); the weights and the optimiser stay fp32
    precision: str = "fp32"

    def __post_init__(self) -> None:
        _check("optimizer", self.optimizer, OPTIMIZERS)
        _check("precision", self.precision, PRECISIONS)
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
    "tiny": Preset(model=dict(d_model=64, n_layers=2, n_heads=2, d_ff=128, num_timesteps=200),
                   train=dict(batch_size=32, warmup_steps=20, log_every=10, calibration_sequences=128)),
    # minutes on a 2-core CPU: the shipped checkpoints
    # (Muon: better checkpoints in the same training time, though each step costs more; see docs/experiments.md)
    "small": Preset(model=dict(d_model=128, n_layers=4, n_heads=4, d_ff=256),
                    train=dict(lr=3e-3, optimizer="muon")),
    # the papers' scale, for GPUs: BERT-base's transformer, as Diffusion-LM and DiffuSeq train (SEDD's GPT-2 small
    # is the same size), word vectors of 128 for the continuous families (DiffuSeq's), SEDD's optimiser settings
    "base": Preset(model=dict(d_model=768, n_layers=12, n_heads=12, d_ff=3072, dropout=0.1, embed_dim=128),
                   train=dict(batch_size=256, lr=3e-4, warmup_steps=2500, ema_decay=0.9999, log_every=100,
                              checkpoint_every_seconds=600.0)),
}


def preset(name: str, **model_overrides: Any) -> tuple[ModelConfig, TrainConfig]:
    """A preset's model and training configs; its family fields apply where the family has them."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    p = PRESETS[name]
    family = model_overrides.get("family", ModelConfig.family)
    if family not in FAMILY_FIELDS:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILY_FIELDS)}")
    model = {k: v for k, v in p.model.items() if k in BACKBONE or k in FAMILY_FIELDS[family]}
    if model_overrides.get("backbone") == "bert":
        model["positions"] = "learned"  # BERT brings its own absolute positions
    return ModelConfig(**{**model, **model_overrides}), TrainConfig(**p.train)

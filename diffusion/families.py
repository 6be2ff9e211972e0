"""The registry of families: a name maps to its model class and its process class."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .anyorder import AnyOrderProcess
from .ar import ARModel, ARProcess
from .ardm import ARDMModel, ARDMProcess
from .config import ModelConfig
from .continuous import ContinuousModel, ContinuousProcess
from .process import OrderedLikelihood, Process
from .sedd import SEDDModel, SEDDProcess
from .seq2seq import Seq2SeqModel, Seq2SeqProcess


@dataclass(frozen=True)
class Family:
    name: str
    model_cls: type
    process_cls: type
    description: str
    paired: bool = False  # trains on source/target pairs

    def build(self, config: ModelConfig) -> tuple[Any, Process]:
        return self.model_cls(config), self.process_cls(config)


FAMILIES: dict[str, Family] = {
    "continuous": Family("continuous", ContinuousModel, ContinuousProcess,
                         "Diffusion-LM: Gaussian diffusion on trainable word embeddings"),
    "seq2seq": Family("seq2seq", Seq2SeqModel, Seq2SeqProcess,
                      "DiffuSeq: Diffusion-LM on [source ; target], noising only the target", paired=True),
    "sedd": Family("sedd", SEDDModel, SEDDProcess,
                   "score entropy discrete diffusion: absorbing or uniform CTMC, Euler or Tweedie tau-leaping"),
    "ardm": Family("ardm", ARDMModel, ARDMProcess,
                   "order-agnostic autoregressive diffusion, parallel decoding planned by dynamic programming"),
    "ar": Family("ar", ARModel, ARProcess, "the left-to-right reference (causal transformer, exact likelihood)"),
}


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise ValueError(f"unknown family {name!r}; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def configure(process: Process, **settings: Any) -> Process:
    """A copy of `process` with other sampler settings. sampler="any-order" on absorbing SEDD gives its network read
    as ARDM's (`AnyOrderProcess`, which also takes `order`); another sampler on that reading gives SEDD's chain."""
    if isinstance(process, AnyOrderProcess):
        if settings.get("sampler", "any-order") != "any-order":
            return configure(process.sedd, **settings)
        return process.configure(**{k: v for k, v in settings.items() if k != "sampler"})
    if isinstance(process, SEDDProcess):
        if settings.get("sampler") == "any-order":
            order = settings.get("order") or "random"
            rest = {k: v for k, v in settings.items() if k not in ("sampler", "order")}
            if rest.get("remask"):
                raise ValueError("remask is a step of SEDD's tweedie chain; the any-order sampler writes each word "
                                 "once: set remask to 0")
            return AnyOrderProcess(process.configure(**rest) if rest else process, order)
        if settings.get("order") not in (None, "random"):
            raise ValueError(f"the order ({settings['order']}) applies to the any-order sampler; choose it "
                             "(--sampler any-order)")
        settings = {k: v for k, v in settings.items() if k != "order"}
    return process.configure(**settings)


def sampler_settings(process: Process) -> tuple[str, ...]:
    """The sampler settings `configure` accepts for this process's family (the any-order reading's with SEDD's)."""
    if isinstance(process, AnyOrderProcess):
        process = process.sedd
    names = {f.name for f in dataclasses.fields(process)} & set(SAMPLER_SETTINGS)
    if isinstance(process, SEDDProcess) and process.orders_exact:
        names.add("order")
    return tuple(n for n in SAMPLER_SETTINGS if n in names)


SAMPLER_SETTINGS = ("sampler", "clamp", "clamp_from", "noise_scale", "temperature", "order", "remask")


def ordered(process: Process) -> OrderedLikelihood | None:
    """The process as an autoregressive model in every order, when it is one: ARDM itself, absorbing SEDD through
    its any-order reading; None otherwise."""
    if isinstance(process, SEDDProcess) and process.orders_exact:
        return AnyOrderProcess(process)
    return process if isinstance(process, OrderedLikelihood) else None

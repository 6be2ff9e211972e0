"""The registry of families: a name maps to its model class and its process class."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .ar import ARModel, ARProcess
from .ardm import ARDMModel, ARDMProcess
from .config import ModelConfig
from .continuous import ContinuousModel, ContinuousProcess
from .sedd import SEDDModel, SEDDProcess
from .seq2seq import Seq2SeqModel, Seq2SeqProcess


@dataclass(frozen=True)
class Family:
    name: str
    model_cls: type
    process_cls: type
    description: str
    paired: bool = False  # trains on source/target pairs

    def build(self, config: ModelConfig) -> tuple[Any, Any]:
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

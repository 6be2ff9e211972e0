"""The index of shipped checkpoints: one entry per folder under `assets/checkpoints`, with its family and what it is.

Every registry of shipped names or paths (the app's tabs, the benchmarks) reads this one dict. An environment
variable may point a name at another folder; that choice is the app's, not this index's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "assets" / "checkpoints"


@dataclass(frozen=True)
class Shipped:
    folder: Path
    family: str
    what: str  # one line: what the checkpoint is
    variant: str = ""  # what tells it from another of its family: the graph (sedd), the prediction (continuous)


SHIPPED: dict[str, Shipped] = {
    "continuous": Shipped(ROOT / "continuous", "continuous",
                          "Diffusion-LM: Gaussian diffusion on word embeddings, predicting x0", "x0"),
    "continuous-eps": Shipped(ROOT / "continuous-eps", "continuous",
                              "the continuous recipe trained to predict the noise (--parameterisation eps)", "eps"),
    "seq2seq": Shipped(ROOT / "seq2seq", "seq2seq", "DiffuSeq: a sentence for a meaning representation"),
    "sedd-absorb": Shipped(ROOT / "sedd-absorb", "sedd", "SEDD on the absorbing graph: tokens become [MASK]",
                           "absorb"),
    "sedd-uniform": Shipped(ROOT / "sedd-uniform", "sedd", "SEDD on the uniform graph: tokens become any token",
                            "uniform"),
    "ardm": Shipped(ROOT / "ardm", "ardm", "order-agnostic ARDM: any order, planned parallel steps"),
    "ar": Shipped(ROOT / "ar", "ar", "a left-to-right transformer: the reference"),
}


# The lab on free-form English: checkpoints trained by the CLI on the shipped paired corpus (assets/corpora), kept
# apart from the tabs' built-in ones; `python -m bench realtext` scores them.
REAL_TEXT_ROOT = ROOT.parent / "realtext"
REAL_TEXT_CORPUS = ROOT.parent / "corpora" / "stays.csv"
REAL_TEXT: dict[str, Shipped] = {
    "ar": Shipped(REAL_TEXT_ROOT / "ar", "ar", "left to right, on the descriptions"),
    "ardm": Shipped(REAL_TEXT_ROOT / "ardm", "ardm", "order-agnostic ARDM, on the descriptions"),
    "sedd": Shipped(REAL_TEXT_ROOT / "sedd", "sedd", "SEDD on the absorbing graph, on the descriptions", "absorb"),
    "continuous": Shipped(REAL_TEXT_ROOT / "continuous", "continuous", "Diffusion-LM, on the descriptions", "x0"),
    "seq2seq": Shipped(REAL_TEXT_ROOT / "seq2seq", "seq2seq", "DiffuSeq: a description for an MR, byte-level BPE"),
}


def folder(name: str) -> Path:
    """The folder of the shipped checkpoint `name`; a ValueError naming the shipped ones for any other name."""
    if name not in SHIPPED:
        raise ValueError(f"no shipped checkpoint is called {name!r}; shipped: {', '.join(SHIPPED)}")
    return SHIPPED[name].folder


def names(family: str | None = None) -> list[str]:
    """The shipped checkpoints' names, in the index's order; only those of `family` when given."""
    return [name for name, entry in SHIPPED.items() if family is None or entry.family == family]

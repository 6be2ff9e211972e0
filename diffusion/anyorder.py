"""Absorbing SEDD read as an order-agnostic autoregressive model (Ou et al. 2024, "RADD"): at a masked position the
absorbing score is p(x0_i = y | x_t) / (e^sigma_bar - 1), so the network's softmax is the clean word's distribution
given the words shown, what an ARDM predicts. Asked at the time whose masking probability is the fraction still
masked, it gives an exact likelihood in any fixed order, and samples, plans and calibrates as ARDM does.

The reading depends on both families and neither on it: `AnyOrderProcess` is an ARDM process run on the SEDD
network through `AnyOrderView`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import torch
from torch import Tensor, nn

from . import schedules
from .ardm import ARDMProcess, ARDMState
from .corpus.tokenizer import MASK_ID, PAD_ID
from .discrete import length_nll
from .plan import ORDERS, fixed_order
from .sedd import SEDDModel, SEDDProcess
from .trajectory import StepOutput


class AnyOrderView(nn.Module):
    """An absorbing SEDD network seen as ARDM's: (ids with masks, fraction masked) -> logits of the clean words,
    asked at the time whose masking probability is that fraction (the reading the module's docstring explains)."""

    def __init__(self, process: SEDDProcess, model: SEDDModel):
        super().__init__()
        self.process, self.model, self.config = process, model, model.config

    def forward(self, ids: Tensor, fraction: Tensor) -> Tensor:
        t = schedules.time_of_hit(self.process.config.noise, fraction.double())
        return self.process.word_logits(self.model, ids, t).float()


@torch.no_grad()
def order_nll(process: SEDDProcess, model: SEDDModel, ids: Tensor, direction: str) -> Tensor:
    """(B,) the exact -log p(x) in nats of an absorbing network read as an autoregressive model in one fixed order
    (`SEDDProcess.order_nll`): one network call per position, each asked at the time of the fraction still masked."""
    if not process.orders_exact:
        raise ValueError("an exact NLL in a fixed order needs the absorbing graph (its scores are conditionals "
                         "of the clean words); this model's graph is uniform")
    B, D = ids.shape
    content = process.content(ids)  # (B, L)
    lengths = content.sum(1)  # (B,) every position on the [PAD] canvas
    order = fixed_order(B, D, direction, lengths if process.by_length else None)  # (B, L)
    out = torch.zeros(B, dtype=torch.float64)
    for k in range(int(lengths.max())):
        live = lengths > k  # rows whose sentence has a position k in the order
        rows, rank = ids[live], order[live]
        masked = (rank >= k) & content[live]  # (R, L) still to write, this step's position included
        t = schedules.time_of_hit(process.config.noise, masked.sum(1) / lengths[live])
        logp = process.word_logits(model, rows.masked_fill(masked, MASK_ID), t).log_softmax(-1)  # (R, L, V)
        word = logp.gather(-1, rows[..., None])[..., 0]  # (R, L)
        out[live] -= torch.where(rank == k, word, 0.0).sum(1)  # the one position step k writes
    return out + (length_nll(process.length_probs, lengths) if process.by_length else 0.0)


@dataclass(frozen=True)
class AnyOrderProcess:
    """Absorbing SEDD's network sampled as ARDM samples ("--sampler any-order"): one position a step in `order`
    (random by default, an exact draw), or planned parallel steps on the L_t measured after training; scored by the
    exact NLL of a fixed order and the planned cost of each budget."""

    sedd: SEDDProcess
    order: str = "random"
    sampler = "any-order"  # what evaluations and their meta.json keys name this sampler

    def __post_init__(self) -> None:
        if not self.sedd.orders_exact:
            raise ValueError("the any-order sampler reads the absorbing network's scores as conditionals of the "
                             "clean words; the uniform graph has none: choose euler or tweedie")
        if self.order not in ORDERS:
            raise ValueError(f"unknown order {self.order!r}; choose one of {', '.join(ORDERS)}")

    @cached_property
    def ardm(self) -> ARDMProcess:
        """ARDM's process on the SEDD model's lengths and L_t: its plan, orders and steps."""
        return ARDMProcess(replace(self.sedd.config, family="ardm"), length_probs=self.sedd.length_probs,
                           order=self.order, loss_components=self.sedd.loss_components)

    @property
    def config(self):
        return self.sedd.config

    @property
    def name(self) -> str:
        return self.sedd.name

    @property
    def nll_method(self) -> str | None:
        return self.sedd.nll_method  # the bound is the SEDD network's own

    @property
    def loss_components(self) -> tuple[float, ...] | None:
        return self.sedd.loss_components

    @property
    def default_steps(self) -> int:
        """One position a step: the model's exact distribution in the chosen order."""
        return self.config.seq_len

    def configure(self, **settings) -> AnyOrderProcess:
        """A copy with another order; anything else is the SEDD process's (`sedd.configure`)."""
        order = settings.pop("order", self.order)
        return AnyOrderProcess(self.sedd.configure(**settings) if settings else self.sedd, order)

    # training and the bound are the SEDD network's own
    def add_noise(self, x0: Tensor, t: Tensor | float, generator: torch.Generator | None = None) -> Tensor:
        return self.sedd.add_noise(x0, t, generator)

    def loss(self, model: SEDDModel, batch: Tensor, generator: torch.Generator | None = None):
        return self.sedd.loss(model, batch, generator)

    def nll_bound(self, model: SEDDModel, ids: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.sedd.nll_bound(model, ids, generator)

    # sampling: ARDM's, on the network read as ARDM's
    def prior(self, batch_size: int, length: int, generator: torch.Generator | None = None) -> ARDMState:
        return self.ardm.prior(batch_size, length, generator)

    def timesteps(self, num_steps: int) -> Tensor:
        return self.ardm.timesteps(num_steps)

    def plan(self, budget: int) -> list[int]:
        return self.ardm.plan(budget)

    def readable(self, model: SEDDModel, x: ARDMState, t: float) -> Tensor:
        return x.tokens

    def step(self, model: SEDDModel, x: ARDMState, t: float, t_next: float,
             generator: torch.Generator | None = None) -> StepOutput:
        return self.ardm.step(AnyOrderView(self.sedd, model), x, t, t_next, generator)

    # likelihoods and the plan
    def order_nll(self, model: SEDDModel, ids: Tensor, direction: str) -> Tensor:
        """(B,) the exact -log p(x) in nats in one fixed order (`order_nll` above)."""
        return order_nll(self.sedd, model, ids, direction)

    def calibrate(self, model: SEDDModel, ids: Tensor, generator: torch.Generator | None = None,
                  pad_id: int = PAD_ID) -> tuple[dict, dict]:
        """ARDM's calibration through `AnyOrderView`: the L_t the plan needs, and how they were measured."""
        return self.ardm.calibrate(AnyOrderView(self.sedd, model), ids, generator, pad_id)

    def components(self, model: SEDDModel, ids: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """(D,) L_t in nats of the network read as ARDM's (`ARDMProcess.components`)."""
        return self.ardm.components(AnyOrderView(self.sedd, model), ids, generator)

    def planned_costs(self, components: Tensor | list[float] | np.ndarray) -> np.ndarray:
        return self.ardm.planned_costs(components)

    def nll_by_budget(self, components: Tensor | list[float], tokens_per_sequence: float,
                      budgets: list[int]) -> dict[int, float]:
        """Bits per token of the any-order sampler with the DP plan, for each budget (`ARDMProcess.nll_by_budget`)."""
        return self.ardm.nll_by_budget(components, tokens_per_sequence, budgets)

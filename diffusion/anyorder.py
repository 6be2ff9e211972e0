"""Absorbing SEDD read as an order-agnostic autoregressive model (Ou et al. 2024, "RADD"): at a masked position the
absorbing score is p(x0_i = y | x_t) / (e^sigma_bar - 1), so the network's softmax is the clean word's distribution
given the words shown, what an ARDM predicts. Asked at the time whose masking probability is the fraction still
masked, it gives an exact likelihood in any fixed order, and samples, plans and calibrates as ARDM does."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from . import schedules
from .corpus.tokenizer import MASK_ID
from .discrete import length_nll
from .plan import fixed_order

if TYPE_CHECKING:
    from .sedd import SEDDModel, SEDDProcess


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

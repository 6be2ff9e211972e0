"""Order-agnostic autoregressive diffusion (OA-ARDM, Hoogeboom et al. 2022): loss, ELBO, planned sampling (the
orders and the plan itself are in plan.py).

Training: draw a step t ~ U{1..D} and an order sigma; the first t - 1 positions of sigma are shown, the
rest hold the mask id, and the network scores all of them at once. The per-sequence ELBO is
D * E_t[ (1 / (D - t + 1)) sum over masked positions of log p(x_k | x_sigma(<t)) ] (Eq. 6 of the paper).
Time for the sampler is the fraction of positions still masked: t = 1 all masked, t = 0 all written.

With `length_model="prior"` a sentence of L words is drawn as L ~ p(L) (the training set's lengths), then
OA-ARDM over its L positions only: -log p(x) = -log p(L) + the ELBO above with D replaced by L.
"""

from __future__ import annotations

import functools

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .config import ModelConfig
from .corpus.tokenizer import BOS_ID, EOS_ID, MASK_ID, PAD_ID, SEP_ID, UNK_ID
from .discrete import (NO_LENGTHS, LengthDrawnFirst, TokenModel, check_length_probs, draw_lengths, forbid,
                       length_nll, sample_categorical, stratified_uniform)
from .plan import (FIXED_ORDERS, ORDERS, check_budget, cheapest_last, confident_order, costs_by_budget, fixed_order,
                   fraction_bins, plan_budget, plans_by_groups, random_order, uniform_plan)
from .trajectory import Loss, StepOutput

NEVER_WRITTEN = (UNK_ID, MASK_ID, SEP_ID, BOS_ID, EOS_ID)  # PAD is a real symbol here: it ends the sentence


class ARDMModel(TokenModel, tags=["ardm", "order-agnostic"]):
    causal = False
    time_conditioned = True


# ---- the process ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ARDMState:
    tokens: Tensor  # (B, L) mask id where not yet written
    order: Tensor  # (B, L) rank of each position in the generation order
    pred: Tensor | None = None  # (B, L) the last step's guess and its probability, shown again by a step that
    confidence: Tensor | None = None  # writes nothing (by length, a short sentence has fewer words than steps)


@dataclass(frozen=True)
class ARDMProcess(LengthDrawnFirst):
    config: ModelConfig
    temperature: float = 1.0
    # random: the paper's sampler, which draws exactly from the model; so do left-to-right and right-to-left, one
    # fixed order each (an order-agnostic model is autoregressive in every order). confident: every masked position
    # gets a draw, and a step keeps the planned number whose draws the network gave the highest probability (MaskGIT,
    # Chang et al. 2022): an adaptive order that leaves the model's distribution for its commoner (and shorter)
    # sentences
    order: Literal["random", "left-to-right", "right-to-left", "confident"] = "random"
    loss_components: tuple[float, ...] | None = None  # L_t in nats, measured on held-out data after training
    length_probs: tuple[float, ...] | None = None  # length_model "prior": p(L) for L = 1..D, from the training set
    name: str = "ardm"
    orders_exact: ClassVar[bool] = True  # an autoregressive model in every order: `order_nll` is exact
    NLL_METHOD: ClassVar[str] = "ELBO (Eq. 6) summed over every t, one random order per sequence and t: D Monte-Carlo draws per sequence"
    NLL_METHOD_BY_LENGTH: ClassVar[str] = ("ELBO (Eq. 6) over the L words plus -log p(L) from the training lengths, "
                                           "one random order per sequence and t: L Monte-Carlo draws per sequence")

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if self.order not in ORDERS:
            raise ValueError(f"unknown order {self.order!r}; choose one of {', '.join(ORDERS)}")
        if self.loss_components is not None:
            object.__setattr__(self, "loss_components", tuple(float(v) for v in self.loss_components))
            if len(self.loss_components) != self.config.seq_len:
                raise ValueError(f"loss_components must hold {self.config.seq_len} values, got {len(self.loss_components)}")
        object.__setattr__(self, "length_probs", check_length_probs(self.length_probs, self.config.seq_len))

    @property
    def D(self) -> int:
        return self.config.seq_len

    @property
    def default_steps(self) -> int:
        return self.D

    def lengths(self, ids: Tensor) -> Tensor:
        """(B,) the number of positions each row's sentence takes: its words by length, else all D."""
        if self.by_length:
            return (ids != PAD_ID).sum(1)
        return torch.full(ids.shape[:1], ids.shape[1], device=ids.device)

    def length_nll(self, lengths: Tensor) -> Tensor:
        """(B,) -log p(L) in nats (zero on the [PAD] canvas, where the length is part of the ELBO)."""
        if not self.by_length:
            return torch.zeros(lengths.shape, dtype=torch.float64)
        return length_nll(self.length_probs, lengths)

    def plan(self, budget: int) -> list[int]:
        """How many positions each of `budget` steps writes. As many steps as positions: one a step, the model's own
        distribution, whatever the measured L_t say. Fewer: the DP plan of at most `budget` non-empty steps when
        L_t is known (by length, the grid plan of whichever budget up to this one costs least once scaled to every
        length), its empty steps last; equal groups before L_t is measured."""
        if self.loss_components is None:
            return uniform_plan(self.D, budget)
        check_budget(budget, self.D)
        if budget == self.D:
            return [1] * self.D
        if not self.by_length:
            return plan_budget(self.loss_components, budget)[0]
        raw = self._scaled_costs(np.asarray(self.loss_components, dtype=np.float64))[:budget]
        groups = cheapest_last(raw) + 1  # the grid plan of that many groups costs least once scaled
        return plans_by_groups(self.loss_components)[groups - 1][0] + [0] * (budget - groups)

    def add_noise(self, x0: Tensor, t: Tensor | float, generator: torch.Generator | None = None) -> Tensor:
        """Mask round(t L) positions chosen by a random order (by length, of the sentence's L words)."""
        B, D = x0.shape
        lengths = self.lengths(x0)  # (B,)
        t = torch.as_tensor(t, dtype=torch.float64).expand(B)
        known = lengths - (t * lengths).round().long()
        order = random_order(B, D, generator, lengths if self.by_length else None)
        return x0.masked_fill((order >= known[:, None]) & (order < lengths[:, None]), MASK_ID)

    def _masked_nll(self, model: TokenModel, ids: Tensor, known: Tensor, order: Tensor) -> tuple[Tensor, Tensor]:
        """Per-sequence sum of -log p over the masked positions, and the mask. known: (B,) shown positions."""
        lengths = self.lengths(ids)  # (B,)
        masked = order >= known[:, None]  # (B, L)
        if self.by_length:
            masked &= ids != PAD_ID  # the padding is given, never predicted
        t_in = masked.sum(1) / lengths  # fraction of the sentence still masked, the network's time
        logits = model(ids.masked_fill(masked, MASK_ID), t_in)  # (B, L, V)
        nll = F.cross_entropy(logits.flatten(0, 1).float(), ids.flatten(), reduction="none").view(ids.shape)
        return (nll * masked).sum(1), masked

    def loss(self, model: ARDMModel, batch: Tensor, generator: torch.Generator | None = None) -> Loss:
        """The OA-ARDM objective per position: the mean of (1 / (D - t + 1)) sum over masked -log p."""
        B, D = batch.shape
        lengths = self.lengths(batch)  # (B,) D on the [PAD] canvas
        u = stratified_uniform(B, generator, batch.device)  # the fraction of the sentence known
        if self.config.time_sampling == "high_noise":
            # continuous's 1 - (1 - u)^2 of the sentence masked: more of the first steps, where little is known.
            # Every term is still a proper log-loss, so the best model is the same; only the effort moves.
            u = u**2
        t = 1 + (u * lengths).long()  # t - 1 positions known, t uniform on 1..L by default
        order = random_order(B, D, generator, lengths if self.by_length else None, batch.device)
        nll, _ = self._masked_nll(model, batch, t - 1, order)
        per_position = nll / (lengths - t + 1)  # (B,) the weighting of Eq. 6, divided by L
        # rows weighted by their length: the mean is then an unbiased estimate of the NLL per position
        total = (per_position * lengths).sum() / lengths.sum()
        return Loss(total, {"total": total.item()})

    @torch.no_grad()
    def step_losses(self, model: ARDMModel, ids: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """(B, D) in nats: for each sequence and each t, (1 / (L - t + 1)) sum over the masked positions of
        -log p with t - 1 positions shown in one random order (L Monte-Carlo draws per sequence; zero for t > L)."""
        B, D = ids.shape
        lengths = self.lengths(ids)  # (B,)
        out = torch.zeros(B, D, dtype=torch.float64)
        for t in range(1, int(lengths.max()) + 1):
            live = lengths >= t  # (B,) rows whose sentence still has a step t
            rows = ids[live][:, : int(lengths[live].max())]  # cut to the longest live row: padding is hidden
            order = random_order(len(rows), rows.shape[1], generator, lengths[live] if self.by_length else None)
            nll, _ = self._masked_nll(model, rows, torch.full((len(rows),), t - 1), order)
            out[live, t - 1] = nll.double() / (lengths[live] - t + 1)
        return out

    def components(self, model: ARDMModel, ids: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """(D,) L_t in nats: the mean NLL of one position generated when t - 1 are known (by length: with a
        fraction (t - 1) / D of the sentence known)."""
        losses = self.step_losses(model, ids, generator)
        if not self.by_length:
            return losses.mean(0)
        return torch.from_numpy(fraction_bins(losses, self.lengths(ids), self.D))

    def nll_bound(self, model: ARDMModel, ids: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """(B,) the ELBO's -log p(x) in nats, summed over every t with one random order each (L draws per sequence),
        plus -log p(L) when the length is drawn first."""
        return self.step_losses(model, ids, generator).sum(1) + self.length_nll(self.lengths(ids))

    @torch.no_grad()
    def order_nll(self, model: ARDMModel, ids: Tensor, direction: str) -> Tensor:
        """(B,) the exact -log p(x) in nats of one fixed order (left-to-right or right-to-left): the model as an
        autoregressive model in that order, one network call per position (plus -log p(L) when the length is
        drawn first). The ELBO averages the same sum over random orders."""
        B, D = ids.shape
        lengths = self.lengths(ids)  # (B,)
        order = fixed_order(B, D, direction, lengths if self.by_length else None)  # (B, L)
        out = torch.zeros(B, dtype=torch.float64)
        for t in range(1, int(lengths.max()) + 1):
            live = lengths >= t  # (B,) rows whose sentence still has a step t
            n = int(lengths[live].max())
            rows, rank = ids[live][:, :n], order[live][:, :n]  # padding past the longest live row is hidden: cut
            masked = rank >= t - 1
            if self.by_length:
                masked &= rows != PAD_ID
            logits = model(rows.masked_fill(masked, MASK_ID), masked.sum(1) / lengths[live])  # (R, n, V)
            nll = F.cross_entropy(logits.flatten(0, 1).float(), rows.flatten(), reduction="none").view(rows.shape)
            out[live] += (nll * (rank == t - 1)).sum(1).double()  # the one position step t writes
        return out + self.length_nll(lengths)

    def calibrate(self, model: ARDMModel, ids: Tensor, generator: torch.Generator | None = None,
                  pad_id: int = PAD_ID) -> tuple[dict, dict]:
        """Measured after training on held-out data: the L_t the parallel plan needs (a process setting), and
        how they were measured (for meta.json)."""
        comps = self.components(model, ids, generator)
        tokens = float((ids != pad_id).sum()) / ids.shape[0]
        info = {"sequences": int(ids.shape[0]), "tokens_per_sequence": tokens,
                "monte_carlo": "one random order per sequence and t"}
        if self.by_length:
            info["length_nats_per_sequence"] = float(self.length_nll(self.lengths(ids)).mean())
        return {"loss_components": comps.tolist()}, info

    def planned_costs(self, components: Tensor | list[float] | np.ndarray) -> np.ndarray:
        """(D,) expected nats per sequence of the sampler for budgets 1..D: the DP plan of at most that many steps
        below D (so more steps never cost more there), one position a step at D (the ELBO's sum, which a merged plan
        can undercut only where the measured L_t rise). By length the plan is made on the fraction grid and scaled
        to each length, so the cost is averaged over p(L)."""
        L = np.asarray(components, dtype=np.float64)
        costs = costs_by_budget(L) if not self.by_length else self._scaled_costs(L)
        if not self.by_length:
            costs[-1] = L.sum()  # one position a step
        return np.concatenate([np.minimum.accumulate(costs[:-1]), costs[-1:]])

    def _scaled_costs(self, L: np.ndarray) -> np.ndarray:
        """(D,) by length: the expected nats of the grid's plan of j groups, j = 1..D, scaled to each length."""
        if self.length_probs is None:
            raise ValueError(NO_LENGTHS)
        return _scaled_costs(tuple(map(float, L)), tuple(self.length_probs)).copy()

    def nll_by_budget(self, components: Tensor | list[float], tokens_per_sequence: float,
                      budgets: list[int]) -> dict[int, float]:
        """Bits per token of parallel decoding with the DP plan for each budget (Sec. 4 of the paper)."""
        costs = self.planned_costs(components)
        for k in budgets:
            check_budget(k, len(costs))
        return {k: float(costs[k - 1]) / np.log(2) / tokens_per_sequence for k in budgets}

    # sampling
    def prior(self, batch_size: int, length: int, generator: torch.Generator | None = None) -> ARDMState:
        if length != self.D:
            raise ValueError(f"the ardm family generates all {self.D} positions of its length; got length {length}")
        if not self.by_length:
            return ARDMState(torch.full((batch_size, length), MASK_ID, dtype=torch.long),
                             self._first_order(batch_size, length, generator, None))
        lengths = draw_lengths(self.length_probs, batch_size, generator)  # (B,) L ~ p(L)
        tokens = torch.where(torch.arange(length) < lengths[:, None], MASK_ID, PAD_ID)  # (B, L)
        return ARDMState(tokens, self._first_order(batch_size, length, generator, lengths))

    def _first_order(self, batch_size: int, length: int, generator: torch.Generator | None,
                     lengths: Tensor | None) -> Tensor:
        """(B, L) the order a chain starts with: a fixed one, or a random one (the confident rule reorders it)."""
        if self.order in FIXED_ORDERS:
            return fixed_order(batch_size, length, self.order, lengths)
        return random_order(batch_size, length, generator, lengths)

    def row_plan(self, num_steps: int, length: int) -> list[int]:
        """How many positions each step writes in a sentence of `length` words (the plan's fractions scaled to it,
        rounded as `step` rounds them); on the [PAD] canvas every row follows plan(num_steps) over D positions."""
        if not self.by_length:
            return self.plan(num_steps)
        known = torch.round((1 - self.timesteps(num_steps)) * float(length)).long()  # (num_steps + 1,)
        return known.diff().tolist()

    def timesteps(self, num_steps: int) -> Tensor:
        """num_steps + 1 times from 1 to 0: after step j, the planned cumulative count of positions is written."""
        sizes = self.plan(num_steps)
        written = torch.tensor([0] + sizes, dtype=torch.float64).cumsum(0)
        return 1 - written / self.D

    def readable(self, model: ARDMModel, x: ARDMState | Tensor, t: float) -> Tensor:
        return x.tokens if isinstance(x, ARDMState) else x

    @torch.no_grad()
    def step(self, model: ARDMModel, x: ARDMState, t: float, t_next: float,
             generator: torch.Generator | None = None) -> StepOutput:
        """Write the planned number of positions together, each from p(x_k | written): the next ones of the random
        order, or (order="confident") the masked positions whose draws are the most probable."""
        B, D = x.tokens.shape
        lengths = self.lengths(x.tokens)  # (B,) by length, each row's own: the plan's fractions scale to it
        known = torch.round((1 - t) * lengths.double()).long()[:, None]  # (B, 1)
        known_next = torch.round((1 - t_next) * lengths.double()).long()[:, None]
        masked = x.tokens == MASK_ID  # (B, L)
        writes = (known_next > known)[:, 0]  # (B,) the rows this step writes a word in
        if x.pred is not None and not bool(writes.any()):  # no row writes a word: no network call
            return StepOutput(x=x, tokens=x.tokens, pred_tokens=x.pred, confidence=x.confidence,
                              extras={"order": x.order, "revealed": torch.zeros(B, D, dtype=torch.bool)}, calls=0)
        # The network reads only the rows that write (by length a short sentence is done early, and its plan's steps
        # fall elsewhere); on the first step every row, so that each has a guess to show.
        rows = None if x.pred is None or bool(writes.all()) else writes.nonzero()[:, 0]  # (R,); None: all rows

        def pick(v: Tensor) -> Tensor:  # the rows the network reads
            return v if rows is None else v[rows]

        def put(full: Tensor, part: Tensor) -> Tensor:  # those rows updated, the others as they were
            if rows is None:
                return part
            full = full.clone()
            full[rows] = part
            return full

        sub, sub_masked, sub_lengths = pick(x.tokens), pick(masked), pick(lengths)  # (R, L), (R, L), (R,)
        n = int(sub_lengths.max())  # padding past the longest row is hidden from attention: cut it off
        logits = model(sub[:, :n], sub_masked.sum(1) / sub_lengths)  # (R, n, V)
        if n < D:
            logits = torch.cat([logits, torch.zeros(len(sub), D - n, logits.shape[-1])], dim=1)  # (R, L, V)
        logits = forbid(logits, NEVER_WRITTEN + ((PAD_ID,) if self.by_length else ()))  # (R, L, V)
        draw = sample_categorical(logits, generator, self.temperature)  # (R, L)
        probs = logits.float().softmax(-1)
        best, guess = probs.max(-1)
        if self.order != "confident":  # the order drawn (or fixed) at the start
            sub_order = pick(x.order)
        else:  # MaskGIT's rule: rank by the probability of the word just drawn, so unlikely draws wait for more context
            sub_order = confident_order(pick(x.order), sub_masked, probs.gather(-1, draw[..., None])[..., 0],
                                        pick(known), pick(known_next))
        sub_reveal = (sub_order >= pick(known)) & (sub_order < pick(known_next))  # (R, L)
        tokens, order = put(x.tokens, torch.where(sub_reveal, draw, sub)), put(x.order, sub_order)
        reveal = put(torch.zeros(B, D, dtype=torch.bool), sub_reveal)
        # rows left out show their last guesses (x.pred is None only on the first step, which reads every row)
        pred = put(x.pred if x.pred is not None else x.tokens, torch.where(sub_masked, guess, sub))
        confidence = put(x.confidence if x.confidence is not None else torch.zeros(B, D),
                         torch.where(sub_masked, best, 1.0))
        # what a later step that writes nothing shows: the written words, sure, and these guesses elsewhere
        state = ARDMState(tokens, order, torch.where(reveal, tokens, pred), torch.where(reveal, 1.0, confidence))
        full = probs if rows is None else put(probs.new_zeros(B, D, probs.shape[-1]), probs)  # (B, L, V)
        fresh = put(torch.zeros(B, D, dtype=torch.bool), sub_masked)  # the positions the network read a word for
        return StepOutput(x=state, tokens=tokens, pred_tokens=pred, confidence=confidence,
                          extras={"order": order, "revealed": reveal}, probs=full, fresh=fresh)


@functools.lru_cache(maxsize=16)
def _scaled_costs(L: tuple[float, ...], length_probs: tuple[float, ...]) -> np.ndarray:
    """(D,) the expected nats of the grid's cheapest plan of exactly j groups (j = 1..D) scaled to every length n,
    under p(n) = length_probs, plus the expected -log p(n); cached, as every sampling run of a model plans with it."""
    D, comps, p = len(L), np.asarray(L), np.asarray(length_probs)
    costs = np.zeros(D)
    for k, (sizes_k, _) in enumerate(plans_by_groups(comps), start=1):
        written = np.concatenate([[0], np.cumsum(sizes_k)]) / D  # fractions after each step
        for n in range(1, D + 1):
            known = np.round(written * n).astype(int)  # positions written after each step, for n words
            sizes, start = np.diff(known), known[:-1]
            bins = np.minimum(start * D // n, D - 1)  # a finished row's empty steps read the last bin
            costs[k - 1] += p[n - 1] * float((sizes * comps[bins]).sum())
    return costs - float((p[p > 0] * np.log(p[p > 0])).sum())  # plus the expected -log p(L)

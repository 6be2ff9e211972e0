"""Score entropy discrete diffusion (SEDD, Lou, Meng & Ermon 2024).

Each token runs a continuous-time Markov chain with rates sigma(t) Q (graphs.py), so x_t ~ exp(sigma_bar(t) Q)
row by row. The network outputs log concrete scores log s(x_t)_i,y ~ log p_t(x with y at i) / p_t(x_t); the
loss is the diffusion-weighted denoising score entropy (DWDSE, Eq. 10), an upper bound on -log p(x_0).
Reverse updates: Euler on the reverse rates Q(y, x) s_y, or Tweedie tau-leaping (Thm 4.2), and a last
denoising step to t = 0 that leaves no mask.

On the absorbing graph a step factorises: whether a masked position is unmasked between t and s depends on the
schedule alone, and only which word it becomes needs the network. So a step draws the unmasking first and runs the
network on the rows that unmask something; with more steps than words most steps unmask nothing and cost no
network call (MDLM's caching, Sahoo et al. 2024). The law of the samples is the same.

With `remask` = eta > 0 (absorbing graph, ReMDM-cap of Wang et al. 2025) a step may also mask again a word written
before, with probability min(eta, (1 - alpha_s) / alpha_t), and unmasks masked positions a little more often to
keep the share of written tokens at alpha_s: words written early, with little context, get rewritten with more.

With `length_model="prior"` (absorbing graph) a sentence of L words is drawn as L ~ p(L) (the training set's
lengths), and the chain runs on its L positions only: the padding is never noised and hidden from attention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar, Literal

import torch
from torch import Tensor

from . import schedules
from .config import ModelConfig
from .corpus.tokenizer import BOS_ID, EOS_ID, MASK_ID, PAD_ID, SEP_ID, UNK_ID
from .discrete import (LengthDrawnFirst, TokenModel, check_length_probs, draw_lengths, length_nll, sample_weights,
                       stratified_uniform)
from .graphs import get_graph, score_entropy
from .trajectory import Loss, StepOutput

NEVER_WRITTEN = (UNK_ID, MASK_ID, SEP_ID, BOS_ID, EOS_ID)  # a finished sample holds words and padding only
NOT_IN_DATA = (MASK_ID, SEP_ID, BOS_ID, EOS_ID)  # [UNK] may occur in held-out text, so it keeps a score
SAMPLERS = ("euler", "tweedie")  # steps of the reverse chain; anyorder.py reads an absorbing network as ARDM's
TRAIN_EPS = 1e-3  # training times t ~ U(eps, 1): at t -> 0 the absorbing ratio 1 / (e^sigma_bar - 1) blows up
SAMPLE_EPS = 1e-5  # the predictor steps stop here; the denoising step goes on to 0


class SEDDModel(TokenModel, tags=["sedd", "discrete-diffusion"]):
    causal = False
    time_conditioned = True


def tweedie_probs(graph, score: Tensor, x: Tensor, dsigma: Tensor | float) -> Tensor:
    """p(x_s = y | x_t) per position (Thm 4.2): [exp(-dsigma Q)^T s]_y * exp(dsigma Q)[y, x_t], unnormalised
    (>= 0 after clipping the approximation's small negatives). score: (B, L, V) ratios with 1 at x_t."""
    return (graph.staggered_score(score, dsigma) * graph.transition_into(x, dsigma)).clamp(min=0)


def unmask_probability(sigma_t: float, sigma_s: float, rate_dt: float, sampler: str) -> float:
    """The chance a masked position of the absorbing chain is unmasked by a step from sigma_bar = sigma_t to sigma_s:
    with the true score, p(x0 = y | x_t) / (e^sigma_t - 1) at y, Tweedie moves (e^(sigma_t - sigma_s) - 1) /
    (e^sigma_t - 1) of the mass and Euler rate_dt / (e^sigma_t - 1) (capped at 1), whatever p is (`tweedie_probs`,
    `euler_probs`). With the log-linear schedule both are (t - s) / t."""
    move = math.expm1(sigma_t - sigma_s) if sampler == "tweedie" else rate_dt
    return min(1.0, move / math.expm1(sigma_t))


def remask_probabilities(alpha_t: float, alpha_s: float, eta: float) -> tuple[float, float]:
    """ReMDM-cap's step from t to s < t (Wang et al. 2025, Eq. 7 with sigma_t = min(eta, (1 - alpha_s) / alpha_t)),
    where alpha is the chance a token is written (e^-sigma_bar): (unmask, remask), the chances that a masked position
    is written and that a written one is masked again. P(written at s) = alpha_t (1 - remask) + (1 - alpha_t) unmask
    = alpha_s, as without remasking; eta = 0 is the usual step, (alpha_s - alpha_t) / (1 - alpha_t)."""
    remask = min(eta, (1 - alpha_s) / alpha_t, 1.0)
    unmask = (alpha_s - (1 - remask) * alpha_t) / (1 - alpha_t)
    return min(max(unmask, 0.0), 1.0), remask


def euler_probs(graph, score: Tensor, x: Tensor, rate_dt: Tensor | float) -> Tensor:
    """p(x_s = y | x_t) of one Euler step: dt sigma(t) Q(y, x_t) s_y to move, the rest to stay."""
    move = graph.rates_into(x) * score * torch.as_tensor(rate_dt, dtype=score.dtype).view(-1, 1, 1)
    stay = (1 - move.sum(-1, keepdim=True)).clamp(min=0)
    return move.scatter(-1, x[..., None], stay)


@dataclass(frozen=True)
class SEDDState:
    """The absorbing chain's state: the tokens, and the guesses a step that writes nothing shows again."""

    tokens: Tensor  # (B, L) mask id where not yet written
    pred: Tensor  # (B, L) the last network call's guess at each masked position (remasked: the word it held);
    # the word where written
    confidence: Tensor  # (B, L) its probability; 1 where written


@dataclass(frozen=True)
class SEDDProcess(LengthDrawnFirst):
    config: ModelConfig
    sampler: Literal["euler", "tweedie"] = "tweedie"
    remask: float = 0.0  # ReMDM-cap's eta (absorbing graph, tweedie): 0 never masks a written word again
    length_probs: tuple[float, ...] | None = None  # length_model "prior": p(L) for L = 1..D, from the training set
    # absorbing: L_t of the network read as ARDM's (anyorder.py), measured on held-out data after training: what the
    # any-order sampler plans fewer steps than positions with. Data only: this process never reads it.
    loss_components: tuple[float, ...] | None = None
    name: str = "sedd"
    NLL_METHOD: ClassVar[str] = "DWDSE bound: 32 stratified times per sequence, one x_t each, plus the prior term"
    NLL_METHOD_BY_LENGTH: ClassVar[str] = ("DWDSE bound over the L words: 32 stratified times per sequence, one x_t "
                                           "each, plus the prior term and -log p(L) from the training lengths")

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r} for sedd; choose one of {', '.join(SAMPLERS)}")
        if isinstance(self.remask, bool) or not isinstance(self.remask, (int, float)) or not 0 <= self.remask <= 1:
            raise ValueError(f"remask must be a number from 0 to 1 (ReMDM's eta; 0 = off), got {self.remask!r}")
        if self.remask and self.config.graph != "absorb":
            raise ValueError("remask applies to the absorbing graph only (the uniform graph rewrites any token "
                             "already); set it to 0")
        if self.remask and self.sampler != "tweedie":
            raise ValueError("remask follows the exact posterior of the absorbing chain, as the tweedie sampler "
                             "does; use the tweedie sampler or set remask to 0")
        object.__setattr__(self, "length_probs", check_length_probs(self.length_probs, self.config.seq_len))
        get_graph(self.config.graph, self.config.vocab_size, MASK_ID)  # an unknown graph fails here, at construction
        schedules.total_noise(self.config.noise, 0.5)  # an unknown name fails here, at construction
        if self.loss_components is not None and not self.orders_exact:
            raise ValueError("loss_components plan the any-order sampler of an absorbing model; this one is uniform")

    @cached_property
    def graph(self):
        """The forward chain's rate matrix Q (graphs.py), built once per process."""
        return get_graph(self.config.graph, self.config.vocab_size, MASK_ID)

    @property
    def orders_exact(self) -> bool:
        """Whether the network is also an autoregressive model in any order, with an exact NLL (anyorder.py)."""
        return self.config.graph == "absorb"

    @property
    def default_steps(self) -> int:
        """Absorbing: 1024 steps, so that two words of a sentence seldom share one (the exact limit is one word at a
        time); the steps that unmask nothing call no network, so it costs about a sentence's length in calls.
        Uniform: 64, every step a network call."""
        return 1024 if self.config.graph == "absorb" else 64

    def content(self, ids: Tensor) -> Tensor:
        """(B, L) bool: the positions the chain runs on (by length the words; else every position)."""
        return ids != PAD_ID if self.by_length else torch.ones(ids.shape, dtype=torch.bool, device=ids.device)

    def noise(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        return schedules.total_noise(self.config.noise, t)

    # the network's scores
    def word_logits(self, model: SEDDModel, x: Tensor, t: Tensor) -> Tensor:
        """(B, L, V) the network's output on the positions the longest row needs (padding past it: zeros)."""
        B, D = x.shape
        n = int(self.content(x).sum(1).max()) if self.by_length else D  # padding past the longest row: cut off
        logits = model(x[:, :n], t.float()).double()  # (B, n, V)
        if n < D:  # padding never moves, so its scores are unused
            logits = torch.cat([logits, logits.new_zeros(B, D - n, logits.shape[-1])], dim=1)  # (B, L, V)
        if self.config.graph == "absorb":
            logits[..., list(NOT_IN_DATA)] = -torch.inf
        return logits

    def log_score(self, model: SEDDModel, x: Tensor, t: Tensor) -> Tensor:
        """(B, L, V) log concrete scores, 0 at the current token.

        Absorbing: at a masked position the true score is p(x0_i = y | x_t) / (e^sigma_bar - 1), so the network
        gives a distribution over words (log-softmax) and the known factor is added (SEDD's scale-by-sigma).
        Unmasked positions never move, so their scores are unused. Uniform: the output is the log score."""
        logits = self.word_logits(model, x, t)
        if self.config.graph == "absorb":
            sigma_bar, _ = self.noise(t)
            logits = logits.log_softmax(-1) - torch.log(torch.expm1(sigma_bar)).view(-1, 1, 1)
        return logits.scatter(-1, x[..., None], 0.0)

    # forward
    def add_noise(self, x0: Tensor, t: Tensor | float, generator: torch.Generator | None = None) -> Tensor:
        """A draw of x_t ~ exp(sigma_bar(t) Q)[x0, :], token by token: a token is hit with probability
        1 - e^-sigma_bar and then becomes the mask (absorbing) or a uniform token. The same generator seed
        gives the same hits at every t, so sliding t forward only ever hits more tokens."""
        t = torch.as_tensor(t, dtype=torch.float64).expand(x0.shape[0])
        sigma_bar, _ = self.noise(t)
        u = torch.rand(x0.shape, generator=generator, dtype=torch.float64)
        replacement = self.graph.prior_sample(x0.shape, generator)
        hit = u < -torch.expm1(-sigma_bar).view(-1, *([1] * (x0.dim() - 1)))
        return torch.where(hit & self.content(x0), replacement, x0)

    def _dwdse(self, model: SEDDModel, x0: Tensor, t: Tensor, generator: torch.Generator | None) -> Tensor:
        """(B,) sigma(t) * sum over positions of the denoising score entropy at x_t ~ p_t(. | x0)."""
        sigma_bar, sigma = self.noise(t)
        p_t = self.graph.transition(x0, sigma_bar)  # (B, L, V)
        content = self.content(x0)  # (B, L)
        xt = torch.where(content, sample_weights(p_t, generator), x0)  # by length the padding is given
        ratio = p_t / p_t.gather(-1, xt[..., None])  # p_t(y | x0) / p_t(x_t | x0)
        ent = score_entropy(self.log_score(model, xt, t), xt, ratio, self.graph.rates_into(xt))  # (B, L)
        return sigma * ent.where(content, 0.0).sum(1)

    def loss(self, model: SEDDModel, batch: Tensor, generator: torch.Generator | None = None) -> Loss:
        """DWDSE per position: E_t[sigma(t) sum_i score entropy] / L, t ~ U(eps, 1)."""
        B, L = batch.shape
        t = TRAIN_EPS + (1 - TRAIN_EPS) * stratified_uniform(B, generator, batch.device)
        per_seq = self._dwdse(model, batch, t, generator)
        total = (per_seq.sum() / self.content(batch).sum()).float()  # per position of the chain
        return Loss(total, {"total": total.item()})

    @torch.no_grad()
    def nll_bound(self, model: SEDDModel, ids: Tensor, generator: torch.Generator | None = None,
                  num_levels: int = 32) -> Tensor:
        """(B,) upper bound on -log p(x0) in nats: the DWDSE integral over t in (0, 1) on `num_levels` stratified
        times per sequence, plus the prior term KL(p_1(. | x0) || base) per position."""
        B, L = ids.shape
        total = torch.zeros(B, dtype=torch.float64)
        for k in range(num_levels):
            t = (k + torch.rand(B, generator=generator, dtype=torch.float64)) / num_levels
            total += self._dwdse(model, ids, t.clamp(min=1e-6), generator) / num_levels
        sigma_end, _ = self.noise(torch.ones(()))
        p1 = self.graph.transition(ids, sigma_end)  # (B, L, V)
        base = self.graph.prior_probs(float(sigma_end))
        kl = (torch.xlogy(p1, p1) - p1 * torch.log(base)).sum(-1).where(self.content(ids), 0.0).sum(1)
        if self.by_length:
            return total + kl + length_nll(self.length_probs, self.content(ids).sum(1))
        return total + kl

    # reverse
    def prior(self, batch_size: int, length: int, generator: torch.Generator | None = None) -> SEDDState | Tensor:
        """All masked (absorbing; by length, the first L ~ p(L) positions, padding after) or uniform tokens."""
        if self.by_length and length != self.config.seq_len:
            raise ValueError(f"this sedd model draws each sentence's length; it takes the model's length "
                             f"{self.config.seq_len}, got {length}")
        if self.by_length:
            lengths = draw_lengths(self.length_probs, batch_size, generator)  # (B,) L ~ p(L)
            x = torch.where(torch.arange(length) < lengths[:, None], MASK_ID, PAD_ID)  # (B, L)
        else:
            x = self.graph.prior_sample((batch_size, length), generator)
        if self.config.graph != "absorb":
            return x
        return SEDDState(x, x.clone(), torch.zeros(x.shape))

    def timesteps(self, num_steps: int) -> Tensor:
        """num_steps + 1 times: num_steps - 1 predictor steps from 1 to eps, then the denoising step to 0."""
        if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps <= 0:
            raise ValueError(f"steps must be a positive integer, got {num_steps!r}")
        ts = torch.linspace(1, SAMPLE_EPS, num_steps, dtype=torch.float64)
        return torch.cat([ts, torch.zeros(1, dtype=torch.float64)])

    def readable(self, model: SEDDModel, x: SEDDState | Tensor, t: float) -> Tensor:
        return x.tokens if isinstance(x, SEDDState) else x

    @torch.no_grad()
    def step(self, model: SEDDModel, x: SEDDState | Tensor, t: float, t_next: float,
             generator: torch.Generator | None = None) -> StepOutput:
        """One reverse update; at t_next = 0 the denoising step (Tweedie to time 0 with the mask forbidden)."""
        if isinstance(x, SEDDState):
            return self._absorbing_step(model, x, t, t_next, generator)
        B = x.shape[0]
        tt = torch.full((B,), t, dtype=torch.float64)
        sigma_t, rate_t = self.noise(tt)
        score = self.log_score(model, x, tt).exp()  # (B, L, V)
        # What the scores say about x0: the Tweedie step all the way to t = 0 (the confidence shown).
        x0_probs = tweedie_probs(self.graph, score, x, sigma_t)
        x0_probs[..., list(NEVER_WRITTEN)] = 0
        x0_probs = x0_probs / x0_probs.sum(-1, keepdim=True).clamp(min=1e-300)
        best, pred = x0_probs.max(-1)
        if t_next <= 0:
            new = sample_weights(x0_probs, generator)
        else:
            if self.sampler == "tweedie":
                sigma_s, _ = self.noise(torch.full((B,), t_next, dtype=torch.float64))
                probs = tweedie_probs(self.graph, score, x, sigma_t - sigma_s)
            else:
                probs = euler_probs(self.graph, score, x, (t - t_next) * rate_t)
            new = sample_weights(probs, generator)
        # Shade a written token by the probability the model gave it; a position at the mask id (the uniform prior
        # draws it too) by its best guess.
        undecided = new == MASK_ID
        pred = torch.where(undecided, pred, new)
        confidence = torch.where(undecided, best, x0_probs.gather(-1, new[..., None])[..., 0])
        return StepOutput(x=new, tokens=new, pred_tokens=pred, confidence=confidence.float(), extras={},
                          probs=x0_probs)

    def _absorbing_step(self, model: SEDDModel, x: SEDDState, t: float, t_next: float,
                        generator: torch.Generator | None) -> StepOutput:
        """The absorbing step, factorised: draw which masked positions are unmasked (`unmask_probability`; all of them
        at the denoising step), then, for the rows where any is, their words from p(x0_i | x_t), the network's
        distribution over words with the tokens a sample never holds removed. With `remask`, written words are
        masked again by `remask_probabilities` (never at the denoising step). A row that unmasks nothing keeps its
        words unless some are masked again; a step where no row unmasks calls no network."""
        B, D = x.tokens.shape
        masked = x.tokens == MASK_ID  # (B, L)
        remask = None
        if t_next <= 0:
            unmask = masked
        else:
            (sigma_t, rate_t), (sigma_s, _) = self.noise(float(t)), self.noise(float(t_next))  # floats: no tensor ops
            u = torch.rand(B, D, generator=generator, dtype=torch.float64)  # (B, L) one draw decides either move
            if self.remask:
                p, q = remask_probabilities(math.exp(-sigma_t), math.exp(-sigma_s), self.remask)
                remask = ~masked & self.content(x.tokens) & (u < q)  # (B, L) written words masked again
                remask = remask if bool(remask.any()) else None
            else:
                p = unmask_probability(sigma_t, sigma_s, (t - t_next) * rate_t, self.sampler)
            unmask = masked & (u < p)  # (B, L)
        if not bool(unmask.any()) and remask is None:  # nothing changes (most steps, with many more steps than
            # words): no network call
            return StepOutput(x=x, tokens=x.tokens, pred_tokens=x.pred, confidence=x.confidence, extras={}, calls=0)
        tokens, pred, confidence = x.tokens.clone(), x.pred.clone(), x.confidence.clone()
        calls, probs, fresh = 0, None, None
        if bool(unmask.any()):
            rows = unmask.any(1).nonzero()[:, 0]  # (R,) the rows whose words need the network
            logits = self.word_logits(model, x.tokens[rows], torch.full((len(rows),), t, dtype=torch.float64))
            words = logits.softmax(-1)  # (R, L, V) p(x0_i = y | x_t) at the masked positions
            words[..., list(NEVER_WRITTEN)] = 0
            if self.by_length:
                words[..., PAD_ID] = 0  # a masked position is a word; padding stays padding
            words = words / words.sum(-1, keepdim=True).clamp(min=1e-300)
            best, guess = words.max(-1)  # (R, L)
            draw = sample_weights(words, generator)  # (R, L)
            now = unmask[rows]  # (R, L)
            tokens[rows] = torch.where(now, draw, x.tokens[rows])
            pred[rows] = torch.where(masked[rows], torch.where(now, draw, guess), x.tokens[rows])
            # a word written at this step is shaded by the probability it was drawn with, a masked position by its
            # best guess's; what a later step that writes nothing shows: the written words sure, the guesses
            # elsewhere
            confidence[rows] = torch.where(now, words.gather(-1, draw[..., None])[..., 0], best).float()
            calls = 1
            probs, fresh = _rows_only(words, rows, B), torch.zeros(B, D, dtype=torch.bool)
            fresh[rows] = masked[rows]
        confidence[~masked] = 1.0
        if remask is not None:  # masked again: the word it held stays its guess (pred holds it already), unsure
            tokens[remask] = MASK_ID
            confidence[remask] = 0.0
        still = tokens == MASK_ID
        state = SEDDState(tokens, pred, torch.where(still, confidence, 1.0))
        return StepOutput(x=state, tokens=tokens, pred_tokens=pred, confidence=confidence, extras={}, calls=calls,
                          probs=probs, fresh=fresh)


def _rows_only(part: Tensor, rows: Tensor, batch: int) -> Tensor:
    """(batch, L, V) from the (R, L, V) distributions of `rows`; the other rows zero (a step's `fresh` leaves them)."""
    if len(rows) == batch:
        return part
    full = part.new_zeros(batch, *part.shape[1:])
    full[rows] = part
    return full

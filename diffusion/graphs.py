"""SEDD's transition structures (Lou et al. 2024, Sec. 3.3): the rate matrix Q of one token, in closed form.

Q[x, y] is the rate of jumping from x to y (rows sum to zero), so a token's law is p_t = p_0 exp(sigma_bar Q).
Everything is per token (the O(N d) locality of the paper): a sequence is L independent chains.
Vectors over the vocabulary sit in the last dimension; `x` is a tensor of ids of any shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


def _col(v: Tensor | float, like: Tensor) -> Tensor:
    """A per-row noise level broadcast against (..., V) tensors."""
    v = torch.as_tensor(v, dtype=like.dtype)
    return v.view(*v.shape, *([1] * (like.dim() - v.dim()))) if v.dim() else v


@dataclass(frozen=True)
class Absorbing:
    """Every token jumps to the mask token at rate 1; the mask token stays: Q = -I + 1 e_mask^T (mask row 0)."""

    vocab_size: int
    mask_id: int
    name: str = "absorb"

    def rate_matrix(self) -> Tensor:
        Q = -torch.eye(self.vocab_size, dtype=torch.float64)
        Q[:, self.mask_id] += 1
        Q[self.mask_id] = 0
        return Q

    def transition(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        """(..., V) rows exp(sigma Q)[x, :]: stay with e^-sigma, else the mask token."""
        out = F.one_hot(x, self.vocab_size).double()
        stay = torch.exp(-_col(sigma, x.double())).expand(x.shape)
        out = out * stay[..., None]
        out[..., self.mask_id] += 1 - stay
        return out

    def transition_into(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        """(..., V) columns exp(sigma Q)[:, x]: the probability of reaching x from each y."""
        stay = torch.exp(-_col(sigma, x.double())).expand(x.shape)[..., None]  # (..., 1)
        masked = (x == self.mask_id)[..., None]  # (..., 1)
        # a word is reached only from itself (it stays); the mask from every y (it was hit) and from itself (1).
        # One where, no boolean indexing: this runs twice per sampling step.
        out = torch.where(masked, 1 - stay, F.one_hot(x, self.vocab_size).double() * stay)
        out[..., self.mask_id] = masked[..., 0].double()
        return out

    def rates_into(self, x: Tensor) -> Tensor:
        """(..., V) Q[y, x] for y != x: the rates at which other states feed x (what DWDSE weighs), 0 at y = x."""
        out = torch.zeros(*x.shape, self.vocab_size, dtype=torch.float64, device=x.device)
        out[x == self.mask_id] = 1.0
        out[..., self.mask_id] = 0.0
        return out

    def staggered_score(self, score: Tensor, dsigma: Tensor | float) -> Tensor:
        """exp(-dsigma Q)^T s (Thm 4.2 of the paper), s the (..., V) ratios with 1 at the current token."""
        e = torch.exp(_col(dsigma, score))
        out = score * e
        out[..., self.mask_id] += ((1 - e) * score.sum(-1, keepdim=True))[..., 0]
        return out

    def prior_sample(self, shape: tuple[int, ...], generator: torch.Generator | None = None) -> Tensor:
        return torch.full(shape, self.mask_id, dtype=torch.long)

    def prior_probs(self, sigma_end: float) -> Tensor:
        """(V,) the base law the likelihood bound compares p_1 with: all mass on the mask token but the
        e^-sigma_end a token keeps at t = 1, spread evenly (a point mass would make the KL infinite)."""
        keep = torch.exp(-torch.as_tensor(sigma_end, dtype=torch.float64))
        out = torch.full((self.vocab_size,), float(keep) / (self.vocab_size - 1), dtype=torch.float64)
        out[self.mask_id] = 1 - keep
        return out


@dataclass(frozen=True)
class Uniform:
    """Every token jumps to each token at rate 1/V: Q = (1/V) 1 1^T - I."""

    vocab_size: int
    mask_id: int  # unused by the chain; kept so both graphs build from the same arguments
    name: str = "uniform"

    def rate_matrix(self) -> Tensor:
        V = self.vocab_size
        return torch.full((V, V), 1.0 / V, dtype=torch.float64) - torch.eye(V, dtype=torch.float64)

    def transition(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        """(..., V) rows: e^-sigma on x plus (1 - e^-sigma) / V everywhere."""
        stay = torch.exp(-_col(sigma, x.double())).expand(x.shape)[..., None]
        return stay * F.one_hot(x, self.vocab_size).double() + (1 - stay) / self.vocab_size

    def transition_into(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        return self.transition(x, sigma)  # Q is symmetric

    def rates_into(self, x: Tensor) -> Tensor:
        out = torch.full((*x.shape, self.vocab_size), 1.0 / self.vocab_size, dtype=torch.float64, device=x.device)
        return out.scatter(-1, x[..., None], 0.0)

    def staggered_score(self, score: Tensor, dsigma: Tensor | float) -> Tensor:
        """exp(-dsigma Q)^T s = e^dsigma s + (1 - e^dsigma) / V * sum(s)."""
        e = torch.exp(_col(dsigma, score))
        return e * score + (1 - e) / self.vocab_size * score.sum(-1, keepdim=True)

    def prior_sample(self, shape: tuple[int, ...], generator: torch.Generator | None = None) -> Tensor:
        return torch.randint(0, self.vocab_size, shape, generator=generator)

    def prior_probs(self, sigma_end: float) -> Tensor:
        return torch.full((self.vocab_size,), 1.0 / self.vocab_size, dtype=torch.float64)


GRAPHS = {"absorb": Absorbing, "uniform": Uniform}


def get_graph(name: str, vocab_size: int, mask_id: int) -> Absorbing | Uniform:
    if name not in GRAPHS:
        raise ValueError(f"unknown graph {name!r}; choose one of {', '.join(GRAPHS)}")
    return GRAPHS[name](vocab_size, mask_id)


def score_entropy(log_score: Tensor, x: Tensor, ratio: Tensor, weight: Tensor) -> Tensor:
    """Denoising score entropy per position (Eq. 9 of Lou et al. 2024), >= 0 and 0 at the true ratios:

    sum_y w_y [ s_y - r_y log s_y + r_y (log r_y - 1) ],  s = exp(log_score), over y != x (weight 0 at y = x).
    log_score, ratio, weight: (..., V); x: (...,). The constant makes each term a Bregman divergence."""
    s = log_score.exp()
    const = torch.xlogy(ratio, ratio) - ratio  # r log r - r, 0 at r = 0
    # r log s with r = 0 is 0 even where a state is ruled out (log s = -inf)
    neg = torch.where(ratio > 0, ratio * log_score, torch.zeros_like(log_score))
    terms = s - neg + const
    terms = torch.where(weight > 0, terms, torch.zeros_like(terms))  # y = x and unreachable y carry no weight
    return (weight * terms).sum(-1)

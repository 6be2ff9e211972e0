"""How ARDM writes a sentence: the orders positions are written in, and the dynamic programme (Sec. 4 of
Hoogeboom et al. 2022) that groups consecutive positions of an order into parallel steps for a budget."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

# random: the paper's sampler. left-to-right / right-to-left: one fixed order, which an order-agnostic model
# also draws exactly from (it is one of the orders it was trained on). confident: MaskGIT's rule (see ARDMProcess)
ORDERS = ("random", "left-to-right", "right-to-left", "confident")
FIXED_ORDERS = ("left-to-right", "right-to-left")


# ---- the dynamic programme (Sec. 4 of Hoogeboom et al. 2022) ----------------------------------------------------

def check_budget(budget: object, D: int) -> None:
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or not 1 <= budget <= D:
        raise ValueError(f"budget must be an integer between 1 and the length {D}, got {budget!r}")


def _dynamic_programme(L: np.ndarray, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """best[j, t]: least cost of the first t generation steps in j groups; arg[j, t]: where the last group starts.
    A group that starts after s known positions and ends after t costs (t - s) L_{s+1}."""
    D = len(L)
    best = np.full((budget + 1, D + 1), np.inf)
    arg = np.zeros((budget + 1, D + 1), dtype=np.int64)
    best[0, 0] = 0.0
    s = np.arange(D)
    for j in range(1, budget + 1):
        for t in range(j, D + 1):
            cand = best[j - 1, :t] + (t - s[:t]) * L[:t]
            arg[j, t] = int(np.argmin(cand))
            best[j, t] = cand[arg[j, t]]
    return best, arg


def _backtrack(arg: np.ndarray, groups: int, D: int) -> list[int]:
    sizes, t = [], D
    for j in range(groups, 0, -1):
        start = int(arg[j, t])
        sizes.append(t - start)
        t = start
    return sizes[::-1]


def plans_by_groups(components: list[float] | np.ndarray) -> list[tuple[list[int], float]]:
    """For j = 1..D non-empty groups, the cheapest plan of exactly j groups and its cost: one run of the programme."""
    L = np.asarray(components, dtype=np.float64)
    best, arg = _dynamic_programme(L, len(L))
    return [(_backtrack(arg, j, len(L)), float(best[j, len(L)])) for j in range(1, len(L) + 1)]


def plan_budget(components: list[float] | np.ndarray, budget: int) -> tuple[list[int], float]:
    """Split the D generation steps into at most `budget` groups generated together, minimising the expected NLL.

    components[t - 1] = L_t, the expected NLL of one position generated when t - 1 are known. Generating
    steps s..t-1 at once costs (t - s) L_s. As the authors' programme, a plan may leave steps empty: where the
    measured L_t rises, writing two positions at once is cheaper, so more steps never cost more. Of the cheapest
    plans the one with the most non-empty steps is taken; its empty steps come last. Returns (the `budget` group
    sizes in order, total cost)."""
    L = np.asarray(components, dtype=np.float64)
    check_budget(budget, len(L))
    best, arg = _dynamic_programme(L, int(budget))
    exact = best[1:, len(L)]  # (budget,) least cost with exactly j groups
    groups = 1 + cheapest_last(exact)
    return _backtrack(arg, groups, len(L)) + [0] * (int(budget) - groups), float(exact[groups - 1])


def cheapest_last(costs: np.ndarray) -> int:
    """The index of the least cost, the last of those within rounding of it (more steps where they cost nothing)."""
    low = float(np.min(costs))
    return max(j for j in range(len(costs)) if costs[j] <= low + 1e-12 * max(1.0, abs(low)))


def costs_by_budget(components: list[float] | np.ndarray) -> np.ndarray:
    """(D,) the planned cost for every budget 1..D (at most that many steps), from one run of the programme."""
    L = np.asarray(components, dtype=np.float64)
    best, _ = _dynamic_programme(L, len(L))
    return np.minimum.accumulate(best[1:, len(L)])


def uniform_plan(D: int, budget: int) -> list[int]:
    """Group sizes as equal as possible (the plan before any loss components are measured)."""
    check_budget(budget, D)
    return [D // budget + (1 if j < D % budget else 0) for j in range(budget)]


def fraction_bins(step_losses: Tensor, lengths: Tensor, D: int) -> np.ndarray:
    """(D,) L_t on a grid of the fraction known: from (B, D) per-step losses of rows of `lengths` words (step t of a
    row of length L falls in bin floor((t - 1) D / L)); empty bins are interpolated from their neighbours."""
    t = torch.arange(D)[None].expand(len(lengths), D)  # (B, D) t - 1
    valid = t < lengths[:, None]
    bins = (t * D // lengths.clamp(min=1)[:, None])[valid]
    sums = torch.bincount(bins, weights=step_losses[valid].double(), minlength=D)
    counts = torch.bincount(bins, minlength=D).double()
    filled = (counts > 0).numpy()
    mean = (sums / counts.clamp(min=1)).numpy()
    grid = np.arange(D)
    return np.interp(grid, grid[filled], mean[filled])


# ---- the orders --------------------------------------------------------------------------------------------------

def random_order(batch_size: int, length: int, generator: torch.Generator | None = None,
                 lengths: Tensor | None = None, device: torch.device | None = None) -> Tensor:
    """(B, L) rank of each position in a uniformly random order (a permutation per row). With `lengths` (B,),
    the positions of each row's sentence come first in random order and its padding after, in place. Drawn by
    the (CPU) generator, on `device` (the lengths' device when given)."""
    device = lengths.device if lengths is not None else device
    key = torch.rand(batch_size, length, generator=generator).to(device)  # (B, L)
    if lengths is not None:
        pos = torch.arange(length, device=device)
        key = key + (pos >= lengths[:, None]) * (2.0 + pos)
    return key.argsort(1).argsort(1)


def fixed_order(batch_size: int, length: int, direction: str, lengths: Tensor | None = None) -> Tensor:
    """(B, L) ranks of one fixed order: position i is written i-th ("left-to-right"), or the sentence's last word
    first ("right-to-left"; with `lengths` (B,), of each row's L words, its padding after, in place)."""
    if direction not in FIXED_ORDERS:
        raise ValueError(f"unknown fixed order {direction!r}; choose one of {', '.join(FIXED_ORDERS)}")
    pos = torch.arange(length).expand(batch_size, length)  # (B, L)
    if direction == "left-to-right":
        return pos.clone()
    last = (lengths if lengths is not None else torch.full((batch_size,), length))[:, None] - 1  # (B, 1)
    return torch.where(pos <= last, last - pos, pos)


def confident_order(order: Tensor, masked: Tensor, score: Tensor, known: int | Tensor,
                    known_next: int | Tensor) -> Tensor:
    """(B, L) ranks with the `known_next - known` masked positions of highest score moved to ranks known..known_next-1
    (surest first); the other masked positions follow by score; written positions keep their ranks."""
    key = torch.where(masked, -score.double(), torch.inf)  # masked positions first, surest first
    ranked = key.argsort(dim=1, stable=True).argsort(1)  # (B, L) 0.. over the masked positions
    return torch.where(masked, known + ranked, order)

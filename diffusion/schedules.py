"""Noise schedules: pure math. Gaussian schedules give alpha_bar on the grid t_i = i / T, i = 0..T."""

from __future__ import annotations

import math

import torch
from torch import Tensor

SCHEDULES = ("linear", "cosine", "sqrt")
MAX_BETA = 0.999  # clip, as DDPM / Diffusion-LM do, so alpha_bar stays positive at t = 1


def _betas_from_alpha_bar(fn, T: int) -> Tensor:
    t = torch.arange(T + 1, dtype=torch.float64) / T
    ab = fn(t)
    return (1 - ab[1:] / ab[:-1]).clamp(max=MAX_BETA)


def betas(name: str, T: int) -> Tensor:
    """(T,) float64 betas of the discrete chain x_0 -> x_1 -> ... -> x_T."""
    if T <= 0:
        raise ValueError(f"number of timesteps must be positive, got {T}")
    if name == "linear":  # Ho et al. 2020, rescaled so any T spans the same total noise as T = 1000
        scale = 1000 / T
        return torch.linspace(scale * 1e-4, min(scale * 0.02, MAX_BETA), T, dtype=torch.float64)
    if name == "cosine":  # Nichol & Dhariwal 2021, Eq. 17
        s = 0.008
        return _betas_from_alpha_bar(lambda t: torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2, T)
    if name == "sqrt":  # Li et al. 2022, Sec. 4.2: alpha_bar(t) = 1 - sqrt(t + s)
        s = 1e-4
        return _betas_from_alpha_bar(lambda t: (1 - torch.sqrt(t + s)).clamp(min=1e-12) / (1 - math.sqrt(s)), T)
    raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")


def alpha_bar(name: str, T: int) -> Tensor:
    """(T + 1,) float64 alpha_bar_i = prod_{j <= i} (1 - beta_j); alpha_bar_0 = 1 (the clean latent)."""
    return torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas(name, T), 0)])


def snr(ab: Tensor) -> Tensor:
    """Signal-to-noise ratio alpha_bar / (1 - alpha_bar)."""
    return ab / (1 - ab)


def curves(name: str, T: int = 1000) -> dict[str, list[float]]:
    """t, alpha_bar and log10 SNR for plotting (t = 0 excluded from the SNR: it is infinite)."""
    ab = alpha_bar(name, T)
    t = torch.arange(T + 1, dtype=torch.float64) / T
    return {"t": t.tolist(), "alpha_bar": ab.tolist(),
            "log10_snr": [math.inf] + torch.log10(snr(ab[1:])).tolist()}


# ---- discrete (SEDD): total noise sigma_bar(t) = int_0^t sigma(s) ds and its rate sigma(t) --------------------------

NOISES = ("loglinear", "geometric")
LOGLINEAR_EPS = 1e-3  # sigma_bar(1) = -log(eps): at t = 1 a token is masked with probability 1 - eps
GEOMETRIC_MIN, GEOMETRIC_MAX = 1e-4, 20.0


def total_noise(name: str, t: Tensor | float) -> tuple[Tensor, Tensor] | tuple[float, float]:
    """(sigma_bar(t), sigma(t)) for t in [0, 1] (Sec. 3.3 and App. C of Lou et al. 2024); a Python float in, floats
    out (a sampling step's one level then costs no tensor op), else float64 tensors.

    loglinear: sigma_bar = -log(1 - (1 - eps) t), so an absorbing chain masks a token with probability ~t.
    geometric: sigma_bar = sigma_min^(1 - t) sigma_max^t, the uniform chain's schedule."""
    scalar = isinstance(t, float)
    if not scalar:
        t = torch.as_tensor(t, dtype=torch.float64)
    if name == "loglinear":
        e = LOGLINEAR_EPS
        return -(math.log1p if scalar else torch.log1p)(-(1 - e) * t), (1 - e) / (1 - (1 - e) * t)
    if name == "geometric":
        lo, hi = GEOMETRIC_MIN, GEOMETRIC_MAX
        bar = lo ** (1 - t) * hi**t
        return bar, bar * math.log(hi / lo)
    raise ValueError(f"unknown noise schedule {name!r}; choose one of {', '.join(NOISES)}")


def time_of_hit(name: str, p: Tensor) -> Tensor:
    """The times t at which a token has been hit with probability p = 1 - exp(-sigma_bar(t)) (float64, clipped to
    the schedule's range): the inverse of the hit curve, so a state with a fraction p of its tokens masked can be
    shown to the network at the time it is most typical of."""
    bar = -torch.log1p(-torch.as_tensor(p, dtype=torch.float64).clamp(max=1 - 1e-12))  # sigma_bar at that time
    if name == "loglinear":
        t = -torch.expm1(-bar) / (1 - LOGLINEAR_EPS)
    elif name == "geometric":
        t = torch.log(bar.clamp(min=GEOMETRIC_MIN) / GEOMETRIC_MIN) / math.log(GEOMETRIC_MAX / GEOMETRIC_MIN)
    else:
        raise ValueError(f"unknown noise schedule {name!r}; choose one of {', '.join(NOISES)}")
    return t.clamp(0.0, 1.0)


def discrete_curves(name: str, points: int = 201) -> dict[str, list[float]]:
    """t, sigma_bar(t) and the probability a token has been hit by t (1 - exp(-sigma_bar)), for plotting."""
    t = torch.linspace(0, 1, points, dtype=torch.float64)
    bar, rate = total_noise(name, t)
    return {"t": t.tolist(), "sigma_bar": bar.tolist(), "sigma": rate.tolist(),
            "hit_probability": (-torch.expm1(-bar)).tolist()}

"""What a family's process is to the rest of the package: the verbs every family has (`Process`), and the abilities
only some have, as small protocols checked with isinstance (never by probing for attributes)."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor, nn

from .trajectory import Loss, StepOutput


@runtime_checkable
class Process(Protocol):
    """One family's math: the forward corruption, the training loss, and the reverse chain, step by step. Immutable:
    `configure` returns a copy with other sampler settings."""

    config: Any  # the ModelConfig the process was built for
    nll_method: str | None  # how `nll_bound` measures (None where the family reports no NLL)

    @property
    def default_steps(self) -> int: ...

    def configure(self, **settings: Any) -> Process: ...

    def add_noise(self, x0: Tensor, t: Tensor | float, generator: torch.Generator | None = None) -> Any: ...

    def loss(self, model: nn.Module, batch: Tensor, generator: torch.Generator | None = None) -> Loss: ...

    def nll_bound(self, model: nn.Module, ids: Tensor, generator: torch.Generator | None = None) -> Tensor: ...

    def prior(self, batch_size: int, length: int, generator: torch.Generator | None = None) -> Any: ...

    def timesteps(self, num_steps: int) -> Tensor: ...  # 1 -> 0, num_steps + 1 values

    def readable(self, model: nn.Module, x: Any, t: float) -> Tensor: ...

    def step(self, model: nn.Module, x: Any, t: float, t_next: float,
             generator: torch.Generator | None = None) -> StepOutput: ...


class Configurable:
    """What every family's process shares: it is a frozen dataclass, and `configure` returns a copy with other
    settings (the sampler's, or what training measured), never changing the process it was asked of."""

    def configure(self, **settings: Any) -> Any:
        return dataclasses.replace(self, **settings)


@runtime_checkable
class ReadsTrainingRows(Protocol):
    """A process that reads settings off the training rows before the first step (the length distribution when it
    is drawn first), kept in meta.json so that every checkpoint of the run can sample."""

    @property
    def hides_padding(self) -> bool: ...

    def data_settings(self, train: Tensor, pad_id: int = ...) -> dict: ...


@runtime_checkable
class OrderedLikelihood(Protocol):
    """An autoregressive model in every order (ARDM; absorbing SEDD read as one): the exact NLL of a fixed order, the
    per-step losses L_t, and the planned cost of parallel decoding for each step budget."""

    def order_nll(self, model: nn.Module, ids: Tensor, direction: str) -> Tensor: ...

    def components(self, model: nn.Module, ids: Tensor, generator: torch.Generator | None = None) -> Tensor: ...

    def planned_costs(self, components: Tensor | list[float] | np.ndarray) -> np.ndarray: ...

    def nll_by_budget(self, components: Tensor | list[float], tokens_per_sequence: float,
                      budgets: list[int]) -> dict[int, float]: ...


@runtime_checkable
class Calibrated(Protocol):
    """A process that measures, on held-out data once trained, what its sampler needs (ARDM's L_t for its plan):
    returns the settings to keep in meta.json's `process` and how they were measured."""

    def calibrate(self, model: nn.Module, ids: Tensor, generator: torch.Generator | None = None,
                  pad_id: int = ...) -> tuple[dict, dict]: ...

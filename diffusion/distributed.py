"""Data-parallel training on torch.distributed: which process of a torchrun job this is, the group's start and end,
the two collectives the training loop needs, and how a process ends when the job has lost another.
DistributedDataParallel itself averages the gradients."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

# how long a collective waits for a process that has stopped answering before the job fails (gloo and NCCL)
TIMEOUT = timedelta(minutes=10)


class RankError(ValueError):
    """A problem of one process's own (its GPU, what it sees of the run folder), which that process reports: the
    run's other errors are the same on every rank, and rank 0 alone reports them."""


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job: `rank` of `world` processes, `local_rank` on its machine (its GPU)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0 writes the logs and the checkpoints and decides when the run stops."""
        return self.rank == 0

    def describe(self) -> str:
        return f"process {self.rank} of {self.world}"


def from_environment(env: dict[str, str] | None = None) -> Ranks:
    """The ranks torchrun (or any launcher of torch's env:// convention) gives this process; one process when none."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" not in env:
        return Ranks()
    try:
        ranks = Ranks(int(env.get("RANK", "0")), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", "0")))
    except ValueError:
        raise RankError("RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers (torchrun sets them); got "
                         f"{env.get('RANK')!r}, {env.get('WORLD_SIZE')!r}, {env.get('LOCAL_RANK')!r}") from None
    if not (ranks.world >= 1 and 0 <= ranks.rank < ranks.world and ranks.local_rank >= 0):
        raise RankError(f"RANK {ranks.rank} does not fit WORLD_SIZE {ranks.world} (ranks run from 0 to "
                         "WORLD_SIZE - 1)")
    return ranks


def current() -> Ranks:
    """The ranks of the group this process has joined, or one process."""
    if not (dist.is_available() and dist.is_initialized()):
        return Ranks()
    return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def start(ranks: Ranks, device: torch.device) -> None:
    """Join the job's process group through torchrun's rendezvous: NCCL where the steps run on GPUs, else gloo."""
    if ranks.world == 1 or dist.is_initialized():
        return
    if not dist.is_available():
        raise ValueError(f"this build of torch {torch.__version__} has no torch.distributed; run one process")
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, rank=ranks.rank, world_size=ranks.world, timeout=TIMEOUT,
                            device_id=device if device.type == "cuda" else None)


def end() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def from_main(values: list[float], device: torch.device) -> list[float]:
    """Rank 0's values on every rank (a stop decision, the seconds so far): one small broadcast."""
    if not dist.is_initialized():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    return t.tolist()


def mean(values: list[float], device: torch.device) -> list[float]:
    """The mean of each value over the ranks (the combined batch's loss, from each rank's share)."""
    if not dist.is_initialized():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return (t / dist.get_world_size()).tolist()


def peer_failure(e: BaseException) -> bool:
    """Whether an error says that a collective lost another process of the job (gloo and NCCL raise RuntimeError)."""
    return isinstance(e, dist.DistError) or any(
        word in str(e)[:2000] for word in ("gloo", "NCCL", "Connection reset by peer", "Connection closed by peer"))


_ENDING = threading.Lock()


def end_process(message: str | None) -> None:
    """Print `message` (if any) on stderr and exit at once, status 1: a group that lost a rank cannot be ended
    cleanly. Called from whichever thread learns first that the job is over; a second caller waits for the exit."""
    if not _ENDING.acquire(blocking=False):
        threading.Event().wait()  # another thread is ending the process
    if message is not None:
        print(message, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


def watch_for_stop(on_stop: Callable[[], None]) -> None:
    """When a process of the job ends, torchrun stops the others with SIGTERM; a process blocked in a collective
    never returns to Python to run a handler, so the signal also wakes a thread (through the interpreter's wake-up
    file descriptor, written at C level by whichever thread receives it) that calls `on_stop`."""
    read, write = os.pipe()
    os.set_blocking(write, False)
    signal.signal(signal.SIGTERM, lambda signum, frame: on_stop())
    signal.set_wakeup_fd(write)

    def watch() -> None:
        while os.read(read, 1)[0] != signal.SIGTERM:
            pass  # another signal Python handles (Ctrl-C): the main thread's to act on
        on_stop()

    threading.Thread(target=watch, name="stop-watch", daemon=True).start()

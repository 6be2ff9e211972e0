"""Data-parallel training, launched as users launch it (torchrun, two processes on the CPU, gloo): it trains as one
process does on the combined batch, writes one checkpoint, resumes at another world size (2 -> 1 here, 1 -> 2 in the
kill tests and test_stream.py), and a killed process ends the job in one line with the last complete checkpoint
left whole."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from diffusion import checkpoint
from diffusion.__main__ import main
from diffusion.distributed import Ranks, from_environment
from diffusion.rows import draw_batches

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "-m", "diffusion", "train"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def torchrun(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*TORCHRUN, *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def even(tmp_path_factory) -> Path:
    """Sentences of six words each: every row has the same number of tokens, so each process's mean loss over its
    half of the batch averages to exactly the mean over the whole batch (the ar family's loss draws no noise)."""
    rng = random.Random(0)
    words = "the cat dog bird sat ran on a mat log near far big small red blue".split()
    path = tmp_path_factory.mktemp("even") / "six.txt"
    path.write_text("".join(" ".join(rng.choice(words) for _ in range(6)) + "\n" for _ in range(400)))
    return path


def losses(run: Path) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "logs"))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars("loss/total")]


def test_two_processes_train_as_one_on_the_combined_batch(even, tmp_path):
    args = ["--family", "ar", "--preset", "tiny", "--corpus", str(even), "--steps", "30", "--batch-size", "16",
            "--device", "cpu"]
    assert main(["train", *args, "--out", str(tmp_path / "one")]) == 0
    done = torchrun(*args, "--out", str(tmp_path / "two"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 processes data-parallel" in done.stdout
    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert [s for s, _ in two] == [s for s, _ in one] == [1, 10, 20, 30]
    # the same curve to float rounding (the processes sum their gradients in another order): 1e-5 of the loss
    for (_, a), (_, b) in zip(one, two):
        assert b == pytest.approx(a, rel=1e-5)
    assert two[-1][1] < two[0][1] - 0.3  # and it is a curve: the model learned
    raw_one, _ = checkpoint.load_training_state(tmp_path / "one")
    raw_two, js = checkpoint.load_training_state(tmp_path / "two")
    for k in raw_one:
        if k.startswith("raw."):
            torch.testing.assert_close(raw_two[k], raw_one[k], rtol=0, atol=1e-4)
    # one checkpoint, written by rank 0 alone: the files of one, one TensorBoard log, nothing half-written
    run = tmp_path / "two"
    assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    assert len(list((run / "logs").iterdir())) == 1
    meta = checkpoint.load(run).meta
    assert meta["processes"] == 2 and meta["steps"] == 30 and js["step"] == 30
    assert meta["tokens"] == checkpoint.load(tmp_path / "one").meta["tokens"] == 30 * 16 * 6  # six words a row
    # the checkpoint is one like any other: it resumes in one process, and samples
    assert main(["train", *args, "--out", str(run), "--steps", "35"]) == 0
    meta = checkpoint.load(run).meta
    assert meta["processes"] == 1 and meta["steps"] == 35 and meta["tokens"] == 35 * 16 * 6
    assert main(["sample", "--checkpoint", str(run), "--num-samples", "2"]) == 0


def _rank_of(pid: int) -> int | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    ranks = [e[len(b"RANK="):] for e in env if e.startswith(b"RANK=")]
    return int(ranks[0]) if ranks else None


def _workers(launcher: int) -> dict[int, int]:
    """rank -> pid of the launcher's worker processes (Linux /proc)."""
    found = {}
    for task in Path(f"/proc/{launcher}/task").iterdir():
        for pid in (task / "children").read_text().split():
            rank = _rank_of(int(pid))
            if rank is not None:
                found[rank] = int(pid)
    return found


def _training_job(even: Path, tmp_path: Path) -> tuple[Path, list[str], Path, subprocess.Popen]:
    """A run of 5 steps in one process, resumed by two for a long budget; returns once they are training (rank 0's
    bar shows a step): the run folder, its arguments, the job's stderr file and the job."""
    run = tmp_path / "run"
    args = ["--family", "ar", "--preset", "tiny", "--corpus", str(even), "--batch-size", "16", "--device", "cpu",
            "--out", str(run)]
    assert main(["train", *args, "--steps", "5"]) == 0
    err = tmp_path / "err.txt"
    with err.open("w") as f:
        job = subprocess.Popen([*TORCHRUN, *args, "--steps", "1000000", "--minutes", "5"], cwd=ROOT, env=ENV,
                               stdout=subprocess.DEVNULL, stderr=f, text=True)
    deadline = time.monotonic() + 120
    while "step=" not in err.read_text():
        if job.poll() is not None or time.monotonic() > deadline:
            job.kill()
            pytest.fail(f"the two processes did not start training: {err.read_text()[-3000:]}")
        time.sleep(0.2)
    return run, args, err, job


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the worker processes through Linux /proc")
def test_a_killed_process_ends_the_job_in_one_line_and_leaves_the_checkpoint(even, tmp_path):
    run, args, err, job = _training_job(even, tmp_path)
    try:
        os.kill(_workers(job.pid)[1], signal.SIGKILL)
        assert job.wait(timeout=120) != 0
    finally:
        if job.poll() is None:
            job.kill()
    ours = [line for line in err.read_text().replace("\r", "\n").splitlines() if line.startswith("error:")]
    assert len(ours) == 1, err.read_text()[-3000:]
    assert "another process of this 2-process job ended" in ours[0] and str(run) in ours[0]
    assert "[rank0]: Traceback" not in err.read_text()
    ck = checkpoint.load(run)  # whole: the step-5 checkpoint, or a later one a save completed
    assert ck.meta["steps"] >= 5 and f"(step {ck.meta['steps']})" in ours[0]
    assert main(["train", *args, "--steps", str(ck.meta["steps"] + 2)]) == 0  # and the run goes on from it


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the worker processes through Linux /proc")
def test_a_process_waiting_on_a_silent_peer_still_ends_in_one_line(even, tmp_path):
    """Rank 1 stopped (alive, silent): rank 0 waits inside a collective, where no Python signal handler runs, when the
    launcher's SIGTERM comes; it still ends at once with the line."""
    run, _, err, job = _training_job(even, tmp_path)
    workers = {}
    try:
        workers = _workers(job.pid)
        os.kill(workers[1], signal.SIGSTOP)
        time.sleep(1)  # rank 0 reaches its next collective and waits there (nothing to wait for as a condition)
        os.kill(workers[0], signal.SIGTERM)
        deadline = time.monotonic() + 10  # torchrun itself would wait 30 s, then kill
        while Path(f"/proc/{workers[0]}").exists() and _rank_of(workers[0]) == 0:
            assert time.monotonic() < deadline, "rank 0 did not end on SIGTERM"
            time.sleep(0.1)
    finally:
        if 1 in workers:
            os.kill(workers[1], signal.SIGCONT)
        if job.poll() is None:
            job.wait(timeout=120)
    ours = [line for line in err.read_text().replace("\r", "\n").splitlines() if line.startswith("error:")]
    assert len(ours) == 1 and "another process of this 2-process job ended" in ours[0], err.read_text()[-3000:]
    assert checkpoint.load(run).meta["steps"] >= 5


def test_ranks_come_from_the_launcher_environment():
    assert from_environment({}) == Ranks()
    assert from_environment({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == Ranks(1, 4, 1)
    for bad in ({"RANK": "4", "WORLD_SIZE": "4"}, {"RANK": "x", "WORLD_SIZE": "2"}):
        with pytest.raises(ValueError, match="WORLD_SIZE"):
            from_environment(bad)


def test_each_rank_takes_its_share_of_the_same_batches():
    data = torch.arange(100).repeat_interleave(3).reshape(100, 3) % 97 + 3  # no padding
    data[:, 2][::2] = 0  # every other row one token shorter
    for by_length in (False, True):
        whole = draw_batches(data, 0, 8, torch.Generator().manual_seed(5), by_length)
        shares = [draw_batches(data, 0, 8, torch.Generator().manual_seed(5), by_length, Ranks(r, 2)) for r in (0, 1)]
        for _ in range(6):
            batch, a, b = next(whole), next(shares[0]), next(shares[1])
            assert len(a) == len(b) == 4
            width = max(a.shape[1], b.shape[1])
            pad = lambda x: torch.nn.functional.pad(x, (0, width - x.shape[1]))  # noqa: E731
            assert torch.equal(torch.cat([pad(a), pad(b)]), pad(batch))


def test_a_batch_that_does_not_split_evenly_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    from diffusion import distributed

    monkeypatch.setattr(distributed, "current", lambda: Ranks(0, 3))
    assert main(["train", "--family", "ar", "--preset", "tiny", "--steps", "1", "--batch-size", "16",
                 "--out", str(tmp_path / "r")]) == 1
    assert "multiple of 3" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_bf16_is_for_gpus(tmp_path, capsys):
    assert main(["train", "--family", "ar", "--preset", "tiny", "--steps", "1", "--device", "cpu", "--precision",
                 "bf16", "--out", str(tmp_path / "r")]) == 1
    assert "--precision bf16 is for CUDA GPUs" in capsys.readouterr().err

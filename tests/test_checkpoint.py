"""Checkpoints are written whole or not at all: a training SIGKILLed at every file operation of a save leaves the
previous complete checkpoint or the new one, which loads and resumes, and nothing a later save trips on."""

import json
import multiprocessing
import os
import shutil
import signal
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from diffusion import checkpoint
from diffusion.config import preset
from diffusion.corpus.loaders import Corpus
from diffusion.training import train

# Every os call a save makes on the file system: the child dies just before the k-th of them.
FILE_OPERATIONS = ("mkdir", "makedirs", "chmod", "fsync", "rename", "replace", "rmdir", "unlink", "remove")
SENTENCES = tuple(f"the {a} cat sat on the {b} mat ." for a in ("red", "blue", "grey") for b in ("old", "new"))
CORPUS = Corpus("cats", SENTENCES, SENTENCES[:2], SENTENCES[:2], rows=len(SENTENCES))


def _train(out: Path, steps: int) -> None:
    """A tiny continuous model trained (or resumed) to `steps` optimiser steps, saved once at the end."""
    model_config, train_config = preset("tiny", family="continuous")
    train_config = replace(train_config, steps=steps, seed=0, log_every=1, checkpoint_every_seconds=1e9, device="cpu")
    for _ in train(model_config, train_config, CORPUS, out):
        pass


def _child(out: str, steps: int, kill_at: int) -> None:
    """In a fresh process: train into `out`, dying by SIGKILL just before the save's `kill_at`-th file operation."""
    torch.set_num_threads(1)
    count = [0]

    def counted(fn):
        def call(*args, **kwargs):
            count[0] += 1
            if count[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return fn(*args, **kwargs)

        return call

    real_save = checkpoint.save

    def save(*args, **kwargs):
        for name in FILE_OPERATIONS:
            setattr(os, name, counted(getattr(os, name)))
        return real_save(*args, **kwargs)

    checkpoint.save = save  # training calls checkpoint.save through the module
    _train(Path(out), steps)


def _fork_server(conn) -> None:
    """A single-threaded process that trains once (imports and first-call costs paid here), then for each request
    forks a child that trains into `out` and is killed at file operation `kill_at`; it answers the child's signal."""
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as warm:
        _train(Path(warm) / "run", 2)
    while (request := conn.recv()) is not None:
        pid = os.fork()
        if pid == 0:  # the child: one thread, as its parent
            try:
                _child(*request)
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        conn.send(os.WTERMSIG(status) if os.WIFSIGNALED(status) else -os.WEXITSTATUS(status))


@pytest.fixture(scope="module")
def processes():
    """The fork server (a fresh interpreter per child would spend seconds importing and warming up; a fork of the
    test process itself would copy its threads' locks)."""
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=_fork_server, args=(theirs,), daemon=True)
    server.start()
    yield ours
    ours.send(None)
    server.join(30)


def _killed(processes, out: Path, steps: int, kill_at: int) -> bool:
    """Whether the training died at file operation `kill_at` (False: its save had fewer operations, and finished)."""
    processes.send((str(out), steps, kill_at))
    assert processes.poll(120), "the training neither finished nor died within 120 s"
    signal_or_code = processes.recv()
    assert signal_or_code in (0, signal.SIGKILL), f"the child ended with {signal_or_code}"
    return signal_or_code == signal.SIGKILL


def _state(out: Path) -> tuple[int, int, bytes]:
    """(meta.json's steps, the training state's step, the weights' bytes) of the complete checkpoint in `out`."""
    ck = checkpoint.load(out)  # loads: every required file is there and reads
    _, training = checkpoint.load_training_state(out)
    return ck.meta["steps"], training["step"], (out / "model.safetensors").read_bytes()


def _leftovers(out: Path) -> list[str]:
    return [p.name for p in out.iterdir() if p.name.startswith((checkpoint.SAVE_PREFIX, checkpoint.INCOMING))]


def test_a_kill_during_the_first_save_leaves_no_checkpoint_or_the_whole_one(processes, tmp_path: Path):
    k, outcomes = 0, set()
    while True:
        k += 1
        out = tmp_path / f"first-{k}"
        killed = _killed(processes, out, 3, k)
        if checkpoint.has_checkpoint(out):
            assert _state(out)[:2] == (3, 3)
            outcomes.add("new")
        else:
            with pytest.raises(ValueError, match="lacks"):
                checkpoint.load(out)
            outcomes.add("none")
        _train(out, 4)  # the same command again: trains or resumes, never "lacks meta.json"
        assert _state(out)[:2] == (4, 4) and not _leftovers(out)
        if not killed:
            break
        shutil.rmtree(out)
    assert k > 10 and outcomes == {"none", "new"}  # the kill points spanned the save, before and after its commit


def test_a_kill_during_a_later_save_leaves_the_previous_checkpoint_or_the_new_one(processes, tmp_path: Path):
    base = tmp_path / "base"
    _train(base, 3)
    before = _state(base)
    k, outcomes = 0, set()
    while True:
        k += 1
        out = tmp_path / f"later-{k}"
        shutil.copytree(base, out)
        killed = _killed(processes, out, 6, k)
        steps, state_step, weights = _state(out)
        assert steps == state_step  # weights, meta.json and the optimiser state come from one save
        if steps == 3:
            assert (steps, state_step, weights) == before
            outcomes.add("previous")
        else:
            assert steps == 6 and weights != before[2]
            outcomes.add("new")
        _train(out, 7)
        assert _state(out)[:2] == (7, 7) and not _leftovers(out)
        if not killed:
            break
        shutil.rmtree(out)
    assert k > 10 and outcomes == {"previous", "new"}


def test_a_reader_finishes_a_save_cut_short_after_its_commit_point(tmp_path: Path):
    out = tmp_path / "run"
    _train(out, 2)
    incoming = out / checkpoint.INCOMING
    incoming.mkdir()
    for name in ("meta.json", "model.safetensors"):  # the new files, not yet moved in
        shutil.copy2(out / name, incoming / name)
    meta = json.loads((incoming / "meta.json").read_text())
    (incoming / "meta.json").write_text(json.dumps({**meta, "note": "the new save"}))
    stale = out / f"{checkpoint.SAVE_PREFIX}killed"
    stale.mkdir()
    os.utime(stale, (0, 0))  # a save killed long ago
    assert checkpoint.load(out).meta["note"] == "the new save"
    assert not _leftovers(out)


def test_an_incomplete_folder_is_no_checkpoint_yet(tmp_path: Path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"half a checkpoint")  # what the old one-file-at-a-time save could leave
    assert not checkpoint.has_checkpoint(out)
    _train(out, 2)
    assert _state(out)[:2] == (2, 2)


def test_a_copy_without_training_state_is_not_resumed(tmp_path: Path):
    out, shipped = tmp_path / "run", tmp_path / "shipped"
    _train(out, 2)
    checkpoint.copy_for_shipping(out, shipped)
    with pytest.raises(ValueError, match="without its training state"):
        _train(shipped, 3)

"""Fixtures shared across test files: tiny checkpoints of each family, trained once per session by the CLI."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    """`python -m diffusion ARGS` in the repository, as a person would run it."""
    return subprocess.run([sys.executable, "-m", "diffusion", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def train_tiny(factory: pytest.TempPathFactory, family: str, *extra: str) -> Path:
    """A tiny model of `family` trained for 20 steps: seconds on a CPU, and the same every time."""
    out = factory.mktemp("checkpoints") / family
    result = cli("train", "--family", family, "--preset", "tiny", "--steps", "20", "--out", str(out), *extra)
    assert result.returncode == 0, result.stderr[-2000:]
    return out


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory, "continuous", "--no-projection")


@pytest.fixture(scope="session")
def tiny_with_classifier(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny continuous checkpoint with a control classifier trained for 30 steps by the CLI."""
    from diffusion import checkpoint

    out = tmp_path_factory.mktemp("control") / "continuous"
    checkpoint.copy_for_shipping(tiny_checkpoint, out)
    result = cli("train-classifier", "--checkpoint", str(out), "--steps", "30")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "slot accuracy on held-out sentences" in result.stdout
    return out


@pytest.fixture(scope="session")
def tiny_ardm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory, "ardm")


@pytest.fixture(scope="session")
def tiny_sedd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """With one recorded evaluation, which the quality-against-steps plot draws."""
    out = train_tiny(tmp_path_factory, "sedd")
    ev = cli("evaluate", "--checkpoint", str(out), "--num-samples", "2", "--steps", "4", "--nll-sequences", "4", "--record")
    assert ev.returncode == 0, ev.stderr[-2000:]
    return out


@pytest.fixture(scope="session")
def tiny_seq2seq(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """On the built-in MR -> sentence pairs."""
    return train_tiny(tmp_path_factory, "seq2seq", "--no-projection")

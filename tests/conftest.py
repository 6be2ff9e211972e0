"""Fixtures shared across test files."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_seq2seq(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seq2seq checkpoint on the built-in MR -> sentence pairs, trained for a few steps by the CLI."""
    out = tmp_path_factory.mktemp("checkpoints") / "seq2seq"
    cmd = [sys.executable, "-m", "diffusion", "train", "--family", "seq2seq", "--preset", "tiny", "--steps", "20",
           "--out", str(out), "--no-projection"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return out

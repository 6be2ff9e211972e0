"""Fixtures shared across test files: tiny checkpoints of each family, trained once per session by the CLI."""

import contextlib
import io
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
# nothing downloads in a test: the `datasets` and `huggingface_hub` code paths run on local files only
os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two workers share two cores: one thread each (and in the commands they start), or their thread pools fight.
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real_umap: run umap-learn itself instead of the suite's stand-in")


@pytest.fixture(autouse=True)
def umap_stand_in(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """umap-learn's first fit in a process spends about 20 s compiling with numba, and every page load of the app on
    a tiny checkpoint (which has no cached map) starts one in the background. Tests marked `real_umap` run the real
    one; the rest get this stand-in, which keeps the compute-once-and-cache flow in milliseconds. Returns the calls
    (the number of embeddings of each)."""
    calls: list[int] = []
    if request.node.get_closest_marker("real_umap"):
        return calls
    import diffusion.projection
    from ui import embeddings

    def umap_2d(emb, seed=0):
        calls.append(len(emb))
        return _umap_stand_in(emb, seed)

    monkeypatch.setattr(diffusion.projection, "umap_2d", umap_2d)
    monkeypatch.setattr(embeddings, "umap_2d", umap_2d)
    return calls


def _umap_stand_in(emb: Any, seed: int = 0) -> Any:
    """The suite's UMAP: a scaled PCA, in milliseconds."""
    import numpy as np

    import diffusion.projection

    return (diffusion.projection.pca_2d(emb) * 2 + 1).astype(np.float32)


def shot(name: str) -> Path:
    """Where a browser test saves a screenshot: assets/ under `make screenshots` (SCREENSHOTS=1, the README's
    pictures), else a temporary folder, so that `make test` leaves the tree as it found it."""
    if os.environ.get("SCREENSHOTS") == "1":
        return ROOT / "assets" / name
    folder = Path(tempfile.gettempdir()) / f"text-diffusion-lab-shots-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    return folder / name


@contextlib.contextmanager
def serve_app(demo: Any) -> Iterator[str]:
    """A built Gradio app served in this process on a free port of 127.0.0.1: its URL, then the server closed."""
    from bench.common import free_port

    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def cli(*args: str) -> subprocess.CompletedProcess:
    """`python -m diffusion ARGS` in the repository, run in this process: the same `main` the module runs, with its
    return code, stdout and stderr as a subprocess would give them (a fresh interpreter per call spent about 2 s
    importing torch, most of what a tiny run costs). `cli_subprocess` runs the real command line."""
    from diffusion.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(ROOT), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as e:  # argparse: --help, an unknown option
            code = e.code if isinstance(e.code, int) else int(e.code is not None)
            if isinstance(e.code, str):
                print(e.code, file=sys.stderr)
        except Exception:  # what the interpreter would print, and its exit status
            traceback.print_exc()
            code = 1
    return subprocess.CompletedProcess(["python", "-m", "diffusion", *args], code, out.getvalue(), err.getvalue())


def cli_subprocess(*args: str) -> subprocess.CompletedProcess:
    """`python -m diffusion ARGS` in a new interpreter, in the repository, as a person would run it."""
    return subprocess.run([sys.executable, "-m", "diffusion", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


@contextlib.contextmanager
def fixture_umap_stand_in() -> Iterator[None]:
    """The UMAP stand-in for a module or session fixture that trains a continuous family: such a fixture is set up
    before the autouse stand-in of the test that first asks for it, and the map the training caches would otherwise be
    the real UMAP, about 20 s of numba compiling a worker."""
    import diffusion.projection

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(diffusion.projection, "umap_2d", _umap_stand_in)
        yield


def train_tiny(factory: pytest.TempPathFactory, family: str, *extra: str) -> Path:
    """A tiny model of `family` trained for 20 steps: seconds on a CPU, and the same every time."""
    out = factory.mktemp("checkpoints") / family
    with fixture_umap_stand_in():
        result = cli("train", "--family", family, "--preset", "tiny", "--steps", "20", "--out", str(out), *extra)
    assert result.returncode == 0, result.stderr[-2000:]
    return out


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory, "continuous")


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
    ev = cli("evaluate", "--checkpoint", str(out), "--num-samples", "2", "--steps", "4", "--record")
    assert ev.returncode == 0, ev.stderr[-2000:]
    return out


@pytest.fixture(scope="session")
def tiny_seq2seq(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """On the built-in MR -> sentence pairs."""
    return train_tiny(tmp_path_factory, "seq2seq")


# ---- one Chromium for the session ---------------------------------------------------------------------------------
_CHROMIUM: dict[str, Any] = {}


def chromium(executable: str, args: list[str]) -> Any:
    """Debian's Chromium under Playwright, started on first use and kept for the whole session (starting both cost
    about a second per browser test); each test opens its own context, so no state passes between tests."""
    browser = _CHROMIUM.get("browser")
    if browser is None or not browser.is_connected():
        from playwright.sync_api import sync_playwright

        if "playwright" not in _CHROMIUM:
            _CHROMIUM["playwright"] = sync_playwright().start()
        _CHROMIUM["browser"] = _CHROMIUM["playwright"].chromium.launch(executable_path=executable, args=args)
    return _CHROMIUM["browser"]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    browser, playwright = _CHROMIUM.pop("browser", None), _CHROMIUM.pop("playwright", None)
    if browser is not None:
        browser.close()
    if playwright is not None:
        playwright.stop()
